"""Slope, aspect and hillshade from the world gradient, and the unit names users type."""

from __future__ import annotations

import numpy as np

from terrain.errors import UsageError

__all__ = ["SLOPE_UNITS", "aspect", "check_units", "hillshade", "hillshade_byte", "slope"]

#: Slope units, as typed on the command line; ``ratio`` is metre per metre.
SLOPE_UNITS = ("ratio", "percent", "degrees", "radians")


def check_units(units: str) -> str:
    """Return ``units`` if it names a slope unit, else raise :class:`UsageError`."""
    if units not in SLOPE_UNITS:
        raise UsageError(
            f"unknown slope units {units!r}: choose one of {', '.join(SLOPE_UNITS)}"
        )
    return units


def slope(dzdx: np.ndarray, dzdy: np.ndarray, units: str = "ratio") -> np.ndarray:
    """Slope of the surface from its east and north derivatives (m/m).

    >>> float(slope(np.float64(3.0), np.float64(4.0), "percent"))
    500.0
    >>> float(slope(np.float64(1.0), np.float64(0.0), "degrees"))
    45.0
    """
    units = check_units(units)
    ratio = np.sqrt(dzdx * dzdx + dzdy * dzdy)  # hypot's overflow care is not needed here
    if units == "ratio":
        return ratio
    if units == "percent":
        return 100.0 * ratio
    angle = np.arctan(ratio)
    return np.degrees(angle) if units == "degrees" else angle


def aspect(dzdx: np.ndarray, dzdy: np.ndarray) -> np.ndarray:
    """Compass direction of steepest descent, degrees clockwise from north.

    In [0, 360); a surface falling to the east has aspect 90 (gdaldem's
    convention). Flat pixels (zero gradient) and NaN inputs give NaN.

    >>> float(aspect(np.float64(-1.0), np.float64(0.0)))
    90.0
    """
    # The downslope direction is -grad z; its compass bearing is atan2(east, north).
    with np.errstate(invalid="ignore"):
        bearing = np.degrees(np.arctan2(-dzdx, -dzdy)) % 360.0
        flat = (dzdx == 0) & (dzdy == 0)
    # A bearing a hair below 0 wraps to 360.0 in floating point: that is north.
    return np.where(flat, np.nan, np.where(bearing >= 360.0, 0.0, bearing))


def hillshade(
    dzdx: np.ndarray, dzdy: np.ndarray, azimuth: float = 315.0, altitude: float = 45.0
) -> np.ndarray:
    """gdaldem's hillshade, in [1, 255] as float64; NaN where an input is NaN.

    The cosine of the angle between the surface normal and a light from
    compass ``azimuth`` (degrees clockwise from north), ``altitude`` degrees
    above the horizon, scaled to ``1 + 254 cos``; surfaces facing away from
    the light get 1. This is gdaldem's default (not ``-combined``) formula,
    ``GDALHillshadeAlg`` in GDAL's apps/gdaldem_lib.cpp. Its derivatives are
    in pixel space, along columns and down the rows, with ``z_factor / 8``
    folded in: for a north-up raster its ``x`` is ``-dzdx`` and its ``y`` is
    ``dzdy``, which gives the formula below in our east/north terms::

        cos = (sin(alt) - cos(alt) (dzdx sin(az) + dzdy cos(az))) / sqrt(1 + dzdx² + dzdy²)

    Round with :func:`hillshade_byte` to get gdaldem's Byte output.

    >>> float(hillshade(np.float64(0.0), np.float64(0.0), altitude=90.0))
    255.0
    >>> round(float(hillshade(np.float64(1.0), np.float64(0.0), azimuth=270.0)), 9)
    255.0
    """
    az, alt = np.radians(azimuth), np.radians(altitude)
    towards_light = np.sin(az) * dzdx + np.cos(az) * dzdy
    cos_angle = (np.sin(alt) - np.cos(alt) * towards_light) / np.sqrt(
        1.0 + dzdx * dzdx + dzdy * dzdy
    )
    shade = 254.0 * cos_angle
    return np.where(shade <= 0.0, 1.0, 1.0 + shade)


def hillshade_byte(values: np.ndarray) -> np.ndarray:
    """Hillshade values as gdaldem writes them: rounded to uint8, 0 for NaN (nodata).

    gdaldem rounds half up (``(GByte)(value + 0.5)``) and clamps to [0, 255].

    >>> hillshade_byte(np.array([1.0, 180.5, 254.6, np.nan]))
    array([  1, 181, 255,   0], dtype=uint8)
    """
    values = np.asarray(values, dtype=np.float64)
    rounded = np.floor(np.clip(values, 0.0, 255.0) + 0.5)
    return np.where(np.isnan(values), 0.0, rounded).astype(np.uint8)
