"""Outputs in object storage: uploaded whole or not at all, the same bytes as a local run.

A real S3-compatible server (moto's server mode, tests/s3_server.py) runs on
127.0.0.1 in its own process; GDAL is the client. boto3 only looks at what the
server holds (the objects' bytes, the incomplete multipart uploads).
"""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from terrain import storage
from terrain.cli import main
from terrain.errors import UsageError
from terrain.io import check_local_output

from .s3 import S3, empty, tree

ROOT = Path(__file__).resolve().parents[1]
TRANSFORM = Affine(10.0, 0, 500_000.0, 0, -10.0, 5_000_000.0)
GRID = 4  # a tile set of GRID x GRID tiles
TILE = 128


def rough(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).cumsum(0).cumsum(1) + 500


def run(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def terrain(*args, env, timeout=120):
    """``python cli.py ARGS`` in its own process, with these environment variables."""
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env, "PYTHONDONTWRITEBYTECODE": "1"})


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("terrain: error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def s3():
    server = S3()
    yield server
    server.close()


@pytest.fixture
def bucket(s3, request):
    name = f"b{abs(hash(request.node.nodeid)) % 10**12}"
    return s3.bucket(name)


@pytest.fixture
def local_tmp(s3, tmp_path, monkeypatch):
    """GDAL's settings for the server in this process's environment; TMPDIR, empty."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    for name, value in s3.env(TMPDIR=str(tmp)).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


@pytest.fixture
def dem(write_dem):
    return write_dem(rough((300, 200)), TRANSFORM, dtype="float32", name="dem.tif",
                     tiled=True, blockxsize=128, blockysize=128)


def same_file(s3, bucket, key, local: Path):
    """The object is the local run's file, byte for byte, and reads back through /vsis3/
    (GDAL) as the same pixels, georeferencing and tags."""
    assert s3.objects(bucket)[key] == local.read_bytes(), key
    with rasterio.open(f"/vsis3/{bucket}/{key}") as got, rasterio.open(local) as want:
        assert got.profile == want.profile
        assert got.tags() == want.tags()
        np.testing.assert_array_equal(got.read(), want.read())


# --- one output -------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--cog"]])
def test_one_output_is_the_local_result_uploaded(s3, bucket, local_tmp, dem, tmp_path,
                                                 extra):
    assert run("slope", dem, tmp_path / "slope.tif", *extra) == 0
    assert run("slope", dem, f"s3://{bucket}/results/slope.tif", *extra) == 0
    same_file(s3, bucket, "results/slope.tif", tmp_path / "slope.tif")
    assert s3.keys(bucket) == ["results/slope.tif"]
    assert s3.uploads(bucket) == []
    assert empty(local_tmp)


def test_gdal_path_and_overwrite(s3, bucket, local_tmp, dem, tmp_path, capsys):
    """/vsis3/ names the same object; an existing one needs --overwrite."""
    out = f"/vsis3/{bucket}/slope.tif"
    assert run("aspect", dem, out) == 0
    assert run("slope", dem, f"s3://{bucket}/slope.tif") == 1
    assert one_line(capsys.readouterr().err) == (
        f"terrain: error: s3://{bucket}/slope.tif: exists; pass --overwrite to replace it")
    assert run("slope", dem, tmp_path / "slope.tif") == 0
    assert run("slope", dem, out, "--overwrite") == 0
    same_file(s3, bucket, "slope.tif", tmp_path / "slope.tif")
    assert empty(local_tmp)


def test_large_output_is_a_multipart_upload(s3, bucket, local_tmp, write_dem, tmp_path,
                                            monkeypatch):
    """Over the part size (VSIS3_CHUNK_SIZE, GDAL's setting, here 5 MiB), parts."""
    dem = write_dem(rough((1100, 1100)), TRANSFORM, dtype="float32")
    monkeypatch.setenv("VSIS3_CHUNK_SIZE", "5")
    args = ("gradient", dem, "--co", "COMPRESS=NONE")
    assert run(*args[:2], tmp_path / "g.tif", *args[2:]) == 0
    size = (tmp_path / "g.tif").stat().st_size
    assert size > 2 * 5 * 2**20
    assert run(*args[:2], f"s3://{bucket}/g.tif", *args[2:]) == 0
    etag = s3.client.head_object(Bucket=bucket, Key="g.tif")["ETag"]
    assert etag.endswith(f'-{-(-size // (5 * 2**20))}"')  # an S3 multipart ETag: "...-3"
    same_file(s3, bucket, "g.tif", tmp_path / "g.tif")
    assert s3.uploads(bucket) == []
    assert empty(local_tmp)


def test_preview_stays_local(s3, bucket, local_tmp, dem, tmp_path, capsys):
    assert run("slope", dem, f"s3://{bucket}/s.tif", "--preview", f"s3://{bucket}/s.png") == 2
    assert "the preview is a local file" in one_line(capsys.readouterr().err)
    assert s3.keys(bucket) == []
    assert run("slope", dem, f"s3://{bucket}/s.tif", "--preview", tmp_path / "s.png") == 0
    assert run("slope", dem, tmp_path / "s.tif", "--preview", tmp_path / "local.png") == 0
    assert (tmp_path / "s.png").read_bytes() == (tmp_path / "local.png").read_bytes()


# --- refused before any work ------------------------------------------------------------

def test_missing_bucket_and_unreachable_server(s3, local_tmp, dem, tmp_path, capsys,
                                               monkeypatch):
    assert run("slope", dem, "s3://no-such-bucket/s.tif") == 1
    assert one_line(capsys.readouterr().err) == (
        "terrain: error: s3://no-such-bucket/s.tif: no such bucket 'no-such-bucket'")
    tiles = [write_tile(tmp_path, i, 0, rough((TILE, TILE), i)) for i in range(2)]
    assert run("slope", *tiles, "--out-dir", "s3://no-such-bucket/p") == 1
    assert one_line(capsys.readouterr().err) == (
        "terrain: error: s3://no-such-bucket/p/t00.tif: no such bucket 'no-such-bucket'")
    monkeypatch.setenv("AWS_S3_ENDPOINT", "127.0.0.1:9")  # nothing listens there
    assert run("slope", dem, "s3://bucket/s.tif") == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("terrain: error: s3://bucket/s.tif: cannot reach the server: ")
    assert empty(local_tmp)


@pytest.fixture(scope="module")
def s3_auth():
    """A server that checks every request's credentials and rights."""
    server = S3()
    try:
        server.bucket("private")
        yield server, server.users()
    finally:
        server.close()


@pytest.mark.parametrize(("who", "message"), [
    ("unknown key", "the access key id is not known to the server (AWS_ACCESS_KEY_ID)"),
    ("wrong secret", "the secret key does not match the access key id "
                     "(AWS_SECRET_ACCESS_KEY)"),
    ("reader", "cannot write: access denied"),
])
def test_wrong_key_or_no_right_to_write(s3_auth, dem, tmp_path, monkeypatch, capsys, who,
                                        message):
    server, keys = s3_auth
    key, secret = {"unknown key": ("AKIAUNKNOWN000000000", "x"),
                   "wrong secret": (keys["writer"][0], "wrong"),
                   "reader": keys["reader"]}[who]
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    for name, value in server.env(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
                                  TMPDIR=str(tmp)).items():
        monkeypatch.setenv(name, value)
    assert run("slope", dem, "s3://private/s.tif") == 1
    assert one_line(capsys.readouterr().err) == f"terrain: error: s3://private/s.tif: {message}"
    assert server.keys("private") == []
    assert server.uploads("private") == []
    assert empty(tmp)
    if who == "reader":  # its key does work: it reads
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["writer"][0])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["writer"][1])
        assert run("slope", dem, "s3://private/s.tif") == 0
        assert server.keys("private") == ["s.tif"]


