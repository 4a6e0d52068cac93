"""Standard errors of the gradient, slope and aspect (issue 18): ``z_sigma``.

The kernel propagates an uncorrelated vertical error through the weights each
pixel's stencil used; these tests check it against Monte Carlo draws of the
noise, against closed forms, and across every path (file, tiles, accessor).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

import terrain
from terrain import core, pipeline, tiles
from terrain.options import Options

ROOT = Path(__file__).resolve().parents[1]

# ---- Monte Carlo ----------------------------------------------------------------

#: Draws of the noise per estimator, and independent sets of them: each pixel of
#: a kind below is checked in each set.
DRAWS, REPLICATES = 300, 2
#: The grid: 48 x 48 pixels of H metres, north-up.
N, H = 48, 2.0
#: The elevations' standard error, metres: small beside the slopes (0.05 to 0.5),
#: so that first-order propagation holds (the worst stencil's dz/dx error,
#: sqrt(26) SIGMA / 2H at a corner with edge_order 2, is 0.005 m/m, a tenth of
#: the least slope: second-order terms are about 1 % of the variance).
SIGMA = 0.004

#: Pixels of each kind, 11 pixels apart (more than window 9): within a kind, no
#: two pixels share an elevation, so their errors are independent; and they
#: are alike (the same stencil, the same dz/dx : dz/dy), so that an error shows
#: at each of them alike and pooling cannot average it away. The corners pair
#: up by the sign of the covariance of dz/dx and dz/dy (their one-sided stencils
#: share the corner pixel): north-east and south-west add it, the others take
#: it away.
HOLES = [(12, 12), (12, 34), (34, 12), (34, 34)]
KINDS = {
    "interior": [(23, 6), (23, 17), (23, 28), (23, 39)],
    "border": [(0, 6), (0, 17), (0, 28), (0, 39)],
    "side": [(6, N - 1), (17, N - 1), (28, N - 1), (39, N - 1)],
    "corner+": [(0, N - 1), (N - 1, 0)],
    "corner-": [(0, 0), (N - 1, N - 1)],
    "hole": [(r, c + 1) for r, c in HOLES],  # east of a one-pixel hole
}
ESTIMATORS = {
    "central1": {"method": "central", "edge_order": 1},
    "central2": {"method": "central", "edge_order": 2},
    "horn": {"method": "horn"},
    "window5": {"method": "quadratic", "window": 5},
    "window9": {"method": "quadratic", "window": 9},
}


def tilted_quadratic() -> np.ndarray:
    """Elevations whose slope runs from 0.05 (south-west corner) to 0.5 (north-east), metres:
    g(x + y), so that dz/dx = dz/dy at every pixel (the corners included) and their
    covariance, where a pixel's two stencils share elevations, counts in full."""
    x = np.arange(N) * H  # east
    y = (N - 1 - np.arange(N))[:, None] * H  # north (rows run south)
    g0, g1 = 0.05 / math.sqrt(2), 0.5 / math.sqrt(2)
    a = (g1 - g0) / (2 * 2 * x[-1])  # g'(t) = g0 + 2 a t, t = x + y from 0 to 2 x[-1]
    t = x + y
    return g0 * t + a * t**2


def _fused(z, valid, product, estimator, **kwargs):
    return core.fused(z, valid, row=-H, col=H, product=product, **estimator, **kwargs)


