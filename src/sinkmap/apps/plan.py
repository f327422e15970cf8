"""Plan a pipeline: its grid, one source per layer and epoch, the region levels and the engine steps.

:func:`plan_pipeline` turns a loaded :class:`~sinkmap.config.PipelineConfig` into an engine
:class:`~sinkmap.engine.job.Job`: the forest step; the carbon step where climate layers exist; land-cover
transitions where land cover has two epochs; the InVEST step where a pools table is given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sinkmap.config import PipelineConfig
from sinkmap.engine.grid import GridSpec
from sinkmap.engine.job import Job
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
from sinkmap.steps.invest import InvestStep
from sinkmap.steps.landcover import TransitionStep
from sinkmap.steps.strata import ClassAreaStep, ForestStrataStep

__all__ = ["PipelinePlan", "plan_layers", "plan_pipeline"]

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
                    name, paths, grid, nodata=spec.nodata, resampling=spec.resampling, scale=spec.scale
                )
            except AlignmentError as exc:
                hint = f" (the suggested method for {role} is `{ROLES[role].resampling}`)" if "resampling" in str(exc) else ""
                raise AlignmentError(f"{config.path}: {exc}{hint}") from exc
            sources[(role, epoch)] = source
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


def plan_pipeline(config: PipelineConfig) -> PipelinePlan:
    """Inspect layers and regions, fix the grid, and choose the steps."""
    grid, sources = plan_layers(config)
    levels = [load_level(spec) for spec in config.regions]
    zones = ZoneIndex.build(levels, grid)
    roles = frozenset(config.layers)
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
            CarbonStep(tables, config.epochs, roles, config.carbon.karst_include_buried, config.raster_outputs)
        )
        if config.uncertainty is not None:  # forest strata table for the Monte Carlo intervals
            steps.append(ForestStrataStep(config.epochs))
    elif config.carbon.enabled:
        log.info("carbon step off: it needs mean_temperature and annual_precip layers")
    if "landcover" in roles and len(config.epochs) > 1:
        steps.append(TransitionStep(config.epochs[0], config.epochs[-1]))
    if config.accuracy is not None:  # strata weights of the reference sample: mapped area of each class
        steps.append(ClassAreaStep(config.epochs))
    if config.carbon.invest_pools is not None:
        table = read_invest_carbon_table(config.carbon.invest_pools)
        steps.append(InvestStep(table, tuple((e, ("landcover", e)) for e in config.epochs)))
    return PipelinePlan(config, Job(grid, sources, zones, tuple(steps)), levels, tables)


