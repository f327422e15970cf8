"""Properties of exact zonal statistics that must hold whatever the input: invariance to chunk size, to how the
raster is split into tile files and to the scheduler; coverage fractions that add up to the polygon's area; and
neighbouring regions that partition their union (nothing counted twice, nothing lost).

Sums are sums of per-window partials added in window order, so results agree to float64 rounding (~1e-15
relative per operation); 1e-9 relative is asserted.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyproj import CRS

from sinkmap.apps.zonal import zonal_stats
from sinkmap.kernels.coverage import coverage_fraction, window_pieces

ALBERS = CRS.from_proj4(
    "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +ellps=WGS84 +units=m +no_defs"
)
SHAPE = (97, 131)  # odd sizes, so windows and tiles never divide evenly
TRANSFORM = Affine(10.0, 0.0, 600_000.0, 0.0, -10.0, 2_800_000.0)
REL, ABS = 1e-9, 1e-7
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _write(path: Path, data: np.ndarray, transform: Affine, nodata: float | None) -> str:
    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name,
    }
    with rasterio.open(path, "w", crs=ALBERS, transform=transform, nodata=nodata, **profile) as dst:
        dst.write(data, 1)
    return str(path)


def _arrays(seed: int = 0) -> dict[str, tuple[np.ndarray, float | None]]:
    rng = np.random.default_rng(seed)
    val = (rng.random(SHAPE) * 50).astype(np.float32)
    val[rng.random(SHAPE) < 0.07] = np.nan
    lc = rng.integers(1, 10, SHAPE).astype(np.uint8)
    lc[rng.random(SHAPE) < 0.05] = 0
    return {"val": (val, None), "lc": (lc, 0)}


def _regions(seed: int, n: int) -> gpd.GeoDataFrame:
    """A Voronoi tessellation of ``n`` random seeds over a box that sticks out of the raster on two sides, plus a
    ring with a hole and a sub-pixel square (in pixel units, converted to the grid's metres)."""
    rng = np.random.default_rng(seed)
    frame = shapely.box(-7.3, -5.1, SHAPE[1] * 0.9 + 11.7, SHAPE[0] * 0.8)
    points = shapely.multipoints(rng.uniform([-7, -5], [SHAPE[1], SHAPE[0] * 0.8], (n, 2)))
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(points, extend_to=frame)), frame
    )
    ring = (
        shapely.Point(*rng.uniform(20, 70, 2))
        .buffer(rng.uniform(5, 15))
        .difference(shapely.Point(40, 45).buffer(3.3))
    )
    tiny = shapely.box(33.2, 61.4, 33.9, 61.8)
    geoms = [*cells, ring, tiny]
    to_crs = [TRANSFORM.a, 0.0, 0.0, TRANSFORM.e, TRANSFORM.c, TRANSFORM.f]
    return gpd.GeoDataFrame(
        {"region": [f"r{i}" for i in range(len(geoms))]},
        geometry=[shapely.affinity.affine_transform(g, to_crs) for g in geoms],
        crs=ALBERS,
    )


CLASSES = {"forest": ("lc", [2, 3])}


@pytest.fixture(scope="module")
def single_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("single")
    return {
        name: _write(folder / f"{name}.tif", a, TRANSFORM, nd)
        for name, (a, nd) in _arrays().items()
    }


@pytest.fixture(scope="module")
def regions() -> gpd.GeoDataFrame:
    return _regions(seed=5, n=9)


@pytest.fixture(scope="module")
def reference(single_files: dict[str, str], regions: gpd.GeoDataFrame) -> pd.DataFrame:
    return zonal_stats(
        regions,
        single_files,
        id_field="region",
        classes=CLASSES,
        chunk_size=1024,
        scheduler="synchronous",
    )


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.index) == list(b.index) and list(a.columns) == list(b.columns)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=REL, atol=ABS, equal_nan=True)


@FAST
@given(chunk=st.integers(min_value=3, max_value=140))
def test_any_chunk_size_gives_the_same_result(
    chunk: int, single_files: dict[str, str], regions: gpd.GeoDataFrame, reference: pd.DataFrame
) -> None:
    _assert_same(
        zonal_stats(regions, single_files, id_field="region", classes=CLASSES, chunk_size=chunk),
        reference,
    )


