"""Regional-aggregation benchmark: sinkmap's exact zonal sums against the raw-read limit and other tools.

``make bench`` runs this script. It generates (once, cached in ``bench/data/``, git-ignored) a land-cover raster
(uint8, CLCD-like codes, nodata 0) and a value raster (float32, nodata −9999) on the same 30 m grid in an Albers
equal-area projection over southern China, both tiled 512 × 512 and DEFLATE-compressed, plus two region sets (a
Voronoi tessellation of random seeds whose shared edges are perturbed by midpoint displacement, so that they
have many vertices like real administrative boundaries, and still tile the extent exactly). Then, in one run and
each in its own subprocess (so peak memory is per tool), it measures the same job — per-region forest area
(land cover code 2) and the sum of the value raster:

* ``raw read``: both rasters read fully in windows by 2 threads — the limit any tool reading them has;
* ``baseline``: rasterize-per-window + ``np.bincount`` with centre-of-pixel boundaries (not exact; reference);
* ``sinkmap``: :func:`sinkmap.apps.zonal.zonal_stats` with exact boundaries, on 1 and 2 threads, and with
  ``workers=1`` / ``workers=2`` (a dask.distributed LocalCluster of worker processes that sinkmap starts, as
  ``sinkmap run --workers N`` does; its start-up is in the time and also reported alone);
* ``exactextract``: its built-in ``sum`` operation over the value raster and over a forest mask made on the fly
  from the land cover (a pre-masked source: the masking is inside the timed run);
* ``rasterstats``: ``zonal_stats`` with ``categorical=True`` on the land cover and ``sum`` on the values (its
  own masking, centre-of-pixel boundaries, not exact).

A tool whose run would take longer than ``--time-limit`` seconds (estimated from a probe on a crop) is measured
on a crop and its throughput extrapolated; such rows are labelled. It prints throughput (Mpx/s of grid pixels,
both layers read), ratio to the raw read, peak memory (RSS summed over the tool's process tree, sampled every
20 ms, and at least the largest single process's high-water mark), checks the tools' results against each other,
profiles sinkmap's window function (read vs boundary pieces vs weighted sums), checks memory growth when the
raster doubles, and prints verdicts against the targets of issue 5. Results go to ``bench/results/latest.txt``
and ``latest.json``.

Usage::

    .venv/bin/python bench/bench_zonal.py                 # the full run (20000 × 20000)
    .venv/bin/python bench/bench_zonal.py --size 4000     # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"

# Albers equal-area conic for China (the usual 25°N / 47°N standard parallels, central meridian 105°E).
ALBERS = (
    "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
)
PIXEL_M = 30.0
ORIGIN = (
    -300_000.0,
    3_300_000.0,
)  # top-left corner, metres: about 102°E, 29.5°N (Guizhou / Yunnan)
TILE = 512
LC_NODATA = 0
VAL_NODATA = -9999.0
FOREST = 2
# the job: forest area (a class of the land cover) and the value sum; nothing else is computed
JOB_STATS = {"lc": (), "val": ("sum",)}
DATA_VERSION = 1  # bump when the generator changes, to invalidate cached data

TARGET_RATIO = 0.70
TARGET_PEAK_MIB = 1024.0
TARGET_GROWTH = 0.10
TARGET_REL = 1e-6


# ----------------------------------------------------------------------------------------------------------
# Data generation (deterministic, seeded)
# ----------------------------------------------------------------------------------------------------------


def _smooth(rng_seed: int, rows: int, cols: int, step: int) -> Callable[[int, int], np.ndarray]:
    """A smooth random field (standard normal nodes every ``step`` pixels, bilinear between them).

    Returns ``field(row0, n_rows)`` giving rows ``row0 … row0 + n_rows − 1`` (float32), so strips can be made one
    at a time and the result does not depend on the strip size.
    """
    nodes = (
        np.random.default_rng(rng_seed)
        .standard_normal((rows // step + 2, cols // step + 2))
        .astype(np.float32)
    )
    x = (np.arange(cols, dtype=np.float64) + 0.5) / step
    j0 = np.floor(x).astype(np.intp)
    fx = (x - j0).astype(np.float32)

    def field(row0: int, n_rows: int) -> np.ndarray:
        y = (np.arange(row0, row0 + n_rows, dtype=np.float64) + 0.5) / step
        i0 = np.floor(y).astype(np.intp)
        fy = (y - i0).astype(np.float32)[:, None]
        top = nodes[i0][:, j0] * (1 - fx) + nodes[i0][:, j0 + 1] * fx
        bottom = nodes[i0 + 1][:, j0] * (1 - fx) + nodes[i0 + 1][:, j0 + 1] * fx
        return top * (1 - fy) + bottom * fy

    return field


def grid_transform(rows: int, cols: int) -> Any:
    from rasterio.transform import from_origin

    return from_origin(ORIGIN[0], ORIGIN[1], PIXEL_M, PIXEL_M)


def generate_rasters(
    folder: Path, rows: int, cols: int, *, seed: int = 20240605
) -> tuple[Path, Path]:
    """Write ``lc.tif`` (uint8 land cover, CLCD codes 1–9, nodata 0) and ``val.tif`` (float32, nodata −9999).

    Land cover comes from thresholds on smooth random fields (forest ≈ 45 %), with a nodata corner and nodata
    "cloud" blobs; values are a growing-stock-like field (m³/ha, higher in forest) with per-pixel noise, rounded
    to 0.1 (as real products store them), nodata where the land cover is nodata and in a few more blobs.
    """
    import rasterio
    from rasterio.windows import Window as RioWindow

    folder.mkdir(parents=True, exist_ok=True)
    lc_path, val_path = folder / "lc.tif", folder / "val.tif"
    stamp = folder / "params.json"
    params = {"rows": rows, "cols": cols, "seed": seed, "version": DATA_VERSION, "tile": TILE}
    if (
        lc_path.exists()
        and val_path.exists()
        and stamp.exists()
        and json.loads(stamp.read_text()) == params
    ):
        return lc_path, val_path
    t0 = time.perf_counter()
    big = _smooth(seed + 1, rows, cols, 1500)
    mid = _smooth(seed + 2, rows, cols, 160)
    small = _smooth(seed + 3, rows, cols, 24)
    other = _smooth(seed + 4, rows, cols, 400)
    cloud = _smooth(seed + 5, rows, cols, 300)
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": 1,
        "crs": ALBERS,
        "transform": grid_transform(rows, cols),
        "tiled": True,
        "blockxsize": TILE,
        "blockysize": TILE,
        "compress": "DEFLATE",
        "num_threads": "ALL_CPUS",
        "bigtiff": "IF_SAFER",
    }
    col_index = np.arange(cols)
    with (
        rasterio.open(
            lc_path.with_suffix(".tmp.tif"), "w", dtype="uint8", nodata=LC_NODATA, **profile
        ) as lc_dst,
        rasterio.open(
            val_path.with_suffix(".tmp.tif"), "w", dtype="float32", nodata=VAL_NODATA, **profile
        ) as val_dst,
    ):
        for row0 in range(0, rows, TILE):
            n = min(TILE, rows - row0)
            rng = np.random.default_rng([seed, row0])
            s = 0.6 * big(row0, n) + 0.3 * mid(row0, n) + 0.25 * small(row0, n)
            t = other(row0, n)
            lc = np.full((n, cols), 1, dtype=np.uint8)  # cropland
            lc[t > 0.6] = 4  # grassland
            lc[(t < -0.9) & (s < 0.2)] = 8  # impervious
            lc[s > -0.05] = 3  # shrub
            lc[s > 0.1] = FOREST
            lc[(s < -1.0) & (t > 0.3)] = 5  # water
            lc[(t > 1.6) & (s < 0.5)] = 9  # wetland
            lc[(t < -1.7)] = 7  # barren
            rows_idx = np.arange(row0, row0 + n)[:, None]
            corner = (rows_idx + col_index[None, :]) < 0.06 * (rows + cols)
            clouds = cloud(row0, n) > 2.0
            lc[corner | clouds] = LC_NODATA
            noise = rng.standard_normal((n, cols), dtype=np.float32)
            val = np.where(lc == FOREST, 120 + 60 * s + 25 * noise, 8 + 4 * np.abs(noise)).astype(
                np.float32
            )
            val = np.round(np.maximum(val, 0), 1).astype(np.float32)
            val[(lc == LC_NODATA) | (cloud(row0, n) < -2.3)] = VAL_NODATA
            window = RioWindow(0, row0, cols, n)
            lc_dst.write(lc, 1, window=window)
            val_dst.write(val, 1, window=window)
    lc_path.with_suffix(".tmp.tif").replace(lc_path)
    val_path.with_suffix(".tmp.tif").replace(val_path)
    stamp.write_text(json.dumps(params))
    print(
        f"  generated {rows} x {cols} rasters in {time.perf_counter() - t0:.0f} s "
        f"({(lc_path.stat().st_size + val_path.stat().st_size) / 2**20:.0f} MiB on disk)",
        flush=True,
    )
    return lc_path, val_path


def _displace(
    line: np.ndarray, rng: np.random.Generator, spacing: float, roughness: float
) -> np.ndarray:
    """Midpoint displacement of a 2-point line until its pieces are shorter than ``spacing`` (fixed ends)."""
    points = line
    length = float(np.hypot(*(line[-1] - line[0])))
    amplitude = roughness * length
    while True:
        seg = points[1:] - points[:-1]
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        if seg_len.max() <= spacing:
            return points
        normal = np.column_stack([-seg[:, 1], seg[:, 0]]) / np.maximum(seg_len, 1e-9)[:, None]
        mid = (
            0.5 * (points[1:] + points[:-1])
            + normal * (amplitude * rng.uniform(-1, 1, seg.shape[0]))[:, None]
        )
        out = np.empty((points.shape[0] + mid.shape[0], 2))
        out[0::2] = points
        out[1::2] = mid
        points = out
        amplitude *= 0.55


def generate_regions(
    folder: Path, n: int, rows: int, cols: int, *, seed: int = 7, spacing_m: float = 150.0
) -> Path:
    """A tessellation of the raster extent into ``n`` regions with rough, many-vertex shared boundaries.

    Voronoi cells of ``n`` uniform random seeds; every Voronoi edge inside the extent is replaced by a
    midpoint-displacement curve (vertex spacing ≤ ``spacing_m``), the resulting line network is noded and
    polygonized, and each face goes to the seed whose Voronoi cell it overlaps most. Neighbours share their
    boundaries exactly and the regions cover the extent without gaps, as administrative units do.
    """
    import geopandas as gpd
    import shapely

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"regions_{n}.gpkg"
    stamp = folder / f"regions_{n}.json"
    params = {
        "n": n,
        "rows": rows,
        "cols": cols,
        "seed": seed,
        "spacing_m": spacing_m,
        "version": DATA_VERSION,
    }
    if path.exists() and stamp.exists() and json.loads(stamp.read_text()) == params:
        return path
    t0 = time.perf_counter()
    left, top = ORIGIN
    right, bottom = left + cols * PIXEL_M, top - rows * PIXEL_M
    extent = shapely.box(left, bottom, right, top)
    rng = np.random.default_rng([seed, n])
    seeds = np.column_stack([rng.uniform(left, right, n), rng.uniform(bottom, top, n)])
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=extent)
    )
    cells = shapely.intersection(cells, extent)
    # Interior edges of the tessellation, each once, merged into chains between junctions.
    frame = shapely.boundary(extent)
    chains = shapely.get_parts(shapely.line_merge(shapely.union_all(shapely.boundary(cells))))
    lines = []
    for chain in chains:
        coords = shapely.get_coordinates(chain)
        if shapely.distance(shapely.points(coords), frame).max() < 1e-6:
            continue  # along the extent's edge: kept straight
        pieces = [
            _displace(coords[i : i + 2], rng, spacing_m, 0.12) for i in range(len(coords) - 1)
        ]
        lines.append(
            shapely.linestrings(np.concatenate([p[:-1] for p in pieces] + [pieces[-1][-1:]]))
        )
    # Perturbed chains can wander past the extent near its edge; the extent's boundary closes the faces.
    network = shapely.union_all([*lines, frame])
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(network)))
    faces = shapely.intersection(faces, extent)
    faces = faces[shapely.area(faces) > 0]
    tree = shapely.STRtree(cells)
    owner = np.empty(faces.size, dtype=np.int64)
    for i, face in enumerate(faces):
        cand = tree.query(face)
        owner[i] = cand[np.argmax(shapely.area(shapely.intersection(face, cells[cand])))]
    geoms = [shapely.union_all(faces[owner == k]) for k in range(n)]
    gdf = gpd.GeoDataFrame(
        {"region_id": [f"R{k:04d}" for k in range(n)]}, geometry=geoms, crs=ALBERS
    )
    gdf = gdf[~gdf.geometry.is_empty].reset_index(drop=True)
    gdf["geometry"] = shapely.make_valid(gdf.geometry.values)
    path.unlink(missing_ok=True)
    gdf.to_file(path, driver="GPKG")
    stamp.write_text(json.dumps(params))
    n_vertices = int(shapely.get_num_coordinates(gdf.geometry.values).sum())
    print(
        f"  generated {len(gdf)} regions ({n_vertices:,} vertices; union/extent area "
        f"{shapely.union_all(gdf.geometry.values).area / extent.area:.9f}) in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    return path


def stretch_regions(path: Path, folder: Path, factor: float) -> Path:
    """The regions of ``path`` stretched by ``factor`` east-west about the extent's west edge."""
    import geopandas as gpd
    import shapely

    out = folder / f"{path.stem}_x{factor:g}.gpkg"
    gdf = gpd.read_file(path)
    gdf["geometry"] = [
        shapely.affinity.scale(g, xfact=factor, yfact=1.0, origin=(ORIGIN[0], ORIGIN[1]))
        for g in gdf.geometry
    ]
    out.unlink(missing_ok=True)
    gdf.to_file(out, driver="GPKG")
    return out


