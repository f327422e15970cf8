"""Accuracy-adjusted areas per region from a reference sample (Olofsson et al. 2014), for the run directory.

The pipeline's ``accuracy:`` section names a CSV of reference points (``lon``, ``lat`` in EPSG:4326,
``map_<S>`` the land-cover map's class at the point for the strata epoch ``S``, ``ref_<E>`` the reference class at
epoch ``E``). The sample is taken to be a stratified random sample with the map classes of epoch ``S`` as strata
(or a simple random sample, which the same estimator serves). For every region of every level (the nation from
its ``from_level`` regions):

* the points inside the region are found (point in polygon);
* the strata weights are the region's mapped class areas at ``S`` (``landcover_<class>_area_km2_S``, true area
  from the engine);
* for each epoch ``E`` with a ``ref_E`` column: the area of each land-cover class with its 95 % interval
  (:func:`~sinkmap.kernels.accuracy.stratified_area_estimate`); user's, producer's and overall accuracy where
  ``E = S``;
* ``n_points``: the points in the class's stratum (strata epoch) or the points with that reference class (other
  epochs, change classes);
* with two or more epochs and ``ref_`` columns for the first and last: the area of each forest change class
  (stable non-forest, forest gain, forest loss, stable forest; forest = land-cover class 2) with its interval.

A region is estimated only where the sample supports it: every class with mapped area in the region must hold at
least ``min_points`` sample points there. Elsewhere the table holds one row per assessment saying which strata
lack points. Estimating a region from the points that fall in it treats the region as a domain of the national
stratified sample: the estimator is applied with the region's own mapped areas, conditional on its point counts.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from sinkmap.config import AccuracySpec, NationSpec
from sinkmap.engine.regions import RegionLevel
from sinkmap.engine.roles import CLCD_LEGEND
from sinkmap.kernels.accuracy import (
    FOREST_CHANGE_CLASSES,
    Z95,
    StratifiedSample,
    forest_change_class,
    read_reference_sample,
    stratified_area_estimate,
)
from sinkmap.steps.strata import CLASS_AREA_NAMES

__all__ = ["FOREST_CLASSES", "accuracy_table", "read_reference_sample", "run_accuracy"]

_NO_POINTS = "estimated 0: no sample point has this reference class, so the interval cannot bound it"

FOREST_CLASSES = (2,)
"""Land-cover classes counted as forest in the change classes (CLCD 2)."""

COLUMNS = [
    "level", "region_id", "name_zh", "name_en", "assessment", "epoch", "class", "class_name", "n_points",
    "mapped_area_km2", "adjusted_area_km2", "se_km2", "ci95_low_km2", "ci95_high_km2", "half_width_pct",
    "users_accuracy", "users_accuracy_se", "producers_accuracy", "overall_accuracy", "overall_accuracy_se",
    "n_points_region", "status",
]  # fmt: skip


def _region_of_points(points: gpd.GeoSeries, level: RegionLevel) -> np.ndarray:
    """Index of the region holding each point (−1 outside every region; the first region where polygons overlap)."""
    regions = gpd.GeoDataFrame(geometry=level.geometry_lonlat.reset_index(drop=True), crs="EPSG:4326")
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=points, crs="EPSG:4326"), regions, predicate="within", how="left")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["index_right"].fillna(-1).to_numpy(dtype=np.int64)


def _rows_for(
    ident: dict[str, Any],
    assessment: str,
    epoch: str,
    est: Any,
    names: dict[int, str],
    mapped: dict[int, float],
    n_region: int,
) -> list[dict[str, Any]]:
    rows = []
    for j, k in enumerate(est.classes):
        rows.append(
            {
                **ident,
                "assessment": assessment,
                "epoch": epoch,
                "class": int(k),
                "class_name": names[int(k)],
                "n_points": int(est.n_points[j]),
                "mapped_area_km2": mapped.get(int(k), np.nan),
                "adjusted_area_km2": est.area[j],
                "se_km2": est.se[j],
                "ci95_low_km2": est.area[j] - Z95 * est.se[j],
                "ci95_high_km2": est.area[j] + Z95 * est.se[j],
                "half_width_pct": est.half_width_pct[j],
                "users_accuracy": est.users_accuracy[j],
                "users_accuracy_se": est.users_accuracy_se[j],
                "producers_accuracy": est.producers_accuracy[j],
                "overall_accuracy": est.overall_accuracy,
                "overall_accuracy_se": est.overall_accuracy_se,
                "n_points_region": n_region,
                "status": "estimated" if est.area[j] > 0 or mapped.get(int(k), 0.0) == 0 else _NO_POINTS,
            }
        )
    return rows


def accuracy_table(
    spec: AccuracySpec,
    levels: list[RegionLevel],
    tables: dict[str, pd.DataFrame],
    transitions: pd.DataFrame,
    epochs: tuple[int, ...],
    nation: NationSpec | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Accuracy-adjusted areas per region of every level (see the module docstring) and a summary for the manifest."""
    sample = read_reference_sample(spec.reference_sample, epochs, spec.strata_epoch)
    s_epoch = spec.strata_epoch
    points = gpd.GeoSeries(gpd.points_from_xy(sample["lon"], sample["lat"]), crs="EPSG:4326")
    by_name = {level.name: level for level in levels}
    assessments: list[tuple[str, str, int | None]] = [
        (f"land cover {e}", str(e), e) for e in epochs if f"ref_{e}" in sample.columns
    ]
    first, last = epochs[0], epochs[-1]
    change = len(epochs) > 1 and f"ref_{first}" in sample.columns and f"ref_{last}" in sample.columns
    if change:
        assessments.append((f"forest change {first}–{last}", f"{first}–{last}", None))
    class_names = {k: CLASS_AREA_NAMES[k] for k in CLCD_LEGEND}
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"reference_sample": spec.reference_sample, "strata_epoch": s_epoch, "levels": {}}
    region_cache: dict[str, np.ndarray] = {}
    for level_name, table in tables.items():
        source = nation.from_level if level_name == "nation" and nation is not None else level_name
        if source not in region_cache:
            region_cache[source] = _region_of_points(points, by_name[source])
        where = region_cache[source]
        if level_name == "nation":
            where = np.where(where >= 0, 0, -1)
        supported = 0
        for i, row in enumerate(table.itertuples(index=False)):
            ident = {"level": level_name, "region_id": row.region_id, "name_zh": row.name_zh, "name_en": row.name_en}
            inside = np.flatnonzero(where == i)
            strata_area = {
                k: float(table[f"landcover_{name}_area_km2_{s_epoch}"].iloc[i]) for k, name in class_names.items()
            }
            stratum = sample[f"map_{s_epoch}"].to_numpy()[inside]
            # points on a class the region's map does not hold (off the mapped land) cannot be weighted
            on_map = np.array([strata_area[int(h)] > 0 for h in stratum], dtype=bool)
            inside, stratum = inside[on_map], stratum[on_map]
            counts = {k: int(np.sum(stratum == k)) for k in class_names}
            mapped_total = sum(strata_area.values())
            short = {
                class_names[k]: (counts[k], 100 * a / mapped_total)
                for k, a in strata_area.items()
                if a > 0 and counts[k] < spec.min_points
            }
            if short:
                status = "not supported: too few points in stratum " + ", ".join(
                    f"{n} ({c}, {share:.2g} % of the mapped area)" for n, (c, share) in short.items()
                )
                for assessment, epoch, _ in assessments:
                    rows.append({**ident, "assessment": assessment, "epoch": epoch, "n_points_region": inside.size, "status": status})
                continue
            supported += 1
            for assessment, epoch, e in assessments:
                if e is not None:
                    reference = sample[f"ref_{e}"].to_numpy()[inside]
                    est = stratified_area_estimate(
                        StratifiedSample.of(stratum, reference), strata_area, list(CLCD_LEGEND),
                        strata_are_classes=e == s_epoch,
                    )  # fmt: skip
                    mapped = {k: float(table[f"landcover_{name}_area_km2_{e}"].iloc[i]) for k, name in class_names.items()}
                    rows += _rows_for(ident, assessment, epoch, est, class_names, mapped, inside.size)
                else:
                    reference = forest_change_class(
                        sample[f"ref_{first}"].to_numpy()[inside], sample[f"ref_{last}"].to_numpy()[inside], FOREST_CLASSES
                    )
                    est = stratified_area_estimate(
                        StratifiedSample.of(stratum, reference), strata_area, list(FOREST_CHANGE_CLASSES),
                        strata_are_classes=False,
                    )  # fmt: skip
                    names = {k: v.replace(" ", "_") for k, v in FOREST_CHANGE_CLASSES.items()}
                    rows += _rows_for(
                        ident, assessment, epoch, est, names, _mapped_change(transitions, level_name, row.region_id, first, last),
                        inside.size,
                    )  # fmt: skip
        summary["levels"][level_name] = {"regions": len(table), "estimated": supported}
    summary["points"] = len(sample)
    summary["points_outside_regions"] = int(np.sum(region_cache[next(iter(region_cache))] < 0)) if region_cache else 0
    summary["assessments"] = [a for a, _, _ in assessments]
    summary["method"] = (
        "Olofsson et al. (2014) stratified estimator; strata = land-cover classes of the strata epoch with the "
        "region's mapped true areas as weights; 95 % interval = estimate ± 1.96 SE; other epochs and forest change "
        "classes estimated with the same strata (Stehman 2014); a region is estimated where every class with mapped "
        f"area holds at least {spec.min_points} points"
    )
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    return frame, summary


def _mapped_change(transitions: pd.DataFrame, level: str, region_id: Any, first: int, last: int) -> dict[int, float]:
    """Mapped area (km²) of each forest change class in one region, from the land-cover transitions table."""
    if transitions.empty:
        return {}
    mine = transitions[(transitions["level"] == level) & (transitions["region_id"] == region_id)]
    codes = forest_change_class(mine["from_class"].to_numpy(), mine["to_class"].to_numpy(), FOREST_CLASSES)
    area = mine[f"area_km2_{first}_{last}"].to_numpy()
    return {k: float(area[codes == k].sum()) for k in FOREST_CHANGE_CLASSES}


def run_accuracy(plan: Any, tables: dict[str, pd.DataFrame], transitions: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The accuracy table and its manifest entry of a finished run (``None`` without an ``accuracy:`` section)."""
    config = plan.config
    if config.accuracy is None:
        return None
    return accuracy_table(config.accuracy, plan.levels, tables, transitions, config.epochs, config.nation)
