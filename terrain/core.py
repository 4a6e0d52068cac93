"""The gradient kernel on plain arrays: one stencil set, nodata holes as boundaries.

On a fully valid array, :func:`gradient` equals :func:`numpy.gradient` of the
same float64 array, pixel for pixel and bit for bit: second-order central
differences inside, one-sided differences of order ``edge_order`` at the
ends of each axis. One exception: where a stencil spans equal values, numpy's
coefficients can leave rounding noise (~1e-16) and we return exactly 0, so
that flat ground has a slope of 0 and no aspect.

A nodata hole is treated like the end of the raster: a
valid pixel next to it takes the one-sided stencil pointing away from it
(second order when two valid pixels lie that way and ``edge_order=2``, first
order when only one does). Only a pixel with no valid neighbour along an axis
gets NaN for that axis.

This module knows nothing of files, CRSs or xarray: spacings are numbers or
coordinate arrays in whatever unit the caller wants the derivative in.

Every path runs one compiled kernel (:mod:`terrain._kernel`, C, built when
terrain is installed): :func:`fused` goes in one pass from elevations to the
output bands (gradient, slope, aspect, hillshade or curvatures, encoded for
the file or the array); :func:`gradient`, :func:`horn` and :func:`quadratic` are that kernel
with the gradient as its product. numpy.gradient stays the reference the tests
compare against.

The ``quadratic`` method fits z = a x² + b y² + c xy + d x + e y + f by least
squares to the valid pixels of a window around each pixel (Evans 1980; Wood
1996): a window crossing the raster's edge is moved inward, a window with
nodata is fit to the pixels it holds, and a window whose pixels do not
determine the quadratic gives the central differences. What a block must read
around it follows from the window: :func:`context` and :func:`halo`. The same
fit gives the second derivatives r = 2a, t = 2b, s = c that the curvatures
(:data:`CURVATURES`) are made of; a window that does not determine the
quadratic has none (the curvatures are NaN there).
"""

from __future__ import annotations

import itertools
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from terrain import _kernel
from terrain.errors import RasterTooSmallError, UsageError
from terrain.units import SLOPE_UNITS, check_units

__all__ = [
    "CURVATURES", "EDGE_ORDERS", "HALO", "MAX_WINDOW", "METHODS", "PRODUCTS", "SIGMAS",
    "UNCERTAIN_PRODUCTS", "Holes", "Window",
    "check_kinds", "context", "default_jobs", "fused", "gradient", "halo", "horn", "quadratic",
    "uniform_step", "window_pixels",
]

#: Edge orders accepted, as in :func:`numpy.gradient`.
EDGE_ORDERS = (1, 2)

#: Pixels of context a result pixel depends on along each axis: the
#: second-order one-sided stencil next to a hole reaches two pixels away.
#: Every block, tile and Dask chunk is read with this halo.
HALO = 2

#: Gradient methods: :func:`gradient` (second-order central differences, the
#: Zevenbergen-Thorne stencil inside the raster), :func:`horn`, and
#: :func:`quadratic` (a least-squares quadratic over a window).
METHODS = ("central", "horn", "quadratic")

#: The largest window of the quadratic method, pixels along an axis: a block
#: is read with about this many pixels of context on each side.
MAX_WINDOW = 1001

#: What :func:`fused` computes: the gradient (2 bands: dz/dx, dz/dy), one band,
#: or curvatures (one band per kind, :data:`CURVATURES`; the quadratic method only).
PRODUCTS = ("gradient", "slope", "aspect", "hillshade", "curvature")

#: The curvatures of the window fit, in 1/m (gaussian in 1/m²), positive where
#: convex; their formulas are written once, in terrain/_kernel.c
#: (``curvature_of``), and in docs/conventions.md. dxx, dyy and dxy are
#: d²z/dx², d²z/dy² and d²z/dxdy themselves.
CURVATURES = ("profile", "tangential", "plan", "mean", "gaussian", "maximal", "minimal",
              "dxx", "dyy", "dxy")

