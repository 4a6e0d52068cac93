"""Synthetic DEM generator for the benchmarks.

The terrain is a sum of octaves of smooth value noise: each octave is a coarse
random grid (fixed seed) upsampled with a cubic B-spline, the finer octaves
folded into ridges.  Rows are generated strip by strip from global pixel
coordinates, so the result is deterministic, seamless across strips, and the
whole DEM is never held in memory.

With ``--geographic`` the same terrain lies on a lat/lon grid (EPSG:4326) of
1/3 arc-second pixels, about 10 m north-south and 7 m east-west at 47 N, as
USGS 3DEP's 1/3 arc-second DEMs are.

Usage: ``python bench/make_dem.py OUT.tif --size 8192 [--seed 0] [--holes]
[--tiles N] [--geographic]``
"""

import argparse
import os
from pathlib import Path

import numpy as np
import rasterio
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.transform import from_origin
from rasterio.windows import Window

NODATA = -9999.0
PIXEL = 10.0                          # metres
ORIGIN = (500_000.0, 5_500_000.0)     # top-left corner, UTM 33N
GEOGRAPHIC_PIXEL = 1 / 10800          # degrees: 1/3 arc-second
GEOGRAPHIC_ORIGIN = (10.0, 47.5)      # top-left corner, lon and lat
BLOCK = 512                           # tile size, also the strip height
SPACINGS = [2 ** k for k in range(12, 2, -1)]   # octaves of 4096 .. 8 pixels
RIDGES = 512                          # octaves this fine and finer are ridged
MASK_SPACING = 2048                   # scale of the mountain / lowland pattern
AMPLITUDE = 900.0                     # metres, of octaves of 1024 pixels or more
ROUGHNESS = 0.75                      # amplitude ~ spacing ** ROUGHNESS
BASE = 1000.0                         # metres
PROFILE = dict(
    driver="GTiff", dtype="float32", count=1, crs="EPSG:32633",
    nodata=NODATA, tiled=True, blockxsize=BLOCK, blockysize=BLOCK,
    compress="deflate", predictor=3, bigtiff="IF_SAFER",
)


def _bspline_weights(f: np.ndarray) -> np.ndarray:
    """Cubic B-spline weights of the 4 knots around fractions ``f``, shape (len(f), 4)."""
    f = np.asarray(f, dtype=np.float32)[:, None]
    return np.hstack([
        (1 - f) ** 3,
        3 * f ** 3 - 6 * f ** 2 + 4,
        -3 * f ** 3 + 3 * f ** 2 + 3 * f + 1,
        f ** 3,
    ]) / 6


