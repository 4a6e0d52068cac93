"""The I/O floor: a plain rasterio copy of terrain's own output, nothing computed.

Reads a result terrain wrote (float32, tiled 256², compressed) window by window
(1024² windows, as terrain's blocks) and writes it again with the same creation
options, compressing on the same number of threads: the decoding and encoding
every streaming slope tool must at least spend on this output. No halo, no
gradient.

Usage: ``python bench/io_floor.py TERRAIN_OUTPUT OUT [--threads N]``
"""

import argparse
import os

import rasterio
from rasterio.windows import Window

#: GDAL's block cache. terrain streams with 96 MiB (terrain.io.CACHE_MB), which its halos
#: need; a copy without halos reads each block once (measured: 32 and 96 MiB alike).
CACHE_MB = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="a GeoTIFF terrain wrote")
    parser.add_argument("out")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    with rasterio.Env(GDAL_CACHEMAX=CACHE_MB * 2**20), rasterio.open(args.src) as src:
        structure = src.tags(ns="IMAGE_STRUCTURE")
        profile = {**src.profile, "num_threads": str(args.threads), "bigtiff": "if_safer"}
        if "PREDICTOR" in structure:
            profile["predictor"] = int(structure["PREDICTOR"])
        with rasterio.open(args.out, "w", **profile) as dst:
            for row in range(0, src.height, 1024):
                for col in range(0, src.width, 1024):
                    window = Window(col, row, min(1024, src.width - col),
                                    min(1024, src.height - row))
                    dst.write(src.read(window=window), window=window)


if __name__ == "__main__":
    main()
