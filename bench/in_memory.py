"""In memory: the accessor against xarray-spatial on one DataArray, eager and on Dask.

Runs in the benchmarks' own environment (bench/env.py: xarray-spatial 0.10.20,
installed there on first use). Loads the synthetic DEM of bench/make_dem.py
(float32, UTM 33N, 10 m pixels; made if missing) into memory as a DataArray,
and times, interleaved repeat by repeat after one warm-up run of each:

- ``da.terrain.slope(units="degrees")`` and ``xrspatial.slope(da)`` (degrees:
  the same product), and ``da.terrain.slope()`` (ratio, terrain's default);
- the same on ``da.chunk(CHUNK)``, computed with Dask's threaded scheduler;
- the Dask floor: an identity function through ``dask.array.map_overlap`` with
  the same chunks and terrain's halo, building the graph and computing it as
  the others do.

Prints a Markdown table of medians and ratios to xarray-spatial and to the Dask
floor, and the versions every row used.

Usage: ``python bench/in_memory.py [--size 4096] [--chunk 1024] [--repeats 5]
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
import rioxarray
import xarray as xr
import xrspatial
from make_dem import write_dem

import terrain  # the accessor
from terrain.core import HALO


def dem(size: int, workdir: Path) -> xr.DataArray:
    path = workdir / f"dem{size}.tif"
    if not path.exists():
        write_dem(path, size)
    return rioxarray.open_rasterio(path).squeeze("band", drop=True).load()


def timed(run) -> float:
    start = time.perf_counter()
    result = run()
    if hasattr(result.data, "dask"):
        result.compute(scheduler="threads")
    return time.perf_counter() - start


def floor(da: xr.DataArray):
    """The Dask floor: the identity through map_overlap, terrain's chunks and halo."""
    return xr.DataArray(dsa.map_overlap(lambda z: z, da.data, depth=HALO, boundary="none"))


def table(size: int, chunk: int, repeats: int, workdir: Path) -> str:
    eager = dem(size, workdir)
    lazy = eager.chunk({"y": chunk, "x": chunk})
    ours, peer = f"terrain {terrain.__version__}", f"xarray-spatial {xrspatial.__version__}"
    runs = {
        f"{ours} slope (degrees)": (lambda da: da.terrain.slope(units="degrees"), True),
        f"{ours} slope (ratio, the default)": (lambda da: da.terrain.slope(), True),
        f"{peer} slope (degrees)": (xrspatial.slope, True),
        f"Dask floor: identity through map_overlap, depth {HALO}": (floor, False),
    }
    times = {(name, kind): [] for name in runs for kind in ("eager", "dask")}
    for repeat in range(repeats + 1):  # the first is a warm-up
        for name, (run, eager_too) in runs.items():
            for kind, da in (("eager", eager), ("dask", lazy)):
                if kind == "eager" and not eager_too:
                    continue
                seconds = timed(lambda run=run, da=da: run(da))
                if repeat:
                    times[name, kind].append(seconds)
    median = {key: statistics.median(v) for key, v in times.items() if v}
    xrs = f"{peer} slope (degrees)"
    base = median[f"Dask floor: identity through map_overlap, depth {HALO}", "dask"]
    lines = [f"| {size}² float32 in memory | eager s | / xarray-spatial | Dask {chunk}² s "
             "| / xarray-spatial | / Dask floor |", "|---|---|---|---|---|---|"]
    for name in runs:
        e, d = median.get((name, "eager")), median[name, "dask"]
        eager_cells = (f"{e:.3f} | {e / median[xrs, 'eager']:.2f}" if e is not None
                       else " | ")
        lines.append(f"| {name} | {eager_cells} | {d:.3f} | {d / median[xrs, 'dask']:.2f} "
                     f"| {d / base:.2f} |")
    lines.append("")
    lines.append(f"Versions: {env.versions()}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(table(args.size, args.chunk, args.repeats, args.workdir))


if __name__ == "__main__":
    main()
