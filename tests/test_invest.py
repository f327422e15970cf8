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
    row = invest_storage(table, [str(tmp_path / "a.tif"), str(tmp_path / "b.tif")], raster_dir=tmp_path / "r").iloc[0]
    assert row["c_above_change_t"] == pytest.approx(-1.0 * 0.21)  # −1 t C/ha on one pixel, not nodata
    import rasterio

    with rasterio.open(tmp_path / "r" / "carbon_change_t_c_per_ha_bas_alt.tif") as src:  # NaN is the nodata, not −1
        np.testing.assert_array_equal(src.read(1), [[-1.0, 0.0]])
        assert np.isnan(src.nodata)


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


# ---- InVEST parity (issue 13) ---------------------------------------------------------------------------------

UTM50 = CRS.from_epsg(32650)
# odd pixels 30 m × 70 m, 300 km west of the central meridian: UTM's areal scale is about 1.0014 here
T_UTM = Affine(30, 0, 200_000, 0, -70, 3_400_000)


def _two_class_table(path: Path, *, nodata_row: bool = False) -> Path:
    rows = "lucode,c_above,c_below,c_soil,c_dead\n1,6,2,1.5,0.5\n2,3,1,0.5,0.5\n"
    path.write_text(rows + ("0,4,2,1,0\n" if nodata_row else ""), encoding="utf-8")  # code 0: 7 t C/ha
    return path


def test_nominal_area_reproduces_invest_totals_on_odd_pixels(tmp_path: Path) -> None:
    from pyproj import Proj, Transformer

    lc = np.array([[1, 2, 1], [2, 2, 255]], np.uint8)
    write_raster(tmp_path / "lc.tif", lc, crs=UTM50, transform=T_UTM, nodata=255)
    table = _two_class_table(tmp_path / "pools.csv")
    nominal = invest_storage(table, [str(tmp_path / "lc.tif")], area="nominal").iloc[0]
    # InVEST: Σ density (t C/ha) × pixel size (30 × 70 m = 0.21 ha); classes 1 = 10, 2 = 5 t C/ha
    assert nominal["total_t_0"] == pytest.approx((2 * 10 + 3 * 5) * 0.21, rel=1e-13)
    assert nominal["c_above_t_0"] == pytest.approx((2 * 6 + 3 * 3) * 0.21, rel=1e-13)
    assert nominal["valid_area_km2_0"] == pytest.approx(5 * 2100 / 1e6, rel=1e-13)
    # default: true area = nominal ÷ the projection's areal scale at each pixel centre
    true = invest_storage(table, [str(tmp_path / "lc.tif")]).iloc[0]
    cols, rows = np.meshgrid(np.arange(3) + 0.5, np.arange(2) + 0.5)
    xs, ys = T_UTM @ (cols, rows)
    lon, lat = Transformer.from_crs(UTM50, UTM50.geodetic_crs, always_xy=True).transform(xs, ys)
    scale = np.asarray(Proj(UTM50).get_factors(lon, lat).areal_scale)
    density = np.array([[10, 5, 10], [5, 5, 0]])
    assert true["total_t_0"] == pytest.approx(float((density * 0.21 / scale).sum()), rel=1e-9)
    assert 1.001 < nominal["total_t_0"] / true["total_t_0"] < 1.002


def test_area_option_is_stated_and_geographic_nominal_refused(tmp_path: Path) -> None:
    from sinkmap.errors import CRSError

    write_raster(tmp_path / "lc.tif", np.array([[1, 2]], np.uint8), crs=UTM50, transform=T_UTM, nodata=255)
    table = _two_class_table(tmp_path / "pools.csv")
    assert "nominal" in invest_storage(table, [str(tmp_path / "lc.tif")], area="nominal").attrs["area_method"]
    assert "scale factor" in invest_storage(table, [str(tmp_path / "lc.tif")]).attrs["area_method"]
    write_raster(tmp_path / "geo.tif", np.array([[1, 2]], np.uint8), crs="EPSG:4326",
                 transform=Affine(0.001, 0, 100, 0, -0.001, 30), nodata=255)
    with pytest.raises(CRSError, match="projected"):
        invest_storage(table, [str(tmp_path / "geo.tif")], area="nominal")


