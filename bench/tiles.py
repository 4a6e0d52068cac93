"""Tile set against single file: the cost of reading halos from neighbours.

Times, interleaved in one run, ``terrain slope DEM OUT`` on a synthetic DEM and
``terrain slope TILES --out-dir DIR`` on the same DEM cut into N x N tiles,
both with ``--jobs``, and prints the medians, the time per pixel and their
ratio.

Usage: ``python bench/tiles.py [--size 8192] [--tiles 8] [--repeats 3] [--jobs 2]``
(8192 / 8 gives 64 tiles of 1024²).
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from make_dem import cut_tiles, write_dem

CLI = Path(__file__).resolve().parents[1] / "cli.py"


def timed(command: list) -> float:
    start = time.perf_counter()
    subprocess.run([str(c) for c in command], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--tiles", type=int, default=8, help="N for N x N tiles")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    dem = args.workdir / f"dem{args.size}.tif"
    folder = args.workdir / f"dem{args.size}_tiles{args.tiles}"
    if not dem.exists():
        write_dem(dem, args.size)
    if not folder.exists():
        cut_tiles(dem, folder, args.tiles)
    out_file, out_dir = args.workdir / "tiles_bench_single.tif", args.workdir / "tiles_bench_out"
    runs = {
        "single file": [sys.executable, CLI, "slope", dem, out_file, "-q", "--overwrite",
                        "--jobs", args.jobs],
        f"{args.tiles ** 2} tiles": [sys.executable, CLI, "slope", folder, "--out-dir",
                                     out_dir, "-q", "--overwrite", "--jobs", args.jobs],
    }
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, command in runs.items():
            times[name].append(timed(command))
    shutil.rmtree(out_dir, ignore_errors=True)
    out_file.unlink(missing_ok=True)

    pixels = args.size**2 / 1e6
    medians = {name: statistics.median(t) for name, t in times.items()}
    single = medians["single file"]
    print(f"| {args.size}² DEM, --jobs {args.jobs} | median s | s per Mpx | ratio |")
    print("|---|---|---|---|")
    for name, median in medians.items():
        print(f"| {name} | {median:.2f} | {median / pixels:.4f} | {median / single:.2f} |")
    print(f"\n`python bench/tiles.py --size {args.size} --tiles {args.tiles} "
          f"--repeats {args.repeats} --jobs {args.jobs}`")


if __name__ == "__main__":
    main()
