"""Assemble the report: read the run directory, draw the figures, write ``report.html`` and ``figures/*.png``."""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd

from sinkmap._version import __version__
from sinkmap.apps.export import (
    Region,
    RunDirectory,
    column_header,
    column_label,
    descendants,
    find_region,
    open_run,
    read_level,
    region_index,
)
from sinkmap.apps.report import figures as F
from sinkmap.apps.report.fonts import INSTALL_HINT, find_cjk_font, has_cjk
from sinkmap.apps.report.html import (
    Cell,
    FigureSet,
    Table,
    fmt_number,
    manifest_json,
    plain_text,
    render,
)
from sinkmap.apps.report.messages import LANGS, Catalogue, catalogue
from sinkmap.apps.tracking import STATUSES, TrackingResult, track
from sinkmap.errors import ConfigError, OutputExistsError

__all__ = [
    "ReportResult",
    "build_report",
    "carbon_columns",
    "default_region",
    "interval_columns",
    "latest_only",
    "sink_column",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
_MAX_BARS = 40
_CARBON = re.compile(r"carbon|sink", re.IGNORECASE)
_INTERVAL_SUFFIXES = ("_p2_5", "_p97_5", "_half_width_pct")
CONTRIBUTORS_FILE = "uncertainty_contributors.csv"


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote."""

    path: Path
    figures: dict[str, Path]
    region: Region | None
    cjk_font: str | None
    carbon_columns: tuple[str, ...]
    sink_column: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    key_figures: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------------------- data choices
def interval_columns(columns: Any) -> set[str]:
    """The 95 % interval columns among ``columns``: ``<col>_p2_5``, ``<col>_p97_5`` and ``<col>_half_width_pct`` of
    a column ``<col>`` that is among them too. They belong to their quantity, not quantities of their own."""
    names = {str(c) for c in columns}
    return {c for c in names for end in _INTERVAL_SUFFIXES if c.endswith(end) and c[: -len(end)] in names}


def carbon_columns(table: pd.DataFrame) -> list[str]:
    """Columns whose name contains ``carbon`` or ``sink`` (in table order), without their interval columns
    (:func:`interval_columns`)."""
    parts = interval_columns(table.columns)
    return [c for c in table.columns if _CARBON.search(str(c)) and str(c) not in parts]


def sink_column(columns: list[str], table: pd.DataFrame | None = None) -> str | None:
    """The sink column to map, among names containing ``sink`` (numeric ones when ``table`` is given): the total
    per area first, then any per-area one, then a total in CO₂e, a total, any CO₂e one, else the shortest name."""
    sinks = [c for c in columns if "sink" in c.lower()]
    if table is not None:
        sinks = [c for c in sinks if c in table.columns and pd.api.types.is_numeric_dtype(table[c])]
    if not sinks:
        return None
    for pick in (
        lambda c: ("per_ha" in c or "per_km2" in c) and "total" in c,
        lambda c: "per_ha" in c or "per_km2" in c,
        lambda c: "total" in c and "co2e" in c,
        lambda c: "total" in c,
        lambda c: "co2e" in c,
    ):
        found = [c for c in sinks if pick(c)]
        if found:
            return min(found, key=len)
    return min(sinks, key=len)


def latest_only(columns: list[str], epochs: tuple[int, ...]) -> list[str]:
    """``columns`` without the per-epoch ones of epochs before the last (``…_2020`` when 2025 is the last)."""
    older = {str(e) for e in epochs[:-1]}
    return [c for c in columns if not (re.search(r"_(\d{4})$", c) and c.rsplit("_", 1)[1] in older)]


def _children_map(index: pd.DataFrame) -> dict[tuple[str, str], list[tuple[str, str]]]:
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for row in index.itertuples():
        if row.parent_id is not None and isinstance(row.parent_level, str):
            out.setdefault((row.parent_level, str(row.parent_id)), []).append(
                (row.level, row.region_id)
            )
    return out


def default_region(run: RunDirectory, index: pd.DataFrame) -> Region | None:
    """The region to show in detail: the sub-national region whose subregions in the run go deepest (ties:
    the most subregions), e.g. Guizhou with its prefectures and counties; else the nation; else none."""
    children = _children_map(index)

    def depth_size(key: tuple[str, str]) -> tuple[int, int]:
        kids = children.get(key, [])
        if not kids:
            return 0, 0
        sub = [depth_size(k) for k in kids]
        return 1 + max(d for d, _ in sub), len(kids) + sum(n for _, n in sub)

    best: tuple[int, int] = (0, 0)
    choice = None
    for row in index[index.level != "nation"].itertuples():
        score = depth_size((row.level, row.region_id))
        if score > best:
            best, choice = score, row
    if choice is None or best[0] < 1:
        nation = index[index.level == "nation"]
        choice = next(iter(nation.itertuples()), None)
    if choice is None:
        return None
    return Region(
        str(choice.level), str(choice.region_id), str(choice.name_zh), str(choice.name_en)
    )


# ------------------------------------------------------------------------------------------------ rendering
def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(
        buf,
        format="png",
        dpi=150,
        bbox_inches="tight",
        pad_inches=0.12,
        metadata={"Software": None},
    )
    return buf.getvalue()


def _pct(v: Any) -> str:
    return fmt_number(v, digits=2)


def _stock(v: Any, divisor: float) -> str:
    return fmt_number(v, digits=2, scale=divisor)


def _finite(v: Any) -> bool:
    try:
        return bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


def _interval_text(rec: Mapping[str, Any], column: str, fmt: Callable[[Any], str], t: Catalogue) -> str:
    """``95 %: low – high`` of ``column`` in ``rec`` (both bounds formatted by ``fmt``, like the value), or empty when
    ``rec`` has no finite ``<column>_p2_5`` and ``<column>_p97_5``. Bounds are shown as they are, even when they do
    not bracket the estimate."""
    low, high = rec.get(f"{column}_p2_5"), rec.get(f"{column}_p97_5")
    if not (_finite(low) and _finite(high)):
        return ""
    return t("cell.interval", low=fmt(low), high=fmt(high))


def _value_cell(rec: Mapping[str, Any], column: str, fmt: Callable[[Any], str], t: Catalogue) -> Cell:
    """A number cell of ``column``, with its 95 % interval under the value when ``rec`` has one."""
    interval = _interval_text(rec, column, fmt, t)
    text = fmt(rec.get(column))
    return Cell(text, True, kind="interval", note=interval) if interval else Cell(text, True)


def _any_interval(frame: pd.DataFrame, columns: list[str]) -> bool:
    """Whether any row of ``frame`` has both bounds of any of ``columns``."""
    for column in columns:
        low, high = f"{column}_p2_5", f"{column}_p97_5"
        if low in frame.columns and high in frame.columns:
            both = pd.to_numeric(frame[low], errors="coerce").notna() & pd.to_numeric(frame[high], errors="coerce").notna()
            if bool(both.any()):
                return True
    return False


def _year(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    return "—" if not np.isfinite(f) else f"{f:.1f}"


def _name_cell(row: Any, lang: str = "zh") -> Cell:
    """A region's name as the run gives it: Chinese (English under it) for ``zh``, English for ``en`` (the Chinese
    name when there is no English one)."""
    if lang == "zh":
        return Cell.name(row.get("name_zh"), row.get("name_en"))
    return Cell(plain_text(row.get("name_en")) or plain_text(row.get("name_zh")))


@dataclass
class _Context:
    run: RunDirectory
    tables: dict[str, gpd.GeoDataFrame]
    tracking: dict[str, TrackingResult]
    index: pd.DataFrame
    region: Region | None
    labeler: F.Labeler
    epochs: tuple[int, ...]
    target_years: tuple[int, ...]
    carbon: list[str]
    top_level: str | None
    lang: str = "en"
    t: Catalogue = field(default_factory=lambda: catalogue("en"))
    map_crs: str = F.ALBERS_CHINA
    map_crs_text: str = ""
    china: bool = False
    china_national: bool = False
    has_targets: bool = True

    def row(self, level: str, region_id: str) -> pd.Series | None:
        t = self.tables[level]
        hit = t[t["region_id"] == region_id]
        return None if hit.empty else hit.iloc[0]

    def track_row(self, level: str, region_id: str) -> pd.Series | None:
        t = self.tracking[level].table
        hit = t[t["region_id"] == region_id]
        return None if hit.empty else hit.iloc[0]

    def nation(self) -> pd.Series | None:
        if "nation" not in self.tables or self.tables["nation"].empty:
            return None
        return self.tables["nation"].iloc[0]

    def label(self, row: Any) -> str:
        return self.labeler.name(row.get("name_zh"), row.get("name_en"), row.get("region_id"))

    def frame_of(self, keys: list[tuple[str, str]]) -> pd.DataFrame:
        """Rows (with tracking columns) for (level, id) keys, in order."""
        parts = []
        for level, rid in keys:
            row = self.row(level, rid)
            trow = self.track_row(level, rid)
            if row is None:
                continue
            merged = row.drop(labels="geometry").to_dict()
            if trow is not None:
                merged.update({k: v for k, v in trow.items() if k not in merged})
            parts.append(merged)
        return pd.DataFrame(parts)

    def children(self, region: Region) -> list[tuple[str, str]]:
        kids = self.index[
            (self.index.parent_level == region.level) & (self.index.parent_id == region.region_id)
        ]
        return list(zip(kids.level, kids.region_id, strict=True))


def _coverage_rows(ctx: _Context) -> pd.DataFrame:
    last = ctx.epochs[-1]
    keys: list[tuple[str, str]] = []
    kinds: list[str] = []
    nation = ctx.nation()
    if nation is not None and (ctx.region is None or ctx.region.level != "nation"):
        keys.append(("nation", str(nation["region_id"])))
        kinds.append("aggregate")
    if ctx.region is not None:
        keys.append((ctx.region.level, ctx.region.region_id))
        kinds.append("aggregate")
        kids = ctx.frame_of(ctx.children(ctx.region))
    else:
        kids = (
            ctx.frame_of([(ctx.top_level, r) for r in ctx.tables[ctx.top_level]["region_id"]])
            if ctx.top_level
            else pd.DataFrame()
        )
    head = ctx.frame_of(keys)
    head["kind"] = kinds[: len(head)]
    if not kids.empty:
        kids = kids.sort_values(f"coverage_pct_{last}", ascending=False, na_position="last")
        kids = kids[pd.to_numeric(kids[f"coverage_pct_{last}"], errors="coerce").notna()].head(
            _MAX_BARS
        )
        kids["kind"] = "unit"
    return pd.concat([head, kids], ignore_index=True)


def _stock_frames(ctx: _Context) -> tuple[pd.DataFrame, pd.DataFrame]:
    last = ctx.epochs[-1]
    if ctx.region is not None:
        units = (
            ctx.frame_of(ctx.children(ctx.region))
            if ctx.children(ctx.region)
            else ctx.frame_of([(ctx.region.level, ctx.region.region_id)])
        )
    else:
        units = (
            ctx.frame_of([(ctx.top_level, r) for r in ctx.tables[ctx.top_level]["region_id"]])
            if ctx.top_level
            else pd.DataFrame()
        )
    if not units.empty:
        units = units.sort_values(f"stock_volume_m3_{last}", ascending=False, na_position="last")
        units = units[
            pd.to_numeric(units[f"stock_volume_m3_{last}"], errors="coerce").notna()
        ].head(_MAX_BARS)
    keys = _headline_keys(ctx)
    if ctx.region is not None and ctx.region.level != "nation":
        keys.extend(ctx.children(ctx.region))
    rows = []
    for rec in ctx.frame_of(keys).to_dict(orient="records"):
        for year in ctx.target_years:
            target = rec.get(f"target_stock_volume_m3_{year}")
            latest = rec.get(f"stock_volume_m3_{last}")
            if (
                target is None
                or not np.isfinite(float(target))
                or float(target) <= 0
                or latest is None
            ):
                continue
            rows.append(
                {
                    "name_zh": rec.get("name_zh"),
                    "name_en": rec.get("name_en"),
                    "region_id": rec.get("region_id"),
                    "year": year,
                    "progress_pct": 100.0 * float(latest) / float(target),
                    "status": rec.get(f"stock_status_{year}", ""),
                }
            )
    return units, pd.DataFrame(
        rows, columns=["name_zh", "name_en", "region_id", "year", "progress_pct", "status"]
    )


def _headline_keys(ctx: _Context) -> list[tuple[str, str]]:
    """(level, region id) of the regions shown in headlines and trends: the nation, then the chosen region."""
    keys: list[tuple[str, str]] = []
    nation = ctx.nation()
    if nation is not None:
        keys.append(("nation", str(nation["region_id"])))
    if ctx.region is not None and ctx.region.level != "nation":
        keys.append((ctx.region.level, ctx.region.region_id))
    return keys


def _trend_series(ctx: _Context) -> list[list[F.TrendSeries]]:
    keys = _headline_keys(ctx)
    out = []
    for level, rid in keys:
        row = ctx.row(level, rid)
        trow = ctx.track_row(level, rid)
        if row is None or trow is None:
            continue
        panels = []
        for key, col, name in (
            ("coverage", "coverage_pct", ctx.labeler.t("fig.trend.coverage")),
            ("stock", "stock_volume_m3", ctx.labeler.t("fig.trend.stock")),
        ):
            if key == "stock" and not _has_stock(ctx.tables):  # no panel of zeros without a growing-stock layer
                continue
            panels.append(
                F.TrendSeries(
                    label=f"{ctx.label(row)} — {name}",
                    indicator=key,
                    epochs=ctx.epochs,
                    values=tuple(float(row.get(f"{col}_{e}", np.nan)) for e in ctx.epochs),
                    low=tuple(_bound(row, f"{col}_{e}_p2_5") for e in ctx.epochs),
                    high=tuple(_bound(row, f"{col}_{e}_p97_5") for e in ctx.epochs),
                    projection={
                        y: float(trow.get(f"{key}_projected_{y}", np.nan)) for y in ctx.target_years
                    },
                    targets={
                        y: float(trow.get(f"{key}_target_{y}", np.nan)) for y in ctx.target_years
                    },
                    statuses={y: str(trow.get(f"{key}_status_{y}", "")) for y in ctx.target_years},
                )
            )
        out.append(panels)
    return out


def _bound(row: Any, column: str) -> float:
    """A bound of ``row`` as a float (NaN when missing or not estimated)."""
    value = row.get(column)
    return float(value) if _finite(value) else float("nan")


def _figure_labeler(cjk_font: str | None, lang: str) -> F.Labeler:
    """Figure names and words: Chinese for ``zh`` when a CJK font can draw them, else English."""
    cjk = cjk_font is not None
    return F.Labeler(cjk=cjk, t=catalogue("zh" if cjk and lang == "zh" else "en"))


def _rc(cjk_font: str | None) -> dict[str, Any]:
    families = ["DejaVu Sans"] + ([cjk_font] if cjk_font else [])
    return {"font.family": families, "axes.unicode_minus": False}


def _tracking_table(
    ctx: _Context, frame: pd.DataFrame, *, aggregate_ids: AbstractSet[str] = frozenset()
) -> Table:
    first, last = ctx.epochs[0], ctx.epochs[-1]
    t = ctx.t
    divisor, unit = F.stock_scale(
        float(pd.to_numeric(frame.get(f"stock_volume_m3_{last}"), errors="coerce").max() or 0), t
    )
    headers = [t("col.region"), t("col.id"), t("col.coverage", year=first)]
    if len(ctx.epochs) > 1:
        headers += [t("col.coverage", year=last), t("col.trend")]
    for y in ctx.target_years:
        headers += [t("col.target", year=y), t("col.projected", year=y), t("col.reaches", year=y), t("col.status", year=y)]
    headers += [t("col.stock", year=last, unit=unit)]
    for y in ctx.target_years:
        headers += [t("col.stock_status", year=y)]
    rows, classes = [], []
    for rec in frame.to_dict(orient="records"):
        cells = [
            _name_cell(rec, ctx.lang),
            Cell(plain_text(rec.get("region_id"))),
            _value_cell(rec, f"coverage_pct_{first}", _pct, t),
        ]
        if len(ctx.epochs) > 1:
            cells += [
                _value_cell(rec, f"coverage_pct_{last}", _pct, t),
                Cell(fmt_number(rec.get("coverage_rate_per_yr"), digits=3), True),
            ]
        for y in ctx.target_years:
            scope = rec.get(f"target_scope_{y}")
            target = _pct(rec.get(f"coverage_target_{y}"))
            national = scope == "national" and rec.get("level") != "nation" and target != "—"
            cells += [
                Cell(target, True, note=t("cell.national") if national else ""),
                Cell(_pct(rec.get(f"coverage_projected_{y}")), True),
                Cell(_year(rec.get(f"coverage_target_year_{y}")), True),
                Cell.pill(rec.get(f"coverage_status_{y}")),
            ]
        cells.append(_value_cell(rec, f"stock_volume_m3_{last}", functools.partial(_stock, divisor=divisor), t))
        for y in ctx.target_years:
            cells.append(Cell.pill(rec.get(f"stock_status_{y}")))
        rows.append(cells)
        classes.append("agg" if str(rec.get("region_id")) in aggregate_ids else "")
    return Table(headers, rows, classes)


def _pixel_size(grid: dict[str, Any]) -> str:
    size = grid.get("pixel_size") or grid.get("res") or grid.get("resolution")
    if isinstance(size, list | tuple) and len(size) == 2:
        unit = (
            "°" if str(grid.get("crs", "")).upper() in ("EPSG:4326", "EPSG:4490") else " CRS units"
        )
        return f"{size[0]:g}{unit} × {size[1]:g}{unit}"
    return str(size or "?")


def _factor_table(factor_tables: Any, t: Catalogue) -> Table:
    """Factor tables listed in the manifest: every key as a column (paths and hashes shortened); known keys are
    headed in ``t``'s language, others by their name."""
    items = factor_tables if isinstance(factor_tables, list) else [factor_tables]
    dicts = [ft if isinstance(ft, dict) else {"table": ft} for ft in items]
    keys = list(dict.fromkeys(k for d in dicts for k in d if k != "path"))
    rows = []
    for d in dicts:
        cells = []
        for k in keys:
            v = d.get(k)
            text = (
                v if isinstance(v, str) else "" if v is None else json.dumps(v, ensure_ascii=False)
            )
            if k == "sha256" and isinstance(v, str):
                cells.append(Cell.code(f"{v[:12]}…"))
            else:
                cells.append(
                    Cell(text[:300], isinstance(v, int | float) and not isinstance(v, bool))
                )
        rows.append(cells)
    return Table([t.get(f"col.{k}", k.replace("_", " ")) for k in keys], rows)


