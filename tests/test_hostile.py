"""Hostile input and odd paths (issue 16): nothing written outside the named output,
nothing of the user's destroyed, no run that hangs, never a traceback.

Every command-line case runs the real ``python cli.py`` in its own process group, in
a sandbox folder that holds all its inputs, and checks what a user would: the exit
code, exactly one line on stderr, every file of the sandbox (by hash) the same
afterwards except the named output, and no process of the group left behind.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from terrain.errors import BadInputError, OutputExistsError, UsageError
from terrain.options import Options
from terrain.pipeline import run as run_file
from terrain.tiles import run_tiles

from .conftest import unavailable

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
UTM = Affine(10.0, 0, 500_000.0, 0, -10.0, 5_000_000.0)
EQUAL_EARTH = CRS.from_proj4("+proj=eqearth +datum=WGS84 +units=m")


# --- running terrain, and what it left ----------------------------------------------

def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) of the process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def assert_group_gone(pgid: int, wait: float = 10.0) -> None:
    """No process of the group is left (workers that die with their parent get ``wait`` s)."""
    deadline = time.monotonic() + wait
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(pgid) == [], "processes left behind"


def terrain(cwd, *args, timeout=60, preexec_fn=None):
    """``python cli.py ARGS`` in ``cwd``, in its own process group; (code, stderr lines)."""
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *map(_arg, args)],
                               cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=preexec_fn)
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert_group_gone(process.pid)
    return process.returncode, err.decode("utf-8").splitlines()  # escapes, never raw bytes


def _arg(value):
    return value if isinstance(value, (str, bytes, os.PathLike)) else str(value)


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: a file by its hash, a link by its target, others by kind."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = os.lstat(path)
            key = os.fsdecode(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[key] = "-> " + os.fsdecode(os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[key] = f"mode {stat.S_IFMT(info.st_mode):o}"
    return found


def one_error(result, code, *parts):
    """The one line of a failed run, which says ``parts``."""
    returncode, lines = result
    assert returncode == code, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("terrain: error: "), lines
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def terrain_batch(cwd, runs, timeout=60):
    """``terrain(cwd, *args)`` for each args of ``runs``, a few at once; their results."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda args: terrain(cwd, *args, timeout=timeout), runs))


def refused(box: Path, cases):
    """Each (code, args, says) of ``cases`` fails with its one line, and ``box`` is left
    exactly as it was."""
    before = snapshot(box)
    results = terrain_batch(box, [args for _, args, _ in cases])
    for (code, args, says), result in zip(cases, results, strict=True):
        try:
            one_error(result, code, *says)
        except AssertionError as e:
            raise AssertionError(f"terrain {' '.join(map(str, args))}: {e}") from None
    after = snapshot(box)
    assert after == before, {k: after.get(k) for k in set(after) ^ set(before)}


def write(path, z, transform=UTM, crs="EPSG:32633", **extra):
    z = np.asarray(z)
    profile = {"driver": "GTiff", "width": z.shape[1], "height": z.shape[0], "count": 1,
               "dtype": z.dtype, "transform": transform, "crs": crs, **extra}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)
    return Path(path)


def rough(shape=(64, 64), seed=0):
    return (np.random.default_rng(seed).normal(size=shape).cumsum(0) * 5).astype("float32")


def vrt(path, source, geotransform="500000, 10, 0, 5000000, 0, -10", size=(64, 64),
        srs="EPSG:32633"):
    """A VRT of ``source`` (64 x 64 float32) declaring ``size`` and ``geotransform``."""
    width, height = size
    srs_element = f"<SRS>{srs}</SRS>" if srs else ""
    Path(path).write_text(textwrap.dedent(f"""\
        <VRTDataset rasterXSize="{width}" rasterYSize="{height}">
          {srs_element}
          <GeoTransform>{geotransform}</GeoTransform>
          <VRTRasterBand dataType="Float32" band="1">
            <SimpleSource>
              <SourceFilename relativeToVRT="1">{source}</SourceFilename>
              <SourceBand>1</SourceBand>
              <SrcRect xOff="0" yOff="0" xSize="64" ySize="64"/>
              <DstRect xOff="0" yOff="0" xSize="64" ySize="64"/>
            </SimpleSource>
          </VRTRasterBand>
        </VRTDataset>
        """))
    return Path(path)


@pytest.fixture
def box(tmp_path):
    """A sandbox folder with a DEM, dem.tif (64 x 64, UTM 33N)."""
    folder = tmp_path / "box"
    folder.mkdir()
    write(folder / "dem.tif", rough())
    return folder



# --- 1, 2: output names are file names -----------------------------------------------

def test_names_from_inputs_never_become_paths(box):
    """Archive members and URLs whose names decode to a path, .., NUL or control
    characters, from the command line and from a --from list: refused, naming the
    input, before anything is opened or made (port 9 is closed: a request would fail
    otherwise); with --overwrite, an absolute name is refused too, its file untouched."""
    victim = box / "victim.conf"
    victim.write_text("the user's\n")
    members = [("..%2F..%2Fevil.tif", "../../evil.tif"),
               (quote(str(victim), safe=""), str(victim)),
               ("a%00b.tif", "a\\x00b.tif"),
               ("a%0Ab.tif", "a\\nb.tif"),
               ("%2E%2E", ".."),
               ("..%5Cevil.tif", "..\\evil.tif"),
               ("a%1B%5B31mred.tif", "a\\x1b[31mred.tif")]
    with zipfile.ZipFile(box / "x.zip", "w") as archive:
        for member, _ in members:
            archive.write(box / "dem.tif", member)
    (box / "urls.txt").write_text("http://127.0.0.1:9/dems/n45.tif\n"
                                  "http://127.0.0.1:9/dems/..%2F..%2F..%2Fevil.tif\n")
    (box / "nul.txt").write_text("dem.tif\nt\x001.tif\n")
    shutil.copy(box / "dem.tif", box / "tile\n.tif")
    cases = [(1, ("slope", f"/vsizip/x.zip/{member}", "--out-dir", "a/b/out", "--overwrite"),
              [f"/vsizip/x.zip/{member}: its output name {decoded} ", "rename the input"])
             for member, decoded in members]
    cases += [
        (1, ("slope", "--from", "urls.txt", "--out-dir", "out"),
         ["http://127.0.0.1:9/dems/..%2F..%2F..%2Fevil.tif: its output name ../../../evil.tif "]),
        (1, ("aspect", "--from", "nul.txt", "--out-dir", "out"),
         ["t\\x001.tif: its output name t\\x001.tif ", "control character"]),
        (1, ("slope", "tile\n.tif", "--out-dir", "out"),
         ["tile\\n.tif: its output name tile\\n.tif ", "control character"]),
    ]
    refused(box, cases)


