"""The ``terrain`` command (and ``python -m terrain``): the command line, Ctrl-C included.

This module imports nothing heavy before it can catch Ctrl-C: until
:func:`terrain.cli.main` takes over the signals, importing it (numpy,
rasterio, pyproj: about 0.15 s) would end in a traceback. Once the run is
over, the signals are ignored: Python's shutdown would otherwise restore
their default action, and a late Ctrl-C kill a run that succeeded.
"""

import signal
import sys

#: The signals that stop a run (terrain._signals.SIGNALS, without importing it).
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                 if hasattr(signal, name))


def main() -> None:
    """Run :func:`terrain.cli.main`; Ctrl-C while it loads is one line and exit 130."""
    swallowed = []  # Ctrl-C in a callback Python runs while importing: printed and lost
    hook = sys.unraisablehook
    sys.unraisablehook = lambda info: (
        swallowed.append(info) if isinstance(info.exc_value, KeyboardInterrupt) else hook(info))
    try:
        from terrain.cli import main as command_line

        sys.unraisablehook = hook
        if swallowed:
            raise KeyboardInterrupt
        command_line()
    except KeyboardInterrupt:
        # while loading, before the command line took over the signals; or just
        # after it gave them back, when its own exit code stands
        code = getattr(sys.modules.get("terrain.cli"), "finished", None)
        if code is None:
            sys.stderr.write("terrain: error: interrupted\n")
            code = 130
        _ignore_signals()
        sys.exit(code)
    except SystemExit:
        _ignore_signals()
        raise


def _ignore_signals() -> None:
    for s in _SIGNALS:
        signal.signal(s, signal.SIG_IGN)


if __name__ == "__main__":
    main()
