"""Make the sample DEMs in this folder from matplotlib's copy of a USGS DEM.

The DEM covers the Jacksboro fault, Tennessee: int16 elevations in metres,
344 x 403 pixels of 3 arc-seconds, north-up, 36.44625-36.73292 N and
84.41375-84.07792 W (pixel edges: 344 and 403 pixels of 1/1200 degree span
exactly these bounds). The .npz's ymin/ymax fields are swapped; the bounds
above are the true ones. Writes

- ``jacksboro.tif``: the DEM as it is, in EPSG:4326;
- ``jacksboro_utm16n.tif``: reprojected to UTM zone 16N (EPSG:32616), 90 m
  pixels, bilinear; the corners outside the DEM's footprint are nodata.

Run ``python data/make_sample.py`` (needs matplotlib, rasterio, numpy).
"""

from pathlib import Path

import numpy as np
import rasterio
from matplotlib.cbook import get_sample_data
from rasterio.transform import from_origin
from rasterio.warp import Resampling, calculate_default_transform, reproject

HERE = Path(__file__).resolve().parent
WEST, NORTH = -84.41375, 36.73291666666667
STEP = 1 / 1200  # 3 arc-seconds
NODATA = -32768
PROFILE = {"driver": "GTiff", "dtype": "int16", "count": 1, "nodata": NODATA,
           "compress": "deflate", "predictor": 2}


def main() -> None:
    npz = get_sample_data("jacksboro_fault_dem.npz")
    z = np.asarray(npz["elevation"], dtype=np.int16)  # row 0 is the northern edge
    assert np.isclose(npz["dx"], STEP)
    assert np.isclose(npz["dy"], STEP)
    assert np.isclose(npz["xmax"] - npz["xmin"], z.shape[1] * STEP)
    transform = from_origin(WEST, NORTH, STEP, STEP)
    geo = {**PROFILE, "crs": "EPSG:4326", "transform": transform,
           "height": z.shape[0], "width": z.shape[1]}
    with rasterio.open(HERE / "jacksboro.tif", "w", **geo) as dst:
        dst.write(z, 1)

    utm_transform, width, height = calculate_default_transform(
        "EPSG:4326", "EPSG:32616", z.shape[1], z.shape[0],
        *rasterio.transform.array_bounds(*z.shape, transform), resolution=90.0,
    )
    utm = np.full((height, width), NODATA, dtype=np.int16)
    reproject(z, utm, src_transform=transform, src_crs="EPSG:4326", src_nodata=NODATA,
              dst_transform=utm_transform, dst_crs="EPSG:32616", dst_nodata=NODATA,
              resampling=Resampling.bilinear)
    projected = {**PROFILE, "crs": "EPSG:32616", "transform": utm_transform,
                 "height": height, "width": width}
    with rasterio.open(HERE / "jacksboro_utm16n.tif", "w", **projected) as dst:
        dst.write(utm, 1)


if __name__ == "__main__":
    main()
