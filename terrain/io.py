"""Reading DEMs and writing results with rasterio.

Inputs are opened read-only and never modified. Outputs are float32 GeoTIFFs
on the input's grid, written to a temporary file beside the target and
renamed into place only once complete; or, for an object in object storage
(``s3://``...), written to a local temporary folder, checked, then uploaded
whole (:mod:`terrain.storage`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import re
import secrets
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError
from rasterio.drivers import driver_from_extension
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.io import MemoryFile
from rasterio.windows import Window

from terrain import storage
from terrain._gdalerrors import gdal_failures
from terrain.core import Holes
from terrain.errors import (
    BadInputError,
    InputNotFoundError,
    InputReadError,
    NotARasterError,
    OutputExistsError,
    OutputWriteError,
    TerrainError,
    UsageError,
    printable,
)

__all__ = [
    "MAX_BLOCK_MB",
    "NAME_MAX",
    "NODATA",
    "PARTIAL",
    "SIDE_CARS",
    "atomic_output",
    "check_format",
    "check_local_output",
    "check_output",
    "check_profile",
    "check_target",
    "check_writable",
    "dataset_files",
    "input_name",
    "is_local",
    "is_network",
    "open_dem",
    "open_raster",
    "output_name",
    "output_profile",
    "read_dtype",
    "read_window",
    "reading_env",
    "side_cars",
]

#: Output nodata unless the user chooses another value.
NODATA = -9999.0

#: Output tile edge, pixels; processing blocks are multiples of it.
TILE = 256

#: GDAL's block cache while streaming, MiB (rasterio's Env takes it in bytes:
#: a bare 32 would be 32 bytes). A row of 1024-pixel blocks across a
#: 4096-pixel stripe reads, with its halo, up to four rows of 512-pixel input
#: blocks (32 MiB of float32), the last two of which the next row of blocks
#: reads again, and fills 16 MiB of output tiles. With less, GDAL decodes
#: those blocks twice (32 MiB cost 0.5 s in 1.9 s of reading at 8192²). Peak
#: memory is this plus a few blocks in flight, whatever the raster's size.
CACHE_MB = 96

#: GDAL's options for reading over the network, set for a run that reads a
#: network input unless the user set them (in the environment, a GDAL
#: configuration file or an enclosing ``rasterio.Env``). They only change
#: what GDAL's network file systems do, so local inputs of the same run are
#: read as ever.
NETWORK_OPTIONS = {
    # one request for the tiles of a window that lie next to each other in
    # the file, instead of one request per tile
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    # a window's parallel requests may share one HTTP/2 connection where the
    # server speaks HTTP/2 (GDAL's default has varied between versions)
    "GDAL_HTTP_MULTIPLEX": "YES",
    # retry what a busy server answers (429, 502, 503, 504) instead of
    # failing a long run; GDAL's default is not to retry
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "1",
}

#: Set, unless the user set it, while a network input is opened (not for
#: local files, whose side-car files keep working): GDAL would otherwise list
#: the input's folder (a GET of the folder's URL; a LIST on S3, often
#: forbidden) to look for side-car files (.aux.xml, .ovr, .msk). A remote
#: DEM's side-car files are not read.
NETWORK_OPEN_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}

#: URL schemes (alone or in rasterio's ``zip+https://`` form) read over the network.
_NETWORK_SCHEMES = {"http", "https", "ftp", "s3", "gs", "az", "oss"}

#: GDAL's network file systems, anywhere in a chain (``/vsizip//vsicurl/...``).
_NETWORK_VSI = re.compile(
    r"/vsi(curl|s3|gs|az|adls|oss|swift|webhdfs|hdfs)(_streaming)?[/?]"
)

#: ``scheme://`` at the start of a URL (a Windows drive ``C:/`` has no ``//``).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

#: Archive and compression endings that an input's own name may carry.
_ARCHIVE_SUFFIXES = (".gz", ".zip", ".tar", ".tgz")


def is_local(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a plain file path: not a URL, an archive member or a /vsi path.

    >>> is_local("dem.tif"), is_local("https://example.com/dem.tif")
    (True, False)
    """
    path = os.fspath(path)
    return not (_SCHEME.match(path) or path.startswith("/vsi"))


def is_network(path: str | os.PathLike) -> bool:
    """Whether GDAL reads ``path`` over the network (HTTP, FTP, a cloud store).

    >>> is_network("/vsizip//vsicurl/https://example.com/dems.zip/n45.tif")
    True
    """
    path = os.fspath(path)
    scheme = _SCHEME.match(path)
    if scheme and set(scheme.group(1).lower().split("+")) & _NETWORK_SCHEMES:
        return True
    return _NETWORK_VSI.search(path) is not None


def input_name(path: str | os.PathLike) -> str:
    """The file name of an input: a tile's output has this name.

    The last part of a path, URL (without its query string) or archive
    member; an archive or ``.gz`` ending is dropped (``.tif`` added if no
    ending remains).

    >>> input_name("https://example.com/cop30/N45_E006.tif?sig=abc")
    'N45_E006.tif'
    >>> input_name("/vsigzip/dems/n45.tif.gz")
    'n45.tif'
    """
    path = os.fspath(path)
    if is_local(path):
        return Path(path).name
    if "/vsicurl?" in path:  # /vsicurl?opt=...&url=https%3A... (URL-encoded)
        query = path.split("/vsicurl?", 1)[1]
        path = parse_qs(query).get("url", [query])[0]
    url = path.find("://")
    if url >= 0:  # a URL, maybe after /vsi prefixes: drop its query and fragment
        start = path.rfind("/", 0, url) + 1  # the scheme's start
        path = path[:start] + urlsplit(path[start:]).path
    return _with_suffix(unquote(path.rsplit("!", 1)[-1].rstrip("/").rsplit("/", 1)[-1]))


