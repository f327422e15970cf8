"""Nodata propagates: a climate strip missing over a third of the grid, by hand.

The 3 × 3 case of :mod:`test_biomass_inputs` (1-ha pixels; forest on the top row and at (2,1), grassland on the
middle row and at (2,2), cropland at (2,0)) with growing stock on the forest and the temperature layer nodata in
the right-hand column, as on a coastal grid where the climate product stops at the coast.

Larix (China Tier 2, domain "north"): B = 0.6096 V + 33.806 t d.m./ha (cn_biomass_volume), carbon = 0.521 × B
(R 0.212 splits B; both parts have CF 0.521): V = 100 → 49.373086 t C/ha, 50 → 33.493006, 80 → 43.021054,
200 → 81.133246.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from sinkmap.apps.pipeline import run_pipeline
from sinkmap.cli.run import print_summary
from sinkmap.config import load_pipeline
from test_biomass_inputs import _on_forest, biomass_case

STOCK = _on_forest([100, 50, 200, 80])
STRIP = np.full((3, 3), 8.0, np.float32)
STRIP[:, 2] = -9999  # no climate in the right-hand column
C = {100: 49.373086, 50: 33.493006, 80: 43.021054, 200: 81.133246}  # t C/ha by hand (module docstring)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    full = tmp_path_factory.mktemp("full")
    strip = tmp_path_factory.mktemp("strip")
    return (
        run_pipeline(load_pipeline(biomass_case(full, {"growing_stock": STOCK}))),
        run_pipeline(load_pipeline(biomass_case(strip, {"growing_stock": STOCK}, temperature=STRIP))),
    )


def test_totals_count_only_observed_area(runs) -> None:  # type: ignore[no-untyped-def]
    full, strip = (r.tables["province"].iloc[0] for r in runs)
    assert full["forest_carbon_t_c_2020"] == pytest.approx(sum(C.values()), rel=1e-6)
    # the 200 m³/ha stand at (0,2) has no climate: no estimate, so nothing is added for it (not 0 t C/ha either:
    # the density is over the forest with an estimate)
    assert strip["forest_carbon_t_c_2020"] == pytest.approx(C[100] + C[50] + C[80], rel=1e-6)  # 125.887146
    assert strip["forest_carbon_density_t_c_per_ha_2020"] == pytest.approx((C[100] + C[50] + C[80]) / 3, rel=1e-6)
    # all grassland has the same climate where it has one: two of the four grassland pixels keep their carbon
    assert strip["grassland_carbon_t_c_2020"] == pytest.approx(full["grassland_carbon_t_c_2020"] / 2, rel=1e-9)
    # forest and grassland areas come from land cover, which is there: they do not shrink
    assert strip["forest_area_km2_2020"] == pytest.approx(0.04, rel=1e-6)
    assert strip["grassland_area_km2_2020"] == pytest.approx(0.04, rel=1e-6)
    assert full["grassland_area_km2_2020"] == pytest.approx(0.04, rel=1e-6)


def test_observed_shares_by_hand(runs) -> None:  # type: ignore[no-untyped-def]
    full, strip = (r.tables["province"].iloc[0] for r in runs)
    # 6 of 9 ha have climate; 3 of 4 forest pixels, 2 of 4 grassland pixels
    assert strip["carbon_observed_share_pct_2020"] == pytest.approx(100 * 6 / 9, rel=1e-6)
    assert strip["forest_carbon_observed_share_pct_2020"] == pytest.approx(75.0, rel=1e-9)
    assert strip["grassland_carbon_observed_share_pct_2020"] == pytest.approx(50.0, rel=1e-9)
    assert strip["sink_observed_share_pct"] == pytest.approx(100 * 6 / 9, rel=1e-6)
    assert strip["observed_area_pct"] == pytest.approx(100.0, rel=1e-6)  # land cover is complete
    for column in ("carbon_observed_share_pct_2020", "forest_carbon_observed_share_pct_2020",
                   "grassland_carbon_observed_share_pct_2020", "sink_observed_share_pct"):  # fmt: skip
        assert full[column] == pytest.approx(100.0, rel=1e-6)


def test_rasters_are_nodata_where_inputs_are_missing(runs) -> None:  # type: ignore[no-untyped-def]
    rasters = runs[1].output_dir / "rasters"
    with rasterio.open(rasters / "carbon_density_2020.tif") as src:
        density = src.read(1, masked=True)
    assert density.mask[:, 2].all() and not density.mask[:, :2].any()  # the strip is nodata, not 0
    assert density[0, 0] == pytest.approx(C[100], rel=1e-6)
    assert density[2, 0] == 0.0  # cropland with climate: observed, no carbon pool estimated
    with rasterio.open(rasters / "carbon_sink.tif") as src:
        sink = src.read(1, masked=True)
    assert sink.mask[:, 2].all() and not sink.mask[:, :2].any()


def test_manifest_and_summary_report_the_shares(runs, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    result = runs[1]
    manifest = json.loads((result.output_dir / "manifest.json").read_text(encoding="utf-8"))
    shares = manifest["observed_share"]
    assert shares["levels"]["province"]["A"]["forest_carbon_observed_share_pct_2020"] == 75.0
    assert shares["levels"]["province"]["A"]["carbon_observed_share_pct_2020"] == pytest.approx(66.6667, abs=1e-3)
    assert "grassland" in shares["columns"]["grassland_carbon_observed_share_pct_2020"]
    assert manifest["columns"]["carbon_observed_share_pct_2020"]["unit"] == "%"
    print_summary(result)
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("province — share of area observed (%), 2020"))
    assert lines[header + 1].split() == ["region", "land", "carbon", "forest", "C", "grass", "C", "sink"]
    line = lines[header + 2]
    assert line.split()[1:] == ["100.0", "66.7", "75.0", "50.0", "66.7"]  # land, carbon, forest C, grass C, sink


def test_carbon_density_needs_no_climate_on_forest(tmp_path: Path) -> None:
    """A carbon-density map is forest carbon as it stands: the stand in the climate strip keeps its carbon; the
    grassland there still has none (its factors come from the climate zone)."""
    density = _on_forest([60, 30.5, 7, 120])
    row = run_pipeline(
        load_pipeline(biomass_case(tmp_path, {"carbon_density": density}, temperature=STRIP))
    ).tables["province"].iloc[0]
    assert row["forest_carbon_t_c_2020"] == pytest.approx(217.5, rel=1e-6)  # all four stands, 1 ha each
    assert row["forest_carbon_observed_share_pct_2020"] == pytest.approx(100.0, rel=1e-9)
    assert row["grassland_carbon_observed_share_pct_2020"] == pytest.approx(50.0, rel=1e-9)
    # observed: the 6 pixels with climate and the stand at (0,2); the one-epoch sink (Table 4.9 growth) needs climate
    assert row["carbon_observed_share_pct_2020"] == pytest.approx(100 * 7 / 9, rel=1e-6)
    assert row["sink_observed_share_pct"] == pytest.approx(100 * 6 / 9, rel=1e-6)