def _nodata_case(tmp_path: Path) -> tuple[Path, list[str]]:
    # 1-ha pixels (100 m), nodata 0; code 1 = 10 t C/ha, the table also lists code 0 (7 t C/ha)
    t = Affine(100, 0, 500_000, 0, -100, 3_400_000)
    write_raster(tmp_path / "bas.tif", np.array([[1, 1], [1, 0]], np.uint8), crs=UTM50, transform=t, nodata=0)
    write_raster(tmp_path / "alt.tif", np.array([[1, 1], [0, 0]], np.uint8), crs=UTM50, transform=t, nodata=0)
    table = tmp_path / "pools.csv"
    table.write_text("lucode,c_above,c_below,c_soil,c_dead\n1,6,2,1.5,0.5\n0,4,2,1,0\n", encoding="utf-8")
    return table, [str(tmp_path / "bas.tif"), str(tmp_path / "alt.tif")]


def test_nodata_code_in_table_masked_with_warning(tmp_path: Path) -> None:
    table, lulc = _nodata_case(tmp_path)
    out = invest_storage(table, lulc, area="nominal")
    row = out.iloc[0]
    # masked: baseline 3 × 10 = 30, alternate 2 × 10 = 20, change over the 2 pixels valid in both = 0
    assert (row["total_t_0"], row["total_t_1"], row["total_change_t"]) == pytest.approx((30.0, 20.0, 0.0))
    assert len(out.attrs["warnings"]) == 2 and "lucode 0" in out.attrs["warnings"][0]
    assert "--nodata-in-table map" in out.attrs["warnings"][0]


def test_nodata_code_in_table_mapped_as_invest(tmp_path: Path) -> None:
    table, lulc = _nodata_case(tmp_path)
    row = invest_storage(table, lulc, area="nominal", nodata_in_table="map").iloc[0]
    # InVEST: the nodata pixels take code 0's row (7 t C/ha): 30 + 7 = 37, 20 + 2 × 7 = 34, change 34 − 37 = −3
    assert (row["total_t_0"], row["total_t_1"], row["total_change_t"]) == pytest.approx((37.0, 34.0, -3.0))
    assert row["c_above_change_t"] == pytest.approx(4 - 6)  # (1,0): code 1 → code 0


def test_no_warning_when_table_lacks_nodata_row(tmp_path: Path) -> None:
    write_raster(tmp_path / "lc.tif", np.array([[1, 0]], np.uint8), crs=UTM50, transform=T_UTM, nodata=0)
    out = invest_storage(_two_class_table(tmp_path / "pools.csv"), [str(tmp_path / "lc.tif")])
    assert out.attrs["warnings"] == []


def test_valuation_formula_by_hand() -> None:
    from sinkmap.kernels.carbon.invest import valuation_per_t_c

    # V = 10 per t C, r = 5 %, c = 2 %, 2020 → 2023 (3 years): 10/3 × (1 + 1/1.071 + 1/1.071²)
    value = valuation_per_t_c(price_per_t_c=10, discount_rate_pct=5, price_change_pct=2, baseline_year=2020, alternate_year=2023)
    assert value == pytest.approx(10 / 3 * (1 + 0.9337068160597572 + 0.8718084183564493), rel=1e-12)
    assert value == pytest.approx(9.351717448, rel=1e-9)
    # no discounting: the price itself, whatever the span
    assert valuation_per_t_c(price_per_t_c=37, discount_rate_pct=0, price_change_pct=0, baseline_year=2000, alternate_year=2030) == pytest.approx(37)
    with pytest.raises(ValueError, match="after the baseline"):
        valuation_per_t_c(price_per_t_c=1, discount_rate_pct=0, price_change_pct=0, baseline_year=2030, alternate_year=2030)