@pytest.fixture(scope="module")
def draws():
    """Each estimator's predicted standard errors and the spread of its draws.

    One fixed seed (the test is deterministic); see test_monte_carlo for why
    the tolerance holds with any seed but for about 1 in 10^5.
    """
    z = tilted_quadratic()
    valid = np.ones(z.shape, bool)
    for r, c in HOLES:
        valid[r, c] = False
    rng = np.random.default_rng(18)
    noise = rng.normal(0.0, SIGMA, (REPLICATES, DRAWS, *z.shape))
    found = {}
    for name, estimator in ESTIMATORS.items():
        _, se_gradient = _fused(z, valid, "gradient", estimator, z_sigma=SIGMA)
        _, se_slope = _fused(z, valid, "slope", estimator, z_sigma=SIGMA)
        _, se_aspect = _fused(z, valid, "aspect", estimator, z_sigma=SIGMA)
        empirical = []
        for draws_ in noise:  # each replicate: 300 draws, the issue's Monte Carlo
            def spread(product, draws_=draws_, estimator=estimator):
                return np.array([_fused(z + e, valid, product, estimator)
                                 for e in draws_]).std(axis=0, ddof=1)

            empirical.append(np.concatenate([spread("gradient"), spread("slope"),
                                             spread("aspect")]))
        found[name] = {  # d/dcol, d/drow, slope, aspect (about 225 degrees: no wrap)
            "predicted": np.concatenate([se_gradient, se_slope, se_aspect]),
            "empirical": np.array(empirical),  # (replicate, band, row, col)
        }
    return found


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kind", KINDS)
def test_monte_carlo(draws, estimator, kind):
    """The predicted standard errors of dz/dx, dz/dy and slope match the draws' spread.

    Statistics of the tolerance: the sample variance of 300 Gaussian draws has a
    relative standard error of sqrt(2 / 299) = 8.2 %; the mean over a kind's 4
    independent pixels in 2 independent sets of draws (the corners: 2 pixels,
    so 4 samples) of (empirical / predicted variance), 2.9 % (corners 4.1 %),
    and its square root (the pooled ratio of standard deviations) 1.45 %
    (corners 2.05 %): 10 % is 6.9 (corners 4.9) standard errors. A correct
    kernel fails one of these 120 checks with probability under 1e-4 whatever
    the seed (it is fixed: the test is deterministic). First-order
    propagation's own error on slope and aspect is about 1 % (see SIGMA). A
    wrong weight at a kind of pixel, e.g. the interior's stencil at the border
    (sqrt(13) = 3.6x), or a lost covariance (20 % of a corner's slope error
    here), is far outside.
    """
    got = draws[estimator]
    pixels = tuple(np.array(KINDS[kind]).T)
    for band, name in enumerate(("dz/dcol", "dz/drow", "slope", "aspect")):
        predicted = got["predicted"][band][pixels]
        empirical = got["empirical"][:, band][(slice(None), *pixels)]
        assert np.isfinite(predicted).all(), name
        assert (predicted > 0).all(), name
        ratio = math.sqrt(np.mean(empirical**2 / predicted**2))
        assert abs(ratio - 1) < 0.10, (name, ratio, predicted, empirical)


def test_the_stencils_differ(draws):
    """The test above tells stencils apart: the edge_order=2 border's dz/dx error is
    sqrt(13) times the interior's (weights (-3, 4, -1) / 2h and (-1, 0, 1) / 2h)."""
    se = draws["central2"]["predicted"][0]
    assert se[23, 17] == pytest.approx(math.sqrt(2) * SIGMA / (2 * H), rel=1e-12)
    assert se[23, 0] == pytest.approx(math.sqrt(26) * SIGMA / (2 * H), rel=1e-12)
    assert se[KINDS["hole"][0]] == pytest.approx(math.sqrt(26) * SIGMA / (2 * H), rel=1e-12)
    # the window fit's interior: sigma^2 / sum(u^2 h^2) over the window, Evans's d
    se9 = draws["window9"]["predicted"][0]
    u2 = 9 * sum(u * u for u in range(-4, 5))
    assert se9[23, 17] == pytest.approx(SIGMA / (H * math.sqrt(u2)), rel=1e-12)


# ---- near-flat ground -----------------------------------------------------------


