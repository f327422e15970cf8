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

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from sinkmap.engine.job import Job, run_job
from sinkmap.engine.regions import RegionLayerSpec, ZoneIndex, level_from_frame, load_level
from sinkmap.engine.sources import LayerSource
from sinkmap.errors import FactorTableError
from sinkmap.kernels.carbon.invest import POOL_COLUMNS, read_invest_carbon_table
from sinkmap.steps.invest import UNKNOWN_CODE, InvestStep

__all__ = ["invest_storage"]


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
    step = InvestStep(table, tuple((k, ("lulc", k)) for k in range(len(sources))))
    job = Job(grid, {("lulc", k): source for k, source in enumerate(sources)}, zones, (step,))
    result = run_job(job, chunk_size=chunk_size, scheduler=scheduler, workers=workers)
    unknown = sorted(code for what, code in result.notes if what == UNKNOWN_CODE)
    if unknown:
        raise FactorTableError(
            f"{Path(pools_table).name}: land-cover code(s) {unknown} occur in "
            f"{', '.join(map(str, lulc))} but have no row in the pools table; add a row per code "
            "(lucode, c_above, c_below, c_soil, c_dead in t C/ha) or set those pixels to the raster's nodata value"
        )
    raw = {spec.key: result.totals[:, j] for j, spec in enumerate(job.stats)}
    out = pd.DataFrame({"region_id": list(level.ids), "name": list(level.names_zh)})
    for k in range(len(sources)):
        out[f"valid_area_km2_{k}"] = raw[("invest_valid_area_m2", k)] / 1e6
        for pool in POOL_COLUMNS:
            out[f"{pool}_t_{k}"] = raw[(f"invest_{pool}_t_c", k)]
        out[f"total_t_{k}"] = out[[f"{p}_t_{k}" for p in POOL_COLUMNS]].sum(axis=1)
    if len(sources) == 2:
        out["both_valid_area_km2"] = raw[("invest_both_valid_area_m2", 1)] / 1e6
        for pool in POOL_COLUMNS:
            out[f"{pool}_change_t"] = raw[(f"invest_{pool}_change_t_c", 1)]
        out["total_change_t"] = out[[f"{p}_change_t" for p in POOL_COLUMNS]].sum(axis=1)
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
