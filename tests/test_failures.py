"""No failure passes as success: write errors, signals, corrupt inputs, impossible options.

Each runs the real ``terrain`` command in a child process and checks what a
user sees: the exit code, exactly one line on stderr, and an output folder
with nothing new in it (no result, no temporary).
"""

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

import terrain as terrain_api
from terrain.cli import main
from terrain.errors import EmptyResultWarning

from .conftest import read, unavailable

ROOT = Path(__file__).resolve().parents[1]
TRANSFORM = Affine(10.0, 0, 500_000.0, 0, -25.0, 5_000_000.0)
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def rough(shape=(512, 512), seed=0):
    """Elevations whose slope compresses badly: outputs of a few hundred KiB."""
    return np.random.default_rng(seed).normal(size=shape).cumsum(0) * 10


def terrain(*args, limit=None, timeout=120):
    """Run ``python cli.py ARGS``, optionally under a file size limit (bytes).

    SIGXFSZ is ignored in the child, so a write over the limit fails with
    EFBIG, as a write to a full disk fails with ENOSPC.
    """

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout,
                          preexec_fn=limited if limit else None)


def in_process(capfd, *args):
    """``terrain ARGS`` in this process; what it printed on file descriptor 2 too."""
    code = run(*args)
    return subprocess.CompletedProcess(args, code, "", capfd.readouterr().err)


def run(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def one_line_error(result, code, *patterns):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("terrain: error: "), lines[0]
    for pattern in patterns:
        assert pattern in lines[0]
    return lines[0]


def listing(folder):
    return sorted(p.name for p in Path(folder).iterdir())


@pytest.fixture
def dem(write_dem):
    return write_dem(rough(), TRANSFORM, dtype="float32", name="dem.tif",
                     tiled=True, blockxsize=256, blockysize=256)


@pytest.fixture
def out_dir(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("already here\n")
    return folder


# --- write failures ------------------------------------------------------------------

@pytest.mark.parametrize("jobs", [1, 2])
def test_file_size_limit_fails_the_write(dem, out_dir, jobs):
    """jobs=2 compresses on GDAL's threads, whose failures are only logged."""
    result = terrain("slope", dem, out_dir / "slope.tif", "--jobs", jobs, limit=64 * 1024)
    one_line_error(result, 1, f"{out_dir / 'slope.tif'}: file too large")
    assert listing(out_dir) == ["keep.txt"]


def test_file_size_limit_fails_the_cog_translation(write_dem, out_dir, tmp_path):
    """The plain GeoTIFF fits under the limit; its COG (with overviews) does not."""
    dem = write_dem(rough((1024, 1024)), TRANSFORM, dtype="float32")
    assert run("slope", dem, tmp_path / "plain.tif") == 0
    limit = os.path.getsize(tmp_path / "plain.tif") + 4096
    result = terrain("slope", dem, out_dir / "slope.tif", "--cog", limit=limit)
    one_line_error(result, 1, f"{out_dir / 'slope.tif'}: file too large")
    assert listing(out_dir) == ["keep.txt"]


def test_file_size_limit_fails_each_tile_of_a_set(write_dem, tmp_path, out_dir):
    tiles = [write_dem(rough(seed=i), TRANSFORM @ Affine.translation(512 * i, 0),
                       name=f"t{i}.tif") for i in range(3)]
    result = terrain("slope", *tiles, "--out-dir", out_dir, "--jobs", 2, limit=64 * 1024)
    one_line_error(result, 1, "file too large", str(out_dir))
    assert listing(out_dir) == ["keep.txt"]


def mount_namespace():
    """Skip unless this process may mount file systems in a private namespace."""
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                           capture_output=True)
    if probe.returncode != 0:
        unavailable("can't mount a file system here (needs root and unshare -m): "
                    + probe.stderr.decode().strip())


def terrain_on_mount(folder, options, *args):
    """``terrain ARGS`` in a mount namespace where ``folder`` is mounted with
    ``options`` ("size=64k" for a small tmpfs, "ro" for a read-only bind);
    returns the result and the folder's listing as the run left it."""
    mount_namespace()
    if options == "ro":
        mount = f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}'"
    else:
        mount = f"mount -t tmpfs -o {options} tmpfs '{folder}' && touch '{folder}/keep.txt'"
    command = " ".join(f"'{a}'" for a in [sys.executable, ROOT / "cli.py", *args])
    left = folder.parent / f"{folder.name}.left"
    script = f"{mount} && {command}; code=$?; ls -A '{folder}' > '{left}'; exit $code"
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                            text=True, env=ENV, timeout=120)
    return result, sorted(left.read_text().split())


@pytest.mark.parametrize("extra", [[], ["--cog"], ["--jobs", "1"]])
def test_full_disk(dem, out_dir, extra):
    result, left = terrain_on_mount(out_dir, "size=128k", "slope", dem,
                                    out_dir / "slope.tif", *extra)
    one_line_error(result, 1, f"{out_dir / 'slope.tif'}: no space left on device")
    assert left == ["keep.txt"]