def test_near_flat_holds_the_rms_slope_and_a_random_aspect():
    """Where the slope is within twice its standard error (flat ground plus noise), the
    slope's standard error is sqrt(var dz/dx + var dz/dy), the root-mean-square slope of
    flat ground's draws, and the aspect's 360 / sqrt(12), a direction at random."""
    z = np.zeros((16, 16))
    sigma = 0.1
    _, se = core.fused(z + 1e-9 * np.arange(16), row=-1.0, col=1.0, product="slope",
                       z_sigma=sigma)
    _, se_g = core.fused(z, row=-1.0, col=1.0, product="gradient", z_sigma=sigma)
    np.testing.assert_allclose(se[0], np.hypot(se_g[0], se_g[1]), rtol=1e-14)
    _, se_a = core.fused(z + 1e-9 * np.arange(16), row=-1.0, col=1.0, product="aspect",
                         z_sigma=sigma)
    assert np.all(se_a[0] == pytest.approx(360 / math.sqrt(12), rel=1e-12))
    # the draws: the RMS slope of noisy flat ground (4 pixels of a kind: 2 % standard
    # error on the RMS over 300 draws x 4 pixels, so 10 % is 5 standard errors)
    rng = np.random.default_rng(7)
    slopes = np.array([core.fused(rng.normal(0, sigma, z.shape), row=-1.0, col=1.0,
                                  product="slope")[0] for _ in range(DRAWS)])
    pixels = tuple(np.array([(5, 5), (5, 10), (10, 5), (10, 10)]).T)
    rms = np.sqrt(np.mean(slopes[:, *pixels] ** 2, axis=0))
    assert np.sqrt(np.mean(rms**2 / se[0][pixels] ** 2)) == pytest.approx(1, abs=0.10)
    # a plane steep beside its noise is first order again, smaller than the RMS rule
    plane = 0.5 * np.arange(16)[None, :] * np.ones((16, 1))
    _, steep = core.fused(plane, row=-1.0, col=1.0, product="slope", z_sigma=sigma)
    assert steep[0][8, 8] == pytest.approx(se_g[0][8, 8], rel=1e-12)
    assert steep[0][8, 8] < se[0][8, 8]


# ---- the file path: S, RASTER and fit -------------------------------------------


def from_origin(west: float, north: float, h_x: float, h_y: float) -> Affine:
    return Affine(h_x, 0.0, west, 0.0, -h_y, north)


def write(path: Path, z: np.ndarray, h: float = 10.0, crs="EPSG:32616", nodata=-9999.0,
          transform=None, scale=None, dtype="float32") -> Path:
    profile = {"driver": "GTiff", "height": z.shape[0], "width": z.shape[1], "count": 1,
               "dtype": dtype, "crs": crs, "nodata": nodata,
               "transform": transform or from_origin(500_000, 4_000_000, h, h)}
    with rasterio.open(path, "w", **profile) as dst:
        if scale is not None:
            dst.scales = (scale,)
        dst.write(np.where(np.isnan(z), nodata, z).astype(dtype), 1)
    return path


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(masked=True).astype(np.float64).filled(np.nan)


def quadratic(n: int = 40, m: int = 48, h: float = 10.0) -> np.ndarray:
    y, x = np.mgrid[0:n, 0:m] * h
    return 100 + 0.3 * x - 0.2 * y + 2e-4 * x**2 + 1e-4 * x * y - 3e-4 * y**2


def test_fit_recovers_sigma(tmp_path):
    """--z-sigma fit on a quadratic plus noise of sigma: the median over the raster of the
    estimated sigma is within 5 % of sigma. The estimate is read back from the files: the
    standard error of dz/dx with fit, over that with --z-sigma 1 (the same weights).
    sqrt(RSS / 19) of a 5 x 5 window has median 0.982 sigma (chi with 19 degrees of
    freedom), and the median of ~1900 of them is within 1 % of that."""
    sigma = 0.5
    rng = np.random.default_rng(5)
    dem = write(tmp_path / "dem.tif", quadratic() + rng.normal(0, sigma, (40, 48)),
                dtype="float64")
    pipeline.gradient(dem, tmp_path / "g.tif", window=5, z_sigma="fit",
                      uncertainty=tmp_path / "fit.tif")
    pipeline.gradient(dem, tmp_path / "g1.tif", window=5, z_sigma=1.0,
                      uncertainty=tmp_path / "one.tif")
    estimated = read(tmp_path / "fit.tif")[0] / read(tmp_path / "one.tif")[0]
    assert np.nanmedian(estimated) == pytest.approx(sigma, rel=0.05)
    with rasterio.open(tmp_path / "fit.tif") as src:
        assert src.tags()["TERRAIN_Z_SIGMA_SOURCE"] == "fit"
    # a wrong sigma would show: 2 sigma of noise gives twice the estimate
    dem2 = write(tmp_path / "dem2.tif", quadratic() + rng.normal(0, 2 * sigma, (40, 48)),
                 dtype="float64")
    pipeline.gradient(dem2, tmp_path / "g2.tif", window=5, z_sigma="fit",
                      uncertainty=tmp_path / "fit2.tif")
    estimated2 = read(tmp_path / "fit2.tif")[0] / read(tmp_path / "one.tif")[0]
    assert np.nanmedian(estimated2) == pytest.approx(2 * sigma, rel=0.05)


