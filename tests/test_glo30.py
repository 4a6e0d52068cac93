"""Tile sets whose column width changes with latitude, as Copernicus GLO-30's do.

Synthetic tiles in GLO-30's layout (tests/glo30.py), 1' square with rows 1"
apart as GLO-30's, across 50°N (columns 1" south of it, 1.5" north) and 60°N
(1.5", 2"): the same 1 : 1.5 : 2 column ratios. Surfaces are analytic in
ellipsoidal metres: functions of the distance along the meridian, whose
derivative is the dz/dy terrain computes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio

from terrain.cli import main
from terrain.tiles import _ACROSS, _interpolate

from . import glo30
from .conftest import read

ROOT = Path(__file__).resolve().parents[1]
ROW = 1 / 3600  # degrees: GLO-30's 1" rows
SIZE = 1 / 60  # degrees: 1' tiles, 60 rows
WEST = (10.0, 10.0 + SIZE)  # two tiles side by side in each band
EDGES = (50, 60)
GEOD = pyproj.Geod(ellps="WGS84")  # EPSG:4326's ellipsoid
A, E2 = 6378137.0, 0.00669437999014  # WGS84: semi-major axis, first eccentricity squared


def meridian(lat):
    """Distance (m) along the meridian from the equator to ``lat`` (degrees)."""
    lat = np.asarray(lat, dtype=float)
    _, _, d = GEOD.inv(np.zeros(lat.size), np.zeros(lat.size), np.zeros(lat.size),
                       lat.ravel())
    return np.asarray(d).reshape(lat.shape)


def parallel_radius(lat):
    phi = np.radians(lat)
    return A / np.sqrt(1 - E2 * np.sin(phi) ** 2) * np.cos(phi)


class Wave:
    """z = H sin(ky y + 0.3) cos(kx x + 0.2), y metres north along the meridian from
    ``origin``, x metres east along the parallel there; wavelengths about 40 pixels."""

    H = 100.0

    def __init__(self, origin: float):
        self.s0, self.r0 = meridian(origin), parallel_radius(origin)
        self.ky = 2 * np.pi / (40 * 30.9)
        self.kx = 2 * np.pi / 1100.0

    def _x(self, lon):
        return self.r0 * np.radians(lon - 10.0)

    def __call__(self, lat, lon):
        return self.H * np.sin(self.ky * (meridian(lat) - self.s0) + 0.3) * np.cos(
            self.kx * self._x(lon) + 0.2)

    def dzdy(self, lat, lon):
        return self.H * self.ky * np.cos(self.ky * (meridian(lat) - self.s0) + 0.3) * np.cos(
            self.kx * self._x(lon) + 0.2)


class Plane:
    """z = 0.3 y + 0.2 x in metres: y north along the meridian from ``origin``, x east
    along its parallel; dz/dy = 0.3, dz/dx = 0.2 r0 / (N cos phi) on each row."""

    def __init__(self, origin: float):
        self.s0, self.r0 = meridian(origin), parallel_radius(origin)

    def __call__(self, lat, lon):
        return 0.3 * (meridian(lat) - self.s0) + 0.2 * self.r0 * np.radians(lon - 10.0)

    def dzdx(self, lat, lon):
        return 0.2 * self.r0 / parallel_radius(lat) + 0 * lon


def central(surface, lat, lon):
    """The central difference dz/dy at a row of pixels (latitude ``lat``, longitudes
    ``lon``) from the true elevations of the rows either side at the same longitudes."""
    phi = lat[0]
    rows = np.stack([surface(lat + ROW, lon), surface(lat, lon), surface(lat - ROW, lon)])
    return np.gradient(rows, meridian(np.array([phi + ROW, phi, phi - ROW])), axis=0)[1]


def run(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code


def tile_name(edge: int, side: str, i: int) -> str:
    return f"e{edge}{side}{i}.tif"


def layout(folder: Path, surfaces: dict, dtype="float64", edges=EDGES) -> dict[str, Path]:
    """Two tiles each side of each edge, named e{edge}{s|n}{i}; {name: path}."""
    paths = {}
    for edge in edges:
        for side, south in (("s", edge - SIZE), ("n", edge)):
            for i, west in enumerate(WEST):
                name = tile_name(edge, side, i)
                paths[name] = glo30.write(folder / name, south, west, SIZE, ROW,
                                          surfaces[edge], dtype)
    return paths


def grid(path):
    """Latitudes and longitudes of a tile's pixel centres, degrees (2-D, rows x cols)."""
    with rasterio.open(path) as src:
        lat, lon = glo30.centres(src.transform, src.height, src.width)
    return np.meshgrid(lat, lon, indexing="ij")