def test_local_temporary_disk_full_names_the_object(s3, bucket, dem, tmp_path):
    """TMPDIR on a 64 KiB file system: the object is named, nothing is uploaded."""
    from .test_failures import mount_namespace

    mount_namespace()
    tmp = tmp_path / "small"
    tmp.mkdir()
    command = " ".join(f"'{a}'" for a in [sys.executable, ROOT / "cli.py", "slope", dem,
                                          f"s3://{bucket}/s.tif"])
    script = (f"mount -t tmpfs -o size=64k tmpfs '{tmp}' && {command}; code=$?; "
              f"ls -A '{tmp}' > '{tmp_path / 'left'}'; exit $code")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                            text=True, env={**os.environ, **s3.env(TMPDIR=str(tmp))},
                            timeout=120)
    assert result.returncode == 1, result.stderr
    assert one_line(result.stderr) == (
        f"terrain: error: s3://{bucket}/s.tif: no space left on device (in the local "
        f"temporary folder {tmp}; set TMPDIR to one with room)")
    assert (tmp_path / "left").read_text() == ""
    assert s3.keys(bucket) == []
    assert s3.uploads(bucket) == []


@pytest.mark.slow  # two more servers: about 6 s
@pytest.mark.parametrize(("lost", "extra"), [
    (r"^PUT /[^?]*/s\.tif\?$", {}),  # the single PUT of a small output
    (r"^POST .*uploadId=", {"VSIS3_CHUNK_SIZE": "5"}),  # completing a multipart upload
])
def test_lost_answer_to_the_last_request(write_dem, tmp_path, monkeypatch, lost, extra):
    """The server stores the object but its answer is lost: terrain asks, and succeeds."""
    server = S3(lose_answers=lost)
    try:
        server.bucket("lossy")
        tmp = tmp_path / "tmpdir"
        tmp.mkdir()
        for name, value in server.env(TMPDIR=str(tmp), **extra).items():
            monkeypatch.setenv(name, value)
        dem = write_dem(rough((1100, 1100) if extra else (300, 300)), TRANSFORM,
                        dtype="float32")
        args = ("--co", "COMPRESS=NONE") if extra else ()  # 9.7 MB: 2 parts of 5 MiB
        assert run("gradient", dem, tmp_path / "s.tif", *args) == 0
        assert run("gradient", dem, "s3://lossy/s.tif", *args) == 0
        same_file(server, "lossy", "s.tif", tmp_path / "s.tif")
        assert server.uploads("lossy") == []
        assert empty(tmp)
    finally:
        server.close()