def _digits(column: str) -> int:
    """Decimals shown for a column in the report's value tables: 2 for percentages, densities and areas, else 0."""
    return 2 if ("pct" in column or "per_ha" in column or "km2" in column) else 0


def _values_table(
    frame: pd.DataFrame,
    columns: list[str],
    units: Mapping[str, Mapping[str, Any]],
    *,
    aggregate_ids: AbstractSet[str] = frozenset(),
    t: Catalogue | None = None,
) -> Table:
    """A table of ``columns``; headers in ``t``'s language name each column's unit from the run manifest's
    column metadata."""
    t = t or catalogue("en")
    headers = [t("col.region"), t("col.id")] + [column_header(c, units, t.lang) for c in columns]
    rows, classes = [], []
    for rec in frame.to_dict(orient="records"):
        cells = [_name_cell(rec, t.lang), Cell(plain_text(rec.get("region_id")))]
        for c in columns:
            v = rec.get(c)
            if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
                cells.append(_value_cell(rec, c, functools.partial(fmt_number, digits=_digits(c)), t))
            else:
                cells.append(Cell(plain_text(v) or "—"))
        rows.append(cells)
        classes.append("agg" if str(rec.get("region_id")) in aggregate_ids else "")
    return Table(headers, rows, classes)


# -------------------------------------------------------------------------------------------------- the build
def build_report(
    run_dir: str | Path,
    *,
    region: str | None = None,
    output: str | Path | None = None,
    overwrite: bool = False,
    use_cjk: bool | None = None,
    progress: ProgressFn | None = None,
    lang: str | None = None,
) -> ReportResult:
    """Write a self-contained HTML report of a run and its figures as PNG.

    Args:
        run_dir: a run directory.
        region: the region to show in detail (adcode or name); default :func:`default_region`.
        output: the HTML file (default ``RUN_DIR/report.html``); figures go to ``figures/`` beside it.
        overwrite: replace an existing report.
        use_cjk: draw Chinese names in figures (``None``: when a CJK font is found; ``False``: English only).
        progress: called with (step, steps, what) as figures are drawn.
        lang: ``zh`` (the report's text in simplified Chinese, Chinese names; figure text in Chinese when a CJK
            font is found, else English) or ``en`` (English text and names);
            ``None``: ``zh`` when the regions have Chinese names, else ``en``.

    Raises:
        OutputExistsError: the report exists and ``overwrite`` is false.
        RegionError: ``region`` does not name one region of the run.
        InputNotFoundError, ConfigError: ``run_dir`` is not a complete run directory.
    """
    run = open_run(run_dir)
    out = Path(output) if output is not None else run.path / "report.html"
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"{out} exists; pass --overwrite to replace it, or choose another -o FILE.html"
        )
    fig_dir = out.parent / "figures"
    tables = {lv: read_level(run, lv) for lv in run.levels}
    if lang is None:  # from the names of the regions (the first level; the nation's name is often a default)
        named = tables[next((lv for lv in run.levels if lv != "nation"), run.levels[0])]
        lang = "zh" if "name_zh" in named and bool(named["name_zh"].astype(str).map(has_cjk).any()) else "en"
    if lang not in LANGS:
        raise ConfigError(f"--lang {lang}: choose zh (the report in Chinese) or en (the report in English)")
    cjk_font = None if use_cjk is False or lang == "en" else find_cjk_font()
    t = catalogue(lang)
    notes: list[str] = []
    if cjk_font is None and lang == "zh":
        notes.append(t("note.no_cjk", hint=f" ({INSTALL_HINT})" if use_cjk is not False else ""))
    tracking = {lv: track(pd.DataFrame(t.drop(columns="geometry"))) for lv, t in tables.items()}
    index = region_index(run)
    chosen = (
        find_region(index, region, where=f"run {run.path}")
        if region
        else default_region(run, index)
    )
    epochs = tracking[run.levels[0]].epochs
    target_years = tracking[run.levels[0]].years
    carbon = list(dict.fromkeys(c for t in tables.values() for c in carbon_columns(t)))
    top = next((lv for lv in run.levels if lv != "nation"), None)
    map_frame = tables[top] if top is not None else tables[run.levels[0]]
    grid_wkt = (run.manifest.get("grid") or {}).get("crs_wkt")
    map_crs, map_crs_text = F.map_projection(map_frame, grid_wkt, t)
    china = F.is_china(map_frame)
    bounds = map_frame.total_bounds
    ctx = _Context(
        run,
        tables,
        tracking,
        index,
        chosen,
        _figure_labeler(cjk_font, lang),
        epochs,
        target_years,
        carbon,
        top,
        lang=lang,
        t=t,
        map_crs=map_crs,
        map_crs_text=map_crs_text,
        china=china,
        china_national=china and float(bounds[2] - bounds[0]) > 40,
        has_targets=bool(run.targets.get("id")),
    )
    last, first = epochs[-1], epochs[0]
    targets = run.targets
    set_line = f"{targets.get('id')}: {targets.get('title', '')}" if ctx.has_targets else ctx.labeler.t("header.none")

    steps: list[tuple[str, Callable[[], Any]]] = []
    region_row = None if chosen is None else ctx.row(chosen.level, chosen.region_id)
    region_name = "" if region_row is None else ctx.label(region_row)
    page_region_name = (
        ""
        if region_row is None
        else _name_cell(region_row, lang).text or plain_text(region_row.get("region_id"))
    )
    lines = F.boundary_lines() if ctx.china_national else None  # official boundary lines: China's national maps only
    ft = ctx.labeler.t  # figure words: the page's language when the figures can draw it
    figure_crs_text = F.map_projection(map_frame, grid_wkt, ft)[1]
    map_note = (
        ft("map.note.lines", projection=figure_crs_text, attribution=ft("boundary.attribution"))
        if ctx.china_national
        else ft("map.note", projection=figure_crs_text)
    )

    if top is not None:
        national = tables[top]
        steps.append(
            (
                "map_coverage",
                lambda: F.national_map(
                    national,
                    pd.to_numeric(national[f"coverage_pct_{last}"], errors="coerce").to_numpy(
                        float
                    ),
                    classes=F.COVERAGE_CLASSES,
                    title=ft("fig.coverage") + f" {last}",
                    legend_title=ft("fig.coverage.legend", year=last),
                    labeler=ctx.labeler,
                    lines=lines,
                    highlight=None if chosen is None else chosen.region_id,
                    note=ctx.labeler.plain(map_note),
                    crs=map_crs,
                    china=china,
                ),
            )
        )
    sink = (
        None
        if top is None
        else sink_column(carbon, pd.DataFrame(tables[top].drop(columns="geometry")))
    )
    sink_values = None
    sink_unit = ""
    if top is not None and sink is not None:
        national = tables[top]
        raw = pd.to_numeric(national[sink], errors="coerce").to_numpy(float)
        label = column_label(sink, ctx.run.manifest.get("columns"))
        if "per_ha" in sink or "per_km2" in sink:
            sink_values, sink_unit = raw, label.unit or sink
        else:
            land = pd.to_numeric(national.get(f"land_area_km2_{last}"), errors="coerce").to_numpy(
                float
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                sink_values = np.where(land > 0, raw / land, np.nan)
            sink_unit = t("fig.sink.per_land", unit=label.unit or sink)
        figure_sink_unit = (
            sink_unit if "per_ha" in sink or "per_km2" in sink else ft("fig.sink.per_land", unit=label.unit or sink)
        )
        sink_title = ft("fig.sink") + " — " + column_header(sink, ctx.run.manifest.get("columns"), ft.lang, unit=False)
        values = sink_values
        steps.append(
            (
                "map_sink",
                lambda: F.national_map(
                    national,
                    values,
                    classes=F.diverging_classes(values, t=ft),
                    title=sink_title,
                    legend_title=ft("fig.sink.legend", unit=figure_sink_unit),
                    labeler=ctx.labeler,
                    lines=lines,
                    highlight=None if chosen is None else chosen.region_id,
                    note=ctx.labeler.plain(map_note),
                    crs=map_crs,
                    china=china,
                ),
            )
        )
    if chosen is not None:
        below = descendants(index, chosen)
        levels_below = [lv for lv in run.levels if lv in set(below.level) and lv != chosen.level]
        if levels_below:
            finest = levels_below[-1]
            ids = set(below.loc[below.level == finest, "region_id"])
            units = tables[finest][tables[finest]["region_id"].isin(ids)].reset_index(drop=True)
            groups = None
            if len(levels_below) > 1:
                mid = levels_below[0]
                gids = set(below.loc[below.level == mid, "region_id"])
                groups = tables[mid][tables[mid]["region_id"].isin(gids)].reset_index(drop=True)
        else:
            finest = chosen.level
            units = tables[chosen.level][
                tables[chosen.level]["region_id"] == chosen.region_id
            ].reset_index(drop=True)
            groups = None
        outline = tables[chosen.level][tables[chosen.level]["region_id"] == chosen.region_id]
        if chosen.level != "nation":
            steps.append(
                (
                    "map_region",
                    lambda: F.region_map(
                        units,
                        pd.to_numeric(units[f"coverage_pct_{last}"], errors="coerce").to_numpy(
                            float
                        ),
                        classes=F.COVERAGE_CLASSES,
                        title=ft("fig.coverage.region_title", name=region_name, year=last, level=ft.level(finest)),
                        legend_title=ft("fig.coverage.legend", year=last),
                        labeler=ctx.labeler,
                        groups=groups,
                        outline=outline,
                        note=ft("map.note.region", projection=figure_crs_text),
                        crs=map_crs,
                    ),
                )
            )
    interval_figures: set[str] = set()  # figures with error bars: their captions say what the bars are
    cov_rows = _coverage_rows(ctx)
    if _any_interval(cov_rows, [f"coverage_pct_{e}" for e in {first, last}]):
        interval_figures.add("bars_coverage")
    if not cov_rows.empty:
        steps.append(
            (
                "bars_coverage",
                lambda: F.coverage_bars(
                    cov_rows,
                    epochs=epochs,
                    target_years=target_years if ctx.has_targets else (),
                    labeler=ctx.labeler,
                    title=ft("fig.coverage_targets")
                    + (f" — {region_name}" if region_name else ""),
                ),
            )
        )
    units_stock, stock_progress = _stock_frames(ctx)
    if _any_interval(units_stock, [f"stock_volume_m3_{e}" for e in {first, last}]):
        interval_figures.add("bars_stock")
    if not units_stock.empty and _has_stock(tables):  # no chart of zeros when the run has no growing stock
        steps.append(
            (
                "bars_stock",
                lambda: F.stock_bars(
                    units_stock,
                    stock_progress,
                    epochs=epochs,
                    labeler=ctx.labeler,
                    title=ft("fig.stock")
                    + (f" — {region_name}" if region_name else ""),
                    no_target_note=ctx.labeler.plain(ft("fig.stock.no_target", id=targets.get("id", "?"))),
                ),
            )
        )
    series = _trend_series(ctx)
    if any(np.isfinite(lo) and np.isfinite(hi) for row in series for s in row for lo, hi in zip(s.low, s.high, strict=True)):
        interval_figures.add("trend")
    if series:
        steps.append(
            (
                "trend",
                lambda: F.trend_chart(
                    series,
                    title=ft("fig.trend") + f" ({first}–{last} → {', '.join(map(str, target_years))})",
                    method_note=ctx.labeler.plain(
                        ft("fig.trend.note", method=ft("trend.method"), targets=set_line[:150])
                    ),
                    t=ft,
                ),
            )
        )

    fig_dir.mkdir(parents=True, exist_ok=True)
    pngs: dict[str, bytes] = {}
    paths: dict[str, Path] = {}
    font_log = logging.getLogger("matplotlib.font_manager")
    font_level = font_log.level
    font_log.setLevel(logging.ERROR)  # "no bold face for <CJK font>" is expected and harmless
    try:
        _draw_all(steps, pngs, paths, fig_dir, cjk_font, progress)
    finally:
        font_log.setLevel(font_level)

    html_text = _render(
        ctx,
        pngs,
        notes=notes,
        sink=sink,
        sink_unit=sink_unit,
        region_name=page_region_name,
        cjk_font=cjk_font,
        interval_figures=interval_figures,
    )
    scratch = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix}")
    scratch.write_text(html_text, encoding="utf-8")
    os.replace(scratch, out)
    return ReportResult(
        out, paths, chosen, cjk_font, tuple(carbon), sink, tuple(notes), _key_figures(ctx)
    )


