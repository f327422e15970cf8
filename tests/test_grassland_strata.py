"""Grassland strata and their uncertainty-model terms: the code layout, terms by hand, terms at central values
equal to the run's grassland columns (regions.csv) per region and epoch, and the table for any chunk size."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import write_raster
from sinkmap.apps.grassland_terms import grassland_pool_terms, grassland_terms
from sinkmap.apps.levels import crosstabs_by_level
from sinkmap.apps.outputs import write_run
from sinkmap.apps.pipeline import region_results
from sinkmap.apps.plan import plan_pipeline
from sinkmap.apps.uncertainty import factor_pdf
from sinkmap.config import load_pipeline
from sinkmap.engine.job import run_job
from sinkmap.errors import FactorTableError
from sinkmap.factors import FactorTables, packaged_factor_tables
from sinkmap.kernels.carbon import grassland, zones
from sinkmap.steps.grassland_strata import (
    N_GRASSLAND_CODES,
    GrasslandStrataStep,
    decode_grassland_stratum,
    grassland_strata_name,
    grassland_stratum,
)
from test_pipeline import ALBERS, PRECIP
from test_uncertainty_pipeline import TRANSFORM, _case

EPOCHS = (2020, 2025)


def _central(tables: FactorTables, terms: dict[tuple[str, ...], np.ndarray]) -> np.ndarray:
    """Σ activity × Π central factor values, the centrals as the uncertainty module reads them."""
    out = 0.0
    for key, activity in terms.items():
        out = out + activity * math.prod(factor_pdf(tables, f)[0].central for f in key)
    return np.asarray(out, dtype=np.float64)


def test_codes_round_trip() -> None:
    codes = np.arange(N_GRASSLAND_CODES)
    clim, soil, mg, inp = decode_grassland_stratum(codes)
    assert (clim.min(), clim.max(), soil.max(), mg.max(), inp.max()) == (1, 12, 6, 4, 2)
    np.testing.assert_array_equal(grassland_stratum(clim, soil, mg, inp), codes)


def test_terms_by_hand() -> None:
    """Four cells in two regions (areas in ha), with the packaged IPCC rows: Table 6.4 warm temperate wet AGB 2.7,
    total 13.5 and dry 1.6, 6.1 t d.m./ha, CF 0.47; SOC_ref HAC warm temperate moist 88, dry 38 t C/ha; F_LU 1;
    F_MG nominal 1, moderately degraded 0.95, severely degraded 0.7, improved 1.14; F_I medium 1, high 1.11 (on
    improved grassland only)."""
    tables = packaged_factor_tables()
    cells = {  # (climate, soil, management, input) → ha in regions 0 and 1
        (5, 1, 1, 1): (2.0, 0.0),  # warm temperate moist (wet biomass row), nominal
        (6, 1, 3, 1): (1.0, 3.0),  # warm temperate dry, severely degraded
        (6, 1, 4, 2): (0.0, 0.5),  # improved, high input: F_I 1.11
        (6, 1, 2, 2): (1.0, 0.0),  # moderately degraded: the high input level does not apply (F_I medium)
    }
    table = np.zeros((2, N_GRASSLAND_CODES))
    for (c, s, g, i), areas in cells.items():
        table[:, grassland_stratum(np.array(c), np.array(s), np.array(g), np.array(i))] = np.array(areas) * 1e4
    later = np.zeros_like(table)
    later[1, grassland_stratum(np.array(5), np.array(1), np.array(1), np.array(1))] = 1e4
    terms = grassland_terms(tables, {2020: table, 2025: later}, EPOCHS)
    assert list(terms) == [f"grassland_{q}_t_c_{e}" for e in EPOCHS for q in ("biomass", "soc", "carbon")]
    assert all(key == tuple(sorted(key)) for quantity in terms.values() for key in quantity)
    biomass = [0.47 * (2 * 13.5 + 1 * 6.1 + 1 * 6.1), 0.47 * 3.5 * 6.1]
    soc = [2 * 88 + 38 * 0.7 + 38 * 0.95, 3 * 38 * 0.7 + 0.5 * 38 * 1.14 * 1.11]
    np.testing.assert_allclose(_central(tables, terms["grassland_biomass_t_c_2020"]), biomass, rtol=1e-12)
    np.testing.assert_allclose(_central(tables, terms["grassland_soc_t_c_2020"]), soc, rtol=1e-12)
    np.testing.assert_allclose(
        _central(tables, terms["grassland_carbon_t_c_2020"]), np.add(biomass, soc), rtol=1e-12
    )
    np.testing.assert_allclose(_central(tables, terms["grassland_biomass_t_c_2025"]), [0, 0.47 * 13.5], rtol=1e-12)
    np.testing.assert_allclose(_central(tables, terms["grassland_soc_t_c_2025"]), [0, 88], rtol=1e-12)
    # biomass = total × CF: the AGB terms of AGB and BGB cancel and are left out of the published biomass ...
    assert not any("quantity=agb" in f for key in terms["grassland_biomass_t_c_2020"] for f in key)
    # ... but BGB alone is (total − AGB) × CF: the AGB term with coefficient −1
    pools = grassland_pool_terms(tables, {2020: table}, (2020,))[2020]
    cf = "carbon_fraction[pool=herbaceous,category=default]"
    agb_wet = tuple(sorted(("grassland_biomass[climate=warm_temperate_wet,quantity=agb]", cf)))
    np.testing.assert_array_equal(pools["bgb"][agb_wet], [-2.0, 0.0])
    np.testing.assert_array_equal(pools["agb"][agb_wet], [2.0, 0.0])
    np.testing.assert_allclose(_central(tables, pools["agb"]), [0.47 * (2 * 2.7 + 2 * 1.6), 0.47 * 3.5 * 1.6])
    np.testing.assert_allclose(
        _central(tables, pools["bgb"]), [0.47 * (2 * 10.8 + 2 * 4.5), 0.47 * 3.5 * 4.5], rtol=1e-12
    )


def test_terms_agree_with_the_kernels_for_every_soil_and_management() -> None:
    """Every cell the kernels can compute (soil types and input levels the pipeline does not pass yet included),
    1 ha each: the terms at central values equal the kernels' per-hectare carbon."""
    tables = packaged_factor_tables()
    clim, soil, mg, inp = decode_grassland_stratum(np.arange(N_GRASSLAND_CODES))
    soc = np.full(N_GRASSLAND_CODES, np.nan)
    for j in range(N_GRASSLAND_CODES):  # cell by cell: combinations the tables lack are skipped
        try:
            soc[j] = grassland.soil_organic_carbon_t_c_per_ha(
                clim[j : j + 1], tables=tables, soil_type=soil[j : j + 1], management=mg[j : j + 1],
                input_level=inp[j : j + 1],
            )[0]  # fmt: skip
        except FactorTableError:
            continue
    present = np.flatnonzero(np.isfinite(soc))
    assert present.size > 100
    table = np.zeros((present.size, N_GRASSLAND_CODES))
    table[np.arange(present.size), present] = 1e4  # one region per cell
    terms = grassland_terms(tables, {2020: table}, (2020,))
    biomass = grassland.grassland_biomass_carbon(clim[present], tables=tables).total_t_c_per_ha
    np.testing.assert_allclose(_central(tables, terms["grassland_biomass_t_c_2020"]), biomass, rtol=1e-12)
    np.testing.assert_allclose(_central(tables, terms["grassland_soc_t_c_2020"]), soc[present], rtol=1e-12)


