"""SIGTERM and SIGHUP end a run as Ctrl-C does.

A batch scheduler's time limit sends SIGTERM, a closed terminal SIGHUP; by
default either kills Python on the spot, leaving a temporary output behind.
Within :func:`raise_on_signals` they (and SIGINT) raise :class:`Interrupted`
instead, so every ``finally`` runs and temporaries are removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["SIGNALS", "Interrupted", "defer_if_unsafe", "install", "raise_on_signals"]

#: The signals that stop a run cleanly.
SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

#: Seconds before a signal that came at an unsafe moment is delivered again.
_RETRY = 0.01


class Interrupted(BaseException):
    """A run stopped by a signal; exits with 128 + the signal's number.

    A ``BaseException``, as KeyboardInterrupt, so that ``except Exception``
    does not swallow it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.code = 128 + signum

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}"


def defer_if_unsafe(signum: int, frame) -> bool:
    """Deliver the signal again a moment later if raising now is unsafe; say so.

    Unsafe is inside Python's logging: that is where rasterio hands over
    GDAL's errors, from a C callback that no exception can leave (Cython
    prints it, and a SystemExit ends the process there, before any clean-up).
    """
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(("logging", "terrain._gdalerrors")):
            timer = threading.Timer(_RETRY, os.kill, (os.getpid(), signum))
            timer.daemon = True
            timer.start()
            return True
        frame = frame.f_back
    return False


def _raise(signum, frame):
    if defer_if_unsafe(signum, frame):
        return
    # once: a second signal must not interrupt the cleanup of the first
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


def install() -> None:
    """Make :data:`SIGNALS` raise :class:`Interrupted` in this process (main thread)."""
    for s in SIGNALS:
        signal.signal(s, _raise)


@contextlib.contextmanager
def raise_on_signals() -> Iterator[None]:
    """Within the block, :data:`SIGNALS` raise :class:`Interrupted`.

    Outside the main thread, where Python can't handle signals, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    hook = sys.unraisablehook
    install()
    sys.unraisablehook = _unraisable(hook)
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for s, handler in previous.items():
            signal.signal(s, handler)


def _unraisable(hook):
    """``sys.unraisablehook`` that delivers a signal's exception again.

    Python runs some code where an exception can't leave (a weak reference's
    callback, such as importlib's module locks, a ``__del__``): a signal's
    exception raised there is printed ("Exception ignored in ...") and lost,
    and the run would go on with the signals ignored. It is delivered again a
    moment later, to the main flow.
    """
    def unraisable(info):
        value = info.exc_value
        if isinstance(value, (Interrupted, KeyboardInterrupt)):
            signum = value.signum if isinstance(value, Interrupted) else signal.SIGINT
            install()
            timer = threading.Timer(_RETRY, os.kill, (os.getpid(), signum))
            timer.daemon = True
            timer.start()
            return
        hook(info)

    return unraisable
