"""Exactness of :func:`sinkmap.apps.zonal.zonal_stats`: hand-computed tiny cases, exactextract on real and hard shapes.

exactextract (a test dependency) computes the same quantities — the coverage-weighted count of valid cells and
the coverage-weighted sum of values, with each cell's covered fraction computed exactly in the raster's own
coordinates — so sinkmap must agree with it to floating-point rounding. 1e-6 relative is the issue's bound; the
observed differences are ≤ 3e-8, on the smallest regions, and they are exactextract's: for a region inside one
cell, whose count is exactly its area in cells, sinkmap is off by 7e-12 and exactextract by 6e-9 (it computes in
world coordinates, ~3e6 m here, sinkmap in pixel coordinates).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Geod

from sinkmap.apps.zonal import zonal_stats
from sinkmap.kernels.coverage import coverage_fraction, window_pieces


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    """North-up transform (rasterio's ``from_origin`` multiplies Affines with ``*``, deprecated in affine 3)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


ROOT = Path(__file__).resolve().parents[1]
COUNTIES = ROOT / "vectors" / "guizhou_counties.geojson"
ALBERS = CRS.from_proj4(
    "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +ellps=WGS84 +units=m +no_defs"
)
REL = 1e-6

needs_exactextract = pytest.mark.skipif(
    importlib.util.find_spec("exactextract") is None, reason="exactextract is not installed"
)


def write_raster(
    path: Path, data: np.ndarray, transform: Affine, crs: CRS | str, nodata: float | None
) -> str:
    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return str(path)


def random_layers(
    folder: Path, shape: tuple[int, int], transform: Affine, crs: CRS | str, seed: int
) -> dict[str, str]:
    """A float32 value layer (nodata −9999 on ~5 % of cells) and a uint8 land cover (nodata 0 on ~5 %)."""
    rng = np.random.default_rng(seed)
    val = (rng.random(shape) * 100).astype(np.float32)
    val[rng.random(shape) < 0.05] = -9999.0
    lc = rng.integers(1, 10, shape).astype(np.uint8)
    lc[rng.random(shape) < 0.05] = 0
    return {
        "val": write_raster(folder / "val.tif", val, transform, crs, -9999.0),
        "lc": write_raster(folder / "lc.tif", lc, transform, crs, 0),
    }


def exactextract_table(path: str, regions: gpd.GeoDataFrame, id_field: str) -> pd.DataFrame:
    """exactextract's ``count`` and ``sum`` per region (its output replaces a column named ``id`` with the row
    number, so the regions here use other id field names)."""
    from exactextract import exact_extract

    with rasterio.open(path) as src:
        regions = regions.to_crs(src.crs)
    table = exact_extract(path, regions, ["count", "sum"], include_cols=[id_field], output="pandas")
    table[id_field] = table[id_field].astype(str)
    return table.set_index(id_field)


def assert_matches_exactextract(
    sinkmap: pd.DataFrame, layers: dict[str, str], regions: gpd.GeoDataFrame, id_field: str
) -> None:
    for name, path in layers.items():
        ours = sinkmap[[f"{name}_count", f"{name}_sum"]].set_axis(["count", "sum"], axis=1)
        theirs = exactextract_table(path, regions, id_field).reindex(ours.index)
        assert theirs.notna().all().all(), "a region is missing from exactextract's output"
        for col in ("count", "sum"):
            np.testing.assert_allclose(
                ours[col], theirs[col], rtol=REL, atol=1e-9, err_msg=f"{name}_{col}"
            )


# ---------------------------------------------------------------------------------------------------------
# hand-computed cases on a 4 x 4 grid (10 m pixels in an equal-area projection: 100 m² per pixel)
# ---------------------------------------------------------------------------------------------------------

TINY_VALUES = np.arange(16, dtype=np.float32).reshape(4, 4)  # v[row, col] = 4 row + col
TINY_TRANSFORM = from_origin(0.0, 40.0, 10.0, 10.0)


def _tiny_regions(pixel_polygons: dict[str, shapely.Geometry]) -> gpd.GeoDataFrame:
    """Regions given in pixel coordinates (x = column, y = row from the top) on the 4 x 4 grid."""
    to_crs = [TINY_TRANSFORM.a, 0.0, 0.0, TINY_TRANSFORM.e, TINY_TRANSFORM.c, TINY_TRANSFORM.f]
    geoms = [shapely.affinity.affine_transform(g, to_crs) for g in pixel_polygons.values()]
    return gpd.GeoDataFrame({"name": list(pixel_polygons)}, geometry=geoms, crs=ALBERS)


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, str]:
    values = TINY_VALUES.copy()
    values[2, 2] = -1.0  # nodata
    return {"v": write_raster(tmp_path / "v.tif", values, TINY_TRANSFORM, ALBERS, -1.0)}


