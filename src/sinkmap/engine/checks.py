"""Checks of input values against their layer's role: valid range, legend, and at least one valid pixel.

Every layer a job reads is checked in every window, as it is read (:class:`~sinkmap.engine.step.WindowInputs`),
before any step sees it. A value that is not nodata but lies outside the role's valid range (a negative growing
stock, canopy cover of 200 %, NaN or ±inf) or a code outside the legend (land-cover 42) is *invalid*:

* policy ``error`` (the default): the job stops and raises :class:`InvalidValuesError` naming the layer, its
  file, how many pixels were found, one example with its location, and the fixes;
* policy ``mask``: the pixels are treated as nodata and counted; the counts go into the run summary and the
  manifest.

A layer with no valid pixel at all in the windows that touch a region (an epoch that is entirely nodata) is an
error under either policy. Counts are exact sums over windows, so they do not depend on the chunk size or the
scheduler; the example is the first invalid pixel in window order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.grid import GridSpec, Window
from sinkmap.errors import SinkmapError

__all__ = ["POLICIES", "CheckTally", "InvalidValuesError", "ValueCheck", "WindowCheck"]

POLICIES = ("error", "mask")


class InvalidValuesError(SinkmapError, ValueError):
    """An input layer holds values outside its role's valid range or legend, or no valid value at all."""


@dataclass(frozen=True)
class WindowCheck:
    """What one window's check found for one layer: invalid pixels (and the first of them) and valid pixels."""

    invalid: int
    valid: int
    example: tuple[int, int, float] | None = None  # (grid row, grid col, value as read)
    codes: tuple[tuple[float, int], ...] = ()  # categorical layers: each invalid code and its pixel count


