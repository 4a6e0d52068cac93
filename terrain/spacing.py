"""Metres on all three axes: pixel geometry from a transform and a CRS, and the
vertical unit of the elevations.

Projected CRSs are scaled by their own linear unit (feet, US survey feet);
lat/lon CRSs get metre spacings row by row on their own ellipsoid: along
the parallel ``N(phi) cos(phi) dlambda``, along the meridian the arc length
between row centres (numpy.gradient's coordinate-array form, since it varies
with latitude). Rotated or sheared grids map the pixel gradient to east/north
through the Jacobian: ``grad_world = J^-T grad_pixel``.

Elevations become metres by :func:`vertical_unit`, decided once per raster:
the user's z factor, else a compound CRS's vertical axis, else the band's unit
type, else the horizontal unit of a projected CRS (metres otherwise); the
band's scale applies first. The offset does not change a derivative.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from affine import Affine

from terrain import core
from terrain.errors import BadInputError, UsageError

if TYPE_CHECKING:
    import pyproj  # imported when a CRS is first read: it takes 0.16 s

__all__ = [
    "MAX_GEOGRAPHIC_ROWS",
    "PIXEL_METRES",
    "NoCRSWarning",
    "PixelGeometry",
    "VerticalUnit",
    "VerticalUnitWarning",
    "check_transform",
    "coordinate_geometry",
    "pixel_geometry",
    "unit_metres",
    "vertical_unit",
]


class NoCRSWarning(UserWarning):
    """The raster has no CRS; its transform units are taken as metres."""


class VerticalUnitWarning(UserWarning):
    """The elevations' unit was assumed, or a declared unit was not understood."""


@dataclass(frozen=True)
class PixelGeometry:
    """How a raster's pixel steps map to metres east and north.

    ``row`` and ``col`` are :func:`terrain.core.gradient`'s spacing arguments,
    chosen so that the derivatives come out per metre north and per metre east:
    a signed step (negative for north-up rasters) or a coordinate array with
    one value per pixel (the northward meridian distance of each row on lat/lon
    grids; any non-uniform coordinates). For lat/lon grids ``col`` is in radians
    of longitude and ``col_scale`` holds each row's parallel radius (m), which
    turns d/dlambda into d/dx. ``jacobian`` is set for rotated or sheared grids:
    metres east and north per column and row step, ``[[a, b], [d, e]]``; then
    ``row`` and ``col`` are 1. ``row_metres`` (lat/lon grids) is the length of
    each row's step along the meridian, ``M(phi) dphi``, from its own latitude.
    """

    row: float | np.ndarray
    col: float | np.ndarray
    col_scale: np.ndarray | None = None
    jacobian: np.ndarray | None = None
    row_metres: np.ndarray | None = None

    def window(self, rows: slice, cols: slice) -> PixelGeometry:
        """The geometry of the window ``[rows, cols]`` of the raster."""
        return replace(
            self,
            row=self.row if np.ndim(self.row) == 0 else self.row[rows],
            col=self.col if np.ndim(self.col) == 0 else self.col[cols],
            col_scale=None if self.col_scale is None else self.col_scale[rows],
            row_metres=None if self.row_metres is None else self.row_metres[rows],
        )

    def kernel_args(self, method: str = "central") -> dict:
        """The spacing arguments of :func:`terrain.core.fused` for ``method``."""
        if method not in core.METHODS:
            raise UsageError(
                f"unknown method {method!r}: choose one of {', '.join(core.METHODS)}"
            )
        if self.jacobian is not None:
            return {"row": 1.0, "col": 1.0, "jacobian": self.jacobian}
        row, col = (self.row, self.col) if method != "horn" else self.steps()
        return {"row": row, "col": col, "col_scale": self.col_scale}

    def pixel_metres(self) -> tuple[float | np.ndarray | None, float | np.ndarray | None]:
        """Metres of a row step and of a column step: numbers, or one per row.

        Each row's from its own latitude on lat/lon grids (``M(phi) dphi`` and
        ``N(phi) cos(phi) dlambda``); the length of the step vectors on rotated
        grids; None along an axis of irregular coordinates other than a
        lat/lon grid's rows (no single length).
        """
        if self.jacobian is not None:
            (a, b), (d, e) = self.jacobian
            return float(np.hypot(b, e)), float(np.hypot(a, d))
        if np.ndim(self.col):
            col = None
        elif self.col_scale is not None:
            col = self.col_scale * abs(self.col)
        else:
            col = abs(float(self.col))
        if self.row_metres is not None:
            row = self.row_metres
        elif np.ndim(self.row):
            row = np.abs(_local_step(self.row))
        else:
            row = abs(float(self.row))
        return row, col

    def steps(self) -> tuple[float | np.ndarray, float | np.ndarray]:
        """Local (row, col) steps for stencils that need a uniform grid (Horn).

        Coordinate arrays give one step per pixel along their axis, the
        central difference of the coordinates.
        """
        row, col = self.row, self.col
        if np.ndim(row):
            row = _local_step(row)
        if np.ndim(col):
            col = _local_step(col)
        return row, col


