"""Exact cell coverage: hand-computed fractions, the boundary-fraction rule, and properties."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from sinkmap.kernels.coverage import coverage_fraction, weighted_sums, window_pieces


def _cover(geom, h: int, w: int) -> np.ndarray:
    return coverage_fraction(window_pieces([geom], h, w), 0)


def test_square_covering_two_and_a_half_pixels() -> None:
    # box from x 0.5 to 3.0 on row 1 covers half of cell (1,0) and all of (1,1) and (1,2)
    cov = _cover(box(0.5, 1.0, 3.0, 2.0), 4, 4)
    expected = np.zeros((4, 4))
    expected[1, :3] = [0.5, 1.0, 1.0]
    np.testing.assert_allclose(cov, expected, atol=1e-15)


def test_triangle_by_hand() -> None:
    # right triangle (0,0)-(2,0)-(0,2): cells (0,0)=1, (0,1)=0.5, (1,0)=0.5, (1,1)=0
    cov = _cover(Polygon([(0, 0), (2, 0), (0, 2)]), 2, 2)
    np.testing.assert_allclose(cov, [[1.0, 0.5], [0.5, 0.0]], atol=1e-15)


def test_hole_is_not_covered() -> None:
    ring = box(0, 0, 4, 4).difference(box(1, 1, 3, 3))
    cov = _cover(ring, 4, 4)
    assert cov[1:3, 1:3].sum() == 0.0
    assert cov.sum() == pytest.approx(12.0)


def test_region_smaller_than_a_pixel() -> None:
    cov = _cover(box(2.25, 1.25, 2.5, 1.5), 4, 4)
    assert cov[1, 2] == pytest.approx(0.0625) and cov.sum() == pytest.approx(0.0625)


def test_sliver_thinner_than_a_pixel() -> None:
    cov = _cover(box(0.0, 1.4, 4.0, 1.41), 3, 4)
    np.testing.assert_allclose(cov[1], [0.01] * 4, rtol=1e-9)
    assert cov[[0, 2]].sum() == 0


def test_parts_outside_window_are_ignored() -> None:
    cov = _cover(box(-10, -10, 1.5, 10), 2, 3)
    np.testing.assert_allclose(cov, [[1, 0.5, 0], [1, 0.5, 0]])


def test_window_origin_offsets_geometry() -> None:
    geom = box(10.5, 20.0, 12.0, 21.0)
    moved = coverage_fraction(window_pieces([geom], 2, 3, origin=(10, 20)), 0)
    np.testing.assert_allclose(moved, [[0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])


def test_neighbours_partition_boundary_pixels() -> None:
    """Boundary-fraction rule: two regions sharing an edge split every cut pixel; nothing lost, nothing twice."""
    outer = box(0.3, 0.2, 7.7, 5.9)
    left = shapely.intersection(outer, Polygon([(0, 0), (8, 6), (0, 6)]))
    right = shapely.intersection(outer, Polygon([(0, 0), (8, 6), (8, 0)]))
    p = window_pieces([left, right, outer], 6, 8)
    a, b, whole = (coverage_fraction(p, i) for i in range(3))
    np.testing.assert_allclose(a + b, whole, atol=1e-12)
    assert (a + b <= 1 + 1e-12).all()
    assert whole.sum() == pytest.approx(outer.area)


def test_weighted_sums_match_dense_coverage() -> None:
    rng = np.random.default_rng(7)
    geoms = [box(0.2, 0.3, 5.5, 4.1), Polygon([(1, 1), (6.5, 2), (3, 6.8)]), box(-1, -1, 9, 9)]
    h, w = 7, 8
    values = rng.random((h, w))
    row_weight = rng.random(h) + 1
    p = window_pieces(geoms, h, w)
    sums = weighted_sums(p, [values, values > 0.5], row_weight=row_weight)
    for k in range(3):
        cov = coverage_fraction(p, k)
        assert sums[k, 0] == pytest.approx((cov * values * row_weight[:, None]).sum(), rel=1e-12)
        assert sums[k, 1] == pytest.approx((cov * (values > 0.5) * row_weight[:, None]).sum(), rel=1e-12)


def test_empty_and_degenerate_geometries() -> None:
    p = window_pieces([shapely.Polygon(), shapely.GeometryCollection([box(5, 5, 6, 6)]), box(0, 0, 1, 1)], 2, 2)
    sums = weighted_sums(p, [np.ones((2, 2))])
    np.testing.assert_allclose(sums[:, 0], [0.0, 0.0, 1.0])


@st.composite
def polygons(draw: st.DrawFn) -> shapely.Geometry:
    n = draw(st.integers(3, 9))
    # coordinates on a 1e-6 lattice: GEOS's overlay (the reference here) mis-handles vertices like 1e-234
    coord = st.integers(-2_000_000, 14_000_000).map(lambda i: i / 1e6)
    pts = draw(st.lists(st.tuples(coord, coord.map(lambda v: min(v, 11.0))), min_size=n, max_size=n))
    geom = shapely.make_valid(Polygon(pts))
    return shapely.union_all([g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"])


@settings(max_examples=60, deadline=None)
@given(polygons())
def test_coverage_equals_cell_intersections(geom: shapely.Geometry) -> None:
    """Property: every cell's fraction equals the area of (polygon ∩ cell), for arbitrary valid polygons."""
    h, w = 9, 12
    cov = _cover(geom, h, w)
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    cells = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 1, ys.ravel() + 1)
    expected = shapely.area(shapely.intersection(geom, cells)).reshape(h, w)
    np.testing.assert_allclose(cov, expected, atol=1e-9)
    assert ((cov > -1e-9) & (cov < 1 + 1e-9)).all()
