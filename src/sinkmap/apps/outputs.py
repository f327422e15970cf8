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

from sinkmap import __version__
from sinkmap.steps.carbon import CARBON_NOTES
from sinkmap.config import as_dict
from sinkmap.engine.sources import sha256_file
from sinkmap.engine.regions import RegionLevel
from sinkmap.targets import TargetSet, load_targets

__all__ = ["SIGN_CONVENTION", "region_tables", "write_geojson", "write_run"]

SIGN_CONVENTION = (
    "Carbon sinks (removals from the atmosphere) are positive; emissions are negative. Stocks are positive."
)
# Coordinate decimals by level (1e-3° ≈ 100 m for a national outline, 1e-4° ≈ 10 m, 1e-5° ≈ 1 m for counties):
# finer than the boundary sources at each scale, without megabytes of noise digits.
_COORD_DECIMALS = {"nation": 3, "province": 4, "prefecture": 4}
_DEFAULT_DECIMALS = 5


def _level_frame(level: RegionLevel, sums: NDArray[np.float64], stat_keys: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "level": level.name,
            "region_id": list(level.ids),
            "name_zh": list(level.names_zh),
            "name_en": list(level.names_en),
            "parent_id": list(level.parent_ids),
            "region_area_km2": level.geodesic_area_km2,
        }
    )
    raw = pd.DataFrame(sums, columns=stat_keys)
    return pd.concat([frame, raw], axis=1)


def _derive(frame: pd.DataFrame, epochs: tuple[int, ...]) -> pd.DataFrame:
    """Turn raw m²/m³ sums into the published columns (km², %, m³/ha)."""
    out = frame[["level", "region_id", "name_zh", "name_en", "parent_id", "region_area_km2"]].copy()
    for e in epochs:
        land = frame[f"land_area_m2_{e}"]
        forest = frame[f"forest_area_m2_{e}"]
        out[f"land_area_km2_{e}"] = land / 1e6
        out[f"forest_area_km2_{e}"] = forest / 1e6
        out[f"tree_stand_area_km2_{e}"] = frame[f"tree_stand_area_m2_{e}"] / 1e6
        out[f"bamboo_area_km2_{e}"] = frame[f"bamboo_area_m2_{e}"] / 1e6
        out[f"special_shrub_area_km2_{e}"] = frame[f"special_shrub_area_m2_{e}"] / 1e6
        out[f"coverage_pct_{e}"] = np.where(land > 0, 100.0 * forest / land.where(land > 0, 1.0), np.nan)
        out[f"stock_volume_m3_{e}"] = frame[f"stock_volume_m3_{e}"]
        out[f"stock_density_m3_per_ha_{e}"] = np.where(
            forest > 0, frame[f"stock_volume_m3_{e}"] / (forest.where(forest > 0, 1.0) / 1e4), np.nan
        )
    last = epochs[-1]
    out["observed_area_pct"] = 100.0 * out[f"land_area_km2_{last}"] / out["region_area_km2"]
    if f"forest_agb_t_c_{last}" in frame:
        out = pd.concat([out, _derive_carbon(frame, epochs)], axis=1)
    invest_cols = [c for c in frame.columns if c.startswith("invest_")]
    if invest_cols:
        extra = frame[invest_cols].copy()
        for e in epochs:
            extra[f"invest_total_t_c_{e}"] = frame[[c for c in invest_cols if c.endswith(f"_{e}")]].sum(axis=1)
        if len(epochs) > 1:
            extra[f"invest_total_change_t_c_{epochs[0]}_{last}"] = extra[f"invest_total_t_c_{last}"] - extra[f"invest_total_t_c_{epochs[0]}"]
        out = pd.concat([out, extra], axis=1)
    if len(epochs) > 1:
        first = epochs[0]
        out[f"forest_area_change_km2_{first}_{last}"] = out[f"forest_area_km2_{last}"] - out[f"forest_area_km2_{first}"]
        out[f"coverage_change_pct_points_{first}_{last}"] = out[f"coverage_pct_{last}"] - out[f"coverage_pct_{first}"]
        out[f"stock_volume_change_m3_{first}_{last}"] = out[f"stock_volume_m3_{last}"] - out[f"stock_volume_m3_{first}"]
    return out


