"""The statistics registry: every published regional quantity, derived from the engine's accumulated sums.

The engine accumulates *statistics* (:class:`~sinkmap.engine.step.StatSpec`): coverage-weighted totals per region
in SI units (m², m³, t C, t C/yr). A :class:`Quantity` says how one published column comes from them:

* ``total``: ``scale × Σ statistics`` (km² from m², t CO₂e from t C). Totals roll up by summing.
* ``density``: ``scale × Σ numerator / denominator`` (coverage %, m³/ha, t C/ha). A density is never summed: a
  parent region's density is recomputed from its summed numerator and denominator.
* ``change``: a per-epoch quantity's last minus first epoch.
* ``label``: a fixed text that says which method produced a number.

Output columns, their units and labels (tables, GeoJSON, the xarray API, the report) all come from
:data:`QUANTITIES`; nothing downstream parses column names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sinkmap.kernels.carbon import C_TO_CO2
from sinkmap.kernels.carbon.invest import POOL_COLUMNS

__all__ = ["LABELS_ZH", "OBSERVED_SHARES", "OFFICIAL_LAND_AREA", "QUANTITIES", "REGION_AREA", "Quantity", "column_metadata", "column_name", "derive"]

REGION_AREA = ("region_area_m2", None)
"""The pseudo-statistic holding each region's geodesic area (m²), for densities over the whole region."""
OFFICIAL_LAND_AREA = ("official_land_area_m2", None)
"""The pseudo-statistic holding each region's official land area (m²) from its region file, when one is given."""

StatKey = tuple[str, int | None]


@dataclass(frozen=True)
class Quantity:
    """One published regional quantity (see the module docstring).

    Attributes:
        name: column name without its epoch suffix, unit included (``forest_area_km2``).
        unit: the column's unit.
        kind: ``total``, ``density``, ``change`` or ``label``.
        per_epoch: one column per epoch (``name_2020``); static quantities have one column.
        label: words for tables and charts.
        sums: the statistics added up (the numerator of a density).
        per: a density's denominator statistic.
        sums_at_last: the statistics are taken at the last epoch (a static share of a per-epoch area).
        per_at: the denominator's epoch: ``same`` as the column, the ``last`` epoch, or ``static``.
        scale: the factor applied (unit conversion).
        any_of: for totals over optional parts (the total sink): add those present, need at least one.
        of: a change's per-epoch quantity.
        span: the column is named ``name_FIRST_LAST`` (changes between the first and last epoch).
        text: a label's value (``{first}`` and ``{last}`` are replaced by the epochs).
        epochs: ``multi`` / ``single``: present only with several epochs / one epoch.
        unless: statistics whose presence (static, or at the last epoch) leaves the quantity out (a label saying
            why a number is not estimated).
        requires: statistics that must be present (static, or at the last epoch) for the quantity to appear.
    """

    name: str
    unit: str
    kind: Literal["total", "density", "change", "label"]
    per_epoch: bool
    label: str
    sums: tuple[str, ...] = ()
    per: str | None = None
    sums_at_last: bool = False
    per_at: Literal["same", "last", "static"] = "same"
    scale: float = 1.0
    any_of: bool = False
    of: str | None = None
    span: bool = False
    text: str = ""
    epochs: Literal["any", "multi", "single"] = "any"
    unless: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


def _t(name: str, unit: str, label: str, sums: Sequence[str], *, per_epoch: bool, scale: float = 1.0, **kw: object) -> Quantity:
    return Quantity(name, unit, "total", per_epoch, label, tuple(sums), scale=scale, **kw)  # type: ignore[arg-type]


def _d(name: str, unit: str, label: str, sums: Sequence[str], per: str, *, per_epoch: bool, scale: float, **kw: object) -> Quantity:
    return Quantity(name, unit, "density", per_epoch, label, tuple(sums), per=per, scale=scale, **kw)  # type: ignore[arg-type]


