"""The ``terrain`` command line: parses, calls the library, draws progress.

Errors leave as one line on stderr, ``terrain: error: ...``, with exit code 2
for usage errors and 1 for data or I/O errors; never a traceback. SIGINT,
SIGTERM and SIGHUP stop a run cleanly with exit code 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator

import click
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from terrain import __version__, pipeline, preview, tiles
from terrain._signals import Interrupted, raise_on_signals
from terrain.core import CURVATURES, METHODS, Window
from terrain.errors import BadInputError, TerrainError, UsageError, printable
from terrain.io import (
    check_format,
    check_output,
    check_writable,
    dataset_files,
    is_local,
    open_dem,
)
from terrain.options import Options, ZSigma
from terrain.pipeline import MIN_BLOCK
from terrain.storage import vsi_path
from terrain.units import SLOPE_UNITS

__all__ = ["cli", "main"]

PROG = "terrain"


def _parse_creation_options(ctx, param, values) -> dict[str, str]:
    options = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r} is not NAME=VALUE", ctx, param)
        options[name.strip().upper()] = setting
    return options


def _parse_window(ctx, param, value) -> Window | None:
    if value is None:
        return None
    try:
        return Window.parse(value)
    except UsageError as e:
        raise click.BadParameter(str(e).partition(": ")[2], ctx, param) from None


def _parse_z_sigma(ctx, param, value):
    if value is None:
        return None
    try:
        return ZSigma.parse(value)
    except UsageError as e:
        raise click.BadParameter(str(e), ctx, param) from None


#: The standard errors' options, defined once, for the commands that take them
#: (slope, aspect, gradient).
_UNCERTAINTY = [
    click.option("--z-sigma", default=None, metavar="S|RASTER|fit", callback=_parse_z_sigma,
                 help="The elevations' standard error, uncorrelated from pixel to pixel: S "
                      "metres (whatever unit the DEM is in), a RASTER of them on the DEM's "
                      "grid (in its vertical unit), or fit: each window's residuals (--window "
                      "5 or more). With --uncertainty."),
    click.option("--uncertainty", default=None, metavar="PATH", type=click.Path(),
                 help="Also write the standard error of each output value to this GeoTIFF "
                      "(float32, the output's units; with --out-dir, a folder), from "
                      "--z-sigma."),
]

#: Options every command shares, defined once, in the order a user needs them:
#: how to compute, what the DEM holds, where and how to write, tile sets, the run.
_SHARED = {
    "compute": [
        click.option("--method", type=click.Choice(METHODS), default=None,
                     help="central: numpy.gradient's scheme; horn: gdaldem's default "
                          "3x3 stencil; quadratic: a least-squares quadratic over "
                          "--window (3 alone).  [default: central, or quadratic with "
                          "--window; curvature: quadratic only]"),
        click.option("--window", default=None, metavar="N|Dm", callback=_parse_window,
                     help="Fit a quadratic by least squares over N x N pixels (odd, "
                          "3-1001) or D metres (30m, 1.5km: the odd pixel count per axis "
                          "whose span is nearest) at every pixel: the slope at that scale. "
                          "Selects --method quadratic."),
        click.option("--edge-order", type=click.IntRange(1, 2), default=2,
                     show_default=True,
                     help="Order of the one-sided differences at borders and holes "
                          "(central method; the quadratic method where a window cannot "
                          "determine the fit)."),
    ],
    "input": [
        click.option("--z-factor", type=float, default=None, metavar="F",
                     help="Metres per elevation unit (0.3048 for feet), overriding the "
                          "unit the DEM declares.  [default: the DEM's vertical unit: its "
                          "compound CRS, band unit, or projected CRS's unit; else metres]"),
        click.option("--band", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Band of the DEM holding the elevations."),
    ],
    "output": [
        click.option("--overwrite", is_flag=True, help="Replace OUT if it exists."),
        click.option("--preview", type=click.Path(dir_okay=False), default=None,
                     metavar="PNG", help="Also write a colour picture of the result."),
        click.option("--cog", is_flag=True, help="Write a Cloud-Optimized GeoTIFF."),
        click.option("--co", "creation_options", multiple=True, metavar="NAME=VALUE",
                     callback=_parse_creation_options,
                     help="GDAL GTiff creation option over ours (tiled 256, DEFLATE with "
                          "a predictor), as rio spells it; repeatable, e.g. "
                          "--co COMPRESS=ZSTD --co ZSTD_LEVEL=1."),
    ],
    "tiles": [
        click.option("--out-dir", type=click.Path(file_okay=False), default=None,
                     help="Treat every path as a tile of one surface; write one output "
                          "per tile, same name, in this folder (or under this object-storage "
                          "prefix, s3://bucket/prefix)."),
        click.option("--from", "from_list", type=click.File("r", encoding="utf-8-sig"),
                     default=None, metavar="FILE",
                     help="With --out-dir: also take the tiles listed in FILE, one path "
                          "or URL a line ('-' reads stdin)."),
        click.option("--scheduler", default=None, metavar="ADDRESS",
                     help="With --out-dir: run tiles on this Dask distributed scheduler."),
    ],
    "run": [
        click.option("--jobs", type=click.IntRange(min=1), default=None,
                     help="Threads to use.  [default: the number of cores]"),
        click.option("--block-size", type=click.IntRange(min=MIN_BLOCK), default=None,
                     help="Edge of a processing block, pixels.  "
                          "[default: about 1024, aligned to the file's tiles]"),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ],
}


def _common(*own, uncertain: bool = False):
    """The command's own options first, then the shared ones, in :data:`_SHARED`'s order;
    ``uncertain`` adds the standard errors' (:data:`_UNCERTAINTY`) after how to compute."""
    def decorate(f):
        shared = [o for name, group in _SHARED.items()
                  for o in (*group, *(_UNCERTAINTY if uncertain and name == "compute" else ()))]
        for option in reversed([*own, *shared]):
            f = option(f)
        return click.argument("paths", nargs=-1, metavar="DEM OUT | TILE...",
                              type=click.Path())(f)
    return decorate


