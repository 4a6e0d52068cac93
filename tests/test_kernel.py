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


@pytest.mark.parametrize(("product", "units_"), [
    ("slope", "ratio"), ("slope", "percent"), ("slope", "degrees"), ("slope", "radians"),
    ("aspect", "ratio"), ("hillshade", "ratio")])
def test_products_equal_the_formulas_on_numpy_gradient(product, units_):
    """The kernel's products against terrain.units' formulas on numpy.gradient (no holes).

    +, -, *, / and sqrt are IEEE operations, the same on every CPU: those
    products equal numpy's bit for bit. For atan and atan2 the reference is
    Python's math module (glibc's scalar code, not numpy's SIMD loops, which
    differ by CPU: 2 ulp from glibc on AVX-512), within 1 ulp.
    """
    z, _ = rough((120, 90))
    kernel = core.fused(z, None, row=-25.0, col=10.0, product=product, units=units_,
                        azimuth=300.0, altitude=35.0)[0]
    dzdy, dzdx = np.gradient(z, -25.0, 10.0, edge_order=2)
    if product == "hillshade":
        np.testing.assert_array_equal(kernel, units.hillshade(dzdx, dzdy, 300.0, 35.0))
    elif product == "aspect":
        bearing = np.degrees(_math(math.atan2, -dzdx, -dzdy)) % 360.0
        np.testing.assert_array_max_ulp(kernel, np.where(bearing >= 360.0, 0.0, bearing),
                                        maxulp=1)
    elif units_ in ("ratio", "percent"):
        np.testing.assert_array_equal(kernel, units.slope(dzdx, dzdy, units_))
    else:
        angle = _math(math.atan, np.sqrt(dzdx * dzdx + dzdy * dzdy))
        want = np.degrees(angle) if units_ == "degrees" else angle
        np.testing.assert_array_max_ulp(kernel, want, maxulp=1)


@pytest.mark.parametrize("call", [
    lambda z: core.fused(z, edge_order=3), lambda z: core.gradient(z, edge_order=0),
    lambda z: core.fused(z, product="curvature"), lambda z: core.fused(z, method="sobel"),
    lambda z: core.fused(z, product="slope", units="grads"),
    lambda z: core.fused(z, np.ones((3, 3), bool))])
def test_bad_arguments_are_usage_errors(call):
    with pytest.raises(UsageError):
        call(np.zeros((4, 5)))
