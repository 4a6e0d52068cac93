"""Horn's method: exact on planes, and gdaldem's slope and aspect to the last pixel."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from terrain import core, units
from terrain.errors import RasterTooSmallError, UsageError

from .conftest import need_gdaldem

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "jacksboro_utm16n.tif"
NODATA = -9999.0
PIXEL = 30.0
TOLERANCE = 0.002  # degrees


def landscape(shape=(100, 120)):
    """Real-looking elevations: a window of the sample DEM, else a random landscape.

    The random landscape has a power-law spectrum, like real terrain, and
    about 400 m of relief over 3 km at 30 m pixels. Elevations are rounded to
    1/64 m so that gdaldem's float32 window sums are exact: its results then
    differ from ours only by their float32 rounding, even on gentle slopes.
    """
    if SAMPLE.exists():
        with rasterio.open(SAMPLE) as src:
            z = src.read(1, window=Window(60, 60, shape[1], shape[0]), masked=True)
        assert not z.mask.any(), "the sample window should be free of nodata"
        return np.round(z.data.astype(np.float64) * 64) / 64
    rng = np.random.default_rng(7)
    ky, kx = np.meshgrid(*(np.fft.fftfreq(n) for n in shape), indexing="ij")
    k = np.hypot(ky, kx)
    k[0, 0] = np.inf
    noise = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    z = np.fft.ifft2(noise * k**-2.2).real
    return np.round((300.0 + 400.0 * (z - z.min()) / np.ptp(z)) * 64) / 64


def punch_holes(z):
    """Nodata inside, along the border and at a corner; returns (z with NODATA, valid)."""
    valid = np.ones(z.shape, bool)
    valid[20:24, 30:35] = False  # a block
    valid[50, 60] = False  # a single pixel
    valid[0, 40:43] = False  # on the top border
    valid[70:72, -1] = False  # on the right border
    valid[-1, 0] = False  # a corner
    valid[-2, 1] = False  # next to it, diagonally
    return np.where(valid, z, NODATA), valid


def write(path, z, nodata=None):
    """Float32 GeoTIFF on a 30 m UTM 16N grid, north up."""
    transform = Affine(PIXEL, 0, 600_000.0, 0, -PIXEL, 4_070_000.0)
    with rasterio.open(
        path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
        dtype="float32", crs="EPSG:32616", transform=transform, nodata=nodata,
    ) as dst:
        dst.write(z.astype(np.float32), 1)
    return transform


def gdaldem(command, dem, out, *options):
    """Run gdaldem; its result with nodata as NaN."""
    subprocess.run([need_gdaldem(), command, "-q", *options, dem, out], check=True)
    with rasterio.open(out) as src:
        return src.read(1, masked=True).astype(np.float64).filled(np.nan)


def horn_slope_aspect(z, valid, transform):
    """Our slope (degrees) and aspect from Horn derivatives, as the pipeline maps them."""
    # north-up: dz/dx along columns per metre east, dz/dy along rows per e (< 0)
    dzdy, dzdx = core.horn(z, valid, row=transform.e, col=transform.a)
    return units.slope(dzdx, dzdy, "degrees"), units.aspect(dzdx, dzdy)


def angle_difference(a, b):
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def test_plane_is_exact_everywhere_but_gdaldems_corners():
    y, x = np.mgrid[0:7, 0:9].astype(float)
    z = 0.2 * x * 10.0 - 0.7 * y * 25.0
    d_row, d_col = core.horn(z, None, row=25.0, col=10.0)
    np.testing.assert_allclose(d_row, -0.7, rtol=1e-12)
    # 2a - b extrapolation is exact on a plane; but gdaldem's first and last
    # rows repeat the edge column, halving d_col at the four corners.
    corners = (np.array([0, 0, -1, -1]), np.array([0, -1, 0, -1]))
    np.testing.assert_allclose(d_col[corners], 0.1, rtol=1e-12)
    d_col[corners] = 0.2
    np.testing.assert_allclose(d_col, 0.2, rtol=1e-12)


def test_missing_neighbour_takes_the_centre_value():
    z = np.tile([0.0, 1.0, 2.0], (3, 1))  # z = column
    valid = np.ones(z.shape, bool)
    valid[1, 2] = False
    d_row, d_col = core.horn(z, valid)
    # right column 2, [hole -> centre 1], 2; left column 0, 0, 0
    assert d_col[1, 1] == (2 + 2 * 1 + 2 - 0) / 8
    assert d_row[1, 1] == 0
    assert np.isnan(d_col[1, 2])
    assert np.isnan(d_row[1, 2])
    assert np.isfinite(d_col[valid]).all()
    assert np.isfinite(d_row[valid]).all()


def test_nan_elevations_are_nodata_and_flat_ground_is_exactly_flat():
    z = np.full((5, 6), 1234.567)
    z[2, 3] = np.nan
    d_row, d_col = core.horn(z, None, row=-30.0, col=30.0)
    valid = np.isfinite(z)
    assert (d_row[valid] == 0).all()
    assert (d_col[valid] == 0).all()
    assert np.isnan(d_row[~valid]).all()
    assert np.isnan(d_col[~valid]).all()


def test_two_pixel_raster():
    z = np.array([[0.0, 2.0], [5.0, 7.0]])  # a plane
    d_row, d_col = core.horn(z)
    # every pixel is a corner: d_col is halved, d_row is not
    np.testing.assert_array_equal(d_col, [[1.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(d_row, [[5.0, 5.0], [5.0, 5.0]])


def test_coordinate_arrays_and_tiny_rasters_are_refused():
    with pytest.raises(UsageError, match="uniform grid"):
        core.horn(np.zeros((4, 4)), row=np.arange(4.0))
    with pytest.raises(RasterTooSmallError, match="at least 2 pixels"):
        core.horn(np.zeros((1, 4)))
    assert core.METHODS == ("central", "horn", "quadratic")


def test_interior_equals_gdaldem_default_slope_and_aspect(tmp_path):
    z = landscape()
    transform = write(tmp_path / "dem.tif", z)
    theirs = gdaldem("slope", tmp_path / "dem.tif", tmp_path / "slope.tif")
    their_aspect = gdaldem("aspect", tmp_path / "dem.tif", tmp_path / "aspect.tif")
    ours, our_aspect = horn_slope_aspect(z, None, transform)
    interior = np.s_[1:-1, 1:-1]
    assert np.isfinite(theirs[interior]).all()  # gdaldem leaves only the border
    assert np.abs(ours[interior] - theirs[interior]).max() < TOLERANCE
    assert ours.std() > 1  # a rough surface: the comparison means something
    np.testing.assert_array_equal(np.isnan(our_aspect[interior]),
                                  np.isnan(their_aspect[interior]))
    assert np.nanmax(angle_difference(our_aspect, their_aspect)[interior]) < TOLERANCE


def test_borders_and_holes_equal_gdaldem_compute_edges(tmp_path):
    z, valid = punch_holes(landscape())
    transform = write(tmp_path / "dem.tif", z, nodata=NODATA)
    edges = ("-compute_edges",)
    theirs = gdaldem("slope", tmp_path / "dem.tif", tmp_path / "slope.tif", *edges)
    their_aspect = gdaldem("aspect", tmp_path / "dem.tif", tmp_path / "aspect.tif", *edges)
    ours, our_aspect = horn_slope_aspect(z, valid, transform)
    np.testing.assert_array_equal(np.isnan(ours), ~valid)
    np.testing.assert_array_equal(np.isnan(theirs), ~valid)
    assert np.abs(ours - theirs)[valid].max() < TOLERANCE
    np.testing.assert_array_equal(np.isnan(our_aspect), np.isnan(their_aspect))
    assert np.nanmax(angle_difference(our_aspect, their_aspect)) < TOLERANCE