def _has_stock(tables: Mapping[str, pd.DataFrame]) -> bool:
    """Whether any region has a growing stock above zero (a run without a growing-stock layer has none)."""
    for table in tables.values():
        for col in (c for c in table.columns if c.startswith("stock_volume_m3_")):
            values = pd.to_numeric(table[col], errors="coerce").to_numpy(float)
            if (np.isfinite(values) & (values > 0)).any():
                return True
    return False


def _key_figures(ctx: _Context) -> tuple[str, ...]:
    """One line per headline region (the nation, the chosen region): latest coverage and stock, target status."""
    last = ctx.epochs[-1]
    keys = _headline_keys(ctx)
    lines = []
    for level, rid in keys:
        row, trow = ctx.row(level, rid), ctx.track_row(level, rid)
        if row is None or trow is None:
            continue
        stock = row.get(f"stock_volume_m3_{last}")
        divisor, unit = F.stock_scale(float(stock) if pd.notna(stock) else 0.0)
        targets = [
            f"{y} target {fmt_number(trow.get(f'coverage_target_{y}'), digits=1)} %: {trow.get(f'coverage_status_{y}')}"
            for y in ctx.target_years
            if trow.get(f"coverage_status_{y}") not in (None, "no target")
        ]
        name = " ".join(dict.fromkeys(plain_text(row.get(k)) for k in ("name_zh", "name_en") if plain_text(row.get(k))))
        has_stock = pd.notna(stock) and float(stock) > 0
        lines.append(
            f"{name}: coverage {fmt_number(row.get(f'coverage_pct_{last}'))} % in {last}"
            + (f", stock {fmt_number(stock, scale=divisor)} {unit}" if has_stock else "")
            + (f"; {'; '.join(targets)}" if targets else "")
        )
    return tuple(lines)