def _local_step(x: np.ndarray) -> np.ndarray:
    """Half the distance between each coordinate's neighbours.

    A window's steps equal the whole axis' wherever both neighbours are in the
    window, which the halo guarantees for every pixel a window keeps.
    """
    x = np.asarray(x, dtype=float)
    if x.size < 3:
        return np.full(x.shape, x[-1] - x[0])
    return np.concatenate([[x[1] - x[0]], (x[2:] - x[:-2]) / 2, [x[-1] - x[-2]]])


#: Coordinates whose steps agree to this relative tolerance are a regular
#: grid: coordinates computed from a transform differ from it by rounding.
_REGULAR = 1e-9


def _uniform(x: np.ndarray) -> float | np.ndarray:
    """A coordinate array as its step when the grid is regular, else itself.

    Decided once for the whole axis: windows then all use one formula. A
    regular grid takes the uniform stencil (like numpy's rule, but tolerant of
    the rounding in coordinates computed from a transform), so that an array
    and its file give the same numbers, flat ground included.
    """
    x = np.asarray(x, dtype=float)
    step = (x[-1] - x[0]) / (x.size - 1)
    if np.allclose(np.diff(x), step, rtol=_REGULAR, atol=0):
        return float(step)
    return x


def _parse_crs(crs) -> pyproj.CRS | None:
    """The one place a CRS is normalised (anything pyproj takes); None if there is none."""
    if crs is None or not str(crs):
        return None
    import pyproj

    return pyproj.CRS.from_user_input(crs)


def _crs(crs, stacklevel: int = 3) -> pyproj.CRS | None:
    """The horizontal part of the CRS; None, with a warning, if there is none."""
    crs = _horizontal(_parse_crs(crs))
    if crs is None:
        warnings.warn(
            "the raster has no CRS: taking its transform units as metres",
            NoCRSWarning,
            stacklevel=stacklevel,
        )
    return crs


def _horizontal(crs: pyproj.CRS | None) -> pyproj.CRS | None:
    """The horizontal part of a parsed CRS (itself unless compound)."""
    if crs is not None and crs.is_compound:
        return next(s for s in crs.sub_crs_list if s.is_projected or s.is_geographic
                    or not s.is_vertical)
    return crs


#: Pixel sizes terrain takes, metres: from a picometre (atomic force
#: microscopes map surfaces in nanometre pixels) to a million kilometres.
#: Outside, a transform is garbage (a zero, a 1e-300 left by a bad writer),
#: and derivatives would overflow or vanish in floating point.
PIXEL_METRES = (1e-12, 1e9)

#: The most rows of a lat/lon grid (or tile set): each row's metre spacings
#: are arrays of this length, a few times 8 bytes per row (about 300 MiB here).
MAX_GEOGRAPHIC_ROWS = 2**23

