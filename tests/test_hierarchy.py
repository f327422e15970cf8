"""County → prefecture → province → nation: regional totals add up to the level above.

The boundary data are real (Tianditu, ``vectors/``): Guizhou's 88 counties, its 9 prefectures and the 34
provinces. Their manifest (``shared/data/MANIFEST.md``) says the counties tile the province exactly; the tests
measure it (gaps and overlaps between a level's union and the parent polygon, as a fraction of the parent) and
derive the tolerance from it: where the layers tile exactly, the only difference left is float64 rounding in sums
over ~10⁵ boundary pieces (≤ 2e-14 relative observed), so 1e-9 relative is asserted. Nationally the provinces
overlap by 2.8e-8 of China's area (slivers along some borders), none of it near Guizhou, so "nation" is tested
over a raster around Guizhou where the provinces tile exactly (measured in the test too).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

from sinkmap.apps.zonal import zonal_stats

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
EXTENT = (103.5, 24.6, 109.6, 29.3)  # lon/lat: Guizhou and parts of its five neighbours
RES = 0.01
TILING_TOL = (
    1e-12  # gaps + overlaps between a level and its parent, as a fraction of the parent's area
)
REL = 1e-9
COLUMNS = ["val_count", "val_sum", "val_area_m2", "lc_count", "forest_count", "forest_area_m2"]


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A geographic 0.01° grid over EXTENT: values with 5 % nodata, land cover with forest (code 2)."""
    folder = tmp_path_factory.mktemp("hierarchy")
    west, south, east, north = EXTENT
    shape = (round((north - south) / RES), round((east - west) / RES))
    transform = Affine(RES, 0.0, west, 0.0, -RES, north)
    rng = np.random.default_rng(11)
    val = (rng.random(shape) * 300).astype(np.float32)
    val[rng.random(shape) < 0.05] = np.nan
    lc = rng.integers(1, 10, shape).astype(np.uint8)
    lc[rng.random(shape) < 0.03] = 255
    out = {}
    for name, data, nodata in (("val", val, None), ("lc", lc, 255)):
        path = folder / f"{name}.tif"
        profile = {
            "driver": "GTiff",
            "height": shape[0],
            "width": shape[1],
            "count": 1,
            "dtype": data.dtype.name,
        }
        with rasterio.open(
            path, "w", crs="EPSG:4326", transform=transform, nodata=nodata, **profile
        ) as dst:
            dst.write(data, 1)
        out[name] = str(path)
    return out


def _stats(
    regions: gpd.GeoDataFrame, layers: dict[str, str], id_field: str, **kwargs: object
) -> pd.DataFrame:
    return zonal_stats(
        regions, layers, id_field=id_field, classes={"forest": ("lc", [2])}, **kwargs
    )[COLUMNS]


def _mismatch(children: gpd.GeoSeries, parent: shapely.Geometry) -> float:
    """(gap + overlap area) between the children's union and the parent, as a fraction of the parent.

    Measured in the data's own lon/lat coordinates: tiling is a property of the coordinates, and projecting
    would bend the parent's and the children's straight edges differently where their vertices differ.
    """
    union = shapely.union_all(children.values)
    overlap = float(shapely.area(children.values).sum() - union.area)
    return (shapely.symmetric_difference(union, parent).area + abs(overlap)) / parent.area


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    return gpd.read_file(VECTORS / "guizhou_counties.geojson")


@pytest.fixture(scope="module")
def prefectures() -> gpd.GeoDataFrame:
    return gpd.read_file(VECTORS / "guizhou_prefectures.geojson")


@pytest.fixture(scope="module")
def provinces() -> gpd.GeoDataFrame:
    return gpd.read_file(VECTORS / "cn_provinces.geojson")


def test_counties_add_up_to_prefectures_and_province(
    layers: dict[str, str],
    counties: gpd.GeoDataFrame,
    prefectures: gpd.GeoDataFrame,
    provinces: gpd.GeoDataFrame,
) -> None:
    guizhou = provinces.loc[provinces["adcode"] == "520000"]
    # the boundary data tile exactly, level by level (what the tolerance below relies on)
    for code, group in counties.groupby("prefecture_adcode"):
        parent = prefectures.loc[prefectures["adcode"] == code].geometry.iloc[0]
        assert _mismatch(group.geometry, parent) < TILING_TOL, code
    assert _mismatch(prefectures.geometry, guizhou.geometry.iloc[0]) < TILING_TOL

    county = _stats(counties, layers, "adcode")
    prefecture = _stats(prefectures, layers, "adcode")
    province = _stats(guizhou, layers, "adcode")
    assert len(county) == 88 and len(prefecture) == 9
    assert (county["forest_area_m2"] > 0).all()

    parent_of = counties.set_index(counties["adcode"].astype(str))["prefecture_adcode"].astype(str)
    summed = county.groupby(parent_of.reindex(county.index).to_numpy()).sum()
    summed.index.name = "adcode"
    pd.testing.assert_frame_equal(
        summed.loc[prefecture.index], prefecture, check_exact=False, rtol=REL, atol=0
    )
    pd.testing.assert_frame_equal(
        prefecture.sum().to_frame().T,
        province.reset_index(drop=True),
        check_exact=False,
        rtol=REL,
        atol=0,
    )
    pd.testing.assert_frame_equal(
        county.sum().to_frame().T,
        province.reset_index(drop=True),
        check_exact=False,
        rtol=REL,
        atol=0,
    )


def test_provinces_add_up_to_the_nation(
    layers: dict[str, str], provinces: gpd.GeoDataFrame
) -> None:
    west, south, east, north = EXTENT
    box = shapely.box(west, south, east, north)
    near = provinces.loc[provinces.intersects(box)]
    assert set(near["adcode"]) == {
        "420000",
        "430000",
        "450000",
        "500000",
        "510000",
        "520000",
        "530000",
    }
    # inside the raster the provinces tile exactly: no overlap, no gap
    assert _mismatch(near.geometry.intersection(box), box) < TILING_TOL

    nation = gpd.GeoDataFrame(
        {"adcode": ["100000"]},
        geometry=[shapely.union_all(provinces.geometry.values)],
        crs=provinces.crs,
    )
    by_province = _stats(provinces, layers, "adcode")
    whole = _stats(nation, layers, "adcode", chunk_size=700)
    assert (
        (by_province.drop(index=near["adcode"]) == 0).all().all()
    )  # provinces off the raster get nothing
    pd.testing.assert_frame_equal(
        by_province.sum().to_frame().T,
        whole.reset_index(drop=True),
        check_exact=False,
        rtol=REL,
        atol=0,
    )
    # the raster's extent is all inside China: the nation's valid area is all valid cells' area
    with rasterio.open(layers["val"]) as src:
        valid = np.isfinite(src.read(1))
    assert whole["val_count"].iloc[0] == pytest.approx(valid.sum(), rel=REL)