# ----------------------------------------------------------------------------------------------------------
# Tools. Each runs in its own subprocess (``--run-tool``) and returns a result dict; per-region results are
# written to a CSV beside the data so that the parent can compare the tools.
# ----------------------------------------------------------------------------------------------------------


def _windows(
    rows: int, cols: int, size: int, crop: tuple[int, int] | None = None
) -> list[tuple[int, int, int, int]]:
    r_max, c_max = crop or (rows, cols)
    return [
        (r, c, min(size, r_max - r), min(size, c_max - c))
        for r in range(0, r_max, size)
        for c in range(0, c_max, size)
    ]


def _regions(job: dict[str, Any]) -> Any:
    """The job's regions (clipped to the crop, if any) as a GeoDataFrame in the rasters' CRS."""
    import geopandas as gpd
    import shapely

    gdf = gpd.read_file(job["regions"])
    if job.get("crop"):
        r, c = job["crop"]
        left, top = ORIGIN
        box = shapely.box(left, top - r * PIXEL_M, left + c * PIXEL_M, top)
        gdf["geometry"] = shapely.intersection(gdf.geometry.values, box)
        gdf = gdf[~gdf.geometry.is_empty & (gdf.geometry.area > 0)].reset_index(drop=True)
        gdf["geometry"] = gdf.geometry.make_valid()
        gdf = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])].reset_index(drop=True)
    return gdf


