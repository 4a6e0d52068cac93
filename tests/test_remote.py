"""DEMs at URLs and in archives: the same bits as the local file, each byte fetched about once.

A real HTTP server with Range support (tests/range_server.py) runs on
127.0.0.1 in its own process and logs every byte it sends; runs that count
bytes are real ``terrain`` processes, so that GDAL's caches start empty.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from terrain.cli import main
from terrain.io import input_name

from .test_tiles import cut, whole_dem

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "cli.py"
SERVER = Path(__file__).with_name("range_server.py")
TRANSFORM = Affine(10.0, 0, 500_000.0, 0, -10.0, 5_000_000.0)
#: a tiled, compressed DEM of 5 x 8 blocks
COG = {"tiled": True, "blockxsize": 128, "blockysize": 128, "compress": "deflate",
       "predictor": 3}


class Server:
    """The range server's process, its address and the bytes it sent."""

    def __init__(self, root: Path, log: Path):
        log.touch()
        self.root, self.log = root, log
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), str(root), str(log), "--timeout", "300"],
            stdout=subprocess.PIPE, text=True,
        )
        self.port = int(self.process.stdout.readline())

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def requests(self) -> list[tuple[str, str, int, int]]:
        """(method, path, status, bytes, range) of every response so far."""
        lines = self.log.read_text().splitlines()
        return [(m, p, int(s), int(n), r) for m, p, s, n, r in map(str.split, lines)]

    def sent(self) -> int:
        return sum(n for *_, n, _ in self.requests())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self.process.stdout.close()


@pytest.fixture
def server(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    s = Server(www, tmp_path / "served.log")
    yield s
    s.stop()


def terrain(*args, env=None, stdin=None):
    """Run ``terrain ARGS`` as its own process; return (exit code, stderr)."""
    done = subprocess.run(
        [sys.executable, str(CLI), *map(str, args)], capture_output=True, text=True,
        timeout=120, input=stdin, env=env, check=False,
    )
    return done.returncode, done.stderr


def run(*args):
    """Run ``terrain ARGS`` in this process; return the exit code."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def rough_dem(write_dem, shape=(640, 1000), name="dem.tif", **profile):
    """Terrain with detail at every scale (it compresses about as real DEMs do)."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=shape).cumsum(0).cumsum(1) * 0.05 + rng.normal(size=shape) + 500
    return write_dem(z.astype("float32"), TRANSFORM, name=name, **profile)


def bands(path):
    with rasterio.open(path) as src:
        return src.read(), src.transform, src.crs


def assert_same(got, want):
    (a, ta, ca), (b, tb, cb) = bands(got), bands(want)
    assert (ta, ca) == (tb, cb)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("prefix", ["", "/vsicurl/"])
def test_url_gives_the_local_bits_fetching_each_byte_once(write_dem, tmp_path, server,
                                                          prefix):
    dem = rough_dem(write_dem, name="www/dem.tif", **COG)
    assert run("slope", dem, tmp_path / "local.tif", "-q") == 0
    # blocks of 256 pixels: every block's halo reaches into 2 to 4 of its
    # neighbours' file blocks
    code, err = terrain("slope", prefix + server.url("dem.tif"), tmp_path / "remote.tif",
                        "--block-size", 256)
    assert (code, err) == (0, "")
    assert_same(tmp_path / "remote.tif", tmp_path / "local.tif")
    size = dem.stat().st_size
    assert size > 1_000_000
    assert size <= server.sent() <= 1.1 * size
    # no listing of the folder, no probing for side-car files
    assert {path for _, path, *_ in server.requests()} == {"/dem.tif"}


def test_gdal_options_the_user_set_win(write_dem, tmp_path, server):
    rough_dem(write_dem, shape=(64, 64), name="www/dem.tif")
    env = {**os.environ, "GDAL_DISABLE_READDIR_ON_OPEN": "NO"}
    code, err = terrain("slope", server.url("dem.tif"), tmp_path / "remote.tif", env=env)
    assert (code, err) == (0, "")
    # GDAL lists the folder, as this user asked
    assert "/" in {path for _, path, *_ in server.requests()}


def test_gdal_options_of_an_enclosing_rasterio_env_win(write_dem, tmp_path, server):
    import terrain

    rough_dem(write_dem, shape=(64, 64), name="www/dem.tif")
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="NO"):
        terrain.slope(server.url("dem.tif"), tmp_path / "remote.tif")
    assert "/" in {path for _, path, *_ in server.requests()}


@pytest.mark.slow
def test_wide_dem_fetched_once(write_dem, tmp_path, server):
    """Wider than the stripes local files are read in, and larger than GDAL's caches."""
    rng = np.random.default_rng(2)
    z = (rng.normal(size=(8192, 4352)).cumsum(1) * 0.1).astype("float32")
    dem = write_dem(z, TRANSFORM, name="www/wide.tif", tiled=True, blockxsize=256,
                    blockysize=256, compress="deflate")
    code, err = terrain("slope", server.url("wide.tif"), tmp_path / "remote.tif")
    assert (code, err) == (0, "")
    assert server.sent() <= 1.02 * dem.stat().st_size


