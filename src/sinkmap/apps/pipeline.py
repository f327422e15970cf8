"""Run a pipeline: plan the grid, layers and regions; compute every window on dask; aggregate; write the run.

Each window of the pipeline grid is one dask task. A task reads its own window of every layer (workers never
receive raster data from the client), computes the per-pixel products, writes its part of the per-pixel rasters,
and returns a small table of coverage-weighted sums for the regions that touch the window. The tables are added
in window order, so totals do not depend on the scheduler or the number of workers, and since every sum is a sum
of per-window partials over exact cell coverage, they do not depend on the chunk size either (up to float64
rounding).
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
from numpy.typing import NDArray

from sinkmap.kernels.carbon.invest import POOL_COLUMNS, InvestCarbonTable, read_invest_carbon_table
from sinkmap.steps.carbon import CarbonSettings, carbon_stats, carbon_window
from sinkmap.config import PipelineConfig
from sinkmap.kernels.coverage import weighted_sums
from sinkmap.errors import (
    AlignmentError,
    ConfigError,
    FactorTableError,
    OutputExistsError,
    SinkmapError,
)
from sinkmap.factors import load_factor_tables
from sinkmap.kernels.forest import ForestComponents, forest_components
from sinkmap.engine.grid import GridSpec, Window
from sinkmap.apps.invest import pool_densities
from sinkmap.engine.writer import RasterPart, assemble_cog, write_part
from sinkmap.engine.sources import LayerSource
from sinkmap.engine.regions import RegionLevel, ZoneIndex, load_level

__all__ = ["Plan", "RunResult", "WindowContext", "plan_pipeline", "process_window", "run_pipeline"]

log = logging.getLogger(__name__)

FOREST_CLASS_CODES = {"tree": 1, "bamboo": 2, "special_shrub": 3}
MASK_NODATA = 255
DENSITY_NODATA = -9999.0


@dataclass(frozen=True)
class Stat:
    """A coverage-weighted sum: ``name`` (with its unit) per epoch, from a per-pixel value × pixel area (m²)."""

    name: str
    epoch: int | None
    description: str

    @property
    def key(self) -> str:
        return self.name if self.epoch is None else f"{self.name}_{self.epoch}"


@dataclass
class Plan:
    """Everything a window task needs: picklable, no raster data."""

    config: PipelineConfig
    grid: GridSpec
    sources: dict[tuple[str, int | None], LayerSource]
    zones: ZoneIndex
    stats: list[Stat]
    work_dir: str
    rasters: list[tuple[str, int | None]] = field(default_factory=list)
    carbon: CarbonSettings | None = None
    invest: InvestCarbonTable | None = None

    def source(self, role: str, epoch: int | None) -> LayerSource | None:
        return self.sources.get((role, epoch)) or self.sources.get((role, None))


class WindowContext:
    """Lazily read layers for one window, each read at most once."""

    def __init__(self, plan: Plan, window: Window) -> None:
        self.plan = plan
        self.window = window
        self._cache: dict[tuple[str, int | None], tuple[NDArray[Any], NDArray[np.bool_]] | None] = {}
        self._converted: dict[tuple[str, str, int | None], NDArray[Any] | None] = {}

    def layer(self, role: str, epoch: int | None = None) -> tuple[NDArray[Any], NDArray[np.bool_]] | None:
        """(values, valid) of a layer for an epoch (static layers ignore the epoch), or None if absent."""
        key = (role, epoch)
        if key not in self._cache:
            source = self.plan.source(role, epoch)
            self._cache[key] = None if source is None else source.read(self.window)
        return self._cache[key]

    def continuous(self, role: str, epoch: int | None = None) -> NDArray[np.float32] | None:
        """A continuous layer as float32 with NaN where invalid (converted once per window)."""
        key = ("continuous", role, epoch)
        if key not in self._converted:
            got = self.layer(role, epoch)
            self._converted[key] = (
                None if got is None else np.where(got[1], got[0].astype(np.float32), np.float32(np.nan))
            )
        return self._converted[key]

    def categorical(self, role: str, epoch: int | None = None) -> NDArray[np.int32] | None:
        """A categorical layer as int32 with −1 where invalid (converted once per window)."""
        key = ("categorical", role, epoch)
        if key not in self._converted:
            got = self.layer(role, epoch)
            self._converted[key] = None if got is None else np.where(got[1], got[0].astype(np.int32), np.int32(-1))
        return self._converted[key]

    def canopy(self, epoch: int) -> tuple[NDArray[np.float32], NDArray[np.bool_]] | None:
        """Canopy cover (%) for ``epoch``: read, or derived from a base-year canopy and a loss-year layer."""
        loss_source = self.plan.source("loss_year", None)
        if loss_source is None:
            got = self.layer("canopy_cover", epoch)
            return None if got is None else (got[0].astype(np.float32), got[1])
        base_year = self.plan.config.layers["loss_year"].base_year or 0
        base = self.layer("canopy_cover", base_year) or self.layer("canopy_cover", None)
        if base is None:
            return None
        cover, valid = base
        loss, loss_valid = self.layer("loss_year", None)  # type: ignore[misc]
        lost = loss_valid & (loss > 0) & (loss.astype(np.int64) + base_year <= epoch)
        return np.where(lost, np.float32(0), cover.astype(np.float32)), valid


@dataclass(frozen=True)
class WindowResult:
    regions: NDArray[np.int64]
    sums: NDArray[np.float64]
    parts: tuple[RasterPart, ...]
    unknown_codes: frozenset[int] = frozenset()


def _forest_products(
    ctx: WindowContext, epoch: int
) -> tuple[dict[str, NDArray[Any]], dict[str, NDArray[Any]], ForestComponents]:
    """Per-pixel values for the forest statistics of one epoch, and the raster outputs."""
    definition = ctx.plan.config.forest_definition
    landcover = ctx.categorical("landcover", epoch)
    canopy = ctx.canopy(epoch)
    if landcover is not None:
        mapped = landcover >= 0
    elif canopy is not None:
        mapped = canopy[1]
    else:  # validated at load time
        raise ConfigError("a pipeline needs a landcover or canopy_cover layer")
    canopy_pct = None if canopy is None else np.where(canopy[1], canopy[0], np.float32(0))
    comps = forest_components(
        definition,
        mapped,
        canopy_cover_pct=canopy_pct,
        landcover=landcover,
        forest_type=ctx.categorical("forest_type", epoch),
        shrub_cover_pct=ctx.continuous("shrub_cover", epoch),
        annual_precip_mm=ctx.continuous("annual_precip", epoch),
        mean_temperature_c=ctx.continuous("mean_temperature", epoch),
        carbonate=ctx.categorical("carbonate", epoch),
    )
    forest = comps.forest
    gsv = ctx.continuous("growing_stock", epoch)
    if gsv is not None and ctx.plan.source("loss_year", None) is not None:
        gsv = np.where(comps.tree, gsv, np.float32(0))
    stock_per_m2 = (
        np.zeros(forest.shape, np.float32)
        if gsv is None
        else np.where(forest & ~np.isnan(gsv), gsv, np.float32(0)) / np.float32(10_000)
    )
    values = dict(
        zip(
            (f"{name}_{epoch}" for name, _ in FOREST_STATS),
            (mapped, forest, comps.tree, comps.bamboo, comps.special_shrub, stock_per_m2),
            strict=True,
        )
    )
    mask = np.full(forest.shape, MASK_NODATA, dtype=np.uint8)
    mask[mapped] = 0
    for name, code in FOREST_CLASS_CODES.items():
        mask[getattr(comps, name)] = code
    density = np.where(mapped, stock_per_m2 * np.float32(10_000), np.float32(DENSITY_NODATA)).astype(np.float32)
    return values, {f"forest_mask_{epoch}": mask, f"stock_volume_{epoch}": density}, comps


FOREST_STATS = (
    ("land_area_m2", "mapped land area inside the region (valid land-cover or canopy pixels), m²"),
    ("forest_area_m2", "forest area under the forest definition in effect, m²"),
    ("tree_stand_area_m2", "forest area from tree stands (canopy cover threshold or forest classes), m²"),
    ("bamboo_area_m2", "forest area from bamboo stands, m²"),
    ("special_shrub_area_m2", "forest area from nationally designated special shrubland, m²"),
    ("stock_volume_m3", "growing stock volume of the forest, m³"),
)


def process_window(plan: Plan, window: Window) -> WindowResult:
    """Compute one window: read, classify, write raster parts, and return coverage-weighted sums."""
    hits, pieces = plan.zones.pieces(window)
    if pieces.size == 0 and not plan.rasters:
        return WindowResult(hits, np.zeros((0, len(plan.stats))), ())
    ctx = WindowContext(plan, window)
    area = plan.grid.pixel_area_m2(window)
    row_weight = None
    if area.shape[1] == 1:
        row_weight = np.broadcast_to(area[:, 0], (window.height,))
    by_key: dict[str, NDArray[Any]] = {}
    rasters: dict[str, NDArray[Any]] = {}
    comps_by_epoch = {}
    for epoch in plan.config.epochs:
        epoch_values, epoch_rasters, comps = _forest_products(ctx, epoch)
        by_key.update(epoch_values)
        rasters.update(epoch_rasters)
        comps_by_epoch[epoch] = comps
    if plan.carbon is not None:
        carbon_values, carbon_rasters = carbon_window(ctx, plan.carbon, comps_by_epoch)
        by_key.update(carbon_values)
        rasters.update(carbon_rasters)
    unknown: set[int] = set()
    if plan.invest is not None:
        for epoch in plan.config.epochs:
            landcover = ctx.layer("landcover", epoch)
            assert landcover is not None  # checked at load time: invest_pools needs landcover
            codes, valid = landcover
            densities, bad = pool_densities(plan.invest, codes, valid)
            unknown |= bad
            for i, pool in enumerate(POOL_COLUMNS):
                by_key[f"invest_{pool}_t_c_{epoch}"] = np.where(np.isfinite(densities[i]), densities[i], 0.0) / 1e4
    values = [by_key[stat.key] for stat in plan.stats]
    parts: list[RasterPart] = []
    for name, raster_epoch in plan.rasters:
        key = name if raster_epoch is None else f"{name}_{raster_epoch}"
        parts.append(write_part(plan.work_dir, key, window, plan.grid, rasters[key]))
    if row_weight is None:  # area varies along rows (a projection that is not equal-area)
        values = [np.asarray(v, dtype=np.float64) * area for v in values]
    sums = weighted_sums(pieces, values, row_weight=row_weight) if pieces.size else np.zeros((0, len(values)))
    return WindowResult(hits, sums, tuple(parts), frozenset(unknown))


def plan_pipeline(config: PipelineConfig, work_dir: str) -> tuple[Plan, list[RegionLevel]]:
    """Inspect layers and regions, fix the grid, and list the statistics to compute."""
    roles = list(config.layers)
    grid_role = config.grid_like or ("landcover" if "landcover" in roles else "canopy_cover")
    grid_spec = config.layers[grid_role]
    first_paths = grid_spec.static or next(iter(grid_spec.by_epoch.values()))  # type: ignore[union-attr]
    grid = LayerSource.plan(grid_role, first_paths, None).source_grid
    log.info("grid: %s, %d × %d pixels of %s", grid.crs_label, grid.height, grid.width, grid.res)

    sources: dict[tuple[str, int | None], LayerSource] = {}
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

    levels = [load_level(spec) for spec in config.regions]
    zones = ZoneIndex.build(levels, grid)
    stats = [Stat(name, epoch, text) for epoch in config.epochs for name, text in FOREST_STATS]
    carbon = None
    extra = carbon_stats(config.epochs, set(config.layers)) if config.carbon.enabled else []
    if extra:
        carbon = CarbonSettings(load_factor_tables(config.carbon.factors), config.carbon.karst_include_buried)
        stats += [Stat(name, epoch, text) for name, epoch, text in extra]
    elif config.carbon.enabled:
        log.info("carbon step off: it needs mean_temperature and annual_precip layers")
    invest = None
    if config.carbon.invest_pools is not None:
        invest = read_invest_carbon_table(config.carbon.invest_pools)
        stats += [
            Stat(f"invest_{pool}_t_c", epoch, f"InVEST pools table storage, pool {pool}, t C (t C/ha × area)")
            for epoch in config.epochs
            for pool in POOL_COLUMNS
        ]
    rasters: list[tuple[str, int | None]] = []
    for name in config.raster_outputs:
        if name in ("carbon_density", "carbon_sink") and carbon is None:
            continue
        if name == "carbon_sink":
            rasters.append((name, None))
        else:
            rasters += [(name, epoch) for epoch in config.epochs]
    plan = Plan(config, grid, sources, zones, stats, work_dir, rasters, carbon, invest)
    return plan, levels


@dataclass
class RunResult:
    output_dir: Path
    tables: dict[str, Any]
    manifest: dict[str, Any]
    elapsed_s: float


ProgressFn = Callable[[int, int], None]


def compute_windows(
    plan: Plan,
    windows: list[Window],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> list[WindowResult]:
    """Run :func:`process_window` over ``windows`` on the chosen dask scheduler; results in window order."""
    from sinkmap.engine.executor import run_tasks

    return run_tasks(process_window, plan, windows, scheduler=scheduler, workers=workers, progress=progress)


def accumulate(plan: Plan, results: list[WindowResult]) -> NDArray[np.float64]:
    """Add the per-window partial sums, in window order, into one (regions × stats) table."""
    total = np.zeros((len(plan.zones), len(plan.stats)), dtype=np.float64)
    for result in results:
        if result.sums.size:
            total[result.regions] += result.sums
    # Boundary pieces of a region that misses a class cancel to float64 rounding of the window sums they came from
    # (≈ 1e-16 of a column's largest total); show an exact 0 rather than ±1e-12 km².
    noise = np.maximum(np.abs(total).max(axis=0, keepdims=True) * 1e-13, 1e-6)
    total[np.abs(total) < noise] = 0.0
    return total


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
    workers: int | None = None,
    chunk_size: int | None = None,
    output_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Run ``config`` end to end and write its run directory.

    Args:
        config: a loaded pipeline.
        overwrite: replace an existing output directory.
        scheduler: ``"threads"`` (default), ``"processes"``, ``"synchronous"`` or a dask.distributed address
            ``tcp://host:port``; overrides the pipeline's ``scheduler``.
        workers: number of local workers (a dask.distributed LocalCluster when set with no address).
        chunk_size: window size in pixels; overrides the pipeline's ``chunk_size``.
        output_dir: overrides the pipeline's ``output_dir``.
        progress: called with (windows done, windows total).
    """
    from sinkmap.apps.outputs import write_run

    started = time.perf_counter()
    target = Path(output_dir or config.output_dir).resolve()
    with atomic_directory(target, overwrite=overwrite) as scratch:
        parts_dir = scratch / ".parts"
        parts_dir.mkdir()
        plan, levels = plan_pipeline(config, str(parts_dir))
        windows = list(plan.grid.windows(chunk_size or config.chunk_size))
        log.info("%d windows of up to %d px", len(windows), chunk_size or config.chunk_size)
        results = compute_windows(
            plan,
            windows,
            scheduler=scheduler or config.scheduler,
            workers=workers or config.workers,
            progress=progress,
        )
        unknown = set().union(*(r.unknown_codes for r in results))
        if unknown:
            raise FactorTableError(
                f"carbon.invest_pools {config.carbon.invest_pools}: land-cover code(s) {sorted(unknown)} have no row in "
                "the pools table; add them (lucode, c_above, c_below, c_soil, c_dead in t C/ha)"
            )
        totals = accumulate(plan, results)
        raster_files = {}
        for name, epoch in plan.rasters:
            key = name if epoch is None else f"{name}_{epoch}"
            parts = [p for r in results for p in r.parts if p.name == key]
            if parts:
                raster_files[key] = assemble_cog(parts, plan.grid, scratch / "rasters" / f"{key}.tif", _raster_tags(plan, name, epoch))
        shutil.rmtree(parts_dir)
        if not np.isfinite(totals).all():
            raise SinkmapError("non-finite sums came out of the aggregation; please report this with the pipeline file")
        tables, manifest = write_run(scratch, plan, levels, totals, raster_files, final_dir=target)
    return RunResult(target, tables, manifest, time.perf_counter() - started)


