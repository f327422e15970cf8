"""The carbon step: per-pixel carbon densities and sinks for forests, grasslands, wetlands and karst.

It wires the pure kernels of :mod:`sinkmap.kernels.carbon` into a window. Every statistic is a per-m² quantity
(t C/m², t C/m²/yr, or 1 for areas), so the engine's area-weighted sums are totals (t C, t C/yr, m²). Densities
are never summed.

What each ecosystem needs (layers by role; a missing layer switches the part off, recorded in the manifest):

* zones: ``mean_temperature`` and ``annual_precip`` (plus latitude from the grid) → IPCC climate zones and FAO
  ecological zones (:mod:`sinkmap.kernels.carbon.zones`), computed once per window for every epoch;
* forest: the forest masks of :class:`~sinkmap.steps.forest.ForestStep` and one biomass input, the closest to
  carbon that the pipeline has (:data:`BIOMASS_INPUTS`): ``carbon_density`` (t C/ha, used directly), ``agb``
  (t d.m./ha: BGB by the root ratio, dead organic matter, carbon fraction) or ``growing_stock`` (m³/ha: the whole
  chain); ``forest_type``
  (tree stands without a type are treated as mixed forest, code 5); the factor set (``factor_set``); optional
  ``forest_age`` (Table 4.9 age class) and ``loss_year`` (one-epoch losses);
* grassland: ``landcover`` class 4 (CLCD grassland) for stocks; ``grassland_management`` at every epoch for the
  SOC change (without it the change is not estimated);
* wetlands: ``wetland_type`` (areas, mangrove biomass, CH4 as CO2e); ``wetland_restoration`` for the Table 4.12
  soil sink (without it the sink is not estimated);
* karst: ``carbonate`` (exposed carbonate, code 1, is the area basis; buried carbonate area is reported alongside);
  the maximum-potential-dissolution flux is a potential sink outside the total unless ``karst_potential_in_total``.

Nodata propagates: a pixel whose required input is missing (climate anywhere, except on forest whose carbon comes
from a carbon-density map; the biomass input on tree stands, and on bamboo when it comes from a map) has no carbon
estimate. It is nodata in the carbon rasters, adds nothing to
the region totals, and the share of area with an estimate is a statistic of its own (``carbon_observed_area_m2``,
``forest_carbon_basis_area_m2`` against ``forest_carbon_area_m2``, ``grassland_carbon_area_m2`` against
``grassland_area_m2``), so totals are read as totals over the observed area. Grassland area is land-cover area and
does not need climate.

Special shrubland counts as forest area but carries no biomass estimate here: the packaged tables have no Tier-1
shrub biomass default, so its carbon is left out (stated in the manifest) rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.roles import ROLES
from sinkmap.engine.step import (
    Earlier,
    RasterSpec,
    StatSpec,
    Step,
    StepOutput,
    WindowInputs,
    per_m2,
)
from sinkmap.errors import ConfigError
from sinkmap.factors import FactorTables
from sinkmap.kernels.carbon import C_TO_CO2, grassland, karst, wetland, zones
from sinkmap.kernels.carbon import forest as forest_carbon
from sinkmap.kernels.carbon.change import forest_growth_removals, stock_difference_sink
from sinkmap.kernels.carbon.forest import FACTOR_SETS
from sinkmap.steps.forest import ForestStep

__all__ = [
    "BIOMASS_INPUTS",
    "CARBON_NOTES",
    "GRASSLAND_CLASSES",
    "PET",
    "PET_METHOD",
    "CarbonProducts",
    "CarbonStep",
    "GrasslandPixels",
]

GRASSLAND_CLASSES = (4,)
MIXED_FOREST = 5
DENSITY_NODATA = -9999.0

CARBON_NOTES = (
    "Special shrubland counts as forest area but no shrub biomass is estimated (no Tier-1 default in the tables).",
    "Tree stands without a forest type are treated as mixed forest (forest_type 5).",
    "Forest biomass: the factor set named in forest_factor_set (China Tier 2 by default for the China forest "
    "definition: B = a·V + b by forest group, Fang et al. 2001; IPCC Tier 1 selectable with carbon.factor_set); "
    "both chains give biomass that never falls as growing stock rises.",
    "Forest carbon starts from the most direct biomass layer given: carbon_density (t C/ha, used as vegetation "
    "carbon), else agb (t d.m./ha: BGB by the factor set's root ratio, carbon fraction), else growing_stock; the "
    "manifest's carbon_chain and the forest_carbon_input column name it.",
    "Missing inputs are not zeros: where climate (anywhere but on forest carried by a carbon_density layer) or the "
    "biomass layer (on forest) is nodata, there is no "
    "carbon estimate; the carbon rasters are nodata there, totals count the observed area only, and the "
    "*_observed_share_pct columns give its share. Forest and grassland areas come from land cover alone.",
    "Dead wood and litter: IPCC Tier 1 carries them as zero change, so they are not estimated unless the pipeline "
    "sets carbon.dead_organic_matter: true.",
    "Forest sink with two or more epochs = net stock difference of the estimated forest pools between the first and "
    "last epoch, divided by the years between them; with one epoch, gross removals from IPCC 2019R Table 4.9 growth "
    "(age class from a forest_age layer, secondary forest > 20 yr where none is given) minus, with a loss_year layer, the biomass carbon of stands lost since its base year "
    "spread over those years.",
    "A series break is flagged when the first and last epoch come from different monitoring bases "
    "(carbon.monitoring_base; e.g. the 2021 switch to 三调-based monitoring): the change then mixes method and growth.",
    "Grassland SOC change: with a grassland_management layer at every epoch, SOC = SOC_ref × F_LU × F_MG × F_I per "
    "epoch and the change on grassland remaining grassland follows the IPCC 20-yr linear transition (pixels without "
    "a management value are taken as nominally managed); without the layer it is not estimated and the grassland "
    "sink is left empty rather than 0.",
    "Wetland sink = IPCC 2013 Wetlands Supplement Table 4.12 soil accumulation on rewetted, revegetated or created "
    "coastal wetlands only (wetland_restoration layer = 1); without that layer it is not estimated. Inland wetland "
    "CH4 (Table 5.4 Tier-1 emission factors, GWP100 27) is reported as CO2e in its own columns, with a net GHG "
    "column; it is not part of the carbon sink. Mangrove pixels carry mangrove biomass only, never forest biomass.",
    "Karst: maximum potential dissolution (thermodynamic equilibrium of calcite with a self-consistent ionic "
    "strength, Turc runoff, Brook soil pCO2) on exposed carbonate is an upper bound, reported as a potential sink "
    "outside the total unless carbon.karst_potential_in_total is true.",
    "Climate zones: Thornthwaite PET is computed once, on mean_temperature's own grid where that layer is on "
    "another (coarser) grid (carbon.pet_grid: layer, the default; see the layers' derived_on_layer_grid), otherwise "
    "once per window; the IPCC and FAO zone rules share it.",
)

BIOMASS_INPUTS = {
    "carbon_density": "forest vegetation carbon density layer (t C/ha), used directly: AGB + BGB carbon as the "
    "product defines them; dead wood and litter not estimated",
    "agb": "above-ground biomass layer (t d.m./ha): BGB = AGB × the factor set's root-to-shoot ratio, dead wood and "
    "litter as fractions of AGB only with carbon.dead_organic_matter, carbon = biomass × the factor set's carbon "
    "fraction",
    "growing_stock": "growing stock volume layer (m³/ha): biomass from volume by the factor set (BCEF or B = a·V + b), "
    "then root ratio, dead organic matter when asked, carbon fraction",
    "none": "no biomass layer (growing_stock, agb or carbon_density): tree-stand carbon not estimated; bamboo from "
    "its default biomass",
}
"""The forest carbon chain's starting point, in order of preference (the first the pipeline has is used), and
what each path does (the manifest's ``carbon_chain``)."""

WETLAND_NAMES = ((1, "inland"), (2, "mangrove"), (3, "salt_marsh"), (4, "seagrass"))

PET = "pet_thornthwaite"
"""A derived layer: Thornthwaite PET (mm/yr) computed on mean_temperature's own grid and aligned like it."""
PET_METHOD = (
    "Thornthwaite (1948) PET on the cosine monthly temperature proxy, computed from mean_temperature and the "
    "latitude of each of its pixel centres on the layer's own grid, then aligned onto the pipeline grid with the "
    "layer's resampling (carbon.pet_grid: layer)"
)


@dataclass(frozen=True)
class GrasslandPixels:
    """One epoch's grassland pixels as the carbon step estimates their carbon, and the codes it gives the SOC kernel
    (:func:`~sinkmap.kernels.carbon.grassland.soil_organic_carbon_t_c_per_ha`; ``None`` = not passed, the kernel's
    default applies: HAC soil, nominal management, medium input).

    Attributes:
        mask: grassland land cover with climate zones (the pixels with a grassland carbon estimate).
        soil_type: soil codes 1–6, or None.
        management: management codes 1–4 (1 wherever the layer has no valid value), or None.
        input_level: input codes 1–2, or None.
    """

    mask: NDArray[np.bool_]
    soil_type: NDArray[np.int32] | None = None
    management: NDArray[np.int32] | None = None
    input_level: NDArray[np.int32] | None = None


@dataclass(frozen=True)
class CarbonProducts:
    """Per epoch, the carbon density of the window (t C/ha); the sink (t C/ha/yr, positive = removal); the IPCC
    climate zone and FAO ecological zone codes of the window (0 none) and, per epoch, the grassland pixels (empty
    without land cover), so that strata steps count exactly the cells the carbon step estimated."""

    density_t_c_per_ha: dict[int, NDArray[np.float64]]
    sink_t_c_per_ha_yr: NDArray[np.float64]
    ipcc_climate: NDArray[np.integer[Any]]
    grassland: dict[int, GrasslandPixels]
    fao_ecozone: NDArray[np.integer[Any]]


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
        factor_set: the forest factor set, a key of :data:`~sinkmap.kernels.carbon.forest.FACTOR_SETS`.
        dead_organic_matter: estimate dead wood and litter (IPCC Tier 1 carries them as zero change: off).
        karst_potential_in_total: count the karst maximum-potential sink in the total sink.
        monitoring_bases: (epoch, monitoring base) pairs; a different base at the first and last epoch flags a
            series break.
        loss_base_year: the ``loss_year`` layer's base year (losses are subtracted from one-epoch gross removals).
        biomass_choice: the layer forest carbon starts from (``carbon.biomass_input``): ``auto`` (the first of
            :data:`BIOMASS_INPUTS` the job has) or a role of them.
    """

    name = "carbon"
    tables: FactorTables
    epochs: tuple[int, ...]
    roles: frozenset[str]
    karst_include_buried: bool = False
    rasters_wanted: tuple[str, ...] = ("carbon_density", "carbon_sink")
    factor_set: str = "china_tier2"
    dead_organic_matter: bool = False
    karst_potential_in_total: bool = False
    monitoring_bases: tuple[tuple[int, str], ...] = ()
    loss_base_year: int | None = None
    biomass_choice: str = "auto"

    def __post_init__(self) -> None:
        if self.factor_set not in FACTOR_SETS:
            raise ConfigError(
                f"carbon.factor_set: {self.factor_set!r} is not known; use one of {', '.join(FACTOR_SETS)}"
            )
        if self.dead_organic_matter and self.biomass_input == "carbon_density":
            raise ConfigError(
                "carbon.dead_organic_matter: true needs biomass (an `agb` or `growing_stock` layer) to scale dead "
                "wood and litter from; a `carbon_density` layer gives vegetation carbon only. Set it to false, or "
                "give an `agb` layer instead of `carbon_density`"
            )

    @property
    def biomass_input(self) -> str:
        """The role forest carbon starts from: the chosen one, or the first of :data:`BIOMASS_INPUTS` the job has
        (or ``none``)."""
        if self.biomass_choice != "auto":
            return self.biomass_choice if self.biomass_choice in self.roles else "none"
        return next(role for role in BIOMASS_INPUTS if role in self.roles or role == "none")

    @property
    def _pools(self) -> list[str]:
        if self.biomass_input == "carbon_density":
            return ["vegetation"]
        return ["agb", "bgb"] + (["deadwood", "litter"] if self.dead_organic_matter else [])

    def describe(self) -> dict[str, Any]:
        """The forest carbon chain that runs, for the manifest's ``carbon_chain``."""
        role = self.biomass_input
        sd = f"{role}_sd"
        return {
            "input": role,
            "unit": ROLES[role].unit if role in ROLES else None,
            "chain": BIOMASS_INPUTS[role],
            "factor_set": self.factor_set if role != "carbon_density" else None,
            "dead_organic_matter": self.dead_organic_matter,
            "pools": self._pools,
            "standard_deviation_layer": (
                {"role": sd, "unit": ROLES[sd].unit, "use": "read and checked; not used by the central estimate "
                 "(kept for the uncertainty analysis)"}
                if sd in self.roles and sd in ROLES else None
            ),
            "other_biomass_layers_not_used_for_carbon": sorted(
                r for r in BIOMASS_INPUTS if r != role and r in self.roles
            ),
        }

    @property
    def _soc_change(self) -> bool:
        """Grassland SOC change needs land cover and a management layer, at two or more epochs."""
        return {"landcover", "grassland_management"} <= set(self.roles) and len(self.epochs) > 1

    @property
    def series_break(self) -> bool:
        """The first and last epoch come from different monitoring bases."""
        bases = dict(self.monitoring_bases)
        first, last = self.epochs[0], self.epochs[-1]
        return first in bases and last in bases and bases[first] != bases[last]

    @staticmethod
    def applies(roles: set[str] | frozenset[str]) -> bool:
        """The step needs annual climate for its zones."""
        return {"mean_temperature", "annual_precip"} <= set(roles)

    def stats(self) -> tuple[StatSpec, ...]:
        out: list[StatSpec] = []
        names = {
            "agb": "above-ground biomass", "bgb": "below-ground biomass", "deadwood": "dead wood", "litter": "litter",
            "vegetation": "vegetation (AGB + BGB, from the carbon_density layer)",
        }
        source = self.biomass_input
        for e in self.epochs:
            out += [
                StatSpec(f"forest_{p}_t_c", e, "t C", f"forest {names[p]} carbon (estimated stock), t C")
                for p in self._pools
            ]
            if source != "carbon_density":
                out.append(StatSpec("forest_biomass_t_dm", e, "t d.m.", "forest vegetation biomass (AGB + BGB), t dry matter"))
                out.append(
                    StatSpec(
                        f"forest_carbon_area_{self.factor_set}_m2", e, "m2",
                        f"forest area whose carbon uses the {self.factor_set} factor set, m²",
                    )
                )
            out += [
                StatSpec("forest_carbon_area_m2", e, "m2", "forest area with a carbon estimate (tree stands, bamboo), m²"),
                StatSpec(
                    "forest_carbon_basis_area_m2", e, "m2",
                    "forest area that needs a carbon estimate (tree stands and bamboo outside mangroves), m²",
                ),
                StatSpec(f"forest_carbon_area_from_{source}_m2", e, "m2", f"forest area whose carbon starts from {source}, m²"),
                StatSpec(
                    "carbon_observed_area_m2", e, "m2",
                    "area with a carbon density estimate (mapped, with climate and, where needed, biomass), m²",
                ),
            ]
            if "landcover" in self.roles:
                out += [
                    StatSpec("grassland_area_m2", e, "m2", "grassland area (land cover class 4), m²"),
                    StatSpec("grassland_carbon_area_m2", e, "m2", "grassland area with a carbon estimate (has climate), m²"),
                    StatSpec("grassland_biomass_t_c", e, "t C", "grassland biomass carbon (AGB + BGB), t C"),
                    StatSpec("grassland_soc_t_c", e, "t C", "grassland soil organic carbon 0–30 cm, t C"),
                ]
        out.append(
            StatSpec(
                "carbon_sink_observed_area_m2", None, "m2",
                "area with a carbon sink estimate (carbon observed at the first and the last epoch), m²",
            )
        )
        last = self.epochs[-1]
        out.append(
            StatSpec(
                "forest_gain_ipcc_t_c_per_yr", last, "t C/yr",
                "forest gross removals by IPCC 2019R Table 4.9 growth rates (losses not subtracted), t C/yr",
            )
        )
        out.append(
            StatSpec(
                "forest_sink_t_c_per_yr",
                None,
                "t C/yr",
                "forest sink, t C/yr (sink positive): net stock difference of the estimated forest pools between the "
                "first and last epoch per year, or with one epoch gross removals minus losses where known",
            )
        )
        if self.series_break:
            out.append(StatSpec("series_break_area_m2", None, "m2", "area whose change spans a monitoring-base break, m²"))
        if self._soc_change:
            out.append(
                StatSpec(
                    "grassland_soc_change_t_c_per_yr", None, "t C/yr",
                    "grassland SOC change from management (20-yr transition, grassland remaining grassland), t C/yr",
                )
            )
        if "wetland_type" in self.roles:
            out += [StatSpec(f"wetland_{name}_area_m2", None, "m2", f"{name} wetland area, m²") for _, name in WETLAND_NAMES]
            out += [
                StatSpec("mangrove_biomass_t_c", None, "t C", "mangrove biomass carbon (AGB, BGB, dead wood, litter), t C"),
                StatSpec(
                    "wetland_ch4_t_co2e_per_yr", None, "t CO2e/yr",
                    "wetland CH4 emission (Tier 1; inland Table 5.4, coastal Table 4.14) as CO2e (GWP100 27), t CO2e/yr",
                ),
            ]
            if "wetland_restoration" in self.roles:
                out += [
                    StatSpec(
                        "wetland_soil_sink_t_c_per_yr", None, "t C/yr",
                        "soil carbon accumulation of restored coastal wetlands (Table 4.12), t C/yr",
                    ),
                    StatSpec(
                        "wetland_net_ghg_t_co2e_per_yr", None, "t CO2e/yr",
                        "wetland net GHG removal: soil CO2 removal minus CH4 emission as CO2e, t CO2e/yr",
                    ),
                ]
        if "carbonate" in self.roles:
            out += [
                StatSpec("karst_exposed_area_m2", None, "m2", "exposed carbonate (karst) area, m²"),
                StatSpec("karst_buried_area_m2", None, "m2", "buried/covered carbonate area, m²"),
                StatSpec(
                    "karst_potential_sink_t_c_per_yr", None, "t C/yr",
                    "carbonate-weathering potential sink (maximum potential dissolution, an upper bound), t C/yr",
                ),
            ]
            if self.karst_potential_in_total:
                out.append(
                    StatSpec(
                        "karst_sink_t_c_per_yr", None, "t C/yr",
                        "karst potential sink counted in the total sink (carbon.karst_potential_in_total), t C/yr",
                    )
                )
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
                    f"annual carbon sink {first}–{last}: the parts in the total sink (forest, restored coastal wetland "
                    "soil, karst only if included); positive = removal from the atmosphere",
                    {"EPOCH": "", "SIGN_CONVENTION": "sink positive"},
                )
            )
        return tuple(out)

    def _losses_t_c_per_ha_yr(
        self,
        inputs: WindowInputs,
        ecozone: NDArray[np.integer[Any]],
        ftype: NDArray[np.int64],
        mangrove_px: NDArray[np.bool_],
    ) -> NDArray[np.float64]:
        """One-epoch losses: vegetation carbon of stands lost (loss_year) since the base year, per year, t C/ha/yr.

        A lost pixel is taken to have lost all its biomass (stand-replacing loss, as Hansen's layer records); its
        biomass is computed from its growing stock and type as if it were still a tree stand.
        """
        shape = inputs.shape
        loss = inputs.categorical("loss_year") if self.loss_base_year is not None else None
        if loss is None or self.loss_base_year is None:
            return np.zeros(shape)
        last = self.epochs[-1]
        years = last - self.loss_base_year
        if years <= 0:
            return np.zeros(shape)
        lost = (loss > 0) & (loss + self.loss_base_year <= last) & ~mangrove_px & (ecozone > 0)
        if not np.any(lost):
            return np.zeros(shape)
        role = self.biomass_input
        epoch = last if inputs.has(role, last) else self.loss_base_year
        total, _ = self._forest_carbon(
            inputs, epoch, np.where(ftype == 6, MIXED_FOREST, ftype), ecozone, lost, inputs.continuous("annual_precip")
        )
        return _or_zero(total) / years

    def _forest_carbon(
        self,
        inputs: WindowInputs,
        epoch: int,
        ftype: NDArray[np.int64],
        ecozone: NDArray[np.integer[Any]],
        valid: NDArray[np.bool_],
        precip: NDArray[np.float32] | None,
    ) -> tuple[NDArray[np.float64], forest_carbon.ForestCarbon | None]:
        """Forest carbon (t C/ha, NaN where not estimated) from the job's biomass input, and its pools (None when
        the input is a carbon density: no pools, no biomass)."""
        role = self.biomass_input
        values = inputs.continuous(role, epoch) if role != "none" else None
        if values is None:  # no layer: tree stands have no estimate (NaN), bamboo has its default
            values = np.full(inputs.shape, np.nan, np.float32)
        if role == "carbon_density":
            total = np.where(valid & np.isfinite(values), values.astype(np.float64), np.nan)
            return total, None
        if role == "agb":
            pools = forest_carbon.forest_carbon_stocks_from_agb(
                values, ftype, ecozone, tables=self.tables, factor_set=self.factor_set,
                annual_precip_mm_per_yr=precip, valid=valid, dead_organic_matter=self.dead_organic_matter,
            )
        else:
            stocks = (
                forest_carbon.forest_carbon_stocks_china
                if self.factor_set == "china_tier2"
                else forest_carbon.forest_carbon_stocks
            )
            pools = stocks(
                values, ftype, ecozone, tables=self.tables, annual_precip_mm_per_yr=precip, valid=valid,
                dead_organic_matter=self.dead_organic_matter,
            )
        return pools.total_t_c_per_ha, pools

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
        has_landcover = "landcover" in self.roles

        wt = inputs.categorical("wetland_type") if "wetland_type" in self.roles else None
        if wt is not None:
            wt = np.where(wt < 0, 0, wt)
        mangrove_px = np.zeros(shape, bool) if wt is None else wt == 2
        ftypes: dict[int, NDArray[np.int64]] = {}
        soc_by_epoch: dict[int, NDArray[np.float64]] = {}
        grass_by_epoch: dict[int, NDArray[np.bool_]] = {}
        grass_pixels: dict[int, GrasslandPixels] = {}
        observed: dict[int, NDArray[np.bool_]] = {}
        climate_ok = (ecozone > 0) & (climate > 0)  # every carbon factor depends on the zones
        source = self.biomass_input
        # a carbon-density map is forest carbon as it stands: forest pixels need no climate for it
        forest_climate = np.ones(shape, bool) if source == "carbon_density" else climate_ok
        sd_role = f"{source}_sd"
        for e in epochs:
            comps = forest.components[e]
            forest_type = inputs.categorical("forest_type", e)  # static, or the epoch's own layer
            ftype = np.full(shape, MIXED_FOREST, np.int64) if forest_type is None else forest_type.astype(np.int64)
            ftype = np.where(comps.bamboo, 6, np.where((ftype >= 1) & (ftype <= 5), ftype, MIXED_FOREST))
            ftypes[e] = ftype
            needs = (comps.tree | comps.bamboo) & ~mangrove_px  # mangroves carry mangrove biomass only
            total, pools = self._forest_carbon(inputs, e, ftype, ecozone, needs & forest_climate, precip)
            if sd_role in self.roles:
                inputs.continuous(sd_role, e)  # read so its values are checked like every input (uncertainty use)
            estimated = needs & np.isfinite(total)
            if pools is None:
                stats[("forest_vegetation_t_c", e)] = per_m2(total)
            else:
                stats[("forest_agb_t_c", e)] = per_m2(pools.agb_t_c_per_ha)
                stats[("forest_bgb_t_c", e)] = per_m2(pools.bgb_t_c_per_ha)
                if self.dead_organic_matter:
                    stats[("forest_deadwood_t_c", e)] = per_m2(pools.deadwood_t_c_per_ha)
                    stats[("forest_litter_t_c", e)] = per_m2(pools.litter_t_c_per_ha)
                stats[("forest_biomass_t_dm", e)] = per_m2(pools.agb_t_dm_per_ha + pools.bgb_t_dm_per_ha)
                stats[(f"forest_carbon_area_{self.factor_set}_m2", e)] = estimated
            stats[("forest_carbon_area_m2", e)] = estimated
            stats[(f"forest_carbon_area_from_{source}_m2", e)] = estimated
            stats[("forest_carbon_basis_area_m2", e)] = needs
            # not forest → 0; forest without an estimate (missing climate or biomass) → NaN, so no difference is
            # taken there and the pixel is nodata in the rasters
            forest_c[e] = np.where(needs & ~estimated, np.nan, _or_zero(total))
            density[e] = _or_zero(forest_c[e])
            observed[e] = forest.mapped[e] & (climate_ok | estimated) & ~(needs & ~estimated)
            if has_landcover:
                landcover = inputs.categorical("landcover", e)
                assert landcover is not None
                grass_land = np.isin(landcover, GRASSLAND_CLASSES)  # land-cover area: needs no climate
                grass = grass_land & climate_ok
                biomass = grassland.grassland_biomass_carbon(climate, tables=tables, valid=grass)
                management = inputs.categorical("grassland_management", e) if self._soc_change else None
                if management is not None:
                    management = np.where(np.isin(management, (1, 2, 3, 4)) & grass, management, 1)
                pixels = GrasslandPixels(grass, management=management)  # what the SOC kernel is given
                grass_pixels[e] = pixels
                soc = grassland.soil_organic_carbon_t_c_per_ha(
                    np.where(grass, climate, 0),
                    tables=tables,
                    soil_type=pixels.soil_type,
                    management=pixels.management,
                    input_level=pixels.input_level,
                )
                soc = np.where(grass & np.isfinite(soc), soc, 0.0)
                soc_by_epoch[e] = soc
                grass_by_epoch[e] = grass
                stats[("grassland_area_m2", e)] = grass_land
                stats[("grassland_carbon_area_m2", e)] = grass
                stats[("grassland_biomass_t_c", e)] = per_m2(biomass.total_t_c_per_ha)
                stats[("grassland_soc_t_c", e)] = soc / 10_000.0
                density[e] += _or_zero(biomass.total_t_c_per_ha) + soc
            stats[("carbon_observed_area_m2", e)] = observed[e]

        first, last = epochs[0], epochs[-1]
        age = inputs.categorical("forest_age")  # Table 4.9 age class; secondary > 20 yr where no layer says otherwise
        age = np.full(shape, 2) if age is None else np.where(np.isin(age, (1, 2, 3)), age, 2)
        gain = forest_growth_removals(
            ecozone, age, tables=tables, valid=forest.components[last].tree & (ecozone > 0) & ~mangrove_px
        )
        gain_t_c_per_ha_yr = gain.agb_t_c_per_ha_yr + gain.bgb_t_c_per_ha_yr
        stats[("forest_gain_ipcc_t_c_per_yr", last)] = per_m2(gain_t_c_per_ha_yr)

        # one epoch: the sink is Table 4.9 growth by zone, so it needs climate whatever the biomass input
        sink_observed = observed[first] & observed[last] & (climate_ok if len(epochs) == 1 else True)
        stats[("carbon_sink_observed_area_m2", None)] = sink_observed
        if len(epochs) > 1:
            forest_sink = _or_zero(
                stock_difference_sink(forest_c[first], forest_c[last], year0=first, year1=last).c_t_per_yr
            )
            stats[("forest_sink_t_c_per_yr", None)] = forest_sink / 10_000.0
            sink = forest_sink.copy()  # t C/ha/yr, positive = sink
        else:
            losses = self._losses_t_c_per_ha_yr(inputs, ecozone, ftypes[last], mangrove_px)
            sink = np.asarray(_or_zero(gain_t_c_per_ha_yr) - losses, dtype=np.float64)
            stats[("forest_sink_t_c_per_yr", None)] = sink / 10_000.0
        if self.series_break:
            stats[("series_break_area_m2", None)] = np.ones(shape, bool)
        if self._soc_change:
            # SOC is estimated on grassland only, so the 20-yr transition applies where both states are grassland
            remaining = grass_by_epoch[first] & grass_by_epoch[last]
            soc_change = grassland.soc_change_t_c_per_ha_yr(soc_by_epoch[first], soc_by_epoch[last], 0.0)
            soc_change = np.where(remaining & np.isfinite(soc_change), soc_change, 0.0)
            stats[("grassland_soc_change_t_c_per_yr", None)] = soc_change / 10_000.0
            sink += soc_change

        if wt is not None:
            for code, name in WETLAND_NAMES:
                stats[(f"wetland_{name}_area_m2", None)] = wt == code
            mangrove = wetland.mangrove_biomass_carbon(wt, ecozone, tables=tables, valid=mangrove_px & (ecozone > 0))
            stats[("mangrove_biomass_t_c", None)] = per_m2(mangrove.total_t_c_per_ha)
            ch4 = wetland.ch4_co2e_t_per_ha_yr(
                wetland.wetland_ch4_kg_per_ha_yr(wt, climate, tables=tables, valid=(wt > 0) & (climate > 0)),
                tables=tables,
            )
            stats[("wetland_ch4_t_co2e_per_yr", None)] = per_m2(ch4)
            restoration = inputs.categorical("wetland_restoration")
            if restoration is not None:
                restored = restoration == 1
                soil = wetland.wetland_soil_sink_t_c_per_ha_yr(np.where(restored, wt, 0), tables=tables, restored=restored)
                soil = np.where(np.isin(wt, (2, 3, 4)) & restored, _or_zero(soil), 0.0)  # coastal restored only
                stats[("wetland_soil_sink_t_c_per_yr", None)] = soil / 10_000.0
                stats[("wetland_net_ghg_t_co2e_per_yr", None)] = (soil * C_TO_CO2 - _or_zero(ch4)) / 10_000.0
                sink += soil
            for e in epochs:
                density[e] += _or_zero(mangrove.total_t_c_per_ha)

        if "carbonate" in self.roles:
            carbonate = inputs.categorical("carbonate")
            assert carbonate is not None
            carbonate = np.where(carbonate < 0, 0, carbonate)
            flux = karst.karst_sink_mpd_t_c_per_km2_yr(
                temperature, precip, carbonate, include_buried=self.karst_include_buried, ionic_strength_mol_per_l=None
            )
            flux_per_ha = _or_zero(flux) / 100.0
            stats[("karst_exposed_area_m2", None)] = carbonate == 1
            stats[("karst_buried_area_m2", None)] = carbonate == 2
            stats[("karst_potential_sink_t_c_per_yr", None)] = flux_per_ha / 10_000.0
            if self.karst_potential_in_total:
                stats[("karst_sink_t_c_per_yr", None)] = flux_per_ha / 10_000.0
                sink += flux_per_ha

        rasters: dict[tuple[str, int | None], NDArray[np.float32]] = {}
        if "carbon_density" in self.rasters_wanted:
            for e in epochs:
                rasters[("carbon_density", e)] = np.where(observed[e], density[e], DENSITY_NODATA).astype(np.float32)
        if "carbon_sink" in self.rasters_wanted:
            rasters[("carbon_sink", None)] = np.where(sink_observed, sink, DENSITY_NODATA).astype(np.float32)
        return StepOutput(CarbonProducts(density, sink, climate, grass_pixels, ecozone), stats=stats, rasters=rasters)
