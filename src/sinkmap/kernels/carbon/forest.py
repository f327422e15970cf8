"""Forest carbon stocks per pixel from growing stock volume: IPCC Tier 1 (2006 V4 Ch. 4) or China Tier 2.

Two factor sets (:data:`FACTOR_SETS`); both give biomass and carbon that never fall as growing stock rises.

**China Tier 2** (:func:`forest_carbon_stocks_china`, the default for Chinese pipelines): total stand biomass
B (t d.m./ha, above + below ground) = a·V + b per forest group (continuous biomass–volume relation of Fang et al.
2001, ``cn_biomass_volume``); sinkmap's forest types are mixes of groups by domain (``cn_forest_type_mix``, a table,
so a province can replace it); AGB = B / (1 + R) and BGB = B − AGB with one root ratio per group
(``cn_root_shoot``); carbon = biomass × the group's carbon fraction (``cn_carbon_fraction``). Within a stratum
(domain × forest type) the chain is linear in its factors: the stratum's carbon is Σ_g w_g CF_g (a_g ΣV + b_g ΣA).

**IPCC Tier 1** chain, per pixel (densities per hectare):

1. **AGB** (t d.m./ha) = V (m³/ha) × BCEF_S (t d.m./m³) — Table 4.5, chosen by BCEF domain (boreal, temperate,
   mediterranean, tropical; from the FAO ecological zone, :data:`BCEF_DOMAIN_BY_ECOZONE`), IPCC forest type (from
   sinkmap's ``forest_type`` code, :data:`BCEF_TYPES`) and growing-stock class. Classes are upper-inclusive
   intervals ``(lo, hi]`` (the first includes its lower bound), so 20 m³/ha falls in "0–20" and 20.1 in "20–40".
   Table 4.5 is a step function whose factor drops from class to class, so V × BCEF_S can fall as V rises (20 m³/ha
   of temperate hardwood gives 60 t, 20.1 gives 34 t); sinkmap holds AGB at the largest value reached in a lower
   class until the class's own product catches up (:func:`~sinkmap.kernels.carbon._common.class_floor`), which
   makes AGB monotone in V and leaves it unchanged wherever the table is monotone already. BGB is treated the same
   way over the AGB classes of Table 4.4.
   Alternative path: AGB = V × D (basic wood density, t d.m./m³) × BEF (dimensionless) when both are given.
2. **BGB** = AGB × R — Table 4.4 root-to-shoot ratio by ecozone group, broadleaf/conifer and AGB class
   (:data:`ROOT_SHOOT_GROUP_BY_ECOZONE`).
3. **Dead wood** and **litter** = AGB × f_dw, AGB × f_lt — CDM A/R Tool 12 fractions as used by GFW (FACTORS A5),
   by domain (tropical and subtropical zones use the "tropical" rows, keyed by elevation and precipitation; all
   others the boreal/temperate row).
4. **Carbon** = biomass × CF: 0.47 for AGB, BGB and dead wood and 0.37 for litter (the GFW choice, FACTORS A2); the
   species-group CFs of Table 4.3 ship in ``carbon_fraction.csv`` for sensitivity runs but are not the default,
   because sinkmap's forest-type map does not resolve species groups and 0.47 is the Table 4.3 default.
5. CO₂e = C × 44/12.

**From an above-ground biomass map** (:func:`forest_carbon_stocks_from_agb`; ESA CCI Biomass, GEDI, GFW AGB) the
chain starts at step 2: BGB by the factor set's root ratio, dead organic matter only when asked, the factor set's
carbon fraction. A carbon-density map (t C/ha of vegetation) needs no chain: the carbon step uses it directly.

Bamboo (``forest_type`` 6) has no growing stock: it gets the ``bamboo_biomass`` default AGB and R (unverified
developer estimates, see the table notes) and the same dead-wood/litter fractions.

Mixed forest (5) averages hardwood and conifer factors with equal weights; evergreen needleleaf (4) averages the two
conifer groups that dominate Chinese evergreen conifer stands (pines and Cunninghamia/spruce/fir as "other
conifers" or "firs & spruces"). These are sinkmap's methodological choices, stated in :data:`BCEF_TYPES`.

**Nodata:** outputs are float64 arrays with NaN where a pixel is not computed: ``valid`` is False, ``forest_type``
is not 1–6 (0/255 = not forest or nodata), ``ecozone`` is 0, or growing stock is NaN (except bamboo). Negative
growing stock raises ``ValueError`` (it usually means an unconverted nodata value such as −9999).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sinkmap.errors import FactorTableError
from sinkmap.factors import FactorTables
from sinkmap.kernels.carbon._common import (
    BoolArray,
    CarbonPools,
    FloatArray,
    as_codes,
    as_float,
    class_floor,
    class_table,
    classify,
    parse_class,
    require_codes,
    valid_mask,
)
from sinkmap.kernels.carbon.zones import FAO_ZONE_NAMES

__all__ = [
    "BCEF_DOMAIN_BY_ECOZONE",
    "BCEF_TYPES",
    "CHINA_TIER2_DOMAIN_BY_ECOZONE",
    "DEADWOOD_DOMAIN_BY_ECOZONE",
    "FACTOR_SETS",
    "FOREST_TYPE_NAMES",
    "ROOT_SHOOT_GROUP_BY_ECOZONE",
    "ROOT_SHOOT_TYPES",
    "ForestCarbon",
    "bcef_s_t_per_m3",
    "deadwood_litter_fractions",
    "forest_carbon_stocks",
    "forest_carbon_stocks_china",
    "forest_carbon_stocks_from_agb",
    "root_shoot_ratio",
]

FOREST_TYPE_NAMES: Mapping[int, str] = MappingProxyType(
    {
        1: "deciduous_broadleaf",
        2: "evergreen_broadleaf",
        3: "deciduous_needleleaf",
        4: "evergreen_needleleaf",
        5: "mixed",
        6: "bamboo",
    }
)
"""sinkmap ``forest_type`` layer codes (DESIGN.md)."""

_BAMBOO = 6
_FOREST_CODES = (1, 2, 3, 4, 5, 6)

FACTOR_SETS: Mapping[str, str] = MappingProxyType(
    {
        "china_tier2": "China Tier 2: B = a·V + b by forest group (Fang et al. 2001), group root ratios and carbon "
        "fractions (tables cn_biomass_volume, cn_forest_type_mix, cn_root_shoot, cn_carbon_fraction)",
        "ipcc_tier1": "IPCC Tier 1: AGB = V × BCEF_S (2006 V4 Table 4.5), BGB = AGB × R (Table 4.4), carbon fraction "
        "0.47, both made monotone in growing stock",
    }
)
"""The forest factor sets and how outputs name them."""

CHINA_TIER2_DOMAIN_BY_ECOZONE: Mapping[int, str] = MappingProxyType(
    {**{z: "tropical" for z in (1, 2, 3, 4)}, **{z: "south" for z in (5, 6, 7)},
     **{z: "north" for z in range(8, 15)}}
)  # fmt: skip
"""``cn_forest_type_mix`` domain per FAO zone code: tropical, subtropical ("south"), temperate/boreal/polar
("north")."""

BCEF_DOMAIN_BY_ECOZONE: Mapping[int, str] = MappingProxyType(
    {1: "tropical", 2: "tropical", 3: "tropical", 4: "tropical",
     5: "temperate", 6: "mediterranean", 7: "temperate",
     8: "temperate", 9: "temperate", 10: "temperate",
     11: "boreal", 12: "boreal", 13: "boreal"}
)  # fmt: skip
"""Table 4.5 column per FAO zone code. Subtropical humid/mountain forests use the temperate rows (China's
subtropics are warm-temperate by the IPCC climate scheme); subtropical dry uses the mediterranean/dry rows; polar
(should not hold forest) falls back to boreal."""

BCEF_TYPES: Mapping[str, Mapping[int, tuple[tuple[str, float], ...]]] = MappingProxyType(
    {
        "boreal": MappingProxyType({
            1: (("hardwoods", 1.0),), 2: (("hardwoods", 1.0),), 3: (("larch", 1.0),),
            4: (("pines", 0.5), ("firs_spruces", 0.5)),
            5: (("hardwoods", 0.5), ("pines", 0.25), ("firs_spruces", 0.25)),
        }),
        "temperate": MappingProxyType({
            1: (("hardwoods", 1.0),), 2: (("hardwoods", 1.0),), 3: (("other_conifers", 1.0),),
            4: (("pines", 0.5), ("other_conifers", 0.5)),
            5: (("hardwoods", 0.5), ("pines", 0.25), ("other_conifers", 0.25)),
        }),
        "mediterranean": MappingProxyType({
            1: (("hardwoods", 1.0),), 2: (("hardwoods", 1.0),), 3: (("conifers", 1.0),),
            4: (("conifers", 1.0),), 5: (("hardwoods", 0.5), ("conifers", 0.5)),
        }),
        "tropical": MappingProxyType({
            1: (("hardwoods", 1.0),), 2: (("hardwoods", 1.0),), 3: (("pines", 1.0),),
            4: (("pines", 1.0),), 5: (("hardwoods", 0.5), ("pines", 0.5)),
        }),
    }
)  # fmt: skip
"""IPCC Table 4.5 forest types (with weights) for sinkmap forest types 1–5, per BCEF domain. Temperate larch
(deciduous needleleaf) has no Table 4.5 row and uses "other conifers"."""

ROOT_SHOOT_GROUP_BY_ECOZONE: Mapping[int, str] = MappingProxyType(
    {1: "tropical_rainforest", 2: "tropical_moist_deciduous", 3: "tropical_dry", 4: "tropical_mountain",
     5: "temperate", 6: "subtropical_dry", 7: "temperate",
     8: "temperate", 9: "temperate", 10: "temperate",
     11: "boreal", 12: "boreal", 13: "boreal"}
)  # fmt: skip
"""Table 4.4 row group per FAO zone code (subtropical humid/mountain use the temperate rows, as for BCEF)."""

ROOT_SHOOT_TYPES: Mapping[int, tuple[tuple[str, float], ...]] = MappingProxyType(
    {
        1: (("broadleaf", 1.0),),
        2: (("broadleaf", 1.0),),
        3: (("conifer", 1.0),),
        4: (("conifer", 1.0),),
        5: (("broadleaf", 0.5), ("conifer", 0.5)),
    }
)
"""Table 4.4 forest group (weights) per sinkmap forest type; groups keyed "all" apply to every type."""

DEADWOOD_DOMAIN_BY_ECOZONE: Mapping[int, str] = MappingProxyType(
    {**{z: "tropical" for z in range(1, 8)}, **{z: "boreal_temperate" for z in range(8, 14)}}
)
"""Dead-wood/litter domain per FAO zone code: tropical and subtropical zones use the tropical rows."""


@dataclass(frozen=True)
class ForestCarbon(CarbonPools):
    """Forest biomass (t d.m./ha) and carbon pools (t C/ha) per pixel (float64 arrays, NaN where not computed)."""

    agb_t_dm_per_ha: FloatArray
    bgb_t_dm_per_ha: FloatArray


def bcef_s_t_per_m3(
    growing_stock_m3_per_ha: ArrayLike,
    forest_type: ArrayLike,
    ecozone: ArrayLike,
    *,
    tables: FactorTables,
    valid: ArrayLike | None = None,
) -> FloatArray:
    """BCEF_S (t AGB d.m. per m³ growing stock) per pixel, IPCC 2006 V4 Table 4.5.

    Args:
        growing_stock_m3_per_ha: growing stock volume, m³/ha (>= 0; NaN = nodata).
        forest_type: sinkmap forest type codes 1–5 (6 bamboo and anything else give NaN).
        ecozone: FAO zone codes from :func:`sinkmap.kernels.carbon.zones.fao_ecological_zone` (0 = nodata).
        tables: factor tables (``forest_bcef``).
        valid: optional boolean mask; False gives NaN.
    """
    vol, ft, eco, ok = _prepare(growing_stock_m3_per_ha, forest_type, ecozone, valid)
    return _bcef(vol, ft, eco, ok & (ft != _BAMBOO), tables)


def root_shoot_ratio(
    agb_t_dm_per_ha: ArrayLike,
    forest_type: ArrayLike,
    ecozone: ArrayLike,
    *,
    tables: FactorTables,
    valid: ArrayLike | None = None,
) -> FloatArray:
    """Root-to-shoot ratio R (t BGB d.m. per t AGB d.m.) per pixel, IPCC 2006 V4 Table 4.4.

    Args:
        agb_t_dm_per_ha: above-ground biomass, t d.m./ha (selects the AGB class; NaN = nodata).
        forest_type: sinkmap forest type codes 1–6 (6 uses the ``bamboo_biomass`` R).
        ecozone: FAO zone codes (0 = nodata).
        tables: factor tables (``forest_root_shoot``, ``bamboo_biomass``).
        valid: optional boolean mask; False gives NaN.
    """
    agb, ft, eco, ok = _prepare(
        agb_t_dm_per_ha, forest_type, ecozone, valid, volume_name="agb_t_dm_per_ha"
    )
    return _root_shoot(agb, ft, eco, ok, tables)


def deadwood_litter_fractions(
    ecozone: ArrayLike,
    *,
    tables: FactorTables,
    annual_precip_mm_per_yr: ArrayLike | None = None,
    elevation_m: ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Dead-wood and litter biomass as fractions of AGB (t d.m. per t AGB d.m.) per pixel (FACTORS A5).

    Tropical/subtropical pixels (FAO codes 1–7) need ``annual_precip_mm_per_yr`` (mm/yr); ``elevation_m`` (m)
    defaults to "<= 2000 m" when not given. Boreal/temperate pixels use one fraction pair. Code 0 gives NaN.

    Returns:
        ``(f_deadwood, f_litter)`` float64 arrays.
    """
    eco = as_codes(ecozone, "ecozone")
    require_codes(eco, (0, *FAO_ZONE_NAMES), "ecozone")
    shape = eco.shape
    precip = (
        None
        if annual_precip_mm_per_yr is None
        else as_float(annual_precip_mm_per_yr, "annual_precip_mm_per_yr")
    )
    elev = None if elevation_m is None else as_float(elevation_m, "elevation_m")
    if precip is not None:
        shape = np.broadcast_shapes(shape, precip.shape)
    if elev is not None:
        shape = np.broadcast_shapes(shape, elev.shape)
    eco = np.broadcast_to(eco, shape)
    return _deadwood_litter(eco, eco > 0, precip, elev, tables)


