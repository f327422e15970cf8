"""The report's figures, drawn with matplotlib (Agg): maps, bar charts against targets, trend charts.

Figures are :class:`matplotlib.figure.Figure` objects rendered to PNG by the Agg renderer without pyplot, so
drawing a report never touches the global matplotlib backend or opens a window. Every function takes plain data (GeoDataFrames in EPSG:4326 lon/lat, pandas tables, numbers) and returns a
matplotlib :class:`~matplotlib.figure.Figure`; nothing here reads run files or writes anything. Maps use an Albers
equal-area conic for China (standard parallels 25° N and 47° N, central meridian 105° E), so areas on the map are
comparable. The national layout follows official map conventions: the mainland in the main map and the South
China Sea islands (南海诸岛) in an inset at the lower right, with the packaged boundary lines
(:func:`boundary_lines`) drawn in both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from typing import Any

import geopandas as gpd
import matplotlib.patheffects as path_effects
import numpy as np
import pandas as pd
import shapely
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, to_hex
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from sinkmap.apps.report.fonts import has_cjk
from sinkmap.apps.report.messages import EN, Catalogue

__all__ = [
    "ALBERS_CHINA",
    "BOUNDARY_ATTRIBUTION",
    "COVERAGE_CLASSES",
    "Classes",
    "Labeler",
    "boundary_lines",
    "coverage_bars",
    "diverging_classes",
    "interval_bounds",
    "is_china",
    "is_equal_area_crs",
    "map_projection",
    "national_map",
    "region_map",
    "stock_bars",
    "stock_scale",
    "trend_chart",
]

#: Albers equal-area conic for China.
ALBERS_CHINA = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +datum=WGS84 +units=m +no_defs"
BOUNDARY_ATTRIBUTION = EN("boundary.attribution")
NO_DATA_COLOR = "#d9d9d9"
EDGE_COLOR = "#5b5b5b"
LINE_COLOR = "#3a3a3a"
TARGET_COLORS = ("#c0392b", "#e67e22", "#8e44ad", "#2c3e50")
STATUS_COLORS = {
    "met": "#1b7837",
    "on track": "#5aae61",
    "off track": "#c0392b",
    "no trend": "#999999",
}
_MAINLAND_BOX = (
    70.0,
    17.8,
    140.0,
    56.0,
)  # lon/lat window of the main map (the SCS islands go in the inset)
_SCS_BOX = (106.0, 2.8, 123.0, 24.6)  # lon/lat window of the South China Sea inset
_HALO = [path_effects.withStroke(linewidth=2.2, foreground="white")]
INTERVAL_COLOR = "#1f1f1f"
EARLIER_INTERVAL_COLOR = "#4a4a4a"


# ----------------------------------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Labeler:
    """Names and words for figures: Chinese names when a CJK font is available, else English only; the figure
    text from the catalogue ``t`` (Chinese only with a CJK font, since without one it cannot be drawn)."""

    cjk: bool
    t: Catalogue = EN

    def name(self, zh: Any, en: Any, region_id: Any = "") -> str:
        zh_s = "" if zh is None or (isinstance(zh, float) and math.isnan(zh)) else str(zh)
        en_s = "" if en is None or (isinstance(en, float) and math.isnan(en)) else str(en)
        if self.cjk and zh_s:
            return zh_s
        if en_s and not has_cjk(en_s):
            return en_s
        return str(region_id)

    def short(self, zh: Any, en: Any, region_id: Any = "") -> str:
        """A short map label: Chinese without the administrative suffix, or the English name."""
        text = self.name(zh, en, region_id)
        if self.cjk and has_cjk(text):
            for suffix in (
                "特别行政区",
                "维吾尔自治区",
                "壮族自治区",
                "回族自治区",
                "自治区",
                "省",
                "市",
            ):
                if text.endswith(suffix) and len(text) > len(suffix) + 1:
                    return text[: -len(suffix)]
        return text

    def plain(self, text: str) -> str:
        """``text`` as is with a CJK font; without one, with its CJK characters removed (they cannot be drawn)."""
        if self.cjk or not has_cjk(text):
            return text
        kept = "".join(ch for ch in text if not has_cjk(ch))
        return " ".join(kept.replace("()", "").replace("《》", "").split())


@dataclass(frozen=True)
class Classes:
    """A classed colour scale: ``edges`` (n + 1 ascending), one colour and one legend label per class."""

    edges: tuple[float, ...]
    colors: tuple[str, ...]
    labels: tuple[str, ...]

    def color_of(self, values: Sequence[float] | np.ndarray) -> list[str]:
        arr = np.asarray(values, dtype=float)
        idx = np.clip(
            np.searchsorted(np.asarray(self.edges[1:-1]), arr, side="right"),
            0,
            len(self.colors) - 1,
        )
        return [
            NO_DATA_COLOR if not np.isfinite(v) else self.colors[i]
            for v, i in zip(arr, idx, strict=True)
        ]


def _classes_from(edges: Sequence[float], cmap: str, norm: Normalize, fmt: str) -> Classes:
    edges = tuple(float(e) for e in edges)
    mids = [(a + b) / 2 for a, b in pairwise(edges)]
    colors = tuple(to_hex(colormaps[cmap](float(norm(m)))) for m in mids)
    labels = tuple(f"{a:{fmt}} – {b:{fmt}}" for a, b in pairwise(edges))
    return Classes(edges, colors, labels)


#: Forest coverage (%) classes for maps.
COVERAGE_CLASSES = _classes_from(
    (0, 10, 20, 30, 40, 50, 60, 70, 100), "YlGn", Normalize(-12, 90), ".0f"
)


def _nice(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return 0.0
    digits = 1 - math.floor(math.log10(abs(value)))
    return round(value, digits)


def diverging_classes(values: Sequence[float] | np.ndarray, *, n: int = 6, t: Catalogue = EN) -> Classes:
    """Classes for a signed quantity (sinks positive): quantile breaks rounded to two significant digits, zero
    as a break when both signs occur; colours by class rank, browns below zero and greens above."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return Classes((0.0, 1.0), (NO_DATA_COLOR,), (t("fig.no_data"),))
    lo, hi = float(arr.min()), float(arr.max())
    if lo == hi:
        lo, hi = (lo - 1, hi + 1) if lo == 0 else (lo - abs(lo) * 0.1, hi + abs(hi) * 0.1)
    qs = np.quantile(arr, np.linspace(0, 1, n + 1))
    inner = {_nice(float(q)) for q in qs[1:-1]}
    if lo < 0 < hi:
        inner.add(0.0)
    edges = [lo, *sorted(e for e in inner if lo < e < hi), hi]
    magnitude = max(abs(lo), abs(hi)) or 1.0
    fmt = ".0f" if magnitude >= 100 else ".1f" if magnitude >= 1 else ".3g"
    cmap = colormaps["BrBG"]
    n_neg = sum(1 for b in edges[1:] if b <= 0)
    n_pos = len(edges) - 1 - n_neg
    neg = [to_hex(cmap(float(x))) for x in np.linspace(0.08, 0.38, n_neg)] if n_neg else []
    if n_neg == 0:
        pos = [to_hex(colormaps["Greens"](float(x))) for x in np.linspace(0.15, 0.9, n_pos)]
    else:
        pos = [to_hex(cmap(float(x))) for x in np.linspace(0.62, 0.95, n_pos)] if n_pos else []
    labels = tuple(f"{a:{fmt}} – {b:{fmt}}".replace("-", "−") for a, b in pairwise(edges))
    return Classes(tuple(edges), tuple(neg + pos), labels)