def _with_suffix(name: str) -> str:
    """A decoded name without an archive ending, ``.tif`` added if no ending remains."""
    if name in ("", ".", ".."):
        return name  # not a file name: output_name refuses it
    for suffix in _ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name if Path(name).suffix else f"{name}.tif"


#: Longest file name most file systems take, bytes (NAME_MAX).
NAME_MAX = 255

#: Longest path the system takes, bytes with the final NUL (Linux's PATH_MAX).
PATH_MAX = 4096


def output_name(path: str | os.PathLike) -> str:
    """The file name of a tile's output: :func:`input_name`, refused unless a plain file name.

    Whatever an input's URL, archive member or list line decodes to, its
    output must lie directly in the output folder: a name holding a path
    separator, NUL or another control character, ``.`` or ``..``, or longer
    than :data:`NAME_MAX` bytes raises :class:`BadInputError` naming the input.

    >>> output_name("https://example.com/dems/..%2F..%2Fevil.tif")
    Traceback (most recent call last):
    ...
    terrain.errors.BadInputError: https://example.com/dems/..%2F..%2Fevil.tif: its output \
name ../../evil.tif (decoded from the input's name) holds a path separator; an output name \
is a file name in the output folder: rename the input
    """
    name = input_name(path)
    if "/" in name or "\\" in name:
        problem = "holds a path separator"
    elif name in ("", ".", ".."):
        problem = "is not a file name"
    elif not name.isprintable():
        problem = "holds a control character or bytes that are not UTF-8"
    elif len(os.fsencode(name)) > NAME_MAX:
        problem = f"is longer than the {NAME_MAX} bytes a file name may have"
    else:
        return name
    raise BadInputError(
        f"{printable(os.fspath(path))}: its output name {printable(name)} (decoded from the "
        f"input's name) {problem}; an output name is a file name in the output folder: "
        "rename the input"
    )


#: GDAL's file systems that read from another file: the path after their
#: prefix names a local file (maybe in braces), or another /vsi path.
_VSI_PREFIX = re.compile(r"^/vsi([a-z0-9_]+)/")


def _local_parts(name: str, depth: int = 0) -> list[str]:
    """The local files a GDAL dataset name may read: itself and every archive around it.

    ``/vsizip/dems.zip/n45.tif`` gives ``dems.zip/n45.tif``, ``dems.zip`` and the
    other prefixes; the caller keeps those that exist. Network paths give none.
    """
    if depth > 8:
        return []
    name = re.sub(r"^file://", "", name)
    found = _VSI_PREFIX.match(name)
    if found is None:
        if _SCHEME.match(name):
            return []  # https://, s3://...: nothing local
        parts = name.split("/")
        return ["/".join(parts[:i]) for i in range(1, len(parts) + 1) if "/".join(parts[:i])]
    kind, rest = found.group(1), name[found.end():]
    if _NETWORK_VSI.match(name) and not rest.startswith("file://"):
        return []  # /vsis3/bucket/key, /vsicurl/https://...: nothing local
    if kind == "subfile":  # /vsisubfile/OFFSET_SIZE,FILENAME
        rest = rest.partition(",")[2]
    if rest.startswith("{"):  # /vsizip/{archive path}/member
        inner, _, member = rest[1:].partition("}")
        return [*_local_parts(inner, depth + 1), *_local_parts(inner + member, depth + 1)]
    return _local_parts(rest, depth + 1)


#: VRT files read, at most, in following a dataset's VRT sources.
_MAX_VRTS = 64


def dataset_files(src: rasterio.DatasetReader,
                  path: str | os.PathLike | None = None) -> dict[tuple[int, int], str]:
    """Every local file the dataset reads, as {(device, inode): name}.

    The dataset itself and its side-cars (GDAL's file list: .aux.xml, .prj,
    .ovr...), the archives and compressed files it lies in, and the sources
    of VRTs, followed into VRTs they name. A source that should be a local
    file but does not exist raises :class:`InputReadError`.
    """
    names = [os.fspath(path)] if path is not None else []
    names.append(src.name)
    with contextlib.suppress(ImportError, ValueError, TypeError, AttributeError):
        from rasterio._path import _parse_path, _vsi_path

        names.append(_vsi_path(_parse_path(names[0])))
    listed = list(src.files)
    seen_vrts = {src.name}
    i = 0
    while i < len(listed):
        name = listed[i]
        i += 1
        names.append(name)
        if is_local(name) and not os.path.lexists(name):
            raise InputReadError(f"{printable(src.name)}: its source {printable(name)} does "
                                 "not exist", path=src.name,
                                 problem=f"its source {printable(name)} does not exist")
        kind = _kind(name) if is_local(name) else None
        if kind is not None:  # GDAL would wait for ever reading a pipe
            problem = f"its source {printable(name)} is {kind}, not a raster file"
            raise InputReadError(f"{printable(src.name)}: {problem}", path=src.name,
                                 problem=problem)
        if (name.lower().endswith(".vrt") and name not in seen_vrts
                and len(seen_vrts) < _MAX_VRTS):
            seen_vrts.add(name)
            with contextlib.suppress(RasterioError, CPLE_BaseError, OSError, ValueError), \
                    rasterio.open(name) as vrt:
                listed += [f for f in vrt.files if f not in listed]
    files: dict[tuple[int, int], str] = {}
    for name in names:
        for local in _local_parts(name):
            try:
                info = os.stat(local)
            except (OSError, ValueError):
                continue
            if not stat.S_ISDIR(info.st_mode):
                files.setdefault((info.st_dev, info.st_ino), local)
    return files


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def _unset(options: dict[str, str]) -> dict[str, str]:
    """The options the user did not set, anywhere GDAL looks for them."""
    return {k: v for k, v in options.items() if rasterio.env.get_gdal_config(k) is None}


