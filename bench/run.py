"""terrain slope against its peers, side by side on synthetic DEMs.

For each size, makes a synthetic DEM (bench/make_dem.py) if missing, then
runs, interleaved repeat by repeat so that the machine's drift hits every
tool alike:

- ``terrain slope DEM OUT -q`` (defaults: all cores, streaming);
- ``gdaldem slope -alg ZevenbergenThorne -compute_edges`` with the same
  creation options (tiled, DEFLATE, PREDICTOR=3);
- the I/O floor (bench/io_floor.py): a plain rasterio read and write;
- xarray-spatial's slope (bench/xrspatial_slope.py), if installed and if the
  DEM fits in memory the way it needs.

Prints, per size, the median wall time, the peak RSS (GNU time's maximum
resident set size of the command) and the ratios to gdaldem and to the I/O
floor.

Usage: ``python bench/run.py --sizes 8192 16384 --repeats 3 [--workdir DIR]``
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import rasterio
from make_dem import write_dem

HERE = Path(__file__).resolve().parent
CLI = HERE.parent / "cli.py"
#: xarray-spatial holds the DEM and several float64 temporaries in memory.
XRSPATIAL_BYTES_PER_PIXEL = 40
GNU_TIME = "/usr/bin/time"  # Debian's package "time"
CREATION = ["-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=3",
            "-co", "BIGTIFF=IF_SAFER"]


def measure(command: list, workdir: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of ``command``.

    The RSS comes from GNU time, not from this process's wait4: a forked
    child's high-water mark starts at this (large) process's RSS.
    """
    rss = workdir / "rss.txt"
    start = time.perf_counter()
    subprocess.run([GNU_TIME, "-f", "%M", "-o", rss, *command], check=True)
    wall = time.perf_counter() - start
    return wall, int(rss.read_text().split()[-1]) / 1024  # KiB


def tools(dem: Path, out: Path, size: int) -> dict:
    runs = {
        "terrain slope": [sys.executable, CLI, "slope", dem, out, "-q"],
        "gdaldem ZevenbergenThorne": ["gdaldem", "slope", "-q", "-alg", "ZevenbergenThorne",
                                      "-compute_edges", *CREATION, dem, out],
        "rasterio read+write (I/O floor)": [sys.executable, HERE / "io_floor.py", dem, out],
    }
    for exe, package in (("gdaldem", "gdal-bin"), (GNU_TIME, "time")):
        if shutil.which(exe) is None:
            raise SystemExit(f"bench: {exe} not found (apt-get install {package})")
    try:
        import xrspatial  # noqa: F401
    except ImportError:
        print("bench: xarray-spatial not installed: skipped")
        return runs
    need = size * size * XRSPATIAL_BYTES_PER_PIXEL
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > 0.4 * ram:
        print(f"bench: xarray-spatial skipped at {size}²: it would need about "
              f"{need / 2**30:.0f} GiB of the {ram / 2**30:.0f} GiB")
    else:
        runs["xarray-spatial slope"] = [sys.executable, HERE / "xrspatial_slope.py", dem, out]
    return runs


def machine() -> str:
    with open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info
                    if line.startswith("model name")), platform.processor())
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gdal = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True).stdout
    return (f"{len(os.sched_getaffinity(0))} cores ({cpu}), {ram:.0f} GiB RAM, "
            f"Python {platform.python_version()}, rasterio's GDAL {rasterio.__gdal_version__}, "
            f"gdaldem from {gdal.strip()}")


def bench(size: int, repeats: int, workdir: Path) -> str:
    dem = workdir / f"dem{size}.tif"
    if not dem.exists():
        write_dem(dem, size)
    out = workdir / "bench_out.tif"
    runs = tools(dem, out, size)
    results = {name: [] for name in runs}
    for _ in range(repeats):
        for name, command in runs.items():
            out.unlink(missing_ok=True)
            results[name].append(measure(command, workdir))
    out.unlink(missing_ok=True)
    wall = {name: statistics.median(w for w, _ in r) for name, r in results.items()}
    rss = {name: max(m for _, m in r) for name, r in results.items()}
    gdal, floor = wall["gdaldem ZevenbergenThorne"], wall["rasterio read+write (I/O floor)"]
    lines = [f"| {size}² float32 | wall s (median of {repeats}) | peak RSS MiB "
             "| / gdaldem | / I/O floor |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {wall[name]:.2f} | {rss[name]:.0f} | {wall[name] / gdal:.2f} "
              f"| {wall[name] / floor:.2f} |" for name in runs]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192, 16384])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    parser.add_argument("--write", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    tables = [bench(size, args.repeats, args.workdir) for size in args.sizes]
    report = "\n\n".join([
        *tables,
        f"Machine: {machine()}.",
        f"Command: `python bench/run.py --sizes {' '.join(map(str, args.sizes))} "
        f"--repeats {args.repeats}`",
    ])
    print(report)
    if args.write:
        args.write.write_text(report + "\n")


if __name__ == "__main__":
    main()