def _draw_all(
    steps: list[tuple[str, Callable[[], Any]]],
    pngs: dict[str, bytes],
    paths: dict[str, Path],
    fig_dir: Path,
    cjk_font: str | None,
    progress: ProgressFn | None,
) -> None:
    with matplotlib.rc_context(_rc(cjk_font)):  # type: ignore[arg-type]
        for i, (name, draw) in enumerate(steps, start=1):
            if progress is not None:
                progress(i, len(steps), name)
            log.debug("figure %d/%d: %s", i, len(steps), name)
            fig = draw()
            pngs[name] = _png(fig)
            paths[name] = fig_dir / f"{name}.png"
            paths[name].write_bytes(pngs[name])


# ---------------------------------------------------------------------------------------------------- the HTML
@dataclass(frozen=True)
class _Card:
    """A key-figure card: a headline region's latest coverage, its change since the first epoch (percentage
    points; empty with one epoch), stock and coverage target status; the 95 % intervals of coverage and stock
    (empty when the run has none)."""

    name_zh: str
    name_en: str
    coverage: str
    change: str
    stock: str
    unit: str
    statuses: tuple[tuple[int, Any], ...]
    has_stock: bool = True
    coverage_interval: str = ""
    stock_interval: str = ""


@dataclass(frozen=True)
class _TableBlock:
    """A folded table of regions: their level (or the level name), count, table and whether it starts open."""

    level: str
    count: int
    table: Table
    open: bool = False


