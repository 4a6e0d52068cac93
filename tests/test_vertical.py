"""Elevations in metres as the file declares them: compound CRSs, band units, scale and offset.

Every DEM here is a plane with a slope of 0.1 m/m once all three axes are in
metres; each case stores it the way an agency would publish it, and the slope
must come out 0.1 through the command line, the Python file API and the
accessor alike.
"""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import rasterio.shutil
from affine import Affine

import terrain
from terrain.cli import main
from terrain.spacing import VerticalUnitWarning, vertical_unit

from .conftest import centres, read

ROOT = Path(__file__).resolve().parents[1]
FOOT = 0.3048
US_FOOT = 1200 / 3937
SLOPE = 0.1
#: dz/dx and dz/dy of the plane, m/m: hypot(0.06, 0.08) = 0.1
EAST, NORTH = 0.06, 0.08
SHAPE = (14, 17)


def projected_plane(crs, horizontal_metres, transform=None):
    """Elevations in metres of the plane on a projected grid in its own units."""
    transform = transform or Affine(10.0, 0, 1e5, 0, -12.0, 2e5)
    x, y = centres(transform, SHAPE)
    return EAST * x * horizontal_metres + NORTH * y * horizontal_metres, transform


def geographic_plane(crs):
    """Elevations in metres of the plane on a lat/lon grid (east/north in metres by Geod)."""
    step = 1 / 3600
    transform = Affine(step, 0, -100.0, 0, -step, 40.0)
    lon, lat = centres(transform, SHAPE)
    geod = pyproj.CRS(crs).get_geod()
    lon0, lat0 = -100.0, 40.0
    _, _, east = geod.inv(np.full_like(lon, lon0), lat, lon, lat)
    _, _, north = geod.inv(lon, np.full_like(lat, lat0), lon, lat)
    return EAST * east * np.sign(lon - lon0) + NORTH * north * np.sign(lat - lat0), transform


# (id, CRS, horizontal metres per unit, metres per stored elevation unit,
#  write_dem keywords, the vertical unit's source) — as agencies publish them
CASES = [
    ("compound-ft", "EPSG:2251+8228", FOOT, FOOT, {}, "compound CRS"),
    ("compound-ftUS", "EPSG:6529+6360", US_FOOT, US_FOOT, {}, "compound CRS"),
    ("compound-m", "EPSG:26916+5703", 1.0, 1.0, {}, "compound CRS"),
    ("compound-m-over-ftUS", "EPSG:26916+6360", 1.0, US_FOOT, {}, "compound CRS"),
    ("ftUS-crs-undeclared", "EPSG:2277", US_FOOT, US_FOOT, {}, "horizontal unit"),
    ("m-crs-band-ft", "EPSG:32616", 1.0, FOOT, {"units": ("ft",)}, "band unit"),
    ("m-crs-band-us-foot", "EPSG:32616", 1.0, US_FOOT,
     {"units": ("US survey foot",)}, "band unit"),
    ("ft-crs-band-metre", "EPSG:2251", FOOT, 1.0, {"units": ("metre",)}, "band unit"),
]


def store(write_dem, case, **extra):
    """The plane of ``case`` written as its CRS and band declare; its path."""
    _, crs, horizontal, vertical, keywords, _ = case
    if pyproj.CRS(crs).is_geographic:
        metres, transform = geographic_plane(crs)
    else:
        metres, transform = projected_plane(crs, horizontal)
    return write_dem(metres / vertical, transform, crs=crs, **keywords, **extra)


def slope_three_ways(dem, tmp_path, *args):
    """The slope (m/m) by the CLI, the Python file API and the accessor."""
    rioxarray = pytest.importorskip("rioxarray")
    cli_out, api_out = tmp_path / "cli.tif", tmp_path / "api.tif"
    for old in (cli_out, api_out):
        old.unlink(missing_ok=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["slope", str(dem), str(cli_out), "-q", *map(str, args)])
    assert exit_info.value.code == 0
    z_factor = float(args[1]) if args else None
    terrain.slope(dem, api_out, z_factor=z_factor)
    da = rioxarray.open_rasterio(dem, masked=True).squeeze("band", drop=True)
    return read(cli_out, 1)[0], read(api_out, 1)[0], da.terrain.slope(z_factor=z_factor).values


GEOGRAPHIC = ("geographic-compound-ftUS", "EPSG:4269+6360", None, US_FOOT, {}, "compound CRS")


@pytest.mark.parametrize("case", [*CASES, GEOGRAPHIC], ids=lambda c: c[0])
def test_plane_slope_in_metres_as_declared(write_dem, tmp_path, case):
    dem = store(write_dem, case)
    with warnings.catch_warnings():
        # the one case that declares nothing assumes the CRS's unit, and says so
        if case[-1] == "horizontal unit":
            warnings.simplefilter("ignore", VerticalUnitWarning)
        results = slope_three_ways(dem, tmp_path)
    for result in results:
        np.testing.assert_allclose(result, SLOPE, rtol=2e-3)
    with rasterio.open(tmp_path / "cli.tif") as out:
        tags = out.tags()
    assert tags["TERRAIN_VERTICAL_UNIT_SOURCE"] == case[-1]
    assert float(tags["TERRAIN_VERTICAL_METRES"]) == pytest.approx(case[3], rel=1e-9)