@pytest.fixture(scope="module")
def waves(tmp_path_factory):
    """The wave across both edges: tiles, and the gradient of the set (central method)."""
    root = tmp_path_factory.mktemp("waves")
    surfaces = {edge: Wave(edge) for edge in EDGES}
    paths = layout(root / "tiles", surfaces)
    assert run("gradient", *paths.values(), "--out-dir", root / "out", "-q") == 0
    return root, paths, surfaces


def test_band_edge_rows_are_the_central_difference(waves):
    """dz/dy in the row each side of a band edge: within a tenth of the central
    stencil's own error of the ideal central difference, whose third row holds the
    true elevations of the other band's row at this tile's columns."""
    root, paths, surfaces = waves
    ratios = {}
    for edge in EDGES:
        surface = surfaces[edge]
        for side, row in (("n", -1), ("s", 0)):  # the north band's last row, the south's first
            interpolated, own = [], []
            for i in range(len(WEST)):
                name = tile_name(edge, side, i)
                lat, lon = grid(paths[name])
                lat, lon = lat[row], lon[row]
                got = read(root / "out" / name, 2)[0][row]
                ideal = central(surface, lat, lon)
                interpolated.append(got - ideal)
                own.append(ideal - surface.dzdy(lat, lon))
            ratio = np.abs(interpolated).max() / np.abs(own).max()
            ratios[edge, side] = ratio
            assert np.abs(own).max() > 1e-4  # the stencil's own error is there to compare
            assert ratio <= 0.1, (edge, side, ratio)
    assert len(ratios) == 4


@pytest.mark.parametrize("method", ["central", "horn"])
def test_away_from_band_edges_the_same_bits_as_each_band_alone(tmp_path, method):
    """Each band run alone (its tiles as a set of their own) gives the same bits,
    except in the rows whose halo crosses a band edge, which differ."""
    surfaces = {edge: Wave(edge) for edge in EDGES}
    paths = layout(tmp_path / "tiles", surfaces)
    assert run("gradient", *paths.values(), "--out-dir", tmp_path / "all", "--method",
               method, "-q") == 0
    bands = {"1": ["e50s0.tif", "e50s1.tif"],
             "1.5": ["e50n0.tif", "e50n1.tif", "e60s0.tif", "e60s1.tif"],
             "2": ["e60n0.tif", "e60n1.tif"]}
    for band, names in bands.items():
        assert run("gradient", *(paths[n] for n in names), "--out-dir", tmp_path / band,
                   "--method", method, "-q") == 0
        for name in names:
            together = rasterio.open(tmp_path / "all" / name).read()
            alone = rasterio.open(tmp_path / band / name).read()
            # the row at the band edge: a tile north of its edge, its last row
            edge = slice(-1, None) if name[3] == "n" else slice(0, 1)
            keep = np.ones(together.shape[1], dtype=bool)
            keep[edge] = False
            np.testing.assert_array_equal(together[:, keep], alone[:, keep], err_msg=name)
            changed = together[1, edge] != alone[1, edge]  # dz/dy of the edge row
            assert changed.mean() > 0.9, name
            if method == "central":  # dz/dx reads its own row only
                np.testing.assert_array_equal(together[0], alone[0], err_msg=name)
            else:  # Horn's dz/dx reads the rows either side
                assert (together[0, edge] != alone[0, edge]).mean() > 0.9, name