def test_removing_a_name_with_a_nul_returns():
    """It retried the ValueError for ever, at 100 % CPU."""
    code = "from terrain.io import _remove; _remove(['a\\x00b.tif', 'missing.tif'])"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30, env=ENV)


# --- 3: nothing the input reads is replaced -------------------------------------------

def test_nothing_the_input_reads_is_replaced(box):
    """OUT, a tile's output and the preview, with --overwrite, compared by device and
    inode with every file the input reads: a file:// URL of it, its archive or .gz, a
    VRT's source (followed into VRTs), an ASCII grid's .prj, a hard link, a symlink."""
    shutil.copy(box / "dem.tif", box / "data.tif")
    with zipfile.ZipFile(box / "dems.zip", "w") as archive:
        archive.write(box / "dem.tif", "dem.tif")
    (box / "dem.tif.gz").write_bytes(gzip.compress((box / "dem.tif").read_bytes()))
    vrt(box / "view.vrt", "data.tif")
    (box / "sub").mkdir()
    shutil.copy(box / "dem.tif", box / "sub" / "src.tif")
    vrt(box / "sub" / "inner.vrt", "src.tif")
    vrt(box / "nested.vrt", "sub/inner.vrt")
    subprocess.run(["gdal_translate", "-q", "-of", "AAIGrid", "dem.tif", "dem.asc"],
                   cwd=box, check=True)
    os.link(box / "dem.tif", box / "hard.tif")
    os.symlink("dem.tif", box / "link.tif")
    (box / "out").mkdir()  # t1.vrt reads out/t0.tif, which the set's t0.tif would replace
    write(box / "out" / "t0.tif", rough(seed=1), UTM @ Affine.translation(-64, 0))
    shutil.copy(box / "dem.tif", box / "t0.tif")
    vrt(box / "t1.vrt", "out/t0.tif", "499360, 10, 0, 5000000, 0, -10")
    subprocess.run(["gdal_translate", "-q", "-of", "PNG", "-ot", "UInt16", "-scale",
                    "dem.tif", "pic.png"], cwd=box, check=True)
    vrt(box / "pic.vrt", "pic.png")
    cases = [(1, ("slope", dem, out, "--overwrite"),
              [f"{out}: the output would overwrite ", names])
             for dem, out, names in [
                 (f"file://{box}/dem.tif", "dem.tif", "dem.tif, which the input reads"),
                 ("/vsizip/dems.zip/dem.tif", "dems.zip", "dems.zip, which the input reads"),
                 (f"zip+file://{box}/dems.zip!dem.tif", "dems.zip", "dems.zip, which"),
                 ("/vsigzip/dem.tif.gz", "dem.tif.gz", "dem.tif.gz, which the input reads"),
                 ("view.vrt", "data.tif", "data.tif, which the input reads"),
                 ("nested.vrt", "sub/src.tif", "sub/src.tif, which the input reads"),
                 ("dem.asc", "dem.prj", "dem.prj, which the input reads"),
                 ("dem.tif", "hard.tif", "the input"),
                 ("dem.tif", "link.tif", "the input"),
                 ("link.tif", "dem.tif", "the input")]]
    cases += [
        (1, ("slope", "t0.tif", "t1.vrt", "--out-dir", "out", "--overwrite"),
         ["out/t0.tif: the output would overwrite", "which the input reads"]),
        (1, ("slope", "pic.vrt", "s.tif", "--preview", "pic.png", "--overwrite"),
         ["pic.png: the output would overwrite pic.png, which the input reads"]),
    ]
    refused(box, cases)


# --- 4, 8: workers: as many as tiles, and they die with their parent -------------------

PAUSED = """
import os, sys, time
from pathlib import Path
import terrain.cli, terrain.pipeline, terrain.tiles

def pause():
    Path({marker!r} + "." + str(os.getpid())).touch()
    {action}

def paused(write_blocks):
    def write(dst, *args, **kwargs):
        pause()
        return write_blocks(dst, *args, **kwargs)
    return write

terrain.pipeline.write_blocks = paused(terrain.pipeline.write_blocks)
terrain.tiles.write_blocks = paused(terrain.tiles.write_blocks)
sys.argv[0] = "terrain"
terrain.cli.main(sys.argv[1:])
"""


def start_paused(cwd: Path, action: str, *args, pauses=1, marker="paused"):
    """Start terrain ARGS, which runs ``action`` once each output is open; return once
    ``pauses`` outputs are (each leaves a file MARKER.PID beside ``cwd``)."""
    code = PAUSED.format(marker=str(cwd.parent / marker), action=action)
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(_arg, args)],
                               cwd=cwd, env=ENV, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while len(list(cwd.parent.glob(f"{marker}.*"))) < pauses:
        if process.poll() is not None:
            return process
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return process


def children(pid: int) -> list[int]:
    return [p for p in group_members(pid)
            if Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid)]


