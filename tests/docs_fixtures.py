"""What the documentation's examples need, one function per page (docs/<page>.md).

Each ``<page>(scratch, env)`` is a context manager: it makes the files the
page's blocks use in ``scratch``, starts the servers they talk to, and sets
the environment variables they need in ``env``; everything stops on exit.
"""

from __future__ import annotations

import contextlib
import pathlib
import tempfile

import rasterio
import rasterio.shutil
from rasterio.windows import Window

from .s3 import S3

#: The sample DEM of data/, and the buckets of docs/tiles.md.
SAMPLE = "data/jacksboro_utm16n.tif"
TILES_BUCKET, RESULTS_BUCKET = "dem-tiles", "dem-results"


def _cog_tiles(dem: pathlib.Path, folder: pathlib.Path, rows: int = 2,
               cols: int = 2) -> list[pathlib.Path]:
    """Cut ``dem`` into rows x cols Cloud-Optimized GeoTIFF tiles (r0c0.tif...)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with rasterio.open(dem) as src:
        heights = [src.height * i // rows for i in range(rows + 1)]
        widths = [src.width * j // cols for j in range(cols + 1)]
        for i in range(rows):
            for j in range(cols):
                window = Window(widths[j], heights[i], widths[j + 1] - widths[j],
                                heights[i + 1] - heights[i])
                profile = {**src.profile, "driver": "COG", "width": window.width,
                           "height": window.height,
                           "transform": src.window_transform(window)}
                for key in ("blockxsize", "blockysize", "tiled", "interleave"):
                    profile.pop(key, None)
                plain = folder / f"r{i}c{j}.plain.tif"
                with rasterio.open(plain, "w", **{**profile, "driver": "GTiff"}) as dst:
                    dst.write(src.read(1, window=window), 1)
                path = folder / f"r{i}c{j}.tif"
                rasterio.shutil.copy(plain, path, driver="COG")
                plain.unlink()
                paths.append(path)
    return paths


@contextlib.contextmanager
def tiles(scratch: pathlib.Path, env: dict):
    """docs/tiles.md: an S3 server holding COG tiles, and a Dask cluster of 2 workers.

    The server is moto's (tests/s3_server.py) on 127.0.0.1; the bucket
    ``dem-tiles`` holds the sample DEM cut in 4 COG tiles under
    ``jacksboro/``, and ``dem-results`` is empty. ``env`` gets GDAL's
    settings for the server (``AWS_S3_ENDPOINT``, ``AWS_HTTPS=NO``,
    ``AWS_VIRTUAL_HOSTING=FALSE``, test keys) and ``SCHEDULER``, the cluster's
    address; its workers have the same settings, as real workers must.
    """
    import distributed

    server = S3()
    try:
        server.bucket(TILES_BUCKET)
        server.bucket(RESULTS_BUCKET)
        with tempfile.TemporaryDirectory() as folder:
            for path in _cog_tiles(scratch / SAMPLE, pathlib.Path(folder)):
                server.client.upload_file(str(path), TILES_BUCKET, f"jacksboro/{path.name}")
        settings = server.env(GDAL_HTTP_TIMEOUT="30")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, env=settings) as cluster:
            env.update(settings, SCHEDULER=cluster.scheduler_address)
            yield
    finally:
        server.close()
