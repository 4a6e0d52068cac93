"""--co NAME=VALUE: GDAL creation options over ours, checked before any work."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

import terrain
from terrain.cli import main

from .conftest import read

ROOT = Path(__file__).resolve().parents[1]
TRANSFORM = Affine(10.0, 0, 500_000.0, 0, -10.0, 5_000_000.0)


def run(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


@pytest.fixture
def dem(write_dem):
    y, x = np.mgrid[0:40, 0:50]
    return write_dem((0.3 * x * x - 2.0 * y).astype("float32"), TRANSFORM)


@pytest.mark.parametrize(("options", "compression"), [
    (["COMPRESS=ZSTD", "ZSTD_LEVEL=1"], "ZSTD"),
    (["compress=lerc", "MAX_Z_ERROR=0"], "LERC"),
    (["COMPRESS=NONE"], None),
])
def test_creation_options_change_the_file_not_the_values(dem, tmp_path, options, compression):
    assert run("slope", dem, tmp_path / "default.tif", "-q") == 0
    co = [arg for option in options for arg in ("--co", option)]
    assert run("slope", dem, tmp_path / "co.tif", "-q", *co) == 0
    with rasterio.open(tmp_path / "co.tif") as dst:
        assert dst.compression == (compression and rasterio.enums.Compression(compression))
    np.testing.assert_array_equal(read(tmp_path / "co.tif")[0], read(tmp_path / "default.tif")[0])


def test_block_size_option(dem, tmp_path):
    assert run("aspect", dem, tmp_path / "a.tif", "--co", "BLOCKXSIZE=16",
               "--co", "BLOCKYSIZE=32") == 0
    with rasterio.open(tmp_path / "a.tif") as dst:
        assert dst.block_shapes == [(32, 16)]


def test_python_api_takes_creation_options(dem, tmp_path):
    terrain.hillshade(dem, tmp_path / "h.tif", creation_options={"COMPRESS": "ZSTD"})
    with rasterio.open(tmp_path / "h.tif") as dst:
        assert dst.compression == rasterio.enums.Compression.zstd
        assert dst.dtypes == ("uint8",)


@pytest.mark.parametrize(("option", "message"), [
    ("COMPRESS=FOO", "'FOO' is an unexpected value for COMPRESS"),
    ("NOT_AN_OPTION=1", "does not support creation option NOT_AN_OPTION"),
    ("MAX_Z_ERROR=abc", "MAX_Z_ERROR"),
])
def test_a_bad_option_is_one_line_before_any_work(dem, tmp_path, option, message):
    out = tmp_path / "out" / "slope.tif"
    out.parent.mkdir()
    done = subprocess.run(
        [sys.executable, ROOT / "cli.py", "slope", dem, out, "--co", option],
        capture_output=True, text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"terrain: error: {out}: bad creation option: ")
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("args", [["--co", "COMPRESS"], ["--co", "DTYPE=uint8"],
                                  ["--co", "COMPRESS=ZSTD", "--cog"],
                                  # a block left out on purpose would look like a lost write
                                  ["--co", "SPARSE_OK=TRUE"]])
def test_malformed_or_misplaced_options_are_usage_errors(dem, tmp_path, args, capsys):
    assert run("slope", dem, tmp_path / "s.tif", *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("terrain: error: ")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.tif").exists()


def test_tile_sets_take_creation_options(write_dem, tmp_path):
    z = np.add.outer(np.arange(20.0), np.arange(30.0) ** 2 / 10)
    left = write_dem(z[:, :15], TRANSFORM, name="a.tif")
    right = write_dem(z[:, 15:], TRANSFORM @ Affine.translation(15, 0), name="b.tif")
    assert run("slope", left, right, "--out-dir", tmp_path / "out", "-q",
               "--co", "COMPRESS=ZSTD") == 0
    for name in ("a.tif", "b.tif"):
        with rasterio.open(tmp_path / "out" / name) as dst:
            assert dst.compression == rasterio.enums.Compression.zstd
    assert run("slope", left, right, "--out-dir", tmp_path / "bad", "-q",
               "--co", "COMPRESS=FOO") == 2
    assert not (tmp_path / "bad").exists()
