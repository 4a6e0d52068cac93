"""The ``terrain`` command (and ``python -m terrain``): the command line, Ctrl-C included.

This module imports nothing heavy before it can catch Ctrl-C: until
:func:`terrain.cli.main` takes over the signals, importing it (numpy,
rasterio, pyproj: about 0.15 s) would end in a traceback.
"""

import sys


def main() -> None:
    """Run :func:`terrain.cli.main`; Ctrl-C while it loads is one line and exit 130."""
    try:
        from terrain.cli import main as command_line

        command_line()
    except KeyboardInterrupt:
        sys.stderr.write("terrain: error: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
