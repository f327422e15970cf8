"""``sinkmap report --lang zh|en``: the report's own words in the language asked, from one message catalogue."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from sinkmap.apps.export import column_header, column_label
from sinkmap.apps.quantities import LABELS_ZH, QUANTITIES, column_name
from sinkmap.apps.report import build_report
from sinkmap.apps.report.fonts import has_cjk
from sinkmap.apps.report.messages import MESSAGES, Catalogue
from test_export import build_synthetic_run
from test_report import _ensure_sink

#: Elements whose text is the report's own words (headings, table headers, method terms, folds, captions).
_WORDS = ("h1", "h2", "h3", "th", "dt", "summary", "figcaption")


class _Elements(HTMLParser):
    """The text of every element of :data:`_WORDS`, and the visible text outside <pre> (the manifest JSON)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, list[str]] = {tag: [] for tag in _WORDS}
        self.visible: list[str] = []
        self._open: list[tuple[str, list[str]]] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _WORDS:
            self._open.append((tag, []))
        self._hidden += tag in ("style", "title", "pre")

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, parts = self._open.pop()
            self.found[tag].append(" ".join("".join(parts).split()))
        self._hidden -= tag in ("style", "title", "pre")

    def handle_data(self, data: str) -> None:
        for _, parts in self._open:
            parts.append(data)
        if not self._hidden:
            self.visible.append(data)


def _parse(path: Path) -> _Elements:
    parser = _Elements()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = build_synthetic_run(tmp_path_factory.mktemp("lang"), epochs=(2015, 2023), res=0.25)
    _ensure_sink(run)
    return run


@pytest.fixture(scope="module")
def zh(run_dir: Path) -> Any:
    return build_report(run_dir, lang="zh", output=run_dir / "report_zh.html")


@pytest.fixture(scope="module")
def en(run_dir: Path) -> Any:
    return build_report(run_dir, lang="en", output=run_dir / "report_en.html")


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _english_pattern(key: str) -> re.Pattern[str]:
    """An English message as a pattern (its ``{fields}`` match anything)."""
    parts = re.split(r"\{[a-z_]+\}", MESSAGES[key][0])
    return re.compile(".*?".join(re.escape(p) for p in parts))


def test_zh_headings_and_table_headers_are_chinese(zh: Any) -> None:
    page = _parse(zh.path)
    assert page.found["h2"] == ["全国分布图", "地区：贵州省", "目标与趋势", "数据表", "方法与数据来源", "运行清单"]
    assert {"主要指标与目标跟踪", "面积与蓄积量", "碳", "碳计量方法与因子表", "输入数据"} <= set(page.found["h3"])
    headers = set(page.found["th"])
    for expected in (
        "地区名称",
        "代码",
        "2015年森林覆盖率 (%)",
        "2023年森林覆盖率 (%)",
        "2025年目标 (%)",
        "森林面积 2023 (km²)",  # the exports' fixed Chinese label, epoch and unit
        "乔木林单位面积蓄积 2023 (m³/ha)",
        "森林碳储量 2023 (t C)",  # a registry column: its Chinese label (quantities.LABELS_ZH), epoch and unit
        "碳汇总量 (t C/yr)",
        "图层角色",
    ):
        assert expected in headers, (expected, sorted(headers))
    assert {"森林定义", "乔木林", "国家特别规定灌木林", "森林覆盖率", "面积计算方法"} <= set(page.found["dt"])
    assert "贵州省的地级地区：9 个" in page.found["summary"]
    assert all(c.startswith("图 ") for c in page.found["figcaption"])
    assert "碳汇（从大气中清除）为正，排放为负；碳储量为正。" in "".join(page.visible)  # sinkmap's sign convention
    # no English message of the catalogue is left in a heading, header, term, fold or caption
    words = [text for tag in _WORDS for text in page.found[tag]]
    for key, (english, chinese) in MESSAGES.items():
        if english == chinese or len(english) < 4:
            continue
        pattern = _english_pattern(key)
        left = [w for w in words if pattern.fullmatch(w) or (len(english) > 12 and english in w)]
        assert not left, (key, left)


