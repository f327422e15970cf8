"""Derived layers: a layer computed window by window from other layers, as the pipeline defines it.

A pipeline can name rasters that are no role (``inputs:``: monthly precipitation, daily minimum and maximum
temperature, a user's class map) and define a role from them (``derived:``) instead of writing rasters by hand:

=============== ======================================================================================
operation       value of each pixel
=============== ======================================================================================
``sum``         the sum of the layers (annual precipitation from twelve monthly rasters)
``mean``        their mean (mean temperature from tmin and tmax)
``min``/``max`` their minimum / maximum
``threshold``   1 where the layer is above ``above`` (or below ``below``), else 0
``reclassify``  the layer's code mapped by ``map`` (codes not in the map are no data unless ``default``)
=============== ======================================================================================

A :class:`DerivedSource` is a :class:`~sinkmap.engine.sources.Source`: it reads its inputs for the window it is
asked for and combines them there, so nothing is computed before a step needs it and nothing is held for the whole
grid. **Nodata propagates**: a pixel that is no data in any input is no data in the result. The manifest's layers
describe the operation and its inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.grid import Window
from sinkmap.engine.sources import Source

__all__ = ["OPERATIONS", "DerivedSource", "parse_mapping"]

OPERATIONS = ("sum", "mean", "min", "max", "threshold", "reclassify")


@dataclass(frozen=True)
class DerivedSource:
    """A layer computed per window from ``inputs`` by ``operation`` (see the module docstring).

    Attributes:
        name: the derived layer's name (a role, or another input's name).
        operation: one of :data:`OPERATIONS`.
        inputs: the layers it is computed from (one for ``threshold`` and ``reclassify``).
        above, below: the threshold's bound (exactly one of them; strict inequality).
        mapping: code → code for ``reclassify``; ``default`` for codes not in it (``None``: no data).
    """

    name: str
    operation: str
    inputs: tuple[Source, ...]
    above: float | None = None
    below: float | None = None
    mapping: tuple[tuple[int, int], ...] = ()
    default: int | None = None

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ValueError(f"unknown operation {self.operation!r}")

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p for source in self.inputs for p in source.paths)

    @property
    def aligned(self) -> bool:
        return all(getattr(source, "aligned", True) for source in self.inputs)

    def _values(self, source: Source, window: Window) -> tuple[NDArray[Any], NDArray[np.bool_]]:
        values, valid = source.read(window)
        reclassify = getattr(source, "reclassify", None)  # an input with a product legend
        if reclassify is not None:
            values, valid = reclassify(values, valid)
        return values, valid

    def read(self, window: Window) -> tuple[NDArray[Any], NDArray[np.bool_]]:
        """(values, valid) of ``window``: float32 for the arithmetic operations, int32 codes for the others."""
        if self.operation in ("sum", "mean", "min", "max"):
            total: NDArray[np.float64] | None = None
            valid_all: NDArray[np.bool_] | None = None
            for source in self.inputs:
                values, valid = self._values(source, window)
                as_float = values.astype(np.float64)
                if total is None:
                    total, valid_all = as_float, valid.copy()
                    continue
                assert valid_all is not None
                valid_all &= valid
                if self.operation in ("sum", "mean"):
                    total = total + as_float
                elif self.operation == "min":
                    total = np.minimum(total, as_float)
                else:
                    total = np.maximum(total, as_float)
            assert total is not None and valid_all is not None
            if self.operation == "mean":
                total = total / len(self.inputs)
            valid_all &= np.isfinite(total)
            return np.where(valid_all, total, np.nan).astype(np.float32), valid_all
        values, valid = self._values(self.inputs[0], window)
        if self.operation == "threshold":
            with np.errstate(invalid="ignore"):
                hit = values > self.above if self.above is not None else values < self.below
            return np.where(valid, hit.astype(np.int32), np.int32(-1)), valid
        codes = values.astype(np.int64)
        out = np.full(codes.shape, -1 if self.default is None else self.default, dtype=np.int32)
        mapped = np.zeros(codes.shape, dtype=bool)
        for source_code, target in self.mapping:
            hit = codes == source_code
            out[hit] = target
            mapped |= hit
        ok = valid & (mapped | (self.default is not None))
        return np.where(ok, out, np.int32(-1)), ok

    def describe(self) -> dict[str, object]:
        how: dict[str, object] = {"operation": self.operation, "of": [s.name for s in self.inputs]}
        if self.operation == "threshold":
            how["above" if self.above is not None else "below"] = self.above if self.above is not None else self.below
        if self.operation == "reclassify":
            how["map"] = {str(k): v for k, v in self.mapping}
            how["default"] = self.default
        return {
            "name": self.name,
            "files": list(self.paths),
            "derived": how,
            "alignment": "computed per window from its inputs on the pipeline grid (no data where any input is no data)",
            "inputs": [s.describe() for s in self.inputs],
        }


def parse_mapping(raw: Mapping[Any, Any]) -> tuple[tuple[int, int], ...]:
    """``{from: to}`` with whole-number keys and values (raises ``ValueError`` otherwise)."""
    out = []
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int) or isinstance(key, bool):
            raise ValueError(f"{key}: {value}")
        out.append((int(key), int(value)))
    return tuple(out)
