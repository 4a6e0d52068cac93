"""Tile set against single file: what reading a mosaic's halos from neighbours costs.

Times, interleaved repeat by repeat (so that the machine's drift hits every
command alike), ``terrain slope DEM OUT`` on a synthetic DEM and
``terrain slope TILES --out-dir DIR`` on the same DEM cut into N x N tiles,
both with ``--jobs``, and prints the medians of the wall time and of the CPU
time (user + system, every process and thread: what a shared machine's other
work disturbs least), their time per pixel, their ratios to the single file,
and the peak RSS (GNU time's, of the largest process, over the repeats).

With ``--baseline DIR`` (another checkout with its kernel built, e.g. main's),
the same two commands run by DIR's ``cli.py`` too, in the same rounds: the
ratios before and after a change, measured side by side.

Usage: ``python bench/tiles.py [--size 8192] [--tiles 8] [--repeats 3] [--jobs 2]
[--baseline DIR] [--workdir DIR]`` (8192 / 8 gives 64 tiles of 1024²).
"""

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from make_dem import cut_tiles, write_dem
from run import CLI, GNU_TIME, machine
from window import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--tiles", type=int, default=8, help="N for N x N tiles")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout (its cli.py, its built kernel)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    args = parser.parse_args()
    if shutil.which(GNU_TIME) is None:
        raise SystemExit(f"bench: {GNU_TIME} not found (apt-get install time)")

    args.workdir.mkdir(parents=True, exist_ok=True)
    dem = args.workdir / f"dem{args.size}.tif"
    folder = args.workdir / f"dem{args.size}_tiles{args.tiles}"
    if not dem.exists():
        write_dem(dem, args.size)
    if not folder.exists():
        cut_tiles(dem, folder, args.tiles)
    out_file, out_dir = args.workdir / "tiles_bench_single.tif", args.workdir / "tiles_bench_out"
    checkouts = {"": CLI}
    if args.baseline is not None:
        checkouts = {"baseline: ": args.baseline.resolve() / "cli.py", "this: ": CLI}
    runs = {}
    for label, cli in checkouts.items():
        common = ["-q", "--overwrite", "--jobs", args.jobs]
        runs[f"{label}single file"] = [sys.executable, cli, "slope", dem, out_file, *common]
        runs[f"{label}{args.tiles ** 2} tiles"] = [sys.executable, cli, "slope", folder,
                                                   "--out-dir", out_dir, *common]
    results = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, command in runs.items():
            results[name].append(measure(command, args.workdir))
    shutil.rmtree(out_dir, ignore_errors=True)
    out_file.unlink(missing_ok=True)

    pixels = args.size**2 / 1e6
    print(f"| {args.size}² DEM, --jobs {args.jobs} | wall s | s per Mpx | / single file "
          "| CPU s | / single file | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for label in checkouts:
        single = results[f"{label}single file"]
        wall0 = statistics.median(r[0] for r in single)
        cpu0 = statistics.median(r[1] for r in single)
        for name in (f"{label}single file", f"{label}{args.tiles ** 2} tiles"):
            wall = statistics.median(r[0] for r in results[name])
            cpu = statistics.median(r[1] for r in results[name])
            rss = max(r[2] for r in results[name])
            print(f"| {name} | {wall:.2f} | {wall / pixels:.4f} | {wall / wall0:.2f} | "
                  f"{cpu:.2f} | {cpu / cpu0:.2f} | {rss:.0f} |")
    print("\nEach round's tile set / single file (wall; CPU): " + "; ".join(
        f"{label or 'this: '}" + ", ".join(
            f"{t[0] / s[0]:.2f}; {t[1] / s[1]:.2f}"
            for s, t in zip(results[f"{label}single file"],
                            results[f"{label}{args.tiles ** 2} tiles"], strict=True))
        for label in checkouts))
    print(f"\nMachine: {machine()}.")
    baseline = f" --baseline {args.baseline}" if args.baseline else ""
    print(f"Command: `python bench/tiles.py --size {args.size} --tiles {args.tiles} "
          f"--repeats {args.repeats} --jobs {args.jobs}{baseline}`")


if __name__ == "__main__":
    main()
