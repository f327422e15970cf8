"""``sinkmap export``: Guizhou's counties to GeoJSON (RFC 7946), xlsx, GeoPackage and CSV, read back.

The run directory comes from a real pipeline run over small synthetic rasters (seeded, 0.1° over China, three
epochs) with the repository's official-aligned vectors: 34 provinces, Guizhou's 9 prefectures and 88 counties.
:func:`build_synthetic_run` is also used by ``test_report.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.geometry

from sinkmap.apps.export import (
    PRECISION,
    column_label,
    export_regions,
    find_region,
    format_for,
    open_run,
    region_index,
    rfc7946_problems,
)
from sinkmap.cli import main
from sinkmap.errors import ConfigError, InputNotFoundError, OutputExistsError, RegionError

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / "vectors"
SAMPLE_PIPELINE = REPO / "pipelines" / "china_sample.yaml"

TARGETS_YAML = """\
id: test_guizhou
title: Test targets (national from the 2021 Opinions; Guizhou figures invented for the test)
source: "test fixture: national 24.1 % / 18 bn m³ (2025), 25 % / 19 bn m³ (2030); 贵州省 62 % / 7.0e8 m³ (invented)"
date: "2021-09-22"
national:
  region_id: "100000"
  targets:
    - {year: 2025, coverage_pct: 24.1, stock_volume_m3: 18.0e9}
    - {year: 2030, coverage_pct: 25.0, stock_volume_m3: 19.0e9}
regions:
  "520000":
    - {year: 2025, coverage_pct: 62.0, stock_volume_m3: 7.0e8}
    - {year: 2030, coverage_pct: 64.0, stock_volume_m3: 8.0e8}
"""


def build_synthetic_run(
    folder: Path, *, epochs: tuple[int, ...] = (2015, 2020, 2023), res: float = 0.1
) -> Path:
    """Write seeded synthetic rasters over China and a pipeline over the repository's vectors; run it.

    Tree cover is likelier to the south-east and grows a little each epoch; growing stock grows too. Mean
    temperature and annual precipitation layers let the carbon step (when the pipeline has one) add carbon
    columns. Returns the run directory.
    """
    import rasterio
    from affine import Affine

    from sinkmap.apps.pipeline import run_pipeline
    from sinkmap.config import load_pipeline

    folder.mkdir(parents=True, exist_ok=True)
    west, north = 73.0, 54.0
    width, height = round((135.5 - west) / res), round((north - 17.5) / res)
    lon = west + (np.arange(width) + 0.5) * res
    lat = north - (np.arange(height) + 0.5) * res
    lon2, lat2 = np.meshgrid(lon, lat)
    rng = np.random.default_rng(20240521)
    base = np.clip(
        0.05 + 0.75 * np.clip((lon2 - 95) / 25, 0, 1) * np.clip((42 - lat2) / 14, 0, 1), 0, 0.85
    )
    noise = rng.random(lat2.shape)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "crs": "EPSG:4326",
        "transform": Affine(
            res, 0.0, west, 0.0, -res, north
        ),  # not from_origin: it warns with affine 3
    }
    for k, epoch in enumerate(epochs):
        p = base * (1 + 0.04 * k)
        forest = noise < p
        layers = {
            "lc": (np.where(forest, 2, np.where(noise < p + 0.2, 1, 4)).astype("uint8"), 0),
            "cc": (np.where(forest, 30 + 50 * noise, 5 * noise).astype("uint8"), 255),
            "gsv": (np.where(forest, 60 + 80 * base + 8 * k, 0).astype("float32"), -9999.0),
        }
        for name, (arr, nodata) in layers.items():
            with rasterio.open(
                folder / f"{name}_{epoch}.tif", "w", dtype=arr.dtype, nodata=nodata, **profile
            ) as dst:
                dst.write(arr, 1)
    climate = {
        "temperature": (24 - 0.7 * (lat2 - 20)).astype("float32"),  # °C, cooler to the north
        "precip": (200 + 1800 * base / 0.85).astype("float32"),  # mm/yr, wetter to the south-east
    }
    for name, arr in climate.items():
        with rasterio.open(
            folder / f"{name}.tif", "w", dtype=arr.dtype, nodata=-9999.0, **profile
        ) as dst:
            dst.write(arr, 1)
    (folder / "targets.yaml").write_text(TARGETS_YAML, encoding="utf-8")

    def paths(name: str) -> str:
        return "{" + ", ".join(f"{e}: {name}_{e}.tif" for e in epochs) + "}"

    (folder / "pipeline.yaml").write_text(
        f"""name: synthetic-china
