"""The run directory as a STAC catalog: ``collection.json`` with one item per Cloud-Optimized GeoTIFF.

A self-contained STAC (1.1.0) collection (relative links, no ``self`` links, so the folder can be moved or served
as it is): the collection describes the run (extent of the grid in lon/lat, the epochs), lists the run's tables,
GeoJSON and manifest as collection assets, and links one item per raster in ``stac/``. Each item carries its COG as
its ``data`` asset with:

* the projection extension: ``proj:epsg`` (or ``proj:wkt2`` when the CRS has no EPSG code), ``proj:shape``,
  ``proj:transform``, ``proj:bbox`` in the grid's CRS;
* the raster extension: ``raster:bands`` with data type, nodata, unit and spatial resolution;
* the classification extension: ``classification:classes`` for the class rasters (the forest mask).

Per-epoch rasters cover their year (``start_datetime`` … ``end_datetime``); static ones (the sink) the span from
the first to the last epoch. Everything is read back from the written files, so the catalog describes what is on
disk.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import rasterio
from rasterio.crs import CRS
from rasterio.warp import transform_geom

__all__ = ["CLASSES", "EXTENSIONS", "STAC_VERSION", "write_stac"]

STAC_VERSION = "1.1.0"
PROJECTION = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.0.0/schema.json"
CLASSIFICATION = "https://stac-extensions.github.io/classification/v1.1.0/schema.json"
EXTENSIONS = (PROJECTION, RASTER, CLASSIFICATION)

CLASSES: Mapping[str, tuple[tuple[int, str, str], ...]] = {
    "forest_mask": (
        (0, "not-forest", "mapped land that is not forest"),
        (1, "tree-stand", "tree stand (canopy cover at or above the definition's threshold, or a forest class)"),
        (2, "bamboo", "bamboo stand"),
        (3, "special-shrubland", "nationally designated special shrubland"),
    ),
}
"""Class rasters by name (without epoch): (value, name, description) of each class."""

COLLECTION = "collection.json"
ITEMS = "stac"
_MEDIA = {
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".geojson": "application/geo+json",
    ".csv": "text/csv",
    ".json": "application/json",
}


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "sinkmap-run"


def _year_span(first: int, last: int) -> tuple[str, str]:
    return f"{first:04d}-01-01T00:00:00Z", f"{last:04d}-12-31T23:59:59Z"


def _footprint(crs: CRS, bounds: Sequence[float]) -> dict[str, Any]:
    left, bottom, right, top = bounds
    ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
    polygon = {"type": "Polygon", "coordinates": [ring]}
    if crs.to_epsg() == 4326:
        return polygon
    # edges densified: the footprint of a projected grid is curved in lon/lat
    return dict(transform_geom(crs, "EPSG:4326", _densified(polygon, 16), precision=7))


def _densified(polygon: dict[str, Any], n: int) -> dict[str, Any]:
    ring = polygon["coordinates"][0]
    dense: list[list[float]] = []
    for (x0, y0), (x1, y1) in itertools.pairwise(ring):
        dense.extend([x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n] for i in range(n))
    dense.append(dense[0])
    return {"type": "Polygon", "coordinates": [dense]}


def _bbox(geometry: Mapping[str, Any]) -> list[float]:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    xs = [p[0] for polygon in polygons for p in polygon[0]]
    ys = [p[1] for polygon in polygons for p in polygon[0]]
    return [min(xs), min(ys), max(xs), max(ys)]


def _resolution_m(src: rasterio.DatasetReader) -> float:
    """Pixel size in metres (at the grid's centre for geographic grids), for ``raster:spatial_resolution``."""
    if src.crs.is_geographic:
        from pyproj import Geod

        lon = (src.bounds.left + src.bounds.right) / 2
        lat = (src.bounds.bottom + src.bounds.top) / 2
        _, _, width = Geod(ellps="WGS84").inv(lon, lat, lon + abs(src.transform.a), lat)
        return round(float(width), 3)
    return round(abs(float(src.transform.a)) * float(src.crs.linear_units_factor[1]), 3)


def _item(path: Path, run_dir: Path, epochs: Sequence[int], collection_id: str) -> dict[str, Any]:
    with rasterio.open(path) as src:
        tags = src.tags()
        crs = src.crs
        epsg = crs.to_epsg()
        geometry = _footprint(crs, tuple(src.bounds))
        band: dict[str, Any] = {"data_type": src.dtypes[0], "spatial_resolution": _resolution_m(src)}
        if src.nodata is not None:
            band["nodata"] = src.nodata if src.nodata == src.nodata else "nan"
        if tags.get("UNITS"):
            band["unit"] = tags["UNITS"]
        projection: dict[str, Any] = {
            "proj:epsg": epsg,
            "proj:shape": [src.height, src.width],
            "proj:transform": list(src.transform)[:6],
            "proj:bbox": list(src.bounds),
        }
        if epsg is None:
            projection["proj:wkt2"] = crs.to_wkt()
    stem = path.stem
    epoch = tags.get("EPOCH", "")
    if epoch.isdigit():
        start, end = _year_span(int(epoch), int(epoch))
    else:
        start, end = _year_span(min(epochs), max(epochs))
    asset: dict[str, Any] = {
        "href": f"../{path.relative_to(run_dir).as_posix()}",
        "type": _MEDIA[".tif"],
        "title": tags.get("DESCRIPTION", stem),
        "roles": ["data"],
        "raster:bands": [band],
    }
    base = stem if not epoch.isdigit() else stem.rsplit("_", 1)[0]
    extensions = [PROJECTION, RASTER]
    if base in CLASSES:
        asset["classification:classes"] = [
            {"value": value, "name": name, "description": text} for value, name, text in CLASSES[base]
        ]
        extensions.append(CLASSIFICATION)
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": extensions,
        "id": stem,
        "collection": collection_id,
        "geometry": geometry,
        "bbox": _bbox(geometry),
        "properties": {
            "datetime": None,
            "start_datetime": start,
            "end_datetime": end,
            "title": tags.get("DESCRIPTION", stem),
            **projection,
        },
        "links": [
            {"rel": "root", "href": f"../{COLLECTION}", "type": "application/json"},
            {"rel": "parent", "href": f"../{COLLECTION}", "type": "application/json"},
            {"rel": "collection", "href": f"../{COLLECTION}", "type": "application/json"},
        ],
        "assets": {"data": asset},
    }