CLCD_NAMES = {1: "cropland", 2: "forest", 3: "shrub", 4: "grassland", 5: "water", 6: "snow/ice", 7: "barren",
              8: "impervious", 9: "wetland"}


def _derive_carbon(frame: pd.DataFrame, epochs: tuple[int, ...]) -> pd.DataFrame:
    """Carbon columns: stocks by pool (t C) per epoch, areas (km²), sinks (t C/yr and t CO₂e/yr, sink positive)."""
    c2co2 = 44.0 / 12.0
    out: dict[str, Any] = {}
    first, last = epochs[0], epochs[-1]
    for e in epochs:
        pools = [frame[f"forest_{p}_t_c_{e}"] for p in ("agb", "bgb", "deadwood", "litter")]
        for p, col in zip(("agb", "bgb", "deadwood", "litter"), pools, strict=True):
            out[f"forest_{p}_t_c_{e}"] = col
        out[f"forest_vegetation_carbon_t_c_{e}"] = pools[0] + pools[1]
        out[f"forest_carbon_t_c_{e}"] = sum(pools)
        area_ha = frame[f"forest_carbon_area_m2_{e}"] / 1e4
        out[f"forest_carbon_density_t_c_per_ha_{e}"] = np.where(area_ha > 0, sum(pools) / area_ha.where(area_ha > 0, 1), np.nan)
        if f"grassland_area_m2_{e}" in frame:
            out[f"grassland_area_km2_{e}"] = frame[f"grassland_area_m2_{e}"] / 1e6
            out[f"grassland_biomass_t_c_{e}"] = frame[f"grassland_biomass_t_c_{e}"]
            out[f"grassland_soc_t_c_{e}"] = frame[f"grassland_soc_t_c_{e}"]
            out[f"grassland_carbon_t_c_{e}"] = frame[f"grassland_biomass_t_c_{e}"] + frame[f"grassland_soc_t_c_{e}"]
    if len(epochs) > 1:
        forest_sink = (out[f"forest_carbon_t_c_{last}"] - out[f"forest_carbon_t_c_{first}"]) / (last - first)
        out["forest_sink_method"] = f"stock difference {first}–{last}"
    else:
        forest_sink = frame[f"forest_gain_ipcc_t_c_per_yr_{last}"]
        out["forest_sink_method"] = "IPCC 2019R Table 4.9 gain (one epoch)"
    out[f"forest_gain_ipcc_t_c_per_yr_{last}"] = frame[f"forest_gain_ipcc_t_c_per_yr_{last}"]
    sinks = {"forest": forest_sink}
    if "grassland_soc_change_t_c_per_yr" in frame:
        sinks["grassland"] = frame["grassland_soc_change_t_c_per_yr"]
    if "wetland_soil_sink_t_c_per_yr" in frame:
        for name in ("inland", "mangrove", "salt_marsh", "seagrass"):
            out[f"wetland_{name}_area_km2"] = frame[f"wetland_{name}_area_m2"] / 1e6
        out["mangrove_biomass_t_c"] = frame["mangrove_biomass_t_c"]
        sinks["wetland"] = frame["wetland_soil_sink_t_c_per_yr"]
    if "karst_sink_t_c_per_yr" in frame:
        exposed = frame["karst_exposed_area_m2"] / 1e6
        out["karst_exposed_area_km2"] = exposed
        out["karst_buried_area_km2"] = frame["karst_buried_area_m2"] / 1e6
        out["karst_sink_density_t_c_per_km2_yr"] = np.where(exposed > 0, frame["karst_sink_t_c_per_yr"] / exposed.where(exposed > 0, 1), np.nan)
        out["karst_area_basis"] = "exposed carbonate"
        sinks["karst"] = frame["karst_sink_t_c_per_yr"]
    for name, value in sinks.items():
        out[f"{name}_sink_t_c_per_yr"] = value
        out[f"{name}_sink_t_co2e_per_yr"] = value * c2co2
    total = sum(sinks.values())
    out["total_sink_t_c_per_yr"] = total
    out["total_sink_t_co2e_per_yr"] = total * c2co2
    land = frame[f"land_area_m2_{last}"] / 1e6
    out["total_sink_density_t_c_per_km2_yr"] = np.where(land > 0, total / land.where(land > 0, 1), np.nan)
    return pd.DataFrame(out, index=frame.index)


