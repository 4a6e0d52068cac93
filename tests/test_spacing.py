"""Pixel geometry in metres: feet, lat/lon on the CRS's ellipsoid, flips, rotations."""

import numpy as np
import pyproj
import pytest
from affine import Affine

import terrain
from terrain.errors import BadInputError
from terrain.spacing import NoCRSWarning, pixel_geometry

from .conftest import centres, read

ARCSEC = 1 / 3600


def plane(x, y):
    return 0.04 * x - 0.07 * y + 300.0


@pytest.mark.parametrize(("epsg", "metres"), [(2251, 0.3048), (2277, 1200 / 3937)])
def test_feet_crs_is_converted(write_dem, tmp_path, epsg, metres):
    transform = Affine(30.0, 0, 1e6, 0, -40.0, 5e5)  # feet
    x, y = centres(transform, (12, 15))
    # elevations in metres, as the band says
    dem = write_dem(plane(x * metres, y * metres), transform, crs=f"EPSG:{epsg}",
                    units=("metre",))
    terrain.gradient(dem, tmp_path / "g.tif")
    (dzdx, dzdy), _ = read(tmp_path / "g.tif")
    np.testing.assert_allclose(dzdx, 0.04, rtol=1e-5)
    np.testing.assert_allclose(dzdy, -0.07, rtol=1e-5)


def test_z_factor_scales_elevations(write_dem, tmp_path):
    transform = Affine(10.0, 0, 0, 0, -10.0, 0)
    x, y = centres(transform, (8, 8))
    dem = write_dem(plane(x, y) / 0.3048, transform)  # elevations in feet
    terrain.gradient(dem, tmp_path / "g.tif", z_factor=0.3048)
    (dzdx, dzdy), _ = read(tmp_path / "g.tif")
    np.testing.assert_allclose(dzdx, 0.04, rtol=1e-5)
    np.testing.assert_allclose(dzdy, -0.07, rtol=1e-5)


def geographic_reference(crs, lat0, shape=(24, 30), step=3 * ARCSEC):
    """A DEM on a lat/lon grid and its gradient from pyproj.Geod distances."""
    geod = pyproj.CRS.from_user_input(crs).get_geod()
    transform = Affine(step, 0, 10.0, 0, -step, lat0 + shape[0] * step / 2)
    lon, lat = centres(transform, shape)
    # distances in metres east along the parallel and north along the meridian
    _, _, east = geod.inv(np.full_like(lon, 10.0), lat, lon, lat)
    _, _, north = geod.inv(lon, np.full_like(lat, lat0), lon, lat)
    x, y = east * np.sign(lon - 10.0), north * np.sign(lat - lat0)
    z = 500 + 0.3 * x - 0.2 * y + 1e-4 * x * y  # m; a slightly twisted plane
    # reference: central differences over Geod distances between the neighbours
    _, _, dx = geod.inv(lon[:, :-2], lat[:, :-2], lon[:, 2:], lat[:, 2:])
    _, _, dy = geod.inv(lon[2:], lat[2:], lon[:-2], lat[:-2])
    ref_dzdx = (z[:, 2:] - z[:, :-2]) / dx
    ref_dzdy = (z[:-2] - z[2:]) / dy
    return z, transform, ref_dzdx, ref_dzdy


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4230", "EPSG:4267"])
@pytest.mark.parametrize("lat0", [0.0, 60.0, 80.0, -45.0])
def test_geographic_within_0_2_percent_of_geod(write_dem, tmp_path, crs, lat0):
    z, transform, ref_dzdx, ref_dzdy = geographic_reference(crs, lat0)
    dem = write_dem(z, transform, crs=crs)
    terrain.gradient(dem, tmp_path / "g.tif")
    (dzdx, dzdy), _ = read(tmp_path / "g.tif")
    np.testing.assert_allclose(dzdx[:, 1:-1], ref_dzdx, rtol=2e-3)
    np.testing.assert_allclose(dzdy[1:-1], ref_dzdy, rtol=2e-3)
    # the border takes a one-sided stencil and stays as good
    np.testing.assert_allclose(dzdx[:, 0], ref_dzdx[:, 0], rtol=2e-3)
    np.testing.assert_allclose(dzdy[-1], ref_dzdy[-1], rtol=2e-3)


def test_ellipsoid_matters(write_dem, tmp_path):
    """Clarke 1866 and WGS84 spacings differ; each DEM is read on its own."""
    z, transform, _, _ = geographic_reference("EPSG:4326", 45.0)
    a = pixel_geometry(transform, "EPSG:4326", z.shape[0])
    b = pixel_geometry(transform, "EPSG:4267", z.shape[0])
    assert not np.allclose(a.col_scale, b.col_scale, rtol=1e-6, atol=0)


def twin_slopes(write_dem, tmp_path, transform, z, name):
    dem = write_dem(z, transform, name=f"{name}.tif")
    terrain.slope(dem, tmp_path / f"{name}_slope.tif")
    return read(tmp_path / f"{name}_slope.tif", band=1)[0]


def test_south_up_equals_north_up(write_dem, tmp_path):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(20, 17)).cumsum(0).cumsum(1)
    north_up = Affine(10.0, 0, 0, 0, -25.0, 500.0)
    south_up = Affine(10.0, 0, 0, 0, 25.0, 0.0)  # first row is the southern edge
    a = twin_slopes(write_dem, tmp_path, north_up, z, "north")
    b = twin_slopes(write_dem, tmp_path, south_up, z[::-1], "south")
    np.testing.assert_allclose(b[::-1], a, rtol=1e-6)


@pytest.mark.parametrize("angle", [30.0, -120.0])
def test_rotated_equals_north_up(write_dem, tmp_path, angle):
    def surface(x, y):
        return 0.5 * x - 0.2 * y + 1e-3 * (x - 100) ** 2 - 2e-3 * x * y

    shape = (16, 19)
    north_up = Affine(10.0, 0, 0, 0, -25.0, 400.0)
    rotated = Affine.translation(0, 400.0) @ Affine.rotation(angle) @ Affine.scale(10, -25)
    want = []
    for transform in (north_up, rotated):
        x, y = centres(transform, shape)
        dzdx = 0.5 + 2e-3 * (x - 100) - 2e-3 * y
        dzdy = -0.2 - 2e-3 * x
        want.append(np.hypot(dzdx, dzdy))
    a = twin_slopes(write_dem, tmp_path, north_up, surface(*centres(north_up, shape)), "n")
    b = twin_slopes(write_dem, tmp_path, rotated, surface(*centres(rotated, shape)), "r")
    # a quadratic is exact with edge_order=2, so both twins hit the analytic slope
    np.testing.assert_allclose(a, want[0], rtol=1e-5)
    np.testing.assert_allclose(b, want[1], rtol=1e-5)


def test_no_crs_warns_and_uses_transform_units(write_dem, tmp_path):
    transform = Affine(10.0, 0, 0, 0, -10.0, 0)
    x, y = centres(transform, (6, 6))
    dem = write_dem(plane(x, y), transform, crs=None)
    with pytest.warns(NoCRSWarning, match="no CRS"):
        terrain.gradient(dem, tmp_path / "g.tif")
    (dzdx, _), _ = read(tmp_path / "g.tif")
    np.testing.assert_allclose(dzdx, 0.04, rtol=1e-5)


def test_rotated_geographic_is_refused():
    with pytest.raises(BadInputError, match="rotated"):
        pixel_geometry(Affine(0.001, 0.0005, 0, 0.0005, -0.001, 0), "EPSG:4326", 5)
