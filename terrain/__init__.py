"""Slope, gradient and aspect maps from DEMs, exact to the borders.

File-level functions stream any raster GDAL reads to a GeoTIFF on the same
grid; ``import terrain`` also registers the ``DataArray.terrain`` accessor:
at once if xarray is imported already, else as soon as xarray is imported
(so that the command line, which never needs xarray, does not import it).
The functions are imported on first use, so that importing this package
costs nothing until then (the command line handles Ctrl-C from its first
moment, which it can only do once something of it runs).

>>> import terrain
>>> terrain.slope("data/jacksboro.tif", "slope.tif", units="degrees")  # doctest: +SKIP
"""

import importlib

#: The version, in this one place (pyproject.toml reads it from here).
__version__ = "0.2.0.dev0"

from terrain._hook import register_when_imported
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

#: Public names imported on first use, and the module that defines each.
_LAZY = {
    "HALO": "terrain.core",
    "SLOPE_UNITS": "terrain.units",
    "NoCRSWarning": "terrain.spacing",
    "aspect": "terrain.pipeline",
    "gradient": "terrain.pipeline",
    "hillshade": "terrain.pipeline",
    "slope": "terrain.pipeline",
}

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

register_when_imported("xarray", "terrain.accessor")


def __getattr__(name: str):
    if name == "accessor":  # terrain.accessor needs xarray: imported on first use
        return importlib.import_module("terrain.accessor")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
