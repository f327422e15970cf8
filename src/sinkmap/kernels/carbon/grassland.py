"""Grassland biomass and soil organic carbon per pixel (IPCC Tier 1, 2006 V4 Ch. 6 and Ch. 2).

- **Biomass**: Table 6.4 default above-ground and total (above + below) biomass by climate, t d.m./ha;
  BGB = total − AGB; carbon = d.m. × CF (``carbon_fraction`` pool ``herbaceous``, 0.47).
- **SOC** (0–30 cm): ``SOC = SOC_ref(climate, soil type) × F_LU × F_MG × F_I`` (Table 2.3 reference stocks; Table 6.2
  stock-change factors). Without a soil layer every pixel uses high-activity clay (HAC) mineral soil. F_I (input
  level) applies only to improved grassland (management code 4); elsewhere it is 1.
- **ΔSOC** after a change of land use or management: the IPCC default linear transition over D = 20 years,
  ``(SOC_now − SOC_before) / D`` t C/ha/yr during the D years after the change and 0 afterwards; positive = sink.

Climate codes are IPCC climate zones from :func:`sinkmap.kernels.carbon.zones.ipcc_climate_zone`. Tables without a row for a
zone use stated fallbacks: polar → the boreal rows; tropical montane → "tropical moist & wet" biomass (Table 6.4 has
no montane row); F_MG climate groups are temperate/boreal (incl. polar), tropical, tropical montane.

Code tables for the optional layers:

In every optional layer 0 or NaN means "unknown" and takes the default class.

- ``soil_type``: 0 unknown (→ HAC), 1 HAC, 2 LAC, 3 sandy, 4 spodic, 5 volcanic, 6 wetland (organic-rich mineral).
- ``management``: 1 nominally managed (non-degraded), 2 moderately degraded, 3 severely degraded, 4 improved.
- ``input_level``: 1 medium, 2 high (improved grassland only).

**Nodata:** outputs are float64 with NaN where ``valid`` is False or the climate code is 0. A combination of codes
that is present but has no factor raises :class:`~sinkmap.errors.FactorTableError` naming every missing combination.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike

from sinkmap.errors import FactorTableError
from sinkmap.factors import FactorTables
from sinkmap.kernels.carbon._common import FloatArray, as_codes, as_float, require_codes, valid_mask
from sinkmap.kernels.carbon.zones import IPCC_CLIMATE_NAMES

__all__ = [
    "BIOMASS_CLIMATE",
    "F_MG_CLIMATE_GROUP",
    "INPUT_LEVEL_NAMES",
    "MANAGEMENT_NAMES",
    "SOC_CLIMATE",
    "SOIL_TYPE_NAMES",
    "GrasslandBiomass",
    "grassland_biomass_carbon",
    "soc_change_t_c_per_ha_yr",
    "soil_organic_carbon_t_c_per_ha",
]

DEFAULT_TRANSITION_YEARS = 20.0

BIOMASS_CLIMATE: Mapping[int, str] = MappingProxyType(
    {1: "tropical_moist_wet", 2: "tropical_moist_wet", 3: "tropical_moist_wet", 4: "tropical_dry",
     5: "warm_temperate_wet", 6: "warm_temperate_dry", 7: "cold_temperate_wet", 8: "cold_temperate_dry",
     9: "boreal", 10: "boreal", 11: "boreal", 12: "boreal"}
)  # fmt: skip
"""Table 6.4 row per IPCC climate code (tropical montane and polar are fallbacks)."""

SOC_CLIMATE: Mapping[int, str] = MappingProxyType(
    {1: "tropical_montane", 2: "tropical_wet", 3: "tropical_moist", 4: "tropical_dry",
     5: "warm_temperate_moist", 6: "warm_temperate_dry", 7: "cold_temperate_moist", 8: "cold_temperate_dry",
     9: "boreal", 10: "boreal", 11: "boreal", 12: "boreal"}
)  # fmt: skip
"""Table 2.3 row per IPCC climate code (polar falls back to boreal)."""

F_MG_CLIMATE_GROUP: Mapping[int, str] = MappingProxyType(
    {
        1: "tropical_montane",
        2: "tropical",
        3: "tropical",
        4: "tropical",
        **{z: "temperate_boreal" for z in range(5, 13)},
    }
)
"""Climate group of the stock-change factor tables per IPCC climate code."""

SOIL_TYPE_NAMES: Mapping[int, str] = MappingProxyType(
    {1: "hac", 2: "lac", 3: "sandy", 4: "spodic", 5: "volcanic", 6: "wetland"}
)
MANAGEMENT_NAMES: Mapping[int, str] = MappingProxyType(
    {1: "nominal", 2: "moderately_degraded", 3: "severely_degraded", 4: "improved"}
)
INPUT_LEVEL_NAMES: Mapping[int, str] = MappingProxyType({1: "medium", 2: "high"})
_IMPROVED = 4


@dataclass(frozen=True)
class GrasslandBiomass:
    """Grassland biomass carbon densities, t C/ha (float64, NaN where not computed)."""

    agb_t_c_per_ha: FloatArray
    bgb_t_c_per_ha: FloatArray

    @property
    def total_t_c_per_ha(self) -> FloatArray:
        """AGB + BGB carbon, t C/ha."""
        return self.agb_t_c_per_ha + self.bgb_t_c_per_ha

    def as_dict(self) -> dict[str, FloatArray]:
        """``agb``, ``bgb``, ``total`` in t C/ha."""
        return {
            "agb": self.agb_t_c_per_ha,
            "bgb": self.bgb_t_c_per_ha,
            "total": self.total_t_c_per_ha,
        }


def grassland_biomass_carbon(
    climate_zone: ArrayLike, *, tables: FactorTables, valid: ArrayLike | None = None
) -> GrasslandBiomass:
    """Default grassland biomass carbon (Table 6.4) per pixel.

    Args:
        climate_zone: IPCC climate codes (1–12; 0 = nodata).
        tables: factor tables (``grassland_biomass``, ``carbon_fraction``).
        valid: optional boolean mask (e.g. grassland pixels); False gives NaN.

    Returns:
        :class:`GrasslandBiomass` with AGB and BGB carbon in t C/ha.
    """
    clim = _climate(climate_zone)
    ok = valid_mask(valid, clim.shape) & (clim > 0)
    cf = tables.value("carbon_fraction", pool="herbaceous", category="default")
    agb = np.full(clim.shape, np.nan)
    bgb = np.full(clim.shape, np.nan)
    for code, key in BIOMASS_CLIMATE.items():
        m = ok & (clim == code)
        if not np.any(m):
            continue
        a = tables.value("grassland_biomass", climate=key, quantity="agb")
        tot = tables.value("grassland_biomass", climate=key, quantity="total")
        agb[m] = a * cf
        bgb[m] = (tot - a) * cf
    return GrasslandBiomass(agb_t_c_per_ha=agb, bgb_t_c_per_ha=bgb)


def soil_organic_carbon_t_c_per_ha(
    climate_zone: ArrayLike,
    *,
    tables: FactorTables,
    soil_type: ArrayLike | None = None,
    management: ArrayLike | None = None,
    input_level: ArrayLike | None = None,
    valid: ArrayLike | None = None,
) -> FloatArray:
    """Grassland mineral-soil organic carbon stock, t C/ha (0–30 cm): SOC_ref × F_LU × F_MG × F_I.

    Args:
        climate_zone: IPCC climate codes (1–12; 0 = nodata).
        tables: factor tables (``soc_ref``, ``soc_f_lu``, ``soc_f_mg``, ``soc_f_i``).
        soil_type: optional soil codes (see module docstring); default HAC everywhere.
        management: optional management codes 1–4; default 1 (nominal, F_MG = 1).
        input_level: optional input codes 1–2 (applied on improved grassland only); default 1 (medium).
        valid: optional boolean mask; False gives NaN.

    Raises:
        ValueError: unknown codes in an optional layer.
        FactorTableError: a present climate × soil (or × management) combination has no factor; the message lists
            all of them.
    """
    clim = _climate(climate_zone)
    shape = clim.shape
    soil = _optional_codes(soil_type, shape, "soil_type", SOIL_TYPE_NAMES, default=1)
    mg = _optional_codes(management, shape, "management", MANAGEMENT_NAMES, default=1)
    inp = _optional_codes(input_level, shape, "input_level", INPUT_LEVEL_NAMES, default=1)
    shape = np.broadcast_shapes(shape, soil.shape, mg.shape, inp.shape)
    clim, soil, mg, inp = (np.broadcast_to(x, shape) for x in (clim, soil, mg, inp))
    ok = valid_mask(valid, shape) & (clim > 0)
    out = np.full(shape, np.nan)
    missing: list[str] = []
    # one int64 key per pixel (every code < 16) makes the search for present combinations a 1-D unique
    key = ((clim * 16 + soil) * 16 + mg) * 16 + inp
    for k in np.unique(key[ok]).tolist():
        c, s, g, i = k // 4096, (k // 256) % 16, (k // 16) % 16, k % 16
        ckey, skey = SOC_CLIMATE[c], SOIL_TYPE_NAMES[s]
        group = F_MG_CLIMATE_GROUP[c]
        level = INPUT_LEVEL_NAMES[i] if g == _IMPROVED else "medium"
        lookups = (
            ("soc_ref", {"climate": ckey, "soil_type": skey}),
            ("soc_f_lu", {"level": "grassland", "climate_group": group}),
            ("soc_f_mg", {"level": MANAGEMENT_NAMES[g], "climate_group": group}),
            ("soc_f_i", {"level": level, "climate_group": group}),
        )
        value = 1.0
        absent = [f"{tid} {keys}" for tid, keys in lookups if not tables.has(tid, **keys)]
        if absent:
            missing.extend(absent)
            continue
        for tid, keys in lookups:
            value *= tables.value(tid, **keys)
        out[ok & (key == k)] = value
    if missing:
        raise FactorTableError(
            "no soil carbon factor for the following present combinations (add rows in a user factor table): "
            + "; ".join(sorted(set(missing)))
        )
    return out


def soc_change_t_c_per_ha_yr(
    soc_before_t_c_per_ha: ArrayLike,
    soc_now_t_c_per_ha: ArrayLike,
    years_since_change: ArrayLike,
    *,
    transition_years: float = DEFAULT_TRANSITION_YEARS,
) -> FloatArray:
    """Annual SOC change under the IPCC linear transition, t C/ha/yr (positive = sink, i.e. SOC gain).

    ``(SOC_now − SOC_before) / D`` while ``0 <= years_since_change < D`` (the D years following the change, year 0
    being the first), else 0. NaN in any input gives NaN.

    Args:
        soc_before_t_c_per_ha: equilibrium SOC stock before the change, t C/ha.
        soc_now_t_c_per_ha: equilibrium SOC stock under the new land use/management, t C/ha.
        years_since_change: whole or fractional years elapsed since the change (>= 0).
        transition_years: D, years (> 0); IPCC default 20.
    """
    if not transition_years > 0:
        raise ValueError(f"transition_years must be > 0, got {transition_years}")
    before = as_float(soc_before_t_c_per_ha, "soc_before_t_c_per_ha")
    now = as_float(soc_now_t_c_per_ha, "soc_now_t_c_per_ha")
    years = as_float(years_since_change, "years_since_change")
    if np.any(years[np.isfinite(years)] < 0):
        raise ValueError("years_since_change must be >= 0")
    rate = (now - before) / transition_years
    within = (years >= 0) & (years < transition_years)
    out = np.where(within, rate, 0.0)
    return np.where(np.isnan(before) | np.isnan(now) | np.isnan(years), np.nan, out)


def _climate(climate_zone: ArrayLike) -> np.ndarray:
    clim = as_codes(climate_zone, "climate_zone")
    clim = np.where(clim < 0, 0, clim)
    require_codes(clim, tuple(IPCC_CLIMATE_NAMES), "climate_zone")
    return clim


def _optional_codes(
    codes: ArrayLike | None,
    shape: tuple[int, ...],
    name: str,
    names: Mapping[int, str],
    *,
    default: int,
) -> np.ndarray:
    if codes is None:
        return np.full(shape, default, dtype=np.int64)
    c = as_codes(codes, name)
    c = np.where(c <= 0, default, c)  # 0 or NaN: unknown -> the default class
    require_codes(c, tuple(names), name)
    return c
