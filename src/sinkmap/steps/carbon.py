"""The carbon step: per-pixel carbon densities and sinks for forests, grasslands, wetlands and karst.

It wires the pure kernels of :mod:`sinkmap.kernels.carbon` into a window. Every statistic is a per-m² quantity
(t C/m², t C/m²/yr, or 1 for areas), so the engine's area-weighted sums are totals (t C, t C/yr, m²). Densities
are never summed.

What each ecosystem needs (layers by role; a missing layer switches the part off, recorded in the manifest):

* zones: ``mean_temperature`` and ``annual_precip`` (plus latitude from the grid) → IPCC climate zones and FAO
  ecological zones (:mod:`sinkmap.kernels.carbon.zones`), computed once per window for every epoch;
* forest: the forest masks of :class:`~sinkmap.steps.forest.ForestStep`, ``growing_stock``; ``forest_type``
  (tree stands without a type are treated as mixed forest, code 5);
* grassland: ``landcover`` class 4 (CLCD grassland);
* wetlands: ``wetland_type``;
* karst: ``carbonate`` (exposed carbonate, code 1, is the area basis; buried carbonate area is reported alongside).

Special shrubland counts as forest area but carries no biomass estimate here: the packaged tables have no Tier-1
shrub biomass default, so its carbon is left out (stated in the manifest) rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.step import (
    Earlier,
    RasterSpec,
    StatSpec,
    Step,
    StepOutput,
    WindowInputs,
    per_m2,
)
from sinkmap.factors import FactorTables
from sinkmap.kernels.carbon import forest as forest_carbon
from sinkmap.kernels.carbon import grassland, karst, wetland, zones
from sinkmap.kernels.carbon.change import forest_growth_removals, stock_difference_sink
from sinkmap.steps.forest import ForestStep

__all__ = ["CARBON_NOTES", "PET", "PET_METHOD", "CarbonProducts", "CarbonStep"]

GRASSLAND_CLASSES = (4,)
MIXED_FOREST = 5
DENSITY_NODATA = -9999.0

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
    "Climate zones: Thornthwaite PET is computed once, on mean_temperature's own grid where that layer is on "
    "another (coarser) grid (carbon.pet_grid: layer, the default; see the layers' derived_on_layer_grid), otherwise "
    "once per window; the IPCC and FAO zone rules share it.",
)

WETLAND_NAMES = ((1, "inland"), (2, "mangrove"), (3, "salt_marsh"), (4, "seagrass"))

PET = "pet_thornthwaite"
"""A derived layer: Thornthwaite PET (mm/yr) computed on mean_temperature's own grid and aligned like it."""
PET_METHOD = (
    "Thornthwaite (1948) PET on the cosine monthly temperature proxy, computed from mean_temperature and the "
    "latitude of each of its pixel centres on the layer's own grid, then aligned onto the pipeline grid with the "
    "layer's resampling (carbon.pet_grid: layer)"
)


@dataclass(frozen=True)
class CarbonProducts:
    """Per epoch, the carbon density of the window (t C/ha); and the sink (t C/ha/yr, positive = removal)."""

    density_t_c_per_ha: dict[int, NDArray[np.float64]]
    sink_t_c_per_ha_yr: NDArray[np.float64]


