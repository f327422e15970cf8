"""Wetland kernels: coastal sink sign, restored mask, mangrove pools, inland SOC, CH4."""

from __future__ import annotations

import numpy as np
import pytest

from sinkmap.factors import FactorTables, load_factor_tables
from sinkmap.kernels.carbon.wetland import (
    ch4_co2e_t_per_ha_yr,
    inland_wetland_soc_t_c_per_ha,
    mangrove_biomass_carbon,
    wetland_ch4_kg_per_ha_yr,
    wetland_soil_sink_t_c_per_ha_yr,
)
from sinkmap.kernels.carbon.zones import FAO_ZONE_CODES as F
from sinkmap.kernels.carbon.zones import IPCC_CLIMATE_CODES as I


@pytest.fixture(scope="module")
def tables() -> FactorTables:
    return load_factor_tables()


def test_coastal_sink_is_positive(tables: FactorTables) -> None:
    wt = np.array([0, 1, 2, 3, 4])
    s = wetland_soil_sink_t_c_per_ha_yr(wt, tables=tables)
    # WS Table 4.12: -1.62 / -0.91 / -0.43 (IPCC sign) -> +1.62 / +0.91 / +0.43; inland 0 (no Tier-1 default)
    assert np.isnan(s[0])
    np.testing.assert_allclose(s[1:], [0.0, 1.62, 0.91, 0.43])


def test_restored_mask_applies_tier1_rule(tables: FactorTables) -> None:
    wt = np.array([2, 2, 3, 1])
    s = wetland_soil_sink_t_c_per_ha_yr(
        wt, tables=tables, restored=np.array([True, False, False, False])
    )
    np.testing.assert_allclose(s, [1.62, 0.0, 0.0, 0.0])


def test_mangrove_pools_by_hand(tables: FactorTables) -> None:
    # subtropical mangrove (China): AGB 75 t d.m./ha [M], R 0.96, deadwood 0.258, litter 0.0169, CF 0.45
    # AGB C 33.75; BGB 75*0.96*0.45 = 32.4; dead 75*0.258*0.45 = 8.7075; litter 75*0.0169*0.45 = 0.570375
    # tropical wet: AGB 192 -> 86.4 t C/ha
    wt = np.array([2, 2, 3, 2])
    eco = np.array([F["subtropical_humid"], F["tropical_rainforest"], F["subtropical_humid"], 0])
    m = mangrove_biomass_carbon(wt, eco, tables=tables)
    assert m.agb_t_c_per_ha[0] == pytest.approx(33.75)
    assert m.bgb_t_c_per_ha[0] == pytest.approx(32.4)
    assert m.deadwood_t_c_per_ha[0] == pytest.approx(8.7075)
    assert m.litter_t_c_per_ha[0] == pytest.approx(0.570375)
    assert m.total_t_c_per_ha[0] == pytest.approx(33.75 + 32.4 + 8.7075 + 0.570375)
    assert m.agb_t_c_per_ha[1] == pytest.approx(86.4)
    assert np.isnan(m.total_t_c_per_ha[2]) and np.isnan(m.total_t_c_per_ha[3])


def test_inland_soc_and_ch4(tables: FactorTables) -> None:
    wt = np.array([1, 1, 1, 2, 3])
    clim = np.array(
        [I["cool_temperate_moist"], I["boreal_dry"], I["tropical_wet"], I["tropical_wet"], 0]
    )
    soc = inland_wetland_soc_t_c_per_ha(wt, clim, tables=tables)
    np.testing.assert_allclose(soc[:3], [87.0, 146.0, 86.0])
    assert np.isnan(soc[3:]).all()
    ch4 = wetland_ch4_kg_per_ha_yr(
        wt, clim, tables=tables, salinity_ppt=np.array([0, 0, 0, 10.0, np.nan])
    )
    # inland: temperate 235, boreal 76, tropical 900; coastal: < 18 ppt 193.7, unknown -> >= 18 -> 0
    np.testing.assert_allclose(ch4, [235.0, 76.0, 900.0, 193.7, 0.0])
    # 235 kg CH4 * 27 / 1000 = 6.345 t CO2e
    assert ch4_co2e_t_per_ha_yr(235.0, tables=tables) == pytest.approx(6.345)


def test_unknown_wetland_code(tables: FactorTables) -> None:
    with pytest.raises(ValueError, match="unknown code"):
        wetland_soil_sink_t_c_per_ha_yr(np.array([7]), tables=tables)