@pytest.mark.parametrize("method", ["central", "horn"])
def test_plane_in_metres_within_1e6_everywhere(tmp_path, method):
    """Central: everywhere, borders, band edges and corners included. Horn (whose
    border and gap rules are gdaldem's, not exact for a plane at a raster's corners
    and beside gaps): in the rows that read across a band edge, where its dz/dx
    takes the interpolated rows' values either side (the corners of its 3 x 3)."""
    surfaces = {edge: Plane(edge) for edge in EDGES}
    paths = layout(tmp_path / "tiles", surfaces)
    assert run("gradient", *paths.values(), "--out-dir", tmp_path / "out", "--method", method,
               "-q") == 0
    for name, path in paths.items():
        lat, lon = grid(path)
        out = read(tmp_path / "out" / name)[0]
        rows = slice(None) if method == "central" else slice(-1, None) if name[3] == "n" \
            else slice(0, 1)
        np.testing.assert_allclose(out[1, rows], 0.3, rtol=0, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(out[0, rows], surfaces[int(name[1:3])].dzdx(lat, lon)[rows],
                                   rtol=0, atol=1e-6, err_msg=name)


def test_outputs_tagged_with_the_band_edges_they_share(waves):
    root, paths, _ = waves
    for name in paths:
        with rasterio.open(root / "out" / name) as src:
            assert src.tags()["TERRAIN_BAND_EDGES"] == ("south" if name[3] == "n" else "north")
    # corners: the 1" tile e50s0 reads the 1.5" rows north of e50s1 (its neighbour
    # in its band) in its halo; without e50s1 it reads no 1.5" pixel at all
    corner = [paths["e50s0.tif"], paths["e50s1.tif"], paths["e50n1.tif"]]
    for names, want in ((corner, ["north", "north", "south"]),
                        (corner[::2], ["none", "none"])):
        out = root / f"corner{len(names)}"
        assert run("slope", *names, "--out-dir", out, "-q") == 0
        assert [rasterio.open(out / p.name).tags()["TERRAIN_BAND_EDGES"]
                for p in names] == want
    # a set of one band has no band edge, and no tag
    one = [paths["e50s0.tif"], paths["e50s1.tif"]]
    assert run("slope", *one, "--out-dir", root / "one", "-q") == 0
    with rasterio.open(root / "one" / "e50s0.tif") as src:
        assert "TERRAIN_BAND_EDGES" not in src.tags()


def test_a_band_between_two_others_reads_both(tmp_path):
    """A 1.5" tile between 1" tiles north and south (not GLO-30's layout, one the
    bands allow; the 1" band's mosaic holds the 1.5" tile as a gap): both its edges
    are band edges, and a plane in metres comes out within 1e-6 everywhere."""
    plane = Plane(50)
    south = glo30.write(tmp_path / "south.tif", 50 - SIZE, 10.0, SIZE, ROW, plane)
    middle = glo30.write(tmp_path / "middle.tif", 50.0, 10.0, SIZE, ROW, plane)
    north = tmp_path / "north.tif"
    t = rasterio.Affine(ROW, 0, 10 - ROW / 2, 0, -ROW, 50 + 2 * SIZE + ROW / 2)
    lat, lon = glo30.centres(t, 60, 60)
    with rasterio.open(north, "w", driver="GTiff", width=60, height=60, count=1,
                       dtype="float64", crs=glo30.CRS, transform=t) as dst:
        dst.write(plane(*np.meshgrid(lat, lon, indexing="ij")), 1)
    assert run("gradient", south, middle, north, "--out-dir", tmp_path / "out", "-q") == 0
    edges = {}
    for path in (south, middle, north):
        lat, lon = grid(path)
        with rasterio.open(tmp_path / "out" / path.name) as src:
            edges[path.stem] = src.tags()["TERRAIN_BAND_EDGES"]
            out = src.read().astype(float)
        np.testing.assert_allclose(out[1], 0.3, rtol=0, atol=1e-6, err_msg=path.name)
        np.testing.assert_allclose(out[0], plane.dzdx(lat, lon), rtol=0, atol=1e-6)
    assert edges == {"south": "north", "middle": "north,south", "north": "south"}


def cubic(lat, lon):
    """A cubic in longitude (u, in the 1.5" band's columns) times a cubic in latitude
    (k, in rows from 50°N), so that the central and one-sided stencils differ."""
    u, k = (lon - 10.0) / (1.5 * ROW), (lat - 50.0) / ROW
    return (50 + 0.5 * u + 0.02 * u**2 + 1e-4 * u**3) * (1 + 0.01 * k + 1e-3 * k**3)


def test_interpolation_exact_for_cubics_shifted_next_to_nodata_and_outside():
    """The rule at nodata and at the set's edge: four consecutive valid columns
    reaching to within half a column of the point, shifted away from a hole or the
    edge (still exact for cubics), else three (exact for quadratics), else nodata."""
    n = 12
    x = np.arange(n, dtype=float)
    poly = [0.03, -0.2, 0.5, 1.0]  # a cubic in the column number
    z = np.stack([np.polyval(poly, x)] * 3)
    valid = np.ones_like(z, dtype=bool)
    valid[1, 6] = False  # row 1: a hole at column 6
    valid[2, [3, 7]] = False  # row 2: holes at 3 and 7; 4-6 is a run of three
    wide_t = 3 + np.array([-0.6, -0.5, 0.0, 0.4, 2.0, 4.5, 5.25, 5.5, 5.75, 6.0, 6.5,
                           10.5, 11.0, 11.5, 11.6])
    t = wide_t - 3  # exact: as the band reader shifts its positions
    got, ok = _interpolate(z, valid, t)
    cubic_at = np.polyval(poly, t)
    # row 0, no hole: exact for the cubic within half a column of the columns
    covered = (t >= -0.5) & (t <= n - 0.5)
    assert ok[0].tolist() == covered.tolist()
    np.testing.assert_allclose(got[0, covered], cubic_at[covered], rtol=1e-13)
    # on a column: its own value, bit for bit
    on = np.isin(t, x)
    np.testing.assert_array_equal(got[0, on], z[0, t[on].astype(int)])
    # row 1: nodata within half a column of the hole; elsewhere four nodes shifted
    # away from it, still exact for the cubic
    near = np.abs(t - 6) < 0.5
    assert ok[1].tolist() == (covered & ~near).tolist()
    np.testing.assert_allclose(got[1, ok[1]], cubic_at[ok[1]], rtol=1e-13)
    # row 2: from 4 to 6 a run of three valid columns: a quadratic, not the cubic
    for ti in (4.5, 5.25, 5.5, 6.5):  # 6.5: half a column beyond the run, inclusive
        k = list(t).index(ti)
        assert ok[2, k]
        quadratic = np.polyval(np.polyfit([4, 5, 6], z[2, 4:7], 2), ti)
        np.testing.assert_allclose(got[2, k], quadratic, rtol=1e-13)
        assert abs(got[2, k] - cubic_at[k]) > 1e-3
    # a wider read of the same rows gives the same bits
    pad = np.zeros((3, 3)), np.zeros((3, 2))
    wide = np.concatenate([pad[0], z, pad[1]], axis=1)
    wide_valid = np.concatenate([pad[0] > 0, valid, pad[1] > 0], axis=1)
    again, ok_again = _interpolate(wide, wide_valid, wide_t)
    np.testing.assert_array_equal(ok_again, ok)
    np.testing.assert_array_equal(again[ok], got[ok])
    assert _ACROSS == (4, 3)


def test_nodata_in_the_other_band_stencils_shift_or_the_edge_takes_the_border_stencil(
        tmp_path):
    """A cubic in longitude: the north band's row at 50°N holds holes. Where the 4
    nodes shift away from a hole, dz/dy at the south band's edge row is still the
    ideal central difference; within half a column of a hole, the pixel takes the
    one-sided stencil, the same bits as its band alone."""
    paths = layout(tmp_path / "tiles", {50: cubic}, edges=(50,))
    holes = [5, 18]  # columns of the north band's row at the edge, 1.5" wide
    with rasterio.open(paths["e50n0.tif"], "r+") as dst:
        z = dst.read(1)
        dst.nodata = -32768.0
        z[-1, holes] = -32768.0
        dst.write(z, 1)
    assert run("gradient", *paths.values(), "--out-dir", tmp_path / "out", "-q") == 0
    alone = tmp_path / "alone"
    south = [paths["e50s0.tif"], paths["e50s1.tif"]]
    assert run("gradient", *south, "--out-dir", alone, "-q") == 0
    lat, lon = grid(paths["e50s0.tif"])
    got = read(tmp_path / "out" / "e50s0.tif", 2)[0][0]
    lone = read(alone / "e50s0.tif", 2)[0][0]
    lat, lon = lat[0], lon[0]
    ideal = central(cubic, lat, lon)
    # this tile's 1" columns in the north band's 1.5" columns: u = c / 1.5. Those
    # within half a column of a hole have no value across the edge: c = 7, 8 (u =
    # 4.67, 5.33 beside 5) and 27 (u = 18)
    u = np.arange(lat.size) / 1.5
    border = np.abs(u[:, None] - np.array(holes)).min(axis=1) < 0.5
    assert np.flatnonzero(border).tolist() == [7, 8, 27]
    np.testing.assert_array_equal(got[border], lone[border])
    assert not np.isclose(got[border], ideal[border], rtol=1e-4).any()
    # elsewhere the central difference, exact for the cubic: four nodes shifted
    # away from the holes (c = 5, u = 3.33, takes 1-4, not 2-5; c = 26, u = 17.33,
    # takes 14-17, half a column beyond the last)
    np.testing.assert_allclose(got[~border], ideal[~border], rtol=1e-6)
    assert not border[[5, 26]].any()


def test_every_path_gives_the_same_bits(waves, tmp_path):
    """--jobs 2, a Dask cluster, and the tiles at URLs: the bits of one process."""
    distributed = pytest.importorskip("distributed")
    from .test_remote import Server

    root, paths, _ = waves
    assert run("gradient", *paths.values(), "--out-dir", tmp_path / "jobs", "--jobs", 2,
               "--block-size", 16, "-q") == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        assert run("gradient", *paths.values(), "--out-dir", tmp_path / "dask",
                   "--scheduler", cluster.scheduler_address, "-q") == 0
    www = tmp_path / "www"
    shutil.copytree(root / "tiles", www)
    server = Server(www, tmp_path / "served.log")
    try:
        listing = "".join(server.url(name) + "\n" for name in paths)
        # one worker: with two, reads from tests/range_server.py fail now and then
        # (a hang, or "corrupt or truncated data"), on main's code too; moto's S3
        # server (docs/tiles.md's GLO-30 run) serves two workers without fail
        done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "gradient", "--from", "-",
                               "--out-dir", str(tmp_path / "urls"), "--jobs", "1", "-q"],
                              input=listing,
                              capture_output=True, text=True, timeout=120, check=False)
        assert (done.returncode, done.stderr) == (0, "")
    finally:
        server.stop()
    for name in paths:
        want = rasterio.open(root / "out" / name).read()
        for way in ("jobs", "dask", "urls"):
            with rasterio.open(tmp_path / way / name) as src:
                np.testing.assert_array_equal(src.read(), want, err_msg=f"{way}: {name}")
                assert src.tags()["TERRAIN_BAND_EDGES"] in ("north", "south")