def test_sigkill_of_the_main_process_stops_every_worker(box):
    """--jobs 200 for 2 tiles starts 2 workers; SIGKILL of the main process (which
    nothing can catch) ends them too, and each removes its temporary output."""
    write(box / "t1.tif", rough(seed=1), UTM @ Affine.translation(640, 0))
    before = snapshot(box)
    process = start_paused(box, "time.sleep(60)", "slope", "dem.tif", "t1.tif",
                           "--out-dir", "out", "--jobs", 200, pauses=2)
    assert len(children(process.pid)) == 2
    assert sorted(p.name.split(".terrain-partial-")[0] for p in (box / "out").iterdir()) == [
        "dem.tif", "t1.tif"]
    process.kill()
    process.wait()
    process.stderr.close()
    assert_group_gone(process.pid)
    assert snapshot(box) == {**before, "out": "mode 40000"}


def process_limit(limit: int):
    """A context giving a preexec_fn that puts the child under a limit of ``limit``
    tasks (processes and threads): a pids cgroup as root (RLIMIT_NPROC spares root),
    else RLIMIT_NPROC over what this user runs now; skips where neither can be set."""
    if os.geteuid() != 0:
        used = sum(1 for p in Path("/proc").glob("[0-9]*/task/*")
                   if p.stat().st_uid == os.geteuid())

        def limited():
            resource.setrlimit(resource.RLIMIT_NPROC, (used + limit, used + limit))

        return contextlib.nullcontext(limited)
    for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if (root / "cgroup.procs").exists() and os.access(root, os.W_OK):
            break
    else:
        unavailable("no pids cgroup to limit processes in (and RLIMIT_NPROC spares root)")
    group = root / f"terrain-test-{os.getpid()}-{limit}"
    try:
        group.mkdir()
        (group / "pids.max").write_text(str(limit))
    except OSError as e:
        with contextlib.suppress(OSError):
            group.rmdir()
        unavailable(f"can't make a pids cgroup: {e}")

    def enter():
        (group / "cgroup.procs").write_text(str(os.getpid()))

    @contextlib.contextmanager
    def cleanup():
        try:
            yield enter
        finally:
            deadline = time.monotonic() + 10
            while True:
                try:
                    group.rmdir()
                    break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)

    return cleanup()


@pytest.mark.parametrize("limit", [2, 5, 6])
def test_a_failed_worker_start_is_one_line_and_no_hang(box, limit):
    """Under a process limit the fork (2 tasks), the pool's thread (5) or its queue's
    thread (6, here) fails: one line, nothing written, no process left. It printed one
    line and hung, or printed a thread's traceback and hung."""
    for i in (1, 2, 3):
        write(box / f"t{i}.tif", rough(seed=i), UTM @ Affine.translation(640 * i, 0))
    before = snapshot(box)
    with process_limit(limit) as limited:
        result = terrain(box, "slope", "dem.tif", "t1.tif", "t2.tif", "t3.tif",
                         "--out-dir", "out", "--jobs", 4, preexec_fn=limited, timeout=30)
    if result[0] == 0:  # this machine's Python and GDAL start fewer threads than here
        assert len(list((box / "out").iterdir())) == 4
        return
    one_error(result, 1, "cannot start 4 worker processes", "lower --jobs")
    assert snapshot(box) == before


def test_a_worker_killed_by_the_system_is_one_line(box):
    """A worker SIGKILLed (as by the OOM killer) while it writes a tile."""
    write(box / "t1.tif", rough(seed=1), UTM @ Affine.translation(640, 0))
    process = start_paused(box, "time.sleep(60)", "slope", "dem.tif", "t1.tif",
                           "--out-dir", "out", "--jobs", 2, pauses=2)
    os.kill(children(process.pid)[0], signal.SIGKILL)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert err.splitlines() == ["terrain: error: a worker process died (killed by the system: "
                                "out of memory?); the tiles it was computing were not written"]
    assert_group_gone(process.pid)
    # the SIGKILLed worker could not remove its temporary; the other one did
    assert len(list((box / "out").iterdir())) <= 1


# --- 5: the CRS always reaches the output ---------------------------------------------

def crs_of(path):
    with rasterio.open(path) as src:
        return src.crs, src.tags()


def test_a_crs_the_geotiff_keys_cannot_hold_reaches_the_output(box):
    """Equal Earth (and a baseline TIFF, which holds no GeoTIFF keys): GDAL's side-car
    goes under OUT's own name, for a file, a COG and a tile set; no temporary's side-car
    is left; a warning says to keep the two files together."""
    write(box / "eq.tif", rough(), crs=EQUAL_EARTH)
    write(box / "eq1.tif", rough(seed=1), UTM @ Affine.translation(640, 0), crs=EQUAL_EARTH)
    runs = [("slope", "eq.tif", "s.tif"), ("slope", "eq.tif", "c.tif", "--cog"),
            ("slope", "eq.tif", "eq1.tif", "--out-dir", "set", "--jobs", 2),
            ("slope", "dem.tif", "b.tif", "--co", "PROFILE=BASELINE")]
    results = terrain_batch(box, runs)
    for out, (code, lines) in zip(["s.tif", "c.tif", "set/eq.tif", "b.tif"], results,
                                  strict=True):
        assert code == 0, lines
        assert lines == [f"terrain: warning: {out}: GDAL keeps part of it (a CRS the GeoTIFF "
                         f"keys can't hold, or a baseline TIFF's metadata) in {out}.aux.xml "
                         "beside it" + (" (and 1 other outputs alike)" if "set" in out else "")
                         + ": keep the two files together"]
        crs, tags = crs_of(box / out)
        assert crs == (CRS.from_epsg(32633) if out == "b.tif" else EQUAL_EARTH)
        assert tags["TERRAIN_PRODUCT"] == "slope"
    assert sorted(os.listdir(box)) == [
        "b.tif", "b.tif.aux.xml", "c.tif", "c.tif.aux.xml", "dem.tif", "eq.tif",
        "eq.tif.aux.xml", "eq1.tif", "eq1.tif.aux.xml", "s.tif", "s.tif.aux.xml", "set"]
    assert sorted(os.listdir(box / "set")) == [
        "eq.tif", "eq.tif.aux.xml", "eq1.tif", "eq1.tif.aux.xml"]


