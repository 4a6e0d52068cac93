"""terrain against its peers and its floor, side by side; every table in one run.

1. Start-up: ``terrain slope`` on the sample DEM against ``python -c "import
   rasterio"``.
2. In memory (bench/in_memory.py, in the benchmarks' own environment with
   xarray-spatial 0.10.20, bench/env.py): the accessor against xarray-spatial
   and the Dask floor on a 4096² float32 DataArray, eager and on Dask with
   1024² chunks.
3. File to file, for each size: a synthetic DEM (bench/make_dem.py, made if
   missing), and for DEFLATE (terrain's default) and ZSTD (``--co
   COMPRESS=ZSTD``):

   - ``terrain slope DEM OUT -q`` (all cores, streaming);
   - the I/O floor (bench/io_floor.py): a plain rasterio copy of terrain's own
     output with the same creation options, decoding and encoding only;
   - ``gdaldem slope -alg ZevenbergenThorne -compute_edges`` with the same
     creation options (tiled 256², the codec, PREDICTOR=3, NUM_THREADS).

Commands run interleaved, repeat by repeat, so that the machine's drift hits
every one alike; the tables show medians, ratios within one run and the peak
RSS (GNU time's maximum resident set size of the command).

Usage: ``python bench/run.py [--sizes 8192 16384] [--repeats 3] [--workdir DIR]
[--write FILE]``
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

import env
import numpy as np
import rasterio
from make_dem import write_dem

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLI = ROOT / "cli.py"
SAMPLE = ROOT / "data" / "jacksboro.tif"
GNU_TIME = "/usr/bin/time"  # Debian's package "time"
THREADS = len(os.sched_getaffinity(0))
#: Creation options terrain writes with, for gdaldem: tiled 256², a predictor.
GDAL_CREATION = ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "PREDICTOR=3",
                 "BIGTIFF=IF_SAFER", f"NUM_THREADS={THREADS}"]
CODECS = ("DEFLATE", "ZSTD")


def measure(command: list, workdir: Path, env: dict | None = None
            ) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one run of ``command``.

    The CPU time and RSS come from GNU time, not from this process's wait4: a
    forked child's high-water mark starts at this (large) process's RSS.
    """
    report = workdir / "rss.txt"
    start = time.perf_counter()
    subprocess.run([GNU_TIME, "-f", "%U %S %M", "-o", report, *map(str, command)], check=True,
                   env=env)
    wall = time.perf_counter() - start
    user, system, rss = report.read_text().split()[-3:]
    return wall, float(user) + float(system), int(rss) / 1024  # KiB


def interleaved(runs: dict, repeats: int, workdir: Path, out: Path) -> dict:
    """{name: (median wall, median CPU, max RSS)} of each command, run in turn ``repeats`` times."""
    results = {name: [] for name in runs}
    for _ in range(repeats):
        for name, command in runs.items():
            out.unlink(missing_ok=True)
            results[name].append(measure(command, workdir))
    out.unlink(missing_ok=True)
    return {name: (statistics.median(w for w, _, _ in r), statistics.median(c for _, c, _ in r),
                   max(m for _, _, m in r))
            for name, r in results.items()}


def startup(repeats: int, workdir: Path) -> str:
    out = workdir / "sample_slope.tif"
    runs = {
        "python -c 'import rasterio'": [sys.executable, "-c", "import rasterio"],
        "terrain slope data/jacksboro.tif OUT": [sys.executable, CLI, "slope", SAMPLE, out,
                                                 "-q"],
    }
    subprocess.run([sys.executable, CLI, "slope", SAMPLE, out, "-q"], check=True)  # warm
    result = interleaved(runs, repeats, workdir, out)
    floor = result["python -c 'import rasterio'"][0]
    lines = ["| start-up (sample DEM, 403x344) | wall s | above `import rasterio` s |",
             "|---|---|---|"]
    lines += [f"| {name} | {wall:.2f} | {wall - floor:+.2f} |"
              for name, (wall, _, _) in result.items()]
    return "\n".join(lines)


def file_to_file(size: int, repeats: int, workdir: Path) -> str:
    dem = workdir / f"dem{size}.tif"
    if not dem.exists():
        write_dem(dem, size)
    out = workdir / "bench_out.tif"
    runs = {}
    for codec in CODECS:
        co = [] if codec == "DEFLATE" else ["--co", f"COMPRESS={codec}"]
        terrain = [sys.executable, CLI, "slope", dem, out, "-q", *co]
        reference = workdir / f"terrain_{codec.lower()}_{size}.tif"  # the floor's input
        if not reference.exists():
            subprocess.run([*terrain[:4], reference, "-q", *co], check=True)
        gdal_co = [arg for option in [*GDAL_CREATION, f"COMPRESS={codec}"]
                   for arg in ("-co", option)]
        runs[f"terrain slope, {codec}"] = terrain
        runs[f"I/O floor (rasterio copy of terrain's output), {codec}"] = [
            sys.executable, HERE / "io_floor.py", reference, out]
        runs[f"gdaldem slope -alg ZevenbergenThorne -compute_edges, {codec}"] = [
            "gdaldem", "slope", "-q", "-alg", "ZevenbergenThorne", "-compute_edges",
            *gdal_co, dem, out]
    result = interleaved(runs, repeats, workdir, out)
    lines = [f"| {size}² float32, file to file | wall s | / I/O floor | / gdaldem | CPU s "
             "| CPU / I/O floor | peak RSS MiB |", "|---|---|---|---|---|---|---|"]
    for name, (wall, cpu, rss) in result.items():
        codec = name.rsplit(", ", 1)[1]
        floor, floor_cpu, _ = result[f"I/O floor (rasterio copy of terrain's output), {codec}"]
        gdal = result[f"gdaldem slope -alg ZevenbergenThorne -compute_edges, {codec}"][0]
        lines.append(f"| {name} | {wall:.2f} | {wall / floor:.2f} | {wall / gdal:.2f} "
                     f"| {cpu:.2f} | {cpu / floor_cpu:.2f} | {rss:.0f} |")
    return "\n".join(lines)


def in_memory(size: int, repeats: int, workdir: Path) -> str:
    """bench/in_memory.py in the benchmarks' own environment (bench/env.py)."""
    done = subprocess.run([env.python(workdir), HERE / "in_memory.py", "--size", str(size),
                           "--repeats", str(repeats), "--workdir", workdir],
                          check=True, capture_output=True, text=True)
    return done.stdout.strip()


def machine() -> str:
    with open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info
                    if line.startswith("model name")), platform.processor())
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gdal = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True).stdout
    return (f"{THREADS} cores ({cpu}), {ram:.0f} GiB RAM, Python "
            f"{platform.python_version()}, numpy {np.__version__}, rasterio's GDAL "
            f"{rasterio.__gdal_version__}, gdaldem from {gdal.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192, 16384])
    parser.add_argument("--memory-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    parser.add_argument("--write", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    for exe, package in (("gdaldem", "gdal-bin"), (GNU_TIME, "time")):
        if shutil.which(exe) is None:
            raise SystemExit(f"bench: {exe} not found (apt-get install {package})")
    args.workdir.mkdir(parents=True, exist_ok=True)
    tables = [startup(max(5, args.repeats), args.workdir),
              in_memory(args.memory_size, max(5, args.repeats), args.workdir)]
    tables += [file_to_file(size, args.repeats, args.workdir) for size in args.sizes]
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
