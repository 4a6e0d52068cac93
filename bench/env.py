"""The benchmarks' own environment: terrain from this checkout beside xarray-spatial 0.10.

xarray-spatial is the in-memory peer, never a dependency of terrain. Its current release,
0.10.20, declares Python 3.12 but installs and runs on 3.11, so it is installed as issue 20
says, into a virtual environment of the benchmarks' own (``WORKDIR/venv``), made on first use:

    python -m venv WORKDIR/venv
    WORKDIR/venv/bin/pip install -e ROOT rioxarray "dask[array]" distributed
    WORKDIR/venv/bin/pip install "scipy<1.18" numba urllib3
    WORKDIR/venv/bin/pip install --ignore-requires-python --no-deps xarray-spatial==0.10.20

terrain is installed editable, so the environment runs this checkout's code (and the kernel
built in it, ``python setup.py build_ext --inplace`` after editing the C).

Usage: ``python bench/env.py [--workdir DIR]`` prints the environment's Python and versions.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = Path("/tmp/terrain-bench")
XRSPATIAL = "0.10.20"
STEPS = (
    ["-e", str(ROOT), "rioxarray", "dask[array]", "distributed"],
    ["scipy<1.18", "numba", "urllib3"],
    ["--ignore-requires-python", "--no-deps", f"xarray-spatial=={XRSPATIAL}"],
)
#: Written once every step succeeded: what was installed.
READY = "terrain-bench.json"


def python(workdir: Path = WORKDIR) -> Path:
    """The environment's Python, the environment made or completed first if need be."""
    venv = workdir / "venv"
    exe = venv / "bin" / "python"
    ready = venv / READY
    if ready.exists() and json.loads(ready.read_text()).get("steps") == [*map(list, STEPS)]:
        return exe
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    for step in STEPS:
        print(f"bench: pip install {' '.join(step)}", file=sys.stderr)
        subprocess.run([exe, "-m", "pip", "install", "-q", *step], check=True)
    ready.write_text(json.dumps({"steps": [*map(list, STEPS)]}))
    return exe


def run_inside(workdir: Path = WORKDIR) -> None:
    """Run the calling script again in the environment, unless this is it."""
    exe = python(workdir)
    if Path(sys.prefix).resolve() != exe.parents[1].resolve():
        os.execv(exe, [str(exe), *sys.argv])


def versions() -> str:
    """terrain's, xarray-spatial's and their engines' versions, in this process."""
    import dask
    import numba
    import numpy as np
    import xrspatial

    import terrain

    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "-uno"],
                           capture_output=True, text=True).stdout.strip()
    return (f"terrain {terrain.__version__} (this checkout, {commit}"
            f"{', modified' if dirty else ''}), xarray-spatial {xrspatial.__version__} "
            f"(numba {numba.__version__}), dask {dask.__version__}, numpy {np.__version__}, "
            f"Python {sys.version.split()[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    args = parser.parse_args()
    exe = python(args.workdir)
    print(exe)
    subprocess.run([exe, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import env; "
                    "print(env.versions())", str(Path(__file__).parent)], check=True)


if __name__ == "__main__":
    main()
