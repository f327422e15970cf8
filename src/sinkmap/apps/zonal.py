"""Exact zonal statistics of rasters over polygons, on any dask scheduler.

:func:`zonal_stats` is the general-purpose entry point behind the pipeline's aggregation, usable on its own::

    table = zonal_stats("counties.gpkg", {"landcover": "lc.tif", "agb": "agb.tif"}, id_field="adcode",
                        classes={"forest": ("landcover", [2])})

For every layer it returns, per region, the coverage-weighted pixel count of valid cells (``<layer>_count``),
the coverage-weighted sum of values (``<layer>_sum``, the same definition as exactextract's ``count`` and ``sum``),
and the true area of valid cells (``<layer>_area_m2``); for every class, the true area and the coverage-weighted
count of cells whose code is in the class. Boundary cells count by the exact fraction of their area inside the
region (:mod:`sinkmap.kernels.coverage`), so results match exactextract and do not depend on chunk size or workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sinkmap.kernels.coverage import weighted_sums, weighted_sums_rows
from sinkmap.errors import ConfigError
from sinkmap.engine.grid import GridSpec, Window
from sinkmap.engine.sources import LayerSource
from sinkmap.engine.regions import RegionLayerSpec, ZoneIndex, level_from_frame, load_level
from sinkmap.engine.executor import run_tasks

__all__ = ["ZonalPlan", "zonal_stats"]


LAYER_STATS = ("count", "sum", "area")


@dataclass(frozen=True)
class ZonalPlan:
    grid: GridSpec
    sources: dict[str, LayerSource]
    classes: dict[str, tuple[str, tuple[int, ...]]]
    zones: ZoneIndex
    stats: dict[str, tuple[str, ...]]

    @property
    def columns(self) -> list[str]:
        cols = []
        for name in self.sources:
            wanted = self.stats[name]
            cols += [c for stat, c in zip(LAYER_STATS, (f"{name}_count", f"{name}_sum", f"{name}_area_m2"), strict=True) if stat in wanted]
        for name in self.classes:
            cols += [f"{name}_count", f"{name}_area_m2"]
        return cols


def _zero_invalid(values: NDArray[Any], valid: NDArray[np.bool_], nodata: float | None) -> NDArray[Any]:
    """``values`` with invalid cells set to 0, skipping the pass where they already are."""
    if values.dtype.kind in "iub":
        if nodata is None or nodata == 0:  # invalid cells hold the nodata value or the 0 fill outside the layer
            return values
        return np.multiply(values, valid, dtype=values.dtype)
    return np.where(valid, values, values.dtype.type(0))


def _members(values: NDArray[Any], valid: NDArray[np.bool_], codes: tuple[int, ...], nodata: float | None) -> NDArray[np.bool_]:
    """Cells whose code is in ``codes``; one comparison per code (np.isin builds a lookup table every call)."""
    if len(codes) <= 4:
        member = values == values.dtype.type(codes[0])
        for code in codes[1:]:
            member |= values == values.dtype.type(code)
    else:
        member = np.isin(values, np.asarray(codes, dtype=values.dtype))
    # invalid cells hold the nodata value (inside or outside the layer): when it is no class code, they are no members
    if values.dtype.kind in "iu" and nodata is not None and nodata not in codes:
        return member
    return member & valid


def _zonal_window(plan: ZonalPlan, window: Window) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    hits, pieces = plan.zones.pieces(window)
    if pieces.size == 0:
        return hits, np.zeros((0, len(plan.columns)))
    area = plan.grid.pixel_area_m2(window)
    row_area = np.broadcast_to(area[:, 0], (window.height,)) if area.shape[1] == 1 else None
    # arrays to sum, each with the output columns of its plain sum and (optionally) its area-weighted sum
    values: list[NDArray[Any]] = []
    targets: list[tuple[str | None, str | None]] = []
    layers = {}
    for name, source in plan.sources.items():
        data, valid = source.read(window)
        layers[name] = (data, valid)
        wanted = plan.stats[name]
        if "count" in wanted or "area" in wanted:
            values.append(valid)
            targets.append((f"{name}_count" if "count" in wanted else None, f"{name}_area_m2" if "area" in wanted else None))
        if "sum" in wanted:
            values.append(_zero_invalid(data, valid, source.nodata))
            targets.append((f"{name}_sum", None))
    for name, (layer, codes) in plan.classes.items():
        data, valid = layers[layer]
        values.append(_members(data, valid, codes, plan.sources[layer].nodata))
        targets.append((f"{name}_count", f"{name}_area_m2"))
    column = {c: i for i, c in enumerate(plan.columns)}
    out = np.zeros((hits.size, len(plan.columns)))
    areal = [i for i, (_, a) in enumerate(targets) if a is not None]
    if row_area is not None:  # area constant along rows: one pass per array gives sums and area-weighted sums
        sums = weighted_sums_rows(pieces, values, [None, row_area])
        plain_sums, areal_sums = sums[:, :, 0], sums[:, areal, 1]
    else:
        plain_sums = weighted_sums_rows(pieces, values, [None])[:, :, 0]
        areal_sums = weighted_sums(pieces, [np.asarray(values[i], dtype=np.float64) * area for i in areal])
    for i, (plain, _) in enumerate(targets):
        if plain is not None:
            out[:, column[plain]] = plain_sums[:, i]
    for j, i in enumerate(areal):
        out[:, column[targets[i][1]]] = areal_sums[:, j]  # type: ignore[index]
    return hits, out


def zonal_stats(
    regions: str | Path | gpd.GeoDataFrame,
    layers: Mapping[str, str | Path | Sequence[str]],
    *,
    id_field: str,
    classes: Mapping[str, tuple[str, Sequence[int]]] | None = None,
    resampling: Mapping[str, str] | None = None,
    stats: Mapping[str, Sequence[str]] | None = None,
    chunk_size: int = 1024,
    scheduler: str | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Exact coverage-weighted zonal statistics.

    Args:
        regions: a polygon file or GeoDataFrame (any CRS; reprojected to the rasters' grid).
        layers: layer name → raster path (or list of tiles); the first layer defines the grid, others must be on
            it unless ``resampling`` names a method for them.
        id_field: the regions' id field (returned as the index).
        classes: class name → (layer name, codes); adds ``<class>_count`` and ``<class>_area_m2``.
        resampling: layer name → resampling method for layers on another grid.
        stats: layer name → which of ``count``, ``sum``, ``area`` to compute (default all three); each one left
            out saves a pass over the pixels (a land-cover layer used only for ``classes`` can take ``()``).
        chunk_size: window size in pixels.
        scheduler, workers: as for :func:`sinkmap.engine.executor.run_tasks`.

    Returns:
        One row per region (index = id) with the columns described in the module docstring.
    """
    if not layers:
        raise ConfigError("zonal_stats needs at least one layer")
    class_codes = {k: (v[0], tuple(int(c) for c in v[1])) for k, v in (classes or {}).items()}
    for name, (layer, _) in class_codes.items():
        if layer not in layers:
            raise ConfigError(f"class {name!r} refers to layer {layer!r}, which is not among {list(layers)}")
    sources: dict[str, LayerSource] = {}
    grid: GridSpec | None = None
    for name, path in layers.items():
        paths = [str(path)] if isinstance(path, str | Path) else [str(p) for p in path]
        source = LayerSource.plan(name, paths, grid, resampling=(resampling or {}).get(name))
        grid = grid or source.target_grid
        sources[name] = source
    assert grid is not None
    if isinstance(regions, gpd.GeoDataFrame):
        spec = RegionLayerSpec(level="regions", path="<GeoDataFrame>", id_field=id_field, name_field=id_field)
        level = level_from_frame(regions, spec)
    else:
        level = load_level(RegionLayerSpec(level="regions", path=str(regions), id_field=id_field, name_field=id_field))
    zones = ZoneIndex.build([level], grid)
    chosen = {name: tuple((stats or {}).get(name, LAYER_STATS)) for name in sources}
    for name, wanted in chosen.items():
        unknown = set(wanted) - set(LAYER_STATS)
        if unknown:
            raise ConfigError(f"stats for layer {name!r}: unknown {sorted(unknown)}; choose from {LAYER_STATS}")
    plan = ZonalPlan(grid, sources, class_codes, zones, chosen)
    results = run_tasks(_zonal_window, plan, list(grid.windows(chunk_size)), scheduler=scheduler, workers=workers)
    total = np.zeros((len(zones), len(plan.columns)))
    for hits, sums in results:
        if sums.size:
            total[hits] += sums
    table = pd.DataFrame(total, columns=plan.columns, index=pd.Index(level.ids, name=id_field))
    for name in sources:
        if {"count", "sum"} <= set(chosen[name]):
            count = table[f"{name}_count"]
            table[f"{name}_mean"] = table[f"{name}_sum"] / count.where(count > 0)
    return table