def test_rectangle_covering_two_and_a_half_pixels(tiny: dict[str, str]) -> None:
    regions = _tiny_regions(
        {"a": shapely.box(1.0, 1.0, 3.5, 2.0)}
    )  # row 1, columns 1, 2 and half of 3
    row = zonal_stats(regions, tiny, id_field="name").loc["a"]
    assert row["v_count"] == pytest.approx(2.5, abs=1e-12)
    assert row["v_sum"] == pytest.approx(5 + 6 + 0.5 * 7, abs=1e-12)
    assert row["v_area_m2"] == pytest.approx(250.0, abs=1e-9)
    assert row["v_mean"] == pytest.approx((5 + 6 + 3.5) / 2.5, abs=1e-12)


def test_triangle_and_nodata_cell(tiny: dict[str, str]) -> None:
    regions = _tiny_regions(
        {
            "half_pixel": shapely.Polygon([(0, 0), (1, 0), (0, 1)]),  # half of cell (0, 0), value 0
            "corner_quarters": shapely.box(
                2.5, 2.5, 3.5, 3.5
            ),  # a quarter of (2,2) [nodata], (2,3), (3,2), (3,3)
            "diagonal_strip": shapely.Polygon(
                [(0, 4), (4, 0), (4, 1), (1, 4)]
            ),  # between two diagonals
        }
    )
    table = zonal_stats(regions, tiny, id_field="name")
    assert table.loc["half_pixel", "v_count"] == pytest.approx(0.5, abs=1e-12)
    assert table.loc["half_pixel", "v_sum"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["corner_quarters", "v_count"] == pytest.approx(0.75, abs=1e-12)
    assert table.loc["corner_quarters", "v_sum"] == pytest.approx(0.25 * (11 + 14 + 15), abs=1e-12)
    # the strip x + y in [4, 5] (y down): cells on the anti-diagonal (r + c = 3) are cut in half by x + y = 4 and
    # covered on their lower-right half; cells with r + c = 4 are covered on their upper-left half.
    cover = {(r, c): 0.5 for r in range(4) for c in range(4) if r + c in (3, 4)}
    expected_count = sum(f for (r, c), f in cover.items() if (r, c) != (2, 2))
    expected_sum = sum(f * TINY_VALUES[r, c] for (r, c), f in cover.items() if (r, c) != (2, 2))
    assert table.loc["diagonal_strip", "v_count"] == pytest.approx(expected_count, abs=1e-12)
    assert table.loc["diagonal_strip", "v_sum"] == pytest.approx(expected_sum, abs=1e-12)


def test_coverage_fraction_by_hand() -> None:
    square = shapely.box(0.5, 0.5, 2.0, 1.75)  # pixel coordinates
    frac = coverage_fraction(window_pieces([square], 3, 3), 0)
    expected = np.array([[0.25, 0.5, 0.0], [0.375, 0.75, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(frac, expected, atol=1e-15)


# ---------------------------------------------------------------------------------------------------------
# real boundaries: Guizhou's 88 counties on a geographic grid and on an Albers equal-area grid
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    gdf = gpd.read_file(COUNTIES)
    assert len(gdf) == 88
    return gdf


@needs_exactextract
def test_guizhou_counties_geographic_grid(tmp_path: Path, counties: gpd.GeoDataFrame) -> None:
    res = 0.01
    shape = (round((29.3 - 24.6) / res), round((109.6 - 103.5) / res))
    layers = random_layers(tmp_path, shape, from_origin(103.5, 29.3, res, res), "EPSG:4326", seed=1)
    table = zonal_stats(counties, layers, id_field="adcode", classes={"forest": ("lc", [2])})
    assert len(table) == 88
    assert (table["val_count"] > 0).all()
    assert_matches_exactextract(table, layers, counties, "adcode")


@needs_exactextract
def test_guizhou_counties_albers_grid(tmp_path: Path, counties: gpd.GeoDataFrame) -> None:
    left, bottom, right, top = counties.to_crs(ALBERS).total_bounds
    res = 1000.0
    transform = from_origin(
        np.floor(left / res) * res - res, np.ceil(top / res) * res + res, res, res
    )
    shape = (int(np.ceil((top - bottom) / res)) + 3, int(np.ceil((right - left) / res)) + 3)
    layers = random_layers(tmp_path, shape, transform, ALBERS, seed=2)
    table = zonal_stats(counties, layers, id_field="adcode")
    # sinkmap densifies lon/lat edges to 0.01° before projecting them (a straight lon/lat edge is curved in
    # Albers); give exactextract the same polygons, so that both measure the same geometry.
    same_polygons = counties.to_crs("EPSG:4326")
    same_polygons["geometry"] = shapely.segmentize(same_polygons.geometry.values, 0.01)
    assert_matches_exactextract(table, layers, same_polygons.to_crs(ALBERS), "adcode")


# ---------------------------------------------------------------------------------------------------------
# hard synthetic shapes on a 10 m equal-area grid
# ---------------------------------------------------------------------------------------------------------

GRID = from_origin(500_000.0, 3_000_000.0, 10.0, 10.0)


def _to_crs(geom: shapely.Geometry) -> shapely.Geometry:
    """Pixel coordinates (column, row) → CRS coordinates of GRID."""
    return shapely.affinity.affine_transform(geom, [GRID.a, 0.0, 0.0, GRID.e, GRID.c, GRID.f])


HARD_SHAPES = {
    # thinner than a pixel: 0.07 px wide, diagonal, 40 px long
    "sliver": shapely.LineString([(3.3, 5.1), (43.9, 37.6)]).buffer(0.035, cap_style="flat"),
    # axis-parallel sliver 0.2 px tall along a row, off the grid lines
    "row_sliver": shapely.box(2.25, 50.4, 58.75, 50.6),
    "holes": shapely.Polygon(
        shapely.box(10.5, 10.5, 40.5, 40.5).exterior,
        [
            shapely.box(15.2, 15.2, 20.8, 35.1).exterior,
            shapely.Point(30.3, 25.7).buffer(4.6).exterior,
        ],
    ),
    "multipolygon": shapely.MultiPolygon(
        [
            shapely.Point(50.2, 10.1).buffer(5.3),
            shapely.box(45.3, 20.1, 60.9, 21.0),
            shapely.Polygon([(48.0, 30.0), (62.7, 33.3), (50.1, 44.4)]),
        ]
    ),
    # an island inside a hole of another part
    "island_in_hole": shapely.MultiPolygon(
        [
            shapely.Polygon(
                shapely.box(5.5, 55.5, 25.5, 63.5).exterior,
                [shapely.box(9.5, 57.5, 20.5, 62.5).exterior],
            ),
            shapely.box(12.25, 58.75, 15.75, 60.25),
        ]
    ),
    "smaller_than_a_pixel": shapely.box(30.7, 52.6, 31.3, 53.2),  # 0.36 px² across four cells
    "inside_one_pixel": shapely.Polygon([(33.1, 52.2), (33.9, 52.3), (33.4, 52.8)]),
    "partly_outside": shapely.Point(62.0, 3.0).buffer(7.5),  # crosses the right and top edges
    "star": shapely.Polygon(
        [
            (40 + r * np.cos(t), 50 + r * np.sin(t))
            for t, r in zip(np.linspace(0, 2 * np.pi, 41)[:-1], [9.7, 3.1] * 20, strict=True)
        ]
    ),
}


@needs_exactextract
def test_hard_shapes_match_exactextract(tmp_path: Path) -> None:
    layers = random_layers(tmp_path, (64, 64), GRID, ALBERS, seed=3)
    regions = gpd.GeoDataFrame(
        {"name": list(HARD_SHAPES)}, geometry=[_to_crs(g) for g in HARD_SHAPES.values()], crs=ALBERS
    )
    assert regions.is_valid.all()
    table = zonal_stats(regions, layers, id_field="name", chunk_size=16)
    assert_matches_exactextract(table, layers, regions, "name")
    with rasterio.open(layers["val"]) as src:
        val = src.read(1)
    # a region inside one cell counts the fraction of that cell it covers, times its value
    inside = HARD_SHAPES["inside_one_pixel"]
    assert val[52, 33] != -9999.0
    # (to 1e-9: the polygon goes pixel → metres (~3e6) → pixel)
    assert table.loc["inside_one_pixel", "val_count"] == pytest.approx(inside.area, rel=1e-9)
    assert table.loc["inside_one_pixel", "val_sum"] == pytest.approx(
        inside.area * val[52, 33], rel=1e-6
    )
    # the part outside the raster counts for nothing: the count is at most the inside part's area
    clipped = shapely.clip_by_rect(HARD_SHAPES["partly_outside"], 0, 0, 64, 64).area
    assert table.loc["partly_outside", "lc_count"] <= clipped + 1e-9
    assert table.loc["partly_outside", "lc_count"] > 0.8 * clipped


def test_hard_shapes_cover_their_area_when_all_cells_are_valid(tmp_path: Path) -> None:
    """With no nodata, a region's coverage-weighted count is its area in pixels (inside the raster)."""
    ones = write_raster(
        tmp_path / "ones.tif", np.ones((64, 64), dtype=np.uint8), GRID, ALBERS, None
    )
    regions = gpd.GeoDataFrame(
        {"name": list(HARD_SHAPES)}, geometry=[_to_crs(g) for g in HARD_SHAPES.values()], crs=ALBERS
    )
    table = zonal_stats(regions, {"one": ones}, id_field="name", chunk_size=13)
    for name, geom in HARD_SHAPES.items():
        inside = shapely.clip_by_rect(geom, 0, 0, 64, 64).area
        assert table.loc[name, "one_count"] == pytest.approx(inside, rel=1e-9, abs=1e-12), name
        assert table.loc[name, "one_area_m2"] == pytest.approx(
            inside * 100.0, rel=1e-9, abs=1e-9
        ), name


# ---------------------------------------------------------------------------------------------------------
# high latitude, geographic CRS
# ---------------------------------------------------------------------------------------------------------

ARCTIC = shapely.Polygon(
    [(10.03, 70.02), (40.07, 71.31), (35.21, 79.93), (12.55, 78.12), (18.0, 75.0)]
)


@needs_exactextract
def test_high_latitude_geographic_matches_exactextract(tmp_path: Path) -> None:
    res = 0.05
    transform = from_origin(8.0, 81.0, res, res)
    layers = random_layers(
        tmp_path, (round(12 / res), round(34 / res)), transform, "EPSG:4326", seed=4
    )
    regions = gpd.GeoDataFrame({"name": ["arctic"]}, geometry=[ARCTIC], crs="EPSG:4326")
    table = zonal_stats(regions, layers, id_field="name")
    assert_matches_exactextract(table, layers, regions, "name")


def test_high_latitude_true_area_matches_geodesic_area(tmp_path: Path) -> None:
    """Area of valid cells × covered fraction equals the polygon's area on the WGS84 ellipsoid.

    sinkmap's polygon has straight edges in lon/lat; pyproj.Geod joins vertices by geodesics, so the polygon is
    densified to 0.001° first (then both describe the same boundary to ~1e-7). What remains is the
    approximation inside boundary cells (covered fraction taken in degrees, while area density varies with
    latitude across a 0.05° row by up to tan(80°)·0.05° ≈ 0.5 %), measured at 8e-8 relative here; 1e-6 is asserted.
    """
    res = 0.05
    transform = from_origin(8.0, 81.0, res, res)
    ones = write_raster(
        tmp_path / "ones.tif",
        np.ones((round(12 / res), round(34 / res)), np.uint8),
        transform,
        "EPSG:4326",
        None,
    )
    regions = gpd.GeoDataFrame({"name": ["arctic"]}, geometry=[ARCTIC], crs="EPSG:4326")
    table = zonal_stats(regions, {"one": ones}, id_field="name")
    geodesic_m2 = abs(
        Geod(ellps="WGS84").geometry_area_perimeter(shapely.segmentize(ARCTIC, 0.001))[0]
    )
    assert table.loc["arctic", "one_area_m2"] == pytest.approx(geodesic_m2, rel=1e-6)
    # and the plain cell count is the polygon's area in degree² / cell area
    assert table.loc["arctic", "one_count"] == pytest.approx(ARCTIC.area / res**2, rel=1e-9)
