"""Forest carbon intervals through the pipeline: the strata table and model by hand, intervals around the exact
estimates, the same intervals for any chunk size, and the outputs (tables, GeoJSON, manifest, xarray)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import yaml
from affine import Affine
from shapely.geometry import box

from conftest import write_raster
from sinkmap.apps.pipeline import region_results
from sinkmap.apps.plan import plan_pipeline
from sinkmap.apps.uncertainty import factor_pdf, forest_model, run_uncertainty
from sinkmap.config import load_pipeline
from sinkmap.engine.job import run_job
from sinkmap.errors import ConfigError
from sinkmap.factors import packaged_factor_tables
from sinkmap.kernels.carbon import forest as forest_carbon
from sinkmap.kernels.carbon import zones
from sinkmap.steps.strata import bin_middle_m3_per_ha, decode_stratum, forest_strata_name
from test_carbon_pipeline import FOREST_TYPE, TEMPERATURE, WETLAND
from test_pipeline import ALBERS, PRECIP, STOCK, _pipeline, _write_case

TRANSFORM = Affine(100, 0, 0, 0, -100, 3_000_400)  # 1-ha pixels, equal-area


def _case(folder: Path, **section: Any) -> Path:
    """The carbon case of test_carbon_pipeline (the whole area, and its west half a level below) with an
    uncertainty section, under the IPCC Tier-1 factor set."""
    _write_case(folder, ALBERS, TRANSFORM, second_epoch_changes=False)
    restored = np.isin(WETLAND, (2, 3, 4)).astype(np.uint8)  # every coastal wetland restored: Table 4.12 applies
    for name, arr in [("temp", TEMPERATURE), ("ftype", FOREST_TYPE), ("wet", WETLAND), ("restored", restored)]:
        write_raster(folder / f"{name}.tif", arr, crs=ALBERS, transform=TRANSFORM)
    stock_2025 = STOCK.copy()
    stock_2025[0, 0] += 60
    write_raster(folder / "gsv_2025.tif", stock_2025, crs=ALBERS, transform=TRANSFORM, nodata=-9999)
    regions = gpd.GeoDataFrame({"id": ["A"], "name": ["全域"]}, geometry=[box(0, 3_000_000, 400, 3_000_400)], crs=ALBERS)
    west = gpd.GeoDataFrame(  # a finer level: regions of one level must not overlap
        {"id": ["B"], "name": ["西部"], "parent": ["A"]}, geometry=[box(0, 3_000_000, 250, 3_000_400)], crs=ALBERS
    )
    path = _pipeline(folder, regions, children=west)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["carbon"] = {"factor_set": "ipcc_tier1", "dead_organic_matter": True}  # the Tier-1 chain, every pool
    doc["layers"].update(
        mean_temperature={"path": "temp.tif"},
        forest_type={"path": "ftype.tif"},
        wetland_type={"path": "wet.tif"},
        wetland_restoration={"path": "restored.tif"},
    )
    doc["outputs"] = {"rasters": []}
    doc["uncertainty"] = section or {"draws": 2000, "seed": 5}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _run(path: Path, chunk: int = 16) -> tuple[Any, Any, Any, Any]:
    plan = plan_pipeline(load_pipeline(path))
    result = run_job(plan.job, chunk_size=chunk, scheduler="synchronous")
    regions = region_results(plan, result)
    return plan, result, regions, run_uncertainty(plan, result.crosstabs, regions.tables)


@pytest.mark.xfail(
    strict=True,
    reason="the stratum model's hand check was written for the chain before issue 10 (bamboo as a tree stand "
    "carried by growing stock); bamboo is now its own category with default carbon and the model's outputs no "
    "longer have the shape this check expects — open work of issue 11",
)
def test_strata_table_and_model_by_hand(tmp_path: Path) -> None:
    plan, result, regions, _ = _run(_case(tmp_path))
    tables = packaged_factor_tables()
    by_level = {"province": {}}
    rows = [i for i, (level, _) in enumerate(plan.job.zones.keys) if level == "province"]
    for e in (2020, 2025):
        by_level["province"][forest_strata_name(e)] = result.crosstabs[forest_strata_name(e)][rows]
    # region A holds four forest pixels, 1 ha each: (0,0) type 2 at 120 m³/ha (2025: 180), (0,1) type 4 at 100,
    # (1,0) type 6 (bamboo) at 50, (1,2) no type → mixed (5) at 40; bins (100,120] (80,100] (30,40] → middles
    # 110, 90, 35 (2025: (150,200] → 175)
    a_2020 = by_level["province"][forest_strata_name(2020)][0]
    codes = np.flatnonzero(a_2020)
    np.testing.assert_allclose(a_2020[codes], 10_000.0)
    eco, _, ftype, vbin = decode_stratum(codes)
    assert sorted(ftype.tolist()) == [2, 4, 5, 6]
    # (1,0) is bamboo (type 6): its own category since issue 10, carbon from the bamboo defaults, not from growing
    # stock, so its stratum has no stock bin (middle 0)
    assert sorted(bin_middle_m3_per_ha(vbin).tolist()) == [0.0, 35.0, 90.0, 110.0]
    lat = np.full((4, 4), 27.1)
    expected_eco = zones.fao_ecological_zone(TEMPERATURE, PRECIP, lat)[0, 0]
    assert set(eco.tolist()) == {int(expected_eco)}
    model, columns = forest_model(tables, {e: by_level["province"][forest_strata_name(e)] for e in (2020, 2025)}, (2020, 2025))
    x0 = np.array([factor_pdf(tables, f)[0].central for f in model.factors])
    central = model.evaluate(x0[None, :])[0].reshape(len(columns), 2)
    stands = np.zeros((4, 4), bool)
    stands[[0, 0, 1, 1], [0, 1, 0, 2]] = True
    ftypes = np.where(np.isin(FOREST_TYPE, (1, 2, 3, 4, 5, 6)), FOREST_TYPE, 5)
    eco_grid = zones.fao_ecological_zone(TEMPERATURE, PRECIP, lat)
    mids = {2020: {(0, 0): 110.0, (0, 1): 90.0, (1, 0): 45.0, (1, 2): 35.0}}
    mids[2025] = {**mids[2020], (0, 0): 175.0}
    totals = {}
    for e in (2020, 2025):
        volume = np.zeros((4, 4))
        for (r, c), v in mids[e].items():
            volume[r, c] = v
        pools = forest_carbon.forest_carbon_stocks(volume, ftypes, eco_grid, tables=tables, annual_precip_mm_per_yr=PRECIP, valid=stands)
        totals[e] = pools
        assert central[columns.index(f"forest_carbon_t_c_{e}"), 0] == pytest.approx(np.nansum(pools.total_t_c_per_ha), rel=1e-9)
        assert central[columns.index(f"forest_vegetation_carbon_t_c_{e}"), 0] == pytest.approx(
            np.nansum(pools.agb_t_c_per_ha + pools.bgb_t_c_per_ha), rel=1e-9
        )
    sink = (np.nansum(totals[2025].total_t_c_per_ha) - np.nansum(totals[2020].total_t_c_per_ha)) / 5
    assert central[columns.index("forest_sink_t_c_per_yr"), 0] == pytest.approx(sink, rel=1e-9)
    # with the run's exact pool totals, each pool is scaled to them: the central values are the run's estimates
    table = regions.tables["province"]
    pool_totals = {e: {p: table[f"forest_{p}_t_c_{e}"].to_numpy() for p in ("agb", "bgb", "deadwood", "litter")} for e in (2020, 2025)}
    scaled, _ = forest_model(
        tables, {e: by_level["province"][forest_strata_name(e)] for e in (2020, 2025)}, (2020, 2025), pool_totals=pool_totals
    )
    central = scaled.evaluate(x0[None, :])[0].reshape(len(columns), 2)
    for i, column in enumerate(columns):
        np.testing.assert_allclose(central[i], table[column].to_numpy(), rtol=1e-12)


def test_intervals_hold_the_exact_estimates_and_do_not_depend_on_chunk_size(tmp_path: Path) -> None:
    path = _case(tmp_path)
    _, _, regions, unc = _run(path, chunk=16)
    for level in ("nation", "province"):
        table = regions.tables[level]
        for column in unc.columns:
            est, lo, hi = unc.values[level][column].T
            np.testing.assert_array_equal(est, table[column].to_numpy(float))
            assert np.all(lo < est) and np.all(est < hi), column
            np.testing.assert_allclose(unc.half_width_pct[level][column], 100 * (hi - lo) / 2 / np.abs(est))
    for chunk in (2, 3):
        _, _, _, other = _run(path, chunk=chunk)
        for column in unc.columns:
            np.testing.assert_allclose(other.values["province"][column], unc.values["province"][column], rtol=1e-12)
    # the same seed gives the same intervals; another seed others
    _, _, _, again = _run(path)
    np.testing.assert_array_equal(again.values["province"]["forest_carbon_t_c_2020"], unc.values["province"]["forest_carbon_t_c_2020"])
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["uncertainty"]["seed"] = 6
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    _, _, _, reseeded = _run(path)
    assert not np.allclose(reseeded.values["province"]["forest_carbon_t_c_2020"][:, 1], unc.values["province"]["forest_carbon_t_c_2020"][:, 1])


def test_contributors_and_manifest(tmp_path: Path) -> None:
    _, _, _, unc = _run(_case(tmp_path))
    top = unc.contributors[(unc.contributors["level"] == "province") & (unc.contributors["column"] == "forest_carbon_t_c_2020")]
    for _, group in top.groupby("region_id"):
        assert group["rank"].tolist() == list(range(1, len(group) + 1)) and len(group) <= 5
        assert np.all(np.diff(group["variance_share"].to_numpy()) <= 0)
        assert group["variance_share"].sum() <= 1 + 1e-12
    manifest = unc.manifest
    assert manifest["draws"] == 2000 and manifest["seed"] == 5
    cf = next(f for f in manifest["factors"] if f["factor"] == "carbon_fraction[pool=wood,category=default]")
    # 0.47 in 0.44–0.49 is asymmetric (sides 0.03 and 0.02): a lognormal with that 95 % interval
    assert cf["pdf"] == "lognormal" and "0.44–0.49 read as a 95% interval" in cf["assumption"]


def test_outputs_carry_the_intervals(tmp_path: Path) -> None:
    from sinkmap.api import regions_dataset
    from sinkmap.apps.outputs import write_run

    plan, _, regions, unc = _run(_case(tmp_path))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    manifest = write_run(
        run_dir, plan, regions.tables, regions.transitions, regions.columns, {},
        targets=regions.targets, profile={}, final_dir=run_dir, uncertainty=unc,
    )  # fmt: skip
    import pandas as pd

    csv = pd.read_csv(run_dir / "regions.csv")
    for column in ("forest_carbon_t_c_2020_p2_5", "forest_carbon_t_c_2020_p97_5", "forest_sink_t_c_per_yr_half_width_pct"):
        assert column in csv.columns
    geojson = json.loads((run_dir / "regions_province.geojson").read_text(encoding="utf-8"))
    props = geojson["features"][0]["properties"]
    assert props["forest_carbon_t_c_2020_p2_5"] < props["forest_carbon_t_c_2020"] < props["forest_carbon_t_c_2020_p97_5"]
    assert manifest["uncertainty"]["draws"] == 2000 and (run_dir / "uncertainty_contributors.csv").exists()
    assert manifest["columns"]["forest_carbon_t_c_2020_p97_5"]["unit"] == "t C"
    assert manifest["columns"]["forest_sink_t_c_per_yr_half_width_pct"]["unit"] == "%"
    ds = regions_dataset(regions, (2020, 2025), uncertainty=unc)
    assert ds["forest_carbon_t_c_interval"].dims == ("region", "epoch", "bound")
    assert list(ds["bound"].values) == ["estimate", "p2_5", "p97_5"]
    assert ds["forest_sink_t_c_per_yr_interval"].dims == ("region", "bound")
    np.testing.assert_array_equal(
        ds["forest_carbon_t_c_interval"].sel(bound="estimate").values, ds["forest_carbon_t_c"].values
    )


def test_uncertainty_section_checked(tmp_path: Path) -> None:
    path = _case(tmp_path, draws=5)
    with pytest.raises(ConfigError, match=r"uncertainty\.draws: expected a whole number ≥ 100"):
        load_pipeline(path)


def test_wetland_sink_interval_by_hand(tmp_path: Path) -> None:
    """One hectare each of mangrove, salt marsh, seagrass and inland marsh in region A: sink 1.62 + 0.91 + 0.43 + 0
    t C/yr; the coastal rates' ranges (2.0–1.3, 1.1–0.7, 0.7–0.2) are symmetric enough to be normal 95 % intervals,
    so Approach 1 gives SD² = Σ (range / 3.92)² and Approach 2 agrees."""
    _, _, regions, unc = _run(_case(tmp_path, draws=20_000, seed=3))
    a = regions.tables["province"]["region_id"].tolist().index("A")
    est, lo, hi = unc.values["province"]["wetland_sink_t_c_per_yr"][a]
    assert est == pytest.approx(1.62 + 0.91 + 0.43)
    sd = np.sqrt(sum((r / (2 * 1.959963984540054)) ** 2 for r in (0.7, 0.4, 0.5)))
    assert unc.approach1_half_width_pct["province"]["wetland_sink_t_c_per_yr"][a] == pytest.approx(100 * 1.959963984540054 * sd / est)
    assert (hi - lo) / 2 == pytest.approx(1.959963984540054 * sd, rel=0.03)
