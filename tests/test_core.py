"""The gradient kernel: numpy.gradient on valid data, holes as boundaries."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from terrain import core
from terrain.errors import RasterTooSmallError, UsageError

RNG = np.random.default_rng(42)


def same(a, b):
    """Bit-for-bit equality, NaN included."""
    np.testing.assert_array_equal(a, b, strict=True)


@pytest.mark.parametrize("edge_order", [1, 2])
@pytest.mark.parametrize("shape", [(3, 3), (7, 11), (40, 3), (64, 65)])
def test_equals_numpy_gradient_uniform(shape, edge_order):
    z = RNG.normal(size=shape) * 300
    got = core.gradient(z, None, -25.0, 10.0, edge_order)
    want = np.gradient(z, -25.0, 10.0, edge_order=edge_order)
    same(got[0], want[0])
    same(got[1], want[1])


@pytest.mark.parametrize("edge_order", [1, 2])
def test_equals_numpy_gradient_with_coordinates(edge_order):
    z = RNG.normal(size=(30, 20))
    y = -np.cumsum(RNG.uniform(20, 30, 30))
    x = np.cumsum(RNG.uniform(5, 15, 20))
    got = core.gradient(z, np.ones(z.shape, bool), y, x, edge_order)
    want = np.gradient(z, y, x, edge_order=edge_order)
    same(got[0], want[0])
    same(got[1], want[1])


def test_uniform_coordinate_array_equals_its_spacing():
    z = RNG.normal(size=(6, 8))
    got = core.gradient(z, None, np.arange(6) * 3.0, np.arange(8) * 2.0)
    want = np.gradient(z, 3.0, 2.0, edge_order=2)
    same(got[0], want[0])
    same(got[1], want[1])


def quadratic(shape, dy=1.0, dx=1.0):
    """z = 0.3x² + 2y² - xy + 5x: exact for every second-order stencil."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    y, x = y * dy, x * dx
    z = 0.3 * x**2 + 2 * y**2 - x * y + 5 * x
    return z, 4 * y - x, 0.6 * x - y + 5


@pytest.mark.parametrize("edge_order", [1, 2])
def test_plane_is_exact_everywhere(edge_order):
    y, x = np.mgrid[0:9, 0:12].astype(float)
    z = 0.2 * x * 10 - 0.7 * y * 25
    d_row, d_col = core.gradient(z, None, 25.0, 10.0, edge_order)
    np.testing.assert_allclose(d_row, -0.7, rtol=1e-12)
    np.testing.assert_allclose(d_col, 0.2, rtol=1e-12)


def test_quadratic_exact_with_edge_order_2_border_included():
    z, want_row, want_col = quadratic((15, 18), dy=25.0, dx=10.0)
    d_row, d_col = core.gradient(z, None, 25.0, 10.0, 2)
    np.testing.assert_allclose(d_row, want_row, rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(d_col, want_col, rtol=1e-11, atol=1e-9)


def test_quadratic_next_to_holes():
    z, want_row, want_col = quadratic((20, 25))
    valid = np.ones(z.shape, bool)
    valid[5:8, 6:10] = False  # a block hole
    valid[12, :] = False  # a line across the raster
    valid[:, 20] = False
    valid[16, 14] = False  # a single pixel
    d_row, d_col = core.gradient(np.where(valid, z, -32768.0), valid, 1.0, 1.0)
    # Every valid pixel has a valid neighbour on each axis here: all keep a value...
    assert not np.isnan(d_row[valid]).any()
    assert not np.isnan(d_col[valid]).any()
    # ...exact, since two valid pixels lie beyond each hole edge...
    np.testing.assert_allclose(d_row[valid], want_row[valid], atol=1e-9)
    np.testing.assert_allclose(d_col[valid], want_col[valid], atol=1e-9)
    # ...and holes stay nodata.
    assert np.isnan(d_row[~valid]).all()
    assert np.isnan(d_col[~valid]).all()


def test_first_order_where_one_valid_pixel_lies_away_from_hole():
    z = np.array([[0.0, 1.0, 4.0, 9.0, 16.0, 25.0]] * 3)  # x² along columns
    valid = np.ones(z.shape, bool)
    valid[:, 2] = False
    d_col = core.gradient(z, valid, 1.0, 1.0)[1]
    # column 1: one valid pixel to its left -> backward first order (1 - 0) / 1
    np.testing.assert_array_equal(d_col[:, 1], 1.0)
    # column 3: two valid to its right -> forward second order, exact: 2x = 6
    np.testing.assert_allclose(d_col[:, 3], 6.0)
    # column 0: forward first order (its second-order stencil would cross the hole)
    np.testing.assert_array_equal(d_col[:, 0], 1.0)


@pytest.mark.parametrize("coords", [False, True])
def test_flat_ground_is_exactly_flat(coords):
    """numpy.gradient leaves ~1e-16 of noise here; a flat lake must have no aspect."""
    z = np.full((6, 7), 7.0)
    z[3, 3] = np.nan
    row = np.cumsum(RNG.uniform(20, 30, 6)) if coords else 0.3
    d_row, d_col = core.gradient(z, np.isfinite(z), row, 0.7)
    valid = np.isfinite(z)
    assert (d_row[valid] == 0).all()
    assert (d_col[valid] == 0).all()


def test_pixel_without_valid_neighbour_is_nodata():
    z = RNG.normal(size=(5, 5))
    valid = np.ones(z.shape, bool)
    valid[:, 1] = valid[:, 3] = False
    d_row, d_col = core.gradient(z, valid)
    assert np.isnan(d_col[:, 2]).all()  # isolated between two holes along x
    assert not np.isnan(d_row[:, 2]).any()  # still fine along y


def test_two_pixel_axis_falls_back_to_first_order():
    z = np.array([[1.0, 3.0, 9.0], [2.0, 5.0, 7.0]])
    d_row, _ = core.gradient(z, None, 2.0, 1.0, edge_order=2)
    np.testing.assert_array_equal(d_row, [[0.5, 1.0, -1.0]] * 2)


@pytest.mark.parametrize("shape", [(1, 5), (5, 1)])
def test_one_pixel_axis_is_an_error(shape):
    with pytest.raises(RasterTooSmallError, match="at least 2 pixels"):
        core.gradient(np.zeros(shape))


def test_bad_edge_order():
    with pytest.raises(UsageError, match="edge order"):
        core.gradient(np.zeros((4, 4)), edge_order=3)


finite = st.floats(-1e4, 1e4, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    z=arrays(np.float64, st.tuples(st.integers(2, 9), st.integers(2, 9)), elements=finite),
    hole_seed=st.integers(0, 2**32 - 1),
    c=finite,
    k=st.floats(0.1, 10),
)
def test_properties(z, hole_seed, c, k):
    """Adding a constant changes nothing; scaling z scales the derivatives."""
    valid = np.random.default_rng(hole_seed).random(z.shape) > 0.2
    base = core.gradient(z, valid, 3.0, 2.0)
    shifted = core.gradient(z + c, valid, 3.0, 2.0)
    scaled = core.gradient(z * k, valid, 3.0, 2.0)
    for b, s, t in zip(base, shifted, scaled, strict=True):
        np.testing.assert_array_equal(np.isnan(b), np.isnan(s))
        np.testing.assert_allclose(s, b, atol=1e-6 * (1 + abs(c)))
        np.testing.assert_allclose(t, k * b, rtol=1e-9, atol=1e-9)
