"""Cut the small real-data crops in rasters/worldcover_saotome/ from the team's shared data folder (run once; nothing
reads ../shared at run time). Each crop keeps the source's values, CRS and pixel grid; only the window changes.

    .venv/bin/python scripts/make_real_crops.py /work/shared/data
"""

from __future__ import annotations

import sys
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.windows import Window

OUT = Path(__file__).resolve().parents[1] / "rasters" / "worldcover_saotome"
CROPS = {
    # São Tomé, 400 × 400 px of 10 m: tree cover, built-up, grassland, water, bare, cropland, shrub, wetland
    "worldcover_2021_v200_saotome_crop.tif": ("landcover/esa_worldcover_2021_v200_saotome_10m.tif", Window(1800, 200, 400, 400)),
    "worldcover_2020_v100_saotome_crop.tif": ("landcover/esa_worldcover_2020_v100_saotome_10m.tif", Window(1800, 200, 400, 400)),
}


def main(shared: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (source, window) in CROPS.items():
        with rasterio.open(Path(shared) / source) as src:
            profile = src.profile | {
                "width": window.width, "height": window.height, "transform": src.transform @ Affine.translation(window.col_off, window.row_off),
                "tiled": True, "blockxsize": 128, "blockysize": 128, "compress": "deflate",
            }
            with rasterio.open(OUT / name, "w", **profile) as dst:
                dst.write(src.read(1, window=window), 1)
        print(OUT / name)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
