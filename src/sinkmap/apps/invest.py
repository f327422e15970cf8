"""InVEST-compatible carbon storage and change, by region, on the exact-coverage engine.

Takes an InVEST Carbon pools table (``lucode, c_above, c_below, c_soil, c_dead``, t C/ha) and one or two land-cover
rasters (current and future/later). The second raster is aligned onto the first one's grid with nearest-neighbour
resampling when the grids differ (stated in the result's ``alignment`` attribute), never refused.

For each region (or the whole first raster when no regions are given) it reports storage by pool and in total
(t C) for each raster, the valid (non-nodata) area, and the change later − earlier by pool (t C), computed per pixel
where both rasters are valid. Nodata is a mask, never a value: a real change of −1.0 t C/ha stays −1.0. Codes
missing from the table are collected over the whole raster and reported together in one error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from sinkmap.kernels.carbon.invest import POOL_COLUMNS, InvestCarbonTable, read_invest_carbon_table
from sinkmap.kernels.coverage import weighted_sums
from sinkmap.errors import FactorTableError
from sinkmap.engine.grid import GridSpec, Window
from sinkmap.engine.sources import LayerSource
from sinkmap.engine.regions import RegionLayerSpec, ZoneIndex, level_from_frame, load_level
from sinkmap.engine.executor import run_tasks

__all__ = ["InvestPlan", "invest_storage", "pool_densities"]


@dataclass(frozen=True)
class InvestPlan:
    grid: GridSpec
    sources: tuple[LayerSource, ...]
    table: InvestCarbonTable
    zones: ZoneIndex

    @property
    def columns(self) -> list[str]:
        cols = []
        for k in range(len(self.sources)):
            cols += [f"valid_area_m2_{k}", *(f"{pool}_t_{k}" for pool in POOL_COLUMNS)]
        if len(self.sources) == 2:
            cols += ["both_valid_area_m2", *(f"{pool}_change_t" for pool in POOL_COLUMNS)]
        return cols


def pool_densities(
    table: InvestCarbonTable, codes: NDArray[Any], valid: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], set[int]]:
    """Densities (pools × cells, t C/ha; NaN where invalid or unknown) and the unknown codes seen."""
    flat = codes.reshape(-1).astype(np.int64)
    ok = valid.reshape(-1)
    pos = np.searchsorted(table.lucode, flat)
    pos = np.clip(pos, 0, table.lucode.size - 1)
    known = table.lucode[pos] == flat
    unknown = {int(c) for c in np.unique(flat[ok & ~known])}
    out = np.full((4, flat.size), np.nan)
    use = ok & known
    for i, pool in enumerate(POOL_COLUMNS):
        out[i, use] = getattr(table, pool)[pos[use]]
    return out.reshape(4, *codes.shape), unknown


def _invest_window(plan: InvestPlan, window: Window) -> tuple[NDArray[np.int64], NDArray[np.float64], set[int]]:
    hits, pieces = plan.zones.pieces(window)
    if pieces.size == 0:
        return hits, np.zeros((0, len(plan.columns))), set()
    area = plan.grid.pixel_area_m2(window) * np.ones((window.height, window.width))
    values: list[NDArray[np.float64]] = []
    dens: list[NDArray[np.float64]] = []
    unknown: set[int] = set()
    for source in plan.sources:
        codes, valid = source.read(window)
        d, bad = pool_densities(plan.table, codes, valid)
        unknown |= bad
        dens.append(d)
        ok = np.isfinite(d[0])
        values.append(ok * area)
        values += [np.where(ok, d[i], 0.0) * area / 1e4 for i in range(4)]
    if len(dens) == 2:
        both = np.isfinite(dens[0][0]) & np.isfinite(dens[1][0])
        values.append(both * area)
        values += [np.where(both, dens[1][i] - dens[0][i], 0.0) * area / 1e4 for i in range(4)]
    return hits, weighted_sums(pieces, values), unknown


def invest_storage(
    pools_table: str | Path,
    lulc: list[str],
    *,
    regions: str | Path | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    chunk_size: int = 1024,
    scheduler: str | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Carbon storage (t C) by pool for each land-cover raster, and the change, per region and overall.

    Args:
        pools_table: InVEST carbon pools CSV.
        lulc: one or two land-cover rasters (earlier first).
        regions: optional polygon file; without it the whole extent of the first raster is one region.
        id_field, name_field: the regions' id and name fields (required with ``regions``).
        chunk_size, scheduler, workers: as for :func:`sinkmap.apps.zonal.zonal_stats`.

    Returns:
        One row per region plus an ``overall`` row (the sum over regions), columns ``valid_area_km2_<k>``,
        ``c_above_t_<k>`` … ``total_t_<k>`` for raster k = 0 (and 1), and ``<pool>_change_t``, ``total_change_t``.
        ``DataFrame.attrs`` records the inputs and how the second raster was aligned.

    Raises:
        FactorTableError: the rasters hold codes that the table lacks (all listed, with their pixel areas).
    """
    if len(lulc) not in (1, 2):
        raise ValueError("give one or two land-cover rasters")
    table = read_invest_carbon_table(pools_table)
    first = LayerSource.plan("lulc[0]", [str(lulc[0])], None)
    grid = first.target_grid
    sources = [first]
    if len(lulc) == 2:
        sources.append(LayerSource.plan("lulc[1]", [str(lulc[1])], grid, resampling="nearest"))
    if regions is None:
        frame = gpd.GeoDataFrame(
            {"id": ["extent"], "name": ["raster extent"]}, geometry=[shapely.box(*grid.bounds)], crs=grid.crs
        )
        level = level_from_frame(frame, RegionLayerSpec("regions", "<raster extent>", "id", "name"))
    else:
        if not id_field:
            raise ValueError("--id-field is required with --regions")
        level = load_level(RegionLayerSpec("regions", str(regions), id_field, name_field or id_field))
    zones = ZoneIndex.build([level], grid)
    plan = InvestPlan(grid, tuple(sources), table, zones)
    results = run_tasks(_invest_window, plan, list(grid.windows(chunk_size)), scheduler=scheduler, workers=workers)
    total = np.zeros((len(zones), len(plan.columns)))
    unknown: set[int] = set()
    for hits, sums, bad in results:
        unknown |= bad
        if sums.size:
            total[hits] += sums
    if unknown:
        raise FactorTableError(
            f"{Path(pools_table).name}: land-cover code(s) {sorted(unknown)} occur in "
            f"{', '.join(map(str, lulc))} but have no row in the pools table; add a row per code "
            "(lucode, c_above, c_below, c_soil, c_dead in t C/ha) or set those pixels to the raster's nodata value"
        )
    raw = pd.DataFrame(total, columns=plan.columns)
    out = pd.DataFrame({"region_id": list(level.ids), "name": list(level.names_zh)})
    for k in range(len(sources)):
        out[f"valid_area_km2_{k}"] = raw[f"valid_area_m2_{k}"] / 1e6
        for pool in POOL_COLUMNS:
            out[f"{pool}_t_{k}"] = raw[f"{pool}_t_{k}"]
        out[f"total_t_{k}"] = raw[[f"{p}_t_{k}" for p in POOL_COLUMNS]].sum(axis=1)
    if len(sources) == 2:
        out["both_valid_area_km2"] = raw["both_valid_area_m2"] / 1e6
        for pool in POOL_COLUMNS:
            out[f"{pool}_change_t"] = raw[f"{pool}_change_t"]
        out["total_change_t"] = raw[[f"{p}_change_t" for p in POOL_COLUMNS]].sum(axis=1)
    overall = out.drop(columns=["region_id", "name"]).sum().to_frame().T
    overall.insert(0, "name", "overall (sum of regions)")
    overall.insert(0, "region_id", "overall")
    out = pd.concat([out, overall], ignore_index=True)
    out.attrs = {
        "pools_table": str(pools_table),
        "lulc": [str(p) for p in lulc],
        "alignment": [s.describe()["alignment"] for s in sources],
        "units": "t C; areas km²; change = later − earlier where both rasters are valid",
    }
    return out