def test_dem_in_a_zip(write_dem, tmp_path):
    dem = rough_dem(write_dem, shape=(40, 50), **COG)
    archive = tmp_path / "dems.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(dem, "n45/dem.tif")
    assert run("slope", dem, tmp_path / "local.tif", "-q") == 0
    for i, path in enumerate([f"/vsizip/{archive}/n45/dem.tif",
                              f"zip+file://{archive}!/n45/dem.tif"]):
        assert run("slope", path, tmp_path / f"zip{i}.tif", "-q") == 0
        assert_same(tmp_path / f"zip{i}.tif", tmp_path / "local.tif")
    # a tile set named after the archive members
    assert run("slope", f"/vsizip/{archive}/n45/dem.tif", "--out-dir", tmp_path / "out",
               "-q") == 0
    assert_same(tmp_path / "out" / "dem.tif", tmp_path / "local.tif")


def test_tile_set_listed_with_urls(write_dem, tmp_path, server):
    paths, _ = cut(write_dem, tmp_path, whole_dem())
    assert run("slope", *paths, "--out-dir", tmp_path / "local", "-q") == 0
    shutil.copytree(tmp_path / "tiles", server.root / "tiles")
    # query strings with the characters of glob patterns: not patterns here
    urls = [server.url(f"tiles/{p.name}?sig=a*b[1]") for p in paths]
    listing = "# tiles of the set\n\n" + "\n".join(urls) + "\n"
    code, err = terrain("slope", "--from", "-", "--out-dir", tmp_path / "remote",
                        stdin=listing)
    assert (code, err) == (0, "")
    assert sorted(p.name for p in (tmp_path / "remote").iterdir()) == sorted(
        p.name for p in paths)
    for p in paths:
        assert_same(tmp_path / "remote" / p.name, tmp_path / "local" / p.name)
    # the same from a list file, in this process
    (tmp_path / "urls.txt").write_text(listing)
    assert run("slope", "--from", tmp_path / "urls.txt", "--out-dir", tmp_path / "again",
               "-q") == 0
    for p in paths:
        assert_same(tmp_path / "again" / p.name, tmp_path / "local" / p.name)


@pytest.mark.parametrize("where", [["https://example.com/slope.tif"],
                                   ["/vsimem/slope.tif"],
                                   ["--out-dir", "https://example.com/slopes"],
                                   ["--out-dir", "/vsizip/out.zip"]])
def test_url_as_output_refused(write_dem, tmp_path, capsys, where, monkeypatch):
    dem = rough_dem(write_dem, shape=(20, 20))
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert run("slope", dem, *where) == 2
    err = capsys.readouterr().err
    assert err == f"terrain: error: {where[-1]}: outputs are local files or objects in " \
                  "object storage (s3://, gs://, az://); give one of those (and copy the " \
                  "result where it should go)\n"
    assert sorted(tmp_path.rglob("*")) == before


def test_unreadable_url_named_in_one_line(tmp_path, server, capsys):
    url = server.url("missing.tif")
    assert run("slope", url, tmp_path / "out.tif") == 1
    assert capsys.readouterr().err == (
        f"terrain: error: {url}: cannot open: HTTP response code: 404\n")
    assert not (tmp_path / "out.tif").exists()
    assert run("slope", tmp_path / "missing.tif", tmp_path / "out.tif") == 1
    assert capsys.readouterr().err == f"terrain: error: {tmp_path}/missing.tif: no such file\n"


@pytest.mark.parametrize(("path", "name"), [
    ("https://example.com/cop30/N45_E006.tif?sig=a/b", "N45_E006.tif"),
    ("/vsicurl/https://example.com/a%20b.tif", "a b.tif"),
    ("/vsicurl?max_retry=3&url=https%3A%2F%2Fexample.com%2Fq.tif%3Fx%3D1", "q.tif"),
    ("s3://bucket/dem/n45.tif", "n45.tif"),
    ("/vsis3/bucket/dem/n45.tif", "n45.tif"),
    ("/vsizip/dems.zip/n45/dem.tif", "dem.tif"),
    ("zip+file:///data/dems.zip!/n45/dem.tif", "dem.tif"),
    ("zip+https://example.com/dems.zip!dem.tif", "dem.tif"),
    ("/vsigzip//data/n45.tif.gz", "n45.tif"),
    ("/vsizip//vsicurl/https://example.com/n45.zip", "n45.tif"),
    ("tiles/n45?.tif", "n45?.tif"),
])
def test_output_names_of_inputs(path, name):
    assert input_name(path) == name
