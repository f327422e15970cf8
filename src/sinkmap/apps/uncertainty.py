"""Uncertainty of every region's published quantities: factor draws and activity-data errors applied to strata
tables (IPCC Approach 1 and 2).

**What is drawn.** Two kinds of error enter the draws:

* *Factors* (:func:`factor_pdf`): each factor row's pdf from its table — a min/max range read as a 95 % interval,
  an ``sd`` row, or, for a table without either, the relative half-width of ``default_uncertainty`` (sourced
  assumptions, e.g. ±25 % on the China Tier-2 biomass–volume coefficients); otherwise held fixed and listed. One
  draw per factor per iteration is shared by every pixel, stratum, region and epoch that uses it.
* *Activity data*: the area of a class counted from the land-cover map is biased and imprecise; with a reference
  sample (``accuracy:``), each region's class areas are multiplied by a ratio ρ drawn as a normal (truncated at 0)
  with mean Â / A_map and standard deviation SE(Â) / A_map of the stratified estimator (Olofsson et al. 2014;
  :mod:`sinkmap.apps.accuracy`), where the region's own points support it, else its nearest ancestor's. One ρ per
  region and class serves every epoch and quantity of the region (the ratios of two epochs are estimated from the
  same points). Its central value is 1 — the published estimate stays the map's — so where the sample says the
  map over- or under-counts, the interval is shifted off the estimate: that is the bias, and the manifest says so.
  A growing-stock standard-deviation layer (``growing_stock_sd``) adds a map error on every quantity proportional
  to the growing stock: ``(1 + s·z)`` with ``s`` the region's Σ sd·area / Σ stock·area and one standard normal
  ``z`` per region, shared by its epochs (``map_correlation: region``, pixel errors fully correlated within a region,
  the default), or ``s = √Σ (sd·area)² / Σ stock·area`` (``independent`` pixels).

**The model.** The engine counts, once per run, the activity of every stratum (:mod:`sinkmap.steps.strata`):
forest area by FAO zone (× precipitation class) × forest type × growing-stock bin; within a stratum the carbon
chain is a sum of products of factors, so each quantity is a :class:`~sinkmap.kernels.uncertainty.MultilinearModel`
of the factors with two *parts* per epoch: one proportional to growing stock (a × V, BCEF × V) and one to area
(b, bamboo's AGB per ha). Chains:

* IPCC Tier 1 (:func:`tier1_cell`): AGB = V × BCEF, BGB = AGB × R, dead wood/litter = AGB × f, × CF. Growing-stock
  and AGB classes are fixed at the central values (the chain's one non-linearity).
* China Tier 2 (:func:`china_tier2_cell`): B = Σ_g w_g (a_g V + b_g); AGB = B / (1 + R_g), BGB = B · R_g / (1 + R_g)
  (the shares are :class:`~sinkmap.kernels.uncertainty.Derived` from one draw of R_g, so vegetation carbon does not
  depend on R); × CF_g. The mix weights w_g are held fixed.
* Bamboo in both: AGB per ha from its table, BGB = AGB × R, × the default wood CF.

Growing stock enters at each bin's middle, so each forest pool's terms in a region are scaled until the model's
central value equals the run's exact total for that region and epoch; published bounds are the exact estimate
shifted by ``quantile − central``. Forest area, coverage and stock volume are the run's values times the area ratio
(and stock the map error); the wetland soil sink is linear in its rates; grassland stocks come from their own strata
table (:mod:`sinkmap.apps.grassland_terms`) when present; the total sink adds its components' terms, with a sink
that has no model (e.g. the grassland SOC change) entering as its exact value.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sinkmap.apps.levels import crosstabs_by_level
from sinkmap.errors import FactorTableError
from sinkmap.factors import FactorTables, factor_id
from sinkmap.factors import parse_factor_id as _parse_id
from sinkmap.kernels.uncertainty import (
    Z95,
    Combination,
    Derived,
    MultilinearModel,
    Pdf,
    error_propagation,
    monte_carlo,
)
from sinkmap.steps.strata import (
    VOLUME_EDGES_M3_PER_HA,
    bin_middle_m3_per_ha,
    decode_stratum,
    forest_strata_name,
    stock_sd_stat,
)

__all__ = [
    "BOUNDS",
    "CHAINS",
    "CellTerms",
    "QuantityTerms",
    "RegionUncertainty",
    "area_ratios",
    "assemble",
    "china_tier2_cell",
    "factor_id",
    "factor_pdf",
    "forest_quantities",
    "run_uncertainty",
    "tier1_cell",
    "wetland_terms",
]

log = logging.getLogger(__name__)

BOUNDS = ("estimate", "p2_5", "p97_5")
"""The bound dimension of the published intervals."""

POOLS = ("agb", "bgb", "deadwood", "litter")

MIN_SHARE = 1e-3
"""Variance shares below 0.1 % are not listed among a region's top contributors: a variable that an output does not
use still shows a squared correlation of about 1 / draws (1e-4 for 10,000 draws) from sampling alone."""

C_TO_CO2 = 44.0 / 12.0

Term = tuple[str, ...]
PartKey = tuple[str, "int | None", "str | None"]
"""(``vol`` or ``area``, epoch or None, area-ratio class or None) of a quantity's part."""

CellTerms = dict[str, dict[tuple[str, Term], float]]
"""Per pool, (part kind ``vol``/``area``, term of factor ids) → coefficient per ha of the cell's area."""

Chain = Callable[[FactorTables, int, int, int, float, dict[Any, Any]], CellTerms]
"""(tables, FAO zone, precipitation class, forest type, growing stock m³/ha, cache) → the cell's terms; ``cache`` is
a dict the chain may keep lookups in for one model build (``cache["dead_organic_matter"]``: False leaves dead wood
and litter out)."""


# ------------------------------------------------------------------------------------------------------ factors
_SHARE_PREFIX: dict[Literal["share_1", "share_x"], str] = {"share_1": "1/(1+R):", "share_x": "R/(1+R):"}
"""How a root-ratio share's id starts (the id of the ratio follows)."""


def _share_id(kind: Literal["share_1", "share_x"], root_id: str) -> str:
    return f"{_SHARE_PREFIX[kind]}{root_id}"


def _derived(fid: str) -> Derived | None:
    """The derivation of a root-ratio share's id (:func:`_share_id`), else None."""
    for kind, prefix in _SHARE_PREFIX.items():
        if fid.startswith(prefix):
            return Derived(fid[len(prefix) :], kind)
    return None


