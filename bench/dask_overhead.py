"""What Dask itself costs the in-memory comparison: the accessor against its own scaffolding.

On the DataArray of bench/in_memory.py (4096² float32, 1024² chunks), times,
interleaved repeat by repeat after one warm-up, with Dask's threaded scheduler
and with its synchronous one (one thread: what terrain adds to the floor there
is its kernel's time, nothing else):

- a ``map_blocks`` copy (Dask's round trip: chunks out, one array back);
- an identity function through ``map_overlap`` with terrain's halo (the floor);
- ``da.terrain.slope()`` in ratio and in degrees, and xarray-spatial's slope;
- the kernel alone on the whole array, one thread (``terrain.core.fused``).

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
from terrain import core
from terrain.core import HALO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    args = parser.parse_args()
    lazy = dem(args.size, args.workdir).chunk({"y": args.chunk, "x": args.chunk})
    floor = f"map_overlap identity, depth {HALO}"
    runs = {
        "map_blocks copy": lambda: dsa.map_blocks(np.copy, lazy.data),
        floor: lambda: dsa.map_overlap(lambda z: z, lazy.data, depth=HALO, boundary="none"),
        "terrain slope (ratio)": lambda: lazy.terrain.slope().data,
        "terrain slope (degrees)": lambda: lazy.terrain.slope(units="degrees").data,
        "xarray-spatial slope (degrees)": lambda: xrspatial.slope(lazy).data,
    }
    z = lazy.values
    kernels = {f"kernel alone, {units}, 1 thread": lambda units=units: core.fused(
        z, core.Holes(nodata=-9999.0, finite=True), row=-10.0, col=10.0, product="slope",
        units=units, dtype=np.float32) for units in ("ratio", "degrees")}
    schedulers = ("threads", "synchronous")
    times = {(name, s): [] for name in [*runs, *kernels] for s in schedulers}
    for repeat in range(args.repeats + 1):  # the first is a warm-up
        for scheduler in schedulers:
            for name, run in [*runs.items(), *kernels.items()]:
                start = time.perf_counter()
                result = run()
                if name in runs:
                    result.compute(scheduler=scheduler)
                if repeat:
                    times[name, scheduler].append(time.perf_counter() - start)
    median = {key: statistics.median(v) for key, v in times.items()}
    print(f"| {args.size}² float32, Dask {args.chunk}² chunks | threads s | / xarray-spatial "
          "| / floor | synchronous s | / floor |")
    print("|---|---|---|---|---|---|")
    for name in [*runs, *kernels]:
        t, s1 = median[name, "threads"], median[name, "synchronous"]
        print(f"| {name} | {t:.3f} | {t / median['xarray-spatial slope (degrees)', 'threads']:.2f} "
              f"| {t / median[floor, 'threads']:.2f} | {s1:.3f} "
              f"| {s1 / median[floor, 'synchronous']:.2f} |")
    print(f"\nVersions: {env.versions()}.")


if __name__ == "__main__":
    main()
