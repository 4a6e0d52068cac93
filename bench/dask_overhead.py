"""What Dask itself costs the in-memory comparison: the accessor against its own scaffolding.

On the DataArray of bench/in_memory.py (4096² float32, 1024² chunks), times,
interleaved repeat by repeat after one warm-up, with Dask's threaded scheduler:

- a ``map_blocks`` copy (Dask's round trip: chunks out, one array back);
- an identity function through ``map_overlap`` with terrain's halo;
- ``da.terrain.slope()`` (ratio) and xarray-spatial's slope.

Runs in the benchmarks' own environment (bench/env.py), made on first use.

Usage: ``python bench/dask_overhead.py [--size 4096] [--chunk 1024] [--repeats 7]
[--workdir DIR]``
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import env

if __name__ == "__main__":
    env.run_inside(Path(sys.argv[sys.argv.index("--workdir") + 1]) if "--workdir" in sys.argv
                   else env.WORKDIR)

import dask.array as dsa
import numpy as np
import xrspatial
from in_memory import dem

import terrain  # noqa: F401 - the accessor
from terrain.core import HALO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    args = parser.parse_args()
    lazy = dem(args.size, args.workdir).chunk({"y": args.chunk, "x": args.chunk})
    runs = {
        "map_blocks copy": lambda: dsa.map_blocks(np.copy, lazy.data),
        f"map_overlap identity, depth {HALO}": lambda: dsa.map_overlap(
            lambda z: z, lazy.data, depth=HALO, boundary="none"),
        "terrain slope (ratio)": lambda: lazy.terrain.slope().data,
        "xarray-spatial slope (degrees)": lambda: xrspatial.slope(lazy).data,
    }
    times = {name: [] for name in runs}
    for repeat in range(args.repeats + 1):  # the first is a warm-up
        for name, run in runs.items():
            start = time.perf_counter()
            run().compute(scheduler="threads")
            if repeat:
                times[name].append(time.perf_counter() - start)
    peer = statistics.median(times["xarray-spatial slope (degrees)"])
    print(f"| {args.size}² float32, Dask {args.chunk}² chunks | s | / xarray-spatial |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {median / peer:.2f} |")
    print(f"\nVersions: {env.versions()}.")


if __name__ == "__main__":
    main()