def factor_pdf(tables: FactorTables, fid: str) -> tuple[Pdf, dict[str, Any]]:
    """The pdf of factor ``fid`` from its table rows, and its description for the manifest: min/max rows (a 95 %
    interval), else an ``sd`` row, else the table's ``default_uncertainty`` row, else held fixed."""
    table_id, keys = _parse_id(fid)
    row = tables.row(table_id, **keys)
    try:
        if tables.has(table_id, property="min", **keys) and tables.has(table_id, property="max", **keys):
            low = tables.value(table_id, property="min", **keys)
            high = tables.value(table_id, property="max", **keys)
            pdf = Pdf.from_range(row.value, low, high)
            used = [row, tables.row(table_id, property="min", **keys), tables.row(table_id, property="max", **keys)]
        elif tables.has(table_id, property="sd", **keys):
            pdf = Pdf.from_sd(row.value, tables.value(table_id, property="sd", **keys))
            used = [row, tables.row(table_id, property="sd", **keys)]
        elif tables.has("default_uncertainty", for_table=table_id):
            rule = tables.row("default_uncertainty", for_table=table_id)
            half = rule.value * abs(row.value)
            pdf = Pdf.from_range(row.value, row.value - half, row.value + half)
            pdf = Pdf(
                pdf.kind, pdf.central, pdf.mu, pdf.sigma, pdf.lower, pdf.upper,
                f"no range in the table: ±{rule.value:.3g} of the value as a 95 % interval (default_uncertainty: "
                f"{rule.source}); {pdf.assumption}",
            )  # fmt: skip
            used = [row, rule]
        else:
            pdf = Pdf.fixed(row.value, "no range, sd or default uncertainty: held fixed")
            used = [row]
    except ValueError as exc:
        raise FactorTableError(f"factor table {table_id!r} {keys}: {exc}; fix its min/max rows") from exc
    described = {
        "factor": fid,
        "central": row.value,
        "unit": row.unit,
        "pdf": pdf.kind,
        "assumption": pdf.assumption,
        "source": row.source,
        "table": row.table,
        "evidence": sorted({r.evidence for r in used}),
    }
    return pdf, described


def factor_pdfs(tables: FactorTables, factor_ids: Sequence[str]) -> tuple[dict[str, Pdf | Derived], list[dict[str, Any]]]:
    """Pdfs of the model's factors (root-ratio shares derived from their ratio) and their manifest entries."""
    pdfs: dict[str, Pdf | Derived] = {}
    described = []
    for fid in factor_ids:
        derived = _derived(fid)
        if derived is not None:
            pdfs[fid] = derived
            fid = derived.base
        if fid not in pdfs:
            pdfs[fid], info = factor_pdf(tables, fid)
            described.append(info)
    return pdfs, described


# ------------------------------------------------------------------------------------------------------ chains
def _class_row(
    tables: FactorTables, cache: dict[Any, Any], table_id: str, class_key: str, value: float, **keys: str
) -> str:
    """The class label of ``table_id`` (rows matching ``keys``) holding ``value`` (upper-inclusive classes)."""
    from sinkmap.kernels.carbon._common import parse_class

    ident = (table_id, class_key, tuple(keys.items()))
    if ident not in cache:
        labels = []
        for row in tables.rows(table_id):
            if row.property == "def" and all(row.key(k) == v for k, v in keys.items()):
                lo, hi = parse_class(row.key(class_key), table_id=table_id)
                labels.append((lo, hi, row.key(class_key)))
        cache[ident] = sorted(labels)
    for lo, hi, label in cache[ident]:
        if value <= hi or (lo <= 0 and value == lo):
            return str(label)
    raise FactorTableError(f"factor table {table_id!r} {keys}: no {class_key} class holds {value}")


def _dead_fraction_ids(eco: int, pclass: int) -> dict[str, str]:
    """The dead-wood and litter fraction rows of a zone cell (:func:`sinkmap.kernels.carbon.forest._deadwood_litter`)."""
    from sinkmap.kernels.carbon.forest import DEADWOOD_DOMAIN_BY_ECOZONE

    domain_dw = DEADWOOD_DOMAIN_BY_ECOZONE[eco]
    out = {}
    for pool in ("deadwood", "litter"):
        if domain_dw == "tropical":
            precip_class = {1: "0-1000", 2: "1000-1600", 3: "1600-inf"}.get(pclass)
            if precip_class is None:
                raise FactorTableError("a tropical forest cell has no precipitation: dead-wood fractions need it")
            keys = {"domain": "tropical", "elevation_class": "0-2000", "precip_class": precip_class, "pool": pool}
        else:
            keys = {"domain": domain_dw, "elevation_class": "0-inf", "precip_class": "0-inf", "pool": pool}
        out[pool] = factor_id("deadwood_litter", **keys)
    return out


class _Cell:
    """Accumulates a cell's terms per pool."""

    def __init__(self) -> None:
        self.terms: CellTerms = {pool: {} for pool in POOLS}

    def add(self, pool: str, kind: str, key: Term, coef: float) -> None:
        k = (kind, tuple(sorted(key)))
        self.terms[pool][k] = self.terms[pool].get(k, 0.0) + coef


def _bamboo(cell: _Cell, fractions: dict[str, str] | None) -> None:
    """Bamboo in both chains: AGB per ha from ``bamboo_biomass``, BGB = AGB × R, carbon at the default wood CF."""
    cf_wood = factor_id("carbon_fraction", pool="wood", category="default")
    agb = factor_id("bamboo_biomass", quantity="agb")
    cell.add("agb", "area", (agb, cf_wood), 1.0)
    cell.add("bgb", "area", (agb, factor_id("bamboo_biomass", quantity="root_shoot"), cf_wood), 1.0)
    if fractions is not None:
        cell.add("deadwood", "area", (agb, fractions["deadwood"], cf_wood), 1.0)
        cell.add("litter", "area", (agb, fractions["litter"], factor_id("carbon_fraction", pool="litter", category="default")), 1.0)


def _tier1_row(
    tables: FactorTables, cache: dict[Any, Any], table_id: str, class_key: str, x: float, **keys: str
) -> tuple[str, float, bool]:
    """The row a Tier-1 class lookup uses for ``x``, as the kernel's monotone rule does
    (:func:`~sinkmap.kernels.carbon._common.class_floor`): ``(label, multiplier, floored)`` — the own class's row
    times ``x``, or, where a lower class ended higher (``upper_j × value_j`` above ``x × value_k``), that class's row
    times its upper bound (a constant per ha: the ``area`` part)."""
    own = _class_row(tables, cache, table_id, class_key, x, **keys)
    ident = (table_id, class_key, tuple(keys.items()))
    best = (own, x, False)
    best_value = x * tables.value(table_id, **keys, **{class_key: own})
    for _, hi, label in cache[ident]:
        if label == own:
            break
        value = hi * tables.value(table_id, **keys, **{class_key: label})
        if value > best_value:
            best, best_value = (str(label), float(hi), True), value
    return best