def test_missing_factor_names_every_stratum() -> None:
    tables = packaged_factor_tables()
    table = np.full((1, N_GRASSLAND_CODES), 1e4)  # every cell, some of which the tables lack
    with pytest.raises(FactorTableError, match=r"no grassland carbon factor .*soc_"):
        grassland_terms(tables, {2020: table}, (2020,))


# ------------------------------------------------------------------------------------------------- through the run
LANDCOVER = {
    2020: np.array([[2, 2, 4, 4], [2, 3, 4, 4], [4, 3, 3, 4], [0, 4, 9, 4]], np.uint8),
    2025: np.array([[2, 2, 4, 2], [2, 3, 4, 4], [4, 3, 4, 4], [0, 4, 9, 1]], np.uint8),
}
# four climates by row (latitude ≈ 27° N, 350 or 800 mm), and one pixel without temperature: grassland area but no
# carbon estimate
TEMPERATURE = np.array([[16, 16, 16, 16], [6, 6, 6, 6], [-3, -3, -3, -9999], [24, 24, 24, 24]], np.float32)
MANAGEMENT = {  # 0 = no data (nominal); 1–4 Table 6.2 states
    2020: np.array([[0, 0, 1, 2], [0, 0, 3, 4], [4, 0, 0, 2], [0, 3, 0, 1]], np.uint8),
    2025: np.array([[0, 0, 4, 2], [0, 0, 3, 3], [1, 0, 2, 2], [0, 4, 0, 1]], np.uint8),
}


def _grass_case(folder: Path, **carbon: Any) -> Path:
    """The case of test_uncertainty_pipeline (region A, and B its west 2.5 columns a level below) with more
    grassland, several climates and a grassland_management layer at both epochs."""
    path = _case(folder)
    for e in EPOCHS:
        write_raster(folder / f"lc_{e}.tif", LANDCOVER[e], crs=ALBERS, transform=TRANSFORM, nodata=0)
        write_raster(folder / f"mg_{e}.tif", MANAGEMENT[e], crs=ALBERS, transform=TRANSFORM, nodata=0)
    write_raster(folder / "temp.tif", TEMPERATURE, crs=ALBERS, transform=TRANSFORM, nodata=-9999)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["layers"]["grassland_management"] = {"paths": {e: f"mg_{e}.tif" for e in EPOCHS}}
    doc["carbon"].update(carbon)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _run(path: Path, chunk: int = 16) -> tuple[Any, Any, Any]:
    plan = plan_pipeline(load_pipeline(path))
    result = run_job(plan.job, chunk_size=chunk, scheduler="synchronous")
    return plan, result, region_results(plan, result)


