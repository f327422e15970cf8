"""The one window engine: chunk, scheduler and backend invariance, the xarray API against a run's files, coarse
layers, cross-tabulations by hand, the role registry against the README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import yaml
from affine import Affine
from pyproj import CRS
from shapely.geometry import Polygon, box

from conftest import ROOT, write_raster
from sinkmap.api import Pipeline, open_pipeline
from sinkmap.apps.invest import invest_storage
from sinkmap.apps.pipeline import plan_layers, run_pipeline
from sinkmap.apps.quantities import QUANTITIES, column_name
from sinkmap.config import load_pipeline
from sinkmap.engine.executor import _missing_paths
from sinkmap.engine.grid import GridSpec, Window
from sinkmap.engine.roles import ROLES, role_table_markdown
from sinkmap.engine.sources import CoarseBand, LayerSource
from sinkmap.kernels.carbon.zones import thornthwaite_pet_mm_per_yr
from sinkmap.kernels.coverage import coverage_fraction, weighted_histograms, window_pieces

ALBERS = CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +datum=WGS84 +units=m")
H, W = 60, 70
TRANSFORM = Affine(100, 0, 0, 0, -100, 3_006_000)  # 1-ha pixels, equal-area, ≈ 28.5°N
EPOCHS = (2020, 2025)


def _blobs(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    """Spatially smooth values: a 6 × 7 random field upsampled to the grid."""
    coarse = rng.uniform(lo, hi, (6, 7))
    return np.kron(coarse, np.ones((10, 10)))[:H, :W] + rng.normal(0, (hi - lo) * 0.05, (H, W))


def _ragged(points: list[tuple[float, float]], rng: np.random.Generator) -> Polygon:
    """A polygon through ``points`` with every edge broken into 20 jittered pieces (boundaries cut pixels)."""
    out = []
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        for t in np.linspace(0, 1, 20, endpoint=False):
            out.append((x0 + t * (x1 - x0) + rng.normal(0, 30), y0 + t * (y1 - y0) + rng.normal(0, 30)))
    return shapely.make_valid(Polygon(out)).buffer(0)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60 × 70 pipeline with every sample layer, a coarse geographic temperature layer and two region levels."""
    folder = tmp_path_factory.mktemp("engine")
    rng = np.random.default_rng(7)
    for epoch in EPOCHS:
        lc = rng.choice(np.arange(1, 10, dtype=np.uint8), (H, W), p=[0.2, 0.3, 0.1, 0.15, 0.05, 0.02, 0.05, 0.08, 0.05])
        lc[:3, :5] = 0  # no data
        write_raster(folder / f"lc_{epoch}.tif", lc, crs=ALBERS, transform=TRANSFORM, nodata=0)
        cc = np.clip(_blobs(rng, 0, 90), 0, 100).astype(np.uint8)
        write_raster(folder / f"cc_{epoch}.tif", cc, crs=ALBERS, transform=TRANSFORM, nodata=255)
        gsv = np.clip(_blobs(rng, 0, 250), 0, None).astype(np.float32)
        gsv[50:, 60:] = -9999
        write_raster(folder / f"gsv_{epoch}.tif", gsv, crs=ALBERS, transform=TRANSFORM, nodata=-9999)
    write_raster(folder / "precip.tif", _blobs(rng, 300, 2200).astype(np.float32), crs=ALBERS, transform=TRANSFORM)
    write_raster(folder / "ftype.tif", rng.integers(0, 7, (H, W)).astype(np.uint8), crs=ALBERS, transform=TRANSFORM)
    write_raster(folder / "carb.tif", rng.integers(0, 3, (H, W)).astype(np.uint8), crs=ALBERS, transform=TRANSFORM)
    write_raster(folder / "wet.tif", rng.choice(np.arange(5, dtype=np.uint8), (H, W), p=[0.8, 0.05, 0.05, 0.05, 0.05]), crs=ALBERS, transform=TRANSFORM)
    # temperature on a 0.02° geographic grid around the area (≈ 105.0–105.07°E, 28.47–28.52°N)
    lon0, lat0 = 104.9, 28.65
    temp = (14 + np.add.outer(-np.arange(20) * 0.4, np.arange(20) * 0.15)).astype(np.float32)
    temp[0, 0] = -9999
    write_raster(folder / "temp.tif", temp, crs="EPSG:4326", transform=Affine(0.02, 0, lon0, 0, -0.02, lat0), nodata=-9999)
    left, bottom, right, top = 0, 3_000_000, W * 100, 3_006_000
    mid = (left + right) / 2
    counties = [
        _ragged([(left - 200, bottom - 200), (mid, bottom - 200), (mid + 300, top + 200), (left - 200, top + 200)], rng),
        _ragged([(mid, bottom - 200), (right + 200, bottom - 200), (right + 200, (bottom + top) / 2), (mid + 150, (bottom + top) / 2)], rng),
    ]
    counties[1] = counties[1].difference(counties[0])  # regions of one level must not overlap
    counties.append(box(left - 500, bottom - 500, right + 500, top + 500).difference(shapely.union_all(counties)))
    province = shapely.union_all(counties)
    gpd.GeoDataFrame({"id": ["P"], "name": ["省"]}, geometry=[province], crs=ALBERS).to_file(folder / "prov.gpkg")
    gpd.GeoDataFrame(
        {"id": ["C1", "C2", "C3"], "name": ["甲", "乙", "丙"], "parent": ["P", "P", "P"]}, geometry=counties, crs=ALBERS
    ).to_file(folder / "county.gpkg")
    (folder / "pools.csv").write_text(
        "lucode,c_above,c_below,c_soil,c_dead\n" + "\n".join(f"{c},{10 * c},{2 * c},{50 + c},{c / 2}" for c in range(1, 10)) + "\n"
    )
    doc = {
        "name": "engine",
        "output_dir": "out",
        "epochs": list(EPOCHS),
        "chunk_size": 16,
        "layers": {
            "landcover": {"paths": {e: f"lc_{e}.tif" for e in EPOCHS}},
            "canopy_cover": {"paths": {e: f"cc_{e}.tif" for e in EPOCHS}},
            "growing_stock": {"paths": {e: f"gsv_{e}.tif" for e in EPOCHS}},
            "annual_precip": {"path": "precip.tif"},
            "forest_type": {"path": "ftype.tif"},
            "carbonate": {"path": "carb.tif"},
            "wetland_type": {"path": "wet.tif"},
            "mean_temperature": {"path": "temp.tif", "resampling": "bilinear"},
        },
        "regions": [
            {"level": "province", "path": "prov.gpkg", "id_field": "id", "name_field": "name"},
            {"level": "county", "path": "county.gpkg", "id_field": "id", "name_field": "name", "parent_field": "parent", "parent_level": "province"},
        ],
        "carbon": {"invest_pools": "pools.csv"},
        "targets": "none",
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(case: Path) -> Any:
    return run_pipeline(load_pipeline(case), threads=2, chunk_size=16)


def _csv(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "regions.csv", dtype={"region_id": str, "parent_id": str}).set_index(["level", "region_id"])


def _assert_tables_close(a: pd.DataFrame, b: pd.DataFrame, rel: float = 1e-9) -> None:
    assert list(a.columns) == list(b.columns)
    for column in a.columns:
        if a[column].dtype.kind == "f":
            x, y = a[column].to_numpy(), b.loc[a.index, column].to_numpy()
            scale = np.nanmax(np.abs(x), initial=0.0)
            np.testing.assert_allclose(y, x, rtol=rel, atol=rel * scale, err_msg=column)
        else:
            assert a[column].fillna("").astype(str).tolist() == b.loc[a.index, column].fillna("").astype(str).tolist(), column


def test_every_part_of_the_engine_runs(reference: Any) -> None:
    county = reference.tables["county"].set_index("region_id")
    assert (county["forest_area_km2_2020"] > 0).all() and (county["total_sink_t_c_per_yr"] != 0).all()
    assert (county["karst_exposed_area_km2"] > 0).all() and (county["wetland_mangrove_area_km2"] > 0).all()
    assert "invest_total_change_t_c_2020_2025" in county
    assert (reference.output_dir / "transitions.csv").exists()
    assert {"forest", "carbon", "invest", "transitions", "read", "aggregate"} <= set(reference.profile)


@pytest.mark.parametrize(("chunk", "options"), [(23, {"scheduler": "synchronous"}), (64, {"threads": 1}), (37, {"threads": 2})])
def test_results_do_not_depend_on_chunks_or_threads(case: Path, reference: Any, tmp_path: Path, chunk: int, options: dict[str, Any]) -> None:
    run = run_pipeline(load_pipeline(case), chunk_size=chunk, output_dir=tmp_path / "run", **options)
    _assert_tables_close(_csv(reference.output_dir), _csv(run.output_dir))
    a = pd.read_csv(reference.output_dir / "transitions.csv").set_index(["level", "region_id", "from_class", "to_class"])
    b = pd.read_csv(run.output_dir / "transitions.csv").set_index(["level", "region_id", "from_class", "to_class"])
    assert a.index.equals(b.index)
    np.testing.assert_allclose(b.iloc[:, -1], a.iloc[:, -1], rtol=1e-9)
    for tif in (reference.output_dir / "rasters").glob("*.tif"):
        with rasterio.open(tif) as x, rasterio.open(run.output_dir / "rasters" / tif.name) as y:
            np.testing.assert_array_equal(x.read(1), y.read(1), err_msg=tif.name)


def test_transitions_add_up_to_land_area(reference: Any) -> None:
    """Every valid land-cover pixel of both epochs is in exactly one transition: areas sum to the valid area."""
    transitions = pd.read_csv(reference.output_dir / "transitions.csv")
    sums = transitions.groupby(["level", "region_id"])["area_km2_2020_2025"].sum()
    county = reference.tables["county"].set_index("region_id")
    # valid in both epochs = mapped land (the no-data corner is the same in both)
    np.testing.assert_allclose(sums.loc["county"].loc[county.index], county["land_area_km2_2020"], rtol=1e-9)


def test_api_products_equal_the_run_cogs(case: Path, reference: Any) -> None:
    products = open_pipeline(case).products(chunk_size=29).compute()  # odd chunks: other windows than the run's
    for tif in (reference.output_dir / "rasters").glob("*.tif"):
        name, _, epoch = tif.stem.rpartition("_")
        variable = products[name].sel(epoch=int(epoch)) if epoch.isdigit() else products[tif.stem]
        with rasterio.open(tif) as src:
            np.testing.assert_array_equal(variable.values, src.read(1), err_msg=tif.name)
            assert variable.dtype == src.dtypes[0]
    assert products.rio.crs is not None


def test_api_regions_equal_regions_csv(case: Path, reference: Any) -> None:
    ds = open_pipeline(case).regions(chunk_size=23)
    csv = pd.read_csv(reference.output_dir / "regions.csv", dtype={"region_id": str})
    assert list(ds["region_id"].values) == list(csv["region_id"])
    checked = 0
    for q in QUANTITIES:
        if q.name not in ds or q.kind == "label":
            continue
        epochs = EPOCHS if q.per_epoch and not q.span else (None,)
        for e in epochs:
            if column_name(q, e, EPOCHS) not in csv:  # a per-epoch quantity present at the last epoch only
                assert e is not None and np.isnan(ds[q.name].sel(epoch=e).values).all()
                continue
            values = ds[q.name].sel(epoch=e).values if e is not None else ds[q.name].values
            expected = csv[column_name(q, e, EPOCHS)].to_numpy(float)
            np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-9 * np.nanmax(np.abs(expected), initial=0), err_msg=q.name)
            checked += 1
        assert ds[q.name].attrs["units"] == q.unit and ds[q.name].attrs["kind"] == q.kind
    assert checked > 60
    assert ds["coverage_pct"].dims == ("region", "epoch") and ds["total_sink_t_c_per_yr"].dims == ("region",)


