"""Grassland biomass, SOC and the 20-year SOC transition, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinkmap.errors import FactorTableError
from sinkmap.factors import FactorTables, load_factor_tables
from sinkmap.kernels.carbon.grassland import (
    grassland_biomass_carbon,
    soc_change_t_c_per_ha_yr,
    soil_organic_carbon_t_c_per_ha,
)
from sinkmap.kernels.carbon.zones import IPCC_CLIMATE_CODES as I


@pytest.fixture(scope="module")
def tables() -> FactorTables:
    return load_factor_tables()


def test_biomass_by_hand(tables: FactorTables) -> None:
    # Table 6.4: cold temperate wet AGB 2.4, total 13.6 -> BGB 11.2; x 0.47 -> 1.128 and 5.264 t C/ha
    # warm temperate dry AGB 1.6, total 6.1 -> BGB 4.5 -> 0.752 and 2.115
    clim = np.array([I["cool_temperate_moist"], I["warm_temperate_dry"], 0, I["polar_dry"]])
    b = grassland_biomass_carbon(clim, tables=tables)
    np.testing.assert_allclose(b.agb_t_c_per_ha[:2], [1.128, 0.752])
    np.testing.assert_allclose(b.bgb_t_c_per_ha[:2], [5.264, 2.115])
    assert np.isnan(b.total_t_c_per_ha[2])
    # polar falls back to boreal: AGB 1.7, total 8.5 -> 3.995 t C/ha total
    assert b.total_t_c_per_ha[3] == pytest.approx(8.5 * 0.47)


def test_soc_default_hac_and_factors(tables: FactorTables) -> None:
    clim = np.array(
        [
            I["cool_temperate_moist"],
            I["warm_temperate_dry"],
            I["tropical_montane"],
            I["cool_temperate_dry"],
        ]
    )
    # HAC, nominal: 95, 38, 88, 50
    np.testing.assert_allclose(
        soil_organic_carbon_t_c_per_ha(clim, tables=tables), [95.0, 38.0, 88.0, 50.0]
    )
    # management: moderately degraded (temperate 0.95), improved+high input (tropical montane 1.16 * 1.11),
    # severely degraded 0.70, improved + medium input (1.14 * 1.0)
    soc = soil_organic_carbon_t_c_per_ha(
        clim,
        tables=tables,
        management=np.array([2, 3, 4, 4]),
        input_level=np.array([2, 2, 2, 1]),
    )
    # 95*0.95 = 90.25 (input ignored off improved grassland); 38*0.70 = 26.6; 88*1.16*1.11 = 113.3088; 50*1.14 = 57.0
    np.testing.assert_allclose(soc, [90.25, 26.6, 113.3088, 57.0])


def test_soil_types_and_missing_combination(tables: FactorTables) -> None:
    clim = np.array(
        [I["cool_temperate_moist"], I["cool_temperate_moist"], I["cool_temperate_moist"]]
    )
    # spodic 115, unknown (0 -> HAC) 95, wetland 87
    soc = soil_organic_carbon_t_c_per_ha(clim, tables=tables, soil_type=np.array([4, 0, 6]))
    np.testing.assert_allclose(soc, [115.0, 95.0, 87.0])
    # boreal LAC and warm temperate dry spodic do not exist in Table 2.3: both named in one error
    with pytest.raises(
        FactorTableError,
        match=r"climate': 'boreal', 'soil_type': 'lac'.*warm_temperate_dry', 'soil_type': 'spodic'",
    ):
        soil_organic_carbon_t_c_per_ha(
            np.array([I["boreal_moist"], I["warm_temperate_dry"]]),
            tables=tables,
            soil_type=np.array([2, 4]),
        )
    with pytest.raises(ValueError, match="unknown code"):
        soil_organic_carbon_t_c_per_ha(clim, tables=tables, management=np.array([1, 9, 1]))


def test_soc_nodata(tables: FactorTables) -> None:
    soc = soil_organic_carbon_t_c_per_ha(
        np.array([0, I["boreal_moist"]]), tables=tables, valid=np.array([True, False])
    )
    assert np.isnan(soc).all()


def test_soc_change_twenty_year_transition() -> None:
    # grassland degraded from 95 to 66.5 (F_MG 0.7): (66.5 - 95)/20 = -1.425 t C/ha/yr for years 0..19, then 0
    years = np.array([0.0, 10.0, 19.9, 20.0, 35.0, np.nan])
    d = soc_change_t_c_per_ha_yr(np.full(6, 95.0), np.full(6, 66.5), years)
    np.testing.assert_allclose(d[:5], [-1.425, -1.425, -1.425, 0.0, 0.0])
    assert np.isnan(d[5])
    # improvement is a sink (positive); custom D
    assert soc_change_t_c_per_ha_yr(50.0, 57.0, 3.0, transition_years=10.0) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        soc_change_t_c_per_ha_yr(1.0, 2.0, -1.0)


@settings(max_examples=50, deadline=None)
@given(st.floats(0, 300), st.floats(0, 300))
def test_transition_integrates_to_total_change(before: float, after: float) -> None:
    years = np.arange(0, 40, dtype=float)
    total = soc_change_t_c_per_ha_yr(np.full(40, before), np.full(40, after), years).sum()
    assert total == pytest.approx(after - before, abs=1e-9)
