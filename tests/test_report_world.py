"""The report outside China: projection chosen from the data, China-only map elements left out, English by
default for non-Chinese names, no empty charts, readable labels, and a look in headless Chromium on a real
São Tomé run (WorldCover with its built-in legend)."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from pyproj import Transformer
from shapely.geometry import box

from sinkmap.apps.export import column_label
from sinkmap.apps.report import build_report
from sinkmap.apps.report import figures as F
from sinkmap.cli import main
from test_legends import SAOTOME, WORLDCOVER, _regions, _run
from test_report import PNG_SIGNATURE, _request_urls, chromium, chromium_driver  # noqa: F401  (fixture)

# Islands of the eastern Caribbean (lon/lat boxes), a study area the China Albers projection rotates by ~100°
CARIBBEAN = gpd.GeoDataFrame(
    {"region_id": ["GP", "MQ", "DM"], "name_zh": ["Guadeloupe", "Martinique", "Dominica"], "name_en": ["Guadeloupe", "Martinique", "Dominica"]},
    geometry=[box(-61.8, 15.9, -61.0, 16.5), box(-61.25, 14.4, -60.8, 14.9), box(-61.5, 15.2, -61.2, 15.65)],
    crs="EPSG:4326",
)
CHINA = gpd.GeoDataFrame(
    {"region_id": ["110000", "520000", "650000"], "name_zh": ["北京市", "贵州省", "新疆维吾尔自治区"], "name_en": ["Beijing", "Guizhou", "Xinjiang"]},
    geometry=[box(115.4, 39.4, 117.5, 41.1), box(103.6, 24.6, 109.6, 29.2), box(73.5, 34.3, 96.4, 49.2)],
    crs="EPSG:4326",
)


def _bearing_of_north(crs: str, lon: float, lat: float) -> float:
    """Angle (degrees) between grid north and true north at (lon, lat) in ``crs``: 0 when north is up."""
    import math

    to = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0 = to.transform(lon, lat)
    x1, y1 = to.transform(lon, lat + 0.01)
    return math.degrees(math.atan2(x1 - x0, y1 - y0))


def test_projection_is_chosen_from_the_data() -> None:
    crs, text = F.map_projection(CARIBBEAN)
    assert "+proj=laea" in crs and "Lambert azimuthal equal-area" in text
    x0, y0, x1, y1 = CARIBBEAN.total_bounds
    for lon, lat in ((x0, y0), (x1, y1), ((x0 + x1) / 2, (y0 + y1) / 2)):
        assert abs(_bearing_of_north(crs, lon, lat)) < 0.5  # north is up across the study area
    assert abs(_bearing_of_north(F.ALBERS_CHINA, -61.3, 15.5)) > 60  # what the fixed China projection did
    # equal area: a 1° box has the same area in the chosen projection as on the ellipsoid (within 0.01 %)
    from pyproj import Geod

    cell = box(-61.5, 15.0, -60.5, 16.0)
    geodesic = abs(Geod(ellps="WGS84").geometry_area_perimeter(cell)[0])
    projected = gpd.GeoSeries([cell], crs="EPSG:4326").to_crs(crs).area.iloc[0]
    assert projected == pytest.approx(geodesic, rel=1e-4)
    # Chinese regions keep China's Albers conic; a grid in an equal-area CRS is used as it is
    assert F.map_projection(CHINA)[0] == F.ALBERS_CHINA
    assert F.is_china(CHINA) and not F.is_china(CARIBBEAN)
    utm = "EPSG:32620"
    ease = "EPSG:6933"  # EASE-Grid 2.0 global, cylindrical equal-area
    assert not F.is_equal_area_crs(utm) and F.is_equal_area_crs(ease)
    from pyproj import CRS

    assert F.map_projection(CARIBBEAN, CRS.from_user_input(ease).to_wkt())[1].startswith("the grid's own")


def test_column_labels_are_whole_words() -> None:
    """Unit words are cut as whole words: `forest_carbon_t_c_2023` is forest carbon, not 'fores arbon'."""
    label = column_label("forest_carbon_t_c_2023")
    assert label.en == "forest carbon 2023" and label.unit == "t C"


@pytest.fixture(scope="module")
def world_report(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("world")
    _regions(folder, SAOTOME)
    result = _run(folder, {"landcover": {"paths": {e: str(p) for e, p in WORLDCOVER.items()}, "legend": "worldcover"}}, [2020, 2021])
    return result, build_report(result.output_dir, overwrite=True)


def test_report_outside_china_has_no_china_elements(world_report: Any) -> None:
    _result, report = world_report
    html = report.path.read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    for china_only in ("South China Sea", "Tianditu", "天地图", "南海诸岛", "Albers equal-area conic for China"):
        assert china_only not in html, china_only
    assert "Lambert azimuthal equal-area centred on the study area" in html
    # targets: none is said as such, not as an empty "Target set: . Source: ."
    assert "Target set <b></b>" not in html and "no target set" in html
    # no chart of zeros: the run has no growing stock, so no stock bars, and the trend has the coverage panel only
    assert set(report.figures) == {"map_coverage", "bars_coverage", "trend"}
    assert all("stock" not in line for line in report.key_figures)


def test_lang_zh_and_en_on_the_cli(world_report: Any, tmp_path: Path) -> None:
    result, _ = world_report
    out = tmp_path / "zh.html"
    assert main(["-q", "report", str(result.output_dir), "-o", str(out), "--lang", "zh"]) == 0
    html = out.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    assert "<h2>目标与趋势</h2>" in html and "<th>地区名称</th>" in html and "Targets and trends" not in html
    assert "本次运行没有目标集" in html  # targets: none, said in Chinese
    assert main(["-q", "report", str(result.output_dir), "-o", str(out), "--overwrite", "--lang", "fr"]) == 2


def test_china_sample_keeps_the_national_layout(sample_run: Any, tmp_path: Path) -> None:
    report = build_report(sample_run.output_dir, output=tmp_path / "report.html")
    html = report.path.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html  # Chinese region names: a Chinese page
    assert "中国 Albers 等积圆锥投影" in html and "Tianditu" in html
    assert "南海诸岛按中国官方地图惯例以右下角附图表示" in html


@pytest.mark.browser
@pytest.mark.slow
def test_world_report_renders_in_headless_chromium(chromium: tuple[str, str], world_report: Any, tmp_path: Path) -> None:  # noqa: F811

    result, report = world_report
    driver = chromium_driver(chromium, tmp_path)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.get_log("performance")  # the browser's own start, drained
        driver.get(report.path.resolve().as_uri())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if driver.execute_script(
                "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"
            ):
                break
            time.sleep(0.2)
        figures = driver.execute_script(
            "return Array.from(document.querySelectorAll('img')).map(i => "
            "({name: i.dataset.figure || i.alt, w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width}))"
        )
        text = driver.execute_script("return document.body.innerText")
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}},
        )
        log = driver.get_log("performance")
    finally:
        driver.quit()
    assert {f["name"] for f in figures} == set(report.figures), figures
    assert all(f["w"] > 0 and f["h"] > 0 and f["shown"] > 0 for f in figures), figures
    assert "South China Sea" not in text and "Tianditu" not in text
    outside = [u for u in _request_urls(log) if not u.startswith(("file:", "data:"))]
    assert outside == [], outside
    screenshot = result.output_dir / "report_screenshot.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE) and screenshot.stat().st_size > 30_000
    keep = os.environ.get("SINKMAP_KEEP_SCREENSHOT")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / "report_world_screenshot.png").write_bytes(screenshot.read_bytes())