def test_sigma_raster_varies_per_pixel(tmp_path):
    """A sigma raster varying across the DEM: the interior's central dz/dx error is
    sqrt(sigma_west^2 + sigma_east^2) / 2h, dz/dy's sqrt(sigma_north^2 + sigma_south^2) / 2h."""
    h = 10.0
    z = quadratic(h=h)
    s = 0.1 + 0.05 * np.arange(48)[None, :] + 0.02 * np.arange(40)[:, None] ** 1.5
    dem = write(tmp_path / "dem.tif", z)
    sig = write(tmp_path / "sigma.tif", s, dtype="float64")
    pipeline.gradient(dem, tmp_path / "g.tif", z_sigma=str(sig),
                      uncertainty=tmp_path / "se.tif")
    se = read(tmp_path / "se.tif")
    want_x = np.hypot(s[:, :-2], s[:, 2:]) / (2 * h)
    want_y = np.hypot(s[:-2], s[2:]) / (2 * h)
    np.testing.assert_allclose(se[0][:, 1:-1], want_x, rtol=1e-6)
    np.testing.assert_allclose(se[1][1:-1], want_y, rtol=1e-6)
    # the west border's (-3, 4, -1) / 2h
    np.testing.assert_allclose(
        se[0][:, 0], np.sqrt(9 * s[:, 0]**2 + 16 * s[:, 1]**2 + s[:, 2]**2) / (2 * h),
        rtol=1e-6)
    with rasterio.open(tmp_path / "se.tif") as src:
        assert src.tags()["TERRAIN_Z_SIGMA_SOURCE"] == "raster"
        assert src.tags()["TERRAIN_Z_SIGMA"].endswith("sigma.tif")
    # blocks read the sigma raster where they read the DEM: the same bits at any size
    for block in (16, 17):
        pipeline.gradient(dem, tmp_path / f"g{block}.tif", z_sigma=str(sig), block_size=block,
                          uncertainty=tmp_path / f"se{block}.tif", jobs=2)
        assert np.array_equal(read(tmp_path / f"se{block}.tif"), se, equal_nan=True)


def test_sigma_raster_nodata_is_unknown(tmp_path):
    """Where the sigma raster is nodata, every output value whose stencil uses it is, and
    the pixel's own (its sigma unknown, so is its error), though the interior's central
    stencil gives it weight 0; the product itself is untouched."""
    z = quadratic()
    s = np.full(z.shape, 0.2)
    s[20, 20] = np.nan
    dem = write(tmp_path / "dem.tif", z)
    sig = write(tmp_path / "sigma.tif", s)
    pipeline.slope(dem, tmp_path / "s.tif", z_sigma=str(sig), uncertainty=tmp_path / "se.tif")
    se = read(tmp_path / "se.tif")[0]
    unknown = {(20, 20), (20, 19), (20, 21), (19, 20), (21, 20)}
    assert {tuple(int(i) for i in p) for p in np.argwhere(np.isnan(se))} == unknown
    assert np.isfinite(read(tmp_path / "s.tif")).all()


US_FT = 1200 / 3937  # metres per US survey foot


def feet_dem(path: Path, z_metres: np.ndarray, h_ft: float = 30.0) -> Path:
    """A DEM horizontal and vertical in US survey feet (EPSG:6576+6360, GDAL writes it)."""
    return write(path, z_metres / US_FT, crs="EPSG:6576+6360",
                 transform=from_origin(2_000_000, 500_000, h_ft, h_ft), dtype="float64")


