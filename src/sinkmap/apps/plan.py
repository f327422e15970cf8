"""Plan a pipeline: its grid, one source per layer and epoch, the region levels and the engine steps.

:func:`plan_pipeline` turns a loaded :class:`~sinkmap.config.PipelineConfig` into an engine
:class:`~sinkmap.engine.job.Job`: the forest step; the carbon step where climate layers exist; land-cover
transitions where land cover has two epochs; the InVEST step where a pools table is given.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sinkmap.apps.invest import nodata_listed
from sinkmap.config import PipelineConfig
from sinkmap.engine.checks import ValueCheck
from sinkmap.engine.derived import DerivedSource
from sinkmap.engine.grid import GridSpec
from sinkmap.engine.job import Job
from sinkmap.engine.legends import LegendSource
from sinkmap.engine.regions import RegionLevel, ZoneIndex, load_level
from sinkmap.engine.roles import ROLES
from sinkmap.engine.sources import MAX_COARSE_PIXELS, CoarseSource, LayerSource, Source
from sinkmap.engine.step import LayerKey, Step
from sinkmap.errors import AlignmentError
from sinkmap.factors import FactorTables, load_factor_tables
from sinkmap.kernels.carbon.invest import read_invest_carbon_table
from sinkmap.kernels.carbon.zones import thornthwaite_pet_mm_per_yr
from sinkmap.steps.carbon import PET, PET_METHOD, CarbonStep
from sinkmap.steps.forest import ForestStep
from sinkmap.steps.grassland_strata import GrasslandStrataStep
from sinkmap.steps.invest import InvestStep
from sinkmap.steps.landcover import TransitionStep
from sinkmap.steps.strata import ClassAreaStep, ForestStrataStep

__all__ = ["PipelinePlan", "layer_checks", "plan_layers", "plan_pipeline"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelinePlan:
    """A pipeline ready to run: its configuration, the engine job and the region levels."""

    config: PipelineConfig
    job: Job
    levels: list[RegionLevel]
    factor_tables: FactorTables | None

    @property
    def grid_role(self) -> str:
        return self.config.grid_like or ("landcover" if "landcover" in self.config.layers else "canopy_cover")


def plan_layers(config: PipelineConfig) -> tuple[GridSpec, dict[LayerKey, Source]]:
    """The pipeline grid and one source per (role, epoch) (epoch ``None`` for static layers)."""
    grid_role = config.grid_like or ("landcover" if "landcover" in config.layers else "canopy_cover")
    grid_spec = config.layers[grid_role]
    first_paths = grid_spec.static or next(iter(grid_spec.by_epoch.values()))  # type: ignore[union-attr]
    grid = LayerSource.plan(grid_role, first_paths, None).source_grid
    grid = replace(grid, area=config.area)  # `area: nominal` (InVEST's totals) is stated in the manifest's grid
    log.info("grid: %s, %d × %d pixels of %s", grid.crs_label, grid.height, grid.width, grid.res)
    sources: dict[LayerKey, Source] = {}
    for role, spec in config.layers.items():
        epochs: list[int | None] = [None] if spec.static is not None else list(spec.by_epoch or {})
        for epoch in epochs:
            paths = spec.paths_for(epoch) if epoch is not None else spec.static
            assert paths is not None
            name = role if epoch is None else f"{role}[{epoch}]"
            try:
                source = LayerSource.plan(
                    name,
                    paths,
                    grid,
                    nodata=spec.nodata,
                    resampling=spec.resampling,
                    scale=spec.scale,
                    nan_is_nodata=False,  # undeclared NaN is an invalid value, reported by the layer's check
                )
            except AlignmentError as exc:
                hint = f" (the suggested method for {role} is `{ROLES[role].resampling}`)" if "resampling" in str(exc) else ""
                raise AlignmentError(f"{config.path}: {exc}{hint}") from exc
            sources[(role, epoch)] = source if spec.legend is None else LegendSource(source, spec.legend)
    sources.update(_legend_roles(config, sources))
    if config.inputs or config.derived:
        sources.update(_derived_sources(config, grid, sources))
    temperature = sources.get(("mean_temperature", None))
    if (
        isinstance(temperature, LayerSource)
        and not temperature.aligned
        and config.carbon.pet_grid == "layer"
        and temperature.source_grid.height * temperature.source_grid.width <= MAX_COARSE_PIXELS
    ):
        # PET depends on temperature and latitude only: compute it at the resolution of its information
        coarse = CoarseSource.derive(
            temperature,
            {PET: (lambda mat, lat: thornthwaite_pet_mm_per_yr(mat, lat), PET_METHOD)},
        )
        sources[("mean_temperature", None)] = coarse.band(temperature.name)
        sources[(PET, None)] = coarse.band(PET)
        log.info(
            "layer mean_temperature: held on its own %d × %d grid with %s computed there; both aligned in one warp",
            temperature.source_grid.height,
            temperature.source_grid.width,
            PET,
        )
    for layer in sources.values():
        if isinstance(layer, LayerSource) and not layer.aligned:
            log.info("layer %s: %s", layer.name, layer.describe()["alignment"])
    return grid, sources


def layer_checks(config: PipelineConfig, sources: Mapping[LayerKey, Source]) -> dict[LayerKey, ValueCheck]:
    """The values each configured layer may hold: its role's valid range or legend, with the layer's policy."""
    checks: dict[LayerKey, ValueCheck] = {}
    for (role, epoch), source in sources.items():
        spec = config.layers.get(role)
        info = ROLES.get(role)
        if info is None:  # bands sinkmap computes itself (PET)
            continue
        if spec is None and not isinstance(source, DerivedSource):  # a role given by another layer's legend
            continue
        checks[(role, epoch)] = ValueCheck(
            layer=role if epoch is None else f"{role}[{epoch}]",
            files=tuple(source.paths),
            unit=info.unit,
            valid_range=info.valid_range,
            codes=spec.accepted_codes if spec is not None else (frozenset(info.legend) if info.legend else None),
            policy="mask" if spec is not None and spec.invalid == "mask" else "error",
        )
    return checks


def _legend_roles(config: PipelineConfig, layers: dict[LayerKey, Source]) -> dict[LayerKey, Source]:
    """Roles a product legend also gives (leaf type, wetland type from the land-cover classes), for roles the
    pipeline does not supply itself: per epoch, or from the last epoch for a static role."""
    given = set(config.layers) | {d.name for d in config.derived}
    out: dict[LayerKey, Source] = {}
    for (role, epoch), source in layers.items():
        if not isinstance(source, LegendSource):
            continue
        for extra in source.legend.derived_roles:
            if extra in given:
                continue
            static = ROLES[extra].temporal == "static"
            if static and epoch is not None and epoch != max(e for (r, e) in layers if r == role and e is not None):
                continue
            out[(extra, None if static else epoch)] = LegendSource(source.source, source.legend.for_role(extra))
            log.debug("layer %s: from the %s legend's classes of %s", extra, source.legend.name, source.name)
    return out


def _derived_sources(config: PipelineConfig, grid: GridSpec, layers: dict[LayerKey, Source]) -> dict[LayerKey, Source]:
    """The derived layers that are roles, per epoch; computed lazily from the pipeline's ``inputs`` and layers."""
    pool: dict[LayerKey, Source] = dict(layers)
    for name, spec in config.inputs.items():
        for epoch in [None] if spec.static is not None else list(spec.by_epoch or {}):
            paths = spec.static if epoch is None else spec.paths_for(epoch)
            assert paths is not None
            try:
                source = LayerSource.plan(
                    name if epoch is None else f"{name}[{epoch}]",
                    paths,
                    grid,
                    nodata=spec.nodata,
                    resampling=spec.resampling,
                    scale=spec.scale,
                )
            except AlignmentError as exc:
                raise AlignmentError(f"{config.path}: inputs.{name}: {exc}") from exc
            pool[(name, epoch)] = source if spec.legend is None else LegendSource(source, spec.legend)
    out: dict[LayerKey, Source] = {}
    for derived in config.derived:
        epochs_of = [{e for (n, e) in pool if n == name} for name in derived.of]
        if all(None in found for found in epochs_of):
            epochs: list[int | None] = [None]
        else:  # per epoch where every per-epoch input has that epoch (a static input serves every epoch)
            epochs = [e for e in config.epochs if all(None in found or e in found for found in epochs_of)]
        for epoch in epochs:
            parts = tuple(pool[(name, epoch)] if (name, epoch) in pool else pool[(name, None)] for name in derived.of)
            computed = DerivedSource(
                derived.name if epoch is None else f"{derived.name}[{epoch}]",
                derived.operation,
                parts,
                above=derived.above,
                below=derived.below,
                mapping=derived.mapping,
                default=derived.default,
            )
            pool[(derived.name, epoch)] = computed
            if derived.name in ROLES:
                out[(derived.name, epoch)] = computed
        log.info("layer %s: derived (%s of %s)", derived.name, derived.operation, ", ".join(derived.of))
    return out


