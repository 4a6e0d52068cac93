"""Outputs in object storage, uploaded whole or not at all through GDAL.

An output named ``s3://bucket/key`` (or ``gs://bucket/key``, ``az://container/key``,
or one of GDAL's own ``/vsis3/``, ``/vsigs/``, ``/vsiaz/``, ``/vsiadls/``,
``/vsioss/`` paths) is written to a private local temporary folder, checked as
a local output is, then uploaded by GDAL's network file systems: credentials,
endpoints and retries come from GDAL's usual settings (``AWS_*``,
``AWS_S3_ENDPOINT``, ``AWS_HTTPS``, ``AWS_VIRTUAL_HOSTING``, ``GS_*``,
``AZURE_*``, ``GDAL_HTTP_*``), as for inputs.

A file up to the part size (GDAL's ``VSIS3_CHUNK_SIZE``, 50 MiB unless set) is
uploaded in one request (a PUT): the store keeps it whole or not at all, and
there is no upload to abort. A larger file is a multipart upload: the store
shows the object only once the request completing the upload succeeds, and
then whole; any failure or interruption before that aborts the upload by its
id, so that no incomplete upload is left behind to be billed (S3 and GCS; on
Azure, uncommitted blocks expire by themselves). An abort that gets no answer
(the server is down) is tried again before this process's next upload and
when its run ends.

rasterio does not wrap GDAL's multipart upload API (``VSIMultipartUpload*``,
GDAL 3.10 and later), nor ``VSIStatExL``; they are called here through ctypes,
in the very libgdal that rasterio loaded (checked: it must see rasterio's
configuration options), so that they share its settings and its connections.
GDAL's own streaming writer (``VSIFOpenL(..., "wb")``, and so
``rasterio.shutil.copyfiles``) can't be used: a failure of the last part or of
the completing request leaves the multipart upload behind, and GDAL 3.10's file
copy reports a failed upload as success.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import hashlib
import multiprocessing.util
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import rasterio
import rasterio._env
import rasterio.env

from terrain._gdalerrors import c_messages
from terrain.errors import OutputExistsError, OutputWriteError, UploadError, UsageError

__all__ = [
    "check_target",
    "check_targets",
    "is_object_storage",
    "join",
    "staging_folder",
    "upload",
    "vsi_path",
]

#: URL schemes of object stores, and GDAL's file system for each.
SCHEMES = {"s3": "/vsis3/", "gs": "/vsigs/", "az": "/vsiaz/"}

#: GDAL's object-storage file systems with a multipart upload API.
VSI_PREFIXES = ("/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsioss/")

#: GDAL's default part size, MiB (its ``VSIS3_CHUNK_SIZE`` default), unless set.
DEFAULT_PART_MIB = 50

#: GDAL's setting of the part size, MiB, by file system ("VSI" + its key + "_CHUNK_SIZE";
#: before GDAL 3.10, CPL_VSIS3_CHUNK_SIZE).
_PART_OPTIONS = {"/vsis3/": ("VSIS3_CHUNK_SIZE", "CPL_VSIS3_CHUNK_SIZE"),
                 "/vsigs/": ("VSIGS_CHUNK_SIZE", "CPL_VSIGS_CHUNK_SIZE"),
                 "/vsioss/": ("VSIOSS_CHUNK_SIZE",),
                 "/vsiaz/": ("VSIAZ_CHUNK_SIZE",),
                 "/vsiadls/": ("VSIADLS_CHUNK_SIZE",)}

#: GDAL's file-system error numbers (cpl_vsi_error.h).
_VSIE_HTTP = 2
_VSIE_DENIED = 6
_VSIE_NO_BUCKET = 7
_VSIE_NO_OBJECT = 8
_VSIE_CREDENTIALS = 9
_VSIE_SIGNATURE = 10

#: VSIStatExL flags: existence only, and set the file-system error on failure.
_STAT_EXISTS = 0x1
_STAT_SET_ERROR = 0x8

#: Error codes of object stores, in the words of the one-line message.
_CODES = {
    "NoSuchBucket": "no such bucket",
    "AccessDenied": "access denied",
    "AllAccessDisabled": "access denied",
    "InvalidAccessKeyId": "the access key id is not known to the server (AWS_ACCESS_KEY_ID)",
    "SignatureDoesNotMatch": "the secret key does not match the access key id "
                             "(AWS_SECRET_ACCESS_KEY)",
    "ExpiredToken": "the credentials have expired",
    "InvalidToken": "the session token is not valid (AWS_SESSION_TOKEN)",
    "NoSuchUpload": "the upload is gone",
    "AuthorizationHeaderMalformed": "the request's region does not match the bucket's "
                                    "(AWS_REGION)",
    "PermanentRedirect": "the bucket is in another region (AWS_REGION)",
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_object_storage(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an object in object storage (``s3://``, ``/vsis3/``...).

    >>> is_object_storage("s3://dems/slopes/n45.tif"), is_object_storage("slopes/n45.tif")
    (True, False)
    """
    path = os.fspath(path)
    scheme = _SCHEME.match(path)
    if scheme:
        return scheme.group(1).lower() in SCHEMES
    return path.startswith(VSI_PREFIXES)