def flat(lat, lon):
    return 100 + 0 * lat


@pytest.mark.parametrize("centred", [False, True])
def test_side_by_side_different_widths_refused_one_line_naming_both(tmp_path, centred):
    """A 1.5" tile east of a 1" tile at the same latitudes: refused by a real
    process, with one line naming both; nothing written, inputs unchanged. Their
    edges touch, or (``centred``) both have their first pixel centred on their
    corner, as GLO-30's: then they overlap by a quarter of a second."""
    a = glo30.write(tmp_path / "tiles" / "a.tif", 49.5, 10.0, SIZE, ROW, flat)
    b = tmp_path / "tiles" / "b.tif"
    t, rows, _ = glo30.transform(49.5, 10.0 + SIZE, SIZE, ROW)
    t = t @ rasterio.Affine.scale(1.5, 1)
    if centred:
        t = t @ rasterio.Affine.translation(-1 / 6, 0)  # half 1.5" less half 1", in 1.5"
    with rasterio.open(b, "w", driver="GTiff", width=40, height=rows, count=1,
                       dtype="float64", crs=glo30.CRS, transform=t) as dst:
        dst.write(np.full((rows, 40), 100.0), 1)
    before = {p: p.read_bytes() for p in (a, b)}
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "slope", str(a), str(b),
                           "--out-dir", str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0] == ("terrain: error: a.tif and b.tif lie side by side with different "
                        "column widths (0.000277778 and 0.000416667): tiles of different "
                        "column grids must lie north and south of each other (latitude bands)")
    assert not (tmp_path / "out").exists()
    assert {p: p.read_bytes() for p in (a, b)} == before