description: seeded synthetic rasters over China with the repository's vectors (test fixture)
output_dir: run
epochs: [{", ".join(map(str, epochs))}]
chunk_size: 256
scheduler: synchronous
targets: targets.yaml
nation: {{region_id: "100000", name_zh: 中国, name_en: China}}
layers:
  landcover: {{paths: {paths("lc")}}}
  canopy_cover: {{paths: {paths("cc")}}}
  growing_stock: {{paths: {paths("gsv")}}}
  mean_temperature: {{path: temperature.tif}}
  annual_precip: {{path: precip.tif}}
regions:
  - {{level: province, path: {VECTORS}/cn_provinces.geojson, id_field: adcode, name_field: name_zh, name_en_field: name_en}}
  - {{level: prefecture, path: {VECTORS}/guizhou_prefectures.geojson, id_field: adcode, name_field: name_zh,
      name_en_field: name_en, parent_field: province_adcode, parent_level: province}}
  - {{level: county, path: {VECTORS}/guizhou_counties.geojson, id_field: adcode, name_field: name_zh,
      name_en_field: name_en, parent_field: prefecture_adcode, parent_level: prefecture}}
""",
        encoding="utf-8",
    )
    result = run_pipeline(load_pipeline(folder / "pipeline.yaml"), overwrite=True)
    return result.output_dir


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
    return build_synthetic_run(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    return gpd.read_file(VECTORS / "guizhou_counties.geojson")


def _decimals(doc: dict, level: str) -> int:
    """Largest number of decimal places among the coordinates of ``level`` features in raw GeoJSON text."""
    best = 0
    for feat in doc["features"]:
        if feat["properties"]["level"] != level:
            continue
        for value in np.asarray(_flatten(feat["geometry"]["coordinates"])):
            text = repr(float(value))
            best = max(best, len(text.split(".")[1]) if "." in text and "e" not in text else 0)
    return best


def _flatten(coords: list) -> list[float]:
    if coords and isinstance(coords[0], int | float):
        return list(coords)
    out: list[float] = []
    for c in coords:
        out.extend(_flatten(c))
    return out


# ------------------------------------------------------------------------------------------------------ GeoJSON
def test_guizhou_counties_geojson_is_rfc7946(
    run_dir: Path, tmp_path: Path, counties: gpd.GeoDataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "guizhou_counties.geojson"
    code = main(
        [
            "export",
            str(run_dir),
            "--level",
            "county",
            "--region",
            "贵州省",
            "--format",
            "geojson",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "88 regions" in printed and str(out) in printed and "test_guizhou" in printed

    raw = out.read_bytes()
    doc = json.loads(raw.decode("utf-8"))
    assert rfc7946_problems(doc) == []
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    # Chinese names are written as UTF-8, not \u escapes
    assert "南明区".encode() in raw and "贵州省".encode() in raw
    assert not re.search(rb"\\u[0-9a-fA-F]{4}", raw)
    # every polygon: lon/lat ranges, exterior counter-clockwise and holes clockwise (checked with shapely too)
    for feat in doc["features"]:
        geom = shapely.geometry.shape(feat["geometry"])
        minx, miny, maxx, maxy = geom.bounds
        assert 103 < minx and maxx < 110 and 24 < miny and maxy < 30
        for poly in getattr(geom, "geoms", [geom]):
            assert poly.exterior.is_ccw
            assert all(not ring.is_ccw for ring in poly.interiors)
    # the region with its subregions: Guizhou, its 9 prefectures and 88 counties
    levels = pd.Series([f["properties"]["level"] for f in doc["features"]]).value_counts().to_dict()
    assert levels == {"county": 88, "prefecture": 9, "province": 1}
    # precision suits the scale
    assert _decimals(doc, "county") <= PRECISION["county"]
    assert _decimals(doc, "province") <= PRECISION["province"]
    # metadata names the target set and the tracking method
    assert doc["sinkmap"]["targets"]["id"] == "test_guizhou"
    assert "first and last epoch" in doc["sinkmap"]["tracking_method"]

    back = gpd.read_file(out)
    back_counties = back[back["level"] == "county"]
    assert len(back_counties) == 88
    assert back.crs.to_epsg() == 4326
    assert set(back_counties["region_id"]) == set(counties["adcode"].astype(str))
    assert dict(zip(back_counties.region_id, back_counties.name_zh, strict=True)) == dict(
        zip(counties.adcode.astype(str), counties.name_zh, strict=True)
    )
    assert (back["target_set"] == "test_guizhou").all()
    for col in (
        "coverage_pct_2023",
        "coverage_rate_per_yr",
        "coverage_projected_2025",
        "coverage_status_2030",
    ):
        assert col in back.columns
    # areas survive the coordinate rounding (equal-area CRS, within 0.1 %)
    area = back_counties.to_crs("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105").area.sum() / 1e6
    expected = counties.to_crs("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105").area.sum() / 1e6
    assert area == pytest.approx(expected, rel=1e-3)


def test_rfc7946_checker_catches_violations() -> None:
    cw = {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}
    doc = {
        "type": "FeatureCollection",
        "crs": {},
        "features": [{"type": "Feature", "properties": {}, "geometry": cw}],
    }
    problems = rfc7946_problems(doc)
    assert any("crs" in p for p in problems)
    assert any("clockwise" in p for p in problems)
    far = {"type": "Polygon", "coordinates": [[[500000, 0], [500001, 0], [500001, 1], [500000, 0]]]}
    assert any(
        "WGS84" in p
        for p in rfc7946_problems(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": None, "geometry": far}],
            }
        )
    )
    assert rfc7946_problems({"type": "Feature"}) == ["top level is not a FeatureCollection"]


# --------------------------------------------------------------------------------------------------------- xlsx
def test_guizhou_counties_xlsx_reads_back(run_dir: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "guizhou.xlsx"
    result = export_regions(run_dir, out, level="county", region="520000")
    assert result.format == "xlsx" and result.rows == {"province": 1, "prefecture": 9, "county": 88}
    wb = load_workbook(out, read_only=True)
    assert wb.sheetnames == ["province", "prefecture", "county", "columns", "about"]
    rows = list(wb["county"].iter_rows(values_only=True))
    labels, keys, data = rows[0], rows[1], rows[2:]
    assert len(data) == 88
    assert "名称" in labels and "森林覆盖率 2023 (%)" in labels and "覆盖率进度 2025" in labels
    assert keys[:5] == ("level", "region_id", "name_zh", "name_en", "parent_id")
    record = dict(zip(keys, data[0], strict=True))
    assert record["name_zh"] == "南明区" and record["region_id"] == "520102"
    assert record["target_set"] == "test_guizhou"
    # values equal the run's
    run_counties = json.loads((run_dir / "regions_county.geojson").read_text(encoding="utf-8"))
    by_id = {f["properties"]["region_id"]: f["properties"] for f in run_counties["features"]}
    assert record["coverage_pct_2023"] == pytest.approx(by_id["520102"]["coverage_pct_2023"])
    columns = {r[0]: r for r in wb["columns"].iter_rows(min_row=2, values_only=True)}
    assert (
        columns["stock_volume_m3_2023"][1] == "森林蓄积量 2023"
        and columns["stock_volume_m3_2023"][3] == "m³"
    )
    about = dict(wb["about"].iter_rows(min_row=2, values_only=True))
    assert about["targets.id"] == "test_guizhou"
    assert "贵州省" in about["region"]
    # pandas reads it with the key row as header
    frame = pd.read_excel(out, sheet_name="county", header=1)
    assert len(frame) == 88 and frame["name_zh"].iloc[0] == "南明区"


# ------------------------------------------------------------------------------------------------ gpkg and csv
def test_gpkg_and_csv_read_back(run_dir: Path, tmp_path: Path) -> None:
    import pyogrio

    gpkg = tmp_path / "guizhou.gpkg"
    export_regions(run_dir, gpkg, level="county", region="Guizhou")
    layers = dict(pyogrio.list_layers(gpkg))
    assert set(layers) == {"province", "prefecture", "county", "about"}
    county = gpd.read_file(gpkg, layer="county")
    assert len(county) == 88 and county.crs.to_epsg() == 4326
    assert "南明区" in set(county["name_zh"])
    about = gpd.read_file(gpkg, layer="about")
    assert "test_guizhou" in " ".join(about["value"].astype(str))

    csv = tmp_path / "guizhou.csv"
    export_regions(run_dir, csv, level="county", region="贵州")
    assert csv.read_bytes().startswith(
        b"\xef\xbb\xbf"
    )  # BOM: spreadsheet programs read the Chinese right
    table = pd.read_csv(csv, encoding="utf-8-sig", dtype={"region_id": str, "parent_id": str})
    assert len(table) == 98 and (table["target_set"] == "test_guizhou").all()
    assert table.loc[table.region_id == "520102", "name_zh"].item() == "南明区"
    assert "geometry" not in table.columns


# ----------------------------------------------------------------------------------------------- selection
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("520100", ("prefecture", "520100")),  # adcode
        ("贵阳市", ("prefecture", "520100")),  # exact Chinese name
        ("guiyang city", ("prefecture", "520100")),  # English, ignoring case
        ("贵阳", ("prefecture", "520100")),  # unique prefix
        ("Nanming", ("county", "520102")),  # unique English prefix
        ("China", ("nation", "100000")),
    ],
)
def test_find_region(run_dir: Path, query: str, expected: tuple[str, str]) -> None:
    region = find_region(region_index(open_run(run_dir)), query)
    assert (region.level, region.region_id) == expected


def test_ambiguous_and_unknown_regions(run_dir: Path) -> None:
    index = region_index(open_run(run_dir))
    with pytest.raises(
        RegionError, match=r"matches 3 regions.*Guizhou.*Guiyang City.*Guiding County"
    ):
        find_region(index, "Gui")
    with pytest.raises(RegionError, match=r"matches no region.*Similar names: 广东省"):
        find_region(index, "广州")


def test_prefecture_with_its_counties(
    run_dir: Path, tmp_path: Path, counties: gpd.GeoDataFrame
) -> None:
    result = export_regions(run_dir, tmp_path / "guiyang.csv", level="county", region="520100")
    expected = set(
        counties.loc[counties.prefecture_adcode.astype(str) == "520100", "adcode"].astype(str)
    )
    assert result.rows == {"prefecture": 1, "county": len(expected)}
    assert set(result.frames["county"]["region_id"]) == expected
    only = export_regions(
        run_dir, tmp_path / "guiyang_pref.csv", level="prefecture", region="520100"
    )
    assert only.rows == {"prefecture": 1}


def test_all_regions_of_a_level(run_dir: Path, tmp_path: Path) -> None:
    result = export_regions(run_dir, tmp_path / "provinces.geojson", level="province")
    assert result.rows == {"province": 34} and result.region is None
    doc = json.loads((tmp_path / "provinces.geojson").read_text(encoding="utf-8"))
    assert rfc7946_problems(doc) == []
    assert _decimals(doc, "province") <= PRECISION["province"]


def test_errors_are_actionable(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.geojson"
    with pytest.raises(RegionError, match=r"--level township.*province, prefecture, county"):
        export_regions(run_dir, out, level="township")
    with pytest.raises(RegionError, match=r"finer than --level province; use --level county"):
        export_regions(run_dir, out, level="province", region="520102")
    with pytest.raises(RegionError, match="no region"):
        export_regions(run_dir, out, level="county", region="Atlantis")
    with pytest.raises(InputNotFoundError, match=r"manifest\.json"):
        export_regions(tmp_path, out, level="county")
    with pytest.raises(ConfigError, match="--format"):
        export_regions(run_dir, tmp_path / "x.txt", level="county")
    export_regions(run_dir, out, level="province")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_regions(run_dir, out, level="province")
    export_regions(run_dir, out, level="province", overwrite=True)
    assert not list(tmp_path.glob(".*partial*"))
    # the command line: one line on stderr, exit status 2
    code = main(
        [
            "export",
            str(run_dir),
            "--level",
            "county",
            "--region",
            "Gui",
            "-o",
            str(tmp_path / "y.csv"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "sinkmap: error: --region 'Gui' matches 3 regions" in err and "Traceback" not in err


def test_format_and_labels() -> None:
    assert format_for("a.GeoJSON", None) == "geojson" and format_for("a.json", None) == "geojson"
    assert format_for("a.xlsx", None) == "xlsx" and format_for("a.bin", "csv") == "csv"
    assert column_label("coverage_pct_2020").header() == "森林覆盖率 2020 (%)"
    assert column_label("coverage_change_pct_points_2015_2023").zh == "覆盖率变化 2015–2023"
    assert column_label("sink_t_co2e_per_yr").unit == "t CO₂e/yr"
    assert column_label("carbon_stock_t_c_2020").unit == "t C"
    assert column_label("something_else").zh == "something_else"


# ----------------------------------------------------------------------------------- the repository's sample
@pytest.mark.slow
def test_sample_run_guizhou_counties(sample_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After the sample pipeline (the session fixture in conftest): Guizhou's counties to GeoJSON and xlsx."""
    from openpyxl import load_workbook

    sample_run = sample_run.output_dir
    run = open_run(sample_run)
    if "county" not in run.levels:
        pytest.skip(f"the sample run has no county level (levels: {', '.join(run.levels)})")
    geojson = export_regions(sample_run, tmp_path / "gz.geojson", level="county", region="贵州省")
    doc = json.loads(geojson.path.read_text(encoding="utf-8"))
    assert rfc7946_problems(doc) == []
    assert len(gpd.read_file(geojson.path).query("level == 'county'")) == geojson.rows["county"] > 0
    xlsx = export_regions(sample_run, tmp_path / "gz.xlsx", level="county", region="贵州省")
    assert load_workbook(xlsx.path, read_only=True)["county"].max_row == xlsx.rows["county"] + 2


