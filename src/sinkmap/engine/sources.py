"""Lazy, windowed reading of raster layers onto a pipeline's grid.

A *layer* is one or more tiles (files) on a shared grid; the tiles form one mosaic, expressed as a GDAL VRT held
in memory (an XML string, so it travels to dask workers as text and every worker opens its own handle). A mosaic
on the pipeline grid is read window by window directly; a mosaic on another grid is aligned through a
:class:`rasterio.vrt.WarpedVRT` with the resampling method the pipeline states, with the warp approximation
held to 1e-9 pixel (effectively exact) so that every output pixel is the same whatever window it is read in.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from affine import Affine
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.io import MemoryFile
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window as RioWindow

from sinkmap.engine.grid import GridSpec, Window
from sinkmap.errors import AlignmentError, CRSError, RasterReadError

__all__ = ["CoarseBand", "CoarseSource", "LayerSource", "Source", "TileInfo", "grid_of", "inspect_tiles", "sha256_file"]

class Source(Protocol):
    """What the engine needs of an input layer: its files, and (values, valid) for a window of the target grid."""

    @property
    def name(self) -> str: ...

    @property
    def paths(self) -> tuple[str, ...]: ...

    def read(self, window: Window) -> tuple[NDArray[Any], NDArray[np.bool_]]: ...

    def describe(self) -> dict[str, object]: ...


_RESAMPLING = {
    "nearest": Resampling.nearest,
    "bilinear": Resampling.bilinear,
    "cubic": Resampling.cubic,
    "average": Resampling.average,
    "mode": Resampling.mode,
    "min": Resampling.min,
    "max": Resampling.max,
}
_ALIGN_TOL = 1e-6  # fraction of a pixel
_HANDLES = threading.local()  # per-thread open datasets, see LayerSource._dataset
_MAX_HANDLES = 16  # per thread


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class TileInfo:
    path: str
    crs_wkt: str
    transform: Affine
    height: int
    width: int
    dtype: str
    nodata: float | None
    count: int
    tags: dict[str, str]


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _read_info(path: str, layer: str) -> TileInfo:
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise CRSError(
                    f"layer {layer!r}: raster {path} has no CRS; assign one (e.g. `gdal_edit.py -a_srs EPSG:4326 "
                    f"{Path(path).name}`) or regenerate the file with its CRS"
                )
            return TileInfo(
                path=path,
                crs_wkt=src.crs.to_wkt(),
                transform=src.transform,
                height=src.height,
                width=src.width,
                dtype=src.dtypes[0],
                nodata=src.nodata,
                count=src.count,
                tags=dict(src.tags()),
            )
    except RasterioIOError as exc:
        reason = " ".join(str(exc).split()).rstrip(".")
        raise RasterReadError(
            f"layer {layer!r}: cannot open raster {path} ({reason}); check that it is a complete raster GDAL can read "
            f"(`gdalinfo {path}`), or re-copy it"
        ) from exc


def grid_of(info: TileInfo) -> GridSpec:
    return GridSpec(info.crs_wkt, info.transform, info.height, info.width)


def inspect_tiles(paths: Sequence[str], layer: str) -> tuple[GridSpec, list[TileInfo]]:
    """Check that the tiles of one layer share CRS, pixel size, dtype and alignment; return their mosaic grid."""
    infos = [_read_info(p, layer) for p in paths]
    first = infos[0]
    first_crs = grid_of(first).crs
    a, e = first.transform.a, first.transform.e
    for info in infos[1:]:
        where = f"layer {layer!r}: tile {info.path} does not match tile {first.path}"
        if not grid_of(info).crs.equals(first_crs):
            raise AlignmentError(f"{where}: different CRS; reproject the tiles to one CRS first")
        if not (math.isclose(info.transform.a, a, rel_tol=1e-9) and math.isclose(info.transform.e, e, rel_tol=1e-9)):
            raise AlignmentError(
                f"{where}: pixel size {info.transform.a, info.transform.e} vs {a, e}; tiles of one layer must share "
                "a pixel size"
            )
        dx = (info.transform.c - first.transform.c) / a
        dy = (info.transform.f - first.transform.f) / e
        if abs(dx - round(dx)) > _ALIGN_TOL or abs(dy - round(dy)) > _ALIGN_TOL:
            raise AlignmentError(f"{where}: tile origin is offset by a fraction of a pixel ({dx:.4f}, {dy:.4f} px)")
        if info.dtype != first.dtype or info.count != first.count or info.nodata != first.nodata:
            raise AlignmentError(f"{where}: different data type, band count or nodata value")
    cols = [round((i.transform.c - first.transform.c) / a) for i in infos]
    rows = [round((i.transform.f - first.transform.f) / e) for i in infos]
    col0, row0 = min(cols), min(rows)
    col1 = max(c + i.width for c, i in zip(cols, infos, strict=True))
    row1 = max(r + i.height for r, i in zip(rows, infos, strict=True))
    transform = first.transform @ Affine.translation(col0, row0)
    return GridSpec(first.crs_wkt, transform, row1 - row0, col1 - col0), infos


_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}


def _overlap(rects: Sequence[tuple[int, int, int, int]]) -> bool:
    """Whether any two (x, y, width, height) rectangles overlap."""
    for i, (x, y, w, h) in enumerate(rects):
        for x2, y2, w2, h2 in rects[i + 1 :]:
            if x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h:
                return True
    return False


def _vrt_path(path: str) -> str:
    """A tile's name in the mosaic VRT: a GDAL virtual path (/vsicurl/…, /vsis3/…) as it is, a file made absolute."""
    return path if path.startswith("/vsi") else str(Path(path).resolve())