def stock_scale(max_value: float, t: Catalogue = EN) -> tuple[float, str]:
    """(divisor, unit) for showing stock volumes: billion, million or thousand m³ (words in ``t``'s language)."""
    if max_value >= 1e9:
        return 1e9, t("unit.billion_m3")
    if max_value >= 1e6:
        return 1e6, t("unit.million_m3")
    if max_value >= 1e4:
        return 1e3, t("unit.thousand_m3")
    return 1.0, "m³"


def interval_bounds(rows: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(2.5 %, 97.5 %) bounds of ``column``'s 95 % interval, one per row of ``rows`` (NaN where a row's interval was
    not estimated), from its ``<column>_p2_5`` and ``<column>_p97_5`` columns; ``None`` when ``rows`` has not both."""
    low, high = f"{column}_p2_5", f"{column}_p97_5"
    if low not in rows.columns or high not in rows.columns:
        return None
    return (
        pd.to_numeric(rows[low], errors="coerce").to_numpy(float),
        pd.to_numeric(rows[high], errors="coerce").to_numpy(float),
    )


def _intervals(
    ax: Axes,
    positions: Sequence[float] | np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray] | None,
    *,
    horizontal: bool,
    scale: float = 1.0,
    color: str = INTERVAL_COLOR,
    label: str | None = None,
    lw: float = 1.1,
    zorder: float = 5,
) -> ErrorbarContainer | None:
    """Error bars from each row's low to its high bound (divided by ``scale``) at ``positions``: along x when
    ``horizontal`` (bar charts), else along y; none for rows with a missing bound, ``None`` when no row has both.

    Each bar is anchored at the middle of its interval, not at the estimate: the half-lengths are then never
    negative, and bounds that do not bracket the estimate (an accuracy-adjusted area interval beside the map's
    estimate) are drawn where they are, unclipped.
    """
    if bounds is None:
        return None
    low, high = (np.asarray(b, dtype=float) / scale for b in bounds)
    ok = np.isfinite(low) & np.isfinite(high)
    if not ok.any():
        return None
    lo, hi = np.minimum(low[ok], high[ok]), np.maximum(low[ok], high[ok])
    middle, half = (lo + hi) / 2, (hi - lo) / 2
    at = np.asarray(positions, dtype=float)[ok]
    x, y = (middle, at) if horizontal else (at, middle)
    return ax.errorbar(
        x, y, xerr=half if horizontal else None, yerr=None if horizontal else half, fmt="none", ecolor=color,
        elinewidth=lw, capsize=2.6, capthick=lw, zorder=zorder, label=label,
    )  # fmt: skip


def _upper_bound(bounds: tuple[np.ndarray, np.ndarray] | None) -> list[float]:
    """The finite high bounds (for axis limits); empty without bounds."""
    if bounds is None:
        return []
    return [float(v) for v in bounds[1] if np.isfinite(v)]


def boundary_lines() -> gpd.GeoDataFrame:
    """The packaged boundary lines (South China Sea dashed line, undetermined segments), EPSG:4326."""
    ref = resources.files("sinkmap.data").joinpath("boundaries", "cn_boundary_lines.geojson")
    with resources.as_file(ref) as path:
        lines = gpd.read_file(path)
    return lines.set_crs(
        "EPSG:4326", allow_override=True
    )  # CGCS2000 and WGS84 agree to within centimetres


_CHINA_EXTENT = (73.0, 18.0, 135.5, 54.0)  # lon/lat box around mainland China (centre of the regions must be in it)


def is_china(regions: gpd.GeoDataFrame) -> bool:
    """Whether ``regions`` (EPSG:4326) are Chinese: centred inside China's extent, and with administrative division
    codes (adcodes) as ids or Chinese names. Only then do maps take China's projection and official layout."""
    if regions.empty:
        return False
    x0, y0, x1, y1 = (float(v) for v in regions.total_bounds)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, s, e, n = _CHINA_EXTENT
    if not (w <= cx <= e and s <= cy <= n):
        return False
    ids = regions["region_id"].astype(str) if "region_id" in regions else pd.Series([], dtype=str)
    names = regions["name_zh"].astype(str) if "name_zh" in regions else pd.Series([], dtype=str)
    adcodes = bool(len(ids)) and bool(ids.str.fullmatch(r"[1-8]\d{5}").all())
    return adcodes or bool(names.map(has_cjk).any())