def plan_pipeline(config: PipelineConfig) -> PipelinePlan:
    """Inspect layers and regions, fix the grid, and choose the steps."""
    grid, sources = plan_layers(config)
    levels = [load_level(spec) for spec in config.regions]
    zones = ZoneIndex.build(levels, grid)
    roles = frozenset(role for role, _ in sources if role in ROLES)  # layers, derived layers, legend-given roles
    loss = config.layers.get("loss_year")
    steps: list[Step[Any]] = [
        ForestStep(
            config.forest_definition,
            config.epochs,
            loss_base_year=None if loss is None else loss.base_year or 0,
            rasters_wanted=config.raster_outputs,
        )
    ]
    tables = None
    if config.carbon.enabled and CarbonStep.applies(roles):
        tables = load_factor_tables(config.carbon.factors)
        steps.append(
            CarbonStep(
                tables,
                config.epochs,
                roles,
                config.carbon.karst_include_buried,
                config.raster_outputs,
                factor_set=config.carbon.resolved_factor_set(config.forest_definition),
                dead_organic_matter=config.carbon.dead_organic_matter,
                karst_potential_in_total=config.carbon.karst_potential_in_total,
                monitoring_bases=config.carbon.monitoring_base,
                biomass_choice=config.carbon.biomass_input,
                loss_base_year=None if loss is None else loss.base_year,
            )
        )
        if config.uncertainty is not None:  # forest strata table for the Monte Carlo intervals
            stock_sd = config.uncertainty.map_correlation if "growing_stock_sd" in roles else None
            steps.append(ForestStrataStep(config.epochs, stock_sd))
            if "landcover" in roles:  # grassland strata, where the carbon step estimates grassland
                steps.append(GrasslandStrataStep(config.epochs))
    elif config.carbon.enabled:
        log.info("carbon step off: it needs mean_temperature and annual_precip layers")
    if "landcover" in roles and len(config.epochs) > 1:
        steps.append(TransitionStep(config.epochs[0], config.epochs[-1]))
    if config.accuracy is not None:  # strata weights of the reference sample: mapped area of each class
        steps.append(ClassAreaStep(config.epochs))
    if config.carbon.invest_pools is not None:
        table = read_invest_carbon_table(config.carbon.invest_pools)
        for (role, epoch), source in sources.items():
            if role == "landcover" and isinstance(source, LayerSource) and nodata_listed(table, source) is not None:
                log.warning("carbon.invest_pools has a row for the landcover nodata value %s (%s): those pixels are "
                            "masked; InVEST would map them through that row", source.nodata, epoch)
        steps.append(InvestStep(table, tuple((e, ("landcover", e)) for e in config.epochs)))
    job = Job(grid, sources, zones, tuple(steps), layer_checks(config, sources))
    return PipelinePlan(config, job, levels, tables)