def transition_table(raw: dict[str, pd.DataFrame], first: int, last: int) -> pd.DataFrame:
    """Long table of land-cover transitions per region: level, region, from class, to class, area km²."""
    rows = []
    for level, frame in raw.items():
        cols = [c for c in frame.columns if c.startswith("transition_")]
        if not cols:
            continue
        long = frame[["region_id", "name_zh", "name_en", *cols]].melt(
            id_vars=["region_id", "name_zh", "name_en"], var_name="key", value_name="area_m2"
        )
        codes = long["key"].str.extract(r"transition_(\d+)_(\d+)_m2").astype(int)
        long = long.assign(level=level, from_class=codes[0], to_class=codes[1])
        long = long[long["area_m2"] > 0]
        rows.append(long)
    if not rows:
        return pd.DataFrame()
    table = pd.concat(rows, ignore_index=True)
    table["from_name"] = table["from_class"].map(CLCD_NAMES)
    table["to_name"] = table["to_class"].map(CLCD_NAMES)
    table[f"area_km2_{first}_{last}"] = table["area_m2"] / 1e6
    return table[["level", "region_id", "name_zh", "name_en", "from_class", "from_name", "to_class", "to_name", f"area_km2_{first}_{last}"]]


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
    keys: tuple[tuple[str, int], ...],
    totals: NDArray[np.float64],
    stat_keys: list[str],
    epochs: tuple[int, ...],
    *,
    nation: Any,
    targets: TargetSet | None,
) -> dict[str, pd.DataFrame]:
    """Per-level tables of published columns, with a nation row rolled up from ``nation.from_level``."""
    positions = {key: i for i, key in enumerate(keys)}
    raw: dict[str, pd.DataFrame] = {}
    for level in levels:
        rows = [positions[(level.name, i)] for i in range(len(level))]
        raw[level.name] = _level_frame(level, totals[rows], stat_keys)
    if nation is not None:
        source = raw[nation.from_level]
        sums = source[stat_keys].sum(axis=0).to_frame().T
        head = pd.DataFrame(
            {
                "level": ["nation"],
                "region_id": [nation.region_id],
                "name_zh": [nation.name_zh],
                "name_en": [nation.name_en],
                "parent_id": [None],
                "region_area_km2": [source["region_area_km2"].sum()],
            }
        )
        top = raw[nation.from_level]
        top["parent_id"] = top["parent_id"].where(top["parent_id"].notna(), nation.region_id)
        raw = {"nation": pd.concat([head, sums.reset_index(drop=True)], axis=1), **raw}
    nation_id = None if nation is None else nation.region_id
    tables = {name: _derive(frame, epochs) for name, frame in raw.items()}
    if targets is not None:
        tables = {name: _add_targets(table, targets, epochs[-1], nation_id) for name, table in tables.items()}
    if len(epochs) > 1:
        transitions = transition_table(raw, epochs[0], epochs[-1])
        if not transitions.empty:
            tables["_transitions"] = transitions
    return tables


