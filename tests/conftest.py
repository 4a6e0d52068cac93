"""Factory fixtures: small GeoTIFFs written on the fly, analytic surfaces."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

UTM = "EPSG:32633"

#: Processes the tests start see a default install: no boto3 (see its sitecustomize).
DEFAULT_INSTALL = str(Path(__file__).with_name("default_install"))


@pytest.fixture(autouse=True, scope="session")
def _default_install():
    """Put DEFAULT_INSTALL on the PYTHONPATH of every process a test starts.

    A fixture, so that it runs where the tests run (in each xdist worker, after
    it started): the test processes themselves keep boto3, which tests/s3.py uses.
    """
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (DEFAULT_INSTALL, os.environ.get("PYTHONPATH")) if p)
    return DEFAULT_INSTALL


@pytest.fixture
def write_dem(tmp_path):
    """Write ``z`` as a GeoTIFF; return its path.

    ``transform`` defaults to 10 m x 25 m pixels (non-square) in UTM 33N.
    ``scales``, ``offsets`` and ``units`` are the bands' (one value per band).
    """
    count = [0]

    def write(z, transform=None, crs=UTM, nodata=None, dtype=None, name=None,
              scales=None, offsets=None, units=None, **extra):
        z = np.asarray(z)
        if z.ndim == 2:
            z = z[np.newaxis]
        count[0] += 1
        path = tmp_path / (name or f"dem{count[0]}.tif")
        profile = {
            "driver": "GTiff", "width": z.shape[2], "height": z.shape[1],
            "count": z.shape[0], "dtype": dtype or z.dtype, "nodata": nodata,
            "transform": transform or Affine(10.0, 0, 500_000.0, 0, -25.0, 5_000_000.0),
            "crs": crs, **extra,
        }
        with rasterio.open(path, "w", **profile) as dst:
            # band scale, offset and unit type, set before the data as GDAL wants
            if scales is not None:
                dst.scales = scales
            if offsets is not None:
                dst.offsets = offsets
            if units is not None:
                dst.units = units
            dst.write(z.astype(profile["dtype"]))
        return path

    return write


def centres(transform: Affine, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """World x, y of every pixel centre."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    x, y = transform @ (cols, rows)
    return np.asarray(x), np.asarray(y)


def read(path, band=None):
    """(array, profile) of a written file, nodata as NaN."""
    with rasterio.open(path) as src:
        data = src.read(masked=True).astype(np.float64).filled(np.nan)
        return (data if band is None else data[band - 1]), src.profile


def unavailable(reason: str) -> None:
    """Skip a test whose tool this machine lacks; under CI (``CI=true``), fail instead.

    CI installs everything these tests need (.ci/run), so a skip there would
    hide a missing install step behind a green run.
    """
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)


def need_gdaldem() -> str:
    """The gdaldem executable, for tests that compare with it."""
    if shutil.which("gdaldem") is None:
        unavailable("gdaldem is not installed (apt-get install gdal-bin)")
    return "gdaldem"