_POOLS = ("agb", "bgb", "deadwood", "litter")
_SINKS = (
    ("forest", "forest_sink_t_c_per_yr", "forest sink (net stock difference; one epoch: see forest_sink_method)"),
    ("grassland", "grassland_soc_change_t_c_per_yr", "grassland SOC sink from management (20-yr transition)"),
    ("wetland", "wetland_soil_sink_t_c_per_yr", "wetland soil sink of restored coastal wetlands (Table 4.12)"),
    ("karst", "karst_sink_t_c_per_yr", "karst potential sink counted in the total (carbon.karst_potential_in_total)"),
)

QUANTITIES: tuple[Quantity, ...] = (
    # forest coverage and stock, per epoch
    _t("land_area_km2", "km2", "mapped land area", ["land_area_m2"], per_epoch=True, scale=1e-6),
    _t("forest_area_km2", "km2", "forest area", ["forest_area_m2"], per_epoch=True, scale=1e-6),
    _t("tree_stand_area_km2", "km2", "tree-stand forest area", ["tree_stand_area_m2"], per_epoch=True, scale=1e-6),
    _t("bamboo_area_km2", "km2", "bamboo forest area", ["bamboo_area_m2"], per_epoch=True, scale=1e-6),
    _t("special_shrub_area_km2", "km2", "special shrubland area", ["special_shrub_area_m2"], per_epoch=True, scale=1e-6),
    # one coverage column; its denominator is the basis the forest definition names (the step emits one of these)
    _d(
        "coverage_pct", "%", "forest coverage (forest area / region's full land area)", ["forest_area_m2"],
        "coverage_basis_region_area_m2", per_epoch=True, scale=100.0,
    ),
    _d(
        "coverage_pct", "%", "forest coverage (forest area / mapped land area)", ["forest_area_m2"],
        "coverage_basis_mapped_land_m2", per_epoch=True, scale=100.0,
    ),
    _d(
        "coverage_pct", "%", "forest coverage (forest area / official land area)", ["forest_area_m2"],
        OFFICIAL_LAND_AREA[0], per_epoch=True, scale=100.0, per_at="static",
        requires=("coverage_basis_official_land_area_m2",),
    ),
    Quantity("coverage_basis", "", "label", False, "coverage denominator", ("coverage_basis_official_land_area_m2",),
             text="official land area (土地总面积, region file)", sums_at_last=True, requires=(OFFICIAL_LAND_AREA[0],)),
    Quantity("coverage_basis", "", "label", False, "coverage denominator", ("coverage_basis_region_area_m2",),
             text="region area (土地总面积)", sums_at_last=True),
    Quantity("coverage_basis", "", "label", False, "coverage denominator", ("coverage_basis_mapped_land_m2",),
             text="mapped land", sums_at_last=True),
    _t("stock_volume_m3", "m3", "growing stock volume of tree stands (森林蓄积)", ["stock_volume_m3"], per_epoch=True),
    _d(
        "stock_density_m3_per_ha", "m3/ha", "growing stock per tree-stand area (乔木林单位面积蓄积)", ["stock_volume_m3"],
        "tree_stand_area_m2", per_epoch=True, scale=1e4,
    ),
    _d(
        "observed_area_pct", "%", "share of the region's area with mapped land", ["land_area_m2"], REGION_AREA[0],
        per_epoch=False, scale=100.0, sums_at_last=True, per_at="static",
    ),
    # carbon stocks, per epoch
    *(
        _t(f"forest_{p}_t_c", "t C", f"forest {label} carbon (estimated stock)", [f"forest_{p}_t_c"], per_epoch=True)
        for p, label in (("agb", "above-ground biomass"), ("bgb", "below-ground biomass"), ("deadwood", "dead wood"),
                         ("litter", "litter"))
    ),
    _t(
        "forest_biomass_t_dm", "t d.m.", "forest vegetation biomass, AGB + BGB (estimated stock, dry matter)",
        ["forest_biomass_t_dm"], per_epoch=True,
    ),
    _t("forest_vegetation_carbon_t_c", "t C", "forest vegetation carbon, AGB + BGB (estimated stock)", ["forest_agb_t_c", "forest_bgb_t_c"], per_epoch=True),
    _t(
        "forest_vegetation_carbon_t_c", "t C", "forest vegetation carbon, AGB + BGB (from the carbon_density layer)",
        ["forest_vegetation_t_c"], per_epoch=True,
    ),
    _t(
        "forest_carbon_t_c", "t C", "forest carbon, the pools named in forest_pools (estimated stock)",
        [*(f"forest_{p}_t_c" for p in _POOLS), "forest_vegetation_t_c"], per_epoch=True, any_of=True,
    ),
    _d(
        "forest_carbon_density_t_c_per_ha", "t C/ha",
        "forest carbon (forest_pools) per ha of forest with a carbon estimate (tree stands and bamboo)",
        [*(f"forest_{p}_t_c" for p in _POOLS), "forest_vegetation_t_c"], "forest_carbon_area_m2", per_epoch=True,
        scale=1e4, any_of=True,
    ),
    Quantity("forest_carbon_input", "", "label", False, "forest carbon starts from", ("forest_carbon_area_from_carbon_density_m2",),
             text="carbon_density layer (t C/ha of vegetation, used directly)", sums_at_last=True),
    Quantity("forest_carbon_input", "", "label", False, "forest carbon starts from", ("forest_carbon_area_from_agb_m2",),
             text="agb layer (t d.m./ha): BGB by the factor set's root ratio, then carbon fraction", sums_at_last=True),
    Quantity("forest_carbon_input", "", "label", False, "forest carbon starts from", ("forest_carbon_area_from_growing_stock_m2",),
             text="growing_stock layer (m³/ha): biomass from volume by the factor set", sums_at_last=True),
    Quantity("forest_carbon_input", "", "label", False, "forest carbon starts from", ("forest_carbon_area_from_none_m2",),
             text="no biomass layer: tree-stand carbon not estimated (bamboo from its default)", sums_at_last=True),
    Quantity("forest_pools", "", "label", False, "forest carbon pools estimated", ("forest_vegetation_t_c",),
             text="AGB + BGB as the carbon_density layer defines them (dead wood and litter not estimated)",
             sums_at_last=True),
    Quantity("forest_pools", "", "label", False, "forest carbon pools estimated", ("forest_deadwood_t_c",),
             text="AGB + BGB + dead wood + litter", sums_at_last=True),
    Quantity("forest_pools", "", "label", False, "forest carbon pools estimated", ("forest_agb_t_c",),
             text="AGB + BGB (dead wood and litter: IPCC Tier 1 zero change, not estimated)", sums_at_last=True,
             unless=("forest_deadwood_t_c",)),
    *(
        Quantity("forest_factor_set", "", "label", False, "forest biomass factor set", (f"forest_carbon_area_{key}_m2",),
                 text=text, sums_at_last=True)
        for key, text in (
            ("china_tier2", "China Tier 2 (B = a·V + b by forest group, Fang et al. 2001; factors partly unverified)"),
            ("ipcc_tier1", "IPCC Tier 1 (2006 V4 Tables 4.4, 4.5; monotone in growing stock)"),
        )
    ),
    # the share of area each carbon product is estimated on (a pixel whose required input is missing is not)
    _d(
        "carbon_observed_share_pct", "%",
        "share of the region's area with a carbon density estimate (mapped, with climate and, on forest, biomass)",
        ["carbon_observed_area_m2"], REGION_AREA[0], per_epoch=True, scale=100.0, per_at="static",
    ),
    _d(
        "forest_carbon_observed_share_pct", "%",
        "share of the forest that needs a carbon estimate (tree stands, bamboo) that has one (climate and biomass)",
        ["forest_carbon_area_m2"], "forest_carbon_basis_area_m2", per_epoch=True, scale=100.0,
    ),
    _d(
        "grassland_carbon_observed_share_pct", "%", "share of the grassland area with a carbon estimate (has climate)",
        ["grassland_carbon_area_m2"], "grassland_area_m2", per_epoch=True, scale=100.0,
    ),
    _d(
        "sink_observed_share_pct", "%",
        "share of the region's area with a sink estimate (carbon observed at the first and the last epoch)",
        ["carbon_sink_observed_area_m2"], REGION_AREA[0], per_epoch=False, scale=100.0, per_at="static",
    ),
    _t("grassland_area_km2", "km2", "grassland area", ["grassland_area_m2"], per_epoch=True, scale=1e-6),
    _t("grassland_biomass_t_c", "t C", "grassland biomass carbon (estimated stock)", ["grassland_biomass_t_c"], per_epoch=True),
    _t("grassland_soc_t_c", "t C", "grassland soil organic carbon 0–30 cm (estimated stock)", ["grassland_soc_t_c"], per_epoch=True),
    _t("grassland_carbon_t_c", "t C", "grassland carbon, biomass + SOC (estimated stock)", ["grassland_biomass_t_c", "grassland_soc_t_c"], per_epoch=True),
    # methods, static carbon quantities and sinks
    Quantity("forest_sink_method", "", "label", False, "forest sink method", ("forest_sink_t_c_per_yr",),
             text="net: stock difference {first}–{last}", epochs="multi"),
    Quantity("forest_sink_method", "", "label", False, "forest sink method", ("forest_sink_t_c_per_yr",),
             text="gross removals (IPCC 2019R Table 4.9 growth, one epoch) minus losses from loss_year where given",
             epochs="single"),
    Quantity("series_break", "", "label", False, "series break between the first and last epoch", ("series_break_area_m2",),
             text="yes: the epochs come from different monitoring bases; the change mixes method and growth"),
    _t(
        "forest_gain_ipcc_t_c_per_yr", "t C/yr", "forest gross removals, IPCC 2019R Table 4.9 growth (losses not subtracted)",
        ["forest_gain_ipcc_t_c_per_yr"], per_epoch=True,
    ),
    Quantity("grassland_sink_status", "", "label", False, "grassland sink", ("grassland_area_m2",),
             text="not estimated: no grassland management/degradation layer (Tier 1 SOC change needs it)",
             sums_at_last=True, unless=("grassland_soc_change_t_c_per_yr",)),
    *(
        _t(f"wetland_{w}_area_km2", "km2", f"{w.replace('_', ' ')} wetland area", [f"wetland_{w}_area_m2"], per_epoch=False, scale=1e-6)
        for w in ("inland", "mangrove", "salt_marsh", "seagrass")
    ),
    _t("mangrove_biomass_t_c", "t C", "mangrove biomass carbon (estimated stock)", ["mangrove_biomass_t_c"], per_epoch=False),
    Quantity("wetland_sink_status", "", "label", False, "wetland sink", ("wetland_inland_area_m2",),
             text="not estimated: no wetland_restoration layer (Table 4.12 rates apply to restored coastal wetlands only)",
             unless=("wetland_soil_sink_t_c_per_yr",)),
    _t(
        "wetland_ch4_t_co2e_per_yr", "t CO2e/yr", "wetland CH4 emission as CO2e (GWP100 27; emission, not netted in the sink)",
        ["wetland_ch4_t_co2e_per_yr"], per_epoch=False,
    ),
    _t(
        "wetland_net_ghg_t_co2e_per_yr", "t CO2e/yr", "wetland net GHG removal: soil CO2 removal minus CH4 emission (CO2e)",
        ["wetland_net_ghg_t_co2e_per_yr"], per_epoch=False,
    ),
    _t("karst_exposed_area_km2", "km2", "exposed carbonate area", ["karst_exposed_area_m2"], per_epoch=False, scale=1e-6),
    _t("karst_buried_area_km2", "km2", "buried carbonate area", ["karst_buried_area_m2"], per_epoch=False, scale=1e-6),
    _d(
        "karst_sink_density_t_c_per_km2_yr", "t C/km2/yr", "karst potential sink per km² of exposed carbonate (upper bound)",
        ["karst_potential_sink_t_c_per_yr"], "karst_exposed_area_m2", per_epoch=False, scale=1e6,
    ),
    Quantity("karst_area_basis", "", "label", False, "karst area basis", ("karst_potential_sink_t_c_per_yr",), text="exposed carbonate"),
    _t(
        "karst_potential_sink_t_c_per_yr", "t C/yr",
        "karst potential sink, maximum potential dissolution (upper bound; outside the total unless included)",
        ["karst_potential_sink_t_c_per_yr"], per_epoch=False,
    ),
    _t(
        "karst_potential_sink_t_co2e_per_yr", "t CO2e/yr",
        "karst potential sink as CO2 (C × 44/12; upper bound; outside the total unless included)",
        ["karst_potential_sink_t_c_per_yr"], per_epoch=False, scale=C_TO_CO2,
    ),
    *(
        q
        for part, stat, text in _SINKS
        for q in (
            _t(f"{part}_sink_t_c_per_yr", "t C/yr", f"{text}, t C", [stat], per_epoch=False),
            _t(f"{part}_sink_t_co2e_per_yr", "t CO2e/yr", f"{text}, as CO2 (C × 44/12, CO2 only)", [stat], per_epoch=False, scale=C_TO_CO2),
        )
    ),
    _t("total_sink_t_c_per_yr", "t C/yr", "total estimated sink (the sink columns present), t C", [s for _, s, _ in _SINKS], per_epoch=False, any_of=True),
    _t(
        "total_sink_t_co2e_per_yr", "t CO2e/yr", "total estimated sink as CO2 (C × 44/12, CO2 only)",
        [s for _, s, _ in _SINKS], per_epoch=False, any_of=True, scale=C_TO_CO2,
    ),
    _d(
        "total_sink_density_t_c_per_km2_yr", "t C/km2/yr", "total estimated sink per km² of mapped land", [s for _, s, _ in _SINKS],
        "land_area_m2", per_epoch=False, scale=1e6, any_of=True, per_at="last",
    ),
    # InVEST pools table storage
    *(_t(f"invest_{pool}_t_c", "t C", f"InVEST {pool}", [f"invest_{pool}_t_c"], per_epoch=True) for pool in POOL_COLUMNS),
    _t("invest_total_t_c", "t C", "InVEST total storage", [f"invest_{pool}_t_c" for pool in POOL_COLUMNS], per_epoch=True),
    _t("invest_valid_area_km2", "km2", "InVEST valid area", ["invest_valid_area_m2"], per_epoch=True, scale=1e-6),
    *(
        _t(f"invest_{pool}_change_t_c", "t C", f"InVEST change {pool}", [f"invest_{pool}_change_t_c"], per_epoch=True, span=True)
        for pool in POOL_COLUMNS
    ),
    _t(
        "invest_total_change_t_c", "t C", "InVEST change of total storage",
        [f"invest_{pool}_change_t_c" for pool in POOL_COLUMNS], per_epoch=True, span=True,
    ),
    # mapped area of each land-cover class (present when a reference sample is configured: the strata weights)
    *(
        _t(f"landcover_{name}_area_km2", "km2", f"mapped {name.replace('_', ' ')} area (land-cover map)",
           [f"landcover_{name}_area_m2"], per_epoch=True, scale=1e-6)
        for name in ("cropland", "forest", "shrub", "grassland", "water", "snow_ice", "barren", "impervious", "wetland")
    ),
    # changes between the first and last epoch
    Quantity("forest_area_change_km2", "km2", "change", True, "forest area change", of="forest_area_km2", span=True, epochs="multi"),
    Quantity("coverage_change_pct_points", "percentage points", "change", True, "coverage change", of="coverage_pct", span=True, epochs="multi"),
    Quantity("stock_volume_change_m3", "m3", "change", True, "stock volume change", of="stock_volume_m3", span=True, epochs="multi"),
)