def test_z_sigma_in_metres_on_a_dem_in_feet(tmp_path):
    """--z-sigma S is metres whatever the DEM's unit; --z-sigma RASTER is in the DEM's
    vertical unit (feet here), its band scale applied, converted like the elevations."""
    z = quadratic()
    dem = feet_dem(tmp_path / "feet.tif", z)
    h = 30.0 * US_FT
    pipeline.gradient(dem, tmp_path / "g.tif", z_sigma=1.0, uncertainty=tmp_path / "se.tif")
    se = read(tmp_path / "se.tif")
    np.testing.assert_allclose(se[0][5:-5, 5:-5], math.sqrt(2) * 1.0 / (2 * h), rtol=1e-6)
    # a sigma raster of 2 stored values, scale 0.5: 1 foot, 0.3048006 m
    sig = write(tmp_path / "sigma_ft.tif", np.full(z.shape, 2.0), crs="EPSG:6576+6360",
                transform=from_origin(2_000_000, 500_000, 30.0, 30.0), scale=0.5)
    pipeline.gradient(dem, tmp_path / "g2.tif", z_sigma=str(sig),
                      uncertainty=tmp_path / "se2.tif")
    se2 = read(tmp_path / "se2.tif")
    np.testing.assert_allclose(se2[0][5:-5, 5:-5], math.sqrt(2) * US_FT / (2 * h), rtol=1e-6)
    np.testing.assert_allclose(se2, se * US_FT, rtol=1e-6)
    with rasterio.open(tmp_path / "se2.tif") as src:
        assert float(src.tags()["TERRAIN_Z_SIGMA_METRES_PER_VALUE"]) == pytest.approx(
            0.5 * US_FT, rel=1e-12)


def test_uncertainty_file_matches_the_output(tmp_path):
    """Float32, the output's grid, CRS, nodata where the output is; its units; the tags."""
    z = quadratic()
    z[10:13, 30:33] = np.nan
    dem = write(tmp_path / "dem.tif", z)
    for product, units, unit in (("slope", "degrees", "degree"), ("slope", "percent", "%"),
                                 ("aspect", None, "degree"), ("gradient", None, "m/m")):
        out, se = tmp_path / f"{product}{units}.tif", tmp_path / f"{product}{units}_se.tif"
        kwargs = {"units": units} if units else {}
        getattr(pipeline, product)(dem, out, z_sigma=0.5, uncertainty=se, **kwargs)
        with rasterio.open(out) as a, rasterio.open(se) as b:
            assert b.dtypes == ("float32",) * a.count
            assert (b.crs, b.transform, b.shape, b.nodata) == (a.crs, a.transform, a.shape,
                                                                a.nodata)
            assert b.units == (unit,) * a.count
            assert np.array_equal(a.read_masks(), b.read_masks())
            tags = b.tags()
            assert tags["TERRAIN_UNCERTAINTY_OF"] == product
            assert tags["TERRAIN_Z_SIGMA"] == "0.5 m"
            assert "sqrt(12)" in tags["TERRAIN_UNCERTAINTY_NEAR_FLAT"]
    # degrees of slope: the ratio's error times d atan(S) / dS
    pipeline.slope(dem, tmp_path / "r.tif", z_sigma=0.5, uncertainty=tmp_path / "r_se.tif")
    s, se_r = read(tmp_path / "r.tif")[0], read(tmp_path / "r_se.tif")[0]
    se_d = read(tmp_path / "slopedegrees_se.tif")[0]
    np.testing.assert_allclose(se_d, np.degrees(se_r / (1 + s**2)), rtol=1e-5)


# ---- same bits on every path ----------------------------------------------------


@pytest.fixture(scope="module")
def holey(tmp_path_factory):
    folder = tmp_path_factory.mktemp("holey")
    rng = np.random.default_rng(3)
    z = quadratic(60, 52) + rng.normal(0, 0.3, (60, 52))
    z[20:23, 14:16] = np.nan
    z[0, 40] = np.nan
    return write(folder / "dem.tif", z, dtype="float64")