def is_equal_area_crs(crs_wkt: str | None) -> bool:
    """Whether a CRS is an equal-area projection (Albers, Lambert azimuthal, cylindrical equal area, Mollweide,
    sinusoidal, Equal Earth)."""
    if not crs_wkt:
        return False
    from pyproj import CRS

    crs = CRS.from_user_input(crs_wkt)
    if not crs.is_projected or crs.coordinate_operation is None:
        return False
    method = crs.coordinate_operation.method_name.lower()
    return "equal area" in method or any(m in method for m in ("mollweide", "sinusoidal", "equal earth"))


def map_projection(
    regions: gpd.GeoDataFrame, grid_crs_wkt: str | None = None, t: Catalogue = EN
) -> tuple[str, str]:
    """(CRS, description) for the maps of a run, chosen from the data: China's Albers conic for Chinese regions;
    else the grid's own CRS when it is equal-area; else a Lambert azimuthal equal-area projection centred on the
    regions (north up at the centre, areas true everywhere)."""
    if is_china(regions):
        return ALBERS_CHINA, t("proj.china")
    if grid_crs_wkt and is_equal_area_crs(grid_crs_wkt):
        from pyproj import CRS

        crs = CRS.from_user_input(grid_crs_wkt)
        return crs.to_wkt(), t("proj.grid", name=crs.name)
    x0, y0, x1, y1 = (float(v) for v in regions.total_bounds)
    lat, lon = (y0 + y1) / 2, (x0 + x1) / 2
    return (
        f"+proj=laea +lat_0={lat:.5f} +lon_0={lon:.5f} +datum=WGS84 +units=m +no_defs",
        t("proj.laea", lat=f"{lat:.3f}", lon=f"{lon:.3f}"),
    )


def _project(geoms: gpd.GeoSeries, tolerance_m: float, crs: str = ALBERS_CHINA) -> gpd.GeoSeries:
    """To ``crs`` (an equal-area projection), densified first so long edges follow it, then simplified for drawing."""
    dense = gpd.GeoSeries(shapely.segmentize(geoms.values, 0.25), crs=geoms.crs)
    out = dense.to_crs(crs)
    return out.simplify(tolerance_m, preserve_topology=True) if tolerance_m > 0 else out


def _span_m(regions: gpd.GeoDataFrame) -> float:
    """Rough size of the regions in metres (the larger side of their lon/lat box), for simplification tolerances."""
    x0, y0, x1, y1 = (float(v) for v in regions.total_bounds)
    mid = math.cos(math.radians((y0 + y1) / 2))
    return max((x1 - x0) * 111_320.0 * max(mid, 0.01), (y1 - y0) * 110_574.0, 1.0)


