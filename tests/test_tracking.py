"""Target tracking: trend, projection, target year and status from the epochs of a region table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinkmap.apps.tracking import (
    DEFAULT_YEARS,
    METHOD,
    epochs_of,
    project,
    target_year,
    target_years_of,
    track,
)


def _table() -> pd.DataFrame:
    """Four regions, epochs 2015 and 2020, coverage targets for 2025 and 2030, one stock target."""
    return pd.DataFrame(
        {
            "level": ["province"] * 4,
            "region_id": ["1", "2", "3", "4"],
            "name_zh": ["甲", "乙", "丙", "丁"],
            "name_en": ["A", "B", "C", "D"],
            "coverage_pct_2015": [20.0, 30.0, 50.0, 40.0],
            "coverage_pct_2020": [22.0, 30.5, 52.0, 39.0],
            "stock_volume_m3_2015": [1.0e9, 2.0e9, 3.0e9, 4.0e9],
            "stock_volume_m3_2020": [1.5e9, 2.0e9, 3.1e9, 3.9e9],
            "target_coverage_pct_2025": [24.1, 32.0, 51.0, 41.0],
            "target_coverage_pct_2030": [25.0, 40.0, np.nan, 42.0],
            "target_stock_volume_m3_2025": [1.8e9, np.nan, np.nan, np.nan],
            "target_stock_volume_m3_2030": [np.nan, np.nan, np.nan, np.nan],
        }
    )


def test_project_and_target_year_by_hand() -> None:
    # 20 % in 2015 → 22 % in 2020: 0.4 points a year; 2025: 24 %, 2030: 26 %.
    assert project(20.0, 22.0, 2015, 2020, 2025, lower=0, upper=100) == pytest.approx(24.0)
    assert project(20.0, 22.0, 2015, 2020, 2030, lower=0, upper=100) == pytest.approx(26.0)
    # clipped at 100 %
    assert project(90.0, 98.0, 2015, 2020, 2030, lower=0, upper=100) == 100.0
    # no trend from one epoch
    assert math.isnan(project(20.0, 20.0, 2020, 2020, 2025, lower=0, upper=100))
    # 24.1 % reached from 22 % at 0.4 points a year: 2020 + 2.1 / 0.4 = 2025.25
    assert target_year(22.0, 0.4, 24.1, 2020) == pytest.approx(2025.25)
    assert target_year(25.0, 0.4, 24.1, 2020) == 2020.0  # already met
    assert math.isnan(target_year(22.0, 0.0, 24.1, 2020))  # flat: never
    assert math.isnan(target_year(22.0, -0.1, 24.1, 2020))  # falling: never


def test_track_statuses_and_values() -> None:
    table = _table()
    before = table.copy()
    result = track(table)
    pd.testing.assert_frame_equal(table, before)  # input untouched
    assert result.epochs == (2015, 2020)
    assert result.years == (2025, 2030)
    assert result.method == METHOD and "first and last epoch" in result.method
    t = result.table.set_index("region_id")
    # region 1: 0.4 pp/yr → 24.0 in 2025 (< 24.1: off track), 26.0 in 2030 (≥ 25: on track)
    assert t.loc["1", "coverage_rate_per_yr"] == pytest.approx(0.4)
    assert t.loc["1", "coverage_projected_2025"] == pytest.approx(24.0)
    assert t.loc["1", "coverage_status_2025"] == "off track"
    assert t.loc["1", "coverage_status_2030"] == "on track"
    assert t.loc["1", "coverage_target_year_2025"] == pytest.approx(2025.25)
    # region 1 stock: 1.5e9 → 1.8e9 at 1e8 m³/yr: reached 2023, on track for 2025; no 2030 target
    assert t.loc["1", "stock_rate_per_yr"] == pytest.approx(1.0e8)
    assert t.loc["1", "stock_target_year_2025"] == pytest.approx(2023.0)
    assert t.loc["1", "stock_status_2025"] == "on track"
    assert t.loc["1", "stock_status_2030"] == "no target"
    # region 2: 0.1 pp/yr → 31.0 in 2025 < 32: off track
    assert t.loc["2", "coverage_status_2025"] == "off track"
    # region 3: 52 ≥ 51: met; target year is the last epoch; no 2030 target
    assert t.loc["3", "coverage_status_2025"] == "met"
    assert t.loc["3", "coverage_target_year_2025"] == 2020.0
    assert t.loc["3", "coverage_status_2030"] == "no target"
    # region 4: falling: off track, never reached
    assert t.loc["4", "coverage_status_2025"] == "off track"
    assert math.isnan(t.loc["4", "coverage_target_year_2025"])
    assert list(result.table["name_zh"]) == ["甲", "乙", "丙", "丁"]


def test_one_epoch_has_no_trend() -> None:
    table = _table().drop(columns=["coverage_pct_2015", "stock_volume_m3_2015"])
    result = track(table)
    assert not result.has_trend
    t = result.table.set_index("region_id")
    assert t["coverage_rate_per_yr"].isna().all()
    assert t["coverage_projected_2025"].isna().all()
    assert t.loc["3", "coverage_status_2025"] == "met"  # a met target stays met
    assert t.loc["1", "coverage_status_2025"] == "no trend"
    assert math.isnan(t.loc["1", "coverage_target_year_2025"])


def test_years_default_and_discovery() -> None:
    table = _table()
    assert epochs_of(table) == (2015, 2020)
    assert target_years_of(table) == (2025, 2030)
    bare = table[[c for c in table.columns if not c.startswith("target_")]]
    result = track(bare)
    assert result.years == DEFAULT_YEARS
    assert set(result.table["coverage_status_2025"]) == {"no target"}
    assert track(table, years=[2035]).years == (2035,)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="coverage_pct"):
        track(pd.DataFrame({"region_id": ["1"]}))
    with pytest.raises(ValueError, match="2019"):
        track(_table(), epochs=[2019, 2020])


def test_missing_values_are_no_data() -> None:
    table = _table()
    table.loc[0, "coverage_pct_2020"] = np.nan
    t = track(table).table
    assert t.loc[0, "coverage_status_2025"] == "no data"


@given(
    first=st.floats(0, 100),
    last=st.floats(0, 100),
    gap=st.integers(1, 15),
    ahead=st.integers(0, 20),
)
def test_projection_properties(first: float, last: float, gap: int, ahead: int) -> None:
    """At the last epoch the line passes through the last value; ahead of it, it stays in 0–100 % and moves in
    the direction of the trend."""
    e0, e1 = 2000, 2000 + gap
    assert project(first, last, e0, e1, e1, lower=0, upper=100) == pytest.approx(last)
    p = project(first, last, e0, e1, e1 + ahead, lower=0, upper=100)
    assert 0 <= p <= 100
    if last > first:
        assert p >= last - 1e-9
    elif last < first:
        assert p <= last + 1e-9