def tier1_cell(
    tables: FactorTables, eco: int, pclass: int, ftype: int, volume: float, cache: dict[Any, Any]
) -> CellTerms:
    """The IPCC Tier-1 chain of :mod:`sinkmap.kernels.carbon.forest` for one stratum cell, every pool (see the
    module docstring), with the kernel's monotone floors fixed at the central values."""
    from sinkmap.kernels.carbon.forest import (
        BCEF_DOMAIN_BY_ECOZONE,
        BCEF_TYPES,
        ROOT_SHOOT_GROUP_BY_ECOZONE,
        ROOT_SHOOT_TYPES,
    )

    cell = _Cell()
    fractions = _dead_fraction_ids(eco, pclass) if cache.get("dead_organic_matter", True) else None
    if ftype == 6:
        _bamboo(cell, fractions)
        return cell.terms
    cf_wood = factor_id("carbon_fraction", pool="wood", category="default")
    cf_litter = factor_id("carbon_fraction", pool="litter", category="default")
    domain = BCEF_DOMAIN_BY_ECOZONE[eco]
    agb_terms: list[tuple[str, str, float]] = []  # (kind, BCEF row, coefficient per ha)
    agb_central = 0.0
    for ipcc_type, weight in BCEF_TYPES[domain][ftype]:
        keys = {"zone": domain, "forest_type": ipcc_type, "factor": "S"}
        label, mult, floored = _tier1_row(tables, cache, "forest_bcef", "gs_class", volume, **keys)
        bcef = factor_id("forest_bcef", **keys, gs_class=label)
        agb_terms.append(("area" if floored else "vol", bcef, weight * mult))
        agb_central += weight * mult * tables.value("forest_bcef", **keys, gs_class=label)
    group = ROOT_SHOOT_GROUP_BY_ECOZONE[eco]
    if ("groups", group) not in cache:
        cache[("groups", group)] = {
            row.key("forest_group") for row in tables.rows("forest_root_shoot") if row.key("ecozone_group") == group
        }
    for kind, bcef, coef in agb_terms:
        cell.add("agb", kind, (bcef, cf_wood), coef)
        if fractions is not None:
            cell.add("deadwood", kind, (bcef, fractions["deadwood"], cf_wood), coef)
            cell.add("litter", kind, (bcef, fractions["litter"], cf_litter), coef)
    for fgroup, weight in ROOT_SHOOT_TYPES[ftype]:
        use = fgroup if fgroup in cache[("groups", group)] else "all"
        keys = {"ecozone_group": group, "forest_group": use}
        label, mult, floored = _tier1_row(tables, cache, "forest_root_shoot", "agb_class", agb_central, **keys)
        r_id = factor_id("forest_root_shoot", **keys, agb_class=label)
        if floored:  # BGB held at a lower AGB class's end: R_j × its upper bound, whatever the BCEF draws
            cell.add("bgb", "area", (r_id, cf_wood), weight * mult)
        else:
            for kind, bcef, coef in agb_terms:
                cell.add("bgb", kind, (bcef, r_id, cf_wood), coef * weight)
    return cell.terms


def china_tier2_cell(
    tables: FactorTables, eco: int, pclass: int, ftype: int, volume: float, cache: dict[Any, Any]
) -> CellTerms:
    """The China Tier-2 chain of :func:`sinkmap.kernels.carbon.forest.forest_carbon_stocks_china` for one stratum
    cell, every pool (dead wood and litter as the kernel's fractions of AGB when asked for; see the module
    docstring)."""
    from sinkmap.kernels.carbon.forest import CHINA_TIER2_DOMAIN_BY_ECOZONE, _china_mix

    cell = _Cell()
    fractions = _dead_fraction_ids(eco, pclass) if cache.get("dead_organic_matter", True) else None
    if ftype == 6:
        _bamboo(cell, fractions)
        return cell.terms
    if "mix" not in cache:
        cache["mix"] = _china_mix(tables)
    domain = CHINA_TIER2_DOMAIN_BY_ECOZONE[eco]
    parts = cache["mix"].get((ftype, domain))
    if not parts:
        raise FactorTableError(f"factor table 'cn_forest_type_mix' has no rows for forest_type {ftype} in domain {domain!r}")
    cf_litter = factor_id("carbon_fraction", pool="litter", category="default")
    for group, weight in parts:
        a = factor_id("cn_biomass_volume", forest_group=group, coefficient="a")
        b = factor_id("cn_biomass_volume", forest_group=group, coefficient="b")
        root = factor_id("cn_root_shoot", forest_group=group)
        cf = factor_id("cn_carbon_fraction", forest_group=group)
        above, below = _share_id("share_1", root), _share_id("share_x", root)
        for kind, coef_id, coef in (("vol", a, weight * volume), ("area", b, weight)):
            cell.add("agb", kind, (coef_id, above, cf), coef)
            cell.add("bgb", kind, (coef_id, below, cf), coef)
            if fractions is not None:
                cell.add("deadwood", kind, (coef_id, above, cf, fractions["deadwood"]), coef)
                cell.add("litter", kind, (coef_id, above, fractions["litter"], cf_litter), coef)
    return cell.terms


CHAINS: Mapping[str, Chain] = {"ipcc_tier1": tier1_cell, "china_tier2": china_tier2_cell}
"""The chain of each factor set."""


def _central(tables: FactorTables, fid: str, cache: dict[Any, Any]) -> float:
    if ("central", fid) not in cache:
        derived = _derived(fid)
        if derived is not None:  # the kernel's transform of the ratio's central value
            cache[("central", fid)] = float(derived.value(np.array(_central(tables, derived.base, cache))))
        else:
            table_id, keys = _parse_id(fid)
            cache[("central", fid)] = tables.value(table_id, **keys)
    return float(cache[("central", fid)])


