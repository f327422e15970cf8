"""Factor-table loader: packaged tables, provenance rules, validation errors and user overrides."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from sinkmap.errors import FactorTableError, InputNotFoundError
from sinkmap.factors import (
    STANDARD_COLUMNS,
    FactorTables,
    load_factor_tables,
    packaged_factor_tables,
)

HEADER = "table_id,zone,forest_type,factor,gs_class,property,value,unit,source,table,edition,evidence,verified,note\n"


@pytest.fixture(scope="module")
def tables() -> FactorTables:
    return load_factor_tables()


def test_packaged_tables_load_with_expected_families(tables: FactorTables) -> None:
    files = {d["file"] for d in tables.describe()}
    for name in (
        "forest_bcef.csv",
        "forest_root_shoot.csv",
        "carbon_fraction.csv",
        "deadwood_litter.csv",
        "forest_growth.csv",
        "grassland_biomass.csv",
        "soc_ref.csv",
        "soc_stock_change.csv",
        "wetland.csv",
        "karst.csv",
    ):
        assert name in files
    assert (
        tables.value(
            "forest_bcef", zone="temperate", forest_type="hardwoods", factor="S", gs_class="40-100"
        )
        == 1.4
    )
    assert tables.value("carbon_fraction", pool="wood", category="default") == 0.47
    assert tables.value("carbon_fraction", pool="litter", category="default") == 0.37
    assert tables.value("coastal_soil_accumulation", wetland_class="mangrove") == -1.62


def test_every_row_has_provenance_and_m_rows_are_unverified(tables: FactorTables) -> None:
    n = 0
    for tid in tables.table_ids:
        for row in tables.rows(tid):
            n += 1
            assert row.source and row.unit and row.table and row.edition, (row.file, row.line)
            assert row.evidence in ("R", "S", "M")
            if row.evidence == "M":
                assert row.verified is False, (row.file, row.line)
    assert n > 300


def test_describe_reports_checksum_rows_and_unverified_counts(tables: FactorTables) -> None:
    root = Path(__file__).resolve().parents[1] / "src" / "sinkmap" / "data" / "factors"
    for d in tables.describe():
        data = (root / d["file"]).read_bytes()
        assert d["sha256"] == hashlib.sha256(data).hexdigest()
        with open(root / d["file"], newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert d["rows"] == len(rows)
        assert d["n_unverified"] == sum(r["verified"] == "false" for r in rows)
        assert d["origin"] == "packaged"
    # the proxies and recalled values are counted, not hidden
    assert sum(d["n_unverified"] for d in tables.describe()) > 0


def test_packaged_factor_tables_is_cached() -> None:
    assert packaged_factor_tables() is packaged_factor_tables()


def test_missing_lookup_names_table_and_keys(tables: FactorTables) -> None:
    with pytest.raises(FactorTableError, match=r"forest_bcef.*larch"):
        tables.value(
            "forest_bcef", zone="temperate", forest_type="larch", factor="S", gs_class="0-20"
        )
    with pytest.raises(FactorTableError, match=r"missing key\(s\) \['factor', 'gs_class'\]"):
        tables.value("forest_bcef", zone="temperate", forest_type="pines")
    with pytest.raises(FactorTableError, match="no factor table 'nope'"):
        tables.value("nope", a=1)


def test_tables_are_immutable(tables: FactorTables) -> None:
    with pytest.raises(AttributeError):
        tables.files = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        tables._rows["x"] = ()  # type: ignore[index]


def _write(tmp_path: Path, name: str, body: str) -> Path:
    d = tmp_path / "user"
    d.mkdir(exist_ok=True)
    (d / name).write_text(body, encoding="utf-8")
    return d


def test_user_override_replaces_category_and_extends(tmp_path: Path) -> None:
    body = (
        HEADER
        + "forest_bcef,temperate,hardwoods,S,40-100,def,1.1,t d.m. per m3,Guizhou Tier-2 study,T2,2024,R,true,\n"
        + "forest_bcef,temperate,bamboo_like,S,0-inf,def,0.9,t d.m. per m3,Guizhou Tier-2 study,T2,2024,M,false,new\n"
    )
    d = _write(tmp_path, "guizhou.csv", body)
    t = load_factor_tables(d)
    assert (
        t.value(
            "forest_bcef", zone="temperate", forest_type="hardwoods", factor="S", gs_class="40-100"
        )
        == 1.1
    )
    # the packaged min/max of that category are replaced too (no stale range beside a user def)
    assert not t.has(
        "forest_bcef",
        zone="temperate",
        forest_type="hardwoods",
        factor="S",
        gs_class="40-100",
        property="min",
    )
    # other categories untouched, new category added
    assert (
        t.value(
            "forest_bcef", zone="temperate", forest_type="hardwoods", factor="S", gs_class="0-20"
        )
        == 3.0
    )
    assert (
        t.value(
            "forest_bcef", zone="temperate", forest_type="bamboo_like", factor="S", gs_class="0-inf"
        )
        == 0.9
    )
    user = [x for x in t.describe() if x["origin"] == "user"]
    assert (
        user[0]["file"] == "guizhou.csv" and user[0]["rows"] == 2 and user[0]["n_unverified"] == 1
    )
    # a single file works too
    t2 = load_factor_tables(d / "guizhou.csv")
    assert (
        t2.value(
            "forest_bcef", zone="temperate", forest_type="hardwoods", factor="S", gs_class="40-100"
        )
        == 1.1
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "forest_bcef,temperate,hardwoods,S,0-20,mean,1,t,src,T,2006,R,true,",
            r"bad\.csv line 3, column 'property'",
        ),
        (
            "forest_bcef,temperate,hardwoods,S,0-20,def,abc,t,src,T,2006,R,true,",
            r"bad\.csv line 3, column 'value': 'abc'",
        ),
        (
            "forest_bcef,temperate,hardwoods,S,0-20,def,1,t,,T,2006,R,true,",
            r"bad\.csv line 3, column 'source': blank",
        ),
        (
            "forest_bcef,temperate,hardwoods,S,0-20,def,1,t,src,T,2006,M,true,",
            r"bad\.csv line 3, column 'verified'",
        ),
        (
            "forest_bcef,temperate,hardwoods,S,0-20,def,1,t,src,T,2006,X,false,",
            r"bad\.csv line 3, column 'evidence'",
        ),
        (
            "forest_bcef,temperate,hardwoods,S,0-20,def,1,t,src,T,2006,R,maybe,",
            r"bad\.csv line 3, column 'verified'",
        ),
        (
            "forest_bcef,temperate,hardwoods,S,0-20,def,1,t,src,T,2006,R,true",
            r"bad\.csv line 3: 13 cells",
        ),
        (
            "forest_bcef,temperate,hardwoods,S,0-40,def,nan,t,src,T,2006,R,true,",
            r"bad\.csv line 3, column 'value'.*not finite",
        ),
    ],
)
def test_malformed_user_table_names_file_line_and_column(
    tmp_path: Path, row: str, message: str
) -> None:
    good = "forest_bcef,temperate,hardwoods,S,0-20,def,1,t,src,T,2006,R,true,\n"
    d = _write(tmp_path, "bad.csv", HEADER + good.replace("0-20", "5-6") + row + "\n")
    with pytest.raises(FactorTableError, match=message):
        load_factor_tables(d)


def test_missing_standard_column_and_duplicates(tmp_path: Path) -> None:
    d = _write(tmp_path, "nosrc.csv", "table_id,zone,property,value,unit\nx,a,def,1,t\n")
    with pytest.raises(
        FactorTableError, match=r"nosrc\.csv line 1: missing column\(s\) \['source'"
    ):
        load_factor_tables(d)
    row = "forest_bcef,temperate,hardwoods,S,0-20,def,1,t,src,T,2006,R,true,\n"
    (d / "nosrc.csv").unlink()
    d = _write(tmp_path, "dup.csv", HEADER + row + row)
    with pytest.raises(FactorTableError, match=r"dup\.csv line 3: duplicate 'def' row"):
        load_factor_tables(d)


def test_user_table_with_other_key_columns_is_rejected(tmp_path: Path) -> None:
    body = "table_id,province,property,value,unit,source,table,edition,evidence,verified,note\n"
    body += "forest_bcef,guizhou,def,1,t,src,T,2024,R,true,\n"
    d = _write(tmp_path, "keys.csv", body)
    with pytest.raises(
        FactorTableError,
        match=r"keys\.csv line 2: table 'forest_bcef' has key columns \['province'\]",
    ):
        load_factor_tables(d)


def test_missing_path_raises_input_not_found(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        load_factor_tables(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputNotFoundError, match=r"no \*\.csv"):
        load_factor_tables(tmp_path / "empty")


def test_standard_columns_listed() -> None:
    assert STANDARD_COLUMNS[0] == "table_id" and "evidence" in STANDARD_COLUMNS