def _box_bounds(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    poly = gpd.GeoSeries([shapely.box(*box)], crs="EPSG:4326")
    return tuple(float(v) for v in _project(poly, 0).total_bounds)  # type: ignore[return-value]


def _inset_layout(xlim: list[float], ylim: list[float]) -> tuple[float, float, float, float]:
    """Place the South China Sea inset at the lower right, east of Taiwan; widen ``xlim`` (in place) to make
    room. Returns the inset rectangle in axes fractions (left, bottom, width, height)."""
    sx0, sy0, sx1, sy1 = _box_bounds(_SCS_BOX)
    ratio = (sy1 - sy0) / (sx1 - sx0)
    pts = gpd.GeoSeries(
        [shapely.Point(122.6, 23.5), shapely.Point(123.5, 30.0)], crs="EPSG:4326"
    ).to_crs(ALBERS_CHINA)
    east_of_taiwan = float(pts.iloc[0].x) + 40_000.0
    top_limit = float(pts.iloc[1].y)
    width = 0.20 * (xlim[1] - xlim[0])
    width = min(width, (top_limit - ylim[0]) / ratio)
    xlim[1] = max(xlim[1], east_of_taiwan + width)
    width = xlim[1] - east_of_taiwan
    height = min(width * ratio, top_limit - ylim[0])
    width = height / ratio
    total_w, total_h = xlim[1] - xlim[0], ylim[1] - ylim[0]
    return ((xlim[1] - width - xlim[0]) / total_w, 0.0, width / total_w, height / total_h)


def _scale_bar(ax: Axes, *, x_frac: float = 0.30, y_frac: float = 0.05) -> None:
    """A simple scale bar in projected metres (valid along the standard parallels of an equal-area map)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    width = (x1 - x0) * 0.18
    nice = [1, 2, 5]
    exp = 10 ** math.floor(math.log10(width))
    length = max(n * exp for n in nice if n * exp <= width) if width >= exp else exp
    bx = x0 + (x1 - x0) * x_frac
    by = y0 + (y1 - y0) * y_frac
    h = (y1 - y0) * 0.008
    ax.add_patch(
        Rectangle(
            (bx, by), length / 2, h, facecolor="#333333", edgecolor="#333333", lw=0.6, zorder=6
        )
    )
    ax.add_patch(
        Rectangle(
            (bx + length / 2, by),
            length / 2,
            h,
            facecolor="white",
            edgecolor="#333333",
            lw=0.6,
            zorder=6,
        )
    )
    for frac in (0, 0.5, 1):
        ax.text(
            bx + length * frac,
            by + h * 2.2,
            f"{length * frac / 1000:g}",
            ha="center",
            va="bottom",
            fontsize=6.5,
            zorder=6,
        )
    ax.text(
        bx + length + (x1 - x0) * 0.01, by, "km", ha="left", va="bottom", fontsize=6.5, zorder=6
    )


def _north_arrow(ax: Axes, *, x: float = 0.05, y: float = 0.9) -> None:
    ax.annotate(
        "N",
        xy=(x, y + 0.07),
        xytext=(x, y),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=9,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.2},
        path_effects=_HALO,  # readable over dark fills
        zorder=7,
    )


def _map_axes(ax: Axes) -> None:
    """Map look: equal aspect, no ticks or axis labels (geopandas labels projected axes), thin frame."""
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for spine in ax.spines.values():
        spine.set_color("#777777")
        spine.set_linewidth(0.8)


def _legend(
    ax: Axes, classes: Classes, title: str, *, no_data: bool, loc: Any = "lower left", t: Catalogue = EN, **kw: Any
) -> None:
    handles = [
        Patch(facecolor=c, edgecolor=EDGE_COLOR, linewidth=0.4, label=lab)
        for c, lab in zip(classes.colors, classes.labels, strict=True)
    ]
    if no_data:
        handles.append(
            Patch(facecolor=NO_DATA_COLOR, edgecolor=EDGE_COLOR, linewidth=0.4, label=t("fig.no_data"))
        )
    leg = ax.legend(
        handles=handles,
        title=title,
        loc=loc,
        fontsize=7,
        title_fontsize=7.5,
        frameon=True,
        framealpha=0.92,
        **kw,
    )
    leg.get_frame().set_edgecolor("#bbbbbb")
    leg.set_zorder(8)


# -------------------------------------------------------------------------------------------------------- maps
def national_map(
    regions: gpd.GeoDataFrame,
    values: Sequence[float] | np.ndarray,
    *,
    classes: Classes,
    title: str,
    legend_title: str,
    labeler: Labeler,
    lines: gpd.GeoDataFrame | None = None,
    highlight: str | None = None,
    note: str = "",
    crs: str = ALBERS_CHINA,
    china: bool = True,
) -> Figure:
    """Choropleth of ``values`` over ``regions`` (one value per row, NaN for no data) in ``crs``.

    When the regions are China's (``china``) and span it (more than 40° of longitude), the map shows the mainland
    with the South China Sea islands as an inset; otherwise it zooms to the regions (no national layout to follow,
    and no inset). ``highlight`` is a ``region_id`` drawn with a heavy outline.
    """
    colors = classes.color_of(values)
    lonlat_bounds = regions.total_bounds
    national = china and (lonlat_bounds[2] - lonlat_bounds[0]) > 40
    span_m = _span_m(regions)
    proj = _project(regions.geometry, 1500.0 if national else span_m / 2000, crs)
    lines_proj = None if lines is None or lines.empty or not china else _project(lines.geometry, 0, crs)
    fig = Figure(figsize=(10, 7.8))
    ax = fig.add_axes((0.01, 0.02, 0.98, 0.90))
    _map_axes(ax)
    proj.plot(ax=ax, color=colors, edgecolor="white", linewidth=0.35)
    proj.boundary.plot(ax=ax, color=EDGE_COLOR, linewidth=0.35)
    outline = shapely.union_all(shapely.make_valid(proj.values))
    gpd.GeoSeries([outline]).boundary.plot(ax=ax, color="#333333", linewidth=0.8)
    if highlight is not None and "region_id" in regions.columns:
        mask = (regions["region_id"].astype(str) == str(highlight)).to_numpy()
        if mask.any():
            proj[mask].boundary.plot(ax=ax, color="#0b3d91", linewidth=1.6, zorder=5)
    if lines_proj is not None:
        lines_proj.plot(ax=ax, color=LINE_COLOR, linewidth=1.1, zorder=4)
    inset_rect = None
    if national:
        main = shapely.clip_by_rect(outline, *_box_bounds(_MAINLAND_BOX))
        x0, y0, x1, y1 = main.bounds
        pad_x, pad_y = (x1 - x0) * 0.03, (y1 - y0) * 0.03
        xlim, ylim = [x0 - pad_x, x1 + pad_x], [y0 - pad_y, y1 + pad_y]
        inset_rect = _inset_layout(xlim, ylim)
    else:
        x0, y0, x1, y1 = proj.total_bounds
        pad_x, pad_y = (x1 - x0) * 0.03, (y1 - y0) * 0.03
        xlim, ylim = [x0 - pad_x, x1 + pad_x], [y0 - pad_y, y1 + pad_y]
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    _map_axes(ax)
    areas = regions.get("region_area_km2")
    smallest_labelled = 5000 if national else 0  # km²: a national map labels the larger regions only
    for i, point in enumerate(proj.representative_point()):
        if areas is not None and float(areas.iloc[i]) < smallest_labelled:
            continue
        row = regions.iloc[i]
        label = labeler.short(row.get("name_zh"), row.get("name_en"), row.get("region_id"))
        if x0 <= point.x <= x1 and y0 <= point.y <= y1:
            ax.text(
                point.x,
                point.y,
                label,
                fontsize=6.3,
                ha="center",
                va="center",
                color="#222222",
                path_effects=_HALO,
                zorder=6,
            )
    ax.set_title(title, fontsize=13, fontweight="bold", loc="left", pad=8)
    _legend(
        ax, classes, legend_title, no_data=bool(np.any(~np.isfinite(np.asarray(values, float)))), t=labeler.t
    )
    _north_arrow(ax)
    _scale_bar(ax, x_frac=0.30, y_frac=0.04)
    if inset_rect is not None:
        sx0, sy0, sx1, sy1 = _box_bounds(_SCS_BOX)
        inset = ax.inset_axes(inset_rect)
        proj.plot(ax=inset, color=colors, edgecolor=EDGE_COLOR, linewidth=0.3)
        if lines_proj is not None:
            lines_proj.plot(ax=inset, color=LINE_COLOR, linewidth=0.9)
        inset.set_xlim(sx0, sx1)
        inset.set_ylim(sy0, sy1)
        _map_axes(inset)
        inset.set_zorder(9)
        inset.set_facecolor("#f4f8fb")
        inset.text(
            0.5,
            0.03,
            labeler.t("fig.scs"),
            transform=inset.transAxes,
            ha="center",
            va="bottom",
            fontsize=6.5,
        )
    if note:
        fig.text(0.01, -0.005, note, fontsize=6.5, color="#555555", ha="left", va="top", wrap=True)
    ax.set_facecolor("#f4f8fb" if national else "white")
    return fig


def region_map(
    units: gpd.GeoDataFrame,
    values: Sequence[float] | np.ndarray,
    *,
    classes: Classes,
    title: str,
    legend_title: str,
    labeler: Labeler,
    groups: gpd.GeoDataFrame | None = None,
    outline: gpd.GeoDataFrame | None = None,
    note: str = "",
    crs: str = ALBERS_CHINA,
) -> Figure:
    """Choropleth of a region's finest units in ``crs``, with intermediate ``groups`` (e.g. prefectures) outlined
    and labelled, and the region's ``outline``. Labels go on the groups, or on the units when there are few."""
    colors = classes.color_of(values)
    tolerance = min(150.0, _span_m(units) / 2000)
    proj = _project(units.geometry, tolerance, crs)
    fig = Figure(figsize=(10, 8))
    ax = fig.add_axes((0.01, 0.02, 0.74, 0.90))
    _map_axes(ax)
    proj.plot(ax=ax, color=colors, edgecolor="white", linewidth=0.4)
    proj.boundary.plot(ax=ax, color="#8a8a8a", linewidth=0.35)
    label_frame, label_proj = units, proj
    if groups is not None and len(groups):
        gproj = _project(groups.geometry, tolerance, crs)
        gproj.boundary.plot(ax=ax, color="#2f2f2f", linewidth=1.0)
        label_frame, label_proj = groups, gproj
    if outline is not None and len(outline):
        _project(outline.geometry, tolerance, crs).boundary.plot(ax=ax, color="#0b3d91", linewidth=1.8)
    if len(label_frame) <= 40:
        for i, point in enumerate(label_proj.representative_point()):
            row = label_frame.iloc[i]
            ax.text(
                point.x, point.y, labeler.name(row.get("name_zh"), row.get("name_en"), row.get("region_id")),
                fontsize=7.5 if len(label_frame) <= 15 else 6.2, ha="center", va="center", color="#111111",
                path_effects=_HALO, zorder=6,
            )  # fmt: skip
    x0, y0, x1, y1 = proj.total_bounds
    pad = max(x1 - x0, y1 - y0) * 0.04
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad * 2, y1 + pad)
    _map_axes(ax)
    ax.set_title(title, fontsize=13, fontweight="bold", loc="left", pad=8)
    _legend(
        ax, classes, legend_title, no_data=bool(np.any(~np.isfinite(np.asarray(values, float)))),
        loc="upper left", bbox_to_anchor=(1.02, 1.0), t=labeler.t,
    )  # fmt: skip
    _north_arrow(ax, x=0.95, y=0.88)
    _scale_bar(ax, x_frac=0.04, y_frac=0.03)
    if note:
        fig.text(0.01, -0.005, note, fontsize=6.5, color="#555555", ha="left", va="top", wrap=True)
    return fig