def write_stac(
    run_dir: Path,
    *,
    name: str,
    description: str,
    epochs: Sequence[int],
    grid_crs: str,
    grid_bounds: Sequence[float],
    rasters: Sequence[Path],
    files: Mapping[str, str],
) -> dict[str, str]:
    """Write ``collection.json`` and one item per raster into ``run_dir``; return their paths and descriptions.

    Args:
        run_dir: the run directory (the rasters must already be written in it).
        name, description: the pipeline's, for the collection.
        epochs: the run's epochs (the collection's temporal extent).
        grid_crs, grid_bounds: the pipeline grid (WKT, bounds in its CRS), for the spatial extent.
        rasters: the COGs, each becoming an item.
        files: other outputs (relative path → description), listed as collection assets.
    """
    collection_id = _slug(name)
    footprint = _footprint(CRS.from_wkt(grid_crs), grid_bounds)
    start, end = _year_span(min(epochs), max(epochs))
    (run_dir / ITEMS).mkdir(exist_ok=True)
    written: dict[str, str] = {}
    links: list[dict[str, Any]] = [{"rel": "root", "href": f"./{COLLECTION}", "type": "application/json"}]
    for path in sorted(rasters):
        item = _item(path, run_dir, epochs, collection_id)
        rel = f"{ITEMS}/{item['id']}.json"
        (run_dir / rel).write_text(json.dumps(item, ensure_ascii=False, indent=2), encoding="utf-8")
        written[rel] = f"STAC item of {path.name}"
        links.append({"rel": "item", "href": f"./{rel}", "type": "application/geo+json", "title": item["id"]})
    assets = {
        Path(rel).stem: {
            "href": f"./{rel}",
            "type": _MEDIA.get(Path(rel).suffix, "application/octet-stream"),
            "title": text,
            "roles": ["metadata"] if rel == "manifest.json" else ["data"],
        }
        for rel, text in {"manifest.json": "run manifest: inputs, settings, versions, checks", **files}.items()
        if Path(rel).suffix != ".tif"
    }
    collection = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": collection_id,
        "title": name,
        "description": description or f"sinkmap run {name!r}: forest coverage, stocks and carbon sinks by region",
        "license": "other",
        "extent": {
            "spatial": {"bbox": [_bbox(footprint)]},
            "temporal": {"interval": [[start, end]]},
        },
        "links": links,
        "assets": assets,
    }
    (run_dir / COLLECTION).write_text(json.dumps(collection, ensure_ascii=False, indent=2), encoding="utf-8")
    written[COLLECTION] = "STAC collection of the run: its rasters as items, its tables as assets"
    return written
