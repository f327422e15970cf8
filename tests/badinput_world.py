"""A tiny but complete pipeline world for the bad-input catalogue (tests/test_validation.py).

48 × 48 (or n × n) pixels of 0.01° near Guiyang (EPSG:4326), two epochs of land cover, canopy cover and growing stock,
static climate, forest type and wetland type, two provinces (west and east halves, hand-drawn squares) and a
pipeline YAML that runs in well under a second. Tests change one thing (a file, a key, a region) and run it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from affine import Affine

from conftest import write_raster

N = 48
RES = 0.01
WEST, NORTH = 106.0, 26.8
TRANSFORM = Affine(RES, 0, WEST, 0, -RES, NORTH)
CRS = "EPSG:4326"
EPOCHS = (2020, 2025)


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[list[float]]]:
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


def feature(adcode: str, name_zh: str, name_en: str, ring: list[list[list[float]]]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"adcode": adcode, "name_zh": name_zh, "name_en": name_en},
        "geometry": {"type": "Polygon", "coordinates": ring},
    }


def provinces(n: int = N) -> dict[str, Any]:
    mid = WEST + n * RES / 2
    south = NORTH - n * RES
    return {
        "type": "FeatureCollection",
        "features": [
            feature("520001", "西区", "West", square(WEST, south, mid, NORTH)),
            feature("520002", "东区", "East", square(mid, south, WEST + n * RES, NORTH)),
        ],
    }


class World:
    """The files of the tiny pipeline under ``root``; ``pipeline`` is the YAML as a dict (written by :meth:`write`)."""

    def __init__(self, root: Path, n: int = N) -> None:
        self.root = root
        self.n = n
        self.data = root / "data"
        self.data.mkdir(parents=True)
        rng = np.random.default_rng(7)
        landcover = rng.choice(np.array([1, 2, 2, 3, 4, 5, 9], dtype=np.uint8), size=(n, n))
        for epoch in EPOCHS:
            write_raster(self.data / f"landcover_{epoch}.tif", landcover, crs=CRS, transform=TRANSFORM, nodata=0)
            canopy = np.where(landcover == 2, 60, 5).astype(np.uint8)
            write_raster(self.data / f"canopy_{epoch}.tif", canopy, crs=CRS, transform=TRANSFORM, nodata=255)
            stock = np.where(landcover == 2, 80.0 + (epoch - 2020) * 2, 0.0).astype(np.float32)
            write_raster(self.data / f"stock_{epoch}.tif", stock, crs=CRS, transform=TRANSFORM, nodata=-9999.0)
        forest_type = np.where(landcover == 2, 2, 0).astype(np.uint8)
        write_raster(self.data / "forest_type.tif", forest_type, crs=CRS, transform=TRANSFORM, nodata=255)
        wetland = np.where(landcover == 9, 1, 0).astype(np.uint8)
        write_raster(self.data / "wetland_type.tif", wetland, crs=CRS, transform=TRANSFORM, nodata=255)
        temperature = np.full((n, n), 15.0, dtype=np.float32)
        write_raster(self.data / "temperature.tif", temperature, crs=CRS, transform=TRANSFORM, nodata=-9999.0)
        precip = np.full((n, n), 1100, dtype=np.int16)
        write_raster(self.data / "precip.tif", precip, crs=CRS, transform=TRANSFORM, nodata=-32768)
        self.regions = self.data / "provinces.geojson"
        self.write_regions(provinces(n))
        self.output = root / "out" / "run"
        self.pipeline: dict[str, Any] = {
            "name": "tiny",
            "output_dir": str(self.output),
            "epochs": list(EPOCHS),
            "chunk_size": 16,
            "layers": {
                "landcover": {"paths": {e: f"data/landcover_{e}.tif" for e in EPOCHS}},
                "canopy_cover": {"paths": {e: f"data/canopy_{e}.tif" for e in EPOCHS}},
                "growing_stock": {"paths": {e: f"data/stock_{e}.tif" for e in EPOCHS}},
                "forest_type": {"path": "data/forest_type.tif"},
                "wetland_type": {"path": "data/wetland_type.tif"},
                "mean_temperature": {"path": "data/temperature.tif"},
                "annual_precip": {"path": "data/precip.tif"},
            },
            "regions": [
                {
                    "level": "province",
                    "path": "data/provinces.geojson",
                    "id_field": "adcode",
                    "name_field": "name_zh",
                    "name_en_field": "name_en",
                }
            ],
            "nation": {"region_id": "100000", "name_zh": "全区", "name_en": "All"},
            "targets": "cpc_2021",
        }
        self.yaml = root / "pipeline.yaml"

    def write_regions(self, collection: dict[str, Any], path: Path | None = None) -> Path:
        import json

        path = path or self.regions
        path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
        return path

    def raster(self, name: str, data: np.ndarray, *, nodata: float | None = None, **kwargs: Any) -> Path:
        kwargs.setdefault("crs", CRS)
        kwargs.setdefault("transform", TRANSFORM)
        return write_raster(self.data / name, data, nodata=nodata, **kwargs)

    def read(self, name: str) -> np.ndarray:
        import rasterio

        with rasterio.open(self.data / name) as src:
            return src.read(1)

    def write(self, text: str | None = None) -> Path:
        self.yaml.write_text(
            text if text is not None else yaml.safe_dump(self.pipeline, allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
        return self.yaml

    def leftovers(self) -> list[str]:
        """Anything a failed run left next to its output folder (scratch, lock) or the folder itself."""
        parent = self.output.parent
        if not parent.exists():
            return []
        return sorted(p.name for p in parent.iterdir())
