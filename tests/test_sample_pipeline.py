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


@pytest.mark.parametrize(
    ("epoch", "coverage_pct", "stock_bn_m3"),
    [
        (2020, 22.96, 17.56),  # 9th National Forest Inventory (2014–2018), TARGETS.md / FACTORS.md §D1
        (2025, 25.09, 20.99),  # 2025 national greening bulletin (Third Land Survey base), FACTORS.md §D1
    ],
)
def test_national_totals_match_calibration(sample_run: Any, epoch: int, coverage_pct: float, stock_bn_m3: float) -> None:
    """The sample was calibrated to these national figures; the pipeline must reproduce them within 2 %."""
    row = _nation(sample_run)
    assert row[f"coverage_pct_{epoch}"] == pytest.approx(coverage_pct, rel=0.02)
    assert row[f"stock_volume_m3_{epoch}"] / 1e9 == pytest.approx(stock_bn_m3, rel=0.02)


def test_province_figures_match_calibration(sample_run: Any) -> None:
    """Provinces with a published 9th-NFI coverage (FACTORS.md §D3) come out within 2 points."""
    import pandas as pd

    figures = pd.read_csv(ROOT / "rasters" / "calibration" / "province_figures.csv", dtype={"adcode": str})
    table = sample_run.tables["province"].set_index("region_id")
    checked = 0
    for _, fig in figures.iterrows():
        if fig["adcode"] in ("810000", "820000"):  # Hong Kong and Macau are a few 1-km pixels
            continue
        assert table.loc[fig["adcode"], "coverage_pct_2020"] == pytest.approx(fig["coverage_pct_2020"], abs=2.0)
        checked += 1
    assert checked >= 30


def test_carbon_of_the_right_order(sample_run: Any) -> None:
    row = _nation(sample_run)
    # forest vegetation carbon ≈ 9.186 bn t C for 17.56 bn m³ (9th NFI, TARGETS.md); Tier-1 IPCC factors run
    # 10–25 % above China's own expansion factors, so accept 0.8–1.4 × the reference
    assert 0.8 * 9.186e9 < row["forest_vegetation_carbon_t_c_2020"] < 1.4 * 9.186e9
    # karst sink roughly 10–40 Tg C/yr over China's carbonate area (Jiang et al. 2012; FACTORS.md §C4)
    assert 10e6 < row["karst_sink_t_c_per_yr"] < 40e6
    assert row["karst_area_basis"] == "exposed carbonate"
    # exposed karst area of the sample ≈ 1.45 million km² (South + North China + Tibetan Plateau, Jiang et al. 2012)
    assert row["karst_exposed_area_km2"] == pytest.approx(1.45e6, rel=0.05)
    # forest sink positive and of the order of China's reported forest sink (≈ 1.2 bn t CO₂/yr, FACTORS.md §D1)
    assert 0.3e9 < row["forest_sink_t_co2e_per_yr"] < 3e9


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