# -------------------------------------------------------------------------------------------------- bar charts
def _target_legend_handles(years: Sequence[int], t: Catalogue = EN) -> list[Line2D]:
    return [
        Line2D(
            [],
            [],
            color=TARGET_COLORS[i % len(TARGET_COLORS)],
            marker="|",
            markersize=13,
            mew=2.4,
            ls="none",
            label=t("fig.target", year=y),
        )
        for i, y in enumerate(years)
    ]


def coverage_bars(
    rows: pd.DataFrame,
    *,
    epochs: Sequence[int],
    target_years: Sequence[int],
    labeler: Labeler,
    title: str,
) -> Figure:
    """Forest coverage per region (latest epoch as bars, first epoch as dots) with each region's targets.

    ``rows`` has ``name_zh``, ``name_en``, ``region_id``, ``kind`` (``aggregate`` rows are emphasised),
    ``coverage_pct_E`` and ``target_coverage_pct_Y`` columns; rows are drawn top to bottom in order. Where ``rows``
    also has ``coverage_pct_E_p2_5`` and ``coverage_pct_E_p97_5``, the 95 % intervals are drawn as error bars (the
    first epoch's in grey, just under its dots).
    """
    last, first = epochs[-1], epochs[0]
    n = len(rows)
    fig = Figure(figsize=(9, 1.3 + 0.3 * max(n, 3)))
    ax = fig.add_axes(
        (0.27, 0.9 / (1.3 + 0.3 * max(n, 3)), 0.70, 1 - 1.25 / (1.3 + 0.3 * max(n, 3)))
    )
    y = np.arange(n)[::-1]
    latest = pd.to_numeric(rows[f"coverage_pct_{last}"], errors="coerce").to_numpy(float)
    colors = ["#2b6a3b" if k == "aggregate" else "#6fb07f" for k in rows["kind"]]
    ax.barh(y, np.nan_to_num(latest), color=colors, height=0.66, zorder=2)
    earlier = (
        pd.to_numeric(rows[f"coverage_pct_{first}"], errors="coerce").to_numpy(float)
        if len(epochs) > 1
        else np.full(n, np.nan)
    )
    latest_bounds = interval_bounds(rows, f"coverage_pct_{last}")
    earlier_bounds = interval_bounds(rows, f"coverage_pct_{first}") if len(epochs) > 1 else None
    reach = np.fmax(latest, earlier)  # how far right each row's marks go: the value's label goes beyond them
    for bounds in (latest_bounds, earlier_bounds):
        if bounds is not None:
            reach = np.fmax(reach, np.fmax(bounds[0], bounds[1]))
    for yi, v, x in zip(y, latest, reach, strict=True):
        if np.isfinite(v):  # right of the bar, the earlier epoch's dot and the intervals, so none hides it
            ax.text(x + 1.2, yi, f"{v:.1f}", va="center", fontsize=7, color="#222222", zorder=4)
    handles: list[Any] = [Patch(color="#6fb07f", label=f"{last}")]
    if len(epochs) > 1:
        ax.plot(earlier, y, "o", mfc="white", mec="#222222", ms=4.5, zorder=3)
        handles.append(
            Line2D([], [], marker="o", mfc="white", mec="#222222", ls="none", label=f"{first}")
        )
    interval = _intervals(ax, y, latest_bounds, horizontal=True, label=labeler.t("fig.interval"))
    earlier_interval = _intervals(ax, y - 0.2, earlier_bounds, horizontal=True, color=EARLIER_INTERVAL_COLOR, lw=0.9)
    if interval is not None or earlier_interval is not None:
        handles.append(interval if interval is not None else earlier_interval)
    drawn = []  # target years with at least one target in these rows: only they get a legend entry
    for i, year in enumerate(target_years):
        col = f"target_coverage_pct_{year}"
        if col in rows.columns:
            target = pd.to_numeric(rows[col], errors="coerce").to_numpy(float)
            if np.isfinite(target).any():
                drawn.append(year)
            ax.plot(
                target, y, "|", color=TARGET_COLORS[i % len(TARGET_COLORS)], ms=15, mew=2.4, zorder=4
            )
    handles.extend(h for h, year in zip(_target_legend_handles(target_years, labeler.t), target_years, strict=True) if year in drawn)
    ax.set_yticks(y)
    ax.set_yticklabels(
        [labeler.name(r.name_zh, r.name_en, r.region_id) for r in rows.itertuples()], fontsize=8
    )
    for tick, kind in zip(ax.get_yticklabels(), rows["kind"], strict=True):
        if kind == "aggregate":
            tick.set_fontweight("bold")
    upper = np.nanmax(
        np.concatenate(
            [
                latest,
                *[
                    pd.to_numeric(rows[c], errors="coerce").to_numpy(float)
                    for c in rows.columns
                    if c.startswith("target_coverage_pct_")
                ],
                _upper_bound(latest_bounds),
                _upper_bound(earlier_bounds),
                [10.0],
            ]
        )
    )
    ax.set_xlim(0, min(100.0, float(upper) * 1.12 + 2))
    ax.set_xlabel(labeler.t("fig.coverage.axis"), fontsize=8.5)
    ax.grid(axis="x", color="#e3e3e3", zorder=0)
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=11.5, fontweight="bold", loc="left")
    # beside the bars, not over them
    ax.legend(handles=handles, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.95)
    return fig