def vsi_path(path: str | os.PathLike) -> str:
    """GDAL's name of an object: ``s3://b/k`` is ``/vsis3/b/k``.

    >>> vsi_path("s3://dems/slopes/n45.tif")
    '/vsis3/dems/slopes/n45.tif'
    """
    path = os.fspath(path)
    scheme = _SCHEME.match(path)
    if scheme:
        return SCHEMES[scheme.group(1).lower()] + path[scheme.end():]
    return path


def join(prefix: str | os.PathLike, name: str) -> str:
    """The object ``name`` under ``prefix``, as the user spelled the prefix.

    >>> join("s3://dems/slopes/", "n45.tif")
    's3://dems/slopes/n45.tif'
    """
    return f"{os.fspath(prefix).rstrip('/')}/{name}"


def _bucket(path: str) -> str:
    return vsi_path(path).split("/", 3)[2]


def _check_name(path: str) -> None:
    parts = vsi_path(path).split("/", 3)
    if len(parts) < 4 or not parts[2] or not parts[3] or parts[3].endswith("/"):
        raise UsageError(f"{path}: name an object: bucket, then key "
                         "(s3://bucket/folder/name.tif)")


# --- GDAL's C API, in rasterio's libgdal --------------------------------------------

class _Gdal:
    """The few GDAL functions rasterio does not wrap, with their C signatures."""

    def __init__(self, lib: ctypes.CDLL):
        c = ctypes
        self.lib = lib
        for name, restype, argtypes in [
            ("VSIStatExL", c.c_int, [c.c_char_p, c.c_void_p, c.c_int]),
            ("VSIErrorReset", None, []),
            ("VSIGetLastErrorNo", c.c_int, []),
            ("VSIGetLastErrorMsg", c.c_char_p, []),
            ("VSICurlPartialClearCache", None, [c.c_char_p]),
            ("VSIGetPathSpecificOption", c.c_char_p, [c.c_char_p, c.c_char_p, c.c_char_p]),
            ("VSIMultipartUploadGetCapabilities", c.c_int,
             [c.c_char_p, *[c.POINTER(c.c_int)] * 3, *[c.POINTER(c.c_size_t)] * 2,
              c.POINTER(c.c_int)]),
            ("VSIMultipartUploadStart", c.c_void_p, [c.c_char_p, c.c_void_p]),
            ("VSIMultipartUploadAddPart", c.c_void_p,
             [c.c_char_p, c.c_char_p, c.c_int, c.c_uint64, c.c_char_p, c.c_size_t,
              c.c_void_p]),
            ("VSIMultipartUploadEnd", c.c_int,
             [c.c_char_p, c.c_char_p, c.c_size_t, c.POINTER(c.c_char_p), c.c_uint64,
              c.c_void_p]),
            ("VSIMultipartUploadAbort", c.c_int, [c.c_char_p, c.c_char_p, c.c_void_p]),
            ("VSIFree", None, [c.c_void_p]),
            ("VSIFOpenEx2L", c.c_void_p, [c.c_char_p, c.c_char_p, c.c_int,
                                          c.POINTER(c.c_char_p)]),
            ("VSIFWriteL", c.c_size_t, [c.c_char_p, c.c_size_t, c.c_size_t, c.c_void_p]),
            ("VSIFCloseL", c.c_int, [c.c_void_p]),
            ("CPLGetConfigOption", c.c_char_p, [c.c_char_p, c.c_char_p]),
            ("VSIGetFileMetadata", c.POINTER(c.c_char_p), [c.c_char_p, c.c_char_p, c.c_void_p]),
            ("CSLDestroy", None, [c.POINTER(c.c_char_p)]),
        ]:
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes

    def _take(self, pointer) -> str | None:
        """A string GDAL allocated, freed."""
        if not pointer:
            return None
        try:
            return ctypes.string_at(pointer).decode("utf-8", "replace")
        finally:
            self.lib.VSIFree(pointer)

    def stat(self, path: str) -> tuple[bool, int, str]:
        """(exists, GDAL's file-system error number, its message), asked of the server."""
        self.lib.VSICurlPartialClearCache(path.encode())
        self.lib.VSIErrorReset()
        buffer = ctypes.create_string_buffer(4096)  # larger than any VSIStatBufL
        found = self.lib.VSIStatExL(path.encode(), buffer, _STAT_EXISTS | _STAT_SET_ERROR) == 0
        message = (self.lib.VSIGetLastErrorMsg() or b"").decode("utf-8", "replace")
        return found, self.lib.VSIGetLastErrorNo(), message

    def etag(self, path: str) -> str | None:
        """The object's ETag, asked of the server (None if it can't say)."""
        self.lib.VSICurlPartialClearCache(path.encode())
        headers = self.lib.VSIGetFileMetadata(path.encode(), b"HEADERS", None)
        if not headers:
            return None
        try:
            i, found = 0, None
            while headers[i] is not None:
                name, _, value = headers[i].decode("utf-8", "replace").partition("=")
                if name.lower() == "etag":
                    found = value.strip().strip('"')
                i += 1
            return found
        finally:
            self.lib.CSLDestroy(headers)

    def capabilities(self, path: str) -> tuple[bool, int, int, int]:
        """(abort supported, minimum and maximum part size in MiB, most parts)."""
        nonsequential, parallel, abort, count = (ctypes.c_int() for _ in range(4))
        smallest, largest = ctypes.c_size_t(), ctypes.c_size_t()
        if not self.lib.VSIMultipartUploadGetCapabilities(
                path.encode(), nonsequential, parallel, abort, smallest, largest, count):
            raise UsageError(f"{path}: GDAL has no multipart upload for this file system")
        return bool(abort.value), smallest.value, largest.value, count.value

    def option(self, path: str, name: str) -> str | None:
        value = self.lib.VSIGetPathSpecificOption(path.encode(), name.encode(), None)
        return None if value is None else value.decode()

    def start(self, path: str) -> str | None:
        return self._take(self.lib.VSIMultipartUploadStart(path.encode(), None))

    def add_part(self, path: str, upload_id: str, number: int, offset: int,
                 data: bytes) -> str | None:
        return self._take(self.lib.VSIMultipartUploadAddPart(
            path.encode(), upload_id.encode(), number, offset, data, len(data), None))

    def end(self, path: str, upload_id: str, parts: list[str], size: int) -> bool:
        ids = (ctypes.c_char_p * len(parts))(*[p.encode() for p in parts])
        return bool(self.lib.VSIMultipartUploadEnd(path.encode(), upload_id.encode(),
                                                   len(parts), ids, size, None))

    def put(self, path: str, data: bytes) -> bool:
        """Store ``data`` as the object ``path`` in one request (GDAL's writer, whose
        buffer is made larger than ``data``), or not at all."""
        mib = len(data) // 2**20 + 1
        options = (ctypes.c_char_p * 2)(f"CHUNK_SIZE={mib}".encode(), None)
        handle = self.lib.VSIFOpenEx2L(path.encode(), b"wb", 1, options)
        if not handle:
            return False
        # no Python code between the write and the close: a signal's exception
        # there would close the handle, which sends the PUT; it is left open instead
        written = self.lib.VSIFWriteL(data, 1, len(data), handle)
        if written != len(data):
            return False  # the handle is left open: closing it would send what it holds
        return self.lib.VSIFCloseL(handle) == 0

    def abort(self, path: str, upload_id: str) -> bool:
        return bool(self.lib.VSIMultipartUploadAbort(path.encode(), upload_id.encode(), None))


