"""Forest carbon from an above-ground biomass map or a carbon-density map, through the whole pipeline, by hand.

A 3 × 3 grid of 1-ha pixels (equal-area Albers): forest (CLCD 2, deciduous needleleaf, forest_type 3) on the top
row and at (2,1); grassland (4) on the middle row and at (2,2); cropland (1) at (2,0). Climate 8 °C, 700 mm at
about 28.5°N is FAO temperate continental (zone 9): the China Tier-2 domain "north", whose deciduous needleleaf is
Larix alone (cn_forest_type_mix), and the IPCC Table 4.4 "temperate" rows.

Factor rows used by hand (src/sinkmap/data/factors/):
* forest_china_tier2.csv: cn_root_shoot larix 0.212, cn_carbon_fraction larix 0.521;
* forest_root_shoot.csv: temperate conifer R 0.4 (AGB 0–50], 0.29 (50–150], 0.2 (> 150);
* carbon_fraction.csv: wood 0.47, litter 0.37; deadwood_litter.csv: boreal_temperate dead wood 0.08, litter 0.04.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from conftest import write_raster
from sinkmap.apps.pipeline import run_pipeline
from sinkmap.config import load_pipeline
from sinkmap.errors import ConfigError, SinkmapError
from sinkmap.factors import load_factor_tables
from sinkmap.kernels.carbon.forest import FACTOR_SETS, forest_carbon_stocks_from_agb
from sinkmap.kernels.carbon.zones import FAO_ZONE_NAMES
from test_pipeline import ALBERS

TRANSFORM = Affine(100, 0, 0, 0, -100, 3_000_300)
LANDCOVER = np.array([[2, 2, 2], [4, 4, 4], [1, 2, 4]], np.uint8)
FOREST = LANDCOVER == 2
CANOPY = np.where(FOREST, 80, 0).astype(np.uint8)
FOREST_TYPE = np.where(FOREST, 3, 0).astype(np.uint8)
LARIX_C_PER_AGB = 1.212 * 0.521  # (1 + R) × CF: t C per t AGB d.m.


def biomass_case(
    folder: Path,
    layers: dict[str, np.ndarray],
    *,
    temperature: np.ndarray | None = None,
    carbon: dict[str, Any] | None = None,
) -> Path:
    """Write the 3 × 3 case with extra float32 layers (nodata −9999) and return its pipeline file."""
    grid = {"crs": ALBERS, "transform": TRANSFORM}
    write_raster(folder / "lc.tif", LANDCOVER, nodata=0, **grid)
    write_raster(folder / "cc.tif", CANOPY, nodata=255, **grid)
    write_raster(folder / "ftype.tif", FOREST_TYPE, **grid)
    temp = np.full((3, 3), 8.0, np.float32) if temperature is None else temperature
    write_raster(folder / "temp.tif", temp, nodata=-9999, **grid)
    write_raster(folder / "precip.tif", np.full((3, 3), 700.0, np.float32), nodata=-9999, **grid)
    doc_layers: dict[str, Any] = {
        "landcover": {"path": "lc.tif"},
        "canopy_cover": {"path": "cc.tif"},
        "forest_type": {"path": "ftype.tif"},
        "mean_temperature": {"path": "temp.tif"},
        "annual_precip": {"path": "precip.tif"},
    }
    for role, values in layers.items():
        write_raster(folder / f"{role}.tif", values.astype(np.float32), nodata=-9999, **grid)
        doc_layers[role] = {"path": f"{role}.tif"}
    regions = gpd.GeoDataFrame({"id": ["A"], "name": ["a"]}, geometry=[box(0, 3_000_000, 300, 3_000_300)], crs=ALBERS)
    regions.to_file(folder / "regions.gpkg", driver="GPKG")
    doc: dict[str, Any] = {
        "name": "biomass",
        "output_dir": "out",
        "epochs": [2020],
        "chunk_size": 16,
        "targets": "none",
        "layers": doc_layers,
        "regions": [{"level": "province", "path": "regions.gpkg", "id_field": "id", "name_field": "name"}],
    }
    if carbon:
        doc["carbon"] = carbon
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _on_forest(values: list[float]) -> np.ndarray:
    """Values on the four forest pixels (0,0) (0,1) (0,2) (2,1), 0 elsewhere."""
    out = np.zeros((3, 3), np.float32)
    out[[0, 0, 0, 2], [0, 1, 2, 1]] = values
    return out


def _manifest(result: Any) -> dict[str, Any]:
    return json.loads((result.output_dir / "manifest.json").read_text(encoding="utf-8"))


def test_agb_china_tier2_by_hand(tmp_path: Path) -> None:
    agb = _on_forest([100, 50, 200, 80])  # Σ AGB on forest = 430 t d.m. (1-ha pixels)
    result = run_pipeline(load_pipeline(biomass_case(tmp_path, {"agb": agb})))
    row = result.tables["province"].iloc[0]
    # Larix: BGB = 0.212 × AGB; carbon = 0.521 × biomass
    assert row["forest_agb_t_c_2020"] == pytest.approx(430 * 0.521, rel=1e-6)  # 224.03
    assert row["forest_bgb_t_c_2020"] == pytest.approx(430 * 0.212 * 0.521, rel=1e-6)  # 47.49436
    assert row["forest_carbon_t_c_2020"] == pytest.approx(430 * LARIX_C_PER_AGB, rel=1e-6)  # 271.52436
    assert row["forest_biomass_t_dm_2020"] == pytest.approx(430 * 1.212, rel=1e-6)  # 521.16
    assert row["forest_carbon_density_t_c_per_ha_2020"] == pytest.approx(430 * LARIX_C_PER_AGB / 4, rel=1e-6)
    assert row["forest_carbon_input"].startswith("agb layer")
    assert row["forest_factor_set"].startswith("China Tier 2")
    with rasterio.open(result.output_dir / "rasters" / "carbon_density_2020.tif") as src:
        assert src.read(1)[0, 0] == pytest.approx(100 * LARIX_C_PER_AGB, rel=1e-6)  # 63.1452 t C/ha
    chain = _manifest(result)["carbon_chain"]
    assert chain["input"] == "agb" and chain["unit"] == "t d.m./ha" and chain["factor_set"] == "china_tier2"
    assert chain["standard_deviation_layer"] is None
    assert _manifest(result)["columns"]["forest_carbon_input"]["label"] == "forest carbon starts from"


def test_agb_ipcc_tier1_with_dead_organic_matter_by_hand(tmp_path: Path) -> None:
    agb = _on_forest([100, 50, 80, 60])
    path = biomass_case(tmp_path, {"agb": agb}, carbon={"factor_set": "ipcc_tier1", "dead_organic_matter": True})
    row = run_pipeline(load_pipeline(path)).tables["province"].iloc[0]
    # Table 4.4 temperate conifer, held flat where R steps down:
    # 100 → 0.29 × 100 = 29; 50 → 0.4 × 50 = 20 (first class includes 50); 80 → 23.2;
    # 60 → 0.29 × 60 = 17.4 < 20 (the most the (0, 50] class reaches) → 20
    bgb = 29 + 20 + 23.2 + 20  # 92.2
    assert row["forest_bgb_t_c_2020"] == pytest.approx(bgb * 0.47, rel=1e-6)
    assert row["forest_agb_t_c_2020"] == pytest.approx(290 * 0.47, rel=1e-6)
    assert row["forest_deadwood_t_c_2020"] == pytest.approx(290 * 0.08 * 0.47, rel=1e-6)  # 10.904
    assert row["forest_litter_t_c_2020"] == pytest.approx(290 * 0.04 * 0.37, rel=1e-6)  # 4.292
    assert row["forest_carbon_t_c_2020"] == pytest.approx((290 + bgb) * 0.47 + 10.904 + 4.292, rel=1e-6)  # 194.83
    assert row["forest_factor_set"].startswith("IPCC Tier 1")


def test_carbon_density_used_directly(tmp_path: Path) -> None:
    density = _on_forest([60, 30.5, 0, 120])
    sd = _on_forest([6, 3, 1, 12])
    path = biomass_case(tmp_path, {"carbon_density": density, "carbon_density_sd": sd})
    result = run_pipeline(load_pipeline(path))
    row = result.tables["province"].iloc[0]
    assert row["forest_carbon_t_c_2020"] == pytest.approx(210.5, rel=1e-6)
    assert row["forest_vegetation_carbon_t_c_2020"] == pytest.approx(210.5, rel=1e-6)
    assert row["forest_carbon_density_t_c_per_ha_2020"] == pytest.approx(210.5 / 4, rel=1e-6)
    # no pools and no biomass from a carbon density: those columns are absent, not 0
    assert "forest_agb_t_c_2020" not in row and "forest_biomass_t_dm_2020" not in row
    assert row["forest_pools"].startswith("AGB + BGB as the carbon_density layer")
    assert row["forest_carbon_input"].startswith("carbon_density layer")
    with rasterio.open(result.output_dir / "rasters" / "carbon_density_2020.tif") as src:
        assert src.read(1)[0, 0] == pytest.approx(60.0)  # the forest pixel carries the layer's value
    manifest = _manifest(result)
    chain = manifest["carbon_chain"]
    assert chain["input"] == "carbon_density" and chain["factor_set"] is None and chain["pools"] == ["vegetation"]
    assert chain["standard_deviation_layer"]["role"] == "carbon_density_sd"
    assert chain["standard_deviation_layer"]["unit"] == "t C/ha"
    assert manifest["input_checks"]["carbon_density_sd"]["valid_pixels"] == 9  # read and checked like any input


def test_most_direct_input_wins_and_stock_volume_still_reported(tmp_path: Path) -> None:
    gsv = _on_forest([100, 100, 100, 100])
    agb = _on_forest([10, 10, 10, 10])
    result = run_pipeline(load_pipeline(biomass_case(tmp_path, {"growing_stock": gsv, "agb": agb})))
    row = result.tables["province"].iloc[0]
    assert row["forest_carbon_t_c_2020"] == pytest.approx(40 * LARIX_C_PER_AGB, rel=1e-6)  # from agb
    assert row["stock_volume_m3_2020"] == pytest.approx(400, rel=1e-6)  # from growing_stock
    chain = _manifest(result)["carbon_chain"]
    assert chain["input"] == "agb" and chain["other_biomass_layers_not_used_for_carbon"] == ["growing_stock"]


def test_negative_standard_deviation_is_an_error(tmp_path: Path) -> None:
    path = biomass_case(tmp_path, {"agb": _on_forest([1, 2, 3, 4]), "agb_sd": _on_forest([1, -2, 1, 1])})
    with pytest.raises(SinkmapError, match=r"agb_sd.*-2"):
        run_pipeline(load_pipeline(path))


def test_standard_deviation_without_its_layer(tmp_path: Path) -> None:
    path = biomass_case(tmp_path, {"growing_stock": _on_forest([1, 2, 3, 4]), "agb_sd": _on_forest([1, 1, 1, 1])})
    with pytest.raises(ConfigError, match=r"layers\.agb_sd .*no `agb` layer"):
        load_pipeline(path)


def test_dead_organic_matter_needs_biomass_not_carbon_density(tmp_path: Path) -> None:
    path = biomass_case(tmp_path, {"carbon_density": _on_forest([1, 2, 3, 4])}, carbon={"dead_organic_matter": True})
    with pytest.raises(ConfigError, match=r"pipeline\.yaml: carbon\.dead_organic_matter: true needs biomass"):
        load_pipeline(path)


_ZONES = [z for z in FAO_ZONE_NAMES if z > 0]


@settings(max_examples=200, deadline=None)
@given(
    a1=st.floats(0.0, 1500.0),
    da=st.floats(0.0, 500.0),
    forest_type=st.integers(1, 6),
    zone=st.sampled_from(_ZONES),
    precip=st.floats(50.0, 3000.0),
    factor_set=st.sampled_from(sorted(FACTOR_SETS)),
    dom=st.booleans(),
)
def test_more_agb_never_less_carbon(
    a1: float, da: float, forest_type: int, zone: int, precip: float, factor_set: str, dom: bool
) -> None:
    """Under every shipped factor set: more above-ground biomass never gives less biomass or carbon in any pool."""
    tables = load_factor_tables()
    r = forest_carbon_stocks_from_agb(
        np.array([a1, a1 + da]), np.full(2, forest_type), np.full(2, zone), tables=tables, factor_set=factor_set,
        annual_precip_mm_per_yr=np.full(2, precip), dead_organic_matter=dom,
    )
    assert np.isfinite(r.total_t_c_per_ha).all()
    for pool in (r.bgb_t_dm_per_ha, r.agb_t_c_per_ha, r.bgb_t_c_per_ha, r.vegetation_t_c_per_ha, r.total_t_c_per_ha):
        assert pool[1] >= pool[0] - 1e-9 * max(1.0, abs(pool[0]))


def test_without_any_biomass_layer_tree_stands_are_not_estimated(tmp_path: Path) -> None:
    """No growing_stock, agb or carbon_density: no tree-stand carbon (not the biomass of zero volume), said so."""
    result = run_pipeline(load_pipeline(biomass_case(tmp_path, {})))
    row = result.tables["province"].iloc[0]
    assert row["forest_carbon_input"].startswith("no biomass layer")
    assert row["forest_carbon_t_c_2020"] == 0.0 and row["forest_carbon_observed_share_pct_2020"] == 0.0
    assert np.isnan(row["forest_carbon_density_t_c_per_ha_2020"])  # no forest with an estimate: no density
    with rasterio.open(result.output_dir / "rasters" / "carbon_density_2020.tif") as src:
        density = src.read(1, masked=True)
    assert density.mask[FOREST].all() and not density.mask[~FOREST].any()
    assert _manifest(result)["carbon_chain"]["input"] == "none"


def test_biomass_input_chosen_by_the_pipeline(tmp_path: Path) -> None:
    """carbon.biomass_input: growing_stock keeps the volume chain although an agb layer is there. Larix, China
    Tier 2: B = 0.6096 × 100 + 33.806 = 94.766 t d.m./ha, × 0.521 = 49.373086 t C/ha on each of 4 ha."""
    layers = {"growing_stock": _on_forest([100, 100, 100, 100]), "agb": _on_forest([10, 10, 10, 10])}
    result = run_pipeline(load_pipeline(biomass_case(tmp_path, layers, carbon={"biomass_input": "growing_stock"})))
    row = result.tables["province"].iloc[0]
    assert row["forest_carbon_t_c_2020"] == pytest.approx(4 * 49.373086, rel=1e-6)
    assert row["forest_carbon_input"].startswith("growing_stock layer")
    chain = _manifest(result)["carbon_chain"]
    assert chain["input"] == "growing_stock" and chain["other_biomass_layers_not_used_for_carbon"] == ["agb"]


@pytest.mark.parametrize(
    ("carbon", "message"),
    [
        ({"biomass_input": "lidar"}, r"carbon\.biomass_input: 'lidar' is not known"),
        ({"biomass_input": "carbon_density"}, r"needs a layers\.carbon_density layer"),
    ],
)
def test_biomass_input_errors(tmp_path: Path, carbon: dict[str, Any], message: str) -> None:
    path = biomass_case(tmp_path, {"agb": _on_forest([1, 2, 3, 4])}, carbon=carbon)
    with pytest.raises(ConfigError, match=message) as err:
        load_pipeline(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_uncertainty_says_forest_carbon_from_agb_has_no_strata_model(tmp_path: Path) -> None:
    """The strata model starts from growing stock; a run whose forest carbon starts from an AGB layer publishes no
    forest-carbon interval (rather than one of another chain) and its manifest says why."""
    agb = _on_forest([100.0, 200.0, 300.0, 400.0])
    gsv = _on_forest([100.0, 150.0, 200.0, 250.0])
    path = biomass_case(tmp_path, {"agb": agb, "growing_stock": gsv})
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["uncertainty"] = {"draws": 500, "seed": 1}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = run_pipeline(load_pipeline(path))
    status = _manifest(result)["uncertainty"]["status"]
    assert status["forest carbon"].startswith("not estimated: the forest chain starts from growing stock")
    table = result.tables["province"]
    assert not any(c.startswith("forest_carbon_t_c_2020_") for c in table.columns)