def forest_carbon_stocks(
    growing_stock_m3_per_ha: ArrayLike,
    forest_type: ArrayLike,
    ecozone: ArrayLike,
    *,
    tables: FactorTables,
    annual_precip_mm_per_yr: ArrayLike | None = None,
    elevation_m: ArrayLike | None = None,
    wood_density_t_per_m3: ArrayLike | None = None,
    bef: ArrayLike | None = None,
    valid: ArrayLike | None = None,
    dead_organic_matter: bool = True,
) -> ForestCarbon:
    """Forest carbon pools (t C/ha) per pixel from growing stock volume, IPCC Tier 1 (monotone in V).

    Args:
        growing_stock_m3_per_ha: growing stock volume over bark, m³/ha (>= 0; typical 0–600; NaN = nodata).
            Ignored for bamboo pixels.
        forest_type: sinkmap forest type codes (1 deciduous broadleaf, 2 evergreen broadleaf, 3 deciduous
            needleleaf, 4 evergreen needleleaf, 5 mixed, 6 bamboo); other codes are "not forest" (NaN out).
        ecozone: FAO ecological zone codes from :func:`sinkmap.kernels.carbon.zones.fao_ecological_zone` (0 = nodata).
        tables: factor tables (:func:`sinkmap.factors.load_factor_tables`).
        annual_precip_mm_per_yr: annual precipitation, mm/yr; required when tropical/subtropical pixels exist
            (dead wood and litter fractions).
        elevation_m: elevation, m (optional; without it, and where it is NaN, tropical pixels use the "<= 2000 m"
            fractions).
        wood_density_t_per_m3: basic wood density D, t d.m./m³ (alternative path; give together with ``bef``).
        bef: biomass expansion factor BEF_S, dimensionless (alternative path: AGB = V × D × BEF).
        valid: optional boolean mask (e.g. the forest mask); False gives NaN.
        dead_organic_matter: estimate dead wood and litter as fractions of AGB; ``False`` (IPCC Tier 1: dead
            organic matter carried as zero change) gives 0 for both pools where biomass is computed.

    Returns:
        :class:`ForestCarbon` of float64 arrays in the broadcast shape of the inputs.

    Raises:
        ValueError: negative growing stock, unknown ecozone codes, or only one of ``wood_density_t_per_m3``/``bef``.
        FactorTableError: a factor needed by a present pixel is missing from ``tables``.
    """
    vol, ft, eco, ok = _prepare(growing_stock_m3_per_ha, forest_type, ecozone, valid)
    shape = vol.shape
    bamboo = ok & (ft == _BAMBOO)
    stand = ok & (ft != _BAMBOO) & np.isfinite(vol)
    if (wood_density_t_per_m3 is None) != (bef is None):
        raise ValueError(
            "give both wood_density_t_per_m3 and bef (AGB = V x D x BEF), or neither (BCEF path)"
        )
    agb = np.full(shape, np.nan)
    if wood_density_t_per_m3 is not None and bef is not None:
        d = np.broadcast_to(as_float(wood_density_t_per_m3, "wood_density_t_per_m3"), shape)
        b = np.broadcast_to(as_float(bef, "bef"), shape)
        agb[stand] = vol[stand] * d[stand] * b[stand]
    else:
        agb = _agb_tier1(vol, ft, eco, stand, tables)
    if np.any(bamboo):
        agb[bamboo] = tables.value("bamboo_biomass", quantity="agb")
    computed = stand | bamboo
    bgb = _bgb_tier1(agb, ft, eco, computed, tables)
    if not dead_organic_matter:
        cf_wood = tables.value("carbon_fraction", pool="wood", category="default")
        nan = ~computed
        agb = np.where(nan, np.nan, agb)
        bgb = np.where(nan, np.nan, bgb)
        zero = np.where(nan, np.nan, 0.0)
        return ForestCarbon(
            agb_t_dm_per_ha=agb,
            bgb_t_dm_per_ha=bgb,
            agb_t_c_per_ha=agb * cf_wood,
            bgb_t_c_per_ha=bgb * cf_wood,
            deadwood_t_c_per_ha=zero,
            litter_t_c_per_ha=zero.copy(),
        )
    precip = (
        None
        if annual_precip_mm_per_yr is None
        else as_float(annual_precip_mm_per_yr, "annual_precip_mm_per_yr")
    )
    elev = None if elevation_m is None else as_float(elevation_m, "elevation_m")
    f_dw, f_lt = _deadwood_litter(eco, computed, precip, elev, tables)
    cf_wood = tables.value("carbon_fraction", pool="wood", category="default")
    cf_litter = tables.value("carbon_fraction", pool="litter", category="default")
    nan = ~computed
    agb = np.where(nan, np.nan, agb)
    bgb = np.where(nan, np.nan, bgb)
    return ForestCarbon(
        agb_t_dm_per_ha=agb,
        bgb_t_dm_per_ha=bgb,
        agb_t_c_per_ha=agb * cf_wood,
        bgb_t_c_per_ha=bgb * cf_wood,
        deadwood_t_c_per_ha=np.where(nan, np.nan, agb * f_dw * cf_wood),
        litter_t_c_per_ha=np.where(nan, np.nan, agb * f_lt * cf_litter),
    )


