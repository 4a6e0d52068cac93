"""Curvatures from the window fit: the issue's formulas on the fit's second derivatives.

References: the formulas of docs/conventions.md written out in numpy on the analytic
derivatives of quadratic surfaces (on lat/lon grids, in the fit's own local frame), the
principal curvatures as eigenvalues of the shape operator, a sphere's 1/R, and xdem.
"""

import math
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

import terrain
from terrain import core, pipeline, preview
from terrain.errors import UsageError
from terrain.options import Options
from terrain.spacing import pixel_geometry
from terrain.tiles import run_tiles

from .conftest import centres, read
from .test_window import GRIDS, WGS84, holes, latlon_frame, rough_dem

ROOT = Path(__file__).resolve().parents[1]
KINDS = core.CURVATURES
US_FOOT = 1200 / 3937
#: within 1e-6 relative, or this absolute near zero: 1e-9 1/m (Gaussian: 1/m², scaled
#: by the surfaces' curvatures, about 1e-3 1/m)
ATOL = {kind: 1e-12 if kind == "gaussian" else 1e-9 for kind in KINDS}


def formulas(p, q, r, s, t):
    """The issue's formulas, as written there, on arrays of derivatives (metres)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        g = p**2 + q**2
        mean = -((1 + q**2) * r - 2 * p * q * s + (1 + p**2) * t) / (2 * (1 + g) ** 1.5)
        gaussian = (r * t - s**2) / (1 + g) ** 2
        root = np.sqrt(np.maximum(mean**2 - gaussian, 0.0))
        return {
            "profile": -(p**2 * r + 2 * p * q * s + q**2 * t) / (g * (1 + g) ** 1.5),
            "tangential": -(q**2 * r - 2 * p * q * s + p**2 * t) / (g * (1 + g) ** 0.5),
            "plan": -(q**2 * r - 2 * p * q * s + p**2 * t) / g**1.5,
            "mean": mean,
            "gaussian": gaussian,
            "maximal": mean + root,
            "minimal": mean - root,
            "dxx": r, "dyy": t, "dxy": s,
        }


# --- quadratic surfaces: z = z0 + g.d + d.H.d / 2, d the offset from (x0, y0) ------------

#: (gradient at the centre, Hessian in units of 1 / the grid's half-extent): the slope
#: reaches about 0.3 to 0.6 at the edges, so the (1 + p² + q²) terms count.
SURFACES = {
    "dome": ((0.0, 0.0), ((-0.4, 0.0), (0.0, -0.4))),
    "bowl": ((0.0, 0.0), ((0.3, 0.06), (0.06, 0.5))),
    "saddle": ((0.2, -0.15), ((0.35, 0.1), (0.1, -0.3))),
    # a cylinder of axis 30 degrees north of east, falling along its axis: rt - s² = 0
    "tilted cylinder": (tuple(0.25 * np.array([-math.sin(math.pi / 6), math.cos(math.pi / 6)])),
                        tuple(map(tuple, -0.5 * np.outer([math.cos(math.pi / 6),
                                                          math.sin(math.pi / 6)],
                                                         [math.cos(math.pi / 6),
                                                          math.sin(math.pi / 6)])))),
}
#: the centre, off every pixel centre (the dome's top and the bowl's bottom are then no
#: pixel's: p = q = 0 exactly would leave profile, tangential and plan nodata)
OFFSET = (0.37, -0.29)  # in pixels


def quadratic(name, e, n, scale):
    """F, its gradient and Hessian at metre coordinates (e, n), centre at the origin."""
    g, h = SURFACES[name]
    g, h = np.asarray(g), np.asarray(h) / scale
    z = 300.0 + g[0] * e + g[1] * n + 0.5 * (h[0, 0] * e * e + 2 * h[0, 1] * e * n
                                           + h[1, 1] * n * n)
    return z, (g[0] + h[0, 0] * e + h[0, 1] * n, g[1] + h[0, 1] * e + h[1, 1] * n), h


def analytic(grid, name, shape):
    """Stored elevations and (p, q, r, s, t) in metres east and north at every pixel.

    Projected grids: world metres (feet converted). Lat/lon: the surface is quadratic in
    (E, N) of ``latlon_frame`` (metres along each row's parallel from the middle
    meridian, meridian distance from the middle row); the fit sees each window in its own
    pixel's frame, x east along each window row's parallel, y north along the meridian,
    where E = x + dlon P(y) (P the parallel radius, dlon the pixel's longitude from the
    middle meridian): the derivatives there follow by the chain rule, with dP/dy = -sin φ
    and d²P/dy² = -cos φ / M(φ) on the ellipsoid."""
    transform = GRIDS[grid][0]
    if grid == "lat/lon":
        e, n, phi, dlon = latlon_frame(transform, shape)
        e = e - OFFSET[0] * 63.0
        n = n - OFFSET[1] * 92.0
        z, (fe, fn), h = quadratic(name, e, n, max(np.abs(e).max(), np.abs(n).max()))
        a, b = WGS84.ellipsoid.semi_major_metre, WGS84.ellipsoid.semi_minor_metre
        e2 = 1 - (b / a) ** 2
        m = a * (1 - e2) / (1 - e2 * np.sin(phi) ** 2) ** 1.5
        d1, d2 = -dlon * np.sin(phi), -dlon * np.cos(phi) / m  # dlon P' and dlon P''
        p, q = fe, fe * d1 + fn
        r = np.full(shape, h[0, 0])
        s = h[0, 0] * d1 + h[0, 1]
        t = h[0, 0] * d1**2 + 2 * h[0, 1] * d1 + h[1, 1] + fe * d2
        return z, (p, q, r, s, t)
    unit = US_FOOT if grid == "feet" else 1.0
    x, y = centres(transform, shape)
    x, y = x * unit, y * unit
    step = abs(transform.a) * unit
    x = x - x.mean() - OFFSET[0] * step
    y = y - y.mean() - OFFSET[1] * step
    z, (p, q), h = quadratic(name, x, y, max(np.abs(x).max(), np.abs(y).max()))
    full = np.ones(shape)
    return z / unit, (p, q, h[0, 0] * full, h[0, 1] * full, h[1, 1] * full)


@cache
def determined(shape, window, pattern_seed=0):
    """Where the valid pixels of a pixel's window (moved inward at the edges) determine
    the quadratic: rank 6 in whole pixel offsets (tests/test_window.py's criterion)."""
    valid = holes(shape, pattern_seed)
    n, m = shape
    out = np.zeros(shape, bool)
    for i in range(n):
        ri = min(max(i - window // 2, 0), n - window)
        for j in range(m):
            rj = min(max(j - window // 2, 0), m - window)
            rows, cols = np.mgrid[ri:ri + window, rj:rj + window]
            ok = valid[rows, cols]
            if not valid[i, j] or ok.sum() < 6:
                continue
            x, y = (cols - j)[ok].astype(float), (rows - i)[ok].astype(float)
            design = np.stack([x * x, y * y, x * y, x, y, np.ones_like(x)], 1)
            sv = np.linalg.svd(design / np.linalg.norm(design, axis=0), compute_uv=False)
            out[i, j] = sv[-1] >= 1e-6 * sv[0]
    return out


@pytest.mark.parametrize("window", [3, 5, 15])
@pytest.mark.parametrize("grid", list(GRIDS))
def test_every_kind_follows_the_formulas_on_quadratic_surfaces_with_holes(write_dem, tmp_path,
                                                                          grid, window):
    """Dome, bowl, saddle and tilted cylinder, file to file: every kind within 1e-6 of the
    formulas on the analytic derivatives at every valid pixel whose window determines the
    quadratic (border, corners and holes included); nodata at the others."""
    transform, crs = GRIDS[grid][:2]
    shape = (40, 36)
    valid = holes(shape)
    fit = determined(shape, window)
    assert fit.sum() > 0.9 * valid.sum()
    if window == 3:
        assert (valid & ~fit).sum() > 5  # the rule is exercised
    for name in SURFACES:
        z, derivatives = analytic(grid, name, shape)
        want = formulas(*derivatives)
        dem = write_dem(np.where(valid, z, -9999.0), transform, crs=crs, nodata=-9999.0,
                        dtype="float64", units=["US survey foot"] if grid == "feet" else None)
        out = tmp_path / f"{name}.tif"
        terrain.curvature(dem, out, kind=list(KINDS), window=window, jobs=1)
        got, _ = read(out)
        for band, kind in enumerate(KINDS):
            assert np.isnan(got[band][~fit]).all(), (name, kind)
            assert np.isfinite(got[band][fit]).all(), (name, kind)
            np.testing.assert_allclose(got[band][fit], want[kind][fit], rtol=1e-6,
                                       atol=ATOL[kind], err_msg=f"{name}, {kind}")
    with rasterio.open(out) as src:
        assert src.descriptions == KINDS
        assert src.units == tuple("1/m2" if k == "gaussian" else "1/m" for k in KINDS)
        assert src.tags()["TERRAIN_KINDS"] == ",".join(KINDS)
        assert src.tags()["TERRAIN_WINDOW_PIXELS"] == f"{window} x {window}"


def test_maximal_and_minimal_are_the_principal_curvatures():
    """Eigenvalues of the shape operator -I⁻¹ II (I = [[1 + p², pq], [pq, 1 + q²]],
    II = [[r, s], [s, t]] / √(1 + p² + q²)): a reference independent of the formulas."""
    y, x = np.mgrid[0:25, 0:30] * 10.0
    x, y = x - 143.0, y - 121.0
    for name in ("saddle", "bowl", "dome"):
        z, (p, q), h = quadratic(name, x, y, 200.0)
        got = core.fused(z, row=10.0, col=10.0, method="quadratic", window=5,
                         product="curvature", kinds=("maximal", "minimal", "mean", "gaussian"))
        first = np.stack([[1 + p * p, p * q], [p * q, 1 + q * q]]).transpose(2, 3, 0, 1)
        second = np.broadcast_to(h, first.shape) / np.sqrt(1 + p * p + q * q)[..., None, None]
        k = np.sort(np.linalg.eigvals(-np.linalg.solve(first, second)).real, axis=-1)
        np.testing.assert_allclose(got[0], k[..., 1], rtol=1e-7, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got[1], k[..., 0], rtol=1e-7, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got[2], k.mean(-1), rtol=1e-7, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got[3], k.prod(-1), rtol=1e-7, atol=1e-15, err_msg=name)


@pytest.mark.parametrize(("window", "radius"), [(3, 1000.0), (5, 1000.0), (15, 3000.0)])
def test_sphere_cap_has_mean_curvature_1_over_r_and_gaussian_1_over_r2(window, radius):
    """A sphere of radius R on 10 m pixels (the window's span at most 5 % of R), nodata
    beyond 0.9 R (its rim: slopes up to 2): within 0.8 R, mean, maximal and minimal within
    1 % of 1/R, Gaussian within 2 % of 1/R². On a sphere k1 = k2, so mean² - gaussian is 0
    up to rounding: maximal and minimal exist (the clamp to 0) and equal the mean."""
    h = 10.0
    n = int(radius / h)
    y, x = (np.mgrid[0:2 * n + 1, 0:2 * n + 1] - n + 0.3) * h
    rho2 = x * x + y * y
    z = np.sqrt(np.maximum(radius**2 - rho2, 0.0)) + 50.0
    valid = rho2 < (0.9 * radius) ** 2
    got = core.fused(z, valid, row=-h, col=h, method="quadratic", window=window,
                     product="curvature", kinds=("mean", "gaussian", "maximal", "minimal"))
    inside = rho2 < (0.8 * radius) ** 2
    mean, gaussian, maximal, minimal = (band[inside] for band in got)
    np.testing.assert_allclose(mean, 1 / radius, rtol=0.01)
    np.testing.assert_allclose(gaussian, 1 / radius**2, rtol=0.02)
    np.testing.assert_allclose(maximal, 1 / radius, rtol=0.01)
    np.testing.assert_allclose(minimal, 1 / radius, rtol=0.01)
    assert (maximal >= minimal).all()
    near_top = rho2[inside] < (0.2 * radius) ** 2  # where the ground is nearly level
    np.testing.assert_allclose(mean[near_top], 1 / radius, rtol=1e-3)


def test_signs_convex_positive():
    """A hill's top and a ridge crossed are convex (positive), a hollow and a channel
    concave (negative): profile along the fall line, plan across it."""
    y, x = np.mgrid[0:21, 0:21] * 5.0 - 50.0 + 0.2
    ridge = 100 - x**2 / 400 + 0.3 * y   # rising north, rounded across: convex in plan
    channel = 100 + x**2 / 400 + 0.3 * y
    knoll_side = 100 - (x**2 + y**2) / 800 + 0.1 * x  # convex along the fall line too

    def at_centre(z, kind):
        return core.fused(z, row=5.0, col=5.0, method="quadratic", window=5,
                          product="curvature", kinds=(kind,))[0, 10, 10]

    assert at_centre(ridge, "plan") > 0
    assert at_centre(ridge, "tangential") > 0
    assert abs(at_centre(ridge, "profile")) < 0.01 * at_centre(ridge, "plan")  # straight
    assert at_centre(channel, "plan") < 0
    assert at_centre(channel, "mean") < 0
    assert at_centre(knoll_side, "profile") > 0
    assert at_centre(knoll_side, "mean") > 0
    assert at_centre(-knoll_side, "profile") < 0


# --- flat ground, degenerate windows --------------------------------------------------

@pytest.mark.parametrize("window", [3, 5, 15])
@pytest.mark.parametrize("crs_transform", [("EPSG:32633", GRIDS["north-up"][0]),
                                           ("EPSG:4326", GRIDS["lat/lon"][0]),
                                           ("EPSG:32633", GRIDS["rotated"][0])])
def test_flat_ground_has_no_direction_and_zero_curvature(write_dem, tmp_path, crs_transform,
                                                         window):
    """Exactly 0 for mean, Gaussian, maximal, minimal and the second derivatives; nodata
    for profile, tangential and plan (no direction, as aspect), holes and border included."""
    crs, transform = crs_transform
    valid = holes((40, 36))
    dem = write_dem(np.where(valid, 123.4, -9999.0), transform, crs=crs, nodata=-9999.0,
                    dtype="float64")
    terrain.curvature(dem, tmp_path / "c.tif", kind=list(KINDS), window=window)
    got, _ = read(tmp_path / "c.tif")
    fit = determined((40, 36), window)
    for band, kind in enumerate(KINDS):
        if kind in ("profile", "tangential", "plan"):
            assert np.isnan(got[band]).all(), kind
        else:
            assert (got[band][fit] == 0).all(), kind
            assert np.isnan(got[band][~fit]).all(), kind


def test_degenerate_windows_have_no_curvature():
    """Two rows, two columns, a line of valid pixels: the gradient takes the central
    stencil there (docs/conventions.md), the curvatures are nodata."""
    z = np.add.outer(np.arange(9.0) ** 2, 0.5 * np.arange(11.0) ** 2)
    for valid in (np.isin(np.arange(9), [3, 4])[:, None] & np.ones(11, bool),
                  np.ones(9, bool)[:, None] & np.isin(np.arange(11), [5, 6]),
                  np.eye(9, 11, dtype=bool) | np.eye(9, 11, 1, dtype=bool)):
        got = core.fused(z, valid, row=2.0, col=3.0, method="quadratic", window=5,
                         product="curvature", kinds=KINDS)
        assert np.isnan(got).all()
        gradient = core.fused(z, valid, row=2.0, col=3.0, method="quadratic", window=5)
        np.testing.assert_array_equal(gradient, core.fused(z, valid, row=2.0, col=3.0))
    # a raster 2 rows high: no window determines the quadratic
    assert np.isnan(core.fused(z[:2], row=2.0, method="quadratic", window=5,
                               product="curvature", kinds=("mean",))).all()


# --- one estimator, every path; one read for several kinds ---------------------------

@pytest.mark.parametrize(("transform", "crs", "window"), [
    (GRIDS["north-up"][0], "EPSG:32633", 5),
    (Affine(1 / 1200, 0, 10.0, 0, 1 / 1200, 60.92), "EPSG:4326", "500m"),  # south-up lat/lon
], ids=["projected, 5", "lat/lon, 500m"])
def test_every_path_gives_the_same_bits(write_dem, tmp_path, transform, crs, window):
    """File, blocks of several sizes on 1 and 2 threads, 16 tiles, the accessor eager and on
    Dask with chunks smaller than the window (a DataArray for one kind, a Dataset for
    several), and the array in memory."""
    rioxarray = pytest.importorskip("rioxarray")
    pytest.importorskip("dask")
    kinds = ["profile", "plan", "gaussian", "minimal", "dxy"]
    shape = (96, 96)
    z = rough_dem(shape)
    dem = write_dem(z, transform, crs=crs, nodata=-9999.0, dtype="float32", name="dem.tif")
    whole = tmp_path / "whole.tif"
    terrain.curvature(dem, whole, kind=kinds, window=window)
    want = rasterio.open(whole).read()
    assert want.shape == (5, *shape)
    options = Options("curvature", window=window, kinds=kinds)
    memory = options.compute(z, core.Holes(nodata=-9999.0),
                             pixel_geometry(transform, crs, shape[0]), encoded=True)
    np.testing.assert_array_equal(memory, want)
    for block_size, jobs in ((16, 1), (17, 2), (64, 2)):
        out = tmp_path / f"b{block_size}_{jobs}.tif"
        terrain.curvature(dem, out, kind=kinds, window=window, block_size=block_size, jobs=jobs)
        np.testing.assert_array_equal(rasterio.open(out).read(), want, err_msg=str(out))
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for i in range(4):
        for j in range(4):
            write_dem(z[24 * i:24 * i + 24, 24 * j:24 * j + 24],
                      transform @ Affine.translation(24 * j, 24 * i), crs=crs,
                      nodata=-9999.0, dtype="float32", name=f"tiles/t{i}{j}.tif")
    assert run_tiles([tiles], tmp_path / "out", options, jobs=2) == []
    for i in range(4):
        for j in range(4):
            with rasterio.open(tmp_path / "out" / f"t{i}{j}.tif") as src:
                np.testing.assert_array_equal(
                    src.read(), want[:, 24 * i:24 * i + 24, 24 * j:24 * j + 24])
                assert src.descriptions == tuple(kinds)
    da = rioxarray.open_rasterio(dem, masked=True).squeeze("band", drop=True)
    expect = np.where(want == -9999, np.nan, want)
    for data in (da, da.chunk({"y": 7, "x": 40})):  # chunk edges within a window of each other
        several = data.terrain.curvature(kind=kinds, window=window)
        assert list(several.data_vars) == kinds
        assert (several["plan"].chunks is not None) == (data.chunks is not None)
        several = several.compute()  # one pass for the five bands
        for band, kind in enumerate(kinds):
            np.testing.assert_array_equal(several[kind].values, expect[band], err_msg=kind)
        one = data.terrain.curvature(kind="plan", window=window)
        assert one.name == "plan"
        assert one.attrs["units"] == "1/m"
        assert (one.chunks is not None) == (data.chunks is not None)
        np.testing.assert_array_equal(one.values, expect[1])
    assert several["gaussian"].attrs["units"] == "1/m2"


def test_several_kinds_read_the_dem_once(write_dem, tmp_path, monkeypatch):
    """Every window of the DEM is read once for five kinds, as for one: the reads of a
    five-band run are those of a one-band run (one pass), and each band equals the run of
    its kind alone."""
    reads = []

    class Counting(pipeline.FileSurface):
        def read(self, rows, cols):
            reads.append((rows.start, rows.stop, cols.start, cols.stop))
            return super().read(rows, cols)

    monkeypatch.setattr(pipeline, "FileSurface", Counting)
    dem = write_dem(rough_dem((200, 150)), nodata=-9999.0, dtype="float32")
    kinds = ["profile", "tangential", "plan", "mean", "gaussian"]
    terrain.curvature(dem, tmp_path / "all.tif", kind=kinds, window=7, block_size=64, jobs=2)
    together = sorted(reads)
    reads.clear()
    terrain.curvature(dem, tmp_path / "one.tif", kind="profile", window=7, block_size=64,
                      jobs=2)
    assert sorted(reads) == together
    assert len(together) == len(set(together)) == 4 * 3  # 64-pixel blocks of 200 x 150
    pixels = sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in together)
    assert pixels < 1.5 * 200 * 150  # each block and its halo, once
    all_bands = rasterio.open(tmp_path / "all.tif").read()
    for band, kind in enumerate(kinds):
        reads.clear()
        terrain.curvature(dem, tmp_path / f"{kind}.tif", kind=kind, window=7)
        np.testing.assert_array_equal(rasterio.open(tmp_path / f"{kind}.tif").read(1),
                                      all_bands[band], err_msg=kind)


def test_z_factor_and_units_of_the_file(write_dem, tmp_path):
    """--z-factor 2 gives the bits of the doubled DEM; a DEM in feet whose band says so,
    the bits of the same DEM in metres (the window fit is exact in either unit only up to
    rounding, hence the tolerance there)."""
    z = rough_dem((50, 40)).astype(np.float64)
    valid = z != -9999.0
    doubled = write_dem(np.where(valid, 2 * z, -9999.0), nodata=-9999.0, dtype="float64")
    once = write_dem(z, nodata=-9999.0, dtype="float64")
    feet = write_dem(np.where(valid, z / 0.3048, -9999.0), nodata=-9999.0, dtype="float64",
                     units=["ft"])
    kinds = ["profile", "mean", "dxy"]
    terrain.curvature(doubled, tmp_path / "a.tif", kind=kinds, window=5)
    terrain.curvature(once, tmp_path / "b.tif", kind=kinds, window=5, z_factor=2.0)
    terrain.curvature(once, tmp_path / "m.tif", kind=kinds, window=5, z_factor=1.0)
    terrain.curvature(feet, tmp_path / "f.tif", kind=kinds, window=5)
    np.testing.assert_array_equal(read(tmp_path / "a.tif")[0], read(tmp_path / "b.tif")[0])
    metres, feet_result = read(tmp_path / "m.tif")[0], read(tmp_path / "f.tif")[0]
    np.testing.assert_allclose(feet_result, metres, rtol=1e-5, atol=1e-9)
    assert rasterio.open(tmp_path / "f.tif").tags()["TERRAIN_VERTICAL_UNIT_SOURCE"] == "band unit"
    assert not np.allclose(read(tmp_path / "a.tif")[0][1], metres[1], equal_nan=True)


def test_curvature_leaves_the_other_products_bits_alone(write_dem, tmp_path):
    """dz/dx and dz/dy inside the curvature run are the gradient's: its direction-free
    second derivatives with the gradient give the same profile as the kernel."""
    z = rough_dem((60, 70))
    dem = write_dem(z, nodata=-9999.0, dtype="float32")
    terrain.gradient(dem, tmp_path / "g.tif", window=5)
    terrain.curvature(dem, tmp_path / "c.tif", kind=["dxx", "dyy", "dxy", "profile", "plan"],
                      window=5)
    (p, q), _ = read(tmp_path / "g.tif")
    (r, t, s, profile, plan), _ = read(tmp_path / "c.tif")
    want = formulas(p, q, r, s, t)
    ok = np.isfinite(profile)
    np.testing.assert_allclose(profile[ok], want["profile"][ok], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(plan[ok], want["plan"][ok], rtol=1e-4, atol=1e-7)


# --- the command line, the library's surface, the picture ----------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)],
                          capture_output=True, text=True)


def test_command_line_writes_one_band_per_kind(tmp_path):
    dem = ROOT / "data" / "jacksboro_utm16n.tif"
    done = run_cli("curvature", dem, tmp_path / "c.tif", "--kind", "profile", "--kind",
                   "plan", "--kind", "gaussian", "--window", "300m", "--preview",
                   tmp_path / "c.png")
    assert done.returncode == 0, done.stderr
    with rasterio.open(tmp_path / "c.tif") as src:
        assert src.count == 3
        assert src.descriptions == ("profile", "plan", "gaussian")
        assert src.units == ("1/m", "1/m", "1/m2")
        tags = src.tags()
        assert tags["TERRAIN_PRODUCT"] == "curvature"
        assert tags["TERRAIN_KINDS"] == "profile,plan,gaussian"
        assert tags["TERRAIN_METHOD"] == "quadratic"
        assert tags["TERRAIN_WINDOW_PIXELS"] == "3 x 3"  # 90 m pixels: 270 m is nearest
        assert src.dtypes == ("float32",) * 3
        profile = src.read(1, masked=True)
    terrain.curvature(dem, tmp_path / "p.tif", kind="profile")
    np.testing.assert_array_equal(rasterio.open(tmp_path / "p.tif").read(1, masked=True),
                                  profile)
    assert (tmp_path / "c.png").exists()


@pytest.mark.parametrize(("args", "pattern"), [
    (["--kind", "profile", "--method", "central"], "not the central method"),
    ([], "missing --kind"),
    (["--kind", "mean", "--kind", "mean"], "asked for twice"),
    (["--kind", "curvy"], "'curvy' is not one of"),
])
def test_bad_curvature_requests_are_usage_errors_with_nothing_written(tmp_path, args, pattern):
    """A real process: exit 2, one line on stderr, nothing left behind, input unchanged."""
    dem = ROOT / "data" / "jacksboro_utm16n.tif"
    before = dem.read_bytes()
    done = run_cli("curvature", dem, tmp_path / "out.tif", *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("terrain: error: ")
    assert pattern in lines[0]
    assert list(tmp_path.iterdir()) == []
    assert dem.read_bytes() == before


def test_library_refuses_what_it_cannot_do():
    with pytest.raises(UsageError, match="not the central method"):
        Options("curvature", method="central", kinds="mean")
    with pytest.raises(UsageError, match="name the curvature"):
        Options("curvature")
    with pytest.raises(UsageError, match="unknown curvature 'convex'"):
        Options("curvature", kinds=["mean", "convex"])
    with pytest.raises(UsageError, match="go with the curvature product"):
        Options("slope", kinds="mean")
    with pytest.raises(UsageError, match="quadratic fit"):
        core.fused(np.zeros((5, 5)), product="curvature", kinds=("mean",))
    with pytest.raises(UsageError, match="float64 or float32"):
        core.fused(np.zeros((5, 5)), method="quadratic", product="curvature", kinds=("mean",),
                   dtype=np.uint8)
    assert Options("curvature", kinds="mean").window == core.Window(pixels=3)
    assert Options("curvature", kinds=("mean",), method="quadratic").method == "quadratic"


def test_picture_is_diverging_and_centred_on_zero():
    """0 is the ramp's middle, whatever the range; concave blue, convex red."""
    band = np.array([[-3e-3, -1e-3, 0.0, 1e-4, 2e-3, np.nan]])
    index = preview.palette_index(band, "curvature")[0]
    assert index[2] == 128
    assert index[0] < index[1] < 128 < index[3] < index[4]
    assert index[5] == 0
    colours = preview._RAMPS["curvature"]
    red, _, blue = colours[index[4] - 1]
    assert red > blue
    red, _, blue = colours[index[0] - 1]
    assert blue > red


# --- xdem (Minár et al. 2020's kinds), where installed -------------------------------

XDEM_NAMES = {"profile": "profile_curvature", "tangential": "tangential_curvature",
              "plan": "planform_curvature", "maximal": "max_curvature",
              "minimal": "min_curvature"}


def test_equals_xdem_on_a_steep_quadratic():
    """Both fits are exact on a quadratic: inside (xdem leaves the 5x5 window's border
    empty), xdem's kinds are ours times 100 (its unit is 1/100 m), sign included, with
    slopes of 0.5 to 0.8 where the (1 + p² + q²) terms count."""
    xdem = pytest.importorskip("xdem", reason="xdem is not installed (pip install xdem)")
    y, x = np.mgrid[0:40, 0:40] * 10.0
    x, y = x - 200.3, y[::-1] - 190.7  # row 0 is the north
    z = 300 + 0.5 * x - 0.4 * y + 0.5 * (6e-4 * x * x + 4e-4 * x * y - 3e-4 * y * y)
    ours = core.fused(z, row=-10.0, col=10.0, method="quadratic", window=5,
                      product="curvature", kinds=tuple(XDEM_NAMES))
    for band, (kind, name) in enumerate(XDEM_NAMES.items()):
        theirs = np.asarray(xdem.terrain.get_terrain_attribute(z, name, resolution=10.0), float)
        np.testing.assert_allclose(theirs[3:-3, 3:-3] / 100, ours[band][3:-3, 3:-3],
                                   rtol=1e-6, err_msg=kind)


def test_agrees_with_xdem_on_the_sample_dem():
    """xdem 0.2.x's Florinsky fit (5x5) against ours over 5 pixels, times 100 (xdem's unit is
    1/100 m) and the same sign for every kind. Its second derivatives are ours on whole
    5x5 windows (the cubic terms are odd); its gradient is the cubic fit's, so the
    direction-dependent kinds agree where the two gradients do."""
    xdem = pytest.importorskip("xdem", reason="xdem is not installed (pip install xdem)")
    with rasterio.open(ROOT / "data" / "jacksboro_utm16n.tif") as src:
        z = src.read(1, masked=True).astype(np.float64).filled(np.nan)
        res = src.res[0]
    names = XDEM_NAMES
    kinds = tuple(names)
    ours = core.fused(z, np.isfinite(z), row=-res, col=res, method="quadratic", window=5,
                      product="curvature", kinds=kinds)
    p, q = core.fused(z, np.isfinite(z), row=-res, col=res, method="quadratic", window=5)
    theirs_slope = np.radians(np.asarray(xdem.terrain.slope(z, resolution=res), float))
    theirs_aspect = np.radians(np.asarray(xdem.terrain.aspect(z), float))
    # the downslope direction (sin aspect, cos aspect) is -(p, q) / |(p, q)|
    tp = -np.tan(theirs_slope) * np.sin(theirs_aspect)
    tq = -np.tan(theirs_slope) * np.cos(theirs_aspect)
    inside = np.zeros(z.shape, bool)
    inside[3:-3, 3:-3] = True
    inside &= np.isfinite(tp)
    agree = inside & (np.hypot(tp - p, tq - q) < 0.05 * np.hypot(p, q)) & (np.hypot(p, q) > 0.05)
    assert agree.sum() > 1000
    for band, kind in enumerate(kinds):
        theirs = np.asarray(xdem.terrain.get_terrain_attribute(z, names[kind], resolution=res),
                            float) / 100
        # everywhere inside for the kinds that need no direction, else where they agree
        where = inside if kind in ("maximal", "minimal") else agree
        ok = where & np.isfinite(theirs) & np.isfinite(ours[band])
        a, b = ours[band][ok], theirs[ok]
        assert np.corrcoef(a, b)[0, 1] > 0.999, (kind, np.corrcoef(a, b)[0, 1])
        assert abs(np.polyfit(b, a, 1)[0] - 1) < 0.03, (kind, np.polyfit(b, a, 1)[0])
