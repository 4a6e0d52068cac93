"""xarray-spatial's slope of a DEM, in memory (numpy backed).

Usage: ``python bench/xrspatial_slope.py DEM OUT``
"""

import sys

import rioxarray
import xrspatial


def slope(src_path: str, dst_path: str) -> None:
    """Write xrspatial's slope (degrees) of band 1 of ``src_path`` to ``dst_path``."""
    dem = rioxarray.open_rasterio(src_path, masked=True).squeeze("band", drop=True)
    out = xrspatial.slope(dem).astype("float32").rio.write_nodata(-9999, encoded=True)
    out.rio.to_raster(dst_path, driver="GTiff", tiled=True, compress="deflate",
                      predictor=3, bigtiff="IF_SAFER")


if __name__ == "__main__":
    slope(*sys.argv[1:3])
