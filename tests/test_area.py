"""True pixel area: geodesic rows in geographic grids, equal-area and other projections, CRS independence."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS, Geod
from shapely.geometry import box

from sinkmap.engine.grid import GridSpec, Window
from sinkmap.errors import CRSError
from sinkmap.kernels.area import ellipsoid_zone_area_m2, geodesic_row_area_m2, pixel_area_m2

WGS84 = CRS.from_epsg(4326)
ALBERS = CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m")


@pytest.mark.parametrize(
    ("lat", "expected_m2"),
    # Global Forest Watch's geodesic pixel areas for a 0.00025° pixel, FACTORS.md §A6.
    [(0.0, 769.3), (30.0, 668.5), (40.0, 592.6), (45.0, 547.6), (50.0, 498.4)],
)
def test_hansen_pixel_area_matches_gfw_table(lat: float, expected_m2: float) -> None:
    # the §A6 figures are for the pixel whose lower edge is at `lat` (rounded to 0.1 m²)
    area = geodesic_row_area_m2(lat + 0.00025, -0.00025, 1, 0.00025, WGS84)[0]
    assert area == pytest.approx(expected_m2, abs=0.06)


def test_whole_ellipsoid_area() -> None:
    # WGS84 surface area 510,065,621.7 km² (authalic radius 6,371,007.2 m): 4πR² = 510,065,621.7 km²
    rows = geodesic_row_area_m2(90.0, -1.0, 180, 1.0, WGS84)
    assert rows.sum() * 360 / 1e6 == pytest.approx(510_065_621.7, rel=1e-9)


def test_zone_area_sphere_is_archimedes() -> None:
    # a sphere's zone between the equator and 30°N is 2πR²·sin 30° = πR²
    r = 6_371_000.0
    assert ellipsoid_zone_area_m2(np.array(30.0), semi_major_m=r, inverse_flattening=0.0) == pytest.approx(
        np.pi * r * r
    )


def test_equal_area_projection_constant() -> None:
    area = pixel_area_m2(ALBERS, Affine(2000, 0, -2e6, 0, -2000, 5e6), 0, 3, 0, 4)
    assert area.shape == (1, 1) and area[0, 0] == 4e6


def test_non_equal_area_projection_uses_scale_factor() -> None:
    # UTM 48N at its central meridian (105°E, 27°N): scale k0 = 0.9996 both ways, so true area = 30² / 0.9996²
    utm = CRS.from_epsg(32648)
    area = pixel_area_m2(utm, Affine(30, 0, 499_985, 0, -30, 2_986_000), 0, 1, 0, 1)
    assert area[0, 0] == pytest.approx(900 / 0.9996**2, rel=1e-5)


def test_rotated_grid_refused() -> None:
    with pytest.raises(CRSError, match="rotated"):
        pixel_area_m2(WGS84, Affine(0.1, 0.01, 100, 0, -0.1, 30), 0, 1, 0, 1)


def _region_area_on_grid(crs: CRS, transform: Affine, shape: tuple[int, int], region_lonlat) -> float:
    import geopandas as gpd

    from sinkmap.engine.regions import RegionLayerSpec, ZoneIndex, level_from_frame

    grid = GridSpec(crs.to_wkt(), transform, *shape)
    frame = gpd.GeoDataFrame({"id": ["r"]}, geometry=[region_lonlat], crs="EPSG:4326")
    level = level_from_frame(frame, RegionLayerSpec("r", "<frame>", "id", "id"))
    zones = ZoneIndex.build([level], grid)
    from sinkmap.kernels.coverage import weighted_sums

    total = 0.0
    for window in grid.windows(64):
        _, pieces = zones.pieces(window)
        if pieces.size:
            area = grid.pixel_area_m2(window)
            ones = np.ones((window.height, window.width)) * area
            total += weighted_sums(pieces, [ones]).sum()
    return total


def test_region_area_independent_of_crs() -> None:
    """A region's area summed over pixels is the same in a geographic, an equal-area and a UTM grid."""
    region = box(105.0, 26.0, 106.3, 27.1)  # about 141 km × 122 km in Guizhou
    geodesic = abs(Geod(ellps="WGS84").geometry_area_perimeter(region)[0])
    geo = _region_area_on_grid(WGS84, Affine(0.01, 0, 104.5, 0, -0.01, 27.5), (200, 250), region)
    albers = _region_area_on_grid(ALBERS, Affine(1000, 0, -100_000, 0, -1000, 3_000_000), (400, 300), region)
    utm = _region_area_on_grid(CRS.from_epsg(32648), Affine(1000, 0, 420_000, 0, -1000, 3_050_000), (250, 250), region)
    for value in (geo, albers, utm):
        # edges straight in lon/lat vs densified in the projection differ by < 0.01 % at this size
        assert value == pytest.approx(geodesic, rel=2e-4)
    assert geo == pytest.approx(albers, rel=2e-4)


def test_grid_windows_cover_grid_once() -> None:
    grid = GridSpec(WGS84.to_wkt(), Affine(1, 0, 0, 0, -1, 10), 10, 7)
    seen = np.zeros((10, 7), int)
    for w in grid.windows(3):
        seen[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (seen == 1).all()
    assert Window(0, 0, 3, 3) in set(grid.windows(3))
