"""Uncertainty of forest carbon and the wetland sink per region: factor draws applied to the forest strata table
and the wetland areas (IPCC Approach 1 and 2).

The engine's :class:`~sinkmap.steps.strata.ForestStrataStep` counts, once per run, the true forest area of every
stratum cell (FAO ecological zone, with precipitation class where dead wood depends on it, × forest type × growing-stock bin) per region and
epoch. Within a cell the forest carbon chain is a sum of products of factors (:mod:`sinkmap.kernels.carbon.forest`):

* AGB carbon = V × BCEF × CF_wood (mixed forest: a weighted sum over several BCEF rows);
* BGB carbon = V × BCEF × R × CF_wood; dead wood = V × BCEF × f_dw × CF_wood; litter = V × BCEF × f_lt × CF_litter;
* bamboo: the default AGB per ha instead of V × BCEF;
* the forest sink = (carbon at the last epoch − carbon at the first) / years between them.

So every published forest-carbon column is a :class:`~sinkmap.kernels.uncertainty.MultilinearModel` of the factors,
with activity = stratum area × growing stock at the bin's middle (:func:`~sinkmap.steps.strata.bin_middle_m3_per_ha`). :func:`forest_model` builds it for the current
factor set through a *chain* (``TIER1_CHAIN``: which factor rows a stratum cell uses); another factor set (a
Tier-2 B = a·V + b by forest type) plugs in as another chain with the same signature. The classes a cell falls in
(growing-stock class of BCEF, AGB class of R) are those of the central values: a draw does not move a cell to
another class (the one non-linearity of the Tier-1 chain, fixed at its central value).

Growing stock enters at each bin's middle, which stands for its pixels only approximately; so each pool's terms in a
region are scaled until the model's central value equals the run's exact pool total for that region and epoch: the
exact totals are split among the factor rows in the proportions of the strata table. Published bounds are the
exact estimate shifted by the model's ``quantile − central`` (a shift of rounding size once the totals are matched).

The wetland soil sink is linear in its rates with the wetland areas per class as activity (:func:`wetland_terms`),
so it joins the same model, and its rates are drawn with the forest factors.

Each factor's pdf comes from its table rows (:meth:`~sinkmap.kernels.uncertainty.Pdf.from_range` for min/max read
as a 95 % interval, ``sd`` rows, else held fixed), and every factor is drawn once per iteration for every region,
stratum and epoch (:func:`~sinkmap.kernels.uncertainty.monte_carlo`). Activity data (areas from the map, growing
stock from its raster) are taken as exact here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sinkmap.apps.levels import crosstabs_by_level
from sinkmap.errors import FactorTableError
from sinkmap.factors import FactorTables
from sinkmap.kernels.uncertainty import (
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
)

__all__ = [
    "BOUNDS",
    "TIER1_CHAIN",
    "CellTerms",
    "ForestUncertainty",
    "factor_id",
    "factor_pdf",
    "forest_model",
    "forest_uncertainty",
    "run_uncertainty",
    "wetland_terms",
]

log = logging.getLogger(__name__)

BOUNDS = ("estimate", "p2_5", "p97_5")
"""The bound dimension of the published intervals."""

POOLS = ("agb", "bgb", "deadwood", "litter")

MIN_SHARE = 1e-3
"""Variance shares below 0.1 % are not listed among a region's top contributors: a factor that an output does not
use still shows a squared correlation of about 1 / draws (1e-4 for 10,000 draws) from sampling alone."""

CellTerms = dict[str, dict[tuple[str, ...], float]]
"""Per pool, term (factor ids) → coefficient per ha of the cell's area at central values' classes (for AGB of a
stand: the cell's growing stock, m³/ha, times the BCEF row's weight)."""

Chain = Callable[[FactorTables, int, int, int, float, dict[Any, Any]], CellTerms]
"""(tables, FAO zone, precipitation class, forest type, growing stock m³/ha, cache) → the cell's terms; ``cache`` is
a dict the chain may use to keep lookups for one model build."""


# ------------------------------------------------------------------------------------------------------ factors
def factor_id(table_id: str, **keys: object) -> str:
    """A factor's id: ``table_id[key=value,…]`` in the table's key order as given."""
    return f"{table_id}[{','.join(f'{k}={v}' for k, v in keys.items())}]"


def _parse_id(fid: str) -> tuple[str, dict[str, str]]:
    table_id, rest = fid.split("[", 1)
    pairs = [p.split("=", 1) for p in rest[:-1].split(",") if p]
    return table_id, {k: v for k, v in pairs}


def factor_pdf(tables: FactorTables, fid: str) -> tuple[Pdf, dict[str, Any]]:
    """The pdf of factor ``fid`` from its table rows, and its description for the manifest."""
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
        else:
            pdf = Pdf.fixed(row.value, "no range or sd in the table: held fixed")
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


# -------------------------------------------------------------------------------------------- the Tier-1 chain
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


def tier1_cell(
    tables: FactorTables, eco: int, pclass: int, ftype: int, volume: float, cache: dict[Any, Any]
) -> CellTerms:
    """The IPCC Tier-1 chain of :mod:`sinkmap.kernels.carbon.forest` for one stratum cell (see the module docstring)."""
    from sinkmap.kernels.carbon.forest import (
        BCEF_DOMAIN_BY_ECOZONE,
        BCEF_TYPES,
        DEADWOOD_DOMAIN_BY_ECOZONE,
        ROOT_SHOOT_GROUP_BY_ECOZONE,
        ROOT_SHOOT_TYPES,
    )

    cf_wood = factor_id("carbon_fraction", pool="wood", category="default")
    cf_litter = factor_id("carbon_fraction", pool="litter", category="default")
    # AGB (t d.m./ha) as terms: (factor ids, coefficient)
    if ftype == 6:
        agb_terms = [((factor_id("bamboo_biomass", quantity="agb"),), 1.0)]
        r_terms = [((factor_id("bamboo_biomass", quantity="root_shoot"),), 1.0)]
        agb_central = tables.value("bamboo_biomass", quantity="agb")
    else:
        domain = BCEF_DOMAIN_BY_ECOZONE[eco]
        agb_terms = []
        agb_central = 0.0
        for ipcc_type, weight in BCEF_TYPES[domain][ftype]:
            label = _class_row(tables, cache, "forest_bcef", "gs_class", volume, zone=domain, forest_type=ipcc_type, factor="S")
            keys = {"zone": domain, "forest_type": ipcc_type, "factor": "S", "gs_class": label}
            agb_terms.append(((factor_id("forest_bcef", **keys),), weight * volume))
            agb_central += weight * volume * tables.value("forest_bcef", **keys)
        group = ROOT_SHOOT_GROUP_BY_ECOZONE[eco]
        if ("groups", group) not in cache:
            cache[("groups", group)] = {
                row.key("forest_group") for row in tables.rows("forest_root_shoot") if row.key("ecozone_group") == group
            }
        groups = cache[("groups", group)]
        r_terms = []
        for fgroup, weight in ROOT_SHOOT_TYPES[ftype]:
            use = fgroup if fgroup in groups else "all"
            label = _class_row(tables, cache, "forest_root_shoot", "agb_class", agb_central, ecozone_group=group, forest_group=use)
            keys = {"ecozone_group": group, "forest_group": use, "agb_class": label}
            r_terms.append(((factor_id("forest_root_shoot", **keys),), weight))
    domain_dw = DEADWOOD_DOMAIN_BY_ECOZONE[eco]
    fractions = {}
    for pool in ("deadwood", "litter"):
        if domain_dw == "tropical":
            precip_class = {1: "0-1000", 2: "1000-1600", 3: "1600-inf"}.get(pclass)
            if precip_class is None:
                raise FactorTableError("a tropical forest cell has no precipitation: dead-wood fractions need it")
            keys = {"domain": "tropical", "elevation_class": "0-2000", "precip_class": precip_class, "pool": pool}
        else:
            keys = {"domain": domain_dw, "elevation_class": "0-inf", "precip_class": "0-inf", "pool": pool}
        fractions[pool] = factor_id("deadwood_litter", **keys)
    out: CellTerms = {pool: {} for pool in POOLS}

    def add(pool: str, key: tuple[str, ...], coef: float) -> None:
        key = tuple(sorted(key))
        out[pool][key] = out[pool].get(key, 0.0) + coef

    for agb_key, agb_coef in agb_terms:
        add("agb", (*agb_key, cf_wood), agb_coef)
        for r_key, r_coef in r_terms:
            add("bgb", (*agb_key, *r_key, cf_wood), agb_coef * r_coef)
        add("deadwood", (*agb_key, fractions["deadwood"], cf_wood), agb_coef)
        add("litter", (*agb_key, fractions["litter"], cf_litter), agb_coef)
    return out


TIER1_CHAIN: Chain = tier1_cell
"""The chain of the packaged IPCC Tier-1 factor set."""


# ------------------------------------------------------------------------------------------------------ the model
def _central(tables: FactorTables, fid: str, cache: dict[Any, Any]) -> float:
    if ("central", fid) not in cache:
        table_id, keys = _parse_id(fid)
        cache[("central", fid)] = tables.value(table_id, **keys)
    return float(cache[("central", fid)])


def forest_model(
    tables: FactorTables,
    strata: Mapping[int, NDArray[np.float64]],
    epochs: tuple[int, ...],
    chain: Chain = TIER1_CHAIN,
    *,
    pool_totals: Mapping[int, Mapping[str, NDArray[np.float64]]] | None = None,
    extra: Mapping[str, Mapping[tuple[str, ...], NDArray[np.float64]]] | None = None,
) -> tuple[MultilinearModel, list[str]]:
    """The forest carbon model for regions × quantities.

    Args:
        tables: the run's factor tables.
        strata: per epoch, the strata area table ``(n_regions, n_codes)`` in m² (:class:`ForestStrataStep`).
        epochs: the run's epochs.
        chain: which factor rows a cell uses.
        pool_totals: per epoch and pool (``agb``, ``bgb``, ``deadwood``, ``litter``), the run's exact totals per region
            (t C). When given, each pool's terms in a region are scaled so that the model's central value equals
            it: the exact total is split among the factor rows in the proportions of the strata table, whose bins'
            middles stand for their pixels' growing stock only approximately (stock on round values sits at the
            top of a bin, up to 5 m³/ha above its middle, and the AGB class of the root:shoot ratio follows).
        extra: further quantities, each ``{term: activity per region}`` (:func:`wetland_terms`), appended after
            the forest ones.

    Returns:
        The model, whose outputs are ``quantity × region`` (quantity-major), and the quantity columns:
        ``forest_vegetation_carbon_t_c_E`` and ``forest_carbon_t_c_E`` per epoch, then ``forest_sink_t_c_per_yr``
        (two or more epochs).
    """
    n_regions = next(iter(strata.values())).shape[0]
    cells: dict[int, CellTerms] = {}
    cache: dict[Any, Any] = {}
    per_epoch: dict[int, dict[str, dict[tuple[str, ...], NDArray[np.float64]]]] = {}
    for e in epochs:
        table = strata[e]
        codes = np.flatnonzero(table.any(axis=0))
        eco, pclass, ftype, vbin = decode_stratum(codes)
        volume = bin_middle_m3_per_ha(vbin)
        pools: dict[str, dict[tuple[str, ...], NDArray[np.float64]]] = {pool: {} for pool in POOLS}
        for j, code in enumerate(codes.tolist()):
            if code not in cells:
                cells[code] = chain(tables, int(eco[j]), int(pclass[j]), int(ftype[j]), float(volume[j]), cache)
            area_ha = table[:, code] / 1e4
            for pool, cell_terms in cells[code].items():
                for key, coef in cell_terms.items():
                    acc = pools[pool].get(key)
                    pools[pool][key] = coef * area_ha if acc is None else acc + coef * area_ha
        if pool_totals is not None:  # each pool's exact regional total, split among its terms as the strata say
            for pool, pool_terms in pools.items():
                model_total = np.zeros(n_regions)
                for key, activity in pool_terms.items():
                    model_total += activity * math.prod(_central(tables, f, cache) for f in key)
                exact = np.asarray(pool_totals[e][pool], dtype=np.float64)
                with np.errstate(invalid="ignore", divide="ignore"):
                    scale = np.where(model_total > 0, exact / np.where(model_total > 0, model_total, 1.0), 1.0)
                pools[pool] = {key: activity * scale for key, activity in pool_terms.items()}
        per_epoch[e] = pools
    quantities: list[tuple[str, dict[int, float]]] = []
    for e in epochs:
        quantities.append((f"forest_vegetation_carbon_t_c_{e}", {e: 1.0}))
        quantities.append((f"forest_carbon_t_c_{e}", {e: 1.0}))
    first, last = epochs[0], epochs[-1]
    if len(epochs) > 1:
        quantities.append(("forest_sink_t_c_per_yr", {first: -1.0 / (last - first), last: 1.0 / (last - first)}))
    terms: dict[tuple[str, ...], NDArray[np.float64]] = {}
    zero = np.zeros(n_regions * len(quantities))
    for q, (name, weights) in enumerate(quantities):
        pools_used = ("agb", "bgb") if name.startswith("forest_vegetation") else POOLS
        for e, w in weights.items():
            for pool in pools_used:
                for key, activity in per_epoch[e][pool].items():
                    row = terms.setdefault(key, zero.copy())
                    row[q * n_regions : (q + 1) * n_regions] += w * activity
    names = [name for name, _ in quantities]
    extras = dict(extra or {})
    n_outputs = n_regions * (len(quantities) + len(extras))
    if extras:
        terms = {key: np.concatenate([row, np.zeros(n_regions * len(extras))]) for key, row in terms.items()}
        for k, (name, extra_terms) in enumerate(extras.items()):
            q = len(quantities) + k
            for key, activity in extra_terms.items():
                row = terms.setdefault(tuple(sorted(key)), np.zeros(n_outputs))
                row[q * n_regions : (q + 1) * n_regions] += activity
            names.append(name)
    return MultilinearModel.build(terms, n_outputs), names


WETLAND_ROWS = (
    ("mangrove", "coastal_soil_accumulation", "mangrove", -1.0),
    ("salt_marsh", "coastal_soil_accumulation", "tidal_marsh", -1.0),
    ("seagrass", "coastal_soil_accumulation", "seagrass", -1.0),
    ("inland", "inland_soil_accumulation", "inland_marsh", 1.0),
)
"""Wetland area column part, factor table, row and sign (coastal rates are in the IPCC sign, negative = removal)."""


def wetland_terms(areas_km2: Mapping[str, NDArray[np.float64]]) -> dict[tuple[str, ...], NDArray[np.float64]]:
    """The wetland soil sink (t C/yr, sink positive) as terms: area of each wetland class (ha) × its accumulation
    rate, as :func:`sinkmap.kernels.carbon.wetland.wetland_soil_sink_t_c_per_ha_yr` applies them; ``areas_km2``
    maps ``mangrove``, ``salt_marsh``, ``seagrass``, ``inland`` to areas per region."""
    return {
        (factor_id(table_id, wetland_class=row),): sign * 100.0 * np.asarray(areas_km2[part], dtype=np.float64)
        for part, table_id, row, sign in WETLAND_ROWS
    }


# ------------------------------------------------------------------------------------------------------ results
@dataclass
class ForestUncertainty:
    """Intervals of the forest carbon columns for every region row of every level.

    ``values[level][column]`` is an ``(n_rows, 3)`` array over :data:`BOUNDS`; ``half_width_pct`` the half-width of
    the 95 % interval as a % of the estimate; ``approach1`` the same half-width by error propagation;
    ``contributors[level]`` a long table of the top five factors per region and column; ``manifest`` what the run
    records (draws, seed, pdfs).
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
        2020)); the sink is static."""
        head, _, tail = column.rpartition("_")
        return (head, int(tail)) if tail.isdigit() else (column, None)

    def wide(self, level: str) -> pd.DataFrame:
        """Flat columns for tables and GeoJSON: ``<column>_p2_5``, ``<column>_p97_5``, ``<column>_half_width_pct``."""
        out: dict[str, Any] = {}
        for column in self.columns:
            out[f"{column}_p2_5"] = self.values[level][column][:, 1]
            out[f"{column}_p97_5"] = self.values[level][column][:, 2]
            out[f"{column}_half_width_pct"] = self.half_width_pct[level][column]
        return pd.DataFrame(out)


def forest_uncertainty(
    tables: FactorTables,
    strata_by_level: Mapping[str, Mapping[str, NDArray[np.float64]]],
    region_tables: Mapping[str, pd.DataFrame],
    epochs: tuple[int, ...],
    *,
    draws: int,
    seed: int,
    chain: Chain = TIER1_CHAIN,
) -> ForestUncertainty:
    """Approach 2 (and Approach 1 alongside) for the forest carbon columns of every region of every level.

    Args:
        tables: the run's factor tables.
        strata_by_level: per level, the cross-tabulations by name (``forest_strata_E``), rows as ``region_tables``.
        region_tables: the published tables per level (the exact estimates are taken from them).
        epochs: the run's epochs.
        draws, seed: Monte Carlo iterations and seed.
        chain: which factor rows a stratum cell uses.
    """
    levels = list(region_tables)
    sizes = [len(region_tables[level]) for level in levels]
    stacked = {e: np.concatenate([strata_by_level[level][forest_strata_name(e)] for level in levels]) for e in epochs}
    totals = {
        e: {
            pool: np.concatenate([region_tables[level][f"forest_{pool}_t_c_{e}"].to_numpy(dtype=np.float64) for level in levels])
            for pool in POOLS
        }
        for e in epochs
    }
    extra = {}
    wetland_columns = {part: f"wetland_{part}_area_km2" for part, _, _, _ in WETLAND_ROWS}
    first_table = region_tables[levels[0]]
    if "wetland_sink_t_c_per_yr" in first_table and all(c in first_table for c in wetland_columns.values()):
        extra["wetland_sink_t_c_per_yr"] = wetland_terms(
            {
                part: np.concatenate([region_tables[level][column].to_numpy(dtype=np.float64) for level in levels])
                for part, column in wetland_columns.items()
            }
        )
    model, columns = forest_model(tables, stacked, epochs, chain, pool_totals=totals, extra=extra)
    pdfs: dict[str, Pdf] = {}
    described = []
    for fid in model.factors:
        pdfs[fid], info = factor_pdf(tables, fid)
        described.append(info)
    mc = monte_carlo(model, pdfs, n_draws=draws, seed=seed)
    a1 = error_propagation(model, pdfs)
    n_rows = sum(sizes)
    offsets = np.cumsum([0, *sizes])
    values: dict[str, dict[str, NDArray[np.float64]]] = {level: {} for level in levels}
    half: dict[str, dict[str, NDArray[np.float64]]] = {level: {} for level in levels}
    half_a1: dict[str, dict[str, NDArray[np.float64]]] = {level: {} for level in levels}
    rows: list[pd.DataFrame] = []
    for q, column in enumerate(columns):
        block = slice(q * n_rows, (q + 1) * n_rows)
        central, low, high, sd = mc.central[block], mc.low[block], mc.high[block], a1.sd[block]
        for li, level in enumerate(levels):
            part = slice(offsets[li], offsets[li + 1])
            estimate = region_tables[level][column].to_numpy(dtype=np.float64)
            lo = estimate + (low[part] - central[part])
            hi = estimate + (high[part] - central[part])
            values[level][column] = np.stack([estimate, lo, hi], axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                half[level][column] = np.where(estimate != 0, 100 * (hi - lo) / 2 / np.abs(estimate), np.nan)
                half_a1[level][column] = np.where(estimate != 0, 100 * 1.959963984540054 * sd[part] / np.abs(estimate), np.nan)
    # the five largest variance shares of every output at once
    top = np.argsort(-mc.shares, axis=0, kind="stable")[:5]
    top_share = np.take_along_axis(mc.shares, top, axis=0)
    idents = pd.concat([region_tables[level][["level", "region_id", "name_en"]] for level in levels], ignore_index=True)
    for q, column in enumerate(columns):
        block = slice(q * n_rows, (q + 1) * n_rows)
        for rank in range(top.shape[0]):
            keep = top_share[rank, block] >= MIN_SHARE
            frame = idents[keep].copy()
            frame["column"] = column
            frame["rank"] = rank + 1
            frame["factor"] = np.asarray(model.factors, dtype=object)[top[rank, block][keep]]
            frame["variance_share"] = top_share[rank, block][keep]
            rows.append(frame)
    manifest = {
        "approach": "IPCC Approach 2 (Monte Carlo) on the forest strata table; Approach 1 half-widths alongside",
        "draws": draws,
        "seed": seed,
        "columns": columns,
        "strata": "FAO ecological zone (× precipitation class where dead wood depends on it) × forest type × "
        f"growing-stock bin (edges {VOLUME_EDGES_M3_PER_HA[1]:g}, {VOLUME_EDGES_M3_PER_HA[2]:g}, … "
        f"{VOLUME_EDGES_M3_PER_HA[-1]:g} m³/ha: 10 wide to 200, 20 to 600, 50 to 1000; volume at the bin's middle), "
        "per region and epoch",
        "correlation": "one draw per factor per iteration, shared by every region, stratum and epoch",
        "activity_data": "areas and growing stock taken as exact (no map or raster uncertainty entered)",
        "classes": "growing-stock (BCEF) and AGB (root:shoot) classes fixed at the central values",
        "bounds": "2.5 % and 97.5 % quantiles of the draws; each pool's exact regional total is split among its factor "
        "rows in the proportions of the strata table (growing stock at the bins' middles), so the model's central "
        "values are the run's estimates",
        "n_terms": int(model.terms.shape[0]),
        "factors": described,
    }
    contributors = pd.concat(rows, ignore_index=True).sort_values(["column", "level", "region_id", "rank"], kind="stable")
    return ForestUncertainty(columns, values, half, half_a1, contributors.reset_index(drop=True), manifest)


def run_uncertainty(
    plan: Any, crosstabs: Mapping[str, NDArray[np.float64]], region_tables: Mapping[str, pd.DataFrame]
) -> ForestUncertainty | None:
    """The forest carbon intervals of a finished run (``None`` when the pipeline has no ``uncertainty:`` section
    or no forest strata table): ``plan`` is the :class:`~sinkmap.apps.plan.PipelinePlan`, ``crosstabs`` the job's
    cross-tabulations (rows = the job's zones), ``region_tables`` the published tables per level."""
    config = plan.config
    names = [forest_strata_name(e) for e in config.epochs]
    if config.uncertainty is None or plan.factor_tables is None or not all(n in crosstabs for n in names):
        return None
    if config.carbon.factor_set != "ipcc_tier1":
        log.warning(
            "uncertainty: not estimated for the %s factor set (the stratum model follows the IPCC Tier-1 chain and "
            "the China Tier-2 rows carry no ranges yet); set carbon.factor_set: ipcc_tier1 for intervals",
            config.carbon.factor_set,
        )
        return None
    by_level = crosstabs_by_level(plan.levels, plan.job.zones.keys, {n: crosstabs[n] for n in names}, config.nation)
    return forest_uncertainty(
        plan.factor_tables,
        by_level,
        region_tables,
        config.epochs,
        draws=config.uncertainty.draws,
        seed=config.uncertainty.seed,
    )