def _rounded(geom: Any, decimals: int) -> Any:
    geom = shapely.set_precision(geom, 10.0**-decimals)  # snaps without creating invalid rings
    return shapely.orient_polygons(geom, exterior_cw=False)  # RFC 7946 §3.1.6: exterior rings counter-clockwise


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_geojson(path: Path, table: pd.DataFrame, geometry: list[Any], members: dict[str, Any]) -> None:
    """Write an RFC 7946 FeatureCollection (EPSG:4326 lon/lat, CCW exteriors, UTF-8 text unescaped).

    ``members`` are written as a top-level ``sinkmap`` member (RFC 7946 §6.1 foreign members): forest definition,
    target set, sign convention, units.
    """
    features = []
    decimals = _COORD_DECIMALS.get(str(members.get("level")), _DEFAULT_DECIMALS)
    records = table.to_dict(orient="records")
    for record, geom in zip(records, geometry, strict=True):
        features.append(
            {
                "type": "Feature",
                "properties": {k: _json_value(v) for k, v in record.items()},
                "geometry": None if geom is None else shapely.geometry.mapping(_rounded(geom, decimals)),
            }
        )
    doc = {"type": "FeatureCollection", "sinkmap": members, "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False, allow_nan=False), encoding="utf-8")


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
    plan: Any,
    levels: list[RegionLevel],
    totals: NDArray[np.float64],
    raster_files: dict[str, Path],
    *,
    final_dir: Path,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Write the tables, GeoJSON per level, CSV and manifest into ``run_dir``."""
    config = plan.config
    targets = None if config.targets is None else load_targets(config.targets, base_dir=config.base_dir)
    stat_keys = [s.key for s in plan.stats]
    tables = region_tables(
        levels, plan.zones.keys, totals, stat_keys, config.epochs, nation=config.nation, targets=targets
    )
    definition = config.forest_definition.describe()
    members = {
        "sinkmap_version": __version__,
        "pipeline": config.name,
        "epochs": list(config.epochs),
        "forest_definition": definition,
        "targets": None if targets is None else {"id": targets.id, "title": targets.title, "source": targets.source},
        "sign_convention": SIGN_CONVENTION,
        "units": "areas km², coverage %, stock volume m³, densities per ha; area is true (geodesic or equal-area) area",
    }
    outputs: dict[str, str] = {}
    by_level = {level.name: level for level in levels}
    transitions = tables.pop("_transitions", None)
    if transitions is not None:
        transitions.to_csv(run_dir / "transitions.csv", index=False, encoding="utf-8-sig")
        outputs["transitions.csv"] = "land-cover transition areas per region between the first and last epoch (km²)"
    for name, table in tables.items():
        if name == "nation":
            source = by_level[config.nation.from_level].geometry_lonlat
            geometry = [shapely.union_all(shapely.make_valid(source.values))]
        else:
            geometry = list(by_level[name].geometry_lonlat.values)
        file = f"regions_{name}.geojson"
        write_geojson(run_dir / file, table, geometry, {**members, "level": name})
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
    for key, path in raster_files.items():
        outputs[str(path.relative_to(run_dir))] = f"per-pixel {key} (Cloud-Optimized GeoTIFF)"

    inputs = []
    for (role, epoch), source in sorted(plan.sources.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        for p in source.paths:
            inputs.append(
                {"role": role, "epoch": epoch, "path": p, "sha256": sha256_file(p), "bytes": Path(p).stat().st_size}
            )
    for spec in config.regions:
        inputs.append({"role": f"regions:{spec.level}", "epoch": None, "path": spec.path, "sha256": sha256_file(spec.path)})
    inputs.append({"role": "pipeline", "epoch": None, "path": config.path, "sha256": sha256_file(config.path)})

    checks = _hierarchy_checks(tables, levels, config)
    manifest = {
        "sinkmap_version": __version__,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_dir": str(final_dir),
        "pipeline_file": config.path,
        "pipeline": as_dict(config),
        "grid": plan.grid.describe(),
        "layers": [s.describe() for s in plan.sources.values()],
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
        "statistics": {s.key: s.description for s in plan.stats},
        "checks": checks,
        "factor_tables": [] if plan.carbon is None else plan.carbon.tables.describe(),
        "carbon_methods": [] if plan.carbon is None else list(CARBON_NOTES),
        "outputs": outputs,
        "versions": _versions(),
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return tables, manifest


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
    frame["karst_sink_t_co2e_per_yr"] = frame["karst_sink_t_c_per_yr"] * 44.0 / 12.0
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
