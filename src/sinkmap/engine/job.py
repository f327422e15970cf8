"""The window engine: one loop that runs every job (the pipeline, zonal statistics, InVEST storage, …).

A :class:`Job` is a grid, the input layers on it, the regions, and a sequence of :class:`~sinkmap.engine.step.Step`.
:func:`run_job` cuts the grid into windows and, for each window (on threads or dask workers,
:mod:`sinkmap.engine.executor`), reads each layer once, runs the steps in order, and turns their per-pixel
values into exact coverage-weighted partial sums for the regions that touch the window
(:mod:`sinkmap.kernels.coverage`). The client adds the partials in window order — so totals do not depend on the
scheduler or the number of workers, and, being sums of per-window partials over exact cell coverage, not on the
chunk size either (up to float64 rounding) — and writes each window's rasters as it arrives.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.checkpoint import Checkpoint, JobState
from sinkmap.engine.checks import CheckTally, ValueCheck, WindowCheck
from sinkmap.engine.executor import stream
from sinkmap.engine.grid import GridSpec, Window
from sinkmap.engine.regions import ZoneIndex
from sinkmap.engine.sources import Source
from sinkmap.engine.step import (
    CrosstabSpec,
    Earlier,
    LayerKey,
    RasterSpec,
    StatKey,
    StatSpec,
    Step,
    WindowInputs,
)
from sinkmap.engine.writer import RasterWriter
from sinkmap.errors import SinkmapError
from sinkmap.kernels.coverage import WindowPieces, weighted_histograms, weighted_sums_rows

__all__ = ["Job", "JobResult", "StepValues", "WindowResult", "process_window", "run_job", "run_steps", "window_products"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Job:
    """Everything a window task needs: picklable, no raster data.

    Attributes:
        grid: the grid every layer is read on.
        layers: (role or name, epoch) → source; epoch ``None`` for static layers.
        zones: every region of every level in grid pixel coordinates.
        steps: run in order for each window.
        checks: the values each layer may hold (:mod:`sinkmap.engine.checks`); layers with a check are read
            in every window that touches a region, whether a step asks for them or not.
    """

    grid: GridSpec
    layers: Mapping[LayerKey, Source]
    zones: ZoneIndex
    steps: tuple[Step[Any], ...]
    checks: Mapping[LayerKey, ValueCheck] = field(default_factory=dict)

    @cached_property
    def stats(self) -> tuple[StatSpec, ...]:
        out = tuple(spec for step in self.steps for spec in step.stats())
        keys = [s.key for s in out]
        if len(set(keys)) != len(keys):
            raise SinkmapError(f"two steps declare the same statistic: {sorted(k for k in keys if keys.count(k) > 1)}")
        return out

    @cached_property
    def rasters(self) -> tuple[RasterSpec, ...]:
        return tuple(spec for step in self.steps for spec in step.rasters())

    @cached_property
    def crosstabs(self) -> tuple[CrosstabSpec, ...]:
        return tuple(spec for step in self.steps for spec in step.crosstabs())

    @cached_property
    def input_paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for source in self.layers.values() for p in source.paths))


@dataclass(frozen=True)
class WindowResult:
    """One window's partial sums (rows = ``regions``), cross-tabulations, raster arrays and timings."""

    window: Window
    regions: NDArray[np.int64]
    sums: NDArray[np.float64]
    crosstabs: dict[str, NDArray[np.float64]]
    rasters: dict[StatKey, NDArray[Any]]
    seconds: dict[str, float]
    notes: frozenset[tuple[str, int]] = frozenset()
    checked: dict[LayerKey, WindowCheck] = field(default_factory=dict)


@dataclass
class StepValues:
    """Everything the steps returned for one window, merged."""

    stats: dict[StatKey, NDArray[Any]] = field(default_factory=dict)
    rasters: dict[StatKey, NDArray[Any]] = field(default_factory=dict)
    crosstabs: dict[str, NDArray[Any]] = field(default_factory=dict)
    notes: set[tuple[str, int]] = field(default_factory=set)


def run_steps(job: Job, inputs: WindowInputs, seconds: dict[str, float] | None = None) -> StepValues:
    """Run every step of ``job`` on one window's inputs, in order (the one place steps are run)."""
    earlier = Earlier()
    out = StepValues()
    for step in job.steps:
        t0, read0 = time.perf_counter(), inputs.read_seconds
        result = step.run(inputs, earlier)
        earlier.add(step, result.products)
        out.stats.update(result.stats)
        out.rasters.update(result.rasters)
        out.crosstabs.update(result.crosstabs)
        out.notes |= result.notes
        if seconds is not None:
            seconds[step.name] = time.perf_counter() - t0 - (inputs.read_seconds - read0)
    if seconds is not None:
        seconds["read"] = inputs.read_seconds
    return out