def tool_raw(job: dict[str, Any]) -> dict[str, Any]:
    """Read both rasters fully, window by window, with ``threads`` threads (one dataset handle per thread)."""
    import rasterio
    from rasterio.windows import Window as RioWindow

    local = threading.local()

    def read(w: tuple[int, int, int, int]) -> int:
        if not hasattr(local, "ds"):
            local.ds = (rasterio.open(job["lc"]), rasterio.open(job["val"]))
        window = RioWindow(w[1], w[0], w[3], w[2])
        a = local.ds[0].read(1, window=window)
        b = local.ds[1].read(1, window=window)
        return int(a.size + b.size)

    windows = _windows(job["rows"], job["cols"], job["chunk"], job.get("crop"))
    t0 = time.perf_counter()
    with ThreadPoolExecutor(job["threads"]) as pool:
        n = sum(pool.map(read, windows))
    seconds = time.perf_counter() - t0
    assert n == 2 * sum(w[2] * w[3] for w in windows)
    return {"seconds": seconds}


def tool_baseline(job: dict[str, Any]) -> dict[str, Any]:
    """Rasterize the regions per window (centre of pixel) and ``np.bincount`` forest pixels and values."""
    import rasterio
    import shapely
    from rasterio.features import rasterize
    from rasterio.windows import Window as RioWindow

    gdf = _regions(job)
    geoms = gdf.geometry.values
    tree = shapely.STRtree(geoms)
    n = len(gdf)
    local = threading.local()
    transform = grid_transform(job["rows"], job["cols"])

    def one(w: tuple[int, int, int, int]) -> np.ndarray:
        if not hasattr(local, "ds"):
            local.ds = (rasterio.open(job["lc"]), rasterio.open(job["val"]))
        window = RioWindow(w[1], w[0], w[3], w[2])
        lc = local.ds[0].read(1, window=window)
        val = local.ds[1].read(1, window=window)
        wt = rasterio.windows.transform(window, transform)
        x0, y0 = wt * (0, 0)
        x1, y1 = wt * (w[3], w[2])
        hits = tree.query(shapely.box(x0, y1, x1, y0), predicate="intersects")
        out = np.zeros((n, 2))
        if hits.size == 0:
            return out
        zone = rasterize(
            zip(geoms[hits], hits + 1, strict=True),
            out_shape=lc.shape,
            transform=wt,
            fill=0,
            dtype="int32",
        ).ravel()
        forest = (lc == FOREST).ravel()
        v = val.ravel()
        ok = v != VAL_NODATA
        out[:, 0] = np.bincount(zone[forest], minlength=n + 1)[1:] * PIXEL_M * PIXEL_M
        out[:, 1] = np.bincount(zone[ok], weights=v[ok], minlength=n + 1)[1:]
        return out

    windows = _windows(job["rows"], job["cols"], job["chunk"], job.get("crop"))
    t0 = time.perf_counter()
    with ThreadPoolExecutor(job["threads"]) as pool:
        total = sum(pool.map(one, windows))
    seconds = time.perf_counter() - t0
    _save(job, gdf["region_id"], total[:, 0], total[:, 1])
    return {"seconds": seconds}


