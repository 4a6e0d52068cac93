"""The ``DataArray.terrain`` accessor: the same numbers as the command line.

Registered by ``import terrain``. Stateless: each method is one call of
:func:`compute`, which takes the spacing from the spatial coordinates and the
CRS from rioxarray (when present), and runs the same core as the file path,
eagerly on NumPy data or lazily (``map_overlap`` with the estimator's halo) on
Dask data.

>>> import numpy as np, rioxarray, xarray as xr
>>> import terrain
>>> z = np.add.outer(np.zeros(4), 3.0 * np.arange(5))  # rises 3 m per 10 m eastward
>>> dem = xr.DataArray(z, dims=("y", "x"),
...                    coords={"y": -10.0 * np.arange(4), "x": 10.0 * np.arange(5)})
>>> slope = dem.rio.write_crs("EPSG:32633").terrain.slope()
>>> round(float(slope.min()), 12), round(float(slope.max()), 12), slope.attrs["units"]
(0.3, 0.3, 'm/m')
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from terrain.core import CURVATURES, Holes, default_jobs, halo
from terrain.errors import BadInputError, RasterTooSmallError, UsageError
from terrain.options import Options, ZSigma
from terrain.spacing import (
    PixelGeometry,
    VerticalUnit,
    VerticalUnitWarning,
    coordinate_geometry,
    pixel_geometry,
    vertical_unit,
)

__all__ = ["TerrainAccessor", "compute"]

#: Spatial dimension names we recognise, (y, x), besides rioxarray's own.
SPATIAL_DIMS = (("y", "x"), ("lat", "lon"), ("latitude", "longitude"))

_NAMES = {"dz/dx": "dzdx", "dz/dy": "dzdy", "slope": "slope", "aspect": "aspect",
          "hillshade": "hillshade", **{kind: kind for kind in CURVATURES}}
_LONG_NAMES = {
    "dzdx": "rate of change of elevation eastward",
    "dzdy": "rate of change of elevation northward",
    "slope": "slope",
    "aspect": "aspect, compass bearing of the downslope direction",
    "hillshade": "hillshade",
    "profile": "profile curvature (normal curvature along the slope line), convex positive",
    "tangential": "tangential curvature (normal curvature along the contour), convex positive",
    "plan": "plan curvature (of the contour line in the horizontal plane), convex positive",
    "mean": "mean curvature, convex positive",
    "gaussian": "Gaussian curvature",
    "maximal": "maximal curvature (the larger principal curvature), convex positive",
    "minimal": "minimal curvature (the smaller principal curvature), convex positive",
    "dxx": "second derivative of elevation eastward, d2z/dx2",
    "dyy": "second derivative of elevation northward, d2z/dy2",
    "dxy": "mixed second derivative of elevation, d2z/dxdy",
}


def _spatial_dims(da: xr.DataArray) -> tuple[str, str]:
    for y, x in SPATIAL_DIMS:
        if y in da.dims and x in da.dims:
            return y, x
    rio = getattr(da, "rio", None)  # present once rioxarray is imported
    if rio is not None:
        try:
            return rio.y_dim, rio.x_dim
        except Exception:
            pass
    raise BadInputError(
        f"no spatial dimensions among {tuple(da.dims)}: name them y/x or lat/lon, "
        "or call rio.set_spatial_dims()"
    )


def _crs(da: xr.DataArray, y: str):
    with contextlib.suppress(ImportError):
        import rioxarray  # noqa: F401 - registers .rio, which reads the CRS
    rio = getattr(da, "rio", None)
    crs = rio.crs if rio is not None else None
    if crs is None and y in ("lat", "latitude"):
        return "EPSG:4326"  # CF's lat/lon are degrees; assume WGS84
    return crs


#: Pixel-centre coordinates within this fraction of a pixel of a transform's
#: are that transform's grid (rioxarray computes them with other rounding).
_ON_GRID = 1e-6


def _transform(da: xr.DataArray):
    """The GeoTransform rioxarray recorded from the file (``spatial_ref``), or None."""
    for coord in da.coords.values():
        text = coord.attrs.get("GeoTransform") if coord.ndim == 0 else None
        if isinstance(text, str):
            from affine import Affine

            try:
                values = [float(v) for v in text.split()]
                return Affine.from_gdal(*values)
            except (TypeError, ValueError):
                return None
    return None


def _geometry(da: xr.DataArray, y: str, x: str, crs) -> PixelGeometry:
    """The metre geometry of the grid, as the file path computes it where it can.

    A DataArray read by rioxarray keeps the file's transform: where its
    coordinates are that transform's pixel centres (the whole raster or a
    slice of it), the geometry is the file path's for the transform, cut to
    the slice, so that the accessor and the command line give the same bits.
    Otherwise (other coordinates, or none recorded) it comes from the coordinates.
    """
    ys, xs = da[y].values.astype(float), da[x].values.astype(float)
    t = _transform(da)
    if t is not None and t.b == 0 and t.d == 0 and t.a != 0 and t.e != 0 and ys.size and xs.size:
        rows = (ys - t.f) / t.e - 0.5
        cols = (xs - t.c) / t.a - 0.5
        r0, c0 = round(rows[0]), round(cols[0])
        if (r0 >= 0 and c0 >= 0
                and np.allclose(rows, r0 + np.arange(ys.size), rtol=0, atol=_ON_GRID)
                and np.allclose(cols, c0 + np.arange(xs.size), rtol=0, atol=_ON_GRID)):
            whole = pixel_geometry(t, crs, r0 + ys.size, name=_name(da))
            return whole.window(slice(r0, r0 + ys.size), slice(c0, c0 + xs.size))
    return coordinate_geometry(ys, xs, crs, name=_name(da))


def _name(da: xr.DataArray) -> str:
    return f"DataArray {da.name!r}" if da.name is not None else "the DataArray"


def _vertical(da: xr.DataArray, crs, z_factor: float | None) -> VerticalUnit:
    """The elevations' unit, by the file path's rule, from what xarray carries.

    The CRS (compound included), a ``units`` attribute (CF spellings), and
    ``scale_factor`` / ``add_offset`` attributes, which xarray and rioxarray
    leave in ``attrs`` only while the data is not decoded.
    """
    unit = da.attrs.get("units")
    vertical = vertical_unit(
        crs, unit if isinstance(unit, str) else None,
        da.attrs.get("scale_factor", 1.0), da.attrs.get("add_offset", 0.0), z_factor,
        name=_name(da),
    )
    for message in vertical.warnings:
        warnings.warn(message, VerticalUnitWarning, stacklevel=5)
    return vertical


def _fill_value(da: xr.DataArray) -> float | None:
    """The nodata sentinel of unmasked data, if any (NaN is always nodata)."""
    for source in (da.attrs, da.encoding):
        for key in ("_FillValue", "nodata", "missing_value"):
            value = source.get(key)
            if value is not None and np.ndim(value) == 0 and not np.isnan(value):
                return float(value)
    return None


def _holes(z: np.ndarray, fill: float | None) -> Holes:
    """NaN (and infinities) and the fill value are nodata."""
    return Holes(nodata=fill, finite=bool(np.issubdtype(z.dtype, np.floating)))


def _dtype(dtype, options: Options) -> np.dtype:
    """Results are float32 for float32 (or smaller) elevations, else float64.

    Hillshade is gdaldem's Byte, 0 for nodata, as the command line writes it.
    """
    if options.product == "hillshade":
        return np.dtype(options.dtype)
    return np.result_type(dtype, np.float32)


def _bands(z, fill, geometry: PixelGeometry, options: Options, inner=None, jobs=1,
           sigma=None):
    """The output bands, and with ``options.z_sigma`` their standard errors after them."""
    z = np.asarray(z)
    args = () if inner is None else (inner,)
    encoded = options.product == "hillshade"
    out = options.compute(z, _holes(z, fill), geometry, *args, encoded=encoded,
                          dtype=_dtype(z.dtype, options), jobs=jobs,
                          sigma=None if sigma is None else _sigma_values(sigma))
    return np.concatenate(out) if options.z_sigma is not None else out


#: The name of a sigma DataArray's ZSigma.raster (the accessor's; no file).
_SIGMA_ARRAY = "the z_sigma DataArray"


def _sigma_values(sigma) -> np.ndarray:
    """A block of a sigma array as the kernel takes it; negative or infinite refused."""
    s = np.asarray(sigma)
    if s.dtype not in (np.float32, np.float64):
        s = s.astype(np.float64)
    if ((s < 0) | np.isinf(s)).any():
        raise BadInputError(f"{_SIGMA_ARRAY}: a standard error is a finite number, 0 or more "
                            "(NaN where unknown)")
    return s


def _sigma_array(da: xr.DataArray, sigma, y: str, x: str):
    """The sigma DataArray (or array) on ``da``'s grid, as (y, x) data (NumPy or Dask)."""
    if isinstance(sigma, xr.DataArray):
        if set(sigma.dims) != {y, x}:
            raise BadInputError(f"{_SIGMA_ARRAY} has dims {tuple(sigma.dims)}, not "
                                f"{da.dims}: give one standard error per pixel of the DEM")
        sigma = sigma.transpose(y, x)
        for dim in (y, x):
            if sigma.sizes[dim] != da.sizes[dim] or not np.array_equal(
                    sigma[dim].values, da[dim].values):
                raise BadInputError(f"{_SIGMA_ARRAY} is not on the DEM's grid (its {dim!r} "
                                    "coordinates differ): give one standard error per pixel")
        return sigma.data
    sigma = np.asarray(sigma)
    if sigma.shape != da.shape:
        raise BadInputError(f"{_SIGMA_ARRAY} of shape {sigma.shape} for a DEM of shape "
                            f"{da.shape}: give one standard error per pixel")
    return sigma


