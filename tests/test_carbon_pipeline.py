"""The carbon step through the whole pipeline on 1-ha pixels: totals equal hand sums of per-pixel densities."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import yaml
from affine import Affine
from shapely.geometry import box

from conftest import write_raster
from sinkmap.apps.pipeline import run_pipeline
from sinkmap.config import load_pipeline
from sinkmap.factors import packaged_factor_tables
from sinkmap.kernels.carbon import change, grassland, karst, zones
from sinkmap.kernels.carbon import forest as forest_carbon
from test_pipeline import ALBERS, PRECIP, STOCK, _pipeline, _write_case

TEMPERATURE = np.full((4, 4), 16.0, np.float32)
FOREST_TYPE = np.array([[2, 4, 0, 0], [6, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], np.uint8)
CARBONATE = np.array([[1, 1, 0, 0], [2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], np.uint8)
WETLAND = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [2, 0, 0, 0], [0, 3, 4, 1]], np.uint8)
RESTORED = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]], np.uint8)  # the mangrove and salt marsh


@pytest.fixture
def carbon_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    transform = Affine(100, 0, 0, 0, -100, 3_000_400)  # 1-ha pixels, equal-area
    _write_case(tmp_path, ALBERS, transform, second_epoch_changes=False)
    for name, arr in [
        ("temp", TEMPERATURE), ("ftype", FOREST_TYPE), ("carb", CARBONATE), ("wet", WETLAND), ("restored", RESTORED)
    ]:
        write_raster(tmp_path / f"{name}.tif", arr, crs=ALBERS, transform=transform)
    regions = gpd.GeoDataFrame({"id": ["A"], "name": ["全域"]}, geometry=[box(0, 3_000_000, 400, 3_000_400)], crs=ALBERS)
    path = _pipeline(tmp_path, regions)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["layers"].update(
        mean_temperature={"path": "temp.tif"},
        forest_type={"path": "ftype.tif"},
        carbonate={"path": "carb.tif"},
        wetland_type={"path": "wet.tif"},
        wetland_restoration={"path": "restored.tif"},
    )
    # the same stock in both epochs except one pixel that grows by 60 m³/ha
    stock_2025 = STOCK.copy()
    stock_2025[0, 0] += 60
    write_raster(tmp_path / "gsv_2025.tif", stock_2025, crs=ALBERS, transform=transform, nodata=-9999)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return run_pipeline(load_pipeline(path)), stock_2025


def test_carbon_totals_equal_sum_of_pixel_densities(carbon_run) -> None:  # type: ignore[no-untyped-def]
    result, stock_2025 = carbon_run
    row = result.tables["province"].iloc[0]
    tables = packaged_factor_tables()
    lat = np.full((4, 4), row_lat := 27.1)  # pixels lie at ≈ 27.1°N (Albers y = 3,000,000 m)
    eco = zones.fao_ecological_zone(TEMPERATURE, PRECIP, lat)
    # forest pixels: tree stands (0,0) (0,1) (1,2); bamboo (1,0): forest type 6 in a forest class is bamboo, which
    # takes precedence over tree stands. The China forest definition selects the China Tier-2 factor set; dead wood
    # and litter are not estimated (Tier 1 zero change).
    stands = np.zeros((4, 4), bool)
    stands[[0, 0, 1, 1], [0, 1, 0, 2]] = True
    ftype = np.where(np.isin(FOREST_TYPE, (1, 2, 3, 4, 5, 6)), FOREST_TYPE, 5)
    assert row["bamboo_area_km2_2020"] == pytest.approx(0.01)
    assert row["forest_factor_set"].startswith("China Tier 2")
    assert "forest_deadwood_t_c_2020" not in row and "not estimated" in row["forest_pools"]
    for epoch, stock in ((2020, STOCK), (2025, stock_2025)):
        pools = forest_carbon.forest_carbon_stocks_china(
            np.maximum(stock, 0), ftype, eco, tables=tables, valid=stands
        )
        expected = np.nansum(pools.vegetation_t_c_per_ha)  # t C/ha × 1 ha per pixel
        assert row[f"forest_carbon_t_c_{epoch}"] == pytest.approx(expected, rel=1e-6), row_lat
        assert row[f"forest_vegetation_carbon_t_c_{epoch}"] == pytest.approx(expected, rel=1e-6)
        assert row[f"forest_agb_t_c_{epoch}"] == pytest.approx(np.nansum(pools.agb_t_c_per_ha), rel=1e-6)
    # stock difference over 5 years, sink positive
    assert row["forest_sink_t_c_per_yr"] == pytest.approx(
        (row["forest_carbon_t_c_2025"] - row["forest_carbon_t_c_2020"]) / 5, rel=1e-9
    )
    assert row["forest_sink_t_c_per_yr"] > 0
    assert row["forest_sink_t_co2e_per_yr"] == pytest.approx(row["forest_sink_t_c_per_yr"] * 44 / 12)


def test_wetland_and_karst_by_hand(carbon_run) -> None:  # type: ignore[no-untyped-def]
    result, _ = carbon_run
    row = result.tables["province"].iloc[0]
    tables = packaged_factor_tables()
    # one pixel each of mangrove, salt marsh, seagrass, inland marsh (1 ha); (3,*) row: (3,0) is no-data land cover
    # but wetland layers are counted wherever they lie inside the region
    assert row["wetland_mangrove_area_km2"] == pytest.approx(0.01)
    assert row["wetland_salt_marsh_area_km2"] == pytest.approx(0.01)
    # WS Table 4.12 on the restored mangrove (1.62) and salt marsh (0.91) only, t C/ha/yr (sink positive); the
    # seagrass pixel is not restored and the inland marsh has no Table 4.12 rate
    assert row["wetland_sink_t_c_per_yr"] == pytest.approx(1.62 + 0.91, rel=1e-9)
    # inland marsh CH4, warm temperate: 235 kg CH4/ha/yr x GWP 27 = 6.345 t CO2e/yr (coastal pixels without
    # salinity are taken as >= 18 ppt: 0); net GHG = 2.53 x 44/12 - 6.345
    assert row["wetland_ch4_t_co2e_per_yr"] == pytest.approx(6.345, rel=1e-9)
    assert row["wetland_net_ghg_t_co2e_per_yr"] == pytest.approx(2.53 * 44 / 12 - 6.345, rel=1e-9)
    assert tables.value("gwp", wetland_class="ch4") == 27
    # karst: exposed carbonate at (0,0) (0,1) (2,1) (3,3): 4 ha; buried (1,0): 1 ha
    assert row["karst_exposed_area_km2"] == pytest.approx(0.04)
    assert row["karst_buried_area_km2"] == pytest.approx(0.01)
    flux = karst.karst_sink_mpd_t_c_per_km2_yr(TEMPERATURE, PRECIP, CARBONATE, ionic_strength_mol_per_l=None)
    assert row["karst_potential_sink_t_c_per_yr"] == pytest.approx(np.nansum(flux) * 0.01, rel=1e-6)  # × 0.01 km²
    # the potential karst sink stays outside the total; grassland SOC change is not estimated (empty, with a reason)
    assert "karst_sink_t_c_per_yr" not in row and "grassland_sink_t_c_per_yr" not in row
    assert row["grassland_sink_status"].startswith("not estimated")
    assert row["total_sink_t_c_per_yr"] == pytest.approx(row["forest_sink_t_c_per_yr"] + row["wetland_sink_t_c_per_yr"])


def test_carbon_outputs_and_manifest(carbon_run) -> None:  # type: ignore[no-untyped-def]
    import json

    import rasterio

    result, _ = carbon_run
    out = result.output_dir
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["factor_tables"] and all(t["sha256"] for t in manifest["factor_tables"])
    assert "positive" in manifest["sign_convention"]
    with rasterio.open(out / "rasters" / "carbon_sink.tif") as src:
        assert src.tags()["UNITS"] == "t C/ha/yr" and "sink positive" in src.tags()["SIGN_CONVENTION"]
    with rasterio.open(out / "rasters" / "carbon_density_2020.tif") as src:
        assert src.read(1)[0, 0] > 0
    transitions = (out / "transitions.csv").read_text(encoding="utf-8-sig")
    assert "from_class" in transitions.splitlines()[0]


def test_karst_catchment_table(tmp_path: Path) -> None:
    """Hydrochemical-runoff path: ½ × HCO3⁻ × Q × 12/61 / A, by hand for one catchment."""
    import pandas as pd

    _write_case(tmp_path, ALBERS, Affine(100, 0, 0, 0, -100, 3_000_400))
    regions = gpd.GeoDataFrame({"id": ["A"], "name": ["a"]}, geometry=[box(0, 3_000_000, 400, 3_000_400)], crs=ALBERS)
    path = _pipeline(tmp_path, regions)
    (tmp_path / "catchments.csv").write_text(
        "catchment_id,area_km2,discharge_l_per_s,hco3_mg_per_l\nHouzhai,73.5,1500,244\n", encoding="utf-8"
    )
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["carbon"] = {"karst_catchments": "catchments.csv"}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = run_pipeline(load_pipeline(path)).output_dir
    row = pd.read_csv(out / "karst_catchments.csv", encoding="utf-8-sig").iloc[0]
    # 244 mg/L × 1500 L/s × 31,536,000 s/yr = 1.1542e13 mg = 11,542 t HCO3⁻/yr; × 12/61 × ½ = 1135.3 t C/yr
    expected_t_c = 0.5 * 244 * 1500 * 31_536_000 * 1e-9 * 12 / 61
    assert row["karst_sink_t_c_per_yr"] == pytest.approx(expected_t_c, rel=1e-9)
    assert row["karst_sink_t_c_per_km2_yr"] == pytest.approx(expected_t_c / 73.5, rel=1e-9)


def _tiny(tmp_path: Path, **changes: object) -> Path:
    transform = Affine(100, 0, 0, 0, -100, 3_000_400)
    _write_case(tmp_path, ALBERS, transform, second_epoch_changes=False)
    for name, arr in [("temp", TEMPERATURE), ("ftype", FOREST_TYPE)]:
        write_raster(tmp_path / f"{name}.tif", arr, crs=ALBERS, transform=transform)
    regions = gpd.GeoDataFrame({"id": ["A"], "name": ["a"]}, geometry=[box(0, 3_000_000, 400, 3_000_400)], crs=ALBERS)
    path = _pipeline(tmp_path, regions)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["layers"].update(mean_temperature={"path": "temp.tif"}, forest_type={"path": "ftype.tif"})
    doc.update(changes)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_one_epoch_gross_removals_minus_losses(tmp_path: Path) -> None:
    """One epoch with a loss_year layer: forest sink = gross removals (Table 4.9) on the standing tree stands minus
    the biomass carbon of the stand lost since the base year, spread over those years."""
    loss = np.zeros((4, 4), np.uint8)
    loss[0, 1] = 10  # the (0,1) stand (100 m³/ha, evergreen needleleaf) was cleared in 2010
    write_raster(tmp_path / "loss.tif", loss, crs=ALBERS, transform=Affine(100, 0, 0, 0, -100, 3_000_400))
    path = _tiny(tmp_path, epochs=[2020])
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["layers"]["landcover"] = {"path": "lc_2020.tif"}
    doc["layers"]["canopy_cover"] = {"path": "cc_2020.tif"}
    doc["layers"]["growing_stock"] = {"path": "gsv_2020.tif"}
    doc["layers"]["loss_year"] = {"path": "loss.tif", "base_year": 2000}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    row = run_pipeline(load_pipeline(path)).tables["province"].iloc[0]
    tables = packaged_factor_tables()
    eco = zones.fao_ecological_zone(TEMPERATURE, PRECIP, np.full((4, 4), 27.1))
    standing = np.zeros((4, 4), bool)
    standing[[0, 1], [0, 2]] = True  # (1,0) is bamboo; (0,1) is lost
    gain = change.forest_growth_removals(eco, np.full((4, 4), 2), tables=tables, valid=standing)
    gross = float(np.nansum(gain.agb_t_c_per_ha_yr + gain.bgb_t_c_per_ha_yr))  # t C/yr over 1-ha pixels
    lost = forest_carbon.forest_carbon_stocks_china(np.array([100.0]), np.array([4]), eco[0, 1:2], tables=tables)
    assert row["forest_gain_ipcc_t_c_per_yr_2020"] == pytest.approx(gross, rel=1e-6)
    assert row["forest_sink_t_c_per_yr"] == pytest.approx(gross - lost.vegetation_t_c_per_ha[0] / 20, rel=1e-6)
    assert row["forest_sink_method"].startswith("gross removals")


def test_series_break_and_tier1_selection(tmp_path: Path) -> None:
    path = _tiny(tmp_path, carbon={"factor_set": "ipcc_tier1", "monitoring_base": {2020: "NFI", 2025: "三调"}})
    config = load_pipeline(path)
    assert config.carbon.factor_set == "ipcc_tier1" and config.carbon.monitoring_base == ((2020, "NFI"), (2025, "三调"))
    row = run_pipeline(config).tables["province"].iloc[0]
    assert row["series_break"].startswith("yes")
    assert row["forest_factor_set"].startswith("IPCC Tier 1")


def test_default_factor_set_follows_the_definition(tmp_path: Path) -> None:
    assert load_pipeline(_tiny(tmp_path)).carbon.factor_set == "china_tier2"
    other = _tiny(tmp_path, forest_definition={"name": "FAO forest", "canopy_cover_min_pct": 10})
    assert load_pipeline(other).carbon.factor_set == "ipcc_tier1"


@pytest.mark.parametrize(
    ("carbon", "message"),
    [
        ({"factor_set": "tier3"}, "carbon.factor_set: 'tier3' is not known"),
        ({"dead_organic_matter": "yes"}, "carbon.dead_organic_matter: expected true or false"),
        ({"monitoring_base": {2019: "NFI"}}, "carbon.monitoring_base: 2019 is not one of the epochs"),
    ],
)
def test_carbon_option_errors(tmp_path: Path, carbon: dict[str, object], message: str) -> None:
    from sinkmap.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_pipeline(_tiny(tmp_path, carbon=carbon))


def test_forest_definition_option_errors(tmp_path: Path) -> None:
    from sinkmap.errors import ConfigError

    with pytest.raises(ConfigError, match="coverage_basis 'land' is not known"):
        load_pipeline(_tiny(tmp_path, forest_definition={"coverage_basis": "land"}))
    with pytest.raises(ConfigError, match="class_needs_canopy: expected true or false"):
        load_pipeline(_tiny(tmp_path, forest_definition={"class_needs_canopy": 1}))


def test_dead_organic_matter_when_asked(tmp_path: Path) -> None:
    """carbon.dead_organic_matter: true adds dead wood and litter (Tier-1 fractions of AGB) to the forest pools."""
    row = run_pipeline(load_pipeline(_tiny(tmp_path, carbon={"dead_organic_matter": True}))).tables["province"].iloc[0]
    assert row["forest_pools"] == "AGB + BGB + dead wood + litter"
    assert row["forest_deadwood_t_c_2020"] > 0 and row["forest_litter_t_c_2020"] > 0
    assert row["forest_carbon_t_c_2020"] == pytest.approx(
        row["forest_vegetation_carbon_t_c_2020"] + row["forest_deadwood_t_c_2020"] + row["forest_litter_t_c_2020"]
    )


def test_gross_removals_take_the_age_class_from_a_layer(tmp_path: Path) -> None:
    """A forest_age layer selects the Table 4.9 column per pixel (here (0,0) is young secondary forest); without
    one every stand is secondary > 20 yr."""
    age = np.full((4, 4), 2, np.uint8)
    age[0, 0] = 1
    write_raster(tmp_path / "age.tif", age, crs=ALBERS, transform=Affine(100, 0, 0, 0, -100, 3_000_400))
    path = _tiny(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["layers"]["forest_age"] = {"path": "age.tif"}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    row = run_pipeline(load_pipeline(path)).tables["province"].iloc[0]
    tables = packaged_factor_tables()
    eco = zones.fao_ecological_zone(TEMPERATURE, PRECIP, np.full((4, 4), 27.1))
    stands = np.zeros((4, 4), bool)
    stands[[0, 0, 1], [0, 1, 2]] = True  # (1,0) is bamboo
    gain = change.forest_growth_removals(eco, age, tables=tables, valid=stands)
    expected = float(np.nansum(gain.agb_t_c_per_ha_yr + gain.bgb_t_c_per_ha_yr))
    assert row["forest_gain_ipcc_t_c_per_yr_2025"] == pytest.approx(expected, rel=1e-6)
    older = change.forest_growth_removals(eco, np.full((4, 4), 2), tables=tables, valid=stands)
    assert expected != pytest.approx(float(np.nansum(older.agb_t_c_per_ha_yr + older.bgb_t_c_per_ha_yr)))


def test_mangrove_counted_once(tmp_path: Path) -> None:
    """A mangrove pixel that is also a tree stand carries mangrove biomass only, not forest biomass as well."""
    transform = Affine(100, 0, 0, 0, -100, 3_000_400)
    wet = np.zeros((4, 4), np.uint8)
    wet[0, 0] = 2  # the 120 m³/ha tree stand at (0,0) is a mangrove
    path = _tiny(tmp_path)
    write_raster(tmp_path / "wet.tif", wet, crs=ALBERS, transform=transform)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["layers"]["wetland_type"] = {"path": "wet.tif"}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    row = run_pipeline(load_pipeline(path)).tables["province"].iloc[0]
    tables = packaged_factor_tables()
    eco = zones.fao_ecological_zone(TEMPERATURE, PRECIP, np.full((4, 4), 27.1))
    stands = np.zeros((4, 4), bool)
    stands[[0, 1, 1], [1, 0, 2]] = True  # (0,0) left out: it is the mangrove
    ftype = np.where(np.isin(FOREST_TYPE, (1, 2, 3, 4, 5, 6)), FOREST_TYPE, 5)
    pools = forest_carbon.forest_carbon_stocks_china(np.maximum(STOCK, 0), ftype, eco, tables=tables, valid=stands)
    assert row["forest_vegetation_carbon_t_c_2020"] == pytest.approx(np.nansum(pools.vegetation_t_c_per_ha), rel=1e-6)
    assert row["forest_area_km2_2020"] == pytest.approx(0.07)  # still forest area
    assert row["mangrove_biomass_t_c"] > 0


def test_grassland_soc_change_from_a_management_layer(tmp_path: Path) -> None:
    """Grassland (0,3) goes from nominally managed to severely degraded: F_MG 1 → 0.7 (IPCC Table 6.2, temperate),
    so SOC changes by SOC_ref × (0.7 − 1) / 20 per year over the 20-yr transition (a loss: negative sink)."""
    transform = Affine(100, 0, 0, 0, -100, 3_000_400)
    before = np.ones((4, 4), np.uint8)
    after = before.copy()
    after[0, 3] = 3
    write_raster(tmp_path / "mg_2020.tif", before, crs=ALBERS, transform=transform)
    write_raster(tmp_path / "mg_2025.tif", after, crs=ALBERS, transform=transform)
    path = _tiny(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["layers"]["grassland_management"] = {"paths": {2020: "mg_2020.tif", 2025: "mg_2025.tif"}}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    row = run_pipeline(load_pipeline(path)).tables["province"].iloc[0]
    climate = zones.ipcc_climate_zone(TEMPERATURE, PRECIP, np.full((4, 4), 27.1))
    assert 5 <= climate[0, 3] <= 8  # warm temperate: the temperate/boreal F_MG row applies
    soc_ref = grassland.soil_organic_carbon_t_c_per_ha(climate[0, 3], tables=packaged_factor_tables())
    assert row["grassland_sink_t_c_per_yr"] == pytest.approx(float(soc_ref) * (0.7 - 1.0) / 20, rel=1e-6)
    assert "grassland_sink_status" not in row


def test_grassland_management_needs_every_epoch(tmp_path: Path) -> None:
    from sinkmap.errors import ConfigError

    write_raster(tmp_path / "mg.tif", np.ones((4, 4), np.uint8), crs=ALBERS, transform=Affine(100, 0, 0, 0, -100, 3_000_400))
    path = _tiny(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["layers"]["grassland_management"] = {"paths": {2020: "mg.tif"}}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"grassland_management\.paths has no files for epoch\(s\) \[2025\]"):
        load_pipeline(path)