LABELS_ZH: dict[str, str] = {
    # mapped land-cover class areas (CLCD level-1 classes)
    "landcover_cropland_area_km2": "土地覆盖图耕地面积",
    "landcover_forest_area_km2": "土地覆盖图林地面积",
    "landcover_shrub_area_km2": "土地覆盖图灌木林地面积",
    "landcover_grassland_area_km2": "土地覆盖图草地面积",
    "landcover_water_area_km2": "土地覆盖图水域面积",
    "landcover_snow_ice_area_km2": "土地覆盖图冰雪面积",
    "landcover_barren_area_km2": "土地覆盖图裸地面积",
    "landcover_impervious_area_km2": "土地覆盖图不透水面面积",
    "landcover_wetland_area_km2": "土地覆盖图湿地面积",
    "coverage_basis": "森林覆盖率计算基数",
    "forest_agb_t_c": "森林地上生物量碳储量",
    "forest_bgb_t_c": "森林地下生物量碳储量",
    "forest_deadwood_t_c": "森林枯死木碳储量",
    "forest_litter_t_c": "森林凋落物碳储量",
    "forest_biomass_t_dm": "森林植被生物量（干重）",
    "forest_vegetation_carbon_t_c": "森林植被碳储量",
    "forest_carbon_t_c": "森林碳储量",
    "forest_carbon_density_t_c_per_ha": "森林碳密度",
    "forest_carbon_input": "森林碳计算起点",
    "forest_pools": "森林碳库",
    "forest_factor_set": "森林生物量因子集",
    "carbon_observed_share_pct": "有碳密度估算的面积比例",
    "forest_carbon_observed_share_pct": "有碳估算的森林面积比例",
    "grassland_carbon_observed_share_pct": "有碳估算的草地面积比例",
    "sink_observed_share_pct": "有碳汇估算的面积比例",
    "grassland_area_km2": "草地面积",
    "grassland_biomass_t_c": "草地生物量碳储量",
    "grassland_soc_t_c": "草地土壤有机碳储量（0–30 cm）",
    "grassland_carbon_t_c": "草地碳储量",
    "forest_sink_method": "森林碳汇计算方法",
    "series_break": "首末时期数据口径不一致",
    "forest_gain_ipcc_t_c_per_yr": "森林总吸收量（IPCC 生长率）",
    "grassland_sink_status": "草地碳汇",
    "wetland_inland_area_km2": "内陆湿地面积",
    "wetland_mangrove_area_km2": "红树林面积",
    "wetland_salt_marsh_area_km2": "盐沼面积",
    "wetland_seagrass_area_km2": "海草床面积",
    "mangrove_biomass_t_c": "红树林生物量碳储量",
    "wetland_sink_status": "湿地碳汇",
    "wetland_ch4_t_co2e_per_yr": "湿地甲烷排放（CO₂e）",
    "wetland_net_ghg_t_co2e_per_yr": "湿地温室气体净清除量（CO₂e）",
    "karst_exposed_area_km2": "裸露碳酸盐岩面积",
    "karst_buried_area_km2": "埋藏碳酸盐岩面积",
    "karst_area_basis": "岩溶面积基数",
    "karst_potential_sink_t_c_per_yr": "岩溶潜在碳汇",
    "karst_potential_sink_t_co2e_per_yr": "岩溶潜在碳汇（CO₂）",
    "forest_sink_t_c_per_yr": "森林碳汇",
    "forest_sink_t_co2e_per_yr": "森林碳汇（CO₂）",
    "grassland_sink_t_c_per_yr": "草地碳汇",
    "grassland_sink_t_co2e_per_yr": "草地碳汇（CO₂）",
    "wetland_sink_t_c_per_yr": "湿地碳汇",
    "wetland_sink_t_co2e_per_yr": "湿地碳汇（CO₂）",
    "karst_sink_t_c_per_yr": "岩溶碳汇",
    "karst_sink_t_co2e_per_yr": "岩溶碳汇（CO₂）",
    "total_sink_t_c_per_yr": "碳汇总量",
    "total_sink_t_co2e_per_yr": "碳汇总量（CO₂）",
    **{f"invest_{pool}_t_c": f"InVEST 碳储量 {pool}" for pool in POOL_COLUMNS},
    "invest_total_t_c": "InVEST 总碳储量",
    "invest_valid_area_km2": "InVEST 有效面积",
    **{f"invest_{pool}_change_t_c": f"InVEST 碳储量变化 {pool}" for pool in POOL_COLUMNS},
    "invest_total_change_t_c": "InVEST 总碳储量变化",
}
"""Chinese label of the quantities (by :attr:`Quantity.name`) that the exports' fixed column labels
(``apps.export``) do not name, for tables shown in Chinese (the report with ``--lang zh``); the English words are
:attr:`Quantity.label`. A test checks that every quantity's column gets a Chinese header one way or the other."""


