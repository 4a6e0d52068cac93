"""Reading DEMs and writing results with rasterio.

Inputs are opened read-only and never modified. Outputs are float32 GeoTIFFs
on the input's grid, written to a temporary file beside the target and
renamed into place only once complete; or, for an object in object storage
(``s3://``...), written to a local temporary folder, checked, then uploaded
whole (:mod:`terrain.storage`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
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
)

__all__ = [
    "NODATA",
    "PARTIAL",
    "atomic_output",
    "check_format",
    "check_local_output",
    "check_output",
    "check_profile",
    "check_writable",
    "input_name",
    "is_local",
    "is_network",
    "open_dem",
    "open_raster",
    "output_profile",
    "read_window",
    "reading_env",
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
    name = unquote(path.rsplit("!", 1)[-1].rstrip("/").rsplit("/", 1)[-1])
    for suffix in _ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name if Path(name).suffix else f"{name}.tif"


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
    """
    path = os.fspath(path)
    local = is_local(path)
    if local and not os.path.exists(path):
        raise InputNotFoundError(f"{path}: no such file")
    try:
        src = open_raster(path)
    except RasterioIOError as e:
        if local:
            raise NotARasterError(
                f"{path}: not a raster GDAL can read (GeoTIFF, ASCII grid, DTED, ...)"
            ) from None
        # GDAL's own words say what went wrong: HTTP 404, no such archive member...
        reason = (str(e).splitlines() or ["cannot open"])[0].removeprefix(f"{path}: ")
        raise NotARasterError(f"{path}: cannot open: {reason}") from None
    if not 1 <= band <= src.count:
        src.close()
        raise BadInputError(
            f"{path}: band {band} out of range: the file has {src.count} "
            f"band{'s' if src.count > 1 else ''}"
        )
    if src.dtypes[band - 1].startswith("complex"):
        src.close()
        raise BadInputError(
            f"{path}: band {band} holds complex numbers ({src.dtypes[band - 1]}), "
            "not elevations; choose a real-valued band with --band"
        )
    return src


