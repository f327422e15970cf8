"""Karst sink: equilibrium chemistry against known values, monotonicity, Turc/Brook, MPD and hydrochemistry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinkmap.errors import ConfigError, InputNotFoundError
from sinkmap.factors import load_factor_tables
from sinkmap.kernels.carbon import karst
from sinkmap.kernels.carbon.karst import (
    activity_coefficients,
    calcium_equilibrium_mmol_per_l,
    equilibrium_constants_log10,
    karst_sink_hydrochem_t_c_per_km2_yr,
    karst_sink_mpd_t_c_per_km2_yr,
    read_catchment_table,
    runoff_m_per_yr,
    soil_pco2_atm_brook,
    turc_aet_mm_per_yr,
)


def test_constants_at_25c_match_plummer_busenberg() -> None:
    # Independently tabulated at 25 degC (Plummer & Busenberg 1982): pK1 6.352, pK2 10.329, pKc(calcite) 8.480,
    # pKH 1.468.
    k = equilibrium_constants_log10(25.0)
    assert float(k.log_k1) == pytest.approx(-6.352, abs=2e-3)
    assert float(k.log_k2) == pytest.approx(-10.329, abs=2e-3)
    assert float(k.log_kc) == pytest.approx(-8.480, abs=2e-3)
    assert float(k.log_kh) == pytest.approx(-1.468, abs=2e-3)


def test_activity_coefficients_below_one() -> None:
    # 25 degC, I = 0.1: A = 0.4883 + 8.074e-4*25 = 0.50849; B = 0.3241 + 1.6e-4*25 = 0.3281; sqrt(I) = 0.31623
    # log gCa = -4*0.50849*0.31623/(1 + 5.0*0.3281*0.31623) = -0.64319/1.51877 = -0.42349 -> 0.37717
    # log gHCO3 = -0.50849*0.31623/(1 + 5.4*0.3281*0.31623) = -0.16080/1.56027 = -0.10306 -> 0.78872
    g_ca, g_hco3 = activity_coefficients(25.0)
    assert float(g_ca) == pytest.approx(0.37717, rel=1e-4)
    assert float(g_hco3) == pytest.approx(0.78872, rel=1e-4)


def test_calcium_equilibrium_at_25c_and_1_percent_co2() -> None:
    # log(K1 Kc KH / K2) = -6.3519 - 8.4798 - 1.4679 + 10.3289 = -5.9707
    # ideal: [Ca]^3 = 1e-2 * 10^-5.9707 / 4 = 10^-8.5728 -> [Ca] = 10^-2.8576 = 1.388 mmol/L
    # I = 0.1: divide by gCa*gHCO3^2 = 0.37717*0.78872^2 = 0.23463 -> [Ca] = 1.388 / 0.23463^(1/3) = 2.250 mmol/L
    assert float(
        calcium_equilibrium_mmol_per_l(25.0, 1e-2, ionic_strength_mol_per_l=0.0)
    ) == pytest.approx(1.388, abs=2e-3)
    assert float(calcium_equilibrium_mmol_per_l(25.0, 1e-2)) == pytest.approx(2.250, abs=2e-3)
    # Independent order check: calcite saturation in pure water at 25 degC and pCO2 = 1e-2 atm is about
    # 1.5-1.7 mmol/L (ionic strength ~0.005); the self-consistent-I option reproduces it.
    assert (
        1.5 < float(calcium_equilibrium_mmol_per_l(25.0, 1e-2, ionic_strength_mol_per_l=None)) < 1.7
    )


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 40), st.floats(-3.5, -1.6), st.floats(0.05, 0.5))
def test_monotonic_in_pco2_and_temperature(t: float, log_p: float, dlog: float) -> None:
    p = 10.0**log_p
    c = calcium_equilibrium_mmol_per_l(np.array([t, t, t + 5.0]), np.array([p, p * 10**dlog, p]))
    assert c[1] > c[0]  # more CO2 dissolves more calcite
    assert c[2] < c[0]  # retrograde solubility: warmer water holds less


def test_brook_pco2_units_and_clamp() -> None:
    # AET = 0 -> 10^-3.47 = 3.39e-4 atm (339 ppmv, atmospheric) ; AET = 700: 1 - exp(-1.204) = 0.70002,
    # log p = -3.47 + 2.09*0.70002 = -2.00696 -> 0.009841 atm; very large AET -> 10^-1.38, clamped to 10^-1.5
    p = soil_pco2_atm_brook(np.array([0.0, 700.0, 5000.0]))
    np.testing.assert_allclose(p, [10**-3.47, 0.009841, 10**-1.5], rtol=1e-3)
    assert float(soil_pco2_atm_brook(5000.0, clamp=False)) == pytest.approx(10**-1.38, rel=1e-3)


def test_turc_by_hand() -> None:
    # T = 15: L = 300 + 375 + 168.75 = 843.75; P = 1200: P/L = 1.42222; sqrt(0.9 + 2.02272) = 1.70960
    # AET = 1200 / 1.70960 = 701.92 mm; runoff = 0.49808 m/yr
    assert float(turc_aet_mm_per_yr(1200.0, 15.0)) == pytest.approx(701.92, abs=0.02)
    assert float(runoff_m_per_yr(1200.0, 15.0)) == pytest.approx(0.49808, abs=2e-5)
    # dry: P/L small -> capped at P; T <= -10 -> L <= 0 -> AET 0
    assert float(turc_aet_mm_per_yr(50.0, 20.0)) == 50.0
    assert float(turc_aet_mm_per_yr(300.0, -12.0)) == 0.0


def test_mpd_southwest_china_is_tens_of_t_c() -> None:
    # T 15 degC, P 1200 mm: runoff 0.49808 m; AET 701.92 -> pCO2 = 10^(-3.47 + 2.09*(1 - e^-1.20730)) = 0.009864 atm
    # [Ca]_eq(15 degC, 0.009864 atm, I = 0.1) = 2.6247 * (0.9864)^(1/3) = 2.6127 mmol/L
    # flux = 12 * 0.49808 * 2.6127 = 15.62 t C/km2/yr
    carb = np.array([1, 0, 2, 1])
    f = karst_sink_mpd_t_c_per_km2_yr(np.array([15.0, 15.0, 15.0, np.nan]), 1200.0, carb)
    assert f[0] == pytest.approx(15.62, abs=0.03)
    assert np.isnan(f[1]) and np.isnan(f[2]) and np.isnan(f[3])
    f2 = karst_sink_mpd_t_c_per_km2_yr(15.0, 1200.0, 2, include_buried=True)
    assert float(f2) == pytest.approx(f[0])


def test_national_order_10_to_40_tg() -> None:
    """China's carbonate area by region (Jiang et al. 2012, FACTORS §C4; 3.44e6 km2 in all) with representative
    climates -> the MPD national sink must fall within ~10-40 Tg C/yr (published 10.1-42 Tg C/a).

    South China exposed 564,800 km2 (17 degC, 1300 mm); North China 325,800 (10 degC, 550 mm); Tibetan Plateau
    556,000 (0 degC, 400 mm); buried 2,001,000 (10 degC, 500 mm). Result: ~17.4 Tg C/yr, national mean ~5.1
    t C/km2/yr (cf. 4.28 t C/km2/yr limestone mean 2000-2014, GYIG 2019).
    """
    t = load_factor_tables()
    areas = np.array(
        [
            t.value("karst_constant", name=f"china_carbonate_area_{r}")
            for r in ("south", "north", "tibet", "buried")
        ]
    )
    assert areas.sum() == pytest.approx(3.44e6, rel=0.005)
    flux = karst_sink_mpd_t_c_per_km2_yr(
        np.array([17.0, 10.0, 0.0, 10.0]),
        np.array([1300.0, 550.0, 400.0, 500.0]),
        np.array([1, 1, 1, 2]),
        include_buried=True,
    )
    total_tg = float((flux * areas).sum()) / 1e6
    assert 10.0 < total_tg < 40.0
    assert total_tg == pytest.approx(17.4, abs=0.1)


def test_hydrochem_by_hand() -> None:
    # HCO3 200 mg/L, Q 1000 L/s, A 100 km2: HCO3 mass = 200 * 1000 * 3.1536e7 * 1e-9 = 6307.2 t/yr
    # C = 6307.2 * 12/61 = 1240.76 t; half -> 620.38 t; / 100 km2 = 6.2038 t C/km2/yr; with f_nc = 0.2 -> 4.9631
    v = karst_sink_hydrochem_t_c_per_km2_yr(
        np.array([200.0, 200.0]), 1000.0, 100.0, np.array([0.0, 0.2])
    )
    np.testing.assert_allclose(v, [6.2038, 4.9631], rtol=1e-4)
    with pytest.raises(ValueError, match="area_km2"):
        karst_sink_hydrochem_t_c_per_km2_yr(200.0, 1000.0, 0.0)


def test_catchment_table(tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_text(
        "Catchment_ID,AREA_KM2,discharge_l_per_s,hco3_mg_per_l,extra\nbanzhai,100,1000,200,x\nchenqi,1.25,10,250,\n"
    )
    c = read_catchment_table(p)
    assert c.catchment_id == ("banzhai", "chenqi")
    assert c.sink_t_c_per_km2_yr()[0] == pytest.approx(6.2038, rel=1e-4)
    assert c.sink_t_c_per_yr()[0] == pytest.approx(620.38, rel=1e-4)
    assert c.non_carbonic_fraction.tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "catchment_id,area_km2,hco3_mg_per_l\na,1,2\n",
            r"missing column\(s\) \['discharge_l_per_s'\]",
        ),
        (
            "catchment_id,area_km2,discharge_l_per_s,hco3_mg_per_l\na,1,x,2\n",
            r"line 2, column 'discharge_l_per_s': 'x'",
        ),
        (
            "catchment_id,area_km2,discharge_l_per_s,hco3_mg_per_l\na,1,1,2\na,2,2,2\n",
            r"line 3: duplicate catchment_id 'a'",
        ),
        (
            "catchment_id,area_km2,discharge_l_per_s,hco3_mg_per_l\na,0,1,2\n",
            r"line 2, column 'area_km2'.*> 0",
        ),
        (
            "catchment_id,area_km2,discharge_l_per_s,hco3_mg_per_l,non_carbonic_fraction\na,1,1,2,1.5\n",
            r"non_carbonic_fraction.*0\.\.1",
        ),
    ],
)
def test_catchment_table_errors(tmp_path: Path, body: str, message: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(ConfigError, match=message):
        read_catchment_table(p)
    with pytest.raises(InputNotFoundError):
        read_catchment_table(tmp_path / "nope.csv")


def test_code_constants_match_packaged_table() -> None:
    t = load_factor_tables()

    def v(name: str) -> float:
        return t.value("karst_constant", name=name)

    assert karst.BROOK_COEFFICIENTS == (v("brook_intercept"), v("brook_amplitude"), v("brook_rate"))
    assert karst.PCO2_RANGE_ATM == pytest.approx((v("pco2_min"), v("pco2_max")))
    assert karst.DEFAULT_IONIC_STRENGTH_MOL_PER_L == v("ionic_strength")
    assert karst.ATMOSPHERIC_SHARE_OF_DIC == v("atmospheric_share_of_dic")
    assert karst.TURC_COEFFICIENTS == (
        v("turc_denominator_constant"),
        v("turc_l_0"),
        v("turc_l_1"),
        v("turc_l_3"),
    )


def test_self_consistent_ionic_strength() -> None:
    """I = 3 [Ca²⁺] solved with the equilibrium: ≈ 0.006 mol/L under typical karst conditions (15 °C, soil pCO2
    10⁻² atm), not the fixed 0.1; re-evaluating at I = 3 [Ca] returns the same [Ca] (a fixed point)."""
    ca = float(karst.calcium_equilibrium_mmol_per_l(15.0, 1e-2, ionic_strength_mol_per_l=None))
    ionic = 3 * ca / 1000
    assert ionic == pytest.approx(0.006, abs=0.0005)
    assert float(karst.calcium_equilibrium_mmol_per_l(15.0, 1e-2, ionic_strength_mol_per_l=ionic)) == pytest.approx(ca, rel=1e-9)
    # activity coefficients are nearer 1 at the lower ionic strength, so less calcium dissolves than at I = 0.1
    assert ca < float(karst.calcium_equilibrium_mmol_per_l(15.0, 1e-2, ionic_strength_mol_per_l=0.1))