def test_a_stale_side_car_never_outlives_its_output(box):
    """A side-car left by an earlier OUT (GDAL would read its CRS, overviews or mask as
    the new OUT's): refused without --overwrite, replaced or removed with it."""
    write(box / "eq.tif", rough(), crs=EQUAL_EARTH)
    assert terrain(box, "slope", "eq.tif", "a.tif")[0] == 0
    os.remove(box / "a.tif")  # a.tif.aux.xml stays, with Equal Earth in it
    for name in ("b.tif", "c.tif"):
        assert terrain(box, "slope", "dem.tif", name)[0] == 0
    (box / "b.tif.ovr").write_bytes(b"old overviews")
    (box / "c.tif.msk").write_bytes(b"old mask")
    (box / "d.tif.ovr").write_bytes(b"old overviews")
    refused(box, [(1, ("slope", "dem.tif", "a.tif"),
                   ["a.tif.aux.xml: exists, and GDAL would read it as part of a.tif; remove "
                    "it, or pass --overwrite to replace it"]),
                  (1, ("slope", "dem.tif", "d.tif"),
                   ["d.tif.ovr: exists, and GDAL would read it as part of d.tif"])])
    results = terrain_batch(box, [("slope", "dem.tif", name, "--overwrite")
                                  for name in ("a.tif", "b.tif", "c.tif")])
    assert [code for code, _ in results] == [0, 0, 0], results
    assert crs_of(box / "a.tif")[0] == CRS.from_epsg(32633)
    for stale in ("a.tif.aux.xml", "b.tif.ovr", "c.tif.msk"):
        assert not (box / stale).exists()


def test_a_side_car_name_too_long_is_one_line(box):
    """OUT's name fits (250 bytes), its side-car's does not: nothing is left."""
    write(box / "eq.tif", rough(), crs=EQUAL_EARTH)
    name = "n" * 246 + ".tif"
    refused(box, [(1, ("slope", "eq.tif", name),
                   [f"{name}: GDAL keeps part of it", "name the output shorter"])])


# --- 6: memory depends on the block size, not on the declared size ---------------------

#: Runs cli.py and, as the process exits, writes its peak resident memory (VmHWM,
#: this process's own: rusage's maxrss would start from the forking parent's).
PEAK = """
import atexit, re, runpy, sys
from pathlib import Path

record = Path(sys.argv.pop(1))

def peak():
    status = Path("/proc/self/status").read_text()
    record.write_text(re.search(r"VmHWM:\\s*(\\d+)", status).group(1))

atexit.register(peak)
sys.argv = [{cli!r}, *sys.argv[1:]]
runpy.run_path({cli!r}, run_name="__main__")
"""


def peak_rss_mib(cwd, *args) -> tuple[int, list[str], float]:
    """Exit code, stderr lines and peak resident memory (MiB) of ``terrain ARGS``."""
    record = cwd.parent / "peak.txt"
    process = subprocess.run(
        [sys.executable, "-c", PEAK.format(cli=str(ROOT / "cli.py")), str(record),
         *map(_arg, args)], cwd=cwd, env=ENV, stderr=subprocess.PIPE, timeout=120)
    return (process.returncode, process.stderr.decode().splitlines(),
            int(record.read_text()) / 1024)


@pytest.mark.parametrize("size", [200_000, 400_000])
def test_checks_do_not_grow_with_the_declared_size(box, size):
    """A 600-byte VRT declaring size² pixels, and a bad creation option: refused before
    any work; the profile check peaked at 876 MiB for 200000² and was OOM-killed in 2 GiB
    at 400000² (it wrote every empty block of a full-size GeoTIFF in memory)."""
    vrt(box / "big.vrt", "dem.tif", size=(size, size))
    before = snapshot(box)
    code, lines, peak = peak_rss_mib(box, "slope", "big.vrt", "s.tif", "--co", "ZLEVEL=abc")
    one_error((code, lines), 2, "s.tif: bad creation option: 'abc' is an unexpected value")
    assert snapshot(box) == before
    assert peak < 300, f"peak {peak:.0f} MiB"


def test_a_dem_stored_as_one_huge_strip_is_refused(box):
    """A 4200 x 4200 float32 single strip (67 MiB decoded whole for any window; a
    30000² one peaked at 3.6 GiB). Sparse: its one strip is never written."""
    with rasterio.open(box / "strip.tif", "w", driver="GTiff", width=4200, height=4200,
                       count=1, dtype="float32", crs="EPSG:32633", transform=UTM,
                       compress="deflate", blockysize=4200, sparse_ok=True):
        pass
    refused(box, [(1, ("slope", "strip.tif", "s.tif"),
                   ["strip.tif: stored in blocks of 4200x4200 pixels (67 MiB each",
                    "up to 64 MiB", "gdal_translate -co TILED=YES"]),
                  (1, ("slope", "strip.tif", "--out-dir", "out"),
                   ["no readable tile in the set (strip.tif: stored in blocks of 4200x4200"])])


# --- 7: an output that appeared meanwhile is kept ---------------------------------------

def test_an_output_made_during_the_run_is_kept(box):
    """Without --overwrite: the file someone wrote to OUT meanwhile stays, and the run
    says so; with --overwrite, a FIFO put there meanwhile is not replaced either."""
    process = start_paused(box, "Path('s.tif').write_text('theirs'); os.mkfifo('f.tif')",
                           "slope", "dem.tif", "s.tif")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert err.splitlines() == ["terrain: error: s.tif: appeared while this run was working; "
                                "kept as it is: pass --overwrite to replace it"]
    assert (box / "s.tif").read_text() == "theirs"
    os.remove(box.parent / f"paused.{process.pid}")
    (box / "g.tif").write_text("old")  # a regular file when checked, a FIFO at the end
    process = start_paused(box, "os.remove('g.tif'); os.mkfifo('g.tif')", "slope", "dem.tif",
                           "g.tif", "--overwrite", marker="again")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert err.splitlines() == ["terrain: error: g.tif: is a named pipe (FIFO), not a regular "
                                "file; --overwrite replaces only regular files"]
    assert sorted(os.listdir(box)) == ["dem.tif", "f.tif", "g.tif", "s.tif"]


