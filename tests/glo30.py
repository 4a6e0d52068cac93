"""Synthetic tiles in Copernicus GLO-30's layout, for the tests and the documentation.

GLO-30 (and GLO-90) tiles are 1° x 1° on EPSG:4326, rows 1" apart (3" for
GLO-90), with columns whose width grows with latitude so that pixels stay
roughly square on the ground: 1" below 50°, 1.5" from 50° to 60°, 2" to 70°,
3" to 80°, 5" to 85° and 10" beyond (of the tile's edge nearer the equator).
A tile's first pixel is centred on its north-west corner: the tile named
``N50_00_E010_00`` has 3600 rows centred from 51° down to 50°00'01", 2400
columns centred from 10° to 10°59'58.5", and its transform's origin is half a
pixel north-west of 51°N, 10°E. Tiles neither overlap nor leave gaps.

Here a tile may be smaller than a degree and its rows coarser than 1" (``row``
degrees apart); the column widths keep GLO-30's ratios to the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine

#: Column width in row spacings by the latitude (degrees) of a tile's edge
#: nearer the equator: (from, ratio), GLO-30's bands.
WIDTHS = ((0, 1.0), (50, 1.5), (60, 2.0), (70, 3.0), (80, 5.0), (85, 10.0))

CRS = "EPSG:4326"


def ratio(south: float, size: float = 1.0) -> float:
    """Column width / row spacing of a tile whose south edge is ``south``° and ``size``° tall."""
    nearer = min(abs(south), abs(south + size))
    return next(r for start, r in reversed(WIDTHS) if nearer >= start)


def name(south: int, west: int) -> str:
    """GLO-30's file name of the 1° tile whose south-west corner is (south, west)."""
    ns, ew = "N" if south >= 0 else "S", "E" if west >= 0 else "W"
    return f"Copernicus_DSM_COG_10_{ns}{abs(south):02d}_00_{ew}{abs(west):03d}_00_DEM.tif"


def transform(south: float, west: float, size: float, row: float) -> tuple[Affine, int, int]:
    """The tile's transform and its (rows, columns), first pixel centred on its NW corner."""
    width = row * ratio(south, size)
    rows, cols = round(size / row), round(size / width)
    return Affine(width, 0.0, west - width / 2, 0.0, -row, south + size + row / 2), rows, cols


def centres(t: Affine, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (rows,) and longitudes (cols,) of the pixel centres, degrees."""
    return t.f + t.e * (np.arange(rows) + 0.5), t.c + t.a * (np.arange(cols) + 0.5)


def write(path: Path, south: float, west: float, size: float, row: float,
          surface: Callable[[np.ndarray, np.ndarray], np.ndarray],
          dtype: str = "float64", cog: bool = False) -> Path:
    """Write the tile with south-west corner (south, west), ``surface(lat, lon)`` (degrees,
    2-D grids) as its elevations; a Cloud-Optimized GeoTIFF with ``cog``."""
    t, rows, cols = transform(south, west, size, row)
    lat, lon = centres(t, rows, cols)
    z = surface(*np.meshgrid(lat, lon, indexing="ij")).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 1, "dtype": dtype,
               "crs": CRS, "transform": t}
    plain = path.with_suffix(".plain.tif") if cog else path
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(z, 1)
    if cog:
        rasterio.shutil.copy(plain, path, driver="COG", blocksize=64)
        plain.unlink()
    return path
