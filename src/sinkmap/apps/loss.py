"""Annual gross emissions from tree-cover loss per region, as Global Forest Watch reports them.

:func:`loss_emissions` runs :class:`~sinkmap.steps.loss.LossEmissionsStep` on the engine over a tree-cover-2000
layer, a Hansen loss-year layer and a biomass layer (plus optional precipitation, elevation and soil carbon), and
returns one row per region and loss year: tree-cover loss area (ha) inside the tree-cover threshold, gross
emissions by pool (t CO₂e) on those pixels, and the loss area and emissions over GFW's full model extent. The
rules, constants and their sources go into ``attrs["manifest"]`` (the CLI writes it next to the table).

How the method differs from GFW's flux model is listed in :data:`DIFFERENCES_FROM_GFW` (also in the README).
"""

from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from sinkmap.apps.polygons import polygon_level, run_with_rasters
from sinkmap.engine.job import Job
from sinkmap.engine.regions import ZoneIndex
from sinkmap.engine.roles import ROLES
from sinkmap.engine.sources import LayerSource, Source
from sinkmap.errors import ConfigError, SinkmapError
from sinkmap.kernels.carbon.loss import DOMAINS, GfwFactors, read_gfw_factors
from sinkmap.steps.loss import LOSS_CODE_BEYOND, LossEmissionsStep

__all__ = ["DIFFERENCES_FROM_GFW", "loss_emissions", "packaged_gfw_factors"]

log = logging.getLogger(__name__)

DIFFERENCES_FROM_GFW: tuple[str, ...] = (
    "Biomass carbon is emitted from the base-year AGB as given; GFW first adds the removals accrued between 2000 "
    "and the loss year (AGC in the emission year).",
    "Below-ground biomass uses GFW's default BGB:AGB ratio 0.26 everywhere; GFW uses the Huang et al. 2021 ratio "
    "raster where it has a value.",
    "Only CO2 from the biomass (and, optionally, mineral-soil) carbon: no drivers of loss, no fire (CH4, N2O from "
    "burning), no peat drainage or peat fire, no N2O from soil N mineralisation, no mangrove, plantation or IFL "
    "branches of GFW's decision tree.",
    "The climate domain of the dead wood / litter rule is one value for the run, with precipitation and elevation "
    "from layers or constants; GFW reads a per-pixel domain raster.",
    "Soil: one F_LU for the run, emissions capped at the 20-year transition (min(years since loss, 20)); GFW picks "
    "F_LU by driver and climate and multiplies by (model years − loss year) without a cap.",
    "The forest extent is tree cover 2000 above the threshold only; GFW's also takes in Hansen gain and mangrove "
    "pixels and leaves out pre-2000 oil-palm plantations, layers sinkmap does not read.",
    "The biomass is whatever AGB (or growing stock × BCEF) the user gives; GFW uses its own 30 m AGB 2000 map "
    "(WHRC) with mangrove AGB taking precedence.",
    "Pixel area is sinkmap's true area and regions count boundary pixels by their exact covered fraction; GFW sums "
    "whole 30 m pixels with its own geodesic pixel-area rasters (the same ellipsoidal formula).",
)

_LAYER_ROLES = ("canopy_cover", "loss_year", "agb", "growing_stock", "annual_precip", "elevation", "soil_carbon")


def packaged_gfw_factors() -> GfwFactors:
    """GFW's constants as shipped in ``sinkmap/data/gfw/gfw_loss_factors.csv``."""
    with importlib.resources.as_file(
        importlib.resources.files("sinkmap").joinpath("data", "gfw", "gfw_loss_factors.csv")
    ) as path:
        return read_gfw_factors(path)


