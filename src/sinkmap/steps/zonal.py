"""The zonal step: per layer, the coverage-weighted count, sum and true area of valid cells; per class, the area
and count of cells whose code is in the class (the statistics of :func:`sinkmap.apps.zonal.zonal_stats`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.step import Earlier, StatSpec, Step, StepOutput, WindowInputs

__all__ = ["LAYER_STATS", "ZonalStep"]

LAYER_STATS = ("count", "sum", "area")


def _zero_invalid(values: NDArray[Any], valid: NDArray[np.bool_], nodata: float | None) -> NDArray[Any]:
    """``values`` with invalid cells set to 0, skipping the pass where they already are."""
    if values.dtype.kind in "iub":
        if nodata is None or nodata == 0:  # invalid cells hold the nodata value or the 0 fill outside the layer
            return values
        return np.multiply(values, valid, dtype=values.dtype)
    return np.where(valid, values, values.dtype.type(0))


def _members(
    values: NDArray[Any], valid: NDArray[np.bool_], codes: tuple[int, ...], nodata: float | None
) -> NDArray[np.bool_]:
    """Cells whose code is in ``codes``; one comparison per code (np.isin builds a lookup table every call)."""
    if len(codes) <= 4:
        member = values == values.dtype.type(codes[0])
        for code in codes[1:]:
            member |= values == values.dtype.type(code)
    else:
        member = np.isin(values, np.asarray(codes, dtype=values.dtype))
    # invalid cells hold the nodata value (inside or outside the layer): when it is no class code, they are no members
    if values.dtype.kind in "iu" and nodata is not None and nodata not in codes:
        return member
    return member & valid


@dataclass(frozen=True)
class ZonalStep(Step[None]):
    """Zonal statistics of named layers (static layers of the job, keyed by name).

    Attributes:
        layers: layer name → (statistics wanted from ``count``, ``sum``, ``area``; the layer's nodata value).
        classes: class name → (layer name, codes).
    """

    name = "zonal"
    layers: tuple[tuple[str, tuple[str, ...], float | None], ...]
    classes: tuple[tuple[str, str, tuple[int, ...]], ...] = ()

    def stats(self) -> tuple[StatSpec, ...]:
        out = []
        for name, wanted, _ in self.layers:
            if "count" in wanted:
                out.append(StatSpec(f"{name}_count", None, "cells", "coverage-weighted count of valid cells", "cells"))
            if "sum" in wanted:
                out.append(StatSpec(f"{name}_sum", None, "layer unit", "coverage-weighted sum of values", "cells"))
            if "area" in wanted:
                out.append(StatSpec(f"{name}_area_m2", None, "m2", "true area of valid cells, m²"))
        for name, _, _ in self.classes:
            out.append(StatSpec(f"{name}_count", None, "cells", "coverage-weighted count of cells in the class", "cells"))
            out.append(StatSpec(f"{name}_area_m2", None, "m2", "true area of cells in the class, m²"))
        return tuple(out)

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[None]:
        out: StepOutput[None] = StepOutput(None)
        nodata = {name: value for name, _, value in self.layers}
        for name, wanted, _ in self.layers:
            got = inputs.layer(name)
            assert got is not None
            data, valid = got
            if "count" in wanted:
                out.stats[(f"{name}_count", None)] = valid
            if "area" in wanted:
                out.stats[(f"{name}_area_m2", None)] = valid  # the same array: one pixel pass for both
            if "sum" in wanted:
                out.stats[(f"{name}_sum", None)] = _zero_invalid(data, valid, nodata[name])
        for name, layer, codes in self.classes:
            got = inputs.layer(layer)
            assert got is not None
            member = _members(got[0], got[1], codes, nodata[layer])
            out.stats[(f"{name}_count", None)] = member
            out.stats[(f"{name}_area_m2", None)] = member
        return out