def test_of_two_runs_to_one_output_one_writes_it(box):
    go = box.parent / "go"
    wait = f"while not os.path.exists({str(go)!r}): time.sleep(0.01)"
    first = start_paused(box, wait, "slope", "dem.tif", "s.tif", marker="first")
    second = start_paused(box, wait, "aspect", "dem.tif", "s.tif", marker="second")
    go.touch()
    errors = [p.communicate(timeout=60)[1].splitlines() for p in (first, second)]
    assert sorted([first.returncode, second.returncode]) == [0, 1], errors
    assert sorted(map(len, errors)) == [0, 1]
    assert "appeared while this run was working" in max(errors, key=len)[0]
    written = crs_of(box / "s.tif")[1]["TERRAIN_PRODUCT"]
    assert written == ("slope" if first.returncode == 0 else "aspect")
    assert sorted(os.listdir(box)) == ["dem.tif", "s.tif"]


# --- 9, 10: never a traceback; impossible geometry refused ------------------------------

def test_impossible_geometry_and_odd_names_are_one_line(box):
    """Pixel sizes zero, NaN, infinite, 1e-300 or denormal; a singular (rotated)
    transform; lat/lon rows past a pole; GCP-only georeferencing; a lat/lon tile set
    spanning 2e7 rows; names and a --from list that are not UTF-8."""
    geotransforms = {
        "zero": ("500000, 0, 0, 5000000, 0, -10", "its pixel width is 0 m"),
        "nan": ("500000, nan, 0, 5000000, 0, -10", "its transform holds a NaN or an infinity"),
        "inf": ("500000, 10, 0, 5000000, 0, -inf", "its transform holds a NaN or an infinity"),
        "tiny": ("500000, 1e-300, 0, 5000000, 0, -1e-300", "its pixel width is 1e-300 m"),
        "denormal": ("500000, 5e-324, 0, 5000000, 0, -10", "its pixel width is 4.94066e-324 m"),
        "singular": ("500000, 10, 20, 5000000, 5, 10", "its transform (10, 20, 5, 10) is singular"),
        "pole": ("10, 0.5, 0, 95, 0, -0.5", "row 0 is centred at latitude 94.75, on or past"),
    }
    for name, (geotransform, _) in geotransforms.items():
        vrt(box / f"{name}.vrt", "dem.tif", geotransform,
            srs="EPSG:4326" if name == "pole" else "EPSG:32633")
    gcps = [GroundControlPoint(row, col, 500_000 + 10 * col, 5_000_000 - 10 * row)
            for row, col in ((0, 0), (0, 64), (64, 0), (64, 64))]
    with rasterio.open(box / "gcps.tif", "w", driver="GTiff", width=64, height=64, count=1,
                       dtype="float32", gcps=gcps, crs="EPSG:32633") as dst:
        dst.write(rough(), 1)
    fine = Affine(1e-6, 0, 10, 0, -1e-6, 10)
    write(box / "north.tif", rough((8, 8)), fine, crs="EPSG:4326")
    write(box / "south.tif", rough((8, 8)), fine @ Affine.translation(0, 2e7), crs="EPSG:4326")
    shutil.copy(box / "dem.tif", os.path.join(os.fsencode(box), b"\xff.tif"))
    (box / "latin1.txt").write_bytes(b"dem.tif\n\xe9t\xe9.tif\n")
    cases = [(1, ("slope", f"{name}.vrt", "s.tif"), [f"{name}.vrt: {says}"])
             for name, (_, says) in geotransforms.items()]
    cases += [
        (1, ("slope", "gcps.tif", "s.tif"),
         ["gcps.tif: georeferenced only by ground control points (GCPs)", "gdalwarp"]),
        (1, ("slope", "north.tif", "south.tif", "--out-dir", "out"),
         ["the tile set: spans 20000008 rows of lat/lon pixels"]),
        (1, ("slope", "zero.vrt", "--out-dir", "out"),
         ["no readable tile in the set (zero.vrt: its pixel width is 0 m"]),
        (1, ("slope", b"\xff.tif", "s.tif"), ["\\xff.tif: the name is not valid UTF-8"]),
        (2, ("slope", "dem.tif", b"s\xff.tif"), ["s\\xff.tif: the name is not valid UTF-8"]),
        (2, ("slope", "dem.tif", "--out-dir", b"\xff"), ["\\xff: the name is not valid UTF-8"]),
        (1, ("slope", "--from", "latin1.txt", "--out-dir", "out"),
         ["latin1.txt: not UTF-8 text (byte 0xe9 is not UTF-8)"]),
    ]
    refused(box, cases)


def test_ctrl_c_at_any_moment_is_one_line(box):
    """SIGINT from the moment the command line starts loading (numpy, rasterio: it was a
    KeyboardInterrupt traceback for 0.15 s) to the run: one line, nothing left. Python's
    own start (site) comes before any of terrain: the signal waits for numpy's library
    to be mapped into the process."""
    big = write(box / "big.tif", rough((1024, 1024)))
    before = snapshot(box)

    def loading(pid):
        try:
            return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            return False

    def interrupt(delay):
        process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "slope", big.name,
                                    f"s{delay}.tif"], cwd=box, env=ENV,
                                   stderr=subprocess.PIPE, start_new_session=True)
        while not loading(process.pid) and process.poll() is None:
            time.sleep(0.001)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert_group_gone(process.pid)
        return delay, process.returncode, err.decode().splitlines()

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(interrupt, [0, 0.01, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4]))
    for delay, code, lines in results:
        # the run was done before the signal, or while Python shut down (which restores
        # the default action, death by the signal)
        if code in (0, -signal.SIGINT) and (box / f"s{delay}.tif").exists():
            assert lines == [], (delay, lines)
            assert crs_of(box / f"s{delay}.tif")[1]["TERRAIN_PRODUCT"] == "slope"
            os.remove(box / f"s{delay}.tif")
            continue
        assert code == 130, (delay, code, lines)
        assert lines in (["terrain: error: interrupted"],
                         ["terrain: error: stopped by SIGINT"]), (delay, lines)
    assert snapshot(box) == before
    assert results[0][2] == ["terrain: error: interrupted"], results