def _libraries() -> list[str]:
    """Where the libgdal that rasterio loaded may be, most certain first."""
    found = []
    with contextlib.suppress(OSError):  # Linux: the libraries mapped in this process
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split(maxsplit=5)[5] if len(line.split(maxsplit=5)) == 6 else ""
            if os.path.basename(path).startswith("libgdal") and path not in found:
                found.append(path)
    package = Path(rasterio.__file__).parent
    # the libraries bundled in rasterio's wheels (Linux, macOS, Windows)
    for folder, pattern in ((package.parent / "rasterio.libs", "*gdal*"),
                            (package / ".dylibs", "libgdal*"), (package, "gdal*.dll")):
        if folder.is_dir():
            found += sorted(str(p) for p in folder.glob(pattern))
    system = ctypes.util.find_library("gdal")
    if system:
        found.append(system)
    return found


@cache
def _gdal() -> _Gdal:
    """GDAL's C API in the libgdal rasterio uses (the one that sees rasterio's settings)."""
    import rasterio._base

    probe, token = "TERRAIN_SAME_GDAL", secrets.token_hex(8)
    rasterio.env.set_gdal_config(probe, token)
    try:
        for path in _libraries():
            try:
                lib = ctypes.CDLL(path)
                lib.CPLGetConfigOption.restype = ctypes.c_char_p
                lib.CPLGetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
                same = lib.CPLGetConfigOption(probe.encode(), None) == token.encode()
            except (OSError, AttributeError):
                continue
            if same:
                if not hasattr(lib, "VSIMultipartUploadStart"):
                    break
                return _Gdal(lib)
    finally:
        rasterio._env.del_gdal_config(probe)
    raise UsageError(
        f"writing to object storage needs GDAL 3.10 or later (rasterio uses GDAL "
        f"{rasterio.__gdal_version__}): pip install -U rasterio, or write to a local "
        "folder and copy it"
    )


