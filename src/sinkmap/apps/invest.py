"""InVEST-compatible carbon storage, change and valuation, by region, on the exact-coverage engine.

Takes an InVEST Carbon pools table (``lucode, c_above, c_below, c_soil, c_dead``, t C/ha), a baseline land-cover
raster and any number of alternates. Alternates are aligned onto the baseline's grid with nearest-neighbour
resampling when the grids differ (stated in the result's ``alignment`` attribute), never refused.

For each region (or the whole baseline raster when no regions are given) it reports storage by pool and in total
(t C) for each scenario, the valid (non-nodata) area, and for each alternate the change alternate − baseline by
pool (t C), computed per pixel where both rasters are valid, and optionally its net present value (InVEST's
valuation, :func:`sinkmap.kernels.carbon.invest.valuation_per_t_c`). Per-pixel rasters (t C/ha, currency/ha) are
written as COGs on request.

Where it differs from InVEST by default, and the options that reproduce InVEST:

* **Area**: true pixel area (``area="true"``); ``area="nominal"`` takes the pixel's projected size, as InVEST does.
* **A nodata code listed in the pools table**: masked, with a warning (``nodata_in_table="mask"``);
  ``nodata_in_table="map"`` maps those pixels through the table row, as InVEST does.
* **A change of exactly −1.0 t C/ha**: kept (InVEST writes −1 as nodata in its change raster and drops it). No
  option: it is a real change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from sinkmap.apps.polygons import polygon_level, run_with_rasters
from sinkmap.engine.job import Job
from sinkmap.engine.regions import ZoneIndex
from sinkmap.engine.sources import LayerSource
from sinkmap.errors import ConfigError, FactorTableError
from sinkmap.kernels.area import AREA_METHODS
from sinkmap.kernels.carbon.invest import (
    POOL_COLUMNS,
    InvestCarbonTable,
    read_invest_carbon_table,
    valuation_per_t_c,
)
from sinkmap.steps.invest import UNKNOWN_CODE, InvestStep

__all__ = ["NODATA_IN_TABLE", "invest_storage", "nodata_listed", "scenario_names"]

log = logging.getLogger(__name__)

NODATA_IN_TABLE = ("mask", "map")
"""What to do with pixels holding the raster's nodata code when the pools table has a row for it."""


def nodata_listed(table: InvestCarbonTable, source: LayerSource) -> float | None:
    """The layer's nodata code when the pools table has a row for it (InVEST would map those pixels), else None."""
    code = source.nodata
    if code is None or not np.isfinite(code) or not float(code).is_integer():
        return None
    return code if int(code) in set(table.lucode.tolist()) else None


def scenario_names(n: int) -> tuple[str, ...]:
    """InVEST's scenario names: ``bas`` and ``alt`` for one alternate, ``alt1``, ``alt2``, … for several."""
    if n == 2:
        return ("bas", "alt")
    return ("bas", *(f"alt{k}" for k in range(1, n)))


def _suffix(k: int, n: int) -> str:
    """Column suffix of alternate ``k`` of ``n`` scenarios: none for a single alternate (``total_change_t``)."""
    return "" if n == 2 else f"_{k}"