def _or_zero(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(np.isfinite(values), values, 0.0)


@dataclass(frozen=True)
class CarbonStep(Step[CarbonProducts]):
    """Carbon stocks by pool and ecosystem per epoch, and sinks between the first and last epoch.

    Attributes:
        tables: the factor tables (every value names its source).
        epochs: the job's epochs.
        roles: the layer roles the job has (parts whose layers are missing are off).
        karst_include_buried: count buried carbonate in the karst sink.
        rasters_wanted: which of ``carbon_density`` and ``carbon_sink`` to write.
    """

    name = "carbon"
    tables: FactorTables
    epochs: tuple[int, ...]
    roles: frozenset[str]
    karst_include_buried: bool = False
    rasters_wanted: tuple[str, ...] = ("carbon_density", "carbon_sink")

    @staticmethod
    def applies(roles: set[str] | frozenset[str]) -> bool:
        """The step needs annual climate for its zones."""
        return {"mean_temperature", "annual_precip"} <= set(roles)

    @property
    def _soc_change(self) -> bool:
        """Grassland SOC change needs land cover at two epochs."""
        return "landcover" in self.roles and len(self.epochs) > 1

    def stats(self) -> tuple[StatSpec, ...]:
        out: list[StatSpec] = []
        for e in self.epochs:
            out += [
                StatSpec("forest_agb_t_c", e, "t C", "forest above-ground biomass carbon, t C"),
                StatSpec("forest_bgb_t_c", e, "t C", "forest below-ground biomass carbon, t C"),
                StatSpec("forest_deadwood_t_c", e, "t C", "forest dead wood carbon, t C"),
                StatSpec("forest_litter_t_c", e, "t C", "forest litter carbon, t C"),
                StatSpec("forest_carbon_area_m2", e, "m2", "forest area with a carbon estimate (tree stands, bamboo), m²"),
            ]
            if "landcover" in self.roles:
                out += [
                    StatSpec("grassland_area_m2", e, "m2", "grassland area (land cover class 4), m²"),
                    StatSpec("grassland_biomass_t_c", e, "t C", "grassland biomass carbon (AGB + BGB), t C"),
                    StatSpec("grassland_soc_t_c", e, "t C", "grassland soil organic carbon 0–30 cm, t C"),
                ]
        last = self.epochs[-1]
        out.append(
            StatSpec("forest_gain_ipcc_t_c_per_yr", last, "t C/yr", "forest gain by IPCC 2019R Table 4.9 rates, t C/yr")
        )
        out.append(
            StatSpec(
                "forest_sink_t_c_per_yr",
                None,
                "t C/yr",
                "forest sink, t C/yr (sink positive): stock difference of forest carbon between the first and last "
                "epoch per year, or with one epoch the IPCC Table 4.9 gain",
            )
        )
        if self._soc_change:
            out.append(
                StatSpec(
                    "grassland_soc_change_t_c_per_yr", None, "t C/yr", "grassland SOC change (20-yr transition), t C/yr"
                )
            )
        if "wetland_type" in self.roles:
            out += [StatSpec(f"wetland_{name}_area_m2", None, "m2", f"{name} wetland area, m²") for _, name in WETLAND_NAMES]
            out += [
                StatSpec("wetland_soil_sink_t_c_per_yr", None, "t C/yr", "wetland soil carbon accumulation, t C/yr"),
                StatSpec("mangrove_biomass_t_c", None, "t C", "mangrove biomass carbon (AGB, BGB, dead wood, litter), t C"),
            ]
        if "carbonate" in self.roles:
            out += [
                StatSpec("karst_exposed_area_m2", None, "m2", "exposed carbonate (karst) area, m²"),
                StatSpec("karst_buried_area_m2", None, "m2", "buried/covered carbonate area, m²"),
                StatSpec("karst_sink_t_c_per_yr", None, "t C/yr", "carbonate-weathering sink (MPD) on the karst area basis, t C/yr"),
            ]
        return tuple(out)

    def rasters(self) -> tuple[RasterSpec, ...]:
        out = []
        if "carbon_density" in self.rasters_wanted:
            out += [
                RasterSpec(
                    "carbon_density",
                    e,
                    "float32",
                    DENSITY_NODATA,
                    "t C/ha",
                    f"ecosystem carbon density {e}: forest pools, grassland biomass and SOC, mangrove biomass",
                    {"EPOCH": str(e)},
                )
                for e in self.epochs
            ]
        if "carbon_sink" in self.rasters_wanted:
            first, last = self.epochs[0], self.epochs[-1]
            out.append(
                RasterSpec(
                    "carbon_sink",
                    None,
                    "float32",
                    DENSITY_NODATA,
                    "t C/ha/yr",
                    f"annual carbon sink {first}–{last} (forest stock difference, grassland SOC, wetland soil "
                    "accumulation, karst weathering); positive = removal from the atmosphere",
                    {"EPOCH": "", "SIGN_CONVENTION": "sink positive"},
                )
            )
        return tuple(out)

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[CarbonProducts]:
        forest = earlier.get(ForestStep)
        tables = self.tables
        epochs = self.epochs
        shape = inputs.shape
        temperature = inputs.continuous("mean_temperature")
        precip = inputs.continuous("annual_precip")
        assert temperature is not None and precip is not None  # CarbonStep.applies
        lat = inputs.latitude_deg
        # static work, once per window: PET and the zones that every epoch shares
        coarse_pet = inputs.continuous(PET)  # computed on the climate layer's own grid when it is coarse
        pet = zones.thornthwaite_pet_mm_per_yr(temperature, lat) if coarse_pet is None else coarse_pet
        climate = zones.ipcc_climate_zone(temperature, precip, lat, pet_mm_per_yr=pet)
        ecozone = zones.fao_ecological_zone(temperature, precip, lat, pet_mm_per_yr=pet)
        stats: dict[tuple[str, int | None], NDArray[np.float64] | NDArray[np.bool_]] = {}
        density: dict[int, NDArray[np.float64]] = {}
        forest_c: dict[int, NDArray[np.float64]] = {}
        soc_by_epoch: dict[int, NDArray[np.float64]] = {}
        grass_by_epoch: dict[int, NDArray[np.bool_]] = {}
        has_landcover = "landcover" in self.roles

        for e in epochs:
            comps = forest.components[e]
            stands = comps.tree | comps.bamboo
            forest_type = inputs.categorical("forest_type", e)  # static, or the epoch's own layer
            ftype = np.full(shape, MIXED_FOREST, np.int64) if forest_type is None else forest_type.astype(np.int64)
            ftype = np.where(comps.bamboo, 6, np.where((ftype >= 1) & (ftype <= 6), ftype, MIXED_FOREST))
            gsv = inputs.continuous("growing_stock", e)
            gsv = np.zeros(shape, np.float64) if gsv is None else np.where(np.isfinite(gsv), np.maximum(gsv, 0), 0.0)
            ok = stands & (ecozone > 0)
            pools = forest_carbon.forest_carbon_stocks(
                gsv, ftype, ecozone, tables=tables, annual_precip_mm_per_yr=precip, valid=ok
            )
            stats[("forest_agb_t_c", e)] = per_m2(pools.agb_t_c_per_ha)
            stats[("forest_bgb_t_c", e)] = per_m2(pools.bgb_t_c_per_ha)
            stats[("forest_deadwood_t_c", e)] = per_m2(pools.deadwood_t_c_per_ha)
            stats[("forest_litter_t_c", e)] = per_m2(pools.litter_t_c_per_ha)
            stats[("forest_carbon_area_m2", e)] = ok
            forest_c[e] = _or_zero(pools.total_t_c_per_ha)
            density[e] = forest_c[e].copy()
            if has_landcover:
                landcover = inputs.categorical("landcover", e)
                assert landcover is not None
                grass = np.isin(landcover, GRASSLAND_CLASSES) & (climate > 0)
                biomass = grassland.grassland_biomass_carbon(climate, tables=tables, valid=grass)
                soc = grassland.soil_organic_carbon_t_c_per_ha(np.where(grass, climate, 0), tables=tables)
                soc = np.where(grass & np.isfinite(soc), soc, 0.0)
                stats[("grassland_area_m2", e)] = grass
                stats[("grassland_biomass_t_c", e)] = per_m2(biomass.total_t_c_per_ha)
                stats[("grassland_soc_t_c", e)] = soc / 10_000.0
                soc_by_epoch[e] = soc
                grass_by_epoch[e] = grass
                density[e] += _or_zero(biomass.total_t_c_per_ha) + soc

        first, last = epochs[0], epochs[-1]
        gain = forest_growth_removals(
            ecozone, np.full(shape, 2), tables=tables, valid=forest.components[last].tree & (ecozone > 0)
        )
        gain_t_c_per_ha_yr = gain.agb_t_c_per_ha_yr + gain.bgb_t_c_per_ha_yr
        stats[("forest_gain_ipcc_t_c_per_yr", last)] = per_m2(gain_t_c_per_ha_yr)

        if len(epochs) > 1:
            forest_sink = stock_difference_sink(forest_c[first], forest_c[last], year0=first, year1=last).c_t_per_yr
            stats[("forest_sink_t_c_per_yr", None)] = forest_sink / 10_000.0
            sink = forest_sink.copy()  # t C/ha/yr, positive = sink
            if has_landcover:
                # SOC is estimated on grassland only, so the 20-yr transition applies where both states are grassland
                remaining = grass_by_epoch[first] & grass_by_epoch[last]
                soc_change = grassland.soc_change_t_c_per_ha_yr(soc_by_epoch[first], soc_by_epoch[last], 0.0)
                soc_change = np.where(remaining & np.isfinite(soc_change), soc_change, 0.0)
                stats[("grassland_soc_change_t_c_per_yr", None)] = soc_change / 10_000.0
                sink += soc_change
        else:
            sink = _or_zero(gain_t_c_per_ha_yr)
            stats[("forest_sink_t_c_per_yr", None)] = sink / 10_000.0

        if "wetland_type" in self.roles:
            wt = inputs.categorical("wetland_type")
            assert wt is not None
            wt = np.where(wt < 0, 0, wt)
            for code, name in WETLAND_NAMES:
                stats[(f"wetland_{name}_area_m2", None)] = wt == code
            soil = wetland.wetland_soil_sink_t_c_per_ha_yr(wt, tables=tables)
            stats[("wetland_soil_sink_t_c_per_yr", None)] = per_m2(soil)
            mangrove = wetland.mangrove_biomass_carbon(wt, ecozone, tables=tables, valid=(wt == 2) & (ecozone > 0))
            stats[("mangrove_biomass_t_c", None)] = per_m2(mangrove.total_t_c_per_ha)
            sink += _or_zero(soil)
            for e in epochs:
                density[e] += _or_zero(mangrove.total_t_c_per_ha)

        if "carbonate" in self.roles:
            carbonate = inputs.categorical("carbonate")
            assert carbonate is not None
            carbonate = np.where(carbonate < 0, 0, carbonate)
            flux = karst.karst_sink_mpd_t_c_per_km2_yr(
                temperature, precip, carbonate, include_buried=self.karst_include_buried
            )
            flux_per_ha = _or_zero(flux) / 100.0
            stats[("karst_exposed_area_m2", None)] = carbonate == 1
            stats[("karst_buried_area_m2", None)] = carbonate == 2
            stats[("karst_sink_t_c_per_yr", None)] = flux_per_ha / 10_000.0
            sink += flux_per_ha

        land = inputs.categorical("landcover", last) if has_landcover else None
        mapped = land >= 0 if land is not None else np.isfinite(temperature)
        rasters: dict[tuple[str, int | None], NDArray[np.float32]] = {}
        if "carbon_density" in self.rasters_wanted:
            for e in epochs:
                rasters[("carbon_density", e)] = np.where(mapped, density[e], DENSITY_NODATA).astype(np.float32)
        if "carbon_sink" in self.rasters_wanted:
            rasters[("carbon_sink", None)] = np.where(mapped, sink, DENSITY_NODATA).astype(np.float32)
        return StepOutput(CarbonProducts(density, sink), stats=stats, rasters=rasters)