def read_window(
    src: rasterio.DatasetReader, band: int, window: Window
) -> tuple[np.ndarray, Holes | None]:
    """Elevations of a window and the rule for their nodata; None means all valid.

    Float32 elevations stay float32 (the kernel computes in float64 as it
    reads them: half the memory traffic); other types are read as float64.

    Nodata comes from the file: its nodata value (an integer sentinel such as
    -32768, 0 on uint16, or NaN), NaN in float rasters, or a dataset mask.
    A block GDAL can't decode raises :class:`InputReadError` naming the file
    and the row near which it failed.
    """
    native = np.dtype(src.dtypes[band - 1])
    with gdal_failures() as failures:
        try:
            z = src.read(band, window=window,
                         out_dtype=native if native == np.float32 else np.float64)
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
    if is_local(src.name) or not network:
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

    Creates an empty dataset in memory with ``profile``; GDAL validates the
    options then, but only warns about a bad name or value (and goes on
    without it), so its warnings are taken as errors here.
    """
    logger = logging.getLogger("rasterio._env")  # where rasterio logs GDAL's warnings
    problems: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: problems.append(record.getMessage())
    level = logger.level
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
    try:
        with MemoryFile() as memory, memory.open(**profile):
            pass
    except (RasterioError, ValueError, TypeError) as e:
        problems.append(str(e))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    if problems:
        problem = re.sub(r"^CPLE_\w+ in ", "", problems[0].strip().splitlines()[0])
        raise UsageError(f"{out}: bad creation option: {problem}")


def check_output(src_path: str | os.PathLike, dst_path: str | os.PathLike,
                 overwrite: bool) -> None:
    """Refuse an output that exists (unless ``overwrite``), is the input, or can't be written.

    A local path, or an object in object storage (checked by asking the
    store: see :func:`terrain.storage.check_target`).
    """
    check_local_output(dst_path)
    if storage.is_object_storage(dst_path):
        if os.fspath(dst_path) == os.fspath(src_path):
            raise OutputExistsError(f"{dst_path}: the output would overwrite the input")
        storage.check_target(os.fspath(dst_path), overwrite)
        return
    local_src = is_local(src_path)
    src_path, dst_path = Path(src_path), Path(dst_path)
    if dst_path.is_dir():
        raise OutputExistsError(
            f"{dst_path}: is a folder; name the output file in it (for a tile set, "
            "give the folder as --out-dir)"
        )
    if (local_src and dst_path.exists() and src_path.exists()
            and dst_path.samefile(src_path)):
        raise OutputExistsError(f"{dst_path}: the output would overwrite the input")
    if dst_path.exists() and not overwrite:
        raise OutputExistsError(f"{dst_path}: exists; pass --overwrite to replace it")
    if not dst_path.parent.is_dir():
        raise OutputExistsError(f"{dst_path.parent}: no such folder for the output")


def check_local_output(path: str | os.PathLike) -> None:
    """Refuse an output that is neither a local path nor an object in object storage.

    Object storage is ``s3://``, ``gs://``, ``az://`` or GDAL's ``/vsis3/``,
    ``/vsigs/``, ``/vsiaz/``, ``/vsiadls/``, ``/vsioss/``; any other URL or
    /vsi path is refused.
    """
    if not is_local(path) and not storage.is_object_storage(path):
        raise UsageError(
            f"{os.fspath(path)}: outputs are local files or objects in object storage "
            "(s3://, gs://, az://); give one of those (and copy the result where it "
            "should go)"
        )


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
    dst_path: str | os.PathLike, cog: bool = False, jobs: int = 1
) -> Iterator[str]:
    """Yield a temporary path beside ``dst_path``; rename it there on success.

    The temporary file is named ``dst_path`` + :data:`PARTIAL` + 8 random
    hex digits. On any exception (including KeyboardInterrupt) it is removed and
    ``dst_path`` is left as it was. With ``cog``, the finished GeoTIFF is
    translated to a Cloud-Optimized GeoTIFF before the rename.

    An object in object storage (``s3://...``) is written, checked and
    translated the same way in a private local temporary folder, then uploaded
    whole (:func:`terrain.storage.upload`, which raises
    :class:`~terrain.errors.UploadError`); the folder is removed in any case.

    A write GDAL reports as failed, whether it raised or was only logged (as
    failures flushing GDAL's block cache are), raises
    :class:`OutputWriteError` saying why (no space left, read-only, ...), as
    does a result that does not read back as a whole GeoTIFF.
    """
    remote = storage.is_object_storage(dst_path)
    target = os.fspath(dst_path)
    made: list[str] = []  # the files to remove unless renamed
    with contextlib.ExitStack() as stack:
        if remote:  # a local file first, uploaded once complete
            folder = stack.enter_context(storage.staging_folder(target))
            dst_path = folder / storage.vsi_path(target).rsplit("/", 1)[-1]
        else:
            dst_path = Path(dst_path)
        try:
            tmp = _create_partial(dst_path, made, target)
            with gdal_failures() as failures:
                try:
                    yield tmp
                    _check_written(tmp, failures)
                    if cog and not failures:
                        made.append(tmp + ".cog")
                        rasterio.shutil.copy(
                            tmp, made[-1], driver="COG", compress="deflate", predictor="yes",
                            bigtiff="if_safer", num_threads=str(jobs),
                        )
                        _check_written(made[-1], failures)
                    if not failures and remote:
                        storage.upload(made[-1], target)
                    elif not failures:
                        os.replace(made[-1], dst_path)
                        made.pop()
                except TerrainError:
                    raise  # the input's fault (a read error...), or a failed upload
                except (RasterioError, CPLE_BaseError, OSError) as e:
                    failures.append(str(e.__cause__ or e))
                if failures:
                    where = (f" (in the local temporary folder {tempfile.gettempdir()}; "
                             "set TMPDIR to one with room)") if remote else ""
                    raise OutputWriteError(
                        f"{target}: {_write_reason(tmp, failures)}{where}")
        finally:
            _remove(made)


def _create_partial(dst_path: Path, made: list[str], target: str | None = None) -> str:
    """Create an empty temporary file for ``dst_path``, beside it.

    Its name goes into ``made`` before the file exists, so that a signal's
    exception, whenever it comes, leaves no file that ``made`` does not list.
    A failure names ``target`` (the output as the user named it).
    """
    while True:
        tmp = str(dst_path.parent / f"{dst_path.name}{PARTIAL}{secrets.token_hex(4)}")
        made.append(tmp)
        try:
            # 0o666 less the umask, as any file a user writes
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            made.remove(tmp)  # someone else's
        except OSError as e:
            made.remove(tmp)
            raise OutputWriteError(f"{target or dst_path}: {_os_reason(e)}") from None
        else:
            return tmp


def _remove(paths: list[str]) -> None:
    """Remove these files, even if a signal's exception interrupts; then raise it."""
    interrupted = None
    for path in paths:
        while True:
            try:
                with contextlib.suppress(OSError):
                    os.remove(path)
                break
            except BaseException as e:  # a signal's, raised once: finish first
                interrupted = interrupted or e
    if interrupted is not None:
        raise interrupted


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