# --- 11: the library validates what the command line does ------------------------------

@pytest.mark.parametrize(("kwargs", "says"), [
    ({"block_size": -4}, "block size must be at least 16 pixels, not -4"),
    ({"block_size": 1}, "block size must be at least 16 pixels, not 1"),
    ({"block_size": 2.5}, "block size must be a whole number, not 2.5"),
    ({"jobs": 0}, "jobs must be at least 1, not 0"),
    ({"jobs": -1}, "jobs must be at least 1, not -1"),
    ({"jobs": True}, "jobs must be a whole number, not True"),
    ({"band": 0}, "band must be at least 1, not 0"),
])
def test_the_library_refuses_what_the_command_line_refuses(box, kwargs, says):
    """run_tiles(block_size=-4) returned success with an all-nodata tile."""
    before = snapshot(box)
    for call in (lambda: run_tiles([box / "dem.tif"], box / "out", Options(), **kwargs),
                 lambda: run_file(box / "dem.tif", box / "s.tif", Options(), **kwargs)):
        with pytest.raises(UsageError, match=f"^{says}$"):
            call()
    assert snapshot(box) == before


def test_the_library_refuses_an_empty_output_folder_name(box, monkeypatch):
    monkeypatch.chdir(box)
    with pytest.raises(UsageError, match="output folder's name is empty"):
        run_tiles(["dem.tif"], "", Options())
    assert sorted(os.listdir(box)) == ["dem.tif"]


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"z_factor": "0.3048"}, "z factor must be a number, not '0.3048'"),
    ({"z_factor": True}, "z factor must be a number, not True"),
    ({"azimuth": "west"}, "azimuth must be a number, not 'west'"),
    ({"altitude": None}, "altitude must be a number, not None"),
    ({"edge_order": True}, "edge order must be 1 or 2, not True"),
])
def test_options_of_the_wrong_type_are_usage_errors(kwargs, says):
    with pytest.raises(UsageError, match=f"^{says}$"):
        Options("hillshade", **kwargs)


def dataarray(y, x, z=None):
    xr = pytest.importorskip("xarray")
    z = np.add.outer(np.arange(5.0), 2 * np.arange(6.0)) if z is None else z
    return xr.DataArray(z, dims=("y", "x"), coords={"y": y, "x": x})


X = np.arange(6.0)


@pytest.mark.parametrize(("da", "says"), [
    (lambda: dataarray([0, 1, 3, 2, 4.0], X), "coordinate 'y' does not run one way"),
    (lambda: dataarray([0, 1, 1, 2, 3.0], X), "coordinate 'y' repeats a value"),
    (lambda: dataarray(np.zeros(5), X), "coordinate 'y' repeats a value"),
    (lambda: dataarray([0, 1, np.nan, 3, 4], X), "coordinate 'y' holds NaN or infinite"),
    (lambda: dataarray(list("abcde"), X), "coordinate 'y' holds <U1 values, not numbers"),
    (lambda: dataarray(np.arange(5.0), [0, 1e-300, 2e-300, 3e-300, 4e-300, 5e-300]),
     "the DataArray: its x coordinates are 1e-300 m to 1e-300 m apart"),
    (lambda: dataarray(np.arange(5.0), X, np.ones((5, 6), bool)),
     "elevations must be real numbers, not bool data"),
    (lambda: dataarray(np.arange(5.0), X, np.ones((5, 6), complex)),
     "elevations must be real numbers, not complex128 data"),
])
def test_the_accessor_refuses_coordinates_that_are_no_grid(da, says):
    """Non-monotonic, repeated, constant or NaN coordinates gave finite, infinite or NaN
    slopes without a word."""
    import terrain  # noqa: F401 - registers the accessor

    with pytest.raises(BadInputError, match=re.escape(says)):
        da().terrain.slope()


def test_the_accessor_refuses_lat_lon_rows_past_a_pole():
    import terrain  # noqa: F401

    da = dataarray(np.array([88.0, 89, 90, 91, 92]), X).rename(y="lat", x="lon")
    with pytest.raises(BadInputError, match="a row is centred at latitude 90, on or past a pole"):
        da.terrain.slope()


# --- the arguable cases, decided ---------------------------------------------------

