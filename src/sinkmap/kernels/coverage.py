"""Exact polygon coverage of raster cells, and coverage-weighted sums over a raster window.

A region's share of a cell is the area of (polygon ∩ cell) divided by the cell's area, computed exactly for
straight-edged polygons in the raster's pixel coordinates (column, row). Nothing is sampled at cell centres, so
a pixel cut by a boundary counts in proportion to its covered fraction: nothing is counted twice and nothing is
lost between neighbouring regions, slivers thinner than a pixel and regions smaller than one pixel included.

Method
------
For a point (x, y), the winding number of a polygon equals the signed count of its edges crossed by a
horizontal ray from the point towards −x. Integrating that over a cell gives, for every polygon edge split into
pieces at the grid lines (each piece inside one cell ``(row, col)`` with signed height ``dy`` and mid-point
``x_mid``):

* the piece's own cell receives ``−dy · (col + 1 − x_mid)`` (the exact area between the piece and the
  cell's right edge), and
* every cell to its right in the same row receives ``−dy`` (the full height of the piece).

With exteriors oriented counter-clockwise (positive shoelace area) and holes clockwise, the total is the
covered fraction of each cell. For a value raster ``v`` the coverage-weighted sum is then

    Σ_cells v · coverage = Σ_pieces −dy · (col + 1 − x_mid) · v[row, col] + Σ_pieces −dy · Σ_{i > col} v[row, i]

and the row tails ``Σ_{i > col} v[row, i]`` come from one ``np.add.reduceat`` pass over the window between the
piece columns of all regions together. The cost is one pass over the pixels per value layer plus work
proportional to the boundary length; no per-region raster is ever built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "WindowPieces",
    "coverage_fraction",
    "weighted_histograms",
    "weighted_sums",
    "weighted_sums_rows",
    "window_pieces",
]


@dataclass(frozen=True)
class WindowPieces:
    """The boundary pieces of a set of regions inside one raster window.

    Attributes:
        height, width: window shape in pixels.
        n_regions: number of regions the pieces refer to.
        region: region index of each piece (0 … n_regions − 1).
        row, col: cell of each piece, in window pixel coordinates.
        own: contribution of the piece to its own cell's coverage (fraction of one cell).
        tail: contribution of the piece to every cell right of it in the same row.
    """

    height: int
    width: int
    n_regions: int
    region: NDArray[np.int64]
    row: NDArray[np.int64]
    col: NDArray[np.int64]
    own: NDArray[np.float64]
    tail: NDArray[np.float64]

    @property
    def size(self) -> int:
        return int(self.region.size)


def _ring_edges(geoms: NDArray[np.object_]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Edges ``(x0, y0, x1, y1)`` of every ring of ``geoms`` (polygons, oriented) and their geometry index."""
    parts, part_index = shapely.get_parts(geoms, return_index=True)
    is_polygon = shapely.get_type_id(parts) == 3
    parts, part_index = parts[is_polygon], part_index[is_polygon]
    if parts.size == 0:
        return np.empty((0, 4)), np.empty(0, dtype=np.int64)
    parts = shapely.orient_polygons(parts, exterior_cw=False)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = coord_ring[:-1] == coord_ring[1:]
    start = np.flatnonzero(same_ring)
    edges = np.column_stack([coords[start], coords[start + 1]])
    return edges, part_index[ring_part[coord_ring[start]]]