def _cards(ctx: _Context) -> list[_Card]:
    first, last = ctx.epochs[0], ctx.epochs[-1]
    cards = []
    for level, rid in _headline_keys(ctx):
        row, trow = ctx.row(level, rid), ctx.track_row(level, rid)
        if row is None or trow is None:
            continue
        cov = row.get(f"coverage_pct_{last}")
        stock = row.get(f"stock_volume_m3_{last}")
        divisor, unit = F.stock_scale(float(stock) if pd.notna(stock) else 0.0, ctx.t)
        change = (
            ""
            if len(ctx.epochs) < 2
            else fmt_number(float(cov) - float(row.get(f"coverage_pct_{first}")), digits=2)
        )
        cards.append(
            _Card(
                name_zh=plain_text(row.get("name_zh")),
                name_en=plain_text(row.get("name_en")),
                coverage=_pct(cov),
                change=change,
                stock=_stock(stock, divisor),
                unit=unit,
                statuses=tuple(
                    (y, trow.get(f"coverage_status_{y}"))
                    for y in ctx.target_years
                    if trow.get(f"coverage_status_{y}") != "no target"
                ),
                has_stock=bool(pd.notna(stock) and float(stock) > 0),
                coverage_interval=_interval_text(row, f"coverage_pct_{last}", _pct, ctx.t),
                stock_interval=_interval_text(row, f"stock_volume_m3_{last}", functools.partial(_stock, divisor=divisor), ctx.t),
            )
        )
    return cards


