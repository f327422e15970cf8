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
from pathlib import Path

import geopandas as gpd
import pandas as pd

from sinkmap.apps.polygons import polygon_level
from sinkmap.engine.grid import GridSpec
from sinkmap.engine.job import Job, run_job
from sinkmap.engine.regions import ZoneIndex
from sinkmap.engine.sources import LayerSource
from sinkmap.errors import ConfigError
from sinkmap.steps.zonal import LAYER_STATS, ZonalStep

__all__ = ["zonal_stats"]


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
        scheduler, workers: as for :func:`sinkmap.engine.executor.stream`.

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
    level = polygon_level(regions, grid, id_field=id_field)
    zones = ZoneIndex.build([level], grid)
    chosen = {name: tuple((stats or {}).get(name, LAYER_STATS)) for name in sources}
    for name, wanted in chosen.items():
        unknown = set(wanted) - set(LAYER_STATS)
        if unknown:
            raise ConfigError(f"stats for layer {name!r}: unknown {sorted(unknown)}; choose from {LAYER_STATS}")
    step = ZonalStep(
        layers=tuple((name, chosen[name], source.nodata) for name, source in sources.items()),
        classes=tuple((name, layer, codes) for name, (layer, codes) in class_codes.items()),
    )
    job = Job(grid, {(name, None): source for name, source in sources.items()}, zones, (step,))
    result = run_job(job, chunk_size=chunk_size, scheduler=scheduler, workers=workers)
    columns = [spec.name for spec in job.stats]
    table = pd.DataFrame(result.totals, columns=columns, index=pd.Index(level.ids, name=id_field))
    for name in sources:
        if {"count", "sum"} <= set(chosen[name]):
            count = table[f"{name}_count"]
            table[f"{name}_mean"] = table[f"{name}_sum"] / count.where(count > 0)
    return table
