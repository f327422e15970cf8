"""Region tables, GeoJSON (RFC 7946), CSV and the run manifest."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from sinkmap._version import __version__
from sinkmap.apps.geojson import DEFAULT_PRECISION, PRECISION, write_geojson
from sinkmap.apps.levels import raw_by_level
from sinkmap.apps.plan import PipelinePlan
from sinkmap.apps.quantities import (
    OBSERVED_SHARES,
    Quantity,
    column_metadata,
    derive,
)
from sinkmap.apps.stac import write_stac
from sinkmap.apps.uncertainty import RegionUncertainty
from sinkmap.config import NationSpec, as_dict
from sinkmap.engine.regions import RegionLevel
from sinkmap.engine.roles import CLCD_LEGEND, ROLES
from sinkmap.engine.sources import sha256_file
from sinkmap.engine.step import StatKey
from sinkmap.kernels.carbon import C_TO_CO2
from sinkmap.steps.carbon import CARBON_NOTES, CarbonStep
from sinkmap.steps.landcover import N_LANDCOVER_CODES, TRANSITIONS
from sinkmap.targets import TargetSet

__all__ = ["SIGN_CONVENTION", "region_tables", "write_run"]

SIGN_CONVENTION = (
    "Carbon sinks (removals from the atmosphere) are positive; emissions are negative. Stocks are positive."
)


def transition_table(
    by_level: dict[str, tuple[pd.DataFrame, Any, dict[str, NDArray[np.float64]]]], first: int, last: int
) -> pd.DataFrame:
    """Long table of land-cover transitions per region: level, region, from class, to class, area km²."""
    frames = []
    n = N_LANDCOVER_CODES
    for level, (ident, _, tabs) in by_level.items():
        table = tabs.get(TRANSITIONS)
        if table is None:
            continue
        region, code = np.nonzero(table > 0)
        frames.append(
            pd.DataFrame(
                {
                    "level": level,
                    "region_id": ident["region_id"].to_numpy()[region],
                    "name_zh": ident["name_zh"].to_numpy()[region],
                    "name_en": ident["name_en"].to_numpy()[region],
                    "from_class": code // n,
                    "from_name": [CLCD_LEGEND.get(int(c)) for c in code // n],
                    "to_class": code % n,
                    "to_name": [CLCD_LEGEND.get(int(c)) for c in code % n],
                    f"area_km2_{first}_{last}": table[region, code] / 1e6,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _add_targets(table: pd.DataFrame, targets: TargetSet, latest: int, nation_id: str | None) -> pd.DataFrame:
    cov = table[f"coverage_pct_{latest}"]
    stock = table[f"stock_volume_m3_{latest}"]
    for year in targets.years:
        t_cov, t_stock, scope = [], [], []
        for rid in table["region_id"]:
            region_targets, s = targets.for_region(str(rid), is_nation=rid == nation_id)
            match = [t for t in region_targets if t.year == year]
            t = match[0] if match else None
            t_cov.append(np.nan if t is None or t.coverage_pct is None else t.coverage_pct)
            own = s == "regional"
            t_stock.append(np.nan if t is None or t.stock_volume_m3 is None or not own else t.stock_volume_m3)
            scope.append(s if t is not None else None)
        table[f"target_coverage_pct_{year}"] = t_cov
        table[f"coverage_gap_pct_points_{year}"] = table[f"target_coverage_pct_{year}"] - cov
        table[f"coverage_progress_pct_{year}"] = 100.0 * cov / table[f"target_coverage_pct_{year}"]
        table[f"target_stock_volume_m3_{year}"] = t_stock
        table[f"stock_gap_m3_{year}"] = table[f"target_stock_volume_m3_{year}"] - stock
        table[f"target_scope_{year}"] = scope
    return table


def region_tables(
    levels: list[RegionLevel],
    zone_keys: tuple[tuple[str, int], ...],
    stat_keys: list[StatKey],
    totals: NDArray[np.float64],
    crosstabs: dict[str, NDArray[np.float64]],
    epochs: tuple[int, ...],
    *,
    nation: NationSpec | None,
    targets: TargetSet | None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict[str, Quantity]]:
    """Per-level tables of published columns (:data:`~sinkmap.apps.quantities.QUANTITIES`) with a nation row
    rolled up from ``nation.from_level``, the transitions table, and each column's quantity."""
    by_level = raw_by_level(levels, zone_keys, stat_keys, totals, crosstabs, nation)
    tables: dict[str, pd.DataFrame] = {}
    meta: dict[str, Quantity] = {}
    for name, (ident, raw, _) in by_level.items():
        columns, meta = derive(raw, epochs, len(ident))
        tables[name] = pd.concat([ident, pd.DataFrame(columns, index=ident.index)], axis=1)
    nation_id = None if nation is None else nation.region_id
    if targets is not None:
        tables = {name: _add_targets(table, targets, epochs[-1], nation_id) for name, table in tables.items()}
    transitions = transition_table(by_level, epochs[0], epochs[-1]) if len(epochs) > 1 else pd.DataFrame()
    return tables, transitions, meta


