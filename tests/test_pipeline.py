"""The pipeline end to end on tiny rasters: hand-computed results, invariance, outputs and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod
from shapely.geometry import box

from conftest import write_raster
from sinkmap.apps.pipeline import run_pipeline
from sinkmap.config import load_pipeline
from sinkmap.errors import (
    AlignmentError,
    ConfigError,
    CRSError,
    InputNotFoundError,
    OutputExistsError,
    RegionError,
)

ALBERS = CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m")

# 4 × 4 pixels. Land cover (CLCD codes; 0 = no data), canopy cover % (255 = no data), growing stock m³/ha.
LANDCOVER = np.array([[2, 2, 4, 4], [2, 3, 4, 1], [5, 3, 3, 1], [0, 8, 9, 1]], np.uint8)
CANOPY = np.array([[80, 60, 10, 0], [30, 15, 25, 0], [0, 5, 0, 0], [255, 0, 0, 0]], np.uint8)
STOCK = np.array([[120, 100, 0, 0], [50, 0, 40, 0], [0, 0, 0, 0], [-9999, 0, 0, 0]], np.float32)
PRECIP = np.array([[350, 350, 350, 800]] * 4, np.float32)
# Forest by hand: tree stands (canopy ≥ 20 or class 2) at (0,0) (0,1) (1,0) (1,2); special shrubland (class 3
# where precipitation < 400 mm) at (1,1) (2,1) (2,2): 7 forest pixels of 15 mapped ones.


def _write_case(folder: Path, crs: Any, transform: Affine, *, second_epoch_changes: bool = True) -> None:
    for epoch in (2020, 2025):
        lc = LANDCOVER.copy()
        if epoch == 2025 and second_epoch_changes:
            lc[0, 3] = 2  # afforestation of one grassland pixel
        write_raster(folder / f"lc_{epoch}.tif", lc, crs=crs, transform=transform, nodata=0)
        write_raster(folder / f"cc_{epoch}.tif", CANOPY, crs=crs, transform=transform, nodata=255)
        write_raster(folder / f"gsv_{epoch}.tif", STOCK, crs=crs, transform=transform, nodata=-9999)
    write_raster(folder / "precip.tif", PRECIP, crs=crs, transform=transform)


def _pipeline(folder: Path, regions: gpd.GeoDataFrame, *, children: gpd.GeoDataFrame | None = None, **extra: Any) -> Path:
    regions.to_file(folder / "regions.gpkg", driver="GPKG")
    levels: list[dict[str, Any]] = [{"level": "province", "path": "regions.gpkg", "id_field": "id", "name_field": "name"}]
    if children is not None:  # a finer level inside the first (regions of one level must not overlap)
        children.to_file(folder / "children.gpkg", driver="GPKG")
        levels.append({"level": "county", "path": "children.gpkg", "id_field": "id", "name_field": "name",
                       "parent_field": "parent", "parent_level": "province"})
    doc = {
        "name": "tiny",
        "output_dir": "out",
        "epochs": [2020, 2025],
        "chunk_size": 16,
        "layers": {
            "landcover": {"paths": {2020: "lc_2020.tif", 2025: "lc_2025.tif"}},
            "canopy_cover": {"paths": {2020: "cc_2020.tif", 2025: "cc_2025.tif"}},
            "growing_stock": {"paths": {2020: "gsv_2020.tif", 2025: "gsv_2025.tif"}},
            "annual_precip": {"path": "precip.tif"},
        },
        "regions": levels,
        **extra,
    }
    path = folder / "pipeline.yaml"
    import yaml

    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def projected_case(tmp_path: Path) -> Path:
    # 100 m pixels in an equal-area projection: every pixel is exactly 1 ha
    _write_case(tmp_path, ALBERS, Affine(100, 0, 0, 0, -100, 3_000_400))
    regions = gpd.GeoDataFrame({"id": ["A"], "name": ["全域"]}, geometry=[box(0, 3_000_000, 400, 3_000_400)], crs=ALBERS)
    children = gpd.GeoDataFrame(
        {"id": ["B", "C"], "name": ["西部", "东部"], "parent": ["A", "A"]},
        geometry=[box(0, 3_000_000, 250, 3_000_400), box(250, 3_000_000, 400, 3_000_400)],
        crs=ALBERS,
    )
    return _pipeline(tmp_path, regions, children=children)


def test_projected_by_hand(projected_case: Path) -> None:
    result = run_pipeline(load_pipeline(projected_case))
    t = pd.concat([result.tables["province"], result.tables["county"]]).set_index("region_id")
    # A: 16 ha region, 15 mapped ha, 7 forest ha (4 tree stands), stock of the tree stands 120 + 100 + 50 + 40 = 310 m³
    assert t.loc["A", "land_area_km2_2020"] == pytest.approx(0.15)
    assert t.loc["A", "forest_area_km2_2020"] == pytest.approx(0.07)
    assert t.loc["A", "coverage_pct_2020"] == pytest.approx(700 / 16)  # over the region's full area (土地总面积)
    assert t.loc["A", "coverage_basis"] == "region area (土地总面积)"
    assert t.loc["A", "stock_volume_m3_2020"] == pytest.approx(310.0)
    assert t.loc["A", "special_shrub_area_km2_2020"] == pytest.approx(0.03)
    assert t.loc["A", "stock_density_m3_per_ha_2020"] == pytest.approx(310 / 4)  # per tree-stand area
    # B takes columns 0-1 and half of column 2 (boundary-fraction rule): land 3 + 4 + 4·½ = 9 ha,
    # forest 2 + 3 + (1 tree + 1 shrub)·½ = 6 ha, stock 120 + 50 + 100 + 40·½ = 290 m³
    assert t.loc["B", "land_area_km2_2020"] == pytest.approx(0.09)
    assert t.loc["B", "forest_area_km2_2020"] == pytest.approx(0.06)
    assert t.loc["B", "stock_volume_m3_2020"] == pytest.approx(290.0)
    # C is the rest; B + C = A exactly
    for col in ("land_area_km2_2020", "forest_area_km2_2020", "stock_volume_m3_2020"):
        assert t.loc["B", col] + t.loc["C", col] == pytest.approx(t.loc["A", col], rel=1e-12)
    # 2025: pixel (0,3) turned forest class, but its canopy layer says 0 %: not a tree stand under China's definition
    # (canopy closure ≥ 0.20 is required even in the forest class), so A's forest area does not change
    assert t.loc["A", "forest_area_km2_2025"] == pytest.approx(0.07)
    assert t.loc["A", "forest_area_change_km2_2020_2025"] == pytest.approx(0.0, abs=1e-12)
    nation = result.tables["nation"].iloc[0]
    assert nation["land_area_km2_2020"] == pytest.approx(0.15)  # the nation is the province level's union: A


def test_geographic_by_hand(tmp_path: Path) -> None:
    # 0.01° pixels at 40–40.04°N: each pixel's area from the ellipsoid, checked against pyproj.Geod
    transform = Affine(0.01, 0, 110.0, 0, -0.01, 40.04)
    _write_case(tmp_path, "EPSG:4326", transform)
    regions = gpd.GeoDataFrame({"id": ["A"], "name": ["all"]}, geometry=[box(110.0, 40.0, 110.04, 40.04)], crs=4326)
    result = run_pipeline(load_pipeline(_pipeline(tmp_path, regions)))
    geod = Geod(ellps="WGS84")
    row_area = [abs(geod.geometry_area_perimeter(box(110, 40.03 - 0.01 * r, 110.01, 40.04 - 0.01 * r))[0]) for r in range(4)]
    mapped_rows = (LANDCOVER > 0).sum(axis=1)
    forest_rows = np.array([2, 3, 2, 0])
    stock_rows = np.array([220, 90, 0, 0])
    t = result.tables["province"].iloc[0]
    assert t["land_area_km2_2020"] == pytest.approx((mapped_rows * row_area).sum() / 1e6, rel=1e-7)
    assert t["forest_area_km2_2020"] == pytest.approx((forest_rows * row_area).sum() / 1e6, rel=1e-7)
    assert t["stock_volume_m3_2020"] == pytest.approx((stock_rows * np.array(row_area) / 1e4).sum(), rel=1e-7)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(16, 70), seed=st.integers(0, 10_000))
def test_results_do_not_depend_on_chunk_size(tmp_path_factory: pytest.TempPathFactory, chunk: int, seed: int) -> None:
    folder = tmp_path_factory.mktemp("chunks")
    rng = np.random.default_rng(seed)
    shape = (53, 67)
    transform = Affine(0.013, 0, 100.0, 0, -0.011, 31.0)
    for epoch in (2020, 2025):
        write_raster(folder / f"lc_{epoch}.tif", rng.integers(0, 10, shape).astype(np.uint8), crs="EPSG:4326", transform=transform, nodata=0)
        write_raster(folder / f"cc_{epoch}.tif", rng.integers(0, 101, shape).astype(np.uint8), crs="EPSG:4326", transform=transform, nodata=255)
        write_raster(folder / f"gsv_{epoch}.tif", (rng.random(shape) * 300).astype(np.float32), crs="EPSG:4326", transform=transform, nodata=-9999)
    write_raster(folder / "precip.tif", (rng.random(shape) * 800).astype(np.float32), crs="EPSG:4326", transform=transform)
    regions = gpd.GeoDataFrame(
        {"id": ["1", "2", "3"], "name": ["a", "b", "c"]},
        geometry=[  # curved boundaries from a buffer, cut so that the regions do not overlap
            box(100.1, 30.5, 100.5, 30.9),
            box(100.5, 30.5, 100.83, 30.9).buffer(0.05).difference(box(100.1, 30.45, 100.5, 30.9)),
            box(100.2, 30.45, 100.3, 30.46),
        ],
        crs=4326,
    )
    path = _pipeline(folder, regions)
    config = load_pipeline(path)
    big = run_pipeline(config, output_dir=folder / "big", chunk_size=4096).tables["province"]
    small = run_pipeline(config, output_dir=folder / "small", chunk_size=chunk).tables["province"]
    cols = [c for c in big.columns if big[c].dtype.kind == "f"]
    # relative 1e-9, plus an absolute 1e-6 (km², m³, %) for differences whose true value is 0
    np.testing.assert_allclose(small[cols].to_numpy(float), big[cols].to_numpy(float), rtol=1e-9, atol=1e-6, equal_nan=True)


def test_outputs_written_and_readable(projected_case: Path) -> None:
    result = run_pipeline(load_pipeline(projected_case))
    out = result.output_dir
    doc = json.loads((out / "regions_province.geojson").read_text(encoding="utf-8"))
    raw = (out / "regions_county.geojson").read_bytes()
    assert "西部".encode() in raw and b"\\u" not in raw  # UTF-8, not escaped
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    assert doc["sinkmap"]["forest_definition"]["canopy_cover_min_pct"] == 20.0
    feature = doc["features"][0]
    for key in ("forest_area_km2_2020", "coverage_pct_2025", "stock_volume_m3_2020", "target_coverage_pct_2025", "coverage_gap_pct_points_2025"):
        assert key in feature["properties"]
    lon, lat = feature["geometry"]["coordinates"][0][0]
    assert 104 < lon < 106 and 27 < lat < 29  # reprojected to WGS84 lon/lat
    import shapely

    for f in doc["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        for poly in getattr(geom, "geoms", [geom]):
            assert poly.exterior.is_ccw  # RFC 7946 right-hand rule
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["targets"]["id"] == "cpc_2021" and "Opinions" in manifest["targets"]["title"]
    assert {i["role"] for i in manifest["inputs"]} >= {"landcover", "canopy_cover", "growing_stock", "pipeline"}
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert "numpy" in manifest["versions"] and manifest["forest_definition"]["name"]
    csv = (out / "regions.csv").read_text(encoding="utf-8-sig")
    assert "全域" in csv and "forest_definition" in csv.splitlines()[0]
    with rasterio.open(out / "rasters" / "forest_mask_2020.tif") as src:
        mask = src.read(1)
        assert src.tags()["UNITS"] == "class code" and src.crs is not None
        assert src.profile.get("tiled") or src.profile.get("blockxsize")
    # tree = 1, special shrub = 3, not forest = 0, no data = 255
    assert mask[0, 0] == 1 and mask[1, 1] == 3 and mask[0, 3] == 0 and mask[3, 0] == 255
    with rasterio.open(out / "rasters" / "stock_volume_2020.tif") as src:
        assert src.read(1)[0, 0] == pytest.approx(120) and src.tags()["UNITS"] == "m3/ha"


def test_existing_output_needs_overwrite(projected_case: Path) -> None:
    config = load_pipeline(projected_case)
    run_pipeline(config)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_pipeline(config)
    run_pipeline(config, overwrite=True)


def test_failed_run_leaves_nothing_that_looks_complete(projected_case: Path) -> None:
    (projected_case.parent / "gsv_2025.tif").write_bytes(b"not a tiff")
    with pytest.raises(Exception, match="gsv"):
        run_pipeline(load_pipeline(projected_case))
    leftovers = [p.name for p in projected_case.parent.iterdir() if p.name.startswith("out")]
    assert leftovers == []


def test_unknown_key_names_file_and_key(projected_case: Path) -> None:
    text = projected_case.read_text(encoding="utf-8") + "chunksize: 12\n"
    projected_case.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"pipeline.yaml.*'chunksize'.*allowed"):
        load_pipeline(projected_case)


def test_unknown_layer_role(projected_case: Path) -> None:
    text = projected_case.read_text(encoding="utf-8").replace("annual_precip:", "rainfall:")
    projected_case.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown layer 'rainfall'"):
        load_pipeline(projected_case)


def test_missing_file_named(projected_case: Path) -> None:
    (projected_case.parent / "precip.tif").unlink()
    with pytest.raises(InputNotFoundError, match=r"precip\.tif"):
        load_pipeline(projected_case)


def test_raster_without_crs(projected_case: Path) -> None:
    write_raster(projected_case.parent / "precip.tif", PRECIP, crs=None, transform=Affine(100, 0, 0, 0, -100, 3_000_400))
    with pytest.raises(CRSError, match=r"precip.tif has no CRS"):
        run_pipeline(load_pipeline(projected_case))


def test_layer_on_other_grid_needs_resampling(projected_case: Path) -> None:
    write_raster(projected_case.parent / "precip.tif", PRECIP, crs=ALBERS, transform=Affine(50, 0, 0, 0, -50, 3_000_400))
    with pytest.raises(AlignmentError, match="resampling: bilinear"):
        run_pipeline(load_pipeline(projected_case))
    text = projected_case.read_text(encoding="utf-8").replace("path: precip.tif", "path: precip.tif\n    resampling: nearest")
    projected_case.write_text(text, encoding="utf-8")
    run_pipeline(load_pipeline(projected_case))  # aligned explicitly: runs


def test_layer_that_cannot_be_aligned(projected_case: Path) -> None:
    # far away from the grid: no overlap
    write_raster(projected_case.parent / "precip.tif", PRECIP, crs="EPSG:4326", transform=Affine(0.1, 0, -60, 0, -0.1, -30))
    text = projected_case.read_text(encoding="utf-8").replace("path: precip.tif", "path: precip.tif\n    resampling: bilinear")
    projected_case.write_text(text, encoding="utf-8")
    with pytest.raises(AlignmentError, match="does not overlap"):
        run_pipeline(load_pipeline(projected_case))


def test_regions_that_do_not_overlap(tmp_path: Path) -> None:
    _write_case(tmp_path, ALBERS, Affine(100, 0, 0, 0, -100, 3_000_400))
    far = gpd.GeoDataFrame({"id": ["X"], "name": ["x"]}, geometry=[box(10.0, 10.0, 11.0, 11.0)], crs=4326)
    with pytest.raises(RegionError, match="no region overlaps"):
        run_pipeline(load_pipeline(_pipeline(tmp_path, far)))


def test_region_field_missing(tmp_path: Path) -> None:
    _write_case(tmp_path, ALBERS, Affine(100, 0, 0, 0, -100, 3_000_400))
    regions = gpd.GeoDataFrame({"code": ["X"], "name": ["x"]}, geometry=[box(0, 3_000_000, 400, 3_000_400)], crs=ALBERS)
    regions.to_file(tmp_path / "regions.gpkg", driver="GPKG")
    path = _pipeline(tmp_path, regions)
    with pytest.raises(RegionError, match=r"no field\(s\) id; available fields: code, name"):
        run_pipeline(load_pipeline(path))


def test_coverage_over_an_official_land_area(tmp_path: Path) -> None:
    """coverage_basis: official_land_area divides by each region's land area from its region file (土地总面积),
    and the nation sums them."""
    import yaml

    from sinkmap.errors import ConfigError, RegionError

    _write_case(tmp_path, ALBERS, Affine(100, 0, 0, 0, -100, 3_000_400))
    regions = gpd.GeoDataFrame(
        {"id": ["B", "C"], "name": ["西部", "东部"], "land_km2": [0.1, 0.08]},
        geometry=[box(0, 3_000_000, 250, 3_000_400), box(250, 3_000_000, 400, 3_000_400)],
        crs=ALBERS,
    )
    path = _pipeline(tmp_path, regions)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["forest_definition"] = {"coverage_basis": "official_land_area"}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="needs `land_area_field`"):
        load_pipeline(path)
    doc["regions"][0]["land_area_field"] = "land_km2"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = run_pipeline(load_pipeline(path))
    t = result.tables["province"].set_index("region_id")
    # B: forest 2 + 3 + (1 tree + 1 shrub)·½ = 6 ha over 10 ha of official land; the nation: 7 ha over 18 ha
    assert t.loc["B", "coverage_pct_2020"] == pytest.approx(100 * 0.06 / 0.1)
    assert t.loc["B", "coverage_basis"] == "official land area (土地总面积, region file)"
    nation = result.tables["nation"].iloc[0]
    assert nation["coverage_pct_2020"] == pytest.approx(100 * 0.07 / 0.18)
    regions.loc[1, "land_km2"] = None
    regions.to_file(tmp_path / "regions.gpkg", driver="GPKG")
    with pytest.raises(RegionError, match=r"field 'land_km2' .* region\(s\) C"):
        run_pipeline(load_pipeline(path), output_dir=tmp_path / "again")
