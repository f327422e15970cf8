"""Generate sinkmap's embedded sample data: a SYNTHETIC multi-tile raster mosaic over China.

No public copy of land-cover, canopy-cover or growing-stock layers over China is available to the project, so this
script builds them deterministically (seeded) from real inputs kept in the repository:

* ``vectors/cn_provinces.geojson``: the 34 province-level units (Tianditu boundaries, EPSG:4490);
* ``rasters/climate/worldclim21_10m_bio_1_china.tif`` (BIO1, annual mean temperature, °C) and
  ``rasters/climate/worldclim21_10m_prec_01_china.tif`` (January precipitation, mm), WorldClim 2.1;

and from published figures (9th National Forest Inventory 2014–2018, the 2025 national greening bulletin, karst
areas after Jiang et al. 2012, mangrove area; see ``rasters/README.md``). Every layer it writes is synthetic, says so
in its file name (``synthetic_*``) and in its tags (``SINKMAP_SYNTHETIC=true``), and is calibrated so that China's
forest definition applied to it reproduces the national and provincial forest coverage and stock volume figures in
``rasters/calibration/``.

Outputs (``--out``, default ``rasters/china_sample``): 2 × 2 tiles per layer, Cloud-Optimized GeoTIFFs on the CLCD
Albers grid, ``synthetic_<layer>_<epoch>_r<row>c<col>.tif`` for per-epoch layers and
``synthetic_<layer>_r<row>c<col>.tif`` for static ones, plus ``SHA256SUMS``. The calibration tables go to
``<out>/../calibration/``; the Huế test regions to ``--hue-regions``.

The script reads repository files only (never ``../shared``). Same seed, same library versions → byte-identical
files. Run ``python scripts/make_sample_data.py --help`` for the options; ``make sample-data`` runs it with the
defaults.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from rasterio import features
from rasterio.crs import CRS as RioCRS
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.vrt import WarpedVRT
from rasterio.warp import reproject

ROOT = Path(__file__).resolve().parents[1]
PROVINCES_PATH = ROOT / "vectors" / "cn_provinces.geojson"
BIO1_PATH = ROOT / "rasters" / "climate" / "worldclim21_10m_bio_1_china.tif"
PREC01_PATH = ROOT / "rasters" / "climate" / "worldclim21_10m_prec_01_china.tif"
DEFAULT_OUT = ROOT / "rasters" / "china_sample"
DEFAULT_HUE_REGIONS = ROOT / "vectors" / "hue_sample_regions.geojson"
GENERATOR = "scripts/make_sample_data.py"

SEED = 20250917
"""Master seed; every random field derives its own stream from (SEED, field name, octave)."""

CLCD_ALBERS_PROJ4 = (
    "+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)
EPOCHS = (2020, 2025)
TILE_ROWS = 2
TILE_COLS = 2
BLOCKSIZE = 512
M2_PER_HA = 10_000.0

# Fixed rectangle (CLCD Albers metres) on which the noise lattices are laid: the same lattice for any pixel size, so
# a coarse build looks like a blurred fine build.
NOISE_DOMAIN_M = (-3_000_000.0, 0.0, 2_600_000.0, 6_400_000.0)

# ----------------------------------------------------------------------------------------------------------------
# Published figures the mosaic is calibrated to
# ----------------------------------------------------------------------------------------------------------------

SRC_NFI9 = "9th National Forest Inventory 2014-2018 (FACTORS.md D1; TARGETS.md)"
SRC_BULLETIN_2025 = "2025 national greening bulletin (FACTORS.md D1; TARGETS.md)"
SRC_D3 = "9th NFI, FACTORS.md D3 [R]"
SRC_RECALLED = "9th NFI provincial table as recalled, unverified [M] (see rasters/README.md)"

NATIONAL_TARGETS: dict[int, tuple[float, float, str]] = {
    # epoch: (forest coverage %, forest stock volume m3, source)
    2020: (22.96, 17.56e9, SRC_NFI9 + ": 22.96 %, 175.60e8 m3"),
    2025: (25.09, 20.99e9, SRC_BULLETIN_2025 + ": 25.09 %, 209.88e8 m3"),
}


@dataclass(frozen=True)
class ProvinceFigure:
    """9th-NFI figures of one province-level unit.

    Attributes:
        coverage_pct: forest coverage, % of land area.
        stock_1e4_m3: forest stock volume, 10⁴ m³ (万 m³); ``None`` where the inventory gives none.
        coverage_source / stock_source: where the two numbers come from.
        coverage_fixed: True where the coverage is a FACTORS.md §D3 figure kept as is; False where it is an
            unverified value that the allocation may scale to close the national total.
    """

    coverage_pct: float
    stock_1e4_m3: float | None
    coverage_source: str
    stock_source: str
    coverage_fixed: bool


def _fig(
    cov: float, stock: float | None, cov_src: str, stock_src: str, fixed: bool
) -> ProvinceFigure:
    return ProvinceFigure(cov, stock, cov_src, stock_src, fixed)


_R, _M = SRC_D3, SRC_RECALLED
PROVINCE_FIGURES: dict[str, ProvinceFigure] = {
    "110000": _fig(43.77, 2437.36, _M, _M, False),  # Beijing
    "120000": _fig(12.07, 460.27, _M, _M, False),  # Tianjin
    "130000": _fig(26.78, 13737.98, _M, _M, False),  # Hebei
    "140000": _fig(20.50, 12923.37, _R, _R, True),  # Shanxi
    "150000": _fig(22.10, 152704.12, _M, _M, False),  # Inner Mongolia
    "210000": _fig(39.24, 29749.18, _R, _R, True),  # Liaoning
    "220000": _fig(41.49, 101295.77, _R, _M, True),  # Jilin
    "230000": _fig(43.78, 184704.09, _R, _R, True),  # Heilongjiang
    "310000": _fig(14.04, 449.59, _R, _M, True),  # Shanghai
    "320000": _fig(15.20, 7044.48, _M, _M, False),  # Jiangsu
    "330000": _fig(59.43, 28114.67, _R, _M, True),  # Zhejiang
    "340000": _fig(28.65, 22186.55, _R, _M, True),  # Anhui
    "350000": _fig(66.80, 72937.63, _R, _R, True),  # Fujian (D3: 72,900e4 m3, "7.29e8")
    "360000": _fig(61.16, 50665.83, _M, _M, False),  # Jiangxi (D3 class > 60 %)
    "370000": _fig(17.51, 9161.49, _M, _M, False),  # Shandong
    "410000": _fig(24.14, 20719.12, _M, _M, False),  # Henan
    "420000": _fig(39.61, 36507.91, _R, _M, True),  # Hubei
    "430000": _fig(49.69, 40715.73, _R, _M, True),  # Hunan
    "440000": _fig(53.52, 46755.09, _M, _M, False),  # Guangdong (D3 class 50-60 %)
    "450000": _fig(60.17, 67752.45, _R, _R, True),  # Guangxi
    "460000": _fig(57.36, 15340.15, _M, _M, False),  # Hainan (D3 class 50-60 %)
    "500000": _fig(43.11, 20678.18, _M, _M, False),  # Chongqing
    "510000": _fig(38.03, 186099.00, _M, _M, False),  # Sichuan (D3: 8th NFI 35.22 %)
    "520000": _fig(43.77, 39182.90, _R, _R, True),  # Guizhou
    "530000": _fig(55.04, 197265.84, _M, _M, False),  # Yunnan (D3 class 50-60 %)
    "540000": _fig(12.14, 228254.42, _M, _M, False),  # Xizang
    "610000": _fig(43.06, 47866.70, _R, _M, True),  # Shaanxi
    "620000": _fig(11.33, 25188.89, _M, _M, False),  # Gansu
    "630000": _fig(5.82, 4864.15, _M, _M, False),  # Qinghai (D3 class < 10 %)
    "640000": _fig(12.63, 835.18, _M, _M, False),  # Ningxia
    "650000": _fig(4.87, 39221.50, _M, _M, False),  # Xinjiang (D3 class < 10 %)
    "710000": _fig(60.71, 50203.40, _M, _M, False),  # Taiwan (D3 class > 60 %)
    "810000": _fig(
        25.05, None, _M, "not in the NFI; synthetic 50 m3/ha on tree stands", False
    ),  # Hong Kong
    "820000": _fig(
        30.00, None, _M, "not in the NFI; synthetic 50 m3/ha on tree stands", False
    ),  # Macau
}

COVERAGE_CLASS_BOUNDS: dict[str, tuple[float, float]] = {
    # FACTORS.md D3 aggregates: coverage > 60 %, 50-60 %, < 10 % (lower, upper bound, %)
    "350000": (60.0, 100.0), "360000": (60.0, 100.0), "710000": (60.0, 100.0), "450000": (60.0, 100.0),
    "330000": (50.0, 60.0), "460000": (50.0, 60.0), "530000": (50.0, 60.0), "440000": (50.0, 60.0),
    "630000": (0.0, 10.0), "650000": (0.0, 10.0),
}  # fmt: skip

BAMBOO_AREA_HA = 641.16e4
"""9th NFI bamboo forest area (竹林, FACTORS.md D1), ha."""

BAMBOO_SHARE: dict[str, float] = {
    # synthetic split of the national bamboo area (mostly Fujian, Zhejiang, Jiangxi, Hunan, Sichuan, Guangdong)
    "350000": 0.20, "360000": 0.16, "330000": 0.14, "430000": 0.13, "510000": 0.12, "440000": 0.08,
    "450000": 0.06, "340000": 0.05, "500000": 0.03, "520000": 0.02, "420000": 0.01,
}  # fmt: skip

ARBOR_DENSITY_M3_PER_HA: dict[str, float] = {
    # Synthetic assumption: mean growing stock of tree stands (乔木林) per province, m3/ha. It fixes how a
    # province's forest splits into tree stands (stock / density) and special shrubland (the rest, where the
    # special-shrub rule can apply). Chosen so the national tree-stand area ≈ 9th NFI 17,988.85e4 ha and mean
    # ≈ 94.83 m3/ha (FACTORS.md D1); provinces without eligible shrubland end up all tree stand and bamboo.
    "110000": 40, "120000": 45, "130000": 45, "140000": 45, "150000": 100, "210000": 60, "220000": 130,
    "230000": 95, "310000": 50, "320000": 50, "330000": 55, "340000": 60, "350000": 110, "360000": 55,
    "370000": 40, "410000": 55, "420000": 55, "430000": 45, "440000": 55, "450000": 60, "460000": 80,
    "500000": 65, "510000": 140, "520000": 65, "530000": 105, "540000": 270, "610000": 60, "620000": 95,
    "630000": 110, "640000": 50, "650000": 170, "710000": 230, "810000": 50, "820000": 50,
}  # fmt: skip

# 2025: where the net gain 2020 -> 2025 goes (weight multiplies a province's climatic headroom), and how fast the
# stock of standing forest grows. Afforestation is weighted to the north (Three-North shelterbelt) and south-west.
AFFORESTATION_WEIGHT: dict[str, float] = {
    "110000": 1.5, "120000": 1.5, "130000": 1.8, "140000": 1.8, "150000": 1.8, "210000": 1.3, "220000": 1.0,
    "230000": 1.0, "610000": 1.8, "620000": 1.8, "640000": 1.8, "630000": 1.2, "650000": 1.2,
    "510000": 1.6, "500000": 1.6, "520000": 1.8, "530000": 1.6, "450000": 1.6, "540000": 1.2,
}  # fmt: skip
STOCK_GROWTH_WEIGHT: dict[str, float] = {
    # relative stock growth 2020 -> 2025 of a province (1 = national mean rate before scaling)
    "540000": 0.5, "650000": 0.6, "630000": 0.6, "230000": 0.8, "220000": 0.8, "150000": 0.8, "710000": 0.4,
    "350000": 1.3, "360000": 1.3, "430000": 1.3, "440000": 1.3, "450000": 1.4, "520000": 1.4, "500000": 1.3,
    "330000": 1.2, "340000": 1.2, "420000": 1.2, "460000": 1.2,
}  # fmt: skip
FOREST_LOSS_FRACTION_2020_2025 = 0.006
"""Share of 2020 tree stands (not bamboo, not mangrove) cleared by 2025 (synthetic)."""

# Exposed-karst quotas (km²) by province, a synthetic split of the regional totals of Jiang et al. (2012, 地球学报
# 33(2):129-134; FACTORS.md §C "Karst/carbonate area"): South China 564,800, North China 325,800, Tibetan Plateau
# 556,000 km²; buried karst 2,001,000 km².
EXPOSED_KARST_KM2: dict[str, float] = {
    # South China (564,800)
    "520000": 105_000, "530000": 114_800, "450000": 90_000, "510000": 60_000, "430000": 55_000,
    "420000": 55_000, "500000": 35_000, "440000": 25_000, "360000": 15_000, "460000": 2_000, "330000": 8_000,
    # North China (325,800)
    "140000": 75_800, "130000": 60_000, "370000": 55_000, "410000": 55_000, "210000": 40_000, "110000": 5_000,
    "610000": 20_000, "340000": 10_000, "320000": 4_000, "120000": 1_000,
    # Tibetan Plateau (556,000)
    "540000": 396_000, "630000": 140_000, "620000": 20_000,
}  # fmt: skip
BURIED_CARBONATE_KM2: dict[str, float] = {
    # 2,001,000 km² in all: sedimentary basins and the margins of the exposed karst (synthetic split)
    "510000": 180_000, "500000": 40_000, "520000": 50_000, "530000": 90_000, "450000": 80_000, "430000": 90_000,
    "420000": 90_000, "360000": 50_000, "440000": 40_000, "340000": 60_000, "320000": 40_000, "370000": 70_000,
    "410000": 80_000, "130000": 80_000, "140000": 60_000, "110000": 8_000, "120000": 8_000, "210000": 50_000,
    "610000": 90_000, "620000": 60_000, "640000": 20_000, "150000": 141_000, "650000": 300_000, "630000": 70_000,
    "540000": 120_000, "330000": 30_000, "350000": 4_000,
}  # fmt: skip

MANGROVE_HA: dict[str, float] = {
    # ≈ 27,000 ha nationally (synthetic split by province)
    "440000": 10_600, "450000": 9_300, "460000": 4_900, "350000": 1_600, "330000": 200, "710000": 300,
    "810000": 100,
}  # fmt: skip
SALT_MARSH_HA: dict[str, float] = {
    # tidal / salt marsh (synthetic, Jiangsu, Shandong, Liaoning, Shanghai, Zhejiang coasts)
    "320000": 60_000, "370000": 40_000, "210000": 30_000, "310000": 12_000, "330000": 15_000, "120000": 3_000,
    "130000": 5_000,
}  # fmt: skip
SEAGRASS_HA: dict[str, float] = {"460000": 3_000, "450000": 1_000, "370000": 1_500}

# Centres (lon, lat) and approximate areas (km²) of large lakes, drawn as noisy ellipses (water, code 5).
LAKES: tuple[tuple[str, float, float, float], ...] = (
    ("Qinghai Lake", 100.20, 36.90, 4300), ("Poyang", 116.30, 29.05, 3000), ("Dongting", 112.90, 29.30, 2600),
    ("Taihu", 120.20, 31.20, 2400), ("Hulun", 117.40, 48.95, 2300), ("Selin Co", 89.00, 31.80, 2300),
    ("Nam Co", 90.60, 30.70, 2000), ("Hongze", 118.70, 33.30, 1600), ("Weishan", 117.10, 34.70, 1200),
    ("Bosten", 87.00, 41.98, 1000), ("Zhari Namco", 85.60, 30.90, 1000), ("Khanka (Xingkai)", 132.40, 45.20, 1000),
    ("Ulungur", 87.30, 47.20, 800), ("Chaohu", 117.50, 31.60, 770), ("Gaoyou", 119.30, 32.85, 760),
    ("Dangqiong Co", 87.40, 31.55, 700), ("Yamdrok", 90.70, 28.95, 640), ("Ebinur", 82.90, 44.90, 500),
    ("Ngangla Ringco", 83.10, 31.55, 500), ("Mapam Yumco", 81.45, 30.70, 410), ("Dianchi", 102.70, 24.85, 300),
    ("Erhai", 100.20, 25.80, 250), ("Qarhan salt lake", 95.20, 36.80, 1500), ("Ayakkum", 89.40, 37.55, 600),
    ("Gyaring/Ngoring", 97.50, 34.90, 1100), ("Danjiangkou", 111.50, 32.70, 600), ("Lop Nur basin", 90.60, 40.40, 500),
)  # fmt: skip

# Cities (lon, lat, built-up radius in km in 2020). 2025 radius = 2020 × URBAN_GROWTH_2025.
CITIES: tuple[tuple[str, float, float, float], ...] = (
    ("Beijing", 116.40, 39.90, 28), ("Shanghai", 121.47, 31.23, 30), ("Guangzhou", 113.26, 23.13, 24),
    ("Shenzhen", 114.06, 22.60, 18), ("Tianjin", 117.20, 39.12, 20), ("Chongqing", 106.55, 29.56, 16),
    ("Chengdu", 104.07, 30.67, 20), ("Wuhan", 114.30, 30.59, 20), ("Xi'an", 108.94, 34.34, 16),
    ("Nanjing", 118.80, 32.06, 16), ("Hangzhou", 120.16, 30.27, 16), ("Shenyang", 123.43, 41.80, 16),
    ("Harbin", 126.64, 45.76, 13), ("Changchun", 125.32, 43.88, 12), ("Zhengzhou", 113.63, 34.75, 16),
    ("Jinan", 117.00, 36.67, 12), ("Qingdao", 120.38, 36.07, 12), ("Dalian", 121.61, 38.91, 11),
    ("Suzhou", 120.59, 31.30, 14), ("Changsha", 112.94, 28.23, 13), ("Nanchang", 115.86, 28.68, 10),
    ("Fuzhou", 119.30, 26.08, 10), ("Xiamen", 118.09, 24.48, 9), ("Hefei", 117.23, 31.82, 13),
    ("Kunming", 102.71, 25.04, 12), ("Guiyang", 106.71, 26.58, 9), ("Nanning", 108.37, 22.82, 10),
    ("Haikou", 110.35, 20.02, 7), ("Lanzhou", 103.83, 36.06, 8), ("Xining", 101.78, 36.62, 6),
    ("Yinchuan", 106.23, 38.49, 7), ("Hohhot", 111.75, 40.84, 8), ("Taiyuan", 112.55, 37.87, 11),
    ("Shijiazhuang", 114.51, 38.04, 12), ("Urumqi", 87.62, 43.83, 11), ("Lhasa", 91.13, 29.65, 5),
    ("Taipei", 121.53, 25.05, 14), ("Kaohsiung", 120.31, 22.63, 10), ("Hong Kong", 114.17, 22.32, 7),
    ("Macau", 113.55, 22.19, 2), ("Dongguan", 113.75, 23.02, 15), ("Foshan", 113.12, 23.02, 14),
    ("Wuxi", 120.30, 31.57, 11), ("Ningbo", 121.55, 29.87, 11), ("Wenzhou", 120.70, 28.00, 8),
    ("Tangshan", 118.18, 39.63, 9), ("Baotou", 109.84, 40.66, 8), ("Luoyang", 112.45, 34.62, 8),
    ("Xuzhou", 117.28, 34.20, 9), ("Linyi", 118.35, 35.10, 8), ("Shantou", 116.68, 23.35, 8),
    ("Zhuhai", 113.58, 22.27, 6), ("Quanzhou", 118.68, 24.87, 8), ("Nantong", 120.86, 32.01, 8),
    ("Changzhou", 119.97, 31.81, 9), ("Yantai", 121.45, 37.46, 8), ("Weifang", 119.16, 36.71, 8),
    ("Handan", 114.54, 36.63, 7), ("Baoding", 115.46, 38.87, 7), ("Zibo", 118.05, 36.81, 7),
    ("Liuzhou", 109.41, 24.33, 7), ("Mianyang", 104.68, 31.47, 6), ("Yichang", 111.29, 30.69, 6),
    ("Xiangyang", 112.14, 32.04, 6), ("Anshan", 122.99, 41.11, 7), ("Jilin City", 126.55, 43.84, 6),
    ("Daqing", 125.10, 46.59, 8), ("Qiqihar", 123.92, 47.35, 6), ("Ordos", 109.78, 39.61, 6),
    ("Datong", 113.30, 40.08, 7), ("Zunyi", 106.93, 27.73, 6), ("Sanya", 109.51, 18.25, 5),
)  # fmt: skip
URBAN_GROWTH_2025 = 1.15

# Inland marsh complexes (lon, lat, radius km, target share of the disc that is marsh).
MARSHES: tuple[tuple[str, float, float, float, float], ...] = (
    ("Sanjiang plain", 133.30, 47.30, 120, 0.30), ("Zoige (Ruoergai)", 102.80, 33.55, 70, 0.45),
    ("Songnen / Momoge", 123.90, 45.90, 80, 0.18), ("Yellow River source", 97.60, 34.70, 90, 0.20),
    ("Nagqu / Changtang wetlands", 92.00, 31.60, 110, 0.08), ("Hulunbuir / Hui River", 119.60, 49.30, 70, 0.12),
    ("Yangtze source (Tuotuo)", 92.40, 34.20, 90, 0.10), ("Poyang margins", 116.25, 29.10, 45, 0.15),
    ("Dongting margins", 112.85, 29.20, 40, 0.15), ("Xianghai / Horqin", 122.40, 44.90, 50, 0.10),
    ("Bayinbuluk", 84.20, 42.90, 60, 0.20), ("Lalu / Lhasa valley", 91.00, 29.70, 15, 0.20),
)  # fmt: skip

# Approximate climate normals (annual precipitation, mm) at stations across China, rounded, recalled (not read in
# a dataset): the anchors of the synthetic annual-precipitation relation.
PRECIP_ANCHORS: tuple[tuple[str, float, float, float], ...] = (
    ("Kashgar", 76.0, 39.5, 65), ("Hotan", 79.9, 37.1, 40), ("Ruoqiang", 88.2, 39.0, 30), ("Turpan", 89.2, 42.9, 16),
    ("Urumqi", 87.6, 43.8, 290), ("Yining", 81.3, 43.9, 270), ("Altay", 88.1, 47.7, 200), ("Hami", 93.5, 42.8, 40),
    ("Dunhuang", 94.7, 40.1, 40), ("Golmud", 94.9, 36.4, 45), ("Xining", 101.8, 36.6, 380), ("Lanzhou", 103.8, 36.0, 320),
    ("Yinchuan", 106.2, 38.5, 190), ("Hohhot", 111.7, 40.8, 400), ("Baotou", 110.0, 40.6, 300), ("Ejina", 101.1, 41.95, 35),
    ("Erenhot", 112.0, 43.6, 140), ("Hailar", 119.7, 49.2, 350), ("Zhangjiakou", 114.9, 40.8, 400),
    ("Beijing", 116.4, 39.9, 570), ("Tianjin", 117.2, 39.1, 550), ("Shenyang", 123.4, 41.8, 700),
    ("Changchun", 125.3, 43.9, 590), ("Harbin", 126.6, 45.8, 530), ("Mohe", 122.5, 52.97, 450),
    ("Jiamusi", 130.3, 46.8, 530), ("Dalian", 121.6, 38.9, 620), ("Jinan", 117.0, 36.7, 700), ("Qingdao", 120.4, 36.1, 690),
    ("Taiyuan", 112.5, 37.9, 440), ("Xi'an", 108.9, 34.3, 580), ("Zhengzhou", 113.6, 34.7, 640),
    ("Hanzhong", 107.0, 33.1, 870), ("Bengbu", 117.4, 32.9, 900), ("Xinyang", 114.1, 32.1, 1100),
    ("Nanjing", 118.8, 32.0, 1100), ("Shanghai", 121.5, 31.2, 1170), ("Wuhan", 114.3, 30.6, 1270),
    ("Hangzhou", 120.2, 30.3, 1450), ("Nanchang", 115.9, 28.7, 1620), ("Changsha", 113.0, 28.2, 1450),
    ("Fuzhou", 119.3, 26.1, 1390), ("Xiamen", 118.1, 24.5, 1350), ("Guangzhou", 113.3, 23.1, 1800),
    ("Shenzhen", 114.1, 22.5, 1930), ("Nanning", 108.3, 22.8, 1300), ("Haikou", 110.3, 20.0, 1680),
    ("Wanning", 110.4, 18.8, 2100), ("Dongfang", 108.6, 19.1, 990), ("Kunming", 102.7, 25.0, 1000),
    ("Guiyang", 106.7, 26.6, 1120), ("Chongqing", 106.5, 29.6, 1100), ("Chengdu", 104.0, 30.7, 900),
    ("Ya'an", 103.0, 30.0, 1750), ("Lhasa", 91.1, 29.7, 430), ("Shigatse", 88.9, 29.3, 430), ("Nyingchi", 94.4, 29.6, 690),
    ("Medog", 95.3, 29.3, 2300), ("Nagqu", 92.1, 31.5, 430), ("Shiquanhe", 80.1, 32.5, 70), ("Maduo", 98.2, 34.9, 320),
    ("Yushu", 97.0, 33.0, 480), ("Zoige", 102.96, 33.6, 650), ("Taipei", 121.5, 25.0, 2400), ("Kaohsiung", 120.3, 22.6, 1900),
    ("Hong Kong", 114.2, 22.3, 2400), ("Mudanjiang", 129.6, 44.6, 550), ("Tongliao", 122.3, 43.6, 390),
    ("Chifeng", 119.0, 42.3, 380), ("Xilinhot", 116.1, 43.9, 280), ("Jiuquan", 98.5, 39.8, 85), ("Zhangye", 100.4, 38.9, 130),
    ("Wuwei", 102.6, 37.9, 170), ("Tianshui", 105.7, 34.6, 520), ("Sanya", 109.5, 18.2, 1500), ("Lijiang", 100.2, 26.9, 970),
    ("Jinghong", 100.8, 22.0, 1200), ("Panzhihua", 101.7, 26.6, 760), ("Hefei", 117.3, 31.9, 1000),
    ("Yichang", 111.3, 30.7, 1150), ("Korla", 86.1, 41.7, 60), ("Aksu", 80.2, 41.2, 75), ("Tacheng", 83.0, 46.7, 290),
    ("Karamay", 84.9, 45.6, 110), ("Alxa Left", 105.7, 38.8, 210), ("Yulin (Shaanxi)", 109.7, 38.3, 410),
    ("Yan'an", 109.5, 36.6, 530), ("Qiqihar", 123.9, 47.4, 430), ("Heihe", 127.5, 50.2, 520), ("Dandong", 124.4, 40.1, 1000),
    ("Garze", 100.0, 31.6, 650), ("Qamdo", 97.2, 31.2, 480), ("Tingri", 87.1, 28.6, 300), ("Delingha", 97.4, 37.4, 200),
    ("Taklimakan centre", 83.5, 39.0, 25), ("Qiemo", 85.5, 38.1, 25), ("Hoh Xil", 91.0, 35.5, 250),
    ("Ali / Rutog", 79.7, 33.4, 80), ("Badain Jaran", 102.5, 40.0, 60),
)  # fmt: skip
PRECIP_RESIDUAL_LENGTH_KM = 200.0
"""Length scale of the Gaussian kernel that spreads the anchor residuals of the precipitation regression."""
PRECIP_RESIDUAL_PRIOR_WEIGHT = 0.1
"""Weight of a zero residual in that kernel average (pulls the field back to the regression far from anchors)."""


# ----------------------------------------------------------------------------------------------------------------
# Layer catalogue: name → (dtype, nodata, units, description, categorical)
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSpec:
    """How one synthetic layer is stored and described."""

    name: str
    dtype: str
    nodata: float
    units: str
    description: str
    categorical: bool
    per_epoch: bool
    legend: Mapping[int, str] | None = None


LANDCOVER_LEGEND: dict[int, str] = {
    1: "cropland", 2: "forest", 3: "shrub", 4: "grassland", 5: "water", 6: "snow/ice", 7: "barren",
    8: "impervious", 9: "wetland",
}  # fmt: skip
FOREST_TYPE_LEGEND: dict[int, str] = {
    0: "none / not forest", 1: "deciduous broadleaf", 2: "evergreen broadleaf", 3: "deciduous needleleaf",
    4: "evergreen needleleaf", 5: "mixed", 6: "bamboo",
}  # fmt: skip
CARBONATE_LEGEND: dict[int, str] = {
    0: "other lithology",
    1: "exposed carbonate (karst)",
    2: "buried/covered carbonate",
}
WETLAND_LEGEND: dict[int, str] = {
    0: "none", 1: "inland marsh/swamp", 2: "mangrove", 3: "tidal/salt marsh", 4: "seagrass",
}  # fmt: skip


def _legend_text(legend: Mapping[int, str]) -> str:
    return "; ".join(f"{k} {v}" for k, v in legend.items())


LAYERS: dict[str, LayerSpec] = {
    "landcover": LayerSpec(
        "landcover", "uint8", 0, "CLCD class code",
        "SYNTHETIC land cover, CLCD legend: " + _legend_text(LANDCOVER_LEGEND) + "; 0 = nodata (outside China)",
        True, True, LANDCOVER_LEGEND,
    ),
    "canopy_cover": LayerSpec(
        "canopy_cover", "uint8", 255, "percent",
        "SYNTHETIC tree canopy cover, % (0-100); 255 = nodata (outside China)", False, True,
    ),
    "growing_stock": LayerSpec(
        "growing_stock", "float32", -9999.0, "m3/ha",
        "SYNTHETIC growing stock volume of tree stands, m3/ha (0 where no tree stand; bamboo and shrubland 0), "
        "rounded to 0.5 m3/ha; -9999 = nodata (outside China)", False, True,
    ),
    "annual_precip": LayerSpec(
        "annual_precip", "int16", -32768, "mm/yr",
        "SYNTHETIC annual precipitation, mm/yr, from WorldClim 2.1 January precipitation and BIO1 plus "
        "longitude/latitude (regression on station normals); -32768 = nodata (outside China)", False, False,
    ),
    "forest_type": LayerSpec(
        "forest_type", "uint8", 255, "forest type code",
        "SYNTHETIC forest type: " + _legend_text(FOREST_TYPE_LEGEND) + "; 255 = nodata (outside China)",
        True, False, FOREST_TYPE_LEGEND,
    ),
    "carbonate": LayerSpec(
        "carbonate", "uint8", 255, "lithology code",
        "SYNTHETIC carbonate lithology: " + _legend_text(CARBONATE_LEGEND) + "; 255 = nodata (outside China)",
        True, False, CARBONATE_LEGEND,
    ),
    "wetland_type": LayerSpec(
        "wetland_type", "uint8", 255, "wetland type code",
        "SYNTHETIC wetland type: " + _legend_text(WETLAND_LEGEND) + "; 255 = nodata (outside China)",
        True, False, WETLAND_LEGEND,
    ),
}  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Grid
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """North-up raster grid on the CLCD Albers CRS.

    Attributes:
        transform: affine pixel → CRS transform (metres).
        width, height: columns and rows of the whole mosaic.
        pixel_size_m: pixel width = height, m.
    """

    transform: Affine
    width: int
    height: int
    pixel_size_m: float

    @property
    def pixel_area_ha(self) -> float:
        """Area of one pixel, ha (the CRS is equal-area)."""
        return self.pixel_size_m**2 / M2_PER_HA

    def x_centres(self) -> NDArray[np.float64]:
        """Easting of each column's pixel centres, m."""
        return np.asarray(
            self.transform.c + self.transform.a * (np.arange(self.width) + 0.5), np.float64
        )

    def y_centres(self) -> NDArray[np.float64]:
        """Northing of each row's pixel centres, m."""
        return np.asarray(
            self.transform.f + self.transform.e * (np.arange(self.height) + 0.5), np.float64
        )


