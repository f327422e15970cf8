"""Compatibility with the InVEST Carbon Storage and Sequestration model's carbon pools table.

InVEST's biophysical table maps each land-use/land-cover code (``lucode``) to four carbon pool densities in t C/ha:
``c_above``, ``c_below``, ``c_soil``, ``c_dead``. Header case varies between tables and extra columns (e.g.
``LULC_Name``) are allowed. :func:`read_invest_carbon_table` reads one with clear errors; :func:`pools_density`
maps a land-cover raster to per-pool densities; :func:`pools_change` gives the per-pool change between two maps.

**Nodata:** outputs are float64 with NaN where the land-cover code equals ``nodata`` (or is NaN in a float raster).
No sentinel value is ever written into the results, so a real change of −1.0 t C/ha stays −1.0 and cannot be
mistaken for nodata. (InVEST writes −1 as its own nodata in change rasters, so a pixel whose change is exactly
−1.0 t C/ha drops out of InVEST's totals; sinkmap keeps it.)

**Valuation** (:func:`valuation_per_t_c`): InVEST Carbon's net present value of a change in storage, as its user
guide states it (``carbonstorage.rst``, equation ``carbon_value``)::

    value_seq_x = V · s_x / (q − p) · Σ_{t=0}^{q−p−1} 1 / ((1 + r/100)^t · (1 + c/100)^t)

with ``V`` the price per t C, ``s_x`` the change in storage (t C, or t C/ha for a per-hectare value), ``p`` and ``q``
the baseline and alternate years, ``r`` the yearly market discount rate (%) and ``c`` the yearly rate of change in
the price of carbon (%). The change is spread evenly over the ``q − p`` years and each year's share is discounted.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sinkmap.errors import FactorTableError, InputNotFoundError
from sinkmap.kernels.carbon._common import C_TO_CO2, FloatArray

__all__ = [
    "POOL_COLUMNS",
    "InvestCarbonTable",
    "InvestPools",
    "lookup_pools",
    "pools_change",
    "pools_density",
    "read_invest_carbon_table",
    "valuation_per_t_c",
]

POOL_COLUMNS: tuple[str, ...] = ("c_above", "c_below", "c_soil", "c_dead")


@dataclass(frozen=True)
class InvestCarbonTable:
    """An InVEST carbon pools table: ``lucode`` and one density array (t C/ha) per pool, sorted by lucode."""

    lucode: NDArray[np.int64]
    c_above: FloatArray
    c_below: FloatArray
    c_soil: FloatArray
    c_dead: FloatArray
    source: str = ""

    @classmethod
    def from_rows(
        cls, rows: dict[int, tuple[float, float, float, float]], *, source: str = ""
    ) -> InvestCarbonTable:
        """Build from ``{lucode: (c_above, c_below, c_soil, c_dead)}`` (t C/ha)."""
        codes = sorted(rows)
        arr = np.array([rows[c] for c in codes], dtype=np.float64).reshape(len(codes), 4)
        return cls(
            lucode=np.array(codes, dtype=np.int64),
            c_above=arr[:, 0],
            c_below=arr[:, 1],
            c_soil=arr[:, 2],
            c_dead=arr[:, 3],
            source=source,
        )


@dataclass(frozen=True)
class InvestPools:
    """Per-pixel pool densities (or changes), t C/ha, float64 with NaN for nodata."""

    c_above: FloatArray
    c_below: FloatArray
    c_soil: FloatArray
    c_dead: FloatArray

    @property
    def total(self) -> FloatArray:
        """Sum of the four pools, t C/ha."""
        return self.c_above + self.c_below + self.c_soil + self.c_dead

    @property
    def total_co2e(self) -> FloatArray:
        """Total × 44/12, t CO₂e/ha."""
        return self.total * C_TO_CO2

    def as_dict(self) -> dict[str, FloatArray]:
        """Pools and ``total`` by InVEST column name."""
        return {
            "c_above": self.c_above,
            "c_below": self.c_below,
            "c_soil": self.c_soil,
            "c_dead": self.c_dead,
            "total": self.total,
        }


def read_invest_carbon_table(path: str | Path) -> InvestCarbonTable:
    """Read an InVEST carbon pools CSV (``lucode, c_above, c_below, c_soil, c_dead`` in t C/ha).

    Header names are matched case-insensitively and stripped; other columns are ignored.

    Raises:
        InputNotFoundError: the file does not exist.
        FactorTableError: missing columns, duplicate lucodes (all listed), blank or non-numeric values, non-integer
            lucodes; messages name the file, line and column.
    """
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"InVEST carbon pools table {str(p)!r} does not exist")
    text = p.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise FactorTableError(f"{p.name}: empty file (expected a header line)") from None
    need = ("lucode", *POOL_COLUMNS)
    missing = [c for c in need if c not in header]
    if missing:
        raise FactorTableError(
            f"{p.name} line 1: missing column(s) {missing}; an InVEST carbon pools table needs {list(need)} "
            f"(case-insensitive), found {header}"
        )
    idx = {c: header.index(c) for c in need}
    rows: dict[int, tuple[float, float, float, float]] = {}
    lines: dict[int, list[int]] = {}
    for line_no, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            raise FactorTableError(
                f"{p.name} line {line_no}: {len(cells)} cells but the header has {len(header)}"
            )
        raw_code = cells[idx["lucode"]].strip()
        try:
            fcode = float(raw_code)
        except ValueError:
            raise FactorTableError(
                f"{p.name} line {line_no}, column 'lucode': {raw_code!r} is not a number"
            ) from None
        if not math.isfinite(fcode) or fcode != int(fcode):
            raise FactorTableError(
                f"{p.name} line {line_no}, column 'lucode': {raw_code!r} is not an integer code"
            )
        code = int(fcode)
        vals = []
        for col in POOL_COLUMNS:
            raw = cells[idx[col]].strip()
            try:
                v = float(raw)
            except ValueError:
                raise FactorTableError(
                    f"{p.name} line {line_no}, column {col!r}: {raw!r} is not a number (t C/ha)"
                ) from None
            if not math.isfinite(v):
                raise FactorTableError(
                    f"{p.name} line {line_no}, column {col!r}: {raw!r} is not finite"
                )
            vals.append(v)
        lines.setdefault(code, []).append(line_no)
        rows[code] = (vals[0], vals[1], vals[2], vals[3])
    dupes = {c: ln for c, ln in lines.items() if len(ln) > 1}
    if dupes:
        listing = "; ".join(
            f"{c} (lines {', '.join(map(str, ln))})" for c, ln in sorted(dupes.items())
        )
        raise FactorTableError(f"{p.name}: duplicate lucode(s): {listing}")
    if not rows:
        raise FactorTableError(f"{p.name}: no lucode rows")
    return InvestCarbonTable.from_rows(rows, source=str(p))


def pools_density(
    lucode_array: ArrayLike, table: InvestCarbonTable, nodata: float | None = None
) -> InvestPools:
    """Per-pixel carbon pool densities (t C/ha) for a land-cover raster.

    Args:
        lucode_array: land-cover codes (integer array, or float with NaN for nodata).
        table: an :class:`InvestCarbonTable`.
        nodata: the raster's nodata value (pixels equal to it give NaN), or ``None``.

    Raises:
        FactorTableError: codes present in the raster (excluding nodata) but missing from the table; the message
            lists all of them.
    """
    codes = np.asarray(lucode_array)
    if codes.dtype.kind not in "iuf":
        raise ValueError(f"lucode_array must be numeric, got dtype {codes.dtype}")
    valid = np.ones(codes.shape, dtype=bool)
    if codes.dtype.kind == "f":
        valid &= np.isfinite(codes)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        valid &= codes != nodata
    present = codes[valid]
    if codes.dtype.kind == "f" and np.any(present != np.round(present)):
        raise ValueError("lucode_array holds non-integer land-cover codes")
    pools, missing = lookup_pools(codes, valid, table)
    if missing:
        where = f" ({table.source})" if table.source else ""
        raise FactorTableError(
            f"InVEST carbon pools table{where} has no row for land-cover code(s) {sorted(missing)} present in the "
            "raster; add them to the table or set the raster's nodata value"
        )
    return pools


def lookup_pools(
    codes: ArrayLike, valid: ArrayLike, table: InvestCarbonTable
) -> tuple[InvestPools, frozenset[int]]:
    """Pool densities (t C/ha) of integer ``codes`` where ``valid``, and the valid codes the table lacks.

    NaN where a cell is invalid or its code has no row. This is the lookup :func:`pools_density` and the engine's
    InVEST step both use; it reports unknown codes instead of raising so that a whole raster's unknown codes can
    be collected window by window and named together.
    """
    codes = np.asarray(codes)
    ok = np.asarray(valid, dtype=bool)
    icodes = np.where(ok, codes, 0).astype(np.int64)
    pos = np.clip(np.searchsorted(table.lucode, icodes), 0, table.lucode.size - 1)
    found = table.lucode[pos] == icodes
    missing_mask = ok & ~found
    missing = frozenset(int(c) for c in np.unique(icodes[missing_mask])) if missing_mask.any() else frozenset()
    use = ok & found
    out = {col: np.where(use, getattr(table, col)[pos], np.nan) for col in POOL_COLUMNS}
    return InvestPools(**out), missing


def pools_change(
    lucode_before: ArrayLike,
    lucode_after: ArrayLike,
    table: InvestCarbonTable,
    nodata: float | None = None,
) -> InvestPools:
    """Per-pool change (after − before), t C/ha; NaN where either map is nodata. Positive = carbon gained (sink)."""
    b = pools_density(lucode_before, table, nodata)
    a = pools_density(lucode_after, table, nodata)
    return InvestPools(
        c_above=a.c_above - b.c_above,
        c_below=a.c_below - b.c_below,
        c_soil=a.c_soil - b.c_soil,
        c_dead=a.c_dead - b.c_dead,
    )


def valuation_per_t_c(
    *, price_per_t_c: float, discount_rate_pct: float, price_change_pct: float, baseline_year: int, alternate_year: int
) -> float:
    """Net present value of one t C of change between ``baseline_year`` and ``alternate_year`` (currency per t C).

    Multiply a change in storage (t C, or t C/ha) by this to get InVEST's ``value_seq`` (see the module docstring):
    ``V / (q − p) · Σ_{t=0}^{q−p−1} [(1 + r/100)(1 + c/100)]^−t``.

    Raises:
        ValueError: the alternate year is not after the baseline year, or a rate is −100 % or less.
    """
    years = alternate_year - baseline_year
    if years <= 0:
        raise ValueError(
            f"valuation needs the alternate year after the baseline year, got {baseline_year} → {alternate_year}"
        )
    if discount_rate_pct <= -100.0 or price_change_pct <= -100.0:
        raise ValueError("the discount rate and the price change must be greater than −100 %")
    step = (1.0 + discount_rate_pct / 100.0) * (1.0 + price_change_pct / 100.0)
    discount_sum = math.fsum(step ** (-t) for t in range(years))
    return price_per_t_c / years * discount_sum
