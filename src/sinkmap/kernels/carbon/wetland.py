"""Wetland carbon per pixel: coastal blue carbon (mangrove, tidal marsh, seagrass) and inland marsh.

Codes of the ``wetland_type`` layer (DESIGN.md): 0 none, 1 inland marsh/swamp, 2 mangrove, 3 tidal/salt marsh,
4 seagrass.

- **Soil carbon accumulation** (:func:`wetland_soil_sink_t_c_per_ha_yr`): 2013 Wetlands Supplement Table 4.12 EF_RE,
  mangrove −1.62, tidal marsh −0.91, seagrass −0.43 t C/ha/yr in the IPCC sign convention (negative = removal).
  sinkmap reports sinks as **positive**, so the kernel returns +1.62, +0.91, +0.43. IPCC Tier 1 applies EF_RE only to
  rewetted, revegetated or created coastal wetlands (planted/seeded, canopy cover >= 10 %) and 0 to wetlands
  remaining wetlands; pass ``restored`` to follow that rule strictly, or leave it ``None`` to use the rates as the
  burial rate of every coastal wetland pixel (the usual "blue carbon" reading). Inland marsh uses the
  ``inland_soil_accumulation`` row, 0 by default: the Supplement gives no Tier-1 accumulation for undisturbed inland
  mineral-soil wetlands, so no unsupported sink is reported (a Tier-2 rate can be supplied in a user table).
- **Mangrove biomass** (:func:`mangrove_biomass_carbon`): AGB by climate (WS Table 4.3), BGB = AGB × R (WS Table 4.5,
  via GFW), dead wood and litter as ratios of AGB (GFW), carbon fraction 0.45 (WS Table 4.2, via GFW) for all pools.
  Mangrove climate per FAO zone: tropical rainforest/moist/mountain → tropical wet, tropical dry → tropical dry,
  every other zone → subtropical (China's mangroves, 18–27°N, are mostly subtropical).
- **Inland marsh soil stock** (:func:`inland_wetland_soc_t_c_per_ha`): the "wetland" soil column of SOC_ref
  (Table 2.3) by IPCC climate zone, t C/ha in 0–30 cm.
- **CH4** (optional, :func:`wetland_ch4_kg_per_ha_yr`): an *emission*, reported as a positive kg CH4/ha/yr;
  WS Table 4.14 for coastal wetlands (193.7 below 18 ppt salinity, 0 above) and WS Table 5.4 for inland wetland
  mineral soils (boreal 76, temperate 235, tropical 900). Convert with GWP100 27 (AR6) via ``ch4_co2e``. The main
  output of this module is carbon; CH4 is not netted against the soil sink.

**Nodata:** float64 outputs with NaN where the pixel is not the wetland class the quantity applies to, or ``valid``
is False.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike

from sinkmap.factors import FactorTables
from sinkmap.kernels.carbon._common import (
    CarbonPools,
    FloatArray,
    as_codes,
    as_float,
    require_codes,
    valid_mask,
)
from sinkmap.kernels.carbon.grassland import SOC_CLIMATE
from sinkmap.kernels.carbon.zones import FAO_ZONE_NAMES, IPCC_CLIMATE_NAMES

__all__ = [
    "MANGROVE_CLIMATE_BY_ECOZONE",
    "WETLAND_TYPE_NAMES",
    "MangroveCarbon",
    "ch4_co2e_t_per_ha_yr",
    "inland_wetland_soc_t_c_per_ha",
    "mangrove_biomass_carbon",
    "wetland_ch4_kg_per_ha_yr",
    "wetland_soil_sink_t_c_per_ha_yr",
]

WETLAND_TYPE_NAMES: Mapping[int, str] = MappingProxyType(
    {0: "none", 1: "inland_marsh", 2: "mangrove", 3: "tidal_marsh", 4: "seagrass"}
)
_INLAND, _MANGROVE, _TIDAL, _SEAGRASS = 1, 2, 3, 4
_COASTAL = (_MANGROVE, _TIDAL, _SEAGRASS)

MANGROVE_CLIMATE_BY_ECOZONE: Mapping[int, str] = MappingProxyType(
    {
        z: ("tropical_wet" if z in (1, 2, 4) else "tropical_dry" if z == 3 else "subtropical")
        for z in range(1, 14)
    }
)
"""Mangrove climate class (WS Ch. 4 tables) per FAO zone code."""


@dataclass(frozen=True)
class MangroveCarbon(CarbonPools):
    """Mangrove biomass carbon pools, t C/ha (float64, NaN off mangrove pixels)."""


def wetland_soil_sink_t_c_per_ha_yr(
    wetland_type: ArrayLike,
    *,
    tables: FactorTables,
    restored: ArrayLike | None = None,
    valid: ArrayLike | None = None,
) -> FloatArray:
    """Soil carbon accumulation, t C/ha/yr, **positive = sink** (removal from the atmosphere).

    Args:
        wetland_type: codes 0–4 (0 none → NaN).
        tables: factor tables (``coastal_soil_accumulation``, ``inland_soil_accumulation``).
        restored: optional boolean mask of rewetted/revegetated/created coastal wetlands; where given, coastal
            pixels outside it get 0 (IPCC Tier 1 for wetlands remaining wetlands). ``None``: rates apply to all.
        valid: optional boolean mask; False gives NaN.
    """
    wt = _wetland_codes(wetland_type)
    ok = valid_mask(valid, wt.shape) & (wt > 0)
    out = np.full(wt.shape, np.nan)
    names = {_MANGROVE: "mangrove", _TIDAL: "tidal_marsh", _SEAGRASS: "seagrass"}
    for code, name in names.items():
        m = ok & (wt == code)
        if np.any(m):
            # table is in the IPCC sign (negative = removal); sinkmap's sink is positive
            out[m] = -tables.value("coastal_soil_accumulation", wetland_class=name)
    m = ok & (wt == _INLAND)
    if np.any(m):
        out[m] = tables.value("inland_soil_accumulation", wetland_class="inland_marsh")
    if restored is not None:
        r = np.broadcast_to(np.asarray(restored, dtype=bool), wt.shape)
        coastal_not_restored = ok & np.isin(wt, _COASTAL) & ~r
        out = np.where(coastal_not_restored, 0.0, out)
    return out


def mangrove_biomass_carbon(
    wetland_type: ArrayLike,
    ecozone: ArrayLike,
    *,
    tables: FactorTables,
    valid: ArrayLike | None = None,
) -> MangroveCarbon:
    """Tier-1 mangrove biomass carbon pools on mangrove pixels (``wetland_type`` 2), t C/ha.

    Args:
        wetland_type: codes 0–4; only 2 (mangrove) is computed, the rest is NaN.
        ecozone: FAO zone codes (0 = nodata → NaN); selects the mangrove climate class.
        tables: factor tables (``mangrove_agb``, ``mangrove_root_shoot``, ``mangrove_deadwood_ratio``,
            ``mangrove_litter_ratio``, ``carbon_fraction`` pool ``mangrove``).
        valid: optional boolean mask.
    """
    wt = _wetland_codes(wetland_type)
    eco = as_codes(ecozone, "ecozone")
    shape = np.broadcast_shapes(wt.shape, eco.shape)
    wt, eco = np.broadcast_to(wt, shape), np.broadcast_to(eco, shape)
    require_codes(eco, (-1, *FAO_ZONE_NAMES), "ecozone")
    ok = valid_mask(valid, shape) & (wt == _MANGROVE) & (eco > 0)
    cf = tables.value("carbon_fraction", pool="mangrove", category="default")
    pools = {k: np.full(shape, np.nan) for k in ("agb", "bgb", "deadwood", "litter")}
    for code, clim in MANGROVE_CLIMATE_BY_ECOZONE.items():
        m = ok & (eco == code)
        if not np.any(m):
            continue
        agb = tables.value("mangrove_agb", wetland_class=clim)
        pools["agb"][m] = agb * cf
        pools["bgb"][m] = agb * tables.value("mangrove_root_shoot", wetland_class=clim) * cf
        pools["deadwood"][m] = (
            agb * tables.value("mangrove_deadwood_ratio", wetland_class=clim) * cf
        )
        pools["litter"][m] = agb * tables.value("mangrove_litter_ratio", wetland_class=clim) * cf
    return MangroveCarbon(
        agb_t_c_per_ha=pools["agb"],
        bgb_t_c_per_ha=pools["bgb"],
        deadwood_t_c_per_ha=pools["deadwood"],
        litter_t_c_per_ha=pools["litter"],
    )


def inland_wetland_soc_t_c_per_ha(
    wetland_type: ArrayLike,
    climate_zone: ArrayLike,
    *,
    tables: FactorTables,
    valid: ArrayLike | None = None,
) -> FloatArray:
    """Inland marsh soil organic carbon stock (0–30 cm), t C/ha: SOC_ref "wetland" soils by IPCC climate.

    Args:
        wetland_type: codes 0–4; only 1 (inland marsh/swamp) is computed, the rest is NaN.
        climate_zone: IPCC climate codes (0 = nodata → NaN; polar uses the boreal row).
        tables: factor tables (``soc_ref``).
        valid: optional boolean mask.
    """
    wt = _wetland_codes(wetland_type)
    clim = as_codes(climate_zone, "climate_zone")
    shape = np.broadcast_shapes(wt.shape, clim.shape)
    wt, clim = np.broadcast_to(wt, shape), np.broadcast_to(clim, shape)
    require_codes(clim, (-1, *IPCC_CLIMATE_NAMES), "climate_zone")
    ok = valid_mask(valid, shape) & (wt == _INLAND) & (clim > 0)
    out = np.full(shape, np.nan)
    for code, key in SOC_CLIMATE.items():
        m = ok & (clim == code)
        if np.any(m):
            out[m] = tables.value("soc_ref", climate=key, soil_type="wetland")
    return out


def wetland_ch4_kg_per_ha_yr(
    wetland_type: ArrayLike,
    climate_zone: ArrayLike,
    *,
    tables: FactorTables,
    salinity_ppt: ArrayLike | None = None,
    valid: ArrayLike | None = None,
) -> FloatArray:
    """Tier-1 CH4 **emission**, kg CH4/ha/yr (positive = emission; optional diagnostic).

    Args:
        wetland_type: codes 0–4 (0 → NaN).
        climate_zone: IPCC climate codes, used for inland marsh (tropical 1–4, temperate 5–8, boreal/polar 9–12).
        tables: factor tables (``coastal_ch4``, ``inland_ch4``).
        salinity_ppt: optional salinity, ppt, for coastal pixels; ``None`` (or NaN) is taken as >= 18 ppt
            (polyhaline/euhaline, CH4 = 0), an assumption to override with measured salinity for estuarine
            marshes.
        valid: optional boolean mask.
    """
    wt = _wetland_codes(wetland_type)
    clim = as_codes(climate_zone, "climate_zone")
    shape = np.broadcast_shapes(wt.shape, clim.shape)
    wt, clim = np.broadcast_to(wt, shape), np.broadcast_to(clim, shape)
    require_codes(clim, (-1, *IPCC_CLIMATE_NAMES), "climate_zone")
    ok = valid_mask(valid, shape) & (wt > 0)
    out = np.full(shape, np.nan)
    sal = (
        np.full(shape, np.inf)
        if salinity_ppt is None
        else np.nan_to_num(
            np.broadcast_to(as_float(salinity_ppt, "salinity_ppt"), shape), nan=np.inf
        )
    )
    coastal = ok & np.isin(wt, _COASTAL)
    if np.any(coastal):
        low = tables.value("coastal_ch4", wetland_class="salinity_lt18")
        high = tables.value("coastal_ch4", wetland_class="salinity_ge18")
        out[coastal] = np.where(sal[coastal] < 18.0, low, high)
    domain = {**dict.fromkeys((1, 2, 3, 4), "tropical"), **dict.fromkeys((5, 6, 7, 8), "temperate"),
              **dict.fromkeys((9, 10, 11, 12), "boreal")}  # fmt: skip
    for code, dom in domain.items():
        m = ok & (wt == _INLAND) & (clim == code)
        if np.any(m):
            out[m] = tables.value("inland_ch4", wetland_class=dom)
    return out


def ch4_co2e_t_per_ha_yr(ch4_kg_per_ha_yr: ArrayLike, *, tables: FactorTables) -> FloatArray:
    """CH4 (kg/ha/yr) to t CO₂e/ha/yr with the ``gwp`` table's CH4 GWP100 (27, AR6)."""
    return (
        as_float(ch4_kg_per_ha_yr, "ch4_kg_per_ha_yr")
        / 1000.0
        * tables.value("gwp", wetland_class="ch4")
    )


def _wetland_codes(wetland_type: ArrayLike) -> np.ndarray:
    wt = as_codes(wetland_type, "wetland_type")
    wt = np.where(wt < 0, 0, wt)
    require_codes(wt, tuple(WETLAND_TYPE_NAMES), "wetland_type")
    return wt