def test_api_inputs_dask_equal_numpy(case: Path) -> None:
    """Lazy inputs with odd chunks equal the files read whole (the xarray-spatial habit: numpy == dask)."""
    inputs = open_pipeline(case).inputs(chunk_size=17)
    assert inputs["landcover"].chunks[1][0] == 17
    with rasterio.open(case.parent / "lc_2025.tif") as src:
        lc = src.read(1).astype(np.int32)
    np.testing.assert_array_equal(inputs["landcover"].sel(epoch=2025).values, np.where(lc == 0, -1, lc))
    with rasterio.open(case.parent / "gsv_2020.tif") as src:
        gsv = src.read(1)
    np.testing.assert_array_equal(inputs["growing_stock"].sel(epoch=2020).values, np.where(gsv == -9999, np.nan, gsv))
    assert inputs["growing_stock"].attrs["units"] == ROLES["growing_stock"].unit
    assert inputs.rio.crs is not None
    np.testing.assert_allclose(inputs["x"].values[:2], [50.0, 150.0])  # pixel centres from the transform
    np.testing.assert_allclose(inputs["y"].values[:2], [3_005_950.0, 3_005_850.0])


def test_coarse_layer_reads_as_its_warp_and_pet_on_its_grid(case: Path) -> None:
    config = load_pipeline(case)
    grid, sources = plan_layers(config)
    band = sources[("mean_temperature", None)]
    assert isinstance(band, CoarseBand)
    spec = config.layers["mean_temperature"]
    direct = LayerSource.plan("mean_temperature", spec.static, grid, nodata=spec.nodata, resampling="bilinear")
    pet = sources[("pet_thornthwaite", None)]
    for window in grid.windows(25):
        a, va = direct.read(window)
        b, vb = band.read(window)
        np.testing.assert_array_equal(va, vb)
        np.testing.assert_array_equal(a[va], b[vb])
        # PET aligned from the layer's grid against PET from the aligned temperature: same within 1 %
        p, vp = pet.read(window)
        per_pixel = thornthwaite_pet_mm_per_yr(np.where(va, a, np.nan), grid.latitude_deg(window))
        ok = vp & va
        np.testing.assert_allclose(p[ok], per_pixel[ok], rtol=0.01)