def tool_sinkmap(job: dict[str, Any]) -> dict[str, Any]:
    """``sinkmap.apps.zonal.zonal_stats`` on threads, or with ``workers=N`` and no scheduler: a LocalCluster of N
    single-threaded worker processes started by sinkmap itself (what ``sinkmap run --workers N`` does). The
    cluster's start-up is inside the timed call; it is also measured alone beforehand and reported."""
    try:
        from sinkmap.apps.zonal import zonal_stats
    except ModuleNotFoundError:  # a candidate from before the engine rebuild (sinkmap.zonal)
        from sinkmap.zonal import zonal_stats  # type: ignore[no-redef]

    gdf = _regions(job)
    layers = {"lc": job["lc"], "val": job["val"]}
    classes = {"forest": ("lc", [FOREST])}
    extra: dict[str, Any] = {}
    if job.get("cluster"):
        import logging

        from distributed import LocalCluster

        t0 = time.perf_counter()
        with LocalCluster(
            n_workers=job["workers"],
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ):
            extra["startup_seconds"] = time.perf_counter() - t0
        extra["workers"] = job["workers"]
        kwargs: dict[str, Any] = {"workers": job["workers"]}
    else:
        kwargs = {"scheduler": "threads", "workers": job["workers"]}
    t0 = time.perf_counter()
    table = zonal_stats(
        gdf, layers, id_field="region_id", classes=classes, stats=JOB_STATS, chunk_size=job["chunk"], **kwargs
    )
    seconds = time.perf_counter() - t0
    _save(job, table.index, table["forest_area_m2"].to_numpy(), table["val_sum"].to_numpy())
    return {"seconds": seconds, **extra}


class _ForestMask:
    """An exactextract raster source: the land cover read through rasterio and masked to forest on the fly."""

    def __new__(cls, path: str) -> Any:
        from exactextract.raster import RasterioRasterSource

        class ForestMask(RasterioRasterSource):  # type: ignore[misc]
            def nodata_value(self) -> int:
                return 255

            def read_window(self, x0: int, y0: int, nx: int, ny: int) -> np.ndarray:
                from rasterio.windows import Window as RioWindow

                lc = self.ds.read(1, window=RioWindow(x0, y0, nx, ny))
                out = (lc == FOREST).view(np.uint8)
                out[lc == LC_NODATA] = 255
                return out

        return ForestMask(path, name="forest")


def tool_exactextract(job: dict[str, Any]) -> dict[str, Any]:
    """exactextract's built-in ``sum`` over a forest mask (made while reading) and over the values."""
    from exactextract import exact_extract
    from exactextract.raster import RasterioRasterSource

    gdf = _regions(job)
    t0 = time.perf_counter()
    sources = [_ForestMask(job["lc"]), RasterioRasterSource(job["val"], name="val")]
    table = exact_extract(
        sources,
        gdf,
        ["sum"],
        include_cols=["region_id"],
        output="pandas",
        strategy=job.get("strategy", "feature-sequential"),
    )
    seconds = time.perf_counter() - t0
    _save(
        job,
        table["region_id"],
        table["forest_sum"].to_numpy() * PIXEL_M * PIXEL_M,
        table["val_sum"].to_numpy(),
    )
    return {"seconds": seconds}


def tool_rasterstats(job: dict[str, Any]) -> dict[str, Any]:
    """rasterstats ``zonal_stats``: ``categorical`` counts on the land cover, ``sum`` on the values."""
    from rasterstats import zonal_stats

    gdf = _regions(job)
    t0 = time.perf_counter()
    cats = zonal_stats(gdf, job["lc"], categorical=True, nodata=LC_NODATA)
    sums = zonal_stats(gdf, job["val"], stats=["sum"], nodata=VAL_NODATA)
    seconds = time.perf_counter() - t0
    forest = np.array([c.get(FOREST, 0) for c in cats], dtype=np.float64) * PIXEL_M * PIXEL_M
    values = np.array([s["sum"] or 0.0 for s in sums], dtype=np.float64)
    _save(job, gdf["region_id"], forest, values)
    return {"seconds": seconds}


def _save(job: dict[str, Any], ids: Any, forest_m2: np.ndarray, value_sum: np.ndarray) -> None:
    import pandas as pd

    if job.get("out"):
        frame = pd.DataFrame(
            {"forest_area_m2": forest_m2, "val_sum": value_sum},
            index=pd.Index(list(ids), name="id"),
        )
        frame.to_csv(job["out"], float_format="%.17g")


TOOLS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "raw": tool_raw,
    "baseline": tool_baseline,
    "sinkmap": tool_sinkmap,
    "exactextract": tool_exactextract,
    "rasterstats": tool_rasterstats,
}