#: The sine of the angle between a grid's row and column directions below
#: which the grid is degenerate: its pixels have no area, and the Jacobian
#: of a rotated or sheared transform cannot be inverted.
_MIN_SINE = 1e-9


def pixel_geometry(transform: Affine, crs, height: int, name: str = "the raster",
                   first_row: int = 0) -> PixelGeometry:
    """The metre geometry of a raster with this transform, CRS and height.

    ``crs`` is anything pyproj accepts (a rasterio CRS, WKT, EPSG code), or
    None: then transform units are taken as metres, with a warning.
    A geometry that cannot give a slope raises :class:`BadInputError`
    naming ``name``: a pixel size that is zero, NaN, infinite or outside
    :data:`PIXEL_METRES`, a singular (degenerate) transform, or lat/lon rows
    centred on or past a pole.
    ``first_row`` is the transform's row of the geometry's first row: a
    negative one adds rows north of the transform's origin, each with the
    latitude ``transform.f + e * (row + 0.5)``, so that the rows from the
    origin on get the very numbers the raster alone gets (a latitude band
    of a tile set, read with rows of the band beyond its edge).

    >>> g = pixel_geometry(Affine(30.0, 0, 0, 0, -30.0, 0), "EPSG:32633", 10)
    >>> g.row, g.col
    (-30.0, 30.0)
    """
    a, b, d, e = transform.a, transform.b, transform.d, transform.e
    horizontal = _horizontal(_parse_crs(crs))
    _check_grid(transform, horizontal, name)  # before the warning: one message, the error
    crs = _crs(horizontal)
    geographic = crs is not None and crs.is_geographic
    metres = 1.0 if crs is None else crs.axis_info[0].unit_conversion_factor
    if not geographic:
        if b == 0 and d == 0:
            return PixelGeometry(row=e * metres, col=a * metres)
        return PixelGeometry(
            row=1.0, col=1.0, jacobian=np.array([[a, b], [d, e]], dtype=float) * metres
        )
    if b != 0 or d != 0:
        raise BadInputError(
            f"{name}: rotated or sheared lat/lon rasters are not supported: "
            "warp the DEM to a north-up grid first (gdalwarp)"
        )
    _check_poles(transform, crs, height, name, first_row)
    if height > MAX_GEOGRAPHIC_ROWS:
        raise BadInputError(
            f"{name}: spans {height} rows of lat/lon pixels: terrain computes their metre "
            f"spacings row by row, for up to {MAX_GEOGRAPHIC_ROWS} rows (a tile set far "
            "apart north to south spans every row between its tiles)"
        )
    lat = transform.f + e * (np.arange(first_row, first_row + height) + 0.5)
    return _geographic(crs, lat, a, abs(e))


def check_transform(transform: Affine, crs, name: str = "the raster") -> None:
    """Refuse a transform whose pixels are not a usable parallelogram in metres.

    Raises :class:`BadInputError` naming ``name`` for a NaN or infinite
    coefficient, a pixel width or height outside :data:`PIXEL_METRES`, or a
    singular transform. (A lat/lon pixel is measured at the equator here.)
    """
    _check_grid(transform, _horizontal(_parse_crs(crs)), name)


