"""Streaming a raster block by block through the gradient core.

Every file-level result (slope, gradient, aspect, hillshade, curvatures) is made here,
whatever the raster's size: blocks aligned to the output's tiles (and, where
it fits, the input's) are read with the context the estimator needs
(:func:`terrain.core.context`: the 3x3 methods' halo, or a window fit's,
clipped at the raster's true border, so the border keeps its one-sided
stencil or its moved window), computed in parallel threads, and written in
order. The result equals the in-memory computation bit for bit, for any
block size.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import rasterio
from rasterio.windows import Window

from terrain.core import Holes, context, default_jobs
from terrain.errors import (
    BadInputError,
    EmptyResultWarning,
    RasterTooSmallError,
    SideCarWarning,
    UsageError,
    printable,
)
from terrain.io import (
    CACHE_MB,
    TILE,
    atomic_output,
    check_format,
    check_output,
    check_profile,
    dataset_files,
    is_local,
    is_network,
    open_dem,
    open_raster,
    output_profile,
    read_window,
    reading_env,
)
from terrain.options import Options
from terrain.spacing import (
    PixelGeometry,
    VerticalUnit,
    VerticalUnitWarning,
    pixel_geometry,
    vertical_unit,
)

__all__ = [
    "aspect",
    "curvature",
    "default_jobs",
    "gradient",
    "hillshade",
    "run",
    "slope",
    "write_blocks",
]

#: Target edge of a processing block, pixels (before alignment to the file's tiles).
_BLOCK = 1024

#: Blocks run row by row across stripes this wide, pixels, so that what GDAL's
#: cache should hold (see :data:`terrain.io.CACHE_MB`) does not grow with the
#: raster's width.
_STRIPE = 4096

#: The most GDAL block cache a network input gets, MiB. A network input is
#: read in rows of blocks as wide as the raster (no stripes), with a cache
#: that holds the blocks a row's halo decodes until the next row reads them,
#: so that no block is fetched twice; past this bound (rasters wider than
#: about 20000 float32 pixels with 512-pixel blocks) rows are cut in stripes
#: again, and blocks along the stripes' edges are fetched twice.
_NETWORK_CACHE_MB = 512

Progress = Callable[[int, int], None]


class SigmaSurface:
    """A raster of the elevations' standard errors on the DEM's grid, read by window.

    Its windows come as float64 (float32 kept), NaN where it is nodata; a
    negative or infinite sigma is refused, naming the file.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        self.path = path
        self._src = open_raster(path, threads)

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        s, holes = read_window(self._src, 1, Window.from_slices(rows, cols))
        if holes is not None:
            valid = holes.valid(s)
            if valid is not None:
                s = np.where(valid, s, np.nan).astype(s.dtype, copy=False)
        bad = (s < 0) | np.isinf(s)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise BadInputError(
                f"{printable(self.path)}: sigma {s[r, c]:g} at row {rows.start + r}, column "
                f"{cols.start + c}: a standard error is a finite number, 0 or more "
                "(nodata where unknown)")
        return s

    def close(self) -> None:
        self._src.close()


def open_sigma(path: str | os.PathLike, dem: str | os.PathLike,
               src: rasterio.DatasetReader) -> tuple[float, dict]:
    """Check that the sigma raster at ``path`` lies on ``src``'s grid; its band scale
    and the files it reads (:func:`terrain.io.dataset_files`).

    A raster on another grid (shape, transform or CRS) is refused in one line
    naming both files.
    """
    with open_dem(path, 1) as sig:
        theirs, ours = sig, src
        what = None
        if theirs.shape != ours.shape:
            what = (f"{theirs.width}x{theirs.height} pixels, not {ours.width}x{ours.height}")
        elif not theirs.transform.almost_equals(ours.transform, precision=1e-9 * max(
                1.0, abs(ours.transform.a), abs(ours.transform.e))):
            what = f"transform {tuple(theirs.transform)[:6]}, not {tuple(ours.transform)[:6]}"
        elif theirs.crs != ours.crs:
            what = f"CRS {theirs.crs or 'none'}, not {ours.crs or 'none'}"
        if what is not None:
            raise BadInputError(
                f"{printable(path)} is not on {printable(dem)}'s grid ({what}): a sigma raster "
                "holds one standard error per pixel of the DEM; warp it onto the DEM's grid")
        if sig.count > 1:
            warnings.warn(f"{printable(path)}: {sig.count} bands; the standard errors are "
                          "read from band 1", UserWarning, stacklevel=3)
        if sig.offsets[0] not in (0.0, None):
            raise BadInputError(f"{printable(path)}: band offset {sig.offsets[0]:g}: a "
                                "standard error takes a scale, not an offset")
        scale = 1.0 if sig.scales[0] is None else float(sig.scales[0])
        return scale, dataset_files(sig, path)


