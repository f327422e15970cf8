"""Gross emissions from tree-cover loss (Global Forest Watch style): hand-computed cases on tiny rasters and on the
real Hansen crop over Huế in rasters/hansen_hue (CC BY 4.0, see rasters/README.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS

from conftest import write_raster
from sinkmap.apps.loss import loss_emissions, packaged_gfw_factors
from sinkmap.cli import main
from sinkmap.errors import ConfigError, SinkmapError
from sinkmap.kernels.carbon.loss import (
    deadwood_litter_fractions,
    soil_loss_t_c_per_ha,
    tree_cover_mask,
)

HANSEN = Path(__file__).resolve().parents[1] / "rasters" / "hansen_hue"
TCD = HANSEN / "hansen_gfc2018v16_treecover2000_vietnam_hue.tif"
LOSS = HANSEN / "hansen_gfc2018v16_lossyear_vietnam_hue.tif"
ALBERS = CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m")
T = Affine(100, 0, 0, 0, -100, 2_000_000)  # 1-ha pixels on an equal-area grid
TO_CO2 = 44 / 12
# tropical, precipitation > 1600 mm, elevation ≤ 2000 m: dead wood 0.06, litter 0.01 of AGB (CDM Tool 12 via GFW)
C_PER_T_AGB = {"agb": 0.47, "bgb": 0.26 * 0.47, "deadwood": 0.06 * 0.47, "litter": 0.01 * 0.37}
C_TOTAL = sum(C_PER_T_AGB.values())  # 0.6241 t C per t AGB


def _tiny(tmp_path: Path) -> dict[str, str]:
    tcd = np.array([[50, 30, 31], [0, 80, 90], [100, 100, 20]], np.uint8)
    loss = np.array([[1, 1, 2], [1, 0, 2], [3, 0, 1]], np.uint8)
    agb = np.array([[100, 200, 100], [50, 150, -1], [300, 100, 80]], np.float32)  # −1: no biomass value
    return {
        "tree_cover": str(write_raster(tmp_path / "tcd.tif", tcd, crs=ALBERS, transform=T, nodata=255)),
        "loss_year": str(write_raster(tmp_path / "loss.tif", loss, crs=ALBERS, transform=T, nodata=255)),
        "agb": str(write_raster(tmp_path / "agb.tif", agb, crs=ALBERS, transform=T, nodata=-1)),
    }


def test_constants_by_hand() -> None:
    assert C_TOTAL == pytest.approx(0.6241)
    f = packaged_gfw_factors()
    assert (f.carbon_fraction_biomass, f.carbon_fraction_litter, f.bgb_to_agb, f.canopy_threshold) == (0.47, 0.37, 0.26, 30)
    assert all(row["source"] and row["evidence"] == "R" for row in f.rows)
    dw, lt = deadwood_litter_fractions("tropical", [900, 1000, 1001, 1600, 1601, 3000], [100, 100, 100, 100, 2000, 2001], f)
    np.testing.assert_array_equal(dw, [0.02, 0.02, 0.01, 0.01, 0.06, 0.07])  # classes are upper-inclusive
    np.testing.assert_array_equal(lt, [0.04, 0.04, 0.01, 0.01, 0.01, 0.01])
    dw, lt = deadwood_litter_fractions("temperate", np.nan, np.nan, f)
    assert (float(dw), float(lt)) == (0.08, 0.04)
    np.testing.assert_array_equal(tree_cover_mask([30, 31, np.nan], 30), [False, True, False])
    np.testing.assert_array_equal(tree_cover_mask([29, 30, 31], 30, inclusive=True), [False, True, True])


def test_soil_rule_by_hand() -> None:
    # 60 t C/ha, F_LU 0.8: 60 × 0.2 / 20 = 0.6 t C/ha per year after loss, at most 20 years
    np.testing.assert_allclose(soil_loss_t_c_per_ha([60, 60, 60, 60], 0.8, [0, 2, 20, 29]), [0, 1.2, 12, 12])


def test_tiny_case_by_hand(tmp_path: Path) -> None:
    out = loss_emissions(**_tiny(tmp_path), last_year=2003, domain="tropical", annual_precip=2000, elevation=100)
    rows = out.set_index("loss_year")
    # 2001: (0,0) tcd 50 is in the forest extent (> 30); (0,1) tcd 30 is not; (1,0) tcd 0 and (2,2) tcd 20 neither
    assert rows.loc[2001, "tree_cover_loss_ha"] == pytest.approx(1.0)
    assert rows.loc[2001, "agb_t_co2e"] == pytest.approx(100 * 0.47 * TO_CO2)
    assert rows.loc[2001, "litter_t_co2e"] == pytest.approx(100 * 0.0037 * TO_CO2)
    assert rows.loc[2001, "gross_emissions_t_co2e"] == pytest.approx(100 * C_TOTAL * TO_CO2)
    # full extent = tree cover > 0 and AGB > 0: (0,0), (0,1), (2,2)
    assert rows.loc[2001, "full_extent_loss_ha"] == pytest.approx(3.0)
    assert rows.loc[2001, "full_extent_gross_emissions_t_co2e"] == pytest.approx((100 + 200 + 80) * C_TOTAL * TO_CO2)
    # 2002: (0,2) tcd 31 AGB 100 and (1,2) tcd 90 without biomass: 2 ha of loss, emissions from one pixel
    assert rows.loc[2002, "tree_cover_loss_ha"] == pytest.approx(2.0)
    assert rows.loc[2002, "gross_emissions_t_co2e"] == pytest.approx(100 * C_TOTAL * TO_CO2)
    assert rows.loc[2002, "full_extent_loss_ha"] == pytest.approx(1.0)
    assert out.attrs["manifest"]["loss_without_estimate_ha"] == pytest.approx(1.0)
    # 2003: (2,0) tcd 100, AGB 300
    assert rows.loc[2003, "bgb_t_co2e"] == pytest.approx(300 * 0.26 * 0.47 * TO_CO2)
    assert rows.loc[2003, "deadwood_t_co2e"] == pytest.approx(300 * 0.06 * 0.47 * TO_CO2)


def test_inclusive_threshold_and_soil(tmp_path: Path) -> None:
    layers = _tiny(tmp_path)
    soil = write_raster(tmp_path / "soc.tif", np.full((3, 3), 60, np.float32), crs=ALBERS, transform=T, nodata=-1)
    out = loss_emissions(
        **layers, last_year=2003, domain="tropical", annual_precip=2000, elevation=100, inclusive=True,
        soil_carbon=str(soil), soil_f_lu=0.8,
    )
    rows = out.set_index("loss_year")
    # ≥ 30: (0,1) joins in 2001; soil 60 × 0.2 / 20 × (2003 − 2001) = 1.2 t C/ha per pixel
    assert rows.loc[2001, "tree_cover_loss_ha"] == pytest.approx(2.0)
    assert rows.loc[2001, "soil_t_co2e"] == pytest.approx(2 * 1.2 * TO_CO2)
    assert rows.loc[2001, "gross_emissions_t_co2e"] == pytest.approx(((100 + 200) * C_TOTAL + 2 * 1.2) * TO_CO2)
    assert rows.loc[2003, "soil_t_co2e"] == 0.0  # lost in the last year: no soil years yet
    assert out.attrs["manifest"]["forest_extent"] == "tree cover 2000 ≥ 30 %"


def test_growing_stock_through_bcef(tmp_path: Path) -> None:
    layers = _tiny(tmp_path)
    gs = write_raster(tmp_path / "gs.tif", np.full((3, 3), 100, np.float32), crs=ALBERS, transform=T, nodata=-1)
    out = loss_emissions(
        layers["tree_cover"], layers["loss_year"], growing_stock=str(gs), bcef=1.5, last_year=2003,
        domain="temperate",
    )
    # 150 t AGB everywhere; temperate dead wood 0.08, litter 0.04
    per_t = 0.47 + 0.26 * 0.47 + 0.08 * 0.47 + 0.04 * 0.37
    assert out.set_index("loss_year").loc[2002, "gross_emissions_t_co2e"] == pytest.approx(2 * 150 * per_t * TO_CO2)


def test_refusals(tmp_path: Path) -> None:
    layers = _tiny(tmp_path)
    with pytest.raises(ConfigError, match="--precip"):
        loss_emissions(**layers, last_year=2003, domain="tropical")
    with pytest.raises(SinkmapError, match=r"code\(s\) \[3\].*--last-year 2003"):
        loss_emissions(**layers, last_year=2002, domain="temperate")
    with pytest.raises(ConfigError, match="exactly one"):
        loss_emissions(layers["tree_cover"], layers["loss_year"], last_year=2003, domain="temperate")


def _geodesic_row_area_m2(top: float, bottom: float, width_deg: float) -> float:
    """GFW's Geodesy.scala pixel area (FACTORS.md §A6), written out independently of sinkmap.kernels.area."""
    a, b = 6378137.0, 6356752.314245179
    e = math.sqrt(1 - (b / a) ** 2)

    def zone(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return math.pi * b * b * (math.atanh(e * s) / e + s / ((1 + e * s) * (1 - e * s)))

    return abs(zone(top) - zone(bottom)) * width_deg / 360


def test_hansen_crop_by_hand(tmp_path: Path) -> None:
    with rasterio.open(TCD) as src:
        tcd, transform, profile = src.read(1), src.transform, src.profile
    with rasterio.open(LOSS) as src:
        loss = src.read(1)
    agb_path = tmp_path / "agb.tif"  # a constant 150 t d.m./ha on the crop's grid (test input, not data)
    write_raster(agb_path, np.full(tcd.shape, 150, np.float32), crs=profile["crs"], transform=transform, nodata=-1)
    row_area_ha = np.array(
        [_geodesic_row_area_m2(transform.f + transform.e * r, transform.f + transform.e * (r + 1), transform.a)
         for r in range(tcd.shape[0])]
    ) / 1e4
    area = np.broadcast_to(row_area_ha[:, None], tcd.shape)
    out = loss_emissions(str(TCD), str(LOSS), agb=str(agb_path), last_year=2018, domain="tropical",
                         annual_precip=2500, elevation=50, raster_dir=tmp_path / "r")
    rows = out.set_index("loss_year")
    assert list(rows.index) == list(range(2001, 2019))
    for n in range(1, 19):
        forest = (loss == n) & (tcd > 30)
        full = (loss == n) & (tcd > 0)
        assert rows.loc[2000 + n, "tree_cover_loss_ha"] == pytest.approx(area[forest].sum(), rel=1e-9, abs=1e-12)
        assert rows.loc[2000 + n, "gross_emissions_t_co2e"] == pytest.approx(
            area[forest].sum() * 150 * C_TOTAL * TO_CO2, rel=1e-9, abs=1e-9)
        assert rows.loc[2000 + n, "full_extent_loss_ha"] == pytest.approx(area[full].sum(), rel=1e-9, abs=1e-12)
    assert (rows["full_extent_loss_ha"] >= rows["tree_cover_loss_ha"]).all()
    assert rows["tree_cover_loss_ha"].sum() > 100  # the crop has real loss in every year
    # about 700 m² per pixel at 16.7° N
    assert 0.0699 < row_area_ha.mean() < 0.0745
    with rasterio.open(tmp_path / "r" / "gross_emissions_forest_extent.tif") as src:
        pixels = src.read(1)
        assert src.tags()["UNITS"] == "t CO2e/ha"
    forest_any = (loss >= 1) & (tcd > 30)
    np.testing.assert_allclose(pixels[forest_any], 150 * C_TOTAL * TO_CO2, rtol=1e-6)
    assert (pixels[~forest_any] == 0).all()


def test_hansen_crop_threshold_comparison(tmp_path: Path) -> None:
    with rasterio.open(TCD) as src:
        tcd, transform, crs = src.read(1), src.transform, src.crs
    with rasterio.open(LOSS) as src:
        loss = src.read(1)
    agb_path = write_raster(tmp_path / "agb.tif", np.full(tcd.shape, 150, np.float32), crs=crs, transform=transform, nodata=-1)
    kw = dict(agb=str(agb_path), last_year=2018, domain="temperate")
    strict = loss_emissions(str(TCD), str(LOSS), **kw).set_index("loss_year")
    inclusive = loss_emissions(str(TCD), str(LOSS), inclusive=True, **kw).set_index("loss_year")
    row_ha = np.array(
        [_geodesic_row_area_m2(transform.f + transform.e * r, transform.f + transform.e * (r + 1), transform.a)
         for r in range(tcd.shape[0])]
    ) / 1e4
    diff = inclusive["tree_cover_loss_ha"] - strict["tree_cover_loss_ha"]
    at_30 = (tcd == 30) & (loss > 0)  # loss pixels at exactly 30 %: in the extent for ≥, not for >
    assert at_30.sum() > 0
    for n in range(1, 19):
        rows_hit, _ = np.nonzero(at_30 & (loss == n))
        assert diff.loc[2000 + n] == pytest.approx(row_ha[rows_hit].sum(), rel=1e-9, abs=1e-12)


def test_cli_writes_table_and_manifest(tmp_path: Path) -> None:
    layers = _tiny(tmp_path)
    out = tmp_path / "loss.csv"
    code = main(["loss", "--tree-cover", layers["tree_cover"], "--loss-year", layers["loss_year"], "--agb", layers["agb"],
                 "--last-year", "2003", "--domain", "tropical", "--precip", "2000", "--elevation", "100", "-o", str(out)])
    assert code == 0
    manifest = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert manifest["forest_extent"] == "tree cover 2000 > 30 %"
    assert manifest["rules"]["bgb_carbon"] == "AGB × 0.26 × 0.47"
    assert any("constants_and_names.py" in row["source"] for row in manifest["factor_rows"])
    assert len(manifest["differences_from_gfw"]) >= 5
    assert "tree_cover_loss_ha" in out.read_text(encoding="utf-8-sig")
    assert main(["loss", "--tree-cover", layers["tree_cover"], "--loss-year", layers["loss_year"], "--agb", layers["agb"],
                 "--last-year", "2003", "--domain", "tropical", "-o", str(tmp_path / "x.csv")]) == 2


def test_hansen_crop_split_into_two_regions(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    with rasterio.open(TCD) as src:
        tcd, transform, crs = src.read(1), src.transform, src.crs
    with rasterio.open(LOSS) as src:
        loss = src.read(1)
    agb_path = write_raster(tmp_path / "agb.tif", np.full(tcd.shape, 100, np.float32), crs=crs, transform=transform, nodata=-1)
    split = 300  # a column boundary: each pixel falls wholly in one region
    x_split = transform.c + transform.a * split
    left, bottom, right, top = (transform.c, transform.f + transform.e * tcd.shape[0], transform.c + transform.a * tcd.shape[1], transform.f)
    regions = gpd.GeoDataFrame({"code": ["W", "E"]}, geometry=[box(left, bottom, x_split, top), box(x_split, bottom, right, top)], crs=crs)
    regions.to_file(tmp_path / "regions.geojson", driver="GeoJSON")
    out = loss_emissions(str(TCD), str(LOSS), agb=str(agb_path), last_year=2018, domain="boreal",
                         regions=tmp_path / "regions.geojson", id_field="code")
    area = np.broadcast_to(np.array(
        [_geodesic_row_area_m2(transform.f + transform.e * r, transform.f + transform.e * (r + 1), transform.a)
         for r in range(tcd.shape[0])])[:, None] / 1e4, tcd.shape)
    per_t = 0.47 + 0.26 * 0.47 + 0.08 * 0.47 + 0.04 * 0.37  # boreal: dead wood 0.08, litter 0.04
    table = out.set_index(["region_id", "loss_year"])
    for code, cols in (("W", slice(0, split)), ("E", slice(split, None))):
        for year in (2005, 2012, 2017):
            hit = ((loss == year - 2000) & (tcd > 30))[:, cols]
            assert table.loc[(code, year), "tree_cover_loss_ha"] == pytest.approx(area[:, cols][hit].sum(), rel=1e-9)
            assert table.loc[(code, year), "gross_emissions_t_co2e"] == pytest.approx(
                area[:, cols][hit].sum() * 100 * per_t * TO_CO2, rel=1e-9)


def test_hansen_crop_same_for_any_chunk_size(tmp_path: Path) -> None:
    with rasterio.open(TCD) as src:
        tcd, transform, crs = src.read(1), src.transform, src.crs
    agb = np.linspace(0, 400, tcd.size, dtype=np.float32).reshape(tcd.shape)  # varies by pixel (test input)
    agb_path = write_raster(tmp_path / "agb.tif", agb, crs=crs, transform=transform, nodata=-1)
    kw = dict(agb=str(agb_path), last_year=2018, domain="tropical", annual_precip=1200, elevation=30)
    whole = loss_emissions(str(TCD), str(LOSS), chunk_size=1024, **kw)
    small = loss_emissions(str(TCD), str(LOSS), chunk_size=129, **kw)
    numbers = whole.columns.drop(["region_id", "name", "loss_year"])
    np.testing.assert_allclose(small[numbers].to_numpy(float), whole[numbers].to_numpy(float), rtol=1e-11, atol=1e-9)