def _method_items(ctx: _Context, cjk_font: str | None) -> list[tuple[str, str]]:
    """(term, text) of the methods list, in the page's language (names and sources as the run gives them)."""
    m, targets, t = ctx.run.manifest, ctx.run.targets, ctx.t
    fd = m.get("forest_definition") or {}
    grid = m.get("grid") or {}
    stop = "。" if t.lang == "zh" else "."
    return [
        (t("term.definition"), f"{fd.get('name', '')} — {fd.get('source', '')}"),
        (
            t("term.tree_stands"),
            t("term.tree_stands.text", canopy=fd.get("canopy_cover_min_pct"), classes=fd.get("forest_classes")),
        ),
        (t("term.bamboo"), t("term.bamboo.text", types=fd.get("bamboo_forest_types"))),
        (t("term.special_shrubland"), json.dumps(fd.get("special_shrubland"), ensure_ascii=False)),
        (t("term.coverage"), t("term.coverage.text")),
        (
            t("term.area"),
            t(
                "term.area.text",
                method=grid.get("area_method") or t("term.area.default"),
                crs=grid.get("crs", "?"),
                size=_pixel_size(grid),
                width=grid.get("width", "?"),
                height=grid.get("height", "?"),
                bounds=grid.get("bounds", "?"),
            ),
        ),
        (
            t("term.targets"),
            f"{targets.get('title', '')} — {targets.get('source', '')}" if ctx.has_targets else t("term.targets.none"),
        ),
        (t("term.trend"), t("term.trend.text")),
        (t("term.status"), "; ".join(f"{t.status(k)}: {t(f'status.{k}.text')}" for k in STATUSES)),
        (t("term.sign"), _sign_convention(m, t)),
        (
            t("term.maps"),
            ctx.map_crs_text + (f"{stop} {t('boundary.attribution')}" if ctx.china_national else "") + stop,
        ),
        (t("term.fonts"), cjk_font or t("term.fonts.none")),
    ]


