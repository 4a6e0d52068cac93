"""A set of DEM tiles as one seamless surface.

The tiles must share a CRS, a pixel size and a pixel grid. Each tile is
computed as a window of the mosaic they form: its blocks read their halo from
whichever tiles hold it, so every output equals the whole mosaic's result cut
to that tile, bit for bit. Pixels outside every tile are nodata, so tiles at
the outside of the set, and next to gaps in it, take the border stencil.
Where tiles overlap, the first tile in the order given that has data at a
pixel wins (rasterio.merge's ``first`` rule); folders and glob patterns
expand in sorted order.

On a lat/lon CRS the column width may change between latitude bands, as in
Copernicus GLO-30 (1" columns below 50°, 1.5" to 60°, 2" to 70°...): all tiles
share one row spacing and row grid, and the tiles of one column width and
column grid (a band, :class:`Grid`) form a mosaic of their own, computed
exactly as a set of those tiles alone. Only the rows a block's halo reaches
across a band's edge come from the other band: its rows, read a few columns
wider, interpolated along the parallel onto this band's column centres by
four-point Lagrange interpolation (:func:`_interpolate`), so that the stencil
at the edge stays the central one.

Tiles run in parallel worker processes here, or as tasks on a Dask
distributed cluster. The output folder may be a prefix in object storage
(``s3://bucket/prefix``): each worker then writes its tiles to its own local
temporary folder and uploads them straight to the bucket, each whole or not
at all (:mod:`terrain.storage`).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from terrain import _signals, core, storage
from terrain.core import HALO, Holes, Validity, default_jobs
from terrain.errors import (
    InputNotFoundError,
    InputReadError,
    OutputExistsError,
    OutputWriteError,
    RasterTooSmallError,
    TerrainError,
    TileSetError,
    UploadError,
    UsageError,
    printable,
)
from terrain.io import (
    CACHE_MB,
    TILE,
    _identity,
    _os_reason,
    _path_files,
    check_local_output,
    check_profile,
    check_target,
    dataset_files,
    input_name,
    is_local,
    is_network,
    open_dem,
    open_raster,
    output_name,
    read_dtype,
    read_window,
    reading_env,
)
from terrain.options import Options
from terrain.pipeline import (
    _creation_options,
    atomic_outputs,
    check_block,
    check_uncertainty,
    check_work,
    default_block,
    describe,
    describe_uncertainty,
    profile_for,
    uncertainty_profile,
    warn_side_car,
    write_blocks,
)
from terrain.spacing import (
    PixelGeometry,
    VerticalUnit,
    VerticalUnitWarning,
    _parse_crs,
    check_transform,
    pixel_geometry,
    vertical_unit,
)

__all__ = ["RASTER_SUFFIXES", "Tile", "TileSet", "expand", "read_list", "run_tiles"]

#: File endings taken from a folder given as input (a glob may name any file).
RASTER_SUFFIXES = (".tif", ".tiff", ".hgt", ".asc", ".dem", ".dt0", ".dt1", ".dt2",
                   ".img", ".bil", ".flt", ".vrt")

#: Relative tolerance for equal pixel sizes and for pixel edges on one grid.
_GRID_TOLERANCE = 1e-6

#: Tile files kept open at once by one mosaic reader.
_OPEN_TILES = 64

#: Nodes of the Lagrange polynomials that carry another band's row onto this
#: band's columns, most first: four consecutive columns (exact for cubics),
#: else three (exact for quadratics). Two (a line) would be first order,
#: worse on smooth terrain than the border stencil a missing value leaves.
#: Lagrange interpolation: Abramowitz, M. and Stegun, I.A. (1964), Handbook
#: of Mathematical Functions, section 25.2.
_ACROSS = (4, 3)

#: Columns of the other band read beyond the points, before and after: the
#: reach of the stencils (see :func:`_interpolate`).
_ACROSS_REACH = (max(_ACROSS) - 1, max(_ACROSS))


def expand(inputs: Iterable[str | os.PathLike]) -> list[str]:
    """Input paths in the order given, local folders and glob patterns expanded (sorted).

    URLs and GDAL /vsi paths are kept as given: a ``?`` or ``*`` in them is
    not a pattern.
    """
    paths: list[str] = []
    for item in map(os.fspath, inputs):
        if not is_local(item):
            paths.append(item)
        elif os.path.isdir(item):
            found = sorted(str(p) for p in Path(item).iterdir()
                           if p.suffix.lower() in RASTER_SUFFIXES and p.is_file())
            if not found:
                raise InputNotFoundError(
                    f"{item}: no raster in this folder (looked for "
                    f"{', '.join(RASTER_SUFFIXES)}); name the files, or a pattern"
                )
            paths += found
        elif glob.has_magic(item) and not os.path.exists(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise InputNotFoundError(f"{item}: no file matches this pattern")
            paths += matches
        else:
            paths.append(item)
    return paths


def read_list(lines: Iterable[str]) -> list[str]:
    """Inputs listed one a line (a list file's lines); blank lines and ``#`` comments skipped.

    >>> read_list(["# Copernicus GLO-30", "https://example.com/N45.tif", "", "tiles/"])
    ['https://example.com/N45.tif', 'tiles/']
    """
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class Tile:
    """One readable tile: where it lies in the mosaic, in pixels."""

    path: str
    row_off: int
    col_off: int
    height: int
    width: int
    block: tuple[int, int]
    vertical: VerticalUnit | None = None
    grid: int = 0  # its latitude band, an index into TileSet.grids


@dataclass(frozen=True)
class Grid:
    """One latitude band of a set: the mosaic of its tiles, one column width and grid.

    ``transform`` is the mosaic's as a set of the band's tiles alone has it
    (the westmost tile's west edge and the northmost tile's north edge, as
    the files write them), at row ``above`` of the mosaic: the ``above`` rows
    before it and the rows after the band's tiles (``shape`` counts them) are
    rows of another band beyond this band's edge. ``row_off`` is the mosaic's
    first row in the set's rows, which every band shares.
    """

    transform: Affine
    shape: tuple[int, int]
    above: int = 0
    row_off: int = 0

    def geometry(self, crs, name: str = "the raster") -> PixelGeometry:
        """The mosaic's pixel geometry; its band's own rows get the numbers they get alone."""
        return pixel_geometry(self.transform, crs, self.shape[0], name, first_row=-self.above)


@dataclass
class TileSet:
    """Tiles on one grid, or one grid per latitude band, indexed for fast neighbour lookup.

    ``bad`` lists the inputs that could not be opened, as (path, reason);
    ``files`` every local file the set reads (:func:`terrain.io.dataset_files`).
    ``vertical`` is the set's elevation unit. Tiles that declare different
    units, scales or offsets are each converted to metres as they are read
    (``mixed``); the set's unit is then the metre. ``grids`` holds the
    latitude bands (one unless column widths change with latitude); a tile's
    ``row_off`` and ``col_off`` are in its band's mosaic. ``transform`` and
    ``shape`` are the first band's. ``halo`` is the rows of context the
    estimator reads beside a pixel: a band's mosaic reaches that far across
    its edge where another band lies beyond it.
    """

    tiles: list[Tile]
    transform: Affine
    crs: object
    shape: tuple[int, int]
    band: int = 1
    bad: list[tuple[str, str]] = field(default_factory=list)
    vertical: VerticalUnit | None = None
    mixed: bool = False
    files: dict = field(default_factory=dict, repr=False)
    grids: list[Grid] = field(default_factory=list)
    halo: int = HALO
    _cell: int = 1
    _index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if not self.grids:
            self.grids = [Grid(self.transform, self.shape)]

    @classmethod
    def open(cls, paths: Sequence[str], band: int = 1,
             z_factor: float | None = None, halo: int = HALO) -> TileSet:
        """Read the tiles' metadata and check they lie on one grid (one per latitude band).

        ``z_factor`` overrides every tile's vertical unit, as for one file.
        ``halo`` is the rows of context the estimator reads beside a pixel
        (:meth:`with_halo`).
        """
        metas, bad = [], []
        files: dict[tuple[int, int], str] = {}
        parsed: dict[str, object] = {}  # the tiles' CRSs, parsed once each
        for path in paths:
            files.update(_path_files(path))
            try:
                with open_dem(path, band) as src:
                    crs = _parsed(src.crs, parsed)
                    check_transform(src.transform, crs, printable(path))
                    files.update(dataset_files(src, path))
                    vertical = vertical_unit(
                        crs, src.units[band - 1], src.scales[band - 1],
                        src.offsets[band - 1], z_factor, name=input_name(path),
                    )
                    metas.append((path, src.transform, src.crs, src.shape,
                                  default_block(src, band), vertical))
            except Exception as e:  # one unreadable tile must not stop the others
                bad.append((path, _reason(e).removeprefix(f"{path}: ")
                            .removeprefix(f"{printable(path)}: ")))
        if not metas:
            path, reason = bad[0]
            others = f", and {len(bad) - 1} more" if len(bad) > 1 else ""
            raise TileSetError(f"no readable tile in the set ({printable(path)}: {reason}"
                               f"{others})")
        first_path, t0, crs, *_ = metas[0]
        # column widths may change between latitude bands on a lat/lon CRS
        banded = crs is not None and crs.is_geographic
        refs: list[Affine] = []  # the first tile of each band
        grid_of = []
        for path, t, c, *_ in metas:
            _check_grid(path, t, c, first_path, t0, crs, banded)
            grid_of.append(next((g for g, ref in enumerate(refs) if _same_columns(t, ref)),
                                len(refs)))
            if grid_of[-1] == len(refs):
                refs.append(t)
        # each band's corner: the smallest pixel offsets from the first tile
        # (rows) and from the band's first tile (columns)
        offsets = [(round((t.f - t0.f) / t0.e), round((t.c - refs[g].c) / refs[g].a))
                   for (_, t, *_), g in zip(metas, grid_of, strict=True)]
        grids, corners = [], []
        for g, ref in enumerate(refs):
            mine = [i for i, k in enumerate(grid_of) if k == g]
            top = min(offsets[i][0] for i in mine)
            left = min(offsets[i][1] for i in mine)
            bottom = max(offsets[i][0] + metas[i][3][0] for i in mine)
            right = max(offsets[i][1] + metas[i][3][1] for i in mine)
            # the mosaic's origin as the files write it (not recomputed), so that
            # lat/lon rows get the very latitudes the whole raster would give them
            west = next(metas[i][1].c for i in mine if offsets[i][1] == left)
            north = next(metas[i][1].f for i in mine if offsets[i][0] == top)
            grids.append(Grid(Affine(ref.a, 0.0, west, 0.0, t0.e, north),
                              (bottom - top, right - left), 0, top))
            corners.append((top, left))
        tiles = [
            Tile(path, r - corners[g][0], c - corners[g][1], shape[0], shape[1], block,
                 vertical, g)
            for (path, _, _, shape, block, vertical), (r, c), g
            in zip(metas, offsets, grid_of, strict=True)
        ]
        vertical, mixed = _set_vertical([tile.vertical for tile in tiles])
        tileset = cls(tiles, grids[0].transform, crs, grids[0].shape, band, bad, vertical,
                      mixed, files=files, grids=grids, halo=0)
        _check_sides(tileset)
        return tileset.with_halo(halo)

    def with_halo(self, halo: int) -> TileSet:
        """The set read with ``halo`` rows of context: each band's mosaic reaches that
        far across its edges where another band's tiles lie beyond them."""
        boxes = [self.box(t) for t in self.tiles]
        grids = []
        for g, grid in enumerate(self.grids):
            rows = [box[:2] for box, t in zip(boxes, self.tiles, strict=True) if t.grid == g]
            top, bottom = min(r0 for r0, _ in rows), max(r1 for _, r1 in rows)
            west = grid.transform.c
            east = west + grid.shape[1] * grid.transform.a
            near = [(r0, r1) for (r0, r1, o_west, o_east), t in zip(boxes, self.tiles, strict=True)
                    if t.grid != g and o_west < east and o_east > west]
            above = halo if any(r0 < top and r1 > top - halo for r0, r1 in near) else 0
            below = halo if any(r0 < bottom + halo and r1 > bottom for r0, r1 in near) else 0
            grids.append(Grid(grid.transform, (above + bottom - top + below, grid.shape[1]),
                              above, top - above))
        tiles = [replace(t, row_off=box[0] - grids[t.grid].row_off)
                 for box, t in zip(boxes, self.tiles, strict=True)]
        tileset = replace(self, tiles=tiles, transform=grids[0].transform,
                          shape=grids[0].shape, grids=grids, halo=halo, _index={})
        tileset._build_index()
        return tileset

    def _build_index(self) -> None:
        """Buckets of each band's mosaic, about one typical tile wide, to the tiles in them."""
        self._cell = max(1, int(np.median([max(t.height, t.width) for t in self.tiles])))
        self._index = defaultdict(list)
        for i, t in enumerate(self.tiles):
            for key in self._cells(t.row_off, t.row_off + t.height,
                                   t.col_off, t.col_off + t.width, t.grid):
                self._index[key].append(i)

    def _cells(self, r0, r1, c0, c1, grid=0):
        n = self._cell
        return [(grid, i, j) for i in range(r0 // n, (r1 - 1) // n + 1)
                for j in range(c0 // n, (c1 - 1) // n + 1)]

    def without(self, paths: Iterable[str]) -> TileSet:
        """The same mosaic (shape, transform) with these tiles as gaps."""
        gone = set(paths)
        tileset = replace(self, tiles=[t for t in self.tiles if t.path not in gone],
                          _index={})
        if tileset.tiles:
            tileset._build_index()
        return tileset

    def overlapping(self, rows: slice, cols: slice, grid: int = 0) -> list[Tile]:
        """Tiles of a band that intersect the window of its mosaic, in the order given
        (first wins)."""
        found = set()
        for key in self._cells(rows.start, rows.stop, cols.start, cols.stop, grid):
            found.update(self._index.get(key, ()))
        return [self.tiles[i] for i in sorted(found)
                if _intersect(self.tiles[i], rows, cols) is not None]

    def box(self, tile: Tile) -> tuple[int, int, float, float]:
        """The tile's rows in the set's rows, and its west and east edges."""
        grid = self.grids[tile.grid]
        r0 = grid.row_off + tile.row_off
        west = grid.transform.c + tile.col_off * grid.transform.a
        return r0, r0 + tile.height, west, west + tile.width * grid.transform.a

    def across(self, tile: Tile, rows: tuple[int, int], west: float, east: float
               ) -> list[Tile]:
        """Tiles of the other bands that intersect the set's rows [rows) and reach
        from ``west`` to ``east`` (edges included)."""
        found = []
        for g, grid in enumerate(self.grids):
            if g == tile.grid:
                continue
            t = grid.transform
            near = self.overlapping(  # the index's candidates, a column wider each side
                slice(rows[0] - grid.row_off, rows[1] - grid.row_off),
                slice(math.floor((west - t.c) / t.a) - 1, math.ceil((east - t.c) / t.a) + 1), g)
            for other in near:
                o0, o1, o_west, o_east = self.box(other)
                if o0 < rows[1] and o1 > rows[0] and o_west <= east and o_east >= west:
                    found.append(other)
        return found

    def band_edges(self, tile: Tile) -> list[str]:
        """The tile's edges, ``north`` and ``south``, where the halo its blocks read
        (corners included, within its band's mosaic) holds another band's pixels:
        the pixel centres of the halo's rows lie on a tile of another band."""
        grid, halo = self.grids[tile.grid], self.halo
        r0, r1, _, _ = self.box(tile)
        c0 = max(tile.col_off - halo, 0)
        c1 = min(tile.col_off + tile.width + halo, grid.shape[1])
        west, east = (grid.transform.c + (c + 0.5) * grid.transform.a for c in (c0, c1 - 1))
        top, bottom = grid.row_off, grid.row_off + grid.shape[0]
        return [edge for edge, rows in (("north", (max(r0 - halo, top), r0)),
                                        ("south", (r1, min(r1 + halo, bottom))))
                if rows[0] < rows[1] and self.across(tile, rows, west, east)]


def _parsed(crs, parsed: dict[str, object]):
    """A tile's CRS as :mod:`terrain.spacing` parses it, once for the tiles that share it
    (pyproj parses the same WKT it would be given)."""
    if crs is None or not str(crs):
        return None
    wkt = crs.to_wkt()
    if wkt not in parsed:
        parsed[wkt] = _parse_crs(wkt)
    return parsed[wkt]


def _set_vertical(verticals: list[VerticalUnit]) -> tuple[VerticalUnit, bool]:
    """The set's vertical unit, and whether its tiles must each be converted.

    Tiles whose stored values mean the same (same metres per value, same
    offset) are stitched as stored and share one z factor, exactly as one file
    would be; otherwise each tile is converted to metres as it is read. What
    was assumed is said once for the set, not once per tile.
    """
    first = verticals[0]
    warned = [v for v in verticals if v.warnings]
    if warned:
        more = f" (and {len(warned) - 1} other tiles alike)" if len(warned) > 1 else ""
        for message in warned[0].warnings:
            warnings.warn(message + more, VerticalUnitWarning, stacklevel=4)
    same = all((v.z_factor, v.offset * v.metres) == (first.z_factor, first.offset * first.metres)
               for v in verticals)
    if same:
        return first, False
    return VerticalUnit(1.0, "metre", "each tile's own, converted to metres"), True


def _check_grid(path, t, crs, first_path, t0, crs0, banded: bool = False) -> None:
    """Refuse a tile off the first tile's grid; with ``banded`` (lat/lon), only its rows
    must be on the first tile's (its columns make its band, see :func:`_same_columns`)."""
    odd = f"{input_name(path)} does not match {input_name(first_path)}"
    if crs != crs0:
        raise TileSetError(f"{odd}: CRS {crs} differs from {crs0}")
    if t.b != 0 or t.d != 0 or t0.b != 0 or t0.d != 0:
        raise TileSetError(f"{input_name(path)}: rotated tiles are not supported in a tile set")
    if banded:
        if not math.isclose(t.e, t0.e, rel_tol=_GRID_TOLERANCE):
            raise TileSetError(
                f"{odd}: row spacing {abs(t.e):g} differs from {abs(t0.e):g} (a set's tiles "
                "share one row spacing; only column widths may change, between latitude bands)"
            )
        shift = (t.f - t0.f) / t0.e
        if not _whole(shift):
            raise TileSetError(
                f"{odd}: its rows are {shift:.6g} rows from the other's, not a whole number "
                "of rows (a set's tiles share one row grid)"
            )
        return
    if not (math.isclose(t.a, t0.a, rel_tol=_GRID_TOLERANCE)
            and math.isclose(t.e, t0.e, rel_tol=_GRID_TOLERANCE)):
        raise TileSetError(
            f"{odd}: pixel size {t.a:g} x {t.e:g} differs from {t0.a:g} x {t0.e:g}"
        )
    for shift in ((t.c - t0.c) / t0.a, (t.f - t0.f) / t0.e):
        if not _whole(shift):
            raise TileSetError(f"{odd}: its pixel edges are not on the same grid")


def _whole(shift: float) -> bool:
    """Whether an offset in pixels is a whole number of them."""
    return abs(shift - round(shift)) <= _GRID_TOLERANCE * max(1.0, abs(shift))


def _same_columns(t: Affine, ref: Affine) -> bool:
    """Whether a tile's columns are those of the band whose first tile is ``ref``."""
    return math.isclose(t.a, ref.a, rel_tol=_GRID_TOLERANCE) and _whole((t.c - ref.c) / ref.a)


def _check_sides(tileset: TileSet) -> None:
    """Refuse two tiles of different bands that share rows and lie less than a column apart.

    Bands meet only along a parallel; side by side, one band's columns would
    have to be interpolated across the other's, which no stencil expects.
    """
    if len(tileset.grids) == 1:
        return
    boxes = [tileset.box(t) for t in tileset.tiles]
    widths = [tileset.grids[t.grid].transform.a for t in tileset.tiles]
    reach = max(widths)
    rows = max(1, int(np.median([r1 - r0 for r0, r1, _, _ in boxes])))
    lons = float(np.median([east - west for _, _, west, east in boxes]))
    cells = defaultdict(list)
    for i, (r0, r1, west, east) in enumerate(boxes):
        for row in range(r0 // rows, (r1 - 1) // rows + 1):
            for lon in range(math.floor((west - reach) / lons),
                             math.floor((east + reach) / lons) + 1):
                cells[row, lon].append(i)
    seen = set()
    for members in cells.values():
        for n, i in enumerate(members):
            for k in members[n + 1:]:
                a, b = tileset.tiles[i], tileset.tiles[k]
                if a.grid == b.grid or (i, k) in seen:
                    continue
                seen.add((i, k))
                (a0, a1, a_west, a_east), (b0, b1, b_west, b_east) = boxes[i], boxes[k]
                gap = max(a_west, b_west) - min(a_east, b_east)
                width = max(widths[i], widths[k])
                if min(a1, b1) > max(a0, b0) and gap < width * (1 - _GRID_TOLERANCE):
                    # tiles whose first pixel is centred on their corner (GLO-30's) reach
                    # half a pixel beyond it: neighbours of two widths overlap by less
                    how = "overlap" if gap < -width / 2 else "lie side by side"
                    what = (f"different column widths ({widths[i]:g} and {widths[k]:g})"
                            if not math.isclose(widths[i], widths[k], rel_tol=_GRID_TOLERANCE)
                            else f"columns on different grids (both {widths[i]:g} wide)")
                    raise TileSetError(
                        f"{input_name(a.path)} and {input_name(b.path)} {how} with {what}: "
                        "tiles of different column grids must lie north and south of each "
                        "other (latitude bands)"
                    )


def _intersect(tile: Tile, rows: slice, cols: slice):
    r0, r1 = max(rows.start, tile.row_off), min(rows.stop, tile.row_off + tile.height)
    c0, c1 = max(cols.start, tile.col_off), min(cols.stop, tile.col_off + tile.width)
    if r0 >= r1 or c0 >= c1:
        return None
    return slice(r0, r1), slice(c0, c1)


def _lagrange(u: np.ndarray, nodes: Sequence[int]) -> list[np.ndarray]:
    """The Lagrange weights of ``nodes`` (integers) at the points ``u``."""
    weights = []
    for k in nodes:
        w = np.ones_like(u)
        for m in nodes:
            if m != k:
                w = w * ((u - m) / (k - m))
        weights.append(w)
    return weights


def _interpolate(z: np.ndarray, valid: np.ndarray, t: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``z`` (rows x n) at the fractional columns ``t`` of them, and where that is valid.

    A point takes the Lagrange polynomial through :data:`_ACROSS` consecutive
    valid columns (four, else three) that reach to within half a column of
    it (its own pixel among them), the most centred on it: on a column, that
    column's value; between two, the four around it where they are valid;
    beside a hole or the edge of ``z``, nodes shifted away from it, the point
    up to half a column beyond the last. A point with no such run of valid
    columns is nodata. Each value depends on its own row and on the columns
    within four of it only, so a wider read of the same rows gives the same
    bits; the sums run in a fixed order (no reduction), the same on every CPU.
    """
    rows, n = z.shape
    j = np.floor(t)
    u = t - j
    on = (u <= _GRID_TOLERANCE) | (u >= 1 - _GRID_TOLERANCE)  # a column, within rounding
    j = np.where(on, np.rint(t), j).astype(np.intp)
    u = np.where(on, 0.0, u)
    clean = np.where(valid, z, 0.0)  # nodata values (NaN, -32768) never enter a sum
    out = np.zeros((rows, t.size))
    ok = np.zeros((rows, t.size), dtype=bool)
    for count in _ACROSS:
        best = np.full((rows, t.size), np.inf)  # distance of the point from the nodes' middle
        for first in range(1 - count, 2):  # nodes j + first ... j + first + count - 1
            nodes = list(range(first, first + count))
            index = j[:, None] + np.array(nodes)
            reach = (u >= first - 0.5) & (u <= first + count - 0.5)
            reach &= ((index >= 0) & (index < n)).all(axis=1)
            distance = np.abs(first + (count - 1) / 2 - u)
            index = np.clip(index, 0, n - 1)
            take = reach & ~ok & valid[:, index].all(axis=2) & (distance < best)
            if not take.any():
                continue
            weights = _lagrange(u, nodes)
            value = clean[:, index[:, 0]] * weights[0]
            for k in range(1, count):
                value = value + clean[:, index[:, k]] * weights[k]
            out[take] = value[take]
            best[take] = np.broadcast_to(distance, best.shape)[take]
        ok |= np.isfinite(best)
    return out, ok


class MosaicSurface:
    """Windows of the mosaic, read from whichever tiles hold them.

    A window is read as one file's window is (:func:`terrain.io.read_window`):
    in the tiles' own type (float32 stays float32), with their nodata rule
    (:class:`terrain.core.Holes`), so that the kernel converts it to float64
    as it reads it, exactly as it does a single file's. A window inside one
    tile is that tile's window as read; a window across tiles is read into
    one array, each tile's part straight from GDAL, with their rule where
    they share one, and a validity array only where a rule cannot say what
    is valid: tiles with different nodata rules, a dataset mask, or pixels
    outside every tile where no nodata value or NaN can mark them. Tiles
    that overlap in the window (the first given wins), of different types
    (each tile's nodata is compared in its own type) or different units
    (``mixed``) are read each alone, then stitched with a validity array.

    Tile files stay open between reads (up to a bound), so that a
    neighbour's blocks decoded for a halo are still in GDAL's cache when that
    neighbour is computed. On a set of latitude bands, :meth:`read` reads a
    band's mosaic (:meth:`grid` gives a surface of one band), and fills what
    no tile of the band holds, across its edges, from the other bands' rows
    interpolated onto its columns.
    """

    def __init__(self, tileset: TileSet, threads: int = 1):
        self.tileset = tileset
        self.threads = threads
        self._open: OrderedDict[str, rasterio.DatasetReader] = OrderedDict()

    def grid(self, index: int) -> _GridSurface:
        """The surface of one band's mosaic, with the tile files shared."""
        return _GridSurface(self, index)

    def handle(self, path: str) -> rasterio.DatasetReader:
        """The tile file ``path``, open (decoding on :attr:`threads` threads)."""
        if path in self._open:
            self._open.move_to_end(path)
        else:
            if len(self._open) >= _OPEN_TILES:
                self._open.popitem(last=False)[1].close()
            self._open[path] = open_raster(path, self.threads)
        return self._open[path]

    def read(self, rows: slice, cols: slice, grid: int = 0) -> tuple[np.ndarray, Validity]:
        """Elevations and their validity (a rule, an array or None) of a window of
        the band ``grid``'s mosaic."""
        z, valid = self._read(rows, cols, grid)
        if len(self.tileset.grids) == 1:
            return z, valid
        mask = valid.valid(z) if isinstance(valid, Holes) else valid
        if mask is None or mask.all():
            return z, valid
        filled = None  # float64 elevations and their validity, once a band fills some
        for other in range(len(self.tileset.grids)):
            if other != grid:
                filled = self._across(rows, cols, grid, other, *(filled or (z, mask))) or filled
        return filled or (z, valid)

    def _across(self, rows: slice, cols: slice, grid: int, other: int,
                z: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """What is not valid in the window filled from the band ``other``, interpolated
        along its rows onto this band's column centres: float64 elevations and their
        validity, or None where that band has nothing to fill."""
        mine, theirs = self.tileset.grids[grid], self.tileset.grids[other]
        shift = mine.row_off - theirs.row_off
        their_rows = slice(rows.start + shift, rows.stop + shift)
        a, b = mine.transform, theirs.transform
        # this band's column centres in the other's columns
        t = (a.c - b.c) / b.a + (np.arange(cols.start, cols.stop) + 0.5) * (a.a / b.a) - 0.5
        before, after = _ACROSS_REACH
        lo = max(math.floor(t.min()) - before, 0)
        hi = min(math.floor(t.max()) + after + 1, theirs.shape[1])
        if lo >= hi or not self.tileset.overlapping(their_rows, slice(lo, hi), other):
            return None
        their_z, their_valid = self._read(their_rows, slice(lo, hi), other)
        if isinstance(their_valid, Holes):
            their_valid = their_valid.valid(their_z)
        if their_valid is None:
            their_valid = np.ones(their_z.shape, dtype=bool)
        value, ok = _interpolate(their_z, their_valid, t - lo)
        fill = ok & ~valid
        if not fill.any():
            return None
        z = z.astype(np.float64)  # a copy: the interpolated values are float64
        z[fill] = value[fill]
        return z, valid | fill

    def _read(self, rows: slice, cols: slice, grid: int) -> tuple[np.ndarray, Validity]:
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        band, mixed = self.tileset.band, self.tileset.mixed
        places = []  # (tile, its window, where in ours)
        for tile in self.tileset.overlapping(rows, cols, grid):
            tr, tc = _intersect(tile, rows, cols)
            window = Window.from_slices(
                slice(tr.start - tile.row_off, tr.stop - tile.row_off),
                slice(tc.start - tile.col_off, tc.stop - tile.col_off),
            )
            where = (slice(tr.start - rows.start, tr.stop - rows.start),
                     slice(tc.start - cols.start, tc.stop - cols.start))
            places.append((tile, window, where))
        disjoint = _disjoint([where for *_, where in places])
        # with no two tiles sharing a pixel, those pixels cover the window or not
        covered = disjoint and sum(
            (w[0].stop - w[0].start) * (w[1].stop - w[1].start) for *_, w in places
        ) == shape[0] * shape[1]
        if len(places) == 1 and covered and not mixed:
            return self._piece(*places[0][:2])  # one tile's window, as read
        dtypes = {read_dtype(self.handle(tile.path), band) for tile, *_ in places}
        if disjoint and not mixed and len(dtypes) == 1:
            return self._stitch(places, shape, dtypes.pop(), covered)
        # tiles that overlap (the first given wins), of different types or units
        pieces = []
        for tile, window, where in places:
            tz, holes = self._piece(tile, window)
            pieces.append((where, tile.vertical.to_metres(tz) if mixed else tz,
                           None if holes is None else holes.valid(tz)))  # in its own type
        dtype = np.result_type(np.float32, *(tz.dtype for _, tz, _ in pieces))
        z = np.zeros(shape, dtype=dtype)
        valid = np.zeros(shape, dtype=bool)
        for where, tz, tvalid in pieces:
            fill = ~valid[where] if tvalid is None else ~valid[where] & tvalid
            z[where][fill] = tz[fill]
            valid[where] |= fill
        return z, valid

    def _piece(self, tile: Tile, window: Window, out: np.ndarray | None = None
               ) -> tuple[np.ndarray, Holes | None]:
        """A window of one tile, as :func:`terrain.io.read_window` reads it."""
        try:
            return read_window(self.handle(tile.path), self.tileset.band, window, out)
        except InputReadError as e:
            e.path = tile.path  # as the tile set names it
            raise

    def _stitch(self, places, shape: tuple[int, int], dtype: np.dtype, covered: bool
                ) -> tuple[np.ndarray, Validity]:
        """Disjoint tiles of one type read straight into the window, with their rule
        where they share one that can also mark the pixels outside every tile, else
        with a validity array."""
        z = np.empty(shape, dtype=dtype)
        rules = []
        for tile, window, where in places:
            rules.append(self._piece(tile, window, z[where])[1])
        inside = None
        if not covered:
            inside = np.zeros(shape, dtype=bool)
            for *_, where in places:
                inside[where] = True
        kinds = {_rule(holes) for holes in rules}
        rule = kinds.pop() if len(kinds) == 1 else _ARRAY
        if rule is not _ARRAY:
            outside = None if covered else _outside(rule, dtype)
            if covered or outside is not None:
                if outside is not None:
                    z[~inside] = outside
                return z, None if rule is None else Holes(*rule)
        # rules that differ, a dataset mask, or none that marks the pixels outside
        valid = np.ones(shape, dtype=bool) if inside is None else inside
        for (*_, where), holes in zip(places, rules, strict=True):
            piece = None if holes is None else holes.valid(z[where])
            if piece is not None:
                valid[where] = piece
        if inside is not None:
            z[~inside] = 0  # never read: no tile holds them
        return z, valid

    def close(self) -> None:
        for src in self._open.values():
            src.close()
        self._open.clear()


#: A window's rule that only a validity array can carry (see :func:`_rule`).
_ARRAY = object()


def _rule(holes: Holes | None) -> tuple[float | None, bool] | object | None:
    """A tile window's nodata rule as (nodata, finite), None where every value is
    data, or :data:`_ARRAY` for a dataset mask (each tile's own, never shared)."""
    if holes is None:
        return None
    if holes.mask is not None:
        return _ARRAY
    return holes.nodata, holes.finite


def _outside(rule: tuple[float | None, bool] | None, dtype: np.dtype) -> float | None:
    """A value of ``dtype`` that ``rule`` takes for nodata, to mark pixels outside
    every tile: the nodata value where ``dtype`` holds it exactly, else NaN where
    non-finite values are nodata; None if there is none (every value is data)."""
    if rule is None:
        return None
    nodata, finite = rule
    if nodata is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            value = np.asarray(nodata, dtype=np.float64).astype(dtype)
        if float(value) == float(nodata):
            return float(value)
    return np.nan if finite else None


def _disjoint(places: list[tuple[slice, slice]]) -> bool:
    """Whether no two of these windows share a pixel."""
    for i, (r, c) in enumerate(places):
        for r2, c2 in places[i + 1:]:
            if r.start < r2.stop and r2.start < r.stop and c.start < c2.stop and c2.start < c.stop:
                return False
    return True


@dataclass(frozen=True)
class _GridSurface:
    """One band's mosaic as a surface for :func:`terrain.pipeline.write_blocks`."""

    mosaic: MosaicSurface
    index: int

    def read(self, rows: slice, cols: slice) -> tuple[np.ndarray, Validity]:
        return self.mosaic.read(rows, cols, self.index)


@dataclass(frozen=True)
class _Job:
    """What every tile's computation shares; pickles for a Dask worker.

    ``out_dir`` is a local folder, or a prefix in object storage (a string).
    ``stop`` names the Dask event that asks the workers to stop, on a cluster.
    ``geometry`` holds one pixel geometry per band of the set (``tileset.grids``).
    """

    tileset: TileSet
    geometry: tuple[PixelGeometry, ...]
    options: Options
    out_dir: Path | str
    block_size: int | None
    cog: bool
    creation_options: dict[str, str] | None = None
    stop: str | None = None
    overwrite: bool = False
    uncertainty_dir: Path | str | None = None  # the standard errors' folder or prefix


def _output(out_dir: Path | str, name: str) -> Path | str:
    """The output named ``name`` in a local folder or under an object-storage prefix."""
    if isinstance(out_dir, str) and storage.is_object_storage(out_dir):
        return storage.join(out_dir, name)
    return Path(out_dir) / name


class _Stopped(Exception):
    """The client asked the workers to stop (a signal on a cluster's client)."""


class _StopFlag:
    """Whether the client set the run's stop event, asked at most every few tenths of a second."""

    EVERY = 0.25  # seconds

    def __init__(self, name: str | None):
        self.name, self.event, self.last, self.set = name, None, 0.0, False

    def __call__(self, *_) -> None:
        """Raise :class:`_Stopped` once the event is set (called between blocks)."""
        if self.name is None or self.set:
            if self.set:
                raise _Stopped
            return
        now = time.monotonic()
        if now - self.last < self.EVERY:
            return
        self.last = now
        try:
            if self.event is None:
                from distributed import Event

                self.event = Event(self.name)
            self.set = self.event.is_set()
        except Exception:  # no client here, scheduler gone: the run goes on
            self.name = None
        if self.set:
            raise _Stopped


def _write_tile(job: _Job, surface: MosaicSurface, index: int,
                stop: _StopFlag | None = None) -> Path | str:
    tileset, options = job.tileset, job.options
    tile = tileset.tiles[index]
    out = _output(job.out_dir, output_name(tile.path))
    block = (job.block_size, job.block_size) if job.block_size else tile.block
    # as for one file: GDAL compresses on the threads only when blocks are whole output tiles
    threads = surface.threads
    profile = profile_for(surface.handle(tile.path), options,
                          threads if all(edge % TILE == 0 for edge in block) else 1,
                          job.creation_options)
    unc = (None if job.uncertainty_dir is None
           else _output(job.uncertainty_dir, output_name(tile.path)))
    with (
        atomic_outputs(out, unc, job.cog, overwrite=job.overwrite) as (tmp, utmp),
        rasterio.open(tmp, "w", **profile) as dst,
        (rasterio.open(utmp, "w", **uncertainty_profile(profile, job.creation_options))
         if utmp else contextlib.nullcontext()) as udst,
    ):
        geometry = job.geometry[tile.grid]
        vertical = tile.vertical if tileset.mixed else tileset.vertical
        own = geometry.window(slice(tile.row_off, tile.row_off + tile.height),
                              slice(tile.col_off, tile.col_off + tile.width))
        describe(dst, options, vertical, own)
        if udst is not None:
            describe_uncertainty(udst, options, vertical, own)
        if len(tileset.grids) > 1:
            for d in (dst, udst) if udst is not None else (dst,):
                d.update_tags(TERRAIN_BAND_EDGES=",".join(tileset.band_edges(tile)) or "none")
        write_blocks(dst, surface.grid(tile.grid), tileset.grids[tile.grid].shape, geometry,
                     options,
                     (tile.row_off, tile.col_off, tile.height, tile.width), block, threads,
                     progress=stop, uncertainty=udst)
    return out


def _tile_results(job: _Job, indices: Iterable[int], surface: MosaicSurface | None = None,
                  threads: int = 1):
    """Tiles one after another, sharing open neighbours and GDAL's cache.

    ``surface`` is the worker's own, kept from one call to the next (else one
    for these tiles, on ``threads`` threads, closed at the end).

    Yields (index, error message or None, path of the tile whose data could not
    be read or None) as each tile is written. A failed write raises: the
    next tiles would fail as this one did (no space, read-only folder...);
    a failed upload is this tile's error (the server may answer the next).
    On a cluster, the client's stop event ends the run between blocks, the
    tile in progress removed.
    """
    global _busy
    own = surface is None
    if own:
        surface = MosaicSurface(job.tileset, threads)
    paths = [tile.path for tile in job.tileset.tiles]
    out = [job.out_dir] if isinstance(job.out_dir, str) else []
    stop = _StopFlag(job.stop)
    try:
        for index in indices:
            if _stopped:
                return
            error = culprit = None
            try:
                stop()
                _busy = True
                with reading_env(paths + out):
                    _write_tile(job, surface, index, stop)
            except _Stopped:
                return
            except UploadError as e:
                error = _reason(e)
            except OutputWriteError:
                raise
            except InputReadError as e:  # this tile's data or a neighbour's
                error, culprit = e.problem, e.path
            except Exception as e:  # reported per tile; the others go on
                error = _reason(e)
            finally:
                _busy = False
            yield index, error, culprit
    finally:
        if own:
            surface.close()
        if out:  # uploads whose abort got no answer: once more, at the end
            with contextlib.suppress(Exception):
                storage.abort_pending()


#: In a worker process: writing a tile now, the signals received, and the
#: process that started it (None outside terrain's own worker processes).
_busy = False
_stopped: list[int] = []
_parent: int | None = None

#: In a worker process of :func:`_map_tiles`: the run's job, the lanes that
#: hand out its tiles, the threads each tile gets, and the surface its tiles
#: share (open files, GDAL's cache) from one task to the next.
_worker_job: _Job | None = None
_worker_lanes: _Lanes | None = None
_worker_threads = 1
_worker_surface: MosaicSurface | None = None

#: prctl's option that sends a signal to this process when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def _worker_start(parent: int, job: _Job | None = None, lanes: _Lanes | None = None,
                  threads: int = 1) -> None:
    """A worker process's start: its signals, its death with its parent, and the
    run's job, whose tiles ``lanes`` hand it (see :func:`_pulled_tiles`).

    Signals stop it between tiles, or raise within one (see
    :func:`_worker_signal`). Raising only within a tile (whose temporary output
    is then removed) keeps the signal out of the pool's own queues, whose locks
    a worker stopped there would hold for ever. However the parent ends, even
    by SIGKILL, the worker gets SIGTERM (``PR_SET_PDEATHSIG`` on Linux; a
    thread watching the parent elsewhere) and stops as it would on SIGTERM.
    """
    global _parent, _worker_job, _worker_lanes, _worker_threads
    _parent = parent
    _worker_job, _worker_lanes, _worker_threads = job, lanes, threads
    _worker_signals()
    if not _die_with_parent():
        threading.Thread(target=_watch_parent, daemon=True).start()
    if os.getppid() != parent:  # the parent died before that was in place
        os._exit(128 + signal.SIGTERM)
    # blocked by the parent while it started this process (see _map_tiles)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _signals.SIGNALS)


def _die_with_parent() -> bool:
    """Ask Linux to send SIGTERM to this process when its parent dies; whether it will."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        return prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent() -> None:
    while os.getppid() == _parent:
        time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGTERM)


def _orphaned() -> bool:
    return _parent is not None and os.getppid() != _parent


def _worker_signals() -> None:
    """A worker process's signals stop it between tiles, or raise within one."""
    for s in _signals.SIGNALS:
        signal.signal(s, _worker_signal)


def _worker_signal(signum, frame):
    global _busy
    if _busy and _signals.defer_if_unsafe(signum, frame):
        return
    if not _busy and _orphaned():
        os._exit(128 + signum)  # no temporary output is open between tiles
    _stopped.append(signum)
    if _busy:
        _busy = False
        raise _signals.Interrupted(signum)


def _write_tiles(job: _Job, indices: Iterable[int], surface: MosaicSurface | None = None
                 ) -> list[tuple[int, str | None, str | None]]:
    """:func:`_tile_results` in a worker process or on a Dask worker (it pickles).

    A worker whose parent died exits once its temporary output is removed.
    """
    try:
        return list(_tile_results(job, indices, surface))
    except BaseException as e:
        if _orphaned():
            os._exit(e.code if isinstance(e, _signals.Interrupted) else 1)
        raise


def _pulled_tiles(count: int) -> list[tuple[int, str | None, str | None]]:
    """Up to ``count`` tiles of the worker's lanes (fewer once none is left), computed
    as :func:`_write_tiles` computes them, on the worker's surface."""
    global _worker_surface
    if _worker_surface is None:
        _worker_surface = MosaicSurface(_worker_job.tileset, _worker_threads)

    def taken():
        for _ in range(count):
            index = _worker_lanes.take()
            if index is None:
                return
            yield index

    return _write_tiles(_worker_job, taken(), _worker_surface)


class _Lanes:
    """Tiles handed out to worker processes as they ask, halos read once.

    The tiles, in :func:`_order`, are cut into one lane (a run of neighbours)
    per worker. A worker takes its lane's tiles from its front, one after
    another, so that each tile's halo is in blocks its neighbours decoded
    moments before in the same process; once its lane is done, it takes the
    tiles at the back of the lane with most left, where that lane's own
    worker will not be for a while. Only where lanes meet are a halo's blocks
    decoded twice, once by each process; every worker has a tile while any
    is left. The counters are shared memory (inherited, for fork and spawn).
    """

    def __init__(self, order: Sequence[int], lanes: int, context):
        self.order = list(order)
        bounds = [round(i * len(self.order) / lanes) for i in range(lanes + 1)]
        # [front, back) of each lane, then the next lane a worker claims
        self.state = context.Array(
            "q", [b for i in range(lanes) for b in (bounds[i], bounds[i + 1])] + [0])
        self.lane: int | None = None  # this process's

    def take(self) -> int | None:
        """The next tile for this process, None once every tile is handed out."""
        state = self.state
        lanes = (len(state) - 1) // 2
        with state.get_lock():
            if self.lane is None:
                self.lane = state[-1] % lanes
                state[-1] += 1
            front = 2 * self.lane
            if state[front] < state[front + 1]:
                state[front] += 1
                return self.order[state[front] - 1]
            most = max(range(lanes), key=lambda k: state[2 * k + 1] - state[2 * k])
            if state[2 * most] >= state[2 * most + 1]:
                return None
            state[2 * most + 1] -= 1
            return self.order[state[2 * most + 1]]


def _order(tileset: TileSet, indices: Iterable[int]) -> list[int]:
    """The tiles in an order in which each tile's neighbours come shortly before or after it.

    Band by band (north first), in stripes of tiles whose west edges fall
    within as many tile widths as GDAL's cache (:data:`terrain.io.CACHE_MB`)
    holds three of (a stripe's row of tiles, the halo blocks of the row
    below, room for the outputs'), row by row within a stripe, west to east:
    as a single file's blocks are read. A tile's halo is then in blocks its
    neighbours decoded moments before, still cached, and the blocks a
    neighbour decoded for the halo are cached when that neighbour is computed.
    """
    tiles = tileset.tiles
    height = int(np.median([t.height for t in tiles]))
    width = int(np.median([t.width for t in tiles]))
    per_stripe = max(1, CACHE_MB * 2**20 // (3 * 4 * height * width))  # float32 tiles
    stripe = max(1, per_stripe * width)

    def place(i):
        t = tiles[i]
        return (tileset.grids[t.grid].row_off, t.grid, t.col_off // stripe, t.row_off,
                t.col_off, i)

    return sorted(indices, key=place)


def _groups(indices: Sequence[int], workers: int) -> list[list[int]]:
    """Runs of consecutive tiles, a few per worker: neighbours in the given order
    (:func:`_order`) then share the decoded blocks of their common edges."""
    size = _per_task(len(indices), workers)
    return [list(indices[i:i + size]) for i in range(0, len(indices), size)]


def _per_task(tiles: int, workers: int) -> int:
    """Tiles a worker computes before it reports them (and the progress moves)."""
    return max(1, min(16, tiles // (4 * workers)))


def run_tiles(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    options: Options,
    *,
    band: int = 1,
    block_size: int | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    cog: bool = False,
    creation_options: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    uncertainty: str | os.PathLike | None = None,
) -> list[tuple[str, str]]:
    """Compute every tile of a seamless set into ``out_dir``, one output each.

    With ``options.z_sigma`` (a number of metres, or ``fit``: a sigma raster is
    one file on one DEM's grid, refused for a set), each tile's standard errors
    go to the folder (or object-storage prefix) ``uncertainty``, under the
    tile's output name, written as the outputs are.

    Returns the tiles that failed, as (path, reason); the others are written.
    A tile whose data can't be read, when opened or part-way, fails, and its
    neighbours treat it as a gap (those computed with its data are computed
    again without it). Raises before writing anything if the set is not on one
    grid, or an output exists (without ``overwrite``) or would overwrite an
    input; raises :class:`OutputWriteError` when an output can't be written
    (the next would fail as well), keeping the tiles written before it.
    """
    jobs = check_work(jobs, block_size, band)
    if not os.fspath(out_dir):  # pathlib would take "" as the current folder
        raise UsageError("the output folder's name is empty: name a folder ('.' for this one)")
    check_local_output(out_dir)
    check_uncertainty(options, uncertainty, out_dir)
    if options.z_sigma is not None and options.z_sigma.raster is not None:
        raise UsageError(
            f"--z-sigma {printable(options.z_sigma.raster)}: a sigma raster is on one DEM's "
            "grid; for a tile set give a number of metres or fit")
    unc_dir = None
    if uncertainty is not None:
        if not os.fspath(uncertainty):
            raise UsageError("the standard errors' folder's name is empty: name a folder")
        check_local_output(uncertainty)
        unc_remote = storage.is_object_storage(uncertainty)
        unc_dir = (os.fspath(uncertainty).rstrip("/") if unc_remote else Path(uncertainty))
        same = (os.fspath(unc_dir) == os.fspath(out_dir).rstrip("/") if unc_remote
                else Path(unc_dir).resolve() == Path(out_dir).resolve())
        if same:
            raise UsageError(f"{printable(uncertainty)}: the standard errors need a folder of "
                             "their own (--uncertainty), not --out-dir: their names are the "
                             "outputs'")
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]  # one path or pattern, not its characters
    paths = expand(inputs)
    if not paths:
        raise InputNotFoundError("no input tile given")
    remote = storage.is_object_storage(out_dir)
    out_dir = os.fspath(out_dir).rstrip("/") if remote else Path(out_dir)
    _check_outputs(paths, out_dir, overwrite)
    if unc_dir is not None:
        _check_outputs(paths, unc_dir, overwrite)
    tileset = TileSet.open(paths, band, options.z_factor, halo=0)
    _check_outputs(paths, out_dir, overwrite, tileset.files)
    if unc_dir is not None:
        _check_outputs(paths, unc_dir, overwrite, tileset.files)
    options = options.with_vertical(tileset.vertical)
    for grid in tileset.grids:
        if min(grid.shape) < 2:
            where = "the tile set" if len(tileset.grids) == 1 else "a latitude band of the set"
            raise RasterTooSmallError(
                f"{where} covers {grid.shape[0]}x{grid.shape[1]} pixels: "
                "a slope needs at least 2 pixels along each axis"
            )
    tileset = tileset.with_halo(_halo(tileset, options))
    geometry = tuple(grid.geometry(tileset.crs, "the tile set") for grid in tileset.grids)
    for grid, geo in zip(tileset.grids, geometry, strict=True):
        options.check_fit_window(geo, grid.shape[0])
    if block_size is not None:
        tallest = max(t.height for t in tileset.tiles)
        widest = max(t.width for t in tileset.tiles)
        check_block((block_size, block_size), (tallest, widest))
    creation_options = _creation_options(creation_options, cog)
    if creation_options:
        sample = tileset.tiles[0].path
        with open_raster(sample) as src:
            check_profile(profile_for(src, options, 1, creation_options),
                          _output(out_dir, output_name(sample)))
    made_dir = not remote and not out_dir.exists()
    made_unc = isinstance(unc_dir, Path) and not unc_dir.exists()
    for folder in (out_dir, unc_dir):
        if isinstance(folder, Path):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputWriteError(f"{printable(folder)}: {_os_reason(e)}") from None
    job = _Job(tileset, geometry, options, out_dir if remote else out_dir.resolve(),
               block_size, cog, creation_options, overwrite=overwrite,
               uncertainty_dir=unc_dir.resolve() if isinstance(unc_dir, Path) else unc_dir)
    total = len(paths)
    done = len(tileset.bad)
    if progress is not None and done:
        progress(done, total)
    errors: dict[str, str] = {}  # the last error of each tile, by path
    unreadable: dict[str, str] = {}
    todo: Sequence[int] = range(len(tileset.tiles))
    first = True
    try:
        while todo:
            for index, error, culprit in _map_tiles(job, todo, jobs, scheduler):
                path = job.tileset.tiles[index].path
                errors.pop(path, None)
                if culprit is not None:
                    unreadable.setdefault(culprit, error)
                elif error is not None:
                    errors[path] = error
                if first:
                    done += 1
                    if progress is not None:
                        progress(done, total)
            # tiles computed with an unreadable tile's data, again with it as a gap
            gaps = [p for p in unreadable if any(t.path == p for t in job.tileset.tiles)]
            neighbours = {t.path for p in gaps for t in _near(job, p)} - set(gaps)
            # computed again: this run's own outputs are replaced
            job = replace(job, tileset=job.tileset.without(gaps), overwrite=True)
            todo = [i for i, t in enumerate(job.tileset.tiles) if t.path in neighbours]
            first = False
    except BaseException:
        for made, folder in ((made_dir, out_dir), (made_unc, unc_dir)):
            if made:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty
        raise
    order = {path: i for i, path in enumerate(paths)}
    failed = [*tileset.bad, *unreadable.items(), *errors.items()]
    if not remote:
        warn_side_car(out_dir / output_name(t.path) for t in tileset.tiles)
    if isinstance(unc_dir, Path):
        warn_side_car(unc_dir / output_name(t.path) for t in tileset.tiles)
    return sorted(failed, key=lambda item: order.get(item[0], len(order)))


def _halo(tileset: TileSet, options: Options) -> int:
    """Rows of context the estimator reads beside a pixel, the most any band's rows need:
    how far a band's mosaic reaches across its edges (:func:`terrain.core.halo`)."""
    if len(tileset.grids) == 1 or options.window is None:
        return core.HALO  # no band edge, or a 3x3 method
    reach = core.HALO
    for grid in tileset.grids:
        sizes = options.window_shape(grid.geometry(tileset.crs, "the tile set"), grid.shape[0])
        reach = max(reach, core.halo(None if sizes is None else sizes[:, 0]))
    return reach


def _near(job: _Job, path: str) -> list[Tile]:
    """The tiles that read ``path``'s data: those within the estimator's reach of it,
    in its band, and in other bands those whose halo across their edge reaches it.

    A window fit reads up to a window less one pixel away (where it is moved
    inward at the mosaic's edge); the 3x3 methods :data:`HALO` pixels.
    """
    tileset = job.tileset
    tile = next(t for t in tileset.tiles if t.path == path)
    sizes = job.options.window_shape(job.geometry[tile.grid],
                                     tileset.grids[tile.grid].shape[0])
    reach_rows, reach_cols = ((HALO, HALO) if sizes is None
                              else (max(HALO, int(sizes[:, 0].max()) - 1),
                                    max(HALO, int(sizes[:, 1].max()) - 1)))
    near = tileset.overlapping(
        slice(max(tile.row_off - reach_rows, 0), tile.row_off + tile.height + reach_rows),
        slice(max(tile.col_off - reach_cols, 0), tile.col_off + tile.width + reach_cols),
        tile.grid,
    )
    r0, r1, west, east = tileset.box(tile)
    # an other band's tile reads this one within its halo across the edge, and
    # the estimator's and the interpolation's reach beyond it along the rows
    halo = tileset.halo
    reach = (reach_cols + sum(_ACROSS_REACH) + 1) * max(grid.transform.a
                                                        for grid in tileset.grids)
    return near + tileset.across(tile, (r0 - halo, r1 + halo), west - reach, east + reach)


def _check_outputs(paths: list[str], out_dir: Path | str, overwrite: bool,
                   inputs: dict[tuple[int, int], str] | None = None) -> None:
    """Refuse an output name that is not a file name, or two inputs with one output;
    then each output as :func:`terrain.io.check_target` does: ``inputs`` are
    the files the set reads (those the paths name until the tiles are open).
    Under an object-storage prefix, the store is asked."""
    names: dict[str, str] = {}
    for path in paths:
        name = output_name(path)
        if name in names:
            raise OutputExistsError(
                f"{printable(path)} and {printable(names[name])} would both be written to "
                f"{printable(_output(out_dir, name))}"
            )
        names[name] = path
    if isinstance(out_dir, str):  # in object storage: ask the store
        if inputs is None:
            storage.check_targets([_output(out_dir, name) for name in names], overwrite)
        return
    for name, path in names.items():
        out = out_dir / name
        if out.is_dir():
            raise OutputExistsError(
                f"{printable(out)}: is a folder, where {printable(path)}'s output would go")
        check_target(out, overwrite, _path_files(path) if inputs is None else inputs,
                     _identity(path) if is_local(path) else None)


def _reason(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def _map_tiles(job: _Job, indices, jobs: int, scheduler: str | None):
    """Yield (index, error message or None) as tiles finish.

    Tiles run one after another in this process (``jobs`` = 1, or one tile), in
    lanes of neighbours on ``jobs`` worker processes (:class:`_Lanes`), or in runs
    of neighbours on a Dask cluster. Processes,
    not threads: each writes its own files, and GDAL's block cache must not
    flush one thread's output from another thread.
    """
    order = _order(job.tileset, indices)
    if scheduler is not None:
        yield from _on_cluster(job, order, scheduler)
        return
    workers = min(jobs, len(order))  # never more workers than tiles to give them
    # fewer workers than cores: each decodes, computes and compresses on several
    # threads, as a single file does
    threads = max(1, min(jobs, default_jobs()) // max(1, workers))
    if workers <= 1:
        yield from _tile_results(job, order, threads=threads)
        return
    # fork starts a worker at once, with the library loaded; it is safe only
    # while this process runs no other thread (a lock held elsewhere would be
    # copied locked), else spawn, which starts workers afresh.
    forkable = "fork" in multiprocessing.get_all_start_methods()
    # nor while GDAL may keep a connection open from reading the tiles' metadata or
    # asking the store about the outputs: two forked workers would write to one
    # stream (over TLS, the server saw a "bad record mac", GDAL a decoding error)
    network = isinstance(job.out_dir, str) or any(is_network(t.path)
                                                  for t in job.tileset.tiles)
    method = "fork" if forkable and threading.active_count() == 1 and not network else "spawn"
    context = multiprocessing.get_context(method)
    try:
        lanes = _Lanes(order, workers, context)
    except OSError as e:  # its shared counters' lock: a semaphore limit
        raise _start_failed(workers, e) from None
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start,
                               initargs=(os.getpid(), job, lanes, threads))
    count = _per_task(len(order), workers)
    futures = []
    manager_failures: list[BaseException] = []
    hook = threading.excepthook

    def manager_failed(args):  # the pool's own thread could not go on (start a thread...)
        if args.thread is getattr(pool, "_executor_manager_thread", None):
            manager_failures.append(args.exc_value)
        else:
            hook(args)

    threading.excepthook = manager_failed
    try:
        # the signals wait while workers start: a worker starts with this process's
        # handlers, and one run before it has its own would print a traceback
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _signals.SIGNALS)
        try:
            futures += [pool.submit(_pulled_tiles, count)
                        for _ in range(math.ceil(len(order) / count))]
        except (OSError, RuntimeError) as e:  # fork failed: a process or memory limit
            raise _start_failed(workers, e) from None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for future in _completed(futures, pool, manager_failures):
            try:
                results = future.result()
            except BrokenProcessPool:
                raise TerrainError(
                    "a worker process died (killed by the system: out of memory?); "
                    "the tiles it was computing were not written"
                ) from None
            yield from results
    except BaseException:
        _stop_pool(pool, futures)
        raise
    finally:
        threading.excepthook = hook
    pool.shutdown(wait=True)


def _start_failed(workers: int, e: BaseException) -> TerrainError:
    reason = _os_reason(e) if isinstance(e, OSError) else str(e)
    return TerrainError(
        f"cannot start {workers} worker processes ({reason}): "
        "lower --jobs, or raise the process limit (ulimit -u)"
    )


def _completed(futures, pool: ProcessPoolExecutor, manager_failures: list):
    """The futures as they complete, as ``as_completed``; raise if the pool's
    own thread died (it could not start a thread: a process limit)."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
        yield from done
        if done or not pending:
            continue
        manager = getattr(pool, "_executor_manager_thread", None)
        if manager_failures or (manager is not None and manager.ident is not None
                                and not manager.is_alive()):
            reason = manager_failures[0] if manager_failures else RuntimeError("it stopped")
            raise _start_failed(pool._max_workers, reason)


def _stop_pool(pool: ProcessPoolExecutor, futures) -> None:
    """Stop the workers' tiles now: a failed write or start, a dead worker or a signal.

    Each worker removes its temporary output as it stops (see
    :func:`_worker_start`). Workers the pool can no longer tell to exit (its
    own thread is gone, or never started) are killed once they had a moment
    to do so.
    """
    for future in futures:
        future.cancel()
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    started = manager is not None and manager.ident is not None  # else no tile started
    for process in processes if started else ():
        with contextlib.suppress(OSError, AttributeError):
            process.terminate()
    if started and manager.is_alive():
        pool.shutdown(wait=True, cancel_futures=True)
        return
    # a second for a tile's temporary output to go, unless no tile ever started
    deadline = time.monotonic() + (1 if started else 0)
    for process in processes:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
            process.join()
    with contextlib.suppress(Exception):
        pool.shutdown(wait=False, cancel_futures=True)


def _on_cluster(job: _Job, indices, scheduler: str):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UsageError(
            "--scheduler needs Dask distributed: pip install 'terrain-dem[dask]' "
            "(or '.[dask]' from a checkout)"
        ) from None
    from distributed import Event, wait

    with Client(scheduler) as client:
        stop = Event(f"terrain-stop-{uuid.uuid4().hex}", client=client)
        job = replace(job, stop=stop.name)
        shared = client.scatter(job, broadcast=True)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        groups = _groups(indices, workers)
        futures = {client.submit(_write_tiles, shared, group, pure=False): group
                   for group in groups}
        try:
            for future in as_completed(futures):
                if future.status == "error":
                    if isinstance(future.exception(), OutputWriteError) and not isinstance(
                            future.exception(), UploadError):
                        raise future.exception()
                    reason = _reason(future.exception())
                    yield from ((index, reason, None) for index in futures[future])
                else:
                    yield from future.result()
        except BaseException:
            # a signal or a failed write: the workers stop between blocks, removing
            # their tile in progress (and aborting its upload); wait for them, so
            # that nothing changes once this run has ended
            with contextlib.suppress(Exception):
                stop.set()
                wait(list(futures), timeout=STOP_WAIT)
            for future in futures:
                future.cancel()
            raise


#: Seconds a cluster's client waits, when stopped, for its workers to stop their tiles.
STOP_WAIT = 60
