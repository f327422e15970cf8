"""sinkmap: ecosystem carbon-sink estimation from satellite raster tiles."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sinkmap")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