def _raster_tags(plan: Plan, name: str, epoch: int | None) -> dict[str, str]:
    definition = plan.config.forest_definition
    tags = {"EPOCH": "" if epoch is None else str(epoch), "SINKMAP_PIPELINE": plan.config.name}
    if name == "forest_mask":
        return {
            **tags,
            "DESCRIPTION": f"forest mask {epoch}: 0 not forest, 1 tree stand, 2 bamboo, 3 special shrubland, 255 no data",
            "UNITS": "class code",
            "FOREST_DEFINITION": f"{definition.name}: {definition.source}",
        }
    if name == "stock_volume":
        return {**tags, "DESCRIPTION": f"growing stock volume density of forest pixels {epoch} (0 outside forest)", "UNITS": "m3/ha"}
    if name == "carbon_density":
        return {
            **tags,
            "DESCRIPTION": f"ecosystem carbon density {epoch}: forest pools, grassland biomass and SOC, mangrove biomass",
            "UNITS": "t C/ha",
        }
    epochs = plan.config.epochs
    return {
        **tags,
        "DESCRIPTION": f"annual carbon sink {epochs[0]}–{epochs[-1]} (forest stock difference, grassland SOC, wetland "
        "soil accumulation, karst weathering); positive = removal from the atmosphere",
        "UNITS": "t C/ha/yr",
        "SIGN_CONVENTION": "sink positive",
    }