def test_rasters_valuation_and_invest_names(tmp_path: Path) -> None:
    import rasterio

    table, lulc = _nodata_case(tmp_path)
    out = invest_storage(
        table, lulc, area="nominal", years=[2020, 2023], price_per_t_c=10, discount_rate_pct=5,
        price_change_pct=2, raster_dir=tmp_path / "r", invest_names=True,
    )
    files = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert files == sorted(
        ["c_storage_bas.tif", "c_storage_alt.tif", "c_change_bas_alt.tif", "npv_alt.tif"]
        + [f"{pool}_{s}.tif" for pool in ("c_above", "c_below", "c_soil", "c_dead") for s in ("bas", "alt")]
    )
    with rasterio.open(tmp_path / "r" / "c_storage_bas.tif") as src:
        assert src.tags()["UNITS"] == "t C/ha"
        assert src.profile["tiled"]
        np.testing.assert_array_equal(src.read(1), [[10, 10], [10, np.nan]])
    with rasterio.open(tmp_path / "r" / "c_above_alt.tif") as src:
        np.testing.assert_array_equal(src.read(1), [[6, 6], [np.nan, np.nan]])
    with rasterio.open(tmp_path / "r" / "c_change_bas_alt.tif") as src:
        np.testing.assert_array_equal(src.read(1), [[0, 0], [np.nan, np.nan]])
    with rasterio.open(tmp_path / "r" / "npv_alt.tif") as src:
        assert src.tags()["UNITS"] == "currency/ha"
    # a region's value is the same formula on its change: here 0 t C → 0
    assert out.iloc[0]["npv"] == 0.0


def test_valuation_of_a_change_per_pixel_and_region(tmp_path: Path) -> None:
    import rasterio

    t = Affine(100, 0, 500_000, 0, -100, 3_400_000)  # 1 ha
    write_raster(tmp_path / "bas.tif", np.array([[1, 2]], np.uint8), crs=UTM50, transform=t, nodata=255)
    write_raster(tmp_path / "alt.tif", np.array([[2, 2]], np.uint8), crs=UTM50, transform=t, nodata=255)
    out = invest_storage(
        _two_class_table(tmp_path / "pools.csv"), [str(tmp_path / "bas.tif"), str(tmp_path / "alt.tif")],
        area="nominal", years=[2020, 2023], price_per_t_c=10, discount_rate_pct=5, price_change_pct=2,
        raster_dir=tmp_path / "r",
    )
    # one pixel 10 → 5 t C/ha: change −5 t C; value −5 × 9.351717448
    assert out.iloc[0]["total_change_t"] == pytest.approx(-5.0)
    assert out.iloc[0]["npv"] == pytest.approx(-5 * 9.351717448, rel=1e-9)
    with rasterio.open(tmp_path / "r" / "npv_per_ha_bas_alt.tif") as src:
        np.testing.assert_allclose(src.read(1), [[-5 * 9.351717448, 0]], rtol=1e-6)
    assert (tmp_path / "r" / "carbon_storage_t_c_per_ha_bas.tif").exists()
    assert not (tmp_path / "r" / ".scratch").exists()


def test_several_alternates(tmp_path: Path) -> None:
    paths = []
    for name, data in (("bas", [[1, 1, 2]]), ("a1", [[2, 1, 2]]), ("a2", [[2, 2, 1]]), ("a3", [[1, 1, 255]])):
        paths.append(str(write_raster(tmp_path / f"{name}.tif", np.array(data, np.uint8), crs=ALBERS, transform=T, nodata=255)))
    out = invest_storage(_two_class_table(tmp_path / "pools.csv"), paths)
    row = out.iloc[0]
    assert out.attrs["scenarios"] == ["bas", "alt1", "alt2", "alt3"]
    ha = 0.21  # 30 m × 70 m on an equal-area grid
    assert row["total_t_0"] == pytest.approx(25 * ha)
    assert row["total_change_t_1"] == pytest.approx(-5 * ha)
    assert row["total_change_t_2"] == pytest.approx((-5 - 5 + 5) * ha)
    assert row["total_change_t_3"] == pytest.approx(0.0)  # the third pixel is nodata in alt3: not in the change
    assert row["both_valid_area_km2_3"] == pytest.approx(2 * 2100 / 1e6)