def test_pet_grid_pixel_is_the_per_pixel_kernel(case: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(case.read_text(encoding="utf-8"))
    doc["carbon"]["pet_grid"] = "pixel"
    other = case.parent / "pixel.yaml"
    other.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    _, sources = plan_layers(load_pipeline(other))
    assert ("pet_thornthwaite", None) not in sources and isinstance(sources[("mean_temperature", None)], LayerSource)


def test_invest_in_a_pipeline_equals_the_cli(case: Path, reference: Any) -> None:
    folder = case.parent
    cli = invest_storage(folder / "pools.csv", [str(folder / "lc_2020.tif"), str(folder / "lc_2025.tif")],
                         regions=folder / "county.gpkg", id_field="id").set_index("region_id")
    county = reference.tables["county"].set_index("region_id")
    for pool in ("c_above", "c_below", "c_soil", "c_dead"):
        np.testing.assert_allclose(county[f"invest_{pool}_change_t_c_2020_2025"], cli.loc[county.index, f"{pool}_change_t"], rtol=1e-9)
        np.testing.assert_allclose(county[f"invest_{pool}_t_c_2025"], cli.loc[county.index, f"{pool}_t_1"], rtol=1e-9)
    np.testing.assert_allclose(county["invest_total_change_t_c_2020_2025"], cli.loc[county.index, "total_change_t"], rtol=1e-9)


def test_weighted_histogram_by_hand() -> None:
    # a 2 × 3 window; the region covers the right half of column 0 and all of column 1 (x from 0.5 to 2)
    pieces = window_pieces([box(0.5, 0, 2, 2)], 2, 3)
    codes = np.array([[1, 2, 1], [2, 2, -1]])
    np.testing.assert_allclose(weighted_histograms(pieces, codes, 3), [[0.0, 0.5, 2.5]])
    # per-row weights (pixel areas): row 0 weighs 10, row 1 weighs 100
    np.testing.assert_allclose(weighted_histograms(pieces, codes, 3, row_weight=np.array([10.0, 100.0])), [[0, 5, 160]])


@pytest.mark.parametrize("seed", range(5))
def test_weighted_histograms_equal_dense_coverage(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = 37, 41
    geoms = [shapely.Polygon(rng.uniform(-5, 45, (6, 2))).convex_hull for _ in range(4)]
    pieces = window_pieces(geoms, h, w)
    codes = rng.integers(-1, 12, (h, w))
    cell_weight = rng.uniform(1, 2, (h, w))
    expected = np.array([[(coverage_fraction(pieces, r) * (codes == k) * cell_weight).sum() for k in range(12)] for r in range(4)])
    np.testing.assert_allclose(weighted_histograms(pieces, codes, 12, cell_weight=cell_weight), expected, atol=1e-9)


def test_latitude_lattice_is_close_and_chunk_invariant() -> None:
    with rasterio.open(sorted((ROOT / "rasters" / "china_sample").glob("synthetic_landcover_2020_r0c0.tif"))[0]) as src:
        grid = GridSpec(src.crs.to_wkt(), src.transform, src.height, src.width)
    worst = 0.0
    for window in (Window(0, 0, 300, 300), Window(1200, 900, 257, 263)):
        worst = max(worst, float(np.abs(grid.latitude_deg(window) - grid.latitude_deg(window, lattice=1)).max()))
    assert worst < 1e-5
    whole = grid.latitude_deg(Window(0, 0, 64, 64))
    np.testing.assert_array_equal(grid.latitude_deg(Window(13, 21, 30, 17)), whole[13:43, 21:38])


def test_role_table_in_readme_matches_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert role_table_markdown() in readme, "regenerate the README's role table with sinkmap.engine.roles.role_table_markdown()"


def test_workers_check_their_input_paths(tmp_path: Path) -> None:
    present = tmp_path / "a.tif"
    present.write_bytes(b"")
    assert _missing_paths([str(present), str(tmp_path / "b.tif"), "/vsicurl/https://example.org/x.tif"]) == [str(tmp_path / "b.tif")]


@pytest.mark.slow
def test_local_cluster_without_shared_folders_gives_the_threaded_numbers(case: Path, reference: Any, tmp_path: Path) -> None:
    """Worker processes (each with its own scratch folder) send sums and raster windows back to the client."""
    import dask

    with dask.config.set({"temporary-directory": str(tmp_path / "workers")}):
        run = run_pipeline(load_pipeline(case), workers=2, chunk_size=23, output_dir=tmp_path / "run")
    _assert_tables_close(_csv(reference.output_dir), _csv(run.output_dir))
    for tif in (reference.output_dir / "rasters").glob("*.tif"):
        with rasterio.open(tif) as x, rasterio.open(run.output_dir / "rasters" / tif.name) as y:
            np.testing.assert_array_equal(x.read(1), y.read(1))
    assert not any(p.suffix == ".tif" for p in (tmp_path / "workers").rglob("*"))


def test_pipeline_object_runs_like_the_cli(case: Path, tmp_path: Path, reference: Any) -> None:
    p = Pipeline(load_pipeline(case))
    run = p.run(tmp_path / "api-run", chunk_size=16)
    _assert_tables_close(_csv(reference.output_dir), _csv(run.output_dir))
    assert re.match(r"\d", str(run.manifest["epochs"][0]))


def test_units_and_labels_come_from_the_registry(reference: Any) -> None:
    """The manifest describes every published column; exports take units from it, not from column names."""
    from sinkmap.apps.export import column_label

    columns = reference.manifest["columns"]
    table_columns = set(reference.tables["county"].columns)
    assert {c for c in columns} <= table_columns
    assert columns["coverage_pct_2025"] == {
        "unit": "%", "kind": "density", "label": "forest coverage (forest area / region's full land area)", "epoch": 2025
    }
    assert columns["forest_sink_t_c_per_yr"]["kind"] == "total"
    assert column_label("karst_sink_density_t_c_per_km2_yr", columns).unit == "t C/km²/yr"
    assert column_label("forest_carbon_density_t_c_per_ha_2020", columns).unit == "t C/ha"
    assert column_label("invest_total_change_t_c_2020_2025", columns).en == "InVEST change of total storage 2020–2025"


def test_forest_type_per_epoch_is_used(case: Path, reference: Any, tmp_path: Path) -> None:
    """A forest_type layer given per epoch counts like a static one (it was once ignored: all stands 'mixed')."""
    doc = yaml.safe_load(case.read_text(encoding="utf-8"))
    doc["layers"]["forest_type"] = {"paths": {e: "ftype.tif" for e in EPOCHS}}
    other = case.parent / "ftype_per_epoch.yaml"
    other.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    run = run_pipeline(load_pipeline(other), output_dir=tmp_path / "run", chunk_size=16)
    _assert_tables_close(_csv(reference.output_dir), _csv(run.output_dir))
