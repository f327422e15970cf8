"""The report's 95 % intervals (issue 11): error bars in the charts, intervals under the values in the tables, the
uncertainty section; and a run without intervals reported as before."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from sinkmap.apps.report import build_report, carbon_columns
from sinkmap.apps.report.build import interval_columns
from sinkmap.apps.report.figures import Labeler, TrendSeries, coverage_bars, stock_bars, trend_chart
from sinkmap.apps.report.messages import catalogue

ENDS = ("_p2_5", "_p97_5", "_half_width_pct")


# ----------------------------------------------------------------------------------------------- helpers
def _segments(container: ErrorbarContainer) -> list[tuple[float, float]]:
    """(start, end) along the error direction of every bar of an errorbar container, in drawing order."""
    _, _, (bars,) = container.lines
    axis = 0 if container.has_xerr else 1
    return [(float(seg[0][axis]), float(seg[1][axis])) for seg in bars.get_segments()]


def _same(found: Any, expected: Any) -> None:
    """``found`` bar ends equal ``expected`` (to rounding)."""
    np.testing.assert_allclose(np.asarray(found, dtype=float), np.asarray(expected, dtype=float), rtol=1e-12)


def _bounds_of(path: Path, column: str, low: Any, high: Any) -> None:
    """Give every region of a run's GeoJSONs the bounds ``low(props)``, ``high(props)`` of ``column`` (None: not
    estimated), as the pipeline writes interval columns."""
    for level_file in path.glob("regions_*.geojson"):
        doc = json.loads(level_file.read_text(encoding="utf-8"))
        for feat in doc["features"]:
            props = feat["properties"]
            props[f"{column}_p2_5"] = low(props)
            props[f"{column}_p97_5"] = high(props)
        level_file.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def with_area_intervals(run_dir: Path, dest: Path, epochs: tuple[int, ...] = (2020, 2025)) -> Path:
    """A copy of a run whose coverage and stock columns have made-up intervals: ±3 % of the value, except
    Guizhou's counties (not estimated) and the nation's stock, whose interval lies wholly above the estimate (as an
    accuracy-adjusted area can lie beside the map's)."""
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("report*.html", "figures", "rasters", "stac"))

    def bound(column: str, factor: float) -> Any:
        def pick(props: dict[str, Any]) -> Any:
            value = props.get(column)
            if value is None or props.get("level") == "county":
                return None
            if column.startswith("stock") and props.get("level") == "nation":
                return value * (1.05 if factor < 1 else 1.10)  # beside the estimate: 105–110 %
            return value * factor

        return pick

    for e in epochs:
        for column in (f"coverage_pct_{e}", f"stock_volume_m3_{e}"):
            _bounds_of(dest, column, bound(column, 0.97), bound(column, 1.03))
    return dest