def test_console_units_scale_to_the_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sinkmap.cli.invest import scaled_carbon

    t = Affine(1, 0, 500_000, 0, -1, 3_400_000)  # 1 m² pixels
    write_raster(tmp_path / "bas.tif", np.array([[1]], np.uint8), crs=UTM50, transform=t, nodata=255)
    write_raster(tmp_path / "alt.tif", np.array([[2]], np.uint8), crs=UTM50, transform=t, nodata=255)
    table = _two_class_table(tmp_path / "pools.csv")
    code = main(["invest", "--pools", str(table), str(tmp_path / "bas.tif"), str(tmp_path / "alt.tif"),
                 "--area", "nominal", "-o", str(tmp_path / "o.csv")])
    assert code == 0
    printed = capsys.readouterr().out
    # 10 t C/ha on 1 m² = 1 kg C; 5 t C/ha = 0.5 kg C; change −0.5 kg C
    assert "storage bas: 1 kg C" in printed
    assert "storage alt: 0.5 kg C (change bas → alt: -0.5 kg C)" in printed
    assert "area: nominal" in printed
    assert scaled_carbon([35_713.0, -35_741.0]) == (["35.71", "-35.74"], "kt C")
    assert scaled_carbon([0.0]) == (["0"], "g C")


def test_cli_regions_without_id_field_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_raster(tmp_path / "lc.tif", np.array([[1, 2]], np.uint8), crs=ALBERS, transform=T, nodata=255)
    (tmp_path / "r.geojson").write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    code = main(["invest", "--pools", str(_table(tmp_path / "pools.csv")), str(tmp_path / "lc.tif"),
                 "--regions", str(tmp_path / "r.geojson"), "-o", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--id-field" in err and "Traceback" not in err


def test_cli_unknown_code_is_one_line_naming_code_file_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_raster(tmp_path / "lc.tif", np.array([[1, 7]], np.uint8), crs=ALBERS, transform=T, nodata=255)
    code = main(["invest", "--pools", str(_table(tmp_path / "pools.csv")), str(tmp_path / "lc.tif"), "-o", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("INFO ")]  # log lines go to stderr too
    assert code == 2 and len(errors) == 1 and errors[0].startswith("sinkmap: error: ")
    assert "[7]" in err and "pools.csv" in err and "lc.tif" in err and "add a row" in err


def test_pipeline_area_option(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import geopandas as gpd
    import yaml
    from shapely.geometry import box

    from sinkmap.apps.pipeline import run_pipeline
    from sinkmap.config import load_pipeline
    from sinkmap.errors import ConfigError
    from test_pipeline import LANDCOVER, _pipeline, _write_case

    _write_case(tmp_path, UTM50, Affine(100, 0, 200_000, 0, -100, 3_400_400))
    table = tmp_path / "pools.csv"
    # a row for code 0, the land cover's nodata value: masked in a pipeline, with a warning
    table.write_text("lucode,c_above,c_below,c_soil,c_dead\n0,50,0,0,0\n" + "".join(f"{c},{c},1,10,0\n" for c in range(1, 10)), encoding="utf-8")
    regions = gpd.GeoDataFrame({"id": ["A"], "name": ["a"]}, geometry=[box(200_000, 3_400_000, 200_400, 3_400_400)], crs=UTM50)
    path = _pipeline(tmp_path, regions)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["carbon"] = {"invest_pools": "pools.csv", "enabled": False}
    doc["area"] = "nominal"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = run_pipeline(load_pipeline(path))
    row = result.tables["province"].iloc[0]
    valid = LANDCOVER[LANDCOVER > 0]
    assert row["invest_total_t_c_2020"] == pytest.approx(valid.sum() + 11 * valid.size, rel=1e-12)  # 1-ha pixels
    manifest = (Path(result.output_dir) / "manifest.json").read_text(encoding="utf-8")
    assert "nominal pixel area" in manifest
    assert "row for the landcover nodata value 0" in caplog.text
    doc["area"] = "pixels"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match="area: 'pixels'"):
        load_pipeline(path)
