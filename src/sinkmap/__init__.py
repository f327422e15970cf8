"""sinkmap: ecosystem carbon-sink estimation from satellite raster tiles."""

from sinkmap._version import __version__

__all__ = ["__version__", "open_pipeline", "run_pipeline", "zonal_stats"]


def __getattr__(name: str) -> object:
    """The Python API, imported on first use (so ``sinkmap --version`` does not load every library)."""
    if name == "open_pipeline":
        from sinkmap.api import open_pipeline

        return open_pipeline
    if name == "run_pipeline":
        from sinkmap.apps.pipeline import run_pipeline

        return run_pipeline
    if name == "zonal_stats":
        from sinkmap.apps.zonal import zonal_stats

        return zonal_stats
    raise AttributeError(f"module 'sinkmap' has no attribute {name!r}")