def tool_profile(job: dict[str, Any]) -> dict[str, Any]:
    """Where sinkmap's time goes: ``zonal_stats`` on the synchronous scheduler (one thread), with timers around
    the three parts of its window function — raster reads (``LayerSource.read``), boundary pieces
    (``ZoneIndex.pieces``: clip + edge pieces) and coverage-weighted sums (``weighted_sums``: ``np.add.reduceat``
    and the row tails) — the rest being masking (``np.where``/``np.isin``), scheduling and set-up. A second run
    under cProfile names the costliest functions."""
    import cProfile
    import io
    import pstats

    import sinkmap.apps.zonal as zonal
    from sinkmap.engine.regions import ZoneIndex
    from sinkmap.engine.sources import LayerSource

    timers = {"read": 0.0, "pieces": 0.0, "weighted_sums": 0.0}
    calls = {"read": 0, "pieces": 0, "weighted_sums": 0}

    def timed(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timers[name] += time.perf_counter() - t
                calls[name] += 1

        return wrapper

    # the weighted-sum functions the engine uses (zonal_stats runs on sinkmap.engine.job; an older or patched
    # sinkmap may call them from sinkmap.apps.zonal)
    import sinkmap.engine.job as engine_job

    holder = engine_job if hasattr(engine_job, "weighted_sums_rows") else zonal
    sum_names = [n for n in ("weighted_sums", "weighted_sums_rows") if hasattr(holder, n)]
    originals = (LayerSource.read, ZoneIndex.pieces, [getattr(holder, n) for n in sum_names])
    LayerSource.read = timed(LayerSource.read, "read")  # type: ignore[method-assign]
    ZoneIndex.pieces = timed(ZoneIndex.pieces, "pieces")  # type: ignore[method-assign]
    for name in sum_names:
        setattr(holder, name, timed(getattr(holder, name), "weighted_sums"))
    gdf = _regions(job)
    layers = {"lc": job["lc"], "val": job["val"]}
    classes = {"forest": ("lc", [FOREST])}
    run = dict(
        id_field="region_id", classes=classes, stats=JOB_STATS, chunk_size=job["chunk"], scheduler="synchronous"
    )
    t0 = time.perf_counter()
    zonal.zonal_stats(gdf, layers, **run)  # type: ignore[arg-type]
    total = time.perf_counter() - t0
    LayerSource.read, ZoneIndex.pieces = originals[0], originals[1]  # type: ignore[method-assign]
    for name, fn in zip(sum_names, originals[2], strict=True):
        setattr(holder, name, fn)
    profiler = cProfile.Profile()
    profiler.enable()
    zonal.zonal_stats(gdf, layers, **run)  # type: ignore[arg-type]
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(14)
    lines = [ln for ln in stream.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return {
        "seconds": total,
        "windows": calls["read"]
        // len(layers),  # windows that touch a region (the others are not read)
        "windows_total": calls["pieces"],
        "timers": timers,
        "cprofile_top": [ln.rstrip() for ln in lines[start : start + 15]],
    }


TOOLS["profile"] = tool_profile


# ----------------------------------------------------------------------------------------------------------
# Driver: subprocesses, memory sampling, table, verdicts.
# ----------------------------------------------------------------------------------------------------------


def _tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _busy_cpu_s() -> float:
    """CPU seconds used so far by the whole machine (all cores, every process)."""
    import psutil

    t = psutil.cpu_times()
    return float(
        sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
    )


def _own_cpu_s() -> float:
    """CPU seconds of this process and of its reaped children (with theirs)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


QUIET = {"max_wait_s": 0.0, "threshold": 0.25}  # set from --wait-quiet


def wait_for_quiet() -> float:
    """Wait (up to QUIET["max_wait_s"]) until other processes use less than QUIET["threshold"] cores, measured
    over 2 s; return what they used in the last measurement."""
    waited, others = 0.0, 0.0
    while True:
        b0, o0 = _busy_cpu_s(), _own_cpu_s()
        time.sleep(2.0)
        others = max(0.0, (_busy_cpu_s() - b0) - (_own_cpu_s() - o0)) / 2.0
        waited += 2.0
        if others < QUIET["threshold"] or waited >= QUIET["max_wait_s"]:
            return others


def run_tool(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one tool in a fresh subprocess; return its result with the peak memory of its process tree and the
    CPU other processes used meanwhile (``others``, in cores: the machine is shared)."""
    import psutil

    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-tool", json.dumps(job)]
    if QUIET["max_wait_s"] > 0:
        wait_for_quiet()
    load = os.getloadavg()[0]
    busy0, own0, t0 = _busy_cpu_s(), _own_cpu_s(), time.perf_counter()
    child = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    peak = 0
    proc = psutil.Process(child.pid)
    while child.poll() is None:
        peak = max(peak, _tree_rss(proc))
        time.sleep(0.02)
    out, err = child.communicate()
    elapsed = time.perf_counter() - t0
    others = max(0.0, (_busy_cpu_s() - busy0) - (_own_cpu_s() - own0)) / elapsed
    if child.returncode != 0:
        raise RuntimeError(f"tool {job['tool']} failed ({child.returncode}):\n{err[-4000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["tree_peak_mib"] = peak / 2**20
    result["maxrss_mib"] = result.pop("maxrss_bytes", 0) / 2**20
    result["peak_mib"] = max(result["tree_peak_mib"], result["maxrss_mib"])
    result["load_before"] = load
    result["others"] = others
    return result


def _self_hwm_bytes() -> int:
    """Peak RSS of this process since its ``exec`` (``VmHWM``).

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries that over ``execve`` from the process that spawned
    us, so a child of a big parent would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _run_in_child(job: dict[str, Any]) -> None:
    result = TOOLS[job["tool"]](job)
    # the largest of this process and its (reaped) worker processes; workers inherit at most our own size
    result["maxrss_bytes"] = max(
        _self_hwm_bytes(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    )
    print(json.dumps(result))


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)


def _row(report: Report, r: dict[str, Any], raw_mpx: float | None) -> None:
    ratio = "" if raw_mpx is None else f"{r['mpx_s'] / raw_mpx:6.2f}"
    report(
        f"  {r['label']:<36} {r['regions']:>7} {r['pixels'] / 1e6:>7.0f} {r['seconds']:>7.2f} {r['mpx_s']:>7.1f} "
        f"{ratio:>6} {r['peak_mib']:>6.0f} {r.get('others', 0.0):>6.2f}  {r.get('note', '')}"
    )


# A region with (almost) no valid data has sums near 0, where relative differences say nothing: differences are
# taken relative to max(|reference|, one full pixel's worth), i.e. 900 m² of forest or a value sum of 100 (a
# typical forest pixel's value). Float64 rounding in the row tails scales with a window row's sum, not with the
# region's, so a sliver region's sum can differ by ~1e-8 of itself between two exact implementations.
_FLOOR = {"forest_area_m2": PIXEL_M * PIXEL_M, "val_sum": 100.0}


def _compare(a: Path, b: Path) -> dict[str, float]:
    import pandas as pd

    x = pd.read_csv(a, index_col=0)
    y = pd.read_csv(b, index_col=0).reindex(x.index)
    out = {}
    for col, floor in _FLOOR.items():
        rel = (x[col] - y[col]).abs() / y[col].abs().clip(lower=floor)
        out[col] = float(rel.max())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size", type=int, default=20000, help="raster rows = columns (default 20000)"
    )
    parser.add_argument(
        "--regions", default="30,300", help="region counts, comma-separated (default 30,300)"
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=1024,
        help="window size in pixels for every tool (default 1024)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=300.0, help="seconds beyond which a tool runs on a crop"
    )
    parser.add_argument(
        "--cache-mb", type=int, default=64, help="GDAL block cache (GDAL_CACHEMAX) for every tool"
    )
    parser.add_argument(
        "--skip", default="", help="tools to skip, comma-separated (e.g. rasterstats,double)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.txt/latest.json go")
    parser.add_argument(
        "--candidate",
        type=Path,
        help="also run sinkmap from this source folder (a patched copy of src/, put first on PYTHONPATH); "
        "its rows are labelled [patch]",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=120.0,
        help="before each run, wait up to this many seconds for other processes to use < 0.25 cores (default 120)",
    )
    parser.add_argument("--run-tool", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_tool:
        _run_in_child(json.loads(args.run_tool))
        return 0

    import dask
    import distributed
    import exactextract
    import rasterio
    import rasterstats
    import shapely

    import sinkmap

    skip = set(filter(None, args.skip.split(",")))
    QUIET["max_wait_s"] = args.wait_quiet
    report = Report()
    env = {
        **os.environ,
        "GDAL_CACHEMAX": str(args.cache_mb),
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    patch_env = None
    if args.candidate:
        patch_env = {**env, "PYTHONPATH": str(args.candidate.resolve())}
    report(f"sinkmap regional-aggregation benchmark — {started}")
    report(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; load average "
        f"at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    report(
        f"versions: sinkmap {sinkmap.__version__ if hasattr(sinkmap, '__version__') else '?'}, numpy {np.__version__}, "
        f"shapely {shapely.__version__}, rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__}), "
        f"dask {dask.__version__}, distributed {distributed.__version__}, exactextract "
        f"{getattr(exactextract, '__version__', '0.3')}, rasterstats {rasterstats.__version__}"
    )
    rows = cols = args.size
    folder = DATA / f"{rows}x{cols}"
    report(
        f"data: {rows} x {cols} px at {PIXEL_M:.0f} m ({rows * cols / 1e6:.0f} Mpx per layer), tiled {TILE}, DEFLATE; "
        f"GDAL_CACHEMAX={args.cache_mb} MB; windows {args.chunk} px"
    )
    lc, val = generate_rasters(folder, rows, cols)
    counts = [int(x) for x in args.regions.split(",")]
    region_files = {n: generate_regions(folder, n, rows, cols) for n in counts}
    base = {"lc": str(lc), "val": str(val), "rows": rows, "cols": cols, "chunk": args.chunk}
    pixels = rows * cols
    results: list[dict[str, Any]] = []
    outputs: dict[tuple[str, int], Path] = {}

    def record(
        label: str, tool: str, n: int | None, res: dict[str, Any], px: int, note: str = ""
    ) -> dict[str, Any]:
        r = {
            "label": label,
            "tool": tool,
            "regions": n if n is not None else "-",
            "pixels": px,
            **res,
        }
        r["mpx_s"] = px / r["seconds"] / 1e6
        r["note"] = note
        results.append(r)
        print(
            f"    {label} [{n}]: {r['seconds']:.2f} s, {r['mpx_s']:.1f} Mpx/s, peak {r['peak_mib']:.0f} MiB "
            f"(other processes {r['others']:.2f} cores; load {r['load_before']:.2f})",
            flush=True,
        )
        return r

    def run(
        tool: str,
        label: str,
        n: int | None,
        *,
        crop: tuple[int, int] | None = None,
        patch: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        job = {**base, "tool": tool, **extra}
        if patch:
            label += " [patch]"
        px = pixels
        if n is not None:
            job["regions"] = str(region_files[n])
            key = "".join(ch if ch.isalnum() else "_" for ch in label)
            job["out"] = str(folder / f"result_{key}_{n}.csv")
        if crop:
            job["crop"] = list(crop)
            px = crop[0] * crop[1]
        res = run_tool(job, patch_env if patch else env)
        note = ""
        if crop:
            note = f"crop {crop[0]}x{crop[1]}: full run extrapolated to {res['seconds'] * pixels / px:.0f} s"
        r = record(label, tool, n, res, px, note)
        if n is not None and not crop:
            outputs[(label, n)] = Path(job["out"])
        return r

    def run_slow(tool: str, label: str, n: int, **extra: Any) -> dict[str, Any]:
        """Probe on a 1/16 crop; run fully if the estimate fits in --time-limit, else keep the crop's figure."""
        crop = (rows // 4, cols // 4)
        probe = run(tool, label, n, crop=crop, **extra)
        estimate = probe["seconds"] * pixels / probe["pixels"]
        if estimate <= args.time_limit:
            results.remove(probe)
            return run(tool, label, n, **extra)
        return probe

    report("")
    report("running (each tool in its own subprocess):")
    raw2 = run("raw", "raw read, 2 threads", None, threads=2)
    raw_rows = [raw2, run("raw", "raw read, 1 thread", None, threads=1)]
    for n in counts:
        if "baseline" not in skip:
            run("baseline", "baseline centre-of-pixel, 2 thr", n, threads=2)
        for w in (1, 2):
            run("sinkmap", f"sinkmap {w} thread{'s' * (w > 1)}", n, workers=w)
        if "cluster" not in skip:
            for w in (1, 2):
                run("sinkmap", f"sinkmap LocalCluster {w} proc", n, workers=w, cluster=True)
        if patch_env:
            for w in (1, 2):
                run("sinkmap", f"sinkmap {w} thread{'s' * (w > 1)}", n, workers=w, patch=True)
            if "cluster" not in skip:
                run(
                    "sinkmap", "sinkmap LocalCluster 2 proc", n, workers=2, cluster=True, patch=True
                )
        if "exactextract" not in skip:
            run_slow("exactextract", "exactextract", n)
        if "rasterstats" not in skip:
            run_slow("rasterstats", "rasterstats", n)
    # repeat the raw read and sinkmap's 2-thread run, keeping the best of each (the machine is shared)
    raw_rows.append(run("raw", "raw read, 2 threads", None, threads=2))
    for n in counts:
        run("sinkmap", "sinkmap 2 threads", n, workers=2)
        if patch_env:
            run("sinkmap", "sinkmap 2 threads", n, workers=2, patch=True)
    best_raw = max(
        (r for r in raw_rows if r["label"] == "raw read, 2 threads"), key=lambda r: r["mpx_s"]
    )
    kept = []
    seen: dict[tuple[str, Any], dict[str, Any]] = {}
    for r in results:
        key = (r["label"], r["regions"])
        r["peaks"] = [r["peak_mib"]]
        if key in seen:
            r["peaks"] = seen[key]["peaks"] = [*seen[key]["peaks"], r["peak_mib"]]
            if r["mpx_s"] > seen[key]["mpx_s"]:
                r["note"] = (
                    r["note"] + "; " if r["note"] else ""
                ) + f"best of 2 (other {seen[key]['seconds']:.2f} s)"
                kept[kept.index(seen[key])] = r
            else:
                seen[key]["note"] = (
                    seen[key]["note"] + "; " if seen[key]["note"] else ""
                ) + f"best of 2 (other {r['seconds']:.2f} s)"
                continue
            seen[key] = r
        else:
            seen[key] = r
            kept.append(r)
    raw_mpx = best_raw["mpx_s"]

    profiles: dict[str, dict[str, Any]] = {}
    if "profile" not in skip:
        for label, tool_env in (("sinkmap", env), ("sinkmap [patch]", patch_env)):
            if tool_env is None:
                continue
            n = max(counts)
            job = {**base, "tool": "profile", "regions": str(region_files[n])}
            profiles[label] = run_tool(job, tool_env)
            profiles[label]["regions"] = n

    doubles: list[dict[str, Any]] = []
    if "double" not in skip:
        d_rows, d_cols = rows, 2 * cols
        d_folder = DATA / f"{d_rows}x{d_cols}"
        report(
            f"memory growth: a {d_rows} x {d_cols} raster (twice the pixels), with the same {max(counts)} regions "
            "stretched 2x east-west (same vertices, so only the raster grows)"
        )
        d_lc, d_val = generate_rasters(d_folder, d_rows, d_cols)
        d_regions = stretch_regions(region_files[max(counts)], d_folder, 2.0)
        job = {
            "lc": str(d_lc),
            "val": str(d_val),
            "rows": d_rows,
            "cols": d_cols,
            "chunk": args.chunk,
            "tool": "sinkmap",
            "workers": 2,
            "regions": str(d_regions),
        }
        for suffix, tool_env in (("", env), (" [patch]", patch_env)):
            if tool_env is None:
                continue
            label = f"sinkmap 2 threads{suffix}, raster x2"
            runs = [
                record(label, "sinkmap", max(counts), run_tool(job, tool_env), d_rows * d_cols)
                for _ in range(2)
            ]
            for r in runs:
                results.remove(r)
            best = max(runs, key=lambda r: r["mpx_s"])
            best["peaks"] = [r["peak_mib"] for r in runs]
            best["note"] = (
                f"best of 2 (other {max(r['seconds'] for r in runs):.2f} s); peaks "
                + ", ".join(f"{p:.0f}" for p in best["peaks"])
            )
            doubles.append(best)

    # ---- report ----
    report("")
    report(
        f"results — Mpx/s counts grid pixels (each pixel read in both layers); ratio = Mpx/s / raw read "
        f"({raw_mpx:.1f} Mpx/s, best 2-thread raw read); peak = max RSS of the tool's process tree (MiB); others = "
        "cores used by other processes during the run (the machine is shared; each run waits for < 0.25 first)"
    )
    report(
        f"  {'tool':<36} {'regions':>7} {'Mpx':>7} {'seconds':>7} {'Mpx/s':>7} {'ratio':>6} {'peak':>6} {'others':>6}  note"
    )
    for r in kept:
        _row(report, r, raw_mpx)
    for double in doubles:
        _row(report, double, raw_mpx)
    cluster_rows = [r for r in kept if "LocalCluster" in r["label"] and "startup_seconds" in r]
    if cluster_rows:
        starts = ", ".join(
            f"{r['workers']} proc {r['startup_seconds']:.1f} s" for r in cluster_rows[:2]
        )
        report(
            f"  (LocalCluster start + stop alone, included in the LocalCluster times above: {starts})"
        )
    # ---- agreement between tools ----
    report("")
    report(
        "agreement with sinkmap 2 threads (max over regions of |difference| / max(|sinkmap|, one pixel: 900 m² or 100)):"
    )
    agreement: dict[str, dict[str, float]] = {}
    for n in counts:
        ref = outputs.get(("sinkmap 2 threads", n))
        if ref is None:
            continue
        for (label, m), path in outputs.items():
            if m != n or label == "sinkmap 2 threads":
                continue
            diff = _compare(path, ref)
            agreement[f"{label} [{n}]"] = diff
            report(
                f"  {label:<34} [{n:>3}]  forest area {diff['forest_area_m2']:.2e}   value sum {diff['val_sum']:.2e}"
            )
    # ---- profile ----
    for label, profile in profiles.items():
        t = profile["timers"]
        total = profile["seconds"]
        windows = max(profile["windows"], 1)
        other = total - sum(t.values())
        report("")
        report(
            f"profile of {label}: synchronous scheduler (1 thread), {profile['regions']} regions, "
            f"{windows} windows of {args.chunk} px, {total:.2f} s ({pixels / total / 1e6:.1f} Mpx/s):"
        )
        names = {
            "read": "read (LayerSource.read, both layers)",
            "pieces": "pieces (ZoneIndex.pieces)",
            "weighted_sums": "weighted sums (reduceat, row tails)",
        }
        for name, sec in [*((names[k], v) for k, v in t.items()), ("other (masks, set-up)", other)]:
            report(
                f"  {name:<38} {sec:8.2f} s {100 * sec / total:5.1f} %  {1000 * sec / windows:7.2f} ms/window"
            )
        report("  cProfile, top functions by own time (second run, with profiling overhead):")
        for line in profile["cprofile_top"]:
            report("    " + line[:150])
    # ---- verdicts ----
    report("")
    report("verdicts against issue 5's targets:")
    verdicts: dict[str, bool] = {}
    for suffix in ("", " [patch]") if patch_env else ("",):
        mine = [
            r
            for r in kept
            if r["label"].startswith("sinkmap") and r["label"].endswith(suffix or "")
        ]
        if not suffix:
            mine = [r for r in mine if not r["label"].endswith("[patch]")]
        who = "sinkmap" + suffix
        for n in counts:
            r = max(
                (r for r in mine if r["regions"] == n and "thread" in r["label"]),
                key=lambda r: r["mpx_s"],
            )
            ratio = r["mpx_s"] / raw_mpx
            ok = ratio >= TARGET_RATIO
            verdicts[f"{who} throughput_{n}"] = ok
            report(
                f"  [{'PASS' if ok else 'FAIL'}] {n} regions: {r['label']}: {r['mpx_s']:.1f} Mpx/s = "
                f"{100 * ratio:.0f} % of the raw read (target ≥ {100 * TARGET_RATIO:.0f} %)"
            )
        peak = max(r["peak_mib"] for r in mine)
        ok = peak < TARGET_PEAK_MIB
        verdicts[f"{who} peak_memory"] = ok
        report(
            f"  [{'PASS' if ok else 'FAIL'}] {who}: peak memory of every run ≤ {peak:.0f} MiB "
            f"(target < {TARGET_PEAK_MIB:.0f} MiB)"
        )
        double = next(
            (d for d in doubles if d["label"] == f"sinkmap 2 threads{suffix}, raster x2"), None
        )
        if double is not None:
            ref = next(
                r
                for r in mine
                if r["label"] == f"sinkmap 2 threads{suffix}" and r["regions"] == max(counts)
            )
            # RSS peaks vary by ±10 % between identical runs (GDAL's block cache, malloc arenas): compare the
            # mean of two runs at each size
            before, after = float(np.mean(ref["peaks"])), float(np.mean(double["peaks"]))
            growth = after / before - 1
            ok = growth <= TARGET_GROWTH and max(double["peaks"]) < TARGET_PEAK_MIB
            verdicts[f"{who} memory_growth"] = ok
            report(
                f"  [{'PASS' if ok else 'FAIL'}] {who}: raster doubled, mean peak of 2 runs {before:.0f} → "
                f"{after:.0f} MiB ({100 * growth:+.1f} %, target ≤ +{100 * TARGET_GROWTH:.0f} %); "
                f"throughput {double['mpx_s']:.1f} Mpx/s"
            )
    ee = [(k, v) for k, v in agreement.items() if k.startswith("exactextract")]
    if ee:
        worst = max(max(v.values()) for _, v in ee)
        ok = worst <= TARGET_REL
        verdicts["exact_vs_exactextract"] = ok
        report(
            f"  [{'PASS' if ok else 'FAIL'}] sinkmap = exactextract within {worst:.1e} relative (target ≤ 1e-6)"
        )
    same = [(k, v) for k, v in agreement.items() if k.startswith("sinkmap")]
    if same:
        worst = max(max(v.values()) for _, v in same)
        ok = worst <= 1e-9
        verdicts["schedulers_agree"] = ok
        report(
            f"  [{'PASS' if ok else 'FAIL'}] sinkmap on 1/2 threads and LocalCluster processes"
            f"{' (and the patch)' if patch_env else ''} agree within {worst:.1e} relative"
        )
    report(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "latest.txt").write_text("\n".join(report.lines) + "\n")
        payload = {
            "started": started,
            "size": [rows, cols],
            "chunk": args.chunk,
            "gdal_cachemax_mb": args.cache_mb,
            "raw_read_mpx_s": raw_mpx,
            "results": kept,
            "doubles": doubles,
            "agreement": agreement,
            "profiles": profiles,
            "candidate": str(args.candidate) if args.candidate else None,
            "verdicts": verdicts,
        }
        (args.out / "latest.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