def reading_env(inputs: Iterable[str | os.PathLike], cache_mb: int = CACHE_MB) -> rasterio.Env:
    """GDAL's environment for a run: the block cache, and network options if an input needs them.

    ``GDAL_CACHEMAX`` is always ``cache_mb``; :data:`NETWORK_OPTIONS` are
    added, where the user did not set them, when an input is read over the network.
    """
    network = any(is_network(path) for path in inputs)
    return rasterio.Env(
        GDAL_CACHEMAX=cache_mb * 2**20, **(_unset(NETWORK_OPTIONS) if network else {})
    )


def open_raster(path: str | os.PathLike, threads: int = 1) -> rasterio.DatasetReader:
    """``rasterio.open(path)`` for reading; a network path with GDAL's network options.

    A local GeoTIFF decodes the blocks one read spans on ``threads`` threads
    (``GDAL_NUM_THREADS``, unless the user set it). Not over the network:
    there GDAL fetches those blocks ahead in one request, and when that
    request failed (a truncated COG over HTTP, in tests/test_failures.py) GDAL
    only logged it and the read returned without an error.
    """
    options = _unset(NETWORK_OPEN_OPTIONS | NETWORK_OPTIONS) if is_network(path) else {}
    if threads > 1 and is_local(path):
        options |= _unset({"GDAL_NUM_THREADS": str(threads)})
    with rasterio.Env(**options):
        return rasterio.open(path)

#: A temporary output is named OUT + this + random letters, beside OUT, and
#: renamed to OUT once complete: a name a user recognises when SIGKILL (which
#: nothing can clean up) leaves one behind.
PARTIAL = ".terrain-partial-"

#: Errors of a failed write, in the words of the one-line message.
_WRITE_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large: over the file size limit (ulimit -f) or the file system's",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "input/output error",
    errno.ENOENT: "its folder no longer exists",
}

#: Bytes appended to a failed output to learn why the system refuses it.
_PROBE = 8 * 2**20


def open_dem(path: str | os.PathLike, band: int = 1) -> rasterio.DatasetReader:
    """Open a DEM read-only, checking that it is a raster with this band.

    ``path`` is anything rasterio opens (a file, ``https://``, ``s3://``,
    ``/vsicurl/``, ``/vsizip/``, ``zip+file://``...), passed on unchanged.
    Refused besides: a name that is not UTF-8 (GDAL takes UTF-8 names), a
    DEM georeferenced only by ground control points or RPCs (no grid to take
    a slope on), and one stored in blocks over :data:`MAX_BLOCK_MB` decoded
    (GDAL decodes a whole block for any window of it).
    """
    path = os.fspath(path)
    shown = printable(path)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInputError(
            f"{shown}: the name is not valid UTF-8, which GDAL needs; rename the file"
        ) from None
    local = is_local(path)
    if local and not os.path.exists(path):
        raise InputNotFoundError(f"{shown}: no such file")
    kind = _kind(path) if local else None
    if kind is not None:  # GDAL would wait for ever on a pipe or a terminal
        raise NotARasterError(f"{shown}: is {kind}, not a raster file")
    try:
        src = open_raster(path)
    except RasterioIOError as e:
        if local:
            raise NotARasterError(
                f"{shown}: not a raster GDAL can read (GeoTIFF, ASCII grid, DTED, ...)"
            ) from None
        # GDAL's own words say what went wrong: HTTP 404, no such archive member...
        reason = (str(e).splitlines() or ["cannot open"])[0].removeprefix(f"{path}: ")
        raise NotARasterError(f"{shown}: cannot open: {printable(reason)}") from None
    try:
        _check_dem(src, band, shown)
    except BaseException:
        src.close()
        raise
    return src


#: The largest block (tile or strip) of an input, MiB decoded, that terrain
#: reads: GDAL decodes a whole block for any window of it, and a DEM stored
#: as one strip would otherwise be decoded whole for every block computed.
MAX_BLOCK_MB = 64