def test_the_plan_adds_the_step_only_with_uncertainty_and_land_cover(tmp_path: Path) -> None:
    path = _grass_case(tmp_path)
    names = [step.name for step in plan_pipeline(load_pipeline(path)).job.steps]
    assert names[names.index("forest_strata") + 1] == "grassland_strata"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("uncertainty")
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert "grassland_strata" not in [step.name for step in plan_pipeline(load_pipeline(path)).job.steps]


@pytest.mark.parametrize("factor_set", ["ipcc_tier1", "china_tier2"])
def test_terms_at_central_values_are_the_run_columns(tmp_path: Path, factor_set: str) -> None:
    """Per region (both levels) and epoch, Σ terms × central values = regions.csv's grassland biomass, SOC and
    carbon, with no binning: equal to float rounding."""
    plan, result, regions = _run(_grass_case(tmp_path, factor_set=factor_set))
    tables = plan.factor_tables
    climate = zones.ipcc_climate_zone(TEMPERATURE, PRECIP, np.full((4, 4), 27.1))
    assert len(set(climate[LANDCOVER[2020] == 4].tolist()) - {0}) >= 3  # several climate rows in play
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_run(
        run_dir, plan, regions.tables, regions.transitions, regions.columns, {},
        targets=regions.targets, profile={}, final_dir=run_dir,
    )  # fmt: skip
    csv = pd.read_csv(run_dir / "regions.csv", dtype={"region_id": str})
    names = [grassland_strata_name(e) for e in EPOCHS]
    by_level = crosstabs_by_level(plan.levels, plan.job.zones.keys, {n: result.crosstabs[n] for n in names}, None)
    checked = 0
    for level, tabs in by_level.items():
        rows = csv[csv["level"] == level].reset_index(drop=True)
        assert rows["region_id"].tolist() == regions.tables[level]["region_id"].tolist()
        terms = grassland_terms(tables, {e: tabs[grassland_strata_name(e)] for e in EPOCHS}, EPOCHS)
        for e in EPOCHS:
            for quantity in ("biomass", "soc", "carbon"):
                column = f"grassland_{quantity}_t_c_{e}"
                expected = rows[column].to_numpy(float)
                assert np.all(expected > 0), column
                np.testing.assert_allclose(_central(tables, terms[column]), expected, rtol=1e-9, atol=0)
                checked += 1
            # the strata cover the grassland with a carbon estimate, not the pixel without temperature
            strata_km2 = tabs[grassland_strata_name(e)].sum(axis=1) / 1e6
            np.testing.assert_allclose(
                strata_km2, rows[f"grassland_area_km2_{e}"] * rows[f"grassland_carbon_observed_share_pct_{e}"] / 100
            )
            if level == "province":  # A holds the grassland pixel without temperature (B does not)
                assert np.all(strata_km2 < rows[f"grassland_area_km2_{e}"].to_numpy())
    assert checked == 2 * 2 * 3
    # management moves pixels between strata from one epoch to the next
    province = by_level["province"]
    assert not np.array_equal(province[grassland_strata_name(2020)], province[grassland_strata_name(2025)])
    _, _, mg, _ = decode_grassland_stratum(np.flatnonzero(province[grassland_strata_name(2020)][0]))
    assert set(mg.tolist()) == {1, 2, 3, 4}


def test_without_a_management_layer_every_cell_is_nominal(tmp_path: Path) -> None:
    path = _grass_case(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["layers"].pop("grassland_management")
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    plan, result, regions = _run(path)
    table = result.crosstabs[grassland_strata_name(2020)]
    _, soil, mg, inp = decode_grassland_stratum(np.flatnonzero(table.any(axis=0)))
    assert set(soil.tolist()) == set(mg.tolist()) == set(inp.tolist()) == {1}  # HAC, nominal, medium
    by_level = crosstabs_by_level(plan.levels, plan.job.zones.keys, dict(result.crosstabs), None)
    terms = grassland_terms(
        plan.factor_tables, {e: by_level["province"][grassland_strata_name(e)] for e in EPOCHS}, EPOCHS
    )
    for e in EPOCHS:
        column = f"grassland_soc_t_c_{e}"
        np.testing.assert_allclose(
            _central(plan.factor_tables, terms[column]), regions.tables["province"][column], rtol=1e-9
        )


def test_strata_table_does_not_depend_on_chunk_size(tmp_path: Path) -> None:
    path = _grass_case(tmp_path)
    _, reference, _ = _run(path, chunk=16)
    for chunk in (2, 3):
        _, other, _ = _run(path, chunk=chunk)
        for e in EPOCHS:
            name = grassland_strata_name(e)
            ref = reference.crosstabs[name]
            assert np.count_nonzero(ref) > 4
            np.testing.assert_allclose(other.crosstabs[name], ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_step_declares_one_crosstab_per_epoch() -> None:
    specs = GrasslandStrataStep(EPOCHS).crosstabs()
    assert [s.name for s in specs] == ["grassland_strata_2020", "grassland_strata_2025"]
    assert all(s.n_codes == N_GRASSLAND_CODES == 576 for s in specs)