def _mosaic_vrt(grid: GridSpec, infos: Sequence[TileInfo]) -> str:
    t = grid.transform
    nodata = infos[0].nodata
    places = [
        (round((info.transform.c - t.c) / t.a), round((info.transform.f - t.f) / t.e), info.width, info.height)
        for info in infos
    ]
    # Tiles that do not overlap are copied as they are (SimpleSource: a plain block copy). Overlapping tiles need a
    # ComplexSource with <NODATA>, so that one tile's nodata cells do not hide another's data, at the price of a
    # per-pixel pass in float64 (which makes a float32 window read ~1.7x slower).
    complex_source = nodata is not None and _overlap(places)
    kind = "ComplexSource" if complex_source else "SimpleSource"
    sources = []
    for info, (x, y, _, _) in zip(infos, places, strict=True):
        rects = (
            f'<SrcRect xOff="0" yOff="0" xSize="{info.width}" ySize="{info.height}"/>'
            f'<DstRect xOff="{x}" yOff="{y}" xSize="{info.width}" ySize="{info.height}"/>'
        )
        nodata_xml = f"<NODATA>{nodata!r}</NODATA>" if complex_source else ""
        sources.append(
            f'<{kind}><SourceFilename relativeToVRT="0">{escape(_vrt_path(info.path))}'
            f"</SourceFilename><SourceBand>1</SourceBand>{rects}{nodata_xml}</{kind}>"
        )
    nodata_band = "" if nodata is None else f"<NoDataValue>{nodata!r}</NoDataValue>"
    return (
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">'
        f"<SRS>{escape(grid.crs_wkt)}</SRS>"
        f"<GeoTransform>{t.c!r}, {t.a!r}, 0.0, {t.f!r}, 0.0, {t.e!r}</GeoTransform>"
        f'<VRTRasterBand dataType="{_GDAL_TYPES[infos[0].dtype]}" band="1">{nodata_band}{"".join(sources)}'
        "</VRTRasterBand></VRTDataset>"
    )


def _offset_on(target: GridSpec, source: GridSpec) -> tuple[int, int] | None:
    """(row, col) of the target's pixel (0, 0) in the source grid if the grids align, else None."""
    if not target.crs.equals(source.crs):
        return None
    ts, ss = target.transform, source.transform
    if not (math.isclose(ts.a, ss.a, rel_tol=1e-9) and math.isclose(ts.e, ss.e, rel_tol=1e-9)):
        return None
    dc = (ts.c - ss.c) / ss.a
    dr = (ts.f - ss.f) / ss.e
    if abs(dc - round(dc)) > _ALIGN_TOL or abs(dr - round(dr)) > _ALIGN_TOL:
        return None
    return round(dr), round(dc)