def test_full_disk_for_the_preview(dem, tmp_path, out_dir):
    """The GeoTIFF is written elsewhere; the picture fails and says which file."""
    result, left = terrain_on_mount(out_dir, "size=16k", "slope", dem, tmp_path / "s.tif",
                                    "--preview", out_dir / "s.png")
    one_line_error(result, 1, f"{out_dir / 's.png'}: no space left on device")
    assert left == ["keep.txt"]


@pytest.mark.parametrize("extra", [[], ["--cog"]])
def test_read_only_folder(dem, out_dir, extra):
    result, left = terrain_on_mount(out_dir, "ro", "slope", dem, out_dir / "slope.tif",
                                    *extra)
    one_line_error(result, 1, f"{out_dir / 'slope.tif'}: read-only file system")
    assert left == listing(out_dir) == ["keep.txt"]


def test_read_only_folder_for_the_preview(dem, tmp_path, out_dir):
    """Refused before the GeoTIFF is written."""
    result, left = terrain_on_mount(out_dir, "ro", "slope", dem, tmp_path / "s.tif",
                                    "--preview", out_dir / "s.png")
    one_line_error(result, 1, f"{out_dir / 's.png'}: read-only file system")
    assert left == ["keep.txt"]
    assert not (tmp_path / "s.tif").exists()


def test_read_only_folder_for_a_tile_set(write_dem, out_dir):
    tiles = [write_dem(rough((40, 30), seed=i), TRANSFORM @ Affine.translation(30 * i, 0),
                       name=f"t{i}.tif") for i in range(3)]
    result, left = terrain_on_mount(out_dir, "ro", "aspect", *tiles, "--out-dir", out_dir)
    one_line_error(result, 1, "read-only file system")
    assert left == listing(out_dir) == ["keep.txt"]


# --- a pause in a running terrain, to stop it or pull its folder away ---------------

PAUSED = """
import sys, time
from pathlib import Path
import terrain.cli, terrain.pipeline, terrain.tiles

def pause():
    Path({marker!r}).touch()
    {action}

def paused(write_blocks):
    def write(dst, *args, **kwargs):
        pause()
        return write_blocks(dst, *args, **kwargs)
    return write

terrain.pipeline.write_blocks = paused(terrain.pipeline.write_blocks)
terrain.tiles.write_blocks = paused(terrain.tiles.write_blocks)
sys.argv[0] = "terrain"
terrain.cli.main(sys.argv[1:])
"""


def start_paused(tmp_path, action, *args):
    """Start ``terrain ARGS``, which pauses (``action``) once its first output is open."""
    marker = tmp_path / "paused"
    code = PAUSED.format(marker=str(marker), action=action)
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code),
                                *map(str, args)], env=ENV, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_removes_the_temporary(dem, tmp_path, out_dir, signum):
    process = start_paused(tmp_path, "time.sleep(60)", "slope", dem, out_dir / "s.tif")
    partial = [name for name in listing(out_dir) if ".terrain-partial-" in name]
    assert len(partial) == 1
    assert partial[0].startswith("s.tif.terrain-partial-")
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert process.returncode == 128 + signum, err
    assert lines == [f"terrain: error: stopped by {signal.Signals(signum).name}"]
    assert listing(out_dir) == ["keep.txt"]


def test_sigterm_stops_the_tiles_of_every_worker(write_dem, tmp_path, out_dir):
    tiles = [write_dem(rough((40, 30), seed=i), TRANSFORM @ Affine.translation(30 * i, 0),
                       name=f"t{i}.tif") for i in range(4)]
    process = start_paused(tmp_path, "time.sleep(60)", "slope", *tiles,
                           "--out-dir", out_dir, "--jobs", 2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["terrain: error: stopped by SIGTERM"]
    assert listing(out_dir) == ["keep.txt"]


def test_output_folder_vanishes(dem, tmp_path):
    folder = tmp_path / "gone"
    folder.mkdir()
    process = start_paused(tmp_path, f"import shutil; shutil.rmtree({str(folder)!r})",
                           "slope", dem, folder / "s.tif")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert err.strip().splitlines() == [
        f"terrain: error: {folder / 's.tif'}: its folder no longer exists"]
    assert not folder.exists()


# --- read failures -------------------------------------------------------------------

def truncate(path, keep=0.5):
    os.truncate(path, int(os.path.getsize(path) * keep))


def test_truncated_geotiff_names_file_and_place(dem, out_dir, capfd):
    """dem.tif holds 4 uncompressed blocks of 256², row by row: cut at 75 %, the
    third (rows 256-511, columns 0-255) is incomplete."""
    truncate(dem, 0.75)
    result = in_process(capfd, "slope", dem, out_dir / "s.tif")
    one_line_error(result, 1, f"{dem}: corrupt or truncated data near row 256, column 0")
    assert listing(out_dir) == ["keep.txt"]


def test_corrupt_compressed_block_names_file_and_place(write_dem, out_dir, capfd):
    """A DEFLATE block overwritten with garbage: GDAL decodes a local GeoTIFF's
    blocks on several threads, and the failure is still one line naming it."""
    dem = write_dem(rough(), TRANSFORM, dtype="float32", name="dem.tif", tiled=True,
                    blockxsize=256, blockysize=256, compress="deflate")
    with rasterio.open(dem) as src:  # the block at column 0, row 1 of blocks
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_1", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_0_1", "TIFF", bidx=1))
    with open(dem, "r+b") as f:
        f.seek(offset + 4)
        f.write(b"\xff" * (size - 8))
    result = in_process(capfd, "slope", dem, out_dir / "s.tif", "--jobs", "2")
    one_line_error(result, 1, f"{dem}: corrupt or truncated data near row 256, column 0")
    assert listing(out_dir) == ["keep.txt"]


