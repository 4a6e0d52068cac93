"""GDAL's failures as rasterio reports them, collected instead of lost.

rasterio raises a GDAL failure only when the GDAL call it wraps returns one.
Failures that happen while GDAL flushes its block cache (during a later
``write``, or when the dataset closes) are only passed to rasterio's error
handler, which logs them at INFO level on the ``rasterio._err`` and
``rasterio._env`` loggers ("GDAL signalled an error: ..."), and the file is
then renamed as if complete. :func:`gdal_failures` collects those records on
the calling thread so that the caller can treat them as the failure they are.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Iterator

__all__ = ["c_messages", "gdal_failures"]

#: rasterio's loggers that receive GDAL's CE_Failure messages.
_LOGGERS = ("rasterio._err", "rasterio._env")

_lock = threading.Lock()
_local = threading.local()
_users = 0
_saved_levels: dict[str, int] = {}


class _Collector(logging.Handler):
    """Hands each GDAL failure to the innermost collection of the logging thread."""

    def emit(self, record: logging.LogRecord) -> None:
        stack = getattr(_local, "stack", None)
        if not stack or not record.getMessage().startswith("GDAL signalled an error"):
            return
        args = record.args if isinstance(record.args, tuple) else ()
        message = args[1] if len(args) == 2 else record.getMessage()
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        stack[-1].append(" ".join(str(message).split()))


_collector = _Collector(logging.INFO)


@contextlib.contextmanager
def gdal_failures() -> Iterator[list[str]]:
    """Collect the GDAL failure messages logged on this thread inside the block.

    Collections nest: a message goes to the innermost one only. The list
    yielded fills as GDAL reports; it is empty when nothing failed.
    """
    global _users
    with _lock:
        if _users == 0:
            for name in _LOGGERS:
                logger = logging.getLogger(name)
                _saved_levels[name] = logger.level
                if logger.getEffectiveLevel() > logging.INFO:
                    logger.setLevel(logging.INFO)
                logger.addHandler(_collector)
        _users += 1
    stack = _local.__dict__.setdefault("stack", [])
    messages: list[str] = []
    stack.append(messages)
    try:
        yield messages
    finally:
        stack.pop()
        with _lock:
            _users -= 1
            if _users == 0:
                for name in _LOGGERS:
                    logger = logging.getLogger(name)
                    logger.removeHandler(_collector)
                    logger.setLevel(_saved_levels.pop(name))


#: GDAL's error handler type: void handler(CPLErr level, CPLErrorNum number, const char *msg).
_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_char_p)


@contextlib.contextmanager
def c_messages(lib: ctypes.CDLL, debug: bool = False) -> Iterator[list[tuple[int, str]]]:
    """Every message GDAL (``lib``) gives on this thread inside the block, as (level, text).

    A handler of this thread's own (``CPLPushErrorHandler``) takes them, so
    they reach neither rasterio's logging nor other threads. With ``debug``,
    GDAL's debug messages are turned on for this thread (``CPL_DEBUG``): they
    hold the servers' error bodies. The handler lives in this module, where a
    signal is deferred (see :func:`terrain._signals.defer_if_unsafe`): no
    exception may leave a C callback.
    """
    messages: list[tuple[int, str]] = []

    def handler(level, number, text):
        messages.append((level, (text or b"").decode("utf-8", "replace")))

    callback = _HANDLER(handler)
    lib.CPLPushErrorHandler.argtypes = [_HANDLER]
    lib.CPLGetThreadLocalConfigOption.restype = ctypes.c_char_p
    lib.CPLGetThreadLocalConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.CPLSetThreadLocalConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    previous = lib.CPLGetThreadLocalConfigOption(b"CPL_DEBUG", None)
    lib.CPLPushErrorHandler(callback)
    if debug:
        lib.CPLSetThreadLocalConfigOption(b"CPL_DEBUG", b"ON")
    try:
        yield messages
    finally:
        if debug:
            lib.CPLSetThreadLocalConfigOption(b"CPL_DEBUG", previous)
        lib.CPLPopErrorHandler()