def test_projected_tiles_of_different_widths_refused_as_before(write_dem, tmp_path, capsys):
    """Column widths may change between bands on a lat/lon CRS only."""
    a = write_dem(np.zeros((5, 6)), rasterio.Affine(10, 0, 500_000, 0, -10, 5_000_050),
                  name="a.tif")
    b = write_dem(np.zeros((5, 4)), rasterio.Affine(15, 0, 500_000, 0, -10, 5_000_000),
                  name="b.tif")
    assert run("slope", a, b, "--out-dir", tmp_path / "out") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["terrain: error: b.tif does not match a.tif: pixel size 15 x -10 differs "
                   "from 10 x -10"]


@pytest.mark.parametrize(("change", "words"), [
    ("crs", "CRS"),
    ("rows", "row spacing"),
    ("offset", "not a whole number of rows"),
    ("overlap", "overlap with different column widths"),
])
def test_other_differences_refused_naming_both(tmp_path, capsys, change, words):
    south = glo30.write(tmp_path / "s.tif", 50 - SIZE, 10.0, SIZE, ROW, flat)
    north = tmp_path / "n.tif"
    t, rows, cols = glo30.transform(50.0, 10.0, SIZE, ROW)
    crs = glo30.CRS
    if change == "crs":
        crs = "EPSG:4258"
    elif change == "rows":
        t = t @ rasterio.Affine.scale(1, 1.5)
    elif change == "offset":
        t = t @ rasterio.Affine.translation(0, 0.5)
    elif change == "overlap":
        t = t @ rasterio.Affine.translation(0, 2)  # two rows into the south tile
    with rasterio.open(north, "w", driver="GTiff", width=cols, height=rows, count=1,
                       dtype="float64", crs=crs, transform=t) as dst:
        dst.write(np.full((rows, cols), 100.0), 1)
    assert run("slope", south, north, "--out-dir", tmp_path / "out") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("terrain: error: n.tif does not match s.tif" if change in (
        "crs", "rows", "offset") else "terrain: error: s.tif and n.tif overlap"), err[0]
    assert words in err[0], err[0]
    assert not (tmp_path / "out").exists()