def forest_carbon_stocks_china(
    growing_stock_m3_per_ha: ArrayLike,
    forest_type: ArrayLike,
    ecozone: ArrayLike,
    *,
    tables: FactorTables,
    annual_precip_mm_per_yr: ArrayLike | None = None,
    elevation_m: ArrayLike | None = None,
    valid: ArrayLike | None = None,
    dead_organic_matter: bool = False,
) -> ForestCarbon:
    """Forest carbon pools (t C/ha) per pixel by the China Tier-2 factor set (see the module docstring).

    Total biomass B = a·V + b (t d.m./ha) for each forest group of the pixel's forest type and domain, weighted by
    ``cn_forest_type_mix``; AGB = B / (1 + R), BGB = B − AGB; carbon = biomass × CF, all per group. Bamboo (type 6)
    takes the ``bamboo_biomass`` AGB and R and the default carbon fraction.

    Args:
        growing_stock_m3_per_ha: growing stock volume, m³/ha (>= 0; NaN = nodata). Ignored for bamboo.
        forest_type: sinkmap forest type codes 1–6; other codes give NaN.
        ecozone: FAO zone codes (0 = nodata), mapped to domains by :data:`CHINA_TIER2_DOMAIN_BY_ECOZONE`.
        tables: factor tables with ``cn_biomass_volume``, ``cn_forest_type_mix``, ``cn_root_shoot``,
            ``cn_carbon_fraction``.
        annual_precip_mm_per_yr: only with ``dead_organic_matter`` (the tropical dead-wood fractions need it).
        elevation_m: only with ``dead_organic_matter``.
        valid: optional boolean mask; False gives NaN.
        dead_organic_matter: estimate dead wood and litter as the Tier-1 fractions of AGB (carbon fraction of the
            group for dead wood, the default litter fraction for litter); ``False`` (the default, IPCC Tier 1 zero
            change) gives 0 for both where biomass is computed.

    Raises:
        ValueError: negative growing stock or unknown ecozone codes.
        FactorTableError: a type/domain without mix rows, a group without a factor, or mix weights not summing to 1.
    """
    vol, ft, eco, ok = _prepare(growing_stock_m3_per_ha, forest_type, ecozone, valid)
    shape = vol.shape
    bamboo = ok & (ft == _BAMBOO)
    stand = ok & (ft != _BAMBOO) & np.isfinite(vol)
    agb = np.full(shape, np.nan)
    bgb = np.full(shape, np.nan)
    agb_c = np.full(shape, np.nan)
    bgb_c = np.full(shape, np.nan)
    for m, parts in _china_cells(eco, ft, stand, tables):
        v = vol[m]
        sums = [np.zeros(v.shape) for _ in range(4)]
        for group, weight in parts:
            b_total = tables.value("cn_biomass_volume", forest_group=group, coefficient="a") * v + tables.value(
                "cn_biomass_volume", forest_group=group, coefficient="b"
            )
            b_total = np.maximum(b_total, 0.0)
            r = tables.value("cn_root_shoot", forest_group=group)
            cf = tables.value("cn_carbon_fraction", forest_group=group)
            above = b_total / (1.0 + r)
            below = b_total - above
            for acc, term in zip(sums, (above, below, above * cf, below * cf), strict=True):
                acc += weight * term
        agb[m], bgb[m], agb_c[m], bgb_c[m] = sums
    cf_default = tables.value("carbon_fraction", pool="wood", category="default")
    if np.any(bamboo):
        agb[bamboo] = tables.value("bamboo_biomass", quantity="agb")
        bgb[bamboo] = agb[bamboo] * tables.value("bamboo_biomass", quantity="root_shoot")
        agb_c[bamboo] = agb[bamboo] * cf_default
        bgb_c[bamboo] = bgb[bamboo] * cf_default
    computed = stand | bamboo
    return _with_dead_organic_matter(
        agb, bgb, agb_c, bgb_c, computed, eco, annual_precip_mm_per_yr, elevation_m, dead_organic_matter, tables
    )


