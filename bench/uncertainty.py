"""What the standard errors cost: ``terrain slope --uncertainty`` against plain slope.

On a projected DEM (bench/make_dem.py, made if missing; ``--holes`` adds nodata
holes), runs interleaved repeat by repeat, so that the machine's drift hits
every command alike:

- ``terrain slope DEM OUT -q`` (the central method, the default);
- ``terrain slope DEM OUT -q --z-sigma 1 --uncertainty SE`` (a second file written);
- with ``--windows N ...``: the same pair with ``--window N``.

Prints a table of medians of the wall time and of the CPU time (user + system,
every thread: what a shared machine's other work disturbs least), their ratios
to the same command without standard errors (within one run; issue 18 asks at
most 1.5x), and the peak RSS (GNU time's maximum resident set size of each
command, the largest over the repeats).

Usage: ``python bench/uncertainty.py [--size 8192] [--repeats 3] [--windows 5]
[--units ratio|percent|degrees|radians] [--holes] [--workdir DIR]``
"""

import argparse
import shutil
import sys
from pathlib import Path

from make_dem import write_dem
from run import CLI, GNU_TIME, machine
from window import interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--windows", nargs="*", default=[])
    parser.add_argument("--holes", action="store_true", help="DEMs with a few nodata holes")
    parser.add_argument("--units", default="ratio",
                        help="slope units: the standard errors of degrees vary pixel by "
                             "pixel (1 / (1 + S^2)), and compress less than m/m's")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    args = parser.parse_args()
    if shutil.which(GNU_TIME) is None:
        raise SystemExit(f"bench: {GNU_TIME} not found (apt-get install time)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    out, se = args.workdir / "uncertainty_out.tif", args.workdir / "uncertainty_se.tif"
    holes = "_holes" if args.holes else ""
    dem = args.workdir / f"dem{args.size}{holes}.tif"
    if not dem.exists():
        write_dem(dem, args.size, holes=args.holes)
    runs, pairs = {}, []
    for window in [None, *args.windows]:
        base = [sys.executable, CLI, "slope", dem, out, "-q", "--units", args.units]
        label = f"terrain slope --units {args.units}"
        if window is not None:
            base += ["--window", window]
            label += f" --window {window}"
        plain, with_se = label, f"{label} --z-sigma 1 --uncertainty SE"
        runs[plain] = base
        runs[with_se] = [*base, "--z-sigma", "1", "--uncertainty", se]
        pairs.append((plain, with_se))
    result = interleaved(runs, args.repeats, args.workdir, out, se)
    lines = [f"| {args.size}² float32{' with holes' if args.holes else ''}, file to file "
             "| wall s | / without | CPU s | / without | peak RSS MiB |",
             "|---|---|---|---|---|---|"]
    for plain, with_se in pairs:
        wall0, cpu0, _ = result[plain]
        for name in (plain, with_se):
            wall, cpu, rss = result[name]
            lines.append(f"| {name} | {wall:.2f} | {wall / wall0:.2f} | {cpu:.2f} "
                         f"| {cpu / cpu0:.2f} | {rss:.0f} |")
    print("\n".join(lines))
    print(f"\nMachine: {machine()}.")
    print(f"Command: `python bench/uncertainty.py --size {args.size} --repeats {args.repeats}"
          f" --units {args.units}"
          f"{' --windows ' + ' '.join(args.windows) if args.windows else ''}"
          f"{' --holes' if args.holes else ''}`")


if __name__ == "__main__":
    main()