#: Where the standard errors' sigma comes from (:func:`fused`'s ``z_sigma``): none,
#: one number (metres), one per pixel (an array), or the window fit's residuals.
SIGMAS = (None, "uniform", "raster", "fit")

#: The products that have standard errors (:func:`fused`'s ``z_sigma``).
UNCERTAIN_PRODUCTS = ("gradient", "slope", "aspect")

#: The smallest window, pixels along each axis, whose residuals estimate sigma
#: (``z_sigma="fit"``): 25 pixels less the 6 coefficients leave 19 degrees of freedom.
FIT_SIGMA_WINDOW = 5

#: Rows per thread below which :func:`fused` does not split the work.
_MIN_ROWS_PER_JOB = 64

Spacing = float | np.ndarray

_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(m|km)\s*$")


def window_pixels(length: float, pixel: float | np.ndarray) -> int | np.ndarray:
    """The odd pixel count, at least 3, whose span (count x ``pixel``) is nearest ``length``.

    A tie goes to the larger count. ``pixel`` may be one size per row.

    >>> window_pixels(30.0, 10.0), window_pixels(40.0, 10.0), window_pixels(30.0, 1.0)
    (3, 5, 31)
    >>> window_pixels(10.0, np.array([10.0, 4.0, 2.5])).tolist()
    [3, 3, 5]
    """
    pixel = np.abs(np.asarray(pixel, dtype=float))
    below = 2 * np.floor((length / pixel - 1) / 2) + 1  # the largest odd count <= length / pixel
    above = below + 2
    count = np.where(above * pixel - length <= length - below * pixel, above, below)
    count = np.maximum(count, 3).astype(int)
    return int(count) if count.ndim == 0 else count


@dataclass(frozen=True)
class Window:
    """The quadratic method's window: an odd pixel count per axis, or a length in metres.

    ``Window.parse(7)``, ``Window.parse("7")``, ``Window.parse("30m")`` and
    ``Window.parse("1.5km")``; a length in metres becomes, along each axis,
    the odd pixel count (at least 3) whose span is nearest to it
    (:func:`window_pixels`), row by row on lat/lon grids.

    >>> str(Window.parse("30 m")), str(Window.parse(7)), str(Window.parse("1.5km"))
    ('30m', '7', '1500m')
    """

    pixels: int | None = None
    metres: float | None = None

    @classmethod
    def parse(cls, spec: Window | int | str) -> Window:
        if isinstance(spec, Window):
            return spec
        if isinstance(spec, str):
            text = spec.strip()
            match = _LENGTH.match(text)
            if match:
                metres = float(match.group(1)) * (1000.0 if match.group(2) == "km" else 1.0)
                if not 0 < metres < math.inf:
                    raise UsageError(f"window {spec!r}: a length in metres must be positive")
                return cls(metres=metres)
            if not text.isdigit():
                raise UsageError(
                    f"window {spec!r}: give an odd number of pixels (7) or a length in metres (30m)"
                )
            spec = int(text)
        if isinstance(spec, bool) or not isinstance(spec, (int, np.integer)):
            raise UsageError(
                f"window {spec!r}: give an odd number of pixels (7) or a length in metres ('30m')"
            )
        pixels = int(spec)
        if pixels < 3 or pixels % 2 == 0 or pixels > MAX_WINDOW:
            raise UsageError(
                f"window {pixels}: a pixel count must be odd, from 3 to {MAX_WINDOW}"
            )
        return cls(pixels=pixels)

    def __str__(self) -> str:
        return str(self.pixels) if self.pixels is not None else f"{self.metres:.15g}m"

    def shape(self, row_metres: Spacing | None, col_metres: Spacing | None,
              rows: int) -> np.ndarray:
        """The window's (rows, columns) for each of ``rows`` rows, int32, shape (rows, 2).

        ``row_metres`` and ``col_metres`` are the lengths of a row step and a
        column step, one number or one per row; None where the grid has no
        single length along that axis (irregular coordinates).
        """
        out = np.empty((rows, 2), dtype=np.int32)
        if self.pixels is not None:
            out[:] = self.pixels
            return out
        for axis, (size, name) in enumerate(((row_metres, "rows"), (col_metres, "columns"))):
            if size is None:
                raise UsageError(
                    f"window {self}: the grid's {name} are not evenly spaced, so a length "
                    "in metres has no pixel count: give the window in pixels (e.g. 7)"
                )
            count = np.broadcast_to(window_pixels(self.metres, size), (rows,))
            if count.size and count.max() > MAX_WINDOW:
                raise UsageError(
                    f"window {self} spans {int(count.max())} pixels along the {name}: "
                    f"at most {MAX_WINDOW}"
                )
            out[:, axis] = count
        return out


