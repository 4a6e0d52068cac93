"""Streaming: block by block equals the whole raster in memory, bit for bit."""

import numpy as np
import pytest
import rasterio
from affine import Affine

import terrain
from terrain import units
from terrain.options import Options
from terrain.spacing import pixel_geometry

from .conftest import read

TRANSFORM = Affine(10.0, 0, 500_000.0, 0, -25.0, 5_000_000.0)


def rough_dem(shape, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape).cumsum(0).cumsum(1) * 3 + 500
    hole = np.zeros(shape, bool)
    hole[9:12, 4:30] = True  # across block edges for every block size below
    hole[20:40, 17] = True
    hole[rng.random(shape) < 0.03] = True
    z[hole] = -32768
    return z.astype("int16"), ~hole


def encode(options, band):
    """A float64 band (NaN = nodata) as the file stores it, in numpy: the reference."""
    if options.product == "hillshade":
        return units.hillshade_byte(band)
    return np.where(np.isnan(band), options.nodata, band).astype(np.float32)


def in_memory(z, valid, transform, crs, options):
    """The whole raster in one call of the core, encoded by numpy: the reference."""
    geometry = pixel_geometry(transform, crs, z.shape[0])
    return np.stack([encode(options, b)
                     for b in options.compute(z.astype(float), valid, geometry)])


EVERY_OUTPUT = [Options("gradient"), Options("slope", "degrees"), Options("aspect"),
                Options("hillshade"), Options("gradient", method="horn"),
                Options("gradient", edge_order=1)]


@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:4326"])
@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("block_size", [16, 21, 256, None, 10_000])
def test_streamed_equals_in_memory(write_dem, tmp_path, crs, jobs, block_size):
    z, valid = rough_dem((53, 47))
    transform = TRANSFORM if crs != "EPSG:4326" else Affine(1 / 1200, 0, 10, 0, -1 / 1200, 50)
    dem = write_dem(z, transform, crs=crs, nodata=-32768)
    for i, options in enumerate(EVERY_OUTPUT):
        out = tmp_path / f"{i}.tif"
        terrain.pipeline.run(dem, out, options, block_size=block_size, jobs=jobs)
        with rasterio.open(out) as dst:
            got = dst.read()
        want = in_memory(z, valid, transform, crs, options)
        np.testing.assert_array_equal(got, want, strict=True, err_msg=str(options))


@pytest.mark.parametrize("jobs", [1, 2])
def test_float32_with_sentinel_and_nan_streamed_equals_in_memory(write_dem, tmp_path, jobs):
    """A float32 DEM whose holes are a -9999 sentinel and NaN, decoded on ``jobs`` threads:
    the kernel's nodata rule gives what the explicit mask gives in memory."""
    z, valid = rough_dem((300, 270))
    z = np.where(valid, z, -9999.0).astype("float32")
    z[100:104, 60:200] = np.nan
    valid[100:104, 60:200] = False
    dem = write_dem(z, TRANSFORM, crs="EPSG:32633", nodata=-9999, dtype="float32",
                    tiled=True, blockxsize=128, blockysize=128, compress="deflate")
    for i, options in enumerate(EVERY_OUTPUT):
        out = tmp_path / f"{i}.tif"
        terrain.pipeline.run(dem, out, options, block_size=256, jobs=jobs)
        with rasterio.open(out) as dst:
            got = dst.read()
        want = in_memory(z, valid, TRANSFORM, "EPSG:32633", options)
        np.testing.assert_array_equal(got, want, strict=True, err_msg=str(options))


def test_interrupted_run_leaves_nothing(write_dem, tmp_path):
    z, _ = rough_dem((60, 60))
    dem = write_dem(z, TRANSFORM, nodata=-32768)
    out = tmp_path / "slope.tif"
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        terrain.slope(dem, out, block_size=16, jobs=2, progress=progress)
    assert calls[-1] == (3, 16)
    assert sorted(p.name for p in tmp_path.iterdir()) == [dem.name]


def test_progress_counts_blocks(write_dem, tmp_path):
    z, _ = rough_dem((40, 40))
    dem = write_dem(z, TRANSFORM, nodata=-32768)
    calls = []
    terrain.slope(dem, tmp_path / "s.tif", block_size=16, progress=lambda *a: calls.append(a))
    assert calls == [(i, 9) for i in range(1, 10)]


def test_cog_is_valid_with_same_values(write_dem, tmp_path):
    z, _ = rough_dem((700, 600))
    dem = write_dem(z, TRANSFORM, nodata=-32768)
    terrain.slope(dem, tmp_path / "plain.tif")
    terrain.slope(dem, tmp_path / "cog.tif", cog=True)
    with rasterio.open(tmp_path / "cog.tif") as cog:
        assert cog.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert cog.overviews(1) == [2]  # the COG driver's overview for >512 pixels
        assert cog.block_shapes == [(512, 512)]
        assert cog.crs.to_epsg() == 32633
        assert cog.transform == TRANSFORM
        assert cog.descriptions == ("slope",)
    np.testing.assert_array_equal(read(tmp_path / "cog.tif")[0], read(tmp_path / "plain.tif")[0])


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_dataset_mask_without_nodata_value(tmp_path, dtype):
    """An internal mask band and no nodata value (as gdal_translate -mask writes): the
    masked pixels are holes, as in memory with that mask."""
    z, valid = rough_dem((60, 50))
    z = z.astype(dtype)
    dem = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(
        dem, "w", driver="GTiff", height=60, width=50, count=1, dtype=dtype,
        crs="EPSG:32633", transform=TRANSFORM,
    ) as dst:
        dst.write(z, 1)
        dst.write_mask(valid)
    out = tmp_path / "slope.tif"
    terrain.pipeline.run(dem, out, Options("slope"), jobs=2)
    with rasterio.open(out) as result:
        got = result.read()
    np.testing.assert_array_equal(
        got, in_memory(z, valid, TRANSFORM, "EPSG:32633", Options("slope")), strict=True)


@pytest.mark.parametrize("rule", ["array", "nodata", "mask"])
def test_any_valid_asks_only_the_block_not_its_halo(rule):
    """Whether a block holds data: a valid pixel in its halo alone does not count;
    one in its last row does (not only the first row is asked)."""
    from terrain.core import Holes
    from terrain.pipeline import _any_valid

    inner = (slice(2, 8), slice(2, 8))
    for spot, expect in (((1, 4), False), ((4, 8), False), ((7, 7), True), ((2, 2), True)):
        data = np.zeros((10, 10), dtype=bool)
        data[spot] = True
        z = np.where(data, 1.0, -9999.0)
        valid = {"array": data, "nodata": Holes(nodata=-9999.0),
                 "mask": Holes(mask=data)}[rule]
        assert _any_valid(z, valid, inner) is expect, spot
    assert _any_valid(np.zeros((10, 10)), None, inner) is True
