"""The command line from the user's side: a DEM file in, a GeoTIFF out."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from terrain.cli import main

from .conftest import centres, need_gdaldem, read, unavailable

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "jacksboro_utm16n.tif"
TRANSFORM = Affine(10.0, 0, 500_000.0, 0, -25.0, 5_000_000.0)


def run(*args):
    """Run ``terrain ARGS``; return (exit code, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def plane_dem(write_dem, shape=(12, 15), **kwargs):
    x, y = centres(TRANSFORM, shape)
    return write_dem(0.3 * x + 0.4 * y - 1e6, TRANSFORM, **kwargs)


def test_slope_file_is_georeferenced_float32(write_dem, tmp_path):
    dem = plane_dem(write_dem, nodata=-32768, dtype="int32")
    out = tmp_path / "slope.tif"
    assert run("slope", dem, out, "-q") == 0
    with rasterio.open(dem) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs
        assert dst.transform == src.transform
        assert dst.dtypes == ("float32",)
        assert dst.nodata == -9999
        assert dst.profile["tiled"]
        assert dst.profile["compress"] == "deflate"
        assert dst.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        assert dst.descriptions == ("slope",)
        assert dst.units == ("m/m",)
    # int32 rounding of the plane breaks exactness only by the rounding
    np.testing.assert_allclose(read(out, 1)[0], 0.5, atol=0.1 / 10)


def test_slope_of_float_plane_is_exact_everywhere(write_dem, tmp_path):
    dem = plane_dem(write_dem)
    for units, want in [("ratio", 0.5), ("percent", 50.0),
                        ("degrees", np.degrees(np.arctan(0.5))), ("radians", np.arctan(0.5))]:
        out = tmp_path / f"{units}.tif"
        assert run("slope", dem, out, "--units", units) == 0
        np.testing.assert_allclose(read(out, 1)[0], want, rtol=1e-6)


def test_gradient_bands_point_east_and_north(write_dem, tmp_path):
    dem = plane_dem(write_dem)
    out = tmp_path / "g.tif"
    assert run("gradient", dem, out) == 0
    (dzdx, dzdy), _ = read(out)
    np.testing.assert_allclose(dzdx, 0.3, rtol=1e-6)
    np.testing.assert_allclose(dzdy, 0.4, rtol=1e-6)
    with rasterio.open(out) as dst:
        assert dst.descriptions == ("dz/dx", "dz/dy")


@pytest.mark.parametrize(("gx", "gy", "want"), [(-1, 0, 90), (0, 1, 180), (1, 1, 225),
                                                  (0, -1, 0)])
def test_aspect_is_the_downslope_compass_bearing(write_dem, tmp_path, gx, gy, want):
    x, y = centres(TRANSFORM, (6, 7))
    z = gx * (x - 500_000.0) + gy * (y - 5_000_000.0)
    dem = write_dem(z, TRANSFORM)
    assert run("aspect", dem, tmp_path / "a.tif") == 0
    got = read(tmp_path / "a.tif", 1)[0]
    np.testing.assert_allclose(np.minimum(got, np.abs(got - 360)) if want == 0 else got,
                               want, atol=1e-9)


def test_flat_aspect_is_nodata(write_dem, tmp_path):
    dem = write_dem(np.full((5, 5), 7.0), TRANSFORM)
    assert run("aspect", dem, tmp_path / "a.tif") == 0
    assert np.isnan(read(tmp_path / "a.tif", 1)[0]).all()


@pytest.mark.parametrize(("dtype", "nodata"), [
    ("int16", -32768), ("uint16", 0), ("float32", np.nan), ("float32", -3.4e38),
    ("float64", None),
])
def test_nodata_from_the_file(write_dem, tmp_path, dtype, nodata):
    x, y = centres(TRANSFORM, (10, 12))
    z = (0.3 * (x - 500_000) + 0.4 * (y - 4_999_700)).astype(dtype)
    hole = np.zeros(z.shape, bool)
    hole[4:6, 5:7] = True
    if nodata is None:
        z = z.astype(float)
        z[hole] = np.nan  # NaN in a float raster with no nodata value
    else:
        z[hole] = nodata
    dem = write_dem(z, TRANSFORM, nodata=nodata, dtype=dtype)
    assert run("slope", dem, tmp_path / "s.tif") == 0
    got = read(tmp_path / "s.tif", 1)[0]
    assert np.isnan(got[hole]).all()
    np.testing.assert_allclose(got[~hole], 0.5, atol=0.01)


def test_band_selection(write_dem, tmp_path):
    x, y = centres(TRANSFORM, (6, 6))
    z = np.stack([0.1 * x, 0.2 * y])
    dem = write_dem(z, TRANSFORM)
    assert run("slope", dem, tmp_path / "s.tif", "--band", 2) == 0
    np.testing.assert_allclose(read(tmp_path / "s.tif", 1)[0], 0.2, rtol=1e-6)


def test_edge_order_1_is_first_order_at_the_border(write_dem, tmp_path):
    z = np.add.outer(np.zeros(5), np.arange(6.0) ** 2 * 10)  # x² in pixel units
    dem = write_dem(z, Affine(1.0, 0, 100.0, 0, -1.0, 100.0))
    assert run("gradient", dem, tmp_path / "g.tif", "--edge-order", 1) == 0
    dzdx = read(tmp_path / "g.tif")[0][0]
    np.testing.assert_allclose(dzdx[:, 0], 10.0)  # (10 - 0) / 1
    np.testing.assert_allclose(dzdx[:, -1], 90.0)  # (250 - 160) / 1


def one_line_error(capsys, code, want_code, pattern):
    err = capsys.readouterr().err
    assert code == want_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("terrain: error: ")
    assert pattern in lines[0]


@pytest.mark.parametrize(("args", "code", "pattern"), [
    (["slope", "{missing}", "{out}"], 1, "no such file"),
    (["slope", "{text}", "{out}"], 1, "not a raster"),
    (["slope", "{dem}", "{out}", "--units", "grads"], 2, "grads"),
    (["slope", "{dem}", "{out}", "--edge-order", "3"], 2, "edge-order"),
    (["slope", "{dem}", "{out}", "--band", "2"], 1, "band 2 out of range"),
    (["slope", "{dem}", "{exists}"], 1, "--overwrite"),
    (["slope", "{dem}", "{dem}", "--overwrite"], 1, "overwrite the input"),
    (["slope", "{thin}", "{out}"], 1, "too small"),
    (["slope", "{dem}"], 2, "OUT"),
    (["slope", "{dem}", "{folder}", "--overwrite"], 1, "is a folder"),
    (["slope", "{empty}", "--out-dir", "{out}"], 1, "no raster in this folder"),
])
def test_bad_input_one_line_no_output(write_dem, tmp_path, capsys, args, code, pattern):
    paths = {
        "missing": tmp_path / "nope.tif",
        "text": tmp_path / "notes.tif",
        "dem": plane_dem(write_dem),
        "thin": write_dem(np.arange(8.0)[np.newaxis], TRANSFORM),
        "out": tmp_path / "out.tif",
        "exists": tmp_path / "exists.tif",
        "folder": tmp_path / "a_folder",
        "empty": tmp_path / "no_rasters",
    }
    paths["folder"].mkdir()
    paths["empty"].mkdir()
    (paths["empty"] / "readme.txt").write_text("no DEM here\n")
    paths["text"].write_text("not a raster\n")
    paths["exists"].write_bytes(b"keep")
    def snapshot():
        return {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")}

    before = snapshot()
    one_line_error(capsys, run(*(a.format(**paths) for a in args)), code, pattern)
    # nothing written, nothing changed, no temporary left behind
    assert snapshot() == before


def test_overwrite_replaces(write_dem, tmp_path):
    dem = plane_dem(write_dem)
    out = tmp_path / "s.tif"
    out.write_bytes(b"old")
    assert run("slope", dem, out, "--overwrite") == 0
    np.testing.assert_allclose(read(out, 1)[0], 0.5, rtol=1e-6)


def test_bare_terrain_lists_the_commands():
    done = subprocess.run([sys.executable, str(ROOT / "cli.py")], capture_output=True,
                          text=True)
    assert done.returncode == 0
    assert done.stderr == ""
    for command in ("slope", "gradient", "aspect", "hillshade"):
        assert f"  {command} " in done.stdout


def test_version_is_the_package_version():
    import terrain

    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--version"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split()[-1] == terrain.__version__


def test_help_lists_the_command_s_own_options_first():
    """What to compute first (--units for slope), the run's details (--jobs, -q) last."""
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), "slope", "--help"],
                         capture_output=True, text=True, check=True).stdout
    options = [line.split()[0].rstrip(",") for line in out.splitlines()
               if line.startswith("  -")]
    assert options[:4] == ["--units", "--method", "--window", "--edge-order"]
    assert options.index("--overwrite") < options.index("--out-dir") < options.index("--jobs")
    assert options[-2:] == ["-q", "-h"]