@dataclass(frozen=True)
class LayerSource:
    """One layer (one epoch of it) ready to be read in windows of the pipeline grid.

    Build it with :meth:`plan`; it is a small, picklable description (paths, VRT text, alignment), so dask
    workers read their own windows.
    """

    name: str
    paths: tuple[str, ...]
    vrt_xml: str
    source_grid: GridSpec
    target_grid: GridSpec
    dtype: str
    nodata: float | None
    offset: tuple[int, int] | None
    resampling: str | None
    scale: float | None
    nan_is_nodata: bool = True

    @classmethod
    def plan(
        cls,
        name: str,
        paths: Sequence[str],
        target: GridSpec | None,
        *,
        nodata: float | None = None,
        resampling: str | None = None,
        scale: float | None = None,
        nan_is_nodata: bool = True,
    ) -> LayerSource:
        """Inspect the tiles and decide how they map onto ``target`` (``None``: the layer defines the grid).

        ``nan_is_nodata=False`` keeps NaN cells of a float layer whose nodata value is not NaN as values, so a
        value check (:mod:`sinkmap.engine.checks`) reports them instead of their vanishing as nodata.

        Raises:
            AlignmentError: the layer is on another grid and no ``resampling`` is stated, or it does not
                overlap the target grid.
        """
        grid, infos = inspect_tiles(paths, name)
        target = target or grid
        offset = _offset_on(target, grid)
        if offset is None and resampling is None:
            raise AlignmentError(
                f"layer {name!r} ({paths[0]}{' …' if len(paths) > 1 else ''}) is on a different grid "
                f"({grid.crs_label}, pixel {grid.res}) from the pipeline grid ({target.crs_label}, pixel "
                f"{target.res}); state how to align it: add `resampling: nearest` (categories) or "
                "`resampling: bilinear` (continuous values) to the layer in the pipeline file"
            )
        if resampling is not None and resampling not in _RESAMPLING:
            raise AlignmentError(
                f"layer {name!r}: unknown resampling {resampling!r}; use one of {', '.join(_RESAMPLING)}"
            )
        if not _overlaps(target, grid):
            raise AlignmentError(
                f"layer {name!r} ({paths[0]}) does not overlap the pipeline grid: layer bounds "
                f"{_bounds_in(grid, target)} vs grid bounds {target.bounds} in {target.crs_label}"
            )
        return cls(
            name=name,
            paths=tuple(paths),
            vrt_xml=_mosaic_vrt(grid, infos),
            source_grid=grid,
            target_grid=target,
            dtype=infos[0].dtype,
            nodata=infos[0].nodata if nodata is None else nodata,
            offset=offset,
            resampling=None if offset is not None else resampling,
            scale=scale,
            nan_is_nodata=nan_is_nodata,
        )

    @property
    def aligned(self) -> bool:
        return self.offset is not None

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "files": list(self.paths),
            "dtype": self.dtype,
            "nodata": self.nodata,
            "source_grid": self.source_grid.describe(),
            "alignment": "same grid (read directly)"
            if self.aligned
            else f"reprojected onto the pipeline grid with {self.resampling} resampling (GDAL warp, transformer error ≤ 1e-9 px)",
            "scale": self.scale,
        }

    def _dataset(self) -> rasterio.DatasetReader:
        """This thread's open handle on the mosaic, reused across windows while the files are unchanged.

        Opening costs ~1 ms per layer and window (VRT parse, GeoTIFF header and CRS), as much as decoding a
        uint8 window. GDAL handles are not thread-safe, so each thread keeps its own; a file that changed
        (modification time or size) gets a fresh handle.
        """
        stamp = tuple((p, *_stat(p)) for p in self.paths)
        cache: OrderedDict[str, tuple[object, rasterio.DatasetReader]] = _HANDLES.__dict__.setdefault(
            "open", OrderedDict()
        )
        hit = cache.get(self.vrt_xml)
        if hit is not None and hit[0] == stamp:
            cache.move_to_end(self.vrt_xml)
            return hit[1]
        if hit is not None:
            hit[1].close()
        src = rasterio.open(self.vrt_xml)
        cache[self.vrt_xml] = (stamp, src)
        while len(cache) > _MAX_HANDLES:  # least recently used handles are closed, so files are not held forever
            _, (_, old) = cache.popitem(last=False)
            old.close()
        return src

    def read(self, window: Window) -> tuple[NDArray[np.generic], NDArray[np.bool_]]:
        """Read ``window`` of the target grid: (values, valid mask). Cells outside the layer are invalid."""
        try:
            if self.offset is not None:
                data, valid = self._read_aligned(self._dataset(), window)
            else:
                data, valid = self._read_warped(window)
        except RasterioIOError as exc:
            raise RasterReadError(f"layer {self.name!r}: reading {self.paths[0]} failed: {exc}") from exc
        if self.nodata is not None:
            valid = data != self.nodata if valid is None else valid & (data != self.nodata)
        elif valid is None:
            valid = np.ones(data.shape, dtype=bool)
        if data.dtype.kind == "f" and (self.nan_is_nodata or (self.nodata is not None and np.isnan(self.nodata))):
            valid &= ~np.isnan(data)
        if self.scale is not None:
            data = data.astype(np.float32) * np.float32(self.scale)
        return data, valid

    def _read_warped(self, window: Window) -> tuple[NDArray[np.generic], NDArray[np.bool_] | None]:
        with rasterio.open(self.vrt_xml) as src:
            with WarpedVRT(
                src,
                crs=self.target_grid.crs_wkt,
                transform=self.target_grid.transform,
                width=self.target_grid.width,
                height=self.target_grid.height,
                resampling=_RESAMPLING[self.resampling or "nearest"],
                nodata=self.nodata,
                tolerance=1e-9,  # pixels; 0 is refused by GDAL, and this is exact to float precision
            ) as vrt:
                rio_window = window.to_rasterio()
                data = vrt.read(1, window=rio_window)
                if self.nodata is None:  # no nodata value: ask GDAL which cells the source covers
                    return data, vrt.read_masks(1, window=rio_window) > 0
                return data, None

    def _read_aligned(
        self, src: rasterio.DatasetReader, window: Window
    ) -> tuple[NDArray[np.generic], NDArray[np.bool_] | None]:
        """The window's cells from an aligned mosaic, and which are inside it (``None``: all of them)."""
        assert self.offset is not None
        row0 = window.row_off + self.offset[0]
        col0 = window.col_off + self.offset[1]
        r0, c0 = max(row0, 0), max(col0, 0)
        r1 = min(row0 + window.height, src.height)
        c1 = min(col0 + window.width, src.width)
        if row0 >= 0 and col0 >= 0 and row0 + window.height <= src.height and col0 + window.width <= src.width:
            return src.read(1, window=RioWindow(col0, row0, window.width, window.height)), None  # all inside
        fill = 0 if self.nodata is None else self.nodata
        out = np.full((window.height, window.width), fill, dtype=self.dtype)
        inside = np.zeros((window.height, window.width), dtype=bool)
        if r1 > r0 and c1 > c0:
            rio_window = RioWindow(c0, r0, c1 - c0, r1 - r0)
            out[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = src.read(1, window=rio_window)
            inside[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = True
        return out, inside


def _bounds_in(source: GridSpec, target: GridSpec) -> tuple[float, float, float, float]:
    from rasterio.warp import transform_bounds

    if source.crs.equals(target.crs):
        return source.bounds
    left, bottom, right, top = transform_bounds(source.crs_wkt, target.crs_wkt, *source.bounds, densify_pts=21)
    return (left, bottom, right, top)


def _overlaps(target: GridSpec, source: GridSpec) -> bool:
    try:
        left, bottom, right, top = _bounds_in(source, target)
    except Exception:
        return False
    t_left, t_bottom, t_right, t_top = target.bounds
    return left < t_right and right > t_left and bottom < t_top and top > t_bottom


_MEMORY = threading.local()  # per-thread open handles and the last window read, see CoarseSource
MAX_COARSE_PIXELS = 25_000_000
"""A layer on another grid is held in memory (with what is derived from it) up to this many source pixels."""


@dataclass(frozen=True, eq=False)
class CoarseSource:
    """A layer on its own (usually much coarser) grid, held in memory together with bands derived from it on that
    grid, and aligned onto the target grid window by window by GDAL's warper, as :class:`LayerSource` does.

    All bands go through one warp per window (the transformer, not the resampling, is the cost of a warp), so a
    quantity derived on the coarse grid costs nothing more to align than the layer itself. The arrays travel to
    dask workers as a small in-memory GeoTIFF.

    Attributes:
        name: the layer's name (for messages).
        bands: names of the bands: the layer itself first, then the derived quantities.
        tif: the bands as a GeoTIFF (bytes), on ``source_grid``, float32, ``nodata`` where invalid.
        paths: the files the layer was read from.
        methods: for each derived band, how it was computed (for the manifest).
    """

    name: str
    bands: tuple[str, ...]
    tif: bytes
    source_grid: GridSpec
    target_grid: GridSpec
    nodata: float
    resampling: str
    paths: tuple[str, ...]
    methods: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Content key of the in-memory raster (per-thread handles are shared by equal sources)."""
        cached = self.__dict__.get("_key")
        if cached is None:
            cached = hashlib.sha256(self.tif).hexdigest()
            object.__setattr__(self, "_key", cached)
        return cached

    @classmethod
    def derive(
        cls,
        layer: LayerSource,
        derived: dict[str, tuple[Callable[[NDArray[np.float32], NDArray[np.float64]], NDArray[np.float64]], str]],
    ) -> CoarseSource:
        """Read ``layer`` whole on its own grid and compute ``derived`` bands there.

        Args:
            layer: an unaligned layer (its ``resampling`` is used for every band).
            derived: band name → (function of (values with NaN where invalid, latitude of each source pixel
                centre in degrees) returning the band, description of the method).
        """
        grid = layer.source_grid
        with rasterio.open(layer.vrt_xml) as src:
            data = src.read(1).astype(np.float32)
            valid = src.read_masks(1) > 0 if layer.nodata is None else data != np.float32(layer.nodata)
        valid &= ~np.isnan(data)
        if layer.scale is not None:
            data = data * np.float32(layer.scale)
        values = np.where(valid, data, np.float32(np.nan))
        lat = grid.latitude_deg(Window(0, 0, grid.height, grid.width), lattice=1)
        nodata = -3.4e38
        stack = [np.where(valid, values, np.float32(nodata))]
        methods = []
        for func, method in derived.values():
            band = np.asarray(func(values, np.broadcast_to(lat, values.shape)), dtype=np.float32)
            stack.append(np.where(valid & np.isfinite(band), band, np.float32(nodata)))
            methods.append(method)
        with MemoryFile() as memfile:
            with memfile.open(
                driver="GTiff",
                width=grid.width,
                height=grid.height,
                count=len(stack),
                dtype="float32",
                crs=grid.crs_wkt,
                transform=grid.transform,
                nodata=nodata,
            ) as dst:
                dst.write(np.stack(stack))
            tif = memfile.read()
        return cls(
            name=layer.name,
            bands=(layer.name, *derived),
            tif=tif,
            source_grid=grid,
            target_grid=layer.target_grid,
            nodata=nodata,
            resampling=layer.resampling or "nearest",
            paths=layer.paths,
            methods=tuple(methods),
        )

    def read_bands(self, window: Window) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Every band of ``window`` (shape ``(bands, height, width)``) and the cells the layer covers."""
        key = (self.key, self.target_grid)
        cache: dict[Any, tuple[Window, Any, Any]] = _MEMORY.__dict__.setdefault("coarse", {})
        hit = cache.get(key)
        if hit is not None and hit[0] == window:
            return hit[1], hit[2]
        handles: OrderedDict[Any, tuple[Any, Any, Any]] = _MEMORY.__dict__.setdefault("handles", OrderedDict())
        if key not in handles:
            memfile = MemoryFile(self.tif)
            src = memfile.open()
            vrt = WarpedVRT(
                src,
                crs=self.target_grid.crs_wkt,
                transform=self.target_grid.transform,
                width=self.target_grid.width,
                height=self.target_grid.height,
                resampling=_RESAMPLING[self.resampling],
                nodata=self.nodata,
                tolerance=1e-9,  # as LayerSource: effectively exact per pixel
            )
            handles[key] = (memfile, src, vrt)
            while len(handles) > 4:  # sources of earlier runs in this process
                _, (old_file, old_src, old_vrt) = handles.popitem(last=False)
                old_vrt.close()
                old_src.close()
                old_file.close()
                cache.clear()
        handles.move_to_end(key)
        vrt = handles[key][2]
        data = vrt.read(window=window.to_rasterio(), out_dtype="float32")
        valid = data[0] != np.float32(self.nodata)
        cache[key] = (window, data, valid)
        return data, valid

    def band(self, name: str) -> CoarseBand:
        return CoarseBand(self, self.bands.index(name))

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "files": list(self.paths),
            "source_grid": self.source_grid.describe(),
            "alignment": f"held in memory on its own grid and reprojected onto the pipeline grid with {self.resampling} "
            "resampling (GDAL warp, transformer error ≤ 1e-9 px)",
            "derived_on_layer_grid": dict(zip(self.bands[1:], self.methods, strict=True)),
        }


@dataclass(frozen=True)
class CoarseBand:
    """One band of a :class:`CoarseSource`, read like a :class:`LayerSource` (values, valid)."""

    source: CoarseSource
    index: int

    @property
    def paths(self) -> tuple[str, ...]:
        return self.source.paths

    @property
    def name(self) -> str:
        return self.source.bands[self.index]

    @property
    def aligned(self) -> bool:
        return False

    def read(self, window: Window) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        data, valid = self.source.read_bands(window)
        values = data[self.index]
        return values, valid & (values != np.float32(self.source.nodata))

    def describe(self) -> dict[str, object]:
        return {**self.source.describe(), "band": self.name}
