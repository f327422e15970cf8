"""Synthetic 30 m tile sets over Guizhou for the whole-pipeline benchmark (``bench/bench_pipeline.py``).

Every layer the sample pipeline (``pipelines/china_sample.yaml``) uses is written as Cloud-Optimized GeoTIFF
tiles with the same dtype, nodata, block size, compression, predictor and overviews as the sample tiles (read
from them with rasterio, not restated here), in the sample's Albers equal-area CRS, on a 30 m grid centred on
Guizhou, next to a pipeline YAML that copies the sample's regions (provinces, Guizhou prefectures and counties),
nation, epochs and targets, and takes ``mean_temperature`` from the real WorldClim 2.1 file with ``resampling:
bilinear`` as the sample does.

The values are synthetic but spatially plausible for Guizhou: land cover (CLCD codes) from thresholds on smooth
multi-scale random fields (forest ≈ 55 %, cropland, grassland, shrub, some water, wetland, impervious and
rocky-desertification barren), set so that 2020 → 2025 shows afforestation and a little loss; canopy cover and
growing stock that follow the forest "vigour" field with per-pixel noise; forest types, karst (carbonate) and
precipitation fields at their own scales; inland marsh (wetland type 1) on wetland pixels (the coastal codes
2–4 do not occur inland); a few nodata patches in the per-epoch layers. The smooth fields are bilinear
interpolations of seeded normal nodes defined on the whole (doubled) grid, so every tile, strip and size is
deterministic and tiles join seamlessly.

Two sets come from one grid of ``size`` rows × ``2 * size`` columns: the west half (``size`` × ``size``, 2 × 2
tiles) and the whole (``size`` × ``2 * size``, 2 × 4 tiles: the west half's tiles, hard-linked, plus two more
columns of tiles of the same size), so the doubled raster has the same tiles, values and regions and only grows.
Tiles are written strip by strip (128 rows) into uncompressed temporary GeoTIFFs, then copied to COGs; memory
stays at a few hundred MB whatever the size.

Usage::

    .venv/bin/python bench/make_pipeline_tiles.py --size 2000 [--double]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
SAMPLE_PIPELINE = ROOT / "pipelines" / "china_sample.yaml"
WORLDCLIM_BIO1 = ROOT / "rasters" / "climate" / "worldclim21_10m_bio_1_china.tif"

PIXEL_M = 30.0
# centre of the doubled grid (Albers metres): the middle of Guizhou (≈ 106.7°E, 26.8°N)
CENTRE = (158_000.0, 2_830_000.0)
EPOCHS = (2020, 2025)
SEED = 20260105
STRIP = 128  # rows per generated strip
GENERATOR_VERSION = 2  # bump when values or layout change, to invalidate cached tile sets
GENERATOR = "bench/make_pipeline_tiles.py"

CATEGORICAL = {"landcover", "forest_type", "carbonate", "wetland_type"}
# synthetic layers (role → per epoch?) — mean_temperature comes from the real WorldClim file
LAYERS: dict[str, bool] = {
    "landcover": True,
    "canopy_cover": True,
    "growing_stock": True,
    "forest_type": False,
    "annual_precip": False,
    "carbonate": False,
    "wetland_type": False,
}
UNITS = {
    "landcover": "CLCD class code",
    "canopy_cover": "percent",
    "growing_stock": "m3/ha",
    "forest_type": "forest type code",
    "annual_precip": "mm/yr",
    "carbonate": "lithology code",
    "wetland_type": "wetland type code",
}


@dataclass(frozen=True)
class TileFormat:
    """Storage settings of one layer, read from the sample tiles."""

    dtype: str
    nodata: float
    blocksize: int
    compress: str
    predictor: str | None
    overviews: bool
    crs_wkt: str


def sample_formats(pipeline: Path = SAMPLE_PIPELINE) -> dict[str, TileFormat]:
    """dtype, nodata, block size, compression, predictor and overviews of each layer's first sample tile."""
    import rasterio

    spec = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
    out = {}
    for role in LAYERS:
        layer = spec["layers"][role]
        pattern = layer.get("path") or next(iter(layer["paths"].values()))
        files = sorted(pipeline.parent.glob(pattern)) if not Path(pattern).is_absolute() else []
        if not files:
            raise FileNotFoundError(f"{pipeline}: no sample tile for layer {role} ({pattern})")
        with rasterio.open(files[0]) as ds:
            structure = ds.tags(ns="IMAGE_STRUCTURE")
            out[role] = TileFormat(
                dtype=ds.dtypes[0],
                nodata=float(ds.nodata),
                blocksize=int(ds.block_shapes[0][0]),
                compress=str(structure.get("COMPRESSION", "DEFLATE")),
                predictor=structure.get("PREDICTOR"),
                overviews=bool(ds.overviews(1)),
                crs_wkt=ds.crs.to_wkt(),
            )
    return out