def test_unreadable_tile_is_a_gap_across_the_band_edge(tmp_path, capsys):
    """e50n0 opens but its last rows can't be read: the 1" tiles south of it,
    which read those rows across 50°N, are computed again without it, and equal
    the set without it; e50n0 is named once."""
    surfaces = {50: Wave(50)}
    paths = layout(tmp_path / "tiles", surfaces, edges=(50,))
    bad = paths.pop("e50n0.tif")
    os.truncate(bad, int(os.path.getsize(bad) * 0.8))
    assert run("gradient", paths["e50s0.tif"], paths["e50s1.tif"], bad, paths["e50n1.tif"],
               "--out-dir", tmp_path / "out", "--jobs", 1, "-q") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"terrain: error: {bad}: corrupt or truncated data"), err[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(paths)
    assert run("gradient", *paths.values(), "--out-dir", tmp_path / "gap", "-q") == 0
    for name in paths:
        np.testing.assert_array_equal(rasterio.open(tmp_path / "out" / name).read(),
                                      rasterio.open(tmp_path / "gap" / name).read(), name)


@pytest.mark.parametrize(("window", "reach"), [("7", 3), ("150m", 2)])
def test_window_fit_reads_across_the_band_edge(tmp_path, window, reach):
    """A least-squares window fit: the 1.5" band's rows within the window's reach of
    50°N (window // 2 rows) read the 1" band's rows interpolated, and equal, within
    a tenth of the fit's own error, the fit on the true elevations there at this
    band's columns (a 1.5" tile of them below 50°N); its other rows are the bits of
    the band alone. "150m" is 5 rows by 5 to 7 columns, by latitude: the 1" band's
    rows set how far the 1.5" band reads across, and the other way round."""
    surface = Wave(50)
    paths = layout(tmp_path / "tiles", {50: surface}, edges=(50,))
    north = [paths["e50n0.tif"], paths["e50n1.tif"]]
    t = rasterio.Affine(1.5 * ROW, 0, 10 - 0.75 * ROW, 0, -ROW, 50 + ROW / 2)
    truth = glo30.centres(t, 60, 80)
    with rasterio.open(tmp_path / "truth.tif", "w", driver="GTiff", width=80, height=60,
                       count=1, dtype="float64", crs=glo30.CRS, transform=t) as dst:
        dst.write(surface(*np.meshgrid(*truth, indexing="ij")), 1)
    for out, tiles in (("all", paths.values()), ("alone", north),
                       ("ideal", [*north, tmp_path / "truth.tif"])):
        assert run("gradient", *tiles, "--out-dir", tmp_path / out, "--window", window,
                   "-q") == 0
    for path in north:
        together, alone, ideal = (rasterio.open(tmp_path / out / path.name).read()
                                  for out in ("all", "alone", "ideal"))
        np.testing.assert_array_equal(together[:, :-reach], alone[:, :-reach])
        assert (together[1, -reach:] != alone[1, -reach:]).mean() > 0.9
        lat, lon = grid(path)
        own = np.abs(ideal[1, -reach:] - surface.dzdy(lat, lon)[-reach:]).max()
        assert np.abs(together[1, -reach:] - ideal[1, -reach:]).max() <= 0.1 * own
        assert rasterio.open(tmp_path / "all" / path.name).tags()["TERRAIN_BAND_EDGES"] == \
            "south"