@FAST
@given(
    row_cuts=st.lists(st.integers(1, SHAPE[0] - 1), max_size=3, unique=True),
    col_cuts=st.lists(st.integers(1, SHAPE[1] - 1), max_size=3, unique=True),
    chunk=st.sampled_from([17, 64, 1024]),
)
def test_any_tiling_into_files_gives_the_same_result(
    row_cuts: list[int],
    col_cuts: list[int],
    chunk: int,
    regions: gpd.GeoDataFrame,
    reference: pd.DataFrame,
) -> None:
    rows = [0, *sorted(row_cuts), SHAPE[0]]
    cols = [0, *sorted(col_cuts), SHAPE[1]]
    with tempfile.TemporaryDirectory() as tmp:
        layers: dict[str, list[str]] = {}
        for name, (array, nodata) in _arrays().items():
            layers[name] = []
            for r0, r1 in itertools.pairwise(rows):
                for c0, c1 in itertools.pairwise(cols):
                    x0, y0 = TRANSFORM.c + c0 * TRANSFORM.a, TRANSFORM.f + r0 * TRANSFORM.e
                    tile_transform = Affine(TRANSFORM.a, 0.0, x0, 0.0, TRANSFORM.e, y0)
                    path = Path(tmp) / f"{name}_{r0}_{c0}.tif"
                    layers[name].append(
                        _write(
                            path, np.ascontiguousarray(array[r0:r1, c0:c1]), tile_transform, nodata
                        )
                    )
        table = zonal_stats(regions, layers, id_field="region", classes=CLASSES, chunk_size=chunk)
    _assert_same(table, reference)


@pytest.mark.parametrize("scheduler", ["threads", "processes", "synchronous"])
def test_schedulers_agree(
    scheduler: str, single_files: dict[str, str], regions: gpd.GeoDataFrame, reference: pd.DataFrame
) -> None:
    table = zonal_stats(
        regions,
        single_files,
        id_field="region",
        classes=CLASSES,
        chunk_size=29,
        scheduler=scheduler,
        workers=2,
    )
    _assert_same(table, reference)


# ---------------------------------------------------------------------------------------------------------
# numpy level: coverage fractions
# ---------------------------------------------------------------------------------------------------------

coords = st.floats(min_value=-6.0, max_value=30.0, allow_nan=False, allow_infinity=False)


@st.composite
def polygons(draw: st.DrawFn) -> shapely.Geometry:
    """A valid polygon (possibly multi, possibly with holes) from a random star-shaped ring, around a window of
    20 x 24 pixels and partly outside it."""
    n = draw(st.integers(3, 12))
    cx, cy = draw(coords), draw(coords)
    angles = np.sort(
        np.array(draw(st.lists(st.floats(0, 2 * np.pi, exclude_max=True), min_size=n, max_size=n)))
    )
    radii = np.array(draw(st.lists(st.floats(0.05, 14.0), min_size=n, max_size=n)))
    ring = np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])
    geom = shapely.make_valid(shapely.Polygon(ring))
    if draw(st.booleans()):
        geom = geom.difference(shapely.Point(cx, cy).buffer(draw(st.floats(0.01, 3.0))))
    polys = [g for g in shapely.get_parts(shapely.make_valid(geom)) if g.geom_type == "Polygon"]
    result = (
        shapely.MultiPolygon(polys)
        if len(polys) > 1
        else (polys[0] if polys else shapely.Polygon())
    )
    # regions are valid polygons (sinkmap repairs invalid ones on loading), and not vanishingly small
    assume(result.is_valid and result.area > 1e-6)
    return result


