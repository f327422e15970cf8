"""Regional exports from a run directory: GeoJSON (RFC 7946), GeoPackage, CSV and Excel.

A run directory (docs/DESIGN.md, "Run directory") holds ``manifest.json`` and ``regions_<level>.geojson`` per
level. :func:`export_regions` picks one region with its subregions (or every region of a level), adds the target
tracking columns (:mod:`sinkmap.apps.tracking`) and the target set's id, and writes one file:

- ``geojson``: one FeatureCollection, EPSG:4326 lon/lat, exterior rings counter-clockwise, no ``crs`` member,
  UTF-8 text written as is (not ``\\u`` escaped), coordinates rounded to suit the level (:data:`PRECISION`);
  metadata in a top-level ``sinkmap`` member (RFC 7946 §6.1 foreign member);
- ``gpkg``: one layer per level plus an ``about`` attribute table;
- ``csv``: every selected row in one table (UTF-8 with a byte-order mark so spreadsheet programs read Chinese);
- ``xlsx``: one sheet per level with Chinese column labels over the column keys, a ``columns`` sheet describing
  every column with its unit, and an ``about`` sheet (target set, forest definition, tracking method, run).

The run-directory readers here (:func:`open_run`, :func:`read_level`, :func:`find_region`) are shared by
:mod:`sinkmap.apps.report`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from sinkmap.apps.geojson import DEFAULT_PRECISION, PRECISION, plain, snapped, write_geojson
from sinkmap.apps.quantities import LABELS_ZH
from sinkmap.apps.tracking import METHOD, track
from sinkmap.errors import ConfigError, InputNotFoundError, OutputExistsError, RegionError

__all__ = [
    "FORMATS",
    "PRECISION",
    "ColumnLabel",
    "ExportResult",
    "Region",
    "RunDirectory",
    "column_header",
    "column_label",
    "descendants",
    "export_regions",
    "find_region",
    "format_for",
    "open_run",
    "read_level",
    "region_index",
    "rfc7946_problems",
    "select_regions",
    "with_tracking",
]

log = logging.getLogger(__name__)

#: Export formats and their file suffixes.
FORMATS: dict[str, tuple[str, ...]] = {
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "csv": (".csv",),
    "xlsx": (".xlsx",),
    "geoparquet": (".parquet", ".geoparquet"),
}

#: Decimal places of longitude/latitude per level. 1e-3° ≈ 110 m suits a national map, 1e-4° ≈ 11 m a
#: province or prefecture, 1e-5° ≈ 1.1 m a county; none is coarser than the 1:1 000 000-scale boundary sources.
_ID_COLUMNS = ("level", "region_id", "name_zh", "name_en", "parent_id")


# --------------------------------------------------------------------------------------------------- run directory
@dataclass(frozen=True)
class RunDirectory:
    """A complete run directory: its path, manifest and levels (coarse to fine)."""

    path: Path
    manifest: dict[str, Any] = field(repr=False)
    levels: tuple[str, ...]

    @property
    def epochs(self) -> tuple[int, ...]:
        return tuple(int(e) for e in self.manifest.get("epochs", ()))

    @property
    def targets(self) -> dict[str, Any]:
        return dict(self.manifest.get("targets") or {})

    @property
    def target_set_id(self) -> str:
        return str(self.targets.get("id", "unknown"))

    def level_file(self, level: str) -> Path:
        return self.path / f"regions_{level}.geojson"

    def parent_level(self, level: str) -> str | None:
        """The level that ``level``'s ``parent_id`` refers to: from the pipeline, else the level above it."""
        for spec in (self.manifest.get("pipeline") or {}).get("regions") or ():
            if isinstance(spec, dict) and spec.get("level") == level and spec.get("parent_level"):
                return str(spec["parent_level"])
        i = self.levels.index(level)
        return self.levels[i - 1] if i > 0 else None


