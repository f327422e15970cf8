"""Forest carbon kernel: BCEF chain by hand, class boundaries, nodata, bamboo, national order of magnitude."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinkmap.errors import FactorTableError
from sinkmap.factors import FactorTables, load_factor_tables
from sinkmap.kernels.carbon import C_TO_CO2
from sinkmap.kernels.carbon.forest import (
    FACTOR_SETS,
    bcef_s_t_per_m3,
    deadwood_litter_fractions,
    forest_carbon_stocks,
    forest_carbon_stocks_china,
    root_shoot_ratio,
)
from sinkmap.kernels.carbon.zones import FAO_ZONE_CODES as F
from sinkmap.kernels.carbon.zones import FAO_ZONE_NAMES


@pytest.fixture(scope="module")
def tables() -> FactorTables:
    return load_factor_tables()


TC = F["temperate_continental"]


def test_temperate_hardwood_by_hand(tables: FactorTables) -> None:
    # V = 80 m3/ha, deciduous broadleaf, temperate continental:
    # BCEF_S (temperate hardwoods, class 40-100) = 1.4 -> AGB = 112 t d.m./ha (above the 0-20 and 20-40 class ends,
    # 20*3.0 = 60 and 40*1.7 = 68, so the monotone floor does not bind)
    # R (temperate broadleaf, AGB 75-150) = 0.23 -> 112 * 0.23 = 25.76, but the <=75 class ends at 75 * 0.46 = 34.5,
    # so BGB is held at 34.5 (monotone in AGB)
    # dead wood = 112 * 0.08 * 0.47 = 4.2112; litter = 112 * 0.04 * 0.37 = 1.6576 t C/ha
    # AGB C = 52.64, BGB C = 34.5 * 0.47 = 16.215; total = 52.64 + 16.215 + 4.2112 + 1.6576 = 74.7238 t C/ha
    r = forest_carbon_stocks(np.array([80.0]), np.array([1]), np.array([TC]), tables=tables)
    assert r.agb_t_dm_per_ha[0] == pytest.approx(112.0)
    assert r.bgb_t_dm_per_ha[0] == pytest.approx(34.5)
    assert r.agb_t_c_per_ha[0] == pytest.approx(52.64)
    assert r.bgb_t_c_per_ha[0] == pytest.approx(16.215)
    assert r.deadwood_t_c_per_ha[0] == pytest.approx(4.2112)
    assert r.litter_t_c_per_ha[0] == pytest.approx(1.6576)
    assert r.total_t_c_per_ha[0] == pytest.approx(74.7238)
    assert r.total_co2e_t_per_ha[0] == pytest.approx(74.7238 * 44 / 12)
    assert r.as_dict()["total"][0] == pytest.approx(74.7238)
    # V = 160 -> AGB = 160 * 1.05 = 168 (class 100-200; floor 100 * 1.4 = 140); R (>150) = 0.24 -> 40.32, above the
    # floor max(34.5, 150 * 0.23 = 34.5) -> BGB = 40.32
    r = forest_carbon_stocks(np.array([160.0]), np.array([1]), np.array([TC]), tables=tables)
    assert r.agb_t_dm_per_ha[0] == pytest.approx(168.0)
    assert r.bgb_t_dm_per_ha[0] == pytest.approx(40.32)


def test_tier1_step_down_is_held_flat(tables: FactorTables) -> None:
    # temperate hardwoods: 20 m3/ha -> 20 * 3.0 = 60 t; 20.1 -> 20.1 * 1.7 = 34.17 < 60, held at 60;
    # 36 -> 36 * 1.7 = 61.2 > 60, the table's own value again
    r = forest_carbon_stocks(
        np.array([20.0, 20.1, 36.0]), np.full(3, 1), np.full(3, TC), tables=tables, dead_organic_matter=False
    )
    np.testing.assert_allclose(r.agb_t_dm_per_ha, [60.0, 60.0, 61.2])
    np.testing.assert_allclose(r.deadwood_t_c_per_ha, 0.0)  # Tier 1: dead organic matter not estimated
    np.testing.assert_allclose(r.litter_t_c_per_ha, 0.0)


def test_gs_class_boundaries_and_zero_volume(tables: FactorTables) -> None:
    # temperate hardwoods: [0,20] 3.0, (20,40] 1.7, (40,100] 1.4, (100,200] 1.05, >200 0.8
    v = np.array([0.0, 20.0, 20.001, 40.0, 100.0, 100.5, 200.0, 250.0])
    b = bcef_s_t_per_m3(v, np.full(v.shape, 1), np.full(v.shape, TC), tables=tables)
    np.testing.assert_allclose(b, [3.0, 3.0, 1.7, 1.7, 1.4, 1.05, 1.05, 0.8])
    r = forest_carbon_stocks(np.array([0.0]), np.array([2]), np.array([TC]), tables=tables)
    assert r.total_t_c_per_ha[0] == 0.0  # zero volume is a real zero, not nodata


def test_mixed_and_needleleaf_weights(tables: FactorTables) -> None:
    # V = 50 (class 40-100): hardwoods 1.4, pines 0.75, other conifers 1.0
    # evergreen needleleaf = 0.5*0.75 + 0.5*1.0 = 0.875; mixed = 0.5*1.4 + 0.25*0.75 + 0.25*1.0 = 1.1375
    # deciduous needleleaf (temperate, no larch row) = other conifers 1.0
    b = bcef_s_t_per_m3(np.full(3, 50.0), np.array([4, 5, 3]), np.full(3, TC), tables=tables)
    np.testing.assert_allclose(b, [0.875, 1.1375, 1.0])
    # boreal larch, V = 60 (class 50-100): 0.77
    assert bcef_s_t_per_m3(60.0, 3, F["boreal_coniferous"], tables=tables) == pytest.approx(0.77)


def test_root_shoot_classes(tables: FactorTables) -> None:
    # temperate conifer: <=50 0.40, (50,150] 0.29, >150 0.20; boreal <=75 0.39 / >75 0.24
    r = root_shoot_ratio(
        np.array([50.0, 50.5, 151.0]), np.full(3, 4), np.full(3, TC), tables=tables
    )
    np.testing.assert_allclose(r, [0.40, 0.29, 0.20])
    r = root_shoot_ratio(
        np.array([75.0, 76.0]), np.full(2, 1), np.full(2, F["boreal_coniferous"]), tables=tables
    )
    np.testing.assert_allclose(r, [0.39, 0.24])
    # tropical rainforest: one value for every type
    assert root_shoot_ratio(300.0, 2, F["tropical_rainforest"], tables=tables) == pytest.approx(
        0.37
    )


def test_tropical_deadwood_by_precip_and_elevation(tables: FactorTables) -> None:
    eco = np.full(5, F["tropical_moist_deciduous"])
    precip = np.array([1000.0, 1000.1, 1600.0, 1700.0, 1700.0])
    elev = np.array([0.0, 0.0, 0.0, 2000.0, 2001.0])
    dw, lt = deadwood_litter_fractions(
        eco, tables=tables, annual_precip_mm_per_yr=precip, elevation_m=elev
    )
    np.testing.assert_allclose(dw, [0.02, 0.01, 0.01, 0.06, 0.07])
    np.testing.assert_allclose(lt, [0.04, 0.01, 0.01, 0.01, 0.01])
    with pytest.raises(ValueError, match="annual_precip_mm_per_yr is required"):
        forest_carbon_stocks(
            np.array([50.0]), np.array([2]), np.array([F["subtropical_humid"]]), tables=tables
        )


def test_nodata_and_non_forest_cells(tables: FactorTables) -> None:
    vol = np.array([[50.0, np.nan, 50.0], [50.0, 50.0, 50.0]])
    ftype = np.array([[1, 1, 0], [255, 6, 1]], dtype=np.uint8)
    eco = np.array([[TC, TC, TC], [TC, TC, 0]], dtype=np.uint8)
    valid = np.array([[True, True, True], [True, True, True]])
    r = forest_carbon_stocks(vol, ftype, eco, tables=tables, valid=valid)
    nan = np.isnan(r.total_t_c_per_ha)
    assert nan.tolist() == [[False, True, True], [True, False, True]]
    # bamboo (code 6) ignores growing stock: AGB 50 (unverified placeholder), R 0.4
    # -> 50*0.47 + 20*0.47 + 50*0.08*0.47 + 50*0.04*0.37 = 23.5 + 9.4 + 1.88 + 0.74 = 35.52
    assert r.total_t_c_per_ha[1, 1] == pytest.approx(35.52)
    r2 = forest_carbon_stocks(vol, ftype, eco, tables=tables, valid=~np.eye(2, 3, dtype=bool))
    assert np.isnan(r2.total_t_c_per_ha[0, 0])


def test_negative_volume_is_an_error(tables: FactorTables) -> None:
    with pytest.raises(ValueError, match=r"negative values.*nodata"):
        forest_carbon_stocks(np.array([-9999.0]), np.array([1]), np.array([TC]), tables=tables)


def test_density_bef_path(tables: FactorTables) -> None:
    # AGB = 100 * 0.5 * 1.3 = 65 -> R broadleaf (<=75) 0.46 -> BGB 29.9 -> veg C = 94.9*0.47 = 44.603
    r = forest_carbon_stocks(
        np.array([100.0]),
        np.array([1]),
        np.array([TC]),
        tables=tables,
        wood_density_t_per_m3=0.5,
        bef=1.3,
    )
    assert r.vegetation_t_c_per_ha[0] == pytest.approx(44.603)
    with pytest.raises(ValueError, match="both"):
        forest_carbon_stocks(np.array([1.0]), np.array([1]), np.array([TC]), tables=tables, bef=1.3)


def test_inputs_not_mutated(tables: FactorTables) -> None:
    vol = np.array([10.0, np.nan, 300.0])
    ft = np.array([1, 4, 5])
    eco = np.array([TC, TC, TC])
    copies = [x.copy() for x in (vol, ft, eco)]
    forest_carbon_stocks(vol, ft, eco, tables=tables)
    for a, b in zip((vol, ft, eco), copies, strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0, 1000),
    st.integers(1, 5),
    st.sampled_from([TC, F["boreal_coniferous"], F["temperate_mountain"]]),
)
def test_pools_non_negative_and_consistent(
    tables: FactorTables, v: float, ft: int, eco: int
) -> None:
    r = forest_carbon_stocks(np.array([v]), np.array([ft]), np.array([eco]), tables=tables)
    pools = [r.agb_t_c_per_ha, r.bgb_t_c_per_ha, r.deadwood_t_c_per_ha, r.litter_t_c_per_ha]
    assert all(float(p[0]) >= 0 for p in pools)
    assert float(r.total_t_c_per_ha[0]) == pytest.approx(sum(float(p[0]) for p in pools))
    assert float(r.total_co2e_t_per_ha[0]) == pytest.approx(float(r.total_t_c_per_ha[0]) * C_TO_CO2)


def test_national_order_against_9th_nfi(tables: FactorTables) -> None:
    """Synthetic Chinese stand set totalling 17.56 bn m3 (9th NFI forest stock volume, TARGETS.md).

    Reference: 9th National Forest Inventory (2014-2018) forest vegetation carbon **9.186 bn t C** (91.86 亿 t;
    biomass 18.802 bn t; TARGETS.md / FACTORS.md D1). The stand set is a rough mix of Chinese forest strata
    (area Mha, stock m3/ha before scaling, type, FAO zone, precipitation mm):
    boreal larch 10/90; temperate deciduous broadleaf 35/90; temperate pines 10/60; SW spruce-fir mountain 12/280;
    subtropical evergreen broadleaf 30/100; subtropical conifers 45/70; subtropical mixed 20/90; subtropical
    mountain broadleaf 15/130; tropical broadleaf 3/120 -- 180 Mha, stocks scaled to total exactly 17.56e9 m3.
    IPCC Tier-1 BCEF/R give about 11.0 bn t C of living biomass (ratio ~1.20): Tier-1 BCEFs for the 41-100 m3/ha
    class are higher than China's own BEFs, so the check asks only for the right order (within 0.67-1.5x).
    """
    strata = [
        (10, 90, 3, F["boreal_coniferous"], 500),
        (35, 90, 1, TC, 600),
        (10, 60, 4, TC, 500),
        (12, 280, 4, F["temperate_mountain"], 700),
        (30, 100, 2, F["subtropical_humid"], 1500),
        (45, 70, 4, F["subtropical_humid"], 1400),
        (20, 90, 5, F["subtropical_humid"], 1400),
        (15, 130, 2, F["subtropical_mountain"], 1100),
        (3, 120, 2, F["tropical_moist_deciduous"], 1800),
    ]
    area_ha = np.array([s[0] for s in strata], dtype=float) * 1e6
    gs = np.array([s[1] for s in strata], dtype=float)
    gs *= 17.56e9 / float((area_ha * gs).sum())
    assert float((area_ha * gs).sum()) == pytest.approx(17.56e9)
    r = forest_carbon_stocks(
        gs,
        np.array([s[2] for s in strata]),
        np.array([s[3] for s in strata]),
        tables=tables,
        annual_precip_mm_per_yr=np.array([s[4] for s in strata], dtype=float),
    )
    veg_t_c = float((r.vegetation_t_c_per_ha * area_ha).sum())
    ratio = veg_t_c / 9.186e9
    assert 0.67 < ratio < 1.5, (
        f"vegetation carbon {veg_t_c / 1e9:.2f} bn t C vs NFI 9.186 (ratio {ratio:.2f})"
    )



# ---------------------------------------------------------------- China Tier 2
def test_china_tier2_larch_by_hand(tables: FactorTables) -> None:
    # deciduous needleleaf in a temperate zone ("north") = Larix: B = 0.6096 V + 33.806 (Fang et al. 2001; the
    # packaged value is tagged [M] until checked); V = 100 -> B = 94.766 t d.m./ha (above + below ground)
    # R = 0.212 -> AGB = 94.766 / 1.212 = 78.18976..., BGB = 94.766 - AGB = 16.57624...; CF 0.521 -> 49.373086 t C/ha
    r = forest_carbon_stocks_china(np.array([100.0]), np.array([3]), np.array([TC]), tables=tables)
    assert r.agb_t_dm_per_ha[0] + r.bgb_t_dm_per_ha[0] == pytest.approx(94.766)
    assert r.agb_t_dm_per_ha[0] == pytest.approx(94.766 / 1.212)
    assert r.vegetation_t_c_per_ha[0] == pytest.approx(49.373086)
    assert r.deadwood_t_c_per_ha[0] == 0.0 and r.litter_t_c_per_ha[0] == 0.0  # not estimated unless asked


def test_china_tier2_subtropical_conifer_mix_by_hand(tables: FactorTables) -> None:
    # evergreen needleleaf, subtropical humid ("south") = 1/3 each of Cunninghamia, P. massoniana/yunnanensis and
    # Picea/Abies; V = 50:
    # Cunninghamia 0.3999*50 + 22.541 = 42.536 t, x 0.520 = 22.11872 t C
    # P. massoniana 0.5101*50 + 1.0451 = 26.5501 t, x 0.460 = 12.213046 t C
    # Picea/Abies 0.4642*50 + 47.499 = 70.709 t, x 0.511 = 36.132299 t C
    # mean biomass 46.598367 t d.m./ha; mean carbon 23.488022 t C/ha
    r = forest_carbon_stocks_china(np.array([50.0]), np.array([4]), np.array([F["subtropical_humid"]]), tables=tables)
    assert r.agb_t_dm_per_ha[0] + r.bgb_t_dm_per_ha[0] == pytest.approx(46.598367, rel=1e-7)
    assert r.vegetation_t_c_per_ha[0] == pytest.approx(23.488022, rel=1e-7)


def test_china_tier2_mix_weights_must_sum_to_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "mix.csv"
    bad.write_text(
        "table_id,forest_type,domain,forest_group,property,value,unit,source,table,edition,evidence,verified,note\n"
        "cn_forest_type_mix,3,north,larix,def,0.8,weight,test,-,-,M,false,\n",
        encoding="utf-8",
    )
    with pytest.raises(FactorTableError, match=r"sum to 0\.8"):
        forest_carbon_stocks_china(np.array([10.0]), np.array([3]), np.array([TC]), tables=load_factor_tables(bad))


_ZONES = [z for z in FAO_ZONE_NAMES if z > 0]


@settings(max_examples=300, deadline=None)
@given(
    v1=st.floats(0.0, 1500.0),
    dv=st.floats(0.0, 500.0),
    forest_type=st.integers(1, 6),
    zone=st.sampled_from(_ZONES),
    precip=st.floats(50.0, 3000.0),
    factor_set=st.sampled_from(sorted(FACTOR_SETS)),
)
def test_more_stock_never_less_biomass_or_carbon(
    v1: float, dv: float, forest_type: int, zone: int, precip: float, factor_set: str
) -> None:
    """For any pixel, under every shipped factor set: more growing stock never gives less biomass or carbon."""
    tables = load_factor_tables()
    kernel = forest_carbon_stocks_china if factor_set == "china_tier2" else forest_carbon_stocks
    v = np.array([v1, v1 + dv])
    for dom in (False, True):
        r = kernel(
            v, np.full(2, forest_type), np.full(2, zone), tables=tables, annual_precip_mm_per_yr=np.full(2, precip),
            dead_organic_matter=dom,
        )
        if not np.isfinite(r.agb_t_dm_per_ha).all():
            continue  # a zone without factors in this set gives NaN for both
        for pool in (r.agb_t_dm_per_ha, r.bgb_t_dm_per_ha, r.vegetation_t_c_per_ha, r.total_t_c_per_ha):
            assert pool[1] >= pool[0] - 1e-9 * max(1.0, abs(pool[0]))
