"""Run a pipeline: plan the grid, layers, regions and steps; run them on the engine; write the run directory.

:func:`plan_pipeline` turns a loaded :class:`~sinkmap.config.PipelineConfig` into an engine
:class:`~sinkmap.engine.job.Job` (the forest step, the carbon step where climate layers exist, the InVEST step
where a pools table is given). :func:`run_pipeline` runs it, derives the published tables from the accumulated
totals (:mod:`sinkmap.apps.quantities`) and writes everything into a scratch directory that becomes the output
directory only when complete. The xarray API (:mod:`sinkmap.api`) uses the same plan and the same tables.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sinkmap.apps.quantities import Quantity
from sinkmap.config import PipelineConfig
from sinkmap.engine.grid import GridSpec
from sinkmap.engine.job import Job, JobResult, run_job
from sinkmap.engine.regions import RegionLevel, ZoneIndex, load_level
from sinkmap.engine.sources import MAX_COARSE_PIXELS, CoarseSource, LayerSource, Source
from sinkmap.engine.step import LayerKey, Step
from sinkmap.errors import AlignmentError, FactorTableError, OutputExistsError
from sinkmap.factors import FactorTables, load_factor_tables
from sinkmap.kernels.carbon.invest import read_invest_carbon_table
from sinkmap.kernels.carbon.zones import thornthwaite_pet_mm_per_yr
from sinkmap.steps.carbon import PET, PET_METHOD, CarbonStep
from sinkmap.steps.forest import ForestStep
from sinkmap.steps.invest import UNKNOWN_CODE, InvestStep
from sinkmap.steps.landcover import TransitionStep
from sinkmap.targets import TargetSet, load_targets

__all__ = ["PipelinePlan", "RegionResults", "RunResult", "plan_pipeline", "region_results", "run_pipeline"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


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
                raise AlignmentError(f"{config.path}: {exc}") from exc
            if not source.aligned:
                log.info("layer %s: %s", name, source.describe()["alignment"])
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
    elif config.carbon.enabled:
        log.info("carbon step off: it needs mean_temperature and annual_precip layers")
    if "landcover" in roles and len(config.epochs) > 1:
        steps.append(TransitionStep(config.epochs[0], config.epochs[-1]))
    if config.carbon.invest_pools is not None:
        table = read_invest_carbon_table(config.carbon.invest_pools)
        steps.append(InvestStep(table, tuple((e, ("landcover", e)) for e in config.epochs)))
    return PipelinePlan(config, Job(grid, sources, zones, tuple(steps)), levels, tables)


@dataclass
class RegionResults:
    """Published tables per level (``nation`` first), the transitions table, and each column's quantity."""

    tables: dict[str, pd.DataFrame]
    transitions: pd.DataFrame
    columns: dict[str, Quantity]
    targets: TargetSet | None


def _zero_cancellation_noise(totals: NDArray[np.float64]) -> NDArray[np.float64]:
    """Boundary pieces of a region that misses a class cancel to float64 rounding of the window sums they came
    from (≈ 1e-16 of a column's largest total); show an exact 0 rather than ±1e-12 km²."""
    out = totals.copy()
    if out.size:
        noise = np.maximum(np.abs(out).max(axis=0, keepdims=True) * 1e-13, 1e-6)
        out[np.abs(out) < noise] = 0.0
    return out


def region_results(plan: PipelinePlan, result: JobResult) -> RegionResults:
    """The published region tables of a finished job."""
    from sinkmap.apps.outputs import region_tables

    config = plan.config
    unknown = sorted(code for what, code in result.notes if what == UNKNOWN_CODE)
    if unknown:
        raise FactorTableError(
            f"carbon.invest_pools {config.carbon.invest_pools}: land-cover code(s) {unknown} have no row in "
            "the pools table; add them (lucode, c_above, c_below, c_soil, c_dead in t C/ha)"
        )
    targets = None if config.targets is None else load_targets(config.targets, base_dir=config.base_dir)
    crosstabs = {name: _zero_cancellation_noise(t) for name, t in result.crosstabs.items()}
    tables, transitions, columns = region_tables(
        plan.levels,
        plan.job.zones.keys,
        [s.key for s in plan.job.stats],
        _zero_cancellation_noise(result.totals),
        crosstabs,
        config.epochs,
        nation=config.nation,
        targets=targets,
    )
    return RegionResults(tables, transitions, columns, targets)


@dataclass
class RunResult:
    output_dir: Path
    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    elapsed_s: float
    profile: dict[str, float] = field(default_factory=dict)


@contextmanager
def atomic_directory(target: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a scratch directory that becomes ``target`` only if the block finishes without error."""
    if target.exists() and not overwrite:
        raise OutputExistsError(f"output directory {target} exists; pass --overwrite to replace it, or change output_dir")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f"{target.name}.partial-{os.getpid()}")
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    try:
        yield scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if target.exists():
        old = target.with_name(f"{target.name}.old-{os.getpid()}")
        target.rename(old)
        scratch.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        scratch.rename(target)


def run_pipeline(
    config: PipelineConfig,
    *,
    overwrite: bool = False,
    scheduler: str | None = None,
    threads: int | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    output_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Run ``config`` end to end and write its run directory.

    Args:
        config: a loaded pipeline.
        overwrite: replace an existing output directory.
        scheduler: ``"threads"`` (default), ``"synchronous"``, ``"processes"`` or a dask.distributed address
            ``tcp://host:port``; overrides the pipeline's ``scheduler``.
        threads: number of threads for the threaded scheduler (default: all cores).
        workers: number of local worker processes (a dask.distributed LocalCluster when set with no address).
        chunk_size: window size in pixels; overrides the pipeline's ``chunk_size``.
        output_dir: overrides the pipeline's ``output_dir``.
        progress: called with (windows done, windows total).
    """
    from sinkmap.apps.outputs import write_run

    started = time.perf_counter()
    target = Path(output_dir or config.output_dir).resolve()
    with atomic_directory(target, overwrite=overwrite) as scratch:
        t0 = time.perf_counter()
        plan = plan_pipeline(config)
        plan_seconds = time.perf_counter() - t0
        result = run_job(
            plan.job,
            chunk_size=chunk_size or config.chunk_size,
            scheduler=scheduler or config.scheduler,
            threads=threads,
            workers=workers or config.workers,
            raster_dir=scratch / "rasters",
            scratch_dir=scratch / ".scratch",
            progress=progress,
        )
        shutil.rmtree(scratch / ".scratch", ignore_errors=True)
        t0 = time.perf_counter()
        regions = region_results(plan, result)
        raster_files = {spec.stem: result.rasters[spec.key] for spec in plan.job.rasters}
        profile = {"plan (client)": plan_seconds, **result.profile}
        manifest = write_run(
            scratch,
            plan,
            regions.tables,
            regions.transitions,
            regions.columns,
            raster_files,
            targets=regions.targets,
            profile=profile,
            final_dir=target,
        )
        profile["tables and exports (client)"] = time.perf_counter() - t0
    return RunResult(target, regions.tables, manifest, time.perf_counter() - started, profile)
