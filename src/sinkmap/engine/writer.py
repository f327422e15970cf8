"""Per-pixel outputs: windows written as they arrive, then one Cloud-Optimized GeoTIFF per raster.

The client (the process that runs the job) owns the files: window results come back from threads or cluster
workers and :class:`RasterWriter` writes them into an uncompressed tiled GeoTIFF in the run's scratch folder. When
every window is in, GDAL's COG driver turns each into the final COG (DEFLATE, predictor, 512-pixel tiles,
overviews), so pixels are compressed once, by GDAL's own multi-threaded encoder. Nothing is shared with workers.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
import rasterio.shutil
from numpy.typing import NDArray
from rasterio._err import CPLE_BaseError

from sinkmap.engine.grid import GridSpec, Window
from sinkmap.engine.step import RasterSpec, StatKey
from sinkmap.errors import OutputWriteError

__all__ = ["RasterWriter"]


@contextlib.contextmanager
def _writing(path: Path | str) -> Iterator[None]:
    """Turn GDAL's write failures (a full disk, a size limit, a vanished folder) into one line naming the file."""
    try:
        yield
    except OutputWriteError:
        raise
    except (OSError, rasterio.errors.RasterioError, CPLE_BaseError) as exc:
        folder = Path(path).parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = None
        reason = " ".join(str(exc).split())
        cause = "the disk is full" if free is not None and free < 64 * 2**20 else f"GDAL: {reason}"
        raise OutputWriteError(
            f"output_dir: cannot write {path} ({cause}); free some space or choose another output_dir (-o), then "
            "run again"
        ) from exc


class RasterWriter:
    """Collects window arrays for a set of rasters and finishes them as COGs in ``folder``."""

    def __init__(
        self, folder: Path, grid: GridSpec, specs: Sequence[RasterSpec], *, scratch: Path, resume: bool = False
    ) -> None:
        self.folder = folder
        self.grid = grid
        self.specs = {spec.key: spec for spec in specs}
        self._scratch = scratch
        self._open: dict[StatKey, Any] = {}
        if specs:
            scratch.mkdir(parents=True, exist_ok=True)
        for spec in specs:
            path = scratch / f"{spec.stem}.tif"
            if resume and path.exists():  # an interrupted run's windows are kept; later ones are written again
                with _writing(path):
                    self._open[spec.key] = rasterio.open(path, "r+")
                continue
            with _writing(path):
                self._open[spec.key] = self._create(path, spec)

    def _create(self, path: Path, spec: RasterSpec) -> Any:
        grid = self.grid
        return rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=grid.width,
            height=grid.height,
            count=1,
            dtype=spec.dtype,
            crs=grid.crs_wkt,
            transform=grid.transform,
            nodata=spec.nodata,
            tiled=True,
            blockxsize=512,
            blockysize=512,
            BIGTIFF="IF_SAFER",
            SPARSE_OK="TRUE",
        )

    def write(self, window: Window, arrays: Mapping[StatKey, NDArray[Any]]) -> None:
        """Write one window of every raster in ``arrays``."""
        for key, data in arrays.items():
            with _writing(self._open[key].name):
                self._open[key].write(data, 1, window=window.to_rasterio())

    def flush(self) -> None:
        """Hand every window written so far to the operating system (closing and reopening the scratch files), so
        a process killed afterwards loses none of them."""
        for key, dst in list(self._open.items()):
            path = dst.name
            with _writing(path):
                dst.close()
                self._open[key] = rasterio.open(path, "r+")

    def finish(self) -> dict[StatKey, Path]:
        """Close the scratch files and write one COG per raster; returns their paths."""
        out: dict[StatKey, Path] = {}
        if self._open:
            self.folder.mkdir(parents=True, exist_ok=True)
        for key, dst in list(self._open.items()):
            spec = self.specs[key]
            tags = {"DESCRIPTION": spec.description, "UNITS": spec.unit, **spec.tags}
            path = Path(dst.name)
            with _writing(path):
                dst.update_tags(**tags)
                dst.set_band_description(1, spec.description)
                del self._open[key]
                dst.close()
            target = self.folder / f"{spec.stem}.tif"
            predictor = "3" if np.dtype(spec.dtype).kind == "f" else "2"
            with _writing(target):
                rasterio.shutil.copy(
                    path,
                    target,
                    driver="COG",
                    COMPRESS="DEFLATE",
                    PREDICTOR=predictor,
                    BLOCKSIZE="512",
                    NUM_THREADS="ALL_CPUS",
                )
            path.unlink()
            out[key] = target
        return out

    def close(self, *, keep: bool = False) -> None:
        """Close any scratch file still open (after an error) and remove it unless ``keep``."""
        for dst in self._open.values():
            path = Path(dst.name)
            dst.close()
            if not keep:
                path.unlink(missing_ok=True)
        self._open.clear()

    def __enter__(self) -> RasterWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
