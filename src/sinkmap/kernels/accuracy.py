"""Accuracy-adjusted areas from a reference sample (Olofsson et al. 2014; Stehman 2014).

A land-cover map counts areas with errors: a map class's mapped area is biased by its omission and commission
errors. Olofsson, P., Foody, G.M., Herold, M., Stehman, S.V., Woodcock, C.E. & Wulder, M.A. (2014) "Good practices
for estimating area and assessing accuracy of land change", *Remote Sensing of Environment* 148:42–57, give the
stratified estimator used here: sample points are drawn at random within strata of known mapped area, each point
gets a reference ("true") class from better evidence, and

* the stratum weight is ``W_h = A_h / A`` (mapped area of stratum ``h`` over the total mapped area ``A``);
* the area proportion of reference class ``k`` is ``p̂_k = Σ_h W_h · n_hk / n_h`` (eq. 9 with strata = map classes);
* its standard error is ``SE(p̂_k) = sqrt(Σ_h W_h² · p_hk (1 − p_hk) / (n_h − 1))`` with ``p_hk = n_hk / n_h``
  (eq. 10);
* the area is ``Â_k = A · p̂_k`` with ``SE(Â_k) = A · SE(p̂_k)`` and the 95 % interval ``Â_k ± 1.96 · SE`` (eq. 11).

With strata equal to the map's classes this is Olofsson's estimator, and user's, producer's and overall accuracy
follow (eqs. 2–4, with the variance of overall and user's accuracy from eqs. 5–6). When the strata are *not* the
classes being estimated — another epoch's map, or change classes between two epochs, estimated from a sample
stratified by one epoch's map — the area proportions keep the same form with the strata of the design (Stehman,
S.V. (2014) "Estimating area and map accuracy for stratified random sampling when the strata are different from
the map classes", *Int. J. Remote Sensing* 35:4923–4939, eqs. 3 and 25 with an indicator ``y``); accuracies are
not reported for those.

Everything here is pure numpy (codes in, tables out), except :func:`read_reference_sample`, the reader of a
reference sample CSV, which the configuration calls to check the file when a pipeline is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from sinkmap.errors import ConfigError

__all__ = [
    "FOREST_CHANGE_CLASSES",
    "Z95",
    "AreaEstimate",
    "StratifiedSample",
    "forest_change_class",
    "read_reference_sample",
    "stratified_area_estimate",
]

LAND_COVER_CODES = range(1, 10)
"""CLCD land-cover codes 1–9, the classes a reference sample may name."""

Z95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95 % interval."""

FOREST_CHANGE_CLASSES: Mapping[int, str] = {
    1: "stable non-forest",
    2: "forest gain",
    3: "forest loss",
    4: "stable forest",
}
"""Change classes between two land-cover epochs, for :func:`forest_change_class`."""


def forest_change_class(before: ArrayLike, after: ArrayLike, forest_classes: Sequence[int]) -> NDArray[np.int64]:
    """Forest change class per element from land-cover codes at two epochs (:data:`FOREST_CHANGE_CLASSES`).

    1 stable non-forest, 2 forest gain, 3 forest loss, 4 stable forest; 0 where either code is negative (no data).
    """
    b = np.asarray(before, dtype=np.int64)
    a = np.asarray(after, dtype=np.int64)
    fb = np.isin(b, forest_classes)
    fa = np.isin(a, forest_classes)
    out = np.where(fb, np.where(fa, 4, 3), np.where(fa, 2, 1))
    return np.where((b < 0) | (a < 0), 0, out).astype(np.int64)


@dataclass(frozen=True)
class StratifiedSample:
    """A reference sample: per point its stratum and its reference class (integer codes).

    Attributes:
        stratum: stratum of each point (for Olofsson's design, the map class at the point).
        reference: reference class of each point (the class being estimated).
    """

    stratum: NDArray[np.int64]
    reference: NDArray[np.int64]

    @classmethod
    def of(cls, stratum: ArrayLike, reference: ArrayLike) -> StratifiedSample:
        s = np.asarray(stratum, dtype=np.int64).ravel()
        r = np.asarray(reference, dtype=np.int64).ravel()
        if s.shape != r.shape:
            raise ValueError(f"stratum and reference have different lengths ({s.size} and {r.size})")
        return cls(s, r)