@pytest.mark.parametrize(("product", "kwargs"), [
    ("slope", {"units": "degrees", "z_sigma": 0.7}),
    ("aspect", {"method": "horn", "z_sigma": 0.7}),
    ("gradient", {"window": 5, "z_sigma": "fit"}),
    ("slope", {"window": 7, "z_sigma": 0.3}),
])
def test_same_bits_on_every_path(tmp_path, holey, product, kwargs):
    """File (blocks of 16, 17, 32 and whole), a 3 x 3 tile set, the accessor eager and on
    Dask with chunks smaller than the window: the same standard errors bit for bit, and the
    product's bits those of a run without standard errors."""
    import rioxarray
    fn = getattr(pipeline, product)
    fn(holey, tmp_path / "plain.tif", **{k: v for k, v in kwargs.items() if k != "z_sigma"})
    plain = read(tmp_path / "plain.tif")
    ref = None
    for block in (None, 16, 17, 32):
        out, se = tmp_path / f"o{block}.tif", tmp_path / f"se{block}.tif"
        fn(holey, out, uncertainty=se, block_size=block, **kwargs)
        assert np.array_equal(read(out), plain, equal_nan=True)
        got = read(se)
        if ref is None:
            ref = got
        assert np.array_equal(got, ref, equal_nan=True), block
    assert np.isfinite(ref).sum() > 0.9 * ref.size
    # tiles
    from .docs_fixtures import cut_tiles
    parts = cut_tiles(holey, tmp_path / "tiles", n=3)
    options = Options(product, kwargs.get("units", "ratio"), method=kwargs.get("method"),
                      window=kwargs.get("window"), z_sigma=kwargs["z_sigma"])
    assert not tiles.run_tiles(parts, tmp_path / "out", options,
                               uncertainty=tmp_path / "unc", block_size=16, jobs=1)
    mosaic = np.full_like(ref, np.nan)
    with rasterio.open(holey) as whole:
        for part in parts:
            with rasterio.open(tmp_path / "unc" / part.name) as src:
                rows, cols = rasterio.windows.from_bounds(
                    *src.bounds, transform=whole.transform).toslices()
                rows = slice(round(rows.start), round(rows.stop))
                cols = slice(round(cols.start), round(cols.stop))
                mosaic[:, rows, cols] = src.read(masked=True).filled(np.nan)
                assert src.tags()["TERRAIN_UNCERTAINTY_OF"] == product
    assert np.array_equal(mosaic, ref, equal_nan=True)
    # the accessor, eager and lazy
    da = rioxarray.open_rasterio(holey, masked=True).squeeze("band", drop=True)
    for data in (da, da.chunk(6)):  # chunks smaller than window 7
        ds = getattr(data.terrain, product)(uncertainty=True, **kwargs)
        names = [n for n in ds.data_vars if n.endswith("_se")]
        assert len(names) == ref.shape[0]
        for band, name in enumerate(names):
            got = ds[name].values
            assert np.array_equal(got.astype(np.float32), ref[band].astype(np.float32),
                                  equal_nan=True), name


