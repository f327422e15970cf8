"""Small helpers shared by the carbon kernels (private)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sinkmap.errors import FactorTableError
from sinkmap.factors import FactorTables

__all__: list[str] = []

from sinkmap.kernels.carbon import C_TO_CO2

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def as_float(x: ArrayLike, name: str) -> FloatArray:
    """``x`` as a float64 array (a new array if a conversion is needed; never modified in place)."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None


def as_codes(x: ArrayLike, name: str) -> NDArray[np.int64]:
    """Integer class codes as int64; NaN (float rasters) becomes -1, i.e. not a valid code."""
    a = np.asarray(x)
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if np.any(a[~bad] != np.round(a[~bad])):
            raise ValueError(f"{name} must hold integer class codes, found non-integer values")
        return np.where(bad, -1, a).astype(np.int64)
    if a.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer class codes, got dtype {a.dtype}")
    return a.astype(np.int64)


def valid_mask(valid: ArrayLike | None, shape: tuple[int, ...]) -> BoolArray:
    """The optional ``valid`` argument as a boolean array broadcast to ``shape`` (all True when None)."""
    if valid is None:
        return np.ones(shape, dtype=bool)
    v = np.asarray(valid)
    if v.dtype != np.bool_:
        raise ValueError(f"valid must be a boolean mask, got dtype {v.dtype}")
    return np.broadcast_to(v, shape)


def parse_class(label: str, *, table_id: str) -> tuple[float, float]:
    """Parse a class label ``"lo-hi"`` (``hi`` may be ``inf``) into floats; classes are (lo, hi], first one [lo, hi]."""
    try:
        lo_text, hi_text = label.split("-")
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        raise FactorTableError(
            f"factor table {table_id!r}: class label {label!r} is not of the form 'lo-hi' (e.g. '20-40', '200-inf')"
        ) from None
    if not hi > lo:
        raise FactorTableError(f"factor table {table_id!r}: class label {label!r} has hi <= lo")
    return lo, hi


def class_table(
    tables: FactorTables, table_id: str, class_key: str, **keys: str
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rows of ``table_id`` matching ``keys`` with property ``def``, as (lowers, uppers, values) sorted by class.

    The classes must be contiguous (each lower bound equals the previous upper bound) and the last must be open
    (upper = inf); otherwise :class:`FactorTableError` is raised. Raises also when no row matches.
    """
    found = []
    for row in tables.rows(table_id):
        if row.property != "def":
            continue
        if all(row.key(k) == v for k, v in keys.items()):
            lo, hi = parse_class(row.key(class_key), table_id=table_id)
            found.append((lo, hi, row.value))
    if not found:
        raise FactorTableError(
            f"factor table {table_id!r} has no {class_key} classes for "
            + ", ".join(f"{k}={v!r}" for k, v in keys.items())
        )
    found.sort()
    for (_, hi0, _), (lo1, _, _) in itertools.pairwise(found):
        if hi0 != lo1:
            raise FactorTableError(
                f"factor table {table_id!r} ({', '.join(f'{k}={v!r}' for k, v in keys.items())}): "
                f"{class_key} classes are not contiguous ({hi0} then {lo1})"
            )
    if not math.isinf(found[-1][1]):
        raise FactorTableError(
            f"factor table {table_id!r} ({', '.join(f'{k}={v!r}' for k, v in keys.items())}): "
            f"last {class_key} class must be open-ended ('...-inf')"
        )
    arr = np.array(found, dtype=np.float64)
    return arr[:, 0], arr[:, 1], arr[:, 2]


def classify(values: FloatArray, uppers: FloatArray) -> NDArray[np.intp]:
    """Index of the upper-inclusive class (lo, hi] holding each value (the first class also holds its lower bound)."""
    return np.searchsorted(uppers, values, side="left")


def class_floor(uppers: FloatArray, values: FloatArray) -> FloatArray:
    """Per class k, the largest ``upper_j × value_j`` over the classes j below k (0 for the first class).

    A class table gives ``y = x × value_k`` for x in class k. Where a lower class ends higher than the next class
    starts (a step down in the factor), ``max(x × value_k, floor_k)`` keeps y from falling as x grows: y is then
    monotone non-decreasing in x, and equals the table's own product wherever that is already monotone.
    """
    ends = uppers[:-1] * values[:-1]
    return np.concatenate(([0.0], np.maximum.accumulate(ends))) if ends.size else np.zeros(1)


def lookup_codes(codes: NDArray[np.int64], mapping: Mapping[int, float]) -> FloatArray:
    """Map integer codes to floats; codes absent from ``mapping`` give NaN."""
    out = np.full(codes.shape, np.nan)
    for code, value in mapping.items():
        out[codes == code] = value
    return out


def require_codes(
    codes: NDArray[np.int64], allowed: Sequence[int], name: str, where: BoolArray | None = None
) -> None:
    """Raise ``ValueError`` listing every code in ``codes`` (restricted to ``where``) that is not in ``allowed``."""
    sel = codes if where is None else codes[where]
    if sel.size == 0:
        return
    allowed_set = set(int(a) for a in allowed)
    lo, hi = int(sel.min()), int(sel.max())
    if allowed_set >= set(range(lo, hi + 1)):  # every code between the extremes is allowed: two passes suffice
        return
    present = np.unique(sel)
    bad = sorted(int(c) for c in present if int(c) not in allowed_set)
    if bad:
        raise ValueError(f"{name} holds unknown code(s) {bad}; allowed codes are {sorted(allowed)}")


@dataclass(frozen=True)
class CarbonPools:
    """Biomass carbon pools per pixel, t C/ha (float64 arrays, NaN where not computed)."""

    agb_t_c_per_ha: FloatArray
    bgb_t_c_per_ha: FloatArray
    deadwood_t_c_per_ha: FloatArray
    litter_t_c_per_ha: FloatArray

    @property
    def vegetation_t_c_per_ha(self) -> FloatArray:
        """Living biomass carbon (AGB + BGB), t C/ha — the quantity NFI "forest vegetation carbon" reports."""
        return self.agb_t_c_per_ha + self.bgb_t_c_per_ha

    @property
    def total_t_c_per_ha(self) -> FloatArray:
        """AGB + BGB + dead wood + litter carbon, t C/ha (soil not included)."""
        return self.agb_t_c_per_ha + self.bgb_t_c_per_ha + self.deadwood_t_c_per_ha + self.litter_t_c_per_ha

    @property
    def total_co2e_t_per_ha(self) -> FloatArray:
        """:attr:`total_t_c_per_ha` × 44/12, t CO₂e/ha."""
        return self.total_t_c_per_ha * C_TO_CO2

    def as_dict(self) -> dict[str, FloatArray]:
        """Pools by short name: ``agb``, ``bgb``, ``deadwood``, ``litter``, ``total`` (t C/ha), ``total_co2e``."""
        return {
            "agb": self.agb_t_c_per_ha,
            "bgb": self.bgb_t_c_per_ha,
            "deadwood": self.deadwood_t_c_per_ha,
            "litter": self.litter_t_c_per_ha,
            "total": self.total_t_c_per_ha,
            "total_co2e": self.total_co2e_t_per_ha,
        }