def _check_grid(transform: Affine, crs, name: str) -> None:
    a, b, d, e = transform.a, transform.b, transform.d, transform.e
    metres = 1.0 if crs is None else crs.axis_info[0].unit_conversion_factor
    if crs is not None and crs.is_geographic:  # radians per unit: metres at the equator
        metres *= crs.ellipsoid.semi_major_metre
    values = np.array([a, b, d, e], dtype=float)
    if not np.isfinite(values).all():
        raise BadInputError(
            f"{name}: its transform holds a NaN or an infinity ({a:g}, {b:g}, {d:g}, {e:g}): "
            "no pixel size to take a slope with"
        )
    low, high = PIXEL_METRES
    for axis, (x, y) in (("width", (a, d)), ("height", (b, e))):
        size = math.hypot(x, y) * metres
        if not low <= size <= high:
            raise BadInputError(
                f"{name}: its pixel {axis} is {size:g} m: terrain takes pixels of "
                f"{low:g} m to {high:g} m; fix the transform (gdal_edit.py -a_ullr or -tr)"
            )
    sine = abs(a * e - b * d) / (math.hypot(a, d) * math.hypot(b, e))
    if sine < _MIN_SINE:
        raise BadInputError(
            f"{name}: its transform ({a:g}, {b:g}, {d:g}, {e:g}) is singular: rows and "
            "columns run the same way, so pixels have no area; fix the transform"
        )


def _check_poles(transform: Affine, crs, height: int, name: str, first_row: int = 0) -> None:
    """Refuse lat/lon rows centred on or past a pole (east-west lengths vanish there)."""
    degrees = np.degrees(crs.axis_info[0].unit_conversion_factor)  # degrees per unit
    for row in (first_row, first_row + height - 1):
        lat = (transform.f + transform.e * (row + 0.5)) * degrees
        if not -90 < lat < 90:
            raise BadInputError(
                f"{name}: row {row} is centred at latitude {lat:.6g}, on or past a pole, "
                "where east-west distances vanish: crop the rows within ±90° "
                "(gdal_translate -srcwin) or fix the transform"
            )


def coordinate_geometry(y: np.ndarray, x: np.ndarray, crs, name: str = "the grid"
                        ) -> PixelGeometry:
    """The metre geometry of a grid given its pixel-centre coordinates.

    ``y`` and ``x`` are 1-D (uniform or not) in the CRS's units, or metres if
    ``crs`` is None; ``y`` may ascend or descend. Steps outside
    :data:`PIXEL_METRES` and lat/lon rows on or past a pole raise
    :class:`BadInputError`, as in :func:`pixel_geometry`.
    """
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    horizontal = _horizontal(_parse_crs(crs))
    _check_coordinates(y, x, horizontal, name)
    crs = _crs(horizontal)
    if crs is None or not crs.is_geographic:
        metres = 1.0 if crs is None else crs.axis_info[0].unit_conversion_factor
        return PixelGeometry(row=_uniform(y * metres), col=_uniform(x * metres))
    return _geographic(crs, y, x)


def _check_coordinates(y: np.ndarray, x: np.ndarray, crs, name: str) -> None:
    """:func:`pixel_geometry`'s checks for coordinate arrays: steps and poles."""
    metres = 1.0 if crs is None else crs.axis_info[0].unit_conversion_factor
    geographic = crs is not None and crs.is_geographic
    if geographic:
        metres *= crs.ellipsoid.semi_major_metre
    low, high = PIXEL_METRES
    for axis, values in (("y", y), ("x", x)):
        steps = np.abs(np.diff(values)) * metres
        if steps.size and not (low <= steps.min() and steps.max() <= high):
            raise BadInputError(
                f"{name}: its {axis} coordinates are {steps.min():g} m to {steps.max():g} m "
                f"apart: terrain takes pixels of {low:g} m to {high:g} m"
            )
    if geographic:
        degrees = np.degrees(crs.axis_info[0].unit_conversion_factor) * y
        if not (np.abs(degrees) < 90).all():
            raise BadInputError(
                f"{name}: a row is centred at latitude {degrees[np.abs(degrees) >= 90][0]:.6g}, "
                "on or past a pole, where east-west distances vanish: select the rows "
                "within ±90°"
            )