def test_arguable_cases_that_are_refused(box):
    """--overwrite replaces only regular files (not a FIFO, nor a device node: as root
    this replaced /dev/null); a dangling symlink exists; block sizes below 16 pixels or
    over 4096² pixels held at once; creation options that fail only when a block is
    compressed or allocated; a file name over 255 bytes; a newline in a name; a VRT
    whose source is missing; an empty --out-dir."""
    os.mkfifo(box / "fifo.tif")
    os.mkfifo(box / "fifo.png")
    os.symlink("nowhere.tif", box / "dangling.tif")
    vrt(box / "wide.vrt", "dem.tif", size=(8192, 8192))
    vrt(box / "missing.vrt", "gone.tif")
    cases = [
        (1, ("slope", "dem.tif", "fifo.tif", "--overwrite"),
         ["fifo.tif: is a named pipe (FIFO), not a regular file; --overwrite replaces only "
          "regular files"]),
        (1, ("slope", "dem.tif", "s.tif", "--preview", "fifo.png", "--overwrite"),
         ["fifo.png: is a named pipe (FIFO)"]),
        (1, ("slope", "dem.tif", "dangling.tif"),
         ["dangling.tif: exists, as a symbolic link to a missing file; pass --overwrite"]),
        (2, ("slope", "dem.tif", "s.tif", "--block-size", 1),
         ["Invalid value for '--block-size': 1 is not in the range x>=16."]),
        (2, ("slope", "wide.vrt", "s.tif", "--block-size", 8192),
         ["block size 8192 gives blocks of 8192x8192 pixels: at most 16777216 pixels"]),
        (2, ("slope", "dem.tif", "s.tif", "--co", "COMPRESS=LERC", "--co", "MAX_Z_ERROR=-1"),
         ["s.tif: bad creation option: LERCPostEncode:lerc_encode() failed"]),
        (2, ("slope", "dem.tif", "s.tif", "--co", "BLOCKXSIZE=100000000"),
         ["s.tif: bad creation option: blocks of 100000000x256 pixels are 97656 MiB each"]),
        (2, ("slope", "dem.tif", "n" * 252 + ".tif"),
         ["its file name is 256 bytes long; this file system takes 255 at most"]),
        (1, ("slope", "dem\n.tif", "s.tif"), ["terrain: error: dem\\n.tif: no such file"]),
        (1, ("slope", "missing.vrt", "s.tif"),
         ["missing.vrt: its source gone.tif does not exist"]),
        (2, ("slope", "dem.tif", "--out-dir", ""),
         ["the output folder's name is empty: name a folder ('.' for this one)"]),
    ]
    if os.geteuid() == 0:  # a null device of our own, never the system's
        os.mknod(box / "null.tif", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        cases.append((1, ("slope", "dem.tif", "null.tif", "--overwrite"),
                      ["null.tif: is a character device, not a regular file"]))
    refused(box, cases)


def test_creation_options_are_refused_before_any_work(box):
    """Refused before the first block is computed (they failed after all the work)."""
    for option in ("MAX_Z_ERROR=-1", "BLOCKXSIZE=100000000"):
        process = start_paused(box, "pass", "slope", "dem.tif", "s.tif", "--co",
                               "COMPRESS=LERC", "--co", option)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 2, err
        assert "bad creation option" in err
        assert not list(box.parent.glob("paused.*"))
    assert sorted(os.listdir(box)) == ["dem.tif"]


def test_arguable_cases_that_work(box):
    """--overwrite replaces a dangling link itself (its target is not made); names of
    250 and 255 bytes (the temporary's name no longer overflows); a byte-order mark in
    a --from list; a block size larger than the raster."""
    os.symlink("nowhere.tif", box / "dangling.tif")
    (box / "bom.txt").write_bytes(b"\xef\xbb\xbfdem.tif\n")
    long_names = ["n" * 246 + ".tif", "m" * 251 + ".tif"]
    runs = [("slope", "dem.tif", "dangling.tif", "--overwrite"),
            *(("slope", "dem.tif", name) for name in long_names),
            ("slope", "--from", "bom.txt", "--out-dir", "out"),
            ("slope", "dem.tif", "big_block.tif", "--block-size", 100_000)]
    results = terrain_batch(box, runs)
    assert results == [(0, [])] * len(runs)
    assert stat.S_ISREG(os.lstat(box / "dangling.tif").st_mode)
    assert not (box / "nowhere.tif").exists()
    assert sorted(os.listdir(box)) == sorted(
        ["dem.tif", "dangling.tif", "bom.txt", "out", "big_block.tif", *long_names])
    assert os.listdir(box / "out") == ["dem.tif"]
    slopes = {name: crs_of(box / name)[1]["TERRAIN_PRODUCT"] for name in long_names}
    assert slopes == dict.fromkeys(long_names, "slope")


def test_a_crs_side_car_reaches_object_storage(box, monkeypatch):
    """An object's side-car is uploaded beside it, before it: the CRS reads back."""
    from terrain.cli import main

    from .s3 import S3

    server = S3()
    try:
        for name, value in server.env(TMPDIR=str(box.parent)).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(tempfile, "tempdir", str(box.parent))
        bucket = server.bucket("side-cars")
        write(box / "eq.tif", rough(), crs=EQUAL_EARTH)
        with pytest.raises(SystemExit) as exit_info:
            main(["slope", str(box / "eq.tif"), f"s3://{bucket}/out/eq.tif"])
        assert exit_info.value.code == 0
        assert server.keys(bucket) == ["out/eq.tif", "out/eq.tif.aux.xml"]
        assert crs_of(f"/vsis3/{bucket}/out/eq.tif")[0] == EQUAL_EARTH
    finally:
        server.close()


# --- cases the issue did not list -----------------------------------------------------

SELF_VRT = """<VRTDataset rasterXSize="10" rasterYSize="10">
  <GeoTransform>500000, 10, 0, 5000000, 0, -10</GeoTransform>
  <VRTRasterBand dataType="Float32" band="1">
    <SimpleSource><SourceFilename relativeToVRT="1">self.vrt</SourceFilename>
      <SourceBand>1</SourceBand></SimpleSource>
  </VRTRasterBand>
</VRTDataset>
"""


def test_more_hostile_paths(box):
    """The output reached through a symlinked folder, /proc/self/cwd, a /vsisubfile/,
    /vsitar/ or braced /vsizip/ path; an --out-dir that is a link to the inputs' folder;
    a FIFO or a terminal as the DEM (GDAL waited for ever); a --from list with no
    newline (/dev/zero: it read for ever); a VRT that names itself; a DEM without
    georeferencing that then fails (its warnings made more lines than the error); a VRT
    whose source is a FIFO (GDAL waited for ever); OUT in /proc; a path over PATH_MAX."""
    size = (box / "dem.tif").stat().st_size
    os.symlink(".", box / "here")
    with zipfile.ZipFile(box / "dems.zip", "w") as archive:
        archive.write(box / "dem.tif", "dem.tif")
    subprocess.run(["tar", "cf", "dems.tar", "dem.tif"], cwd=box, check=True)
    (box / "tiles").mkdir()
    shutil.copy(box / "dem.tif", box / "tiles" / "t.tif")
    os.symlink("tiles", box / "tiles_link")
    os.mkfifo(box / "pipe.tif")
    (box / "self.vrt").write_text(SELF_VRT)
    os.mkfifo(box / "source_pipe")
    (box / "pipe.vrt").write_text(SELF_VRT.replace("self.vrt", "source_pipe"))
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        write(box / "bare.tif", rough(), Affine.identity(), crs=None)
    cases = [
        (1, ("slope", "dem.tif", "here/dem.tif", "--overwrite"),
         ["here/dem.tif: the output would overwrite the input"]),
        (1, ("slope", "dem.tif", "/proc/self/cwd/dem.tif", "--overwrite"),
         ["/proc/self/cwd/dem.tif: the output would overwrite the input"]),
        (1, ("slope", f"/vsisubfile/0_{size},dem.tif", "dem.tif", "--overwrite"),
         ["dem.tif: the output would overwrite dem.tif, which the input reads"]),
        (1, ("slope", "/vsitar/dems.tar/dem.tif", "dems.tar", "--overwrite"),
         ["dems.tar: the output would overwrite dems.tar, which the input reads"]),
        (1, ("slope", "/vsizip/{dems.zip}/dem.tif", "dems.zip", "--overwrite"),
         ["dems.zip: the output would overwrite dems.zip, which the input reads"]),
        (1, ("slope", "tiles/t.tif", "--out-dir", "tiles_link", "--overwrite"),
         ["tiles_link/t.tif: the output would overwrite the input"]),
        (1, ("slope", "pipe.tif", "s.tif"),
         ["pipe.tif: is a named pipe (FIFO), not a raster file"]),
        (1, ("slope", "/dev/null", "s.tif"),
         ["/dev/null: is a character device, not a raster file"]),
        (1, ("slope", "--from", "/dev/zero", "--out-dir", "out"),
         ["/dev/zero: line 1 is longer than 65536 characters"]),
        (1, ("slope", "self.vrt", "s.tif"),
         ["self.vrt: read failed near row 0: Recursion detected"]),
        (1, ("slope", "pipe.vrt", "s.tif"),
         ["pipe.vrt: its source source_pipe is a named pipe (FIFO), not a raster file"]),
        (1, ("slope", "dem.tif", "/proc/x.tif"),
         ["/proc/x.tif: the file system there takes no new files"]),
        (2, ("slope", "dem.tif", "d/" * 2100 + "s.tif"), ["bytes long; the system takes 4095"]),
        (2, ("slope", "bare.tif", "s.tif", "--co", "COMPRESS=LERC", "--co", "MAX_Z_ERROR=-1"),
         ["s.tif: bad creation option"]),
    ]
    refused(box, cases)


@pytest.mark.parametrize("system", ["renameat2", "link", "neither"])
def test_no_clobber_on_every_file_system(tmp_path, monkeypatch, system):
    """Without renameat2 (an old kernel, a file system without RENAME_NOREPLACE) a hard
    link places OUT; without links either (some FUSE mounts), a check before a plain
    rename. Each keeps a file that appeared meanwhile."""
    from terrain import io

    if system != "renameat2":
        monkeypatch.setattr(io, "_libc_renameat2", lambda: None)
    if system == "neither":
        def no_link(src, dst):  # as a file system without hard links
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(io.os, "link", no_link)
    with io.atomic_output(tmp_path / "mine.tif") as tmp:
        write(tmp, np.ones((4, 4), "float32"))
    out = tmp_path / "out.tif"

    def overtaken():
        with io.atomic_output(out) as tmp:
            write(tmp, np.zeros((4, 4), "float32"))
            write(out, np.full((4, 4), 2, "float32"))  # someone else's, meanwhile

    with pytest.raises(OutputExistsError, match="appeared while this run was working"):
        overtaken()
    for name, value in (("mine.tif", 1), ("out.tif", 2)):
        with rasterio.open(tmp_path / name) as src:
            assert (src.read(1) == value).all()
    assert sorted(os.listdir(tmp_path)) == ["mine.tif", "out.tif"]


def test_a_signal_in_a_callback_is_not_lost():
    """A signal handled while Python runs a weak reference's callback (importlib's module
    locks are such): its exception was printed ("Exception ignored in ...") and lost, and
    the run went on with the signals ignored. It is delivered again to the main flow."""
    import weakref

    from terrain import _signals

    class Thing:
        pass

    def interrupted_in_a_callback():
        with _signals.raise_on_signals():
            thing = Thing()
            reference = weakref.ref(thing, lambda _: (os.kill(os.getpid(), signal.SIGTERM),
                                                      time.sleep(0.05)))
            del thing
            assert reference() is None
            time.sleep(5)  # the signal comes again here

    start = time.monotonic()
    with pytest.raises(_signals.Interrupted, match="stopped by SIGTERM"):
        interrupted_in_a_callback()
    assert time.monotonic() - start < 4


@pytest.mark.parametrize(("name", "parts"), [
    ("/vsizip//data/dems.zip/n45.tif", ["/data", "/data/dems.zip", "/data/dems.zip/n45.tif"]),
    ("/vsizip/{/data/a b.zip}/x.tif", ["/data", "/data/a b.zip", "/data", "/data/a b.zip",
                                       "/data/a b.zip/x.tif"]),
    ("/vsigzip/dem.tif.gz", ["dem.tif.gz"]),
    ("/vsisubfile/100_2000,/data/all.bin", ["/data", "/data/all.bin"]),
    ("/vsitar//vsigzip/dems.tar.gz/n45.tif", ["dems.tar.gz", "dems.tar.gz/n45.tif"]),
    ("file:///data/dem.tif", ["/data", "/data/dem.tif"]),
    ("/vsis3/bucket/dem.tif", []),
    ("/vsizip//vsicurl/https://example.com/dems.zip/n45.tif", []),
    ("https://example.com/dem.tif", []),
])
def test_the_local_files_a_gdal_name_reads(name, parts):
    """What OUT is compared with, from GDAL's names: archives around a member, a .gz,
    a subfile's file; nothing for a network path (a same-named local file is no input)."""
    from terrain.io import _local_parts

    assert _local_parts(name) == parts