# ---- usage and data errors, as the command line shows them -----------------------


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_sigma_raster_on_another_grid_is_refused(tmp_path):
    """A sigma raster of another shape, transform or CRS: one line naming it, exit 1,
    nothing written, inputs unchanged."""
    z = quadratic()
    dem = write(tmp_path / "dem.tif", z)
    others = {
        "shape.tif": write(tmp_path / "shape.tif", np.ones((40, 47))),
        "shift.tif": write(tmp_path / "shift.tif", np.ones(z.shape),
                           transform=from_origin(500_010, 4_000_000, 10, 10)),
        "crs.tif": write(tmp_path / "crs.tif", np.ones(z.shape), crs="EPSG:32617"),
    }
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    for name, sig in others.items():
        done = run_cli("slope", dem, "out.tif", "--z-sigma", sig, "--uncertainty", "se.tif",
                       cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert name in lines[0], done.stderr
        assert "grid" in lines[0], done.stderr
        assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize(("args", "needle"), [
    (["--uncertainty", "se.tif"], "--z-sigma"),
    (["--z-sigma", "1"], "--uncertainty"),
    (["--z-sigma", "fit", "--uncertainty", "se.tif"], "--window"),
    (["--z-sigma", "fit", "--window", "3", "--uncertainty", "se.tif"], "5"),
    (["--z-sigma", "-1", "--uncertainty", "se.tif"], "0 or more"),
    (["--z-sigma", "1", "--uncertainty", "out.tif"], "own"),
    (["--z-sigma", "1", "--uncertainty", "./out.tif"], "own"),
])
def test_usage_errors(tmp_path, args, needle):
    dem = write(tmp_path / "dem.tif", quadratic())
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    done = run_cli("slope", dem, "out.tif", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert needle in lines[0], done.stderr
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_curvature_and_hillshade_have_no_uncertainty(tmp_path):
    dem = write(tmp_path / "dem.tif", quadratic())
    done = run_cli("hillshade", dem, "out.tif", "--z-sigma", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert "no such option" in done.stderr.lower()
    with pytest.raises(terrain.UsageError, match="standard errors"):
        Options("curvature", kinds="profile", z_sigma=1.0)


def test_window_fit_fallback_takes_the_central_stencil_s_error():
    """Where a window cannot determine the quadratic (a strip 2 columns wide), the fit falls
    back to the central stencil, and so does its standard error (this crashed once: the
    fallback's variance took Horn's path); with sigma from the residuals there are none:
    nodata."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(12, 12)) + np.arange(12)
    valid = np.ones(z.shape, bool)
    valid[:, 5:] = False
    valid[:, 7:9] = True
    for sigma in (0.5, np.full(z.shape, 0.5)):
        _, fit = core.fused(z, valid, row=-1.0, col=1.0, method="quadratic", window=5,
                            z_sigma=sigma)
        _, central = core.fused(z, valid, row=-1.0, col=1.0, z_sigma=sigma)
        assert np.array_equal(fit[:, :, 7:9], central[:, :, 7:9])
        np.testing.assert_allclose(central[0][:, 7], 0.5 * math.sqrt(2), rtol=1e-15)
    _, residual = core.fused(z, valid, row=-1.0, col=1.0, method="quadratic", window=5,
                             z_sigma="fit")
    assert np.isnan(residual[:, :, 7:9]).all()
    assert np.isfinite(residual[:, :, :5]).all()


def test_uncertainty_file_s_compression(tmp_path):
    """DEFLATE without the floating-point predictor (the output keeps it); the user's
    creation options go to both files."""
    dem = write(tmp_path / "dem.tif", quadratic())
    pipeline.slope(dem, tmp_path / "s.tif", z_sigma=1.0, uncertainty=tmp_path / "se.tif")
    with rasterio.open(tmp_path / "s.tif") as out, rasterio.open(tmp_path / "se.tif") as se:
        assert out.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        assert se.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
        assert "PREDICTOR" not in se.tags(ns="IMAGE_STRUCTURE")
    pipeline.slope(dem, tmp_path / "z.tif", z_sigma=1.0, uncertainty=tmp_path / "zse.tif",
                   creation_options={"COMPRESS": "ZSTD", "PREDICTOR": "3"})
    with rasterio.open(tmp_path / "zse.tif") as se:
        assert se.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "ZSTD"
        assert se.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
    assert np.array_equal(read(tmp_path / "zse.tif"), read(tmp_path / "se.tif"),
                          equal_nan=True)


def test_accessor_sigma_dataarray_is_the_file_s_sigma_raster(tmp_path):
    """A DataArray of sigmas on the DEM's grid gives the bits of --z-sigma RASTER; what the
    accessor refuses: one of z_sigma and uncertainty alone, a path, another grid."""
    import rioxarray

    z = quadratic()
    z[5, 7] = np.nan
    s = 0.2 + 0.01 * np.arange(48)[None, :] * np.ones((40, 1))
    dem = write(tmp_path / "dem.tif", z)
    sig = write(tmp_path / "sigma.tif", s)
    pipeline.slope(dem, tmp_path / "s.tif", z_sigma=str(sig), uncertainty=tmp_path / "se.tif")
    da = rioxarray.open_rasterio(dem, masked=True).squeeze("band", drop=True)
    sd = rioxarray.open_rasterio(sig, masked=True).squeeze("band", drop=True)
    for data, sigma in ((da, sd), (da.chunk(16), sd.chunk(16)), (da.chunk(16), sd.values)):
        ds = data.terrain.slope(z_sigma=sigma, uncertainty=True)
        assert np.array_equal(ds.slope_se.values, read(tmp_path / "se.tif")[0], equal_nan=True)
    with pytest.raises(terrain.UsageError, match="needs z_sigma"):
        da.terrain.slope(uncertainty=True)
    with pytest.raises(terrain.UsageError, match="uncertainty=True"):
        da.terrain.aspect(z_sigma=1.0)
    with pytest.raises(terrain.UsageError, match="rioxarray"):
        da.terrain.gradient(z_sigma=str(sig), uncertainty=True)
    with pytest.raises(terrain.BadInputError, match="grid"):
        da.terrain.slope(z_sigma=sd.isel(x=slice(1, None)), uncertainty=True)


def test_a_bad_sigma_part_way_leaves_nothing(tmp_path):
    """A negative sigma found in the last block: one line naming the file and the pixel,
    exit 1, neither output nor standard errors left behind."""
    z = quadratic(64, 64)
    s = np.full(z.shape, 0.5)
    s[60, 50] = -1.0
    dem = write(tmp_path / "dem.tif", z)
    sig = write(tmp_path / "sigma.tif", s)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    done = run_cli("slope", dem, "out.tif", "--z-sigma", sig, "--uncertainty", "se.tif",
                   "--block-size", "16", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "sigma.tif" in lines[0], done.stderr
    assert "row 60, column 50" in lines[0], done.stderr
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_tile_set_refusals(tmp_path):
    """With --out-dir: the standard errors need a folder of their own, and a sigma raster
    (one DEM's grid) is refused; usage errors, nothing written."""
    from .docs_fixtures import cut_tiles

    dem = write(tmp_path / "dem.tif", quadratic())
    parts = cut_tiles(dem, tmp_path / "tiles")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for args, needle in ((["--z-sigma", "1", "--uncertainty", "out"], "own"),
                         (["--z-sigma", dem, "--uncertainty", "se"], "tile set")):
        done = run_cli("slope", *parts, "--out-dir", "out", *args, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert needle in lines[0], done.stderr
        assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
        assert not (tmp_path / "out").exists()
        assert not (tmp_path / "se").exists()


def test_lat_lon_rows_take_their_own_metres(tmp_path):
    """On a lat/lon DEM each row's east-west pixel is N(phi) cos(phi) dlambda metres: the
    interior's standard error of dz/dx, sqrt(2) sigma / 2h_x, is sqrt(2) / 2 sigma times the
    dz/dx of a ramp rising 1 m per column (1 / h_x, exact for the central stencil)."""
    n, m = 30, 20
    ramp = np.tile(np.arange(m, dtype=np.float64), (n, 1))
    transform = Affine(1 / 1200, 0.0, -84.0, 0.0, -1 / 1200, 60.0)
    dem = write(tmp_path / "ramp.tif", ramp, crs="EPSG:4326", transform=transform,
                dtype="float64")
    pipeline.gradient(dem, tmp_path / "g.tif", z_sigma=2.0, uncertainty=tmp_path / "se.tif")
    g, se = read(tmp_path / "g.tif"), read(tmp_path / "se.tif")
    np.testing.assert_allclose(se[0][:, 1:-1], math.sqrt(2) / 2 * 2.0 * g[0][:, 1:-1],
                               rtol=1e-6)
    assert se[0][0, 5] > se[0][-1, 5]  # row 0 is the north: shorter pixels, larger errors


@pytest.mark.parametrize("edge_order", [1, 2])
def test_non_uniform_spacing_takes_numpy_s_weights(edge_order):
    """With a coordinate array (uneven columns, as the accessor meets them) each pixel's
    weights are numpy.gradient's: its response to a unit impulse at every column. The
    variance is sigma^2 times the sum of their squares, at the borders too."""
    x = np.array([0.0, 1.0, 3.0, 3.5, 6.0, 10.0, 11.0, 15.0, 16.5])
    rng = np.random.default_rng(4)
    z = rng.normal(size=(5, x.size)).cumsum(1)
    weights = np.array([np.gradient(np.eye(x.size)[k], x, edge_order=edge_order)
                        for k in range(x.size)])  # weights[k, j]: column k's in pixel j's
    sigma = 0.3
    _, se = core.fused(z, row=1.0, col=x, edge_order=edge_order, z_sigma=sigma)
    want = sigma * np.sqrt((weights**2).sum(axis=0))
    np.testing.assert_allclose(se[0], np.broadcast_to(want, z.shape), rtol=1e-12)
    # a sigma raster: the weights' squares times each column's own sigma^2
    s = np.broadcast_to(0.1 + 0.05 * np.arange(x.size), z.shape)
    _, se_r = core.fused(z, row=1.0, col=x, edge_order=edge_order, z_sigma=s)
    want_r = np.sqrt((weights**2 * (s[0] ** 2)[:, None]).sum(axis=0))
    np.testing.assert_allclose(se_r[0], np.broadcast_to(want_r, z.shape), rtol=1e-12)