class _Octave:
    """One octave: a coarse uniform [-1, 1] grid with knots every ``spacing`` pixels."""

    def __init__(self, size: int, spacing: int, rng: np.random.Generator):
        self.spacing = spacing
        self.offset_y, self.offset_x = rng.integers(0, spacing, 2)
        n = -(-(size + spacing) // spacing) + 3
        self.grid = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        self.wx = _bspline_weights(np.arange(spacing) / spacing).T   # (4, spacing)

    def rows(self, row0: int, nrows: int, ncols: int) -> np.ndarray:
        """Noise values of rows ``row0 .. row0 + nrows`` and columns ``0 .. ncols``."""
        s = self.spacing
        y = np.arange(row0, row0 + nrows) + self.offset_y
        cell, wy = y // s, _bspline_weights((y % s) / s)
        # Interpolate along y (coarse columns only), then along x one cell at
        # a time: (rows, cells, 4 knots) @ (4 knots, s pixels).
        tmp = sum(wy[:, k, None] * self.grid[cell + k] for k in range(4))
        ncells = -(-(ncols + self.offset_x) // s)
        knots = sliding_window_view(tmp, 4, axis=1)[:, :ncells]
        out = (knots @ self.wx).reshape(nrows, ncells * s)
        return out[:, self.offset_x:self.offset_x + ncols]


def _holes(size: int, rng: np.random.Generator, count: int = 8) -> tuple[np.ndarray, int]:
    """Centres (row, col) and radius of ``count`` circular nodata holes."""
    return rng.integers(0, size, (count, 2)), size // 64 + 1


def _strip(octaves: list[_Octave], mask: _Octave, row0: int, nrows: int,
           ncols: int) -> np.ndarray:
    """Elevation in metres (0 to about 2500) of one strip of rows.

    Smooth coarse octaves make the broad relief; the ridged fine octaves are
    scaled by the ``mask`` octave, which sets mountains apart from lowlands.
    """
    m = np.clip(mask.rows(row0, nrows, ncols) * np.float32(3) + np.float32(0.5), 0, 1)
    m = np.float32(0.15) + np.float32(0.85) * m * m * (3 - 2 * m)
    z = np.full((nrows, ncols), BASE, np.float32)
    for octave in octaves:
        amp = np.float32(AMPLITUDE * min(octave.spacing / 1024, 1) ** ROUGHNESS)
        noise = octave.rows(row0, nrows, ncols)
        if octave.spacing > RIDGES:
            z += amp * noise
        else:
            z += amp * m * (np.float32(0.5) - np.abs(noise))
    return np.maximum(z, 0, out=z)


def write_dem(path: str | Path, size: int, seed: int = 0, holes: bool = False,
              geographic: bool = False) -> None:
    """Write a ``size`` x ``size`` synthetic DEM GeoTIFF to ``path``.

    Parameters
    ----------
    path : str or Path
        Output file; written under a temporary name, then renamed.
    size : int
        Width and height in pixels (10 m each).
    seed : int
        Seed of the terrain (and holes); the same seed gives the same DEM.
    holes : bool
        Cut a few circular nodata holes.
    geographic : bool
        Lay the terrain on a lat/lon grid of 1/3 arc-second pixels (EPSG:4326).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    octaves = [_Octave(size, s, np.random.default_rng([seed, s])) for s in SPACINGS]
    mask = _Octave(size, MASK_SPACING, np.random.default_rng([seed, 0]))
    centres, radius = _holes(size, np.random.default_rng([seed, 1])) if holes else ([], 0)
    transform = (from_origin(*GEOGRAPHIC_ORIGIN, GEOGRAPHIC_PIXEL, GEOGRAPHIC_PIXEL)
                 if geographic else from_origin(*ORIGIN, PIXEL, PIXEL))
    profile = dict(PROFILE, width=size, height=size, transform=transform,
                   crs="EPSG:4326" if geographic else PROFILE["crs"], num_threads="ALL_CPUS")
    # A small block cache makes GDAL flush each strip's tiles as it goes.
    with rasterio.Env(GDAL_CACHEMAX=64), rasterio.open(tmp, "w", **profile) as dst:
        for row0 in range(0, size, BLOCK):
            nrows = min(BLOCK, size - row0)
            z = _strip(octaves, mask, row0, nrows, size)
            rows, cols = np.ogrid[row0:row0 + nrows, 0:size]
            for cy, cx in centres:
                z[(rows - cy) ** 2 + (cols - cx) ** 2 < radius ** 2] = NODATA
            dst.write(z, 1, window=Window(0, row0, size, nrows))
    os.replace(tmp, path)


def cut_tiles(path: str | Path, outdir: str | Path, n: int) -> list[Path]:
    """Cut the DEM at ``path`` into an ``n`` x ``n`` grid of GeoTIFF tiles.

    Tiles are named ``tile_ROW_COL.tif`` in ``outdir`` and written with the
    creation options of ``write_dem``; the DEM's sides must be divisible by ``n``.

    Returns
    -------
    list of Path
        The tile files, row by row.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    tiles = []
    with rasterio.open(path) as src:
        if src.width % n or src.height % n:
            raise ValueError(f"{src.width}x{src.height} is not divisible by {n}")
        tw, th = src.width // n, src.height // n
        for i in range(n):
            for j in range(n):
                window = Window(j * tw, i * th, tw, th)
                profile = dict(PROFILE, crs=src.crs, nodata=src.nodata, width=tw, height=th,
                               transform=src.window_transform(window))
                tiles.append(outdir / f"tile_{i:02d}_{j:02d}.tif")
                with rasterio.open(tiles[-1], "w", **profile) as dst:
                    dst.write(src.read(1, window=window), 1)
    return tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output GeoTIFF")
    parser.add_argument("--size", type=int, default=8192, help="side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holes", action="store_true", help="cut a few nodata holes")
    parser.add_argument("--tiles", type=int, metavar="N",
                        help="also cut it into N x N tiles in OUT's stem + '_tiles'")
    parser.add_argument("--geographic", action="store_true",
                        help="on a lat/lon grid of 1/3 arc-second pixels (EPSG:4326)")
    args = parser.parse_args()
    write_dem(args.out, args.size, args.seed, args.holes, args.geographic)
    if args.tiles:
        out = Path(args.out)
        cut_tiles(out, out.with_name(out.stem + "_tiles"), args.tiles)


if __name__ == "__main__":
    main()