# --- what a failure says ---------------------------------------------------------------

def _server_reason(messages: list[tuple[int, str]]) -> str | None:
    """The store's own words in GDAL's messages: an XML error's code and message."""
    for _, text in reversed(messages):
        code = re.search(r"<Code>([^<]*)</Code>", text)
        if code:
            words = re.search(r"<Message>([^<]*)</Message>", text)
            plain = _CODES.get(code.group(1))
            if plain:
                return plain
            return f"{code.group(1)}: {words.group(1)}" if words else code.group(1)
    return None


def _reason(messages: list[tuple[int, str]]) -> str:
    """Why a request failed: the server's words, else GDAL's last failure."""
    server = _server_reason(messages)
    if server:
        return server
    curl = [text for _, text in messages if "curl error msg=" in text]
    if curl:
        return "no answer from the server: " + curl[-1].split("curl error msg=")[-1].strip()
    # GDAL says only which request failed ("DoSinglePartPUT of ... failed"): the
    # server closed the connection, timed out, or answered an error without a body
    return "no answer from the server"


def _stat_reason(error: int, message: str, path: str) -> str | None:
    """What a failed existence check says, or None when the object is merely absent."""
    if error == _VSIE_NO_OBJECT:
        return None
    if error == _VSIE_NO_BUCKET:
        return f"no such bucket {_bucket(path)!r}"
    if error == _VSIE_DENIED:
        return "access denied"
    if error in (_VSIE_CREDENTIALS, _VSIE_SIGNATURE):
        code = "InvalidAccessKeyId" if error == _VSIE_CREDENTIALS else "SignatureDoesNotMatch"
        return _CODES[code]
    if error == _VSIE_HTTP and message:
        text = message.removeprefix("CURL error: ")
        return f"cannot reach the server: {text}"
    return message or "no answer from the server"


@contextlib.contextmanager
def _calls(gdal: _Gdal) -> Iterator[list[tuple[int, str]]]:
    """GDAL's messages during the block, with the servers' error bodies, in a rasterio Env
    (so that GDAL's settings and credentials apply as for reading)."""
    with rasterio.env.env_ctx_if_needed(), c_messages(gdal.lib, debug=True) as messages:
        yield messages


# --- checks before any work -------------------------------------------------------------