OBSERVED_SHARES = (
    "observed_area_pct",
    "carbon_observed_share_pct",
    "forest_carbon_observed_share_pct",
    "grassland_carbon_observed_share_pct",
    "sink_observed_share_pct",
)
"""The quantities that give, per region, the share of area (%) on which a product is estimated: land cover
(``observed_area_pct``), carbon density, forest carbon, grassland carbon and the sink. Region totals count the
observed area only; these say how much that is (the manifest's ``observed_share``)."""


def column_name(quantity: Quantity, epoch: int | None, epochs: Sequence[int]) -> str:
    """The published column of ``quantity`` at ``epoch``."""
    if quantity.span:
        return f"{quantity.name}_{epochs[0]}_{epochs[-1]}"
    return quantity.name if epoch is None else f"{quantity.name}_{epoch}"


def derive(
    raw: Mapping[StatKey, np.ndarray],
    epochs: Sequence[int],
    n_rows: int,
) -> tuple[dict[str, object], dict[str, Quantity]]:
    """Published columns from accumulated statistics.

    Args:
        raw: statistic key → per-region totals (one value per row), plus :data:`REGION_AREA`.
        epochs: the run's epochs.
        n_rows: number of regions.

    Returns:
        (column → values, column → its quantity), in registry order; quantities whose statistics are absent are
        left out.
    """
    first, last = epochs[0], epochs[-1]
    columns: dict[str, object] = {}
    meta: dict[str, Quantity] = {}

    def total(names: Sequence[str], epoch: int | None, any_of: bool) -> np.ndarray | None:
        present = [raw[(n, epoch)] for n in names if (n, epoch) in raw]
        if not present or (not any_of and len(present) < len(names)):
            return None
        return np.sum(present, axis=0)

    for q in QUANTITIES:
        if (q.epochs == "multi" and len(epochs) < 2) or (q.epochs == "single" and len(epochs) > 1):
            continue
        if any((n, None) in raw or (n, last) in raw for n in q.unless):
            continue
        if not all((n, None) in raw or (n, last) in raw for n in q.requires):
            continue
        targets: list[int | None] = list(epochs) if q.per_epoch else [None]
        if q.span:
            targets = [last] if q.per_epoch else [None]
        for epoch in targets:
            name = column_name(q, epoch, epochs)
            if q.kind == "label":
                if total(q.sums, last if q.sums_at_last else epoch, True) is not None:
                    columns[name] = [q.text.format(first=first, last=last)] * n_rows
                    meta[name] = q
                continue
            if q.kind == "change":
                before = column_name(_by_name(q.of), first, epochs)
                after = column_name(_by_name(q.of), last, epochs)
                if before in columns and after in columns:
                    columns[name] = np.asarray(columns[after]) - np.asarray(columns[before])
                    meta[name] = q
                continue
            num = total(q.sums, last if q.sums_at_last else epoch, q.any_of)
            if num is None:
                continue
            if q.kind == "total":
                columns[name] = q.scale * num
            else:
                assert q.per is not None
                den = raw.get((q.per, {"same": epoch, "last": last, "static": None}[q.per_at]))
                if den is None:
                    continue
                with np.errstate(invalid="ignore", divide="ignore"):
                    columns[name] = np.where(den > 0, q.scale * num / np.where(den > 0, den, 1.0), np.nan)
            meta[name] = q
    return columns, meta


def _by_name(name: str | None) -> Quantity:
    for q in QUANTITIES:
        if q.name == name:
            return q
    raise KeyError(name)


def column_metadata(meta: Mapping[str, Quantity], epochs: Sequence[int]) -> dict[str, dict[str, object]]:
    """Per published column: unit, kind, label and epoch (or the first–last span), for the run manifest, from
    which exports and the report take units and labels (they never parse column names)."""
    out: dict[str, dict[str, object]] = {}
    for column, q in meta.items():
        epoch: object = None
        if q.span:
            epoch = f"{epochs[0]}–{epochs[-1]}"
        elif q.per_epoch:
            epoch = next(e for e in epochs if column_name(q, e, epochs) == column)
        out[column] = {"unit": q.unit, "kind": q.kind, "label": q.label, "epoch": epoch}
    return out
