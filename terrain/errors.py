"""The errors a user can cause, rooted in one base class.

Each subclass also derives from the matching builtin, so callers that catch
``ValueError`` or ``FileNotFoundError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "BadInputError",
    "EmptyResultWarning",
    "InputNotFoundError",
    "InputReadError",
    "NotARasterError",
    "OutputExistsError",
    "OutputWriteError",
    "RasterTooSmallError",
    "SideCarWarning",
    "TerrainError",
    "TileSetError",
    "UploadError",
    "UsageError",
    "printable",
]


class TerrainError(Exception):
    """Base class of every error a user can cause; the message says how to fix it."""


class UsageError(TerrainError, ValueError):
    """An option has a value we don't accept (unknown unit, method, edge order...)."""


class BadInputError(TerrainError, ValueError):
    """The data can't be processed as asked (band out of range, rotated lat/lon grid...)."""


class InputNotFoundError(TerrainError, FileNotFoundError):
    """The input file does not exist."""


class NotARasterError(TerrainError, ValueError):
    """The input exists but GDAL cannot read it as a raster."""


class InputReadError(TerrainError, OSError):
    """The input opened, but part of its data can't be read (corrupt or truncated).

    ``path`` is the file that failed, which in a tile set may be a neighbour
    of the tile being computed.
    """

    def __init__(self, message: str, path: str | None = None, problem: str | None = None):
        super().__init__(message)
        self.path = path
        self.problem = problem or message  # the message without the path

    def __reduce__(self):
        return type(self), (str(self), self.path, self.problem)


class OutputWriteError(TerrainError, OSError):
    """An output could not be written completely (no space, read-only, I/O error...).

    Nothing is left at the target and no temporary file remains.
    """


class UploadError(OutputWriteError):
    """An output could not be uploaded to object storage (no answer, access denied...).

    The upload is aborted: the object is not stored, unless the message says
    that the server may have completed it, whole. In a tile set, only this
    tile fails: the next may upload once the server answers again.
    """


class EmptyResultWarning(UserWarning):
    """Every pixel of the input is nodata, so every pixel of the result is too."""


class SideCarWarning(UserWarning):
    """GDAL kept part of an output (a CRS the GeoTIFF keys can't hold) in its ``.aux.xml``."""


class RasterTooSmallError(BadInputError):
    """An axis has fewer than the 2 pixels a derivative needs."""


class OutputExistsError(TerrainError, FileExistsError):
    """The output exists (and ``overwrite`` was not given) or equals the input."""


class TileSetError(BadInputError):
    """Tiles that do not form one surface: different CRSs, resolutions or grids."""


def printable(text: object) -> str:
    """``text`` as it can be shown on one line: what a terminal would not show as typed escaped.

    Control characters (a newline, a NUL, an escape sequence's ESC) and
    invisible format characters are written as Python escapes (``\\n``,
    ``\\x00``, ``\\u202e``); bytes of a file name that are not UTF-8
    (Python's surrogate escapes) as ``\\xff``. Other text is unchanged.

    >>> printable("dem\\n.tif"), printable("Zürich.tif")
    ('dem\\\\n.tif', 'Zürich.tif')
    """
    text = str(text)
    if text.isprintable():
        return text
    shown = []
    for ch in text:
        if ch.isprintable():
            shown.append(ch)
        elif "\udc80" <= ch <= "\udcff":  # a byte that was not UTF-8
            shown.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            shown.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(shown)
