"""Steps: typed, pure functions of one window's inputs that return per-pixel products and statistics.

A job is a sequence of :class:`Step` objects. For each window the engine builds one :class:`WindowInputs` (every
layer read at most once, static layers once for all epochs) and calls each step's :meth:`Step.run` with the
inputs and the products of the steps before it. A step returns a :class:`StepOutput`:

* ``stats``: per-pixel values whose coverage-weighted sums per region are the step's statistics. A statistic
  declared with ``weight="area"`` is a quantity *per m²* (1 for an area; t C/m² for a carbon stock), which the
  engine multiplies by true pixel area; ``weight="cells"`` sums the values as they are (pixel counts, sums of
  values). Cells with no value hold 0.
* ``rasters``: per-pixel outputs written as Cloud-Optimized GeoTIFFs.
* ``crosstabs``: integer codes (−1 for none) counted per region by true area (transition matrices).
* ``products``: a typed object for later steps (the forest masks for the carbon step, …).

Steps never read files, keep no state between windows and never mutate their inputs.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Generic, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.checks import ValueCheck, WindowCheck
from sinkmap.engine.grid import GridSpec, Window
from sinkmap.engine.sources import Source

__all__ = [
    "CrosstabSpec",
    "Earlier",
    "LayerKey",
    "RasterSpec",
    "StatKey",
    "StatSpec",
    "Step",
    "StepOutput",
    "WindowInputs",
    "per_m2",
]

LayerKey = tuple[str, int | None]
"""(role or layer name, epoch); epoch ``None`` for a static layer."""
StatKey = tuple[str, int | None]
"""(statistic name, epoch or ``None``)."""

P = TypeVar("P")


@dataclass(frozen=True)
class StatSpec:
    """One accumulated statistic: a coverage-weighted sum per region.

    Attributes:
        name: base name with its unit (``forest_area_m2``, ``forest_agb_t_c``).
        epoch: the epoch it belongs to, or ``None``.
        unit: unit of the regional sum (``m2``, ``m3``, ``t C``, ``t C/yr``, ``cells``).
        description: one line for the manifest.
        weight: ``area`` (per-m² values × true pixel area) or ``cells`` (values summed as they are).
    """

    name: str
    epoch: int | None
    unit: str
    description: str
    weight: Literal["area", "cells"] = "area"

    @property
    def key(self) -> StatKey:
        return (self.name, self.epoch)


@dataclass(frozen=True)
class RasterSpec:
    """One per-pixel output raster (a COG in the run's ``rasters/`` folder)."""

    name: str
    epoch: int | None
    dtype: str
    nodata: float
    unit: str
    description: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> StatKey:
        return (self.name, self.epoch)

    @property
    def stem(self) -> str:
        return self.name if self.epoch is None else f"{self.name}_{self.epoch}"


@dataclass(frozen=True)
class CrosstabSpec:
    """A cross-tabulation: true area per region of each integer code ``0 … n_codes − 1``."""

    name: str
    n_codes: int
    description: str


@dataclass
class StepOutput(Generic[P]):
    """What a step returns for one window (see the module docstring)."""

    products: P
    stats: dict[StatKey, NDArray[Any]] = field(default_factory=dict)
    rasters: dict[StatKey, NDArray[Any]] = field(default_factory=dict)
    crosstabs: dict[str, NDArray[np.integer[Any]]] = field(default_factory=dict)
    notes: frozenset[tuple[str, int]] = frozenset()


def per_m2(density_per_ha: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """A density per hectare (NaN = no estimate) as the per-m² statistic value steps return: ÷ 10 000, 0 where NaN."""
    return np.where(np.isfinite(density_per_ha), density_per_ha, 0.0) / 10_000.0


class Earlier:
    """The products of the steps that ran before, looked up by step type."""

    def __init__(self) -> None:
        self._by_type: dict[type, Any] = {}

    def add(self, step: Step[Any], products: Any) -> None:
        self._by_type[type(step)] = products

    def get(self, step_type: type[Step[P]]) -> P:
        try:
            return self._by_type[step_type]
        except KeyError:
            raise RuntimeError(f"step {step_type.__name__} must run before this one") from None


class Step(ABC, Generic[P]):
    """A typed, pure per-window computation (see the module docstring)."""

    name: ClassVar[str]

    @abstractmethod
    def stats(self) -> tuple[StatSpec, ...]:
        """The statistics :meth:`run` returns, in a fixed order."""

    def rasters(self) -> tuple[RasterSpec, ...]:
        """The per-pixel rasters :meth:`run` returns."""
        return ()

    def crosstabs(self) -> tuple[CrosstabSpec, ...]:
        """The cross-tabulations :meth:`run` returns."""
        return ()

    @abstractmethod
    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[P]:
        """Compute one window."""


class WindowInputs:
    """The input layers of one window, each read at most once (a static layer once for every epoch).

    Values come in the form a step needs: :meth:`layer` gives ``(values, valid)`` as read; :meth:`continuous`
    gives float32 with NaN where invalid; :meth:`categorical` gives int32 with −1 where invalid. Conversions are
    cached, so several steps asking for the same layer cost one read and one conversion. A layer with a
    :class:`~sinkmap.engine.checks.ValueCheck` is checked as it is read: cells outside its valid range or legend
    become invalid, and what was found is kept in :attr:`checked` for the job to act on.
    """

    def __init__(
        self,
        grid: GridSpec,
        window: Window,
        layers: Mapping[LayerKey, Source],
        checks: Mapping[LayerKey, ValueCheck] | None = None,
    ) -> None:
        self.grid = grid
        self.window = window
        self._layers = layers
        self._checks = checks or {}
        self.checked: dict[LayerKey, WindowCheck] = {}
        self._read: dict[LayerKey, tuple[NDArray[Any], NDArray[np.bool_]]] = {}
        self._converted: dict[tuple[str, LayerKey], NDArray[Any]] = {}
        self.read_seconds = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.window.height, self.window.width)

    def _key(self, name: str, epoch: int | None) -> LayerKey | None:
        if (name, epoch) in self._layers:
            return (name, epoch)
        if (name, None) in self._layers:
            return (name, None)
        return None

    def has(self, name: str, epoch: int | None = None) -> bool:
        """Whether the layer exists (for ``epoch``, or as a static layer)."""
        if epoch is None:
            return any(role == name for role, _ in self._layers)
        return self._key(name, epoch) is not None

    def layer(self, name: str, epoch: int | None = None) -> tuple[NDArray[Any], NDArray[np.bool_]] | None:
        """(values as read, valid mask) of a layer for ``epoch`` (static layers serve every epoch), or None."""
        key = self._key(name, epoch)
        if key is None:
            return None
        if key not in self._read:
            started = time.perf_counter()
            source = self._layers[key]
            values, valid = source.read(self.window)
            check = self._checks.get(key)
            if check is not None:  # on the codes as read: invalid values become nodata; the job decides on errors
                valid, self.checked[key] = check.check(values, valid, self.window)
            reclassify = getattr(source, "reclassify", None)  # a LegendSource: raw codes → internal codes
            if reclassify is not None:
                values, valid = reclassify(values, valid)
            self._read[key] = (values, valid)
            self.read_seconds += time.perf_counter() - started
        return self._read[key]

    def continuous(self, name: str, epoch: int | None = None) -> NDArray[np.float32] | None:
        """A layer as float32 with NaN where invalid, or None if absent."""
        key = self._key(name, epoch)
        if key is None:
            return None
        cache = ("continuous", key)
        if cache not in self._converted:
            values, valid = self.layer(*key)  # type: ignore[misc]
            self._converted[cache] = np.where(valid, values.astype(np.float32, copy=False), np.float32(np.nan))
        return self._converted[cache]

    def categorical(self, name: str, epoch: int | None = None) -> NDArray[np.int32] | None:
        """A layer as int32 codes with −1 where invalid, or None if absent."""
        key = self._key(name, epoch)
        if key is None:
            return None
        cache = ("categorical", key)
        if cache not in self._converted:
            values, valid = self.layer(*key)  # type: ignore[misc]
            self._converted[cache] = np.where(valid, values.astype(np.int32, copy=False), np.int32(-1))
        return self._converted[cache]

    @cached_property
    def pixel_area_m2(self) -> NDArray[np.float64]:
        """True area of each pixel (m²), broadcastable to the window's shape."""
        return self.grid.pixel_area_m2(self.window)

    @cached_property
    def latitude_deg(self) -> NDArray[np.float64]:
        """Latitude of each pixel centre, degrees north, broadcastable to the window's shape."""
        return self.grid.latitude_deg(self.window)
