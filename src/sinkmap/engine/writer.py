"""Writing per-pixel outputs: window parts written by workers, assembled into one Cloud-Optimized GeoTIFF."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from numpy.typing import NDArray

from sinkmap.engine.grid import GridSpec, Window
from sinkmap.engine.sources import _GDAL_TYPES

__all__ = ["RasterPart", "assemble_cog", "write_part"]

_NODATA = {"uint8": 255, "float32": -9999.0}


@dataclass(frozen=True)
class RasterPart:
    name: str
    path: str
    window: Window
    dtype: str
    nodata: float


def write_part(work_dir: str, name: str, window: Window, grid: GridSpec, data: NDArray[np.generic]) -> RasterPart:
    """Write one window of an output raster to its own small GeoTIFF under ``work_dir/name/``."""
    folder = Path(work_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"r{window.row_off:07d}_c{window.col_off:07d}.tif"
    dtype = str(data.dtype)
    nodata = _NODATA[dtype]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=window.width,
        height=window.height,
        count=1,
        dtype=dtype,
        crs=grid.crs_wkt,
        transform=grid.window_transform(window),
        nodata=nodata,
        compress="lzw",
    ) as dst:
        dst.write(data, 1)
    return RasterPart(name, str(path), window, dtype, nodata)


def assemble_cog(parts: Sequence[RasterPart], grid: GridSpec, dst: Path, tags: Mapping[str, str]) -> Path:
    """Mosaic window parts (through an in-memory VRT) into one COG at ``dst`` carrying ``tags``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    t = grid.transform
    first = parts[0]
    sources = "".join(
        f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(p.path)}</SourceFilename><SourceBand>1</SourceBand>'
        f'<SrcRect xOff="0" yOff="0" xSize="{p.window.width}" ySize="{p.window.height}"/>'
        f'<DstRect xOff="{p.window.col_off}" yOff="{p.window.row_off}" xSize="{p.window.width}" '
        f'ySize="{p.window.height}"/></SimpleSource>'
        for p in parts
    )
    metadata = "".join(f'<MDI key="{escape(k)}">{escape(v)}</MDI>' for k, v in tags.items())
    vrt = (
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}"><SRS>{escape(grid.crs_wkt)}</SRS>'
        f"<GeoTransform>{t.c!r}, {t.a!r}, 0.0, {t.f!r}, 0.0, {t.e!r}</GeoTransform>"
        f"<Metadata>{metadata}</Metadata>"
        f'<VRTRasterBand dataType="{_GDAL_TYPES[first.dtype]}" band="1"><NoDataValue>{first.nodata!r}</NoDataValue>'
        f"<Description>{escape(tags.get('DESCRIPTION', first.name))}</Description>{sources}</VRTRasterBand></VRTDataset>"
    )
    predictor = "3" if first.dtype.startswith("float") else "2"
    rasterio.shutil.copy(
        vrt, dst, driver="COG", COMPRESS="DEFLATE", PREDICTOR=predictor, BLOCKSIZE="512", NUM_THREADS="ALL_CPUS"
    )
    return dst
