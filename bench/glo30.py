"""Copernicus GLO-30 across a band edge: what reading the other band's rows costs.

Writes four synthetic tiles in GLO-30's layout and size at 50°N, 10°-12°E
(N49: 3600 x 3600, 1" columns; N50: 3600 x 2400, 1.5" columns; float32 COGs,
DEFLATE), then times, interleaved in one run, ``terrain slope`` on the four
as one set (two bands, each tile's edge rows read across 50°N) against the
two bands run one after the other as sets of their own (the border stencil
at 50°N), both with ``--jobs``, and prints the medians and their ratio.

Usage: ``python bench/glo30.py [--repeats 3] [--jobs 2]``
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine

CLI = Path(__file__).resolve().parents[1] / "cli.py"
ROW = 1 / 3600  # GLO-30's rows, degrees


def name(south: int, west: int) -> str:
    return f"Copernicus_DSM_COG_10_N{south:02d}_00_E{west:03d}_00_DEM.tif"


def write_tile(path: Path, south: int, west: int) -> None:
    """A 1° tile, first pixel centred on its NW corner; columns 1" or 1.5" by latitude."""
    width = ROW * (1.5 if south >= 50 else 1.0)
    rows, cols = 3600, round(1 / width)
    transform = Affine(width, 0, west - width / 2, 0, -ROW, south + 1 + ROW / 2)
    lat = transform.f - ROW * (np.arange(rows) + 0.5)
    lon = transform.c + width * (np.arange(cols) + 0.5)
    y, x = np.radians(lat)[:, None], np.radians(lon)[None, :]
    z = (600 + 400 * np.sin(y * 900) * np.cos(x * 700) + 60 * np.sin(y * 7000 + x * 5000)
         + 8 * np.cos(y * 40000) * np.sin(x * 30000)).astype("float32")
    plain = path.with_suffix(".plain.tif")
    with rasterio.open(plain, "w", driver="GTiff", width=cols, height=rows, count=1,
                       dtype="float32", crs="EPSG:4326", transform=transform, tiled=True,
                       blockxsize=512, blockysize=512) as dst:
        dst.write(z, 1)
    rasterio.shutil.copy(plain, path, driver="COG", compress="DEFLATE", predictor=3,
                         blocksize=1024)
    plain.unlink()


def timed(commands: list[list]) -> float:
    start = time.perf_counter()
    for command in commands:
        subprocess.run([str(c) for c in command], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/terrain-bench"))
    args = parser.parse_args()

    folder = args.workdir / "glo30"
    folder.mkdir(parents=True, exist_ok=True)
    bands = {"1\"": [folder / name(49, w) for w in (10, 11)],
             "1.5\"": [folder / name(50, w) for w in (10, 11)]}
    for south, paths in zip((49, 50), bands.values(), strict=True):
        for west, path in zip((10, 11), paths, strict=True):
            if not path.exists():
                write_tile(path, south, west)
    out = args.workdir / "glo30_out"

    def slope(paths, where):
        return [sys.executable, CLI, "slope", *paths, "--out-dir", where, "-q", "--overwrite",
                "--jobs", args.jobs]

    runs = {
        "4 tiles, one set (2 bands)": [slope([*bands['1"'], *bands['1.5"']], out / "set")],
        "each band alone, one after the other": [slope(p, out / b) for b, p in bands.items()],
    }
    times = {label: [] for label in runs}
    for _ in range(args.repeats):
        for label, commands in runs.items():
            times[label].append(timed(commands))
    shutil.rmtree(out, ignore_errors=True)

    medians = {label: statistics.median(t) for label, t in times.items()}
    alone = medians["each band alone, one after the other"]
    print(f"| GLO-30 at 50°N, 4 tiles (2 x 3600², 2 x 3600 x 2400), --jobs {args.jobs} "
          "| median s | ratio |")
    print("|---|---|---|")
    for label, median in medians.items():
        print(f"| {label} | {median:.2f} | {median / alone:.3f} |")
    print(f"\n`python bench/glo30.py --repeats {args.repeats} --jobs {args.jobs}`")


if __name__ == "__main__":
    main()
