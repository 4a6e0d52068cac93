"""The DataArray.terrain accessor: the command line's numbers, lazy on Dask."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

import terrain
from terrain.cli import main
from terrain.errors import BadInputError, RasterTooSmallError
from terrain.spacing import NoCRSWarning, VerticalUnitWarning

from .conftest import read

rioxarray = pytest.importorskip("rioxarray")
dask = pytest.importorskip("dask")

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = [DATA / "jacksboro.tif", DATA / "jacksboro_utm16n.tif"]


def open_dem(path, **kwargs):
    return rioxarray.open_rasterio(path, **kwargs).squeeze("band", drop=True)


def cli(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    assert exit_info.value.code == 0


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("units", ["ratio", "degrees"])
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_equals_command_line_bit_for_bit(tmp_path, path, units, masked):
    """The same metre geometry from the file's transform: the same float32 bits."""
    cli("slope", path, tmp_path / "s.tif", "--units", units)
    want = read(tmp_path / "s.tif", 1)[0].astype(np.float32)
    got = open_dem(path, masked=masked).terrain.slope(units=units)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.values, want)
    assert got.rio.crs == rasterio.open(path).crs
    assert got.attrs["units"] == {"ratio": "m/m", "degrees": "degree"}[units]
    xr.testing.assert_equal(got.x, open_dem(path).x)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_gradient_aspect_and_hillshade_equal_command_line_bit_for_bit(tmp_path, path):
    cli("gradient", path, tmp_path / "g.tif")
    cli("aspect", path, tmp_path / "a.tif")
    cli("hillshade", path, tmp_path / "h.tif")
    dem = open_dem(path, masked=True)
    g = dem.terrain.gradient()
    assert set(g.data_vars) == {"dzdx", "dzdy"}
    (dzdx, dzdy), _ = read(tmp_path / "g.tif")
    np.testing.assert_array_equal(g.dzdx.values, dzdx.astype(np.float32))
    np.testing.assert_array_equal(g.dzdy.values, dzdy.astype(np.float32))
    np.testing.assert_array_equal(dem.terrain.aspect().values,
                                  read(tmp_path / "a.tif", 1)[0].astype(np.float32))
    shade = dem.terrain.hillshade()
    with rasterio.open(tmp_path / "h.tif") as src:
        want = src.read(1)
        assert src.nodata == shade.attrs["_FillValue"] == 0
    assert shade.dtype == want.dtype == np.uint8
    np.testing.assert_array_equal(shade.values, want)
    lazy = dem.chunk({"y": 50, "x": 64}).terrain.hillshade()
    assert lazy.dtype == np.uint8
    np.testing.assert_array_equal(lazy.values, want)


def test_a_slice_equals_the_command_line_cut(tmp_path):
    """A slice keeps the file's grid: the same bits as the whole file's result cut."""
    cli("slope", SAMPLES[0], tmp_path / "s.tif")
    want = read(tmp_path / "s.tif", 1)[0].astype(np.float32)
    dem = open_dem(SAMPLES[0], masked=True)
    part = dem.isel(y=slice(40, 200), x=slice(30, 300)).terrain.slope().values
    # inside the slice (away from its own border, where the slice's stencil differs)
    np.testing.assert_array_equal(part[2:-2, 2:-2], want[42:198, 32:298])


@pytest.mark.parametrize("chunks", [(1, 1), (3, 5), (64, 50), (500, 7)])
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_chunked_is_lazy_and_equals_eager(path, chunks):
    dem = open_dem(path, masked=True)
    if chunks[0] < 10:  # chunks smaller than the halo: a corner, to keep the graph small
        dem = dem.isel(y=slice(0, 40), x=slice(0, 30))
    eager = dem.terrain.gradient()
    lazy = dem.chunk({"y": chunks[0], "x": chunks[1]}).terrain.gradient()
    assert all(hasattr(v.data, "dask") for v in lazy.data_vars.values())
    computed = lazy.compute()
    for name in ("dzdx", "dzdy"):
        np.testing.assert_array_equal(computed[name].values, eager[name].values)


