"""Forest carbon intervals through the pipeline: the strata table and model by hand, intervals around the exact
estimates, the same intervals for any chunk size, and the outputs (tables, GeoJSON, manifest, xarray)."""

from __future__ import annotations

import json
import math
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
from sinkmap.apps.uncertainty import (
    CHAINS,
    assemble,
    factor_pdfs,
    forest_quantities,
    run_uncertainty,
)
from sinkmap.config import load_pipeline
from sinkmap.engine.job import run_job
from sinkmap.errors import ConfigError
from sinkmap.factors import packaged_factor_tables
from sinkmap.kernels.carbon import forest as forest_carbon
from sinkmap.kernels.carbon import zones
from sinkmap.kernels.uncertainty import error_propagation
from sinkmap.steps.strata import bin_middle_m3_per_ha, decode_stratum, forest_strata_name
from test_carbon_pipeline import FOREST_TYPE, TEMPERATURE, WETLAND
from test_pipeline import ALBERS, PRECIP, STOCK, _pipeline, _write_case

TRANSFORM = Affine(100, 0, 0, 0, -100, 3_000_400)  # 1-ha pixels, equal-area


def _case(folder: Path, factor_set: str = "ipcc_tier1", stock_sd: float | None = None, **section: Any) -> Path:
    """The carbon case of test_carbon_pipeline (the whole area, and its west half a level below) with an
    uncertainty section, under the IPCC Tier-1 factor set (or ``factor_set``), every pool; ``stock_sd`` adds a
    constant growing_stock_sd layer (m³/ha)."""
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
    doc["carbon"] = {"factor_set": factor_set, "dead_organic_matter": True}
    doc["layers"].update(
        mean_temperature={"path": "temp.tif"},
        forest_type={"path": "ftype.tif"},
        wetland_type={"path": "wet.tif"},
        wetland_restoration={"path": "restored.tif"},
    )
    if stock_sd is not None:
        write_raster(folder / "gsv_sd.tif", np.full(STOCK.shape, stock_sd, np.float32), crs=ALBERS, transform=TRANSFORM)
        doc["layers"]["growing_stock_sd"] = {"path": "gsv_sd.tif"}
    doc["outputs"] = {"rasters": []}
    doc["uncertainty"] = {"draws": 2000, "seed": 5, **section}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _run(path: Path, chunk: int = 16, **engine: Any) -> tuple[Any, Any, Any, Any]:
    plan = plan_pipeline(load_pipeline(path))
    result = run_job(plan.job, chunk_size=chunk, **(engine or {"scheduler": "synchronous"}))
    regions = region_results(plan, result)
    return plan, result, regions, run_uncertainty(plan, result, regions.tables)