def window_products(job: Job, window: Window) -> dict[StatKey, NDArray[Any]]:
    """The per-pixel rasters of ``job`` for one window (what :func:`run_job` writes as COGs)."""
    inputs = WindowInputs(job.grid, window, job.layers, job.checks)
    values = run_steps(job, inputs)
    if any(c.invalid for c in inputs.checked.values()):  # as run_job: invalid values stop, unless masked
        tally = CheckTally(job.checks)
        tally.add(inputs.checked)
        tally.raise_invalid(job.grid, complete=False)
    return {spec.key: values.rasters[spec.key] for spec in job.rasters}


def process_window(job: Job, window: Window) -> WindowResult:
    """Read, run every step, and reduce one window to coverage-weighted sums per region."""
    started = time.perf_counter()
    hits, pieces = job.zones.pieces(window)
    seconds: dict[str, float] = {"boundaries": time.perf_counter() - started}
    if pieces.size == 0 and not job.rasters:
        return WindowResult(window, hits, np.zeros((0, len(job.stats))), {}, {}, seconds)
    inputs = WindowInputs(job.grid, window, job.layers, job.checks)
    if pieces.size:
        for key in job.checks:  # every checked layer, so counts cover every window inside the regions
            inputs.layer(*key)
    step_values = run_steps(job, inputs, seconds)
    values, rasters, codes, notes = step_values.stats, step_values.rasters, step_values.crosstabs, step_values.notes

    t0 = time.perf_counter()
    n = hits.size
    sums = np.zeros((n, len(job.stats)))
    tables: dict[str, NDArray[np.float64]] = {}
    if pieces.size:
        area = inputs.pixel_area_m2
        row_area = np.broadcast_to(area[:, 0], (window.height,)) if area.shape[1] == 1 else None
        try:
            arrays = [values[s.key] for s in job.stats]
        except KeyError as exc:
            raise SinkmapError(f"a step did not return its declared statistic {exc.args[0]}") from None
        sums = _weighted(pieces, arrays, [s.weight for s in job.stats], area, row_area)
        for spec in job.crosstabs:
            tables[spec.name] = weighted_histograms(
                pieces,
                codes[spec.name],
                spec.n_codes,
                row_weight=row_area,
                cell_weight=None if row_area is not None else np.broadcast_to(area, inputs.shape),
            )
    seconds["aggregate"] = time.perf_counter() - t0
    kept = {spec.key: rasters[spec.key] for spec in job.rasters}
    checked = inputs.checked if pieces.size else {k: v for k, v in inputs.checked.items() if v.invalid}
    return WindowResult(window, hits, sums, tables, kept, seconds, frozenset(notes), checked)


def _weighted(
    pieces: WindowPieces,
    arrays: list[NDArray[Any]],
    weights: list[str],
    area: NDArray[np.float64],
    row_area: NDArray[np.float64] | None,
) -> NDArray[np.float64]:
    """Coverage-weighted sums per region of each array, by true area or by cell; an array object used by several
    statistics (a valid mask for a count and an area) is passed over once."""
    out = np.zeros((pieces.n_regions, len(arrays)))
    if row_area is not None:  # area constant along rows: one pass per array serves both weightings
        unique: dict[int, int] = {}
        distinct: list[NDArray[Any]] = []
        for a in arrays:
            if id(a) not in unique:
                unique[id(a)] = len(distinct)
                distinct.append(a)
        by_cells = "cells" in weights
        row_weights: list[NDArray[np.float64] | None] = [None, row_area] if by_cells else [row_area]
        both = weighted_sums_rows(pieces, distinct, row_weights)
        for j, (a, w) in enumerate(zip(arrays, weights, strict=True)):
            out[:, j] = both[:, unique[id(a)], -1 if w == "area" else 0]
        return out
    # area varies along rows (a projection that is not equal-area): multiply it into the area-weighted arrays
    prepared = [np.asarray(a, dtype=np.float64) * area if w == "area" else a for a, w in zip(arrays, weights, strict=True)]
    return weighted_sums_rows(pieces, prepared, [None])[:, :, 0]