def albers_crs() -> RioCRS:
    """The CLCD Albers equal-area CRS (a rasterio CRS; its WKT is what the GeoTIFFs store)."""
    return RioCRS.from_proj4(CLCD_ALBERS_PROJ4)


def make_grid(bounds_m: tuple[float, float, float, float], pixel_size_m: float) -> Grid:
    """Grid covering ``bounds_m`` (left, bottom, right, top in m), snapped outwards to whole multiples of the pixel."""
    left, bottom, right, top = bounds_m
    px = float(pixel_size_m)
    x0 = math.floor(left / px) * px
    y1 = math.ceil(top / px) * px
    width = int(math.ceil(right / px) - math.floor(left / px))
    height = int(math.ceil(top / px) - math.floor(bottom / px))
    return Grid(Affine(px, 0.0, x0, 0.0, -px, y1), width, height, px)


def tile_windows(grid: Grid, rows: int, cols: int) -> list[tuple[int, int, int, int, int, int]]:
    """Split the grid into ``rows`` × ``cols`` tiles: (tile_row, tile_col, row_off, col_off, height, width).

    Interior tile edges fall on multiples of the COG block size where the grid is big enough, so tiles share
    block boundaries with the mosaic.
    """

    def edges(n: int, parts: int) -> list[int]:
        step = math.ceil(n / parts)
        if step > BLOCKSIZE:
            step = math.ceil(step / BLOCKSIZE) * BLOCKSIZE
        cuts = [min(i * step, n) for i in range(parts)] + [n]
        return cuts

    r_edges, c_edges = edges(grid.height, rows), edges(grid.width, cols)
    out = []
    for i in range(rows):
        for j in range(cols):
            h, w = r_edges[i + 1] - r_edges[i], c_edges[j + 1] - c_edges[j]
            if h <= 0 or w <= 0:
                raise ValueError(
                    f"grid {grid.height}x{grid.width} is too small for {rows}x{cols} tiles"
                )
            out.append((i, j, r_edges[i], c_edges[j], h, w))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Pure numeric helpers
