"""Derived layers and the elevation role: layers a pipeline computes from its inputs (sum of monthly precipitation,
mean of tmin and tmax, a threshold, a reclassification), lazily and per window, with nodata propagated, checked
against numpy by hand; and their use by the forest step and the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import yaml
from affine import Affine
from pyproj import CRS
from shapely.geometry import box

from conftest import write_raster
from sinkmap.api import open_pipeline
from sinkmap.apps.pipeline import run_pipeline
from sinkmap.config import load_pipeline
from sinkmap.engine.roles import ROLES
from sinkmap.errors import ConfigError

ALBERS = CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m")
TRANSFORM = Affine(100, 0, 0, 0, -100, 3_000_400)  # 100 m pixels in an equal-area projection: 1 ha each
NODATA = -9999.0

# 4 × 4 pixels. Row 0 is shrubland (CLCD 3), the rest grassland (4).
LANDCOVER = np.array([[3, 3, 3, 3], [4, 4, 4, 4], [4, 4, 4, 4], [4, 4, 4, 4]], np.uint8)
CANOPY = np.zeros((4, 4), np.uint8)
# Monthly precipitation: 30 mm in the left half (360 mm/yr, below the 400 mm shrubland rule), 50 mm in the right
# half (600 mm/yr); July is missing at (0, 0).
MONTHS = [np.array([[30.0, 30, 50, 50]] * 4, np.float32) for _ in range(12)]
MONTHS[6][0, 0] = NODATA
TMIN = np.array([[2.0, 4, 6, 8]] * 4, np.float32)
TMAX = np.array([[12.0, 14, 16, 18]] * 4, np.float32)
DEM = np.array([[100.0, 2500, 3100, 3600]] * 4, np.float32)
DEM[3, 3] = NODATA
WETLANDS = np.array([[0, 11, 12, 13]] * 4, np.uint8)  # a user's map: 11 marsh, 12 mangrove, 13 unknown code


def _write(folder: Path) -> None:
    write_raster(folder / "lc.tif", LANDCOVER, crs=ALBERS, transform=TRANSFORM, nodata=0)
    write_raster(folder / "cc.tif", CANOPY, crs=ALBERS, transform=TRANSFORM, nodata=255)
    for month, values in enumerate(MONTHS, start=1):
        write_raster(folder / f"prec_{month:02d}.tif", values, crs=ALBERS, transform=TRANSFORM, nodata=NODATA)
    write_raster(folder / "tmin.tif", TMIN, crs=ALBERS, transform=TRANSFORM, nodata=NODATA)
    write_raster(folder / "tmax.tif", TMAX, crs=ALBERS, transform=TRANSFORM, nodata=NODATA)
    write_raster(folder / "dem.tif", DEM, crs=ALBERS, transform=TRANSFORM, nodata=NODATA)
    write_raster(folder / "wet.tif", WETLANDS, crs=ALBERS, transform=TRANSFORM, nodata=255)
    gpd.GeoDataFrame({"id": ["R"], "name": ["all"]}, geometry=[box(0, 3_000_000, 400, 3_000_400)], crs=ALBERS).to_file(
        folder / "regions.gpkg", driver="GPKG"
    )


def _pipeline(folder: Path, **changes: Any) -> Path:
    doc: dict[str, Any] = {
        "name": "derived",
        "output_dir": "out",
        "epochs": [2020],
        "chunk_size": 16,
        "targets": "none",
        "carbon": {"enabled": False},
        "layers": {"landcover": {"path": "lc.tif"}, "canopy_cover": {"path": "cc.tif"}, "elevation": {"path": "dem.tif"}},
        "inputs": {
            **{f"p{m:02d}": {"path": f"prec_{m:02d}.tif"} for m in range(1, 13)},
            "tmin": {"path": "tmin.tif"},
            "tmax": {"path": "tmax.tif"},
            "my_wetlands": {"path": "wet.tif"},
        },
        "derived": {
            "annual_precip": {"sum": [f"p{m:02d}" for m in range(1, 13)]},
            "mean_temperature": {"mean": ["tmin", "tmax"]},
            "high_ground": {"threshold": {"of": "elevation", "above": 3000}},
            "carbonate": {"reclassify": {"of": "high_ground", "map": {1: 2, 0: 0}}},
            "wetland_type": {"reclassify": {"of": "my_wetlands", "map": {11: 1, 12: 2}, "default": 0}},
        },
        "regions": [{"level": "province", "path": "regions.gpkg", "id_field": "id", "name_field": "name"}],
        **changes,
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_elevation_is_a_role() -> None:
    role = ROLES["elevation"]
    assert role.unit == "m" and role.kind == "continuous" and role.resampling == "bilinear"


def test_derived_layers_equal_numpy_with_nodata_propagated(tmp_path: Path) -> None:
    _write(tmp_path)
    ds = open_pipeline(_pipeline(tmp_path)).inputs(chunk_size=16).compute()
    stack = np.stack(MONTHS).astype(np.float64)
    expected_precip = np.where((stack == NODATA).any(axis=0), np.nan, stack.sum(axis=0))
    np.testing.assert_array_equal(ds["annual_precip"].values, expected_precip.astype(np.float32))
    assert np.isnan(ds["annual_precip"].values[0, 0]) and ds["annual_precip"].values[0, 1] == 360.0
    np.testing.assert_array_equal(ds["mean_temperature"].values, ((TMIN + TMAX) / 2).astype(np.float32))
    # threshold of elevation > 3000 m, then reclassified to carbonate codes; the DEM's nodata stays nodata
    expected_carbonate = np.where(DEM > 3000, 2, 0)
    expected_carbonate[3, 3] = -1
    np.testing.assert_array_equal(ds["carbonate"].values, expected_carbonate)
    # 11 → 1, 12 → 2, anything else (0, 13) → the default 0
    np.testing.assert_array_equal(ds["wetland_type"].values, np.array([[0, 1, 2, 0]] * 4))
    assert ds["annual_precip"].attrs["units"] == "mm/yr"


def test_a_reclassification_without_default_leaves_unmapped_codes_as_nodata(tmp_path: Path) -> None:
    _write(tmp_path)
    path = _pipeline(
        tmp_path,
        derived={"wetland_type": {"reclassify": {"of": "my_wetlands", "map": {11: 1, 12: 2}}}},
    )
    ds = open_pipeline(path).inputs().compute()
    np.testing.assert_array_equal(ds["wetland_type"].values, np.array([[-1, 1, 2, -1]] * 4))


def test_derived_precipitation_drives_the_shrubland_rule_and_is_in_the_manifest(tmp_path: Path) -> None:
    _write(tmp_path)
    result = run_pipeline(load_pipeline(_pipeline(tmp_path)))
    row = result.tables["province"].iloc[0]
    # special shrubland: shrub pixels (row 0) where annual precipitation < 400 mm and known: only (0, 1); 1 ha
    assert row["special_shrub_area_km2_2020"] == pytest.approx(0.01, rel=1e-12)
    assert row["land_area_km2_2020"] == pytest.approx(0.16, rel=1e-12)
    layers = {layer["name"]: layer for layer in result.manifest["layers"]}
    precip = layers["annual_precip"]
    assert precip["derived"] == {"operation": "sum", "of": [f"p{m:02d}" for m in range(1, 13)]}
    assert len(precip["files"]) == 12
    assert layers["carbonate"]["derived"]["of"] == ["high_ground"]
    assert layers["carbonate"]["inputs"][0]["derived"] == {"operation": "threshold", "of": ["elevation"], "above": 3000.0}
    roles = {(i["role"], Path(i["path"]).name) for i in result.manifest["inputs"]}
    assert ("annual_precip", "prec_07.tif") in roles


def test_derived_per_epoch(tmp_path: Path) -> None:
    """A derived layer from a per-epoch input is per epoch; a static input serves every epoch."""
    _write(tmp_path)
    for epoch, value in ((2020, 10), (2025, 30)):
        write_raster(tmp_path / f"cc_{epoch}.tif", np.full((4, 4), value, np.uint8), crs=ALBERS, transform=TRANSFORM, nodata=255)
    write_raster(tmp_path / "cc_floor.tif", np.full((4, 4), 20, np.uint8), crs=ALBERS, transform=TRANSFORM, nodata=255)
    path = _pipeline(
        tmp_path,
        epochs=[2020, 2025],
        layers={"landcover": {"path": "lc.tif"}},
        inputs={"cc_year": {"paths": {2020: "cc_2020.tif", 2025: "cc_2025.tif"}}, "cc_floor": {"path": "cc_floor.tif"}},
        derived={"canopy_cover": {"max": ["cc_year", "cc_floor"]}},
    )
    ds = open_pipeline(path).inputs().compute()
    assert ds["canopy_cover"].dims == ("epoch", "y", "x")
    assert (ds["canopy_cover"].sel(epoch=2020).values == 20).all() and (ds["canopy_cover"].sel(epoch=2025).values == 30).all()


@pytest.mark.parametrize(
    ("derived", "message"),
    [
        ({"annual_precip": {"sum": ["p01", "nope"]}}, r"'nope' is not a layer, an input or a derived layer"),
        ({"annual_precip": {"sum": ["p01"], "mean": ["p02"]}}, "expected one operation of sum, mean"),
        ({"high": {"threshold": {"of": "elevation", "above": 1, "below": 2}}}, "exactly one of `above` or `below`"),
        ({"elevation": {"mean": ["p01"]}}, "'elevation' is already a layer or an input"),
        ({"wetland_type": {"reclassify": {"of": "my_wetlands", "map": {11: "marsh"}}}}, "not a whole-number code"),
        ({"a": {"mean": ["b"]}, "b": {"mean": ["a"]}}, "computed from each other; break the cycle"),
    ],
)
def test_derived_errors_name_the_key(tmp_path: Path, derived: dict[str, Any], message: str) -> None:
    _write(tmp_path)
    with pytest.raises(ConfigError, match=message):
        load_pipeline(_pipeline(tmp_path, derived=derived))