@settings(max_examples=150, deadline=None)
@given(polygon=polygons())
def test_coverage_fraction_adds_up_to_the_area_in_pixels(polygon: shapely.Geometry) -> None:
    h, w = 20, 24
    frac = coverage_fraction(window_pieces([polygon], h, w), 0)
    assert frac.min() >= -1e-9 and frac.max() <= 1 + 1e-9
    # (GEOS's fast clip_by_rect rejects some valid near-degenerate polygons; the full overlay does not)
    inside = shapely.intersection(polygon, shapely.box(0, 0, w, h)).area
    assert frac.sum() == pytest.approx(inside, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(polygon=polygons(), seed=st.integers(0, 2**32 - 1), n=st.integers(2, 8))
def test_neighbours_partition_their_union(polygon: shapely.Geometry, seed: int, n: int) -> None:
    """Cut a polygon into Voronoi pieces: the pieces' fractions add up to the polygon's, never above 1."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = polygon.bounds
    points = shapely.multipoints(rng.uniform([x0, y0], [x1 + 1e-9, y1 + 1e-9], (n, 2)))
    cells = shapely.voronoi_polygons(points, extend_to=shapely.box(x0 - 1, y0 - 1, x1 + 1, y1 + 1))
    pieces = shapely.intersection(shapely.get_parts(cells), polygon)
    pieces = [p for p in pieces if not p.is_empty and p.area > 0]
    h, w = 20, 24
    wp = window_pieces([polygon, *pieces], h, w)
    whole = coverage_fraction(wp, 0)
    parts = sum((coverage_fraction(wp, k) for k in range(1, len(pieces) + 1)), np.zeros((h, w)))
    assert parts.max() <= 1 + 1e-9
    np.testing.assert_allclose(parts, whole, atol=1e-9)
    interior = whole > 1 - 1e-12
    np.testing.assert_allclose(parts[interior], 1.0, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------
# dask.distributed
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_local_cluster_with_two_worker_processes_agrees_with_threads(
    single_files: dict[str, str], regions: gpd.GeoDataFrame, reference: pd.DataFrame
) -> None:
    """``workers=2`` starts a LocalCluster of two worker processes; a ``tcp://`` address reaches an existing
    cluster. Both give the threaded numbers."""
    import logging

    from distributed import LocalCluster

    table = zonal_stats(
        regions, single_files, id_field="region", classes=CLASSES, chunk_size=33, workers=2
    )
    _assert_same(table, reference)
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        table = zonal_stats(
            regions,
            single_files,
            id_field="region",
            classes=CLASSES,
            chunk_size=33,
            scheduler=cluster.scheduler_address,
        )
    _assert_same(table, reference)


PIPELINE = """\
name: distributed-check
output_dir: out
epochs: [2000, 2018]
chunk_size: 64
layers:
  canopy_cover:
    paths:
      2000: cc.tif
  loss_year:
    path: ly.tif
    base_year: 2000
regions:
  - level: site
    path: regions.geojson
    id_field: region_id
    name_field: name_zh
    name_en_field: name_en
nation:
  region_id: "ALL"
  name_zh: 合计
  name_en: All sites
  from_level: site
forest_definition:
  name: canopy cover ≥ 20 %
  source: test
  forest_classes: []
  special_shrubland: null
targets: none
"""


@pytest.mark.slow
def test_pipeline_on_a_local_cluster_matches_the_threaded_run(tmp_path: Path) -> None:
    """``sinkmap run`` with ``--workers 2`` (a LocalCluster of two worker processes) and with
    ``--scheduler tcp://…`` (an existing cluster) writes the same regions.csv as the threaded default."""
    import logging

    from click.testing import CliRunner
    from distributed import LocalCluster

    from sinkmap.cli import cli

    rng = np.random.default_rng(0)
    shape = (300, 400)
    transform = Affine(0.00025, 0.0, 107.1, 0.0, -0.00025, 16.7)  # 30 m, geographic
    for name, data in (
        ("cc", (rng.random(shape) * 100).astype(np.uint8)),
        ("ly", np.where(rng.random(shape) < 0.05, rng.integers(1, 19, shape), 0).astype(np.uint8)),
    ):
        profile = {
            "driver": "GTiff",
            "height": shape[0],
            "width": shape[1],
            "count": 1,
            "dtype": "uint8",
        }
        with rasterio.open(
            tmp_path / f"{name}.tif",
            "w",
            crs="EPSG:4326",
            transform=transform,
            nodata=255,
            **profile,
        ) as dst:
            dst.write(data, 1)
    extent = shapely.box(107.1, 16.7 - shape[0] * 0.00025, 107.1 + shape[1] * 0.00025, 16.7)
    seeds = shapely.multipoints(rng.uniform([107.1, 16.63], [107.2, 16.7], (5, 2)))
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=extent)), extent
    )
    gpd.GeoDataFrame(
        {
            "region_id": [f"S{i}" for i in range(5)],
            "name_zh": [f"样{i}" for i in range(5)],
            "name_en": [f"site {i}" for i in range(5)],
        },
        geometry=list(cells),
        crs="EPSG:4326",
    ).to_file(tmp_path / "regions.geojson")
    (tmp_path / "p.yaml").write_text(PIPELINE, encoding="utf-8")

    def run(out: str, *extra: str) -> pd.DataFrame:
        result = CliRunner().invoke(
            cli, ["-q", "run", str(tmp_path / "p.yaml"), "-o", str(tmp_path / out), *extra]
        )
        assert result.exit_code == 0, result.output
        return pd.read_csv(tmp_path / out / "regions.csv")

    threads = run("threads")
    assert threads["forest_area_km2_2000"].gt(0).all()
    pd.testing.assert_frame_equal(run("workers2", "--workers", "2"), threads)
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        pd.testing.assert_frame_equal(run("tcp", "--scheduler", cluster.scheduler_address), threads)