class _Progress:
    """A progress bar on stderr, drawn only for runs longer than a moment."""

    DELAY = 0.5  # seconds before the bar appears

    def __init__(self, label: str, quiet: bool):
        self.enabled = not quiet and sys.stderr.isatty()
        self.label, self.start, self.bar = label, time.monotonic(), None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.start < self.DELAY and done < total:
                return
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _run(product: str, paths: tuple[str, ...], quiet: bool, out_dir: str | None,
         scheduler: str | None, preview_png: str | None, from_list, **kwargs) -> None:
    options = Options(
        product,
        kwargs.pop("units", "ratio"),
        kwargs.pop("edge_order"),
        kwargs.pop("z_factor"),
        kwargs.pop("method"),
        kwargs.pop("azimuth", 315.0),
        kwargs.pop("altitude", 45.0),
        kwargs.pop("window"),
        kwargs.pop("kind", None),
        kwargs.pop("z_sigma", None),
    )
    uncertainty = kwargs.pop("uncertainty", None)
    if uncertainty is not None:
        _RAW_NAMES.add(uncertainty)
    if out_dir is not None and preview_png is not None:
        raise click.UsageError("--preview takes a single DEM, not a tile set")
    if from_list is not None:
        if out_dir is None:
            raise click.UsageError("--from lists the tiles of a set: add --out-dir DIR")
        paths = (*paths, *_read_list(from_list))
    elif not paths:
        raise click.UsageError("missing DEM OUT (or TILE... --out-dir DIR)")
    if out_dir is None:
        if scheduler is not None:
            raise click.UsageError("--scheduler goes with --out-dir (a tile set)")
        if len(paths) != 2:
            raise click.UsageError(
                f"expected DEM OUT, got {len(paths)} path{'s' if len(paths) != 1 else ''}"
                " (for a tile set, add --out-dir DIR)"
            )
    _RAW_NAMES.update(paths)
    if preview_png is not None:
        if not is_local(preview_png):
            raise UsageError(f"{preview_png}: the preview is a local file; give a local path")
        check_format(preview_png, "PNG picture", ("PNG",), "; name it .png")
        with open_dem(paths[0], kwargs.get("band", 1)) as src:
            check_output(paths[0], preview_png, kwargs.get("overwrite", False),
                         dataset_files(src, paths[0]))
        check_writable(preview_png)
    progress = _Progress(product, quiet)
    try:
        if out_dir is None:
            pipeline.run(*paths, options, progress=progress, uncertainty=uncertainty, **kwargs)
            if preview_png is not None:  # drawn from the output, read back if uploaded
                preview.preview_raster(vsi_path(paths[1]), preview_png, product,
                                       overwrite=kwargs.get("overwrite", False))
            return
        failed = tiles.run_tiles(paths, out_dir, options, scheduler=scheduler,
                                 progress=progress, uncertainty=uncertainty, **kwargs)
    finally:
        progress.close()
    if failed:
        _show_warnings()  # the tiles written have them
    for path, reason in failed:
        click.echo(f"{PROG}: error: {printable(path)}: {printable(reason)}", err=True)
    if failed:
        sys.exit(1)


