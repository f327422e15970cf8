"""Run a pipeline: plan it (:mod:`sinkmap.apps.plan`), run it on the engine, write the run directory.

:func:`run_pipeline` runs the planned :class:`~sinkmap.engine.job.Job`, derives the published tables from the
accumulated totals (:mod:`sinkmap.apps.quantities`) and writes everything into a scratch directory that becomes
the output directory only when complete. The xarray API (:mod:`sinkmap.api`) uses the same plan and tables.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sinkmap._version import __version__
from sinkmap.apps.accuracy import run_accuracy
from sinkmap.apps.outputs import region_tables, write_run
from sinkmap.apps.plan import PipelinePlan, plan_layers, plan_pipeline
from sinkmap.apps.quantities import Quantity
from sinkmap.apps.rundir import output_error, run_directory
from sinkmap.apps.uncertainty import run_uncertainty
from sinkmap.config import PipelineConfig, as_dict
from sinkmap.engine.executor import check_scheduler
from sinkmap.engine.job import JobResult, run_job
from sinkmap.errors import FactorTableError, SinkmapError
from sinkmap.steps.invest import UNKNOWN_CODE
from sinkmap.targets import TargetSet, load_targets

__all__ = [
    "PipelinePlan",
    "RegionResults",
    "RunResult",
    "plan_layers",
    "plan_pipeline",
    "region_results",
    "run_pipeline",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


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


def _fingerprint(plan: PipelinePlan, chunk_size: int) -> dict[str, Any]:
    """What must not change for an interrupted run to be resumed: code version, configuration, window size and
    every input file (size and modification time; a remote file by its path)."""
    config = as_dict(plan.config)
    config.pop("output_dir", None)
    files = [*plan.job.input_paths, *(spec.path for spec in plan.config.regions), plan.config.path]
    stamp: dict[str, Any] = {}
    for path in files:
        if path.startswith("/vsi") or "://" in path:  # remote: the path is all that can be checked cheaply
            stamp[path] = "remote"
            continue
        info = os.stat(path)
        stamp[path] = [info.st_size, info.st_mtime_ns]
    fingerprint = {"sinkmap": __version__, "pipeline": config, "chunk_size": chunk_size, "input files": stamp}
    return dict(json.loads(json.dumps(fingerprint, default=str)))


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
    resume: bool = False,
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
        resume: continue the interrupted run of the same pipeline into the same folder from its last checkpoint
            (results are identical to an uninterrupted run's).
    """
    started = time.perf_counter()
    check_scheduler(scheduler or config.scheduler)
    target = Path(output_dir or config.output_dir).resolve()
    t0 = time.perf_counter()
    plan = plan_pipeline(config)
    plan_seconds = time.perf_counter() - t0
    chunk = chunk_size or config.chunk_size
    with run_directory(target, overwrite=overwrite, resume=resume, fingerprint=_fingerprint(plan, chunk)) as (
        scratch,
        checkpoint,
    ):
        try:
            result = run_job(
                plan.job,
                chunk_size=chunk,
                scheduler=scheduler or config.scheduler,
                threads=threads,
                workers=workers or config.workers,
                raster_dir=scratch / "rasters",
                scratch_dir=scratch / ".scratch",
                progress=progress,
                checkpoint=checkpoint,
            )
        except OSError as exc:
            if isinstance(exc, SinkmapError):
                raise
            raise output_error(target, exc) from exc
        shutil.rmtree(scratch / ".scratch", ignore_errors=True)
        t0 = time.perf_counter()
        regions = region_results(plan, result)
        accuracy = run_accuracy(plan, regions.tables, regions.transitions)
        uncertainty = run_uncertainty(plan, result, regions.tables, None if accuracy is None else accuracy[0])
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
            input_checks=result.checks,
            uncertainty=uncertainty,
            accuracy_result=accuracy,
        )
        profile["tables and exports (client)"] = time.perf_counter() - t0
    return RunResult(target, regions.tables, manifest, time.perf_counter() - started, profile)
