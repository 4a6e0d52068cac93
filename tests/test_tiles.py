"""Tile sets: one seamless surface, whatever the cut, the gaps and the executor."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from terrain.cli import main

from .conftest import read

TRANSFORM = Affine(10.0, 0, 500_000.0, 0, -25.0, 5_000_000.0)
ROWS = [0, 1, 10, 23, 37]  # a 1-row tile on top
COLS = [0, 12, 13, 30, 41]  # a 1-column tile
GAP = (2, 2)  # this tile is missing from the set


def run(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def whole_dem(seed=0):
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(37, 41)).cumsum(0).cumsum(1) * 3 + 800).astype("int16")
    z[rng.random(z.shape) < 0.05] = -32768
    z[15:18, 10:16] = -32768  # a hole across tile edges
    return z


def cut(write_dem, tmp_path, z, transform=TRANSFORM, crs="EPSG:32633", overlap=0,
        gap=GAP, rows=ROWS, cols=COLS, nodata=-32768, **write):
    """Write the tiles of ``z``; return their paths and z with the gap as nodata.

    ``nodata`` is the tiles' nodata value, also what the gap is set to (if any);
    ``write`` goes to ``write_dem`` (a dtype...), or, if a function, is called
    with the tile's row and column to give it.
    """
    folder = tmp_path / "tiles"
    folder.mkdir()
    z = z.copy()
    paths = []
    for i in range(len(rows) - 1):
        for j in range(len(cols) - 1):
            r0, r1 = rows[i], min(rows[i + 1] + overlap, z.shape[0])
            c0, c1 = cols[j], min(cols[j + 1] + overlap, z.shape[1])
            if (i, j) == gap:
                if nodata is not None:
                    z[rows[i]:rows[i + 1], cols[j]:cols[j + 1]] = nodata
                continue
            tile_transform = transform @ Affine.translation(c0, r0)
            extra = {k: v(i, j) if callable(v) else v for k, v in write.items()}
            paths.append(write_dem(z[r0:r1, c0:c1], tile_transform, crs=crs,
                                   nodata=nodata, name=f"tiles/t{i}{j}.tif", **extra))
    return paths, z


def place(path, transform):
    """Row and column offsets, height and width of a tile in the whole raster."""
    with rasterio.open(path) as src:
        c, r = ~transform @ (src.transform.c, src.transform.f)
        return round(r), round(c), *src.shape


def check_seamless(tmp_path, whole, paths, out_dir, transform=TRANSFORM):
    want = read(whole, 1)[0]
    for path in paths:
        r, c, h, w = place(path, transform)
        with rasterio.open(out_dir / path.name) as dst, rasterio.open(path) as src:
            assert dst.transform == src.transform
            got = dst.read(1)
        expect = np.where(np.isnan(want[r:r + h, c:c + w]), -9999,
                          want[r:r + h, c:c + w]).astype(np.float32)
        np.testing.assert_array_equal(got, expect, err_msg=path.name)


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:4326"])
def test_tiles_equal_whole_raster_cut(write_dem, tmp_path, jobs, crs):
    transform = TRANSFORM if crs == "EPSG:32633" else Affine(1 / 1200, 0, 8, 0, -1 / 1200, 47)
    paths, z = cut(write_dem, tmp_path, whole_dem(), transform, crs)
    whole = write_dem(z, transform, crs=crs, nodata=-32768, name="whole.tif")
    assert run("slope", whole, tmp_path / "whole_slope.tif") == 0
    assert run("slope", *paths, "--out-dir", tmp_path / "out", "--jobs", jobs) == 0
    check_seamless(tmp_path, tmp_path / "whole_slope.tif", paths, tmp_path / "out", transform)


def _as_float32_nan(z):
    return np.where(z == -32768, np.nan, z + 0.25).astype(np.float32)


def _as_float32_sentinel(z):
    return np.where(z == -32768, -9999, z + 0.25).astype(np.float32)


def _as_uint16(z):
    return np.where(z == -32768, 700, z).astype(np.uint16)


def _as_two_types(z):
    """Elevations of float32 tiles rounded to float32; nodata (0.1) where z is."""
    z = np.where(z == -32768, 0.1, z + 0.1)
    rounded = z.astype(np.float32).astype(np.float64)
    even = np.add.outer(np.searchsorted(ROWS, np.arange(z.shape[0]), "right"),
                        np.searchsorted(COLS, np.arange(z.shape[1]), "right")) % 2 == 0
    return np.where(even & (z != 0.1), rounded, z)


#: Tiles of every type and nodata rule (their elevations, tiles' nodata, write_dem's
#: options, and the whole raster's type): each stitched as one file reads it.
KINDS = {
    "float32, NaN for nodata": (_as_float32_nan, None, {}, "float32"),
    "float32, nodata -9999": (_as_float32_sentinel, -9999, {}, "float32"),
    # no nodata: the gap can only be told by a validity array (the whole: NaN there)
    "uint16, no nodata": (_as_uint16, None, {}, "float64"),
    # tiles of two types, read each in its own (GDAL gives the float32 tiles' nodata
    # 0.1 rounded to float32) and stitched with a validity array
    "float32 and float64 tiles, nodata 0.1": (
        _as_two_types, 0.1, {"dtype": lambda i, j: "float32" if (i + j) % 2 == 0
                             else "float64"}, "float64"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("block", [None, 16])
def test_tile_types_and_nodata_rules_equal_one_file(write_dem, tmp_path, kind, block):
    convert, nodata, write, whole_type = KINDS[kind]
    z = convert(whole_dem(5))
    gap_value = np.nan if nodata is None else nodata
    paths, z = cut(write_dem, tmp_path, z, nodata=nodata, **write)
    if nodata is None:  # the gap, as the whole raster marks it
        z = z.astype(np.float64)
        z[ROWS[GAP[0]]:ROWS[GAP[0] + 1], COLS[GAP[1]]:COLS[GAP[1] + 1]] = gap_value
    whole = write_dem(z.astype(whole_type), TRANSFORM, nodata=nodata, name="whole.tif")
    blocks = () if block is None else ("--block-size", block)
    assert run("gradient", whole, tmp_path / "g.tif", *blocks) == 0
    assert run("gradient", *paths, "--out-dir", tmp_path / "out", *blocks) == 0
    for band in (1, 2):
        want = read(tmp_path / "g.tif", band)[0]
        assert np.isfinite(want).sum() > 0.6 * want.size  # not all nodata
        for path in paths:
            r, c, h, w = place(path, TRANSFORM)
            got = read(tmp_path / "out" / path.name, band)[0]
            np.testing.assert_array_equal(got, want[r:r + h, c:c + w], err_msg=path.name)


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("block", [16, 32])
def test_blocks_inside_one_tile_and_across_tiles(write_dem, tmp_path, mask, block):
    """Tiles larger than a block: some windows lie in one tile, read as one file's;
    others across two or four. With a dataset mask (no nodata value), what the
    mask hides is nodata, at tile edges too."""
    rng = np.random.default_rng(6)
    z = (rng.normal(size=(70, 81)).cumsum(0).cumsum(1) + 500).astype(np.float32)
    hidden = rng.random(z.shape) < 0.03
    hidden[30:40, 36:44] = True  # across the four tiles' corner
    rows, cols = [0, 35, 70], [0, 40, 81]
    folder = tmp_path / "tiles"
    folder.mkdir()
    paths = []
    for i in range(2):
        for j in range(2):
            part = (slice(rows[i], rows[i + 1]), slice(cols[j], cols[j + 1]))
            path = write_dem(z[part] if mask else np.where(hidden, -9999, z)[part],
                             TRANSFORM @ Affine.translation(cols[j], rows[i]),
                             nodata=None if mask else -9999, name=f"tiles/t{i}{j}.tif")
            if mask:
                with rasterio.open(path, "r+") as dst:
                    dst.write_mask(~hidden[part])
            paths.append(path)
    whole = write_dem(np.where(hidden, np.nan, z), TRANSFORM, name="whole.tif")
    assert run("slope", whole, tmp_path / "s.tif", "--block-size", block) == 0
    assert run("slope", *paths, "--out-dir", tmp_path / "out", "--block-size", block) == 0
    want = read(tmp_path / "s.tif", 1)[0]
    assert np.isnan(want[hidden]).all()
    assert np.isfinite(want).sum() > 0.8 * want.size
    for path in paths:
        r, c, h, w = place(path, TRANSFORM)
        got = read(tmp_path / "out" / path.name, 1)[0]
        np.testing.assert_array_equal(got, want[r:r + h, c:c + w], err_msg=path.name)


def test_folder_and_glob_inputs(write_dem, tmp_path):
    paths, z = cut(write_dem, tmp_path, whole_dem(1))
    whole = write_dem(z, TRANSFORM, nodata=-32768, name="whole.tif")
    assert run("aspect", whole, tmp_path / "whole_aspect.tif") == 0
    assert run("aspect", tmp_path / "tiles", "--out-dir", tmp_path / "a") == 0
    assert run("aspect", str(tmp_path / "tiles" / "t*.tif"), "--out-dir", tmp_path / "b",
               "--block-size", 16) == 0
    for out in ("a", "b"):
        check_seamless(tmp_path, tmp_path / "whole_aspect.tif", paths, tmp_path / out)


def test_overlapping_tiles_that_agree(write_dem, tmp_path):
    """SRTM-style: tiles share their edge row and column."""
    paths, z = cut(write_dem, tmp_path, whole_dem(2), overlap=1, gap=None)
    whole = write_dem(z, TRANSFORM, nodata=-32768, name="whole.tif")
    assert run("gradient", whole, tmp_path / "g.tif") == 0
    assert run("gradient", *paths, "--out-dir", tmp_path / "out") == 0
    for band in (1, 2):
        want = read(tmp_path / "g.tif", band)[0]
        for path in paths:
            r, c, h, w = place(path, TRANSFORM)
            got = read(tmp_path / "out" / path.name, band)[0]
            np.testing.assert_array_equal(got, want[r:r + h, c:c + w])


@pytest.mark.parametrize("a_first", [True, False])
def test_overlap_that_disagrees_first_tile_given_wins(write_dem, tmp_path, a_first):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(10, 12)).cumsum(1) * 5
    b_z = z[:, 5:].copy()
    b_z[:, :2] += 100  # disagrees where it overlaps a.tif (columns 5, 6)
    a = write_dem(z[:, :7], TRANSFORM, name="a.tif")
    b = write_dem(b_z, TRANSFORM @ Affine.translation(5, 0), name="b.tif")
    mosaic = z.copy()
    if not a_first:
        mosaic[:, 5:7] = b_z[:, :2]
    whole = write_dem(mosaic, TRANSFORM, name="whole.tif")
    assert run("slope", whole, tmp_path / "s.tif") == 0
    assert run("slope", *((a, b) if a_first else (b, a)), "--out-dir", tmp_path / "out") == 0
    want = read(tmp_path / "s.tif", 1)[0]
    np.testing.assert_array_equal(read(tmp_path / "out" / "a.tif", 1)[0], want[:, :7])
    np.testing.assert_array_equal(read(tmp_path / "out" / "b.tif", 1)[0], want[:, 5:])


def test_crs_mismatch_refused_nothing_written(write_dem, tmp_path, capsys):
    paths, _ = cut(write_dem, tmp_path, whole_dem())
    odd = write_dem(np.zeros((5, 5)), TRANSFORM, crs="EPSG:32634", name="tiles/zz.tif")
    assert run("slope", *paths, odd, "--out-dir", tmp_path / "out") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("terrain: error: zz.tif")
    assert not (tmp_path / "out").exists()


def test_off_grid_tile_refused(write_dem, tmp_path, capsys):
    a = write_dem(np.zeros((5, 5)), TRANSFORM, name="a.tif")
    b = write_dem(np.zeros((5, 5)), TRANSFORM @ Affine.translation(5.5, 0), name="b.tif")
    assert run("slope", a, b, "--out-dir", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "b.tif" in err
    assert "same grid" in err
    assert not (tmp_path / "out").exists()


def test_corrupt_tile_reported_others_written(write_dem, tmp_path, capsys):
    paths, _ = cut(write_dem, tmp_path, whole_dem())
    bad = tmp_path / "tiles" / "broken.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 100)
    assert run("slope", tmp_path / "tiles", "--out-dir", tmp_path / "out") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "broken.tif" in err[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)


def test_on_a_local_dask_cluster(write_dem, tmp_path):
    distributed = pytest.importorskip("distributed")
    paths, z = cut(write_dem, tmp_path, whole_dem(3))
    whole = write_dem(z, TRANSFORM, nodata=-32768, name="whole.tif")
    assert run("slope", whole, tmp_path / "whole_slope.tif") == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        assert run("slope", *paths, "--out-dir", tmp_path / "out",
                   "--scheduler", cluster.scheduler_address) == 0
    check_seamless(tmp_path, tmp_path / "whole_slope.tif", paths, tmp_path / "out")


def test_many_tiles_neighbour_lookup_is_local():
    """The index answers from the buckets a window touches, not from every tile."""
    from terrain.tiles import Tile, TileSet

    tiles = [Tile(None, 100 * i, 100 * j, 100, 100, (100, 100))
             for i in range(60) for j in range(60)]
    ts = TileSet(tiles, TRANSFORM, None, (6000, 6000))
    ts._build_index()
    found = ts.overlapping(slice(298, 402), slice(498, 502))
    assert [(t.row_off, t.col_off) for t in found] == [
        (r, c) for r in (200, 300, 400) for c in (400, 500)]
    assert max(len(v) for v in ts._index.values()) == 1


def test_progress_counts_tiles_bad_ones_included(write_dem, tmp_path):
    from terrain.options import Options
    from terrain.tiles import run_tiles

    paths, _ = cut(write_dem, tmp_path, whole_dem())
    bad = tmp_path / "tiles" / "broken.tif"
    bad.write_text("not a raster")
    calls = []
    failed = run_tiles([*paths, bad], tmp_path / "out", Options("slope"), jobs=2,
                       progress=lambda *a: calls.append(a))
    assert [path for path, _ in failed] == [str(bad)]
    total = len(paths) + 1
    assert calls == [(i, total) for i in range(1, total + 1)]


def test_run_tiles_takes_one_path_as_one_input(write_dem, tmp_path):
    """A string is one path (or folder, or pattern), not a sequence of one-letter inputs."""
    from terrain.options import Options
    from terrain.tiles import run_tiles

    paths, _ = cut(write_dem, tmp_path, whole_dem())
    assert run_tiles(str(tmp_path / "tiles"), tmp_path / "a", Options("slope")) == []
    big = max(paths, key=lambda p: rasterio.open(p).height)  # one tile 2 pixels high or more
    assert run_tiles(str(big), tmp_path / "b", Options("slope")) == []
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in paths)
    assert [p.name for p in (tmp_path / "b").iterdir()] == [big.name]


def test_one_tile_with_jobs_computes_on_threads_as_one_file(write_dem, tmp_path):
    """Fewer tiles than jobs: the tile is read, computed and written on threads,
    and equals the same file computed alone, bit for bit."""
    rng = np.random.default_rng(7)
    z = (rng.normal(size=(90, 70)).cumsum(0).cumsum(1) + 500).astype(np.float32)
    z[rng.random(z.shape) < 0.02] = -9999
    path = write_dem(z, TRANSFORM, nodata=-9999, name="only.tif")
    assert run("aspect", path, tmp_path / "a.tif", "--block-size", 32, "--jobs", 2) == 0
    assert run("aspect", path, "--out-dir", tmp_path / "out", "--block-size", 32,
               "--jobs", 2) == 0
    want = read(tmp_path / "a.tif", 1)[0]
    assert np.isfinite(want).sum() > 0.8 * want.size
    np.testing.assert_array_equal(read(tmp_path / "out" / "only.tif", 1)[0], want)


def test_lanes_hand_out_every_tile_once_neighbours_together():
    """Each worker takes its lane from the front; one whose lane is done takes
    from the back of the lane with most left; every tile exactly once."""
    import copy
    import multiprocessing

    from terrain.tiles import _Lanes

    lanes = _Lanes([10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 2,
                   multiprocessing.get_context("spawn"))
    a, b = copy.copy(lanes), copy.copy(lanes)  # two workers, one shared state
    taken_a = [a.take() for _ in range(3)]
    taken_b = [b.take()]
    taken_a += [a.take() for _ in range(4)]  # its lane is done after two: takes b's back
    taken_b += [b.take(), b.take()]
    assert taken_a == [10, 11, 12, 13, 14, 19, 18]
    assert taken_b == [15, 16, 17]
    assert a.take() is None
    assert b.take() is None


def test_order_runs_row_by_row_within_cache_sized_stripes():
    from terrain.tiles import Tile, TileSet, _order

    def grid(size, n):
        tiles = [Tile(f"{i}{j}", size * i, size * j, size, size, (size, size))
                 for i in range(n) for j in range(n)]
        ts = TileSet(tiles[::-1], TRANSFORM, None, (size * n, size * n))
        return ts, [(t.row_off // size, t.col_off // size)
                    for t in (ts.tiles[k] for k in _order(ts, range(n * n)))]

    # small tiles: a stripe holds the whole width, rows north to south, west to east
    assert grid(100, 3)[1] == [(i, j) for i in range(3) for j in range(3)]
    # tiles of 4096²: GDAL's cache holds one a stripe, so columns of tiles
    assert grid(4096, 3)[1] == [(i, j) for j in range(3) for i in range(3)]