# ----------------------------------------------------------------------------------------------------------------


def _stream(seed: int, name: str, k: int = 0) -> np.random.Generator:
    """Independent random stream for field ``name`` (octave ``k``)."""
    return np.random.Generator(np.random.PCG64([seed, zlib.crc32(name.encode()), k]))


def _fade(t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Quintic smoothstep 6t⁵ − 15t⁴ + 10t³ (C² interpolation weights for value noise)."""
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def _axis_weights(
    coords_m: NDArray[np.float64], origin_m: float, spacing_m: float, n: int
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    u = (coords_m - origin_m) / spacing_m
    i0 = np.clip(np.floor(u).astype(np.intp), 0, n - 2)
    t = np.clip(u - i0, 0.0, 1.0)
    return i0, _fade(t)


def _interp_lattice(
    lattice: NDArray[np.float32],
    ys_m: NDArray[np.float64],
    xs_m: NDArray[np.float64],
    bottom: float,
    left: float,
    spacing_m: float,
) -> NDArray[np.float32]:
    """Quintic interpolation of a lattice (rows south → north from ``bottom``) at a grid of points."""
    iy, wy = _axis_weights(ys_m, bottom, spacing_m, lattice.shape[0])
    ix, wx = _axis_weights(xs_m, left, spacing_m, lattice.shape[1])
    wy32, wx32 = wy.astype(np.float32), wx.astype(np.float32)
    rows = lattice[iy] * (1.0 - wy32)[:, None] + lattice[iy + 1] * wy32[:, None]
    out = rows[:, ix] * (1.0 - wx32)[None, :]
    out += rows[:, ix + 1] * wx32[None, :]
    return out


def value_noise(
    xs_m: NDArray[np.float64],
    ys_m: NDArray[np.float64],
    *,
    seed: int,
    name: str,
    spacings_km: Sequence[float],
    hurst: float = 0.45,
) -> NDArray[np.float32]:
    """Smooth fractal value noise on the grid with column centres ``xs_m`` and row centres ``ys_m`` (Albers m).

    Octaves are random lattices with the given spacings (km) laid on the fixed ``NOISE_DOMAIN_M``, weighted by
    spacing**hurst. The coarser octaves are interpolated (quintic weights) onto the finest lattice and summed
    there, and that sum is interpolated to the grid, so the cost at full resolution is one pass. The result has
    about zero mean and unit standard deviation. Returns float32 of shape (len(ys_m), len(xs_m)).
    """
    left, bottom, right, top = NOISE_DOMAIN_M
    amps = np.array([s**hurst for s in spacings_km], dtype=np.float64)
    amps /= math.sqrt(float(np.sum(amps**2)))
    fine = min(spacings_km) * 1000.0
    nxf = math.ceil((right - left) / fine) + 2
    nyf = math.ceil((top - bottom) / fine) + 2
    fine_x = np.asarray(left + fine * np.arange(nxf), np.float64)
    fine_y = np.asarray(bottom + fine * np.arange(nyf), np.float64)
    total = np.zeros((nyf, nxf), dtype=np.float32)
    for k, (spacing_km, amp) in enumerate(zip(spacings_km, amps, strict=True)):
        s = spacing_km * 1000.0
        nx = math.ceil((right - left) / s) + 2
        ny = math.ceil((top - bottom) / s) + 2
        lattice = (
            (_stream(seed, name, k).random((ny, nx)) * 2.0 - 1.0) * (math.sqrt(3.0) * amp * 1.3)
        ).astype(np.float32)  # 1.3 ≈ restores the variance lost to interpolation
        total += _interp_lattice(lattice, fine_y, fine_x, bottom, left, s)
    return _interp_lattice(total, ys_m, xs_m, bottom, left, fine)


def box_blur(a: NDArray[np.float64], radius: int, axis: int) -> NDArray[np.float64]:
    """Moving sum of width 2·radius + 1 along ``axis`` (zero padding)."""
    if radius <= 0:
        return a.copy()
    pad = [(0, 0)] * a.ndim
    pad[axis] = (radius + 1, radius)
    c = np.cumsum(np.pad(a, pad), axis=axis)
    n = a.shape[axis]
    hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
    lo = np.take(c, np.arange(0, n), axis=axis)
    return hi - lo


def gaussian_blur_masked(
    values: NDArray[np.float64], mask: NDArray[np.bool_], sigma_px: float
) -> NDArray[np.float64]:
    """Normalised Gaussian blur (three box passes per axis) of ``values`` over ``mask`` cells; NaN where no support."""
    r = max(0, round(math.sqrt(12.0 * sigma_px**2 / 3.0 + 1.0) / 2.0 - 0.5))
    num = np.where(mask, values, 0.0).astype(np.float64)
    den = mask.astype(np.float64)
    for _ in range(3):
        for axis in (0, 1):
            num = box_blur(num, r, axis)
            den = box_blur(den, r, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[den <= 1e-9] = np.nan
    return out


def dilate(mask: NDArray[np.bool_], radius: int) -> NDArray[np.bool_]:
    """Binary dilation by a (2·radius + 1)² square (no wrap-around at the edges)."""
    out = mask.copy()
    for axis in (0, 1):
        src = out.copy()
        n = src.shape[axis]
        for k in range(1, min(radius, n - 1) + 1):
            lead = [slice(None)] * 2
            lag = [slice(None)] * 2
            lead[axis], lag[axis] = slice(k, None), slice(None, n - k)
            out[tuple(lead)] |= src[tuple(lag)]
            out[tuple(lag)] |= src[tuple(lead)]
    return out


def sigmoid(x: NDArray[np.floating]) -> NDArray[np.float64]:
    """Logistic function 1 / (1 + e^−x)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def fill_nodata_nearest(a: NDArray[np.float64], valid: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Fill invalid cells from the valid ones, growing inwards one ring at a time (each new cell takes the mean of
    its valid 4-neighbours; no wrap-around). Meant for small grids such as WorldClim 10' (sea cells next to coasts).
    """
    out = np.where(valid, a, 0.0).astype(np.float64)
    ok = valid.copy()
    while not ok.all():
        vals = np.pad(np.where(ok, out, 0.0), 1)
        cnt = np.pad(ok.astype(np.float64), 1)
        s = vals[:-2, 1:-1] + vals[2:, 1:-1] + vals[1:-1, :-2] + vals[1:-1, 2:]
        c = cnt[:-2, 1:-1] + cnt[2:, 1:-1] + cnt[1:-1, :-2] + cnt[1:-1, 2:]
        grow = ~ok & (c > 0)
        if not grow.any():
            break
        out[grow] = s[grow] / c[grow]
        ok = ok | grow
    return out


# ----------------------------------------------------------------------------------------------------------------
# Climate (real WorldClim inputs) and the synthetic annual precipitation
# ----------------------------------------------------------------------------------------------------------------

# Annual mean temperature near sea level in eastern China by latitude (°C), knots read off station normals
# (Sanya, Guangzhou, Shanghai, Zhengzhou, Beijing, Harbin, Mohe, lapse-corrected); used to turn BIO1 into a
# rough elevation proxy with a 6 °C/km lapse rate.
_SEA_LEVEL_T_LAT = np.array([10.0, 18.0, 23.0, 31.0, 35.0, 40.0, 46.0, 53.0, 56.0])
_SEA_LEVEL_T_C = np.array([28.0, 25.8, 22.6, 16.8, 14.5, 12.0, 5.0, -2.5, -5.0])
LAPSE_C_PER_M = 0.006


def elevation_proxy_m(
    bio1_c: NDArray[np.float64], lat_deg: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Rough elevation proxy (m) = (sea-level temperature at this latitude − BIO1) / lapse rate, ≥ 0."""
    t0 = np.interp(lat_deg, _SEA_LEVEL_T_LAT, _SEA_LEVEL_T_C)
    return np.maximum(0.0, (t0 - bio1_c) / LAPSE_C_PER_M)


def ruggedness_c(bio1_c: NDArray[np.float64]) -> NDArray[np.float64]:
    """Terrain ruggedness proxy: standard deviation (°C) of BIO1 over the 3 × 3 neighbourhood of each cell.

    On the 10' WorldClim grid (≈ 18 km) plains give ≈ 0.2–0.5 °C, hill country ≈ 1 °C, high mountains 2–5 °C.
    """
    padded = np.pad(bio1_c, 1, mode="edge")
    stack = np.stack([padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1)])  # fmt: skip
    return stack.std(axis=0)


def _precip_features(
    jan_mm: NDArray[np.float64],
    bio1_c: NDArray[np.float64],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> NDArray[np.float64]:
    x = (lon - 105.0) / 10.0
    y = (lat - 35.0) / 10.0
    return np.stack(
        [np.ones_like(x), np.log1p(jan_mm), bio1_c / 10.0, x, y, x * y, x * x, y * y], axis=-1
    )


def _haversine_km(
    lon1: NDArray[np.float64], lat1: NDArray[np.float64], lon2: float, lat2: float
) -> NDArray[np.float64]:
    p1, p2 = np.deg2rad(lat1), math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lon2) - np.deg2rad(lon1)
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


@dataclass(frozen=True)
class PrecipRelation:
    """Fitted annual-precipitation relation.

    ``ln P = β·[1, ln(1 + Jan), BIO1/10, x, y, x·y, x², y²] + r(lon, lat)`` with x = (lon − 105)/10,
    y = (lat − 35)/10, Jan = WorldClim January precipitation (mm), BIO1 in °C, and r a Gaussian-kernel average
    (length ``PRECIP_RESIDUAL_LENGTH_KM``, prior weight ``PRECIP_RESIDUAL_PRIOR_WEIGHT`` towards 0) of the regression residuals at the anchors.
    """

    beta: tuple[float, ...]
    anchor_lon: tuple[float, ...]
    anchor_lat: tuple[float, ...]
    anchor_residual: tuple[float, ...]
    rmse_log_regression: float

    def predict_mm(
        self,
        jan_mm: NDArray[np.float64],
        bio1_c: NDArray[np.float64],
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Annual precipitation, mm/yr, clipped to 10–3500."""
        log_p = _precip_features(jan_mm, bio1_c, lon, lat) @ np.asarray(self.beta)
        num = np.zeros_like(log_p)
        den = np.full_like(log_p, PRECIP_RESIDUAL_PRIOR_WEIGHT)
        for lo, la, r in zip(self.anchor_lon, self.anchor_lat, self.anchor_residual, strict=True):
            w = np.exp(-0.5 * (_haversine_km(lon, lat, lo, la) / PRECIP_RESIDUAL_LENGTH_KM) ** 2)
            num += w * r
            den += w
        return np.clip(np.exp(log_p + num / den), 10.0, 3500.0)


def fit_precip_relation(
    sample: Callable[
        [Sequence[tuple[float, float]]], tuple[NDArray[np.float64], NDArray[np.float64]]
    ],
) -> PrecipRelation:
    """Least-squares fit of ln(annual precipitation) at ``PRECIP_ANCHORS`` on the WorldClim values ``sample`` gives."""
    pts = [(a[1], a[2]) for a in PRECIP_ANCHORS]
    jan, bio1 = sample(pts)
    lon = np.array([p[0] for p in pts])
    lat = np.array([p[1] for p in pts])
    target = np.log(np.array([a[3] for a in PRECIP_ANCHORS], dtype=np.float64))
    x = _precip_features(jan, bio1, lon, lat)
    beta, *_ = np.linalg.lstsq(x, target, rcond=None)
    resid = target - x @ beta
    return PrecipRelation(
        tuple(float(b) for b in beta), tuple(lon.tolist()), tuple(lat.tolist()), tuple(resid.tolist()),
        float(np.sqrt(np.mean(resid**2))),
    )  # fmt: skip


@dataclass(frozen=True)
class Climate:
    """Climate fields on the mosaic grid, for China pixels (1-D, in the order of ``Domain.flat_index``).

    Attributes:
        bio1_c: WorldClim BIO1 (°C), gaps near the coast filled, bilinear.
        bio1_pipeline_c: BIO1 aligned exactly as sinkmap's pipeline does (GDAL WarpedVRT, bilinear,
            tolerance 0); NaN where the warp finds no data. The tree-line rule of the calibration uses it.
        jan_mm: WorldClim January precipitation, mm (filled, bilinear).
        annual_precip_mm: the synthetic annual precipitation as stored (int16, mm/yr).
        elevation_m: elevation proxy from BIO1, m.
        ruggedness_c: terrain ruggedness proxy (local standard deviation of BIO1), °C.
        lon, lat: pixel-centre coordinates, degrees.
        sea: full-grid mask of WorldClim no-data cells (sea), nearest.
    """

    bio1_c: NDArray[np.float32]
    bio1_pipeline_c: NDArray[np.float32]
    jan_mm: NDArray[np.float32]
    annual_precip_mm: NDArray[np.int16]
    elevation_m: NDArray[np.float32]
    ruggedness_c: NDArray[np.float32]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    sea: NDArray[np.bool_]
    relation: PrecipRelation


@dataclass(frozen=True)
class Domain:
    """The grid and the China pixels on it.

    Attributes:
        grid: the mosaic grid.
        province_codes: adcodes in province order.
        names_en: English names in province order.
        prov_grid: full-grid province index (int16, −1 outside China).
        flat_index: flat indices of the China pixels (row-major).
        prov: province index of each China pixel.
        counts: number of China pixels per province.
    """

    grid: Grid
    province_codes: tuple[str, ...]
    names_en: tuple[str, ...]
    prov_grid: NDArray[np.int16]
    flat_index: NDArray[np.int64]
    prov: NDArray[np.int16]
    counts: NDArray[np.int64]

    @property
    def n(self) -> int:
        return int(self.flat_index.size)

    @property
    def n_prov(self) -> int:
        return len(self.province_codes)

    def rows_cols(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        return np.divmod(self.flat_index, self.grid.width)

    def xy_m(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Albers coordinates (m) of the China pixel centres."""
        r, c = self.rows_cols()
        t = self.grid.transform
        return np.asarray(t.c + t.a * (c + 0.5), np.float64), np.asarray(
            t.f + t.e * (r + 0.5), np.float64
        )

    def to_grid(self, values: NDArray[np.generic], fill: float, dtype: str) -> NDArray[np.generic]:
        """Scatter per-China-pixel ``values`` into a full grid filled with ``fill`` elsewhere."""
        out = np.full(self.grid.width * self.grid.height, fill, dtype=dtype)
        out[self.flat_index] = values.astype(dtype)
        return out.reshape(self.grid.height, self.grid.width)

    def take(self, full: NDArray[np.generic]) -> NDArray[np.generic]:
        """Values of a full-grid array at the China pixels."""
        return full.reshape(-1)[self.flat_index]


def build_domain(provinces_path: Path, pixel_size_m: float) -> Domain:
    """Grid covering every province polygon (reprojected to CLCD Albers) and the centre-of-pixel province raster."""
    gdf = gpd.read_file(provinces_path).to_crs(albers_crs().to_wkt())
    gdf = gdf.sort_values("adcode").reset_index(drop=True)
    grid = make_grid(tuple(float(v) for v in gdf.total_bounds), pixel_size_m)  # type: ignore[arg-type]
    shapes = ((geom, i) for i, geom in enumerate(gdf.geometry))
    prov_grid = features.rasterize(
        shapes, out_shape=(grid.height, grid.width), transform=grid.transform, fill=-1, dtype="int16",
        all_touched=False,
    )  # fmt: skip
    flat = np.flatnonzero(prov_grid.reshape(-1) >= 0).astype(np.int64)
    prov = prov_grid.reshape(-1)[flat]
    counts = np.bincount(prov, minlength=len(gdf)).astype(np.int64)
    return Domain(
        grid, tuple(str(a) for a in gdf["adcode"]), tuple(str(n) for n in gdf["name_en"]), prov_grid, flat, prov,
        counts,
    )  # fmt: skip


def _source_lonlat(
    transform: Affine, shape: tuple[int, int]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    lon = transform.c + transform.a * (cols + 0.5)
    lat = transform.f + transform.e * (rows + 0.5)
    return lon.astype(np.float64), lat.astype(np.float64)


def _warp_bilinear(
    src: NDArray[np.float64], src_transform: Affine, src_crs: RioCRS, grid: Grid
) -> NDArray[np.float32]:
    dst = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
    reproject(
        source=src.astype(np.float32), destination=dst, src_transform=src_transform, src_crs=src_crs,
        dst_transform=grid.transform, dst_crs=albers_crs(), resampling=Resampling.bilinear, src_nodata=np.nan,
        dst_nodata=np.nan,
    )  # fmt: skip
    return dst


def build_climate(domain: Domain, bio1_path: Path, prec01_path: Path) -> Climate:
    """Read WorldClim BIO1 and January precipitation, derive annual precipitation and align all to the grid."""
    grid = domain.grid
    with rasterio.open(bio1_path) as s:
        bio1 = s.read(1).astype(np.float64)
        bio1_valid = (bio1 != s.nodata) & np.isfinite(bio1) & (bio1 > -100)
        src_transform, src_crs = s.transform, s.crs
    with rasterio.open(prec01_path) as s:
        jan = s.read(1).astype(np.float64)
        jan_valid = jan != s.nodata
    valid = bio1_valid & jan_valid
    bio1_f = fill_nodata_nearest(bio1, valid)
    jan_f = np.maximum(fill_nodata_nearest(jan, valid), 0.0)
    lon_s, lat_s = _source_lonlat(src_transform, bio1.shape)

    inv = ~src_transform

    def sample(
        pts: Sequence[tuple[float, float]],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        cols, rows = zip(*[inv * p for p in pts], strict=True)
        r = np.clip(np.floor(rows).astype(int), 0, bio1.shape[0] - 1)
        c = np.clip(np.floor(cols).astype(int), 0, bio1.shape[1] - 1)
        return jan_f[r, c], bio1_f[r, c]

    relation = fit_precip_relation(sample)
    precip_s = relation.predict_mm(jan_f, bio1_f, lon_s, lat_s)
    elev_s = elevation_proxy_m(bio1_f, lat_s)
    rug_s = ruggedness_c(bio1_f)

    take = domain.take
    bio1_g = take(_warp_bilinear(bio1_f, src_transform, src_crs, grid))
    jan_g = take(_warp_bilinear(jan_f, src_transform, src_crs, grid))
    precip_g = take(_warp_bilinear(precip_s, src_transform, src_crs, grid))
    elev_g = take(_warp_bilinear(elev_s, src_transform, src_crs, grid))
    rug_g = take(_warp_bilinear(rug_s, src_transform, src_crs, grid))
    sea_g = _warp_bilinear((~valid).astype(np.float64), src_transform, src_crs, grid) > 0.5

    with rasterio.open(bio1_path) as s, WarpedVRT(
        s, crs=albers_crs().to_wkt(), transform=grid.transform, width=grid.width, height=grid.height,
        resampling=Resampling.bilinear, nodata=s.nodata, tolerance=1e-9,
    ) as vrt:  # fmt: skip
        # tolerance 1e-9 = exact transformer, as the pipeline asks with tolerance=0 (which rasterio 1.4.4 rejects:
        # "pfnTransformer is NULL"); the default approximate transformer shifts BIO1 by up to ~1 °C here.
        t_pipe = take(vrt.read(1)).astype(np.float32)
        t_pipe[(t_pipe == np.float32(s.nodata)) | ~np.isfinite(t_pipe)] = np.nan

    x, y = domain.xy_m()
    lon, lat = Transformer.from_crs(
        CRS.from_wkt(albers_crs().to_wkt()), CRS.from_epsg(4326), always_xy=True
    ).transform(x, y)
    return Climate(
        bio1_c=bio1_g.astype(np.float32),
        bio1_pipeline_c=t_pipe,
        jan_mm=jan_g.astype(np.float32),
        annual_precip_mm=np.rint(np.clip(precip_g, 10, 3500)).astype(np.int16),
        elevation_m=elev_g.astype(np.float32),
        ruggedness_c=rug_g.astype(np.float32),
        lon=np.asarray(lon, dtype=np.float64),
        lat=np.asarray(lat, dtype=np.float64),
        sea=sea_g,
        relation=relation,
    )


# ----------------------------------------------------------------------------------------------------------------
# Per-pixel fields (pure functions over 1-D arrays of China pixels)
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Noise:
    """Smooth noise fields (≈ unit standard deviation) at the China pixels, one per purpose."""

    tree: NDArray[np.float32]
    shrub: NDArray[np.float32]
    bamboo: NDArray[np.float32]
    canopy: NDArray[np.float32]
    stock: NDArray[np.float32]
    landcover: NDArray[np.float32]
    crop: NDArray[np.float32]
    karst: NDArray[np.float32]
    buried: NDArray[np.float32]
    wetland: NDArray[np.float32]
    edge: NDArray[np.float32]
    change: NDArray[np.float32]
    ftype: NDArray[np.float32]


NOISE_OCTAVES_KM: dict[str, tuple[float, ...]] = {
    "tree": (10, 5),
    "shrub": (10, 5),
    "bamboo": (80, 40, 20, 10, 5),
    "canopy": (160, 60, 20, 8),
    "stock": (160, 60, 20, 8),
    "landcover": (200, 80, 30, 12, 5),
    "crop": (150, 60, 20, 8),
    "karst": (75, 35, 15, 7),
    "buried": (400, 200, 100, 50, 25),
    "wetland": (40, 20, 10, 5, 2.5),
    "edge": (20, 10, 5, 2.5),
    "change": (60, 30, 15, 7, 3.5),
    "ftype": (200, 100, 50, 25, 12),
}


LOCAL_NOISE_FIELDS = ("tree", "shrub")
"""Noise fields that only vary locally: their Gaussian mean over ``LOCAL_NOISE_SIGMA_KM`` is subtracted."""
LOCAL_NOISE_SIGMA_KM = 15.0


def make_noise(domain: Domain, seed: int) -> Noise:
    """Every noise field of the generator, sampled at the China pixels.

    The fields that pick the forest pixels inside a province (``LOCAL_NOISE_FIELDS``) are high-passed: their
    smoothed mean (Gaussian, σ ``LOCAL_NOISE_SIGMA_KM``) is subtracted, so a prefecture-sized area (~ 90 km
    across) averages to ≈ 0 and the noise only decides which pixels of a landscape are wooded, not whether a
    whole landscape is.
    """
    xs, ys = domain.grid.x_centres(), domain.grid.y_centres()
    fields = {
        name: domain.take(value_noise(xs, ys, seed=seed, name=name, spacings_km=octaves)).astype(
            np.float32
        )
        for name, octaves in NOISE_OCTAVES_KM.items()
    }
    smoother = Smoother(domain, sigma_km=LOCAL_NOISE_SIGMA_KM)
    for name in LOCAL_NOISE_FIELDS:
        fields[name] = (fields[name] - smoother.pixels(fields[name])).astype(np.float32)
    return Noise(**fields)


def moisture_index(
    precip_mm: NDArray[np.generic], temp_c: NDArray[np.generic]
) -> NDArray[np.float64]:
    """Annual precipitation over a crude potential evapotranspiration, PET = 450 + 40·max(T, −5) mm (≥ 200)."""
    pet = np.maximum(450.0 + 40.0 * np.maximum(np.asarray(temp_c, np.float64), -5.0), 200.0)
    return np.asarray(precip_mm, np.float64) / pet


def tree_climate_score(
    precip_mm: NDArray[np.generic], temp_c: NDArray[np.generic], lat_deg: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Climatic suitability for closed tree stands (dimensionless, ≈ −5…3; > 0 suitable).

    The minimum of a moisture term (moisture index around 0.42) and a temperature term; the tree-line temperature
    falls from −1.5 °C on the plateau to −8.5 °C north of ≈ 46° N, where continental summers let larch grow at
    annual means far below zero.
    """
    mi = moisture_index(precip_mm, temp_c)
    t_line = -1.5 - 7.0 * sigmoid((lat_deg - 43.5) / 1.5)
    s_moist = np.clip((mi - 0.42) / 0.15, -5.0, 3.0)
    s_temp = np.clip((np.asarray(temp_c, np.float64) - t_line) / 1.2, -5.0, 3.0)
    return np.minimum(s_moist, s_temp)


def _project_lonlat(lon: float, lat: float) -> tuple[float, float]:
    tr = Transformer.from_crs(
        CRS.from_epsg(4326), CRS.from_wkt(albers_crs().to_wkt()), always_xy=True
    )
    x, y = tr.transform(lon, lat)
    return float(x), float(y)


@dataclass(frozen=True)
class StaticMasks:
    """Boolean masks over the China pixels that do not depend on the forest allocation.

    ``urban_2020`` ⊂ ``urban_2025``; ``urban_influence`` ∈ [0, 1] falls off over three city radii.
    """

    lake: NDArray[np.bool_]
    urban_2020: NDArray[np.bool_]
    urban_2025: NDArray[np.bool_]
    urban_influence: NDArray[np.float32]
    marsh: NDArray[np.bool_]
    snow: NDArray[np.bool_]
    mangrove: NDArray[np.bool_]
    salt_marsh: NDArray[np.bool_]
    seagrass: NDArray[np.bool_]
    karst_exposed: NDArray[np.bool_]
    carbonate_buried: NDArray[np.bool_]


SNOW_ICE_KM2 = 45_000.0
"""Snow and ice area (km²), close to China's glacier area (≈ 48,000 km², second glacier inventory) [M]."""
TOWNS = 6000
"""Number of candidate small-town sites drawn (kept where the climate suits farming)."""


def _window(
    domain: Domain, lookup: NDArray[np.int32], cx: float, cy: float, r: float
) -> NDArray[np.int64]:
    """Indices (into the China-pixel arrays) of the China pixels within the square of half-side ``r`` m
    around (``cx``, ``cy``); ``lookup`` maps flat grid indices to China-pixel indices (−1 elsewhere)."""
    g = domain.grid
    px = g.pixel_size_m
    c0 = max(0, math.floor((cx - r - g.transform.c) / px))
    c1 = min(g.width, math.ceil((cx + r - g.transform.c) / px) + 1)
    r0 = max(0, math.floor((g.transform.f - (cy + r)) / px))
    r1 = min(g.height, math.ceil((g.transform.f - (cy - r)) / px) + 1)
    if c0 >= c1 or r0 >= r1:
        return np.zeros(0, np.int64)
    block = lookup.reshape(g.height, g.width)[r0:r1, c0:c1].reshape(-1)
    return block[block >= 0].astype(np.int64)


def _ellipse_mask(
    domain: Domain,
    lookup: NDArray[np.int32],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    cx: float,
    cy: float,
    a: float,
    b: float,
    angle: float,
    wobble: NDArray[np.float32],
    amplitude: float,
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.float64]]:
    """Indices of the pixels in the bounding box of an ellipse, whether each is inside (with a noisy edge), and
    the normalised elliptical distance (1 on the nominal edge)."""
    r = max(a, b) * (1.0 + 2.0 * amplitude) + 1.0
    sel = _window(domain, lookup, cx, cy, r)
    dx, dy = x[sel] - cx, y[sel] - cy
    ca, sa = math.cos(angle), math.sin(angle)
    u = (dx * ca + dy * sa) / a
    v = (-dx * sa + dy * ca) / b
    dist = np.sqrt(u * u + v * v)
    return sel, dist + amplitude * wobble[sel] < 1.0, dist


def select_top_per_group(
    score: NDArray[np.floating],
    group: NDArray[np.integer],
    quota: NDArray[np.integer],
    candidates: NDArray[np.bool_],
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Pick, in each group g, the ``quota[g]`` candidate pixels with the highest ``score``.

    Returns the selection mask and, per group, the threshold score (midway between the lowest score taken and
    the highest one left; +inf where nothing was taken, −inf where everything was). Deterministic (introselect
    on a fixed order), linear time per group.
    """
    n_groups = quota.size
    idx = np.flatnonzero(candidates)
    g = group[idx]
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], np.arange(n_groups + 1), side="left")
    s_all = np.asarray(score, dtype=np.float64)
    mask = np.zeros(s_all.shape, dtype=bool)
    thr = np.full(n_groups, np.inf)
    for k in range(n_groups):
        members = idx[order[bounds[k] : bounds[k + 1]]]
        q = int(min(max(int(quota[k]), 0), members.size))
        if q == 0:
            continue
        if q == members.size:
            mask[members] = True
            thr[k] = -np.inf
            continue
        vals = s_all[members]
        part = np.argpartition(-vals, q)
        top = part[:q]
        mask[members[top]] = True
        thr[k] = 0.5 * (float(vals[top].min()) + float(vals[part[q:]].max()))
    return mask, thr


class Smoother:
    """Spreads per-province values into a smooth field (Gaussian, σ = ``sigma_km``) over the China pixels.

    Used to make the per-province thresholds and scale factors of the calibration change gradually across
    province borders instead of stepping at them. Works on a coarse grid (≈ 10 km cells) and samples it back
    bilinearly (float32).
    """

    def __init__(self, domain: Domain, sigma_km: float = 60.0) -> None:
        grid = domain.grid
        f = max(1, round(10_000.0 / grid.pixel_size_m))
        r, c = domain.rows_cols()
        self.shape = (int(r.max()) // f + 1, int(c.max()) // f + 1)
        self.cell = ((r // f) * self.shape[1] + (c // f)).astype(np.int32)
        self.count = np.bincount(self.cell, minlength=self.shape[0] * self.shape[1]).astype(
            np.float64
        )
        self.sigma_px = sigma_km * 1000.0 / (grid.pixel_size_m * f)
        fy = (r + 0.5) / f - 0.5
        fx = (c + 0.5) / f - 0.5
        del r, c
        y0 = np.clip(np.floor(fy), 0, self.shape[0] - 1).astype(np.int32)
        x0 = np.clip(np.floor(fx), 0, self.shape[1] - 1).astype(np.int32)
        self.wy = np.clip(fy - y0, 0.0, 1.0).astype(np.float32)
        self.wx = np.clip(fx - x0, 0.0, 1.0).astype(np.float32)
        del fy, fx
        y1 = np.minimum(y0 + 1, self.shape[0] - 1)
        x1 = np.minimum(x0 + 1, self.shape[1] - 1)
        w = self.shape[1]
        self.i00, self.i01 = y0 * w + x0, y0 * w + x1
        self.i10, self.i11 = y1 * w + x0, y1 * w + x1
        self.prov = domain.prov

    def __call__(self, per_province: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.pixels(per_province[self.prov])

    def pixels(self, values: NDArray[np.floating]) -> NDArray[np.float64]:
        """Gaussian-smoothed version of a per-China-pixel field (same smoothing as for per-province values)."""
        sums = np.bincount(self.cell, weights=values, minlength=self.count.size)
        mask = self.count > 0
        mean = np.where(mask, sums / np.maximum(self.count, 1), 0.0).reshape(self.shape)
        blurred = gaussian_blur_masked(mean, mask.reshape(self.shape), self.sigma_px)
        b = np.where(np.isnan(blurred), 0.0, blurred).astype(np.float32).reshape(-1)
        top = b[self.i00] * (1 - self.wx)
        top += b[self.i01] * self.wx
        bot = b[self.i10] * (1 - self.wx)
        bot += b[self.i11] * self.wx
        top *= 1 - self.wy
        bot *= self.wy
        top += bot
        return top.astype(np.float64)


def select_smooth(
    score: NDArray[np.floating],
    domain: Domain,
    quota: NDArray[np.integer],
    candidates: NDArray[np.bool_],
    smoother: Smoother | None,
    iterations: int = 2,
) -> NDArray[np.bool_]:
    """Exact per-province top-``quota`` selection on ``score`` minus a smooth offset field.

    The offset is built iteratively from the per-province thresholds, so that the effective threshold varies
    smoothly across province borders; the last selection is exact, so the quotas are met to the pixel.
    """
    s = np.asarray(score, dtype=np.float64)
    if smoother is None or iterations <= 0:
        return select_top_per_group(s, domain.prov, quota, candidates)[0]
    offset = np.zeros_like(s)
    for _ in range(iterations):
        _, thr = select_top_per_group(s - offset, domain.prov, quota, candidates)
        finite = np.isfinite(thr)
        fill = float(np.median(thr[finite])) if finite.any() else 0.0
        thr = np.where(finite, thr, fill)
        offset = offset + smoother(thr)
    return select_top_per_group(s - offset, domain.prov, quota, candidates)[0]


def build_static_masks(domain: Domain, climate: Climate, noise: Noise, seed: int) -> StaticMasks:
    """Lakes, built-up areas, marshes, snow/ice, coastal wetlands and carbonate lithology."""
    grid = domain.grid
    px_km2 = grid.pixel_size_m**2 / 1e6
    x, y = domain.xy_m()
    n = domain.n
    rng = _stream(seed, "static-shapes")

    lookup = np.full(grid.width * grid.height, -1, np.int32)
    lookup[domain.flat_index] = np.arange(n, dtype=np.int32)

    lake = np.zeros(n, bool)
    for _name, lon, lat, area_km2 in LAKES:
        cx, cy = _project_lonlat(lon, lat)
        aspect = 1.0 + rng.random() * 1.2
        angle = rng.random() * math.pi
        a = math.sqrt(area_km2 * 1e6 * aspect / math.pi)
        b = a / aspect
        sel, inside, _ = _ellipse_mask(domain, lookup, x, y, cx, cy, a, b, angle, noise.edge, 0.18)
        lake[sel[inside]] = True

    urban_2020 = np.zeros(n, bool)
    urban_2025 = np.zeros(n, bool)
    influence = np.zeros(n, np.float32)
    sites: list[tuple[float, float, float]] = []
    for _name, lon, lat, radius_km in CITIES:
        cx, cy = _project_lonlat(lon, lat)
        sites.append((cx, cy, radius_km * 1000.0))
    # small towns: random sites, kept on farmland climate (warm enough, wet enough, low)
    tx = rng.uniform(NOISE_DOMAIN_M[0], NOISE_DOMAIN_M[2], TOWNS)
    ty = rng.uniform(NOISE_DOMAIN_M[1], NOISE_DOMAIN_M[3], TOWNS)
    tr = rng.uniform(1500.0, 4000.0, TOWNS)
    col = np.floor((tx - grid.transform.c) / grid.transform.a).astype(np.int64)
    row = np.floor((ty - grid.transform.f) / grid.transform.e).astype(np.int64)
    on_grid = (col >= 0) & (col < grid.width) & (row >= 0) & (row < grid.height)
    for k in np.flatnonzero(on_grid):
        i = lookup[row[k] * grid.width + col[k]]
        if i < 0:
            continue
        if (
            climate.annual_precip_mm[i] >= 380
            and climate.bio1_c[i] > 3
            and climate.elevation_m[i] < 900
        ):
            sites.append((float(tx[k]), float(ty[k]), float(tr[k])))
    for cx, cy, rad in sites:
        r3 = 3.0 * rad * URBAN_GROWTH_2025
        sel = _window(domain, lookup, cx, cy, r3)
        d = np.hypot(x[sel] - cx, y[sel] - cy) / rad + 0.25 * noise.edge[sel]
        urban_2020[sel[d < 1.0]] = True
        urban_2025[sel[d < URBAN_GROWTH_2025]] = True
        np.maximum.at(influence, sel, np.exp(-((d / 3.0) ** 2)).astype(np.float32))
    urban_2020 &= ~lake
    urban_2025 &= ~lake

    marsh = np.zeros(n, bool)
    for _name, lon, lat, radius_km, share in MARSHES:
        cx, cy = _project_lonlat(lon, lat)
        sel, inside, dist = _ellipse_mask(
            domain,
            lookup,
            x,
            y,
            cx,
            cy,
            radius_km * 1000.0,
            radius_km * 1000.0,
            0.0,
            noise.edge,
            0.2,
        )
        cand = sel[inside & ~lake[sel] & ~urban_2025[sel]]
        n_marsh = math.floor(share * cand.size + 0.5)
        if n_marsh <= 0:
            continue
        score = noise.wetland[cand] - 0.8 * dist[inside & ~lake[sel] & ~urban_2025[sel]]
        top = np.lexsort((cand, -score))[:n_marsh]
        marsh[cand[top]] = True

    snow_q = np.array([round(SNOW_ICE_KM2 / px_km2)])
    snow_cand = (climate.bio1_c < -4.0) & ~lake
    snow_score = -climate.bio1_c.astype(np.float64) + 2.5 * noise.landcover
    snow, _ = select_top_per_group(snow_score, np.zeros(n, np.int64), snow_q, snow_cand)

    # coast: China pixels with a non-China 4-neighbour, within ~15 km of WorldClim sea
    china_full = domain.prov_grid >= 0
    r_sea = max(1, round(15_000.0 / grid.pixel_size_m))
    near_sea = dilate(climate.sea & ~china_full, r_sea)
    coast_edge = domain.take(china_full & dilate(~china_full, 1) & near_sea).astype(bool)
    # a band 1-3 pixels deep (fewer at coarse resolution) for salt marsh
    depth = max(1, min(3, round(3000.0 / grid.pixel_size_m)))
    coast_band = domain.take(china_full & dilate(~china_full, depth) & near_sea).astype(bool)
    del near_sea

    hard = lake | urban_2025 | marsh | snow

    def quota_of(table: Mapping[str, float], unit_km2: float) -> NDArray[np.int64]:
        return np.array(
            [round(table.get(code, 0.0) * unit_km2 / px_km2) for code in domain.province_codes],
            np.int64,
        )

    wet_score = noise.wetland.astype(np.float64)
    mangrove, _ = select_top_per_group(
        wet_score, domain.prov, quota_of(MANGROVE_HA, 0.01), coast_edge & ~hard
    )
    seagrass, _ = select_top_per_group(
        -wet_score, domain.prov, quota_of(SEAGRASS_HA, 0.01), coast_edge & ~hard & ~mangrove
    )
    salt_marsh, _ = select_top_per_group(
        wet_score,
        domain.prov,
        quota_of(SALT_MARSH_HA, 0.01),
        coast_band & ~hard & ~mangrove & ~seagrass,
    )

    smoother = Smoother(domain, sigma_km=80.0)
    karst_q = np.minimum(quota_of(EXPOSED_KARST_KM2, 1.0), (0.9 * domain.counts).astype(np.int64))
    karst = select_smooth(noise.karst, domain, karst_q, ~lake, smoother)
    # buried carbonate: next to exposed karst and in basins (low elevation proxy), not where karst is exposed
    buried_score = noise.buried + 0.6 * noise.karst - 0.0004 * climate.elevation_m
    buried_q = np.minimum(quota_of(BURIED_CARBONATE_KM2, 1.0), domain.counts - karst_q)
    buried = select_smooth(buried_score, domain, buried_q, ~lake & ~karst, smoother)
    return StaticMasks(
        lake=lake, urban_2020=urban_2020, urban_2025=urban_2025, urban_influence=influence, marsh=marsh, snow=snow,
        mangrove=mangrove, salt_marsh=salt_marsh, seagrass=seagrass, karst_exposed=karst, carbonate_buried=buried,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Calibration targets per province
# ----------------------------------------------------------------------------------------------------------------

SICHUAN_8TH_NFI_COVERAGE = 35.22
"""FACTORS.md D3: Sichuan, 8th NFI (2012) coverage, %; used as a lower bound for the 9th-NFI-era value."""
CLASS_MARGIN_PCT = 0.3
"""Distance kept from a D3 class bound when a coverage is clamped into its class, percentage points."""


@dataclass(frozen=True)
class Targets:
    """Per-province calibration targets (arrays in province order) and their sources.

    Attributes:
        coverage_pct: epoch → forest coverage, % of land area (pixel count inside the province).
        stock_m3: epoch → forest stock volume, m³ (NaN for Hong Kong and Macau until the tree stands are known).
        coverage_source, stock_source: per province, where the 2020 figures come from.
        scale_unverified_2020: factor applied to the unverified 2020 coverages to close the national total.
    """

    coverage_pct: dict[int, NDArray[np.float64]]
    stock_m3: dict[int, NDArray[np.float64]]
    coverage_source: tuple[str, ...]
    stock_source: tuple[str, ...]
    scale_unverified_2020: float


def coverage_2020(domain: Domain) -> tuple[NDArray[np.float64], float, list[str]]:
    """2020 coverage per province (%): §D3 figures kept, unverified ones scaled by one factor (clamped into their
    §D3 class) so that the land-area-weighted national coverage equals 22.96 %."""
    target = NATIONAL_TARGETS[2020][0]
    weights = domain.counts.astype(np.float64)

    def covs(f: float) -> NDArray[np.float64]:
        out = np.zeros(domain.n_prov)
        for i, code in enumerate(domain.province_codes):
            fig = PROVINCE_FIGURES[code]
            c = fig.coverage_pct if fig.coverage_fixed else fig.coverage_pct * f
            lo, hi = COVERAGE_CLASS_BOUNDS.get(code, (0.0, 100.0))
            if code == "510000":
                lo = max(lo, SICHUAN_8TH_NFI_COVERAGE)
            if not fig.coverage_fixed:
                c = min(max(c, lo + CLASS_MARGIN_PCT if lo > 0 else lo), hi - CLASS_MARGIN_PCT)
            out[i] = c
        return out

    lo_f, hi_f = 0.2, 3.0
    for _ in range(80):
        mid = 0.5 * (lo_f + hi_f)
        national = float(np.sum(covs(mid) * weights) / np.sum(weights))
        lo_f, hi_f = (mid, hi_f) if national < target else (lo_f, mid)
    f = 0.5 * (lo_f + hi_f)
    sources = []
    for code in domain.province_codes:
        fig = PROVINCE_FIGURES[code]
        if fig.coverage_fixed:
            sources.append(fig.coverage_source)
        else:
            note = f"x{f:.4f} to close the national 22.96 %"
            if code == "510000":
                note += ", then raised to >= the 8th-NFI 35.22 % (FACTORS.md D3)"
            elif code in COVERAGE_CLASS_BOUNDS:
                lo, hi = COVERAGE_CLASS_BOUNDS[code]
                note += f", then clamped into its FACTORS.md D3 class ({lo:g}-{hi:g} %)"
            sources.append(f"{fig.coverage_source}, {note}")
    return covs(f), f, sources


def coverage_2025(
    domain: Domain, cov2020: NDArray[np.float64], climate_cap_pct: NDArray[np.float64]
) -> NDArray[np.float64]:
    """2025 coverage per province (%): 2020 plus k · weight · headroom (headroom = climatic cap − 2020, ≥ 1 pt),
    k solved so that the national coverage equals 25.09 %; weights favour the north and the south-west."""
    target = NATIONAL_TARGETS[2025][0]
    weights = domain.counts.astype(np.float64)
    w = np.array([AFFORESTATION_WEIGHT.get(code, 1.0) for code in domain.province_codes])
    headroom = np.maximum(climate_cap_pct - cov2020, 1.0)

    def covs(k: float) -> NDArray[np.float64]:
        return cov2020 + np.minimum(k * w * headroom, headroom)

    lo_k, hi_k = 0.0, 1.0
    for _ in range(80):
        mid = 0.5 * (lo_k + hi_k)
        national = float(np.sum(covs(mid) * weights) / np.sum(weights))
        lo_k, hi_k = (mid, hi_k) if national < target else (lo_k, mid)
    return covs(0.5 * (lo_k + hi_k))


def stock_2025(domain: Domain, stock2020_m3: NDArray[np.float64]) -> NDArray[np.float64]:
    """2025 stock per province (m³): 2020 × (1 + k · growth weight), k solved for the national 20.99e9 m³."""
    g = np.array([STOCK_GROWTH_WEIGHT.get(code, 1.0) for code in domain.province_codes])
    k = (NATIONAL_TARGETS[2025][1] - stock2020_m3.sum()) / float(np.sum(stock2020_m3 * g))
    return stock2020_m3 * (1.0 + k * g)


# ----------------------------------------------------------------------------------------------------------------
# Forest allocation
# ----------------------------------------------------------------------------------------------------------------

TREELINE_MARGIN_C = 0.3
"""Shrubland is kept this far (°C) from the 0 °C tree-line contour of the aligned BIO1, so that small
differences in how a reader aligns BIO1 cannot flip a shrub pixel in or out of the special-shrub rule."""
MANGROVE_SCORE_BONUS = 1.0e5


@dataclass(frozen=True)
class Scores:
    """Per-pixel propensities (dimensionless) and rule masks used by the allocation."""

    tree: NDArray[np.float32]
    shrub: NDArray[np.float32]
    bamboo: NDArray[np.float32]
    crop: NDArray[np.float32]
    climate_tree: NDArray[np.float32]
    moisture: NDArray[np.float32]
    eligible: NDArray[np.bool_]  # certainly qualifies for the special-shrub rule
    not_eligible: NDArray[np.bool_]  # certainly does not qualify
    hard_nonforest: NDArray[np.bool_]


TREE_CLIMATE_CAP = 1.5
"""Cap on the climate term of the tree propensity: above it (moisture index ≳ 0.65 and well above the tree line)
climate no longer ranks sites, so a wetter corner of a humid province does not take all of its forest."""
TREE_RELIEF_WEIGHT = 0.8
"""Weight of the relief term (−0.8 … +1: flat lowland plain … rugged mountains) in the tree propensity."""
TOWN_TREE_WEIGHT = 1.5
"""Tree propensity lost next to built-up areas on plains (× urban influence², so it fades within about two city
radii); cities in hill country or on plateaus keep their wooded hills."""
TREE_NOISE_WEIGHT = 1.2
"""Weight of the (local, high-passed) noise in the tree propensity; its standard deviation is ≈ 0.85."""
LOWLAND_FULL_M, LOWLAND_NONE_M = 300.0, 700.0
"""Elevation proxy (m) below which flat land counts fully as a farmed plain, above which not at all."""


def build_scores(climate: Climate, masks: StaticMasks, noise: Noise) -> Scores:
    """Tree, shrub, bamboo and cropland propensities from climate, relief proxy, towns and noise.

    Tree propensity = min(climate, cap) + relief − town fringe + local noise. Each province takes its forest from
    the top of this score with one threshold, so every term that varies over tens of kilometres decides whether a
    whole landscape is wooded; those terms are kept to what the inputs support and to a size comparable with the
    local noise: the climate term stops ranking sites once they are clearly humid (``TREE_CLIMATE_CAP``), flat land
    counts as a farmed plain only in the lowlands (a plateau that reads flat on the 10′ WorldClim grid, such as
    Guiyang's or Kunming's, is dissected hill country), the town fringe applies on plains only, and the noise is
    high-passed (see ``make_noise``) so that it averages to ≈ 0 over any prefecture-sized area.
    """
    t = climate.bio1_c.astype(np.float64)
    p = climate.annual_precip_mm.astype(np.float64)
    e = climate.elevation_m.astype(np.float64)
    mi = moisture_index(p, t)
    s_clim = tree_climate_score(p, t, climate.lat)
    rug = climate.ruggedness_c.astype(np.float64)
    relief = np.where(p > 350, np.clip((rug - 0.7) / 0.6, -0.8, 1.0), 0.0)
    lowland = np.clip((LOWLAND_NONE_M - e) / (LOWLAND_NONE_M - LOWLAND_FULL_M), 0.0, 1.0)
    relief = np.where(relief < 0.0, relief * lowland, relief)
    u = masks.urban_influence.astype(np.float64)
    plain = np.clip(-relief / 0.8, 0.0, 1.0)  # 1 on flat lowland, 0 in hill country and on plateaus
    tree = (
        np.minimum(s_clim, TREE_CLIMATE_CAP) + TREE_RELIEF_WEIGHT * relief - TOWN_TREE_WEIGHT * u * u * plain
        + TREE_NOISE_WEIGHT * noise.tree
    )  # fmt: skip
    tree = np.where(masks.mangrove, tree + MANGROVE_SCORE_BONUS, tree)
    karst = masks.karst_exposed.astype(np.float64)
    shrub = (
        np.clip((mi - 0.15) / 0.1, -4.0, 2.0)
        + np.clip((t + 7.0) / 2.0, -4.0, 1.5)
        + 1.0 * karst
        + 0.8 * noise.shrub
    )
    bamboo = (
        -np.abs(t - 17.0) / 3.0 - np.maximum(0.0, (e - 1200.0) / 400.0) + np.clip((p - 1100.0) / 300.0, -3.0, 1.0)
        + 0.8 * noise.bamboo
    )  # fmt: skip
    crop = (
        np.clip((mi - 0.4) / 0.2, -2.0, 2.0) + np.clip((t - 2.0) / 3.0, -3.0, 1.5) - e / 1000.0 - 0.8 * rug
        + 1.0 * noise.crop
        + 1.5 * u
    )  # fmt: skip
    t_pipe = np.where(
        np.isnan(climate.bio1_pipeline_c), np.inf, climate.bio1_pipeline_c.astype(np.float64)
    )
    p_stored = climate.annual_precip_mm  # the rule reads the stored integers
    eligible = (p_stored < 400) | (t_pipe < -TREELINE_MARGIN_C) | masks.karst_exposed
    not_eligible = (p_stored >= 400) & (t_pipe >= TREELINE_MARGIN_C) & ~masks.karst_exposed
    hard = (
        masks.lake | masks.urban_2025 | masks.marsh | masks.snow | masks.salt_marsh | masks.seagrass
    )
    f32 = np.float32
    return Scores(
        tree.astype(f32), shrub.astype(f32), bamboo.astype(f32), crop.astype(f32), s_clim.astype(f32), mi.astype(f32),
        eligible, not_eligible, hard,
    )  # fmt: skip


@dataclass(frozen=True)
class ForestState:
    """Forest components of one epoch over the China pixels (mutually exclusive)."""

    arbor: NDArray[np.bool_]  # tree stands, incl. mangrove
    bamboo: NDArray[np.bool_]
    shrub: NDArray[np.bool_]  # nationally designated special shrubland

    @property
    def forest(self) -> NDArray[np.bool_]:
        return self.arbor | self.bamboo | self.shrub


@dataclass(frozen=True)
class Allocation:
    """Forest states of both epochs and the change between them."""

    states: dict[int, ForestState]
    loss: NDArray[np.bool_]
    gain_arbor: NDArray[np.bool_]
    gain_shrub: NDArray[np.bool_]


def _count(mask: NDArray[np.bool_], domain: Domain) -> NDArray[np.int64]:
    return np.bincount(domain.prov[mask], minlength=domain.n_prov).astype(np.int64)


def allocate_forest(
    domain: Domain, scores: Scores, masks: StaticMasks, noise: Noise, targets: Targets
) -> Allocation:
    """Choose the forest pixels of 2020 and 2025 so that each province meets its coverage target exactly.

    2020: tree stands (stock / assumed mean density) and bamboo on the highest tree propensity, special shrubland
    (the rest of the province's forest) on the highest shrub propensity among pixels that certainly qualify.
    2025: 2020 minus a small clearance plus afforestation (trees on the next-best tree sites, shrubs on the
    next-best shrub sites, split like the province's 2020 forest).
    """
    px_ha = domain.grid.pixel_area_ha
    counts = domain.counts
    smoother = Smoother(domain)
    n20 = np.rint(targets.coverage_pct[2020] / 100.0 * counts).astype(np.int64)
    bamboo_q = np.array(
        [
            round(BAMBOO_SHARE.get(code, 0.0) * BAMBOO_AREA_HA / px_ha)
            for code in domain.province_codes
        ]
    )
    bamboo_q = np.minimum(bamboo_q, n20 // 2)
    n_mangrove = _count(masks.mangrove, domain)
    stock20 = targets.stock_m3[2020]
    density = np.array(
        [ARBOR_DENSITY_M3_PER_HA[code] for code in domain.province_codes], dtype=np.float64
    )
    arbor_q = np.where(
        np.isfinite(stock20), np.rint(np.nan_to_num(stock20) / density / px_ha), n20 - bamboo_q
    )
    arbor_q = np.clip(arbor_q.astype(np.int64), n_mangrove, np.maximum(n20 - bamboo_q, n_mangrove))
    candidates = ~scores.hard_nonforest | masks.mangrove
    for _ in range(6):
        shrub_q = n20 - arbor_q - bamboo_q
        trees = select_smooth(scores.tree, domain, arbor_q + bamboo_q, candidates, smoother)
        room = _count(scores.eligible & candidates & ~trees & ~masks.mangrove, domain)
        short = np.maximum(shrub_q - room, 0)
        if not short.any():
            break
        arbor_q = arbor_q + short
    shrub_q = n20 - arbor_q - bamboo_q
    bamboo, _ = select_top_per_group(scores.bamboo, domain.prov, bamboo_q, trees & ~masks.mangrove)
    arbor20 = trees & ~bamboo
    shrub20 = select_smooth(
        scores.shrub,
        domain,
        shrub_q,
        scores.eligible & candidates & ~trees & ~masks.mangrove,
        smoother,
    )
    state20 = ForestState(arbor20, bamboo, shrub20)

    # 2025
    loss_q = np.rint(FOREST_LOSS_FRACTION_2020_2025 * (arbor_q - n_mangrove)).astype(np.int64)
    loss_score = -scores.tree - 2.0 * masks.urban_influence + 0.7 * noise.change
    loss, _ = select_top_per_group(loss_score, domain.prov, loss_q, arbor20 & ~masks.mangrove)
    n25 = np.rint(targets.coverage_pct[2025] / 100.0 * counts).astype(np.int64)
    gain_q = np.maximum(n25 - n20 + loss_q, 0)
    forest20 = state20.forest
    share = np.where(arbor_q + shrub_q > 0, shrub_q / np.maximum(arbor_q + shrub_q, 1), 0.0)
    gain_shrub_q = np.rint(gain_q * share).astype(np.int64)
    for _ in range(6):
        gain_arbor_q = gain_q - gain_shrub_q
        gain_arbor = select_smooth(
            scores.tree, domain, gain_arbor_q, candidates & ~forest20, smoother
        )
        room = _count(
            scores.eligible & candidates & ~forest20 & ~gain_arbor & ~masks.mangrove, domain
        )
        short = np.maximum(gain_shrub_q - room, 0)
        if not short.any():
            break
        gain_shrub_q = gain_shrub_q - short
    gain_shrub, _ = select_top_per_group(
        scores.shrub, domain.prov, gain_shrub_q,
        scores.eligible & candidates & ~forest20 & ~gain_arbor & ~masks.mangrove,
    )  # fmt: skip
    state25 = ForestState((arbor20 & ~loss) | gain_arbor, bamboo, shrub20 | gain_shrub)
    return Allocation({2020: state20, 2025: state25}, loss, gain_arbor, gain_shrub)


# ----------------------------------------------------------------------------------------------------------------
# Layer values
# ----------------------------------------------------------------------------------------------------------------

SYNTHETIC_STOCK_DENSITY_HK_MACAU = 50.0
"""Mean growing stock given to tree stands in Hong Kong and Macau (not in the NFI), m³/ha."""


def nonforest_class(scores: Scores, climate: Climate, noise: Noise) -> NDArray[np.uint8]:
    """Land-cover class a non-forest, non-water pixel takes: barren, grassland, cropland or (ordinary) shrub.

    Ordinary shrub (3) only where the special-shrub rule certainly does not apply, so it never counts as forest.
    """
    t = climate.bio1_c.astype(np.float64)
    mi = scores.moisture
    lc = np.full(mi.shape, 4, np.uint8)
    lc[scores.crop > 1.6] = 1
    lc[scores.not_eligible & (noise.landcover > 0.9) & (scores.crop <= 1.8)] = 3
    p = climate.annual_precip_mm.astype(np.float64)
    nl = noise.landcover.astype(np.float64)
    barren = (p < 130.0 + 30.0 * nl) | ((t < -4.0) & (p < 260.0 + 50.0 * nl))
    lc[barren] = 7
    return lc


def landcover_layer(
    epoch: int,
    alloc: Allocation,
    masks: StaticMasks,
    scores: Scores,
    base: NDArray[np.uint8],
    noise: Noise,
) -> NDArray[np.uint8]:
    """CLCD land-cover codes (1–9) of one epoch for the China pixels."""
    st = alloc.states[epoch]
    lc = base.copy()
    if epoch == 2025:
        cleared = alloc.loss
        lc[cleared] = np.where(scores.crop[cleared] > 0.0, 1, 4).astype(np.uint8)
        lc[cleared & (masks.urban_influence > 0.6)] = 8
    lc[st.shrub] = 3
    lc[st.arbor | st.bamboo] = 2
    tree_rows = st.arbor & tree_row_mask(scores, noise) & ~masks.mangrove
    lc[tree_rows] = 1
    lc[masks.mangrove] = 9
    lc[masks.marsh | masks.salt_marsh] = 9
    lc[masks.lake | masks.seagrass] = 5
    lc[masks.snow] = 6
    lc[masks.urban_2025 if epoch == 2025 else masks.urban_2020] = 8
    return lc


def tree_row_mask(scores: Scores, noise: Noise) -> NDArray[np.bool_]:
    """Where tree stands sit in farmland (shelterbelts, 四旁 trees): land cover says cropland, canopy ≥ 20 %."""
    return (scores.crop > 1.0) & (noise.edge > 1.8)


def open_forest_mask(noise: Noise) -> NDArray[np.bool_]:
    """Tree stands mapped as forest (code 2) whose canopy cover reads below 20 % (open or young stands)."""
    return noise.canopy < -1.7


def canopy_layer(
    epoch: int,
    alloc: Allocation,
    masks: StaticMasks,
    scores: Scores,
    lc: NDArray[np.uint8],
    noise: Noise,
) -> NDArray[np.uint8]:
    """Tree canopy cover (%) of one epoch for the China pixels; < 20 everywhere outside tree stands and bamboo."""
    st = alloc.states[epoch]
    nc = noise.canopy.astype(np.float64)
    ne = noise.edge.astype(np.float64)
    c = np.zeros(lc.shape, np.float64)
    c[lc == 1] = 3.0 + 2.0 * ne[lc == 1]
    c[lc == 3] = 10.0 + 3.0 * nc[lc == 3]
    c[lc == 4] = 1.5 + 1.5 * ne[lc == 4]
    c[lc == 8] = 5.0 + 2.0 * ne[lc == 8]
    c[lc == 9] = 3.0 + 2.0 * ne[lc == 9]
    c = np.clip(c, 0.0, 17.0)
    if epoch == 2020:
        young = alloc.gain_arbor
        c[young] = np.clip(14.0 + 2.5 * nc[young], 9.0, 18.0)
    moist = np.clip((scores.moisture - 0.6) / 0.4, -2.0, 2.0)
    closed = 25.0 + 60.0 * sigmoid(0.6 * moist + 0.8 * nc)
    arbor = st.arbor
    c[arbor] = closed[arbor]
    openf = arbor & open_forest_mask(noise) & (lc == 2)
    c[openf] = np.clip(15.5 + 2.0 * ne[openf], 12.0, 19.0)
    rows = arbor & (lc == 1)
    c[rows] = np.clip(26.0 + 4.0 * ne[rows], 20.0, 35.0)
    c[st.bamboo] = np.clip(60.0 + 10.0 * nc[st.bamboo], 40.0, 80.0)
    c[masks.mangrove] = np.clip(55.0 + 8.0 * nc[masks.mangrove], 40.0, 70.0)
    if epoch == 2025:
        persist = arbor & ~alloc.gain_arbor & ~openf
        c[persist] = np.minimum(c[persist] + 2.0 + 1.5 * np.abs(noise.change[persist]), 95.0)
        g = alloc.gain_arbor
        c[g] = np.clip(28.0 + 5.0 * nc[g], 20.0, 40.0)
        lost = alloc.loss
        c[lost] = np.clip(2.0 + 2.0 * ne[lost], 0.0, 6.0)
    c[st.shrub] = np.clip(8.0 + 3.0 * nc[st.shrub], 2.0, 15.0)
    return np.rint(c).astype(np.uint8)


def _exact_scale(
    domain: Domain,
    base: NDArray[np.float64],
    selected: NDArray[np.bool_],
    target_m3: NDArray[np.float64],
    smoother: Smoother,
    px_ha: float,
) -> NDArray[np.float64]:
    """Per-pixel factors that make Σ base·factor·px_ha over ``selected`` pixels of each province equal its target.

    The log-factors are first spread smoothly across borders (``smoother``), then corrected exactly per province.
    """
    prov = domain.prov
    log_off = np.zeros(base.shape)
    for _ in range(3):
        sums = np.bincount(
            prov[selected], weights=(base * np.exp(log_off))[selected], minlength=domain.n_prov
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(sums > 0, target_m3 / (sums * px_ha), 1.0)
        log_f = np.log(np.where(f > 0, f, 1.0))
        has = sums > 0
        log_f = np.where(has, log_f, float(np.median(log_f[has])) if has.any() else 0.0)
        log_off = log_off + smoother(log_f)
    sums = np.bincount(
        prov[selected], weights=(base * np.exp(log_off))[selected], minlength=domain.n_prov
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(sums > 0, target_m3 / (sums * px_ha), 1.0)
    return np.exp(log_off) * f[prov]


def growing_stock_layers(
    domain: Domain,
    alloc: Allocation,
    masks: StaticMasks,
    scores: Scores,
    canopy: Mapping[int, NDArray[np.uint8]],
    noise: Noise,
    targets: Targets,
) -> dict[int, NDArray[np.float32]]:
    """Growing stock (m³/ha) per epoch: tree stands only, scaled to each province's stock, rounded to 0.5."""
    px_ha = domain.grid.pixel_area_ha
    smoother = Smoother(domain)
    vigour = np.exp(0.25 * noise.stock.astype(np.float64)) * (0.5 + sigmoid(scores.climate_tree))
    vigour = np.where(masks.mangrove, 0.3 * vigour, vigour)
    st20, st25 = alloc.states[2020], alloc.states[2025]
    base20 = vigour * (np.maximum(canopy[2020], 10) / 60.0) ** 0.7
    gs20 = base20 * _exact_scale(
        domain, base20, st20.arbor, targets.stock_m3[2020], smoother, px_ha
    )
    gs20 = np.where(st20.arbor, gs20, 0.0)
    # 2025: young stands from afforestation carry a small stock; standing forest grows by a per-province factor
    young = np.where(
        alloc.gain_arbor,
        np.clip(0.12 * base20 * np.median(gs20[st20.arbor] / base20[st20.arbor]), 3, 40),
        0,
    )
    young = np.rint(young * 2.0) / 2.0
    persist = st25.arbor & ~alloc.gain_arbor
    young_sum = np.bincount(
        domain.prov[alloc.gain_arbor], weights=young[alloc.gain_arbor], minlength=domain.n_prov
    )
    remaining = targets.stock_m3[2025] - young_sum * px_ha
    gs25 = np.where(persist, gs20, 0.0)
    gs25 = gs25 * _exact_scale(
        domain, np.where(persist, gs20, 0.0), persist, remaining, smoother, px_ha
    )
    gs25 = np.where(persist, gs25, young)
    out = {}
    for epoch, gs, arbor in ((2020, gs20, st20.arbor), (2025, gs25, st25.arbor)):
        v = np.rint(np.clip(gs, 0.0, 1500.0) * 2.0) / 2.0
        v = np.where(arbor, np.maximum(v, 0.5), 0.0)
        out[epoch] = v.astype(np.float32)
    return out


def forest_type_layer(
    alloc: Allocation, masks: StaticMasks, climate: Climate, noise: Noise
) -> NDArray[np.uint8]:
    """Static forest type (0–6) on pixels that are tree stands or bamboo in either epoch, from climate and place:
    larch in the cold north-east, mixed and broadleaf forest in the rest of the north-east, deciduous broadleaf
    with pine in the north, Chinese fir / Masson pine and evergreen broadleaf in the south, spruce-fir on the
    Tibetan margin and in the Tianshan/Altai, evergreen broadleaf in the tropics; 6 bamboo; mangrove 2."""
    t = climate.bio1_c.astype(np.float64)
    e = climate.elevation_m.astype(np.float64)
    lon, lat = climate.lon, climate.lat
    nf = noise.ftype.astype(np.float64)
    ft = np.zeros(t.shape, np.uint8)
    # subtropics and tropics
    ft[:] = np.where(nf > 0.1, 4, np.where(nf < -0.9, 5, 2)).astype(np.uint8)
    ft[(t >= 20.0) & (nf <= 1.0)] = 2
    yunnan_plateau = (lon < 105.0) & (e > 1200.0) & (t >= 8.0) & (t < 20.0)
    ft[yunnan_plateau & (nf > -0.5)] = 4
    # temperate north
    north = t < 13.0
    ft[north] = np.where(nf[north] > 0.6, 4, np.where(np.abs(nf[north]) < 0.15, 5, 1)).astype(
        np.uint8
    )
    ne_china = (lat > 40.5) & (lon > 118.0)
    ft[ne_china] = np.where(nf[ne_china] < -0.5, 1, np.where(nf[ne_china] > 0.7, 4, 5)).astype(
        np.uint8
    )
    larch = ne_china & (t < 0.5)
    ft[larch] = np.where(nf[larch] > 0.9, 1, 3).astype(np.uint8)
    # high mountains of the west: spruce-fir, some larch
    west_high = (lon < 104.5) & ((e > 2200.0) | (t < 6.0))
    ft[west_high] = np.where(nf[west_high] > 1.1, 3, 4).astype(np.uint8)
    xinjiang_low = (lon < 96.0) & (lat > 36.0) & (t >= 6.0)
    ft[xinjiang_low] = 1  # poplar (incl. Populus euphratica)
    trees = alloc.states[2020].arbor | alloc.states[2025].arbor
    out = np.where(trees, ft, 0).astype(np.uint8)
    out[masks.mangrove] = 2
    out[alloc.states[2020].bamboo] = 6
    return out


def wetland_layer(masks: StaticMasks) -> NDArray[np.uint8]:
    """Wetland type (0–4): inland marsh where land cover is wetland inland, mangrove, salt marsh, seagrass."""
    w = np.zeros(masks.marsh.shape, np.uint8)
    w[masks.marsh] = 1
    w[masks.mangrove] = 2
    w[masks.salt_marsh] = 3
    w[masks.seagrass] = 4
    return w


def carbonate_layer(masks: StaticMasks) -> NDArray[np.uint8]:
    """Carbonate lithology (0 other, 1 exposed karst, 2 buried carbonate)."""
    c = np.zeros(masks.karst_exposed.shape, np.uint8)
    c[masks.carbonate_buried] = 2
    c[masks.karst_exposed] = 1
    return c


# ----------------------------------------------------------------------------------------------------------------
# Calibration check (the pipeline's forest definition, on the final layer values)
# ----------------------------------------------------------------------------------------------------------------


def forest_mask_china_definition(
    landcover: NDArray[Any],
    canopy: NDArray[Any],
    forest_type: NDArray[Any],
    annual_precip_mm: NDArray[Any],
    bio1_aligned_c: NDArray[Any],
    carbonate: NDArray[Any],
) -> NDArray[np.bool_]:
    """China's forest definition as sinkmap applies it: canopy ≥ 20 % or forest class or bamboo, or shrubland where
    annual precipitation < 400 mm, BIO1 < 0 °C (tree-line proxy; NaN never qualifies) or exposed karst."""
    with np.errstate(invalid="ignore"):
        cold = bio1_aligned_c < 0.0
    special = (landcover == 3) & ((annual_precip_mm < 400) | cold | (carbonate == 1))
    return (canopy >= 20) | (landcover == 2) | (forest_type == 6) | special


@dataclass(frozen=True)
class Achieved:
    """Achieved forest coverage (%) and stock (m³) per province and nationally, per epoch."""

    coverage_pct: dict[int, NDArray[np.float64]]
    stock_m3: dict[int, NDArray[np.float64]]
    national_coverage_pct: dict[int, float]
    national_stock_m3: dict[int, float]


def measure(
    domain: Domain, layers: Mapping[str, NDArray[np.generic]], bio1_aligned_c: NDArray[np.float32]
) -> Achieved:
    """Coverage and stock per province/nation from per-China-pixel layer values (centre-of-pixel regions)."""
    px_ha = domain.grid.pixel_area_ha
    cov: dict[int, NDArray[np.float64]] = {}
    stock: dict[int, NDArray[np.float64]] = {}
    ncov: dict[int, float] = {}
    nstock: dict[int, float] = {}
    for epoch in EPOCHS:
        forest = forest_mask_china_definition(
            layers[f"landcover_{epoch}"], layers[f"canopy_cover_{epoch}"], layers["forest_type"],
            layers["annual_precip"], bio1_aligned_c, layers["carbonate"],
        )  # fmt: skip
        nf = np.bincount(domain.prov[forest], minlength=domain.n_prov)
        gs = layers[f"growing_stock_{epoch}"].astype(np.float64)
        st = np.bincount(domain.prov[forest], weights=gs[forest], minlength=domain.n_prov) * px_ha
        cov[epoch] = np.asarray(100.0 * nf / np.maximum(domain.counts, 1), np.float64)
        stock[epoch] = np.asarray(st, np.float64)
        ncov[epoch] = 100.0 * float(nf.sum()) / float(domain.counts.sum())
        nstock[epoch] = float(st.sum())
    return Achieved(cov, stock, ncov, nstock)


# ----------------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------------

LAYER_SOURCES: dict[str, str] = {
    "landcover": (
        "province polygons vectors/cn_provinces.geojson (Tianditu); WorldClim 2.1 BIO1 and January precipitation "
        "(Fick & Hijmans 2017); calibrated to the 9th NFI forest coverage (national 22.96 %, provincial figures of "
        "FACTORS.md D3) and the 2025 greening bulletin (25.09 %); approximate positions of large lakes, cities and "
        "marshes written in the generator"
    ),
    "canopy_cover": (
        "WorldClim 2.1 BIO1 and January precipitation; consistent with the synthetic land cover; calibrated with it "
        "to the 9th NFI / 2025 bulletin forest coverage (canopy closure >= 0.2 definition, FACTORS.md D4)"
    ),
    "growing_stock": (
        "9th NFI forest stock volume (national 175.60e8 m3, provincial figures, FACTORS.md D1/D3) and the 2025 "
        "greening bulletin (209.88e8 m3); within-province pattern from WorldClim climate and canopy cover"
    ),
    "annual_precip": (
        "WorldClim 2.1 January precipitation and BIO1 (real), longitude/latitude; regression on approximate "
        "station normals (anchors listed in the generator)"
    ),
    "forest_type": (
        "WorldClim 2.1 BIO1 and the elevation proxy derived from it; bamboo area 641.16e4 ha (9th NFI, FACTORS.md "
        "D1) split over Fujian, Jiangxi, Zhejiang, Hunan, Sichuan, Guangdong and others"
    ),
    "carbonate": (
        "Jiang et al. 2012, 地球学报 33(2):129-134 (FACTORS.md C): exposed karst South China 564,800 km2, North "
        "China 325,800 km2, Tibetan Plateau 556,000 km2, buried 2,001,000 km2; split by province (synthetic)"
    ),
    "wetland_type": (
        "mangrove about 27,000 ha nationally (Guangdong, Guangxi, Hainan, Fujian, Zhejiang); salt marsh on the "
        "Jiangsu, Shandong, Liaoning, Shanghai and Zhejiang coasts; seagrass in Hainan, Guangxi, Shandong; inland "
        "marsh complexes (Sanjiang plain, Zoige, Qinghai-Tibet, ...) at approximate positions; coast from the "
        "province polygons and the WorldClim sea mask"
    ),
}


def cog_options(spec: LayerSpec) -> dict[str, str]:
    """Fixed GDAL COG creation options (fixed so output bytes depend only on the data)."""
    opts = {
        "BLOCKSIZE": str(BLOCKSIZE),
        "COMPRESS": "DEFLATE",
        "LEVEL": "6",
        "OVERVIEWS": "IGNORE_EXISTING",
        "RESAMPLING": "NEAREST" if spec.categorical else "AVERAGE",
        "BIGTIFF": "NO",
        "NUM_THREADS": "1",
    }
    if not spec.categorical:
        opts["PREDICTOR"] = (
            "STANDARD"  # horizontal differencing, TIFF predictor 2 (as good as 3 on these floats)
        )
    return opts


def write_cog(
    path: Path,
    data: NDArray[np.generic],
    spec: LayerSpec,
    transform: Affine,
    tags: Mapping[str, str],
) -> None:
    """Write one band as a Cloud-Optimized GeoTIFF with dataset tags, band description and units."""
    profile = {
        "driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1, "dtype": spec.dtype,
        "crs": albers_crs(), "transform": transform, "nodata": spec.nodata,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_name(path.name + ".tmp")
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(data.astype(spec.dtype), 1)
            ds.update_tags(**tags)
            ds.set_band_description(1, spec.description)
            ds.set_band_unit(1, spec.units)
        with mem.open() as ds:
            rasterio.shutil.copy(ds, tmp_path, driver="COG", **cog_options(spec))
    tmp_path.replace(path)


def file_tags(
    spec: LayerSpec, epoch: int | None, tile: tuple[int, int], seed: int, pixel_size_m: float
) -> dict[str, str]:
    """Dataset-level tags of one synthetic tile (no timestamps: the bytes must be reproducible)."""
    tags = {
        "SINKMAP_SYNTHETIC": "true",
        "DESCRIPTION": spec.description,
        "UNITS": spec.units,
        "GENERATOR": GENERATOR,
        "SEED": str(seed),
        "SOURCES": LAYER_SOURCES[spec.name],
        "LAYER": spec.name,
        "PIXEL_SIZE_M": f"{pixel_size_m:g}",
        "TILE": f"r{tile[0]}c{tile[1]}",
        "CRS_NOTE": "CLCD Albers: " + CLCD_ALBERS_PROJ4,
        "LICENSE": "synthetic data; derived in part from WorldClim 2.1 (CC BY-SA 4.0), see rasters/README.md",
    }
    if epoch is not None:
        tags["EPOCH"] = str(epoch)
    if spec.legend is not None:
        tags["LEGEND"] = _legend_text(spec.legend)
    return tags


def tile_name(layer: str, epoch: int | None, row: int, col: int) -> str:
    """``synthetic_<layer>[_<epoch>]_r<row>c<col>.tif``."""
    mid = f"_{epoch}" if epoch is not None else ""
    return f"synthetic_{layer}{mid}_r{row}c{col}.tif"


def write_mosaic(
    out_dir: Path, domain: Domain, layers: Mapping[str, NDArray[np.generic]], seed: int
) -> list[Path]:
    """Write every layer as 2 × 2 COG tiles and return the paths written."""
    grid = domain.grid
    written: list[Path] = []
    for key, values in layers.items():
        name, _, epoch_s = key.rpartition("_")
        if not epoch_s.isdigit():
            name, epoch = key, None
        else:
            epoch = int(epoch_s)
        spec = LAYERS[name]
        full = domain.to_grid(values, spec.nodata, spec.dtype)
        for tr, tc, r0, c0, h, w in tile_windows(grid, TILE_ROWS, TILE_COLS):
            transform = grid.transform * Affine.translation(c0, r0)
            path = out_dir / tile_name(name, epoch, tr, tc)
            write_cog(
                path, full[r0 : r0 + h, c0 : c0 + w], spec, transform,
                file_tags(spec, epoch, (tr, tc), seed, grid.pixel_size_m),
            )  # fmt: skip
            written.append(path)
    return written


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_sha256sums(out_dir: Path, paths: Sequence[Path]) -> Path:
    """``SHA256SUMS`` (sha256sum format, sorted by name) for ``paths`` inside ``out_dir``."""
    lines = [f"{sha256(p)}  {p.name}\n" for p in sorted(paths, key=lambda p: p.name)]
    target = out_dir / "SHA256SUMS"
    target.write_text("".join(lines), encoding="utf-8")
    return target


def write_calibration_tables(cal_dir: Path, domain: Domain, targets: Targets) -> list[Path]:
    """``province_figures.csv`` and ``national_figures.csv``: the figures the mosaic is calibrated to."""
    cal_dir.mkdir(parents=True, exist_ok=True)
    prov_path = cal_dir / "province_figures.csv"
    with prov_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["adcode", "name_en", "coverage_pct_2020", "stock_volume_m3_2020", "coverage_pct_2025",
                    "stock_volume_m3_2025", "source"])  # fmt: skip
        for i, code in enumerate(domain.province_codes):
            src = (
                f"coverage 2020: {targets.coverage_source[i]}; stock 2020: {targets.stock_source[i]}; "
                "2025: synthetic split of the national 25.09 % and 209.88e8 m3 (2025 greening bulletin)"
            )
            w.writerow([
                code, domain.names_en[i], f"{targets.coverage_pct[2020][i]:.2f}", f"{targets.stock_m3[2020][i]:.0f}",
                f"{targets.coverage_pct[2025][i]:.2f}", f"{targets.stock_m3[2025][i]:.0f}", src,
            ])  # fmt: skip
    nat_path = cal_dir / "national_figures.csv"
    with nat_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["epoch", "coverage_pct", "stock_volume_m3", "tolerance_rel", "source"])
        for epoch, (cov, stock, src) in NATIONAL_TARGETS.items():
            w.writerow([epoch, f"{cov:.2f}", f"{stock:.0f}", "0.015", src])
    return [prov_path, nat_path]


# ----------------------------------------------------------------------------------------------------------------
# Huế test regions (vectors/hue_sample_regions.geojson)
# ----------------------------------------------------------------------------------------------------------------


def hue_regions() -> list[dict[str, object]]:
    """Five hand-drawn test polygons over the Hansen crop (107.119–107.280 E, 16.581–16.694 N), EPSG:4326.

    Different sizes; one with a hole (``hue-03``), one multipolygon (``hue-04``), one crossing the east edge of
    the raster (``hue-05``, about a fifth outside). Ring order follows RFC 7946 (exterior counter-clockwise).
    """

    def ring(points: Sequence[tuple[float, float]], ccw: bool = True) -> list[list[float]]:
        pts = [[round(x, 6), round(y, 6)] for x, y in points]
        area2 = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, pts[1:] + pts[:1], strict=True))
        if (area2 > 0) != ccw:
            pts = pts[::-1]
        return [*pts, pts[0]]

    def circle(
        cx: float, cy: float, rx: float, ry: float, n: int, wobble: float, phase: float
    ) -> list[tuple[float, float]]:
        return [
            (
                cx + rx * (1 + wobble * math.sin(3 * t + phase)) * math.cos(t),
                cy + ry * (1 + wobble * math.cos(2 * t + phase)) * math.sin(t),
            )
            for t in (2 * math.pi * k / n for k in range(n))
        ]

    return [
        {
            "region_id": "hue-01", "name_en": "South-west hills", "name_zh": "西南丘陵",
            "geometry": {"type": "Polygon", "coordinates": [ring([
                (107.135, 16.600), (107.170, 16.596), (107.192, 16.612), (107.188, 16.640), (107.160, 16.652),
                (107.138, 16.636),
            ])]},
        },
        {
            "region_id": "hue-02", "name_en": "Small round block", "name_zh": "小圆形地块",
            "geometry": {"type": "Polygon", "coordinates": [ring(circle(107.222, 16.615, 0.012, 0.009, 16, 0.15, 0.4))]},
        },
        {
            "region_id": "hue-03", "name_en": "Block with a clearing (hole)", "name_zh": "带空地的地块",
            "geometry": {"type": "Polygon", "coordinates": [
                ring([(107.200, 16.645), (107.255, 16.645), (107.255, 16.688), (107.200, 16.688)]),
                ring(circle(107.228, 16.667, 0.008, 0.007, 12, 0.1, 1.1), ccw=False),
            ]},
        },
        {
            "region_id": "hue-04", "name_en": "Two stands (multipolygon)", "name_zh": "两片林分",
            "geometry": {"type": "MultiPolygon", "coordinates": [
                [ring([(107.125, 16.660), (107.150, 16.658), (107.152, 16.684), (107.127, 16.687)])],
                [ring([(107.160, 16.668), (107.182, 16.664), (107.186, 16.681), (107.165, 16.690)])],
            ]},
        },
        {
            "region_id": "hue-05", "name_en": "East edge (partly outside the raster)", "name_zh": "东缘地块",
            "geometry": {"type": "Polygon", "coordinates": [ring([
                (107.255, 16.585), (107.290, 16.585), (107.290, 16.625), (107.262, 16.632), (107.248, 16.610),
            ])]},
        },
    ]  # fmt: skip


def write_hue_regions(path: Path) -> Path:
    """Write the Huế test regions as an RFC 7946 GeoJSON FeatureCollection (EPSG:4326), deterministically."""
    feats = [
        {
            "type": "Feature",
            "properties": {
                "region_id": r["region_id"],
                "name_en": r["name_en"],
                "name_zh": r["name_zh"],
            },
            "geometry": r["geometry"],
        }
        for r in hue_regions()
    ]
    doc = {"type": "FeatureCollection", "name": "hue_sample_regions", "features": feats}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------------------------------


def climate_cap_pct(domain: Domain, scores: Scores) -> NDArray[np.float64]:
    """Share of each province (%) whose climate suits forest: mean of sigmoid(1.5 · tree climate score), plus
    shrub potential on land that qualifies for special shrubland."""
    suit = sigmoid(1.5 * scores.climate_tree)
    suit = np.maximum(suit, 0.35 * scores.eligible * sigmoid(scores.shrub - 1.0))
    sums = np.bincount(domain.prov, weights=suit, minlength=domain.n_prov)
    return 100.0 * sums / np.maximum(domain.counts, 1)


def _stock_m3_or_nan(fig: ProvinceFigure) -> float:
    """Stock volume in m³ (the table holds 10⁴ m³), NaN where the inventory gives none."""
    return np.nan if fig.stock_1e4_m3 is None else fig.stock_1e4_m3 * 1e4


def build_targets(domain: Domain, scores: Scores) -> Targets:
    """Targets before the allocation (Hong Kong and Macau stock still NaN)."""
    cov20, f, cov_src = coverage_2020(domain)
    cov25 = coverage_2025(domain, cov20, climate_cap_pct(domain, scores))
    stock20 = np.array([_stock_m3_or_nan(PROVINCE_FIGURES[c]) for c in domain.province_codes])
    stock_src = tuple(PROVINCE_FIGURES[c].stock_source for c in domain.province_codes)
    return Targets(
        {2020: cov20, 2025: cov25},
        {2020: stock20, 2025: stock20.copy()},
        tuple(cov_src),
        stock_src,
        f,
    )


def complete_targets(domain: Domain, targets: Targets, alloc: Allocation) -> Targets:
    """Fill Hong Kong / Macau 2020 stock from their tree stands and derive every 2025 stock."""
    px_ha = domain.grid.pixel_area_ha
    arbor = _count(alloc.states[2020].arbor, domain).astype(np.float64)
    s20 = targets.stock_m3[2020].copy()
    missing = ~np.isfinite(s20)
    s20[missing] = arbor[missing] * px_ha * SYNTHETIC_STOCK_DENSITY_HK_MACAU
    return Targets(
        targets.coverage_pct, {2020: s20, 2025: stock_2025(domain, s20)}, targets.coverage_source,
        targets.stock_source, targets.scale_unverified_2020,
    )  # fmt: skip


@dataclass(frozen=True)
class Result:
    """What one run produced."""

    domain: Domain
    targets: Targets
    achieved: Achieved
    files: list[Path]
    seconds: float


def _peak_memory_note() -> str:
    """The text ", peak RSS x.xx GB" where the platform reports it (POSIX), else an empty string."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return ""
    return f", peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB"


def generate(
    out_dir: Path,
    *,
    pixel_size_m: float = 1000.0,
    seed: int = SEED,
    hue_regions_path: Path | None = None,
    log: Callable[[str], None] = print,
) -> Result:
    """Build the synthetic mosaic into ``out_dir`` and the calibration tables into ``out_dir/../calibration``."""
    t0 = time.perf_counter()

    def step(msg: str) -> None:
        log(f"[{time.perf_counter() - t0:6.1f} s] {msg}{_peak_memory_note()}")

    domain = build_domain(PROVINCES_PATH, pixel_size_m)
    step(
        f"grid {domain.grid.width} x {domain.grid.height} at {pixel_size_m:g} m, {domain.n:,} China pixels"
    )
    climate = build_climate(domain, BIO1_PATH, PREC01_PATH)
    step(
        f"climate aligned; precipitation regression rmse(ln) {climate.relation.rmse_log_regression:.2f}"
    )
    noise = make_noise(domain, seed)
    masks = build_static_masks(domain, climate, noise, seed)
    scores = build_scores(climate, masks, noise)
    step("static layers and propensities")
    targets = build_targets(domain, scores)
    alloc = allocate_forest(domain, scores, masks, noise, targets)
    targets = complete_targets(domain, targets, alloc)
    step("forest allocated for 2020 and 2025")
    base = nonforest_class(scores, climate, noise)
    layers: dict[str, NDArray[np.generic]] = {}
    canopy: dict[int, NDArray[np.uint8]] = {}
    for epoch in EPOCHS:
        lc = landcover_layer(epoch, alloc, masks, scores, base, noise)
        canopy[epoch] = canopy_layer(epoch, alloc, masks, scores, lc, noise)
        layers[f"landcover_{epoch}"] = lc
        layers[f"canopy_cover_{epoch}"] = canopy[epoch]
    gs = growing_stock_layers(domain, alloc, masks, scores, canopy, noise, targets)
    for epoch in EPOCHS:
        layers[f"growing_stock_{epoch}"] = gs[epoch]
    layers["annual_precip"] = climate.annual_precip_mm
    layers["forest_type"] = forest_type_layer(alloc, masks, climate, noise)
    layers["carbonate"] = carbonate_layer(masks)
    layers["wetland_type"] = wetland_layer(masks)
    achieved = measure(domain, layers, climate.bio1_pipeline_c)
    step("layer values computed")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("synthetic_*.tif"):
        stale.unlink()
    files = write_mosaic(out_dir, domain, layers, seed)
    files.append(write_sha256sums(out_dir, files))
    files.extend(write_calibration_tables(out_dir.parent / "calibration", domain, targets))
    if hue_regions_path is not None:
        files.append(write_hue_regions(hue_regions_path))
    step(f"wrote {len(files)} files")
    return Result(domain, targets, achieved, files, time.perf_counter() - t0)


def report(result: Result, log: Callable[[str], None] = print) -> bool:
    """Print achieved vs target figures; True when the national figures are within ±1.5 %."""
    d, t, a = result.domain, result.targets, result.achieved
    ok = True
    log("\nnational (all 34 province-level units):")
    for epoch in EPOCHS:
        cov_t, stock_t, _ = NATIONAL_TARGETS[epoch]
        cov_a, stock_a = a.national_coverage_pct[epoch], a.national_stock_m3[epoch]
        dc, ds = cov_a / cov_t - 1.0, stock_a / stock_t - 1.0
        ok &= abs(dc) <= 0.015 and abs(ds) <= 0.015
        log(f"  {epoch}: coverage {cov_a:6.2f} % (target {cov_t:.2f}, {dc:+.2%})   "
            f"stock {stock_a / 1e9:6.3f} bn m3 (target {stock_t / 1e9:.2f}, {ds:+.2%})")  # fmt: skip
    log("\nper province: coverage % (target) | stock 1e6 m3 (target), 2020 then 2025")
    for i, code in enumerate(d.province_codes):
        parts = []
        for epoch in EPOCHS:
            parts.append(
                f"{a.coverage_pct[epoch][i]:6.2f} ({t.coverage_pct[epoch][i]:6.2f}) | "
                f"{a.stock_m3[epoch][i] / 1e6:8.1f} ({t.stock_m3[epoch][i] / 1e6:8.1f})"
            )
        log(f"  {code} {d.names_en[i][:13]:13s} " + "   ".join(parts))
    return ok


def folder_size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output folder (default: rasters/china_sample)",
    )
    parser.add_argument(
        "--pixel-size",
        type=float,
        default=1000.0,
        metavar="M",
        help="pixel size in metres (default 1000)",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"master seed (default {SEED})")
    parser.add_argument(
        "--hue-regions", type=Path, default=DEFAULT_HUE_REGIONS, metavar="PATH",
        help="where to write the Huế test regions GeoJSON (default vectors/hue_sample_regions.geojson)",
    )  # fmt: skip
    parser.add_argument(
        "--no-hue-regions", action="store_true", help="do not write the Huế test regions"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    if args.pixel_size <= 0:
        parser.error("--pixel-size must be positive (metres)")
    log: Callable[[str], None] = (lambda _msg: None) if args.quiet else print
    result = generate(
        args.out.resolve(), pixel_size_m=args.pixel_size, seed=args.seed,
        hue_regions_path=None if args.no_hue_regions else args.hue_regions.resolve(), log=log,
    )  # fmt: skip
    ok = report(result)
    size = folder_size_bytes(args.out.resolve())
    print(
        f"\n{args.out}: {size / 1e6:.1f} MB in {len(list(args.out.glob('*.tif')))} tiles; {result.seconds:.0f} s"
    )
    if not ok:
        print("error: national figures outside ±1.5 % of the targets", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
