"""Region layers (nation → province → prefecture → county) and their placement on the pipeline grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyogrio.errors import DataSourceError
from pyproj import Geod

from sinkmap.engine.grid import GridSpec, Window
from sinkmap.errors import CRSError, InputNotFoundError, RegionError
from sinkmap.kernels.coverage import WindowPieces, window_pieces

__all__ = ["OVERLAP_TOLERANCE", "RegionLayerSpec", "RegionLevel", "ZoneIndex", "level_from_frame", "level_overlaps", "load_level"]


@dataclass(frozen=True)
class RegionLayerSpec:
    """Where a level's polygons come from and which fields hold id, names and parent id."""

    level: str
    path: str
    id_field: str
    name_field: str
    name_en_field: str | None = None
    parent_field: str | None = None
    parent_level: str | None = None
    layer: str | None = None
    land_area_field: str | None = None


@dataclass(frozen=True)
class RegionLevel:
    """One level of regions: ids, names and geometries (as read, and in EPSG:4326 for output)."""

    spec: RegionLayerSpec
    ids: tuple[str, ...]
    names_zh: tuple[str, ...]
    names_en: tuple[str, ...]
    parent_ids: tuple[str | None, ...]
    geometry_lonlat: gpd.GeoSeries = field(repr=False)
    geometry: gpd.GeoSeries = field(repr=False)
    official_land_area_km2: tuple[float, ...] | None = None
    """Each region's official land area (土地总面积, km²) from ``spec.land_area_field``, when the spec names one."""

    @cached_property
    def geodesic_area_km2(self) -> NDArray[np.float64]:
        """Area of each region on the WGS84 ellipsoid, km² (computed on first use: ~1 µs per vertex, which
        :func:`sinkmap.apps.zonal.zonal_stats` never needs)."""
        return np.array([abs(_GEOD.geometry_area_perimeter(g)[0]) for g in self.geometry_lonlat]) / 1e6

    @property
    def name(self) -> str:
        return self.spec.level

    def __len__(self) -> int:
        return len(self.ids)


_GEOD = Geod(ellps="WGS84")


