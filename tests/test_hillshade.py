"""Hillshade: gdaldem's formula and rounding, from our east/north derivatives."""

import numpy as np
import pytest

from terrain import core, units
from tests.test_horn import NODATA, gdaldem, landscape, punch_holes, write


def test_flat_ground_takes_the_sine_of_the_light_altitude():
    flat = units.hillshade(np.zeros(3), np.zeros(3), altitude=30.0)
    np.testing.assert_allclose(flat, 1.0 + 254.0 * 0.5)


def test_faces_towards_the_light_are_bright_and_away_dark():
    # light from the north-west; ground falling towards the north-west faces it
    towards = units.hillshade(np.float64(0.5), np.float64(-0.5))
    away = units.hillshade(np.float64(-0.5), np.float64(0.5))
    flat = units.hillshade(np.float64(0.0), np.float64(0.0))
    assert towards > flat > away
    # a cliff turned from the light is in shadow: gdaldem's floor of 1
    assert units.hillshade(np.float64(-10.0), np.float64(10.0)) == 1.0
    # the light from the east lights ground falling to the east
    east = units.hillshade(np.float64(-1.0), np.float64(0.0), azimuth=90.0)
    assert round(float(east), 9) == 255.0


def test_nan_in_nan_out_and_byte_rounding():
    assert np.isnan(units.hillshade(np.array([np.nan]), np.array([0.0]))).all()
    got = units.hillshade_byte(np.array([1.0, 1.49, 1.5, 180.5, 254.5, 255.0, np.nan]))
    np.testing.assert_array_equal(got, [1, 1, 2, 181, 255, 255, 0])
    assert got.dtype == np.uint8


def horn_hillshade(z, valid, transform, azimuth, altitude):
    dzdy, dzdx = core.horn(z, valid, row=transform.e, col=transform.a)
    return units.hillshade_byte(units.hillshade(dzdx, dzdy, azimuth, altitude))


@pytest.mark.parametrize(("azimuth", "altitude"), [(315.0, 45.0), (200.0, 30.0)])
def test_interior_equals_gdaldem_hillshade(tmp_path, azimuth, altitude):
    z = landscape()
    transform = write(tmp_path / "dem.tif", z)
    options = () if (azimuth, altitude) == (315.0, 45.0) else (
        "-az", str(azimuth), "-alt", str(altitude))
    theirs = gdaldem("hillshade", tmp_path / "dem.tif", tmp_path / "shade.tif", *options)
    ours = horn_hillshade(z, None, transform, azimuth, altitude).astype(np.float64)
    interior = np.s_[1:-1, 1:-1]
    assert np.abs(ours[interior] - theirs[interior]).max() <= 1
    assert ours.std() > 20  # light and shadow: the comparison means something


def test_borders_and_holes_equal_gdaldem_compute_edges(tmp_path):
    z, valid = punch_holes(landscape())
    transform = write(tmp_path / "dem.tif", z, nodata=NODATA)
    theirs = gdaldem("hillshade", tmp_path / "dem.tif", tmp_path / "shade.tif",
                     "-compute_edges")
    ours = horn_hillshade(z, valid, transform, 315.0, 45.0).astype(np.float64)
    np.testing.assert_array_equal(ours == 0, ~valid)  # 0 is nodata
    np.testing.assert_array_equal(np.isnan(theirs), ~valid)
    assert np.abs(ours - theirs)[valid].max() <= 1
