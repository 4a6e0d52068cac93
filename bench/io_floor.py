"""The I/O floor: a plain rasterio read and write of a DEM, nothing computed.

Reads the DEM window by window (1024² windows, as terrain does) and writes
the values as float32 with terrain's creation options (tiled 256², DEFLATE,
PREDICTOR=3, compression on NUM_THREADS threads). No halo, no gradient: what
any streaming slope tool on this machine must at least spend.

Usage: ``python bench/io_floor.py DEM OUT [--threads N]``
"""

import argparse
import os

import rasterio
from rasterio.windows import Window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dem")
    parser.add_argument("out")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    with rasterio.open(args.dem) as src:
        profile = {**src.profile, "dtype": "float32", "tiled": True, "blockxsize": 256,
                   "blockysize": 256, "compress": "deflate", "predictor": 3,
                   "bigtiff": "if_safer", "num_threads": str(args.threads)}
        cache = rasterio.Env(GDAL_CACHEMAX=192 * 2**20)  # bytes
        with cache, rasterio.open(args.out, "w", **profile) as dst:
            for row in range(0, src.height, 1024):
                for col in range(0, src.width, 1024):
                    window = Window(col, row, min(1024, src.width - col),
                                    min(1024, src.height - row))
                    dst.write(src.read(1, window=window, out_dtype="float32"), 1,
                              window=window)


if __name__ == "__main__":
    main()