# ------------------------------------------------------------------------------------------------------ quantities
@dataclass
class QuantityTerms:
    """A published column as a model: ``parts`` maps (``vol``/``area``, epoch, area-ratio class) to terms, each
    term (factor ids) to its activity per region row; the column = Σ parts Σ terms activity × Π factors, each part
    times its activity-data multipliers (the class's area ratio; the growing-stock map error for ``vol`` parts)."""

    column: str
    parts: dict[tuple[str, int | None, str | None], dict[Term, NDArray[np.float64]]]

    def merged(self, other: QuantityTerms, weight: float = 1.0) -> QuantityTerms:
        """This quantity plus ``weight`` × ``other``, under this one's column."""
        parts = {k: dict(v) for k, v in self.parts.items()}
        for key, terms in other.parts.items():
            into = parts.setdefault(key, {})
            for term, activity in terms.items():
                into[term] = into[term] + weight * activity if term in into else weight * activity
        return QuantityTerms(self.column, parts)


def activity_quantity(column: str, values: NDArray[np.float64], kind: str, epoch: int | None, ratio: str | None) -> QuantityTerms:
    """A column that is activity data only (an area, a coverage, a stock volume): its exact values, times the area
    ratio of class ``ratio`` (and the map error for ``kind`` ``vol``)."""
    return QuantityTerms(column, {(kind, epoch, ratio): {(): np.nan_to_num(np.asarray(values, dtype=np.float64))}})


def forest_quantities(
    tables: FactorTables,
    strata: Mapping[int, NDArray[np.float64]],
    epochs: tuple[int, ...],
    chain: Chain,
    *,
    pool_totals: Mapping[int, Mapping[str, NDArray[np.float64]]] | None = None,
    dead_organic_matter: bool = True,
) -> list[QuantityTerms]:
    """The forest carbon columns as models.

    Args:
        tables: the run's factor tables.
        strata: per epoch, the strata area table ``(n_rows, n_codes)`` in m² (:class:`ForestStrataStep`).
        epochs: the run's epochs.
        chain: which factor rows a cell uses (:data:`CHAINS`).
        pool_totals: per epoch and pool, the run's exact totals per row (t C): each pool's terms in a row are scaled
            so the model's central value equals it (growing stock enters at the bins' middles). Pools without a
            total are left out.
        dead_organic_matter: False leaves dead wood and litter out.

    Returns:
        ``forest_<pool>_t_c_E``, ``forest_vegetation_carbon_t_c_E``, ``forest_carbon_t_c_E`` per epoch, then
        ``forest_sink_t_c_per_yr`` (two or more epochs).
    """
    n_rows = next(iter(strata.values())).shape[0]
    cells: dict[int, CellTerms] = {}
    cache: dict[Any, Any] = {"dead_organic_matter": dead_organic_matter}
    pools_by_epoch: dict[int, dict[str, QuantityTerms]] = {}
    for e in epochs:
        table = strata[e]
        codes = np.flatnonzero(table.any(axis=0))
        eco, pclass, ftype, vbin = decode_stratum(codes)
        volume = bin_middle_m3_per_ha(vbin)
        acc: dict[str, dict[tuple[str, Term], NDArray[np.float64]]] = {pool: {} for pool in POOLS}
        for j, code in enumerate(codes.tolist()):
            if code not in cells:
                cells[code] = chain(tables, int(eco[j]), int(pclass[j]), int(ftype[j]), float(volume[j]), cache)
            area_ha = table[:, code] / 1e4
            for pool, cell_terms in cells[code].items():
                for key, coef in cell_terms.items():
                    prev = acc[pool].get(key)
                    acc[pool][key] = coef * area_ha if prev is None else prev + coef * area_ha
        pools: dict[str, QuantityTerms] = {}
        for pool, pool_terms in acc.items():
            if pool_totals is not None and pool not in pool_totals[e]:
                continue
            if not dead_organic_matter and pool in ("deadwood", "litter"):
                continue
            if pool_totals is not None:  # the exact regional total, split among the terms as the strata say
                model_total = np.zeros(n_rows)
                for (_, term), activity in pool_terms.items():
                    model_total += activity * math.prod(_central(tables, f, cache) for f in term)
                exact = np.nan_to_num(np.asarray(pool_totals[e][pool], dtype=np.float64))
                with np.errstate(invalid="ignore", divide="ignore"):
                    scale = np.where(model_total > 0, exact / np.where(model_total > 0, model_total, 1.0), 1.0)
                pool_terms = {key: activity * scale for key, activity in pool_terms.items()}
            parts: dict[tuple[str, int | None, str | None], dict[Term, NDArray[np.float64]]] = {}
            for (kind, term), activity in pool_terms.items():
                parts.setdefault((kind, e, "forest"), {})[term] = activity
            pools[pool] = QuantityTerms(f"forest_{pool}_t_c_{e}", parts)
        pools_by_epoch[e] = pools
    out: list[QuantityTerms] = []
    totals: dict[int, QuantityTerms] = {}
    for e in epochs:
        pools = pools_by_epoch[e]
        out.extend(pools.values())
        vegetation = QuantityTerms(f"forest_vegetation_carbon_t_c_{e}", {})
        for pool in ("agb", "bgb"):
            if pool in pools:
                vegetation = vegetation.merged(pools[pool])
        total = QuantityTerms(f"forest_carbon_t_c_{e}", {})
        for q in pools.values():
            total = total.merged(q)
        out.extend([vegetation, total])
        totals[e] = total
    first, last = epochs[0], epochs[-1]
    if len(epochs) > 1:
        span = float(last - first)
        sink = QuantityTerms("forest_sink_t_c_per_yr", {}).merged(totals[last], 1.0 / span).merged(totals[first], -1.0 / span)
        out.append(sink)
    return out


WETLAND_ROWS = (
    ("mangrove", "coastal_soil_accumulation", "mangrove", -1.0),
    ("salt_marsh", "coastal_soil_accumulation", "tidal_marsh", -1.0),
    ("seagrass", "coastal_soil_accumulation", "seagrass", -1.0),
    ("inland", "inland_soil_accumulation", "inland_marsh", 1.0),
)
"""Wetland area column part, factor table, row and sign (coastal rates are in the IPCC sign, negative = removal)."""


def wetland_terms(areas_km2: Mapping[str, NDArray[np.float64]]) -> dict[Term, NDArray[np.float64]]:
    """The wetland soil sink (t C/yr, sink positive) as terms: area of each wetland class (ha) × its accumulation
    rate, as :func:`sinkmap.kernels.carbon.wetland.wetland_soil_sink_t_c_per_ha_yr` applies them; ``areas_km2``
    maps ``mangrove``, ``salt_marsh``, ``seagrass``, ``inland`` to areas per region."""
    return {
        (factor_id(table_id, wetland_class=row),): sign * 100.0 * np.nan_to_num(np.asarray(areas_km2[part], dtype=np.float64))
        for part, table_id, row, sign in WETLAND_ROWS
    }