def test_en_has_no_chinese_outside_region_names_and_no_cjk_font(en: Any, run_dir: Path) -> None:
    html = en.path.read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    assert en.cjk_font is None and "CJK" not in html.split("</style>")[0]  # no CJK font named in the page's CSS
    page = _parse(en.path)
    assert page.found["h2"] == ["National maps", "Region: Guizhou", "Targets and trends", "Tables", "Methods and sources", "Run manifest"]
    assert {"region", "id", "coverage 2023 (%)", "stock status 2030"} <= set(page.found["th"])
    text = "".join(page.visible)
    # take out what the run says in its own words: region names and the manifest's texts (target set, definition
    # and method notes, which the report quotes as they are)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    theirs: set[str] = set()
    for path in run_dir.glob("regions_*.geojson"):
        for feat in json.loads(path.read_text(encoding="utf-8"))["features"]:
            theirs |= {str(feat["properties"].get(k) or "") for k in ("name_zh", "name_en")}
    theirs |= set(_strings(manifest))
    for value in sorted(theirs, key=len, reverse=True):
        if value:
            text = text.replace(value, "")
    chinese = sorted({ch for ch in text if has_cjk(ch)})
    assert chinese == [], "".join(chinese)


def test_catalogue_is_complete_and_fills_fields() -> None:
    zh, en = Catalogue("zh"), Catalogue("en")
    for key, (english, chinese) in MESSAGES.items():
        assert english and chinese, key
        # the same fields in both languages, so either can be filled from the same values
        assert sorted(re.findall(r"\{(\w+)\}", english)) == sorted(re.findall(r"\{(\w+)\}", chinese)), key
    assert zh("col.coverage", year=2023) == "2023年森林覆盖率 (%)"
    assert en("col.coverage", year=2023) == "coverage 2023 (%)"
    assert zh.status("on track") == "可按期达标" and en.status("on track") == "on track"
    assert zh.status("something else") == "something else" and zh.level("basin") == "basin"

def test_every_quantity_has_a_chinese_header() -> None:
    epochs = (2015, 2023)
    for q in QUANTITIES:
        for epoch in epochs if q.per_epoch else (None,):
            key = column_name(q, epoch, epochs)
            meta = {key: {"unit": q.unit, "kind": q.kind, "label": q.label, "epoch": epoch}}
            header = column_header(key, meta, "zh")
            assert has_cjk(header) and q.label not in header, (key, header)
            assert not has_cjk(column_header(key, meta, "en")), key
    assert set(LABELS_ZH) <= {q.name for q in QUANTITIES}  # no label of a quantity that does not exist


def test_column_headers_by_language() -> None:
    meta = {"forest_carbon_t_c_2023": {"unit": "t C", "kind": "total", "label": "forest carbon", "epoch": 2023}}
    assert column_header("forest_carbon_t_c_2023", meta, "zh") == "森林碳储量 2023 (t C)"
    assert column_header("forest_carbon_t_c_2023", meta, "en") == "forest carbon 2023 (t C)"
    span = {"invest_total_change_t_c_2015_2023": {"unit": "t C", "kind": "total", "label": "InVEST change", "epoch": "2015–2023"}}
    assert column_header("invest_total_change_t_c_2015_2023", span, "zh") == "InVEST 总碳储量变化 2015–2023 (t C)"
    sink = {"total_sink_t_c_per_yr": {"unit": "t C/yr", "kind": "total", "label": "total estimated sink", "epoch": None}}
    assert column_header("total_sink_t_c_per_yr", sink, "zh") == "碳汇总量 (t C/yr)"
    assert column_header("total_sink_t_c_per_yr", sink, "en", unit=False) == "total estimated sink"
    area = {"forest_area_km2_2023": {"unit": "km2", "kind": "total", "label": "forest area", "epoch": 2023}}
    assert column_header("forest_area_km2_2023", area, "zh") == "森林面积 2023 (km²)"
    # target-tracking columns keep their fixed labels; the export's own labels are unchanged
    assert column_header("coverage_target_2025", None, "zh") == "覆盖率目标 2025 (%)"
    assert column_header("coverage_target_2025", None, "en") == "coverage target for 2025 (%)"
    assert column_label("forest_carbon_t_c_2023", meta).header() == "碳储量 forest carbon 2023 (t C)"
