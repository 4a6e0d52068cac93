"""What curvatures cost, and that the other products cost what they did; file to file.

On a synthetic projected DEM (bench/make_dem.py, made if missing), commands run
interleaved repeat by repeat, so that the machine's drift hits every one alike:

1. Curvatures against the slope of the same fit: ``terrain slope --window W``;
   ``terrain curvature --kind profile --window W``; five kinds in one run
   (``--kind profile --kind plan --kind mean --kind gaussian --kind maximal``,
   one read of the DEM, five bands); and the same five kinds as five runs of one
   kind each (five reads), their times summed.
2. With ``--baseline DIR`` (another checkout, e.g. main's, with its kernel built):
   ``terrain slope`` (central, the default), ``--window 5`` and ``--window 15``,
   on the projected DEM and on the same terrain on a lat/lon grid, run by this
   checkout's ``cli.py`` and by DIR's: the products other than curvature must
   cost what they did.

Prints medians of the wall and CPU time (user + system), their ratios within the
table, and the peak RSS (GNU time's, the largest over the repeats).

Usage: ``python bench/curvature.py [--size 4096] [--window 5] [--repeats 3]
[--baseline DIR] [--workdir DIR]``
"""

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from make_dem import write_dem
from run import CLI, GNU_TIME, machine
from window import measure

KINDS = ["profile", "plan", "mean", "gaussian", "maximal"]


def interleaved(runs: dict, repeats: int, workdir: Path, out: Path) -> dict:
    """{name: (median wall, median CPU, max RSS)}; a run is a list of commands whose
    times add up (several runs of one kind each)."""
    results = {name: [] for name in runs}
    for _ in range(repeats):
        for name, commands in runs.items():
            total = [0.0, 0.0, 0.0]
            for command in commands:
                out.unlink(missing_ok=True)
                wall, cpu, rss = measure(command, workdir)
                total = [total[0] + wall, total[1] + cpu, max(total[2], rss)]
            results[name].append(total)
    out.unlink(missing_ok=True)
    return {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
                   max(r[2] for r in rs)) for name, rs in results.items()}


def table(title: str, result: dict, base: str) -> list[str]:
    wall0, cpu0, _ = result[base]
    lines = [f"| {title} | wall s | / {base} | CPU s | / {base} | peak RSS MiB |",
             "|---|---|---|---|---|---|"]
    return lines + [f"| {name} | {wall:.2f} | {wall / wall0:.2f} | {cpu:.2f} | "
                    f"{cpu / cpu0:.2f} | {rss:.0f} |" for name, (wall, cpu, rss) in result.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--window", default="5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout (its cli.py, its built kernel)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    args = parser.parse_args()
    if shutil.which(GNU_TIME) is None:
        raise SystemExit(f"bench: {GNU_TIME} not found (apt-get install time)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    out = args.workdir / "curvature_out.tif"
    dem = args.workdir / f"dem{args.size}.tif"
    if not dem.exists():
        write_dem(dem, args.size)
    here = [sys.executable, CLI]
    w = ["--window", args.window]
    runs = {
        f"slope --window {args.window}": [[*here, "slope", dem, out, "-q", *w]],
        "curvature, 1 kind": [[*here, "curvature", dem, out, "-q", "--kind", "profile", *w]],
        f"curvature, {len(KINDS)} kinds in one run": [
            [*here, "curvature", dem, out, "-q", *w,
             *(a for kind in KINDS for a in ("--kind", kind))]],
        f"curvature, {len(KINDS)} runs of 1 kind": [
            [*here, "curvature", dem, out, "-q", "--kind", kind, *w] for kind in KINDS],
    }
    lines = table(f"{args.size}² float32, projected", interleaved(
        runs, args.repeats, args.workdir, out), f"slope --window {args.window}")
    if args.baseline is not None:
        there = [sys.executable, args.baseline.resolve() / "cli.py"]
        for grid, geographic in (("projected", False), ("lat/lon", True)):
            grid_dem = args.workdir / f"dem{args.size}{'_latlon' if geographic else ''}.tif"
            if not grid_dem.exists():
                write_dem(grid_dem, args.size, geographic=geographic)
            runs = {}
            for extra in ([], ["--window", "5"], ["--window", "15"]):
                label = " ".join(extra) or "(central)"
                runs[f"{grid}: baseline slope {label}"] = [
                    [*there, "slope", grid_dem, out, "-q", *extra]]
                runs[f"{grid}: this slope {label}"] = [
                    [*here, "slope", grid_dem, out, "-q", *extra]]
            result = interleaved(runs, args.repeats, args.workdir, out)
            lines += ["", f"| {args.size}² {grid}, file to file | baseline wall s | this wall s "
                      "| this / baseline (wall) | this / baseline (CPU) |",
                      "|---|---|---|---|---|"]
            for extra in ("(central)", "--window 5", "--window 15"):
                base = result[f"{grid}: baseline slope {extra}"]
                this = result[f"{grid}: this slope {extra}"]
                lines.append(f"| slope {extra} | {base[0]:.2f} | {this[0]:.2f} | "
                             f"{this[0] / base[0]:.2f} | {this[1] / base[1]:.2f} |")
    print("\n".join(lines))
    print(f"\nMachine: {machine()}.")
    baseline = f" --baseline {args.baseline}" if args.baseline else ""
    print(f"Command: `python bench/curvature.py --size {args.size} --window {args.window} "
          f"--repeats {args.repeats}{baseline}`")


if __name__ == "__main__":
    main()
