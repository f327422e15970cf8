"""The engine on xarray, for notebooks: a pipeline's inputs, per-pixel products and regional results.

::

    import sinkmap
    p = sinkmap.open_pipeline("pipelines/china_sample.yaml")
    p.inputs()                # lazy, dask-backed Dataset on the pipeline grid: (epoch, y, x) or (y, x), CRS attached
    p.products()              # lazy Dataset of the per-pixel rasters a run writes (forest mask, densities, sink)
    p.regions()               # computed Dataset with dims (region, epoch): every published quantity, with units
    p.run("runs/my-run")      # the same run as `sinkmap run`, written to a run directory

Inputs and products are dask arrays whose blocks are engine windows: a block of ``products()`` is computed by the
same :func:`sinkmap.engine.job.run_steps` that ``sinkmap run`` uses, so the numbers are the run's numbers.
:meth:`Pipeline.regions` runs the engine (exact boundary fractions) without writing rasters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import NDArray

from sinkmap.apps.accuracy import run_accuracy
from sinkmap.apps.pipeline import (
    PipelinePlan,
    ProgressFn,
    RegionResults,
    RunResult,
    plan_pipeline,
    region_results,
    run_pipeline,
)
from sinkmap.apps.quantities import QUANTITIES, Quantity, column_name
from sinkmap.apps.uncertainty import BOUNDS, RegionUncertainty, run_uncertainty
from sinkmap.config import PipelineConfig, load_pipeline
from sinkmap.engine.grid import GridSpec, Window
from sinkmap.engine.job import Job, run_job, window_products
from sinkmap.engine.roles import ROLES
from sinkmap.engine.sources import Source
from sinkmap.steps.carbon import CarbonStep
from sinkmap.steps.forest import ForestStep

__all__ = ["Pipeline", "open_pipeline", "regions_dataset"]


def open_pipeline(path: str | Path) -> Pipeline:
    """Load and plan a pipeline file (paths resolve against the file's folder); nothing is computed yet."""
    return Pipeline(load_pipeline(path))


def _coords(grid: GridSpec) -> dict[str, NDArray[np.floating[Any]]]:
    t = grid.transform
    return {
        "y": t.f + t.e * (np.arange(grid.height) + 0.5),
        "x": t.c + t.a * (np.arange(grid.width) + 0.5),
    }


def _chunks(grid: GridSpec, chunk_size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    rows = tuple(min(chunk_size, grid.height - r) for r in range(0, grid.height, chunk_size))
    cols = tuple(min(chunk_size, grid.width - c) for c in range(0, grid.width, chunk_size))
    return rows, cols


def _window(block_info: dict[Any, Any] | None) -> Window:
    assert block_info is not None
    (r0, r1), (c0, c1) = block_info[None]["array-location"][-2:]
    return Window(r0, c0, r1 - r0, c1 - c0)


def _read_layer(source: Source, categorical: bool, block_info: dict[Any, Any] | None = None) -> NDArray[Any]:
    values, valid = source.read(_window(block_info))
    reclassify = getattr(source, "reclassify", None)  # a layer with a product legend: internal codes, as steps see
    if reclassify is not None:
        values, valid = reclassify(values, valid)
    if categorical:
        return np.where(valid, values.astype(np.int32, copy=False), np.int32(-1))
    return np.where(valid, values.astype(np.float32, copy=False), np.float32(np.nan))


def _products_block(job: Job, block_info: dict[Any, Any] | None = None) -> NDArray[np.float32]:
    rasters = window_products(job, _window(block_info))
    return np.stack([rasters[spec.key].astype(np.float32) for spec in job.rasters])


def _georeferenced(ds: xr.Dataset, grid: GridSpec) -> xr.Dataset:
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    return ds.rio.write_crs(grid.crs_wkt).rio.write_transform(grid.transform)


@dataclass
class Pipeline:
    """A loaded pipeline (see the module docstring)."""

    config: PipelineConfig

    @cached_property
    def plan(self) -> PipelinePlan:
        """The engine job: grid, layers, regions and steps (raster outputs as configured)."""
        return plan_pipeline(self.config)

    @property
    def grid(self) -> GridSpec:
        return self.plan.job.grid

    def inputs(self, *, chunk_size: int | None = None) -> xr.Dataset:
        """The input layers on the pipeline grid, lazily read window by window.

        Per-epoch roles have dims ``(epoch, y, x)``, static ones ``(y, x)``. Continuous layers are float32 with NaN
        where invalid; categorical layers int32 with −1 where invalid. Variables carry ``units``, ``kind`` and
        ``long_name`` from the role registry; the dataset carries the CRS and transform (rioxarray).
        """
        chunks = _chunks(self.grid, chunk_size or self.config.chunk_size)
        layers = self.plan.job.layers
        epochs = list(self.config.epochs)
        data: dict[str, Any] = {}
        for role, spec in ROLES.items():
            keys = [key for key in layers if key[0] == role]
            if not keys:
                continue
            dtype = np.int32 if spec.categorical else np.float32

            def lazy(source: Source, dtype: Any = dtype, categorical: bool = spec.categorical) -> da.Array:
                return da.map_blocks(
                    _read_layer,
                    source,
                    categorical,
                    chunks=chunks,
                    dtype=dtype,
                    meta=np.empty((0, 0), dtype),
                    name=f"sinkmap-input-{source.name}-{uuid.uuid4().hex}",
                )

            attrs = {"units": spec.unit, "kind": spec.kind, "long_name": spec.description}
            static = layers.get((role, None))
            if static is not None:
                data[role] = xr.Variable(("y", "x"), lazy(static), attrs)
            else:
                missing = [e for e in epochs if (role, e) not in layers]
                stack = [lazy(layers[(role, e)]) if (role, e) in layers else None for e in epochs]
                if missing:  # an epoch without its raster: all invalid there
                    fill = -1 if spec.categorical else np.nan
                    stack = [
                        a if a is not None else da.full(self.grid.shape, fill, dtype=dtype, chunks=chunks) for a in stack
                    ]
                data[role] = xr.Variable(("epoch", "y", "x"), da.stack(stack), attrs)
        ds = xr.Dataset(data, coords={**_coords(self.grid), "epoch": epochs})
        return _georeferenced(ds, self.grid)

    def products(self, *, chunk_size: int | None = None) -> xr.Dataset:
        """The per-pixel rasters a run writes, lazily: one engine window per dask block, all rasters at once."""
        job = self.plan.job
        if not job.rasters:
            return _georeferenced(xr.Dataset(coords=_coords(self.grid)), self.grid)
        rows, cols = _chunks(self.grid, chunk_size or self.config.chunk_size)
        stack = da.map_blocks(
            _products_block,
            job,
            chunks=((len(job.rasters),), rows, cols),
            dtype=np.float32,
            meta=np.empty((0, 0, 0), np.float32),
            name=f"sinkmap-products-{uuid.uuid4().hex}",
        )
        by_name: dict[str, list[tuple[int | None, xr.DataArray]]] = {}
        for i, spec in enumerate(job.rasters):
            array = xr.DataArray(
                stack[i].astype(spec.dtype),
                dims=("y", "x"),
                attrs={"units": spec.unit, "long_name": spec.description, "_FillValue": spec.nodata},
            )
            by_name.setdefault(spec.name, []).append((spec.epoch, array))
        data = {}
        for name, items in by_name.items():
            if items[0][0] is None:
                data[name] = items[0][1]
            else:
                data[name] = xr.concat([a for _, a in items], dim=pd.Index([e for e, _ in items], name="epoch"))
                data[name].attrs = items[0][1].attrs
        ds = xr.Dataset(data, coords=_coords(self.grid))
        return _georeferenced(ds, self.grid)

    def regions(
        self,
        *,
        scheduler: str | None = None,
        threads: int | None = None,
        workers: int | None = None,
        chunk_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> xr.Dataset:
        """Run the engine (no rasters written) and return every region of every level with dims
        ``(region, epoch)`` (see :func:`regions_dataset`)."""
        plan = self.plan
        no_rasters = tuple(
            replace(step, rasters_wanted=()) if isinstance(step, ForestStep | CarbonStep) else step
            for step in plan.job.steps
        )
        job = replace(plan.job, steps=no_rasters)
        result = run_job(
            job,
            chunk_size=chunk_size or self.config.chunk_size,
            scheduler=scheduler or self.config.scheduler,
            threads=threads,
            workers=workers or self.config.workers,
            progress=progress,
        )
        results = region_results(replace(plan, job=job), result)
        accuracy = run_accuracy(plan, results.tables, results.transitions)
        uncertainty = run_uncertainty(replace(plan, job=job), result, results.tables, None if accuracy is None else accuracy[0])
        return regions_dataset(results, self.config.epochs, uncertainty=uncertainty)

    def run(self, output_dir: str | Path | None = None, *, overwrite: bool = False, **options: Any) -> RunResult:
        """Run and write the run directory, exactly as ``sinkmap run`` does."""
        return run_pipeline(self.config, output_dir=output_dir, overwrite=overwrite, **options)


def regions_dataset(
    results: RegionResults, epochs: tuple[int, ...], *, uncertainty: RegionUncertainty | None = None
) -> xr.Dataset:
    """Region tables as one ``xarray.Dataset``: dim ``region`` (every level, nation first) and ``epoch``.

    Each published quantity (:data:`~sinkmap.apps.quantities.QUANTITIES`) is a variable, per epoch or static, with
    ``units``, ``long_name``, ``kind`` (total, density, change, label) and CF ``cell_methods`` (totals sum over
    the region; densities are ratios of the region's totals, never averages of densities).

    With ``uncertainty`` (a pipeline with an ``uncertainty:`` section), each quantity with an interval gets a
    variable ``<quantity>_interval`` with an extra dimension ``bound`` (``estimate``, ``p2_5``, ``p97_5``: the 95 %
    interval) and ``<quantity>_half_width_pct``.
    """
    frame = pd.concat(results.tables.values(), ignore_index=True)
    coords: dict[str, Any] = {
        "region": np.arange(len(frame)),
        "epoch": list(epochs),
        **{c: ("region", frame[c].astype(object).to_numpy()) for c in ("level", "region_id", "name_zh", "name_en", "parent_id")},
        "region_area_km2": ("region", frame["region_area_km2"].to_numpy(float)),
    }
    data: dict[str, Any] = {}
    seen: set[str] = set()
    for q in QUANTITIES:
        if q.name in seen:
            continue
        columns = {e: column_name(q, e, epochs) for e in (epochs if q.per_epoch and not q.span else [None])}
        if not all(c in frame for c in columns.values()):
            present = {e: c for e, c in columns.items() if c in frame}
            if not present:
                continue
            columns = present
        seen.add(q.name)
        attrs = _attrs(q, epochs)
        if q.per_epoch and not q.span:
            values = np.stack(
                [frame[columns[e]].to_numpy(float) if e in columns else np.full(len(frame), np.nan) for e in epochs],
                axis=1,
            )
            data[q.name] = (("region", "epoch"), values, attrs)
        else:
            column = next(iter(columns.values()))
            values = frame[column].to_numpy(object if q.kind == "label" else float)
            data[q.name] = ("region", values, attrs)
    if results.targets is not None:
        years = list(results.targets.years)
        for name, unit in (
            ("target_coverage_pct", "%"),
            ("coverage_gap_pct_points", "percentage points"),
            ("target_stock_volume_m3", "m3"),
            ("stock_gap_m3", "m3"),
        ):
            values = np.stack([frame[f"{name}_{y}"].to_numpy(float) for y in years], axis=1)
            data[name] = (("region", "target_year"), values, {"units": unit, "target_set": results.targets.id})
        coords["target_year"] = years
    if uncertainty is not None:
        coords["bound"] = list(BOUNDS)
        _add_intervals(data, uncertainty, list(results.tables), epochs)
    return xr.Dataset(data, coords=coords)


def _add_intervals(data: dict[str, Any], uncertainty: RegionUncertainty, levels: list[str], epochs: tuple[int, ...]) -> None:
    by_quantity: dict[str, dict[int | None, str]] = {}
    for column in uncertainty.columns:
        quantity, epoch = uncertainty.quantity_of(column)
        by_quantity.setdefault(quantity, {})[epoch] = column
    attrs = {"long_name": "95 % interval (Monte Carlo, IPCC Approach 2)", "method": uncertainty.manifest.get("approach", "")}
    for quantity, columns in by_quantity.items():
        values = {e: np.concatenate([uncertainty.values[level][c] for level in levels]) for e, c in columns.items()}
        half = {e: np.concatenate([uncertainty.half_width_pct[level][c] for level in levels]) for e, c in columns.items()}
        unit = data[quantity][2].get("units", "") if quantity in data else ""
        if None in columns:
            data[f"{quantity}_interval"] = (("region", "bound"), values[None], {**attrs, "units": unit})
            data[f"{quantity}_half_width_pct"] = ("region", half[None], {"units": "%"})
        elif all(e in values for e in epochs):
            stacked = np.stack([values[e] for e in epochs], axis=1)
            data[f"{quantity}_interval"] = (("region", "epoch", "bound"), stacked, {**attrs, "units": unit})
            data[f"{quantity}_half_width_pct"] = (("region", "epoch"), np.stack([half[e] for e in epochs], axis=1), {"units": "%"})


def _attrs(q: Quantity, epochs: tuple[int, ...]) -> dict[str, Any]:
    methods = {
        "total": "region: sum",
        "density": "region: ratio of the region's totals",
        "change": f"epoch: difference {epochs[-1]} minus {epochs[0]}",
        "label": "",
    }
    attrs = {"units": q.unit, "long_name": q.label, "kind": q.kind, "cell_methods": methods[q.kind]}
    if q.span:
        attrs["epochs"] = f"{epochs[0]}–{epochs[-1]}"
    return attrs
