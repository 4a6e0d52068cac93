"""Make docs/jacksboro_slope_se.png: the sample DEM's slope standard error for sigma = 1 m.

The sample (data/jacksboro_utm16n.tif) has nodata only around its footprint,
so a copy gets a few holes punched (discs of 2 to 6 pixels' radius, as a
lidar DEM's water bodies or a radar DEM's voids) before running

    terrain slope DEM_WITH_HOLES OUT --z-sigma 1 --uncertainty SE

(m/m: the central stencil's standard error is the same at every interior pixel,
so what the picture shows is the stencils). Viridis on a log scale, each pixel
drawn as 2 x 2 so that the one-pixel rings show: from the interior's standard
error (dark) to the 99th percentile (yellow; the ramp every --preview ends at),
1.7 times it: pixels where
the slope is within twice its standard error of 0 (sqrt(2) times the interior),
the one-sided stencils at the border and around the holes (sqrt(13) = 3.6
times the interior's along the axis they take, with edge_order 2), and the
corners of the footprint (both axes one-sided: 5.1 times).

Usage, from the checkout: ``python docs/uncertainty_picture.py [OUT.png]``
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from terrain.preview import ROBUST_PERCENTILE, write_png

ROOT = Path(__file__).resolve().parents[1]
DEM = ROOT / "data" / "jacksboro_utm16n.tif"
#: (row, column, radius in pixels) of the holes punched into the copy
HOLES = [(60, 90, 6), (150, 240, 4), (200, 120, 5), (280, 200, 3), (110, 170, 2), (300, 80, 4)]


def main() -> None:
    png = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "jacksboro_slope_se.png"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with rasterio.open(DEM) as src:
            z = src.read(1)
            profile = src.profile
        rows, cols = np.indices(z.shape)
        for r, c, radius in HOLES:
            z[(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = profile["nodata"]
        holey = tmp / "dem_holes.tif"
        with rasterio.open(holey, "w", **profile) as dst:
            dst.write(z, 1)
        se = tmp / "slope_se.tif"
        subprocess.run([sys.executable, str(ROOT / "cli.py"), "slope", str(holey),
                        str(tmp / "slope.tif"), "--z-sigma", "1",
                        "--uncertainty", str(se), "-q"], check=True)
        with rasterio.open(se) as src:
            band = src.read(1, masked=True).astype(np.float64).filled(np.nan)
    least = np.nanmin(band)
    print(f"slope standard error, m/m: least {least:.5f}, median {np.nanmedian(band):.5f}, "
          f"greatest {np.nanmax(band):.5f}")
    picture = np.log(band / least)
    top = np.exp(np.nanpercentile(picture, ROBUST_PERCENTILE))
    print(f"the ramp: {least:.5f} to {least * top:.5f} m/m ({top:.2f} times the least)")
    write_png(png, np.kron(picture, np.ones((2, 2))), "slope", overwrite=True)


if __name__ == "__main__":
    main()
