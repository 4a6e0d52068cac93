"""Reading DEMs and writing results with rasterio.

Inputs are opened read-only and never modified. Outputs are float32 GeoTIFFs
on the input's grid, written to a temporary file beside the target and
renamed into place only once complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from terrain.errors import (
    BadInputError,
    InputNotFoundError,
    NotARasterError,
    OutputExistsError,
)

__all__ = [
    "NODATA",
    "atomic_output",
    "check_output",
    "open_dem",
    "output_profile",
    "read_window",
]

#: Output nodata unless the user chooses another value.
NODATA = -9999.0

#: Output tile edge, pixels; processing blocks are multiples of it.
TILE = 256

#: GDAL's block cache while streaming, MiB (rasterio's Env takes it in bytes:
#: a bare 32 would be 32 bytes). It should hold one row of input blocks
#: across a 4096-pixel stripe (a block's halo decodes the next row's blocks,
#: which the next block row reads again) and the output blocks being filled;
#: a smaller cache only makes GDAL decode some blocks twice. Peak memory is
#: this plus a few blocks in flight, whatever the raster's size.
CACHE_MB = 32


def open_dem(path: str | os.PathLike, band: int = 1) -> rasterio.DatasetReader:
    """Open a DEM read-only, checking that it is a raster with this band."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file")
    try:
        src = rasterio.open(path)
    except RasterioIOError:
        raise NotARasterError(
            f"{path}: not a raster GDAL can read (GeoTIFF, ASCII grid, DTED, ...)"
        ) from None
    if not 1 <= band <= src.count:
        src.close()
        raise BadInputError(
            f"{path}: band {band} out of range: the file has {src.count} "
            f"band{'s' if src.count > 1 else ''}"
        )
    return src


def read_window(
    src: rasterio.DatasetReader, band: int, window: Window
) -> tuple[np.ndarray, np.ndarray | None]:
    """Elevations (float64) and validity of a window; None means all valid.

    Nodata comes from the file: its nodata value (an integer sentinel such as
    -32768, 0 on uint16, or NaN), NaN in float rasters, or a dataset mask.
    """
    z = src.read(band, window=window, out_dtype=np.float64)
    valid = None
    nodata = src.nodatavals[band - 1]
    if nodata is not None and not np.isnan(nodata):
        valid = z != nodata
    if np.issubdtype(src.dtypes[band - 1], np.floating):
        finite = np.isfinite(z)
        valid = finite if valid is None else valid & finite
    if MaskFlags.per_dataset in src.mask_flag_enums[band - 1]:
        mask = src.read_masks(band, window=window) > 0
        valid = mask if valid is None else valid & mask
    return z, valid


def output_profile(src: rasterio.DatasetReader, count: int, jobs: int,
                   dtype: str = "float32", nodata: float = NODATA) -> dict:
    """Creation options of a result on ``src``'s grid: tiled, DEFLATE."""
    return {
        "driver": "GTiff",
        "dtype": dtype,
        "count": count,
        "width": src.width,
        "height": src.height,
        "crs": src.crs,
        "transform": src.transform,
        "nodata": nodata,
        "tiled": True,
        "interleave": "band",
        "blockxsize": TILE,
        "blockysize": TILE,
        "compress": "deflate",
        # the floating-point predictor for float results, horizontal for bytes
        "predictor": 3 if dtype.startswith("float") else 2,
        "bigtiff": "if_safer",
        "num_threads": str(jobs),
    }


def check_output(src_path: str | os.PathLike, dst_path: str | os.PathLike,
                 overwrite: bool) -> None:
    """Refuse an output that exists (unless ``overwrite``) or is the input."""
    src_path, dst_path = Path(src_path), Path(dst_path)
    if dst_path.exists() and src_path.exists() and dst_path.samefile(src_path):
        raise OutputExistsError(f"{dst_path}: the output would overwrite the input")
    if dst_path.exists() and not overwrite:
        raise OutputExistsError(f"{dst_path}: exists; pass --overwrite to replace it")
    if not dst_path.parent.is_dir():
        raise OutputExistsError(f"{dst_path.parent}: no such folder for the output")


@contextlib.contextmanager
def atomic_output(
    dst_path: str | os.PathLike, cog: bool = False, jobs: int = 1
) -> Iterator[str]:
    """Yield a temporary path beside ``dst_path``; rename it there on success.

    On any exception (including KeyboardInterrupt) the temporary file is
    removed and ``dst_path`` is left as it was. With ``cog``, the finished
    GeoTIFF is translated to a Cloud-Optimized GeoTIFF before the rename.
    """
    dst_path = Path(dst_path)
    fd, tmp = tempfile.mkstemp(
        dir=dst_path.parent, prefix=f".{dst_path.name}.", suffix=".tmp"
    )
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; outputs are ordinary files
    made = [tmp]
    try:
        yield tmp
        if cog:
            made.append(tmp + ".cog")
            rasterio.shutil.copy(
                tmp, made[-1], driver="COG", compress="deflate", predictor="yes",
                bigtiff="if_safer", num_threads=str(jobs),
            )
        os.replace(made[-1], dst_path)
        made.pop()
    finally:
        for path in made:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