def _write_level_geojson(path: Path, table: pd.DataFrame, geometry: list[Any], members: dict[str, Any]) -> None:
    level = str(members.get("level"))
    write_geojson(path, [(table, geometry, PRECISION.get(level, DEFAULT_PRECISION))], members)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "dask", "distributed", "xarray", "rasterio", "geopandas", "shapely", "pyproj", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    import rasterio

    out["gdal"] = rasterio.__gdal_version__
    return out


def write_run(
    run_dir: Path,
    plan: PipelinePlan,
    tables: dict[str, pd.DataFrame],
    transitions: pd.DataFrame,
    meta: dict[str, Quantity],
    raster_files: dict[str, Path],
    *,
    targets: TargetSet | None,
    profile: dict[str, float],
    final_dir: Path,
    input_checks: dict[str, dict[str, Any]] | None = None,
    uncertainty: RegionUncertainty | None = None,
    accuracy_result: tuple[pd.DataFrame, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write the GeoJSON per level, the CSVs and the manifest into ``run_dir``; return the manifest.

    With ``uncertainty`` (:func:`sinkmap.apps.uncertainty.run_uncertainty`), each level's table gains the 95 %
    interval columns of every column with an interval, and ``uncertainty_contributors.csv`` the top five variables."""
    config = plan.config
    if uncertainty is not None:
        tables = {
            name: pd.concat([table, uncertainty.wide(name).set_axis(table.index)], axis=1) for name, table in tables.items()
        }
    levels = plan.levels
    definition = config.forest_definition.describe()
    members = {
        "sinkmap_version": __version__,
        "pipeline": config.name,
        "epochs": list(config.epochs),
        "forest_definition": definition,
        "targets": None if targets is None else {"id": targets.id, "title": targets.title, "source": targets.source},
        "sign_convention": SIGN_CONVENTION,
        "units": "areas km², coverage %, stock volume m³, stocks t C, sinks t C/yr; each column's unit in the run "
        "manifest's `columns`; area is true (geodesic or equal-area) area",
    }
    outputs: dict[str, str] = {}
    by_level = {level.name: level for level in levels}
    if not transitions.empty:
        transitions.to_csv(run_dir / "transitions.csv", index=False, encoding="utf-8-sig")
        outputs["transitions.csv"] = "land-cover transition areas per region between the first and last epoch (km²)"
    for name, table in tables.items():
        if name == "nation":
            assert config.nation is not None
            source = by_level[config.nation.from_level].geometry_lonlat
            geometry = [shapely.union_all(shapely.make_valid(source.values))]
        else:
            geometry = list(by_level[name].geometry_lonlat.values)
        file = f"regions_{name}.geojson"
        _write_level_geojson(run_dir / file, table, geometry, {**members, "level": name})
        outputs[file] = f"{name} regions with forest coverage, stock volume and targets (RFC 7946 GeoJSON)"
    if config.carbon.karst_catchments is not None:
        _write_catchments(run_dir / "karst_catchments.csv", config.carbon.karst_catchments)
        outputs["karst_catchments.csv"] = (
            "karst carbon sink per gauged catchment by the hydrochemical-runoff method (½ × HCO3⁻ × Q × 12/61 / A), "
            "t C/km²/yr and t C/yr, sink positive"
        )
    combined = pd.concat(tables.values(), ignore_index=True)
    combined.insert(0, "forest_definition", config.forest_definition.name)
    combined.insert(1, "target_set", None if targets is None else targets.id)
    combined.to_csv(run_dir / "regions.csv", index=False, encoding="utf-8-sig")
    outputs["regions.csv"] = "all levels' region tables in one CSV (UTF-8 with BOM for spreadsheet programs)"
    accuracy = None
    if accuracy_result is not None:
        adjusted, accuracy = accuracy_result
        adjusted.to_csv(run_dir / "accuracy.csv", index=False, encoding="utf-8-sig")
        outputs["accuracy.csv"] = (
            "accuracy-adjusted class areas (km²) with 95 % intervals per region from the reference sample "
            "(Olofsson et al. 2014), or the reason a region is not estimated"
        )
    if uncertainty is not None and uncertainty.columns:
        uncertainty.contributors.to_csv(run_dir / "uncertainty_contributors.csv", index=False, encoding="utf-8-sig")
        outputs["uncertainty_contributors.csv"] = (
            "per region and column with an interval, the five variables (factors, area ratios, map errors) with the "
            "largest shares of the Monte Carlo variance"
        )
    for key, path in raster_files.items():
        outputs[str(path.relative_to(run_dir))] = f"per-pixel {key} (Cloud-Optimized GeoTIFF)"
    outputs.update(
        write_stac(
            run_dir,
            name=config.name,
            description=config.description,
            epochs=config.epochs,
            grid_crs=plan.job.grid.crs_wkt,
            grid_bounds=plan.job.grid.bounds,
            rasters=list(raster_files.values()),
            files=dict(outputs),
        )
    )

    inputs = []
    for (role, epoch), source in sorted(plan.job.layers.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if role not in ROLES:  # derived on a layer's own grid: its files are listed under that layer
            continue
        for p in source.paths:
            inputs.append(_input(role, p, epoch))
    for spec in config.regions:
        inputs.append(_input(f"regions:{spec.level}", spec.path))
    inputs.append(_input("pipeline", config.path))

    checks = _hierarchy_checks(tables, levels, config)
    manifest = {
        "sinkmap_version": __version__,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_dir": str(final_dir),
        "pipeline_file": config.path,
        "pipeline": as_dict(config),
        "grid": plan.job.grid.describe(),
        "layers": [s.describe() for s in plan.job.layers.values()],
        "inputs": inputs,
        "forest_definition": definition,
        "targets": None if targets is None else targets.describe(),
        "sign_convention": SIGN_CONVENTION,
        "epochs": list(config.epochs),
        "levels": list(tables),
        "level_parents": {
            **({config.nation.from_level: "nation"} if config.nation is not None else {}),
            **{spec.level: spec.parent_level for spec in config.regions if spec.parent_level},
        },
        "statistics": {
            s.name if s.epoch is None else f"{s.name}_{s.epoch}": f"{s.description} [{s.unit}]" for s in plan.job.stats
        },
        "columns": _with_interval_columns(column_metadata(meta, config.epochs), uncertainty),
        "profile": {"task_seconds_by_part": {k: round(v, 3) for k, v in profile.items()}},
        "checks": checks,
        "input_checks": input_checks or {},
        "factor_tables": [] if plan.factor_tables is None else plan.factor_tables.describe(),
        "carbon_methods": [] if plan.factor_tables is None else list(CARBON_NOTES),
        "carbon_chain": next((s.describe() for s in plan.job.steps if isinstance(s, CarbonStep)), None),
        "observed_share": observed_shares(tables, meta),
        **({} if accuracy is None else {"accuracy": accuracy}),
        **({} if uncertainty is None else {"uncertainty": uncertainty.manifest}),
        "outputs": outputs,
        "versions": _versions(),
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return manifest


def observed_shares(tables: dict[str, pd.DataFrame], meta: dict[str, Quantity]) -> dict[str, Any]:
    """Per level and region, the share of area (%) on which each product is estimated (the columns of
    :data:`~sinkmap.apps.quantities.OBSERVED_SHARES`), with what each column means."""
    columns = [c for c, q in meta.items() if q.name in OBSERVED_SHARES]
    out: dict[str, Any] = {"columns": {c: meta[c].label for c in columns}, "levels": {}}
    for level, table in tables.items():
        present = [c for c in columns if c in table]
        out["levels"][level] = {
            str(row["region_id"]): {c: None if pd.isna(row[c]) else round(float(row[c]), 4) for c in present}
            for _, row in table.iterrows()
        }
    return out


def _with_interval_columns(
    columns: dict[str, dict[str, object]], uncertainty: RegionUncertainty | None
) -> dict[str, dict[str, object]]:
    """The manifest's ``columns`` with the interval columns of ``uncertainty`` described after their quantity's."""
    if uncertainty is None:
        return columns
    out = dict(columns)
    for column in uncertainty.columns:
        base = columns.get(column)
        if base is None:
            continue
        label = str(base["label"])
        out[f"{column}_p2_5"] = {**base, "kind": "bound", "label": f"{label}, 2.5 % bound of the 95 % interval"}
        out[f"{column}_p97_5"] = {**base, "kind": "bound", "label": f"{label}, 97.5 % bound of the 95 % interval"}
        out[f"{column}_half_width_pct"] = {
            "unit": "%", "kind": "uncertainty", "label": f"{label}, half-width of the 95 % interval", "epoch": base["epoch"],
        }  # fmt: skip
    return out


def _input(role: str, path: str, epoch: int | None = None) -> dict[str, Any]:
    if path.startswith("/vsi"):  # read remotely through GDAL: ranges only, no checksum of the whole file
        return {"role": role, "epoch": epoch, "path": path, "sha256": None, "bytes": None, "remote": True}
    return {"role": role, "epoch": epoch, "path": path, "sha256": sha256_file(path), "bytes": Path(path).stat().st_size}


def _write_catchments(path: Path, table_path: str) -> None:
    from sinkmap.kernels.carbon.karst import read_catchment_table

    table = read_catchment_table(table_path)
    frame = pd.DataFrame(
        {
            "catchment_id": list(table.catchment_id),
            "area_km2": table.area_km2,
            "discharge_l_per_s": table.discharge_l_per_s,
            "hco3_mg_per_l": table.hco3_mg_per_l,
            "non_carbonic_fraction": table.non_carbonic_fraction,
            "karst_sink_t_c_per_km2_yr": table.sink_t_c_per_km2_yr(),
            "karst_sink_t_c_per_yr": table.sink_t_c_per_yr(),
            "method": "hydrochemical runoff: area basis = catchment area as given",
        }
    )
    frame["karst_sink_t_co2e_per_yr"] = frame["karst_sink_t_c_per_yr"] * C_TO_CO2
    frame.to_csv(path, index=False, encoding="utf-8-sig")


def _hierarchy_checks(tables: dict[str, pd.DataFrame], levels: list[RegionLevel], config: Any) -> list[dict[str, Any]]:
    """Compare each parent level with the sum of its children (where the children name a parent level)."""
    checks = []
    last = config.epochs[-1]
    for level in levels:
        parent = level.spec.parent_level
        if not parent or parent not in tables:
            continue
        child = tables[level.name]
        sums = child.groupby("parent_id")[[f"land_area_km2_{last}", f"forest_area_km2_{last}"]].sum()
        parents = tables[parent].set_index("region_id")
        parents = parents[parents.index.isin(sums.index)]
        for col in sums.columns:
            diff = (sums[col] - parents[col]).abs()
            # relative to the parent, with a floor of 1e-9 of the level total so empty parents do not divide noise
            floor = max(float(parents[col].abs().sum()) * 1e-9, 1e-12)
            rel = diff / parents[col].abs().clip(lower=floor)
            checks.append(
                {
                    "check": f"sum of {level.name} {col} vs {parent}",
                    "max_relative_difference": float(rel.max()) if len(rel) else None,
                    "max_absolute_difference": float(diff.max()) if len(diff) else None,
                }
            )
    return checks
