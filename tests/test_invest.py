"""InVEST-compatible storage and change: hand totals on tiny rasters with odd pixel sizes and nodata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from conftest import write_raster
from sinkmap.apps.invest import invest_storage
from sinkmap.cli import main
from sinkmap.errors import FactorTableError

ALBERS = CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m")
# odd, non-square pixels: 30 m × 70 m = 2100 m² = 0.21 ha each
T = Affine(30, 0, 1000, 0, -70, 3_000_000)


def _table(path: Path) -> Path:
    # header case varies in InVEST tables; an extra name column is allowed
    path.write_text(
        "LUCODE,LULC_Name,C_Above,c_below,C_SOIL,c_dead\n"
        "1,forest,100,20,80,10\n"
        "2,grass,5,10,60,0\n"
        "3,crop,4,1,50,0\n",
        encoding="utf-8",
    )
    return path


def test_storage_and_change_by_hand(tmp_path: Path) -> None:
    cur = np.array([[1, 1, 2], [2, 3, 255]], np.uint8)  # 255 = nodata
    fut = np.array([[1, 2, 2], [3, 3, 1]], np.uint8)
    write_raster(tmp_path / "cur.tif", cur, crs=ALBERS, transform=T, nodata=255)
    write_raster(tmp_path / "fut.tif", fut, crs=ALBERS, transform=T, nodata=255)
    out = invest_storage(_table(tmp_path / "pools.csv"), [str(tmp_path / "cur.tif"), str(tmp_path / "fut.tif")])
    row = out.set_index("region_id").loc["extent"]
    ha = 0.21
    # current: forest ×2 (210 t C/ha), grass ×2 (75), crop ×1 (55); nodata ×1
    assert row["total_t_0"] == pytest.approx((2 * 210 + 2 * 75 + 55) * ha)
    assert row["c_above_t_0"] == pytest.approx((2 * 100 + 2 * 5 + 4) * ha)
    assert row["valid_area_km2_0"] == pytest.approx(5 * 2100 / 1e6)
    assert row["total_t_1"] == pytest.approx((2 * 210 + 2 * 75 + 2 * 55) * ha)
    # change only where both valid: (1,1)→0, (1,2)→-135, (2,2)→0, (2,3)→-20, (3,3)→0
    assert row["total_change_t"] == pytest.approx((-135 - 20) * ha)
    assert out.set_index("region_id").loc["overall", "total_t_0"] == pytest.approx(row["total_t_0"])


def test_change_of_minus_one_is_a_change(tmp_path: Path) -> None:
    table = tmp_path / "pools.csv"
    table.write_text("lucode,c_above,c_below,c_soil,c_dead\n1,10,0,0,0\n2,9,0,0,0\n", encoding="utf-8")
    write_raster(tmp_path / "a.tif", np.array([[1, 1]], np.int16), crs=ALBERS, transform=T, nodata=-1)
    write_raster(tmp_path / "b.tif", np.array([[2, 1]], np.int16), crs=ALBERS, transform=T, nodata=-1)
    row = invest_storage(table, [str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]).iloc[0]
    assert row["c_above_change_t"] == pytest.approx(-1.0 * 0.21)  # −1 t C/ha on one pixel, not nodata


def test_missing_codes_listed(tmp_path: Path) -> None:
    write_raster(tmp_path / "cur.tif", np.array([[1, 7], [9, 2]], np.uint8), crs=ALBERS, transform=T, nodata=255)
    with pytest.raises(FactorTableError, match=r"code\(s\) \[7, 9\]"):
        invest_storage(_table(tmp_path / "pools.csv"), [str(tmp_path / "cur.tif")])


def test_rasters_on_different_grids_are_aligned(tmp_path: Path) -> None:
    cur = np.array([[1, 2], [3, 1]], np.uint8)
    write_raster(tmp_path / "cur.tif", cur, crs=ALBERS, transform=Affine(60, 0, 0, 0, -60, 3_000_000), nodata=255)
    fine = np.repeat(np.repeat(cur, 2, axis=0), 2, axis=1)  # same map at 30 m
    write_raster(tmp_path / "fut.tif", fine, crs=ALBERS, transform=Affine(30, 0, 0, 0, -30, 3_000_000), nodata=255)
    out = invest_storage(_table(tmp_path / "pools.csv"), [str(tmp_path / "cur.tif"), str(tmp_path / "fut.tif")])
    assert out.iloc[0]["total_change_t"] == pytest.approx(0.0, abs=1e-9)
    assert "nearest" in out.attrs["alignment"][1]


def test_cli(tmp_path: Path) -> None:
    write_raster(tmp_path / "cur.tif", np.array([[1, 2]], np.uint8), crs=ALBERS, transform=T, nodata=255)
    out = tmp_path / "storage.csv"
    assert main(["invest", "--pools", str(_table(tmp_path / "pools.csv")), str(tmp_path / "cur.tif"), "-o", str(out)]) == 0
    assert "total_t_0" in out.read_text(encoding="utf-8-sig")
    assert main(["invest", "--pools", str(tmp_path / "pools.csv"), str(tmp_path / "cur.tif"), "-o", str(out)]) == 2


def test_pipeline_option(tmp_path: Path) -> None:
    import geopandas as gpd
    import yaml
    from shapely.geometry import box

    from sinkmap.apps.pipeline import run_pipeline
    from sinkmap.config import load_pipeline
    from test_pipeline import LANDCOVER, _pipeline, _write_case

    _write_case(tmp_path, ALBERS, Affine(100, 0, 0, 0, -100, 3_000_400))
    table = tmp_path / "pools.csv"
    table.write_text("lucode,c_above,c_below,c_soil,c_dead\n" + "".join(f"{c},{c},1,10,0\n" for c in range(1, 10)), encoding="utf-8")
    regions = gpd.GeoDataFrame({"id": ["A"], "name": ["a"]}, geometry=[box(0, 3_000_000, 400, 3_000_400)], crs=ALBERS)
    path = _pipeline(tmp_path, regions)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["carbon"] = {"invest_pools": "pools.csv"}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    row = run_pipeline(load_pipeline(path)).tables["province"].iloc[0]
    valid = LANDCOVER[LANDCOVER > 0]
    # 1-ha pixels: c_above = code, c_below = 1, c_soil = 10 t C/ha
    assert row["invest_c_above_t_c_2020"] == pytest.approx(valid.sum())
    assert row["invest_total_t_c_2020"] == pytest.approx(valid.sum() + 11 * valid.size)
    assert row["invest_total_change_t_c_2020_2025"] == pytest.approx(2 - 4)  # (0,3): grassland 4 → forest 2