def forest_carbon_stocks_from_agb(
    agb_t_dm_per_ha: ArrayLike,
    forest_type: ArrayLike,
    ecozone: ArrayLike,
    *,
    tables: FactorTables,
    factor_set: str,
    annual_precip_mm_per_yr: ArrayLike | None = None,
    elevation_m: ArrayLike | None = None,
    valid: ArrayLike | None = None,
    dead_organic_matter: bool = False,
) -> ForestCarbon:
    """Forest carbon pools (t C/ha) per pixel from an above-ground biomass map: the chain starts at AGB.

    BGB = AGB × the factor set's root-to-shoot ratio; dead wood and litter (only with ``dead_organic_matter``) =
    AGB × the Tier-1 fractions; carbon = biomass × the factor set's carbon fraction:

    * ``ipcc_tier1``: R from Table 4.4 by ecozone group, broadleaf/conifer and AGB class, held flat where the
      table steps down (as :func:`forest_carbon_stocks` does), so BGB never falls as AGB rises; CF 0.47 for AGB,
      BGB and dead wood, 0.37 for litter.
    * ``china_tier2``: per forest group of the pixel's type and domain (``cn_forest_type_mix`` weights w_g),
      BGB = Σ w_g R_g × AGB and carbon = Σ w_g CF_g (1 + R_g) × AGB (``cn_root_shoot``, ``cn_carbon_fraction``):
      linear in AGB; the biomass–volume relation is not used.

    Bamboo (type 6) takes the map's AGB, the ``bamboo_biomass`` root ratio and the default carbon fraction.

    Args:
        agb_t_dm_per_ha: above-ground live biomass, t d.m./ha (>= 0; NaN = nodata, which gives NaN pools).
        forest_type: sinkmap forest type codes 1–6; other codes give NaN.
        ecozone: FAO zone codes (0 = nodata).
        tables: factor tables.
        factor_set: a key of :data:`FACTOR_SETS`.
        annual_precip_mm_per_yr: only with ``dead_organic_matter`` (the tropical dead-wood fractions need it).
        elevation_m: only with ``dead_organic_matter``.
        valid: optional boolean mask; False gives NaN.
        dead_organic_matter: estimate dead wood and litter; ``False`` gives 0 for both where biomass is computed.

    Raises:
        ValueError: negative AGB, unknown ecozone codes or an unknown factor set.
        FactorTableError: a factor needed by a present pixel is missing from ``tables``.
    """
    if factor_set not in FACTOR_SETS:
        raise ValueError(f"factor_set {factor_set!r} is not one of {', '.join(FACTOR_SETS)}")
    agb_in, ft, eco, ok = _prepare(agb_t_dm_per_ha, forest_type, ecozone, valid, volume_name="agb_t_dm_per_ha")
    shape = agb_in.shape
    computed = ok & np.isfinite(agb_in)
    bamboo = computed & (ft == _BAMBOO)
    agb = np.where(computed, agb_in, np.nan)
    cf_default = tables.value("carbon_fraction", pool="wood", category="default")
    if factor_set == "ipcc_tier1":
        bgb = _bgb_tier1(agb, ft, eco, computed, tables)
        agb_c, bgb_c = agb * cf_default, bgb * cf_default
    else:
        bgb = np.full(shape, np.nan)
        agb_c = np.full(shape, np.nan)
        bgb_c = np.full(shape, np.nan)
        for m, parts in _china_cells(eco, ft, computed & ~bamboo, tables):
            r_w = sum(w * tables.value("cn_root_shoot", forest_group=g) for g, w in parts)
            cf_w = sum(w * tables.value("cn_carbon_fraction", forest_group=g) for g, w in parts)
            cfr_w = sum(
                w * tables.value("cn_carbon_fraction", forest_group=g) * tables.value("cn_root_shoot", forest_group=g)
                for g, w in parts
            )
            a = agb[m]
            bgb[m], agb_c[m], bgb_c[m] = a * r_w, a * cf_w, a * cfr_w
        if np.any(bamboo):
            bgb[bamboo] = agb[bamboo] * tables.value("bamboo_biomass", quantity="root_shoot")
            agb_c[bamboo] = agb[bamboo] * cf_default
            bgb_c[bamboo] = bgb[bamboo] * cf_default
    nan = ~computed
    bgb, agb_c, bgb_c = (np.where(nan, np.nan, x) for x in (bgb, agb_c, bgb_c))
    return _with_dead_organic_matter(
        agb, bgb, agb_c, bgb_c, computed, eco, annual_precip_mm_per_yr, elevation_m, dead_organic_matter, tables
    )