def test_geoparquet_reads_back_as_geoparquet(run_dir: Path, tmp_path: Path) -> None:
    """`sinkmap export --format geoparquet`: every level in one file, GeoParquet metadata, units per column."""
    import pyarrow.parquet as pq

    out = tmp_path / "guizhou.parquet"
    assert main([str(p) for p in ("export", run_dir, "--level", "county", "--region", "贵州", "-o", out, "--format", "geoparquet")]) == 0
    table = gpd.read_parquet(out)
    assert table.crs.to_epsg() == 4326 and len(table) == 98
    assert set(table["level"]) == {"province", "prefecture", "county"}
    assert table.loc[table.region_id == "520102", "name_zh"].item() == "南明区"
    # the same numbers as the CSV export
    csv = tmp_path / "guizhou.csv"
    export_regions(run_dir, csv, level="county", region="贵州")
    flat = pd.read_csv(csv, encoding="utf-8-sig", dtype={"region_id": str, "parent_id": str})
    col = next(c for c in flat.columns if c.startswith("coverage_pct_"))
    np.testing.assert_allclose(table.sort_values("region_id")[col].to_numpy(), flat.sort_values("region_id")[col].to_numpy())
    # GeoParquet's own metadata, and sinkmap's units
    metadata = pq.read_schema(out).metadata
    geo = json.loads(metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and "version" in geo
    sinkmap_meta = json.loads(metadata[b"sinkmap"])
    assert sinkmap_meta["columns"][col]["unit"] == "%"
    # a GeoParquet area agrees with the geometry it carries (rough: snapped coordinates)
    nanming = table.loc[table.region_id == "520102"].to_crs("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84")
    assert float(nanming.area.iloc[0]) / 1e6 == pytest.approx(float(nanming["region_area_km2"].iloc[0]), rel=1e-3)
