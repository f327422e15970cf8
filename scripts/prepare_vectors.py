"""Copy the administrative boundaries sinkmap ships in ``vectors/`` from ``../shared/data/admin``.

Run once by a developer (it reads ``../shared``; nothing at run time does). It adds English names to the Guizhou
prefecture and county layers (pinyin of the proper name plus the translated administrative suffix, via pypinyin)
and writes UTF-8 GeoJSON with Chinese text unescaped. The source, licence and changes are recorded in
``vectors/ATTRIBUTION.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
from pypinyin import Style, lazy_pinyin

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "admin"
OUT = ROOT / "vectors"

# Longest suffix first: administrative unit types and their English names.
SUFFIXES = [
    ("布依族苗族自治州", "Buyei and Miao Autonomous Prefecture"),
    ("苗族侗族自治州", "Miao and Dong Autonomous Prefecture"),
    ("仡佬族苗族自治县", "Gelao and Miao Autonomous County"),
    ("土家族苗族自治县", "Tujia and Miao Autonomous County"),
    ("苗族布依族自治县", "Miao and Buyei Autonomous County"),
    ("彝族回族苗族自治县", "Yi, Hui and Miao Autonomous County"),
    ("布依族苗族自治县", "Buyei and Miao Autonomous County"),
    ("土家族自治县", "Tujia Autonomous County"),
    ("苗族自治县", "Miao Autonomous County"),
    ("侗族自治县", "Dong Autonomous County"),
    ("水族自治县", "Sui Autonomous County"),
    ("自治县", "Autonomous County"),
    ("特区", "Special District"),
    ("地区", "Prefecture"),
    ("新区", "New District"),
    ("区", "District"),
    ("县", "County"),
    ("市", "City"),
]


# Place names whose characters pypinyin reads with the wrong one of their readings.
PINYIN_OVERRIDES = {"都匀": "Duyun", "长顺": "Changshun", "三都": "Sandu"}


def english_name(name_zh: str) -> str:
    """Pinyin of the proper name with the administrative suffix translated, e.g. 南明区 → "Nanming District"."""
    for suffix, english in SUFFIXES:  # noqa: B007 - `english` is used after the loop breaks
        if name_zh.endswith(suffix) and len(name_zh) > len(suffix):
            stem = name_zh[: -len(suffix)]
            break
    else:
        stem, english = name_zh, ""
    pinyin = PINYIN_OVERRIDES.get(stem) or "".join(lazy_pinyin(stem, style=Style.NORMAL)).capitalize()
    return f"{pinyin} {english}".strip()


def _write(gdf: gpd.GeoDataFrame, name: str) -> None:
    path = OUT / name
    path.unlink(missing_ok=True)
    gdf.to_file(path, driver="GeoJSON", engine="pyogrio", layer_options={"WRITE_NAME": "NO"})
    print(f"wrote {path.relative_to(ROOT)} ({len(gdf)} features, {path.stat().st_size / 1e6:.1f} MB)")


def main() -> int:
    if not SHARED.is_dir():
        print(f"error: {SHARED} not found; this script needs ../shared beside the repository", file=sys.stderr)
        return 2
    OUT.mkdir(exist_ok=True)

    provinces = gpd.read_file(SHARED / "cn_provinces_tianditu.geojson")
    provinces["adcode"] = provinces["adcode"].astype(str)
    _write(provinces[["adcode", "name_zh", "name_en", "geometry"]], "cn_provinces.geojson")

    prefectures = gpd.read_file(SHARED / "guizhou_prefectures_tianditu.geojson")
    prefectures["adcode"] = prefectures["adcode"].astype(str)
    prefectures["name_en"] = prefectures["name_zh"].map(english_name)
    prefectures["province_adcode"] = "520000"
    _write(
        prefectures[["adcode", "name_zh", "name_en", "province_adcode", "geometry"]],
        "guizhou_prefectures.geojson",
    )

    counties = gpd.read_file(SHARED / "guizhou_counties_tianditu.geojson")
    counties["adcode"] = counties["adcode"].astype(str)
    counties["prefecture_adcode"] = counties["prefecture_adcode"].astype(str)
    counties["name_en"] = counties["name_zh"].map(english_name)
    _write(
        counties[["adcode", "name_zh", "name_en", "prefecture_adcode", "geometry"]],
        "guizhou_counties.geojson",
    )

    lines = gpd.read_file(SHARED / "cn_boundary_lines_tianditu.geojson")
    _write(lines, "cn_boundary_lines.geojson")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
