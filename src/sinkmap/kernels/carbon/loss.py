"""Gross emissions from tree-cover loss, after Global Forest Watch's forest carbon flux model (Harris et al. 2021).

A pixel of stand-replacing loss (Hansen ``loss_year`` code N = loss in ``base_year + N``) emits, in its loss year,
the carbon of its biomass pools, estimated from above-ground biomass (AGB, t dry matter/ha) in the base year:

* above-ground carbon  = AGB × CF                        (CF = 0.47 t C/t d.m.)
* below-ground carbon  = AGB × R × CF                    (R = 0.26, GFW's default BGB:AGB ratio)
* dead-wood carbon     = AGB × f_deadwood × CF
* litter carbon        = AGB × f_litter × CF_litter      (CF_litter = 0.37)
* mineral-soil carbon (optional) = SOC × (1 − F_LU) / 20 × min(years after loss, 20)

with f_deadwood and f_litter from GFW's decision table by climate domain, elevation and annual precipitation (CDM
A/R Tool 12). Emissions are t CO₂e/ha = t C/ha × 44/12, positive numbers (an emission, reported as such; sinkmap's
sign convention makes sinks positive, so a *net* flux would carry them negative).

The constants are read from a CSV (the packaged ``data/gfw/gfw_loss_factors.csv`` names GFW's source row by row)
with :func:`read_gfw_factors`, the one file access of this module; everything else is pure numpy.

Tree-cover thresholds: GFW's forest extent is tree cover 2000 **> 30 %** (exclusive, the comparison GFW fixed in
gfw_forest_loss_geotrellis PR #82); :func:`tree_cover_mask` takes the threshold and ``inclusive=True`` for ``≥``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sinkmap.errors import FactorTableError, InputNotFoundError

__all__ = [
    "DOMAINS",
    "DeadwoodLitterRule",
    "GfwFactors",
    "LossCarbon",
    "deadwood_litter_fractions",
    "loss_carbon_t_c_per_ha",
    "read_gfw_factors",
    "soil_loss_t_c_per_ha",
    "tree_cover_mask",
]

FloatArray = NDArray[np.float64]
DOMAINS = ("tropical", "temperate", "boreal")
"""Climate domains of GFW's dead wood and litter rule (boreal and temperate share one pair of fractions)."""

_SCALARS = (
    "carbon_fraction_biomass",
    "carbon_fraction_litter",
    "bgb_to_agb",
    "c_to_co2",
    "canopy_threshold",
    "soil_emission_period",
)


@dataclass(frozen=True)
class DeadwoodLitterRule:
    """One row of the dead wood / litter decision table: a domain and upper-inclusive classes ``(lo, hi]``."""

    domain: str
    elevation_m: tuple[float, float]
    precip_mm_per_yr: tuple[float, float]
    deadwood_fraction: float
    litter_fraction: float


@dataclass(frozen=True)
class GfwFactors:
    """GFW's gross-emission constants (see the module docstring), with every source row for the manifest."""

    carbon_fraction_biomass: float
    carbon_fraction_litter: float
    bgb_to_agb: float
    c_to_co2: float
    canopy_threshold: float
    soil_emission_period: float
    rules: tuple[DeadwoodLitterRule, ...]
    f_lu: dict[str, float] = field(default_factory=dict)
    rows: tuple[dict[str, str], ...] = ()
    source: str = ""


def _class(text: str, where: str) -> tuple[float, float]:
    if text == "any":
        return (-math.inf, math.inf)
    try:
        lo, hi = text.split("-")
        return (float(lo), math.inf if hi == "inf" else float(hi))
    except ValueError:
        raise FactorTableError(f"{where}: class {text!r} is not 'any' or 'lo-hi'") from None


def read_gfw_factors(path: str | Path) -> GfwFactors:
    """Read the GFW constants CSV (``name, domain, elevation_class, precip_class, value, unit, source, evidence``).

    Raises:
        InputNotFoundError: the file does not exist.
        FactorTableError: a value is not a number, a row has no source, or a constant is missing.
    """
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"GFW factor table {p} does not exist")
    rows = list(csv.DictReader(io.StringIO(p.read_text(encoding="utf-8-sig"), newline="")))
    scalars: dict[str, float] = {}
    f_lu: dict[str, float] = {}
    pairs: dict[tuple[str, str, str], dict[str, float]] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{p.name} line {line}"
        try:
            value = float(row["value"])
        except (KeyError, TypeError, ValueError):
            raise FactorTableError(f"{where}: value {row.get('value')!r} is not a number") from None
        if not (row.get("source") or "").strip():
            raise FactorTableError(f"{where}: every factor names its source; the 'source' cell is empty")
        name = row["name"]
        if name in _SCALARS:
            scalars[name] = value
        elif name.startswith("f_lu_"):
            f_lu[name.removeprefix("f_lu_")] = value
        elif name in ("deadwood_fraction", "litter_fraction"):
            key = (row["domain"], row["elevation_class"], row["precip_class"])
            pairs.setdefault(key, {})[name] = value
        else:
            raise FactorTableError(f"{where}: unknown constant {name!r}")
    missing = [name for name in _SCALARS if name not in scalars]
    if missing:
        raise FactorTableError(f"{p.name}: missing constant(s) {missing}")
    rules = []
    for (domain, elevation, precip), pair in pairs.items():
        if domain not in DOMAINS or set(pair) != {"deadwood_fraction", "litter_fraction"}:
            raise FactorTableError(f"{p.name}: dead wood/litter rule {domain}, {elevation}, {precip} needs both fractions")
        rules.append(
            DeadwoodLitterRule(
                domain,
                _class(elevation, p.name),
                _class(precip, p.name),
                pair["deadwood_fraction"],
                pair["litter_fraction"],
            )
        )
    return GfwFactors(**scalars, rules=tuple(rules), f_lu=f_lu, rows=tuple(rows), source=str(p))


