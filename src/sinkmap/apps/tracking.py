"""Progress towards targets over time: trend, projection, year the target is reached, on track or not.

Pure functions over a region table as written by a run (``regions_<level>.geojson`` properties or
``regions.csv``): one row per region, per epoch ``E`` the columns ``coverage_pct_E`` (%) and ``stock_volume_m3_E``
(m³), and per target year ``Y`` the columns ``target_coverage_pct_Y`` (%), ``target_stock_volume_m3_Y`` (m³) and
``target_scope_Y``. Nothing here reads files or logs; inputs are never modified.

The method is deliberately simple and stated in every output (:data:`METHOD`): a straight line in time through the
first and the last epoch. With one epoch there is no trend, so there is no projection and no target year; a target
already met is still reported as met.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_YEARS",
    "INDICATORS",
    "METHOD",
    "STATUSES",
    "Indicator",
    "TrackingResult",
    "epochs_of",
    "project",
    "target_year",
    "target_years_of",
    "track",
]

#: How trends and projections are computed (written next to every tracking output).
METHOD = (
    "linear in time through the first and last epoch: rate = (value at last epoch − value at first epoch) / "
    "(years between them); projection to year Y = value at last epoch + rate × (Y − last epoch), coverage kept "
    "within 0–100 % and stock volume at or above 0; the target year is the year the line reaches the target "
    "(none if the rate is zero or negative); with a single epoch there is no trend and no projection"
)

#: Status values, in the order a reader cares about them.
STATUSES = {
    "met": "target already met at the last epoch",
    "on track": "the projection reaches the target by the target year",
    "off track": "the projection falls short of the target in the target year",
    "no trend": "target not yet met and only one epoch, so no trend to project",
    "no target": "no target for this region and year in the target set",
    "no data": "no observed value for this region",
}

#: Years projected to when the table carries no target years.
DEFAULT_YEARS = (2025, 2030)


@dataclass(frozen=True)
class Indicator:
    """A tracked quantity: ``column_E`` holds the value per epoch, ``target_column_Y`` its target per year."""

    key: str
    column: str
    target_column: str
    unit: str
    rate_unit: str
    lower: float
    upper: float

    def value_col(self, epoch: int) -> str:
        return f"{self.column}_{epoch}"

    def target_col(self, year: int) -> str:
        return f"{self.target_column}_{year}"


INDICATORS = (
    Indicator(
        "coverage",
        "coverage_pct",
        "target_coverage_pct",
        "%",
        "percentage points per year",
        0.0,
        100.0,
    ),
    Indicator(
        "stock", "stock_volume_m3", "target_stock_volume_m3", "m³", "m³ per year", 0.0, math.inf
    ),
)


@dataclass(frozen=True)
class TrackingResult:
    """Tracking columns per region (``table``, same row order as the input) and how they were computed."""

    table: pd.DataFrame
    epochs: tuple[int, ...]
    years: tuple[int, ...]
    method: str

    @property
    def has_trend(self) -> bool:
        return len(self.epochs) > 1


def _years_with(table: pd.DataFrame, prefix: str) -> tuple[int, ...]:
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d{{4}})$")
    return tuple(sorted({int(m.group(1)) for c in table.columns if (m := pattern.match(str(c)))}))


def epochs_of(table: pd.DataFrame) -> tuple[int, ...]:
    """The epochs (years) with a ``coverage_pct_E`` column, ascending."""
    return _years_with(table, "coverage_pct")


def target_years_of(table: pd.DataFrame) -> tuple[int, ...]:
    """The target years with a ``target_coverage_pct_Y`` or ``target_stock_volume_m3_Y`` column, ascending."""
    return tuple(
        sorted(
            set(_years_with(table, "target_coverage_pct"))
            | set(_years_with(table, "target_stock_volume_m3"))
        )
    )


def project(
    first: float,
    last: float,
    first_epoch: int,
    last_epoch: int,
    year: int,
    *,
    lower: float,
    upper: float,
) -> float:
    """Value in ``year`` on the straight line through (first_epoch, first) and (last_epoch, last), clipped.

    Returns NaN when either value is missing or the epochs coincide (no trend).
    """
    if not (np.isfinite(first) and np.isfinite(last)) or last_epoch == first_epoch:
        return math.nan
    rate = (last - first) / (last_epoch - first_epoch)
    return float(min(max(last + rate * (year - last_epoch), lower), upper))


def target_year(latest: float, rate: float, target: float, last_epoch: int) -> float:
    """Fractional year in which ``latest`` growing at ``rate`` per year reaches ``target``.

    ``last_epoch`` if the target is already met; NaN if it is not met and the rate is zero, negative or unknown.
    """
    if not (np.isfinite(latest) and np.isfinite(target)):
        return math.nan
    if latest >= target:
        return float(last_epoch)
    if not np.isfinite(rate) or rate <= 0:
        return math.nan
    return float(last_epoch + (target - latest) / rate)


def _status(latest: float, projected: float, target: float) -> str:
    if not np.isfinite(target):
        return "no target"
    if not np.isfinite(latest):
        return "no data"
    if latest >= target:
        return "met"
    if not np.isfinite(projected):
        return "no trend"
    return "on track" if projected >= target else "off track"


def track(
    table: pd.DataFrame,
    *,
    epochs: Sequence[int] | None = None,
    years: Sequence[int] | None = None,
    indicators: Sequence[Indicator] = INDICATORS,
) -> TrackingResult:
    """Trend, projection, target year and status per region and indicator.

    Args:
        table: a region table (see the module docstring); not modified.
        epochs: the epochs to use (default: every ``coverage_pct_E`` column). The first and last are used.
        years: the years to project to (default: the table's target years, or :data:`DEFAULT_YEARS`).
        indicators: what to track (default: forest coverage in % and stock volume in m³).

    Returns:
        A :class:`TrackingResult` whose table has ``region_id`` (and ``level``, ``name_zh``, ``name_en`` when
        present) and, per indicator ``K`` (``coverage`` or ``stock``):

        - ``K_latest`` (value at the last epoch), ``K_rate_per_yr`` (change per year; NaN with one epoch);
        - per year ``Y``: ``K_projected_Y`` (value on the trend line), ``K_target_Y`` (target, NaN if none),
          ``K_target_year_Y`` (fractional year the trend reaches the ``Y`` target), ``K_status_Y`` (one of
          :data:`STATUSES`).

        Coverage is in %, rates in percentage points per year; stock volume in m³, rates in m³ per year.
    """
    found = epochs_of(table)
    use = tuple(sorted(epochs)) if epochs is not None else found
    if not use:
        raise ValueError(
            "the table has no coverage_pct_<year> columns: is it a sinkmap region table?"
        )
    missing = [e for e in use if e not in found]
    if missing:
        raise ValueError(
            f"the table has no coverage_pct column for epoch(s) {missing}; it has {list(found)}"
        )
    target_years = (
        tuple(sorted(years)) if years is not None else (target_years_of(table) or DEFAULT_YEARS)
    )
    first, last = use[0], use[-1]
    span = last - first
    id_cols = [c for c in ("level", "region_id", "name_zh", "name_en") if c in table.columns]
    out = table[id_cols].copy().reset_index(drop=True)
    for ind in indicators:
        if ind.value_col(last) not in table.columns:
            continue
        v_first = pd.to_numeric(table[ind.value_col(first)], errors="coerce").to_numpy(float)
        v_last = pd.to_numeric(table[ind.value_col(last)], errors="coerce").to_numpy(float)
        rate = (v_last - v_first) / span if span > 0 else np.full(len(table), np.nan)
        out[f"{ind.key}_latest"] = v_last
        out[f"{ind.key}_rate_per_yr"] = rate
        for year in target_years:
            col = ind.target_col(year)
            targets = (
                pd.to_numeric(table[col], errors="coerce").to_numpy(float)
                if col in table.columns
                else np.full(len(table), np.nan)
            )
            projected = np.array(
                [
                    project(a, b, first, last, year, lower=ind.lower, upper=ind.upper)
                    for a, b in zip(v_first, v_last, strict=True)
                ]
            )
            out[f"{ind.key}_projected_{year}"] = projected
            out[f"{ind.key}_target_{year}"] = targets
            out[f"{ind.key}_target_year_{year}"] = [
                target_year(v, r, t, last) for v, r, t in zip(v_last, rate, targets, strict=True)
            ]
            out[f"{ind.key}_status_{year}"] = [
                _status(v, p, t) for v, p, t in zip(v_last, projected, targets, strict=True)
            ]
    return TrackingResult(out, use, target_years, METHOD)
