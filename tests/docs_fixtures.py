"""What the documentation's examples need beyond the sample DEMs, one fixture per page.

Each fixture is named after its page (``readme`` for README.md, else the page's
file name without ``.md``) and called as ``fixture(scratch, env)``: it makes
the files the page's examples name in ``scratch`` (which holds a copy of
``data/``), starts the servers they use, sets environment variables in ``env``,
and stops everything on exit. See tests/test_docs.py.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from . import glo30
from .conftest import unavailable

SERVER = Path(__file__).with_name("range_server.py")


def cut_tiles(dem: Path, folder: Path, n: int = 2, suffix: str = ".tif") -> list[Path]:
    """Cut ``dem`` into n x n GeoTIFF tiles named r{i}c{j} in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with rasterio.open(dem) as src:
        rows = np.linspace(0, src.height, n + 1).astype(int)
        cols = np.linspace(0, src.width, n + 1).astype(int)
        for i in range(n):
            for j in range(n):
                window = Window(cols[j], rows[i], cols[j + 1] - cols[j], rows[i + 1] - rows[i])
                profile = {**src.profile, "width": window.width, "height": window.height,
                           "transform": src.transform @ rasterio.Affine.translation(
                               window.col_off, window.row_off)}
                path = folder / f"r{i}c{j}{suffix}"
                with rasterio.open(path, "w", **profile) as dst:
                    dst.write(src.read(window=window))
                paths.append(path)
    return paths


def in_feet(dem: Path, out: Path, crs: str | None, units: str | None = None) -> Path:
    """``dem`` (metres) converted to feet, on its grid, in ``crs`` (same grid numbers)."""
    with rasterio.open(dem) as src:
        z = src.read(1, masked=True).astype("float32") / 0.3048
        profile = {**src.profile, "dtype": "float32", "nodata": -9999.0}
        if crs is not None:
            profile["crs"] = crs
    with rasterio.open(out, "w", **profile) as dst:
        if units is not None:
            dst.units = (units,)
        dst.write(z.filled(-9999.0), 1)
    return out