@dataclass(frozen=True)
class ValueCheck:
    """The values a layer may hold.

    Attributes:
        layer: the layer as users name it (``growing_stock[2020]``).
        files: the layer's files (for messages).
        unit: the role's unit, after ``scale``.
        valid_range: inclusive (min, max) for continuous roles (NaN and ±inf are always outside).
        codes: accepted codes for categorical roles.
        policy: ``error`` or ``mask``.
    """

    layer: str
    files: tuple[str, ...]
    unit: str
    valid_range: tuple[float, float] | None = None
    codes: frozenset[int] | None = None
    policy: Literal["error", "mask"] = "error"

    def invalid_mask(self, values: NDArray[Any], valid: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Cells that are not nodata but hold a value this layer may not hold."""
        if self.codes is not None:
            if values.dtype.kind == "f":
                whole = np.isfinite(values) & (values == np.round(values))
                inside = whole & np.isin(np.where(whole, values, 0).astype(np.int64), list(self.codes))
            else:
                inside = _isin_codes(values, self.codes)
            return valid & ~inside
        if self.valid_range is not None:
            lo, hi = self.valid_range
            with np.errstate(invalid="ignore"):
                inside = (values >= lo) & (values <= hi)  # False for NaN
            return valid & ~inside
        if values.dtype.kind == "f":
            return valid & ~np.isfinite(values)
        return np.zeros(values.shape, dtype=bool)

    def check(
        self, values: NDArray[Any], valid: NDArray[np.bool_], window: Window
    ) -> tuple[NDArray[np.bool_], WindowCheck]:
        """(valid mask with invalid cells removed, what was found)."""
        bad = self.invalid_mask(values, valid)
        n_bad = int(np.count_nonzero(bad))
        if not n_bad:
            return valid, WindowCheck(0, int(np.count_nonzero(valid)))
        r, c = np.unravel_index(int(np.argmax(bad)), bad.shape)
        example = (window.row_off + int(r), window.col_off + int(c), float(values[r, c]))
        kept = valid & ~bad
        codes: tuple[tuple[float, int], ...] = ()
        if self.codes is not None:
            found, counts = np.unique(values[bad], return_counts=True)
            codes = tuple((float(v), int(n)) for v, n in zip(found, counts, strict=True))
        return kept, WindowCheck(n_bad, int(np.count_nonzero(kept)), example, codes)

    def expected(self) -> str:
        if self.codes is not None:
            return f"the legend codes {_code_list(self.codes)}"
        if self.valid_range is not None:
            return f"the valid range {self.valid_range[0]:g} to {self.valid_range[1]:g} {self.unit}"
        return "finite values"

    def where(self) -> str:
        more = f" and {len(self.files) - 1} more file(s)" if len(self.files) > 1 else ""
        return f"{self.files[0]}{more}" if self.files else "(no file)"


def _isin_codes(values: NDArray[Any], codes: frozenset[int]) -> NDArray[np.bool_]:
    if values.dtype.kind in "ui" and codes and min(codes) >= 0 and max(codes) < 65536:
        lut = np.zeros(max(codes) + 1, dtype=bool)
        lut[list(codes)] = True
        inside = np.zeros(values.shape, dtype=bool)
        small = (values >= 0) & (values <= max(codes))
        inside[small] = lut[values[small].astype(np.int64)]
        return inside
    return np.isin(values, list(codes))


def _code_list(codes: frozenset[int]) -> str:
    ordered = sorted(codes)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(map(str, ordered[:20])) + (" …" if len(ordered) > 20 else "")


@dataclass
class CheckTally:
    """Counts over the windows of a job, per layer, added in window order."""

    checks: Mapping[Any, ValueCheck]
    invalid: dict[Any, int] = field(default_factory=dict)
    valid: dict[Any, int] = field(default_factory=dict)
    example: dict[Any, tuple[int, int, float]] = field(default_factory=dict)
    codes: dict[Any, dict[float, int]] = field(default_factory=dict)

    def add(self, found: Mapping[Any, WindowCheck]) -> None:
        for key, one in found.items():
            self.invalid[key] = self.invalid.get(key, 0) + one.invalid
            self.valid[key] = self.valid.get(key, 0) + one.valid
            if one.example is not None and key not in self.example:
                self.example[key] = one.example
            for code, count in one.codes:
                by_code = self.codes.setdefault(key, {})
                by_code[code] = by_code.get(code, 0) + count

    def errors(self) -> list[Any]:
        """Layers whose invalid values stop the job."""
        return [k for k, n in self.invalid.items() if n and self.checks[k].policy == "error"]

    def raise_invalid(self, grid: GridSpec, *, complete: bool) -> None:
        """Raise for the first layer (in job order) with invalid values under the ``error`` policy."""
        bad = [k for k in self.checks if k in self.errors()]
        if not bad:
            return
        key = bad[0]
        check = self.checks[key]
        row, col, value = self.example[key]
        lon, lat = grid.lonlat(row, col)
        count = f"{self.invalid[key]:,} pixel(s)" + ("" if complete else " in the windows read before stopping")
        others = f" (also invalid: {', '.join(self.checks[k].layer for k in bad[1:])})" if len(bad) > 1 else ""
        listed = ""
        if self.codes.get(key):
            ranked = sorted(self.codes[key].items(), key=lambda kv: (-kv[1], kv[0]))
            more = f", and {len(ranked) - 10} more code(s)" if len(ranked) > 10 else ""
            listed = " (codes: " + ", ".join(f"{code:g} × {n:,}" for code, n in ranked[:10]) + more + ")"
        fix = (
            "add the code to the layer's legend or declare it as nodata (`nodata:` on the layer)"
            if check.codes is not None
            else "declare the nodata value (`nodata:` on the layer), correct the units (`scale:`)"
        )
        raise InvalidValuesError(
            f"layer {check.layer} ({check.where()}): {count} hold values outside {check.expected()}{listed}, e.g. "
            f"{value:g} at row {row}, col {col} (lon {lon:.4f}, lat {lat:.4f}){others}; {fix}, or set "
            "`invalid: mask` on the layer to treat such pixels as nodata"
        )

    def raise_empty(self) -> None:
        """Raise for layers that had no valid pixel in any window that touches a region."""
        empty = [k for k in self.checks if k in self.valid and self.valid[k] == 0]
        if empty:
            check = self.checks[empty[0]]
            masked = f" ({self.invalid[empty[0]]:,} masked as invalid)" if self.invalid.get(empty[0]) else ""
            raise InvalidValuesError(
                f"layer {check.layer} ({check.where()}) has no valid pixel inside the regions{masked}: every value "
                "is nodata; check the file (gdalinfo -stats), its nodata value and that it covers the regions"
            )

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per layer: the policy, invalid pixels masked, valid pixels read, and the first invalid example."""
        out: dict[str, dict[str, Any]] = {}
        for key, check in self.checks.items():
            if key not in self.valid:
                continue
            entry: dict[str, Any] = {
                "policy": check.policy,
                "expected": check.expected(),
                "valid_pixels": self.valid[key],
                "invalid_pixels": self.invalid.get(key, 0),
            }
            if key in self.example:
                row, col, value = self.example[key]
                entry["example"] = {"row": row, "col": col, "value": value}
            if self.codes.get(key):
                entry["invalid_codes"] = {f"{code:g}": n for code, n in sorted(self.codes[key].items())}
            out[check.layer] = entry
        return out