# ------------------------------------------------------------------------------------------------ activity data
RATIO_CLASSES = {"forest": 2, "grassland": 4}
"""Area-ratio class → the land-cover class (CLCD code) whose accuracy-adjusted to mapped area it is."""


def area_ratios(
    accuracy: pd.DataFrame | None, rows: pd.DataFrame, strata_epoch: int | None
) -> tuple[dict[tuple[int, str], int], list[str], list[Pdf], list[dict[str, Any]]]:
    """Each region row's area ratio per class from the accuracy table (:func:`sinkmap.apps.accuracy.accuracy_table`).

    ρ = adjusted / mapped area of the class at the strata epoch, drawn as a normal truncated at 0 with that mean
    and SE / mapped as its standard deviation, central value 1. A row whose own sample does not support an
    estimate takes its parent's (up to the nation's); a row with no estimate up its chain gets none.

    Returns:
        (row, class) → index into the ids; the ratio ids; their pdfs; one manifest entry per ratio.
    """
    if accuracy is None or accuracy.empty or strata_epoch is None:
        return {}, [], [], []
    estimated = accuracy[
        (accuracy["status"] == "estimated")
        & (accuracy["epoch"].astype(str) == str(strata_epoch))
        & (accuracy["assessment"].astype(str) == f"land cover {strata_epoch}")
    ]
    own: dict[tuple[str, str, int], tuple[float, float, float]] = {}
    for rec in estimated.to_dict("records"):
        if rec["mapped_area_km2"] > 0:
            key = (str(rec["level"]), _id(rec["region_id"]), int(rec["class"]))
            own[key] = (float(rec["mapped_area_km2"]), float(rec["adjusted_area_km2"]), float(rec["se_km2"]))
    return _ratios_from(own, rows)