def stock_bars(
    units: pd.DataFrame,
    progress: pd.DataFrame,
    *,
    epochs: Sequence[int],
    labeler: Labeler,
    title: str,
    no_target_note: str,
) -> Figure:
    """Left: growing stock per unit (latest epoch bars, first epoch dots). Right: progress towards stock
    targets (latest stock as % of target) for the regions that have one.

    ``units`` has names, ``region_id`` and ``stock_volume_m3_E``; ``progress`` has names, ``region_id``,
    ``year``, ``progress_pct`` and ``status``. Where ``units`` also has ``stock_volume_m3_E_p2_5`` and
    ``stock_volume_m3_E_p97_5``, the 95 % intervals are drawn as error bars (the first epoch's in grey).
    """
    last, first = epochs[-1], epochs[0]
    n = max(len(units), len(progress), 3)
    height = 1.4 + 0.3 * n
    fig = Figure(figsize=(11, height))
    ax = fig.add_axes((0.17, 0.9 / height, 0.36, 1 - 1.3 / height))
    latest = pd.to_numeric(units.get(f"stock_volume_m3_{last}"), errors="coerce").to_numpy(float)
    divisor, unit = stock_scale(float(np.nanmax(latest)) if np.isfinite(latest).any() else 0.0, labeler.t)
    y = np.arange(len(units))[::-1]
    ax.barh(
        y, np.nan_to_num(latest) / divisor, color="#6f8fb0", height=0.66, zorder=2, label=f"{last}"
    )
    if len(epochs) > 1:
        earlier = pd.to_numeric(units.get(f"stock_volume_m3_{first}"), errors="coerce").to_numpy(
            float
        )
        ax.plot(
            earlier / divisor,
            y,
            "o",
            mfc="white",
            mec="#222222",
            ms=4.5,
            zorder=3,
            label=f"{first}",
        )
        earlier_bounds = interval_bounds(units, f"stock_volume_m3_{first}")
        _intervals(ax, y - 0.2, earlier_bounds, horizontal=True, scale=divisor, color=EARLIER_INTERVAL_COLOR, lw=0.9)
    _intervals(
        ax, y, interval_bounds(units, f"stock_volume_m3_{last}"), horizontal=True, scale=divisor,
        label=labeler.t("fig.interval"),
    )  # fmt: skip
    ax.set_yticks(y)
    ax.set_yticklabels(
        [labeler.name(r.name_zh, r.name_en, r.region_id) for r in units.itertuples()], fontsize=8
    )
    ax.set_xlabel(labeler.t("fig.stock.axis", unit=unit), fontsize=8.5)
    ax.grid(axis="x", color="#e3e3e3", zorder=0)
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7.5, loc="lower right")
    ax.set_title(title, fontsize=11.5, fontweight="bold", loc="left")

    right = fig.add_axes((0.70, 0.9 / height, 0.27, 1 - 1.3 / height))
    for side in ("top", "right"):
        right.spines[side].set_visible(False)
    right.set_title(labeler.t("fig.stock.progress"), fontsize=10, loc="left")
    if progress.empty:
        right.text(
            0.5,
            0.5,
            no_target_note,
            ha="center",
            va="center",
            fontsize=8,
            wrap=True,
            transform=right.transAxes,
            color="#555555",
        )
        right.set_xticks([])
        right.set_yticks([])
        return fig
    yp = np.arange(len(progress))[::-1]
    pct = progress["progress_pct"].to_numpy(float)
    right.barh(
        yp,
        np.nan_to_num(pct),
        color=[STATUS_COLORS.get(s, "#999999") for s in progress["status"]],
        height=0.62,
        zorder=2,
    )
    right.axvline(100, color="#333333", lw=1, ls="--", zorder=3)
    for yi, v, s in zip(yp, pct, progress["status"], strict=True):
        right.text(min(v, 160) + 2, yi, f"{v:.0f} % · {labeler.t.status(s)}", va="center", fontsize=7, zorder=4)
    right.set_yticks(yp)
    right.set_yticklabels(
        [
            f"{labeler.name(r.name_zh, r.name_en, r.region_id)} {r.year}"
            for r in progress.itertuples()
        ],
        fontsize=8,
    )
    right.set_xlim(0, max(130.0, float(np.nanmax(pct)) * 1.35 if np.isfinite(pct).any() else 130.0))
    right.set_xlabel(labeler.t("fig.stock.progress_axis"), fontsize=8.5)
    right.tick_params(axis="x", labelsize=8)
    right.grid(axis="x", color="#e3e3e3", zorder=0)
    return fig


