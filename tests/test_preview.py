"""PNG previews: paletted colour pictures whose pixels follow the data."""

import subprocess
import sys

import numpy as np
import pytest
import rasterio

from terrain import preview
from terrain.errors import UsageError

# a PNG carries no georeferencing; reading one back makes rasterio say so
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def read_png(path):
    """(palette indices, colour table) of a written PNG, checking what it is."""
    with rasterio.open(path) as src:
        assert src.driver == "PNG"
        assert src.count == 1
        assert src.dtypes == ("uint8",)
        return src.read(1), src.colormap(1)


def west_east_ramp(shape=(40, 300), top=30.0):
    """Slope rising from 0 in the west to ``top`` in the east."""
    return np.tile(np.linspace(0.0, top, shape[1]), (shape[0], 1))


def test_slope_picture_follows_the_data(tmp_path):
    band = west_east_ramp()
    band[5:9, 100:120] = np.nan
    preview.write_png(tmp_path / "slope.png", band, "slope")
    index, colours = read_png(tmp_path / "slope.png")
    assert index.shape == band.shape
    # nodata is index 0, transparent; nothing else is
    np.testing.assert_array_equal(index == 0, np.isnan(band))
    assert colours[0][3] == 0
    # the palette index climbs from west to east, over the whole ramp
    row = index[0].astype(int)
    assert (np.diff(row) >= 0).all()
    assert row[0] == 1
    assert row[-1] == 255
    # in colour: viridis runs from dark purple to yellow
    assert colours[1] == (68, 1, 84, 255)
    assert colours[255] == (253, 231, 37, 255)


def test_slope_ramp_ends_at_the_99th_percentile():
    band = west_east_ramp((1, 1000), top=999.0)  # values 0, 1, ..., 999
    index = preview.palette_index(band, "slope")[0]
    top = np.percentile(band, 99)
    assert (index[band[0] >= top] == 255).all()
    assert (index[band[0] < top - 5] < 255).all()


def test_aspect_ramp_is_cyclic():
    index = preview.palette_index(np.array([[0.0, 90.0, 180.0, 270.0, 359.9]]), "aspect")
    colours = np.array(preview._RAMPS["aspect"], dtype=float)[index[0] - 1]
    # north from either side looks the same; the quarters look different
    assert np.abs(colours[0] - colours[-1]).max() <= 8
    assert np.abs(colours[0] - colours[2]).max() > 100


def test_hillshade_is_grey_and_gradient_diverges(tmp_path):
    shade = np.array([[1.0, 100.4, 255.0, np.nan]])
    preview.write_png(tmp_path / "shade.png", shade, "hillshade")
    index, colours = read_png(tmp_path / "shade.png")
    np.testing.assert_array_equal(index, [[1, 100, 255, 0]])
    assert colours[100] == (100, 100, 100, 255)
    index = preview.palette_index(np.array([[-2.0, 0.0, 2.0]]), "gradient")
    assert index[0, 0] < index[0, 1] == 128 < index[0, 2]


def test_large_rasters_are_decimated(tmp_path):
    band = west_east_ramp((1500, 3001))
    preview.write_png(tmp_path / "big.png", band, "slope", max_size=500)
    index, _ = read_png(tmp_path / "big.png")
    assert max(index.shape) <= 500
    assert index.shape == (1500 // 7 + 1, 3001 // 7 + 1)  # every 7th pixel
    assert (np.diff(index[0].astype(int)) >= 0).all()


def test_written_atomically_and_nothing_else(tmp_path):
    out = tmp_path / "p.png"
    out.write_bytes(b"old")
    with pytest.raises(UsageError, match="slope, aspect, hillshade, gradient"):
        preview.write_png(out, west_east_ramp(), "curvature")
    assert out.read_bytes() == b"old"
    preview.write_png(out, west_east_ramp(), "aspect", overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temp file, no .aux.xml
    read_png(out)


def test_all_nodata_is_transparent_and_no_matplotlib_at_runtime(tmp_path):
    preview.write_png(tmp_path / "empty.png", np.full((3, 4), np.nan), "slope")
    index, _ = read_png(tmp_path / "empty.png")
    assert (index == 0).all()
    code = "import sys, terrain.preview; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
