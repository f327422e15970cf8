"""The loss-emissions step: Global Forest Watch-style gross emissions from tree-cover loss, per loss year.

Reads a tree-cover-2000 layer (``canopy_cover``, %), a Hansen ``loss_year`` layer (0 no loss, N = loss in
``base_year + N``), above-ground biomass (``agb``, t d.m./ha, or ``growing_stock`` × a BCEF) and, when given,
``annual_precip``, ``elevation`` and ``soil_carbon``. For every loss year it returns:

* ``gfw_loss_area_m2``: tree-cover loss inside the tree-cover threshold (GFW's forest extent, ``> 30 %`` by
  default, or ``≥``);
* ``gfw_<pool>_t_co2e`` for ``agb``, ``bgb``, ``deadwood``, ``litter`` (and ``soil``): gross emissions of that pool
  on those pixels, t CO₂e, all attributed to the loss year (GFW's committed-emissions accounting);
* ``gfw_loss_full_extent_area_m2`` and ``gfw_total_full_extent_t_co2e``: the same over GFW's full model extent
  (tree cover 2000 > 0 and AGB > 0, whatever the threshold);

and, once, ``gfw_loss_without_estimate_area_m2``: loss inside the threshold where a pixel's emissions cannot be
estimated (no biomass, soil or dead wood / litter rule value; its pools are all left out, never some of them). Codes above the last declared loss year are
returned as notes (the app refuses them). Rasters on request: gross emissions per pixel, t CO₂e/ha, in the full
extent and in the forest extent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sinkmap.engine.step import (
    Earlier,
    RasterSpec,
    StatSpec,
    Step,
    StepOutput,
    WindowInputs,
    per_m2,
)
from sinkmap.kernels.carbon.loss import (
    GfwFactors,
    loss_carbon_t_c_per_ha,
    soil_loss_t_c_per_ha,
    tree_cover_mask,
)

__all__ = ["LOSS_CODE_BEYOND", "POOLS", "LossEmissionsStep"]

LOSS_CODE_BEYOND = "loss: loss_year code beyond the last loss year"
POOLS = ("agb", "bgb", "deadwood", "litter")
RASTER_NODATA = float("nan")


@dataclass(frozen=True)
class LossEmissionsStep(Step[None]):
    """Gross emissions from tree-cover loss per loss year (see the module docstring).

    Attributes:
        factors: GFW's constants and dead wood / litter rules.
        base_year: the year of the tree-cover and biomass layers; loss code N is the year ``base_year + N``.
        last_code: the last loss code reported (codes 1 … ``last_code``).
        threshold_pct, inclusive: the forest extent is tree cover ``> threshold`` (or ``≥`` when inclusive).
        domain: climate domain of the dead wood / litter rule (``tropical``, ``temperate``, ``boreal``).
        precip_mm_per_yr, elevation_m: constants used where no ``annual_precip`` / ``elevation`` layer is given.
        biomass_role: ``agb`` (t d.m./ha) or ``growing_stock`` (m³/ha, times ``bcef``).
        bcef: t AGB d.m. per m³ of growing stock, with ``growing_stock``.
        soil_f_lu: F_LU for the soil rule (soil emissions are computed when this and a ``soil_carbon`` layer exist).
        end_year: the end of the reporting period for soil emissions (years since loss = ``end_year`` − loss year).
        rasters_wanted: write the per-pixel gross-emission rasters.
    """

    name = "loss"
    factors: GfwFactors
    base_year: int
    last_code: int
    threshold_pct: float = 30.0
    inclusive: bool = False
    domain: str = "tropical"
    precip_mm_per_yr: float | None = None
    elevation_m: float | None = None
    biomass_role: str = "agb"
    bcef: float | None = None
    soil_f_lu: float | None = None
    end_year: int | None = None
    with_soil: bool = False
    rasters_wanted: bool = False

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(self.base_year + n for n in range(1, self.last_code + 1))

    @property
    def pools(self) -> tuple[str, ...]:
        return (*POOLS, "soil") if self.with_soil else POOLS

    def stats(self) -> tuple[StatSpec, ...]:
        comparison = "≥" if self.inclusive else ">"
        extent = f"tree cover {self.base_year} {comparison} {self.threshold_pct:g} %"
        out = [
            StatSpec(
                "gfw_loss_without_estimate_area_m2", None, "m2", f"tree-cover loss ({extent}) without an emission estimate (no biomass, soil or dead wood/litter rule value)"
            )
        ]
        for year in self.years:
            out.append(StatSpec("gfw_loss_area_m2", year, "m2", f"tree-cover loss in {year}, {extent}"))
            out += [
                StatSpec(f"gfw_{pool}_t_co2e", year, "t CO2e", f"gross emissions from {pool}, loss in {year}, {extent}")
                for pool in self.pools
            ]
            out.append(
                StatSpec(
                    "gfw_loss_full_extent_area_m2",
                    year,
                    "m2",
                    f"tree-cover loss in {year}, full model extent (tree cover > 0 and biomass > 0)",
                )
            )
            out.append(
                StatSpec(
                    "gfw_total_full_extent_t_co2e",
                    year,
                    "t CO2e",
                    f"gross emissions, all pools, loss in {year}, full model extent",
                )
            )
        return tuple(out)

    def rasters(self) -> tuple[RasterSpec, ...]:
        if not self.rasters_wanted:
            return ()
        comparison = "≥" if self.inclusive else ">"
        span = f"{self.years[0]}-{self.years[-1]}" if self.years else ""
        tags = {"POOLS": ",".join(self.pools), "LOSS_YEARS": span, "SIGN_CONVENTION": "emission positive"}
        return (
            RasterSpec(
                "gross_emissions_full_extent",
                None,
                "float32",
                RASTER_NODATA,
                "t CO2e/ha",
                f"gross emissions from tree-cover loss {span}, all pools, in the year of loss; full model extent "
                "(tree cover > 0 and biomass > 0); 0 = no loss",
                tags,
            ),
            RasterSpec(
                "gross_emissions_forest_extent",
                None,
                "float32",
                RASTER_NODATA,
                "t CO2e/ha",
                f"gross emissions from tree-cover loss {span}, all pools; forest extent (tree cover {comparison} "
                f"{self.threshold_pct:g} %); 0 = no loss or outside the extent",
                tags,
            ),
        )

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[None]:
        out: StepOutput[None] = StepOutput(None)
        tcd = inputs.continuous("canopy_cover")
        loss = inputs.categorical("loss_year")
        biomass = inputs.continuous(self.biomass_role)
        assert tcd is not None and loss is not None and biomass is not None  # the job is built with these layers
        agb = biomass.astype(np.float64)
        if self.biomass_role == "growing_stock":
            assert self.bcef is not None
            agb = agb * self.bcef
        precip = inputs.continuous("annual_precip")
        elevation = inputs.continuous("elevation")
        precip_v = precip if precip is not None else np.float64(np.nan if self.precip_mm_per_yr is None else self.precip_mm_per_yr)
        elevation_v = elevation if elevation is not None else np.float64(np.nan if self.elevation_m is None else self.elevation_m)
        lost = (loss >= 1) & (loss <= self.last_code)
        beyond = loss > self.last_code
        out.notes = frozenset((LOSS_CODE_BEYOND, int(c)) for c in np.unique(loss[beyond])) if beyond.any() else frozenset()
        soil = None
        if self.with_soil:
            soc = inputs.continuous("soil_carbon")
            assert soc is not None and self.soil_f_lu is not None and self.end_year is not None
            years_since = self.end_year - (self.base_year + loss.astype(np.float64))
            soil = soil_loss_t_c_per_ha(
                soc, self.soil_f_lu, years_since, period_yr=self.factors.soil_emission_period
            )
        carbon = loss_carbon_t_c_per_ha(
            np.where(np.isfinite(agb), np.maximum(agb, 0.0), np.nan),
            domain=self.domain,
            precip_mm_per_yr=precip_v,
            elevation_m=elevation_v,
            factors=self.factors,
            soil=soil,
        )
        to_co2 = self.factors.c_to_co2
        forest = tree_cover_mask(tcd, self.threshold_pct, inclusive=self.inclusive) & lost
        full = (np.nan_to_num(tcd) > 0) & (np.nan_to_num(agb) > 0) & lost
        pool_co2 = {pool: density * to_co2 for pool, density in carbon.pools().items()}
        total_co2 = carbon.total * to_co2
        estimated = np.isfinite(total_co2)  # every pool has a value: a pixel is estimated whole or not at all
        out.stats[("gfw_loss_without_estimate_area_m2", None)] = forest & ~estimated
        for n, year in enumerate(self.years, start=1):
            this_year = loss == n
            in_forest = forest & this_year
            out.stats[("gfw_loss_area_m2", year)] = in_forest
            for pool in self.pools:
                out.stats[(f"gfw_{pool}_t_co2e", year)] = per_m2(np.where(in_forest & estimated, pool_co2[pool], np.nan))
            in_full = full & this_year
            out.stats[("gfw_loss_full_extent_area_m2", year)] = in_full
            out.stats[("gfw_total_full_extent_t_co2e", year)] = per_m2(np.where(in_full, total_co2, np.nan))
        if self.rasters_wanted:
            valid = np.isfinite(tcd) & (loss >= 0)
            out.rasters[("gross_emissions_full_extent", None)] = np.where(
                full, total_co2, np.where(valid, 0.0, np.nan)
            ).astype(np.float32)
            out.rasters[("gross_emissions_forest_extent", None)] = np.where(
                forest, total_co2, np.where(valid, 0.0, np.nan)
            ).astype(np.float32)
        return out