def test_help_has_examples():
    for command in ("slope", "gradient", "aspect"):
        out = subprocess.run([sys.executable, str(ROOT / "cli.py"), command, "--help"],
                             capture_output=True, text=True, check=True).stdout
        assert "Example" in out
        assert f"terrain {command} dem.tif" in out


def test_python_cli_py_and_console_script(write_dem, tmp_path):
    dem = plane_dem(write_dem)
    subprocess.run([sys.executable, str(ROOT / "cli.py"), "slope", dem, tmp_path / "a.tif"],
                   check=True)
    script = shutil.which("terrain", path=str(Path(sys.executable).parent))
    if script is None:
        unavailable("the terrain console script is not installed in this environment")
    subprocess.run([script, "slope", dem, tmp_path / "b.tif"], check=True)
    np.testing.assert_array_equal(read(tmp_path / "a.tif")[0], read(tmp_path / "b.tif")[0])


def gdaldem():
    return need_gdaldem()


def test_edge_order_1_equals_gdaldem_zevenbergen_thorne(tmp_path):
    """On a real DEM without holes, everywhere including the border.

    But for the four corner pixels: there gdaldem repeats the edge column
    instead of extrapolating it (apps/gdaldem_lib.cpp), which halves dz/dx.
    """
    exe = gdaldem()
    dem = sample_crop(tmp_path)
    subprocess.run([exe, "slope", "-q", "-alg", "ZevenbergenThorne", "-compute_edges",
                    dem, tmp_path / "gdal.tif"], check=True)
    assert run("slope", dem, tmp_path / "ours.tif", "--edge-order", 1,
               "--units", "degrees") == 0
    ours, theirs = read(tmp_path / "ours.tif", 1)[0], read(tmp_path / "gdal.tif", 1)[0]
    corners = np.zeros(ours.shape, bool)
    corners[::ours.shape[0] - 1, ::ours.shape[1] - 1] = True
    assert np.abs(ours - theirs)[~corners].max() < 0.002
    assert ours.std() > 1  # a real, rough DEM: the comparison means something
    assert run("gradient", dem, tmp_path / "g.tif", "--edge-order", 1) == 0
    (dzdx, dzdy), _ = read(tmp_path / "g.tif")
    gdal_corners = np.degrees(np.arctan(np.hypot(dzdx / 2, dzdy)))
    np.testing.assert_allclose(theirs[corners], gdal_corners[corners], atol=0.002)