@contextlib.contextmanager
def web(scratch: Path, env: dict, hosts: dict[str, dict[str, Path]]) -> Iterator[None]:
    """Serve files at the URLs the examples show, through a local proxy.

    ``hosts`` maps a host name to {path on the host: local file}. GDAL reaches
    them through tests/range_server.py in proxy mode (https with a throw-away
    self-signed certificate), so an example's ``https://example.com/...`` runs
    as written.
    """
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed (needed for the https examples)")
    www = scratch.parent / "www"
    for host, files in hosts.items():
        for name, path in files.items():
            (www / host / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, www / host / name)
    cert, key = scratch.parent / "cert.pem", scratch.parent / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    log = scratch.parent / "www.log"
    log.touch()
    server = subprocess.Popen([sys.executable, str(SERVER), str(www), str(log), "--timeout",
                               "600", "--proxy", str(cert), str(key)],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        env.update(GDAL_HTTP_PROXY=f"127.0.0.1:{port}", GDAL_HTTP_UNSAFESSL="YES",
                   GDAL_HTTP_MAX_RETRY="0")
        yield
    finally:
        server.kill()
        server.wait(timeout=10)
        server.stdout.close()


@contextlib.contextmanager
def readme(scratch: Path, env: dict) -> Iterator[None]:
    cut_tiles(scratch / "data" / "jacksboro.tif", scratch / "tiles")
    yield


@contextlib.contextmanager
def cli(scratch: Path, env: dict) -> Iterator[None]:
    data = scratch / "data"
    in_feet(data / "jacksboro_utm16n.tif", scratch / "undeclared_feet.tif", None)
    shutil.copy(data / "jacksboro_utm16n.tif", scratch / "dem.tif")
    # the same terrain as a state-plane DEM, horizontal and vertical in US survey feet:
    # NAD83(2011) / Tennessee (ftUS) + NAVD88 height (ftUS)
    us_ft = 1200 / 3937
    with rasterio.open(data / "jacksboro_utm16n.tif") as src:
        t = src.transform
        profile = {**src.profile, "crs": "EPSG:6576+6360", "dtype": "float32",
                   "nodata": -9999.0, "transform": rasterio.Affine(
                       t.a / us_ft, 0, 2_000_000.0, 0, t.e / us_ft, 500_000.0)}
        z = (src.read(1, masked=True) / us_ft).astype("float32").filled(-9999.0)
    with rasterio.open(scratch / "lidar_ftUS.tif", "w", **profile) as dst:
        dst.write(z, 1)
    # its vertical error, 0.5 ft at every pixel, nodata where the DEM is (--z-sigma RASTER)
    with rasterio.open(scratch / "sigma_ftUS.tif", "w", **profile) as dst:
        dst.write(np.where(z == -9999.0, -9999.0, 0.5).astype("float32"), 1)
    cut_tiles(data / "jacksboro.tif", scratch / "srtm", suffix=".tif")
    tiles = cut_tiles(data / "jacksboro.tif", scratch.parent / "remote")
    names = {f"cop30/{p.name}": p for p in tiles}
    (scratch / "urls.txt").write_text(
        "".join(f"https://example.com/{name}\n" for name in names))
    with web(scratch, env, {"example.com": {**names, "cop30/N36_W085.tif":
                                            data / "jacksboro.tif"}}):
        yield


@contextlib.contextmanager
def inputs(scratch: Path, env: dict) -> Iterator[None]:
    data = scratch / "data"
    with zipfile.ZipFile(scratch / "dems.zip", "w") as z:
        z.write(data / "jacksboro.tif", "n36/jacksboro.tif")
    with open(data / "jacksboro.tif", "rb") as f, gzip.open(scratch / "dem.tif.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    tiles = cut_tiles(data / "jacksboro.tif", scratch.parent / "remote")
    names = {f"dem/{p.name}": p for p in tiles}
    with web(scratch, env, {"example.com": {**names, "cop30/N36_W085.tif": data /
                                            "jacksboro.tif"}}):
        yield


@contextlib.contextmanager
def tiles(scratch: Path, env: dict) -> Iterator[None]:
    data = scratch / "data"
    cut_tiles(data / "jacksboro.tif", scratch / "srtm", n=3)
    remote = cut_tiles(data / "jacksboro.tif", scratch.parent / "remote")
    lidar = scratch / "lidar"
    for path in cut_tiles(data / "jacksboro_utm16n.tif", lidar / "2024", n=2):
        path.rename(lidar / path.name)
    (lidar / "2024").rmdir()
    with (web(scratch, env, {"example.com": {f"dem/{p.name}": p for p in remote}}),
          object_storage(scratch, env) as server):
        copernicus(server, scratch.parent / "glo30", scratch)
        yield


#: The public bucket of Copernicus GLO-30 (docs/tiles.md's "Copernicus GLO-30").
GLO30_BUCKET = "copernicus-dem-30m"

#: The tiles it holds here: each side of 50°, 60°, 70° and 80°N, at 10°E.
GLO30_TILES = [(south, 10) for south in (49, 50, 59, 60, 69, 70, 79, 80)]


def copernicus(server, folder: Path, scratch: Path) -> None:
    """Synthetic GLO-30 tiles in the S3 server's bucket ``copernicus-dem-30m``.

    As GLO-30 publishes them (tests/glo30.py): 1° x 1° Cloud-Optimized
    GeoTIFFs of float32 elevations, one folder per tile named as the tile,
    columns 1" to 5" wide by latitude, but rows 30" apart instead of 1" (120
    rows a tile), so that the documentation's run takes a second. ``scratch``
    gets the 49°N tile in ``glo30/``, and in ``resampled/`` its east neighbour
    with columns as wide as the 50°-60° band's, for the refused example.
    """
    server.bucket(GLO30_BUCKET)
    row = 30 / 3600

    def hills(lat, lon):  # metres: ridges some 30 km apart
        return 800 + 300 * np.sin(np.radians(lat) * 1300) * np.cos(np.radians(lon) * 900)

    for south, west in GLO30_TILES:
        name = glo30.name(south, west)
        path = glo30.write(folder / name, south, west, 1.0, row, hills, "float32", cog=True)
        # readable without an account (AWS_NO_SIGN_REQUEST=YES), as the real bucket
        server.client.upload_file(str(path), GLO30_BUCKET, f"{name[:-4]}/{name}",
                                  ExtraArgs={"ACL": "public-read"})
    (scratch / "glo30").mkdir()
    shutil.copy(folder / glo30.name(49, 10), scratch / "glo30")
    # the tile east of it, resampled to 1.5" columns (here 45")
    wide = glo30.write(folder / "wide" / glo30.name(50, 11), 50, 11, 1.0, row, hills)
    (scratch / "resampled").mkdir()
    with rasterio.open(wide) as src:
        profile = {**src.profile, "transform": src.transform @ rasterio.Affine.translation(
            0, src.height)}
        with rasterio.open(scratch / "resampled" / glo30.name(49, 11), "w", **profile) as dst:
            dst.write(src.read())


#: The buckets of docs/tiles.md's "On a cluster, to object storage".
TILES_BUCKET, RESULTS_BUCKET = "dem-tiles", "dem-results"


def cog_tiles(dem: Path, folder: Path, n: int = 2) -> list[Path]:
    """``dem`` cut into n x n Cloud-Optimized GeoTIFF tiles named r{i}c{j}.tif."""
    plain = cut_tiles(dem, folder / "plain", n)
    paths = []
    for path in plain:
        paths.append(folder / path.name)
        rasterio.shutil.copy(path, paths[-1], driver="COG")
    return paths


@contextlib.contextmanager
def object_storage(scratch: Path, env: dict) -> Iterator:
    """An S3 server holding COG tiles, and a Dask cluster of 2 workers; yields the server.

    The server is moto's (tests/s3_server.py) on 127.0.0.1: the bucket
    ``dem-tiles`` holds the sample DEM cut in 4 COG tiles under
    ``jacksboro/``, and ``dem-results`` is empty. ``env`` gets GDAL's settings
    for the server (``AWS_S3_ENDPOINT``, ``AWS_HTTPS=NO``,
    ``AWS_VIRTUAL_HOSTING=FALSE``, test keys) and ``SCHEDULER``, the cluster's
    address; its workers have the same settings, as real workers must.
    """
    import distributed

    from .s3 import S3

    server = S3()
    try:
        server.bucket(TILES_BUCKET)
        server.bucket(RESULTS_BUCKET)
        for path in cog_tiles(scratch / "data" / "jacksboro_utm16n.tif",
                              scratch.parent / "cogs"):
            server.client.upload_file(str(path), TILES_BUCKET, f"jacksboro/{path.name}")
        # the examples' https:// URLs go through a proxy (see web), the server not
        settings = server.env(GDAL_HTTP_TIMEOUT="30", NO_PROXY="127.0.0.1")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", env=settings) as cluster:
            env.update(settings, SCHEDULER=cluster.scheduler_address)
            yield server
    finally:
        server.close()


@contextlib.contextmanager
def failures(scratch: Path, env: dict) -> Iterator[None]:
    (scratch / "notes.txt").write_text("not a raster\n")
    with rasterio.open(scratch / "data" / "jacksboro.tif") as src:
        profile = {**src.profile, "width": 1}
        z = src.read(1, window=Window(0, 0, 1, src.height))
    with rasterio.open(scratch / "one_column.tif", "w", **profile) as dst:
        dst.write(z, 1)
    # a VRT that reads data/jacksboro.tif, and an archive member whose name decodes to a path
    subprocess.run(["gdalbuildvrt", "-q", "view.vrt", "data/jacksboro.tif"], cwd=scratch,
                   check=True)
    with zipfile.ZipFile(scratch / "tiles.zip", "w") as archive:
        archive.write(scratch / "data" / "jacksboro.tif", "..%2F..%2Fevil.tif")
    yield


@contextlib.contextmanager
def python(scratch: Path, env: dict) -> Iterator[None]:
    cut_tiles(scratch / "data" / "jacksboro.tif", scratch / "tiles")
    yield