def _with_dead_organic_matter(
    agb: FloatArray,
    bgb: FloatArray,
    agb_c: FloatArray,
    bgb_c: FloatArray,
    computed: BoolArray,
    eco: np.ndarray,
    annual_precip_mm_per_yr: ArrayLike | None,
    elevation_m: ArrayLike | None,
    dead_organic_matter: bool,
    tables: FactorTables,
) -> ForestCarbon:
    """The live pools with dead wood and litter added (fractions of AGB at the live wood's carbon fraction), or
    carried as 0 where biomass is computed when ``dead_organic_matter`` is off; NaN where nothing is computed.
    Shared by the China Tier-2 chain from growing stock and the chain from AGB."""
    nan = ~computed
    if dead_organic_matter:
        precip = None if annual_precip_mm_per_yr is None else as_float(annual_precip_mm_per_yr, "annual_precip_mm_per_yr")
        elev = None if elevation_m is None else as_float(elevation_m, "elevation_m")
        f_dw, f_lt = _deadwood_litter(eco, computed, precip, elev, tables)
        cf_default = tables.value("carbon_fraction", pool="wood", category="default")
        cf_wood = np.where(agb > 0, agb_c / np.where(agb > 0, agb, 1.0), cf_default)
        cf_litter = tables.value("carbon_fraction", pool="litter", category="default")
        deadwood = np.where(nan, np.nan, agb * f_dw * cf_wood)
        litter = np.where(nan, np.nan, agb * f_lt * cf_litter)
    else:
        deadwood = np.where(nan, np.nan, 0.0)
        litter = deadwood.copy()
    return ForestCarbon(
        agb_t_dm_per_ha=agb,
        bgb_t_dm_per_ha=bgb,
        agb_t_c_per_ha=agb_c,
        bgb_t_c_per_ha=bgb_c,
        deadwood_t_c_per_ha=deadwood,
        litter_t_c_per_ha=litter,
    )


