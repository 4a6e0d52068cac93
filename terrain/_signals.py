"""SIGTERM and SIGHUP end a run as Ctrl-C does.

A batch scheduler's time limit sends SIGTERM, a closed terminal SIGHUP; by
default either kills Python on the spot, leaving a temporary output behind.
Within :func:`raise_on_signals` they (and SIGINT) raise :class:`Interrupted`
instead, so every ``finally`` runs and temporaries are removed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["SIGNALS", "Interrupted", "raise_on_signals"]

#: The signals that stop a run cleanly.
SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(SystemExit):
    """A run stopped by a signal; exits with 128 + the signal's number.

    A ``SystemExit``, so that ``except Exception`` does not swallow it and an
    idle worker process that receives it exits without a traceback.
    """

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum

    def __reduce__(self):
        return type(self), (self.signum,)

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}"


def _raise(signum, frame):
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
    install()
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