def _check_dem(src: rasterio.DatasetReader, band: int, shown: str) -> None:
    if not 1 <= band <= src.count:
        raise BadInputError(
            f"{shown}: band {band} out of range: the file has {src.count} "
            f"band{'s' if src.count > 1 else ''}"
        )
    if src.dtypes[band - 1].startswith("complex"):
        raise BadInputError(
            f"{shown}: band {band} holds complex numbers ({src.dtypes[band - 1]}), "
            "not elevations; choose a real-valued band with --band"
        )
    if src.transform.is_identity and (src.gcps[0] or getattr(src, "rpcs", None)):
        kind = "ground control points (GCPs)" if src.gcps[0] else "RPCs"
        raise BadInputError(
            f"{shown}: georeferenced only by {kind}, not by a grid: warp it to one "
            "first (gdalwarp -t_srs EPSG:... in.tif grid.tif)"
        )
    bh, bw = src.block_shapes[band - 1]
    size = bh * bw * np.dtype(src.dtypes[band - 1]).itemsize
    if src.count > 1 and src.interleaving is not None and src.interleaving.name == "pixel":
        size *= src.count  # GDAL decodes every band of a pixel-interleaved block
    if size > MAX_BLOCK_MB * 2**20:
        raise BadInputError(
            f"{shown}: stored in blocks of {bw}x{bh} pixels ({size / 2**20:.0f} MiB each, "
            f"decoded whole for any part of them); terrain reads blocks up to "
            f"{MAX_BLOCK_MB} MiB: rewrite it tiled first "
            "(gdal_translate -co TILED=YES -co COMPRESS=DEFLATE in.tif tiled.tif)"
        )


def read_dtype(src: rasterio.DatasetReader, band: int) -> np.dtype:
    """The type :func:`read_window` reads ``band`` in: float32 stays float32, others float64."""
    native = np.dtype(src.dtypes[band - 1])
    return native if native == np.float32 else np.dtype(np.float64)


def read_window(
    src: rasterio.DatasetReader, band: int, window: Window, out: np.ndarray | None = None
) -> tuple[np.ndarray, Holes | None]:
    """Elevations of a window and the rule for their nodata; None means all valid.

    Float32 elevations stay float32 (the kernel computes in float64 as it
    reads them: half the memory traffic); other types are read as float64
    (:func:`read_dtype`). With ``out`` (an array of the window's shape in
    that type, a view of a larger one allowed), GDAL reads into it, and it
    is returned.

    Nodata comes from the file: its nodata value (an integer sentinel such as
    -32768, 0 on uint16, or NaN), NaN in float rasters, or a dataset mask.
    A block GDAL can't decode raises :class:`InputReadError` naming the file
    and the row near which it failed.
    """
    native = np.dtype(src.dtypes[band - 1])
    with gdal_failures() as failures:
        try:
            if out is None:
                z = src.read(band, window=window, out_dtype=read_dtype(src, band))
            else:
                z = src.read(band, window=window, out=out)
                if z is not out:  # a rasterio that read into a copy of a view
                    out[...] = z
                    z = out
            per_dataset = MaskFlags.per_dataset in src.mask_flag_enums[band - 1]
            mask = src.read_masks(band, window=window) > 0 if per_dataset else None
        except (RasterioError, CPLE_BaseError) as e:
            failures.append(str(e.__cause__ or e))
    if failures:
        raise _read_error(src, band, window, failures + _one_thread_failures(src, band, window))
    nodata = src.nodatavals[band - 1]
    if nodata is not None and np.isnan(nodata):
        nodata = None  # NaN is never equal: the float rule covers it
    finite = bool(np.issubdtype(native, np.floating))
    if nodata is None and not finite and mask is None:
        return z, None
    return z, Holes(nodata=nodata, finite=finite, mask=mask)


def _one_thread_failures(src, band: int, window: Window) -> list[str]:
    """GDAL's messages for reading ``window`` again on one thread.

    Decoding on several threads, GDAL says what failed ("Cannot read 262144
    bytes at offset 524692") but not which block; on one it names the block.
    """
    with gdal_failures() as failures, rasterio.Env(GDAL_NUM_THREADS="1"):
        try:
            with open_raster(src.name) as again:
                again.read(band, window=window)
        except (RasterioError, CPLE_BaseError) as e:
            failures.append(str(e.__cause__ or e))
    return failures


def _read_error(src, band: int, window: Window, failures: list[str]) -> InputReadError:
    """The error naming the first block GDAL reported as unreadable, else the window."""
    place = f"row {int(window.row_off)}"
    for message in failures:
        found = re.search(r"X offset (\d+), Y offset (\d+)", message)
        if found:
            bh, bw = src.block_shapes[band - 1]
            place = f"row {int(found.group(2)) * bh}, column {int(found.group(1)) * bw}"
            break
    # over the network, GDAL's words beside libtiff's may say what failed (HTTP 500...)
    network = [m for m in failures if not m.startswith("TIFF") and "IReadBlock" not in m
               and not m.startswith("Read failed")]
    # a VRT's own failures (a source that can't be read, a VRT naming itself) say more
    own = src.driver == "VRT" and is_local(src.name)
    if (is_local(src.name) and not own) or not network:
        problem = f"corrupt or truncated data near {place}"
    else:
        problem = f"read failed near {place}: {network[0]}"
    return InputReadError(f"{src.name}: {problem}", path=src.name, problem=problem)


