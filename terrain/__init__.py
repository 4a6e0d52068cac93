"""Slope, gradient, aspect and curvature maps from DEMs, exact to the borders.

File-level functions stream any raster GDAL reads to a GeoTIFF on the same
grid; ``import terrain`` also registers the ``DataArray.terrain`` accessor:
at once if xarray is imported already, else as soon as xarray is imported
(so that the command line, which never needs xarray, does not import it).

>>> import terrain
>>> terrain.slope("data/jacksboro.tif", "slope.tif", units="degrees")  # doctest: +SKIP
"""

import importlib

#: The version, in this one place (pyproject.toml reads it from here).
__version__ = "0.2.0.dev0"

from terrain._hook import register_when_imported
from terrain.core import CURVATURES, HALO
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
from terrain.pipeline import aspect, curvature, gradient, hillshade, slope
from terrain.spacing import NoCRSWarning
from terrain.units import SLOPE_UNITS

__all__ = [
    "CURVATURES",
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
    "curvature",
    "gradient",
    "hillshade",
    "slope",
]

register_when_imported("xarray", "terrain.accessor")


def __getattr__(name: str):
    if name == "accessor":  # terrain.accessor needs xarray: imported on first use
        return importlib.import_module("terrain.accessor")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