def check_target(path: str, overwrite: bool, probe: bool = True) -> None:
    """Refuse an object that exists (unless ``overwrite``), or that can't be written.

    One request asks whether the object exists, which also tells a missing
    bucket, wrong credentials or an unreachable server; with ``probe``, an
    upload is started and aborted at once, which tells whether writing is
    allowed, before any work.
    """
    _check_name(path)
    gdal = _gdal()
    vsi = vsi_path(path)
    with _calls(gdal) as messages:
        found, error, message = gdal.stat(vsi)
    if found:
        if not overwrite:
            raise OutputExistsError(f"{path}: exists; pass --overwrite to replace it")
    else:
        reason = _stat_reason(error, message, vsi)
        if reason is not None and error != _VSIE_NO_BUCKET:
            reason = _server_reason(messages) or reason
        if reason is not None and not (overwrite and error == _VSIE_DENIED):
            # without the right to read, the store can't say whether it exists
            hint = "; pass --overwrite to write it anyway" if error == _VSIE_DENIED else ""
            raise OutputWriteError(f"{path}: {reason}{hint}")
    if probe:
        with _calls(gdal) as messages:
            upload_id = gdal.start(vsi)
            if upload_id is None:
                raise OutputWriteError(f"{path}: cannot write: {_reason(messages)}")
            if not gdal.abort(vsi, upload_id) and gdal.capabilities(vsi)[0]:
                raise OutputWriteError(
                    f"{path}: cannot abort an upload ({_reason(messages)}): terrain needs "
                    "the right to (s3:AbortMultipartUpload) to leave nothing behind")


def check_targets(paths: list[str], overwrite: bool) -> None:
    """:func:`check_target` for many objects (a tile set's): each one's existence asked,
    on a few threads at once; writing probed once, with the first."""
    if not paths:
        return
    for path in paths:
        _check_name(path)
    check_target(paths[0], overwrite)
    with ThreadPoolExecutor(_CHECKS) as pool:
        # the first error in the order given, as one check after another would raise
        for future in [pool.submit(check_target, path, overwrite, False) for path in paths[1:]]:
            future.result()


#: Existence checks of a tile set's objects in flight at once.
_CHECKS = 16


# --- the upload --------------------------------------------------------------------------