@dataclass(frozen=True)
class AreaEstimate:
    """Stratified estimates of the area of each class (areas in the unit of the mapped areas given).

    Arrays follow ``classes``. ``users_accuracy``, ``producers_accuracy`` and their standard errors are NaN when the
    strata are not the classes (see the module docstring), and so is a class's user's accuracy when its stratum
    holds no points.

    Attributes:
        classes: the reference classes estimated.
        total_area: the mapped area of all strata (``A``).
        mapped_area: the mapped area of each class, where the class is also a stratum (else NaN).
        area: accuracy-adjusted area ``Â_k``.
        se: standard error of ``Â_k``.
        n_points: sample points in the class's stratum when the strata are the classes; otherwise points whose
            reference class is the class.
        overall_accuracy, overall_accuracy_se: NaN when strata are not the classes.
    """

    classes: NDArray[np.int64]
    total_area: float
    mapped_area: NDArray[np.float64]
    area: NDArray[np.float64]
    se: NDArray[np.float64]
    n_points: NDArray[np.int64]
    users_accuracy: NDArray[np.float64]
    users_accuracy_se: NDArray[np.float64]
    producers_accuracy: NDArray[np.float64]
    overall_accuracy: float
    overall_accuracy_se: float

    @property
    def ci_low(self) -> NDArray[np.float64]:
        """Lower bound of the 95 % interval."""
        return self.area - Z95 * self.se

    @property
    def ci_high(self) -> NDArray[np.float64]:
        """Upper bound of the 95 % interval."""
        return self.area + Z95 * self.se

    @property
    def half_width_pct(self) -> NDArray[np.float64]:
        """Half-width of the 95 % interval as a percentage of the estimate (NaN where the estimate is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.area > 0, 100.0 * Z95 * self.se / np.where(self.area > 0, self.area, 1.0), np.nan)


def stratified_area_estimate(
    sample: StratifiedSample,
    stratum_area: Mapping[int, float],
    classes: Sequence[int] | None = None,
    *,
    strata_are_classes: bool = True,
) -> AreaEstimate:
    """Olofsson et al. (2014) stratified estimator of class areas with standard errors.

    Args:
        sample: the reference sample (stratum and reference class per point).
        stratum_area: mapped area of every stratum (any unit: km², m², pixels × pixel area); strata with zero area
            are ignored. Every stratum with area must hold at least two sample points.
        classes: the reference classes to estimate (default: every stratum and reference class seen).
        strata_are_classes: the strata are the map classes of the classes being estimated (Olofsson's design), so
            user's, producer's and overall accuracy are defined; otherwise only areas are estimated.

    Returns:
        :class:`AreaEstimate`.

    Raises:
        ValueError: a stratum with mapped area has fewer than two points, a point lies in a stratum without mapped
            area, or an area is negative or not finite.
    """
    areas = {int(h): float(a) for h, a in stratum_area.items()}
    bad = [h for h, a in areas.items() if not np.isfinite(a) or a < 0]
    if bad:
        raise ValueError(f"mapped area of stratum/strata {bad} is negative or not finite")
    strata = np.array(sorted(h for h, a in areas.items() if a > 0), dtype=np.int64)
    if strata.size == 0:
        raise ValueError("no stratum has mapped area")
    seen_strata = np.unique(sample.stratum)
    orphan = np.setdiff1d(seen_strata, strata)
    if orphan.size:
        raise ValueError(f"sample points lie in stratum/strata {orphan.tolist()} that have no mapped area")
    if classes is None:
        cls = np.union1d(strata, np.unique(sample.reference))
    else:
        cls = np.asarray(list(classes), dtype=np.int64)
    a_h = np.array([areas[int(h)] for h in strata])
    total = float(a_h.sum())
    w_h = a_h / total
    # n_hk: points per stratum (rows) and reference class (columns), by table lookup
    s_idx = np.searchsorted(strata, sample.stratum)
    k_pos = {int(k): j for j, k in enumerate(cls)}
    k_idx = np.array([k_pos.get(int(k), -1) for k in sample.reference], dtype=np.int64)
    n_h = np.bincount(s_idx, minlength=strata.size).astype(np.float64)
    short = strata[n_h < 2]
    if short.size:
        counts = {int(h): int(n) for h, n in zip(strata, n_h, strict=True) if n < 2}
        raise ValueError(f"stratum/strata {short.tolist()} have mapped area but fewer than two sample points {counts}")
    counted = k_idx >= 0
    n_hk = np.zeros((strata.size, cls.size))
    np.add.at(n_hk, (s_idx[counted], k_idx[counted]), 1.0)
    p_hk = n_hk / n_h[:, None]
    p_k = w_h @ p_hk
    var_k = (w_h**2 / (n_h - 1.0)) @ (p_hk * (1.0 - p_hk))
    area = total * p_k
    se = total * np.sqrt(var_k)

    nan = np.full(cls.size, np.nan)
    mapped = np.array([areas[int(k)] if strata_are_classes and int(k) in areas else np.nan for k in cls])
    if strata_are_classes:
        n_points = np.array([int(n_h[np.searchsorted(strata, k)]) if k in strata else 0 for k in cls], dtype=np.int64)
    else:
        n_points = n_hk.sum(axis=0).astype(np.int64)
    ua, ua_se, pa = nan.copy(), nan.copy(), nan.copy()
    oa = oa_se = float("nan")
    if strata_are_classes:
        # the diagonal: points whose reference class is their stratum's class
        correct = np.array([p_hk[i, k_pos[int(h)]] if int(h) in k_pos else 0.0 for i, h in enumerate(strata)])
        oa = float(w_h @ correct)
        oa_se = float(np.sqrt(np.sum(w_h**2 * correct * (1.0 - correct) / (n_h - 1.0))))
        for j, k in enumerate(cls):
            if k in strata:
                i = int(np.searchsorted(strata, k))
                ua[j] = correct[i]
                ua_se[j] = np.sqrt(correct[i] * (1.0 - correct[i]) / (n_h[i] - 1.0))
                pa[j] = w_h[i] * correct[i] / p_k[j] if p_k[j] > 0 else np.nan
    return AreaEstimate(
        classes=cls,
        total_area=total,
        mapped_area=mapped,
        area=area,
        se=se,
        n_points=n_points,
        users_accuracy=ua,
        users_accuracy_se=ua_se,
        producers_accuracy=pa,
        overall_accuracy=oa,
        overall_accuracy_se=oa_se,
    )


def read_reference_sample(path: str, epochs: Sequence[int], strata_epoch: int) -> pd.DataFrame:
    """The reference sample as a frame: ``lon``, ``lat``, ``map_<strata_epoch>`` and the ``ref_<E>`` columns
    present, as numbers; raises :class:`ConfigError` naming the file, line and column of a bad value."""
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    keep = ["lon", "lat", f"map_{strata_epoch}", *[f"ref_{e}" for e in epochs if f"ref_{e}" in frame.columns]]
    out = {}
    for column in keep:
        values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
        if column in ("lon", "lat"):
            bad = ~np.isfinite(values) | (values.abs() > (180 if column == "lon" else 90))
            expected = "a longitude in degrees (EPSG:4326)" if column == "lon" else "a latitude in degrees (EPSG:4326)"
        else:
            bad = ~values.isin(list(LAND_COVER_CODES))
            expected = f"a land-cover code {min(LAND_COVER_CODES)}–{max(LAND_COVER_CODES)}"
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ConfigError(
                f"reference sample {path} line {i + 2}: column {column} holds {frame[column].iloc[i]!r}; expected {expected}"
            )
        out[column] = values.to_numpy(dtype=np.float64 if column in ("lon", "lat") else np.int64)
    return pd.DataFrame(out)