@dataclass
class JobResult:
    """Region × statistic totals (rows follow ``job.zones.keys``, columns ``job.stats``), cross-tabulations,
    finished rasters, notes from the steps, and a profile: task seconds by part, summed over windows."""

    totals: NDArray[np.float64]
    crosstabs: dict[str, NDArray[np.float64]]
    rasters: dict[StatKey, Path]
    notes: frozenset[tuple[str, int]]
    profile: dict[str, float] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_job(
    job: Job,
    *,
    chunk_size: int = 1024,
    scheduler: str | None = None,
    threads: int | None = None,
    workers: int | None = None,
    raster_dir: Path | None = None,
    scratch_dir: Path | None = None,
    progress: ProgressFn | None = None,
    checkpoint: Checkpoint | None = None,
) -> JobResult:
    """Run ``job`` over the grid and return its totals.

    Args:
        job: what to compute.
        chunk_size: window size in pixels.
        scheduler, threads, workers: where tasks run (:func:`sinkmap.engine.executor.stream`).
        raster_dir: where the job's rasters go (required when the job has rasters).
        scratch_dir: a folder for temporary files (default: ``raster_dir``'s parent ``.scratch``).
        progress: called with (windows done, windows total).
        checkpoint: where to save the job's state every few seconds, and the state to continue from (resume)
            if it holds one (:mod:`sinkmap.engine.checkpoint`).
    """
    todo = list(job.grid.windows(chunk_size))
    log.info("%d windows of up to %d px", len(todo), chunk_size)
    totals = np.zeros((len(job.zones), len(job.stats)))
    tables = {spec.name: np.zeros((len(job.zones), spec.n_codes)) for spec in job.crosstabs}
    profile: dict[str, float] = {}
    notes: set[tuple[str, int]] = set()
    tally = CheckTally(job.checks)
    names = {check.layer: key for key, check in job.checks.items()}
    state = checkpoint.load() if checkpoint is not None else None
    start = 0
    if state is not None:
        start = state.next_window
        totals, tables, notes = state.totals, state.crosstabs, state.notes
        tally.invalid = {names[k]: v for k, v in state.invalid.items()}
        tally.valid = {names[k]: v for k, v in state.valid.items()}
        tally.example = {names[k]: v for k, v in state.example.items()}
        tally.codes = {names[k]: dict(v) for k, v in state.codes.items()}
        log.info("resuming after window %d of %d", start, len(todo))
    buffered: dict[int, WindowResult] = {}
    next_to_add = start
    if job.rasters and raster_dir is None:
        raise SinkmapError("this job writes rasters: give run_job a raster_dir")
    scratch = scratch_dir or (raster_dir.parent / ".scratch" if raster_dir is not None else Path("."))
    write_seconds = 0.0
    saved_at, saved_window = time.perf_counter(), start

    def save() -> None:
        assert checkpoint is not None
        writer.flush()
        checkpoint.save(
            JobState(
                next_window=next_to_add,
                totals=totals,
                crosstabs=tables,
                invalid={job.checks[k].layer: v for k, v in tally.invalid.items()},
                valid={job.checks[k].layer: v for k, v in tally.valid.items()},
                example={job.checks[k].layer: v for k, v in tally.example.items()},
                codes={job.checks[k].layer: dict(v) for k, v in tally.codes.items()},
                notes=notes,
            )
        )

    with RasterWriter(raster_dir or Path("."), job.grid, job.rasters, scratch=scratch, resume=start > 0) as writer:
        results = stream(
            process_window,
            job,
            todo[start:],
            scheduler=scheduler,
            threads=threads,
            workers=workers,
            input_paths=job.input_paths,
        )
        with contextlib.closing(results):
            for done, (position, result) in enumerate(results, start=start + 1):
                index = start + position
                t0 = time.perf_counter()
                writer.write(result.window, result.rasters)
                write_seconds += time.perf_counter() - t0
                for part, seconds in result.seconds.items():
                    profile[part] = profile.get(part, 0.0) + seconds
                notes |= result.notes
                # add partial sums in window order, whatever order windows finish in (bit-identical totals)
                buffered[index] = replace(result, rasters={})
                while next_to_add in buffered:
                    ready = buffered.pop(next_to_add)
                    if ready.sums.size:
                        totals[ready.regions] += ready.sums
                    for name, table in ready.crosstabs.items():
                        tables[name][ready.regions] += table
                    tally.add(ready.checked)
                    next_to_add += 1
                if any(c.invalid and job.checks[k].policy == "error" for k, c in result.checked.items()):
                    for index in sorted(buffered):  # what arrived out of order counts too
                        tally.add(buffered[index].checked)
                    tally.raise_invalid(job.grid, complete=False)
                if (
                    checkpoint is not None
                    and next_to_add > saved_window
                    and time.perf_counter() - saved_at >= checkpoint.every_seconds
                ):
                    save()
                    saved_at, saved_window = time.perf_counter(), next_to_add
                if progress is not None:
                    progress(done, len(todo))
        tally.raise_empty()
        t0 = time.perf_counter()
        files = writer.finish()
        profile["write windows (client)"] = write_seconds
        profile["encode COGs (client)"] = time.perf_counter() - t0
    if not np.isfinite(totals).all():
        bad = sorted({job.stats[j].name for j in np.flatnonzero(~np.isfinite(totals).all(axis=0))})
        raise SinkmapError(f"non-finite regional sums for {', '.join(bad)}: an input holds infinite values")
    return JobResult(totals, tables, files, frozenset(notes), profile, tally.summary())