def _read_list(from_list) -> list[str]:
    """The tiles of a ``--from`` list; a file that is not UTF-8 text is refused.

    A byte-order mark (Windows editors write one) is no part of the first line,
    and a line longer than :data:`_MAX_LINE` is refused.
    """
    def lines():
        for number, line in enumerate(iter(lambda: from_list.readline(_MAX_LINE + 1), ""), 1):
            if len(line) > _MAX_LINE:
                raise BadInputError(
                    f"{printable(from_list.name)}: line {number} is longer than {_MAX_LINE} "
                    "characters: not a list of paths or URLs, one a line"
                )
            yield line

    try:
        return tiles.read_list(lines())
    except UnicodeDecodeError as e:
        raise BadInputError(
            f"{printable(from_list.name)}: not UTF-8 text (byte 0x{e.object[e.start]:02x} "
            "is not UTF-8): save the list as UTF-8"
        ) from None


#: The longest line of a --from list, characters (a URL with a signed query
#: is a few thousand): a file with no newline, as /dev/zero, is no list.
_MAX_LINE = 65536

#: Names from the command line and its lists, raw: escaped wherever they appear
#: in an error (a newline in a file name must not cut the one line).
_RAW_NAMES: set[str] = set()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name=PROG)
def cli():
    """Slope, gradient, aspect and curvature maps from DEMs, exact to the borders."""


@cli.command()
@_common(click.option("--units", type=click.Choice(SLOPE_UNITS), default="ratio",
                      show_default=True, help="ratio is metre per metre."), uncertain=True)
def slope(paths, preview, **kwargs):
    """Slope of DEM, written to the GeoTIFF OUT; or of a tile set, one output per tile.

    \b
    Examples:
      terrain slope dem.tif slope.tif
      terrain slope dem.tif slope_deg.tif --units degrees --z-factor 0.3048
      terrain slope dem.tif slope.tif --method horn --preview slope.png
      terrain slope lidar_1m.tif slope_10m.tif --window 10m
      terrain slope dem.tif slope.tif --z-sigma 0.1 --uncertainty slope_se.tif
      terrain slope lidar_1m.tif slope.tif --window 9 --z-sigma fit --uncertainty se.tif
      terrain slope tiles/*.tif --out-dir slopes/ --jobs 4
      terrain slope 'srtm/*.hgt' --out-dir slopes/ --scheduler tcp://scheduler:8786
      terrain slope https://example.com/cop30/N45_E006.tif slope.tif
      terrain slope --from urls.txt --out-dir slopes/
    """
    _run("slope", paths, preview_png=preview, **kwargs)


@cli.command()
@_common(uncertain=True)
def gradient(paths, preview, **kwargs):
    """dz/dx (east) and dz/dy (north) of DEM, m/m, as the 2 bands of OUT.

    \b
    Examples:
      terrain gradient dem.tif gradient.tif
      terrain gradient dem.tif gradient.tif --z-sigma dem_error.tif --uncertainty se.tif
      terrain gradient tiles/ --out-dir gradients/
    """
    _run("gradient", paths, preview_png=preview, **kwargs)


@cli.command()
@_common(uncertain=True)
def aspect(paths, preview, **kwargs):
    """Aspect of DEM: compass degrees of the downslope direction; flat = nodata.

    \b
    Examples:
      terrain aspect dem.tif aspect.tif
      terrain aspect dem.tif aspect.tif --z-sigma 2 --uncertainty aspect_se.tif
      terrain aspect tiles/ --out-dir aspects/
    """
    _run("aspect", paths, preview_png=preview, **kwargs)


@cli.command()
@_common(click.option("--azimuth", type=float, default=315.0, show_default=True,
                      help="Compass direction the light comes from, degrees."),
         click.option("--altitude", type=float, default=45.0, show_default=True,
                      help="Height of the light above the horizon, degrees."))
def hillshade(paths, preview, **kwargs):
    """Shaded relief of DEM (gdaldem's formula), Byte 1-255 with 0 as nodata.

    Works on every CRS: lat/lon DEMs need no scale factor.

    \b
    Examples:
      terrain hillshade dem.tif shade.tif
      terrain hillshade dem.tif shade.tif --azimuth 270 --altitude 30 --preview shade.png
      terrain hillshade dem.tif shade.tif --method horn   # as gdaldem hillshade
    """
    _run("hillshade", paths, preview_png=preview, **kwargs)


@cli.command()
@_common(click.option("--kind", type=click.Choice(CURVATURES), multiple=True,
                      help="Curvature to write, one band each, in the order given; "
                           "repeatable (the DEM is read once): profile, tangential, plan, "
                           "mean, gaussian, maximal, minimal, or the second derivatives "
                           "dxx, dyy, dxy."))
