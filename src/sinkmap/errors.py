"""The errors sinkmap raises.

Every error derives from :class:`SinkmapError`; each subclass also inherits the builtin it resembles, so callers
that catch ``ValueError`` or ``OSError`` keep working. Messages say what was wrong, where (file, key or layer) and
how to fix it; the command line prints them as one line and exits with status 2.
"""

from __future__ import annotations

__all__ = [
    "AlignmentError",
    "CRSError",
    "ConfigError",
    "FactorTableError",
    "InputNotFoundError",
    "OutputExistsError",
    "OutputWriteError",
    "RasterReadError",
    "RegionError",
    "SinkmapError",
]


class SinkmapError(Exception):
    """Root of every error sinkmap raises on purpose."""


class ConfigError(SinkmapError, ValueError):
    """A pipeline file (or another configuration file) has an unknown, missing or invalid key."""


class InputNotFoundError(SinkmapError, FileNotFoundError):
    """An input file named in a configuration does not exist or matches no file."""


class RasterReadError(SinkmapError, OSError):
    """A raster cannot be opened or read."""


class CRSError(SinkmapError, ValueError):
    """A raster or vector layer has no coordinate reference system, or one sinkmap cannot use."""


class AlignmentError(SinkmapError, ValueError):
    """Layers or tiles cannot be put on one grid (different CRS or pixel size where alignment is not allowed)."""


class RegionError(SinkmapError, ValueError):
    """A region layer is unusable: missing id/name fields, invalid geometry, or no overlap with the rasters."""


class FactorTableError(SinkmapError, ValueError):
    """A factor table is malformed or lacks a factor that a computation needs."""


class OutputExistsError(SinkmapError, FileExistsError):
    """An output already exists and overwriting was not asked for."""


class OutputWriteError(SinkmapError, OSError):
    """An output cannot be created or written (permissions, a file in the way, a full disk)."""
