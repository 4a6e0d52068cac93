"""Slope, gradient and aspect maps from DEMs, exact to the borders.

File-level functions stream any raster GDAL reads to a GeoTIFF on the same
grid; ``import terrain`` also registers the ``DataArray.terrain`` accessor.

>>> import terrain
>>> terrain.slope("data/jacksboro.tif", "slope.tif", units="degrees")  # doctest: +SKIP
"""

from terrain import accessor as accessor  # registers DataArray.terrain
from terrain.core import HALO
from terrain.errors import (
    BadInputError,
    InputNotFoundError,
    NotARasterError,
    OutputExistsError,
    RasterTooSmallError,
    TerrainError,
    TileSetError,
    UsageError,
)
from terrain.pipeline import aspect, gradient, hillshade, slope
from terrain.spacing import NoCRSWarning
from terrain.units import SLOPE_UNITS

__all__ = [
    "HALO",
    "SLOPE_UNITS",
    "BadInputError",
    "InputNotFoundError",
    "NoCRSWarning",
    "NotARasterError",
    "OutputExistsError",
    "RasterTooSmallError",
    "TerrainError",
    "TileSetError",
    "UsageError",
    "aspect",
    "gradient",
    "hillshade",
    "slope",
]
