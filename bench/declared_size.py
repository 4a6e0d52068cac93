"""Peak memory of terrain's checks against the raster's declared size (issue 16).

    python bench/declared_size.py [--sizes 2000 20000 200000 400000] [--cli CLI.py ...]

For each declared size N, a 600-byte VRT declares N x N pixels over a 64 x 64
GeoTIFF, and ``terrain slope`` runs on it with a bad creation option
(``--co ZLEVEL=abc``, which GDAL takes with a warning, an error to terrain): the run
does the checks and stops before any work. Also a single-strip DEFLATE GeoTIFF of
N x N pixels (sparse, so that making it costs nothing), which terrain refuses
above 64 MiB a block. Peak RSS is GNU time's maximum resident set size.

Several ``--cli`` (checkouts' cli.py) run side by side, size by size: the table
gives each one's peak and its ratio to its own peak at the smallest size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

ROOT = Path(__file__).resolve().parents[1]
TRANSFORM = Affine(10.0, 0, 500_000.0, 0, -10.0, 5_000_000.0)

VRT = """<VRTDataset rasterXSize="{n}" rasterYSize="{n}">
  <SRS>EPSG:32633</SRS>
  <GeoTransform>500000, 10, 0, 5000000, 0, -10</GeoTransform>
  <VRTRasterBand dataType="Float32" band="1">
    <SimpleSource>
      <SourceFilename relativeToVRT="1">small.tif</SourceFilename>
      <SourceBand>1</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="64" ySize="64"/>
      <DstRect xOff="0" yOff="0" xSize="64" ySize="64"/>
    </SimpleSource>
  </VRTRasterBand>
</VRTDataset>
"""


def peak_mib(cli: str, folder: Path, *args: str) -> tuple[float, int, str]:
    """(peak RSS in MiB, exit code, last stderr line) of ``python CLI ARGS``."""
    record = folder / "time.txt"
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(record), sys.executable,
                           cli, *args], cwd=folder, capture_output=True, text=True)
    lines = done.stderr.strip().splitlines() or [""]
    return int(record.read_text().split()[-1]) / 1024, done.returncode, lines[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 200000, 400000])
    parser.add_argument("--strips", type=int, nargs="+", default=[2000, 8000, 30000])
    parser.add_argument("--cli", nargs="+", default=[str(ROOT / "cli.py")])
    options = parser.parse_args()
    options.cli = [str(Path(cli).resolve()) for cli in options.cli]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with rasterio.open(folder / "small.tif", "w", driver="GTiff", width=64, height=64,
                           count=1, dtype="float32", crs="EPSG:32633",
                           transform=TRANSFORM) as dst:
            dst.write(np.zeros((64, 64), "float32"), 1)
        rows = []
        for n in options.sizes:
            (folder / f"v{n}.vrt").write_text(VRT.format(n=n))
            for cli in options.cli:
                rows.append(("VRT, checks", n, cli, *peak_mib(
                    cli, folder, "slope", f"v{n}.vrt", "s.tif", "--co", "ZLEVEL=abc")))
        for n in options.strips:
            with rasterio.open(folder / f"strip{n}.tif", "w", driver="GTiff", width=n,
                               height=n, count=1, dtype="float32", crs="EPSG:32633",
                               transform=TRANSFORM, compress="deflate", blockysize=n,
                               sparse_ok=True):
                pass
            for cli in options.cli:
                rows.append(("one strip", n, cli, *peak_mib(
                    cli, folder, "slope", f"strip{n}.tif", "s.tif", "--overwrite", "-q")))
    first = {}
    print("| input | declared size | cli | peak RSS, MiB | ratio to its smallest | exit | "
          "last line |")
    print("|---|---|---|---|---|---|---|")
    for kind, n, cli, peak, code, line in rows:
        base = first.setdefault((kind, cli), peak)
        print(f"| {kind} | {n}² | {cli} | {peak:.0f} | {peak / base:.2f} | {code} | "
              f"{line[:90]} |")


if __name__ == "__main__":
    main()