@pytest.mark.parametrize("factor_set", ["ipcc_tier1", "china_tier2"])
def test_strata_table_and_model_by_hand(tmp_path: Path, factor_set: str) -> None:
    """The strata table of region A by hand, and the model's central values (before matching the run's totals)
    equal the kernel's pools at the bins' middles — for both chains, bamboo included."""
    plan, result, regions, _ = _run(_case(tmp_path, factor_set=factor_set))
    tables = packaged_factor_tables()
    rows = [i for i, (level, _) in enumerate(plan.job.zones.keys) if level == "province"]
    strata = {e: result.crosstabs[forest_strata_name(e)][rows] for e in (2020, 2025)}
    # region A holds four forest pixels, 1 ha each: (0,0) type 2 at 120 m³/ha (2025: 180), (0,1) type 4 at 100,
    # (1,0) bamboo (type 6: no stock bin), (1,2) no type → mixed (5) at 40; bins (100,120] (80,100] (30,40] →
    # middles 110, 90, 35 (2025: (150,200] → 175)
    a_2020 = strata[2020][0]
    codes = np.flatnonzero(a_2020)
    np.testing.assert_allclose(a_2020[codes], 10_000.0)
    eco, _, ftype, vbin = decode_stratum(codes)
    assert sorted(ftype.tolist()) == [2, 4, 5, 6]
    assert sorted(bin_middle_m3_per_ha(vbin).tolist()) == [0.0, 35.0, 90.0, 110.0]
    lat = np.full((4, 4), 27.1)
    eco_grid = zones.fao_ecological_zone(TEMPERATURE, PRECIP, lat)
    assert set(eco.tolist()) == {int(eco_grid[0, 0])}
    quantities = forest_quantities(tables, strata, (2020, 2025), CHAINS[factor_set], dead_organic_matter=True)
    model, combination = assemble(quantities, len(rows))
    pdfs, _ = factor_pdfs(tables, model.factors)
    columns = [q.column for q in quantities]
    central = error_propagation(model, pdfs, combination=combination).central.reshape(len(columns), len(rows))
    stands = np.zeros((4, 4), bool)
    stands[[0, 0, 1, 1], [0, 1, 0, 2]] = True
    ftypes = np.where(np.isin(FOREST_TYPE, (1, 2, 3, 4, 5, 6)), FOREST_TYPE, 5)
    kernel = forest_carbon.forest_carbon_stocks if factor_set == "ipcc_tier1" else forest_carbon.forest_carbon_stocks_china
    mids = {2020: {(0, 0): 110.0, (0, 1): 90.0, (1, 0): 50.0, (1, 2): 35.0}}
    mids[2025] = {**mids[2020], (0, 0): 175.0}
    totals = {}
    for e in (2020, 2025):
        volume = np.zeros((4, 4))
        for (r, c), v in mids[e].items():
            volume[r, c] = v
        pools = kernel(volume, ftypes, eco_grid, tables=tables, annual_precip_mm_per_yr=PRECIP, valid=stands, dead_organic_matter=True)
        totals[e] = np.nansum(pools.total_t_c_per_ha)
        for pool, values in (("agb", pools.agb_t_c_per_ha), ("bgb", pools.bgb_t_c_per_ha),
                             ("deadwood", pools.deadwood_t_c_per_ha), ("litter", pools.litter_t_c_per_ha)):  # fmt: skip
            assert central[columns.index(f"forest_{pool}_t_c_{e}"), 0] == pytest.approx(np.nansum(values), rel=1e-9), pool
        assert central[columns.index(f"forest_carbon_t_c_{e}"), 0] == pytest.approx(totals[e], rel=1e-9)
        assert central[columns.index(f"forest_vegetation_carbon_t_c_{e}"), 0] == pytest.approx(
            np.nansum(pools.agb_t_c_per_ha + pools.bgb_t_c_per_ha), rel=1e-9
        )
    assert central[columns.index("forest_sink_t_c_per_yr"), 0] == pytest.approx((totals[2025] - totals[2020]) / 5, rel=1e-9)
    # with the run's exact pool totals, each pool is scaled to them: the central values are the run's estimates
    table = regions.tables["province"]
    pool_totals = {e: {p: table[f"forest_{p}_t_c_{e}"].to_numpy() for p in ("agb", "bgb", "deadwood", "litter")} for e in (2020, 2025)}
    scaled = forest_quantities(tables, strata, (2020, 2025), CHAINS[factor_set], pool_totals=pool_totals)
    model, combination = assemble(scaled, len(rows))
    central = error_propagation(model, pdfs, combination=combination).central.reshape(len(columns), len(rows))
    for i, column in enumerate(columns):
        np.testing.assert_allclose(central[i], table[column].to_numpy(), rtol=1e-12)


def test_china_tier2_vegetation_carbon_does_not_depend_on_the_root_ratio(tmp_path: Path) -> None:
    """B = a·V + b is split into AGB and BGB by 1/(1+R) and R/(1+R) of one draw of R: the two pools' intervals
    move with R, their sum does not (no root ratio among its contributors)."""
    _, _, _, unc = _run(_case(tmp_path, factor_set="china_tier2"))
    top = unc.contributors
    veg = top[top["column"] == "forest_vegetation_carbon_t_c_2020"]["variable"]
    bgb = top[top["column"] == "forest_bgb_t_c_2020"]["variable"]
    assert not veg.str.startswith("cn_root_shoot").any()
    assert bgb.str.startswith("cn_root_shoot").any()
    described = {f["factor"]: f for f in unc.manifest["factors"]}
    a = next(f for k, f in described.items() if k.startswith("cn_biomass_volume"))
    assert "±0.25 of the value as a 95 % interval" in a["assumption"] and a["pdf"] == "normal"