def _polygonal(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Keep only the polygonal parts of repaired geometries (make_valid may add lines or points)."""
    out = []
    for geom in geoms:
        parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
        out.append(shapely.union_all(parts) if parts else shapely.Polygon())
    return np.asarray(out, dtype=object)


def load_level(spec: RegionLayerSpec, *, allow_overlaps: bool = False) -> RegionLevel:
    """Read and validate a region layer.

    Raises:
        InputNotFoundError: the file does not exist.
        RegionError: the file is unreadable or not UTF-8, a named field is missing, ids repeat, geometries are
            not polygons, coordinates are impossible for the CRS, or regions of the level overlap (beyond
            :data:`OVERLAP_TOLERANCE`).
        CRSError: the layer has no CRS.
    """
    path = Path(spec.path)
    if not path.exists():
        raise InputNotFoundError(f"regions {spec.level!r}: file {path} does not exist; check `path` in the pipeline")
    try:
        gdf = gpd.read_file(path, layer=spec.layer) if spec.layer else gpd.read_file(path)
    except UnicodeDecodeError as exc:
        raise RegionError(
            f"regions {spec.level!r}: {path} is not UTF-8 ({exc.reason} at byte {exc.start}); re-save it as UTF-8, "
            "e.g. `ogr2ogr -f GeoJSON -lco ENCODING=UTF-8 out.geojson in.geojson`, or from GBK with "
            "`iconv -f GBK -t UTF-8`"
        ) from exc
    except (DataSourceError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RegionError(
            f"regions {spec.level!r}: cannot read {path} ({first}); check that the file is complete and a polygon "
            "layer GDAL can open (GeoJSON, GeoPackage, Shapefile)"
        ) from exc
    return level_from_frame(gdf, spec, where=str(path), allow_overlaps=allow_overlaps)


OVERLAP_TOLERANCE = 1e-4
"""Largest overlap of two regions of one level, as a share of the smaller one, that is taken for digitising
slivers rather than an error (China's province file has slivers up to 2.6e-6 of a province)."""


def _check_coordinates(geom: gpd.GeoSeries, level: str, path: str) -> None:
    """Coordinates must be possible in the layer's CRS (metres read as degrees are not)."""
    crs = geom.crs
    valid_geoms = geom[~(geom.isna() | geom.is_empty)]
    if valid_geoms.empty:
        return
    left, bottom, right, top = (float(v) for v in valid_geoms.total_bounds)
    if crs.is_geographic:
        if left < -180.5 or right > 360.5 or bottom < -90.5 or top > 90.5:
            raise RegionError(
                f"regions {level!r}: {path} has coordinates ({left:.6g}, {bottom:.6g}) to ({right:.6g}, {top:.6g}) "
                f"that are impossible for its geographic CRS {crs.to_string()} (degrees); if they are metres of a "
                "projected CRS, save the file with that CRS (GeoJSON without a `crs` member is read as EPSG:4326)"
            )
        return
    lonlat = valid_geoms.envelope.to_crs("EPSG:4326").total_bounds
    if not np.isfinite(lonlat).all():
        raise RegionError(
            f"regions {level!r}: {path} has coordinates ({left:.6g}, {bottom:.6g}) to ({right:.6g}, {top:.6g}) "
            f"outside the area where its CRS {crs.to_string()} is defined; check the file's CRS"
        )


def level_overlaps(level: RegionLevel) -> list[tuple[str, str, float, float]]:
    """Pairs of regions of one level that overlap: (id, id, overlap km², overlap ÷ smaller region's area)."""
    geoms = np.asarray(level.geometry.values, dtype=object)  # in the layer's own CRS: no reprojection slivers
    if len(geoms) < 2:
        return []
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not a.size:
        return []
    try:
        shared = shapely.intersection(geoms[a], geoms[b])
    except shapely.errors.GEOSException:
        shared = shapely.intersection(shapely.make_valid(geoms[a]), shapely.make_valid(geoms[b]))
    shared = np.asarray(gpd.GeoSeries(shared, crs=level.geometry.crs).to_crs("EPSG:4326").values, dtype=object)
    out = []
    own = level.geodesic_area_km2
    for i, j, geom in zip(a, b, shared, strict=True):
        area = abs(_GEOD.geometry_area_perimeter(geom)[0]) / 1e6 if not geom.is_empty else 0.0
        smaller = min(own[i], own[j])
        if area > 0:
            out.append((level.ids[i], level.ids[j], area, area / smaller if smaller > 0 else np.inf))
    return out


def _check_overlaps(level: RegionLevel, path: str) -> None:
    pairs = sorted((p for p in level_overlaps(level) if p[3] > OVERLAP_TOLERANCE), key=lambda p: -p[2])
    if pairs:
        listed = "; ".join(f"{i} and {j}: {km2:,.2f} km² ({share:.2%} of the smaller)" for i, j, km2, share in pairs[:5])
        more = f" and {len(pairs) - 5} more pair(s)" if len(pairs) > 5 else ""
        raise RegionError(
            f"regions {level.name!r}: {path}: regions of one level overlap, so their sums would count the overlap "
            f"twice — {listed}{more}; fix the boundaries (each place belongs to one region of a level)"
        )


def level_from_frame(
    gdf: gpd.GeoDataFrame, spec: RegionLayerSpec, *, where: str = "GeoDataFrame", allow_overlaps: bool = False
) -> RegionLevel:
    """Validate an in-memory polygon layer as a region level (see :func:`load_level`).

    ``allow_overlaps`` is for independent zones (zonal statistics, InVEST and loss tables per polygon); a level of
    a pipeline is summed into its parent and the nation, so its regions must not overlap."""
    path = where
    if gdf.crs is None:
        raise CRSError(f"regions {spec.level!r}: {path} has no CRS; save it with one (GeoJSON is EPSG:4326 by default)")
    fields = [spec.id_field, spec.name_field, spec.name_en_field, spec.parent_field, spec.land_area_field]
    missing = [f for f in fields if f and f not in gdf.columns]
    if missing:
        raise RegionError(
            f"regions {spec.level!r}: {path} has no field(s) {', '.join(missing)}; available fields: "
            f"{', '.join(c for c in gdf.columns if c != 'geometry')}"
        )
    if gdf.empty:
        raise RegionError(f"regions {spec.level!r}: {path} has no features")
    ids = gdf[spec.id_field].astype(str).str.replace(r"\.0$", "", regex=True)
    dupes = sorted(set(ids[ids.duplicated()]))
    if dupes:
        raise RegionError(f"regions {spec.level!r}: {path} repeats ids {', '.join(dupes[:10])} in {spec.id_field!r}")
    geom = gdf.geometry
    kinds = set(geom.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise RegionError(f"regions {spec.level!r}: {path} has {sorted(kinds)} geometries; only polygons are regions")
    if not geom.is_valid.all():
        geom = gpd.GeoSeries(_polygonal(shapely.make_valid(geom.values)), crs=geom.crs, index=geom.index)
    _check_coordinates(geom, spec.level, path)
    lonlat = geom.to_crs("EPSG:4326")
    names_en = gdf[spec.name_en_field].astype(str) if spec.name_en_field else gdf[spec.name_field].astype(str)
    parents: tuple[str | None, ...] = (
        tuple(gdf[spec.parent_field].astype(str).str.replace(r"\.0$", "", regex=True))
        if spec.parent_field
        else (None,) * len(gdf)
    )
    land_area: tuple[float, ...] | None = None
    if spec.land_area_field:
        values = pd.to_numeric(gdf[spec.land_area_field], errors="coerce")
        bad = ids[~(values > 0) | ~np.isfinite(values)]
        if len(bad):
            raise RegionError(
                f"regions {spec.level!r}: {path} field {spec.land_area_field!r} (official land area, km²) is missing, "
                f"not a number or not > 0 for region(s) {', '.join(bad[:10])}; fill it in for every region"
            )
        land_area = tuple(float(v) for v in values)
    level = RegionLevel(
        spec=spec,
        official_land_area_km2=land_area,
        ids=tuple(ids),
        names_zh=tuple(gdf[spec.name_field].astype(str)),
        names_en=tuple(names_en),
        parent_ids=parents,
        geometry_lonlat=lonlat.reset_index(drop=True),
        geometry=geom.reset_index(drop=True),
    )
    if not allow_overlaps:
        _check_overlaps(level, path)
    return level


MAX_REGION_VERTICES = 50_000_000
"""Memory budget for region polygons on the grid (about 2 GB of coordinates in the working copies)."""


def _to_pixels(geoms: gpd.GeoSeries, grid: GridSpec) -> NDArray[np.object_]:
    """Reproject to the grid CRS (densified so long edges follow the projection) and map to pixel coordinates."""
    source_crs = geoms.crs
    if not grid.crs.equals(source_crs):
        step = 0.01 if source_crs.is_geographic else 1000.0
        vertices = float(np.sum(shapely.length(geoms.values)) / step + np.sum(shapely.get_num_coordinates(geoms.values)))
        if vertices > MAX_REGION_VERTICES:
            raise RegionError(
                f"regions: placing the polygons on the grid would need {vertices:,.0f} vertices (edges densified every "
                f"{step:g} {'degrees' if source_crs.is_geographic else 'metres'} to follow the projection), more than "
                f"the budget of {MAX_REGION_VERTICES:,}; check the file's CRS and extent, or simplify the polygons"
            )
        geoms = gpd.GeoSeries(shapely.segmentize(geoms.values, step), crs=source_crs).to_crs(grid.crs)
    inverse = ~grid.transform
    return np.asarray(
        shapely.transform(
            geoms.values,
            lambda xy: np.column_stack(
                [inverse.a * xy[:, 0] + inverse.b * xy[:, 1] + inverse.c, inverse.d * xy[:, 0] + inverse.e * xy[:, 1] + inverse.f]
            ),
        ),
        dtype=object,
    )


class ZoneIndex:
    """All regions of all levels in grid pixel coordinates, indexed for window queries.

    Region ``k`` of the index is ``keys[k] = (level name, position in level)``; :meth:`pieces` returns boundary
    pieces with index-wide region numbers, so one pass over a window serves every level. The object pickles
    without its spatial index (rebuilt on first use), so it travels cheaply to dask workers.
    """

    def __init__(self, grid: GridSpec, geoms: NDArray[np.object_], keys: tuple[tuple[str, int], ...]) -> None:
        self.grid = grid
        self.geoms = geoms
        self.keys = keys
        self._tree: shapely.STRtree | None = None

    @classmethod
    def build(cls, levels: Sequence[RegionLevel], grid: GridSpec) -> ZoneIndex:
        geoms: list[NDArray[np.object_]] = []
        keys: list[tuple[str, int]] = []
        for level in levels:
            geoms.append(_to_pixels(level.geometry, grid))
            keys.extend((level.name, i) for i in range(len(level)))
        all_geoms = np.concatenate(geoms) if geoms else np.empty(0, dtype=object)
        index = cls(grid, all_geoms, tuple(keys))
        if all_geoms.size and not index.overlapping().any():
            raise RegionError(
                f"no region overlaps the raster grid (grid bounds {grid.bounds} in {grid.crs_label}); "
                "check that the region files and the rasters cover the same place"
            )
        return index

    def __getstate__(self) -> dict[str, object]:
        return {"grid": self.grid, "geoms": self.geoms, "keys": self.keys, "_tree": None}

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def tree(self) -> shapely.STRtree:
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        return self._tree

    def overlapping(self) -> NDArray[np.bool_]:
        """Which regions overlap the grid at all."""
        return np.asarray(shapely.intersects(self.geoms, shapely.box(0, 0, self.grid.width, self.grid.height)))

    def pieces(self, window: Window) -> tuple[NDArray[np.int64], WindowPieces]:
        """(index-wide numbers of the regions touching ``window``, their boundary pieces in the window)."""
        box = shapely.box(window.col_off, window.row_off, window.col_off + window.width, window.row_off + window.height)
        hits = np.sort(self.tree.query(box, predicate="intersects")).astype(np.int64)
        pieces = window_pieces(
            self.geoms[hits], window.height, window.width, origin=(window.col_off, window.row_off)
        )
        return hits, pieces