def test_undeclared_feet_warns_once_saying_what_was_assumed(write_dem, tmp_path):
    dem = store(write_dem, CASES[4])
    done = subprocess.run([sys.executable, ROOT / "cli.py", "slope", dem, tmp_path / "s.tif"],
                          capture_output=True, text=True)
    assert done.returncode == 0
    err = done.stderr.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"terrain: warning: {dem}: no vertical unit declared")
    assert "US survey foot" in err[0]
    assert "--z-factor 1" in err[0]
    with pytest.warns(VerticalUnitWarning, match="horizontal unit"):
        terrain.slope(dem, tmp_path / "api.tif")


def test_int16_with_scale_and_offset(write_dem, tmp_path):
    # 10 m pixels: the plane then rises by whole decimetres from pixel to pixel
    metres, transform = projected_plane("EPSG:32616", 1.0, Affine(10.0, 0, 1e5, 0, -10.0, 2e5))
    offset = np.floor(metres.min()) - 1000.0
    stored = np.round((metres - offset) / 0.1)  # decimetres above the offset
    assert stored.max() < 2**15
    stored[3, 4] = -32768
    dem = write_dem(stored, transform, crs="EPSG:32616", dtype="int16", nodata=-32768,
                    scales=(0.1,), offsets=(offset,))
    for result in slope_three_ways(dem, tmp_path):
        assert np.isnan(result[3, 4])  # nodata is compared on the stored values
        valid = ~np.isnan(result)
        assert valid.sum() == result.size - 1
        np.testing.assert_allclose(result[valid], SLOPE, rtol=2e-3)
    with rasterio.open(tmp_path / "cli.tif") as out:
        tags = out.tags()
    assert float(tags["TERRAIN_Z_SCALE"]) == 0.1
    assert float(tags["TERRAIN_Z_FACTOR"]) == pytest.approx(0.1)


def test_accessor_on_decoded_data_does_not_scale_twice(write_dem):
    rioxarray = pytest.importorskip("rioxarray")
    metres, transform = projected_plane("EPSG:32616", 1.0)
    dem = write_dem(np.round(metres / 0.01), transform, crs="EPSG:32616", dtype="int32",
                    scales=(0.01,), offsets=(0.0,))
    decoded = rioxarray.open_rasterio(dem, mask_and_scale=True).squeeze("band", drop=True)
    np.testing.assert_allclose(decoded.terrain.slope().values, SLOPE, rtol=2e-3)


def test_accessor_reads_cf_units_attribute():
    pytest.importorskip("rioxarray")
    import xarray as xr

    x = np.arange(12) * 10.0
    y = 500.0 - np.arange(9) * 10.0
    metres = EAST * x[None, :] + NORTH * y[:, None]
    for units, per in [("m", 1.0), ("feet", FOOT), ("US_survey_foot", US_FOOT)]:
        da = xr.DataArray(metres / per, dims=("y", "x"), coords={"y": y, "x": x},
                          attrs={"units": units}).rio.write_crs("EPSG:32616")
        np.testing.assert_allclose(da.terrain.slope().values, SLOPE, rtol=1e-9)


def test_z_factor_overrides_the_file(write_dem, tmp_path):
    # a metre CRS whose band claims feet, though the values are metres
    metres, transform = projected_plane("EPSG:32616", 1.0)
    dem = write_dem(metres, transform, crs="EPSG:32616", units=("ft",))
    for result in slope_three_ways(dem, tmp_path, "--z-factor", 1):
        np.testing.assert_allclose(result, SLOPE, rtol=1e-6)
    # and over a compound CRS's vertical feet
    dem = store(write_dem, CASES[0])
    for result in slope_three_ways(dem, tmp_path, "--z-factor", FOOT):
        np.testing.assert_allclose(result, SLOPE, rtol=2e-3)
    with rasterio.open(tmp_path / "cli.tif") as out:
        assert out.tags()["TERRAIN_VERTICAL_UNIT_SOURCE"] == "z_factor"


def test_unknown_unit_string_warns_then_falls_back(write_dem, tmp_path):
    metres, transform = projected_plane("EPSG:32616", 1.0)
    dem = write_dem(metres, transform, crs="EPSG:32616", units=("furlongs",))
    with pytest.warns(VerticalUnitWarning, match="'furlongs' not understood"):
        terrain.slope(dem, tmp_path / "s.tif")
    np.testing.assert_allclose(read(tmp_path / "s.tif", 1)[0], SLOPE, rtol=1e-6)