@pytest.mark.parametrize("chunks", [(3, 5), (64, 50)])
def test_one_band_products_chunked_equal_eager(chunks):
    """Slope, aspect and hillshade on Dask: one 2-D array per band, the eager bits."""
    size = (20, 24) if chunks[0] < 10 else (150, 140)  # chunks below the halo: a corner
    dem = open_dem(SAMPLES[1], masked=True).isel(y=slice(0, size[0]), x=slice(0, size[1]))
    lazy = dem.chunk({"y": chunks[0], "x": chunks[1]}).terrain
    for name, method in [("slope degrees", lambda t: t.slope(units="degrees")),
                         ("aspect", lambda t: t.aspect()), ("hillshade", lambda t: t.hillshade())]:
        got = method(lazy)
        assert hasattr(got.data, "dask"), name
        assert got.data.ndim == 2, name
        np.testing.assert_array_equal(got.values, method(dem.terrain).values, err_msg=name)


def test_dask_names_tell_different_computations_apart():
    """Dask merges graphs by key: two results computed together that differ in their
    input or options must have different names, and the same call the same name."""
    import dask

    dem = open_dem(SAMPLES[1], masked=True).chunk({"y": 64, "x": 64})
    # another surface, the same chunks, coordinates, attributes and encoding
    other = dem.copy(data=dem.data + 100.0 * (dem.x / dem.x.max()).data[None, :])
    results = [dem.terrain.slope(), dem.terrain.slope(units="degrees"),
               dem.terrain.slope(z_factor=2.0), other.terrain.slope(), dem.terrain.aspect(),
               dem.terrain.slope(method="horn")]
    names = [r.data.name for r in results]
    assert len(set(names)) == len(names)
    assert dem.terrain.slope().data.name == names[0]
    computed = dask.compute(*results)
    for lazy, got in zip(results, computed, strict=True):
        np.testing.assert_array_equal(got.values, lazy.compute().values)
    assert not np.array_equal(computed[0].values, computed[3].values)