def loss_emissions(
    tree_cover: str,
    loss_year: str,
    *,
    last_year: int,
    agb: str | None = None,
    growing_stock: str | None = None,
    bcef: float | None = None,
    base_year: int = 2000,
    threshold_pct: float | None = None,
    inclusive: bool = False,
    domain: str,
    annual_precip: str | float | None = None,
    elevation: str | float | None = None,
    soil_carbon: str | None = None,
    soil_f_lu: float | None = None,
    regions: str | Path | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    raster_dir: str | Path | None = None,
    chunk_size: int = 256,
    scheduler: str | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Tree-cover loss (ha) and gross emissions (t CO₂e) per region and loss year.

    Args:
        tree_cover: tree cover in ``base_year``, % (Hansen ``treecover2000``); it defines the grid.
        loss_year: Hansen loss year (0 no loss, N = loss in ``base_year + N``).
        last_year: the last loss year to report (codes above it are an error: a newer product than stated).
        agb, growing_stock, bcef: biomass, either AGB (t d.m./ha) or growing stock (m³/ha) × ``bcef`` (t d.m./m³).
        base_year: the year of tree cover and biomass (2000 for Hansen).
        threshold_pct, inclusive: forest extent = tree cover ``> threshold`` (GFW, default 30 %) or ``≥``.
        domain: climate domain for the dead wood / litter rule: ``tropical``, ``temperate`` or ``boreal``.
        annual_precip, elevation: a raster path or one value (mm/yr, m) — needed in the tropical domain.
        soil_carbon, soil_f_lu: mineral-soil carbon (t C/ha raster) and the F_LU to apply (soil pool when both).
        regions, id_field, name_field: polygons to report by (the whole grid without them).
        raster_dir: write per-pixel gross emissions (t CO₂e/ha) here.
        chunk_size, scheduler, workers: engine options (windows of 256 px keep the per-year arrays small).

    Raises:
        ConfigError: an option is missing or out of range.
        SinkmapError: the loss layer holds codes beyond ``last_year``.
    """
    factors = packaged_gfw_factors()
    threshold = factors.canopy_threshold if threshold_pct is None else threshold_pct
    if domain not in DOMAINS:
        raise ConfigError(f"--domain {domain!r}: use one of {', '.join(DOMAINS)}")
    if (agb is None) == (growing_stock is None):
        raise ConfigError("give the biomass as exactly one of --agb (t d.m./ha) or --growing-stock (m³/ha, with --bcef)")
    if growing_stock is not None and (bcef is None or bcef <= 0):
        raise ConfigError("--growing-stock needs --bcef, the t of above-ground biomass per m³ of growing stock (> 0)")
    if not 0 <= threshold <= 100:
        raise ConfigError(f"--threshold {threshold}: a tree-cover threshold is a percentage in [0, 100]")
    last_code = last_year - base_year
    if last_code < 1:
        raise ConfigError(f"--last-year {last_year} must come after the base year {base_year}")
    if domain == "tropical" and (annual_precip is None or elevation is None):
        raise ConfigError(
            "the tropical dead wood / litter rule depends on annual precipitation and elevation: give "
            "--precip (a raster in mm/yr or one value) and --elevation (a raster in m or one value)"
        )
    if (soil_carbon is None) != (soil_f_lu is None):
        raise ConfigError("soil emissions need both --soil-carbon (t C/ha raster) and --soil-f-lu (0 to 1)")
    if soil_f_lu is not None and not 0 <= soil_f_lu <= 1:
        raise ConfigError(f"--soil-f-lu {soil_f_lu}: F_LU is a fraction in [0, 1]")
    if regions is not None and not id_field:
        raise ConfigError(f"--regions {regions}: give the regions' id field with --id-field")

    first = LayerSource.plan("canopy_cover", [str(tree_cover)], None)
    grid = first.target_grid
    sources: dict[tuple[str, int | None], Source] = {("canopy_cover", None): first}
    files: dict[str, str | float] = {"canopy_cover": tree_cover}
    given: dict[str, str | float | None] = {
        "loss_year": loss_year,
        "agb": agb,
        "growing_stock": growing_stock,
        "annual_precip": annual_precip,
        "elevation": elevation,
        "soil_carbon": soil_carbon,
    }
    constants: dict[str, float] = {}
    for role, value in given.items():
        if value is None:
            continue
        if isinstance(value, int | float):
            constants[role] = float(value)
            files[role] = float(value)
            continue
        sources[(role, None)] = LayerSource.plan(role, [str(value)], grid, resampling=ROLES[role].resampling)
        files[role] = str(value)
    step = LossEmissionsStep(
        factors,
        base_year,
        last_code,
        threshold_pct=threshold,
        inclusive=inclusive,
        domain=domain,
        precip_mm_per_yr=constants.get("annual_precip"),
        elevation_m=constants.get("elevation"),
        biomass_role="agb" if agb is not None else "growing_stock",
        bcef=bcef,
        soil_f_lu=soil_f_lu,
        end_year=last_year,
        with_soil=soil_carbon is not None,
        rasters_wanted=raster_dir is not None,
    )
    level = polygon_level(regions, grid, id_field=id_field, name_field=name_field)
    zones = ZoneIndex.build([level], grid)
    job = Job(grid, sources, zones, (step,))
    result = run_with_rasters(job, raster_dir, chunk_size=chunk_size, scheduler=scheduler, workers=workers)
    beyond = sorted(code for what, code in result.notes if what == LOSS_CODE_BEYOND)
    if beyond:
        raise SinkmapError(
            f"{loss_year}: loss code(s) {beyond} (years {[base_year + c for c in beyond]}) come after --last-year "
            f"{last_year}; give the product's last loss year (e.g. --last-year {base_year + max(beyond)})"
        )
    raw = {spec.key: result.totals[:, j] for j, spec in enumerate(job.stats)}
    rows = []
    for i, (region_id, name) in enumerate(zip(level.ids, level.names_zh, strict=True)):
        for year in step.years:
            row: dict[str, Any] = {"region_id": region_id, "name": name, "loss_year": year}
            row["tree_cover_loss_ha"] = raw[("gfw_loss_area_m2", year)][i] / 1e4
            for pool in step.pools:
                row[f"{pool}_t_co2e"] = raw[(f"gfw_{pool}_t_co2e", year)][i]
            row["gross_emissions_t_co2e"] = sum(row[f"{pool}_t_co2e"] for pool in step.pools)
            row["full_extent_loss_ha"] = raw[("gfw_loss_full_extent_area_m2", year)][i] / 1e4
            row["full_extent_gross_emissions_t_co2e"] = raw[("gfw_total_full_extent_t_co2e", year)][i]
            rows.append(row)
    out = pd.DataFrame(rows)
    missing_ha = float(raw[("gfw_loss_without_estimate_area_m2", None)].sum() / 1e4)
    comparison = "≥" if inclusive else ">"
    out.attrs["manifest"] = {
        "method": "gross emissions from tree-cover loss after the Global Forest Watch forest carbon flux model "
        "(Harris et al. 2021), CO2 from biomass carbon pools (and mineral soil when given), committed to the loss year",
        "inputs": files,
        "alignment": {source.name: source.describe()["alignment"] for source in sources.values() if isinstance(source, LayerSource)},
        "grid": grid.describe(),
        "base_year": base_year,
        "loss_years": [step.years[0], step.years[-1]],
        "forest_extent": f"tree cover {base_year} {comparison} {threshold:g} %",
        "full_extent": f"tree cover {base_year} > 0 % and above-ground biomass > 0",
        "domain": domain,
        "biomass": "agb (t d.m./ha)" if agb is not None else f"growing_stock (m3/ha) × BCEF {bcef} t d.m./m3",
        "rules": {
            "agb_carbon": f"AGB × {factors.carbon_fraction_biomass}",
            "bgb_carbon": f"AGB × {factors.bgb_to_agb} × {factors.carbon_fraction_biomass}",
            "deadwood_carbon": f"AGB × f_deadwood × {factors.carbon_fraction_biomass}",
            "litter_carbon": f"AGB × f_litter × {factors.carbon_fraction_litter}",
            "deadwood_litter_fractions": [
                {
                    "domain": r.domain,
                    "elevation_m": list(r.elevation_m),
                    "precip_mm_per_yr": list(r.precip_mm_per_yr),
                    "deadwood": r.deadwood_fraction,
                    "litter": r.litter_fraction,
                }
                for r in factors.rules
                if r.domain == domain
            ],
            "soil_carbon": None
            if soil_carbon is None
            else f"SOC × (1 − {soil_f_lu}) / {factors.soil_emission_period:g} × min({last_year} − loss year, "
            f"{factors.soil_emission_period:g})",
            "co2e": f"t C × {factors.c_to_co2:.6f} (44/12)",
        },
        "factor_rows": list(factors.rows),
        "factor_file": "sinkmap/data/gfw/gfw_loss_factors.csv",
        "loss_without_estimate_ha": missing_ha,
        "differences_from_gfw": list(DIFFERENCES_FROM_GFW),
        "rasters": {path.name: spec.description for spec in job.rasters for key, path in result.rasters.items() if key == spec.key},
        "units": "areas ha; emissions t CO2e, positive = emission",
    }
    if missing_ha > 0:
        log.warning("%.4g ha of tree-cover loss has no emission estimate (no biomass or rule value there)", missing_ha)
    return out