def _part_size(gdal: _Gdal, vsi: str, size: int) -> int:
    """Bytes per part: GDAL's setting (default 50 MiB), within the store's limits."""
    _, smallest, largest, most = gdal.capabilities(vsi)
    prefix = next((p for p in _PART_OPTIONS if vsi.startswith(p)), None)
    mib = DEFAULT_PART_MIB
    for name in _PART_OPTIONS.get(prefix, ()):
        value = gdal.option(vsi, name)
        if value:
            try:
                mib = int(value)
            except ValueError:
                raise UsageError(f"{name}={value}: the part size is a number of MiB") from None
            break
    mib = max(mib, smallest, 1)
    if largest:
        mib = min(mib, largest)
    part = mib * 2**20
    if most and -(-size // part) > most:  # too many parts: larger ones
        part = -(-size // most)
    return part


def upload(local: str | os.PathLike, target: str) -> None:
    """Upload the file ``local`` as the object ``target``: whole, or not at all.

    Raises :class:`UploadError` naming ``target`` when the upload fails:
    nothing is then stored, and a multipart upload is aborted. Only when the
    server received the request completing a multipart upload but its answer
    was lost (and the abort that follows gets no answer either) may the object
    exist whole all the same; the message then says so.
    """
    gdal = _gdal()
    vsi = vsi_path(target)
    size = os.path.getsize(local)
    part = _part_size(gdal, vsi, size)
    with _calls(gdal) as messages:
        abort_pending()
        if size <= part:
            with open(local, "rb") as f:
                data = f.read()
            if gdal.put(vsi, data):
                return
            reason, answered = _reason(messages), _server_reason(messages) is not None
            # no answer: the PUT may have been carried out all the same; its ETag
            # (the MD5 of the content, for a single PUT) tells
            if not answered and gdal.etag(vsi) == hashlib.md5(data).hexdigest():
                return
            raise UploadError(f"{target}: upload failed: {reason}")
        _multipart(gdal, local, vsi, target, size, part, messages)


def _multipart(gdal: _Gdal, local, vsi: str, target: str, size: int, part: int,
               messages: list[tuple[int, str]]) -> None:
    upload_id = gdal.start(vsi)
    if upload_id is None:
        raise UploadError(f"{target}: upload failed: {_reason(messages)}")
    try:
        etags: list[str] = []
        with open(local, "rb") as f:
            for offset in range(0, size, part):
                data = f.read(part)
                etag = gdal.add_part(vsi, upload_id, len(etags) + 1, offset, data)
                if etag is None:
                    raise UploadError(f"{target}: upload failed: {_reason(messages)}")
                etags.append(etag)
        mark = len(messages)
        if gdal.end(vsi, upload_id, etags, size):
            return
        reason = _reason(messages[mark:])
        answered = _server_reason(messages[mark:]) is not None
    except BaseException as e:  # a failure or a signal: nothing must stay behind
        _abort(gdal, vsi, upload_id, messages, e)
        raise
    # the completing request failed: an abort tells whether it took effect
    mark = len(messages)
    if gdal.abort(vsi, upload_id):
        raise UploadError(f"{target}: upload failed: {reason}")
    if "NoSuchUpload" in " ".join(text for _, text in messages[mark:]):
        found, *_ = gdal.stat(vsi)
        if found:
            return  # completed: only its answer was lost
    if answered:
        raise UploadError(f"{target}: upload failed: {reason}")
    _pending.append((vsi, upload_id))
    raise UploadError(
        f"{target}: upload failed: {reason}; the server did not confirm the request "
        "completing the upload, so the object may exist, whole: check it, or run "
        "again with --overwrite")


#: Multipart uploads of this process whose abort got no answer, as (path, upload id).
_pending: list[tuple[str, str]] = []


def abort_pending() -> list[str]:
    """Try again to abort the uploads whose abort failed; return the objects still pending."""
    if not _pending:
        return []
    gdal = _gdal()
    with _calls(gdal) as messages:
        for item in list(_pending):
            mark = len(messages)
            gone = gdal.abort(*item) or "NoSuchUpload" in " ".join(
                text for _, text in messages[mark:])
            if gone:
                _pending.remove(item)
    return [path for path, _ in _pending]


def _abort(gdal: _Gdal, vsi: str, upload_id: str, messages, error: BaseException) -> None:
    """Abort an upload after ``error``; say so in ``error`` when even that fails."""
    mark = len(messages)
    if gdal.abort(vsi, upload_id) or not gdal.capabilities(vsi)[0]:
        return
    _pending.append((vsi, upload_id))
    if isinstance(error, UploadError):
        error.args = (f"{error.args[0]}; aborting the upload failed too "
                      f"({_reason(messages[mark:])}): terrain tries again before its next "
                      f"upload, else an incomplete upload (id {upload_id}) remains until a "
                      "lifecycle rule or an abort removes it",)


# --- the local temporary folder -----------------------------------------------------------

#: Temporary folders of this process's uploads in progress, removed at exit at the latest.
_staging: set[str] = set()
_staging_lock = threading.Lock()


def _remove_staging() -> None:
    with _staging_lock:
        folders = list(_staging)
        _staging.clear()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


# at exit, as a normal process and as a worker process (whose exit skips atexit)
atexit.register(_remove_staging)
multiprocessing.util.Finalize(None, _remove_staging, exitpriority=100)


@contextlib.contextmanager
def staging_folder(target: str) -> Iterator[Path]:
    """A private local folder for ``target``'s temporary files, removed afterwards.

    It lies in the system's temporary folder (``TMPDIR``): on a cluster, the
    worker's own disk. The folder is removed when the block ends, whatever
    ends it, and at the latest when the process exits (a Dask worker's tasks
    may be abandoned as it closes).
    """
    try:
        folder = tempfile.mkdtemp(prefix="terrain-upload-")
    except OSError as e:
        raise OutputWriteError(
            f"{target}: cannot create a local temporary folder in {tempfile.gettempdir()}: "
            f"{(e.strerror or str(e)).lower()} (set TMPDIR to a folder with room)") from None
    with _staging_lock:
        _staging.add(folder)
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with _staging_lock:
            _staging.discard(folder)
