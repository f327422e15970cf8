"""InVEST carbon pools table: reading, header case, errors, densities, nodata vs a real -1.0 change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sinkmap.errors import FactorTableError, InputNotFoundError
from sinkmap.kernels.carbon.invest import pools_change, pools_density, read_invest_carbon_table

TABLE = """LULC_Name,LUCODE,C_Above,C_BELOW,c_soil,C_Dead
forest,2,100,25,80,10
grass,4,2,8,60,0.5
crop,1,5,1,45,0
degraded grass,5,1,8,60,0.5
"""


@pytest.fixture
def table_path(tmp_path: Path) -> Path:
    p = tmp_path / "carbon_pools.csv"
    p.write_text(TABLE)
    return p


def test_read_and_hand_totals(table_path: Path) -> None:
    t = read_invest_carbon_table(table_path)
    assert t.lucode.tolist() == [1, 2, 4, 5]
    lulc = np.array([[2, 4], [1, 255]], dtype=np.uint8)
    d = pools_density(lulc, t, nodata=255)
    # forest 100+25+80+10 = 215; grass 2+8+60+0.5 = 70.5; crop 5+1+45+0 = 51
    np.testing.assert_allclose(d.total[:, :], [[215.0, 70.5], [51.0, np.nan]])
    assert np.isnan(d.c_soil[1, 1])
    assert d.total_co2e[0, 0] == pytest.approx(215 * 44 / 12)
    # hectare-weighted total over three 0.09 ha pixels: (215 + 70.5 + 51) * 0.09 = 30.285 t C
    assert np.nansum(d.total * 0.09) == pytest.approx(30.285)


def test_float_raster_with_nan_nodata(table_path: Path) -> None:
    t = read_invest_carbon_table(table_path)
    d = pools_density(np.array([2.0, np.nan]), t)
    assert d.total[0] == 215.0 and np.isnan(d.total[1])


def test_missing_codes_all_named(table_path: Path) -> None:
    t = read_invest_carbon_table(table_path)
    with pytest.raises(FactorTableError, match=r"code\(s\) \[3, 7, 9\]"):
        pools_density(np.array([2, 3, 9, 7, 3, 0]), t, nodata=0)


def test_minus_one_change_is_not_nodata(table_path: Path) -> None:
    t = read_invest_carbon_table(table_path)
    # grass (4) -> degraded grass (5): c_above 2 -> 1 = -1.0 exactly; nodata pixel stays NaN
    ch = pools_change(np.array([4, 4, 255]), np.array([5, 4, 4]), t, nodata=255)
    assert ch.c_above[0] == -1.0
    assert ch.total[0] == -1.0
    assert ch.total[1] == 0.0
    assert np.isnan(ch.total[2])
    # a nodata value of -1 in the input raster does not leak into the result either
    ch2 = pools_change(np.array([4, -1]), np.array([5, 5]), t, nodata=-1)
    assert ch2.total[0] == -1.0 and np.isnan(ch2.total[1])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("lucode,c_above,c_below,c_soil\n1,1,1,1\n", r"missing column\(s\) \['c_dead'\]"),
        (
            "lucode,c_above,c_below,c_soil,c_dead\n1,1,1,1,1\n2,1,1,1,1\n1,2,2,2,2\n2,0,0,0,0\n",
            r"duplicate lucode\(s\): 1 \(lines 2, 4\); 2 \(lines 3, 5\)",
        ),
        (
            "lucode,c_above,c_below,c_soil,c_dead\n1,1,x,1,1\n",
            r"line 2, column 'c_below': 'x' is not a number",
        ),
        (
            "lucode,c_above,c_below,c_soil,c_dead\n1.5,1,1,1,1\n",
            r"line 2, column 'lucode'.*integer",
        ),
        ("lucode,c_above,c_below,c_soil,c_dead\n1,1,,1,1\n", r"line 2, column 'c_below'"),
    ],
)
def test_table_errors(tmp_path: Path, body: str, message: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(FactorTableError, match=message):
        read_invest_carbon_table(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        read_invest_carbon_table(tmp_path / "nope.csv")


def test_input_not_mutated(table_path: Path) -> None:
    t = read_invest_carbon_table(table_path)
    lulc = np.array([2, 255, 4])
    pools_density(lulc, t, nodata=255)
    assert lulc.tolist() == [2, 255, 4]
