"""Shared fixtures: tiny rasters written on the fly, and one run of the sample pipeline per test session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PIPELINE = ROOT / "pipelines" / "china_sample.yaml"


def sample_pipeline_doc() -> dict[str, Any]:
    """The default pipeline as a mapping, with its relative paths (layers, regions, reference sample) made
    absolute, so a copy can be written anywhere."""
    import yaml

    doc: dict[str, Any] = yaml.safe_load(SAMPLE_PIPELINE.read_text(encoding="utf-8"))
    base = SAMPLE_PIPELINE.parent
    for layer in doc["layers"].values():
        if "path" in layer:
            layer["path"] = str(base / layer["path"])
        else:
            layer["paths"] = {e: str(base / p) for e, p in layer["paths"].items()}
    for level in doc["regions"]:
        level["path"] = str(base / level["path"])
    if "accuracy" in doc:
        doc["accuracy"]["reference_sample"] = str(base / doc["accuracy"]["reference_sample"])
    return doc


def write_raster(
    path: Path, data: np.ndarray, *, crs: Any, transform: Affine, nodata: float | None = None
) -> Path:
    """Write a single-band GeoTIFF (crs may be None to make a raster without a CRS)."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": str(data.dtype),
        "transform": transform,
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture
def raster_writer(tmp_path: Path) -> Callable[..., Path]:
    def _write(name: str, data: np.ndarray, **kwargs: Any) -> Path:
        return write_raster(tmp_path / name, data, **kwargs)

    return _write


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The default pipeline (pipelines/china_sample.yaml) run once on the embedded sample, into a temp dir."""
    from sinkmap.apps.pipeline import run_pipeline
    from sinkmap.config import load_pipeline

    if not SAMPLE_PIPELINE.exists():
        pytest.skip(f"{SAMPLE_PIPELINE} is not in this checkout")
    out = tmp_path_factory.mktemp("sample") / "run"
    return run_pipeline(load_pipeline(SAMPLE_PIPELINE), output_dir=out)