# --- interrupted ---------------------------------------------------------------------------

PAUSED_UPLOAD = """
import sys, time
from pathlib import Path
import terrain.cli, terrain.storage

add_part = terrain.storage._Gdal.add_part

def paused(self, *args):
    etag = add_part(self, *args)
    Path({marker!r}).touch()
    time.sleep(60)
    return etag

terrain.storage._Gdal.add_part = paused
sys.argv[0] = "terrain"
terrain.cli.main(sys.argv[1:])
"""


def test_signal_during_a_multipart_upload_aborts_it(s3, bucket, write_dem, tmp_path):
    """SIGTERM once the first part is stored: the upload is aborted, nothing is left."""
    dem = write_dem(rough((800, 800)), TRANSFORM, dtype="float32")
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    marker = tmp_path / "paused"
    env = {**os.environ, **s3.env(TMPDIR=str(tmp), VSIS3_CHUNK_SIZE="5"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PAUSED_UPLOAD.format(marker=str(marker))),
         "gradient", dem, f"s3://{bucket}/g.tif", "--co", "COMPRESS=NONE"],
        env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert s3.uploads(bucket) == ["g.tif"]  # one part stored, the upload open
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["terrain: error: stopped by SIGTERM"]
    assert s3.uploads(bucket) == []
    assert s3.keys(bucket) == []
    assert empty(tmp)


# --- tile sets on a Dask cluster ---------------------------------------------------------

def write_tile(folder: Path, i: int, j: int, z) -> Path:
    path = folder / "tiles" / f"t{i}{j}.tif"
    path.parent.mkdir(exist_ok=True)
    profile = {"driver": "GTiff", "width": z.shape[1], "height": z.shape[0], "count": 1,
               "dtype": "float32", "crs": "EPSG:32633",
               "transform": TRANSFORM @ Affine.translation(j * TILE, i * TILE)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z.astype("float32"), 1)
    return path


@pytest.fixture(scope="module")
def tile_set(tmp_path_factory):
    """16 tiles of one surface, and their slopes computed into a local folder."""
    folder = tmp_path_factory.mktemp("set")
    z = rough((GRID * TILE, GRID * TILE), seed=7)
    tiles = [write_tile(folder, i, j, z[i * TILE:(i + 1) * TILE, j * TILE:(j + 1) * TILE])
             for i in range(GRID) for j in range(GRID)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["terrain"])
        assert run("slope", *tiles, "--out-dir", folder / "local", "--jobs", 1) == 0
    return tiles, folder / "local"