def _china_cells(
    eco: np.ndarray, ft: np.ndarray, sel: BoolArray, tables: FactorTables
) -> Iterator[tuple[BoolArray, list[tuple[str, float]]]]:
    """The China Tier-2 lookup shared by the chain from growing stock and the chain from AGB: for each (domain,
    forest type 1–5) cell of ``sel`` with pixels, its pixels and its (forest group, weight) mix."""
    domain_names = ("tropical", "south", "north")
    domain_of = _domain_index(eco, CHINA_TIER2_DOMAIN_BY_ECOZONE, domain_names)
    mix = _china_mix(tables)
    for d, domain in enumerate(domain_names):
        in_dom = sel & (domain_of == d)
        if not np.any(in_dom):
            continue
        for code in (1, 2, 3, 4, 5):
            m = in_dom & (ft == code)
            if not np.any(m):
                continue
            parts = mix.get((code, domain))
            if not parts:
                raise FactorTableError(
                    f"factor table 'cn_forest_type_mix' has no rows for forest_type {code} in domain {domain!r}"
                )
            yield m, parts


def _china_mix(tables: FactorTables) -> dict[tuple[int, str], list[tuple[str, float]]]:
    mix: dict[tuple[int, str], list[tuple[str, float]]] = {}
    for row in tables.rows("cn_forest_type_mix"):
        if row.property != "def":
            continue
        key = (int(row.key("forest_type")), row.key("domain"))
        mix.setdefault(key, []).append((row.key("forest_group"), row.value))
    for (code, domain), parts in mix.items():
        total = sum(w for _, w in parts)
        if abs(total - 1.0) > 1e-6 or any(w < 0 for _, w in parts):
            raise FactorTableError(
                f"factor table 'cn_forest_type_mix': weights of forest_type {code} in domain {domain!r} sum to "
                f"{total:g} (or are negative); they must be >= 0 and sum to 1"
            )
    return mix


