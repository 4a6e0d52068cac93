"""In memory: the accessor against xarray-spatial on one DataArray, eager and on Dask.

Loads the synthetic DEM of bench/make_dem.py (float32, UTM 33N, 10 m pixels;
made if missing) into memory as a DataArray, and times, interleaved repeat by
repeat after one warm-up run of each:

- ``da.terrain.slope(units="degrees")`` and ``xrspatial.slope(da)`` (degrees:
  the same product), and ``da.terrain.slope()`` (ratio, terrain's default);
- the same on ``da.chunk(CHUNK)``, computed with Dask's threaded scheduler.

Prints a Markdown table of medians and ratios to xarray-spatial.

Usage: ``python bench/in_memory.py [--size 4096] [--chunk 1024] [--repeats 5]
[--workdir DIR]``
"""

import argparse
import statistics
import time
from pathlib import Path

import rioxarray
import xarray as xr
import xrspatial
from make_dem import write_dem

import terrain  # noqa: F401 - the accessor


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


def table(size: int, chunk: int, repeats: int, workdir: Path) -> str:
    eager = dem(size, workdir)
    lazy = eager.chunk({"y": chunk, "x": chunk})
    runs = {
        "terrain slope (degrees)": lambda da: da.terrain.slope(units="degrees"),
        "terrain slope (ratio, the default)": lambda da: da.terrain.slope(),
        "xarray-spatial slope (degrees)": xrspatial.slope,
    }
    times = {(name, kind): [] for name in runs for kind in ("eager", "dask")}
    for repeat in range(repeats + 1):  # the first is a warm-up
        for name, run in runs.items():
            for kind, da in (("eager", eager), ("dask", lazy)):
                seconds = timed(lambda run=run, da=da: run(da))
                if repeat:
                    times[name, kind].append(seconds)
    median = {key: statistics.median(v) for key, v in times.items()}
    peer = "xarray-spatial slope (degrees)"
    lines = [f"| {size}² float32 in memory | eager s | / xarray-spatial | Dask {chunk}² s "
             "| / xarray-spatial |", "|---|---|---|---|---|"]
    for name in runs:
        e, d = median[name, "eager"], median[name, "dask"]
        lines.append(f"| {name} | {e:.3f} | {e / median[peer, 'eager']:.2f} | {d:.3f} "
                     f"| {d / median[peer, 'dask']:.2f} |")
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