def output_profile(src: rasterio.DatasetReader, count: int, jobs: int,
                   dtype: str = "float32", nodata: float = NODATA,
                   creation_options: dict[str, str] | None = None) -> dict:
    """Creation options of a result on ``src``'s grid: tiled, DEFLATE.

    ``creation_options`` (GDAL's GTiff names, any case, as ``--co NAME=VALUE``)
    go over these defaults; a compression that takes no predictor drops ours.
    Check them with :func:`check_profile` before any work.
    """
    profile = {
        "driver": "GTiff",
        "dtype": dtype,
        "count": count,
        "width": src.width,
        "height": src.height,
        "crs": src.crs,
        "transform": src.transform,
        "nodata": nodata,
        "tiled": True,
        "interleave": "band",
        "blockxsize": TILE,
        "blockysize": TILE,
        "compress": "deflate",
        # the floating-point predictor for float results, horizontal for bytes
        "predictor": 3 if dtype.startswith("float") else 2,
        "bigtiff": "if_safer",
        "num_threads": str(jobs),
    }
    options = {name.lower(): value for name, value in (creation_options or {}).items()}
    for name in options:
        if name in _NOT_CREATION_OPTIONS:
            raise UsageError(
                f"{name.upper()} is not a creation option: terrain sets it from the input"
            )
    if str(options.get("sparse_ok", "false")).lower() not in ("false", "no", "off", "0"):
        raise UsageError(
            "SPARSE_OK is not offered: terrain checks that every block of the output was "
            "written, and a block left out on purpose can't be told from a lost one"
        )
    compress = str(options.get("compress", "deflate")).lower()
    if "predictor" not in options and compress not in _PREDICTOR_CODECS:
        del profile["predictor"]
    profile.update(options)
    return profile


#: Compressions that take GDAL's PREDICTOR option.
_PREDICTOR_CODECS = ("deflate", "lzw", "zstd", "lzma")

#: Profile keys that describe the grid and data, not how GDAL stores them.
_NOT_CREATION_OPTIONS = ("driver", "dtype", "count", "width", "height", "crs", "transform",
                         "nodata")


def check_profile(profile: dict, out: str | os.PathLike) -> None:
    """Refuse creation options GDAL rejects or would ignore, before any work.

    Creates a dataset in memory with ``profile`` and writes one pixel of each
    band; GDAL validates the options as it creates the file, but only warns
    about a bad name or value (and goes on without it), and checks a codec's
    settings (``MAX_Z_ERROR``...) only when it compresses a block, so its
    warnings and failures are taken as errors here. The dataset is sparse:
    no other block is written, so the memory this takes does not grow with
    the raster's size. Output blocks over :data:`MAX_BLOCK_MB` are refused.
    """
    _check_output_blocks(profile, out)
    logger = logging.getLogger("rasterio._env")  # where rasterio logs GDAL's warnings
    problems: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: problems.append(record.getMessage())
    level = logger.level
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
    try:
        with gdal_failures() as failures:
            try:
                # on this thread: GDAL's compression threads report to none
                one = {**profile, "num_threads": "1", "sparse_ok": True}
                with MemoryFile() as memory, memory.open(**one) as dst:
                    pixel = np.zeros((dst.count, 1, 1), dtype=dst.dtypes[0])
                    dst.write(pixel, window=Window(0, 0, 1, 1))
            except (RasterioError, CPLE_BaseError, ValueError, TypeError) as e:
                failures.append(str(e))
        problems += failures
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    if problems:
        problem = re.sub(r"^CPLE_\w+ in ", "", problems[0].strip().splitlines()[0])
        raise UsageError(f"{printable(out)}: bad creation option: {printable(problem)}")


def _check_output_blocks(profile: dict, out: str | os.PathLike) -> None:
    """Refuse output blocks over :data:`MAX_BLOCK_MB`: GDAL holds each whole in memory."""
    def number(name: str, default: int) -> int:
        try:
            return int(float(profile.get(name, default)))
        except (TypeError, ValueError, OverflowError):
            return default  # GDAL says what is wrong with it
    tiled = str(profile.get("tiled", False)).lower() in ("true", "yes", "on", "1")
    width = number("blockxsize", TILE) if tiled else int(profile["width"])
    height = number("blockysize", TILE if tiled else 1)
    size = width * height * np.dtype(profile["dtype"]).itemsize
    if str(profile.get("interleave", "band")).lower() == "pixel":
        size *= int(profile["count"])
    if size > MAX_BLOCK_MB * 2**20:
        raise UsageError(
            f"{printable(out)}: bad creation option: blocks of {width}x{height} pixels are "
            f"{size / 2**20:.0f} MiB each; terrain writes blocks up to {MAX_BLOCK_MB} MiB"
        )


#: GDAL's side-car files of a GeoTIFF, which it reads as part of it
#: (metadata and a CRS it could not store inside, overviews, a mask): an
#: output's are replaced with it, and a stale one never outlives it.
SIDE_CARS = (".aux.xml", ".ovr", ".msk")


def side_cars(path: str | os.PathLike) -> list[Path]:
    """The side-car files GDAL would read as part of ``path``."""
    return [Path(f"{os.fspath(path)}{suffix}") for suffix in SIDE_CARS]