def _geographic(crs: pyproj.CRS, lat: np.ndarray, lon: float | np.ndarray,
                lat_step: float | None = None) -> PixelGeometry:
    """Lat/lon grid on the CRS's ellipsoid; ``lon`` is a step or coordinates.

    ``lat_step`` is the rows' latitude step (the transform's), else each
    row's is the local step of ``lat``.
    """
    radians = crs.axis_info[0].unit_conversion_factor  # radians per CRS unit
    step = np.abs(_local_step(lat)) if lat_step is None else abs(lat_step)
    lat = lat * radians
    return PixelGeometry(
        row=_uniform(meridian_distance(crs.get_geod(), lat)),
        col=_uniform(lon * radians) if np.ndim(lon) else lon * radians,
        col_scale=parallel_radius(crs.ellipsoid, lat),
        row_metres=meridian_radius(crs.ellipsoid, lat) * (step * radians),
    )


def meridian_distance(geod: pyproj.Geod, lat: np.ndarray) -> np.ndarray:
    """Signed distance (m) along a meridian from the equator to ``lat`` (radians)."""
    deg = np.degrees(lat)
    zero = np.zeros_like(deg)
    _, _, dist = geod.inv(zero, zero, zero, deg)
    return np.copysign(np.asarray(dist, dtype=float), deg)


def meridian_radius(ellipsoid, lat: np.ndarray) -> np.ndarray:
    """Radius (m) of curvature of the meridian at ``lat`` (radians): ``a(1 - e²) / W³``."""
    a = ellipsoid.semi_major_metre
    e2 = 1.0 - (ellipsoid.semi_minor_metre / a) ** 2
    return a * (1.0 - e2) / (1.0 - e2 * np.sin(lat) ** 2) ** 1.5


def parallel_radius(ellipsoid, lat: np.ndarray) -> np.ndarray:
    """Radius (m) of the parallel at ``lat`` (radians): ``N(phi) cos(phi)``."""
    a = ellipsoid.semi_major_metre
    e2 = 1.0 - (ellipsoid.semi_minor_metre / a) ** 2
    return a / np.sqrt(1.0 - e2 * np.sin(lat) ** 2) * np.cos(lat)


_FOOT = 0.3048
_US_SURVEY_FOOT = 1200 / 3937

#: Elevation units as GDAL drivers (GTiff from a compound CRS, USGS DEM, SDTS,
#: HFA, netCDF...) and CF write them, normalised by :func:`_unit_key`, in
#: metres per unit. Other names of linear units in the EPSG registry are
#: understood too (:func:`unit_metres`).
_UNIT_SPELLINGS = {
    **dict.fromkeys(("m", "metre", "metres", "meter", "meters", "mtr"), 1.0),
    **dict.fromkeys(("ft", "foot", "feet", "internationalfoot", "internationalfeet",
                     "intlfoot", "ftintl", "footintl", "feetintl"), _FOOT),
    **dict.fromkeys(("ussurveyfoot", "ussurveyfeet", "ussurveyft", "surveyfoot",
                     "surveyfeet", "ftus", "usft", "usfoot", "usfeet", "footus",
                     "feetus", "ftsurvey"), _US_SURVEY_FOOT),
    **dict.fromkeys(("dm", "decimetre", "decimetres", "decimeter", "decimeters"), 0.1),
    **dict.fromkeys(("cm", "centimetre", "centimetres", "centimeter", "centimeters"), 0.01),
    **dict.fromkeys(("mm", "millimetre", "millimetres", "millimeter", "millimeters"), 0.001),
    **dict.fromkeys(("km", "kilometre", "kilometres", "kilometer", "kilometers"), 1000.0),
}


def _unit_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def unit_metres(name: str) -> float | None:
    """Metres per unit of a linear unit's name, in any common spelling; None if unknown.

    >>> unit_metres("US survey foot") == unit_metres("ftUS") == 1200 / 3937
    True
    >>> unit_metres("m"), unit_metres("Feet"), unit_metres("furlong")
    (1.0, 0.3048, None)
    """
    key = _unit_key(name)
    if key in _UNIT_SPELLINGS:
        return _UNIT_SPELLINGS[key]
    from pyproj.database import get_units_map

    for unit_name, unit in get_units_map(auth_name="EPSG", category="linear").items():
        if _unit_key(unit_name) == key:
            return float(unit.conv_factor)
    return None


