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
        gap=GAP):
    """Write the tiles of ``z``; return their paths and z with the gap as nodata."""
    folder = tmp_path / "tiles"
    folder.mkdir()
    z = z.copy()
    paths = []
    for i in range(len(ROWS) - 1):
        for j in range(len(COLS) - 1):
            r0, r1 = ROWS[i], min(ROWS[i + 1] + overlap, z.shape[0])
            c0, c1 = COLS[j], min(COLS[j + 1] + overlap, z.shape[1])
            if (i, j) == gap:
                z[ROWS[i]:ROWS[i + 1], COLS[j]:COLS[j + 1]] = -32768
                continue
            tile_transform = transform @ Affine.translation(c0, r0)
            paths.append(write_dem(z[r0:r1, c0:c1], tile_transform, crs=crs,
                                   nodata=-32768, name=f"tiles/t{i}{j}.tif"))
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