def invest_storage(
    pools_table: str | Path,
    lulc: Sequence[str],
    *,
    regions: str | Path | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    area: str = "true",
    nodata_in_table: str = "mask",
    years: Sequence[int] | None = None,
    price_per_t_c: float | None = None,
    discount_rate_pct: float = 0.0,
    price_change_pct: float = 0.0,
    raster_dir: str | Path | None = None,
    invest_names: bool = False,
    chunk_size: int = 1024,
    scheduler: str | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Carbon storage (t C) by pool for each land-cover raster, the change and its value, per region and overall.

    Args:
        pools_table: InVEST carbon pools CSV.
        lulc: the baseline land-cover raster, then any number of alternates.
        regions: optional polygon file; without it the whole extent of the baseline raster is one region.
        id_field, name_field: the regions' id and name fields (``id_field`` required with ``regions``).
        area: ``true`` (true pixel area, the default) or ``nominal`` (pixel size, InVEST's totals).
        nodata_in_table: ``mask`` (default) or ``map`` (InVEST: map nodata pixels through the table's row).
        years: one year per raster (baseline first), needed for valuation.
        price_per_t_c, discount_rate_pct, price_change_pct: InVEST's valuation inputs (currency per t C, % per
            year, % per year); valuation runs when a price is given.
        raster_dir: write per-pixel COGs here (storage, pools, change, net present value), or nothing if None.
        invest_names: name the rasters as InVEST does (``c_storage_bas.tif`` …).
        chunk_size, scheduler, workers: as for :func:`sinkmap.apps.zonal.zonal_stats`.

    Returns:
        One row per region plus an ``overall`` row (the sum over regions), columns ``valid_area_km2_<k>``,
        ``c_above_t_<k>`` … ``total_t_<k>`` for raster k = 0, 1, …; per alternate ``both_valid_area_km2``,
        ``<pool>_change_t``, ``total_change_t`` and (with a price) ``npv`` — suffixed ``_<k>`` when there are
        several alternates. ``DataFrame.attrs`` records the inputs, the area method, the alignment of each raster,
        warnings and the rasters written.

    Raises:
        ConfigError: a bad option (regions without ``id_field``, unknown area method, valuation without years).
        FactorTableError: the rasters hold codes that the table lacks (all listed).
    """
    if not lulc:
        raise ConfigError("sinkmap invest: give a baseline land-cover raster (and any number of alternates)")
    if regions is not None and not id_field:
        raise ConfigError(f"--regions {regions}: give the regions' id field with --id-field (e.g. --id-field adcode)")
    if area not in AREA_METHODS:
        raise ConfigError(f"--area {area!r} is not known; use one of {', '.join(AREA_METHODS)}")
    if nodata_in_table not in NODATA_IN_TABLE:
        raise ConfigError(f"--nodata-in-table {nodata_in_table!r} is not known; use one of {', '.join(NODATA_IN_TABLE)}")
    n = len(lulc)
    if years is not None and len(years) != n:
        raise ConfigError(f"--years: give one year per land-cover raster ({n}), baseline first; got {list(years)}")
    npv_per_t_c: tuple[float | None, ...] = ()
    if price_per_t_c is not None:
        if n < 2:
            raise ConfigError("valuation needs an alternate land-cover raster (the value is of the change in storage)")
        if years is None:
            raise ConfigError("valuation needs the scenario years: give --years with one year per raster")
        try:
            npv_per_t_c = tuple(
                valuation_per_t_c(
                    price_per_t_c=price_per_t_c,
                    discount_rate_pct=discount_rate_pct,
                    price_change_pct=price_change_pct,
                    baseline_year=years[0],
                    alternate_year=year,
                )
                for year in years[1:]
            )
        except ValueError as exc:
            raise ConfigError(f"valuation: {exc}") from None
    table = read_invest_carbon_table(pools_table)
    first = LayerSource.plan("lulc[0]", [str(lulc[0])], None)
    grid = replace(first.target_grid, area=area)
    sources = [first]
    for k in range(1, n):
        sources.append(LayerSource.plan(f"lulc[{k}]", [str(lulc[k])], first.target_grid, resampling="nearest"))
    warnings: list[str] = []
    map_codes: list[float | None] = []
    for path, source in zip(lulc, sources, strict=True):
        code = nodata_listed(table, source)
        if code is not None:
            what = (
                "mapped through that row, as InVEST does (--nodata-in-table map)"
                if nodata_in_table == "map"
                else "masked (InVEST would map them through that row; --nodata-in-table map does the same)"
            )
            warnings.append(
                f"{Path(pools_table).name} has a row for lucode {int(code)}, the nodata value of {path}; pixels "
                f"holding it are {what}"
            )
        map_codes.append(code if nodata_in_table == "map" else None)
    for message in warnings:
        log.warning("%s", message)
    level = polygon_level(regions, grid, id_field=id_field, name_field=name_field)
    zones = ZoneIndex.build([level], grid)
    names = scenario_names(n)
    step = InvestStep(
        table,
        tuple((k, ("lulc", k)) for k in range(n)),
        map_nodata=tuple(map_codes),
        scenario_names=names if raster_dir is not None else (),
        invest_names=invest_names,
        npv_per_t_c=npv_per_t_c,
    )
    job = Job(grid, {("lulc", k): source for k, source in enumerate(sources)}, zones, (step,))
    result = run_with_rasters(job, raster_dir, chunk_size=chunk_size, scheduler=scheduler, workers=workers)
    unknown = sorted(code for what, code in result.notes if what == UNKNOWN_CODE)
    if unknown:
        raise FactorTableError(
            f"{Path(pools_table).name}: land-cover code(s) {unknown} occur in "
            f"{', '.join(map(str, lulc))} but have no row in the pools table; add a row per code "
            "(lucode, c_above, c_below, c_soil, c_dead in t C/ha) or set those pixels to the raster's nodata value"
        )
    raw = {spec.key: result.totals[:, j] for j, spec in enumerate(job.stats)}
    out = pd.DataFrame({"region_id": list(level.ids), "name": list(level.names_zh)})
    for k in range(n):
        out[f"valid_area_km2_{k}"] = raw[("invest_valid_area_m2", k)] / 1e6
        for pool in POOL_COLUMNS:
            out[f"{pool}_t_{k}"] = raw[(f"invest_{pool}_t_c", k)]
        out[f"total_t_{k}"] = out[[f"{p}_t_{k}" for p in POOL_COLUMNS]].sum(axis=1)
    for k in range(1, n):
        s = _suffix(k, n)
        out[f"both_valid_area_km2{s}"] = raw[("invest_both_valid_area_m2", k)] / 1e6
        for pool in POOL_COLUMNS:
            out[f"{pool}_change_t{s}"] = raw[(f"invest_{pool}_change_t_c", k)]
        out[f"total_change_t{s}"] = out[[f"{p}_change_t{s}" for p in POOL_COLUMNS]].sum(axis=1)
        if npv_per_t_c:
            out[f"npv{s}"] = out[f"total_change_t{s}"] * npv_per_t_c[k - 1]
    overall = out.drop(columns=["region_id", "name"]).sum().to_frame().T
    overall.insert(0, "name", "overall (sum of regions)")
    overall.insert(0, "region_id", "overall")
    out = pd.concat([out, overall], ignore_index=True)
    out.attrs = {
        "pools_table": str(pools_table),
        "lulc": [str(p) for p in lulc],
        "scenarios": list(names),
        "years": None if years is None else list(years),
        "area": area,
        "area_method": grid.describe()["area_method"],
        "nodata_in_table": nodata_in_table,
        "warnings": warnings,
        "alignment": [s.describe()["alignment"] for s in sources],
        "valuation": None
        if not npv_per_t_c
        else {
            "price_per_t_c": price_per_t_c,
            "discount_rate_pct": discount_rate_pct,
            "price_change_pct": price_change_pct,
            "value_per_t_c_change": list(npv_per_t_c),
            "formula": "V / (q − p) · Σ_{t=0}^{q−p−1} [(1 + r/100)(1 + c/100)]^−t per t C of change (InVEST user guide)",
        },
        "rasters": {str(path.name): spec.description for spec in job.rasters for key, path in result.rasters.items() if key == spec.key},
        "units": "t C; areas km²; change = alternate − baseline where both rasters are valid; npv in the price's currency",
    }
    return out