@pytest.mark.parametrize(("spelling", "metres"), [
    ("m", 1.0), ("metre", 1.0), ("Meters", 1.0), ("ft", FOOT), ("foot", FOOT), ("FEET", FOOT),
    ("international foot", FOOT), ("US survey foot", US_FOOT), ("ftUS", US_FOOT),
    ("us-ft", US_FOOT), ("US_survey_foot", US_FOOT), ("foot_us", US_FOOT), ("dm", 0.1),
    ("cm", 0.01), ("millimetre", 0.001), ("Clarke's foot", 0.3047972654),
])
def test_unit_spellings(spelling, metres):
    assert vertical_unit("EPSG:32616", spelling).metres == pytest.approx(metres, rel=1e-12)


def test_tiles_with_different_vertical_units_are_each_converted(write_dem, tmp_path):
    """One plane cut into tiles stored in metres, feet and scaled decimetres: no seam."""
    metres, transform = projected_plane("EPSG:32616", 1.0)
    metres += 300.0
    whole = write_dem(metres, transform, crs="EPSG:32616", name="whole.tif")
    terrain.slope(whole, tmp_path / "whole_slope.tif")
    want = read(tmp_path / "whole_slope.tif", 1)[0]
    cuts = [(slice(0, 7), "metre", 1.0, 1.0, 0.0, "float64"),
            (slice(7, 10), "ft", FOOT, 1.0, 0.0, "float64"),
            (slice(10, 14), "m", 1.0, 0.001, 250.0, "int32")]
    tiles = []
    for rows, unit, per, scale, offset, dtype in cuts:
        stored = (metres[rows] / per - offset) / scale
        tile_transform = transform @ Affine.translation(0, rows.start)
        tiles.append(write_dem(np.round(stored) if dtype == "int32" else stored,
                               tile_transform, crs="EPSG:32616", dtype=dtype,
                               units=(unit,), scales=(scale,), offsets=(offset,),
                               name=f"tile{rows.start}.tif"))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["slope", *map(str, tiles), "--out-dir", str(out), "-q"])
    assert exit_info.value.code == 0
    got = np.concatenate([read(out / t.name, 1)[0] for t in tiles])
    np.testing.assert_allclose(got, want, rtol=1e-5)  # the seams included
    with rasterio.open(out / tiles[1].name) as src:
        assert src.tags()["TERRAIN_VERTICAL_UNIT"] == "ft"


def test_tiles_sharing_a_unit_keep_the_whole_rasters_bits(write_dem, tmp_path):
    metres, transform = projected_plane("EPSG:6529+6360", US_FOOT)
    feet = metres / US_FOOT
    whole = write_dem(feet, transform, crs="EPSG:6529+6360", name="whole.tif")
    terrain.gradient(whole, tmp_path / "whole_gradient.tif")
    tiles = [write_dem(feet[:, cols], transform @ Affine.translation(cols.start, 0),
                       crs="EPSG:6529+6360", name=f"t{cols.start}.tif")
             for cols in (slice(0, 9), slice(9, 17))]
    terrain.tiles.run_tiles(tiles, tmp_path / "out", terrain.options.Options("gradient"),
                            jobs=1)
    got = np.concatenate([read(tmp_path / "out" / t.name)[0] for t in tiles], axis=2)
    np.testing.assert_array_equal(got, read(tmp_path / "whole_gradient.tif")[0])
    np.testing.assert_allclose(got[0], EAST, rtol=2e-3)


def test_usgs_ascii_dem_with_elevations_in_feet(write_dem, tmp_path):
    """A USGS ASCII DEM (as GDAL writes it) whose A record says elevations are feet.

    GDAL's USGSDEM driver reads that field into the band's unit type ("ft").
    The plane rises 6 ft per 30 m column and 8 ft per 30 m row: 10 ft in 30 m.
    """
    cols, rows = np.meshgrid(np.arange(40), np.arange(40))
    feet = 500 + 6 * cols + 8 * (39 - rows)
    source = write_dem(feet, Affine(30.0, 0, 500_000.0, 0, -30.0, 4_000_000.0),
                       crs="EPSG:26916", dtype="int16")
    dem = tmp_path / "quad.dem"
    rasterio.shutil.copy(source, dem, driver="USGSDEM", PRODUCT="DEFAULT")
    record = bytearray(dem.read_bytes())
    assert record[534:540] == b"     2"  # A record, element 9: elevation unit, 2 = metres
    record[534:540] = b"     1"  # 1 = feet
    dem.write_bytes(bytes(record))
    with rasterio.open(dem) as src:
        assert src.units == ("ft",)
    out = tmp_path / "slope.tif"
    with pytest.raises(SystemExit) as exit_info:
        main(["slope", str(dem), str(out), "-q"])
    assert exit_info.value.code == 0
    slope = read(out, 1)[0]
    np.testing.assert_allclose(slope[2:-2, 2:-2], 10 * FOOT / 30, rtol=1e-6)