def tree_cover_mask(tree_cover_pct: ArrayLike, threshold_pct: float, *, inclusive: bool = False) -> NDArray[np.bool_]:
    """Pixels inside the tree-cover threshold: ``> threshold`` (GFW) or ``≥ threshold`` (``inclusive``); NaN is out."""
    tcd = np.asarray(tree_cover_pct, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray(tcd >= threshold_pct if inclusive else tcd > threshold_pct)


def deadwood_litter_fractions(
    domain: str,
    precip_mm_per_yr: ArrayLike,
    elevation_m: ArrayLike,
    factors: GfwFactors,
) -> tuple[FloatArray, FloatArray]:
    """Dead wood and litter dry matter as fractions of AGB, per pixel, from GFW's decision table.

    Classes are upper-inclusive (``lo < x ≤ hi``). NaN where no rule applies (a NaN precipitation or elevation in the
    tropical domain, whose rules need both).

    Raises:
        ValueError: ``domain`` is not one of :data:`DOMAINS`.
    """
    if domain not in DOMAINS:
        raise ValueError(f"climate domain {domain!r} is not one of {DOMAINS}")
    precip = np.asarray(precip_mm_per_yr, dtype=np.float64)
    elevation = np.asarray(elevation_m, dtype=np.float64)
    shape = np.broadcast_shapes(precip.shape, elevation.shape)
    deadwood = np.full(shape, np.nan)
    litter = np.full(shape, np.nan)
    for rule in factors.rules:
        if rule.domain != domain:
            continue
        (e_lo, e_hi), (p_lo, p_hi) = rule.elevation_m, rule.precip_mm_per_yr
        hit = np.ones(shape, dtype=bool)
        if math.isfinite(e_lo) or math.isfinite(e_hi):
            hit &= (elevation > e_lo) & (elevation <= e_hi)
        if math.isfinite(p_lo) or math.isfinite(p_hi):
            hit &= (precip > p_lo) & (precip <= p_hi)
        deadwood = np.where(hit, rule.deadwood_fraction, deadwood)
        litter = np.where(hit, rule.litter_fraction, litter)
    return deadwood, litter


def soil_loss_t_c_per_ha(
    soc_t_c_per_ha: ArrayLike, f_lu: float, years_since_loss: ArrayLike, *, period_yr: float = 20.0
) -> FloatArray:
    """Mineral-soil carbon lost by a pixel, t C/ha: SOC × (1 − F_LU) / period × min(years since loss, period).

    ``years_since_loss`` counts the years from the loss year to the end of the reporting period (GFW: model years −
    loss year); capped at the 20-year transition so that no more than SOC × (1 − F_LU) is ever emitted.
    """
    if not 0.0 <= f_lu <= 1.0:
        raise ValueError(f"F_LU must lie in [0, 1], got {f_lu}")
    soc = np.asarray(soc_t_c_per_ha, dtype=np.float64)
    years = np.clip(np.asarray(years_since_loss, dtype=np.float64), 0.0, period_yr)
    return soc * (1.0 - f_lu) / period_yr * years


@dataclass(frozen=True)
class LossCarbon:
    """Carbon of each pool emitted by a loss pixel, t C/ha (NaN where not computed)."""

    agb: FloatArray
    bgb: FloatArray
    deadwood: FloatArray
    litter: FloatArray
    soil: FloatArray | None = None

    def pools(self) -> dict[str, FloatArray]:
        out = {"agb": self.agb, "bgb": self.bgb, "deadwood": self.deadwood, "litter": self.litter}
        if self.soil is not None:
            out["soil"] = self.soil
        return out

    @property
    def total(self) -> FloatArray:
        """All pools, t C/ha."""
        return np.asarray(sum(self.pools().values()), dtype=np.float64)


def loss_carbon_t_c_per_ha(
    agb_t_dm_per_ha: ArrayLike,
    *,
    domain: str,
    precip_mm_per_yr: ArrayLike,
    elevation_m: ArrayLike,
    factors: GfwFactors,
    soil: FloatArray | None = None,
) -> LossCarbon:
    """Carbon emitted per pool (t C/ha) by a pixel whose trees are cleared, from its AGB (t d.m./ha).

    ``soil`` is the mineral-soil loss already computed by :func:`soil_loss_t_c_per_ha`, or None.

    Raises:
        ValueError: negative AGB, or an unknown domain.
    """
    agb = np.asarray(agb_t_dm_per_ha, dtype=np.float64)
    if np.any(agb < 0):
        raise ValueError("above-ground biomass must not be negative (t d.m./ha)")
    deadwood_f, litter_f = deadwood_litter_fractions(domain, precip_mm_per_yr, elevation_m, factors)
    cf = factors.carbon_fraction_biomass
    return LossCarbon(
        agb=agb * cf,
        bgb=agb * factors.bgb_to_agb * cf,
        deadwood=agb * deadwood_f * cf,
        litter=agb * litter_f * factors.carbon_fraction_litter,
        soil=soil,
    )