def check_output(src_path: str | os.PathLike, dst_path: str | os.PathLike,
                 overwrite: bool, inputs: dict[tuple[int, int], str] | None = None) -> None:
    """Refuse an output that exists (unless ``overwrite``), is the input, or can't be written.

    A local path, or an object in object storage (checked by asking the
    store: see :func:`terrain.storage.check_target`). ``inputs`` are the
    files the input dataset reads (:func:`dataset_files`); by default those
    its path names. Neither a local output nor its side-cars may be one of
    them (compared by device and inode), nor, unless ``overwrite``, exist (a
    dangling symbolic link exists); with ``overwrite`` they must be regular
    files (or links, replaced themselves).
    """
    check_local_output(dst_path)
    if storage.is_object_storage(dst_path):
        if os.fspath(dst_path) == os.fspath(src_path):
            raise OutputExistsError(f"{dst_path}: the output would overwrite the input")
        storage.check_target(os.fspath(dst_path), overwrite)
        return
    dst_path = Path(dst_path)
    if dst_path.is_dir():
        raise OutputExistsError(
            f"{printable(dst_path)}: is a folder; name the output file in it (for a tile "
            "set, give the folder as --out-dir)"
        )
    check_target(dst_path, overwrite, _path_files(src_path) if inputs is None else inputs,
                 _identity(src_path) if is_local(src_path) else None)
    if not dst_path.parent.is_dir():
        raise OutputExistsError(f"{printable(dst_path.parent)}: no such folder for the output")


def check_target(dst_path: Path, overwrite: bool, inputs: dict[tuple[int, int], str],
                 itself: tuple[int, int] | None = None) -> None:
    """:func:`check_output`'s checks of the target and its side-cars, its folder aside.

    ``itself`` is the input file's own identity, named "the input" in the message.
    """
    for path in (dst_path, *side_cars(dst_path)):
        found = _identity(path)
        if found is not None and found in inputs:
            what = ("the input" if found == itself and path == dst_path
                    else f"{printable(inputs[found])}, which the input reads")
            raise OutputExistsError(f"{printable(path)}: the output would overwrite {what}")
    _check_replaceable(dst_path, overwrite)
    for path in side_cars(dst_path):
        _check_replaceable(path, overwrite, of=dst_path)


def _path_files(path: str | os.PathLike) -> dict[tuple[int, int], str]:
    """The local files a dataset's path names (itself, its archives), by identity."""
    files = {}
    for local in _local_parts(os.fspath(path)):
        found = _identity(local)
        if found is not None and not os.path.isdir(local):
            files.setdefault(found, local)
    return files


#: What a file that is not a regular file is, for messages.
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISSOCK, "a socket"))