def _depth(options: Options, geometry: PixelGeometry, shape: tuple[int, int]
           ) -> tuple[tuple[int, int], tuple[int, int]]:
    """The overlap each chunk takes from its neighbours, and the least chunk size.

    The estimator's halo (:func:`terrain.core.halo`) per axis. A window fit
    moved inward at the raster's edge reaches a whole window from it: chunks
    of at least half a window and a pixel, with that depth, hold it.
    """
    sizes = options.window_shape(geometry, shape[0])
    if sizes is None:
        return (halo(), halo()), (halo(), halo())
    windows = (np.minimum(sizes[:, 0], shape[0]), np.minimum(sizes[:, 1], shape[1]))
    depth = tuple(min(halo(w), n - 1) for w, n in zip(windows, shape, strict=True))
    least = tuple(min(max(d, int(w.max()) // 2 + 1), n)
                  for d, w, n in zip(depth, windows, shape, strict=True))
    return depth, least


def _lazy(data, fill, geometry: PixelGeometry, options: Options, nbands: int,
          sigma=None) -> list:
    """Dask: each chunk computed with the estimator's halo from its neighbours.

    One task per chunk, one kernel call on its overlapped block; one array per
    band, 2-D, so that a single band needs no selection task after it.
    """
    import dask.array as dsa
    from dask.array.overlap import ensure_minimum_chunksize
    from dask.base import tokenize

    depth, least = _depth(options, geometry, data.shape)
    # every chunk must be able to lend a full halo to its neighbours
    data = data.rechunk(tuple(ensure_minimum_chunksize(size, c)
                              for size, c in zip(least, data.chunks, strict=True)))
    arrays = [data]
    if sigma is not None:  # chunked as the elevations
        arrays.append(sigma.rechunk(data.chunks) if hasattr(sigma, "dask")
                      else dsa.from_array(sigma, chunks=data.chunks))
    starts = [np.cumsum((0, *c)) for c in data.chunks]
    dtype = _dtype(data.dtype, options)

    def block(z, s=None, block_info=None):
        i, j = block_info[0]["chunk-location"]
        r0, r1 = starts[0][i], starts[0][i + 1]
        c0, c1 = starts[1][j], starts[1][j + 1]
        # boundary="none": no halo beyond the raster's true border
        top, left = max(r0 - depth[0], 0), max(c0 - depth[1], 0)
        window = geometry.window(slice(top, top + z.shape[0]), slice(left, left + z.shape[1]))
        inner = (slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
        bands = _bands(z, fill, window, options, inner, sigma=s)
        return bands[0] if nbands == 1 else bands

    # named from what determines the result, so that Dask need not pickle
    # `block` to name it (a few ms per call)
    name = f"terrain-{options.product}-" + tokenize(*(a.name for a in arrays), fill, geometry,
                                                    options, nbands)
    shape = ({"chunks": data.chunks} if nbands == 1
             else {"chunks": ((nbands,), *data.chunks), "new_axis": 0})
    result = dsa.map_overlap(
        block, *arrays, depth=depth, boundary="none", trim=False, allow_rechunk=False,
        dtype=dtype, meta=np.empty((0,) * (2 if nbands == 1 else 3), dtype=dtype),
        name=name, **shape,
    )
    return [result] if nbands == 1 else [result[b] for b in range(nbands)]


def _check_elevations(da: xr.DataArray) -> None:
    """Refuse data that are not real numbers (booleans, strings, complex numbers)."""
    if not (np.issubdtype(da.dtype, np.integer) or np.issubdtype(da.dtype, np.floating)):
        raise BadInputError(
            f"elevations must be real numbers, not {da.dtype} data: "
            "convert them first, e.g. .astype('float32')"
        )


def _check_coordinates(da: xr.DataArray, dim: str) -> None:
    """Refuse spatial coordinates that are not numbers running strictly one way.

    Repeated or constant coordinates put two pixels at one place (a zero
    spacing: infinite slopes), unordered ones fold the grid over itself.
    """
    values = da[dim].values
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise BadInputError(f"coordinate {dim!r} holds {values.dtype} values, not numbers: "
                            "assign numeric pixel-centre coordinates")
    values = values.astype(float)
    if not np.isfinite(values).all():
        raise BadInputError(f"coordinate {dim!r} holds NaN or infinite values")
    steps = np.diff(values)
    if not ((steps > 0).all() or (steps < 0).all()):
        what = "repeats a value" if (steps == 0).any() else "does not run one way"
        raise BadInputError(
            f"coordinate {dim!r} {what}: coordinates must increase or decrease strictly "
            f"(sort with .sortby({dim!r}), drop duplicates with .drop_duplicates({dim!r}))"
        )


def compute(da: xr.DataArray, options: Options, sigma=None) -> list[xr.DataArray]:
    """The output bands of ``options`` for a 2-D elevation DataArray; with
    ``options.z_sigma``, their standard errors after them (named ``<band>_se``).
    ``sigma`` is a sigma DataArray (or array) on ``da``'s grid, in its vertical unit."""
    y, x = _spatial_dims(da)
    extra = [d for d in da.dims if d not in (y, x)]
    if extra:
        fix = (f'.squeeze("{extra[0]}", drop=True)' if da.sizes[extra[0]] == 1
               else f".isel({extra[0]}=0)")
        raise BadInputError(
            f"extra dimension {extra[0]!r} besides {y!r} and {x!r}: "
            f"select one elevation layer first, e.g. {fix}"
        )
    if min(da.sizes[y], da.sizes[x]) < 2:
        raise RasterTooSmallError(
            f"{da.sizes[y]}x{da.sizes[x]} pixels is too small: "
            "a slope needs at least 2 pixels along each axis"
        )
    _check_elevations(da)
    da = da.transpose(y, x)
    for dim in (y, x):
        _check_coordinates(da, dim)
    crs = _crs(da, y)
    geometry = _geometry(da, y, x, crs)
    vertical = _vertical(da, crs, options.z_factor)
    options = options.with_vertical(vertical)
    if sigma is not None:
        sigma = _sigma_array(da, sigma, y, x)
        options = options.with_sigma_factor(vertical.metres)
    if options.z_sigma is not None:
        options.check_fit_window(geometry, da.sizes[y])
    fill = _fill_value(da)
    names = [_NAMES[b] for b in options.bands]
    units = list(options.band_units)
    long_names = [_LONG_NAMES[name] for name in names]
    if options.z_sigma is not None:
        names += [f"{name}_se" for name in names]
        units += units
        long_names += [f"standard error of {name}" for name in long_names]
    if hasattr(da.data, "dask"):
        data = _lazy(da.data, fill, geometry, options, len(names), sigma)
    else:
        values = None if sigma is None else np.asarray(sigma)
        data = _bands(da.values, fill, geometry, options, jobs=default_jobs(), sigma=values)
    coords = {k: v for k, v in da.coords.items() if set(v.dims) <= {y, x}}
    sigma_attrs = {} if options.z_sigma is None else {
        key.lower(): value for key, value in options.uncertainty_tags(
            _SIGMA_ARRAY if sigma is not None else None).items()}
    return [
        xr.DataArray(
            data[i], dims=(y, x), coords=coords, name=name,
            attrs={"units": unit, "long_name": long_name,
                   **({"_FillValue": 0} if options.product == "hillshade" else {}),
                   **(sigma_attrs if name.endswith("_se") else {})},
        )
        for i, (name, unit, long_name) in enumerate(zip(names, units, long_names, strict=True))
    ]


def _uncertain(z_sigma, uncertainty: bool) -> tuple[ZSigma | None, object]:
    """Options' z_sigma and the sigma array from the accessor's ``z_sigma`` and
    ``uncertainty``: both or neither."""
    if bool(uncertainty) != (z_sigma is not None):
        raise UsageError(
            "uncertainty=True needs z_sigma (the elevations' standard error: metres, a "
            "DataArray of them, or 'fit')" if uncertainty else
            "z_sigma goes with uncertainty=True (a Dataset with the standard errors beside "
            "the result)")
    if z_sigma is None:
        return None, None
    if isinstance(z_sigma, xr.DataArray | np.ndarray):
        return ZSigma(raster=_SIGMA_ARRAY), z_sigma
    parsed = ZSigma.parse(z_sigma)
    if parsed.raster is not None:  # a string that is neither a number nor "fit"
        raise UsageError(f"z_sigma {z_sigma!r}: the accessor takes a number of metres, a "
                         "DataArray on the DEM's grid, or 'fit' (open a sigma raster with "
                         "rioxarray first)")
    return parsed, None


@xr.register_dataarray_accessor("terrain")
class TerrainAccessor:
    """Slope, aspect, gradient and curvature of a 2-D elevation DataArray (metres, m/m, 1/m)."""

    def __init__(self, da: xr.DataArray):
        self._da = da

    def gradient(self, edge_order: int = 2, z_factor: float | None = None,
                 method: str | None = None, window: int | str | None = None,
                 z_sigma=None, uncertainty: bool = False) -> xr.Dataset:
        """``dzdx`` (east) and ``dzdy`` (north), metre per metre.

        ``window`` (an odd pixel count, or a length such as ``"30m"``) fits a
        least-squares quadratic over that window at every pixel (the
        ``quadratic`` method); ``method`` is ``central`` (the default), ``horn``
        or ``quadratic``. With ``uncertainty=True`` and ``z_sigma`` (the
        elevations' standard error: metres, a DataArray of them on this grid
        in its vertical unit, or ``"fit"``), also ``dzdx_se`` and ``dzdy_se``.
        """
        z, sigma = _uncertain(z_sigma, uncertainty)
        options = Options("gradient", "ratio", edge_order, z_factor, method, window=window,
                          z_sigma=z)
        return xr.Dataset({band.name: band for band in compute(self._da, options, sigma)})

    def slope(self, units: str = "ratio", edge_order: int = 2, z_factor: float | None = None,
              method: str | None = None, window: int | str | None = None,
              z_sigma=None, uncertainty: bool = False) -> xr.DataArray | xr.Dataset:
        """Slope in ``ratio`` (m/m), ``percent``, ``degrees`` or ``radians``; ``window``
        as for :meth:`gradient`. With ``uncertainty=True`` (and ``z_sigma``, as for
        :meth:`gradient`), a Dataset: ``slope`` and ``slope_se``, its standard error."""
        z, sigma = _uncertain(z_sigma, uncertainty)
        options = Options("slope", units, edge_order, z_factor, method, window=window,
                          z_sigma=z)
        bands = compute(self._da, options, sigma)
        return bands[0] if z is None else xr.Dataset({band.name: band for band in bands})

    def aspect(self, edge_order: int = 2, z_factor: float | None = None,
               method: str | None = None, window: int | str | None = None,
               z_sigma=None, uncertainty: bool = False) -> xr.DataArray | xr.Dataset:
        """Compass degrees of the downslope direction; NaN where flat. With
        ``uncertainty=True`` (and ``z_sigma``), a Dataset: ``aspect`` and ``aspect_se``."""
        z, sigma = _uncertain(z_sigma, uncertainty)
        options = Options("aspect", "ratio", edge_order, z_factor, method, window=window,
                          z_sigma=z)
        bands = compute(self._da, options, sigma)
        return bands[0] if z is None else xr.Dataset({band.name: band for band in bands})

    def hillshade(self, azimuth: float = 315.0, altitude: float = 45.0,
                  z_factor: float | None = None, method: str | None = None,
                  edge_order: int = 2, window: int | str | None = None) -> xr.DataArray:
        """gdaldem's hillshade: Byte (uint8) 1-255, 0 for nodata (``_FillValue``)."""
        options = Options("hillshade", "ratio", edge_order, z_factor, method,
                          azimuth, altitude, window)
        return compute(self._da, options)[0]

    def curvature(self, kind: str | Sequence[str] = "profile", window: int | str | None = None,
                  z_factor: float | None = None,
                  method: str | None = None) -> xr.DataArray | xr.Dataset:
        """Curvatures of the least-squares quadratic over ``window`` (default 3), 1/m.

        ``kind`` names one of :data:`terrain.core.CURVATURES` (a DataArray), or
        is a list of them (a Dataset with a variable for each, computed in one
        pass); ``terrain curvature --kind``'s bits, eager or on Dask. Positive
        where convex; NaN where the window's pixels do not determine the
        quadratic and, for ``profile``, ``tangential`` and ``plan``, where flat.
        """
        options = Options("curvature", "ratio", 2, z_factor, method, window=window, kinds=kind)
        bands = compute(self._da, options)
        if isinstance(kind, str):
            return bands[0]
        return xr.Dataset({band.name: band for band in bands})
