"""The window fit's cost: ``terrain slope --window N`` against the default, file to file.

For a projected DEM and the same terrain on a lat/lon grid (bench/make_dem.py,
with ``--geographic``: 1/3 arc-second pixels), each made if missing, runs
interleaved repeat by repeat, so that the machine's drift hits every command alike:

- ``terrain slope DEM OUT -q`` (the central method, the default);
- ``terrain slope DEM OUT -q --window 5`` and ``--window 15``.

Prints a table of medians of the wall time and of the CPU time (user + system,
every thread: what a shared machine's other work disturbs least), their ratios
to the default on the same DEM (within one run), and the peak RSS (GNU time's
maximum resident set size of each command, the largest over the repeats).

Usage: ``python bench/window.py [--size 8192] [--windows 5 15] [--repeats 3]
[--holes] [--workdir DIR]``
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from make_dem import write_dem
from run import CLI, GNU_TIME, machine


def measure(command: list, workdir: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one run."""
    report = workdir / "time.txt"
    start = time.perf_counter()
    subprocess.run([GNU_TIME, "-f", "%M %U %S", "-o", report, *map(str, command)], check=True)
    wall = time.perf_counter() - start
    rss, user, system = report.read_text().split()[-3:]
    return wall, float(user) + float(system), int(rss) / 1024


def interleaved(runs: dict, repeats: int, workdir: Path, *outs: Path) -> dict:
    """{name: (median wall, median CPU, max RSS)}, the commands run in turn ``repeats`` times;
    ``outs``, the files they write, removed before each command and at the end."""
    results = {name: [] for name in runs}
    for _ in range(repeats):
        for name, command in runs.items():
            for out in outs:
                out.unlink(missing_ok=True)
            results[name].append(measure(command, workdir))
    for out in outs:
        out.unlink(missing_ok=True)
    return {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
                   max(r[2] for r in rs)) for name, rs in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--windows", nargs="+", default=["5", "15"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--holes", action="store_true",
                        help="DEMs with a few nodata holes (windows there solve 6x6)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    args = parser.parse_args()
    if shutil.which(GNU_TIME) is None:
        raise SystemExit(f"bench: {GNU_TIME} not found (apt-get install time)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    out = args.workdir / "window_out.tif"
    holes = "_holes" if args.holes else ""
    lines = [f"| {args.size}² float32, file to file | wall s | / default | CPU s | / default "
             "| peak RSS MiB |", "|---|---|---|---|---|---|"]
    for grid, geographic in (("projected", False), ("lat/lon", True)):
        dem = args.workdir / f"dem{args.size}{holes}{'_latlon' if geographic else ''}.tif"
        if not dem.exists():
            write_dem(dem, args.size, holes=args.holes, geographic=geographic)
        base = [sys.executable, CLI, "slope", dem, out, "-q"]
        runs = {f"{grid}: terrain slope (central, the default)": base}
        runs.update({f"{grid}: terrain slope --window {w}": [*base, "--window", w]
                     for w in args.windows})
        result = interleaved(runs, args.repeats, args.workdir, out)
        wall0, cpu0, _ = next(iter(result.values()))
        lines += [f"| {name} | {wall:.2f} | {wall / wall0:.2f} | {cpu:.2f} | {cpu / cpu0:.2f} "
                  f"| {rss:.0f} |" for name, (wall, cpu, rss) in result.items()]
    print("\n".join(lines))
    print(f"\nMachine: {machine()}.")
    print(f"Command: `python bench/window.py --size {args.size} --windows "
          f"{' '.join(args.windows)} --repeats {args.repeats}{' --holes' if args.holes else ''}`")


if __name__ == "__main__":
    main()
