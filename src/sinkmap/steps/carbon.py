"""The pipeline's carbon step: per-pixel carbon densities and sinks for forests, grasslands, wetlands and karst.

It wires the pure kernels of :mod:`sinkmap.kernels.carbon` into a window of the pipeline. Every value handed to the
aggregation is a per-m² quantity (t C/m², t C/m²/yr, or 1 for areas), so the coverage- and area-weighted sums
are totals (t C, t C/yr, m²). Densities are never summed.

What each ecosystem needs (layers by role; a missing layer switches the part off, recorded in the manifest):

* zones: ``mean_temperature`` and ``annual_precip`` (plus latitude from the grid) → IPCC climate zones and FAO
  ecological zones (:mod:`sinkmap.kernels.carbon.zones`);
* forest: the forest mask of the forest step, ``growing_stock``; ``forest_type`` (tree stands without a type are
  treated as mixed forest, code 5);
* grassland: ``landcover`` class 4 (CLCD grassland);
* wetlands: ``wetland_type``;
* karst: ``carbonate`` (exposed carbonate, code 1, is the area basis; buried carbonate area is reported alongside).

Special shrubland counts as forest area but carries no biomass estimate here: the packaged tables have no Tier-1
shrub biomass default, so its carbon is left out (stated in the manifest) rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer

from sinkmap.kernels.carbon import forest as forest_carbon
from sinkmap.kernels.carbon import grassland, karst, wetland, zones
from sinkmap.kernels.carbon.change import forest_growth_removals
from sinkmap.factors import FactorTables

__all__ = ["CARBON_NOTES", "CarbonSettings", "carbon_stats", "carbon_window"]

C_TO_CO2 = 44.0 / 12.0
GRASSLAND_CLASSES = (4,)
MIXED_FOREST = 5
LANDCOVER_CLASSES = tuple(range(1, 10))  # CLCD legend for the transition matrix

CARBON_NOTES = (
    "Special shrubland counts as forest area but no shrub biomass is estimated (no Tier-1 default in the tables).",
    "Tree stands without a forest type are treated as mixed forest (forest_type 5).",
    "Forest sink = stock difference of forest carbon (AGB + BGB + dead wood + litter) between the first and last "
    "epoch, divided by the years between them; with one epoch, IPCC 2019R Table 4.9 gain (secondary forest > 20 yr).",
    "Grassland SOC change uses the IPCC default 20-yr transition on grassland remaining grassland (Tier 1: "
    "SOC_ref × F_LU × F_MG × F_I, nominal management unless factors say otherwise); SOC of other land uses is not "
    "estimated, so conversions to or from grassland carry no SOC change here.",
    "Wetland sink = IPCC 2013 Wetlands Supplement soil accumulation rates (Table 4.12 coastal; inland as tabled).",
    "Karst sink = maximum potential dissolution (thermodynamic equilibrium of calcite, Turc runoff, Brook soil pCO2) "
    "on exposed carbonate (area basis: exposed carbonate; buried carbonate area reported separately).",
)


@dataclass(frozen=True)
class CarbonSettings:
    """Carbon step options: factor tables, whether buried carbonate counts in the karst sink."""

    tables: FactorTables
    karst_include_buried: bool = False


def carbon_stats(epochs: tuple[int, ...], roles: set[str]) -> list[tuple[str, int | None, str]]:
    """(name, epoch or None, description) of every carbon statistic the step will produce for these layers."""
    out: list[tuple[str, int | None, str]] = []
    if not {"mean_temperature", "annual_precip"} <= roles:
        return out
    for e in epochs:
        out += [
            ("forest_agb_t_c", e, "forest above-ground biomass carbon, t C"),
            ("forest_bgb_t_c", e, "forest below-ground biomass carbon, t C"),
            ("forest_deadwood_t_c", e, "forest dead wood carbon, t C"),
            ("forest_litter_t_c", e, "forest litter carbon, t C"),
            ("forest_carbon_area_m2", e, "forest area with a carbon estimate (tree stands and bamboo), m²"),
        ]
        if "landcover" in roles:
            out += [
                ("grassland_area_m2", e, "grassland area (land cover class 4), m²"),
                ("grassland_biomass_t_c", e, "grassland biomass carbon (AGB + BGB), t C"),
                ("grassland_soc_t_c", e, "grassland soil organic carbon 0–30 cm, t C"),
            ]
    out.append(("forest_gain_ipcc_t_c_per_yr", epochs[-1], "forest gain by IPCC 2019R Table 4.9 rates, t C/yr"))
    if "landcover" in roles and len(epochs) > 1:
        out.append(("grassland_soc_change_t_c_per_yr", None, "grassland SOC change with the 20-yr transition, t C/yr"))
        out += [
            (f"transition_{i}_{j}_m2", None, f"area changing from land-cover class {i} to {j}, m²")
            for i in LANDCOVER_CLASSES
            for j in LANDCOVER_CLASSES
        ]
    if "wetland_type" in roles:
        out += [
            ("wetland_inland_area_m2", None, "inland marsh/swamp area, m²"),
            ("wetland_mangrove_area_m2", None, "mangrove area, m²"),
            ("wetland_salt_marsh_area_m2", None, "tidal/salt marsh area, m²"),
            ("wetland_seagrass_area_m2", None, "seagrass area, m²"),
            ("wetland_soil_sink_t_c_per_yr", None, "wetland soil carbon accumulation, t C/yr (sink positive)"),
            ("mangrove_biomass_t_c", None, "mangrove biomass carbon (AGB + BGB + dead wood + litter), t C"),
        ]
    if "carbonate" in roles:
        out += [
            ("karst_exposed_area_m2", None, "exposed carbonate (karst) area, m²"),
            ("karst_buried_area_m2", None, "buried/covered carbonate area, m²"),
            ("karst_sink_t_c_per_yr", None, "carbonate-weathering sink (MPD) on the karst area basis, t C/yr"),
        ]
    return out


def _latitude(ctx: Any) -> NDArray[np.float64]:
    grid, window = ctx.plan.grid, ctx.window
    cols = np.arange(window.width) + window.col_off + 0.5
    rows = np.arange(window.height) + window.row_off + 0.5
    t = grid.transform
    if grid.crs.is_geographic:
        lat = t.f + t.e * rows
        return np.broadcast_to(lat[:, None], (window.height, window.width))
    xs = t.c + t.a * cols
    ys = t.f + t.e * rows
    xx, yy = np.meshgrid(xs, ys)
    to_geo = Transformer.from_crs(grid.crs, grid.crs.geodetic_crs, always_xy=True)
    return np.asarray(to_geo.transform(xx, yy)[1])


def _per_m2(density_per_ha: NDArray[np.float64]) -> NDArray[np.float64]:
    """t C/ha (NaN = none) → t C/m² with 0 where there is no estimate."""
    return np.where(np.isfinite(density_per_ha), density_per_ha, 0.0) / 10_000.0


def carbon_window(
    ctx: Any,
    settings: CarbonSettings,
    forest_by_epoch: dict[int, Any],
) -> tuple[dict[str, NDArray[Any]], dict[str, NDArray[np.float32]]]:
    """Per-m² values for :func:`carbon_stats` (by stat key) and per-pixel rasters for one window."""
    plan = ctx.plan
    tables = settings.tables
    epochs = plan.config.epochs
    roles = set(plan.config.layers)
    temperature = ctx.continuous("mean_temperature")
    precip = ctx.continuous("annual_precip")
    assert temperature is not None and precip is not None
    lat = _latitude(ctx)
    climate = zones.ipcc_climate_zone(temperature, precip, lat)
    ecozone = zones.fao_ecological_zone(temperature, precip, lat)
    forest_type = ctx.categorical("forest_type")
    values: dict[str, NDArray[Any]] = {}
    shape = (ctx.window.height, ctx.window.width)
    density_by_epoch: dict[int, NDArray[np.float64]] = {}
    forest_c_by_epoch: dict[int, NDArray[np.float64]] = {}
    soc_by_epoch: dict[int, NDArray[np.float64]] = {}
    grass_by_epoch: dict[int, NDArray[np.bool_]] = {}

    for e in epochs:
        comps = forest_by_epoch[e]
        stands = comps.tree | comps.bamboo
        ftype = np.full(shape, MIXED_FOREST, np.int64) if forest_type is None else forest_type.astype(np.int64)
        ftype = np.where(comps.bamboo, 6, np.where(np.isin(ftype, (1, 2, 3, 4, 5, 6)), ftype, MIXED_FOREST))
        gsv = ctx.continuous("growing_stock", e)
        gsv = np.zeros(shape, np.float64) if gsv is None else np.where(np.isfinite(gsv), np.maximum(gsv, 0), 0.0)
        ok = stands & (ecozone > 0)
        pools = forest_carbon.forest_carbon_stocks(
            gsv, ftype, ecozone, tables=tables, annual_precip_mm_per_yr=precip, valid=ok
        )
        values[f"forest_agb_t_c_{e}"] = _per_m2(pools.agb_t_c_per_ha)
        values[f"forest_bgb_t_c_{e}"] = _per_m2(pools.bgb_t_c_per_ha)
        values[f"forest_deadwood_t_c_{e}"] = _per_m2(pools.deadwood_t_c_per_ha)
        values[f"forest_litter_t_c_{e}"] = _per_m2(pools.litter_t_c_per_ha)
        values[f"forest_carbon_area_m2_{e}"] = ok
        forest_total = np.where(np.isfinite(pools.total_t_c_per_ha), pools.total_t_c_per_ha, 0.0)
        forest_c_by_epoch[e] = forest_total
        density = forest_total.copy()
        if "landcover" in roles:
            landcover = ctx.categorical("landcover", e)
            grass = np.isin(landcover, GRASSLAND_CLASSES) & (climate > 0)
            biomass = grassland.grassland_biomass_carbon(climate, tables=tables, valid=grass)
            soc = grassland.soil_organic_carbon_t_c_per_ha(np.where(grass, climate, 0), tables=tables)
            soc = np.where(grass & np.isfinite(soc), soc, 0.0)
            values[f"grassland_area_m2_{e}"] = grass
            values[f"grassland_biomass_t_c_{e}"] = _per_m2(biomass.total_t_c_per_ha)
            values[f"grassland_soc_t_c_{e}"] = soc / 10_000.0
            soc_by_epoch[e] = soc
            grass_by_epoch[e] = grass
            density += np.where(np.isfinite(biomass.total_t_c_per_ha), biomass.total_t_c_per_ha, 0.0) + soc
        density_by_epoch[e] = density

    last = epochs[-1]
    comps = forest_by_epoch[last]
    gain = forest_growth_removals(ecozone, np.full(shape, 2), tables=tables, valid=comps.tree & (ecozone > 0))
    gain_t_c_per_ha_yr = gain.agb_t_c_per_ha_yr + gain.bgb_t_c_per_ha_yr
    values[f"forest_gain_ipcc_t_c_per_yr_{last}"] = _per_m2(gain_t_c_per_ha_yr)

    sink = np.zeros(shape, np.float64)  # t C/ha/yr, positive = sink
    if len(epochs) > 1:
        first = epochs[0]
        years = float(last - first)
        sink += (forest_c_by_epoch[last] - forest_c_by_epoch[first]) / years
        if "landcover" in roles:
            # SOC is estimated on grassland only, so the 20-yr transition applies where both states are grassland
            remaining = grass_by_epoch[first] & grass_by_epoch[last]
            soc_change = grassland.soc_change_t_c_per_ha_yr(soc_by_epoch[first], soc_by_epoch[last], 0.0)
            soc_change = np.where(remaining & np.isfinite(soc_change), soc_change, 0.0)
            values["grassland_soc_change_t_c_per_yr"] = soc_change / 10_000.0
            sink += soc_change
            before = ctx.categorical("landcover", first)
            after = ctx.categorical("landcover", last)
            for i in LANDCOVER_CLASSES:
                was = before == i
                for j in LANDCOVER_CLASSES:
                    values[f"transition_{i}_{j}_m2"] = was & (after == j)
    else:
        sink += np.where(np.isfinite(gain_t_c_per_ha_yr), gain_t_c_per_ha_yr, 0.0)

    if "wetland_type" in roles:
        wt = ctx.categorical("wetland_type")
        wt = np.where(wt < 0, 0, wt)
        for code, name in ((1, "inland"), (2, "mangrove"), (3, "salt_marsh"), (4, "seagrass")):
            values[f"wetland_{name}_area_m2"] = wt == code
        soil = wetland.wetland_soil_sink_t_c_per_ha_yr(wt, tables=tables)
        values["wetland_soil_sink_t_c_per_yr"] = _per_m2(soil)
        mangrove = wetland.mangrove_biomass_carbon(wt, ecozone, tables=tables, valid=(wt == 2) & (ecozone > 0))
        values["mangrove_biomass_t_c"] = _per_m2(mangrove.total_t_c_per_ha)
        sink += np.where(np.isfinite(soil), soil, 0.0)
        for e in epochs:
            density_by_epoch[e] += np.where(np.isfinite(mangrove.total_t_c_per_ha), mangrove.total_t_c_per_ha, 0.0)

    if "carbonate" in roles:
        carbonate = ctx.categorical("carbonate")
        carbonate = np.where(carbonate < 0, 0, carbonate)
        flux = karst.karst_sink_mpd_t_c_per_km2_yr(
            temperature, precip, carbonate, include_buried=settings.karst_include_buried
        )
        flux_per_ha = np.where(np.isfinite(flux), flux, 0.0) / 100.0
        values["karst_exposed_area_m2"] = carbonate == 1
        values["karst_buried_area_m2"] = carbonate == 2
        values["karst_sink_t_c_per_yr"] = flux_per_ha / 10_000.0
        sink += flux_per_ha

    land = ctx.categorical("landcover", last) if "landcover" in roles else None
    mapped = land >= 0 if land is not None else np.isfinite(temperature)
    rasters = {f"carbon_density_{e}": np.where(mapped, density_by_epoch[e], -9999.0).astype(np.float32) for e in epochs}
    rasters["carbon_sink"] = np.where(mapped, sink, -9999.0).astype(np.float32)
    return values, rasters
