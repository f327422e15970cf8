"""Accumulated totals of a job split by region level, with the nation rolled up from its level.

The published tables (:mod:`sinkmap.apps.outputs`) and the uncertainty intervals (:mod:`sinkmap.apps.uncertainty`)
both start from this split, so it lives below them both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sinkmap.apps.quantities import OFFICIAL_LAND_AREA, REGION_AREA
from sinkmap.config import NationSpec
from sinkmap.engine.regions import RegionLevel
from sinkmap.engine.step import StatKey

__all__ = ["crosstabs_by_level", "raw_by_level"]


def raw_by_level(
    levels: list[RegionLevel],
    zone_keys: tuple[tuple[str, int], ...],
    stat_keys: list[StatKey],
    totals: NDArray[np.float64],
    crosstabs: dict[str, NDArray[np.float64]],
    nation: NationSpec | None,
) -> dict[str, tuple[pd.DataFrame, dict[StatKey, NDArray[np.float64]], dict[str, NDArray[np.float64]]]]:
    """Per level: (identity columns, accumulated statistics, cross-tabulations), with the nation rolled up by
    summing the totals of ``nation.from_level`` (densities are derived afterwards, from the summed totals)."""
    positions = {key: i for i, key in enumerate(zone_keys)}
    out = {}
    for level in levels:
        rows = [positions[(level.name, i)] for i in range(len(level))]
        ident = pd.DataFrame(
            {
                "level": level.name,
                "region_id": list(level.ids),
                "name_zh": list(level.names_zh),
                "name_en": list(level.names_en),
                "parent_id": list(level.parent_ids),
                "region_area_km2": level.geodesic_area_km2,
            }
        )
        raw = {key: totals[rows, j] for j, key in enumerate(stat_keys)}
        raw[REGION_AREA] = level.geodesic_area_km2 * 1e6
        if level.official_land_area_km2 is not None:
            raw[OFFICIAL_LAND_AREA] = np.asarray(level.official_land_area_km2) * 1e6
        out[level.name] = (ident, raw, {name: table[rows] for name, table in crosstabs.items()})
    if nation is not None:
        ident, raw, tabs = out[nation.from_level]
        ident["parent_id"] = ident["parent_id"].where(ident["parent_id"].notna(), nation.region_id)
        head = pd.DataFrame(
            {
                "level": ["nation"],
                "region_id": [nation.region_id],
                "name_zh": [nation.name_zh],
                "name_en": [nation.name_en],
                "parent_id": [None],
                "region_area_km2": [ident["region_area_km2"].sum()],
            }
        )
        out = {
            "nation": (
                head,
                {key: values.sum(keepdims=True) for key, values in raw.items()},
                {name: table.sum(axis=0, keepdims=True) for name, table in tabs.items()},
            ),
            **out,
        }
    return out


def crosstabs_by_level(
    levels: list[RegionLevel],
    zone_keys: tuple[tuple[str, int], ...],
    crosstabs: dict[str, NDArray[np.float64]],
    nation: NationSpec | None,
) -> dict[str, dict[str, NDArray[np.float64]]]:
    """The job's cross-tabulations split by level (``nation`` first, summed from ``nation.from_level``)."""
    empty = np.zeros((len(zone_keys), 0))
    return {name: tabs for name, (_, _, tabs) in raw_by_level(levels, zone_keys, [], empty, crosstabs, nation).items()}