# -------------------------------------------------------------------------------------------------- trend chart
@dataclass(frozen=True)
class TrendSeries:
    """One region's indicator over time: observed epochs, projection and targets; ``low`` and ``high`` the 95 %
    interval of each epoch's value (NaN where not estimated; empty when the run has no intervals)."""

    label: str
    indicator: str  # "coverage" or "stock"
    epochs: tuple[int, ...]
    values: tuple[float, ...]
    projection: dict[int, float]
    targets: dict[int, float]
    statuses: dict[int, str]
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    def bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(low, high) per epoch, or ``None`` without intervals."""
        if len(self.low) != len(self.epochs) or len(self.high) != len(self.epochs):
            return None
        return np.asarray(self.low, dtype=float), np.asarray(self.high, dtype=float)


def trend_chart(
    series: Sequence[Sequence[TrendSeries]], *, title: str, method_note: str, t: Catalogue = EN
) -> Figure:
    """Small multiples: one row per region, one column per indicator; observed epochs (solid), projection to
    the target years (dashed) and targets (diamonds), with the status per target year; observed values with a 95 %
    interval (:attr:`TrendSeries.low`, :attr:`TrendSeries.high`) get error bars."""
    n_rows = max(len(series), 1)
    n_cols = max((len(r) for r in series), default=1)
    fig = Figure(figsize=(5.2 * n_cols, 2.9 * n_rows + 0.9))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    fig.subplots_adjust(
        left=0.08,
        right=0.98,
        top=1 - 0.55 / (2.9 * n_rows + 0.9),
        bottom=0.5 / (2.9 * n_rows + 0.9) + 0.06,
        hspace=0.45,
        wspace=0.22,
    )
    interval: ErrorbarContainer | None = None  # the first panel's error bars, for the legend
    for r, row in enumerate(series):
        for c in range(n_cols):
            ax = axes[r][c]
            if c >= len(row):
                ax.set_visible(False)
                continue
            drawn = _trend_panel(ax, row[c], t)
            interval = interval or drawn
    handles: list[Any] = [
        Line2D([], [], color="#555555", marker="o", lw=2, label=t("fig.observed")),
        Line2D(
            [], [], color="#777777", ls="--", marker="o", mfc="white", lw=1.4, label=t("fig.projection")
        ),
    ]
    years = sorted(
        {y for row in series for s in row for y, t in s.targets.items() if np.isfinite(t)}
    )
    handles += [
        Line2D(
            [],
            [],
            color=TARGET_COLORS[i % len(TARGET_COLORS)],
            marker="D",
            ls="none",
            ms=7,
            label=t("fig.target", year=y),
        )
        for i, y in enumerate(years)
    ]
    if interval is not None:
        handles.append(interval)
    # beside the title when there is room (two or more columns), under the plots otherwise
    wide = n_cols > 1
    fig.legend(
        handles=handles,
        loc="upper right" if wide else "lower right",
        ncol=len(handles),
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.99, 1.0) if wide else (0.99, 0.0),
        # one entry more: closer together, so the legend still clears the title
        **({} if interval is None else {"columnspacing": 1.1, "handletextpad": 0.5}),
    )
    fig.suptitle(title, fontsize=12.5, fontweight="bold", x=0.01, ha="left")
    fig.text(
        0.01, 0.01, method_note, fontsize=6.8, color="#555555", ha="left", va="bottom", wrap=True
    )
    return fig


def _trend_panel(ax: Axes, s: TrendSeries, t: Catalogue = EN) -> ErrorbarContainer | None:
    """One panel of :func:`trend_chart`; returns its error bars (``None`` when it has none)."""
    vals = np.asarray(s.values, dtype=float)
    bounds = s.bounds()
    everything = [*vals, *s.projection.values(), *s.targets.values()]
    if bounds is not None:
        everything += [*bounds[0], *bounds[1]]
    finite = [v for v in everything if np.isfinite(v)]
    divisor, unit = (
        (1.0, "%") if s.indicator == "coverage" else stock_scale(max(finite) if finite else 0.0, t)
    )
    ax.plot(
        s.epochs,
        vals / divisor,
        "-o",
        color="#2b6a3b" if s.indicator == "coverage" else "#3d5f85",
        lw=2,
        ms=5,
        zorder=3,
    )
    # the short label: the legend shares the title's line (the page's caption names the method)
    interval = _intervals(ax, s.epochs, bounds, horizontal=False, scale=divisor, label=t("fig.interval.short"))
    years = sorted(set(s.projection) | set(s.targets))
    proj_years = [y for y in sorted(s.projection) if np.isfinite(s.projection[y])]
    if proj_years and np.isfinite(vals[-1]):
        xs = [s.epochs[-1], *proj_years]
        ys = [vals[-1] / divisor, *[s.projection[y] / divisor for y in proj_years]]
        ax.plot(xs, ys, "--", color="#777777", lw=1.4, zorder=2)
        ax.plot(
            proj_years,
            [s.projection[y] / divisor for y in proj_years],
            "o",
            mfc="white",
            mec="#777777",
            ms=4.5,
            zorder=3,
        )
    for i, y in enumerate(sorted(s.targets)):
        target = s.targets[y]
        if np.isfinite(target):
            ax.plot(
                [y], [target / divisor], "D", color=TARGET_COLORS[i % len(TARGET_COLORS)], ms=7, zorder=4
            )
    status_text = "; ".join(
        f"{y}: {t.status(s.statuses[y])}" for y in sorted(s.statuses) if s.statuses[y] != "no target"
    )
    if len(s.epochs) < 2:
        status_text = (t("fig.one_epoch") + " " + status_text).strip()
    if status_text:
        ax.text(0.02, 0.96, status_text, transform=ax.transAxes, fontsize=7.2, va="top", ha="left", color="#333333",
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#cccccc", "alpha": 0.9})  # fmt: skip
    lo_x = min(s.epochs) - 1
    hi_x = max([*s.epochs, *years]) + 1
    ax.set_xlim(lo_x, hi_x)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ymin = min(finite) / divisor if finite else 0
    ymax = max(finite) / divisor if finite else 1
    span = (ymax - ymin) or max(abs(ymax), 1.0)
    ax.set_ylim(ymin - span * 0.25, ymax + span * 0.45)
    ax.set_ylabel(
        t("fig.coverage.axis") if s.indicator == "coverage" else t("fig.stock.trend_axis", unit=unit),
        fontsize=8.5,
    )
    ax.set_title(s.label, fontsize=10, loc="left")
    ax.tick_params(labelsize=8)
    ax.grid(color="#ececec")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return interval
