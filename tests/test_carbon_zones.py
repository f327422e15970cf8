"""Climate and ecological zone rules: thresholds, nodata, PET proxy, vectorisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinkmap.kernels.carbon.zones import (
    FAO_ZONE_CODES,
    FAO_ZONE_NAMES,
    IPCC_CLIMATE_CODES,
    IPCC_CLIMATE_NAMES,
    annual_half_range_c_from_latitude,
    fao_ecological_zone,
    ipcc_climate_zone,
    monthly_temperature_proxy_c,
    thornthwaite_pet_mm_per_yr,
)

IC = IPCC_CLIMATE_CODES
F = FAO_ZONE_CODES


def test_half_range_from_latitude() -> None:
    # 0.55 * (40 - 10) = 16.5; |-40| same; 10 deg -> 0 -> clipped to 2; 80 deg -> 38.5 -> clipped to 25
    np.testing.assert_allclose(
        annual_half_range_c_from_latitude([40.0, -40.0, 10.0, 80.0]), [16.5, 16.5, 2.0, 25.0]
    )


def test_monthly_proxy_extremes() -> None:
    t = monthly_temperature_proxy_c(12.0, 40.0)  # A = 16.5
    assert t.shape == (12,)
    assert t[0] == pytest.approx(12.0 - 16.5) and t[6] == pytest.approx(12.0 + 16.5)
    south = monthly_temperature_proxy_c(12.0, -40.0)
    assert south[0] == pytest.approx(28.5)


def test_thornthwaite_zero_when_always_frozen_and_nan_propagates() -> None:
    pet = thornthwaite_pet_mm_per_yr(np.array([-30.0, np.nan, 20.0]), 45.0, annual_half_range_c=5.0)
    assert pet[0] == 0.0 and np.isnan(pet[1]) and 900 < pet[2] < 1300


def test_thornthwaite_constant_month_hand_value() -> None:
    # A = 0: every month 10 degC. I = 12 * (10/5)^1.514 = 12 * 2.8563 = 34.276;
    # a = 6.75e-7*I^3 - 7.71e-5*I^2 + 1.792e-2*I + 0.49239 = 0.02718 - 0.09058 + 0.61422 + 0.49239 = 1.04321;
    # PET_m = 16 * (10*10/34.276)^a = 16 * 2.9175^1.04321 = 16 * 3.0576 = 48.92 mm per 30-day 12-h month.
    # At the equator day length is 12 h, so PET = 48.92 * 365/30 = 595.2 mm/yr.
    pet = float(thornthwaite_pet_mm_per_yr(10.0, 0.0, annual_half_range_c=0.0))
    assert pet == pytest.approx(595.2, rel=2e-3)


@pytest.mark.parametrize(
    ("mat", "map_", "elev", "pet", "expected"),
    [
        (25.0, 2500.0, 100.0, None, "tropical_wet"),
        (25.0, 2000.0, 100.0, None, "tropical_moist"),  # 2000 is not > 2000
        (25.0, 1000.0, 100.0, None, "tropical_dry"),  # 1000 is not > 1000
        (25.0, 1500.0, 1500.0, None, "tropical_montane"),
        (18.0, 900.0, 0.0, 800.0, "warm_temperate_moist"),  # 18 is not > 18; MAP >= PET
        (15.0, 700.0, 0.0, 800.0, "warm_temperate_dry"),
        (10.0, 900.0, 0.0, 600.0, "cool_temperate_moist"),  # 10 is not > 10
        (5.0, 400.0, 0.0, 600.0, "cool_temperate_dry"),
        (0.0, 500.0, 0.0, 400.0, "boreal_moist"),  # 0 -> cold; warmest = 0 + A(50 deg)=22 > 10
        (-2.0, 300.0, 0.0, 400.0, "boreal_dry"),
    ],
)
def test_ipcc_thresholds(
    mat: float, map_: float, elev: float, pet: float | None, expected: str
) -> None:
    code = ipcc_climate_zone(
        mat, map_, 50.0 if mat <= 10 else 25.0, elevation_m=elev, pet_mm_per_yr=pet
    )
    assert IPCC_CLIMATE_NAMES[int(code)] == expected


def test_ipcc_polar_uses_warmest_month() -> None:
    # MAT -5, A = 10 -> warmest 5 <= 10 -> polar; with A = 20 -> warmest 15 -> boreal
    assert (
        ipcc_climate_zone(-5.0, 300.0, 60.0, annual_half_range_c=10.0, pet_mm_per_yr=100.0)
        == IC["polar_moist"]
    )
    assert (
        ipcc_climate_zone(-5.0, 300.0, 60.0, annual_half_range_c=20.0, pet_mm_per_yr=100.0)
        == IC["boreal_moist"]
    )


def test_ipcc_nodata_and_no_montane_without_elevation() -> None:
    codes = ipcc_climate_zone(
        np.array([np.nan, 25.0, 25.0]), np.array([500.0, np.nan, 1500.0]), 20.0
    )
    assert codes.tolist() == [0, 0, IC["tropical_moist"]]
    assert codes.dtype == np.uint8


def test_fao_domains_from_months_above_10() -> None:
    # A = 10 for all. MAT 30 -> coldest 20 >= 18 -> tropical.
    # MAT 17: months > 10: 17 - 10 cos(2 pi m/12) > 10 <=> cos < 0.7 -> m = 2..10 -> 9 months -> subtropical.
    # MAT 10: cos < 0 -> m = 4..8 -> 5 months (cos(pi/2)=0 for m = 3, 9 is not < 0) -> temperate; coldest 0 -> continental.
    # MAT 12 with A = 8: coldest 4 > 0 -> temperate oceanic (months: cos < 0.25 -> m 3..9 = 7 -> temperate).
    # MAT 2: cos < -0.8 -> m = 5,6,7 -> 3 months -> boreal.  MAT -5: warmest 5 -> polar.
    mat = np.array([30.0, 17.0, 10.0, 12.0, 2.0, -5.0])
    amp = np.array([10.0, 10.0, 10.0, 8.0, 10.0, 10.0])
    codes = fao_ecological_zone(mat, 1500.0, 30.0, annual_half_range_c=amp, pet_mm_per_yr=1000.0)
    names = [FAO_ZONE_NAMES[int(c)] for c in codes]
    assert names == [
        "tropical_moist_deciduous",
        "subtropical_humid",
        "temperate_continental",
        "temperate_oceanic",
        "boreal_coniferous",
        "polar",
    ]


def test_fao_mountain_and_dry() -> None:
    codes = fao_ecological_zone(
        np.array([17.0, 17.0, 10.0, 2.0, 17.0]),
        np.array([1500.0, 1500.0, 500.0, 500.0, 600.0]),
        30.0,
        elevation_m=np.array([1500.0, 900.0, 900.0, 700.0, 0.0]),
        annual_half_range_c=10.0,
        pet_mm_per_yr=1000.0,
    )
    assert codes.tolist() == [
        F["subtropical_mountain"],
        F["subtropical_humid"],
        F["temperate_mountain"],
        F["boreal_mountain"],
        F["subtropical_dry"],
    ]


def test_chinese_stations_are_sensible() -> None:
    # Chengdu (30.7N, 16.5 degC, 900 mm) must be humid/moist: a Holdridge-style PET would make it dry.
    assert ipcc_climate_zone(16.5, 900.0, 30.7) == IC["warm_temperate_moist"]
    assert fao_ecological_zone(16.5, 900.0, 30.7) == F["subtropical_humid"]
    assert ipcc_climate_zone(12.5, 570.0, 39.9) == IC["warm_temperate_dry"]  # Beijing
    assert fao_ecological_zone(12.5, 570.0, 39.9) == F["temperate_continental"]
    assert fao_ecological_zone(-4.0, 450.0, 52.9) == F["boreal_coniferous"]  # Mohe


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-30, 35),
    st.floats(0, 4000),
    st.floats(-60, 60),
)
def test_codes_always_valid_and_elementwise(mat: float, map_: float, lat: float) -> None:
    arr_mat = np.array([[mat, 10.0], [mat, np.nan]])
    arr_p = np.array([[map_, 800.0], [map_, 800.0]])
    ipcc = ipcc_climate_zone(arr_mat, arr_p, lat)
    fao = fao_ecological_zone(arr_mat, arr_p, lat)
    assert set(ipcc.ravel().tolist()) <= set(IPCC_CLIMATE_NAMES)
    assert set(fao.ravel().tolist()) <= set(FAO_ZONE_NAMES)
    assert ipcc[0, 0] == ipcc[1, 0] == ipcc_climate_zone(mat, map_, lat)
    assert fao[1, 1] == 0 and ipcc[1, 1] == 0
    assert ipcc[0, 0] != 0 and fao[0, 0] != 0


def test_inputs_not_mutated() -> None:
    mat = np.array([10.0, 20.0])
    before = mat.copy()
    ipcc_climate_zone(mat, np.array([800.0, 900.0]), np.array([30.0, 20.0]))
    np.testing.assert_array_equal(mat, before)


def test_bad_latitude() -> None:
    with pytest.raises(ValueError, match="latitude"):
        ipcc_climate_zone(10.0, 800.0, 95.0)