def _grid_crossings(lo: NDArray[np.float64], hi: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Integers strictly between ``lo`` and ``hi`` for each edge: (edge index, integer value)."""
    first = np.floor(lo) + 1.0
    last = np.ceil(hi) - 1.0
    count = np.maximum(last - first + 1.0, 0.0).astype(np.int64)
    edge = np.repeat(np.arange(lo.size), count)
    offset = np.arange(edge.size) - np.repeat(np.cumsum(count) - count, count)
    return edge, first[edge] + offset


def _edge_pieces(edges: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Split edges at every grid line; return (edge index, dy, x_mid, y_mid) per piece."""
    x0, y0, x1, y1 = edges.T
    dx, dy = x1 - x0, y1 - y0
    ex, kx = _grid_crossings(np.minimum(x0, x1), np.maximum(x0, x1))
    ey, ky = _grid_crossings(np.minimum(y0, y1), np.maximum(y0, y1))
    n = x0.size
    edge = np.concatenate([np.arange(n), np.arange(n), ex, ey])
    t = np.concatenate([np.zeros(n), np.ones(n), (kx - x0[ex]) / dx[ex], (ky - y0[ey]) / dy[ey]])
    order = np.lexsort((t, edge))
    edge, t = edge[order], t[order]
    keep = edge[:-1] == edge[1:]
    e = edge[:-1][keep]
    ta, tb = t[:-1][keep], t[1:][keep]
    t_mid = 0.5 * (ta + tb)
    return e, (tb - ta) * dy[e], x0[e] + t_mid * dx[e], y0[e] + t_mid * dy[e]


def _clip(geoms: NDArray[np.object_], x0: float, y0: float, x1: float, y1: float) -> NDArray[np.object_]:
    """Clip to a rectangle; geometries GEOS's fast clipper cannot handle go through the full overlay instead."""
    try:
        return np.asarray(shapely.clip_by_rect(geoms, x0, y0, x1, y1), dtype=object)
    except shapely.errors.GEOSException:
        rect = shapely.box(x0, y0, x1, y1)
        out = []
        for geom in geoms:
            try:
                out.append(shapely.clip_by_rect(geom, x0, y0, x1, y1))
            except shapely.errors.GEOSException:
                out.append(shapely.intersection(shapely.make_valid(geom), rect))
        return np.asarray(out, dtype=object)


def window_pieces(
    geoms: ArrayLike, height: int, width: int, *, origin: tuple[float, float] = (0.0, 0.0)
) -> WindowPieces:
    """Boundary pieces of ``geoms`` (shapely polygons in pixel coordinates) inside a window.

    Args:
        geoms: one polygon or multipolygon per region, in pixel coordinates (x = column, y = row, one unit per
            pixel). Parts outside the window are ignored.
        height, width: window shape in pixels.
        origin: pixel coordinates (column, row) of the window's top-left corner in the geometries' frame, so
            regions in whole-grid pixel coordinates can be used for any window without being moved.

    Returns:
        The pieces from which :func:`weighted_sums` and :func:`coverage_fraction` are computed.
    """
    geoms = np.asarray(geoms, dtype=object)
    n_regions = int(geoms.size)
    x_off, y_off = float(origin[0]), float(origin[1])
    clipped = _clip(geoms, x_off, y_off, x_off + width, y_off + height)
    edges, region = _ring_edges(clipped)
    edges = edges - np.array([x_off, y_off, x_off, y_off])
    moving = edges[:, 1] != edges[:, 3]
    edges, region = edges[moving], region[moving]
    e, dy, x_mid, y_mid = _edge_pieces(edges)
    row = np.clip(np.floor(y_mid), 0, height - 1).astype(np.int64)
    col = np.floor(x_mid).astype(np.int64)
    inside = col < width  # pieces on the window's right edge affect no cell of the window
    e, dy, x_mid, row, col = e[inside], dy[inside], x_mid[inside], row[inside], col[inside]
    return WindowPieces(
        height=height,
        width=width,
        n_regions=n_regions,
        region=region[e],
        row=row,
        col=col,
        own=-dy * (col + 1.0 - x_mid),
        tail=-dy,
    )


@dataclass(frozen=True)
class _TailLayout:
    """Where the row tails of a window's pieces start: segment breaks for ``np.add.reduceat`` and the slots that
    turn segment sums into row-suffix sums. It depends on the pieces only, so it is built once per window and
    shared by every value layer."""

    breaks: NDArray[np.int64]
    seg_row: NDArray[np.int64]
    seg_pos: NDArray[np.int64]
    n_pos: int
    has_tail: NDArray[np.bool_]
    tail_slot: NDArray[np.int64]
    own_flat: NDArray[np.int64]


def _tail_layout(pieces: WindowPieces) -> _TailLayout:
    h, w = pieces.height, pieces.width
    has_tail = pieces.col + 1 < w
    tail_key = pieces.row[has_tail] * w + pieces.col[has_tail] + 1
    # sorted unique breaks (np.unique hashes in numpy ≥ 2.3, ~25x slower than sort + dedupe here)
    breaks = np.sort(np.concatenate([np.arange(h, dtype=np.int64) * w, tail_key]))
    breaks = breaks[np.concatenate(([True], breaks[1:] != breaks[:-1]))]
    seg_row = breaks // w
    row_first = np.searchsorted(seg_row, np.arange(h))
    seg_pos = np.arange(breaks.size) - row_first[seg_row]
    return _TailLayout(
        breaks=breaks,
        seg_row=seg_row,
        seg_pos=seg_pos,
        n_pos=int(seg_pos.max()) + 1,
        has_tail=has_tail,
        tail_slot=np.searchsorted(breaks, tail_key),
        own_flat=pieces.row * w + pieces.col,
    )


def _segment_sums(flat: NDArray[np.generic], breaks: NDArray[np.int64], width: int) -> NDArray[np.generic]:
    """``np.add.reduceat`` in the cheapest exact accumulator. A segment lies inside one row of at most ``width``
    cells, so 8- and 16-bit integers (and booleans) add up exactly in int32 while ``width`` ≤ 32768, about twice
    as fast as float64; anything else is added in float64."""
    if flat.dtype.itemsize <= 2 and flat.dtype.kind in "biu" and width <= 32768:
        data = flat.view(np.uint8) if flat.dtype == np.bool_ else flat
        return np.add.reduceat(data, breaks, dtype=np.int32)
    return np.add.reduceat(flat, breaks, dtype=np.float64)


def weighted_sums_rows(
    pieces: WindowPieces,
    values: Sequence[NDArray[Any]],
    row_weights: list[NDArray[np.float64] | None],
) -> NDArray[np.float64]:
    """Coverage-weighted sums ``Σ v · coverage · w`` for every value array and every per-row weight at once.

    One ``np.add.reduceat`` pass per value array serves all weights (``None`` = unweighted), so asking for sums
    and row-area-weighted sums together costs no more pixel passes than sums alone; the work on the pieces is
    done for all arrays together.

    Returns:
        Array of shape ``(n_regions, len(values), len(row_weights))`` in float64.
    """
    h, w = pieces.height, pieces.width
    k = len(values)
    out = np.zeros((pieces.n_regions, k, len(row_weights)), dtype=np.float64)
    if pieces.size == 0 or not values:
        return out
    lay = _tail_layout(pieces)
    flats = [np.ascontiguousarray(v).reshape(-1) for v in values]
    table = np.zeros((h, lay.n_pos, k), dtype=np.float64)
    own_values = np.empty((pieces.size, k), dtype=np.float64)
    for j, flat in enumerate(flats):
        table[lay.seg_row, lay.seg_pos, j] = _segment_sums(flat, lay.breaks, w)
        own_values[:, j] = flat[lay.own_flat]
    suffix = np.cumsum(table[:, ::-1], axis=1)[:, ::-1]  # row-local sums from each segment to the row's end
    row_tail = np.zeros((pieces.size, k), dtype=np.float64)
    row_tail[lay.has_tail] = suffix[lay.seg_row[lay.tail_slot], lay.seg_pos[lay.tail_slot]]
    contrib = pieces.own[:, None] * own_values + pieces.tail[:, None] * row_tail
    # pieces come region by region (see window_pieces); add each region's run of pieces
    region = pieces.region
    order = None if np.all(region[1:] >= region[:-1]) else np.argsort(region, kind="stable")
    if order is not None:
        region, contrib = region[order], contrib[order]
    starts = np.flatnonzero(np.concatenate(([True], region[1:] != region[:-1])))
    for j, rw in enumerate(row_weights):
        if rw is None:
            weighted = contrib
        else:
            piece_weight = np.asarray(rw, dtype=np.float64)[pieces.row]
            weighted = contrib * (piece_weight if order is None else piece_weight[order])[:, None]
        out[region[starts], :, j] = np.add.reduceat(weighted, starts, axis=0)
    return out


def weighted_sums(
    pieces: WindowPieces,
    values: Sequence[NDArray[Any]],
    *,
    row_weight: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Coverage-weighted sums ``Σ v · coverage · w`` per region for each value array.

    Args:
        pieces: from :func:`window_pieces` for this window.
        values: arrays of shape ``(height, width)`` (bool, integer or float; invalid cells must already be 0).
        row_weight: optional per-row factor of shape ``(height,)`` (e.g. geodesic pixel area in m² per row);
            for weights that vary along rows, multiply them into ``values`` instead.

    Returns:
        Array of shape ``(n_regions, len(values))`` in float64.
    """
    return weighted_sums_rows(pieces, values, [row_weight])[:, :, 0]


def weighted_histograms(
    pieces: WindowPieces,
    codes: NDArray[np.integer[Any]],
    n_codes: int,
    *,
    row_weight: NDArray[np.float64] | None = None,
    cell_weight: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Coverage-weighted histogram of integer codes per region: ``Σ coverage · w · [code == k]`` for every k.

    One pass over the pixels (a ``np.bincount`` over segment × code) serves every code, where one boolean mask per
    code would cost a pass each; it is how cross-tabulations (transition matrices, areas by class) are
    aggregated.

    Args:
        pieces: from :func:`window_pieces` for this window.
        codes: shape ``(height, width)``, values in ``0 … n_codes − 1``; negative values are not counted.
        n_codes: number of codes.
        row_weight: optional per-row factor of shape ``(height,)`` (pixel area in m² per row).
        cell_weight: optional per-cell factor of shape ``(height, width)`` (pixel area where it varies along
            rows); not together with ``row_weight``.

    Returns:
        Array of shape ``(n_regions, n_codes)`` in float64.
    """
    h, w = pieces.height, pieces.width
    out = np.zeros((pieces.n_regions, n_codes), dtype=np.float64)
    if pieces.size == 0:
        return out
    lay = _tail_layout(pieces)
    flat = np.ascontiguousarray(codes).reshape(-1)
    # the codes present in the window, numbered 0 … k − 1 (k is usually far below n_codes); −1 for uncounted cells
    shifted = np.maximum(flat, -1).astype(np.intp, copy=False) + 1
    present = np.flatnonzero(np.bincount(shifted, minlength=n_codes + 1)[1:])
    k = present.size
    if k == 0:
        return out
    lut = np.full(n_codes + 1, k, dtype=np.int32)
    lut[present + 1] = np.arange(k, dtype=np.int32)
    compact = lut[shifted]
    n_seg = lay.breaks.size
    # one bincount over segment × code; uncounted cells go to an extra column that is dropped
    width = k + 1
    seg_of_cell = np.repeat(np.arange(n_seg, dtype=np.intp) * width, np.diff(np.append(lay.breaks, h * w)))
    weights = None if cell_weight is None else np.broadcast_to(cell_weight, (h, w)).reshape(-1)
    per_seg = np.bincount(seg_of_cell + compact, weights=weights, minlength=n_seg * width).reshape(n_seg, width)
    # suffix sums from each segment to the end of its row: a global suffix minus the one from the next row's start
    suffix = np.zeros((n_seg + 1, k))
    suffix[:n_seg] = np.cumsum(per_seg[::-1, :k], axis=0)[::-1]
    row_start = np.searchsorted(lay.seg_row, np.arange(h + 1))
    row_suffix = suffix[:n_seg] - suffix[row_start[lay.seg_row + 1]]
    # a piece's weight: its coverage contribution (own cell, or each cell to its right) times its row's weight
    row_w = None if row_weight is None else np.asarray(row_weight, dtype=np.float64)[pieces.row]
    tail_w = pieces.tail if row_w is None else pieces.tail * row_w
    own_w = pieces.own if row_w is None else pieces.own * row_w
    if weights is not None:
        own_w = own_w * weights[lay.own_flat]
    region = pieces.region
    order = np.argsort(region, kind="stable")
    sorted_region = region[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_region[1:] != sorted_region[:-1])))
    # the tail part: Σ over a region's pieces of tail × (row suffix histogram), added region by region
    tail = np.zeros((pieces.size, k))
    tail[lay.has_tail] = row_suffix[lay.tail_slot] * tail_w[lay.has_tail, None]
    result = np.zeros((pieces.n_regions, k))
    result[sorted_region[starts]] = np.add.reduceat(tail[order], starts, axis=0)
    # the own part: each piece's own cell, one bincount over region × code
    own_code = compact[lay.own_flat]
    counted = own_code < k
    result += np.bincount(
        region[counted] * k + own_code[counted], weights=own_w[counted], minlength=pieces.n_regions * k
    ).reshape(pieces.n_regions, k)
    out[:, present] = result
    return out


def coverage_fraction(pieces: WindowPieces, region: int) -> NDArray[np.float64]:
    """Dense coverage fraction (0–1) of one region over the window, shape ``(height, width)``.

    For tests, pictures and small windows; aggregation uses :func:`weighted_sums`, which never builds it.
    """
    sel = pieces.region == region
    own = np.zeros((pieces.height, pieces.width + 1))
    tail = np.zeros((pieces.height, pieces.width + 1))
    np.add.at(own, (pieces.row[sel], pieces.col[sel]), pieces.own[sel])
    np.add.at(tail, (pieces.row[sel], pieces.col[sel] + 1), pieces.tail[sel])
    return (np.cumsum(tail, axis=1) + own)[:, : pieces.width]