def halo(window: int | np.ndarray | None = None) -> int:
    """Pixels of context the estimator reads beside a pixel, along an axis.

    :data:`HALO` for the 3x3 methods; for the quadratic method, ``window``
    pixels along the axis (one number or one per pixel), ``max(2, window // 2)``
    for the largest.
    """
    if window is None:
        return HALO
    return max(HALO, int(np.max(window)) // 2)


def context(start: int, stop: int, n: int, window: int | np.ndarray | None = None
            ) -> tuple[int, int]:
    """The pixels ``[lo, hi)`` of an axis of ``n`` that pixels ``[start, stop)`` read.

    ``window`` is None for the 3x3 methods (a :data:`HALO` clipped at the
    axis' ends), else the quadratic method's window along this axis: one
    pixel count, or one for each of the ``n`` pixels. A window that would
    cross an end is moved inward, so a pixel near the end reads up to a whole
    window from it; an axis shorter than the window is read whole. A block
    read with this context gives its pixels the bits the whole raster gives.

    >>> context(0, 1, 100, 7), context(50, 60, 100, 7), context(98, 100, 100, 7)
    ((0, 7), (47, 63), (93, 100))
    """
    lo, hi = max(start - HALO, 0), min(stop + HALO, n)
    if window is None or stop <= start:
        return lo, hi
    w = np.asarray(window)
    w = np.minimum(w[start:stop] if w.ndim else w, n)
    first = np.clip(np.arange(start, stop) - w // 2, 0, n - w)
    return min(lo, int(first.min())), max(hi, int((first + w).max()))


@dataclass(frozen=True, eq=False)  # eq would compare masks as truth values
class Holes:
    """Which elevations are nodata, as a rule the kernel applies while it reads them.

    ``nodata`` is the stored value that marks nodata, compared in the
    elevations' own type (as numpy compares a float32 array with a number);
    with ``finite``, NaN and infinities are nodata too; ``mask`` (True where
    there is data) adds a dataset mask. Files and DataArrays are read with a
    rule, so that no validity array is built for a block read once.
    """

    nodata: float | None = None
    finite: bool = False
    mask: np.ndarray | None = None

    def valid(self, z: np.ndarray) -> np.ndarray | None:
        """The rule as a bool array for ``z`` (True where data); None if all hold data."""
        valid = self.mask
        if self.nodata is not None and not np.isnan(self.nodata):
            valid = (z != self.nodata) if valid is None else valid & (z != self.nodata)
        if self.finite:
            valid = np.isfinite(z) if valid is None else valid & np.isfinite(z)
        return valid


Validity = np.ndarray | Holes | None


def gradient(
    z: np.ndarray,
    valid: Validity = None,
    row: Spacing = 1.0,
    col: Spacing = 1.0,
    edge_order: int = 2,
    *,
    detect_uniform: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives of ``z`` along its rows axis (0) and columns axis (1).

    Parameters
    ----------
    z : 2-D array
        Elevations; computed in float64.
    valid : 2-D bool array or :class:`Holes`, optional
        False where ``z`` is nodata, or the rule that says where. None means
        every pixel is valid.
    row, col : float or 1-D array
        As in :func:`numpy.gradient`: a scalar is the (signed) spacing between
        consecutive pixels along that axis; a 1-D array holds the coordinate
        of each pixel along that axis (non-uniform spacing).
    edge_order : {1, 2}
        Order of the one-sided differences at borders and next to holes.
    detect_uniform : bool
        Treat a coordinate array with equal steps as its uniform spacing, as
        numpy does. Windows of one larger grid pass False, so that every
        window uses the formula the whole grid uses and agrees bit for bit.

    Returns
    -------
    d_row, d_col : 2-D float64 arrays
        dz/d(row coordinate) and dz/d(col coordinate); NaN where ``z`` is
        nodata or the pixel has no valid neighbour along that axis.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.add.outer(3.0 * np.arange(4), 0.5 * np.arange(5))
    >>> d_row, d_col = gradient(z, row=2.0, col=1.0)
    >>> float(d_row[0, 0]), float(d_col[3, 4])
    (1.5, 0.5)
    """
    f = _elevations(z)
    row_h, row_x = _spacing(row, f.shape[0], detect_uniform)
    col_h, col_x = _spacing(col, f.shape[1], detect_uniform)
    bands = fused(f, valid, row=row_h if row_x is None else row_x,
                  col=col_h if col_x is None else col_x, edge_order=edge_order)
    return bands[1], bands[0]


def horn(
    z: np.ndarray,
    valid: Validity = None,
    row: float = 1.0,
    col: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives along rows (axis 0) and columns (axis 1) by Horn's method.

    Horn's 3x3 weighted differences (weights 1, 2, 1 across the centre, divided
    by 8 steps; Horn, B.K.P. (1981), "Hill shading and the reflectance map",
    Proc. IEEE 69(1), 14-47; gdaldem's default method), with borders and
    holes filled exactly as ``gdaldem slope -compute_edges`` fills them
    (GDAL's ``GDALGeneric3x3Processing`` and ``ComputeVal``), so that slope,
    aspect and hillshade from these derivatives equal gdaldem's everywhere, up
    to its float32 arithmetic:

    - Outside the raster, a missing row or column is extrapolated linearly
      from the two nearest pixels, ``2 a - b``; missing if ``a`` or ``b`` is.
      On the first and last rows, though, gdaldem repeats the edge column
      instead of extrapolating it, so at the four corner pixels the column
      derivative of a plane comes out half its value.
    - A missing neighbour (nodata, or an extrapolation from nodata) takes the
      value of the window's centre pixel.
    - A nodata pixel has no derivative (NaN).

    Without the fills (plain ``gdaldem slope``), gdaldem leaves the border and
    every pixel next to a hole as nodata instead. A result pixel depends on
    its 3x3 window only, so blocks read with :data:`HALO` pixels of context
    (clipped at the raster's border) give the same result as the whole.

    Parameters
    ----------
    z : 2-D array
        Elevations; computed in float64. NaN counts as nodata.
    valid : 2-D bool array, optional
        False where ``z`` is nodata. None means every non-NaN pixel is valid.
    row, col : float
        Signed spacing between consecutive pixels along each axis. Horn's
        stencil needs a uniform grid: coordinate arrays are refused.

    Returns
    -------
    d_row, d_col : 2-D float64 arrays
        dz/d(row coordinate) and dz/d(col coordinate); NaN where ``z`` is nodata.

    Examples
    --------
    >>> z = np.add.outer(3.0 * np.arange(4), 0.5 * np.arange(5))
    >>> d_row, d_col = horn(z, row=2.0)
    >>> float(d_row[0, 0]), float(d_col[2, 4])
    (1.5, 0.5)
    """
    if np.ndim(row) or np.ndim(col):
        raise UsageError(
            "Horn's method needs a uniform grid (scalar spacings), not coordinate "
            "arrays: use the 'central' method, or resample the DEM to a regular grid"
        )
    bands = fused(z, valid, row=float(row), col=float(col), method="horn")
    return bands[1], bands[0]


def quadratic(
    z: np.ndarray,
    valid: Validity = None,
    row: Spacing = 1.0,
    col: float = 1.0,
    window: int | tuple[int, int] | np.ndarray = 3,
    edge_order: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives along rows (axis 0) and columns (axis 1) by a least-squares quadratic.

    At each pixel, z = a x² + b y² + c xy + d x + e y + f is fitted by least
    squares to the valid pixels of a window, x and y their offsets from the
    pixel; d and e are the derivatives there (Evans, I.S. (1980), "An
    integrated system of terrain analysis and slope mapping", Z. Geomorph.
    Suppl. 36, 274-295; Wood, J. (1996), "The geomorphological
    characterisation of digital elevation models", PhD thesis, University of
    Leicester, for any window size). On the 3x3 window this is Evans's
    ``(right column - left column) / 6h``.

    - A window that would cross the raster's edge is moved inward until it
      lies inside; the fit is evaluated at the pixel, off the window's centre.
    - A window holding nodata is fit to the valid pixels it holds.
    - Where they do not determine the quadratic (fewer than 6, or all on one
      conic: two rows, two columns, a line...), the pixel takes the central
      differences of :func:`gradient` with ``edge_order``; so every pixel
      the central method gives a value gets one.
    - A nodata pixel has no derivative (NaN).

    Parameters
    ----------
    z, valid
        Elevations and their validity, as for :func:`gradient`.
    row
        Spacing between rows, or one coordinate per row (as for :func:`gradient`).
    col
        Spacing between columns (uniform: coordinate arrays must be evenly spaced).
    window
        Pixels of the window: an odd count for both axes, a (rows, columns)
        pair, or one pair per row, shape (rows, 2). An axis shorter than the
        window takes the whole axis.

    Examples
    --------
    >>> y, x = np.mgrid[0:6, 0:7].astype(float)
    >>> z = 0.1 * x**2 - 0.2 * x * y + 3 * y
    >>> d_row, d_col = quadratic(z, window=5)
    >>> bool(np.allclose(d_col, 0.2 * x - 0.2 * y) and np.allclose(d_row, 3 - 0.2 * x))
    True
    """
    f = _elevations(z)
    row_h, row_x = _spacing(row, f.shape[0])
    col_h, col_x = _spacing(col, f.shape[1])
    bands = fused(f, valid, row=row_h if row_x is None else row_x,
                  col=col_h if col_x is None else col_x, edge_order=edge_order,
                  method="quadratic", window=window)
    return bands[1], bands[0]


def fused(
    z: np.ndarray,
    valid: Validity = None,
    *,
    row: Spacing = 1.0,
    col: Spacing = 1.0,
    edge_order: int = 2,
    method: str = "central",
    col_scale: np.ndarray | None = None,
    jacobian: np.ndarray | None = None,
    z_factor: float = 1.0,
    product: str = "gradient",
    units: str = "ratio",
    azimuth: float = 315.0,
    altitude: float = 45.0,
    dtype=np.float64,
    nodata: float = np.nan,
    inner: tuple[slice, slice] = (slice(None), slice(None)),
    jobs: int = 1,
    window: int | tuple[int, int] | np.ndarray | None = None,
    kinds: tuple[str, ...] | None = None,
    z_sigma: float | str | np.ndarray | None = None,
    sigma_factor: float = 1.0,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The output bands of ``z`` in one compiled pass, shape (bands, rows, cols).

    With ``z_sigma``, also the standard error of each output value, in its
    units, as a second array of the same shape and type: ``(bands, errors)``.

    Parameters
    ----------
    z, valid
        Elevations (float32 or float64; other types are converted to float64)
        and their validity, as for :func:`gradient`. Computed in float64.
    row, col
        For ``central``: spacings or coordinate arrays as for :func:`gradient`
        (a coordinate array is used as such, never reduced to its step). For
        ``horn``: the local step, a number or one per pixel along the axis.
    edge_order, method
        As for :func:`gradient`; ``method`` is ``central``, ``horn`` or
        ``quadratic`` (whose fallback next to degenerate windows takes
        ``edge_order``).
    col_scale : 1-D array, optional
        One divisor per row for the column derivative (the parallel radius on
        lat/lon grids, where ``col`` is in radians).
    jacobian : 2x2 array, optional
        Metres east and north per column and row step, ``[[a, b], [d, e]]``,
        for rotated grids (``row`` and ``col`` are then 1): the world gradient
        is ``J^-T`` times the pixel gradient.
    z_factor
        Metres per elevation unit.
    product, units, azimuth, altitude
        What to compute: ``gradient`` (2 bands, dz/dx then dz/dy, or d/dcol
        and d/drow without a Jacobian or ``col_scale``), ``slope`` in
        ``units``, ``aspect`` or ``hillshade`` lit from ``azimuth`` and
        ``altitude``: the formulas of :mod:`terrain.units`; or ``curvature``
        (the quadratic method only), one band for each of ``kinds``.
    dtype, nodata
        The result's type and its value for nodata; ``uint8`` is gdaldem's
        rounded Byte with 0 for nodata.
    inner
        The part of ``z`` to compute (slices with non-negative bounds, step 1);
        the rest is context for the stencils, such as a block's halo.
    jobs
        Threads to split the rows among (the kernel releases the GIL).
    window
        The quadratic method's window, as for :func:`quadratic` (default 3);
        the caller reads ``z`` with the :func:`context` of ``inner``.
    kinds
        The curvature product's bands, names of :data:`CURVATURES` (in 1/m of
        the metres east and north that ``row``, ``col``, ``col_scale`` or
        ``jacobian`` give, like the gradient). float64 or float32 only.
    z_sigma, sigma_factor
        The elevations' standard error, uncorrelated from pixel to pixel, for
        the products of :data:`UNCERTAIN_PRODUCTS`: a number (metres), an
        array of ``z``'s shape (NaN where unknown) whose values times
        ``sigma_factor`` are metres, or ``"fit"``: each window's residuals,
        sqrt(RSS / (n - 6)) (the quadratic method). Propagated exactly
        through the weights each pixel's stencil or window used, then to the
        product to first order; docs/conventions.md ("Uncertainty") gives the
        formulas and what the errors hold where the slope is within noise of 0.

    Examples
    --------
    >>> y, x = np.mgrid[0:7, 0:9] * 10.0
    >>> bowl = (x - 40.0) ** 2 / 2000 + (y - 30.0) ** 2 / 4000   # r = 1/1000, t = 1/2000
    >>> bands = fused(bowl, row=10.0, col=10.0, method="quadratic", window=5,
    ...               product="curvature", kinds=("dxx", "dyy", "mean"))
    >>> bool(np.allclose(bands[0], 1e-3) and np.allclose(bands[1], 5e-4))
    True
    >>> round(float(bands[2, 3, 4]), 12)  # -(r + t) / 2 at the bottom: concave
    -0.00075
    """
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if product not in PRODUCTS:
        raise UsageError(f"unknown product {product!r}: choose one of {', '.join(PRODUCTS)}")
    if edge_order not in EDGE_ORDERS:
        raise UsageError(f"edge order must be 1 or 2, not {edge_order!r}")
    check_units(units)
    codes = None
    if product == "curvature":
        if method != "quadratic":
            raise UsageError(
                f"curvatures come from the quadratic fit (a window), not the {method!r} method"
            )
        codes = np.array([_curvature_code(kind) for kind in check_kinds(kinds)], dtype=np.int32)
    elif kinds is not None:
        raise UsageError(f"kinds go with the curvature product, not {product!r}")
    sigma, sigma_value, sigma_array = _sigma(z_sigma, product, method)
    f = _elevations(z)
    if sigma_array is not None and sigma_array.shape != f.shape:
        raise UsageError(f"sigmas of shape {sigma_array.shape} for elevations of shape {f.shape}")
    n, m = f.shape
    holes = valid if isinstance(valid, Holes) else Holes(mask=valid)
    mask = holes.mask
    if mask is not None:
        mask = np.ascontiguousarray(mask, dtype=bool)
        if mask.shape != f.shape:
            raise UsageError(f"validity of shape {mask.shape} for elevations of shape {f.shape}")
    z_nodata = None if holes.nodata is None else float(holes.nodata)
    row_h = col_h = 0.0
    row_x = col_x = row_step = col_step = None
    win = None
    if method != "quadratic" and window is not None:
        raise UsageError(f"a window goes with the quadratic method, not {method!r}")
    if method in ("central", "quadratic"):
        (row_h, row_x), (col_h, col_x) = _as_spacing(row, n), _as_spacing(col, m)
    else:
        row_step = np.ascontiguousarray(np.broadcast_to(np.asarray(row, float).ravel(), n))
        col_step = np.ascontiguousarray(np.broadcast_to(np.asarray(col, float).ravel(), m))
    if method == "quadratic":
        win = _window_array(3 if window is None else window, n)
        if col_x is not None:
            raise UsageError(
                "the quadratic method needs evenly spaced columns (x coordinates): "
                "resample the DEM to a regular grid, or use the 'central' method"
            )
    scale = None if col_scale is None else np.ascontiguousarray(col_scale, dtype=float)
    inverse_t = (None if jacobian is None
                 else np.ascontiguousarray(np.linalg.inv(jacobian).T, dtype=float).ravel())
    az, alt = np.radians(azimuth), np.radians(altitude)
    light = np.array([np.sin(az), np.cos(az), np.sin(alt), np.cos(alt)], dtype=float)
    rows, cols = inner
    r0, r1, _ = rows.indices(n)
    c0, c1, _ = cols.indices(m)
    bands = 2 if product == "gradient" else 1 if codes is None else codes.size
    out = np.empty((bands, r1 - r0, c1 - c0), dtype=dtype)
    if out.dtype not in (np.float64, np.float32, np.uint8):
        raise UsageError(f"results can be float64, float32 or uint8, not {out.dtype}")
    if codes is not None and out.dtype == np.uint8:
        raise UsageError("curvatures are float64 or float32, not uint8")
    errors = None
    if sigma:
        if out.dtype == np.uint8:
            raise UsageError("standard errors are float64 or float32, not uint8")
        errors = np.empty_like(out)
    extra = () if not sigma else (sigma, sigma_value, sigma_array, float(sigma_factor), errors)

    def run(start: int, stop: int) -> None:
        _kernel.fused(
            f, mask, z_nodata, holes.finite, start, stop, c0, c1, METHODS.index(method),
            edge_order, row_h, row_x, col_h, col_x, row_step, col_step, scale, inverse_t,
            float(z_factor),
            PRODUCTS.index(product), SLOPE_UNITS.index(units), light, float(nodata), out,
            start - r0, win, codes, *extra,
        )

    jobs = max(1, min(jobs, (r1 - r0) // _MIN_ROWS_PER_JOB))
    if jobs == 1:
        run(r0, r1)
    else:
        bounds = np.linspace(r0, r1, jobs + 1).astype(int)
        with ThreadPoolExecutor(jobs) as pool:
            for done in [pool.submit(run, a, b) for a, b in itertools.pairwise(bounds)]:
                done.result()
    return out if errors is None else (out, errors)


def _sigma(z_sigma, product: str, method: str) -> tuple[int, float, np.ndarray | None]:
    """``z_sigma`` as the kernel takes it: (index in :data:`SIGMAS`, metres, array)."""
    if z_sigma is None:
        return 0, 0.0, None
    if product not in UNCERTAIN_PRODUCTS:
        raise UsageError(f"standard errors go with {', '.join(UNCERTAIN_PRODUCTS)}, "
                         f"not {product!r}")
    if isinstance(z_sigma, str):
        if z_sigma != "fit":
            raise UsageError(f"z_sigma {z_sigma!r}: a number (metres), an array, or 'fit'")
        if method != "quadratic":
            raise UsageError("z_sigma='fit' takes sigma from the window fit's residuals: "
                             "it needs the quadratic method (a window of 5 or more)")
        return SIGMAS.index("fit"), 0.0, None
    if np.ndim(z_sigma) == 0:
        if isinstance(z_sigma, bool) or not isinstance(z_sigma, (int, float, np.number)):
            raise UsageError(f"z_sigma must be a number of metres, not {z_sigma!r}")
        value = float(z_sigma)
        if not 0 <= value < math.inf:
            raise UsageError(f"z_sigma must be a finite number of metres, 0 or more, "
                             f"not {z_sigma!r}")
        return SIGMAS.index("uniform"), value, None
    array = np.asarray(z_sigma)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if array.ndim != 2:
        raise UsageError(f"sigmas must be a 2-D array, got {array.ndim} dimensions")
    return SIGMAS.index("raster"), 0.0, np.ascontiguousarray(array)


def check_kinds(kinds) -> tuple[str, ...]:
    """Curvature kinds as a tuple: one name or several, each once."""
    if kinds is None:
        raise UsageError(f"name the curvature: a kind among {', '.join(CURVATURES)}")
    names = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not names:
        raise UsageError(f"name the curvature: a kind among {', '.join(CURVATURES)}")
    for name in names:
        _curvature_code(name)
        if names.count(name) > 1:
            raise UsageError(f"curvature {name!r} is asked for twice: each kind is one band")
    return names


def _curvature_code(kind) -> int:
    if kind not in CURVATURES:
        raise UsageError(f"unknown curvature {kind!r}: choose one of {', '.join(CURVATURES)}")
    return CURVATURES.index(kind)


def _window_array(window, n: int) -> np.ndarray:
    """A window as the kernel takes it: (rows, columns) of each of n rows, int32."""
    w = np.asarray(window)
    if w.ndim == 0 or w.shape == (2,):
        w = np.broadcast_to(w, (n, 2))
    if w.shape != (n, 2) or not np.issubdtype(w.dtype, np.integer):
        raise UsageError(
            f"a window is a pixel count, a (rows, columns) pair or one pair per row ({n}), "
            f"not {window!r}"
        )
    if w.size and (w.min() < 3 or w.max() > MAX_WINDOW or (w % 2 == 0).any()):
        raise UsageError(f"window pixels must be odd, from 3 to {MAX_WINDOW}")
    return np.ascontiguousarray(w, dtype=np.int32)


def default_jobs() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1
    )


def _as_spacing(spacing: Spacing, n: int) -> tuple[float, np.ndarray | None]:
    """(uniform step, None) or (0, coordinates) for the kernel."""
    step, x = _spacing(spacing, n, detect_uniform=False)
    return (0.0, np.ascontiguousarray(x)) if x is not None else (step, None)


def _elevations(z) -> np.ndarray:
    """``z`` as a C-ordered float32 or float64 2-D array with at least 2 pixels a side."""
    f = np.asarray(z)
    if f.dtype not in (np.float32, np.float64):
        f = f.astype(np.float64)
    if f.ndim != 2:
        raise UsageError(f"elevations must be a 2-D array, got {f.ndim} dimensions")
    if min(f.shape) < 2:
        raise RasterTooSmallError(
            f"raster of {f.shape[0]}x{f.shape[1]} pixels is too small: "
            "a slope needs at least 2 pixels along each axis"
        )
    return np.ascontiguousarray(f)


def _spacing(spacing: Spacing, n: int, detect_uniform: bool = True
             ) -> tuple[float | None, np.ndarray | None]:
    """(uniform step, None) or (None, coordinates), following numpy's rule."""
    if np.ndim(spacing) == 0:
        return float(spacing), None
    x = np.asarray(spacing, dtype=np.float64)
    if x.ndim != 1 or x.size != n:
        raise UsageError(
            f"a coordinate array must be 1-D with one value per pixel ({n}), "
            f"got shape {x.shape}"
        )
    step = uniform_step(x) if detect_uniform else None
    return (float(step), None) if step is not None else (None, x)


def uniform_step(x: np.ndarray) -> float | None:
    """The step of coordinates whose steps are all exactly equal, else None."""
    dx = np.diff(x)
    return dx[0] if dx.size and (dx == dx[0]).all() else None