def _sign_convention(manifest: Mapping[str, Any], t: Catalogue) -> str:
    """The run's sign convention: sinkmap's own in ``t``'s language, another run's text as it is."""
    text = plain_text(manifest.get("sign_convention", ""))
    return t("sign_convention") if text == catalogue("en")("sign_convention") else text


def _inputs_table(inputs: list[dict[str, Any]], t: Catalogue) -> Table:
    rows = [
        [
            Cell(plain_text(i.get("role"))),
            Cell(plain_text(i.get("epoch"))),
            Cell(Path(str(i.get("path", ""))).name),
            Cell.code(f"{str(i.get('sha256', ''))[:16]}…"),
        ]
        for i in inputs
    ]
    return Table([t("col.role"), t("col.epoch"), t("col.file"), t("col.sha256")], rows)


@dataclass(frozen=True)
class _Uncertainty:
    """The uncertainty section: what the run records (``items``: term, text), the intervals of the headline regions
    and, per headline region, its largest contributors to the variance (heading, table)."""

    items: tuple[tuple[str, str], ...]
    intro: str
    intervals: Table | None
    contributors: tuple[tuple[str, Table], ...]


def _uncertainty(ctx: _Context) -> _Uncertainty | None:
    """The uncertainty section of a run whose manifest has ``uncertainty`` (else ``None``)."""
    record = ctx.run.manifest.get("uncertainty")
    if not isinstance(record, Mapping):
        return None
    t = ctx.t
    def shown(value: Any) -> str:  # the status is one line per part ("forest carbon: estimated (…)")
        if isinstance(value, Mapping):
            return "; ".join(f"{k}: {v}" for k, v in value.items())
        return plain_text(value)

    items = [
        (t(f"uncertainty.{key}"), shown(record.get(key)))
        for key in ("approach", "draws", "seed", "status")
        if record.get(key) is not None
    ]
    intro = t("uncertainty.intro", draws=record["draws"], seed=record["seed"]) if "draws" in record else ""
    units = ctx.run.manifest.get("columns") or {}
    keys = _headline_keys(ctx)
    rows, classes = [], []
    for rec in ctx.frame_of(keys).to_dict(orient="records"):
        parts = interval_columns(rec)
        for column in (c for c in rec if c not in parts and f"{c}_p2_5" in rec and f"{c}_p97_5" in rec):
            if not (_finite(rec[f"{column}_p2_5"]) and _finite(rec[f"{column}_p97_5"])):
                continue
            digits = _digits(column)
            rows.append(
                [
                    _name_cell(rec, ctx.lang),
                    Cell(column_header(column, units, ctx.lang)),
                    *(Cell(fmt_number(rec.get(c), digits=digits), True) for c in (column, f"{column}_p2_5", f"{column}_p97_5")),
                    Cell(fmt_number(rec.get(f"{column}_half_width_pct"), digits=1), True),
                ]
            )
            classes.append("agg" if rec.get("level") == "nation" else "")
    intervals = (
        Table(
            [t("col.region"), t("col.quantity"), t("col.estimate"), t("col.p2_5"), t("col.p97_5"), t("col.half_width")],
            rows,
            classes,
        )
        if rows
        else None
    )
    return _Uncertainty(tuple(items), intro, intervals, tuple(_contributor_tables(ctx, keys, units)))


