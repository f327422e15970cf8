"""Independent polygons for the per-polygon tools (``zonal_stats``, ``sinkmap invest``, ``sinkmap loss``), and
running their jobs with a raster folder.

Unlike a pipeline's region levels, these polygons are not summed into parents or a nation, so they may overlap.
Without a polygon file the raster's whole extent is the one region.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from sinkmap.engine.grid import GridSpec
from sinkmap.engine.job import Job, JobResult, run_job
from sinkmap.engine.regions import RegionLayerSpec, RegionLevel, level_from_frame, load_level
from sinkmap.errors import ConfigError

__all__ = ["polygon_level", "run_with_rasters"]


def polygon_level(
    regions: str | Path | gpd.GeoDataFrame | None,
    grid: GridSpec,
    *,
    id_field: str | None,
    name_field: str | None = None,
) -> RegionLevel:
    """The polygons to report by (overlaps allowed), or the grid's extent as one region named ``extent``."""
    if regions is None:
        frame = gpd.GeoDataFrame(
            {"id": ["extent"], "name": ["raster extent"]}, geometry=[shapely.box(*grid.bounds)], crs=grid.crs
        )
        return level_from_frame(frame, RegionLayerSpec("regions", "<raster extent>", "id", "name"), allow_overlaps=True)
    if id_field is None:
        raise ConfigError("--regions needs --id-field: the field holding each polygon's id")
    if isinstance(regions, gpd.GeoDataFrame):
        spec = RegionLayerSpec("regions", "<GeoDataFrame>", id_field, name_field or id_field)
        return level_from_frame(regions, spec, allow_overlaps=True)
    return load_level(RegionLayerSpec("regions", str(regions), id_field, name_field or id_field), allow_overlaps=True)


def run_with_rasters(job: Job, raster_dir: str | Path | None, **kwargs: Any) -> JobResult:
    """:func:`~sinkmap.engine.job.run_job` writing the job's rasters into ``raster_dir`` (its scratch folder
    inside it, removed afterwards)."""
    folder = Path(raster_dir) if raster_dir is not None else None
    scratch = folder / ".scratch" if folder is not None else None
    result = run_job(job, raster_dir=folder, scratch_dir=scratch, **kwargs)
    if scratch is not None and scratch.is_dir() and not any(scratch.iterdir()):
        scratch.rmdir()
    return result
