"""The installed version of sinkmap (a module of its own, so modules can import it without the package face)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sinkmap")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
