"""The one GeoJSON writer: RFC 7946 FeatureCollections for run directories and exports.

EPSG:4326 lon/lat, exterior rings counter-clockwise (§3.1.6), no ``crs`` member, UTF-8 text unescaped, coordinates
snapped to a precision that suits each level (1e-3° ≈ 100 m for a national outline, 1e-4° ≈ 10 m for provinces
and prefectures, 1e-5° ≈ 1 m for counties): finer than the boundary sources at each scale, without megabytes of
noise digits. sinkmap's metadata travels as a foreign member ``sinkmap`` (§6.1).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

__all__ = ["DEFAULT_PRECISION", "PRECISION", "plain", "snapped", "write_geojson"]

PRECISION: dict[str, int] = {"nation": 3, "province": 4, "prefecture": 4, "county": 5}
"""Coordinate decimals by level."""
DEFAULT_PRECISION = 5


def plain(value: Any) -> Any:
    """A JSON/spreadsheet-friendly scalar: None for missing, Python numbers for numpy ones."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def snapped(geoms: Sequence[Any], decimals: int) -> np.ndarray:
    """Coordinates snapped to a 10^-decimals degree grid (polygons kept valid), exteriors counter-clockwise."""
    values = np.asarray(geoms, dtype=object)
    present = np.array([g is not None for g in values], dtype=bool)
    out = np.full(values.shape, None, dtype=object)
    if present.any():
        fixed = shapely.set_precision(values[present], 10.0**-decimals)
        out[present] = shapely.orient_polygons(fixed, exterior_cw=False)
    return out


def write_geojson(
    path: Path, layers: Iterable[tuple[pd.DataFrame, Sequence[Any], int]], members: dict[str, Any]
) -> None:
    """Write one FeatureCollection from (properties table, geometries in EPSG:4326, coordinate decimals) per
    layer, with ``members`` as the foreign member ``sinkmap``."""
    features = []
    for table, geometry, decimals in layers:
        for record, geom in zip(table.to_dict(orient="records"), snapped(geometry, decimals), strict=True):
            features.append(
                {
                    "type": "Feature",
                    "properties": {str(k): plain(v) for k, v in record.items()},
                    "geometry": None if geom is None or geom.is_empty else shapely.geometry.mapping(geom),
                }
            )
    doc = {"type": "FeatureCollection", "sinkmap": members, "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False, allow_nan=False, default=str), encoding="utf-8")
