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
"""

from __future__ import annotations

import numpy as np

from terrain.errors import RasterTooSmallError, UsageError

__all__ = [
    "EDGE_ORDERS", "HALO", "HORN_DIVISOR", "HORN_WEIGHTS", "METHODS", "gradient", "horn",
    "uniform_step",
]

#: Edge orders accepted, as in :func:`numpy.gradient`.
EDGE_ORDERS = (1, 2)

#: Pixels of context a result pixel depends on along each axis: the
#: second-order one-sided stencil next to a hole reaches two pixels away.
#: Every block, tile and Dask chunk is read with this halo.
HALO = 2

#: Gradient methods: :func:`gradient` (second-order central differences, the
#: Zevenbergen-Thorne stencil inside the raster) and :func:`horn`.
METHODS = ("central", "horn")

#: Horn's 3x3 weights for the derivative along columns (x); the derivative
#: along rows uses the transpose. Horn, B.K.P. (1981), "Hill shading and the
#: reflectance map", Proc. IEEE 69(1), 14-47; gdaldem's default method.
HORN_WEIGHTS = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])

#: The weighted sum spans two pixel steps and weights 1 + 2 + 1 = 4 differences.
HORN_DIVISOR = 8

Spacing = float | np.ndarray


def gradient(
    z: np.ndarray,
    valid: np.ndarray | None = None,
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
    valid : 2-D bool array, optional
        False where ``z`` is nodata. None means every pixel is valid.
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
    if edge_order not in EDGE_ORDERS:
        raise UsageError(f"edge order must be 1 or 2, not {edge_order!r}")
    f = _elevations(z)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.all():
            valid = None
    return (
        _derivative(f, valid, _spacing(row, f.shape[0], detect_uniform), 0, edge_order),
        _derivative(f, valid, _spacing(col, f.shape[1], detect_uniform), 1, edge_order),
    )


def _elevations(z) -> np.ndarray:
    """``z`` as a float64 2-D array with at least 2 pixels along each axis."""
    f = np.asarray(z, dtype=np.float64)
    if f.ndim != 2:
        raise UsageError(f"elevations must be a 2-D array, got {f.ndim} dimensions")
    if min(f.shape) < 2:
        raise RasterTooSmallError(
            f"raster of {f.shape[0]}x{f.shape[1]} pixels is too small: "
            "a slope needs at least 2 pixels along each axis"
        )
    return f


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
    return (step, None) if step is not None else (None, x)


def uniform_step(x: np.ndarray) -> float | None:
    """The step of coordinates whose steps are all exactly equal, else None."""
    dx = np.diff(x)
    return dx[0] if dx.size and (dx == dx[0]).all() else None


def _derivative(f, valid, spacing, axis, edge_order):
    h, x = spacing

    def along(start, stop):
        s = [slice(None), slice(None)]
        s[axis] = slice(start, stop)
        return tuple(s)

    out = np.empty(f.shape, dtype=np.float64)
    # Central differences everywhere inside; pixels next to a hole are redone
    # below. Hole pixels hold arbitrary values (NaN, sentinels), so no warnings.
    with np.errstate(invalid="ignore", over="ignore"):
        if x is not None:
            dx1, dx2 = x[1:-1] - x[:-2], x[2:] - x[1:-1]
            shape = (-1, 1) if axis == 0 else (1, -1)
            a = (-(dx2) / (dx1 * (dx1 + dx2))).reshape(shape)
            b = ((dx2 - dx1) / (dx1 * dx2)).reshape(shape)
            c = (dx1 / (dx2 * (dx1 + dx2))).reshape(shape)
            out[along(1, -1)] = (
                a * f[along(None, -2)] + b * f[along(1, -1)] + c * f[along(2, None)]
            )
            # a + b + c is 0 only up to rounding: keep flat ground exactly flat
            flat = (f[along(None, -2)] == f[along(1, -1)]) & (
                f[along(2, None)] == f[along(1, -1)]
            )
            out[along(1, -1)][flat] = 0.0
        else:
            out[along(1, -1)] = (f[along(2, None)] - f[along(None, -2)]) / (2.0 * h)

    # Pixels whose central stencil is missing a neighbour: the two ends of the
    # axis, and valid pixels next to a hole.
    redo = np.zeros(f.shape, dtype=bool)
    redo[along(0, 1)] = True
    redo[along(-1, None)] = True
    if valid is not None:
        redo[along(1, -1)] |= ~(valid[along(None, -2)] & valid[along(2, None)])
        redo &= valid
    index = np.nonzero(redo)
    if index[0].size:
        out[index] = _one_sided(f, valid, h, x, index, axis, edge_order)
    if valid is not None:
        out[~valid] = np.nan
    return out


def _one_sided(f, valid, h, x, index, axis, edge_order):
    """One-sided differences at the given pixels, away from the missing side."""
    n = f.shape[axis]
    i = index[axis]

    def at(k):
        """Value, validity and position of the pixel k steps along the axis."""
        p = np.clip(i + k, 0, n - 1)
        where = list(index)
        where[axis] = p
        where = tuple(where)
        ok = (i + k >= 0) & (i + k < n)
        if valid is not None:
            ok &= valid[where]
        return f[where], ok, p

    f0 = f[index]
    fm1, okm1, pm1 = at(-1)
    fp1, okp1, pp1 = at(1)
    fm2, okm2, pm2 = at(-2)
    fp2, okp2, pp2 = at(2)
    # Not both neighbours are valid here, so at most one direction is open.
    forward = okp1 & ~okm1
    backward = okm1 & ~okp1
    second = edge_order == 2
    forward2 = forward & okp2 & second
    backward2 = backward & okm2 & second

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Written as numpy.gradient writes its border stencils, so that the
        # results agree to the last bit.
        if x is None:
            fwd2 = (-1.5 / h) * f0 + (2.0 / h) * fp1 + (-0.5 / h) * fp2
            bwd2 = (0.5 / h) * fm2 + (-2.0 / h) * fm1 + (1.5 / h) * f0
            fwd1 = (fp1 - f0) / h
            bwd1 = (f0 - fm1) / h
        else:
            x0, xm1, xp1, xm2, xp2 = x[i], x[pm1], x[pp1], x[pm2], x[pp2]
            d1, d2 = xp1 - x0, xp2 - xp1
            fwd2 = (
                (-(2.0 * d1 + d2) / (d1 * (d1 + d2))) * f0
                + ((d1 + d2) / (d1 * d2)) * fp1
                + (-d1 / (d2 * (d1 + d2))) * fp2
            )
            d1, d2 = xm1 - xm2, x0 - xm1
            bwd2 = (
                ((d2) / (d1 * (d1 + d2))) * fm2
                + (-(d2 + d1) / (d1 * d2)) * fm1
                + ((2.0 * d2 + d1) / (d2 * (d1 + d2))) * f0
            )
            fwd1 = (fp1 - f0) / (xp1 - x0)
            bwd1 = (f0 - fm1) / (x0 - xm1)
    result = np.select(
        [forward2, backward2, forward, backward],
        [fwd2, bwd2, fwd1, bwd1],
        default=np.nan,
    )
    # Over equal values numpy's second-order coefficients leave rounding noise
    # (~1e-16) where the derivative is exactly 0; flat ground must stay flat.
    flat = (forward2 & (fp1 == f0) & (fp2 == f0)) | (backward2 & (fm1 == f0) & (fm2 == f0))
    result[flat] = 0.0
    return result


def horn(
    z: np.ndarray,
    valid: np.ndarray | None = None,
    row: float = 1.0,
    col: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives along rows (axis 0) and columns (axis 1) by Horn's method.

    Horn's 3x3 weighted differences (:data:`HORN_WEIGHTS`), with borders and
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
    f = _elevations(z)
    if valid is not None:
        f = np.where(valid, f, np.nan)
    # NaN marks nodata from here on; 2a - b is NaN when a or b is, as in GDAL.
    rows = _extrapolate(f, axis=0)
    d_row, d_col = _horn_window_sums(_extrapolate(rows, axis=1))
    # gdaldem's first and last rows repeat the edge column instead.
    for out, three in ((0, rows[:3]), (-1, rows[-3:])):
        edge_row, edge_col = _horn_window_sums(np.pad(three, ((0, 0), (1, 1)), "edge"))
        d_row[out], d_col[out] = edge_row[0], edge_col[0]
    d_row /= HORN_DIVISOR * float(row)
    d_col /= HORN_DIVISOR * float(col)
    return d_row, d_col


def _extrapolate(f: np.ndarray, axis: int) -> np.ndarray:
    """``f`` with one more pixel at each end of ``axis``: ``2 a - b`` (GDAL's INTERPOL)."""
    first, second = np.take(f, [0], axis), np.take(f, [1], axis)
    last, before = np.take(f, [-1], axis), np.take(f, [-2], axis)
    return np.concatenate([2 * first - second, f, 2 * last - before], axis)


def _horn_window_sums(padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horn's weighted sums along rows and columns over every 3x3 window.

    ``padded`` has one pixel of context around the result; NaN is nodata.
    A nodata neighbour takes the centre's value; a nodata centre gives NaN.
    The positive and negative halves are summed separately, in the same
    order, so that flat ground gives exactly 0.
    """
    height, width = padded.shape[0] - 2, padded.shape[1] - 2
    centre = padded[1:-1, 1:-1]
    holes = np.isnan(padded).any()

    def tap(i, j):
        t = padded[i : i + height, j : j + width]
        return np.where(np.isnan(t), centre, t) if holes else t

    sums = []
    for weights in (HORN_WEIGHTS.T, HORN_WEIGHTS):
        up = sum(w * tap(i, j) for (i, j), w in np.ndenumerate(weights) if w > 0)
        down = sum(-w * tap(i, j) for (i, j), w in np.ndenumerate(weights) if w < 0)
        sums.append(up - down)
    if holes:
        for s in sums:
            s[np.isnan(centre)] = np.nan
    return sums[0], sums[1]