def _edges(n: int, parts: int, block: int) -> list[int]:
    """Tile edges as the sample generator makes them: equal parts rounded up to whole blocks."""
    step = math.ceil(n / parts)
    if step > block:
        step = math.ceil(step / block) * block
    return [min(i * step, n) for i in range(parts)] + [n]


class Field:
    """A smooth random field on the whole grid: seeded N(0, 1) nodes every ``step`` pixels, bilinear between."""

    def __init__(self, key: int, rows: int, cols: int, step: int) -> None:
        rng = np.random.default_rng([SEED, key])
        self.step = step
        self.nodes = rng.standard_normal((rows // step + 2, cols // step + 2)).astype(np.float32)

    def __call__(self, row_idx: np.ndarray, col_idx: np.ndarray) -> np.ndarray:
        """Values at rows × cols (1-D index arrays, increasing), float32, shape (len(rows), len(cols))."""
        s = self.step
        x = (col_idx + 0.5) / s
        j0 = np.floor(x).astype(np.intp)
        fx = (x - j0).astype(np.float32)
        y = (row_idx + 0.5) / s
        i0 = np.floor(y).astype(np.intp)
        fy = (y - i0).astype(np.float32)[:, None]
        lo, hi = int(i0.min()), int(i0.max()) + 2
        # interpolate along columns on the few node rows involved, then along rows
        band = self.nodes[lo:hi]
        along = band[:, j0] * (1 - fx) + band[:, j0 + 1] * fx
        k = i0 - lo
        return along[k] * (1 - fy) + along[k + 1] * fy


# the smooth fields: name → octaves (weight, node spacing in pixels)
OCTAVES: dict[str, list[tuple[float, int]]] = {
    "terrain": [(0.6, 2000), (0.5, 300), (0.3, 60)],  # mountains: forest, cooler
    "human": [(0.6, 500), (0.4, 80), (0.3, 12)],  # cropland and towns
    "detail": [(0.35, 20), (0.2, 6)],  # fine texture of every class boundary
    "water": [(1.0, 150), (0.4, 15)],
    "change": [(1.0, 100), (0.5, 10)],
    "karst": [(0.7, 800), (0.4, 100), (0.2, 10)],
    "ftype": [(1.0, 200), (0.4, 30)],
    "bamboo": [(1.0, 600), (0.5, 40)],
    "precip": [(1.0, 3000), (0.5, 400)],
    "gap": [(1.0, 300), (0.3, 30)],
}


class Fields:
    """The named smooth fields every layer is derived from (each a sum of octaves), and class thresholds."""

    def __init__(self, rows: int, cols: int) -> None:
        self.octaves: dict[str, list[tuple[float, Field]]] = {}
        for k, (name, spec) in enumerate(OCTAVES.items()):
            self.octaves[name] = [
                (w, Field(100 * k + i, rows, cols, step)) for i, (w, step) in enumerate(spec)
            ]
        self.rows, self.cols = rows, cols
        # thresholds as quantiles of a sparse sample of the whole grid (deterministic; sets class shares)
        r = np.arange(0, rows, 37)
        c = np.arange(0, cols, 37)
        sample = self.at(r, c)
        q = {name: np.quantile(v, np.linspace(0, 1, 1001)) for name, v in sample.items()}
        self.q: Callable[[str, float], float] = lambda name, p: float(q[name][round(p * 1000)])

    def at(self, row_idx: np.ndarray, col_idx: np.ndarray) -> dict[str, np.ndarray]:
        """Every field at rows × cols (float32), plus ``vigour``: forest propensity (mountains, away from
        people, with fine texture)."""
        out: dict[str, np.ndarray] = {}
        for name, octaves in self.octaves.items():
            total = np.zeros((row_idx.size, col_idx.size), dtype=np.float32)
            for w, f in octaves:
                total += np.float32(w) * f(row_idx, col_idx)
            out[name] = total
        out["vigour"] = 0.6 * out["terrain"] - 0.7 * out["human"] + out["detail"]
        return out


def make_strip(
    fields: Fields, row_idx: np.ndarray, col_idx: np.ndarray, fmt: dict[str, TileFormat]
) -> dict[str, np.ndarray]:
    """Every synthetic layer-epoch for rows × cols of the grid: ``{"landcover_2020": …, "forest_type": …}``."""
    f = fields.at(row_idx, col_idx)
    q = fields.q
    vig, hum, wat, chg = f["vigour"], f["human"], f["water"], f["change"]
    shape = vig.shape
    rng = np.random.default_rng([SEED, 7, int(row_idx[0]), int(col_idx[0])])
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise2 = rng.standard_normal(shape, dtype=np.float32)

    forest_cut = q("vigour", 0.47)  # ≈ 53 % forest in 2020
    lc = np.full(shape, 1, dtype=np.uint8)  # cropland
    lc[hum < q("human", 0.55)] = 4  # grassland where fewer people
    lc[vig > q("vigour", 0.40)] = 3  # shrub band below forest
    lc[vig > forest_cut] = 2  # forest
    lc[(f["karst"] > q("karst", 0.97)) & (vig < q("vigour", 0.55))] = (
        7  # rocky desertification (barren)
    )
    lc[hum > q("human", 0.985)] = 8  # towns
    wet = (wat > q("water", 0.992)) & (f["terrain"] < q("terrain", 0.6))
    lc[wet] = 5  # reservoirs and rivers
    lc[(wat > q("water", 0.988)) & ~wet & (f["terrain"] < q("terrain", 0.6))] = (
        9  # marsh around them
    )
    gaps = f["gap"] > q("gap", 0.998)  # nodata patches of the per-epoch products

    # 2025: afforestation just below the forest threshold, a little loss to cropland and towns
    lc25 = lc.copy()
    grow = (
        (lc != 2)
        & (lc != 5)
        & (lc != 8)
        & (lc != 9)
        & (vig > q("vigour", 0.40))
        & (chg > q("change", 0.55))
    )
    lc25[grow] = 2
    lost = (lc == 2) & (chg < q("change", 0.03)) & (hum > q("human", 0.6))
    lc25[lost] = 1
    lc25[(lc == 1) & (hum > q("human", 0.975)) & (chg < q("change", 0.3))] = 8

    # forest types on pixels forested in either epoch (the layer is static): bamboo where its field is high
    any_forest = (lc == 2) | (lc25 == 2)
    ft_val = f["ftype"]
    ftype = np.zeros(shape, dtype=np.uint8)
    ftype[any_forest] = 4  # evergreen needleleaf (Masson pine, Chinese fir)
    ftype[any_forest & (ft_val > q("ftype", 0.42))] = 2  # evergreen broadleaf
    ftype[any_forest & (ft_val > q("ftype", 0.62))] = 5  # mixed
    ftype[any_forest & (ft_val > q("ftype", 0.80))] = 1  # deciduous broadleaf
    ftype[any_forest & (ft_val > q("ftype", 0.96))] = 3  # deciduous needleleaf
    ftype[any_forest & (f["bamboo"] > q("bamboo", 0.93))] = 6  # bamboo

    out: dict[str, np.ndarray] = {}
    strength = np.clip((vig - forest_cut) / (q("vigour", 0.99) - forest_cut), 0, 1)
    for epoch, cover in ((2020, lc), (2025, lc25)):
        grown = np.float32(0.0 if epoch == 2020 else 1.0)
        canopy = (
            np.select(
                [cover == 2, cover == 3, cover == 4, cover == 1],
                [45 + 40 * strength + 4 * grown, 12 + 8 * strength, np.float32(6), np.float32(3)],
                default=np.float32(1),
            )
            + np.where(cover == 2, np.float32(7), np.float32(3)) * noise
        )
        canopy = np.clip(np.rint(canopy), 0, 100).astype(np.uint8)
        canopy[cover == 2] = np.maximum(canopy[cover == 2], 20)
        tree = (cover == 2) & (ftype != 6)
        stock = (35 + 170 * strength**1.3 + 18 * noise2) * (1.0 + 0.09 * grown)
        stock = np.where(tree, np.round(2 * np.maximum(stock, 5)) / 2, 0).astype(np.float32)
        cover_out = cover.copy()
        for name, arr in (
            ("landcover", cover_out),
            ("canopy_cover", canopy),
            ("growing_stock", stock),
        ):
            arr[gaps] = fmt[name].nodata
            out[f"{name}_{epoch}"] = arr
    out["forest_type"] = ftype
    # precipitation: wetter to the east and south-east, 900-1500 mm
    east = (col_idx / max(fields.cols - 1, 1)).astype(np.float32)[None, :]
    south = (row_idx / max(fields.rows - 1, 1)).astype(np.float32)[:, None]
    precip = 1000 + 250 * east + 120 * south + 90 * f["precip"] + 4 * noise2
    out["annual_precip"] = np.rint(precip).astype(np.int16)
    karst = np.zeros(shape, dtype=np.uint8)
    karst[f["karst"] > q("karst", 0.38)] = 2  # buried / covered carbonate
    karst[f["karst"] > q("karst", 0.55)] = 1  # exposed carbonate
    out["carbonate"] = karst
    out["wetland_type"] = ((lc == 9) | (lc25 == 9)).astype(np.uint8)  # inland marsh
    return out


def _layer_keys() -> list[tuple[str, int | None]]:
    return [
        (role, e) for role, per_epoch in LAYERS.items() for e in (EPOCHS if per_epoch else (None,))
    ]


def tile_name(role: str, epoch: int | None, r: int, c: int) -> str:
    mid = f"_{epoch}" if epoch is not None else ""
    return f"synthetic30m_{role}{mid}_r{r}c{c}.tif"


def _cog_options(role: str, fmt: TileFormat) -> dict[str, str]:
    opts = {
        "BLOCKSIZE": str(fmt.blocksize),
        "COMPRESS": fmt.compress,
        "OVERVIEWS": "IGNORE_EXISTING" if fmt.overviews else "NONE",
        "RESAMPLING": "NEAREST" if role in CATEGORICAL else "AVERAGE",
        "BIGTIFF": "IF_SAFER",
        "NUM_THREADS": "ALL_CPUS",
    }
    if fmt.compress.upper() == "DEFLATE":
        opts["LEVEL"] = "6"
    if fmt.predictor:
        opts["PREDICTOR"] = fmt.predictor
    return opts


def write_tile(
    folder: Path,
    fields: Fields,
    fmt: dict[str, TileFormat],
    tile: tuple[int, int],
    window: tuple[int, int, int, int],
    transform0: Any,
) -> list[Path]:
    """Write every layer of one tile (``window`` = row_off, col_off, height, width of the grid) as COGs."""
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.windows import Window as RioWindow

    r0, c0, h, w = window
    transform = transform0 * Affine.translation(c0, r0)
    tmp_dir = folder / f".tmp_r{tile[0]}c{tile[1]}"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    handles = {}
    try:
        for role, epoch in _layer_keys():
            f = fmt[role]
            key = role if epoch is None else f"{role}_{epoch}"
            handles[key] = rasterio.open(
                tmp_dir / f"{key}.tif", "w", driver="GTiff", height=h, width=w, count=1, dtype=f.dtype,
                nodata=f.nodata, crs=f.crs_wkt, transform=transform, tiled=True, blockxsize=f.blocksize,
                blockysize=f.blocksize,
            )  # fmt: skip
        col_idx = np.arange(c0, c0 + w)
        for s in range(0, h, STRIP):
            n = min(STRIP, h - s)
            strip = make_strip(fields, np.arange(r0 + s, r0 + s + n), col_idx, fmt)
            for key, arr in strip.items():
                handles[key].write(arr, 1, window=RioWindow(0, s, w, n))
    finally:
        for ds in handles.values():
            ds.close()
    written = []
    for role, epoch in _layer_keys():
        key = role if epoch is None else f"{role}_{epoch}"
        path = folder / tile_name(role, epoch, *tile)
        tmp_out = path.with_name(path.name + ".tmp")
        with rasterio.open(tmp_dir / f"{key}.tif", "r+") as ds:
            ds.update_tags(
                SINKMAP_SYNTHETIC="true", GENERATOR=GENERATOR, SEED=str(SEED), LAYER=role,
                EPOCH="" if epoch is None else str(epoch), TILE=f"r{tile[0]}c{tile[1]}", PIXEL_SIZE_M="30",
                UNITS=UNITS[role], DESCRIPTION=f"SYNTHETIC {role} for the whole-pipeline benchmark (Guizhou, 30 m)",
            )  # fmt: skip
        with rasterio.open(tmp_dir / f"{key}.tif") as src:
            rasterio.shutil.copy(src, tmp_out, driver="COG", **_cog_options(role, fmt[role]))
        tmp_out.replace(path)
        written.append(path)
    shutil.rmtree(tmp_dir, ignore_errors=True)
    return written


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


def write_pipeline(folder: Path, name: str, tiles_glob_r: str = "r*c*") -> Path:
    """A pipeline YAML beside the tiles: the sample's regions, nation, epochs, targets and settings."""
    sample = yaml.safe_load(SAMPLE_PIPELINE.read_text(encoding="utf-8"))
    layers: dict[str, Any] = {}
    for role, per_epoch in LAYERS.items():
        if per_epoch:
            layers[role] = {
                "paths": {e: f"synthetic30m_{role}_{e}_{tiles_glob_r}.tif" for e in EPOCHS}
            }
        else:
            layers[role] = {"path": f"synthetic30m_{role}_{tiles_glob_r}.tif"}
    temperature = dict(sample["layers"]["mean_temperature"])
    temperature["path"] = _rel(WORLDCLIM_BIO1, folder)
    layers["mean_temperature"] = temperature
    regions = []
    for level in sample["regions"]:
        level = dict(level)
        level["path"] = _rel((SAMPLE_PIPELINE.parent / level["path"]).resolve(), folder)
        regions.append(level)
    spec = {
        "name": name,
        "description": "Whole-pipeline benchmark: synthetic 30 m tiles over Guizhou (bench/make_pipeline_tiles.py), "
        "real WorldClim temperature; regions, epochs and targets as pipelines/china_sample.yaml.",
        "output_dir": "run",
        "epochs": list(EPOCHS),
        "chunk_size": sample.get("chunk_size", 1024),
        "grid": sample.get("grid", {"like": "landcover"}),
        "layers": layers,
        "regions": regions,
        "nation": sample.get("nation"),
        "targets": sample.get("targets"),
    }
    path = folder / "pipeline.yaml"
    header = "# Generated by bench/make_pipeline_tiles.py; paths are relative to this file.\n"
    path.write_text(
        header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return path


def _current(stamp: Path, params: dict[str, Any]) -> bool:
    return stamp.exists() and json.loads(stamp.read_text()) == params


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def make_tile_sets(
    size: int, *, double: bool = True, data: Path = DATA, verbose: bool = True
) -> dict[str, Path]:
    """Generate (or reuse) the ``size`` × ``size`` set and, with ``double``, the ``size`` × ``2·size`` set.

    Returns ``{"tile": pipeline.yaml, "double": pipeline.yaml}`` (``double`` only when asked).
    """
    import rasterio
    import rasterio.transform

    fmt = sample_formats()
    rows, cols = size, 2 * size
    left = round((CENTRE[0] - cols * PIXEL_M / 2) / PIXEL_M) * PIXEL_M
    top = round((CENTRE[1] + rows * PIXEL_M / 2) / PIXEL_M) * PIXEL_M
    transform0 = rasterio.transform.from_origin(left, top, PIXEL_M, PIXEL_M)
    block = fmt["landcover"].blocksize
    r_edges = _edges(rows, 2, block)
    c_half = _edges(size, 2, block)
    # the west half's tiles, then the same again to the east
    c_edges = c_half[:-1] + [size + e for e in c_half]
    params = {
        "size": size, "version": GENERATOR_VERSION, "seed": SEED, "origin": [left, top],
        "formats": {k: v.__dict__ for k, v in fmt.items()},
    }  # fmt: skip
    sets = {
        "tile": (data / f"pipeline30m_{rows}x{size}", 2),
        "double": (data / f"pipeline30m_{rows}x{cols}", 4),
    }
    wanted = ["tile", "double"] if double else ["tile"]
    fields: Fields | None = None
    out = {}
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20):  # bytes; one pass per block: a big cache only costs memory
        for which in wanted:
            folder, n_cols = sets[which]
            stamp = folder / "params.json"
            yaml_path = folder / "pipeline.yaml"
            if yaml_path.exists() and _current(stamp, params):
                # the tiles are current; the pipeline file follows the sample's settings as they are now
                out[which] = write_pipeline(folder, f"bench-30m-{rows}x{size * n_cols // 2}")
                continue
            t0 = time.perf_counter()
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            if fields is None:
                fields = Fields(rows, cols)
            west = sets["tile"][0]
            for i in range(2):
                for j in range(n_cols):
                    window = (
                        r_edges[i],
                        c_edges[j],
                        r_edges[i + 1] - r_edges[i],
                        c_edges[j + 1] - c_edges[j],
                    )
                    if which == "double" and j < 2 and _current(west / "params.json", params):
                        for role, epoch in _layer_keys():
                            name = tile_name(role, epoch, i, j)
                            _link_or_copy(west / name, folder / name)
                        continue
                    write_tile(folder, fields, fmt, (i, j), window, transform0)
            yaml_path = write_pipeline(folder, f"bench-30m-{rows}x{size * n_cols // 2}")
            stamp.write_text(json.dumps(params))
            if verbose:
                mib = sum(p.stat().st_size for p in folder.glob("*.tif")) / 2**20
                print(
                    f"  generated {rows} x {size * n_cols // 2} px 30 m tile set ({2 * n_cols} tiles x "
                    f"{len(_layer_keys())} layer-epochs, {mib:.0f} MiB) in {time.perf_counter() - t0:.0f} s: {folder}",
                    flush=True,
                )
            out[which] = yaml_path
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size", type=int, default=10000, help="rows = columns of the single set (default 10000)"
    )
    parser.add_argument("--double", action="store_true", help="also make the size x 2*size set")
    args = parser.parse_args(argv)
    for which, path in make_tile_sets(args.size, double=args.double).items():
        print(f"{which}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
