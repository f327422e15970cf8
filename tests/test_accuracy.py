"""Olofsson et al. (2014) stratified area estimator: the paper's worked example, hand-computed cases, and the
coverage of its 95 % intervals over many simulated samples from a known truth."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sinkmap.kernels.accuracy import (
    Z95,
    StratifiedSample,
    forest_change_class,
    stratified_area_estimate,
)
from test_pipeline import (
    ALBERS,
    projected_case,  # noqa: F401  (the tiny 4 × 4 pipeline case, as a fixture)
)


def _sample_from_counts(counts: np.ndarray, strata: list[int], classes: list[int]) -> StratifiedSample:
    s: list[int] = []
    r: list[int] = []
    for i, h in enumerate(strata):
        for j, k in enumerate(classes):
            s += [h] * int(counts[i, j])
            r += [k] * int(counts[i, j])
    return StratifiedSample.of(s, r)


def test_olofsson_2014_worked_example() -> None:
    """Olofsson et al. 2014, §5 and Tables 8–9: four change classes mapped on 30 m pixels (0.09 ha)."""
    counts = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
    mapped_pixels = {1: 200_000, 2: 150_000, 3: 3_200_000, 4: 6_450_000}
    sample = _sample_from_counts(counts, [1, 2, 3, 4], [1, 2, 3, 4])
    est = stratified_area_estimate(sample, {h: a * 0.09 for h, a in mapped_pixels.items()})
    # published: areas 21,158 / 11,686 / 285,770 / 581,386 ha; 95 % CIs ± 3,756, ± 15,510, ± 16,282 ha for the
    # last three; user's 0.88, 0.73, 0.93, 0.96; producer's 0.75, 0.85, 0.93, 0.96; overall 0.95
    np.testing.assert_allclose(est.area, [21_158, 11_686, 285_770, 581_386], atol=1.0)
    np.testing.assert_allclose((Z95 * est.se)[1:], [3_756, 15_510, 16_282], atol=1.0)
    np.testing.assert_allclose(est.users_accuracy, [0.88, 0.73, 0.93, 0.96], atol=0.005)
    np.testing.assert_allclose(est.producers_accuracy, [0.75, 0.85, 0.93, 0.96], atol=0.005)
    assert est.overall_accuracy == pytest.approx(0.95, abs=0.005)
    # deforestation by hand (eq. 10): W = (0.02, 0.015, 0.32, 0.645); p_h1 = (66/75, 0, 1/165, 2/325)
    var = (
        0.02**2 * (66 / 75) * (9 / 75) / 74
        + 0.32**2 * (1 / 165) * (164 / 165) / 164
        + 0.645**2 * (2 / 325) * (323 / 325) / 324
    )
    assert est.se[0] == pytest.approx(900_000.0 * np.sqrt(var), rel=1e-12)
    assert est.total_area == pytest.approx(900_000.0)
    assert est.half_width_pct[0] == pytest.approx(100 * Z95 * est.se[0] / est.area[0])


def test_perfect_map_gives_mapped_areas_and_zero_error() -> None:
    sample = StratifiedSample.of([1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2])
    est = stratified_area_estimate(sample, {1: 30.0, 2: 70.0})
    np.testing.assert_allclose(est.area, [30.0, 70.0])
    np.testing.assert_allclose(est.se, [0.0, 0.0])
    assert est.overall_accuracy == 1.0


def test_hand_computed_two_strata() -> None:
    # stratum 1 (area 40): 3 of 4 points are class 1, 1 is class 2; stratum 2 (area 60): 1 of 2 is class 1
    sample = StratifiedSample.of([1, 1, 1, 1, 2, 2], [1, 1, 1, 2, 1, 2])
    est = stratified_area_estimate(sample, {1: 40.0, 2: 60.0})
    # p_1 = 0.4·0.75 + 0.6·0.5 = 0.6 → 60; var = 0.16·0.75·0.25/3 + 0.36·0.25/1 = 0.01 + 0.09 = 0.1
    np.testing.assert_allclose(est.area, [60.0, 40.0])
    np.testing.assert_allclose(est.se, [100 * np.sqrt(0.1)] * 2)
    np.testing.assert_allclose(est.users_accuracy, [0.75, 0.5])
    np.testing.assert_allclose(est.producers_accuracy, [0.4 * 0.75 / 0.6, 0.6 * 0.5 / 0.4])


def test_strata_other_than_classes_give_areas_only() -> None:
    sample = StratifiedSample.of([1, 1, 2, 2], [7, 8, 8, 8])
    est = stratified_area_estimate(sample, {1: 50.0, 2: 50.0}, classes=[7, 8], strata_are_classes=False)
    np.testing.assert_allclose(est.area, [25.0, 75.0])
    assert np.isnan(est.users_accuracy).all() and np.isnan(est.mapped_area).all()
    assert np.isnan(est.overall_accuracy)


def test_refuses_a_stratum_with_area_but_fewer_than_two_points() -> None:
    sample = StratifiedSample.of([1, 1, 2], [1, 1, 2])
    with pytest.raises(ValueError, match=r"\[2\] have mapped area but fewer than two"):
        stratified_area_estimate(sample, {1: 1.0, 2: 1.0})
    with pytest.raises(ValueError, match="no mapped area"):
        stratified_area_estimate(StratifiedSample.of([1, 1, 3], [1, 1, 1]), {1: 1.0, 3: 0.0})


def test_forest_change_class() -> None:
    out = forest_change_class([1, 2, 2, 1, -1], [1, 2, 1, 2, 2], [2])
    assert out.tolist() == [1, 4, 3, 2, 0]


def test_95_percent_intervals_cover_the_truth_about_95_percent_of_the_time() -> None:
    """A finite population with a known truth (the map's errors drawn once from a confusion matrix); 2000
    stratified random samples; the share of intervals that hold the true class area is close to 0.95 (seen: 0.948,
    0.943, 0.952, 0.947). The normal interval needs enough points in the large strata for the rare classes' omission
    errors: with 150 and 250 points there (about 2.5 expected points of class 1 in stratum 4) the rare classes'
    coverage fell to 0.91."""
    rng = np.random.default_rng(11)
    n_pixels = 200_000
    map_class = rng.choice(4, size=n_pixels, p=[0.05, 0.03, 0.32, 0.60]) + 1
    confusion = np.array(
        [[0.85, 0.02, 0.08, 0.05], [0.03, 0.75, 0.10, 0.12], [0.01, 0.01, 0.93, 0.05], [0.01, 0.01, 0.03, 0.95]]
    )
    cum = np.cumsum(confusion, axis=1)
    truth = (rng.random(n_pixels)[:, None] > cum[map_class - 1]).sum(axis=1) + 1
    true_area = np.bincount(truth, minlength=5)[1:].astype(float)  # 1 area unit per pixel
    members = [np.flatnonzero(map_class == h) for h in (1, 2, 3, 4)]
    mapped = {h: float(m.size) for h, m in zip((1, 2, 3, 4), members, strict=True)}
    n_h = (100, 100, 500, 1000)
    reps = 2000
    covered = np.zeros(4)
    for _ in range(reps):
        idx = np.concatenate([rng.choice(m, size=n, replace=False) for m, n in zip(members, n_h, strict=True)])
        est = stratified_area_estimate(StratifiedSample.of(map_class[idx], truth[idx]), mapped, classes=[1, 2, 3, 4])
        covered += (est.ci_low <= true_area) & (true_area <= est.ci_high)
    coverage = covered / reps
    # binomial SD of a 0.95 share over 2000 samples: 0.005; allow about four of them
    assert np.all((coverage > 0.925) & (coverage < 0.975)), coverage


# ----------------------------------------------------------------------------- the pipeline's accuracy section
def _reference_csv(path, rows):  # type: ignore[no-untyped-def]
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(ALBERS, "EPSG:4326", always_xy=True)
    lines = ["point_id,lon,lat,map_2020,ref_2020,ref_2025"]
    for i, (r, c, m, ref0, ref1) in enumerate(rows):
        lon, lat = to_lonlat.transform(100 * c + 50, 3_000_400 - 100 * r - 50)
        lines.append(f"{i + 1},{lon:.9f},{lat:.9f},{m},{ref0},{ref1}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_pipeline_writes_accuracy_adjusted_areas(projected_case) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The tiny 4 × 4 case of test_pipeline (1 ha pixels; province A = all 15 mapped ha; counties B = west, C = east), with
    two reference points on each mapped 2020 class; one of the two grassland points (pixel (0,3), mapped forest in
    2025) is truly grassland then forest, the other truly cropland at both epochs."""
    import json

    import pandas as pd
    import yaml

    from sinkmap.apps.pipeline import run_pipeline
    from sinkmap.config import load_pipeline

    folder = projected_case.parent
    # (row, col, map 2020, ref 2020, ref 2025)
    points = [
        (0, 0, 2, 2, 2), (0, 1, 2, 2, 2), (1, 1, 3, 3, 3), (2, 1, 3, 3, 3), (0, 3, 4, 4, 2), (0, 3, 4, 1, 1),
        (1, 3, 1, 1, 1), (2, 3, 1, 1, 1), (2, 0, 5, 5, 5), (2, 0, 5, 5, 5), (3, 1, 8, 8, 8), (3, 1, 8, 8, 8),
        (3, 2, 9, 9, 9), (3, 2, 9, 9, 9),
    ]  # fmt: skip
    _reference_csv(folder / "reference.csv", points)
    doc = yaml.safe_load(projected_case.read_text(encoding="utf-8"))
    doc["accuracy"] = {"reference_sample": "reference.csv", "strata_epoch": 2020}
    projected_case.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = run_pipeline(load_pipeline(projected_case))
    table = pd.read_csv(result.output_dir / "accuracy.csv", dtype={"region_id": str})
    a = table[(table["level"] == "province") & (table["region_id"] == "A")].set_index(["assessment", "class"])
    lc = a.loc["land cover 2020"]
    # class 4 (3 ha mapped): half its points are class 1 → 1.5 ha; class 1: 3 + 1.5 ha; SE of both: W_4 = 0.2,
    # p = 0.5, n = 2 → SE(p) = sqrt(0.04 · 0.25 / 1) = 0.1 of 15 ha = 1.5 ha
    assert lc.loc[4, "adjusted_area_km2"] == pytest.approx(0.015)
    assert lc.loc[1, "adjusted_area_km2"] == pytest.approx(0.045)
    assert lc.loc[1, "se_km2"] == pytest.approx(0.015)
    assert lc.loc[1, "ci95_high_km2"] == pytest.approx(0.045 + Z95 * 0.015)
    assert lc.loc[2, "adjusted_area_km2"] == pytest.approx(0.03) and lc.loc[2, "se_km2"] == 0.0
    assert lc.loc[4, "mapped_area_km2"] == pytest.approx(0.03)
    assert lc.loc[4, "users_accuracy"] == pytest.approx(0.5)
    assert lc.loc[2, "overall_accuracy"] == pytest.approx(1 - 0.2 * 0.5)
    change = a.loc["forest change 2020–2025"]
    assert change.loc[2, "class_name"] == "forest_gain"
    assert change.loc[2, "adjusted_area_km2"] == pytest.approx(0.015)  # half of the grassland stratum
    assert change.loc[4, "adjusted_area_km2"] == pytest.approx(0.03)
    assert change.loc[1, "adjusted_area_km2"] == pytest.approx(0.105)
    assert change.loc[2, "mapped_area_km2"] == pytest.approx(0.01)  # the one mapped afforested pixel
    # B and C do not hold two points of every class they map; the reason names the classes
    for rid, missing in (("B", "grassland (0, 11 % of the mapped area)"), ("C", "shrub (0, ")):
        status = table[(table["level"] == "county") & (table["region_id"] == rid)]["status"]
        assert status.str.startswith("not supported").all() and status.str.contains(missing, regex=False).all()
    manifest = json.loads((result.output_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["accuracy"]["levels"]["province"] == {"regions": 1, "estimated": 1}
    assert manifest["accuracy"]["levels"]["county"] == {"regions": 2, "estimated": 0}
    assert manifest["accuracy"]["points"] == 14
    assert "accuracy.csv" in manifest["outputs"]
    # mapped class areas are published columns
    t = result.tables["province"].set_index("region_id")
    assert t.loc["A", "landcover_grassland_area_km2_2020"] == pytest.approx(0.03)


def test_accuracy_section_is_checked_when_loaded(projected_case) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    import yaml

    from sinkmap.config import load_pipeline
    from sinkmap.errors import ConfigError, InputNotFoundError

    folder = projected_case.parent
    (folder / "bad.csv").write_text("point_id,lon,lat,map_2020\n1,110,30,2\n", encoding="utf-8")
    (folder / "row.csv").write_text("lon,lat,map_2020,ref_2020\n110,30,2,x\n", encoding="utf-8")
    doc = yaml.safe_load(projected_case.read_text(encoding="utf-8"))
    for section, error, words in (
        ({"reference_sample": "bad.csv", "strata_epoch": 2020}, ConfigError, "no reference column"),
        ({"reference_sample": "bad.csv", "strata_epoch": 2019}, ConfigError, "strata_epoch: 2019"),
        ({"reference_sample": "none.csv", "strata_epoch": 2020}, InputNotFoundError, "none.csv does not exist"),
        ({"reference_sample": "bad.csv"}, ConfigError, "missing required key(s) 'strata_epoch'"),
        ({"reference_sample": "row.csv", "strata_epoch": 2020}, ConfigError, "line 2: column ref_2020 holds 'x'"),
    ):
        projected_case.write_text(yaml.safe_dump({**doc, "accuracy": section}), encoding="utf-8")
        with pytest.raises(error, match=re.escape(words)):
            load_pipeline(projected_case)


def test_bad_reference_values_name_file_line_and_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sinkmap.errors import ConfigError
    from sinkmap.kernels.accuracy import read_reference_sample

    path = tmp_path / "ref.csv"
    path.write_text("lon,lat,map_2020,ref_2020\n110,30,2,2\n110,30,2,12\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"ref\.csv line 3: column ref_2020 holds '12'; expected a land-cover code 1–9"):
        read_reference_sample(str(path), (2020,), 2020)
    path.write_text("lon,lat,map_2020,ref_2020\n190,30,2,2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 2: column lon holds '190'"):
        read_reference_sample(str(path), (2020,), 2020)