def test_non_uniform_coordinates_equal_numpy_gradient():
    rng = np.random.default_rng(1)
    y = -np.cumsum(rng.uniform(5, 15, 30))  # descending, uneven
    x = np.cumsum(rng.uniform(5, 15, 25))
    z = rng.normal(size=(30, 25)).cumsum(1) * 10
    da = xr.DataArray(z, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:32633")
    g = da.terrain.gradient()
    want_dy, want_dx = np.gradient(z, y, x, edge_order=2)
    np.testing.assert_array_equal(g.dzdx.values, want_dx)
    np.testing.assert_array_equal(g.dzdy.values, want_dy)
    lazy = da.chunk({"y": 4, "x": 3}).terrain.gradient().compute()
    np.testing.assert_array_equal(lazy.dzdx.values, want_dx)


def test_ascending_y_is_still_north_positive():
    y = np.arange(12) * 10.0  # ascending: row 0 is the south
    x = np.arange(9) * 10.0
    z = 0.25 * y[:, None] + 0 * x
    da = xr.DataArray(z, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:32633")
    np.testing.assert_allclose(da.terrain.gradient().dzdy.values, 0.25)
    np.testing.assert_allclose(da[::-1].terrain.gradient().dzdy.values, 0.25)


def test_geographic_dataarray_equals_file_path(write_dem, tmp_path):
    rng = np.random.default_rng(2)
    z = rng.normal(size=(50, 60)).cumsum(0).cumsum(1)
    for lat in (0.0, 60.0):
        transform = Affine(1 / 1200, 0, 10.0, 0, -1 / 1200, lat + 0.02)
        dem = write_dem(z, transform, crs="EPSG:4267", name=f"geo{lat}.tif")
        cli("slope", dem, tmp_path / f"s{lat}.tif", "--overwrite")
        got = open_dem(dem).terrain.slope().values
        np.testing.assert_allclose(got, read(tmp_path / f"s{lat}.tif", 1)[0], rtol=1e-5)


def test_feet_crs_converted():
    x = np.arange(10) * 30.0
    y = 1000 - np.arange(8) * 30.0
    z = 0.1 * x[None, :] * 0.3048 + 0 * y[:, None]  # m per ft of x -> 0.1 m/m
    da = xr.DataArray(z, dims=("y", "x"), coords={"y": y, "x": x},
                      attrs={"units": "m"}).rio.write_crs("EPSG:2251")
    np.testing.assert_allclose(da.terrain.slope().values, 0.1, rtol=1e-9)
    # declaring nothing, the elevations are taken in the CRS's feet, with a warning
    with pytest.warns(VerticalUnitWarning, match="foot"):
        undeclared = da.drop_attrs().rio.write_crs("EPSG:2251").terrain.slope()
    np.testing.assert_allclose(undeclared.values, 0.1 * 0.3048, rtol=1e-9)


def test_fill_value_attribute_is_nodata():
    z = np.arange(30.0).reshape(5, 6) * 10
    z[2, 3] = -9999
    da = xr.DataArray(z, dims=("y", "x"), coords={"y": -np.arange(5.0), "x": np.arange(6.0)},
                      attrs={"_FillValue": -9999})
    with pytest.warns(NoCRSWarning):
        s = da.terrain.slope()
    assert np.isnan(s.values[2, 3])
    assert np.isfinite(np.delete(s.values.ravel(), 2 * 6 + 3)).all()


def test_writes_lazily_with_to_raster_and_computes_on_a_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    import threading

    dem = open_dem(SAMPLES[1], masked=True, chunks={"y": 128, "x": 128})
    slope = dem.terrain.slope(units="degrees")
    eager = open_dem(SAMPLES[1], masked=True).terrain.slope(units="degrees")
    slope.rio.to_raster(tmp_path / "s.tif", lock=threading.Lock(), tiled=True)
    np.testing.assert_array_equal(read(tmp_path / "s.tif", 1)[0], eager.values)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        on_cluster = slope.compute()
    np.testing.assert_array_equal(on_cluster.values, eager.values)


@pytest.mark.parametrize(("make", "error", "pattern"), [
    (lambda: xr.DataArray(np.zeros((1, 4, 4)), dims=("band", "y", "x")),
     BadInputError, 'squeeze("band", drop=True)'),
    (lambda: xr.DataArray(np.zeros((4, 4)), dims=("a", "b")), BadInputError,
     "no spatial dimensions"),
    (lambda: xr.DataArray(np.zeros((1, 4)), dims=("y", "x"),
                          coords={"y": [0.0], "x": np.arange(4.0)}),
     RasterTooSmallError, "too small"),
])
def test_clear_errors(make, error, pattern):
    with pytest.raises(error, match=pattern.replace("(", r"\(").replace(")", r"\)")):
        make().terrain.slope()


def test_registered_on_import():
    assert hasattr(xr.DataArray, "terrain")
    assert terrain.accessor.TerrainAccessor is type(xr.DataArray([[0.0]]).terrain)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int16"])
def test_accessor_result_type_follows_the_elevations(dtype):
    """float32 results for float32 (or smaller) elevations, computed in float64 all the same."""
    z = (np.add.outer(np.arange(20.0), np.arange(30.0) ** 1.5) * 3).astype(dtype)
    da = xr.DataArray(z, dims=("y", "x"),
                      coords={"y": -10.0 * np.arange(20), "x": 10.0 * np.arange(30)})
    da = da.rio.write_crs("EPSG:32633")
    want = np.float64 if dtype == "float64" else np.float32
    slope = da.terrain.slope()
    assert slope.dtype == want
    lazy = da.chunk({"y": 7, "x": 9}).terrain.slope()
    assert lazy.dtype == want
    np.testing.assert_array_equal(lazy.values, slope.values)
    dzdy, dzdx = np.gradient(z.astype(np.float64), -10.0, 10.0, edge_order=2)
    exact = np.hypot(dzdx, dzdy)  # the numpy reference, in float64
    np.testing.assert_allclose(slope.values, exact.astype(want), rtol=np.finfo(want).eps)