def open_run(path: str | Path) -> RunDirectory:
    """Open a run directory written by ``sinkmap run``.

    Raises:
        InputNotFoundError: the directory, its ``manifest.json`` or a level file is missing.
        ConfigError: the manifest is not valid JSON or lists no levels.
    """
    path = Path(path)
    if not path.is_dir():
        raise InputNotFoundError(
            f"run directory {path} does not exist; pass the output_dir of a `sinkmap run`"
        )
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        partial = sorted(p.name for p in path.parent.glob(f"{path.name}.partial-*"))
        hint = f" ({', '.join(partial)} is an unfinished run)" if partial else ""
        raise InputNotFoundError(
            f"{path} has no manifest.json, so it is not a complete sinkmap run directory{hint}; run `sinkmap run` first"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{manifest_path}: not valid JSON ({exc}); re-run the pipeline") from exc
    levels = tuple(str(v) for v in manifest.get("levels") or ())
    if not levels:
        levels = tuple(
            p.stem.removeprefix("regions_") for p in sorted(path.glob("regions_*.geojson"))
        )
    if not levels:
        raise ConfigError(
            f"{manifest_path}: lists no region levels and {path} has no regions_<level>.geojson"
        )
    missing = [lv for lv in levels if not (path / f"regions_{lv}.geojson").exists()]
    if missing:
        raise InputNotFoundError(
            f"{path}: missing {', '.join(f'regions_{lv}.geojson' for lv in missing)}; re-run the pipeline"
        )
    return RunDirectory(path=path, manifest=manifest, levels=levels)


def _level_document(path: Path) -> dict[str, Any]:
    """A run's ``regions_<level>.geojson`` as parsed JSON; a damaged file is a one-line error."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: not a complete GeoJSON file ({exc}); the run directory is damaged: run the pipeline again"
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise ConfigError(f"{path}: not a GeoJSON FeatureCollection; run the pipeline again")
    return doc


def read_level(run: RunDirectory, level: str) -> gpd.GeoDataFrame:
    """One level's regions as a GeoDataFrame in EPSG:4326, columns in the run's order, ids as text.

    Raises:
        RegionError: the run has no such level.
    """
    if level not in run.levels:
        raise RegionError(
            f"run {run.path} has no level {level!r}; its levels are {', '.join(run.levels)}"
        )
    doc = _level_document(run.level_file(level))
    features = doc.get("features") or []
    props = pd.DataFrame([f.get("properties") or {} for f in features])
    geoms = [
        None if f.get("geometry") is None else shapely.geometry.shape(f["geometry"])
        for f in features
    ]
    for col in ("region_id", "parent_id"):
        if col in props.columns:
            props[col] = props[col].map(
                lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            )
    return gpd.GeoDataFrame(props, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")


# ------------------------------------------------------------------------------------------------- region choice
@dataclass(frozen=True)
class Region:
    """One region of a run: its level, id and names."""

    level: str
    region_id: str
    name_zh: str
    name_en: str

    def describe(self) -> str:
        return f"{self.name_zh} / {self.name_en} ({self.level} {self.region_id})"


def region_index(run: RunDirectory) -> pd.DataFrame:
    """Every region of every level: ``level``, ``region_id``, ``name_zh``, ``name_en``, ``parent_level``,
    ``parent_id`` (text; the nation is the parent of the top level's regions that name none)."""
    frames = []
    for level in run.levels:
        doc = _level_document(run.level_file(level))
        rows = [f.get("properties") or {} for f in doc.get("features") or []]
        frame = pd.DataFrame(
            {
                "level": level,
                "region_id": [str(r.get("region_id")) for r in rows],
                "name_zh": [str(r.get("name_zh") or "") for r in rows],
                "name_en": [str(r.get("name_en") or "") for r in rows],
                "parent_id": [
                    None if r.get("parent_id") in (None, "") else str(r["parent_id"]) for r in rows
                ],
            }
        )
        frame["parent_level"] = run.parent_level(level)
        frames.append(frame)
    index = pd.concat(frames, ignore_index=True)
    if "nation" in run.levels:
        nation_id = index.loc[index.level == "nation", "region_id"].iloc[0]
        below = [lv for lv in run.levels if lv != "nation"]
        if below:
            top = (index.level == below[0]) & index.parent_id.isna()
            index.loc[top, "parent_id"] = nation_id
            index.loc[top, "parent_level"] = "nation"
    return index


def _describe_rows(rows: pd.DataFrame, limit: int = 15) -> str:
    items = [
        f"{r.name_zh} / {r.name_en} ({r.level} {r.region_id})"
        for r in rows.head(limit).itertuples()
    ]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return "; ".join(items) + more


def find_region(index: pd.DataFrame, query: str, *, where: str = "the run") -> Region:
    """The region named by ``query``: an adcode (region id), or a Chinese or English name.

    Tries, in order: exact id or name; exact name ignoring case; unique case-insensitive name prefix.

    Raises:
        RegionError: nothing matches (the message suggests close names), or several regions match (it lists them).
    """
    q = str(query).strip()
    if not q:
        raise RegionError(
            "empty --region; give an adcode such as 520000 or a name such as 贵州省 or Guizhou"
        )
    folded = q.casefold()
    zh = index["name_zh"].astype(str)
    en = index["name_en"].astype(str)
    steps = (
        ("exact", (index["region_id"] == q) | (zh == q) | (en == q)),
        ("case-insensitive", (zh.str.casefold() == folded) | (en.str.casefold() == folded)),
        (
            "prefix",
            zh.str.casefold().str.startswith(folded) | en.str.casefold().str.startswith(folded),
        ),
    )
    for kind, mask in steps:
        hits = index[mask]
        if len(hits) == 1:
            row = hits.iloc[0]
            return Region(str(row.level), str(row.region_id), str(row.name_zh), str(row.name_en))
        if len(hits) > 1:
            raise RegionError(
                f"--region {q!r} matches {len(hits)} regions in {where} ({kind} match): {_describe_rows(hits)}; "
                "give the adcode or the full name"
            )
    near = index[
        zh.str.contains(q[:1], regex=False)
        | en.str.casefold().str.contains(folded[:3], regex=False)
    ]
    hint = f" Similar names: {_describe_rows(near, 8)}." if len(near) else ""
    raise RegionError(
        f"--region {q!r} matches no region id, Chinese or English name in {where} "
        f"(levels: {', '.join(index.level.unique())}).{hint}"
    )


def descendants(index: pd.DataFrame, region: Region) -> pd.DataFrame:
    """Rows of ``index`` for ``region`` and every region below it, following ``parent_id`` chains."""
    keep = {(region.level, region.region_id)}
    frontier = set(keep)
    while frontier:
        keys = pd.Series(
            list(zip(index.parent_level, index.parent_id, strict=True)), index=index.index
        )
        children = index[keys.isin(list(frontier))]
        frontier = set(zip(children.level, children.region_id, strict=True)) - keep
        keep |= frontier
    mask = pd.Series(list(zip(index.level, index.region_id, strict=True)), index=index.index).isin(
        list(keep)
    )
    return index[mask]


def select_regions(
    run: RunDirectory, *, level: str, region: str | None = None
) -> tuple[dict[str, gpd.GeoDataFrame], Region | None]:
    """The rows to export, per level (coarse to fine).

    Without ``region``: every region of ``level``. With it: the region at its own level and every region below it
    down to ``level`` (its subregions available in the run).

    Raises:
        RegionError: unknown level or region, or a region finer than ``level``.
    """
    if level not in run.levels:
        raise RegionError(
            f"--level {level}: run {run.path} has levels {', '.join(run.levels)}; choose one of them"
        )
    if region is None:
        return {level: read_level(run, level).reset_index(drop=True)}, None
    index = region_index(run)
    chosen = find_region(index, region, where=f"run {run.path}")
    order = list(run.levels)
    if order.index(chosen.level) > order.index(level):
        raise RegionError(
            f"--region {region!r} is {chosen.describe()}, finer than --level {level}; "
            f"use --level {chosen.level} or a finer level"
        )
    below = descendants(index, chosen)
    out: dict[str, gpd.GeoDataFrame] = {}
    for lv in order[order.index(chosen.level) : order.index(level) + 1]:
        ids = set(below.loc[below.level == lv, "region_id"])
        if not ids:
            continue
        frame = read_level(run, lv)
        out[lv] = (
            frame[frame["region_id"].isin(ids)].sort_values("region_id").reset_index(drop=True)
        )
    if level not in out:
        log.warning(
            "%s has no %s-level subregions in this run; exporting the coarser levels only",
            chosen.describe(),
            level,
        )
    return out, chosen


def with_tracking(frame: pd.DataFrame, target_set: str) -> pd.DataFrame:
    """``frame`` with the target set's id and the tracking columns of :func:`sinkmap.apps.tracking.track` appended."""
    out = frame.copy()
    out["target_set"] = target_set
    result = track(pd.DataFrame(frame.drop(columns="geometry", errors="ignore")))
    extra = result.table.drop(
        columns=[c for c in ("level", "region_id", "name_zh", "name_en") if c in result.table]
    )
    extra.index = out.index
    geometry = out.pop("geometry") if "geometry" in out.columns else None
    out = pd.concat([out, extra], axis=1)
    if geometry is not None:
        out = gpd.GeoDataFrame(out, geometry=geometry, crs="EPSG:4326")
    return out


# ------------------------------------------------------------------------------------------------------ labels
@dataclass(frozen=True)
class ColumnLabel:
    """A column's Chinese label, English description and unit."""

    zh: str
    en: str
    unit: str = ""

    def header(self) -> str:
        return f"{self.zh} ({self.unit})" if self.unit else self.zh


_FIXED = {
    "total_sink_density_t_c_per_km2_yr": ColumnLabel(
        "单位面积碳汇", "total estimated carbon sink per km² of mapped land (sinks positive)", "t C/km²/yr"
    ),
    "karst_sink_density_t_c_per_km2_yr": ColumnLabel(
        "岩溶潜在碳汇强度", "karst potential carbon sink (upper bound) per km² of exposed carbonate", "t C/km²/yr"
    ),
    "level": ColumnLabel("级别", "administrative level"),
    "region_id": ColumnLabel("区划代码", "region id (administrative division code, adcode)"),
    "name_zh": ColumnLabel("名称", "name in Chinese"),
    "name_en": ColumnLabel("英文名称", "name in English"),
    "parent_id": ColumnLabel("上级区划代码", "id of the region one level up"),
    "region_area_km2": ColumnLabel(
        "行政区面积", "area of the region polygon on the ellipsoid", "km²"
    ),
    "observed_area_pct": ColumnLabel(
        "观测面积比例", "share of the region covered by mapped land pixels", "%"
    ),
    "forest_definition": ColumnLabel("森林定义", "forest definition in effect"),
    "target_set": ColumnLabel(
        "目标依据", "id of the target set (its source document is in the metadata)"
    ),
}
_PATTERNS: tuple[tuple[str, ColumnLabel], ...] = (
    (r"land_area_km2_{Y}", ColumnLabel("土地面积 {Y}", "mapped land area in {Y}", "km²")),
    (r"forest_area_km2_{Y}", ColumnLabel("森林面积 {Y}", "forest area in {Y}", "km²")),
    (
        r"tree_stand_area_km2_{Y}",
        ColumnLabel("乔木林面积 {Y}", "tree-stand forest area in {Y}", "km²"),
    ),
    (r"bamboo_area_km2_{Y}", ColumnLabel("竹林面积 {Y}", "bamboo forest area in {Y}", "km²")),
    (
        r"special_shrub_area_km2_{Y}",
        ColumnLabel("特灌林面积 {Y}", "special shrubland counted as forest in {Y}", "km²"),
    ),
    (
        r"coverage_pct_{Y}",
        ColumnLabel("森林覆盖率 {Y}", "forest coverage in {Y} (forest area / the basis in coverage_basis)", "%"),
    ),
    (
        r"stock_volume_m3_{Y}",
        ColumnLabel("森林蓄积量 {Y}", "forest growing stock volume (tree stands) in {Y}", "m³"),
    ),
    (
        r"stock_density_m3_per_ha_{Y}",
        ColumnLabel("乔木林单位面积蓄积 {Y}", "growing stock per hectare of tree stands in {Y}", "m³/ha"),
    ),
    (
        r"forest_area_change_km2_{Y}_{Z}",
        ColumnLabel("森林面积变化 {Y}–{Z}", "forest area change {Y}–{Z}", "km²"),
    ),
    (
        r"coverage_change_pct_points_{Y}_{Z}",
        ColumnLabel("覆盖率变化 {Y}–{Z}", "coverage change {Y}–{Z}", "百分点 pp"),
    ),
    (
        r"stock_volume_change_m3_{Y}_{Z}",
        ColumnLabel("蓄积量变化 {Y}–{Z}", "stock volume change {Y}–{Z}", "m³"),
    ),
    (
        r"target_coverage_pct_{Y}",
        ColumnLabel("覆盖率目标 {Y}", "forest coverage target for {Y}", "%"),
    ),
    (
        r"coverage_gap_pct_points_{Y}",
        ColumnLabel(
            "覆盖率差距 {Y}", "target − latest coverage (positive: still to go), {Y}", "百分点 pp"
        ),
    ),
    (
        r"coverage_progress_pct_{Y}",
        ColumnLabel("覆盖率目标完成度 {Y}", "latest coverage as a share of the {Y} target", "%"),
    ),
    (
        r"target_stock_volume_m3_{Y}",
        ColumnLabel("蓄积量目标 {Y}", "stock volume target for {Y}", "m³"),
    ),
    (
        r"stock_gap_m3_{Y}",
        ColumnLabel(
            "蓄积量差距 {Y}", "target − latest stock volume (positive: still to go), {Y}", "m³"
        ),
    ),
    (
        r"target_scope_{Y}",
        ColumnLabel(
            "目标范围 {Y}",
            "regional: the region's own target; national: the national target applied",
        ),
    ),
    (r"coverage_latest", ColumnLabel("最新覆盖率", "forest coverage at the last epoch", "%")),
    (
        r"coverage_rate_per_yr",
        ColumnLabel("覆盖率年变化", "coverage trend (first to last epoch)", "百分点/年 pp/yr"),
    ),
    (
        r"coverage_projected_{Y}",
        ColumnLabel("覆盖率预测 {Y}", "coverage projected to {Y} on the trend", "%"),
    ),
    (r"coverage_target_{Y}", ColumnLabel("覆盖率目标 {Y}", "coverage target for {Y}", "%")),
    (
        r"coverage_target_year_{Y}",
        ColumnLabel(
            "覆盖率达标年份 ({Y}目标)", "year the trend reaches the {Y} coverage target", "年 year"
        ),
    ),
    (
        r"coverage_status_{Y}",
        ColumnLabel(
            "覆盖率进度 {Y}", "met / on track / off track / no trend for the {Y} coverage target"
        ),
    ),
    (r"stock_latest", ColumnLabel("最新蓄积量", "stock volume at the last epoch", "m³")),
    (
        r"stock_rate_per_yr",
        ColumnLabel("蓄积量年变化", "stock volume trend (first to last epoch)", "m³/年 m³/yr"),
    ),
    (
        r"stock_projected_{Y}",
        ColumnLabel("蓄积量预测 {Y}", "stock volume projected to {Y} on the trend", "m³"),
    ),
    (r"stock_target_{Y}", ColumnLabel("蓄积量目标 {Y}", "stock volume target for {Y}", "m³")),
    (
        r"stock_target_year_{Y}",
        ColumnLabel(
            "蓄积量达标年份 ({Y}目标)", "year the trend reaches the {Y} stock target", "年 year"
        ),
    ),
    (
        r"stock_status_{Y}",
        ColumnLabel(
            "蓄积量进度 {Y}", "met / on track / off track / no trend for the {Y} stock target"
        ),
    ),
)
_COMPILED = tuple(
    (
        re.compile("^" + p.replace("{Y}", r"(?P<Y>\d{4})").replace("{Z}", r"(?P<Z>\d{4})") + "$"),
        label,
    )
    for p, label in _PATTERNS
)
_UNIT_HINTS = (
    ("t_c_per_km2_yr", "t C/km²/yr"),
    ("t_co2e_per_ha_per_yr", "t CO₂e/ha/yr"),
    ("t_c_per_ha_per_yr", "t C/ha/yr"),
    ("t_co2e_per_yr", "t CO₂e/yr"),
    ("t_c_per_yr", "t C/yr"),
    ("t_co2e_per_ha", "t CO₂e/ha"),
    ("t_c_per_ha", "t C/ha"),
    ("t_co2e", "t CO₂e"),
    ("t_c", "t C"),
    ("_km2", "km²"),
    ("_m3", "m³"),
    ("_pct", "%"),
)


_UNIT_TEXT = {"km2": "km²", "m3": "m³", "m3/ha": "m³/ha", "t CO2e/yr": "t CO₂e/yr", "t C/km2/yr": "t C/km²/yr"}


def column_label(key: str, columns: Mapping[str, Mapping[str, Any]] | None = None) -> ColumnLabel:
    """Chinese label, English description and unit of a run-table column.

    ``columns`` is the run manifest's column metadata (from sinkmap's statistics registry): where it describes
    ``key``, the unit and English label come from it. Target-tracking columns, which exports add, have fixed labels.
    """
    meta = (columns or {}).get(key)
    if key in _FIXED:
        return _FIXED[key]
    for pattern, label in _COMPILED:
        m = pattern.match(key)
        if m:
            years = m.groupdict()
            fill = {k: v for k, v in years.items() if v is not None}
            fixed = ColumnLabel(label.zh.format(**fill), label.en.format(**fill), label.unit)
            return fixed if meta is None else ColumnLabel(fixed.zh, fixed.en, _unit(meta))
    if meta is not None:
        epoch = f" {meta['epoch']}" if meta.get("epoch") is not None else ""
        en = f"{meta['label']}{epoch}"
        zh = f"碳汇 {en}" if "sink" in key else f"碳储量 {en}" if "carbon" in key else en
        return ColumnLabel(zh, f"{en} (sinks positive)" if "sink" in key else en, _unit(meta))
    hint, unit = next(((h, u) for h, u in _UNIT_HINTS if _token_at(key, h) is not None), ("", ""))
    words = _words(key, hint)
    if "sink" in key:
        return ColumnLabel(f"碳汇 {words}", f"{words} (sinks positive)", unit)
    if "carbon" in key:
        return ColumnLabel(
            f"{'碳密度' if 'density' in key or 'per_ha' in key else '碳储量'} {words}", words, unit
        )
    return ColumnLabel(key, key, unit)


def column_header(
    key: str, columns: Mapping[str, Mapping[str, Any]] | None = None, lang: str = "en", *, unit: bool = True
) -> str:
    """A column's header for a table in one language: ``forest carbon 2023 (t C)`` (``en``) or ``森林碳储量 2023
    (t C)`` (``zh``), the unit in brackets unless ``unit`` is false. Columns with a fixed label (:func:`column_label`)
    keep it; other registry columns take the registry's English label (the run manifest's ``columns``) or the
    Chinese one of :data:`~sinkmap.apps.quantities.LABELS_ZH`, by the quantity the column publishes."""
    label = column_label(key, columns)
    meta = (columns or {}).get(key)
    if lang == "zh":
        text = label.zh if _is_fixed(key) else _label_zh(key, meta) or label.zh
    elif meta is not None and not _is_fixed(key):  # the registry's words (the sign is said under the table)
        epoch = meta.get("epoch")
        text = f"{meta['label']} {epoch}" if epoch is not None else str(meta["label"])
    else:
        text = label.en
    return f"{text} ({label.unit})" if unit and label.unit else text


def _is_fixed(key: str) -> bool:
    """Whether ``key`` has a fixed label (target-tracking columns that exports add)."""
    return key in _FIXED or any(pattern.match(key) for pattern, _ in _COMPILED)


def _label_zh(key: str, meta: Mapping[str, Any] | None) -> str:
    """The Chinese label of a registry column (``forest_carbon_t_c_2023`` → ``森林碳储量 2023``), or empty."""
    for name in sorted(LABELS_ZH, key=len, reverse=True):
        rest = key[len(name) :] if key.startswith(name) else None
        if rest is not None and re.fullmatch(r"(_\d{4}){0,2}", rest):
            epoch = (meta or {}).get("epoch") if meta is not None else rest.lstrip("_").replace("_", "–")
            return f"{LABELS_ZH[name]} {epoch}" if epoch else LABELS_ZH[name]
    return ""


def _unit(meta: Mapping[str, Any]) -> str:
    unit = str(meta.get("unit", ""))
    return _UNIT_TEXT.get(unit, unit)


def _token_at(key: str, hint: str) -> int | None:
    """Where the ``_``-separated words of ``hint`` occur as whole words of ``key`` (``t_c`` is in
    ``forest_carbon_t_c_2020`` at word 2, not inside ``forest_carbon``), or ``None``."""
    words, wanted = key.split("_"), [w for w in hint.split("_") if w]
    for i in range(len(words) - len(wanted) + 1):
        if words[i : i + len(wanted)] == wanted:
            return i
    return None


def _words(key: str, unit_hint: str) -> str:
    """A column key as words, without its unit part: ``forest_carbon_t_c_2020`` → ``forest carbon 2020``."""
    words = [w for w in key.split("_") if w]
    at = _token_at(key, unit_hint) if unit_hint else None
    if at is not None:
        del words[at : at + len([w for w in unit_hint.split("_") if w])]
    return " ".join(words)


# ----------------------------------------------------------------------------------------------------- writers
def format_for(path: str | Path, fmt: str | None) -> str:
    """The export format: ``fmt`` if given, else from the file suffix.

    Raises:
        ConfigError: no format given and the suffix is not one of :data:`FORMATS`.
    """
    if fmt:
        if fmt not in FORMATS:
            raise ConfigError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    raise ConfigError(
        f"cannot tell the format of {path} from its suffix; pass --format {'|'.join(FORMATS)}"
    )


def _metadata(run: RunDirectory, chosen: Region | None, levels: Iterable[str]) -> dict[str, Any]:
    targets = run.targets
    return {
        "run_dir": str(run.path),
        "pipeline": (run.manifest.get("pipeline") or {}).get("name"),
        "sinkmap_version": run.manifest.get("sinkmap_version"),
        "created_utc": run.manifest.get("created_utc"),
        "epochs": list(run.epochs),
        "levels": list(levels),
        "region": None if chosen is None else chosen.describe(),
        "targets": {k: targets.get(k) for k in ("id", "title", "source", "date", "series_note")},
        "forest_definition": run.manifest.get("forest_definition"),
        "tracking_method": METHOD,
        "sign_convention": run.manifest.get("sign_convention"),
        "units": "areas km², coverage %, stock volume m³, densities per ha; columns sheet/labels give each unit",
    }


def _atomic_path(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def _write_geojson(
    path: Path, frames: Mapping[str, gpd.GeoDataFrame], meta: dict[str, Any], precision: int | None
) -> None:
    write_geojson(
        path,
        (
            (
                frame.drop(columns="geometry"),
                frame.geometry.values,
                precision if precision is not None else PRECISION.get(level, DEFAULT_PRECISION),
            )
            for level, frame in frames.items()
        ),
        meta,
    )


def _write_gpkg(
    path: Path, frames: Mapping[str, gpd.GeoDataFrame], meta: dict[str, Any], precision: int | None
) -> None:
    import pyogrio

    for level, frame in frames.items():
        out = frame.copy()
        out["geometry"] = gpd.GeoSeries(
            snapped(frame.geometry.values, precision if precision is not None else PRECISION.get(level, DEFAULT_PRECISION)),
            index=frame.index,
            crs=frame.crs,
        )
        out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
        out.to_file(path, layer=level, driver="GPKG", engine="pyogrio")
    about = pd.DataFrame(
        [
            {"key": k, "value": v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}
            for k, v in meta.items()
        ]
    )
    pyogrio.write_dataframe(about, path, layer="about", driver="GPKG")


def _write_geoparquet(
    path: Path,
    frames: Mapping[str, gpd.GeoDataFrame],
    meta: dict[str, Any],
    columns_meta: Mapping[str, Mapping[str, Any]],
    precision: int | None,
) -> None:
    """Every level in one GeoParquet file (its ``level`` column tells them apart), geometry in EPSG:4326.

    The file's ``geo`` metadata is GeoPandas' (GeoParquet); the run's metadata and each published column's unit,
    kind and label are in the ``sinkmap`` key of the Parquet schema metadata (JSON).
    """
    import pyarrow.parquet as pq

    parts = []
    for level, frame in frames.items():
        digits = precision if precision is not None else PRECISION.get(level, DEFAULT_PRECISION)
        part = frame.copy()
        part["geometry"] = gpd.GeoSeries(snapped(frame.geometry.values, digits), index=frame.index, crs=frame.crs)
        parts.append(part)
    table = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs="EPSG:4326")
    table.to_parquet(path, index=False)
    written = pq.read_table(path)
    columns = {c: dict(columns_meta[c]) for c in table.columns if c in columns_meta}
    extra = json.dumps({**meta, "columns": columns}, ensure_ascii=False, default=str).encode("utf-8")
    pq.write_table(written.replace_schema_metadata({**(written.schema.metadata or {}), b"sinkmap": extra}), path)


def _write_csv(path: Path, frames: Mapping[str, gpd.GeoDataFrame]) -> None:
    table = pd.concat(
        [pd.DataFrame(f.drop(columns="geometry")) for f in frames.values()], ignore_index=True
    )
    table.to_csv(path, index=False, encoding="utf-8-sig")


def _number_format(key: str, columns_meta: Mapping[str, Mapping[str, Any]]) -> str | None:
    unit = column_label(key, columns_meta).unit
    if key.endswith(("_target_year", "target_year")) or re.search(r"_target_year_\d{4}$", key):
        return "0.0"
    if unit.startswith("%") or "pp" in unit:
        return "0.00"
    if unit == "km²":
        return "#,##0.00"
    if unit.startswith("m³/ha"):
        return "0.0"
    if unit.startswith("m³") or unit.startswith("t "):
        return "#,##0"
    return None


def _write_xlsx(
    path: Path,
    frames: Mapping[str, gpd.GeoDataFrame],
    meta: dict[str, Any],
    columns_meta: Mapping[str, Mapping[str, Any]],
) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    grey = Font(color="666666", size=9)
    fill = PatternFill("solid", fgColor="E8F1E4")
    all_columns: list[str] = []
    for level, frame in frames.items():
        ws = wb.create_sheet(title=level[:31])
        columns = [c for c in frame.columns if c != "geometry"]
        all_columns.extend(c for c in columns if c not in all_columns)
        ws.append([column_label(c, columns_meta).header() for c in columns])
        ws.append(columns)
        for row in frame[columns].itertuples(index=False):
            ws.append([plain(v) for v in row])
        for j, key in enumerate(columns, start=1):
            letter = get_column_letter(j)
            head = ws.cell(row=1, column=j)
            head.font, head.fill = bold, fill
            head.alignment = Alignment(wrap_text=True, vertical="top")
            ws.cell(row=2, column=j).font = grey
            fmt = _number_format(key, columns_meta)
            if fmt:
                for (cell,) in ws.iter_rows(min_row=3, min_col=j, max_col=j):
                    cell.number_format = fmt
            ws.column_dimensions[letter].width = (
                26 if key in ("name_en",) else 14 if key != "name_zh" else 16
            )
        ws.row_dimensions[1].height = 45
        ws.freeze_panes = "E3"
        ws.auto_filter.ref = f"A2:{get_column_letter(len(columns))}{ws.max_row}"
    cols = wb.create_sheet("columns")
    cols.append(["column 列", "中文", "description", "unit 单位"])
    for key in all_columns:
        label = column_label(key, columns_meta)
        cols.append([key, label.zh, label.en, label.unit])
    for cell in cols[1]:
        cell.font, cell.fill = bold, fill
    for letter, width in zip("ABCD", (34, 26, 70, 16), strict=True):
        cols.column_dimensions[letter].width = width
    about = wb.create_sheet("about")
    about.append(["key", "value"])
    for key, value in meta.items():
        if isinstance(value, dict):
            for k, v in value.items():
                about.append(
                    [
                        f"{key}.{k}",
                        v
                        if isinstance(v, str | int | float) or v is None
                        else json.dumps(v, ensure_ascii=False),
                    ]
                )
        else:
            about.append(
                [
                    key,
                    value
                    if isinstance(value, str | int | float) or value is None
                    else json.dumps(value, ensure_ascii=False),
                ]
            )
    for cell in about[1]:
        cell.font, cell.fill = bold, fill
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 120
    wb.save(path)


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_regions` wrote."""

    path: Path
    format: str
    rows: dict[str, int]
    region: Region | None
    target_set: str
    frames: dict[str, gpd.GeoDataFrame] = field(repr=False)


def export_regions(
    run_dir: str | Path,
    output: str | Path,
    *,
    level: str,
    region: str | None = None,
    fmt: str | None = None,
    overwrite: bool = False,
    precision: int | None = None,
) -> ExportResult:
    """Export one region with its subregions (or all regions of ``level``) from a run directory.

    Args:
        run_dir: a run directory.
        output: the file to write.
        level: the finest level to export (``province``, ``prefecture``, ``county`` …).
        region: an adcode or a Chinese or English name (see :func:`find_region`); ``None`` for every region of
            ``level``.
        fmt: ``geojson``, ``gpkg``, ``csv``, ``xlsx`` or ``geoparquet``; default from the suffix of ``output``.
        overwrite: replace ``output`` if it exists.
        precision: decimal places of lon/lat for every level (default :data:`PRECISION` per level).

    Raises:
        OutputExistsError: ``output`` exists and ``overwrite`` is false.
        RegionError: unknown level or region.
        InputNotFoundError, ConfigError: ``run_dir`` is not a complete run directory.
    """
    output = Path(output)
    fmt = format_for(output, fmt)
    if output.exists() and not overwrite:
        raise OutputExistsError(
            f"{output} exists; pass --overwrite to replace it, or choose another -o FILE"
        )
    if precision is not None and not 0 <= precision <= 9:
        raise ConfigError(f"--precision {precision}: give 0–9 decimal places of a degree")
    run = open_run(run_dir)
    selected, chosen = select_regions(run, level=level, region=region)
    frames = {lv: with_tracking(frame, run.target_set_id) for lv, frame in selected.items()}
    meta = _metadata(run, chosen, frames)
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = _atomic_path(output)
    if scratch.exists():
        scratch.unlink()
    try:
        if fmt == "geojson":
            _write_geojson(scratch, frames, meta, precision)
        elif fmt == "gpkg":
            _write_gpkg(scratch, frames, meta, precision)
        elif fmt == "csv":
            _write_csv(scratch, frames)
        elif fmt == "geoparquet":
            _write_geoparquet(scratch, frames, meta, run.manifest.get("columns") or {}, precision)
        else:
            _write_xlsx(scratch, frames, meta, run.manifest.get("columns") or {})
        os.replace(scratch, output)
    finally:
        if scratch.exists():
            scratch.unlink()
    rows = {lv: len(f) for lv, f in frames.items()}
    log.debug("wrote %s (%s): %s", output, fmt, ", ".join(f"{n} {lv}" for lv, n in rows.items()))
    return ExportResult(output, fmt, rows, chosen, run.target_set_id, frames)


# ----------------------------------------------------------------------------------------------- RFC 7946 check
def _ring_area2(ring: Sequence[Sequence[float]]) -> float:
    """Twice the signed planar area of a closed ring in lon/lat (positive: counter-clockwise)."""
    xy = np.asarray(ring, dtype=float)[:, :2]
    return float(np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1]))


def _position_problems(pos: Any, where: str) -> list[str]:
    if (
        not isinstance(pos, list)
        or len(pos) not in (2, 3)
        or not all(isinstance(v, int | float) for v in pos)
    ):
        return [f"{where}: a position is two or three numbers, got {pos!r}"]
    lon, lat = pos[0], pos[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return [f"{where}: position {pos} is not WGS84 longitude/latitude"]
    return []


def _polygon_problems(rings: Any, where: str) -> list[str]:
    problems: list[str] = []
    if not isinstance(rings, list) or not rings:
        return [f"{where}: a polygon is a non-empty list of linear rings"]
    for k, ring in enumerate(rings):
        w = f"{where} ring {k}"
        if not isinstance(ring, list) or len(ring) < 4:
            problems.append(f"{w}: a linear ring has at least four positions")
            continue
        for pos in ring:
            found = _position_problems(pos, w)
            if found:
                problems.extend(found)
                break
        if ring[0] != ring[-1]:
            problems.append(f"{w}: first and last positions differ (ring not closed)")
            continue
        area = _ring_area2(ring)
        if k == 0 and area < 0:
            problems.append(
                f"{w}: exterior ring is clockwise (RFC 7946 §3.1.6 wants counter-clockwise)"
            )
        if k > 0 and area > 0:
            problems.append(f"{w}: hole is counter-clockwise (RFC 7946 §3.1.6 wants clockwise)")
    return problems


def rfc7946_problems(doc: Any, *, max_problems: int = 50) -> list[str]:
    """Ways ``doc`` (a parsed GeoJSON FeatureCollection of polygons) departs from RFC 7946; empty if none.

    Checks the object types, the absence of a ``crs`` member, WGS84 longitude/latitude ranges, closed rings of
    at least four positions, and the right-hand rule (exteriors counter-clockwise, holes clockwise).
    """
    problems: list[str] = []
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        return ["top level is not a FeatureCollection"]
    if "crs" in doc:
        problems.append(
            "has a `crs` member (removed by RFC 7946; coordinates must be WGS84 lon/lat)"
        )
    features = doc.get("features")
    if not isinstance(features, list):
        return [*problems, "`features` is not a list"]
    for i, feat in enumerate(features):
        w = f"feature {i}"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            problems.append(f"{w}: not a Feature")
            continue
        if "properties" not in feat or not (
            feat["properties"] is None or isinstance(feat["properties"], dict)
        ):
            problems.append(f"{w}: `properties` must be an object or null")
        if "crs" in feat:
            problems.append(f"{w}: has a `crs` member")
        geom = feat.get("geometry", "missing")
        if geom == "missing":
            problems.append(f"{w}: no `geometry` member (use null for none)")
        elif geom is None:
            pass
        elif not isinstance(geom, dict):
            problems.append(f"{w}: geometry is not an object")
        elif geom.get("type") == "Polygon":
            problems.extend(_polygon_problems(geom.get("coordinates"), w))
        elif geom.get("type") == "MultiPolygon":
            coords = geom.get("coordinates")
            if not isinstance(coords, list):
                problems.append(f"{w}: MultiPolygon coordinates are not a list")
            else:
                for j, poly in enumerate(coords):
                    problems.extend(_polygon_problems(poly, f"{w} polygon {j}"))
        else:
            problems.append(f"{w}: geometry type {geom.get('type')!r} is not a region polygon")
        if len(problems) >= max_problems:
            break
    return problems[:max_problems]
