"""The fused kernel: threads, types and encodings give the same numbers."""

import math

import numpy as np
import pytest

from terrain import core, units
from terrain.errors import UsageError

RNG = np.random.default_rng(7)


def rough(shape, holes=0.05):
    z = RNG.normal(size=shape).cumsum(0).cumsum(1)
    valid = RNG.random(shape) > holes
    valid[10:14, 5:40] = False
    return z, valid


@pytest.mark.parametrize("method", ["central", "horn"])
@pytest.mark.parametrize("product", ["gradient", "slope", "aspect", "hillshade"])
def test_rows_split_among_threads_equal_one_thread(method, product):
    z, valid = rough((300, 70))
    one = core.fused(z, valid, row=-25.0, col=10.0, method=method, product=product)
    two = core.fused(z, valid, row=-25.0, col=10.0, method=method, product=product, jobs=3)
    np.testing.assert_array_equal(one, two)


def test_encodings_are_the_float64_result_rounded():
    z, valid = rough((40, 30))
    exact = core.fused(z, valid, row=-25.0, col=10.0, product="slope")[0]
    as_f32 = core.fused(z, valid, row=-25.0, col=10.0, product="slope", dtype=np.float32,
                        nodata=-9999.0)[0]
    np.testing.assert_array_equal(as_f32, np.where(np.isnan(exact), -9999.0, exact)
                                  .astype(np.float32))
    shade = core.fused(z, valid, row=-25.0, col=10.0, product="hillshade")[0]
    as_byte = core.fused(z, valid, row=-25.0, col=10.0, product="hillshade", dtype=np.uint8)[0]
    np.testing.assert_array_equal(
        as_byte, np.where(np.isnan(shade), 0, np.floor(np.clip(shade, 0, 255) + 0.5)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("method", ["central", "horn"])
@pytest.mark.parametrize("product", ["gradient", "slope", "aspect"])
def test_a_nodata_rule_gives_what_its_mask_gives(dtype, method, product):
    """The kernel applies a Holes rule as it reads: the same numbers as the rule's array."""
    z, holes = rough((90, 70))
    z = z.astype(dtype)
    z[holes] = 0.1  # a sentinel float32 can't hold exactly: compared as stored
    assert (core.Holes(nodata=0.1).valid(z) == ~holes).all()
    z[3, 3], z[40, 7], z[41, 7] = np.nan, np.inf, -np.inf
    mask = RNG.random(z.shape) > 0.02
    for rule in (core.Holes(nodata=0.1), core.Holes(finite=True),
                 core.Holes(nodata=0.1, finite=True, mask=mask), core.Holes(mask=mask)):
        args = dict(row=-25.0, col=10.0, method=method, product=product)
        by_rule = core.fused(z, rule, **args, jobs=2)
        by_array = core.fused(z, rule.valid(z), **args)
        np.testing.assert_array_equal(by_rule, by_array)


def test_inner_part_of_a_window_equals_the_whole():
    z, valid = rough((50, 40))
    whole = core.fused(z, valid, row=-25.0, col=10.0, product="slope")
    part = core.fused(z, valid, row=-25.0, col=10.0, product="slope",
                      inner=(slice(7, 31), slice(3, 38)))
    np.testing.assert_array_equal(part, whole[:, 7:31, 3:38])


def _math(function, *arrays):
    """``function`` of Python's math module, element by element: the same on every CPU."""
    return np.vectorize(function, otypes=[np.float64])(*arrays)


#: How far the kernel's float64 atan products may lie from the same formula on
#: Python's math.atan / math.atan2, relative. The kernel's arctangent is Cephes'
#: (peak relative errors 1.8e-16 for atan, 2.5e-16 for atan2, Moshier's
#: figures); the C library's is within 1 ulp (2.2e-16); degrees add one rounding
#: on each side (1.1e-16 each): 6.2e-16 for atan, 6.9e-16 (1e-15) for atan2.
ATAN_RTOL = 6.2e-16
ATAN2_RTOL = 1e-15


@pytest.mark.parametrize(("product", "units_"), [
    ("slope", "ratio"), ("slope", "percent"), ("slope", "degrees"), ("slope", "radians"),
    ("aspect", "ratio"), ("hillshade", "ratio")])
def test_products_equal_the_formulas_on_numpy_gradient(product, units_):
    """The kernel's products against terrain.units' formulas on numpy.gradient (no holes).

    +, -, *, / and sqrt are IEEE operations, the same on every CPU: those
    products equal numpy's bit for bit. atan and atan2 are the kernel's own
    (Cephes'), against Python's math module (the C library's scalar code, not
    numpy's SIMD loops, which differ by CPU: 2 ulp from glibc on AVX-512),
    within the bounds of both (ATAN_RTOL, ATAN2_RTOL).
    """
    z, _ = rough((120, 90))
    kernel = core.fused(z, None, row=-25.0, col=10.0, product=product, units=units_,
                        azimuth=300.0, altitude=35.0)[0]
    dzdy, dzdx = np.gradient(z, -25.0, 10.0, edge_order=2)
    if product == "hillshade":
        np.testing.assert_array_equal(kernel, units.hillshade(dzdx, dzdy, 300.0, 35.0))
    elif product == "aspect":
        np.testing.assert_allclose(kernel, _aspect(dzdx, dzdy), rtol=ATAN2_RTOL, atol=0)
    elif units_ in ("ratio", "percent"):
        np.testing.assert_array_equal(kernel, units.slope(dzdx, dzdy, units_))
    else:
        angle = _math(math.atan, np.sqrt(dzdx * dzdx + dzdy * dzdy))
        want = np.degrees(angle) if units_ == "degrees" else angle
        np.testing.assert_allclose(kernel, want, rtol=ATAN_RTOL, atol=0)


def _aspect(dzdx, dzdy):
    """terrain.units.aspect with Python's math.atan2."""
    bearing = np.degrees(_math(math.atan2, -dzdx, -dzdy)) % 360.0
    flat = (dzdx == 0) & (dzdy == 0)
    return np.where(flat, np.nan, np.where(bearing >= 360.0, 0.0, bearing))


#: The issue's exactness statement: where the float64 result lies more than this
#: (relative) from a float32 rounding boundary, the float32 output is its rounding.
FAR_FROM_A_BOUNDARY = 1e-12


def _check_float32(got, exact):
    """``got`` (float32) against ``exact`` (float64): within 1 float32 ulp everywhere,
    and equal to float32(exact) wherever exact is far from a float32 rounding boundary.

    The boundaries of float32(v) are the midpoints between it and its float32
    neighbours, exact in float64. Returns how many values were near one.
    """
    want = exact.astype(np.float32)
    np.testing.assert_array_max_ulp(got, want, maxulp=1, dtype=np.float32)
    up = np.nextafter(want, np.float32(np.inf)).astype(np.float64)
    down = np.nextafter(want, np.float32(-np.inf)).astype(np.float64)
    mid = want.astype(np.float64)
    distance = np.minimum(abs(exact - (mid + up) / 2), abs(exact - (mid + down) / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        far = ~(distance <= FAR_FROM_A_BOUNDARY * abs(exact))  # and 0, inf, NaN
    np.testing.assert_array_equal(got[far].view(np.uint32), want[far].view(np.uint32))  # bits
    return int((~far).sum())


def _ratios():
    """Slopes (m/m) over every range of the arctangent: log-uniform from 1e-9 to 1e9, 0,
    infinity, 1e-150 and 1e150, the reduction's thresholds 0.66 and tan(3 pi / 8) and 1,
    give or take 4 ulp, and values whose degrees lie within about 1e-15 of a float32
    rounding boundary."""
    rng = np.random.default_rng(11)
    spread = 10.0 ** rng.uniform(-9, 9, 60_000)
    thresholds = np.array([0.66, 1.0, 1.0 + math.sqrt(2.0)])
    steps = thresholds.view(np.int64)[:, None] + np.arange(-4, 5)  # 4 ulp either side
    edges = [steps.ravel().view(np.float64), [0.0, np.inf, 1e-150, 1e150]]
    # float32 degrees in (0, 90) and the midpoints after them
    degrees = np.sort(rng.uniform(0.0, 90.0, 20_000)).astype(np.float32)
    midpoints = (degrees.astype(np.float64)
                 + np.nextafter(degrees, np.float32(90.0)).astype(np.float64)) / 2
    near = np.tan(np.radians(midpoints))
    return np.concatenate([spread, *edges, near])


def _dem_of_ratios(ratios):
    """An N x 2 DEM whose first column's slope is ``ratios``, exactly.

    Column 0 is 0 and column 1 the ratio on 1 m pixels, so that dz/dx at column 0
    is (ratio - 0) / 1 and dz/dy is 0: hypot gives the ratio back, bit for bit.
    """
    return np.stack([np.zeros_like(ratios), ratios], axis=1)


#: Cephes' atan.c coefficients (Moshier 1989), as printed there.
_CEPHES_P = (-8.750608600031904122785e-1, -1.615753718733365076637e1,
             -7.500855792314704667340e1, -1.228866684490136173410e2,
             -6.485021904942025371773e1)
_CEPHES_Q = (2.485846490142306297962e1, 1.650270098316988542046e2,
             4.328810604912902668951e2, 4.853903996359136964868e2,
             1.945506571482613964425e2)


def _cephes_atan(x: float) -> float:
    """Cephes' atan.c, step by step in Python floats (IEEE double, one rounding each)."""
    a = abs(x)
    if a > 2.41421356237309504880:  # tan(3 pi / 8)
        base, more, t = math.pi / 2, 6.123233995736765886130e-17, -1.0 / a
    elif a > 0.66:
        base, more, t = math.pi / 4, 0.5 * 6.123233995736765886130e-17, (a - 1.0) / (a + 1.0)
    else:
        base, more, t = 0.0, 0.0, a
    z = t * t
    p = (((_CEPHES_P[0] * z + _CEPHES_P[1]) * z + _CEPHES_P[2]) * z + _CEPHES_P[3]) * z \
        + _CEPHES_P[4]
    q = ((((z + _CEPHES_Q[0]) * z + _CEPHES_Q[1]) * z + _CEPHES_Q[2]) * z + _CEPHES_Q[3]) * z \
        + _CEPHES_Q[4]
    return math.copysign(base + (t * (z * p / q) + t + more), x)


def test_the_arctangent_is_cephes_to_the_bit_on_every_cpu():
    """The kernel's vectorised radians are Cephes' scalar algorithm done in Python floats,
    bit for bit: no fused multiply-add, no reordering, whichever clone (AVX-512, AVX2,
    baseline) the CPU runs. Python's float arithmetic is IEEE's on every machine."""
    ratios = _ratios()
    got = core.fused(_dem_of_ratios(ratios), None, row=1.0, col=1.0, product="slope",
                     units="radians")[0, :, 0]
    want = np.array([_cephes_atan(float(r)) for r in ratios])
    np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))


@pytest.mark.parametrize("units_", ["degrees", "radians"])
def test_atan_slopes_round_to_float32_as_the_exact_arctangent(units_):
    """float32 degrees and radians against float32(numpy.degrees(math.atan(ratio))) in
    float64: equal wherever that is more than 1e-12 (relative) from a float32 rounding
    boundary, within 1 float32 ulp everywhere (the issue's exactness statement), over
    every range of the arctangent's reduction."""
    ratios = _ratios()
    z = _dem_of_ratios(ratios)
    as_ratio = core.fused(z, None, row=1.0, col=1.0, product="slope")[0, :, 0]
    np.testing.assert_array_equal(as_ratio, ratios)  # the DEM gives these ratios
    got = core.fused(z, None, row=1.0, col=1.0, product="slope", units=units_,
                     dtype=np.float32)[0, :, 0]
    angle = _math(math.atan, ratios)
    exact = np.degrees(angle) if units_ == "degrees" else angle
    near = _check_float32(got, exact)
    if units_ == "degrees":
        assert near >= 15_000  # the constructed midpoints: the 1-ulp half was exercised
    as_f64 = core.fused(z, None, row=1.0, col=1.0, product="slope", units=units_)[0, :, 0]
    np.testing.assert_allclose(as_f64, exact, rtol=ATAN_RTOL, atol=0)
    # Cephes' rounding is the C library's on most arguments, in each range of its
    # reduction (measured: 90-99.6 %; 72-76 % without the low part of pi/2 and pi/4)
    for lo, hi in [(0.0, 0.66), (0.66, 1.0 + math.sqrt(2.0)), (1.0 + math.sqrt(2.0), np.inf)]:
        part = (ratios > lo) & (ratios <= hi)
        assert np.mean(as_f64[part] == exact[part]) >= 0.85, (lo, hi)


def test_aspect_rounds_to_float32_as_the_exact_arctangent():
    """float32 aspect against float32 of the same formula on math.atan2, in float64:
    every direction (a rough surface's and the eight axes' and diagonals'), steep and
    gentle, infinite gradients (elevations near the float64 limit) included."""
    z, _ = rough((200, 150))
    z = z * 10.0 ** RNG.uniform(-6, 6, z.shape[0])[:, None]  # gentle to steep rows
    plane = np.add.outer(np.arange(9.0), np.arange(11.0))
    planes = [s * plane for s in (1, -1)] + [s * plane.T[:9, :9] for s in (1, -1)]
    axes = [np.add.outer(np.arange(9.0), np.zeros(9)), np.add.outer(np.zeros(9), np.arange(9.0))]
    big = 1.7e308  # the centre's differences overflow: dz/dx and dz/dy are both infinite
    huge = np.array([[0.0, big, 0.0], [-big, 0.0, big], [0.0, -big, 0.0]])
    for dem in [z, *planes, *axes, *(-a for a in axes), huge, -huge, huge[:, ::-1], -huge[:, ::-1]]:
        got = core.fused(dem, None, row=-25.0, col=10.0, product="aspect", dtype=np.float32,
                         nodata=np.nan)[0]
        # the kernel's gradient: numpy.gradient's, with flat stencils exactly 0
        dzdx, dzdy = core.fused(dem, None, row=-25.0, col=10.0)
        exact = _aspect(dzdx, dzdy)
        _check_float32(got, exact)
        as_f64 = core.fused(dem, None, row=-25.0, col=10.0, product="aspect")[0]
        np.testing.assert_allclose(as_f64, exact, rtol=ATAN2_RTOL, atol=0)


@pytest.mark.parametrize("call", [
    lambda z: core.fused(z, edge_order=3), lambda z: core.gradient(z, edge_order=0),
    lambda z: core.fused(z, product="curvature"), lambda z: core.fused(z, method="sobel"),
    lambda z: core.fused(z, product="slope", units="grads"),
    lambda z: core.fused(z, np.ones((3, 3), bool))])
def test_bad_arguments_are_usage_errors(call):
    with pytest.raises(UsageError):
        call(np.zeros((4, 5)))