def _contributor_tables(
    ctx: _Context, keys: list[tuple[str, str]], units: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, Table]]:
    """Per headline region, the five largest contributors to the variance of the main quantities (forest carbon of
    the last epoch, the forest sink, the total sink: those the run has), from ``uncertainty_contributors.csv``."""
    path = ctx.run.path / CONTRIBUTORS_FILE
    if not path.is_file():
        return []
    table = pd.read_csv(path, dtype={"level": str, "region_id": str}, encoding="utf-8-sig")
    if "variable" not in table.columns and "factor" in table.columns:  # run directories written before the rename
        table = table.rename(columns={"factor": "variable"})
    main = [f"forest_carbon_t_c_{ctx.epochs[-1]}", "forest_sink_t_c_per_yr", "total_sink_t_c_per_yr"]
    out = []
    for level, rid in keys:
        mine = table[(table["level"] == level) & (table["region_id"] == rid)]
        rows = []
        for column in main:
            top = mine[mine["column"] == column].sort_values("rank", kind="stable").head(5)
            rows += [
                [
                    Cell(column_header(column, units, ctx.lang)),
                    Cell(plain_text(int(r.rank)), True),
                    Cell.code(r.variable),
                    Cell(fmt_number(100 * float(r.variance_share), digits=1), True),
                ]
                for r in top.itertuples()
            ]
        row = ctx.row(level, rid)
        if rows and row is not None:
            name = _name_cell(row, ctx.lang)
            out.append(
                (
                    ctx.t("uncertainty.contributors", name=name.text or plain_text(rid)),
                    Table([ctx.t("col.quantity"), ctx.t("col.rank"), ctx.t("col.factor"), ctx.t("col.variance_share")], rows),
                )
            )
    return out


def _render(
    ctx: _Context,
    pngs: dict[str, bytes],
    *,
    notes: list[str],
    sink: str | None,
    sink_unit: str,
    region_name: str,
    cjk_font: str | None,
    interval_figures: AbstractSet[str] = frozenset(),
) -> str:
    """The page: the values of every section, laid out by ``templates/report.html.j2`` (which escapes them)."""
    run, epochs = ctx.run, ctx.epochs
    last = epochs[-1]
    m = run.manifest
    pipeline = (m.get("pipeline") or {}).get("name", "")
    keys = _headline_keys(ctx)
    agg_ids = {rid for _, rid in keys}

    # tables
    level_tables: list[_TableBlock] = []
    if ctx.region is not None:
        below = descendants(ctx.index, ctx.region)
        for level in [lv for lv in run.levels if lv in set(below.level) and lv != ctx.region.level]:
            ids = list(below.loc[below.level == level, "region_id"])
            frame = ctx.frame_of([(level, r) for r in sorted(ids)])
            if frame.empty:
                continue
            level_tables.append(
                _TableBlock(ctx.t.level(level), len(frame), _tracking_table(ctx, frame), open=len(frame) <= 15)
            )
    top_table = None
    if ctx.top_level is not None and (ctx.region is None or ctx.region.level not in ("nation",)):
        frame = ctx.frame_of([(ctx.top_level, r) for r in ctx.tables[ctx.top_level]["region_id"]])
        top_table = _TableBlock(ctx.t.level(ctx.top_level), len(frame), _tracking_table(ctx, frame))
    area_cols = [
        f"land_area_km2_{last}",
        f"forest_area_km2_{last}",
        f"coverage_pct_{last}",
        f"stock_volume_m3_{last}",
        f"stock_density_m3_per_ha_{last}",
    ]
    key_table = _tracking_table(ctx, ctx.frame_of(keys), aggregate_ids=agg_ids) if keys else None
    shown_keys = keys + (ctx.children(ctx.region) if ctx.region is not None else [])
    areas_table = carbon_table = None
    units = m.get("columns") or {}
    if keys:
        frame = ctx.frame_of(shown_keys)
        areas_table = _values_table(
            frame, [c for c in area_cols if c in frame.columns], units, aggregate_ids=agg_ids, t=ctx.t
        )
    if ctx.carbon:
        frame = ctx.frame_of(shown_keys)
        shown = latest_only([c for c in ctx.carbon if c in frame.columns], epochs)
        carbon_table = _values_table(frame, shown, units, aggregate_ids=agg_ids, t=ctx.t)

    # methods
    carbon_methods = m.get("carbon_methods")
    if carbon_methods and not isinstance(carbon_methods, list):
        carbon_methods = [carbon_methods]
    factor_tables = m.get("factor_tables")
    inputs = m.get("inputs") or []
    versions = m.get("versions") or {}

    targets = run.targets
    return render(
        "report.html.j2",
        title=ctx.t("title.pipeline", pipeline=pipeline) if pipeline else ctx.t("title"),
        run_name=run.path.name,
        created=plain_text(m.get("created_utc")),
        epochs=epochs,
        first=epochs[0],
        last=last,
        targets={
            k: plain_text(targets.get(k)) for k in ("id", "date", "title", "source", "series_note")
        },
        figures=FigureSet(pngs),
        cards=_cards(ctx),
        notes=notes,
        top_level=ctx.t.level(ctx.top_level) if ctx.top_level else "",
        has_region=ctx.region is not None,
        region_name=region_name,
        sink=sink,
        sink_unit=sink_unit,
        sign_convention=_sign_convention(m, ctx.t),
        projection_method=ctx.t("trend.method"),
        key_table=key_table,
        level_tables=level_tables,
        top_table=top_table,
        areas_table=areas_table,
        carbon_table=carbon_table,
        method_items=_method_items(ctx, cjk_font),
        carbon_methods=[
            plain_text(n if isinstance(n, str) else json.dumps(n, ensure_ascii=False))
            for n in carbon_methods or []
        ],
        factor_table=_factor_table(factor_tables, ctx.t) if factor_tables else None,
        inputs_table=_inputs_table(inputs, ctx.t) if inputs else None,
        software=", ".join(f"{k} {v}" for k, v in versions.items()),
        version=__version__,
        manifest_chars=len(json.dumps(m)),
        manifest_json=manifest_json(m),
        written=datetime.now(UTC).isoformat(timespec="seconds"),
        run_path=str(run.path),
        lang=ctx.lang,
        t=ctx.t,
        china_layout=ctx.china_national,
        has_targets=ctx.has_targets,
        interval_figures=interval_figures,
        uncertainty=_uncertainty(ctx),
    )
