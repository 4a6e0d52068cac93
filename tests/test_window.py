"""The quadratic window fit (--window, window=): exact on quadratics everywhere, one estimator.

References are analytic surfaces (their slope from calculus and pyproj's ellipsoid),
Evans's formula written out in numpy, a least-squares fit by numpy.linalg.lstsq at every
pixel, and the central method where a window cannot determine the quadratic.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

import terrain
from terrain import core
from terrain.cli import main
from terrain.errors import UsageError
from terrain.options import Options
from terrain.spacing import coordinate_geometry, pixel_geometry
from terrain.tiles import run_tiles

from .conftest import centres, read

ROOT = Path(__file__).resolve().parents[1]
UTM = "EPSG:32633"
NORTH_UP = Affine(10.0, 0, 500_000.0, 0, -25.0, 5_000_000.0)
SOUTH_UP = Affine(10.0, 0, 500_000.0, 0, 25.0, 4_999_000.0)
ROTATED = Affine.translation(500_000.0, 5_000_000.0) @ Affine.rotation(30) @ Affine.scale(10, -25)
FEET = Affine(30.0, 0, 1_000_000.0, 0, -30.0, 200_000.0)  # EPSG:2263, US survey feet
LATLON = Affine(1 / 1200, 0, 10.0, 0, -1 / 1200, 47.0)   # 3 arc-seconds near 47 N
WINDOWS = [3, 5, 7, 15, 31]
WGS84 = pyproj.CRS("EPSG:4326")
GEOD = WGS84.get_geod()


def cli(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def holes(shape, seed=0):
    """An interior hole, a hole touching the top border, a nodata corner, scattered pixels."""
    valid = np.ones(shape, bool)
    valid[12:16, 18:23] = False
    valid[0:3, 25:29] = False
    valid[-5:, -6:] = False
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(4, shape[0] - 6, 6), rng.integers(2, shape[1] - 8, 6)
    valid[rows, cols] = False
    return valid


# --- analytic surfaces ---------------------------------------------------------------

# z = 300 + P x + Q y + A x^2 + B y^2 + C x y around the grid's centre: its slope never
# vanishes on these grids, so a relative error means something at every pixel.
P, Q, A, B, C = 0.3, -0.4, 1.0e-4, -1.2e-4, 0.8e-4


def quadratic_projected(transform, shape, unit=1.0):
    """Elevations (CRS units) and the analytic slope of the quadratic in world x, y."""
    x, y = centres(transform, shape)
    x, y = x - x.mean(), y - y.mean()
    a, b, c = A / unit, B / unit, C / unit
    z = 300 + P * x + Q * y + a * x**2 + b * y**2 + c * x * y
    dzdx, dzdy = P + 2 * a * x + c * y, Q + 2 * b * y + c * x
    return z, np.hypot(dzdx, dzdy)


def latlon_frame(transform, shape):
    """Each pixel's east (metres along its parallel from the grid's middle meridian) and
    north (meridian distance from the middle row) coordinates, latitude and longitude."""
    lon, lat = centres(transform, shape)
    lon0, lat0 = lon.mean(), lat.mean()
    a, b = WGS84.ellipsoid.semi_major_metre, WGS84.ellipsoid.semi_minor_metre
    e2 = 1 - (b / a) ** 2
    phi = np.radians(lat)
    parallel = a / np.sqrt(1 - e2 * np.sin(phi) ** 2) * np.cos(phi)
    east = np.radians(lon - lon0) * parallel
    _, _, north = GEOD.inv(np.full(lat.size, lon0), np.full(lat.size, lat0),
                           np.full(lat.size, lon0), lat.ravel())
    north = np.copysign(np.reshape(north, lat.shape), lat - lat0)
    return east, north, phi, np.radians(lon - lon0)


def quadratic_latlon(transform, shape, a=1e-5, b=-1.2e-5, c=0.8e-5):
    """z(E, N) quadratic in the metre coordinates of ``latlon_frame``; its slope.

    Going north by dy at a pixel moves E by -(lon - lon0) sin(phi) dy (the
    parallels shrink: d(N cos phi)/dphi = -M sin phi), so dz/dy = z_N - z_E (lon - lon0)
    sin(phi). The fit sees each window in its own pixel's frame, where this is
    quadratic up to terms of relative size (window / earth radius)²."""
    east, north, phi, dlon = latlon_frame(transform, shape)
    z = 300 + P * east + Q * north + a * east**2 + b * north**2 + c * east * north
    z_e, z_n = P + 2 * a * east + c * north, Q + 2 * b * north + c * east
    return z, np.hypot(z_e, z_n - z_e * dlon * np.sin(phi)), z_e, z_n - z_e * dlon * np.sin(phi)


GRIDS = {  # transform, CRS, a window in metres and its pixels (rows x columns)
    "north-up": (NORTH_UP, UTM, "100m", "5 x 11"),  # 25 x 10 m pixels: both ties, to the larger
    "south-up": (SOUTH_UP, UTM, "100m", "5 x 11"),
    "rotated": (ROTATED, UTM, "100m", "5 x 11"),
    "feet": (FEET, "EPSG:2263", "50m", "5 x 5"),     # 30 ft = 9.144 m
    "lat/lon": (LATLON, "EPSG:4326", "500m", "5 x 7"),  # 92.6 x 63.4 m
}


def surface(grid, shape):
    transform = GRIDS[grid][0]
    if grid == "lat/lon":
        return quadratic_latlon(transform, shape)[:2]
    return quadratic_projected(transform, shape)


@pytest.mark.parametrize("window", [*WINDOWS, "metres"])
@pytest.mark.parametrize("grid", list(GRIDS))
def test_quadratic_with_holes_is_exact_at_every_valid_pixel(write_dem, tmp_path, grid, window):
    """The file path, border, corners and holes included, within 1e-6 relative."""
    transform, crs, metres, pixels = GRIDS[grid]
    shape = (40, 36)
    z, want = surface(grid, shape)
    valid = holes(shape)
    units = ["US survey foot"] if grid == "feet" else None
    dem = write_dem(np.where(valid, z, -9999.0), transform, crs=crs, nodata=-9999.0,
                    dtype="float64", units=units)
    size = metres if window == "metres" else window
    out = tmp_path / "slope.tif"
    terrain.slope(dem, out, window=size, jobs=1)
    got, _ = read(out, 1)
    assert np.isfinite(got[valid]).all()
    assert np.isnan(got[~valid]).all()
    np.testing.assert_allclose(got[valid], want[valid], rtol=1e-6, atol=0)
    recorded = rasterio.open(out).tags()["TERRAIN_WINDOW_PIXELS"]
    assert recorded == (pixels if window == "metres" else f"{window} x {window}")


def test_plane_in_metres_on_lat_lon_at_60_north_with_a_15_pixel_window(write_dem, tmp_path):
    """dz/dx and dz/dy themselves (the gradient's bands), border and holes included."""
    transform = Affine(1 / 3600, 0, 24.0, 0, -1 / 3600, 60.01)  # 1 arc-second, ~15 x 31 m
    shape = (48, 44)
    z, _, dzdx, dzdy = quadratic_latlon(transform, shape, a=0.0, b=0.0, c=0.0)
    valid = holes(shape)
    dem = write_dem(np.where(valid, z, np.nan), transform, crs="EPSG:4326", nodata=np.nan,
                    dtype="float64")
    terrain.gradient(dem, tmp_path / "g.tif", window=15)
    (gx, gy), _ = read(tmp_path / "g.tif")
    np.testing.assert_allclose(gx[valid], dzdx[valid], rtol=1e-6, atol=0)
    np.testing.assert_allclose(gy[valid], dzdy[valid], rtol=1e-6, atol=0)
    assert np.isnan(gx[~valid]).all()


# --- the fit itself -----------------------------------------------------------------

def test_3x3_whole_window_equals_evans_inside():
    """(sum of the right column - sum of the left) / 6h, and north (top - bottom) / 6h."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(30, 40)).cumsum(0).cumsum(1) + 500
    d_row, d_col = core.quadratic(z, row=-25.0, col=10.0, window=3)
    right = z[:-2, 2:] + z[1:-1, 2:] + z[2:, 2:]
    left = z[:-2, :-2] + z[1:-1, :-2] + z[2:, :-2]
    top = z[:-2, :-2] + z[:-2, 1:-1] + z[:-2, 2:]
    bottom = z[2:, :-2] + z[2:, 1:-1] + z[2:, 2:]
    # both sum six terms, in different orders: rounding of a few ulps of the terms
    atol = 16 * np.finfo(float).eps * np.abs(z).max() * 6 / 60
    np.testing.assert_allclose(d_col[1:-1, 1:-1], (right - left) / (6 * 10.0), rtol=0, atol=atol)
    np.testing.assert_allclose(d_row[1:-1, 1:-1], (top - bottom) / (6 * 25.0), rtol=0,
                               atol=atol * 60 / 150)
    assert np.abs(d_col[1:-1, 1:-1]).min() > 1000 * atol  # the tolerance is not the signal


def lstsq_reference(z, valid, row_coords, col_step, col_scale, wr, wc):
    """numpy.linalg.lstsq of the quadratic at every pixel, offsets in metres from it.

    x = column offset x col_step x (that window row's col_scale), y = the row
    coordinate's difference. Returns dz/dx, dz/dy and where the pattern of valid
    pixels determines a quadratic (rank 6 in whole pixel offsets: on lat/lon grids
    two columns of pixels are only barely determined in metres, and wildly).
    """
    n, m = z.shape
    px, py = np.full(z.shape, np.nan), np.full(z.shape, np.nan)
    determined = np.zeros(z.shape, bool)
    scale = np.ones(n) if col_scale is None else col_scale
    for i in range(n):
        hr = min(wr, n)
        ri = min(max(i - hr // 2, 0), n - hr)
        for j in range(m):
            hc = min(wc, m)
            rj = min(max(j - hc // 2, 0), m - hc)
            rows, cols = np.mgrid[ri:ri + hr, rj:rj + hc]
            ok = valid[rows, cols]
            if not valid[i, j] or ok.sum() < 6:
                continue
            def design(x, y):
                return np.stack([x * x, y * y, x * y, x, y, np.ones_like(x)], 1)

            pattern = design((cols - j)[ok].astype(float), (rows - i)[ok].astype(float))
            sv = np.linalg.svd(pattern / np.linalg.norm(pattern, axis=0), compute_uv=False)
            if sv[-1] < 1e-6 * sv[0]:
                continue
            x = ((cols - j) * col_step * scale[rows])[ok]
            y = (row_coords[rows] - row_coords[i])[ok]
            a = design(x, y)
            coef = np.linalg.lstsq(a, z[rows, cols][ok], rcond=None)[0]
            px[i, j], py[i, j], determined[i, j] = coef[3], coef[4], True
    return px, py, determined


@pytest.mark.parametrize(("geometry", "window", "drop"), [
    ("projected", (3, 3), 0.25), ("projected", (7, 5), 0.1), ("projected", (31, 31), 0.1),
    ("60N 3 arc-seconds", (5, 9), 0.1), ("60N 3 arc-seconds", (3, 3), 0.3),
    ("80N 30 arc-seconds", (3, 3), 0.3), ("80N 30 arc-seconds", (5, 5), 0.5)])
def test_fit_is_the_least_squares_fit_or_else_the_central_stencil(geometry, window, drop):
    """On rough data with holes: every pixel whose window determines the quadratic equals
    numpy's least-squares fit; every other pixel equals the central method, bit for bit,
    so no valid pixel loses the value the central method gives it. Near the pole with
    coarse pixels, rows' x scales differ most: two columns of pixels are then barely
    determined in metres, and must still count as undetermined."""
    rng = np.random.default_rng(7)
    n, m = 21, 27
    z = rng.normal(size=(n, m)).cumsum(0).cumsum(1) + 500
    valid = rng.random((n, m)) > drop
    valid[5:9, 10:16] = False
    valid[0:3, 0:4] = False
    if geometry == "projected":
        row, col, scale, coords = -25.0, 10.0, None, -25.0 * np.arange(n)
    else:
        latitude, seconds = (60, 3) if geometry.startswith("60") else (80, 30)
        lat = np.radians(latitude + (np.arange(n) + 0.5)[::-1] * seconds / 3600)
        scale = 6_378_137.0 * np.cos(lat)
        coords = row = 6_378_137.0 * lat
        col = math.radians(seconds / 3600)
    kernel = core.fused(z, valid, row=row, col=col, col_scale=scale, method="quadratic",
                        window=window)
    px, py, determined = lstsq_reference(z, valid, coords, col, scale, *window)
    magnitude = np.hypot(px, py)[determined]
    np.testing.assert_allclose(kernel[0][determined], px[determined], rtol=0,
                               atol=1e-8 * magnitude.max())
    np.testing.assert_allclose(kernel[1][determined], py[determined], rtol=0,
                               atol=1e-8 * magnitude.max())
    central = core.fused(z, valid, row=row, col=col, col_scale=scale)
    rest = valid & ~determined
    np.testing.assert_array_equal(kernel[:, rest], central[:, rest])
    assert np.isfinite(kernel[:, valid & np.isfinite(central).all(0)]).all()
    if window == (3, 3):
        assert rest.sum() > 10  # the rule is exercised


def test_degenerate_windows_take_the_central_stencil():
    """Two rows, two columns, a line: the quadratic is not determined."""
    z = np.add.outer(np.arange(9.0) ** 2, 0.5 * np.arange(11.0) ** 2)
    for valid in (np.isin(np.arange(9), [3, 4])[:, None] & np.ones(11, bool),
                  np.ones(9, bool)[:, None] & np.isin(np.arange(11), [5, 6]),
                  np.eye(9, 11, dtype=bool) | np.eye(9, 11, 1, dtype=bool)):
        got = core.fused(z, valid, row=2.0, col=3.0, method="quadratic", window=5)
        want = core.fused(z, valid, row=2.0, col=3.0)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(core.fused(z[:2], row=2.0, method="quadratic", window=5),
                                  core.fused(z[:2], row=2.0))


@pytest.mark.parametrize("crs_transform", [(UTM, NORTH_UP), ("EPSG:4326", LATLON)])
@pytest.mark.parametrize("window", [3, 5, 15])
def test_flat_ground_is_flat(write_dem, tmp_path, crs_transform, window):
    """Slope exactly 0 and aspect nodata everywhere, border and holes included."""
    crs, transform = crs_transform
    valid = holes((40, 36))
    z = np.where(valid, 123.4, -9999.0)
    dem = write_dem(z, transform, crs=crs, nodata=-9999.0, dtype="float64")
    terrain.slope(dem, tmp_path / "s.tif", window=window)
    terrain.aspect(dem, tmp_path / "a.tif", window=window)
    slope, aspect = read(tmp_path / "s.tif", 1)[0], read(tmp_path / "a.tif", 1)[0]
    assert (slope[valid] == 0).all()
    assert np.isnan(aspect).all()


def test_noisy_surface_5x5_fit_slope_rmse_at_most_0_4_of_central():
    """A smooth surface at 10 m with Gaussian noise of 0.5 m: inside and on the border rows."""
    n = 160
    y, x = np.mgrid[0:n, 0:n] * 10.0
    z = 40 * np.sin(x / 900) * np.cos(y / 700) + 0.05 * x - 0.03 * y
    dzdx = 40 / 900 * np.cos(x / 900) * np.cos(y / 700) + 0.05
    dzdy = -(-40 / 700 * np.sin(x / 900) * np.sin(y / 700) - 0.03)  # rows run south
    want = np.hypot(dzdx, dzdy)
    noisy = z + np.random.default_rng(2).normal(scale=0.5, size=z.shape)

    def slope(**kwargs):
        return core.fused(noisy, row=-10.0, col=10.0, product="slope", **kwargs)[0]

    central, fit = slope(), slope(method="quadratic", window=5)
    inside = np.s_[2:-2, 2:-2]
    border = np.zeros(z.shape, bool)
    border[[0, -1], :] = True

    def rmse(s, where):
        return float(np.sqrt(np.mean((s[where] - want[where]) ** 2)))

    assert rmse(fit, inside) <= 0.4 * rmse(central, inside)
    assert rmse(fit, border) <= 0.4 * rmse(central, border)
    assert rmse(central, inside) > 0.02  # the noise is there: central ~0.035


# --- windows in metres and the context they need --------------------------------------

def test_window_in_metres_is_the_odd_count_whose_span_is_nearest():
    assert [core.window_pixels(30.0, p) for p in (10.0, 7.0, 6.0, 2.0, 25.0)] == [3, 5, 5, 15, 3]
    assert core.window_pixels(40.0, 10.0) == 5   # 30 and 50 m are as near: the larger
    assert core.window_pixels(100.0, 25.0) == 5  # 75 and 125 m
    assert core.window_pixels(5.0, 10.0) == 3    # at least 3
    shape = core.Window.parse("30m").shape(np.array([10.0, 6.0]), 2.0, 2)
    assert shape.tolist() == [[3, 15], [5, 15]]
    assert core.Window.parse(" 1.5 km") == core.Window.parse("1500m") == core.Window(metres=1500)
    assert str(core.Window.parse("722.3495m")) == "722.3495m"  # as asked, in the tags


def test_window_in_metres_follows_each_rows_latitude_on_lat_lon():
    """East-west pixels shrink with cos(latitude): the column count grows northward."""
    transform = Affine(1 / 3600, 0, 24.0, 0, -1 / 3600, 70.0)
    geometry = pixel_geometry(transform, "EPSG:4326", 3600)  # a degree: 70 N to 69 N
    shape = Options("slope", window="200m").window_shape(geometry, 3600)
    assert shape[0, 1] > shape[-1, 1]  # north is narrower per pixel: more pixels
    assert (np.diff(shape[:, 1]) <= 0).all()
    assert set(shape[:, 0]) == {7}
    east = geometry.col_scale * math.radians(1 / 3600)
    np.testing.assert_array_equal(shape[:, 1], core.window_pixels(200.0, east))


@settings(max_examples=300, deadline=None)
@given(n=st.integers(2, 80), w=st.integers(1, 40), start=st.integers(0, 79),
       length=st.integers(1, 80))
def test_context_holds_every_pixels_moved_window(n, w, start, length):
    w = 2 * w + 1
    start = min(start, n - 1)
    stop = min(start + length, n)
    lo, hi = core.context(start, stop, n, w)
    size = min(w, n)
    for i in range(start, stop):
        first = min(max(i - size // 2, 0), n - size)
        assert lo <= first
        assert first + size <= hi
        assert lo <= max(i - 2, 0)
        assert min(i + 3, n) <= hi
    assert (lo == 0 or lo >= start - w)
    assert (hi == n or hi <= stop + w)


# --- one estimator, every path ------------------------------------------------------

def rough_dem(shape, seed=3):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape).cumsum(0).cumsum(1) * 0.3 + 800
    valid = rng.random(shape) > 0.03
    valid[40:46, 10:70] = False  # across tile edges
    valid[-9:, :7] = False       # a nodata corner
    return np.where(valid, z, -9999.0).astype("float32")


def lat_lon_window_that_changes_midway(transform, shape):
    """A length whose column count flips between 15 and 17 halfway down the raster."""
    geometry = pixel_geometry(transform, "EPSG:4326", shape[0])
    east = geometry.col_scale[shape[0] // 2] * math.radians(transform.a)
    return f"{16 * east:.4f}m"


PATH_CASES = {
    "projected, 31 pixels": (NORTH_UP, UTM, 31),
    # south-up: rows run north, so the window widens down a block
    "lat/lon, metres": (Affine(1 / 1200, 0, 10.0, 0, 1 / 1200, 60.92), "EPSG:4326", None),
}


@pytest.mark.parametrize("case", list(PATH_CASES))
def test_every_path_gives_the_same_bits(write_dem, tmp_path, case):
    """File, blocks of several sizes on 1 and 2 threads, 16 tiles, the accessor eager and
    on Dask with chunks smaller than the window (10, and half the window, the least a
    chunk can be), and the whole array in memory."""
    rioxarray = pytest.importorskip("rioxarray")
    pytest.importorskip("dask")
    transform, crs, window = PATH_CASES[case]
    shape = (96, 96)
    z = rough_dem(shape)
    if window is None:
        window = lat_lon_window_that_changes_midway(transform, shape)
    sizes = Options("slope", window=window).window_shape(
        pixel_geometry(transform, crs, shape[0]), shape[0])
    if crs == "EPSG:4326":
        assert sizes[0, 1] == 15
        assert sizes[-1, 1] == 17
    dem = write_dem(z, transform, crs=crs, nodata=-9999.0, dtype="float32", name="dem.tif")
    whole = tmp_path / "whole.tif"
    terrain.slope(dem, whole, window=window)
    want = rasterio.open(whole).read(1)
    # the whole array in memory, by the core
    options = Options("slope", window=window)
    memory = options.compute(z, core.Holes(nodata=-9999.0),
                             pixel_geometry(transform, crs, shape[0]), encoded=True)[0]
    np.testing.assert_array_equal(memory, want)
    for block_size in (16, 17, 64):  # the smallest block taken, an odd one
        for jobs in (1, 2):
            out = tmp_path / f"b{block_size}_{jobs}.tif"
            terrain.slope(dem, out, window=window, block_size=block_size, jobs=jobs)
            np.testing.assert_array_equal(rasterio.open(out).read(1), want, err_msg=str(out))
    # 16 tiles of 24 x 24, smaller than the window
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for i in range(4):
        for j in range(4):
            write_dem(z[24 * i:24 * i + 24, 24 * j:24 * j + 24],
                      transform @ Affine.translation(24 * j, 24 * i), crs=crs,
                      nodata=-9999.0, dtype="float32", name=f"tiles/t{i}{j}.tif")
    assert run_tiles([tiles], tmp_path / "out", Options("slope", window=window), jobs=2) == []
    for i in range(4):
        for j in range(4):
            got = rasterio.open(tmp_path / "out" / f"t{i}{j}.tif").read(1)
            np.testing.assert_array_equal(got, want[24 * i:24 * i + 24, 24 * j:24 * j + 24])
    # the accessor, eager and on Dask with 10 x 10 chunks
    da = rioxarray.open_rasterio(dem, masked=True).squeeze("band", drop=True)
    expect = np.where(want == -9999, np.nan, want)
    np.testing.assert_array_equal(da.terrain.slope(window=window).values, expect)
    for chunks in (10, {"y": int(sizes[:, 0].max()) // 2, "x": int(sizes[:, 1].max()) // 2}):
        lazy = da.chunk(chunks if isinstance(chunks, dict) else {"y": 10, "x": 10})
        slope = lazy.terrain.slope(window=window)
        assert slope.chunks is not None
        np.testing.assert_array_equal(slope.values, expect, err_msg=str(chunks))


def test_accessor_gradient_on_irregular_rows_is_exact():
    """Coordinates that are not evenly spaced along y: the fit takes them as they are."""
    xr = pytest.importorskip("xarray")
    y = np.cumsum(np.linspace(8.0, 14.0, 30))[::-1]
    x = 500.0 + 10.0 * np.arange(25)
    yy, xx = np.meshgrid(y - y.mean(), x - x.mean(), indexing="ij")
    z = 300 + P * xx + Q * yy + A * xx**2 + B * yy**2 + C * xx * yy
    da = xr.DataArray(z, dims=("y", "x"), coords={"y": y, "x": x})
    with pytest.warns(terrain.NoCRSWarning):
        g = da.terrain.gradient(window=7)
    np.testing.assert_allclose(g.dzdx.values, P + 2 * A * xx + C * yy, rtol=1e-9)
    np.testing.assert_allclose(g.dzdy.values, Q + 2 * B * yy + C * xx, rtol=1e-9)


# --- the command line and the library's surface --------------------------------------

def plane(write_dem, rough=False):
    z = quadratic_projected(NORTH_UP, (30, 20))[0]
    if rough:  # neither method is then exact: they differ
        z = z + np.random.default_rng(0).normal(size=z.shape)
    return write_dem(z, NORTH_UP, crs=UTM, dtype="float64", name="dem.tif")


@pytest.mark.parametrize("command", ["slope", "gradient", "aspect", "hillshade"])
def test_every_command_takes_the_window_and_records_it(write_dem, tmp_path, command):
    dem = plane(write_dem, rough=True)
    assert cli(command, dem, tmp_path / "w.tif", "--window", "100m") == 0
    assert cli(command, dem, tmp_path / "q.tif", "--method", "quadratic", "--window", "100m") == 0
    assert cli(command, dem, tmp_path / "c.tif") == 0
    with rasterio.open(tmp_path / "w.tif") as src:
        tags, fitted = src.tags(), src.read()
    assert tags["TERRAIN_METHOD"] == "quadratic"
    assert tags["TERRAIN_WINDOW"] == "100m"
    assert tags["TERRAIN_WINDOW_PIXELS"] == "5 x 11"  # 125 m of rows, 110 m of columns
    assert tags["TERRAIN_WINDOW_METRES"] == "125 x 110"
    np.testing.assert_array_equal(rasterio.open(tmp_path / "q.tif").read(), fitted)
    with rasterio.open(tmp_path / "c.tif") as src:
        assert src.tags()["TERRAIN_METHOD"] == "central"
        assert "TERRAIN_WINDOW" not in src.tags()
        assert not np.array_equal(src.read(), fitted)


def test_method_quadratic_alone_is_a_3x3_window(write_dem, tmp_path):
    dem = plane(write_dem)
    assert cli("gradient", dem, tmp_path / "a.tif", "--method", "quadratic") == 0
    assert cli("gradient", dem, tmp_path / "b.tif", "--window", "3") == 0
    np.testing.assert_array_equal(read(tmp_path / "a.tif")[0], read(tmp_path / "b.tif")[0])
    assert rasterio.open(tmp_path / "a.tif").tags()["TERRAIN_WINDOW_PIXELS"] == "3 x 3"


def test_lat_lon_tags_give_the_range_over_rows(write_dem, tmp_path):
    transform = Affine(1 / 1200, 0, 10.0, 0, -1 / 1200, 61.0)
    dem = write_dem(np.zeros((96, 8)), transform, crs="EPSG:4326", dtype="float64")
    window = lat_lon_window_that_changes_midway(transform, (96, 8))
    assert cli("slope", dem, tmp_path / "s.tif", "--window", window) == 0
    tags = rasterio.open(tmp_path / "s.tif").tags()
    assert tags["TERRAIN_WINDOW"] == window
    assert tags["TERRAIN_WINDOW_PIXELS"] == "7 x 15..17"  # rows of 93 m, columns of 45 m
    rows, cols = tags["TERRAIN_WINDOW_METRES"].split(" x ")
    assert ".." in cols
    assert ".." in rows


@pytest.mark.parametrize(("args", "pattern"), [
    (["--window", "7", "--method", "central"], "not central"),
    (["--window", "7", "--method", "horn"], "not horn"),
    (["--window", "8"], "must be odd"),
    (["--window", "1"], "must be odd"),
    (["--window", "1003"], "from 3 to 1001"),
    (["--window", "30ft"], "length in metres"),
    (["--window", "0m"], "must be positive"),
    (["--window", "20000m"], "at most 1001"),
])
def test_bad_window_is_a_usage_error_with_nothing_written(write_dem, tmp_path, args, pattern):
    """A real process: exit 2, one line on stderr, nothing left behind, input unchanged."""
    dem = plane(write_dem)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "slope", str(dem),
                             str(tmp_path / "out.tif"), *args], capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("terrain: error: "), result.stderr
    assert pattern in lines[0]
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_library_refuses_what_it_cannot_do():
    with pytest.raises(UsageError, match="not central"):
        Options("slope", method="central", window=5)
    with pytest.raises(UsageError, match="evenly spaced columns"):
        core.quadratic(np.zeros((5, 5)), col=np.array([0.0, 1, 3, 4, 6]))
    with pytest.warns(terrain.NoCRSWarning):
        irregular = coordinate_geometry(np.arange(5.0), np.array([0.0, 1, 3, 4, 6]), None)
    with pytest.raises(UsageError, match="not evenly spaced"):
        Options("slope", window="30m").window_shape(irregular, 5)
    with pytest.raises(UsageError, match="must be odd"):
        core.fused(np.zeros((5, 5)), method="quadratic", window=4)
    with pytest.raises(UsageError, match="goes with the quadratic method"):
        core.fused(np.zeros((5, 5)), window=5)


def test_tile_that_read_a_failed_tile_through_a_thin_one_is_computed_again(write_dem,
                                                                          tmp_path):
    """North to south: a tile, a 10-row tile, a tile whose lower half is cut off, a 10-row
    tile, a tile. With a window of 31 the north tile reads the cut tile's first rows
    (intact) across the thin one, so when the cut tile fails it must be computed again
    with it as a gap: as the set without it."""
    rng = np.random.default_rng(4)
    heights, top = (256, 10, 512, 10, 256), 0
    paths = []
    for i, height in enumerate(heights):
        z = (rng.normal(size=(height, 256)).cumsum(0).cumsum(1) * 0.2).astype("float32")
        paths.append(write_dem(z, NORTH_UP @ Affine.translation(0, top), name=f"t{i}.tif",
                               dtype="float32", tiled=True, blockxsize=256, blockysize=256))
        top += height
    os.truncate(paths[2], int(os.path.getsize(paths[2]) * 0.6))
    options = Options("slope", window=31)
    failed = run_tiles(paths, tmp_path / "out", options, jobs=1)
    assert [path for path, _ in failed] == [str(paths[2])]
    rest = [p for i, p in enumerate(paths) if i != 2]
    assert run_tiles(rest, tmp_path / "gap", options, jobs=1) == []
    for path in rest:
        np.testing.assert_array_equal(read(tmp_path / "out" / path.name)[0],
                                      read(tmp_path / "gap" / path.name)[0], err_msg=path.name)