class FileSurface:
    """One band of a raster file, read by window."""

    def __init__(self, path: str | os.PathLike, band: int = 1, threads: int = 1):
        self.band = band
        self._src = open_raster(path, threads)

    def read(self, rows: slice, cols: slice) -> tuple[np.ndarray, Holes | None]:
        return read_window(self._src, self.band, Window.from_slices(rows, cols))

    def close(self) -> None:
        self._src.close()


def block_windows(
    area: tuple[int, int, int, int], block: tuple[int, int], stripe: int = _STRIPE
) -> list[tuple[slice, slice]]:
    """Blocks covering ``area`` = (row_off, col_off, height, width).

    Row-major within vertical stripes of about ``stripe`` pixels (whole
    rows when ``stripe`` is at least the area's width).
    """
    row_off, col_off, height, width = area
    bh, bw = block
    stripe = width if stripe >= width else bw * max(1, stripe // bw)
    return [
        (slice(r, min(r + bh, row_off + height)), slice(c, min(c + bw, col_off + width)))
        for s in range(col_off, col_off + width, stripe)
        for r in range(row_off, row_off + height, bh)
        for c in range(s, min(s + stripe, col_off + width), bw)
    ]


def default_block(src: rasterio.DatasetReader, band: int = 1) -> tuple[int, int]:
    """About 1024² pixels: whole output tiles and, where it fits, whole input blocks.

    Whole output tiles matter most: each is then written once (see
    :func:`run`). Input blocks are whole too when their edge and the output
    tile's have a small common multiple (512, 256, 128, strips...); else GDAL's
    cache serves the blocks a window shares with the next.
    """

    def edge(n_in: int, full: int) -> int:
        aligned = math.lcm(n_in, TILE) if n_in < full else TILE
        if aligned > 4 * _BLOCK:
            aligned = TILE
        return aligned * max(1, _BLOCK // aligned)

    bh, bw = src.block_shapes[band - 1]
    return edge(bh, src.height), edge(bw, src.width)


def block_context(shape: tuple[int, int], window: tuple[slice, slice],
                  sizes: np.ndarray | None = None) -> tuple[slice, slice]:
    """The rows and columns the pixels of ``window`` read (:func:`terrain.core.context`).

    ``sizes`` is the window fit's (rows, columns) for each of the surface's
    rows (:meth:`Options.window_shape`), None for the 3x3 methods.
    """
    rows, cols = window
    if sizes is None:
        r0, r1 = context(rows.start, rows.stop, shape[0])
        c0, c1 = context(cols.start, cols.stop, shape[1])
    else:
        r0, r1 = context(rows.start, rows.stop, shape[0], sizes[:, 0])
        c0, c1 = context(cols.start, cols.stop, shape[1], int(sizes[rows, 1].max()))
    return slice(r0, r1), slice(c0, c1)


def read_block(surface, shape: tuple[int, int], window: tuple[slice, slice],
               sizes: np.ndarray | None = None):
    """A block read with the context its estimator needs, cut at the surface's border.

    Returns the elevations, their validity, the window read and the block's
    place in it.
    """
    rows, cols = window
    read_rows, read_cols = block_context(shape, window, sizes)
    r0, r1, c0, c1 = read_rows.start, read_rows.stop, read_cols.start, read_cols.stop
    z, valid = surface.read(slice(r0, r1), slice(c0, c1))
    inner = (
        slice(rows.start - r0, rows.stop - r0),
        slice(cols.start - c0, cols.stop - c0),
    )
    return z, valid, (slice(r0, r1), slice(c0, c1)), inner


def write_blocks(
    dst: rasterio.io.DatasetWriter,
    surface,
    shape: tuple[int, int],
    geometry: PixelGeometry,
    options: Options,
    area: tuple[int, int, int, int],
    block: tuple[int, int],
    jobs: int,
    progress: Progress | None = None,
    stripe: int = _STRIPE,
    uncertainty: rasterio.io.DatasetWriter | None = None,
    sigma: SigmaSurface | None = None,
) -> bool:
    """Compute ``area`` of the surface block by block into ``dst``.

    With ``options.z_sigma``, the standard errors go to ``uncertainty`` (a
    dataset like ``dst``), block by block with the result; ``sigma`` is the
    sigma raster, read where the surface is.

    Returns whether the area holds any valid elevation.

    ``area`` (row_off, col_off, height, width) is in surface pixels; ``dst``
    covers exactly that area. This thread does all the reading and writing
    (GDAL datasets and their block cache are not safe to share between
    threads); ``jobs`` threads compute, a bounded number of blocks ahead
    (the compiled kernel releases the GIL), while GDAL compresses on its own threads.
    """
    windows = block_windows(area, block, stripe)
    row_off, col_off = area[0], area[1]
    seen = []  # a block with a valid elevation
    sizes = options.window_shape(geometry, shape[0])  # the whole surface's rows

    def compute(z, valid, read, inner, s=None):
        if not seen and _any_valid(z, valid, inner):
            seen.append(True)
        return options.compute(z, valid, geometry.window(*read), inner, encoded=True, sigma=s)

    def read(window):
        z, valid, where, inner = read_block(surface, shape, window, sizes)
        return z, valid, where, inner, None if sigma is None else sigma.read(*where)

    def write(window, bands, done):
        rows, cols = window
        place = Window.from_slices(
            slice(rows.start - row_off, rows.stop - row_off),
            slice(cols.start - col_off, cols.stop - col_off),
        )
        if uncertainty is not None:
            bands, errors = bands
            uncertainty.write(errors, window=place)
        dst.write(bands, window=place)
        if progress is not None:
            progress(done, len(windows))

    if jobs <= 1:
        for done, window in enumerate(windows, 1):
            write(window, compute(*read(window)), done)
        return bool(seen)
    with ThreadPoolExecutor(jobs) as pool:
        pending: deque = deque()
        done = 0
        try:
            for window in windows:
                pending.append((window, pool.submit(compute, *read(window))))
                while pending and (len(pending) > 2 * jobs or pending[0][1].done()):
                    window_done, future = pending.popleft()
                    done += 1
                    write(window_done, future.result(), done)
            while pending:
                window_done, future = pending.popleft()
                done += 1
                write(window_done, future.result(), done)
        finally:
            for _, future in pending:
                future.cancel()
    return bool(seen)


def _any_valid(z: np.ndarray, valid, inner: tuple[slice, slice]) -> bool:
    """Whether the pixels ``inner`` of a block hold a valid elevation: its first row
    asked first, so that a block with data seldom builds its whole validity."""
    rows, cols = inner
    for part in ((slice(rows.start, rows.start + 1), cols), inner):
        if valid is None:
            return True
        if isinstance(valid, Holes):
            rule = replace(valid, mask=None if valid.mask is None else valid.mask[part])
            mask = rule.valid(z[part])
        else:
            mask = valid[part]
        if mask is None or mask.any():
            return True
    return False


def network_plan(src: rasterio.DatasetReader, band: int, block: tuple[int, int],
                 profile: dict) -> tuple[int, int]:
    """(stripe width in pixels, GDAL cache in MiB) that read each block of a network input once.

    While a row of processing blocks is computed, the cache must hold the
    input blocks its halos reach (one row of the file's blocks above and one
    below, besides its own) and the output blocks being filled, across the
    stripe: whole rows where that fits in :data:`_NETWORK_CACHE_MB`.
    """
    file_rows = src.block_shapes[band - 1][0]
    pixel = np.dtype(src.dtypes[band - 1]).itemsize
    if src.count > 1 and src.interleaving is not None and src.interleaving.name == "pixel":
        pixel *= src.count  # GDAL decodes every band of a pixel-interleaved block
    out = np.dtype(profile["dtype"]).itemsize * profile["count"]
    per_column = (block[0] + 2 * file_rows) * pixel + block[0] * out
    # a quarter more: LRU order is not the order of reuse
    columns = _NETWORK_CACHE_MB * 2**20 * 4 // 5 // per_column
    stripe = min(src.width, max(_STRIPE, columns))
    cache_mb = math.ceil(stripe * per_column * 5 / 4 / 2**20)
    return stripe, max(CACHE_MB, min(cache_mb, _NETWORK_CACHE_MB))


def profile_for(src: rasterio.DatasetReader, options: Options, jobs: int,
                creation_options: dict[str, str] | None = None) -> dict:
    """The output file's creation options for ``options`` on ``src``'s grid."""
    return output_profile(src, len(options.bands), jobs, options.dtype,
                          options.nodata, creation_options)


def uncertainty_profile(profile: dict, creation_options: dict[str, str] | None) -> dict:
    """The standard errors' creation options: the output's, with DEFLATE at level 1 and no
    predictor, unless the user chose them.

    Standard errors are piecewise constant (the same stencil's weights wherever
    the slope is not near flat), which DEFLATE packs as well at level 1 without
    a predictor as at its default level with the floating-point one, in a fifth
    of the time: at 8192² (slope, m/m) 8 MB in 0.5 s against 15 MB in 3.6 s,
    one thread (bench/uncertainty.py measures the whole run).
    """
    given = {name.lower() for name in (creation_options or {})}
    ours = dict(profile)
    if "predictor" not in given and "predictor" in ours:
        ours["predictor"] = 1
    if str(ours.get("compress", "")).lower() == "deflate" and "zlevel" not in given:
        ours["zlevel"] = 1
    return ours


def describe(dst: rasterio.io.DatasetWriter, options: Options, vertical: VerticalUnit,
             geometry: PixelGeometry | None = None) -> None:
    """Band descriptions, units and provenance tags of a result.

    The tags say how elevations became metres: the unit, where it was read
    (:class:`terrain.spacing.VerticalUnit`), and the metres per stored value;
    with a window fit, its size (:meth:`Options.window_tags`) over the rows of
    ``geometry``, the result's own.
    """
    for i, (name, unit) in enumerate(zip(options.bands, options.band_units, strict=True), 1):
        dst.set_band_description(i, name)
        dst.set_band_unit(i, unit)
    tags = {
        "TERRAIN_PRODUCT": options.product,
        "TERRAIN_METHOD": options.method,
        "TERRAIN_EDGE_ORDER": options.edge_order,
        "TERRAIN_Z_FACTOR": repr(vertical.z_factor),
        "TERRAIN_VERTICAL_UNIT": vertical.name,
        "TERRAIN_VERTICAL_UNIT_SOURCE": vertical.source,
        "TERRAIN_VERTICAL_METRES": repr(vertical.metres),
    }
    if (vertical.scale, vertical.offset) != (1.0, 0.0):
        tags.update(TERRAIN_Z_SCALE=repr(vertical.scale), TERRAIN_Z_OFFSET=repr(vertical.offset))
    if options.product == "slope":
        tags["TERRAIN_UNITS"] = options.units
    if options.product == "hillshade":
        tags.update(TERRAIN_AZIMUTH=options.azimuth, TERRAIN_ALTITUDE=options.altitude)
    if options.product == "curvature":
        tags["TERRAIN_KINDS"] = ",".join(options.kinds)  # band by band
    if geometry is not None:
        tags.update(options.window_tags(geometry, dst.height))
    dst.update_tags(**tags)


def describe_uncertainty(dst: rasterio.io.DatasetWriter, options: Options,
                         vertical: VerticalUnit, geometry: PixelGeometry | None = None,
                         sigma_name: str | None = None) -> None:
    """Band descriptions, units and tags of a result's standard errors: the result's
    own (:func:`describe`), and what they are and where sigma came from."""
    describe(dst, options, vertical, geometry)
    for i, name in enumerate(options.se_bands, 1):
        dst.set_band_description(i, name)
    dst.update_tags(TERRAIN_PRODUCT=f"{options.product} standard error",
                    **options.uncertainty_tags(sigma_name))


@contextlib.contextmanager
def atomic_outputs(out, uncertainty, cog: bool = False, jobs: int = 1, *,
                   overwrite: bool = False):
    """:func:`terrain.io.atomic_output` for the result and, if not None, its standard
    errors: (tmp, tmp or None). The standard errors are moved into place first,
    then the result; a local one is removed again if the result can't be."""
    if uncertainty is None:
        with atomic_output(out, cog, jobs, overwrite=overwrite) as tmp:
            yield tmp, None
        return
    placed = False
    try:
        with atomic_output(out, cog, jobs, overwrite=overwrite) as tmp:
            with atomic_output(uncertainty, cog, jobs, overwrite=overwrite) as utmp:
                yield tmp, utmp
            placed = True
    except BaseException:
        if placed and is_local(uncertainty):
            with contextlib.suppress(OSError):
                os.unlink(uncertainty)
        raise


def _same_path(a, b) -> bool:
    """Whether two output names are one file (local paths resolved, others as written)."""
    if is_local(a) and is_local(b):
        return os.path.realpath(os.fspath(a)) == os.path.realpath(os.fspath(b))
    return os.fspath(a).rstrip("/") == os.fspath(b).rstrip("/")


def check_uncertainty(options: Options, uncertainty, out) -> None:
    """Refuse standard errors without a file for them, or a file without a sigma."""
    if options.z_sigma is not None and uncertainty is None:
        raise UsageError("--z-sigma needs --uncertainty PATH (uncertainty=), the file the "
                         "standard errors are written to")
    if options.z_sigma is None and uncertainty is not None:
        raise UsageError("--uncertainty needs --z-sigma S|RASTER|fit (z_sigma=): the "
                         "elevations' standard error in metres, a raster of them, or fit")
    if uncertainty is not None and _same_path(uncertainty, out):
        raise UsageError(f"{printable(out)}: the standard errors need a file of their own, "
                         "not the output's")


def warn_vertical(vertical: VerticalUnit) -> None:
    """Tell the user what was assumed about the elevations' unit."""
    for message in vertical.warnings:
        warnings.warn(message, VerticalUnitWarning, stacklevel=3)


def run(
    dem: str | os.PathLike,
    out: str | os.PathLike,
    options: Options,
    *,
    band: int = 1,
    block_size: int | None = None,
    jobs: int | None = None,
    overwrite: bool = False,
    cog: bool = False,
    creation_options: dict[str, str] | None = None,
    progress: Progress | None = None,
    uncertainty: str | os.PathLike | None = None,
) -> None:
    """Stream ``dem`` through the core into the GeoTIFF ``out``.

    ``creation_options`` are GDAL GTiff creation options over ours (tiled
    256², DEFLATE with a predictor), e.g. ``{"COMPRESS": "ZSTD"}``; a bad
    one raises :class:`~terrain.UsageError` before anything is computed.
    With ``options.z_sigma``, ``uncertainty`` is the GeoTIFF the standard
    errors go to (float32 on the same grid, in the output's units), written
    as ``out`` is, by the same rules.
    """
    jobs = check_work(jobs, block_size, band)
    check_uncertainty(options, uncertainty, out)
    sigma_path = None if options.z_sigma is None else options.z_sigma.raster
    with open_dem(dem, band) as src:
        inputs = dataset_files(src, dem)
        sigma_scale = 1.0
        if sigma_path is not None:
            sigma_scale, sigma_files = open_sigma(sigma_path, dem, src)
            inputs = {**inputs, **sigma_files}
        check_output(dem, out, overwrite, inputs)
        check_format(out, hint=_format_hint(out))
        if uncertainty is not None:
            check_output(dem, uncertainty, overwrite, inputs)
            check_format(uncertainty, hint=_format_hint(uncertainty))
        if min(src.shape) < 2:
            raise RasterTooSmallError(
                f"{dem}: raster of {src.height}x{src.width} pixels is too small: "
                "a slope needs at least 2 pixels along each axis"
            )
        geometry = pixel_geometry(src.transform, src.crs, src.height, name=printable(dem))
        vertical = vertical_unit(src.crs, src.units[band - 1], src.scales[band - 1],
                                 src.offsets[band - 1], options.z_factor, name=str(dem))
        warn_vertical(vertical)
        options = options.with_vertical(vertical)
        if sigma_path is not None:  # in the DEM's vertical unit, its own scale applied
            options = options.with_sigma_factor(sigma_scale * vertical.metres)
        options.check_fit_window(geometry, src.height)
        block = (block_size, block_size) if block_size else default_block(src, band)
        check_block(block, src.shape)
        # GDAL compresses on NUM_THREADS threads when every block covers whole
        # output tiles (the default blocks do); a tile written in pieces is read
        # back and rewritten, which we keep on the plain single-threaded path.
        aligned = all(edge % TILE == 0 for edge in block)
        profile = profile_for(src, options, jobs if aligned else 1,
                              _creation_options(creation_options, cog))
        check_profile(profile, out)
        shape = src.shape
        stripe, cache_mb = (network_plan(src, band, block, profile) if is_network(dem)
                            else (_STRIPE, CACHE_MB))
    surface = FileSurface(dem, band, jobs)
    sigma = None
    try:
        sigma = None if sigma_path is None else SigmaSurface(sigma_path, jobs)
        paths = [dem, out] + [p for p in (uncertainty, sigma_path) if p is not None]
        with (
            reading_env(paths, cache_mb),  # an object store's retries too
            atomic_outputs(out, uncertainty, cog, jobs, overwrite=overwrite) as (tmp, utmp),
            rasterio.open(tmp, "w", **profile) as dst,
            (rasterio.open(utmp, "w", **uncertainty_profile(profile, creation_options))
             if utmp else contextlib.nullcontext()) as udst,
        ):
            describe(dst, options, vertical, geometry)
            if udst is not None:
                describe_uncertainty(udst, options, vertical, geometry,
                                     None if sigma_path is None else printable(sigma_path))
            any_valid = write_blocks(dst, surface, shape, geometry, options,
                                     (0, 0, *shape), block, jobs, progress, stripe,
                                     uncertainty=udst, sigma=sigma)
    finally:
        surface.close()
        if sigma is not None:
            sigma.close()
    if not any_valid:
        warnings.warn(f"{dem}: every pixel is nodata, so is every pixel of {out}",
                      EmptyResultWarning, stacklevel=2)
    warn_side_car([out] if uncertainty is None else [out, uncertainty])


def warn_side_car(outputs) -> None:
    """Say so where GDAL wrote part of an output to its side-car (a CRS, metadata)."""
    kept = [out for out in outputs if os.path.lexists(f"{os.fspath(out)}.aux.xml")]
    if kept:
        more = f" (and {len(kept) - 1} other outputs alike)" if len(kept) > 1 else ""
        warnings.warn(
            f"{printable(kept[0])}: GDAL keeps part of it (a CRS the GeoTIFF keys can't "
            f"hold, or a baseline TIFF's metadata) in {printable(kept[0])}.aux.xml beside it"
            f"{more}: keep the two files together", SideCarWarning, stacklevel=3)


#: The smallest edge of a processing block, pixels: below it the work per
#: block is mostly overhead (blocks of 1 pixel took 103 s for 1024² pixels).
MIN_BLOCK = 16

#: The most pixels a processing block may hold (4096²): a block is held in
#: memory as float64 elevations with their halo and its output bands, two
#: per thread in flight; the default is about 1024².
MAX_BLOCK_PIXELS = 4096 * 4096


def check_work(jobs, block_size, band=1) -> int:
    """``jobs`` (the number of cores if None), checked with ``block_size`` and ``band``.

    The checks the command line makes, with the same errors
    (:class:`~terrain.UsageError`).
    """
    jobs = default_jobs() if jobs is None else jobs
    for name, value, least in (("jobs", jobs, 1), ("block size", block_size, MIN_BLOCK),
                               ("band", band, 1)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise UsageError(f"{name} must be a whole number, not {value!r}")
        if value < least:
            unit = " pixels" if name == "block size" else ""
            raise UsageError(f"{name} must be at least {least}{unit}, not {value}")
    return int(jobs)


def check_block(block: tuple[int, int], shape: tuple[int, int]) -> None:
    """Refuse a processing block of over :data:`MAX_BLOCK_PIXELS` within ``shape``."""
    height, width = min(block[0], shape[0]), min(block[1], shape[1])
    if height * width > MAX_BLOCK_PIXELS:
        raise UsageError(
            f"block size {max(block)} gives blocks of {width}x{height} pixels: at most "
            f"{MAX_BLOCK_PIXELS} pixels (4096x4096) are held at once per block"
        )


def _format_hint(out) -> str:
    picture = os.path.splitext(out)[1].lower() in (".png", ".jpg", ".jpeg", ".gif", ".webp")
    if picture:
        return "; name it .tif, and add --preview PICTURE.png for a picture"
    return "; name it .tif, and convert it with gdal_translate for that format"


def _creation_options(creation_options: dict[str, str] | None, cog: bool):
    if creation_options and cog:
        raise UsageError(
            "creation options go with a plain GeoTIFF, not --cog (its layout is fixed)"
        )
    return creation_options


def slope(dem, out, units: str = "ratio", *, edge_order: int = 2, z_factor: float | None = None,
          method: str | None = None, window: int | str | None = None, z_sigma=None,
          uncertainty=None, **kwargs) -> None:
    """Write the slope of the DEM file ``dem`` to the GeoTIFF ``out``.

    ``units`` is one of ``ratio`` (m/m), ``percent``, ``degrees``, ``radians``;
    ``method`` is ``central`` (the default), ``horn`` or ``quadratic``.
    ``window`` (an odd pixel count such as 7, or a length such as ``"30m"``)
    fits a least-squares quadratic over that window at every pixel and
    selects ``quadratic``, which alone takes 3 (:func:`terrain.core.quadratic`).
    ``z_factor`` is metres per elevation unit; None (the default) takes the
    unit the file declares (see :func:`terrain.spacing.vertical_unit`).
    Keyword arguments: ``band``, ``block_size``, ``jobs``, ``overwrite``,
    ``cog``, ``creation_options`` (GDAL GTiff creation options over ours, e.g.
    ``{"COMPRESS": "ZSTD"}``), ``progress`` (called as ``progress(done, total)``
    after each block).

    ``z_sigma`` (the elevations' standard error: a number of metres, the path
    of a raster of them on the DEM's grid, in its vertical unit, or ``"fit"``,
    each window's residuals) with ``uncertainty`` (a GeoTIFF path) also
    writes the standard error of each slope, in ``units``
    (docs/conventions.md, "Uncertainty").
    """
    run(dem, out, Options("slope", units, edge_order, z_factor, method, window=window,
                          z_sigma=z_sigma), uncertainty=uncertainty, **kwargs)


def gradient(dem, out, *, edge_order: int = 2, z_factor: float | None = None,
             method: str | None = None, window: int | str | None = None, z_sigma=None,
             uncertainty=None, **kwargs) -> None:
    """Write dz/dx (east) and dz/dy (north), m/m, as two bands of ``out``; with
    ``z_sigma`` and ``uncertainty``, their standard errors as two bands of that."""
    run(dem, out, Options("gradient", "ratio", edge_order, z_factor, method, window=window,
                          z_sigma=z_sigma), uncertainty=uncertainty, **kwargs)


def aspect(dem, out, *, edge_order: int = 2, z_factor: float | None = None,
           method: str | None = None, window: int | str | None = None, z_sigma=None,
           uncertainty=None, **kwargs) -> None:
    """Write the compass aspect (degrees, downslope direction; flat = nodata); with
    ``z_sigma`` and ``uncertainty``, its standard error in degrees."""
    run(dem, out, Options("aspect", "ratio", edge_order, z_factor, method, window=window,
                          z_sigma=z_sigma), uncertainty=uncertainty, **kwargs)


def hillshade(dem, out, *, azimuth: float = 315.0, altitude: float = 45.0,
              z_factor: float | None = None, method: str | None = None, edge_order: int = 2,
              window: int | str | None = None, **kwargs) -> None:
    """Write gdaldem's hillshade (Byte, 1-255, 0 = nodata), on any CRS."""
    run(dem, out, Options("hillshade", "ratio", edge_order, z_factor, method,
                          azimuth, altitude, window), **kwargs)


def curvature(dem, out, kind: str | Sequence[str] = "profile", *,
              window: int | str | None = None, z_factor: float | None = None,
              method: str | None = None, **kwargs) -> None:
    """Write curvatures of the DEM file ``dem`` to the GeoTIFF ``out``, one band per kind.

    ``kind`` is one name of :data:`terrain.core.CURVATURES` (``profile``,
    ``tangential``, ``plan``, ``mean``, ``gaussian``, ``maximal``, ``minimal``,
    ``dxx``, ``dyy``, ``dxy``) or a list of them: the DEM is read once and each
    kind is a band, in that order. In 1/m (``gaussian`` in 1/m²), positive where
    convex, from the second derivatives of the least-squares quadratic over
    ``window`` (default 3; an odd pixel count or a length such as ``"30m"``),
    the fit ``slope(..., window=)`` uses; ``method`` may only be ``quadratic``.
    Nodata where the window's valid pixels do not determine the quadratic, and,
    for ``profile``, ``tangential`` and ``plan``, where the ground is flat.
    Keyword arguments as for :func:`slope` (no ``edge_order``: it only says
    what the gradient does where a window is degenerate, and there a curvature
    is nodata).
    """
    run(dem, out, Options("curvature", "ratio", 2, z_factor, method, window=window,
                          kinds=kind), **kwargs)
