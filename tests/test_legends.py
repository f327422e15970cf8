"""Product legends: built-in legend files, user legends, and pipelines on real WorldCover and Hansen crops whose
areas are checked against an independent numpy + shapely + pyproj.Geod computation."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import yaml
from pyproj import Geod
from shapely.geometry import Polygon, box

from conftest import write_raster
from sinkmap.apps.pipeline import run_pipeline
from sinkmap.config import load_pipeline
from sinkmap.engine.legends import BUILTIN_LEGENDS, load_legend
from sinkmap.engine.roles import CLCD_LEGEND, ROLES
from sinkmap.errors import ConfigError, InputNotFoundError

ROOT = Path(__file__).resolve().parents[1]
SAOTOME_DIR = ROOT / "rasters" / "worldcover_saotome"
WORLDCOVER = {
    2020: SAOTOME_DIR / "worldcover_2020_v100_saotome_crop.tif",
    2021: SAOTOME_DIR / "worldcover_2021_v200_saotome_crop.tif",
}
HANSEN = ROOT / "rasters" / "hansen_hue"
# WorldCover code → CLCD level-1 code, written out by hand from the WorldCover class table (0 = no data)
WC_TO_CLCD = {10: 2, 20: 3, 30: 4, 40: 1, 50: 8, 60: 7, 70: 6, 80: 5, 90: 9, 95: 9, 100: 4}


# -- legend files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN_LEGENDS)
def test_builtin_legends_load_with_sources(name: str) -> None:
    legend = load_legend(name)
    assert legend.role in ROLES and legend.title and legend.citation
    for row in legend.rows:
        assert row.source and row.evidence in ("R", "S", "M") and row.label
    # every internal code is a class of the role's legend (or the raw code itself for value legends)
    role_legend = ROLES[legend.role].legend
    for code in legend.accepted_codes:
        internal = legend.internal_code(code)
        if internal is not None and role_legend:
            assert internal in role_legend


def test_worldcover_legend_maps_each_code_as_the_class_table() -> None:
    legend = load_legend("worldcover")
    assert legend.accepted_codes == frozenset({0, *WC_TO_CLCD})
    assert legend.nodata_codes == frozenset({0})
    for raw, internal in WC_TO_CLCD.items():
        assert legend.internal_code(raw) == internal, raw
        assert CLCD_LEGEND[internal]  # an internal class
    values = np.array([[0, 10, 95], [100, 7, 80]], dtype=np.uint8)
    codes, valid = legend.reclassify(values, np.ones(values.shape, bool))
    assert codes.tolist() == [[-1, 2, 9], [4, -1, 5]]  # 0 no data, 7 not a WorldCover code
    assert valid.tolist() == [[False, True, True], [True, False, True]]
    # the same through the general path (signed input, codes outside the table's span)
    codes16, valid16 = legend.reclassify(np.array([[-5, 10, 300]], np.int16), np.ones((1, 3), bool))
    assert codes16.tolist() == [[-1, 2, -1]] and valid16.tolist() == [[False, True, False]]


def test_value_legends_keep_codes_inside_their_range() -> None:
    canopy = load_legend("hansen_treecover")
    assert canopy.role == "canopy_cover" and canopy.accepted_codes == frozenset(range(101))
    codes, valid = canopy.reclassify(np.array([0, 37, 100, 101, 65535], np.uint16), np.ones(5, bool))
    assert codes.tolist() == [0, 37, 100, -1, -1] and valid.tolist() == [True, True, True, False, False]
    assert load_legend("hansen_lossyear").accepted_codes == frozenset(range(26))


def _user_legend(path: Path, rows: list[list[str]], role: str = "landcover") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(f"# title: my map\n# role: {role}\n# citation: my survey 2024\n")
        writer = csv.writer(handle)
        writer.writerow(["code", "label", "class", "source", "evidence", "note"])
        writer.writerows(rows)
    return path


def test_user_legend_and_its_errors(tmp_path: Path) -> None:
    good = _user_legend(tmp_path / "mine.csv", [["1", "woods", "forest", "survey", "R", ""], ["9", "none", "nodata", "survey", "R", ""]])
    legend = load_legend("mine.csv", role="landcover", base_dir=tmp_path)
    assert legend.internal_code(1) == 2 and legend.internal_code(9) is None and legend.accepted_codes == {1, 9}
    with pytest.raises(ConfigError, match="for role 'landcover', not 'canopy_cover'"):
        load_legend(str(good), role="canopy_cover")
    bad_class = _user_legend(tmp_path / "c.csv", [["1", "woods", "jungle", "survey", "R", ""]])
    with pytest.raises(ConfigError, match=r"c.csv, data row 1: class 'jungle' is not one of cropland, forest"):
        load_legend(str(bad_class))
    twice = _user_legend(tmp_path / "d.csv", [["1", "a", "forest", "s", "R", ""], ["0-3", "b", "water", "s", "R", ""]])
    with pytest.raises(ConfigError, match="code 1 is listed twice"):
        load_legend(str(twice))
    no_source = _user_legend(tmp_path / "e.csv", [["1", "a", "forest", "", "R", ""]])
    with pytest.raises(ConfigError, match="empty source"):
        load_legend(str(no_source))
    with pytest.raises(InputNotFoundError, match="neither a built-in legend"):
        load_legend("worldcovr")


# -- pipelines on real crops ------------------------------------------------------------------------------


def _pixel_geometry(path: Path) -> tuple[np.ndarray, np.ndarray, Any]:
    """Raw values, the geodesic area (m²) of every pixel by pyproj.Geod, and the pixel boxes (lon/lat)."""
    geod = Geod(ellps="WGS84")
    with rasterio.open(path) as src:
        values = src.read(1)
        t = src.transform
        height, width = src.height, src.width
    area = np.empty((height, 1))
    for r in range(height):
        top, bottom = t.f + r * t.e, t.f + (r + 1) * t.e
        a, _ = geod.polygon_area_perimeter([t.c, t.c + t.a, t.c + t.a, t.c], [bottom, bottom, top, top])
        area[r, 0] = abs(a)
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    x0 = t.c + cols * t.a
    y0 = t.f + rows * t.e
    boxes = shapely.box(x0, y0 + t.e, x0 + t.a, y0)
    return values, np.broadcast_to(area, (height, width)), boxes


def _fractions(boxes: Any, polygon: Polygon) -> np.ndarray:
    return shapely.area(shapely.intersection(boxes, polygon)) / shapely.area(boxes)


def _regions(folder: Path, polygons: dict[str, Polygon]) -> Path:
    frame = gpd.GeoDataFrame(
        {"id": list(polygons), "name": [f"region {k}" for k in polygons]}, geometry=list(polygons.values()), crs="EPSG:4326"
    )
    path = folder / "regions.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


def _run(folder: Path, layers: dict[str, Any], epochs: list[int], **extra: Any) -> Any:
    doc = {
        "name": "real crop",
        "output_dir": "out",
        "epochs": epochs,
        "chunk_size": 128,
        "layers": layers,
        "regions": [{"level": "district", "path": "regions.geojson", "id_field": "id", "name_field": "name"}],
        "nation": {"region_id": "0", "name_zh": "全部", "name_en": "all"},
        "targets": "none",
        "forest_definition": {"name": "product forest class", "source": "test", "special_shrubland": None},
        **extra,
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return run_pipeline(load_pipeline(path), overwrite=True)


# A pixel-aligned rectangle and a slanted quadrilateral across the São Tomé crop (6.700–6.733E, 0.330–0.363N)
# (B is cut by A: regions of one level must not overlap)
_A = box(6.7, 0.34, 6.72, 0.36333333333333323)
SAOTOME = {
    "A": _A,
    "B": Polygon([(6.7011, 0.3305), (6.7329, 0.3321), (6.7312, 0.3622), (6.7155, 0.3488)]).difference(_A),
}


@pytest.mark.slow
def test_worldcover_pipeline_matches_independent_areas(tmp_path: Path) -> None:
    _regions(tmp_path, SAOTOME)
    result = _run(
        tmp_path,
        {"landcover": {"paths": {e: str(p) for e, p in WORLDCOVER.items()}, "legend": "worldcover"}},
        [2020, 2021],
    )
    table = result.tables["district"].set_index("region_id")
    for epoch, path in WORLDCOVER.items():
        raw, area, boxes = _pixel_geometry(path)
        mapped = raw != 0
        forest = raw == 10
        for rid, polygon in SAOTOME.items():
            weight = _fractions(boxes, polygon) * area
            land_km2 = float((weight * mapped).sum()) / 1e6
            forest_km2 = float((weight * forest).sum()) / 1e6
            row = table.loc[rid]
            assert row[f"land_area_km2_{epoch}"] == pytest.approx(land_km2, rel=1e-7)
            assert row[f"forest_area_km2_{epoch}"] == pytest.approx(forest_km2, rel=1e-7)
            assert row[f"coverage_pct_{epoch}"] == pytest.approx(100 * forest_km2 / land_km2, rel=1e-7)
            assert 10 < row[f"coverage_pct_{epoch}"] < 95  # a real mix of classes, not 0 % (the bug) or all forest
    legend_layers = [layer for layer in result.manifest["layers"] if "legend" in layer]
    # the land cover, and the wetland types its classes give (90 herbaceous wetland, 95 mangroves)
    assert {layer["legend"]["name"] for layer in legend_layers} == {"worldcover", "worldcover:wetland_type"}
    wetland = next(layer for layer in legend_layers if layer["legend"]["name"] == "worldcover:wetland_type")
    assert wetland["files"] == [str(WORLDCOVER[2021])]  # a static role: from the last epoch's land cover


@pytest.mark.slow
def test_legend_at_read_time_equals_a_reclassified_raster(tmp_path: Path) -> None:
    """Every downstream product (forest areas, transitions) is the same as from the raster reclassified by hand."""
    _regions(tmp_path, SAOTOME)
    lut = np.zeros(256, np.uint8)
    for raw, internal in WC_TO_CLCD.items():
        lut[raw] = internal
    clcd_paths = {}
    for epoch, path in WORLDCOVER.items():
        with rasterio.open(path) as src:
            clcd_paths[epoch] = str(
                write_raster(tmp_path / f"clcd_{epoch}.tif", lut[src.read(1)], crs=src.crs, transform=src.transform, nodata=0)
            )
    by_legend = tmp_path / "legend"
    by_hand = tmp_path / "hand"
    for folder in (by_legend, by_hand):
        folder.mkdir()
        _regions(folder, SAOTOME)
    a = _run(by_legend, {"landcover": {"paths": {e: str(p) for e, p in WORLDCOVER.items()}, "legend": "worldcover"}}, [2020, 2021])
    b = _run(by_hand, {"landcover": {"paths": clcd_paths}}, [2020, 2021])
    for level in a.tables:
        numeric = a.tables[level].select_dtypes("number").columns
        np.testing.assert_array_equal(a.tables[level][numeric].to_numpy(), b.tables[level][numeric].to_numpy())
    assert (by_legend / "out" / "transitions.csv").read_bytes() == (by_hand / "out" / "transitions.csv").read_bytes()


@pytest.mark.slow
def test_hansen_pipeline_with_builtin_legends_matches_independent_areas(tmp_path: Path) -> None:
    cover = HANSEN / "hansen_gfc2018v16_treecover2000_vietnam_hue.tif"
    loss = HANSEN / "hansen_gfc2018v16_lossyear_vietnam_hue.tif"
    with rasterio.open(cover) as src:
        left, bottom, right, top = src.bounds
    polygon = Polygon([(left + 0.004, bottom + 0.002), (right - 0.003, bottom + 0.011), (right - 0.012, top - 0.004), (left + 0.009, top - 0.015)])
    _regions(tmp_path, {"H": polygon})
    result = _run(
        tmp_path,
        {
            "canopy_cover": {"path": str(cover), "legend": "hansen_treecover"},
            "loss_year": {"path": str(loss), "legend": "hansen_lossyear", "base_year": 2000},
        },
        [2000, 2018],
        forest_definition={"name": "canopy ≥ 30 %", "source": "test", "canopy_cover_min_pct": 30, "special_shrubland": None},
    )
    canopy, area, boxes = _pixel_geometry(cover)
    with rasterio.open(loss) as src:
        lossyear = src.read(1)
    weight = _fractions(boxes, polygon) * area
    mapped = canopy != 65535
    row = result.tables["district"].set_index("region_id").loc["H"]
    forest_2000 = mapped & (canopy >= 30)
    forest_2018 = forest_2000 & ~((lossyear >= 1) & (lossyear <= 18))
    for epoch, forest in ((2000, forest_2000), (2018, forest_2018)):
        assert row[f"land_area_km2_{epoch}"] == pytest.approx(float((weight * mapped).sum()) / 1e6, rel=1e-7)
        assert row[f"forest_area_km2_{epoch}"] == pytest.approx(float((weight * forest).sum()) / 1e6, rel=1e-7)
    assert row["forest_area_km2_2018"] < row["forest_area_km2_2000"]


def test_pipeline_names_unknown_legend_and_role_mismatch(tmp_path: Path) -> None:
    _regions(tmp_path, SAOTOME)
    doc = {
        "name": "x", "output_dir": "out", "epochs": [2021], "targets": "none",
        "layers": {"landcover": {"path": str(WORLDCOVER[2021]), "legend": "hansen_treecover"}},
        "regions": [{"level": "d", "path": "regions.geojson", "id_field": "id", "name_field": "name"}],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"layers.landcover.legend.*for role 'canopy_cover', not 'landcover'"):
        load_pipeline(path)
    doc["layers"]["landcover"]["legend"] = "worldcover"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    spec = load_pipeline(path).layers["landcover"]
    assert spec.accepted_codes == frozenset({0, *WC_TO_CLCD})


@pytest.mark.slow
def test_packaged_saotome_pipeline(tmp_path: Path) -> None:
    """pipelines/saotome_worldcover.yaml (real WorldCover pixels, the built-in legend) gives the independent areas."""
    result = run_pipeline(load_pipeline(ROOT / "pipelines" / "saotome_worldcover.yaml"), output_dir=tmp_path / "run")
    table = result.tables["site"].set_index("region_id")
    regions = gpd.read_file(ROOT / "vectors" / "saotome_sample_regions.geojson").set_index("region_id")
    raw, area, boxes = _pixel_geometry(WORLDCOVER[2021])
    for rid, geometry in regions.geometry.items():
        weight = _fractions(boxes, geometry) * area
        assert table.loc[rid, "forest_area_km2_2021"] == pytest.approx(float((weight * (raw == 10)).sum()) / 1e6, rel=1e-7)
    assert result.manifest["pipeline"]["layers"]["landcover"]["legend"]["name"] == "worldcover"


def test_legend_gives_forest_and_wetland_types(tmp_path: Path) -> None:
    """GLC_FCS30D's classes carry leaf type and wetland type: without layers of their own, the pipeline reads
    forest_type and wetland_type from the land-cover codes, as written in the legend file."""
    from affine import Affine

    from sinkmap.api import open_pipeline

    codes = np.array([[52, 61, 72, 81], [91, 185, 186, 181], [10, 130, 190, 210], [0, 250, 120, 92]], np.uint8)
    write_raster(tmp_path / "fcs.tif", codes, crs="EPSG:4326", transform=Affine(0.001, 0, 6.7, 0, -0.001, 0.35), nodata=0)
    _regions(tmp_path, {"A": box(6.7, 0.346, 6.704, 0.35)})
    doc = {
        "name": "fcs", "output_dir": "out", "epochs": [2020], "targets": "none",
        "layers": {"landcover": {"path": "fcs.tif", "legend": "glc_fcs30d"}},
        "regions": [{"level": "d", "path": "regions.geojson", "id_field": "id", "name_field": "name"}],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    ds = open_pipeline(path).inputs().compute()
    # by hand from the GLC_FCS30D class names: 52 closed evergreen broadleaved → 2, 61 deciduous broadleaved → 1,
    # 72 evergreen needle-leaved → 4, 81 deciduous needle-leaved → 3, 91/92 mixed → 5; not forest → no data (−1)
    np.testing.assert_array_equal(
        ds["forest_type"].values, [[2, 1, 4, 3], [5, -1, -1, -1], [-1, -1, -1, -1], [-1, -1, -1, 5]]
    )
    # 185 mangrove → 2, 186 salt marsh → 3, 181 swamp → 1, other land → 0 none; 0 and 250 (filled) → no data
    np.testing.assert_array_equal(
        ds["wetland_type"].values, [[0, 0, 0, 0], [0, 2, 3, 1], [0, 0, 0, 0], [-1, -1, 0, 0]]
    )
    np.testing.assert_array_equal(ds["landcover"].values, [[2, 2, 2, 2], [2, 9, 9, 9], [1, 4, 8, 5], [-1, -1, 3, 2]])
    # a layer the pipeline gives itself wins over the legend's
    write_raster(tmp_path / "wt.tif", np.full((4, 4), 4, np.uint8), crs="EPSG:4326", transform=Affine(0.001, 0, 6.7, 0, -0.001, 0.35))
    doc["layers"]["wetland_type"] = {"path": "wt.tif"}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    ds = open_pipeline(path).inputs().compute()
    assert (ds["wetland_type"].values == 4).all()
