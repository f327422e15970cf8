"""Generate a SYNTHETIC reference sample for the sample mosaic's land-cover map (accuracy-adjusted areas).

The "truth" is made here, from a known confusion matrix: a pixel mapped as class ``h`` at the first epoch is truly
class ``k`` with probability ``CONFUSION[h][k]`` (rows sum to 1); at the last epoch a pixel whose mapped class did
not change keeps its true class, and a pixel whose mapped class changed is truly the new mapped class ``h'`` with
probability ``CONFUSION[h'][h']``, else it keeps the first epoch's true class (a false change). The expected true
area of class ``k`` at the first epoch is therefore ``Σ_h A_h · CONFUSION[h][k]``, printed at the end.

Sampling design (Olofsson et al. 2014, §5): stratified random sampling with the first epoch's mapped classes as
strata, ``n_h = max(MIN_PER_STRATUM, round(PROPORTIONAL_N · W_h))`` pixels per stratum, drawn without replacement
among the stratum's pixels; each point is the pixel centre in longitude/latitude (EPSG:4326).

Columns of the CSV: ``point_id``, ``lon``, ``lat``, ``map_<first>``, ``map_<last>`` (mapped classes, CLCD codes),
``ref_<first>``, ``ref_<last>`` (the synthetic reference classes), ``synthetic`` (always ``true``).

The script reads the repository's mosaic (``rasters/china_sample``) only. Same seed, same numpy → same file.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
MOSAIC = ROOT / "rasters" / "china_sample"
DEFAULT_OUT = ROOT / "vectors" / "synthetic_reference_sample.csv"
SEED = 20261130
EPOCHS = (2020, 2025)
MIN_PER_STRATUM = 60
PROPORTIONAL_N = 1500

CLASSES = (1, 2, 3, 4, 5, 6, 7, 8, 9)
# P(reference class | mapped class), rows = mapped class 1–9, columns = reference class 1–9 (CLCD codes).
# Invented for the sample: users' accuracies from 0.50 (shrub) to 0.93 (water), overall ≈ 0.8 as reported for
# CLCD (79.3 %); rows sum to 1.
CONFUSION = np.array(
    [
        #  crop forest shrub grass water  snow barren imperv wetland
        [0.86, 0.04, 0.01, 0.05, 0.01, 0.00, 0.01, 0.02, 0.00],  # 1 cropland
        [0.04, 0.88, 0.03, 0.05, 0.00, 0.00, 0.00, 0.00, 0.00],  # 2 forest
        [0.05, 0.20, 0.50, 0.20, 0.00, 0.00, 0.05, 0.00, 0.00],  # 3 shrub
        [0.06, 0.03, 0.03, 0.78, 0.00, 0.00, 0.09, 0.00, 0.01],  # 4 grassland
        [0.02, 0.00, 0.00, 0.01, 0.93, 0.00, 0.01, 0.00, 0.03],  # 5 water
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.90, 0.10, 0.00, 0.00],  # 6 snow/ice
        [0.00, 0.00, 0.00, 0.12, 0.01, 0.02, 0.85, 0.00, 0.00],  # 7 barren
        [0.10, 0.00, 0.00, 0.00, 0.00, 0.00, 0.02, 0.88, 0.00],  # 8 impervious
        [0.03, 0.00, 0.00, 0.12, 0.15, 0.00, 0.00, 0.00, 0.70],  # 9 wetland
    ]
)


def read_mosaic(epoch: int) -> tuple[NDArray[np.int64], rasterio.Affine, str]:
    """The land-cover mosaic of ``epoch`` as one array (0 = no data), its transform and CRS (WKT)."""
    tiles = sorted(MOSAIC.glob(f"synthetic_landcover_{epoch}_r*c*.tif"))
    if not tiles:
        raise SystemExit(f"no land-cover tiles for {epoch} in {MOSAIC}")
    with rasterio.open(tiles[0]) as first:
        res, crs = first.res[0], first.crs.to_wkt()
    bounds = []
    for path in tiles:
        with rasterio.open(path) as src:
            bounds.append(src.bounds)
    left, top = min(b.left for b in bounds), max(b.top for b in bounds)
    width = round((max(b.right for b in bounds) - left) / res)
    height = round((top - min(b.bottom for b in bounds)) / res)
    out = np.zeros((height, width), dtype=np.int64)
    for path in tiles:
        with rasterio.open(path) as src:
            row, col = round((top - src.bounds.top) / res), round((src.bounds.left - left) / res)
            out[row : row + src.height, col : col + src.width] = src.read(1)
    return out, rasterio.Affine(res, 0.0, left, 0.0, -res, top), crs


def draw_reference(
    map_first: NDArray[np.int64], map_last: NDArray[np.int64], rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Reference classes at both epochs for sampled pixels, by the mechanism in the module docstring."""
    cum = np.cumsum(CONFUSION, axis=1)
    u = rng.random(map_first.size)
    ref_first = np.array(CLASSES)[(u[:, None] > cum[map_first - 1]).sum(axis=1)]
    changed = map_first != map_last
    keep_new = rng.random(map_first.size) < CONFUSION[map_last - 1, map_last - 1]
    ref_last = np.where(changed & keep_new, map_last, ref_first)
    return ref_first.astype(np.int64), ref_last.astype(np.int64)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"CSV to write (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed (default {SEED})")
    args = parser.parse_args(argv)
    first, last = EPOCHS
    map_first, transform, crs = read_mosaic(first)
    map_last, _, _ = read_mosaic(last)
    rng = np.random.default_rng(args.seed)
    flat_first, flat_last = map_first.ravel(), map_last.ravel()
    counts = np.bincount(flat_first, minlength=10)[1:10].astype(float)
    weights = counts / counts.sum()
    picks = []
    for h, w in zip(CLASSES, weights, strict=True):
        pixels = np.flatnonzero((flat_first == h) & (flat_last > 0))
        n_h = min(pixels.size, max(MIN_PER_STRATUM, round(PROPORTIONAL_N * w)))
        picks.append(np.sort(rng.choice(pixels, size=n_h, replace=False)))
    index = np.concatenate(picks)
    m_first, m_last = flat_first[index], flat_last[index]
    r_first, r_last = draw_reference(m_first, m_last, rng)
    rows, cols = np.divmod(index, map_first.shape[1])
    x, y = transform * (cols + 0.5, rows + 0.5)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["point_id", "lon", "lat", f"map_{first}", f"map_{last}", f"ref_{first}", f"ref_{last}", "synthetic"])
        for i in range(index.size):
            out.writerow(
                [i + 1, f"{lon[i]:.6f}", f"{lat[i]:.6f}", m_first[i], m_last[i], r_first[i], r_last[i], "true"]
            )
    # pixels are 1 km² on the mosaic's equal-area grid
    expected = counts @ CONFUSION
    print(f"wrote {index.size} points to {args.out}")
    print("class  mapped_km2_first  expected_true_km2_first  n_points")
    for j, h in enumerate(CLASSES):
        print(f"{h:5d}  {counts[j]:16.0f}  {expected[j]:23.1f}  {picks[j].size:8d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