def test_tile_truncated_part_way_is_a_gap_for_its_neighbours(write_dem, tmp_path, capfd):
    """t1 opens, but its lower half is cut off: it fails, and t0 and t2 equal
    the result of the set without it."""
    tiles = [write_dem(rough((512, 256), seed=i),
                       TRANSFORM @ Affine.translation(256 * i, 0), name=f"t{i}.tif",
                       dtype="float32", tiled=True, blockxsize=256, blockysize=256)
             for i in range(3)]
    truncate(tiles[1], 0.6)
    result = in_process(capfd, "slope", *tiles, "--out-dir", tmp_path / "out", "--jobs", 1)
    line = one_line_error(result, 1)
    assert line == f"terrain: error: {tiles[1]}: corrupt or truncated data near row 256, column 0"
    assert listing(tmp_path / "out") == ["t0.tif", "t2.tif"]
    assert run("slope", tiles[0], tiles[2], "--out-dir", tmp_path / "gap") == 0
    for name in ("t0.tif", "t2.tif"):
        np.testing.assert_array_equal(read(tmp_path / "out" / name)[0],
                                      read(tmp_path / "gap" / name)[0])


# --- refused up front ----------------------------------------------------------------

@pytest.mark.parametrize(("args", "code", "pattern"), [
    (["hillshade", "{dem}", "{out}", "--altitude", "100"], 2, "altitude"),
    (["hillshade", "{dem}", "{out}", "--altitude", "-5"], 2, "between 0 and 90"),
    (["slope", "{dem}", "{dir}/slope.png"], 2, "--preview"),
    (["slope", "{dem}", "{dir}/slope.asc"], 2, "AAIGrid"),
    (["slope", "{dem}", "{out}", "--preview", "{dir}/picture.tif"], 2, "name it .png"),
    (["slope", "{complex}", "{out}"], 1, "complex"),
])
def test_refused_before_anything_is_written(write_dem, tmp_path, capsys, args, code,
                                            pattern):
    paths = {"dem": write_dem(rough((20, 20)), TRANSFORM),
             "complex": write_dem(rough((20, 20)) * (1 + 1j), TRANSFORM, dtype="complex64"),
             "out": tmp_path / "out.tif", "dir": tmp_path}
    before = listing(tmp_path)
    assert run(*(a.format(**paths) for a in args)) == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("terrain: error: ")
    assert pattern in lines[0]
    assert listing(tmp_path) == before


def test_altitude_at_the_limits_is_accepted(write_dem, tmp_path):
    dem = write_dem(rough((20, 20)), TRANSFORM)
    for altitude in (0, 90):
        assert run("hillshade", dem, tmp_path / f"{altitude}.tif", "--altitude",
                   altitude) == 0
    assert (read(tmp_path / "90.tif")[0] > 0).any()


def test_all_nodata_dem_warns(write_dem, tmp_path):
    dem = write_dem(np.full((8, 9), -32768, "int16"), TRANSFORM, nodata=-32768)
    with pytest.warns(EmptyResultWarning, match="every pixel is nodata"):
        terrain_api.slope(dem, tmp_path / "s.tif")
    assert np.isnan(read(tmp_path / "s.tif")[0]).all()


def test_all_nodata_dem_warns_on_the_command_line(write_dem, tmp_path):
    dem = write_dem(np.full((8, 9), -32768, "int16"), TRANSFORM, nodata=-32768)
    result = terrain("slope", dem, tmp_path / "s.tif")
    assert result.returncode == 0
    assert result.stderr.strip().splitlines() == [
        f"terrain: warning: {dem}: every pixel is nodata, so is every pixel of "
        f"{tmp_path / 's.tif'}"]


def test_collecting_gdal_failures_restores_logging():
    """The collection of GDAL's failures leaves rasterio's logging as it was."""
    import logging

    from terrain._gdalerrors import gdal_failures

    before = {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers))
              for n in ("rasterio._err", "rasterio._env")}
    with gdal_failures(), gdal_failures():
        pass
    assert before == {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers))
                      for n in ("rasterio._err", "rasterio._env")}


def test_truncated_geotiff_at_a_url(dem, tmp_path, out_dir, capfd):
    """Named by its URL."""
    from .test_remote import Server

    truncate(dem, 0.75)
    server = Server(dem.parent, tmp_path / "requests.log")
    try:
        result = in_process(capfd, "slope", server.url("dem.tif"), out_dir / "s.tif")
    finally:
        server.stop()
    one_line_error(result, 1, "dem.tif: corrupt or truncated data near row 256, column 0")
    assert listing(out_dir) == ["keep.txt"]