# ---------------------------------------------------------------------- private
def _prepare(
    volume: ArrayLike,
    forest_type: ArrayLike,
    ecozone: ArrayLike,
    valid: ArrayLike | None,
    *,
    volume_name: str = "growing_stock_m3_per_ha",
) -> tuple[FloatArray, np.ndarray, np.ndarray, BoolArray]:
    vol = as_float(volume, volume_name)
    ft = as_codes(forest_type, "forest_type")
    eco = as_codes(ecozone, "ecozone")
    shape = np.broadcast_shapes(vol.shape, ft.shape, eco.shape)
    vol = np.broadcast_to(vol, shape)
    ft, eco = np.broadcast_to(ft, shape), np.broadcast_to(eco, shape)
    require_codes(eco, (-1, 0, *[z for z in FAO_ZONE_NAMES if z > 0]), "ecozone")
    ok = valid_mask(valid, shape) & np.isin(ft, _FOREST_CODES) & (eco > 0)
    finite = ok & np.isfinite(vol)
    if np.any(vol[finite] < 0):
        raise ValueError(
            f"{volume_name} has negative values (min {float(vol[finite].min())}); "
            "convert nodata values to NaN before calling the kernel"
        )
    return vol, ft, eco, ok


def _bcef_cells(
    vol: FloatArray, ft: np.ndarray, eco: np.ndarray, sel: BoolArray, tables: FactorTables
) -> Iterator[tuple[BoolArray, FloatArray, list[tuple[float, FloatArray, FloatArray]]]]:
    """The Table 4.5 lookup shared by :func:`_bcef` and :func:`_agb_tier1`: for each (domain, forest type) cell,
    its pixels, their volumes, and the (weight, class upper bounds, BCEF_S values) of its IPCC type mix."""
    sel = sel & np.isfinite(vol)
    domain_of = _domain_index(eco, BCEF_DOMAIN_BY_ECOZONE, tuple(BCEF_TYPES))
    for d, (dom, types) in enumerate(BCEF_TYPES.items()):
        in_dom = sel & (domain_of == d)
        if not np.any(in_dom):
            continue
        for code, mix in types.items():
            m = in_dom & (ft == code)
            if not np.any(m):
                continue
            rows = []
            for ipcc_type, weight in mix:
                _, uppers, values = class_table(
                    tables, "forest_bcef", "gs_class", zone=dom, forest_type=ipcc_type, factor="S"
                )
                rows.append((weight, uppers, values))
            yield m, vol[m], rows


def _bcef(
    vol: FloatArray, ft: np.ndarray, eco: np.ndarray, sel: BoolArray, tables: FactorTables
) -> FloatArray:
    out = np.full(vol.shape, np.nan)
    for m, v, rows in _bcef_cells(vol, ft, eco, sel, tables):
        out[m] = sum(weight * values[classify(v, uppers)] for weight, uppers, values in rows)
    return out


def _agb_tier1(
    vol: FloatArray, ft: np.ndarray, eco: np.ndarray, sel: BoolArray, tables: FactorTables
) -> FloatArray:
    """AGB = V × BCEF_S, held at the largest value of a lower class where the factor steps down (monotone in V)."""
    out = np.full(vol.shape, np.nan)
    for m, v, rows in _bcef_cells(vol, ft, eco, sel, tables):
        acc = np.zeros(v.shape)
        for weight, uppers, values in rows:
            k = classify(v, uppers)
            acc += weight * np.maximum(v * values[k], class_floor(uppers, values)[k])
        out[m] = acc
    return out


def _root_shoot_cells(
    agb: FloatArray, ft: np.ndarray, eco: np.ndarray, sel: BoolArray, tables: FactorTables
) -> Iterator[tuple[BoolArray, FloatArray, list[tuple[float, FloatArray, FloatArray]]]]:
    """The Table 4.4 lookup shared by :func:`_root_shoot` and :func:`_bgb_tier1`: for each (ecozone group, forest
    type) cell other than bamboo, its pixels, their AGB, and the (weight, AGB class upper bounds, R values) of its
    forest-group mix."""
    sel = sel & np.isfinite(agb)
    group_keys = {row.key("ecozone_group") for row in tables.rows("forest_root_shoot")}
    for code, group in ROOT_SHOOT_GROUP_BY_ECOZONE.items():
        in_zone = sel & (eco == code) & (ft != _BAMBOO)
        if not np.any(in_zone):
            continue
        if group not in group_keys:
            raise FactorTableError(
                f"factor table 'forest_root_shoot' has no rows for ecozone_group {group!r} "
                f"(FAO zone {FAO_ZONE_NAMES[code]})"
            )
        for ftype, mix in ROOT_SHOOT_TYPES.items():
            m = in_zone & (ft == ftype)
            if not np.any(m):
                continue
            rows = [(weight, *_r_table(tables, group, fgroup)) for fgroup, weight in mix]
            yield m, agb[m], rows