def without_intervals(run_dir: Path, dest: Path) -> Path:
    """A copy of a run without its interval columns, contributors and manifest record (a run without intervals)."""
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("report*.html", "figures", "rasters", "stac", "uncertainty_*"))
    for path in dest.glob("regions_*.geojson"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for feat in doc["features"]:
            feat["properties"] = {k: v for k, v in feat["properties"].items() if not k.endswith(ENDS)}
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("uncertainty")
    manifest["columns"] = {k: v for k, v in manifest["columns"].items() if not k.endswith(ENDS)}
    (dest / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return dest


def _uncertainty_pipeline(folder: Path) -> Path:
    """The default pipeline with the IPCC Tier-1 carbon chain and an uncertainty section, paths made absolute."""
    import yaml

    from conftest import sample_pipeline_doc

    doc = sample_pipeline_doc()
    # the IPCC Tier-1 chain with every pool (the default pipeline's China Tier-2 run is the one `make pipeline` shows)
    doc["carbon"] = {"factor_set": "ipcc_tier1", "dead_organic_matter": True, "monitoring_base": doc["carbon"]["monitoring_base"]}
    doc["uncertainty"] = {"draws": 2000, "seed": 1}
    doc["outputs"] = {"rasters": []}
    path = folder / "uncertainty.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def interval_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default pipeline under IPCC Tier 1 with 95 % intervals (carbon, and coverage and stock from the
    reference sample), run once per session (~20 s)."""
    from sinkmap.apps.pipeline import run_pipeline
    from sinkmap.config import load_pipeline

    folder = tmp_path_factory.mktemp("intervals")
    run = run_pipeline(load_pipeline(_uncertainty_pipeline(folder)), output_dir=folder / "run")
    return Path(run.output_dir)


@pytest.fixture(scope="session")
def interval_reports(interval_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("interval_reports")
    return {lang: build_report(interval_run, output=out / lang / "report.html", lang=lang) for lang in ("zh", "en")}


def _visible(path: Path) -> str:
    """The page's text without tags and embedded figures, entities decoded, spaces collapsed."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<pre>.*?</pre>", " ", text, flags=re.S)
    text = re.sub(r"<(br)>", " ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(unescape(text).split())


def _nation(run_dir: Path) -> pd.Series:
    table = pd.read_csv(run_dir / "regions.csv", dtype={"region_id": str, "parent_id": str})
    return table[table["level"] == "nation"].iloc[0]


# --------------------------------------------------------------------------------------- figure functions
LABELER = Labeler(cjk=False)


def _rows() -> pd.DataFrame:
    """Four regions, 2020 and 2025: an interval around the estimate, one beside it, one not estimated (NaN), one
    with a single bound."""
    return pd.DataFrame(
        {
            "name_zh": ["甲", "乙", "丙", "丁"],
            "name_en": ["A", "B", "C", "D"],
            "region_id": ["1", "2", "3", "4"],
            "kind": ["aggregate", "unit", "unit", "unit"],
            "coverage_pct_2020": [20.0, 30.0, 40.0, 50.0],
            "coverage_pct_2025": [22.0, 33.0, 44.0, 55.0],
            "coverage_pct_2025_p2_5": [20.5, 34.0, np.nan, 50.0],
            "coverage_pct_2025_p97_5": [23.5, 36.0, np.nan, np.nan],
            "stock_volume_m3_2020": [2.0e9, 3.0e9, 4.0e9, 5.0e9],
            "stock_volume_m3_2025": [2.2e9, 3.3e9, 4.4e9, 5.5e9],
            "stock_volume_m3_2025_p2_5": [2.0e9, 3.4e9, np.nan, 5.0e9],
            "stock_volume_m3_2025_p97_5": [2.4e9, 3.6e9, np.nan, np.nan],
        }
    )


def _errorbars(ax: Any) -> list[ErrorbarContainer]:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_coverage_bars_draw_the_bounds_as_they_are() -> None:
    rows = _rows()
    fig = coverage_bars(rows, epochs=(2020, 2025), target_years=(), labeler=LABELER, title="t")
    ax = fig.axes[0]
    (bars,) = _errorbars(ax)
    y = np.arange(len(rows))[::-1]
    # rows A and B only: C is not estimated, D has one bound; B's interval (34–36) lies beside its 33 and is kept
    _same(sorted(_segments(bars)), sorted([(20.5, 23.5), (34.0, 36.0)]))
    _, _, (lines,) = bars.lines
    assert [float(seg[0][1]) for seg in lines.get_segments()] == [y[0], y[1]]
    assert ax.get_xlim()[1] >= 36.0
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[-1] == "95 % interval (Monte Carlo, IPCC Approach 2)"


def test_stock_bars_scale_the_bounds_like_the_bars() -> None:
    rows = _rows()
    fig = stock_bars(rows, pd.DataFrame(columns=["name_zh", "name_en", "region_id", "year", "progress_pct", "status"]),
                     epochs=(2020, 2025), labeler=LABELER, title="t", no_target_note="none")  # fmt: skip
    (bars,) = _errorbars(fig.axes[0])
    _same(sorted(_segments(bars)), [(2.0, 2.4), (3.4, 3.6)])  # billion m³, as the bars
    assert "95 % interval" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1]


def test_trend_chart_draws_vertical_bars_per_epoch() -> None:
    with_bounds = TrendSeries("A", "coverage", (2020, 2025), (20.0, 22.0), {}, {}, {}, low=(np.nan, 21.0), high=(np.nan, 24.5))
    without = TrendSeries("B", "coverage", (2020, 2025), (30.0, 31.0), {}, {}, {})
    fig = trend_chart([[with_bounds], [without]], title="t", method_note="m", t=catalogue("en"))
    first, second = fig.axes[0], fig.axes[1]
    (bars,) = _errorbars(first)
    assert not bars.has_xerr and bars.has_yerr
    _same(_segments(bars), [(21.0, 24.5)])  # 2020 not estimated: no bar
    _, _, (lines,) = bars.lines
    assert float(lines.get_segments()[0][0][0]) == 2025
    assert _errorbars(second) == [] and not second.collections
    assert first.get_ylim()[1] > 24.5
    assert [t.get_text() for t in fig.legends[0].get_texts()][-1] == "95 % interval"


def test_figures_without_bounds_have_no_error_bars() -> None:
    rows = _rows()[[c for c in _rows().columns if not c.endswith(ENDS)]]
    all_nan = _rows()
    for c in all_nan.columns:
        if c.endswith(ENDS):
            all_nan[c] = np.nan
    for frame in (rows, all_nan):
        fig = coverage_bars(frame, epochs=(2020, 2025), target_years=(), labeler=LABELER, title="t")
        assert _errorbars(fig.axes[0]) == [] and not fig.axes[0].collections
        assert "95 %" not in " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_interval_columns_are_not_quantities() -> None:
    table = pd.DataFrame(columns=["forest_sink_t_c_per_yr", "forest_sink_t_c_per_yr_p2_5", "forest_sink_t_c_per_yr_p97_5",
                                  "forest_sink_t_c_per_yr_half_width_pct", "carbon_p2_5_note", "name_zh"])  # fmt: skip
    assert interval_columns(table.columns) == {f"forest_sink_t_c_per_yr{e}" for e in ENDS}
    assert carbon_columns(table) == ["forest_sink_t_c_per_yr", "carbon_p2_5_note"]  # no base column: not a bound


# ------------------------------------------------------------------------------------- reports of runs
@pytest.mark.slow
def test_report_shows_the_carbon_intervals(interval_run: Path, interval_reports: dict[str, Any]) -> None:
    nation = _nation(interval_run)
    last = 2025
    checked = 0
    for lang, report in interval_reports.items():
        text = _visible(report.path)
        for column in (f"forest_carbon_t_c_{last}", "forest_sink_t_c_per_yr"):
            value, low, high = (float(nation[c]) for c in (column, f"{column}_p2_5", f"{column}_p97_5"))
            prefix = "95 % 区间：" if lang == "zh" else "95 %: "
            # the carbon table: the value, its interval under it, formatted like the value (whole t C)
            expected = f"{value:,.0f} {prefix}{low:,.0f} – {high:,.0f}"
            assert expected in text, (lang, expected)
            # the uncertainty section: estimate, bounds and half-width
            half = float(nation[f"{column}_half_width_pct"])
            assert f"{value:,.0f} {low:,.0f} {high:,.0f} {half:.1f}" in text
            checked += 1
        # interval columns are not shown as quantities of their own
        assert "2.5 % bound" not in text and "half-width of the 95 % interval" not in text
        assert ("不确定性" if lang == "zh" else "Uncertainty") in text
    assert checked == 4


@pytest.mark.slow
def test_uncertainty_section_lists_draws_and_contributors(interval_run: Path, interval_reports: dict[str, Any]) -> None:
    text = _visible(interval_reports["en"].path)
    assert "2000 Monte Carlo draws (seed 1)" in text
    assert "approach IPCC Approach 2 (Monte Carlo)" in text and "draws 2000 seed 1" in text
    assert "forest carbon: estimated (ipcc_tier1 chain); " in text and "{'" not in text  # one line per part
    contributors = pd.read_csv(interval_run / "uncertainty_contributors.csv", dtype={"region_id": str}, encoding="utf-8-sig")
    nation = contributors[(contributors["level"] == "nation") & (contributors["column"] == "forest_sink_t_c_per_yr")]
    top = nation.sort_values("rank").head(5)
    assert len(top) >= 1
    part = text[text.index("Largest contributors to the variance: China") :]
    part = part[: part.index("Largest contributors to the variance:", 10)]
    for row in top.itertuples():
        assert f"{row.rank} {row.variable} {100 * row.variance_share:.1f}" in part
    assert "Largest contributors to the variance: Guizhou" in text  # the report's focus region too
    zh = _visible(interval_reports["zh"].path)
    assert "方差的主要来源：中国" in zh and "抽样次数 2000" in zh


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The bar and trend figures that build_report draws, by name."""
    from sinkmap.apps.report import figures as F

    figures: dict[str, Any] = {}
    for name in ("coverage_bars", "stock_bars", "trend_chart"):
        original = getattr(F, name)

        def keep(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            figures[_name] = _original(*args, **kwargs)
            return figures[_name]

        monkeypatch.setattr(F, name, keep)
    return figures


@pytest.mark.slow
def test_area_intervals_in_tables_cards_and_charts(interval_run: Path, tmp_path: Path, drawn: dict[str, Any]) -> None:
    run = with_area_intervals(interval_run, tmp_path / "run")
    report = build_report(run, lang="en")
    text = _visible(report.path)
    props = {
        p["region_id"]: p
        for level in ("nation", "province")
        for p in (f["properties"] for f in json.loads((run / f"regions_{level}.geojson").read_text(encoding="utf-8"))["features"])
    }
    nation, guizhou = props["100000"], props["520000"]
    cov, lo, hi = (nation[f"coverage_pct_2025{e}"] for e in ("", "_p2_5", "_p97_5"))
    assert f"{cov:,.2f} % (95 %: {lo:,.2f} – {hi:,.2f} %)" in text  # the card
    assert f"{cov:,.2f} 95 %: {lo:,.2f} – {hi:,.2f}" in text  # the key table
    stock, slo, shi = (nation[f"stock_volume_m3_2025{e}"] for e in ("", "_p2_5", "_p97_5"))
    assert shi > slo > stock  # made up to lie beside the estimate: shown as it is
    assert f"stock {stock / 1e9:,.2f} billion m³ (95 %: {slo / 1e9:,.2f} – {shi / 1e9:,.2f})" in text
    assert text.count("Error bars: 95 % interval (Monte Carlo, IPCC Approach 2); none where it was not estimated.") == 3
    counties = text[text.index("county level:") :]
    assert "95 %" not in counties[: counties.index("all province-level")]  # counties: not estimated

    # the charts: the nation and Guizhou head the coverage bars (2025 at the bar, 2020 under the dot), the
    # prefectures below; the stock bars are Guizhou's prefectures (million m³); the trend has both regions
    cov_ax = drawn["coverage_bars"].axes[0]
    latest, earlier = _errorbars(cov_ax)
    _same(_segments(latest)[:2], [(lo, hi), (guizhou["coverage_pct_2025_p2_5"], guizhou["coverage_pct_2025_p97_5"])])
    _same(_segments(earlier)[0], (nation["coverage_pct_2020_p2_5"], nation["coverage_pct_2020_p97_5"]))
    assert len(_segments(latest)) == len(cov_ax.get_yticks())  # every bar here has an interval
    stock_ax = drawn["stock_bars"].axes[0]
    earlier_stock, latest_stock = _errorbars(stock_ax)  # the 2020 bars are drawn first, unlabelled
    assert latest_stock.get_label().startswith("95 % interval") and earlier_stock.get_label().startswith("_")
    assert len(_segments(latest_stock)) == len(stock_ax.get_yticks())
    features = json.loads((run / "regions_prefecture.geojson").read_text(encoding="utf-8"))["features"]
    prefectures = [f["properties"] for f in features]
    _same(
        sorted(_segments(latest_stock)),
        sorted((p["stock_volume_m3_2025_p2_5"] / 1e6, p["stock_volume_m3_2025_p97_5"] / 1e6) for p in prefectures),
    )
    trend_axes = [ax for ax in drawn["trend_chart"].axes if ax.get_visible()]
    nation_coverage = _errorbars(trend_axes[0])
    _same(_segments(nation_coverage[0]), [(nation[f"coverage_pct_{e}_p2_5"], nation[f"coverage_pct_{e}_p97_5"]) for e in (2020, 2025)])
    nation_stock = _segments(_errorbars(trend_axes[1])[0])
    _same(nation_stock, [(nation[f"stock_volume_m3_{e}_p2_5"] / 1e9, nation[f"stock_volume_m3_{e}_p97_5"] / 1e9) for e in (2020, 2025)])


def _section(html_text: str, start: str, end: str) -> str:
    return html_text[html_text.index(start) : html_text.index(end)]


@pytest.mark.slow
def test_run_without_intervals_is_reported_as_before(
    interval_run: Path, interval_reports: dict[str, Any], tmp_path: Path
) -> None:
    """Intervals only add to the page: the same run stripped of them has no interval, no uncertainty section and no
    error bar, and its cards, tables and figures are those of the run with intervals once the intervals are taken
    out."""
    for lang in ("zh", "en"):
        plain = build_report(without_intervals(interval_run, tmp_path / lang / "run"), lang=lang)
        text = plain.path.read_text(encoding="utf-8")
        assert 'id="uncertainty"' not in text and "<br><small>" not in text and "95 %" not in _visible(plain.path)
        full = interval_reports[lang].path.read_text(encoding="utf-8")
        assert 'href="#uncertainty"' in full and 'href="#uncertainty"' not in text
        with_notes_removed = re.sub(r"<br><small>95 %[^<]*</small>", "", full)
        with_notes_removed = re.sub(r" <span class=\"small\">\(95 %[^<]*\)</span>", "", with_notes_removed)
        with_notes_removed = re.sub(r" \(95 %[^<()]*\)", "", with_notes_removed)
        for start, end in (('<div class="cards">', '<section id="maps">'), ('<section id="tables">', '<section id="uncertainty">')):
            assert _section(with_notes_removed, start, end) == _section(text, start, end.replace("uncertainty", "methods"))
        for name, path in plain.figures.items():  # maps carry no interval; the coverage and stock charts do
            same = path.read_bytes() == interval_reports[lang].figures[name].read_bytes()
            assert same == name.startswith("map_"), name