def sample_crop(tmp_path):
    """A hole-free window of the sample DEM (its UTM corners are nodata)."""
    with rasterio.open(SAMPLE) as src:
        window = rasterio.windows.Window(60, 60, 200, 150)
        z = src.read(1, window=window)
        assert (z != src.nodata).all()
        profile = {**src.profile, "width": 200, "height": 150,
                   "transform": src.transform @ Affine.translation(60, 60)}
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", **profile) as dst:
        dst.write(z, 1)
    return dem


def test_horn_slope_equals_gdaldem_default(tmp_path):
    exe = gdaldem()
    dem = sample_crop(tmp_path)
    subprocess.run([exe, "slope", "-q", "-compute_edges", dem, tmp_path / "gdal.tif"],
                   check=True)
    assert run("slope", dem, tmp_path / "ours.tif", "--method", "horn",
               "--units", "degrees") == 0
    ours, theirs = read(tmp_path / "ours.tif", 1)[0], read(tmp_path / "gdal.tif", 1)[0]
    assert np.abs(ours - theirs).max() < 0.002


@pytest.mark.parametrize(("azimuth", "altitude"), [(315, 45), (200, 30)])
def test_hillshade_equals_gdaldem(tmp_path, azimuth, altitude):
    exe = gdaldem()
    dem = sample_crop(tmp_path)
    subprocess.run([exe, "hillshade", "-q", "-compute_edges", "-az", str(azimuth),
                    "-alt", str(altitude), dem, tmp_path / "gdal.tif"], check=True)
    assert run("hillshade", dem, tmp_path / "ours.tif", "--method", "horn",
               "--azimuth", azimuth, "--altitude", altitude) == 0
    with rasterio.open(tmp_path / "ours.tif") as ours, \
            rasterio.open(tmp_path / "gdal.tif") as theirs:
        assert ours.dtypes == ("uint8",)
        assert ours.nodata == 0
        diff = ours.read(1).astype(int) - theirs.read(1).astype(int)
    assert np.abs(diff).max() <= 1


def test_hillshade_of_lat_lon_dem_needs_no_scale(tmp_path):
    """The same terrain shades the same in lat/lon and in UTM."""
    geo, utm = SAMPLE.with_name("jacksboro.tif"), SAMPLE
    for dem in (geo, utm):
        assert run("hillshade", dem, tmp_path / f"{dem.stem}.tif") == 0
    means = [read(tmp_path / f"{dem.stem}.tif", 1)[0] for dem in (geo, utm)]
    # same light on the same slopes: the average shade agrees to a grey level
    assert abs(np.nanmean(means[0]) - np.nanmean(means[1])) < 2


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_preview_png(tmp_path):
    assert run("slope", SAMPLE, tmp_path / "s.tif", "--preview", tmp_path / "s.png") == 0
    with rasterio.open(tmp_path / "s.png") as png:
        assert png.driver == "PNG"
        assert png.dtypes == ("uint8",)
        colours = png.colormap(1)
        index = png.read(1)
    slope = read(tmp_path / "s.tif", 1)[0]
    assert index.shape == slope.shape  # small: not downsampled
    assert (index[np.isnan(slope)] == 0).all()
    assert colours[0][3] == 0
    # steeper pixels are further along the ramp
    valid = ~np.isnan(slope)
    assert np.corrcoef(slope[valid], index[valid])[0, 1] > 0.9
