"""Stock difference, gain-loss growth removals and area-weighted transition matrices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sinkmap.errors import ConfigError
from sinkmap.factors import FactorTables, load_factor_tables
from sinkmap.kernels.carbon.change import (
    forest_growth_removals,
    stock_difference_sink,
    transition_matrix,
)
from sinkmap.kernels.carbon.zones import FAO_ZONE_CODES as F


@pytest.fixture(scope="module")
def tables() -> FactorTables:
    return load_factor_tables()


def test_stock_difference_by_hand() -> None:
    # (60 - 50)/5 = 2 t C/ha/yr -> 7.3333 t CO2e; a loss of 5 t over 5 yr is -1.0 (a source, kept as -1.0)
    s = stock_difference_sink(
        np.array([50.0, 50.0, np.nan]), np.array([60.0, 45.0, 1.0]), year0=2020, year1=2025
    )
    np.testing.assert_allclose(s.c_t_per_yr[:2], [2.0, -1.0])
    np.testing.assert_allclose(s.co2e_t_per_yr[:2], [2.0 * 44 / 12, -44 / 12])
    assert np.isnan(s.c_t_per_yr[2])
    with pytest.raises(ConfigError, match="year1 > year0"):
        stock_difference_sink(1.0, 2.0, year0=2025, year1=2020)


def test_growth_removals_by_hand(tables: FactorTables) -> None:
    # subtropical humid, secondary <= 20 yr: G = 2.5 t d.m./ha/yr; default R 0.26; CF 0.47
    # AGB C = 1.175; BGB C = 0.3055; net = 1.4805 t C/ha/yr
    # tropical mountain primary: G = -0.7 (as tabulated) -> AGB C -0.329 (a net source, sign kept)
    eco = np.array([F["subtropical_humid"], F["tropical_mountain"], 0, F["boreal_coniferous"]])
    age = np.array([1, 3, 1, 9])
    g = forest_growth_removals(eco, age, tables=tables)
    assert g.agb_t_c_per_ha_yr[0] == pytest.approx(1.175)
    assert g.bgb_t_c_per_ha_yr[0] == pytest.approx(0.3055)
    assert g.net_t_c_per_ha_yr[0] == pytest.approx(1.4805)
    assert g.net_co2e_t_per_ha_yr[0] == pytest.approx(1.4805 * 44 / 12)
    assert g.agb_t_c_per_ha_yr[1] == pytest.approx(-0.329)
    assert np.isnan(g.net_t_c_per_ha_yr[2:]).all()


def test_growth_removals_r_from_table_and_losses(tables: FactorTables) -> None:
    # temperate continental (Asia proxy row, unverified) secondary > 20: G = 1.97; conifer AGB 40 -> R 0.40
    # AGB C = 0.9259; BGB C = 0.37036; losses 0.5 -> net 0.79626
    g = forest_growth_removals(
        F["temperate_continental"],
        2,
        tables=tables,
        forest_type=4,
        agb_t_dm_per_ha=40.0,
        losses_t_c_per_ha_yr=0.5,
    )
    assert float(g.net_t_c_per_ha_yr) == pytest.approx(0.79626)
    with pytest.raises(ValueError, match="both forest_type and agb"):
        forest_growth_removals(F["temperate_continental"], 2, tables=tables, forest_type=4)


def test_transition_matrix_weighted_exact() -> None:
    before = np.array([[2, 2, 4], [9, 255, 2]])
    after = np.array([[2, 4, 4], [2, 2, 1]])
    area = np.array([[900.5, 899.25, 901.0], [100.0, 900.0, 0.125]])
    tm = transition_matrix(before, after, area, [1, 2, 4, 9])
    # 2->2 900.5; 2->4 899.25; 4->4 901.0; 9->2 100.0; 2->1 0.125; 255 (nodata) skipped
    assert tm.as_dict() == {
        (2, 2): 900.5,
        (2, 4): 899.25,
        (4, 4): 901.0,
        (9, 2): 100.0,
        (2, 1): 0.125,
    }
    assert tm.values.sum() == pytest.approx(900.5 + 899.25 + 901.0 + 100.0 + 0.125)
    counts = transition_matrix(before, after, None, [1, 2, 4, 9])
    assert counts.values.sum() == 5.0


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.int64, (6, 7), elements=st.integers(0, 4)),
    hnp.arrays(np.int64, (6, 7), elements=st.integers(0, 4)),
    hnp.arrays(np.float64, (6, 7), elements=st.floats(0, 1000)),
    st.integers(1, 6),
)
def test_transition_matrix_chunks_add_up(
    b: np.ndarray, a: np.ndarray, w: np.ndarray, split: int
) -> None:
    classes = [1, 2, 3, 4]  # code 0 is nodata
    whole = transition_matrix(b, a, w, classes)
    parts = transition_matrix(b[:split], a[:split], w[:split], classes) + transition_matrix(
        b[split:], a[split:], w[split:], classes
    )
    np.testing.assert_allclose(parts.values, whole.values, rtol=1e-12, atol=1e-9)
    keep = (b > 0) & (a > 0)
    assert whole.values.sum() == pytest.approx(w[keep].sum(), rel=1e-12, abs=1e-9)