@pytest.fixture(scope="module")
def cluster(s3, tmp_path_factory):
    """A Dask cluster of 2 worker processes with GDAL's settings for the server, and their
    temporary folder (TMPDIR): the workers' local disk."""
    distributed = pytest.importorskip("distributed")
    disk = tmp_path_factory.mktemp("workers")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0",
                                  env=s3.env(TMPDIR=str(disk))) as local:
        yield local.scheduler_address, [disk]


def test_tile_set_on_a_cluster_to_a_bucket(s3, bucket, local_tmp, tile_set, cluster):
    tiles, local = tile_set
    scheduler, disks = cluster
    assert run("slope", *tiles, "--out-dir", f"s3://{bucket}/slopes/",
               "--scheduler", scheduler, "-q") == 0
    assert s3.keys(bucket) == sorted(f"slopes/{t.name}" for t in tiles)
    for t in tiles:
        same_file(s3, bucket, f"slopes/{t.name}", local / t.name)
    assert s3.uploads(bucket) == []
    assert all(empty(d) for d in disks)
    assert empty(local_tmp)


def test_server_stops_in_the_middle_of_a_tile_set(s3, bucket, local_tmp, tile_set, cluster,
                                                 tmp_path):
    """The tiles written are whole, the others absent, one line for each; no upload left."""
    tiles, local = tile_set
    scheduler, disks = cluster
    stopped = threading.Event()

    def stop_after_some():
        deadline = time.monotonic() + 60
        while len(s3.keys(bucket)) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        s3.stop()
        stopped.set()

    watcher = threading.Thread(target=stop_after_some)
    watcher.start()
    try:
        result = terrain("slope", *tiles, "--out-dir", f"s3://{bucket}/slopes",
                         "--scheduler", scheduler, env=s3.env(TMPDIR=str(tmp_path)))
    finally:
        watcher.join()
        s3.resume()
    assert stopped.is_set()
    written = {Path(k).name for k in s3.keys(bucket)}
    failed = [t for t in tiles if t.name not in written]
    assert written, "the server must stop in the middle of the set"
    assert failed, "the server must stop in the middle of the set"
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"terrain: error: {t}: s3://{bucket}/slopes/{t.name}: upload failed: "
                     + lines[i].split(": upload failed: ", 1)[1]
                     for i, t in enumerate(failed)]
    for name in written:
        same_file(s3, bucket, f"slopes/{name}", local / name)
    assert s3.uploads(bucket) == []
    assert all(empty(d) for d in disks)


def test_sigterm_to_the_client_stops_the_workers(s3, bucket, local_tmp, tile_set, cluster,
                                                tmp_path):
    """Tiles written before the signal are whole; none appears after the client exits."""
    tiles, local = tile_set
    scheduler, disks = cluster
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "slope", *map(str, tiles), "--out-dir",
         f"s3://{bucket}/slopes", "--scheduler", scheduler],
        env={**os.environ, **s3.env(TMPDIR=str(tmp_path))}, stderr=subprocess.PIPE,
        text=True)
    deadline = time.monotonic() + 60
    while not s3.keys(bucket):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=90)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["terrain: error: stopped by SIGTERM"]
    written = s3.keys(bucket)
    assert len(written) < len(tiles), "the signal must come in the middle of the set"
    time.sleep(1)
    assert s3.keys(bucket) == written
    for key in written:
        same_file(s3, bucket, key, local / Path(key).name)
    assert s3.uploads(bucket) == []
    assert all(empty(d) for d in disks), [tree(d) for d in disks]


# --- names ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "gdal"), [
    ("s3://dems/slopes/n45.tif", "/vsis3/dems/slopes/n45.tif"),
    ("gs://dems/n45.tif", "/vsigs/dems/n45.tif"),
    ("az://container/n45.tif", "/vsiaz/container/n45.tif"),
    ("/vsiadls/fs/n45.tif", "/vsiadls/fs/n45.tif"),
])
def test_object_storage_names(path, gdal):
    assert storage.is_object_storage(path)
    assert storage.vsi_path(path) == gdal
    check_local_output(path)


@pytest.mark.parametrize("path", ["https://example.com/s.tif", "/vsimem/s.tif",
                                  "/vsizip/out.zip/s.tif", "ftp://example.com/s.tif"])
def test_other_urls_refused_as_outputs(path):
    assert not storage.is_object_storage(path)
    with pytest.raises(UsageError, match="outputs are local files or objects in object"):
        check_local_output(path)