def _kind(path: str) -> str | None:
    """What ``path`` is if it is a pipe, a character device or a socket (no raster file)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
        return next(name for test, name in _KINDS if test(mode))
    return None


def _check_replaceable(path: Path, overwrite: bool, of: Path | None = None) -> None:
    """Refuse ``path`` as a target unless it is absent, or ``overwrite`` and a file or link."""
    try:
        info = os.lstat(path)
    except (OSError, ValueError):
        return  # absent (or its folder is: said next)
    if not overwrite:
        if of is not None:
            raise OutputExistsError(
                f"{printable(path)}: exists, and GDAL would read it as part of "
                f"{printable(of)}; remove it, or pass --overwrite to replace it"
            )
        if stat.S_ISLNK(info.st_mode) and not path.exists():
            raise OutputExistsError(
                f"{printable(path)}: exists, as a symbolic link to a missing file; "
                "pass --overwrite to replace the link"
            )
        raise OutputExistsError(f"{printable(path)}: exists; pass --overwrite to replace it")
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
        raise OutputExistsError(
            f"{printable(path)}: is {kind}, not a regular file; "
            "--overwrite replaces only regular files"
        )


def check_local_output(path: str | os.PathLike) -> None:
    """Refuse an output that is neither a local path nor an object in object storage,
    a name that is not UTF-8 (GDAL takes UTF-8 names), and a local file name
    over the file system's limit (NAME_MAX bytes).

    Object storage is ``s3://``, ``gs://``, ``az://`` or GDAL's ``/vsis3/``,
    ``/vsigs/``, ``/vsiaz/``, ``/vsiadls/``, ``/vsioss/``; any other URL or
    /vsi path is refused.
    """
    path = os.fspath(path)
    if not is_local(path) and not storage.is_object_storage(path):
        raise UsageError(
            f"{printable(path)}: outputs are local files or objects in object storage "
            "(s3://, gs://, az://); give one of those (and copy the result where it "
            "should go)"
        )
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{printable(path)}: the name is not valid UTF-8, which GDAL needs; name it in UTF-8"
        ) from None
    name = len(os.fsencode(os.path.basename(path)))
    limit = _name_max(os.path.dirname(path) or ".")
    if is_local(path) and name > limit:
        raise UsageError(
            f"{printable(path)}: its file name is {name} bytes long; this file system takes "
            f"{limit} at most"
        )
    if is_local(path) and len(os.fsencode(os.path.abspath(path))) >= PATH_MAX:
        raise UsageError(
            f"{printable(path[:60])}...: the path is {len(os.fsencode(os.path.abspath(path)))} "
            f"bytes long; the system takes {PATH_MAX - 1} at most"
        )


def _name_max(folder: str) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def check_format(path: str | os.PathLike, what: str = "GeoTIFF",
                 drivers: tuple[str, ...] = ("GTiff", "COG"), hint: str = "") -> None:
    """Refuse an output whose extension names a format other than ``what``.

    An extension GDAL does not know (or none) is accepted.
    """
    path = Path(path)
    try:
        driver = driver_from_extension(path)
    except ValueError:
        return
    if driver not in drivers:
        raise UsageError(f"{path}: {path.suffix} names another format ({driver}) than "
                         f"the {what} written here{hint}")


def check_writable(path: str | os.PathLike) -> None:
    """Refuse an output whose folder takes no file (read-only, no permission...)."""
    path = Path(path)
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as e:
        raise OutputWriteError(f"{path}: {_os_reason(e)}") from None


@contextlib.contextmanager
def atomic_output(
    dst_path: str | os.PathLike, cog: bool = False, jobs: int = 1, *, overwrite: bool = False
) -> Iterator[str]:
    """Yield a temporary path beside ``dst_path``; move it there on success.

    The temporary file is named ``dst_path`` + :data:`PARTIAL` + 8 random
    hex digits (``dst_path``'s name shortened in it where the whole would be
    too long for the file system). On any exception (including
    KeyboardInterrupt) it is removed and ``dst_path`` is left as it was. With
    ``cog``, the finished GeoTIFF is translated to a Cloud-Optimized GeoTIFF
    before the move.

    Without ``overwrite`` the result is moved into place only if
    ``dst_path`` still does not exist (an atomic no-clobber rename or link):
    a file that appeared meanwhile raises :class:`OutputExistsError` and is
    kept. With ``overwrite``, only a regular file (or a link) is replaced.
    A side-car GDAL wrote beside the temporary (``.aux.xml``: a CRS the
    GeoTIFF keys cannot hold, metadata of a baseline TIFF) is moved with it,
    under ``dst_path``'s own name; a stale side-car of ``dst_path`` is removed.

    An object in object storage (``s3://...``) is written, checked and
    translated the same way in a private local temporary folder, then uploaded
    whole (:func:`terrain.storage.upload`, which raises
    :class:`~terrain.errors.UploadError`), after GDAL's side-car if there is
    one; the folder is removed in any case.

    A write GDAL reports as failed, whether it raised or was only logged (as
    failures flushing GDAL's block cache are), raises
    :class:`OutputWriteError` saying why (no space left, read-only, ...), as
    does a result that does not read back as a whole GeoTIFF.
    """
    remote = storage.is_object_storage(dst_path)
    target = os.fspath(dst_path)
    made: list[str] = []  # the files to remove unless moved into place
    with contextlib.ExitStack() as stack:
        if remote:  # a local file first, uploaded once complete
            folder = stack.enter_context(storage.staging_folder(target))
            dst_path = folder / storage.vsi_path(target).rsplit("/", 1)[-1]
        else:
            dst_path = Path(dst_path)
        try:
            tmp = _create_partial(dst_path, made, target)
            made += [f"{tmp}{suffix}" for suffix in SIDE_CARS]  # GDAL's, if it writes them
            with gdal_failures() as failures:
                try:
                    yield tmp
                    _check_written(tmp, failures)
                    final = tmp
                    if cog and not failures:
                        final = tmp + ".cog"
                        made += [final, *(f"{final}{suffix}" for suffix in SIDE_CARS)]
                        rasterio.shutil.copy(
                            tmp, final, driver="COG", compress="deflate", predictor="yes",
                            bigtiff="if_safer", num_threads=str(jobs),
                        )
                        _check_written(final, failures)
                    if not failures and remote:
                        if os.path.lexists(f"{final}.aux.xml"):  # its CRS: first
                            storage.upload(f"{final}.aux.xml", f"{target}.aux.xml")
                        storage.upload(final, target)
                    elif not failures:
                        _move_into_place(final, dst_path, overwrite)
                except TerrainError:
                    raise  # the input's fault (a read error...), or a failed upload
                except (RasterioError, CPLE_BaseError, OSError) as e:
                    failures.append(str(e.__cause__ or e))
                if failures:
                    where = (f" (in the local temporary folder {tempfile.gettempdir()}; "
                             "set TMPDIR to one with room)") if remote else ""
                    raise OutputWriteError(
                        f"{printable(target)}: {_write_reason(tmp, failures)}{where}")
        finally:
            _remove(made)


def _move_into_place(final: str, dst_path: Path, overwrite: bool) -> None:
    """Move the finished file (and GDAL's side-car of it) to ``dst_path``.

    The side-car goes first, so that the moment OUT appears it has its CRS.
    """
    aux = f"{final}.aux.xml"
    dst_aux = Path(f"{dst_path}.aux.xml")
    has_aux = os.path.lexists(aux)
    if has_aux and len(os.fsencode(dst_aux.name)) > _name_max(str(dst_aux.parent)):
        raise OutputWriteError(
            f"{printable(dst_path)}: GDAL keeps part of it (a CRS the GeoTIFF keys can't "
            f"hold) in a side-car, {printable(dst_aux.name)}, a name too long for the "
            "file system: name the output shorter"
        )
    if not overwrite:
        if has_aux:
            _no_clobber(aux, dst_aux, dst_path)
        try:
            _no_clobber(final, dst_path, dst_path)
        except BaseException:
            if has_aux:
                _remove([str(dst_aux)])  # ours: placed by the no-clobber move just now
            raise
        return
    for path in (dst_path, *side_cars(dst_path)):
        _check_replaceable(path, overwrite=True)  # again: it may have changed meanwhile
    if has_aux:
        os.replace(aux, dst_aux)
    os.replace(final, dst_path)
    stale = side_cars(dst_path)[1 if has_aux else 0:]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


#: renameat2's flag: fail with EEXIST rather than replace the target (Linux 3.15).
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _no_clobber(src: str, dst: Path, out: Path) -> None:
    """Rename ``src`` to ``dst`` only if ``dst`` does not exist, atomically.

    ``renameat2(RENAME_NOREPLACE)`` where the system has it; else a hard link
    (which fails if ``dst`` exists) and the removal of ``src``; on a file
    system with neither, a check just before a plain rename.
    """
    if _renameat2(src, dst, out):
        return
    try:
        os.link(src, dst)
    except FileExistsError:
        raise _appeared(dst, out) from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV,
                           errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(dst):
            raise _appeared(dst, out) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def _appeared(dst: Path, out: Path) -> OutputExistsError:
    what = "" if dst == out else f", GDAL's side-car of {printable(out)},"
    return OutputExistsError(
        f"{printable(dst)}{what}: appeared while this run was working; kept as it is: "
        "pass --overwrite to replace it"
    )


def _renameat2(src: str, dst: Path, out: Path) -> bool:
    """``renameat2(src, dst, RENAME_NOREPLACE)``; False where the system can't do it.

    Raises :class:`OutputExistsError` if ``dst`` exists.
    """
    function = _libc_renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code == errno.EEXIST:
        raise _appeared(dst, out)
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # this kernel or file system does not do it
    raise OSError(code, os.strerror(code), os.fspath(dst))


@functools.cache
def _libc_renameat2():
    """glibc's renameat2 (2.28 and later) through ctypes, or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _create_partial(dst_path: Path, made: list[str], target: str | None = None) -> str:
    """Create an empty temporary file for ``dst_path``, beside it.

    Its name goes into ``made`` before the file exists, so that a signal's
    exception, whenever it comes, leaves no file that ``made`` does not list.
    The name leaves room for the endings added to it (``.cog``, ``.aux.xml``)
    within :data:`NAME_MAX` bytes, shortening ``dst_path``'s name if it must.
    A failure names ``target`` (the output as the user named it).
    """
    name = os.fsencode(dst_path.name)
    room = NAME_MAX - len(PARTIAL) - 8 - len(".cog.aux.xml")
    if len(name) > room:
        name = name[:room].decode("utf-8", "ignore").encode()  # whole characters
    while True:
        tmp = os.fsdecode(os.path.join(os.fsencode(dst_path.parent),
                                       name + f"{PARTIAL}{secrets.token_hex(4)}".encode()))
        made.append(tmp)
        try:
            # 0o666 less the umask, as any file a user writes
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            made.remove(tmp)  # someone else's
        except OSError as e:
            made.remove(tmp)
            reason = _os_reason(e)
            if e.errno == errno.ENOENT and dst_path.parent.is_dir():  # /proc, /sys...
                reason = "the file system there takes no new files"
            raise OutputWriteError(f"{printable(target or dst_path)}: {reason}") from None
        else:
            return tmp


def _remove(paths: list[str]) -> None:
    """Remove these files, even if a signal's exception interrupts; then raise it.

    Only a signal's exception (raised in the middle of a removal) makes a
    removal be tried again, a few times at most; any other failure leaves the
    file (it can't be removed: no such file, no permission, a bad name).
    """
    interrupted = None
    for path in paths:
        for _ in range(_REMOVE_TRIES):
            try:
                with contextlib.suppress(OSError, ValueError):
                    os.remove(path)
                break
            except BaseException as e:  # a signal's, raised once: finish first
                interrupted = interrupted or e
    if interrupted is not None:
        raise interrupted


#: Removals of one file interrupted by signals before it is given up.
_REMOVE_TRIES = 10


def _check_written(path: str, failures: list[str]) -> None:
    """Add to ``failures`` what makes ``path`` less than a whole GeoTIFF.

    Every block of every band must lie inside the file: a block GDAL could not
    write has no offset, and reads back as nodata without a word.
    """
    if failures:
        return
    size = os.path.getsize(path)
    with rasterio.open(path) as src:
        if src.driver != "GTiff":
            return
        for band in src.indexes:
            bh, bw = src.block_shapes[band - 1]
            for i in range(-(-src.height // bh)):
                for j in range(-(-src.width // bw)):
                    offset = src.get_tag_item(f"BLOCK_OFFSET_{j}_{i}", "TIFF", bidx=band)
                    length = src.get_tag_item(f"BLOCK_SIZE_{j}_{i}", "TIFF", bidx=band)
                    if not offset or not length or int(offset) + int(length) > size:
                        failures.append(f"block {j}, {i} of band {band} is missing")
                        return


def _write_reason(path: str, failures: list[str]) -> str:
    """Why a write failed: the system's error on appending to the file, else GDAL's."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            chunk = bytes(2**20)
            for _ in range(_PROBE // len(chunk)):
                os.write(fd, chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        return _os_reason(e)
    return f"write failed: {failures[0]}"


def _os_reason(e: OSError) -> str:
    return _WRITE_REASONS.get(e.errno, (e.strerror or str(e)).lower())
