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

import numpy as np
import xarray as xr

from terrain.core import Holes, default_jobs, halo
from terrain.errors import BadInputError, RasterTooSmallError
from terrain.options import PRODUCTS, Options
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
          "hillshade": "hillshade"}
_LONG_NAMES = {
    "dzdx": "rate of change of elevation eastward",
    "dzdy": "rate of change of elevation northward",
    "slope": "slope",
    "aspect": "aspect, compass bearing of the downslope direction",
    "hillshade": "hillshade",
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


def _bands(z, fill, geometry: PixelGeometry, options: Options, inner=None, jobs=1):
    z = np.asarray(z)
    args = () if inner is None else (inner,)
    encoded = options.product == "hillshade"
    return options.compute(z, _holes(z, fill), geometry, *args, encoded=encoded,
                           dtype=_dtype(z.dtype, options), jobs=jobs)


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


def _lazy(data, fill, geometry: PixelGeometry, options: Options, nbands: int):
    """Dask: each chunk computed with the estimator's halo from its neighbours."""
    import dask.array as dsa
    from dask.array.overlap import ensure_minimum_chunksize

    depth, least = _depth(options, geometry, data.shape)
    # every chunk must be able to lend a full halo to its neighbours
    data = data.rechunk(tuple(ensure_minimum_chunksize(size, c)
                              for size, c in zip(least, data.chunks, strict=True)))
    starts = [np.cumsum((0, *c)) for c in data.chunks]

    def block(z, block_info=None):
        i, j = block_info[0]["chunk-location"]
        r0, r1 = starts[0][i], starts[0][i + 1]
        c0, c1 = starts[1][j], starts[1][j + 1]
        # boundary="none": no halo beyond the raster's true border
        top, left = max(r0 - depth[0], 0), max(c0 - depth[1], 0)
        window = geometry.window(slice(top, top + z.shape[0]), slice(left, left + z.shape[1]))
        inner = (slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
        return _bands(z, fill, window, options, inner)

    return dsa.map_overlap(
        block, data, depth=depth, boundary="none", trim=False, allow_rechunk=False,
        chunks=((nbands,), *data.chunks), new_axis=0, dtype=_dtype(data.dtype, options),
        meta=np.empty((0, 0, 0), dtype=_dtype(data.dtype, options)),
    )


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


def compute(da: xr.DataArray, options: Options) -> list[xr.DataArray]:
    """The output bands of ``options`` for a 2-D elevation DataArray."""
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
    options = options.with_vertical(_vertical(da, crs, options.z_factor))
    fill = _fill_value(da)
    names = [_NAMES[b] for b in PRODUCTS[options.product]]
    if hasattr(da.data, "dask"):
        data = _lazy(da.data, fill, geometry, options, len(names))
    else:
        data = _bands(da.values, fill, geometry, options, jobs=default_jobs())
    coords = {k: v for k, v in da.coords.items() if set(v.dims) <= {y, x}}
    return [
        xr.DataArray(
            data[i], dims=(y, x), coords=coords, name=name,
            attrs={"units": unit, "long_name": _LONG_NAMES[name],
                   **({"_FillValue": 0} if options.product == "hillshade" else {})},
        )
        for i, (name, unit) in enumerate(zip(names, options.band_units, strict=True))
    ]


@xr.register_dataarray_accessor("terrain")
class TerrainAccessor:
    """Slope, aspect and gradient of a 2-D elevation DataArray (metres, m/m)."""

    def __init__(self, da: xr.DataArray):
        self._da = da

    def gradient(self, edge_order: int = 2, z_factor: float | None = None,
                 method: str | None = None, window: int | str | None = None) -> xr.Dataset:
        """``dzdx`` (east) and ``dzdy`` (north), metre per metre.

        ``window`` (an odd pixel count, or a length such as ``"30m"``) fits a
        least-squares quadratic over that window at every pixel (the
        ``quadratic`` method); ``method`` is ``central`` (the default), ``horn``
        or ``quadratic``.
        """
        options = Options("gradient", "ratio", edge_order, z_factor, method, window=window)
        return xr.Dataset({band.name: band for band in compute(self._da, options)})

    def slope(self, units: str = "ratio", edge_order: int = 2, z_factor: float | None = None,
              method: str | None = None, window: int | str | None = None) -> xr.DataArray:
        """Slope in ``ratio`` (m/m), ``percent``, ``degrees`` or ``radians``; ``window``
        as for :meth:`gradient`."""
        options = Options("slope", units, edge_order, z_factor, method, window=window)
        return compute(self._da, options)[0]

    def aspect(self, edge_order: int = 2, z_factor: float | None = None,
               method: str | None = None, window: int | str | None = None) -> xr.DataArray:
        """Compass degrees of the downslope direction; NaN where flat."""
        options = Options("aspect", "ratio", edge_order, z_factor, method, window=window)
        return compute(self._da, options)[0]

    def hillshade(self, azimuth: float = 315.0, altitude: float = 45.0,
                  z_factor: float | None = None, method: str | None = None,
                  edge_order: int = 2, window: int | str | None = None) -> xr.DataArray:
        """gdaldem's hillshade: Byte (uint8) 1-255, 0 for nodata (``_FillValue``)."""
        options = Options("hillshade", "ratio", edge_order, z_factor, method,
                          azimuth, altitude, window)
        return compute(self._da, options)[0]
