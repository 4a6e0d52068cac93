"""What importing costs: the command line never imports xarray or Dask, while
``import terrain`` still gives DataArrays their accessor, in either order."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python(code: str) -> str:
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("first", ["terrain", "xarray"])
def test_accessor_is_registered_whichever_is_imported_first(first):
    second = "xarray" if first == "terrain" else "terrain"
    out = python(
        f"import sys, {first}\n"
        "print('xarray' in sys.modules)\n"
        f"import {second}\n"
        "import numpy as np, xarray as xr\n"
        "da = xr.DataArray(np.add.outer(np.arange(4.0), 2 * np.arange(5.0)), dims=('y', 'x'),\n"
        "                  coords={'y': -np.arange(4.0), 'x': np.arange(5.0)})\n"
        "import warnings; warnings.simplefilter('ignore')\n"
        "print(float(da.terrain.gradient().dzdx[1, 1]))\n"
    )
    assert out.splitlines() == [str(first == "xarray"), "2.0"]


def test_terrain_accessor_module_is_reachable_as_an_attribute():
    assert python("import terrain; print(terrain.accessor.TerrainAccessor.__name__)") == (
        "TerrainAccessor")


def test_command_line_imports_neither_xarray_nor_dask(tmp_path):
    out = python(
        "import sys\n"
        "from terrain.cli import main\n"
        "try:\n"
        f"    main(['slope', 'data/jacksboro.tif', {str(tmp_path / 's.tif')!r}, '-q'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print(sorted(m for m in ('xarray', 'dask', 'distributed', 'pandas') if m in sys.modules))"
    )
    assert out == "[]"
    assert (tmp_path / "s.tif").exists()
