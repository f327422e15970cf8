"""``sinkmap report``: the offline HTML report, its figures, and a look at it in headless Chromium."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sinkmap.apps.report import build_report, carbon_columns, sink_column
from sinkmap.apps.report.build import latest_only
from sinkmap.apps.report.figures import COVERAGE_CLASSES, Labeler, diverging_classes, stock_scale
from sinkmap.apps.report.fonts import has_cjk
from sinkmap.cli import main
from sinkmap.errors import OutputExistsError, RegionError
from test_export import build_synthetic_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Refs(HTMLParser):
    """Every tag and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.figures: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        for key in ("src", "href", "srcset", "poster", "data", "action", "formaction"):
            if values.get(key):
                self.urls.append(str(values[key]))
        if tag == "img" and values.get("data-figure"):
            self.figures.append(str(values["data-figure"]))


def _refs(html_text: str) -> _Refs:
    parser = _Refs()
    parser.feed(html_text)
    return parser


def _strip_carbon(run_dir: Path, dest: Path) -> Path:
    """A copy of a run directory without carbon columns (a run made before the carbon step)."""
    shutil.copytree(
        run_dir, dest, ignore=shutil.ignore_patterns("report*.html", "figures", "*.png")
    )
    for path in dest.glob("regions_*.geojson"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for feat in doc["features"]:
            feat["properties"] = {
                k: v for k, v in feat["properties"].items() if not ("carbon" in k or "sink" in k)
            }
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return dest


def _ensure_sink(run_dir: Path) -> None:
    """Give the run a sink column if its pipeline had no carbon step (so the sink map is exercised either way)."""
    for path in run_dir.glob("regions_*.geojson"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if any("sink" in k for k in doc["features"][0]["properties"]):
            return
        for feat in doc["features"]:
            props = feat["properties"]
            props["total_sink_t_co2e_per_yr"] = (
                3.0 * (props.get("forest_area_km2_2023") or 0.0) - 50.0
            )
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    """`sinkmap.cli.main` points the root logger at the (captured) stderr; put the handlers back afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = build_synthetic_run(tmp_path_factory.mktemp("report"))
    _ensure_sink(run)
    return run


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Any:
    return build_report(run_dir)


# ----------------------------------------------------------------------------------------------- the HTML
def test_report_is_self_contained(report: Any, run_dir: Path) -> None:
    assert report.path == run_dir / "report.html"
    text = report.path.read_text(encoding="utf-8")
    refs = _refs(text)
    assert "script" not in refs.tags and "link" not in refs.tags and "iframe" not in refs.tags
    # every URL is an in-page anchor or inline data: no CDN, web font or map tile
    assert refs.urls and all(u.startswith(("data:image/png;base64,", "#")) for u in refs.urls), (
        refs.urls
    )
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert "@import" not in text and "@font-face" not in text


def test_every_figure_is_embedded_and_written(report: Any, run_dir: Path) -> None:
    expected = {"map_coverage", "map_sink", "map_region", "bars_coverage", "bars_stock", "trend"}
    assert set(report.figures) == expected
    text = report.path.read_text(encoding="utf-8")
    assert set(_refs(text).figures) == expected
    for name, path in report.figures.items():
        assert path == run_dir / "figures" / f"{name}.png"
        png = path.read_bytes()
        assert png.startswith(PNG_SIGNATURE) and len(png) > 20_000
        assert (
            base64.b64encode(png).decode("ascii") in text
        )  # the same picture in the page and for slides


def test_report_content(report: Any) -> None:
    text = report.path.read_text(encoding="utf-8")
    assert (
        report.region is not None and report.region.region_id == "520000"
    )  # Guizhou: deepest subregions
    for snippet in (
        "贵州省",  # Chinese names readable
        "南明区",  # county table
        "test_guizhou",  # the target set used
        "invented for the test",  # its source
        "按首末两个时期线性外推",  # the projection method (the report is in Chinese: the regions have Chinese names)
        "森林定义",
        "国家特别规定灌木林",
        "中国 Albers 等积圆锥投影",
        "Tianditu",
        "manifest.json",
        "南海诸岛按中国官方地图惯例",
        "sign_convention",
    ):
        assert snippet in text, snippet
    assert "本次运行没有碳结果" not in text
    assert report.sink_column is not None and report.sink_column in text


def test_report_without_carbon_says_so(run_dir: Path, tmp_path: Path) -> None:
    plain = _strip_carbon(run_dir, tmp_path / "plain")
    result = build_report(plain, use_cjk=False)
    text = result.path.read_text(encoding="utf-8")
    assert "map_sink" not in result.figures and result.carbon_columns == ()
    assert "碳汇分布图：本次运行没有碳结果。" in text and "本次运行没有碳结果。" in text
    # English figures: the note says why (in the page's language)
    assert result.cjk_font is None and any("中文字体" in n for n in result.notes)
    assert "本机未找到中文字体" in text


def test_region_choice_and_cli(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "guiyang.html"
    code = main(
        ["report", str(run_dir), "--region", "Guiyang City", "-o", str(out), "--english-figures"]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert "Guiyang City" in printed.out and str(out) in printed.out
    assert "figure 1/" in printed.err  # progress on stderr
    assert (tmp_path / "figures" / "map_region.png").exists()
    assert "贵阳市" in out.read_text(encoding="utf-8")
    code = main(["report", str(run_dir), "--region", "Guiyang City", "-o", str(out)])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    with pytest.raises(OutputExistsError):
        build_report(run_dir, output=out)
    with pytest.raises(RegionError, match="matches no region"):
        build_report(run_dir, region="Atlantis", output=tmp_path / "x.html")


class _Text(HTMLParser):
    """The text a reader sees (character references decoded), without <style> and <title>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("style", "title")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("style", "title")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _visible_text(html_text: str) -> str:
    parser = _Text()
    parser.feed(html_text)
    return " ".join("".join(parser.parts).split())


HOSTILE = '<script>alert("x")</script> & Co\'s <b>'


def test_report_escapes_names_and_stays_offline(run_dir: Path, tmp_path: Path) -> None:
    """Region and pipeline names with markup are shown as text (Jinja2 autoescape), never as tags or URLs."""
    hostile = tmp_path / "hostile"
    shutil.copytree(
        run_dir, hostile, ignore=shutil.ignore_patterns("report*.html", "figures", "*.png")
    )
    for path in hostile.glob("regions_*.geojson"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for feat in doc["features"]:
            if feat["properties"]["region_id"] in ("520000", "520100"):
                feat["properties"]["name_en"] += f" {HOSTILE}"
                feat["properties"]["name_zh"] += "&amp;"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    manifest = json.loads((hostile / "manifest.json").read_text(encoding="utf-8"))
    manifest["pipeline"]["name"] = '<img src="https://example.com/x.png"> & <a href="http://x">'
    (hostile / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    result = build_report(hostile, use_cjk=False)
    text = result.path.read_text(encoding="utf-8")
    refs = _refs(text)
    assert "script" not in refs.tags and "<script" not in text
    assert refs.tags.count("img") == len(result.figures)  # the figures, nothing else
    assert all(u.startswith(("data:image/png;base64,", "#")) for u in refs.urls), refs.urls
    # every & is a character reference: names, manifest JSON and attributes are all escaped
    assert re.search(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)", text) is None
    # and the reader sees the names exactly as written
    seen = _visible_text(text)
    assert f"Guizhou {HOSTILE}" in seen and "贵州省&amp;" in seen
    assert "地区：贵州省&amp;" in seen  # section title (a Chinese page: the Chinese name)
    assert '<img src="https://example.com/x.png"> & <a href="http://x">' in seen


def test_table_and_figure_templates_escape() -> None:
    """The template macros escape every cell, header and attribute they are given."""
    from sinkmap.apps.report.html import Cell, FigureSet, Table, environment

    macros = environment().get_template("macros.html.j2").module
    table = Table(
        ["a<b> & c"],
        [[Cell("x & <y>", True, note="<n>"), Cell.name("<zh>", "A&B"), Cell.pill("on track")]],
        ["agg"],
    )
    html = str(macros.table(table))
    assert "<th>a&lt;b&gt; &amp; c</th>" in html and '<tr class="agg">' in html
    assert '<td class="num">x &amp; &lt;y&gt; <small>&lt;n&gt;</small></td>' in html
    assert '<span lang="zh-CN">&lt;zh&gt;</span>' in html and ">A&amp;B</span>" in html
    assert '<span class="pill on">on track</span>' in html
    assert str(macros.pill(None)) == '<span class="pill none">—</span>'
    figures = FigureSet({"m": PNG_SIGNATURE})
    fig = str(macros.figure(figures, "m", 'a "quoted" <alt>', caller=lambda: "cap"))
    assert 'alt="a &#34;quoted&#34; &lt;alt&gt;"' in fig and "<b>Figure 1.</b> cap" in fig
    assert f'src="data:image/png;base64,{base64.b64encode(PNG_SIGNATURE).decode()}"' in fig
    assert str(macros.figure(figures, "absent", "x", caller=lambda: "")).strip() == ""


def test_templates_are_package_data() -> None:
    """Every template file is matched by the package-data patterns of pyproject.toml (so wheels ship it)."""
    import tomllib
    from importlib import resources

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]["sinkmap"]
    package = root / "src" / "sinkmap"
    matched = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    templates = resources.files("sinkmap.apps.report") / "templates"
    files = [p for p in Path(str(templates)).rglob("*") if p.is_file()]
    assert any(p.name == "report.html.j2" for p in files)
    assert {p.resolve() for p in files} <= {p.resolve() for p in matched}


def test_single_epoch_run(tmp_path: Path) -> None:
    run = build_synthetic_run(tmp_path / "one", epochs=(2020,), res=0.25)
    result = build_report(run, use_cjk=False, lang="en")
    text = result.path.read_text(encoding="utf-8")
    assert "one epoch, so there is no trend" in text
    assert {"map_coverage", "bars_coverage", "trend"} <= set(result.figures)


# --------------------------------------------------------------------------------------------- small parts
def test_carbon_column_choice() -> None:
    cols = [
        "forest_carbon_t_c_2020",
        "forest_sink_method",
        "forest_sink_t_co2e_per_yr",
        "total_sink_t_c_per_yr",
        "total_sink_t_co2e_per_yr",
    ]
    table = pd.DataFrame({c: [1.0] for c in cols}).assign(forest_sink_method="stock difference")
    assert carbon_columns(table.assign(coverage_pct_2020=1.0)) == cols
    assert sink_column(cols, table) == "total_sink_t_co2e_per_yr"
    assert sink_column(["sink_t_co2e_per_ha_per_yr", *cols], None) == "sink_t_co2e_per_ha_per_yr"
    assert sink_column(["forest_carbon_t_c_2020"], None) is None
    assert latest_only(["a_2015", "a_2020", "b", "c_2015_2020"], (2015, 2020)) == [
        "a_2020",
        "b",
        "c_2015_2020",
    ]


def test_classes_and_scales() -> None:
    assert COVERAGE_CLASSES.color_of([5.0, 65.0, np.nan])[2] == "#d9d9d9"
    assert COVERAGE_CLASSES.color_of([5.0])[0] != COVERAGE_CLASSES.color_of([65.0])[0]
    signed = diverging_classes(np.array([-3.0, 10, 50, 100, 300, 600]))
    assert 0.0 in signed.edges and signed.edges[0] == -3.0 and signed.edges[-1] == 600.0
    assert signed.labels[0].startswith("−3")
    assert stock_scale(2.0e10) == (1e9, "billion m³") and stock_scale(7e8) == (1e6, "million m³")
    zh, en = Labeler(cjk=True), Labeler(cjk=False)
    assert (
        zh.name("贵州省", "Guizhou", "520000") == "贵州省"
        and en.name("贵州省", "Guizhou", "520000") == "Guizhou"
    )
    assert (
        en.name("贵州省", "贵州省", "520000") == "520000"
    )  # never draws Chinese without a CJK font
    assert (
        zh.short("广西壮族自治区", "Guangxi") == "广西"
        and has_cjk("南海")
        and not has_cjk("Guizhou")
    )


# ------------------------------------------------------------------------------------------- headless Chromium
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--window-size=1280,900",
)
def chromium_driver(chromium: tuple[str, str], folder: Path) -> Any:
    """A headless Chromium (``chromium`` = (browser, driver) paths) with a fresh profile in ``folder`` and the
    performance log on, so a test can list every request the page made."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = chromium
    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = folder / "profile"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


APT_PACKAGES = (
    "chromium",
    "chromium-driver",
    "fonts-wqy-microhei",
)  # the font lets the screenshot show Chinese


def _find_chromium() -> tuple[str, str] | None:
    browser = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _apt_install(log_path: Path) -> str:
    """Try once to install Chromium with apt (root only); return what happened, in words."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "chromium/chromedriver not found and not running as root, so apt-get install was not tried"
    apt = shutil.which("apt-get")
    if apt is None:
        return "chromium/chromedriver not found and apt-get is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log_path.open("w", encoding="utf-8") as log:
        for cmd, timeout in (
            ([apt, "update"], 300),
            ([apt, "install", "-y", "--no-install-recommends", *APT_PACKAGES], 900),
        ):
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            try:
                done = subprocess.run(
                    cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, env=env, check=False
                )
            except subprocess.TimeoutExpired:
                return f"`{' '.join(cmd)}` timed out after {timeout} s (log: {log_path})"
            if done.returncode != 0:
                return f"`{' '.join(cmd)}` failed with status {done.returncode} (log: {log_path})"
    return f"installed {' '.join(APT_PACKAGES)} with apt-get (log: {log_path})"


@pytest.fixture(scope="session")
def chromium(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """(browser, chromedriver) paths; installs Debian's chromium and chromium-driver once if missing."""
    if importlib_missing("selenium"):
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    found = _find_chromium()
    if found is None:
        reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                "browser test: chromium not found; trying apt-get install (a few minutes) …"
            )
        started = time.perf_counter()
        outcome = _apt_install(tmp_path_factory.mktemp("apt") / "apt.log")
        if reporter is not None:
            reporter.write_line(
                f"browser test: {outcome} after {time.perf_counter() - started:.0f} s"
            )
        found = _find_chromium()
        if found is None:
            pytest.skip(f"headless Chromium unavailable: {outcome}")
    return found


def _request_urls(log: list[dict[str, Any]]) -> list[str]:
    """URLs of the requests (and web sockets) in a DevTools performance log."""
    urls = []
    for entry in log:
        message = json.loads(entry["message"])["message"]
        if message.get("method") in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            params = message.get("params", {})
            urls.append(params.get("request", {}).get("url") or params.get("url", ""))
    return urls


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_headless_chromium(
    chromium: tuple[str, str], report: Any, run_dir: Path, tmp_path: Path
) -> None:

    driver = chromium_driver(chromium, tmp_path)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        startup = driver.get_log(
            "performance"
        )  # the browser's own start (its new-tab page), drained here
        driver.get(report.path.resolve().as_uri())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = driver.execute_script(
                "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"
            )
            if ready:
                break
            time.sleep(0.2)
        figures = driver.execute_script(
            "return Array.from(document.querySelectorAll('img')).map(i => "
            "({name: i.dataset.figure || i.alt, w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width}))"
        )
        svgs = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg')).map(s => s.getBoundingClientRect().width)"
        )
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1},
            },
        )
        top = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": 1280, "height": 2400, "scale": 1},
            },
        )
        log = driver.get_log("performance")
    finally:
        driver.quit()

    # every figure rendered
    names = {f["name"] for f in figures}
    assert names == set(report.figures), figures
    assert all(f["w"] > 0 and f["h"] > 0 and f["shown"] > 0 for f in figures), figures
    assert all(w > 0 for w in svgs)
    # no request left the machine: every URL the report asked for is file: or data:, and the browser itself
    # (its start page) fetched nothing over the network either
    urls = _request_urls(log)
    assert urls, "the performance log recorded no request at all (is the DevTools log working?)"
    outside = [u for u in urls if not u.startswith(("file:", "data:"))]
    assert outside == [], outside
    network = [
        u
        for u in _request_urls(startup)
        if u.startswith(("http:", "https:", "ws:", "wss:", "ftp:"))
    ]
    assert network == [], network
    # the screenshots, in the run directory
    screenshot = run_dir / "report_screenshot.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    (run_dir / "report_screenshot_top.png").write_bytes(base64.b64decode(top["data"]))
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE) and screenshot.stat().st_size > 50_000
    keep = os.environ.get("SINKMAP_KEEP_SCREENSHOT")
    if keep:  # for a person to look at: SINKMAP_KEEP_SCREENSHOT=/some/folder pytest -m browser
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(keep) / "report_screenshot.png")
        shutil.copy(run_dir / "report_screenshot_top.png", Path(keep) / "report_screenshot_top.png")