def _bamboo_cells(agb: FloatArray, ft: np.ndarray, sel: BoolArray) -> BoolArray:
    return sel & np.isfinite(agb) & (ft == _BAMBOO)


def _bgb_tier1(
    agb: FloatArray, ft: np.ndarray, eco: np.ndarray, sel: BoolArray, tables: FactorTables
) -> FloatArray:
    """BGB = AGB × R (Table 4.4), held at the largest value of a lower AGB class where R steps down."""
    out = np.full(agb.shape, np.nan)
    bamboo = _bamboo_cells(agb, ft, sel)
    if np.any(bamboo):
        out[bamboo] = agb[bamboo] * tables.value("bamboo_biomass", quantity="root_shoot")
    for m, a, rows in _root_shoot_cells(agb, ft, eco, sel, tables):
        acc = np.zeros(a.shape)
        for weight, uppers, values in rows:
            k = classify(a, uppers)
            acc += weight * np.maximum(a * values[k], class_floor(uppers, values)[k])
        out[m] = acc
    return out


def _r_table(tables: FactorTables, group: str, fgroup: str) -> tuple[FloatArray, FloatArray]:
    groups = {
        row.key("forest_group")
        for row in tables.rows("forest_root_shoot")
        if row.key("ecozone_group") == group
    }
    use = fgroup if fgroup in groups else "all"
    _, uppers, values = class_table(
        tables, "forest_root_shoot", "agb_class", ecozone_group=group, forest_group=use
    )
    return uppers, values


def _root_shoot(
    agb: FloatArray, ft: np.ndarray, eco: np.ndarray, sel: BoolArray, tables: FactorTables
) -> FloatArray:
    out = np.full(agb.shape, np.nan)
    bamboo = _bamboo_cells(agb, ft, sel)
    if np.any(bamboo):
        out[bamboo] = tables.value("bamboo_biomass", quantity="root_shoot")
    for m, a, rows in _root_shoot_cells(agb, ft, eco, sel, tables):
        out[m] = sum(weight * values[classify(a, uppers)] for weight, uppers, values in rows)
    return out


def _deadwood_litter(
    eco: np.ndarray,
    sel: BoolArray,
    precip: FloatArray | None,
    elev: FloatArray | None,
    tables: FactorTables,
) -> tuple[FloatArray, FloatArray]:
    shape = eco.shape
    p = None if precip is None else np.maximum(np.broadcast_to(precip, shape), 0.0)
    e = (
        np.zeros(shape)
        if elev is None
        else np.maximum(np.nan_to_num(np.broadcast_to(elev, shape), nan=0.0), 0.0)
    )
    domain_names = tuple(sorted(set(DEADWOOD_DOMAIN_BY_ECOZONE.values())))
    domain_of = _domain_index(eco, DEADWOOD_DOMAIN_BY_ECOZONE, domain_names)
    results = []
    for pool in ("deadwood", "litter"):
        out = np.full(shape, np.nan)
        assigned = np.zeros(shape, dtype=bool)
        for row in tables.rows("deadwood_litter"):
            if row.property != "def" or row.key("pool") != pool:
                continue
            if row.key("domain") not in domain_names:
                continue
            m = sel & (domain_of == domain_names.index(row.key("domain")))
            if not np.any(m):
                continue
            elo, ehi = parse_class(row.key("elevation_class"), table_id="deadwood_litter")
            plo, phi = parse_class(row.key("precip_class"), table_id="deadwood_litter")
            m = m & _in_class(e, elo, ehi)
            if not (plo == 0.0 and np.isinf(phi)):
                if p is None:
                    if np.any(m):
                        raise ValueError(
                            "annual_precip_mm_per_yr is required for tropical/subtropical forest pixels "
                            "(dead wood and litter fractions depend on precipitation)"
                        )
                    continue
                m = m & _in_class(p, plo, phi)
            out[m] = row.value
            assigned |= m
        unassigned = sel & ~assigned
        if p is not None:
            unassigned &= ~((domain_of == domain_names.index("tropical")) & np.isnan(p))
        if np.any(unassigned):
            doms = sorted({domain_names[int(d)] for d in np.unique(domain_of[unassigned])})
            raise FactorTableError(
                f"factor table 'deadwood_litter' has no {pool} fraction covering some pixels of domain(s) {doms}"
            )
        results.append(out)
    return results[0], results[1]


def _domain_index(
    eco: np.ndarray, mapping: Mapping[int, str], names: tuple[str, ...]
) -> NDArray[np.int8]:
    """Index into ``names`` of each pixel's domain (-1 where the zone code has none), via a lookup table."""
    lut = np.full(max(mapping) + 2, -1, dtype=np.int8)
    for code, dom in mapping.items():
        lut[code] = names.index(dom)
    idx = np.where((eco >= 0) & (eco <= max(mapping)), eco, max(mapping) + 1)
    return lut[idx]


def _in_class(v: FloatArray, lo: float, hi: float) -> BoolArray:
    inside = (v > lo) & (v <= hi)
    if lo <= 0.0:
        inside |= v == lo
    return inside
