"""The default pipeline on the embedded sample: calibration, reference orders of magnitude, hierarchy, real pixels.

These run the whole `make pipeline` job once per session (about a minute on 2 cores), hence `slow`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def _nation(sample_run: Any) -> Any:
    return sample_run.tables["nation"].iloc[0]


# The synthetic sample was calibrated (scripts/make_sample_data.py) under the forest definition sinkmap had then:
# a forest land-cover class alone made a tree stand, shrubland on any exposed karst counted, coverage over mapped
# land. The calibration checks run under that definition; the default (China's definition as written) gives lower
# coverage on the same pixels (docs/SCIENCE_CHANGES.md).
LEGACY_DEFINITION = {
    "class_needs_canopy": False,
    "coverage_basis": "mapped_land",
    "special_shrubland": {"karst_min_temperature_c": None, "karst_max_latitude_deg": None},
}


@pytest.fixture(scope="module")
def legacy_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import yaml

    from conftest import sample_pipeline_doc
    from sinkmap.apps.pipeline import run_pipeline
    from sinkmap.config import load_pipeline

    doc = sample_pipeline_doc()  # the copy lives elsewhere: its relative paths made absolute
    doc["forest_definition"] = LEGACY_DEFINITION
    doc["carbon"] = {"enabled": False}  # also drops the sample's monitoring_base
    doc["outputs"] = {"rasters": []}
    doc.pop("accuracy", None)  # the calibration check needs neither accuracy-adjusted areas nor intervals
    doc.pop("uncertainty", None)
    folder = tmp_path_factory.mktemp("legacy")
    path = folder / "legacy_definition.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return run_pipeline(load_pipeline(path), output_dir=folder / "run")


@pytest.mark.parametrize(
    ("epoch", "coverage_pct", "stock_bn_m3"),
    [
        (2020, 22.96, 17.56),  # 9th National Forest Inventory (2014–2018), TARGETS.md / FACTORS.md §D1
        (2025, 25.09, 20.99),  # 2025 national greening bulletin (Third Land Survey base), FACTORS.md §D1
    ],
)
def test_national_totals_match_calibration(legacy_run: Any, epoch: int, coverage_pct: float, stock_bn_m3: float) -> None:
    """Under the definition it was calibrated with, the sample reproduces these national figures within 2 %."""
    row = _nation(legacy_run)
    assert row[f"coverage_pct_{epoch}"] == pytest.approx(coverage_pct, rel=0.02)
    assert row[f"stock_volume_m3_{epoch}"] / 1e9 == pytest.approx(stock_bn_m3, rel=0.02)


def test_province_figures_match_calibration(legacy_run: Any) -> None:
    """Provinces with a published 9th-NFI coverage (FACTORS.md §D3) come out within 2 points."""
    import pandas as pd

    figures = pd.read_csv(ROOT / "rasters" / "calibration" / "province_figures.csv", dtype={"adcode": str})
    table = legacy_run.tables["province"].set_index("region_id")
    checked = 0
    for _, fig in figures.iterrows():
        if fig["adcode"] in ("810000", "820000"):  # Hong Kong and Macau are a few 1-km pixels
            continue
        assert table.loc[fig["adcode"], "coverage_pct_2020"] == pytest.approx(fig["coverage_pct_2020"], abs=2.0)
        checked += 1
    assert checked >= 30


def test_default_definition_on_the_sample(sample_run: Any, legacy_run: Any) -> None:
    """China's definition as written: 疏林地 and karst shrubland outside the (sub)tropics leave the forest, bamboo is
    counted as bamboo, stock density is per tree-stand area (9th NFI: 94.83 m³/ha of 乔木林, FACTORS.md §D1)."""
    row, old = _nation(sample_run), _nation(legacy_run)
    assert row["forest_area_km2_2020"] < old["forest_area_km2_2020"]
    assert row["bamboo_area_km2_2020"] > 0 and old["bamboo_area_km2_2020"] > 0
    assert row["coverage_basis"] == "region area (土地总面积)"
    # the denominator is the region's area from exact cell coverage; region_area_km2 is its geodesic polygon area
    assert row["coverage_pct_2020"] == pytest.approx(100 * row["forest_area_km2_2020"] / row["region_area_km2"], rel=1e-6)
    assert row["stock_density_m3_per_ha_2020"] == pytest.approx(94.83, rel=0.05)


@pytest.mark.xfail(
    strict=True,
    reason="China Tier-2 (Fang et al. 2001 B = aV + b, values recalled [M]) gives 0.85x the 9th NFI's forest vegetation "
    "biomass on the sample; no special-shrubland biomass factor exists (docs/SCIENCE_CHANGES.md)",
)
def test_forest_biomass_and_carbon_match_9th_nfi(sample_run: Any) -> None:
    """9th NFI (2014–2018): forest vegetation biomass 188.02 亿 t and carbon 91.86 亿 t (FACTORS.md §D1), on the base
    of the whole forest area (tree stands, bamboo, special shrubland) with 175.6 亿 m³ of stock; within ±3 %."""
    row = _nation(sample_run)
    assert row["forest_biomass_t_dm_2020"] == pytest.approx(18.802e9, rel=0.03)
    assert row["forest_vegetation_carbon_t_c_2020"] == pytest.approx(9.186e9, rel=0.03)


def test_no_pixel_gains_stock_but_loses_carbon(sample_run: Any) -> None:
    """Persisting tree stands whose growing stock rises never lose carbon (213,208 km² did under the step-function
    Tier-1 chain; the China Tier-2 chain is continuous and monotone)."""
    import rasterio
    from rasterio.windows import Window

    rasters = sample_run.output_dir / "rasters"
    names = ("forest_mask_2020", "forest_mask_2025", "stock_volume_2020", "stock_volume_2025",
             "carbon_density_2020", "carbon_density_2025")  # fmt: skip
    handles = [rasterio.open(rasters / f"{n}.tif") for n in names]
    try:
        bad = checked = 0
        height, width = handles[0].height, handles[0].width
        for row in range(0, height, 1024):
            window = Window(0, row, width, min(1024, height - row))
            m0, m1, v0, v1, c0, c1 = (h.read(1, window=window) for h in handles)
            grows = (m0 == 1) & (m1 == 1) & (v1 > v0)
            checked += int(grows.sum())
            bad += int((grows & (c1 < c0 - 1e-3)).sum())
    finally:
        for h in handles:
            h.close()
    assert checked > 100_000
    assert bad == 0


def test_carbon_of_the_right_order(sample_run: Any) -> None:
    row = _nation(sample_run)
    assert row["forest_factor_set"].startswith("China Tier 2")
    # forest vegetation carbon of the order of 9.186 bn t C (9th NFI); the NFI check itself is above
    assert 0.8 * 9.186e9 < row["forest_vegetation_carbon_t_c_2020"] < 1.2 * 9.186e9
    # karst potential sink roughly 10–40 Tg C/yr over China's carbonate area (Jiang et al. 2012; FACTORS.md §C4),
    # reported outside the total
    assert 10e6 < row["karst_potential_sink_t_c_per_yr"] < 40e6
    assert "karst_sink_t_c_per_yr" not in row
    assert row["karst_area_basis"] == "exposed carbonate"
    # exposed karst area of the sample ≈ 1.45 million km² (South + North China + Tibetan Plateau, Jiang et al. 2012)
    assert row["karst_exposed_area_km2"] == pytest.approx(1.45e6, rel=0.05)
    # forest sink positive and of the order of China's reported forest sink (≈ 1.2 bn t CO₂/yr, FACTORS.md §D1)
    assert 0.3e9 < row["forest_sink_t_co2e_per_yr"] < 3e9
    assert row["grassland_sink_status"].startswith("not estimated")
    # 2020 (9th NFI) and 2025 (三调-based monitoring) come from different monitoring bases
    assert row["series_break"].startswith("yes")


def test_levels_add_up(sample_run: Any) -> None:
    """Guizhou: counties sum to prefectures and prefectures to the province (the Tianditu layers tile exactly)."""
    manifest = sample_run.manifest
    for check in manifest["checks"]:
        assert check["max_relative_difference"] < 1e-6, check
    nation = _nation(sample_run)
    provinces = sample_run.tables["province"]
    assert provinces["forest_area_km2_2020"].sum() == pytest.approx(nation["forest_area_km2_2020"], rel=1e-12)


def test_outputs_complete(sample_run: Any) -> None:
    out: Path = sample_run.output_dir
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for rel in manifest["outputs"]:
        assert (out / rel).exists(), rel
    assert not list(out.parent.glob("*.partial-*"))
    doc = json.loads((out / "regions_county.geojson").read_text(encoding="utf-8"))
    assert len(doc["features"]) == 88
    # the alignment of the WorldClim layer is stated, not silent
    layers = {layer["name"]: layer for layer in manifest["layers"]}
    assert "bilinear" in layers["mean_temperature"]["alignment"]


def test_real_hansen_pixels(tmp_path: Path) -> None:
    """The Hansen crop over Huế: 30 m geographic pixels, canopy 2000 minus loss to 2018."""
    from sinkmap.apps.pipeline import run_pipeline
    from sinkmap.config import load_pipeline

    result = run_pipeline(load_pipeline(ROOT / "pipelines" / "hue_hansen.yaml"), output_dir=tmp_path / "hue")
    sites = result.tables["site"]
    assert (sites["forest_area_km2_2018"] <= sites["forest_area_km2_2000"] + 1e-9).all()  # loss only removes forest
    assert (sites["land_area_km2_2000"] > 0).all()
    nation = result.tables["nation"].iloc[0]
    assert nation["forest_area_km2_2000"] == pytest.approx(sites["forest_area_km2_2000"].sum())