def curvature(paths, preview, **kwargs):
    """Curvatures of DEM (1/m, convex positive), one band per --kind, in the GeoTIFF OUT.

    From the second derivatives of the least-squares quadratic over --window
    (3 x 3 pixels unless given), the fit the slope uses with --window: exact on
    quadratic surfaces at every pixel, border and holes included. Nodata where
    the window cannot determine the quadratic and, for profile, tangential and
    plan, on flat ground. --method central or horn is an error; --edge-order
    changes nothing (it is the gradient's rule where a window is degenerate,
    and there a curvature is nodata). --preview draws the first kind.

    \b
    Examples:
      terrain curvature dem.tif profile.tif --kind profile
      terrain curvature dem.tif curv.tif --kind profile --kind plan --kind mean
      terrain curvature lidar_1m.tif curv_30m.tif --kind profile --window 30m
      terrain curvature dem.tif mean.tif --kind mean --preview mean.png
      terrain curvature tiles/*.tif --out-dir curvatures/ --kind profile --kind tangential
    """
    if not kwargs["kind"]:
        raise click.UsageError(f"missing --kind: name a curvature ({', '.join(CURVATURES)}); "
                               "repeat it for several bands")
    _run("curvature", paths, preview_png=preview, **kwargs)


def _warn(message, category, filename, lineno, file=None, line=None):
    """Keep a warning for the end of a successful run (a failed one says only why)."""
    if issubclass(category, NotGeoreferencedWarning):
        return  # rasterio's; terrain's own NoCRSWarning says what it means for the result
    _WARNINGS.setdefault(printable(message))


#: The run's warnings, in order, each once.
_WARNINGS: dict[str, None] = {}


def _show_warnings(more: list[str] = ()) -> None:
    for line in [*_WARNINGS, *more]:
        click.echo(f"{PROG}: warning: {line}", err=True)
    _WARNINGS.clear()


#: Lines of C libraries' own messages shown after a successful run, at most.
_C_LINES = 5


@contextlib.contextmanager
def _c_stderr() -> Iterator[list[str]]:
    """Send what C libraries print on file descriptor 2 to a file, not the terminal.

    libtiff prints each failed write (``_tiffWriteProc: No space left on
    device.``) straight to stderr, and GDAL prints the failures of threads
    it started itself: hundreds of lines for one full disk. The library's
    errors say what failed; this run's own messages (Python's ``sys.stderr``)
    still reach the terminal. The list yielded receives the distinct lines
    printed, once the block ends.
    """
    try:
        sys.stderr.flush()
        python_on_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # replaced, e.g. by a test's capture
        python_on_fd2 = False
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield lines
        return
    previous = sys.stderr
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        if python_on_fd2:
            sys.stderr = open(os.dup(saved), "w", encoding=previous.encoding,  # noqa: SIM115
                              errors=previous.errors, buffering=1)
        try:
            yield lines
        finally:
            if python_on_fd2:
                sys.stderr.close()
                sys.stderr = previous
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines += dict.fromkeys(line.strip() for line in text.splitlines() if line.strip())


def main(argv: list[str] | None = None) -> None:
    """Run the command line; exit 2 on usage errors, 1 on data errors.

    A signal (SIGINT, SIGTERM, SIGHUP) removes the temporary outputs and
    exits with 128 + its number.
    """
    warnings.showwarning = _warn
    _WARNINGS.clear()
    with raise_on_signals():
        try:
            with _c_stderr() as c_lines:
                code = _main(argv)
            if code == 0:
                _show_warnings(c_lines[:_C_LINES])
        except Interrupted as e:  # at the very end of the run
            code = _error(e, e.code)
        global finished
        finished = code
    sys.exit(code)


#: The exit code of the run, once it is over (a signal just after it keeps it).
finished: int | None = None


#: click 8.2's error for a bare group (8.1 prints its help and exits 0 itself).
_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _main(argv: list[str] | None) -> int:
    """The exit code of the command line; its error message printed."""
    _RAW_NAMES.update(sys.argv[1:] if argv is None else argv)
    try:
        code = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except _NO_ARGS as e:  # bare `terrain`: the commands, as click 8.1 shows them
        click.echo(e.format_message())
        return 0
    except click.ClickException as e:
        return _error(e.format_message(), e.exit_code)
    except UsageError as e:
        return _error(e, 2)
    except (TerrainError, RasterioError, OSError) as e:
        return _error(e, 1)
    except Interrupted as e:
        return _error(e, e.code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        return _error("interrupted", 130)
    except MemoryError:
        return _error("out of memory: lower --jobs or --block-size, or free memory", 1)
    except SystemExit as e:  # the tile set's exit code, with its failures printed
        return e.code if isinstance(e.code, int) else 1
    return code if isinstance(code, int) else 0


def _error(message: object, code: int) -> int:
    message = str(message)
    for name in sorted(_RAW_NAMES, key=len, reverse=True):
        if not name.isprintable():
            message = message.replace(name, printable(name))
    lines = message.strip().splitlines() or ["failed"]
    click.echo(f"{PROG}: error: {printable(lines[0])}", err=True)
    return code