def _id(value: object) -> str:
    """A region id as text (a float id read from a table, 520000.0, as 520000)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _ratios_from(
    own: Mapping[tuple[str, str, int], tuple[float, float, float]], rows: pd.DataFrame
) -> tuple[dict[tuple[int, str], int], list[str], list[Pdf], list[dict[str, Any]]]:
    levels = rows["level"].astype(str).tolist()
    ids = [_id(v) for v in rows["region_id"].tolist()]
    parents = rows["parent_id"].tolist() if "parent_id" in rows else [None] * len(rows)
    row_of = {rid: i for i, rid in enumerate(ids)}
    nation = next((i for i, lv in enumerate(levels) if lv == "nation"), None)
    index: dict[tuple[int, str], int] = {}
    names: list[str] = []
    pdfs: list[Pdf] = []
    described: list[dict[str, Any]] = []
    made: dict[tuple[int, str], int] = {}
    def chain(i: int) -> list[int]:
        out = [i]
        while True:
            parent = parents[out[-1]]
            up = None if parent is None or (isinstance(parent, float) and math.isnan(parent)) else row_of.get(_id(parent))
            if up is None or up in out:
                break
            out.append(up)
        if nation is not None and nation not in out:
            out.append(nation)
        return out

    for i in range(len(rows)):
        for cls, code in RATIO_CLASSES.items():
            j = next((j for j in chain(i) if (levels[j], ids[j], code) in own), None)
            if j is None:
                continue
            if (j, cls) not in made:
                mapped, adjusted, se = own[(levels[j], ids[j], code)]
                ratio, sd = adjusted / mapped, se / mapped
                if sd <= 0 and ratio == 1.0:
                    continue
                pdf = Pdf(
                    "truncnormal", 1.0, ratio, max(sd, 1e-9 * ratio), 0.0, math.inf,
                    f"normal(mean {ratio:.4g}, sd {sd:.4g}) truncated at 0: accuracy-adjusted / mapped {cls} area "
                    "(Olofsson et al. 2014); central 1 (the map's estimate)",
                )  # fmt: skip
                made[(j, cls)] = len(names)
                names.append(f"area_ratio[{cls},{levels[j]}={ids[j]}]")
                pdfs.append(pdf)
                described.append({"variable": names[-1], "class": cls, "level": levels[j], "region_id": ids[j],
                                  "mapped_km2": mapped, "adjusted_km2": adjusted, "se_km2": se,
                                  "pdf": "truncnormal", "assumption": pdf.assumption})  # fmt: skip
            index[(i, cls)] = made[(j, cls)]
    return index, names, pdfs, described


# ------------------------------------------------------------------------------------------------------ assembly
def assemble(
    quantities: Sequence[QuantityTerms],
    n_rows: int,
    *,
    ratios: tuple[Mapping[tuple[int, str], int], Sequence[str], Sequence[Pdf]] = ({}, (), ()),
    map_sd: Mapping[int, NDArray[np.float64]] | None = None,
) -> tuple[MultilinearModel, Combination]:
    """The factor model (one column per quantity × part × row) and how its columns make the outputs (quantity ×
    row, quantity-major), with each row's area ratio per class and, for ``vol`` parts, the growing-stock map error
    (``map_sd``: per epoch, each row's relative standard deviation; one standard normal per row)."""
    index, ratio_ids, ratio_pdfs = ratios
    columns: dict[Term, list[tuple[int, NDArray[np.float64]]]] = {}
    comp_output, comp_part, comp_ratio, comp_map, comp_sd = [], [], [], [], []
    rows = np.arange(n_rows)
    offset = 0
    for q, quantity in enumerate(quantities):
        keys = list(quantity.parts) or [("area", None, None)]
        for kind, epoch, cls in keys:
            for term, activity in quantity.parts.get((kind, epoch, cls), {(): np.zeros(n_rows)}).items():
                columns.setdefault(term, []).append((offset, activity))
            comp_output.append(q * n_rows + rows)
            comp_part.append(offset + rows)
            comp_ratio.append(np.array([index.get((int(r), cls), -1) if cls else -1 for r in rows], dtype=np.int64))
            sd = None if map_sd is None or kind != "vol" or epoch is None else map_sd.get(epoch)
            comp_map.append(rows.copy() if sd is not None else np.full(n_rows, -1, np.int64))
            comp_sd.append(np.zeros(n_rows) if sd is None else np.nan_to_num(np.asarray(sd, dtype=np.float64)))
            offset += n_rows
    terms = {}
    for term, placed in columns.items():
        full = np.zeros(offset)
        for start, activity in placed:
            full[start : start + n_rows] += activity
        terms[term] = full
    model = MultilinearModel.build(terms, offset)
    output = np.concatenate(comp_output) if comp_output else np.zeros(0, np.int64)
    order = np.argsort(output, kind="stable")
    combination = Combination(
        len(quantities) * n_rows,
        output[order].astype(np.int64),
        np.concatenate(comp_part)[order].astype(np.int64),
        np.concatenate(comp_ratio)[order],
        np.concatenate(comp_map)[order].astype(np.int64),
        np.concatenate(comp_sd)[order],
        tuple(ratio_ids),
        tuple(ratio_pdfs),
        tuple(f"map_error[growing_stock,row={r}]" for r in range(n_rows)) if map_sd else (),
    )
    return model, combination


# ------------------------------------------------------------------------------------------------------ results
@dataclass
class RegionUncertainty:
    """Intervals of the published columns for every region row of every level.

    ``values[level][column]`` is an ``(n_rows, 3)`` array over :data:`BOUNDS`; ``half_width_pct`` the half-width of
    the 95 % interval as a % of the estimate; ``approach1_half_width_pct`` the same by error propagation;
    ``contributors`` a long table of the top five variables per region and column; ``manifest`` what the run
    records (draws, seed, pdfs, activity data).
    """

    columns: list[str]
    values: dict[str, dict[str, NDArray[np.float64]]]
    half_width_pct: dict[str, dict[str, NDArray[np.float64]]]
    approach1_half_width_pct: dict[str, dict[str, NDArray[np.float64]]]
    contributors: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def quantity_of(column: str) -> tuple[str, int | None]:
        """(published quantity, epoch) of an interval column (``forest_carbon_t_c_2020`` → (``forest_carbon_t_c``,
        2020)); sinks are static."""
        head, _, tail = column.rpartition("_")
        return (head, int(tail)) if tail.isdigit() and len(tail) == 4 else (column, None)

    def wide(self, level: str) -> pd.DataFrame:
        """Flat columns for tables and GeoJSON: ``<column>_p2_5``, ``<column>_p97_5``, ``<column>_half_width_pct``."""
        out: dict[str, Any] = {}
        for column in self.columns:
            out[f"{column}_p2_5"] = self.values[level][column][:, 1]
            out[f"{column}_p97_5"] = self.values[level][column][:, 2]
            out[f"{column}_half_width_pct"] = self.half_width_pct[level][column]
        return pd.DataFrame(out)


ForestUncertainty = RegionUncertainty
"""The name before the intervals covered more than forest carbon."""


def region_uncertainty(
    quantities: Sequence[QuantityTerms],
    tables: FactorTables,
    region_tables: Mapping[str, pd.DataFrame],
    *,
    draws: int,
    seed: int,
    ratios: tuple[Mapping[tuple[int, str], int], Sequence[str], Sequence[Pdf]] = ({}, (), ()),
    map_sd: Mapping[int, NDArray[np.float64]] | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> RegionUncertainty:
    """Approach 2 (and Approach 1 alongside) for ``quantities`` of every region row of every level (rows stacked
    in the order of ``region_tables``); bounds are the published estimates shifted by ``quantile − central``."""
    levels = list(region_tables)
    sizes = [len(region_tables[level]) for level in levels]
    n_rows = sum(sizes)
    model, combination = assemble(quantities, n_rows, ratios=ratios, map_sd=map_sd)
    pdfs, described = factor_pdfs(tables, model.factors)
    mc = monte_carlo(model, pdfs, n_draws=draws, seed=seed, combination=combination)
    a1 = error_propagation(model, pdfs, combination=combination)
    offsets = np.cumsum([0, *sizes])
    stacked = pd.concat([region_tables[level] for level in levels], ignore_index=True)
    columns = [q.column for q in quantities]
    values: dict[str, dict[str, NDArray[np.float64]]] = {level: {} for level in levels}
    half: dict[str, dict[str, NDArray[np.float64]]] = {level: {} for level in levels}
    half_a1: dict[str, dict[str, NDArray[np.float64]]] = {level: {} for level in levels}

    def publish(column: str, estimate: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64], sd: NDArray[np.float64]) -> None:
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(estimate != 0, 100 * (hi - lo) / 2 / np.abs(estimate), np.nan)
            pct_a1 = np.where(estimate != 0, 100 * Z95 * sd / np.abs(estimate), np.nan)
        for li, level in enumerate(levels):
            part = slice(offsets[li], offsets[li + 1])
            values[level][column] = np.stack([estimate[part], lo[part], hi[part]], axis=1)
            half[level][column] = pct[part]
            half_a1[level][column] = pct_a1[part]

    published = []
    no_interval = []
    for q, column in enumerate(columns):
        block = slice(q * n_rows, (q + 1) * n_rows)
        if not np.any(mc.high[block] > mc.low[block]):  # nothing it uses is uncertain: no interval, not a 0-width one
            no_interval.append(column)
            continue
        estimate = stacked[column].to_numpy(dtype=np.float64)
        shift = np.where(np.isfinite(estimate), estimate - mc.central[block], np.nan)
        lo, hi, sd = mc.low[block] + shift, mc.high[block] + shift, a1.sd[block]
        publish(column, estimate, lo, hi, sd)
        published.append(column)
        twin = column.replace("_t_c_per_yr", "_t_co2e_per_yr")
        if twin != column and twin in stacked:  # the CO₂ twin: the same interval × 44/12
            publish(twin, stacked[twin].to_numpy(dtype=np.float64), lo * C_TO_CO2, hi * C_TO_CO2, sd * C_TO_CO2)
            published.append(twin)
    # the five largest variance shares of every output
    assert mc.variance is not None
    top, top_share = mc.variance.top(5)
    variables = np.asarray(mc.variance.variables, dtype=object)
    kept = [q for q, column in enumerate(columns) if column not in no_interval]
    rank_of = np.arange(1, top.shape[0] + 1)
    pick = np.concatenate([np.arange(q * n_rows, (q + 1) * n_rows) for q in kept]) if kept else np.zeros(0, np.int64)
    share = top_share[:, pick]  # (rank, output)
    keep = share >= MIN_SHARE
    rank_index, out_index = np.nonzero(keep)
    row_index = pick[out_index] % n_rows
    column_index = pick[out_index] // n_rows
    contributors = pd.DataFrame(
        {
            "level": stacked["level"].to_numpy()[row_index],
            "region_id": stacked["region_id"].to_numpy()[row_index],
            "name_en": stacked["name_en"].to_numpy()[row_index] if "name_en" in stacked else None,
            "column": np.asarray(columns, dtype=object)[column_index],
            "rank": rank_of[rank_index],
            "variable": _readable(variables[top[:, pick][keep]], stacked),
            "variance_share": share[keep],
        }
    ).sort_values(["column", "level", "region_id", "rank"], kind="stable")
    held = [d["factor"] for d in described if d["pdf"] == "fixed"]
    record = {
        "approach": "IPCC Approach 2 (Monte Carlo) on the strata tables; Approach 1 (error propagation) half-widths "
        "alongside",
        "draws": draws,
        "seed": seed,
        "columns": published,
        "correlation": "one draw per factor per iteration, shared by every region, stratum and epoch; one area ratio "
        "per region and class, shared by its epochs and quantities",
        "bounds": "2.5 % and 97.5 % quantiles of the draws, as a shift of the published estimate (each forest pool's "
        "exact regional total is split among its factor rows in the proportions of the strata table)",
        "strata": "forest: FAO ecological zone (× precipitation class where dead wood depends on it) × forest type "
        f"× growing-stock bin (edges {VOLUME_EDGES_M3_PER_HA[1]:g}, {VOLUME_EDGES_M3_PER_HA[2]:g}, … "
        f"{VOLUME_EDGES_M3_PER_HA[-1]:g} m³/ha; volume at the bin's middle), per region and epoch",
        "classes": "IPCC Tier 1: growing-stock (BCEF) and AGB (root:shoot) classes fixed at the central values; "
        "China Tier 2: the forest-type mix weights held fixed",
        "n_terms": int(model.terms.shape[0]),
        "held_fixed": held,
        "no_interval": {column: "every factor and activity datum it uses is held fixed" for column in no_interval},
        "factors": described,
        **dict(manifest or {}),
    }
    return RegionUncertainty(published, values, half, half_a1, contributors.reset_index(drop=True), record)


def _readable(names: NDArray[Any], rows: pd.DataFrame) -> list[str]:
    """Variable ids with the map error's row number replaced by the region it belongs to."""
    out = []
    for name in names.tolist():
        if name.startswith("map_error[growing_stock,row="):
            r = int(name.rsplit("=", 1)[1].rstrip("]"))
            name = f"map_error[growing_stock,{rows['level'].iat[r]}={_id(rows['region_id'].iat[r])}]"
        out.append(name)
    return out


# ------------------------------------------------------------------------------------------------------ the run
def run_uncertainty(
    plan: Any,
    result: Any,
    region_tables: Mapping[str, pd.DataFrame],
    accuracy: pd.DataFrame | None = None,
) -> RegionUncertainty | None:
    """The intervals of a finished run (``None`` without an ``uncertainty:`` section): ``plan`` is the
    :class:`~sinkmap.apps.plan.PipelinePlan`, ``result`` the :class:`~sinkmap.engine.job.JobResult`,
    ``region_tables`` the published tables per level, ``accuracy`` the accuracy table (area ratios)."""
    config = plan.config
    if config.uncertainty is None:
        return None
    epochs: tuple[int, ...] = config.epochs
    levels = list(region_tables)
    stacked = pd.concat([region_tables[level] for level in levels], ignore_index=True)
    status: dict[str, str] = {}
    quantities: list[QuantityTerms] = []
    names = [forest_strata_name(e) for e in epochs]
    tables: FactorTables | None = plan.factor_tables
    strata_names = {n for n in names if n in result.crosstabs}
    grass_names = {n for n in result.crosstabs if n.startswith("grassland_strata_")}
    by_level = crosstabs_by_level(
        plan.levels, plan.job.zones.keys, {n: result.crosstabs[n] for n in strata_names | grass_names}, config.nation
    )

    def stack(name: str) -> NDArray[np.float64]:
        return np.concatenate([by_level[level][name] for level in levels])

    factor_set = config.carbon.resolved_factor_set(config.forest_definition)
    chain = CHAINS.get(factor_set)
    carbon_steps = [s for s in plan.job.steps if getattr(s, "name", "") == "carbon"]
    from_stock = bool(carbon_steps) and getattr(carbon_steps[0], "biomass_input", "growing_stock") == "growing_stock"
    if tables is not None and strata_names == set(names) and chain is not None and from_stock:
        pool_totals = {
            e: {p: stacked[f"forest_{p}_t_c_{e}"].to_numpy(dtype=np.float64) for p in POOLS if f"forest_{p}_t_c_{e}" in stacked}
            for e in epochs
        }
        quantities += forest_quantities(
            tables, {e: stack(forest_strata_name(e)) for e in epochs}, epochs, chain,
            pool_totals=pool_totals, dead_organic_matter=config.carbon.dead_organic_matter,
        )  # fmt: skip
        status["forest carbon"] = f"estimated ({factor_set} chain)"
    else:
        status["forest carbon"] = (
            "not estimated: the forest chain starts from growing stock (a biomass or carbon-density input has no "
            "strata model yet)" if tables is not None else "not estimated: no carbon step"
        )
    if grass_names and tables is not None:
        from sinkmap.apps.grassland_terms import grassland_terms

        grass = grassland_terms(tables, {e: stack(f"grassland_strata_{e}") for e in epochs if f"grassland_strata_{e}" in grass_names}, epochs)
        for column, terms in grass.items():
            if column in stacked:
                quantities.append(_scaled(column, terms, stacked[column].to_numpy(dtype=np.float64), tables, "grassland"))
        status["grassland stocks"] = "estimated (IPCC Tier 1: Table 6.4 biomass, SOC_ref × F_LU × F_MG × F_I)"
    strata_epoch = config.accuracy.strata_epoch if config.accuracy is not None else None
    index, ratio_ids, ratio_pdfs, ratio_described = area_ratios(accuracy, stacked, strata_epoch)
    map_sd, map_note = _map_sd(plan, result, stacked, levels, epochs)
    classes = {cls for _, cls in index}
    for e in epochs:
        for column, kind, cls in (
            (f"forest_area_km2_{e}", "area", "forest"),
            (f"coverage_pct_{e}", "area", "forest"),
            (f"stock_volume_m3_{e}", "vol", "forest"),
            (f"grassland_area_km2_{e}", "area", "grassland"),
        ):
            if column in stacked and (cls in classes or (kind == "vol" and map_sd is not None and e in map_sd)):
                quantities.append(activity_quantity(column, stacked[column].to_numpy(dtype=np.float64), kind, e, cls))
    status["forest area, coverage, stock volume"] = (
        "estimated (area ratios from the reference sample; growing-stock map error where given)"
        if "forest" in classes or map_sd is not None
        else "not estimated: no reference sample (accuracy:) and no growing_stock_sd layer, so their activity data "
        "carry no stated error"
    )
    wetland_columns = {part: f"wetland_{part}_area_km2" for part, _, _, _ in WETLAND_ROWS}
    if "wetland_sink_t_c_per_yr" in stacked and all(c in stacked for c in wetland_columns.values()):
        areas = {part: stacked[c].to_numpy(dtype=np.float64) for part, c in wetland_columns.items()}
        quantities.append(QuantityTerms("wetland_sink_t_c_per_yr", {("area", None, None): wetland_terms(areas)}))
    total = _total_sink(quantities, stacked)
    if total is not None:
        quantities.append(total)
    if not quantities:  # nothing to draw: say why, publish no interval
        def empty() -> dict[str, dict[str, NDArray[np.float64]]]:
            return {level: {} for level in levels}

        return RegionUncertainty(
            [], empty(), empty(), empty(),
            pd.DataFrame(columns=["level", "region_id", "name_en", "column", "rank", "variable", "variance_share"]),
            {"status": status, "draws": config.uncertainty.draws, "seed": config.uncertainty.seed, "columns": []},
        )  # fmt: skip
    manifest = {
        "status": status,
        "activity_data": {
            "area_ratios": ratio_described,
            "area_ratio_use": "forest area, coverage, stock volume and forest carbon × the forest ratio; grassland area "
            "and stocks × the grassland ratio; the wetland sink's areas (from the wetland_type layer, not the map the "
            "sample assesses) are taken as exact",
            "bias": "an area ratio's central value is 1 (the published estimate is the map's); its draws are centred on "
            "the accuracy-adjusted area, so where the sample finds the map biased the interval lies off the estimate",
            "growing_stock_map_error": map_note,
        }
        if ratio_ids or map_sd
        else "areas and growing stock taken as exact (no accuracy: section, no growing_stock_sd layer)",
    }
    if tables is None:
        from sinkmap.factors import packaged_factor_tables

        tables = packaged_factor_tables()  # activity data only: no factor is drawn
    return region_uncertainty(
        quantities, tables, region_tables,
        draws=config.uncertainty.draws, seed=config.uncertainty.seed,
        ratios=(index, ratio_ids, ratio_pdfs), map_sd=map_sd, manifest=manifest,
    )  # fmt: skip


def _scaled(
    column: str, terms: Mapping[Term, NDArray[np.float64]], exact: NDArray[np.float64], tables: FactorTables, cls: str
) -> QuantityTerms:
    """Terms scaled per row so their central value equals the run's ``exact`` values."""
    cache: dict[Any, Any] = {}
    model_total = np.zeros(exact.shape)
    for term, activity in terms.items():
        model_total += activity * math.prod(_central(tables, f, cache) for f in term)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(model_total != 0, np.nan_to_num(exact) / np.where(model_total != 0, model_total, 1.0), 1.0)
    epoch = RegionUncertainty.quantity_of(column)[1]
    return QuantityTerms(column, {("area", epoch, cls): {term: activity * scale for term, activity in terms.items()}})


SINK_PARTS = ("forest_sink_t_c_per_yr", "grassland_sink_t_c_per_yr", "wetland_sink_t_c_per_yr", "karst_sink_t_c_per_yr")
"""The sinks the total adds (:data:`sinkmap.apps.quantities._SINKS`)."""


def _total_sink(quantities: Sequence[QuantityTerms], stacked: pd.DataFrame) -> QuantityTerms | None:
    """The total sink as the sum of its parts' models; a part without a model enters as its exact value."""
    if "total_sink_t_c_per_yr" not in stacked:
        return None
    by_column = {q.column: q for q in quantities}
    total = QuantityTerms("total_sink_t_c_per_yr", {})
    check = np.zeros(len(stacked))
    for column in SINK_PARTS:
        if column not in stacked:
            continue
        values = np.nan_to_num(stacked[column].to_numpy(dtype=np.float64))
        check += values
        part = by_column.get(column) or QuantityTerms(column, {("area", None, None): {(): values}})
        total = total.merged(part)
    exact = np.nan_to_num(stacked["total_sink_t_c_per_yr"].to_numpy(dtype=np.float64))
    if not np.allclose(check, exact, rtol=1e-9, atol=1e-6):
        log.warning("uncertainty: the total sink is not the sum of %s here; no interval for it", ", ".join(SINK_PARTS))
        return None
    return total


def _map_sd(
    plan: Any, result: Any, stacked: pd.DataFrame, levels: list[str], epochs: tuple[int, ...]
) -> tuple[dict[int, NDArray[np.float64]] | None, str]:
    """Per epoch, each row's relative standard deviation of growing stock from the ``growing_stock_sd`` layer."""
    keys = [s.key for s in plan.job.stats]
    spec = plan.config.uncertainty
    name = stock_sd_stat(spec.map_correlation)
    if not any(key == (name, e) for key in keys for e in epochs):
        return None, "none (no growing_stock_sd layer)"
    raw = {f"{name}_{e}": result.totals[:, [keys.index((name, e))]] for e in epochs if (name, e) in keys}
    by_level = crosstabs_by_level(plan.levels, plan.job.zones.keys, raw, plan.config.nation)
    out = {}
    for e in epochs:
        if f"{name}_{e}" not in raw:
            continue
        summed = np.concatenate([by_level[level][f"{name}_{e}"][:, 0] for level in levels])
        sd = summed if spec.map_correlation == "region" else np.sqrt(np.maximum(summed, 0.0))
        stock = stacked[f"stock_volume_m3_{e}"].to_numpy(dtype=np.float64) if f"stock_volume_m3_{e}" in stacked else None
        if stock is None:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            out[e] = np.where(stock > 0, sd / np.where(stock > 0, stock, 1.0), 0.0)
    note = (
        "growing_stock_sd layer: per region and epoch, s = Σ sd·area / Σ stock·area (pixel errors fully correlated "
        "within a region), one standard normal per region shared by its epochs, on every quantity proportional to "
        "growing stock"
        if spec.map_correlation == "region"
        else "growing_stock_sd layer: per region and epoch, s = √Σ (sd·area)² / Σ stock·area (independent pixels), "
        "one standard normal per region shared by its epochs, on every quantity proportional to growing stock"
    )
    return out or None, note
