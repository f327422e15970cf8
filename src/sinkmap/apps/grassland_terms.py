"""Grassland carbon as terms of the multilinear uncertainty model (:mod:`sinkmap.kernels.uncertainty`), from the
grassland strata table (:class:`~sinkmap.steps.grassland_strata.GrasslandStrataStep`).

Within a stratum cell (IPCC climate × soil type × management × input level) the grassland chain of
:mod:`sinkmap.kernels.carbon.grassland` is, per hectare:

* AGB carbon = AGB_6.4(climate) × CF_herbaceous;
* BGB carbon = (total_6.4(climate) − AGB_6.4(climate)) × CF_herbaceous: two terms, the AGB one with coefficient −1;
* SOC = SOC_ref(climate, soil) × F_LU(grassland) × F_MG(management) × F_I(input level on improved grassland,
  medium elsewhere), each F_ for the climate group of the cell.

So each quantity is Σ_terms activity × Π factor values with activity = the cell's area in hectares (× ±1), and the
central values of the factors give the run's totals exactly (the strata carry every per-pixel input of the chain).
In the published biomass (AGB + BGB) the AGB terms cancel — biomass carbon is total_6.4 × CF — and are dropped, so
Table 6.4's AGB rows enter only a separate AGB or BGB quantity (:func:`grassland_pool_terms`).

Factor ids are :func:`sinkmap.factors.factor_id` with the keys in the order the kernel looks them up.
Pure: no files, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from sinkmap.errors import FactorTableError
from sinkmap.factors import FactorTables, factor_id
from sinkmap.kernels.carbon.grassland import (
    BIOMASS_CLIMATE,
    F_MG_CLIMATE_GROUP,
    INPUT_LEVEL_NAMES,
    MANAGEMENT_NAMES,
    SOC_CLIMATE,
    SOIL_TYPE_NAMES,
)
from sinkmap.steps.grassland_strata import decode_grassland_stratum

__all__ = ["GRASSLAND_POOLS", "Terms", "grassland_pool_terms", "grassland_terms"]

Terms = dict[tuple[str, ...], NDArray[np.float64]]
"""Term (sorted factor ids) → activity per region row."""

GRASSLAND_POOLS = ("agb", "bgb", "soc")

_IMPROVED = 4


Lookup = tuple[str, tuple[tuple[str, str], ...]]
"""A factor as the kernel looks it up: (table id, (key, value) pairs in the kernel's order)."""


def _cell_lookups(
    climate: int, soil: int, management: int, input_level: int
) -> dict[str, list[tuple[tuple[Lookup, ...], float]]]:
    """Per pool, the terms of one stratum cell per hectare: (factors, coefficient), with the tables and keys the
    kernels use (:func:`~sinkmap.kernels.carbon.grassland.grassland_biomass_carbon`,
    :func:`~sinkmap.kernels.carbon.grassland.soil_organic_carbon_t_c_per_ha`)."""
    cf: Lookup = ("carbon_fraction", (("pool", "herbaceous"), ("category", "default")))
    row = BIOMASS_CLIMATE[climate]
    agb: Lookup = ("grassland_biomass", (("climate", row), ("quantity", "agb")))
    total: Lookup = ("grassland_biomass", (("climate", row), ("quantity", "total")))
    group = F_MG_CLIMATE_GROUP[climate]
    level = INPUT_LEVEL_NAMES[input_level] if management == _IMPROVED else "medium"
    soc: tuple[Lookup, ...] = (
        ("soc_ref", (("climate", SOC_CLIMATE[climate]), ("soil_type", SOIL_TYPE_NAMES[soil]))),
        ("soc_f_lu", (("level", "grassland"), ("climate_group", group))),
        ("soc_f_mg", (("level", MANAGEMENT_NAMES[management]), ("climate_group", group))),
        ("soc_f_i", (("level", level), ("climate_group", group))),
    )
    return {
        "agb": [((agb, cf), 1.0)],
        "bgb": [((total, cf), 1.0), ((agb, cf), -1.0)],
        "soc": [(soc, 1.0)],
    }


def _fid(lookup: Lookup) -> str:
    table_id, keys = lookup
    return factor_id(table_id, **dict(keys))


def grassland_pool_terms(
    tables: FactorTables,
    strata_by_epoch: Mapping[int, NDArray[np.float64]],
    epochs: tuple[int, ...],
) -> dict[int, dict[str, Terms]]:
    """Per epoch and pool (:data:`GRASSLAND_POOLS`: ``agb``, ``bgb``, ``soc``), the pool's carbon (t C) as terms.

    Args:
        tables: the run's factor tables (every factor a present stratum needs must be in them).
        strata_by_epoch: per epoch, the grassland strata table ``(n_regions, n_codes)`` in m²
            (:func:`~sinkmap.steps.grassland_strata.grassland_strata_name`).
        epochs: the epochs wanted (each a key of ``strata_by_epoch``).

    Returns:
        ``{epoch: {pool: {sorted factor ids: activity per region (ha × coefficient)}}}``.

    Raises:
        FactorTableError: a stratum with area needs a factor the tables lack; the message names every one.
    """
    out: dict[int, dict[str, Terms]] = {}
    used: set[Lookup] = set()
    for e in epochs:
        table = np.asarray(strata_by_epoch[e], dtype=np.float64)
        codes = np.flatnonzero(table.any(axis=0))
        climate, soil, management, input_level = decode_grassland_stratum(codes)
        pools: dict[str, Terms] = {pool: {} for pool in GRASSLAND_POOLS}
        for j, code in enumerate(codes.tolist()):
            area_ha = table[:, code] / 10_000.0
            cell = _cell_lookups(
                int(climate[j]), int(soil[j]), int(management[j]), int(input_level[j])
            )
            for pool, terms in cell.items():
                for lookups, coef in terms:
                    used.update(lookups)
                    key = tuple(sorted(_fid(lookup) for lookup in lookups))
                    acc = pools[pool].get(key)
                    pools[pool][key] = coef * area_ha if acc is None else acc + coef * area_ha
        out[e] = pools
    missing = sorted(
        _fid(lookup) for lookup in used if not tables.has(lookup[0], **dict(lookup[1]))
    )
    if missing:
        raise FactorTableError(
            "no grassland carbon factor for the following present strata (add rows in a user factor "
            "table): " + "; ".join(missing)
        )
    return out


def _sum(*parts: Terms) -> Terms:
    """The terms of a sum of quantities; terms that cancel in every region (exactly 0) are dropped."""
    out: Terms = {}
    for terms in parts:
        for key, activity in terms.items():
            acc = out.get(key)
            out[key] = activity.copy() if acc is None else acc + activity
    return {key: activity for key, activity in out.items() if np.any(activity != 0)}


def grassland_terms(
    tables: FactorTables,
    strata_by_epoch: Mapping[int, NDArray[np.float64]],
    epochs: tuple[int, ...],
) -> dict[str, dict[tuple[str, ...], NDArray[np.float64]]]:
    """The published grassland carbon quantities (t C) per epoch E as terms, in this order:
    ``grassland_biomass_t_c_E`` (AGB + BGB), ``grassland_soc_t_c_E`` and ``grassland_carbon_t_c_E`` (biomass + SOC).

    Each is ``{sorted factor ids: activity per region row}`` with activity in ha × coefficient, so that
    Σ activity × Π central factor values equals the run's column of that name (arguments and errors as
    :func:`grassland_pool_terms`). Terms whose activity is 0 in every region are left out (the AGB terms of the
    biomass, which cancel).
    """
    pools = grassland_pool_terms(tables, strata_by_epoch, epochs)
    out: dict[str, Terms] = {}
    for e in epochs:
        p = pools[e]
        out[f"grassland_biomass_t_c_{e}"] = _sum(p["agb"], p["bgb"])
        out[f"grassland_soc_t_c_{e}"] = _sum(p["soc"])
        out[f"grassland_carbon_t_c_{e}"] = _sum(p["agb"], p["bgb"], p["soc"])
    return out