def test_intervals_hold_the_exact_estimates_and_do_not_depend_on_chunk_size_or_threads(tmp_path: Path) -> None:
    path = _case(tmp_path)
    _, _, regions, unc = _run(path, chunk=16)
    for level in ("nation", "province"):
        table = regions.tables[level]
        for column in unc.columns:
            est, lo, hi = unc.values[level][column].T
            np.testing.assert_array_equal(est, table[column].to_numpy(float))
            assert np.all(lo < est) and np.all(est < hi), column
            np.testing.assert_allclose(unc.half_width_pct[level][column], 100 * (hi - lo) / 2 / np.abs(est))
    for chunk, engine in ((2, {}), (3, {}), (3, {"scheduler": "threads", "threads": 3})):
        _, _, _, other = _run(path, chunk=chunk, **engine)
        assert other.columns == unc.columns
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


@pytest.mark.parametrize("correlation", ["region", "independent"])
def test_growing_stock_map_error(tmp_path: Path, correlation: str) -> None:
    """A constant 10 m³/ha standard deviation over region A's three tree stands (1 ha each; bamboo has no growing
    stock): fully correlated, Σ sd·area = 30 m³; independent, √Σ (sd·area)² = √3 · 10 m³. The stock volume's
    relative SD is that over its total, so Approach 1's half-width is 1.96 × it, and Approach 2 agrees."""
    _, _, regions, unc = _run(_case(tmp_path, stock_sd=10.0, map_correlation=correlation, draws=20_000))
    table = regions.tables["province"]
    a = table["region_id"].tolist().index("A")
    for e in (2020, 2025):
        stock = table[f"stock_volume_m3_{e}"].iat[a]
        sd = 30.0 if correlation == "region" else math.sqrt(3) * 10.0
        column = f"stock_volume_m3_{e}"
        assert unc.approach1_half_width_pct["province"][column][a] == pytest.approx(100 * 1.959963984540054 * sd / stock, rel=1e-6)  # stock per m² is float32 in the forest step
        _, lo, hi = unc.values["province"][column][a]
        assert (hi - lo) / 2 == pytest.approx(1.959963984540054 * sd, rel=0.03)
    assert "map_error" in " ".join(unc.contributors[unc.contributors["column"] == "stock_volume_m3_2020"]["variable"])
    from sinkmap.api import regions_dataset

    ds = regions_dataset(regions, (2020, 2025), uncertainty=unc)
    assert ds["stock_volume_m3_interval"].dims == ("region", "epoch", "bound")
    np.testing.assert_array_equal(ds["stock_volume_m3_interval"].sel(bound="estimate").values, ds["stock_volume_m3"].values)
    assert correlation in str(unc.manifest["activity_data"]["growing_stock_map_error"]) or correlation == "region"


def test_area_ratios_come_from_the_region_or_its_nearest_estimated_ancestor() -> None:
    """The nation and province P1 have their own estimates; province P2 and county C1 (in P1) do not: P2 takes the
    nation's ratio, C1 its province's. The ratio's mean is adjusted / mapped, its SD SE / mapped, its central 1."""
    import pandas as pd

    from sinkmap.apps.uncertainty import area_ratios

    rows = pd.DataFrame(
        {"level": ["nation", "province", "province", "county"], "region_id": ["N", "P1", "P2", "C1"],
         "parent_id": [None, None, None, "P1"]}
    )  # fmt: skip
    base = {"assessment": "land cover 2020", "epoch": "2020", "class": 2.0}
    accuracy = pd.DataFrame([
        {**base, "level": "nation", "region_id": "N", "mapped_area_km2": 100.0, "adjusted_area_km2": 90.0, "se_km2": 5.0, "status": "estimated"},
        {**base, "level": "province", "region_id": "P1", "mapped_area_km2": 40.0, "adjusted_area_km2": 44.0, "se_km2": 4.0, "status": "estimated"},
        {**base, "level": "province", "region_id": "P2", "mapped_area_km2": 60.0, "adjusted_area_km2": 50.0, "se_km2": 1.0, "status": "not supported: too few points"},
    ])  # fmt: skip
    index, ids, pdfs, described = area_ratios(accuracy, rows, 2020)
    assert ids == ["area_ratio[forest,nation=N]", "area_ratio[forest,province=P1]"]
    assert [index[(i, "forest")] for i in range(4)] == [0, 1, 0, 1]
    assert (pdfs[0].central, pdfs[0].mu, pdfs[0].sigma) == (1.0, pytest.approx(0.9), pytest.approx(0.05))
    assert (pdfs[1].mu, pdfs[1].sigma) == (pytest.approx(1.1), pytest.approx(0.1))
    assert described[1]["adjusted_km2"] == 44.0 and not any(cls == "grassland" for _, cls in index)