@dataclass(frozen=True)
class VerticalUnit:
    """How stored elevations become metres: ``(stored * scale + offset) * metres``.

    ``name`` is the elevation unit (e.g. ``"US survey foot"``) and ``source``
    where it was decided: ``"z_factor"``, ``"compound CRS"``, ``"band unit"``,
    ``"horizontal unit"`` (assumed from a projected CRS) or ``"default"``
    (metres, for a geographic CRS or none). ``warnings`` holds what the user
    should hear: an assumed non-metre unit, a unit string not understood.
    """

    metres: float
    name: str
    source: str
    scale: float = 1.0
    offset: float = 0.0
    warnings: tuple[str, ...] = ()

    @property
    def z_factor(self) -> float:
        """Metres per stored elevation value: what multiplies the derivatives."""
        return self.scale * self.metres

    def to_metres(self, z: np.ndarray) -> np.ndarray:
        """Stored elevations in metres (the offset matters only when mixing rasters)."""
        return (z * self.scale + self.offset) * self.metres


def vertical_unit(
    crs,
    band_unit: str | None = None,
    scale: float | None = 1.0,
    offset: float | None = 0.0,
    z_factor: float | None = None,
    name: str = "the raster",
) -> VerticalUnit:
    """Decide once per raster what its elevations are in.

    In this order: ``z_factor`` (metres per elevation unit) if given; the
    vertical axis of a compound CRS; the band's unit type (``band_unit``, as
    rasterio's ``units``); for a projected CRS, its horizontal unit (with a
    warning when that is not the metre); else metres. ``scale`` and ``offset``
    are the band's, applied before the unit. ``name`` names the raster in
    warnings.

    >>> v = vertical_unit("EPSG:2263+6360")
    >>> v.name, v.source, round(v.z_factor, 7)
    ('US survey foot', 'compound CRS', 0.3048006)
    >>> round(vertical_unit("EPSG:32633", "ft", scale=0.1).z_factor, 9)
    0.03048
    """
    scale = 1.0 if scale is None else float(scale)
    offset = 0.0 if offset is None else float(offset)
    if not np.isfinite(scale) or scale == 0 or not np.isfinite(offset):
        raise BadInputError(f"{name}: band scale {scale!r} and offset {offset!r} are unusable")
    parts = {"scale": scale, "offset": offset}
    if z_factor is not None:
        return VerticalUnit(float(z_factor), f"{z_factor:g} m", "z_factor", **parts)
    crs = _parse_crs(crs)
    if crs is not None:
        for sub in crs.sub_crs_list if crs.is_compound else ():
            if sub.is_vertical:
                axis = sub.axis_info[0]
                return VerticalUnit(axis.unit_conversion_factor, axis.unit_name,
                                    "compound CRS", **parts)
    notes = []
    if band_unit and band_unit.strip():
        metres = unit_metres(band_unit)
        if metres is not None:
            return VerticalUnit(metres, band_unit.strip(), "band unit", **parts)
        notes.append(
            f"{name}: elevation unit {band_unit.strip()!r} not understood, ignored; "
            "give --z-factor (metres per elevation unit) if the slope looks wrong"
        )
    if crs is not None and crs.is_projected:
        axis = crs.axis_info[0]
        if axis.unit_conversion_factor != 1.0:
            notes.append(
                f"{name}: no vertical unit declared; taking elevations in the CRS's "
                f"horizontal unit, {axis.unit_name} ({axis.unit_conversion_factor:.7g} m); "
                "pass --z-factor 1 if they are metres"
            )
        return VerticalUnit(axis.unit_conversion_factor, axis.unit_name, "horizontal unit",
                            warnings=tuple(notes), **parts)
    return VerticalUnit(1.0, "metre", "default", warnings=tuple(notes), **parts)
