"""The forest mask under China's definition and variants, by hand."""

from __future__ import annotations

import numpy as np

from sinkmap.kernels.forest import CHINA, ForestDefinition, SpecialShrubland, forest_components

VALID = np.ones((1, 6), dtype=bool)


def test_canopy_threshold_is_inclusive_at_20_percent() -> None:
    comps = forest_components(CHINA, VALID, canopy_cover_pct=np.array([[0, 19, 19.9, 20, 21, 100]], np.float32))
    assert comps.tree.tolist() == [[False, False, False, True, True, True]]


def test_landcover_forest_class_counts_without_canopy() -> None:
    comps = forest_components(CHINA, VALID, landcover=np.array([[1, 2, 3, 4, 2, 9]]))
    assert comps.tree.tolist() == [[False, True, False, False, True, False]]
    assert comps.rules_applied == ("landcover in [2]",)  # shrub rule needs a qualifying layer: not applied


def test_bamboo_and_special_shrubland_are_exclusive_components() -> None:
    landcover = np.array([[2, 2, 3, 3, 3, 4]])
    forest_type = np.array([[1, 6, 0, 0, 0, 0]])
    precip = np.array([[900, 900, 350, 900, 900, 350]], np.float32)
    temperature = np.array([[15, 15, 15, -1, 15, 15]], np.float32)
    carbonate = np.array([[0, 0, 0, 0, 1, 1]])
    comps = forest_components(
        CHINA,
        VALID,
        landcover=landcover,
        forest_type=forest_type,
        annual_precip_mm=precip,
        mean_temperature_c=temperature,
        carbonate=carbonate,
        latitude_deg=np.array([[26.0]]),
    )
    # col 0: forest class, broadleaf; col 1: forest class of forest type 6 is bamboo, not a tree stand (bamboo takes
    # precedence); cols 2-4: shrub under < 400 mm, tree line, subtropical karst; col 5: grassland is not shrubland
    assert comps.tree.tolist() == [[True, False, False, False, False, False]]
    assert comps.bamboo.tolist() == [[False, True, False, False, False, False]]
    assert comps.special_shrub.tolist() == [[False, False, True, True, True, False]]
    assert (comps.tree.astype(int) + comps.bamboo + comps.special_shrub <= 1).all()


def test_bamboo_needs_forest_class_or_canopy() -> None:
    """A forest-type-6 pixel of shrub land cover with 10 % canopy is not forest at all; with 25 % it is bamboo."""
    comps = forest_components(
        CHINA,
        np.ones((1, 3), bool),
        landcover=np.array([[3, 2, 3]]),
        canopy_cover_pct=np.array([[10, 50, 25]], np.float32),
        forest_type=np.array([[6, 6, 6]]),
    )
    assert comps.bamboo.tolist() == [[False, True, True]]
    assert not comps.tree.any()


def test_forest_class_needs_canopy_of_20_percent() -> None:
    """疏林地: forest land cover with canopy 12–19 % is not a tree stand under China's definition (郁闭度 ≥ 0.20);
    the old behaviour (the class alone) stays available."""
    landcover = np.array([[2, 2, 2, 2, 3, 3]])
    canopy = np.array([[12, 19.9, 20, 60, 25, 10]], np.float32)
    comps = forest_components(CHINA, VALID, landcover=landcover, canopy_cover_pct=canopy)
    assert comps.tree.tolist() == [[False, False, True, True, True, False]]
    assert comps.rules_applied == ("canopy_cover >= 20 % (landcover in [2] needs it too)",)
    lenient = ForestDefinition(class_needs_canopy=False)
    comps = forest_components(lenient, VALID, landcover=landcover, canopy_cover_pct=canopy)
    assert comps.tree.tolist() == [[True, True, True, True, True, False]]


def test_special_shrubland_on_karst_only_in_tropical_subtropical_china() -> None:
    """Karst shrubland counts only south of 34° N with annual mean temperature ≥ 10 °C (the stated proxy); the
    tree line comes from elevation where an elevation layer is given."""
    shrub = np.full((1, 6), 3)
    karst = np.ones((1, 6), int)
    temperature = np.array([[18, 9.9, 18, 5, 18, 12]], np.float32)
    latitude = np.array([[25, 25, 40, 31, 34, 34.1]], np.float32)
    comps = forest_components(
        CHINA,
        VALID,
        landcover=shrub,
        annual_precip_mm=np.full((1, 6), 1200, np.float32),
        mean_temperature_c=temperature,
        carbonate=karst,
        latitude_deg=latitude,
    )
    assert comps.special_shrub.tolist() == [[True, False, False, False, True, False]]
    definition = ForestDefinition(special_shrubland=SpecialShrubland(treeline_elevation_above_m=4000))
    comps = forest_components(
        definition,
        VALID,
        landcover=shrub,
        mean_temperature_c=np.full((1, 6), -2, np.float32),  # the temperature proxy is not used when elevation is given
        elevation_m=np.array([[3000, 4000, 4001, 5000, np.nan, 0]], np.float32),
    )
    assert comps.special_shrub.tolist() == [[False, False, True, True, False, False]]
    assert "elevation > 4000 m" in comps.rules_applied[-1]


def test_shrub_cover_layer_requires_more_than_30_percent() -> None:
    comps = forest_components(
        CHINA,
        VALID,
        landcover=np.full((1, 6), 3),
        annual_precip_mm=np.full((1, 6), 300, np.float32),
        shrub_cover_pct=np.array([[10, 30, 30.5, 31, 80, np.nan]], np.float32),
    )
    assert comps.special_shrub.tolist() == [[False, False, True, True, True, False]]


def test_invalid_cells_are_never_forest() -> None:
    valid = np.array([[True, False, True, False, True, True]])
    comps = forest_components(CHINA, valid, canopy_cover_pct=np.full((1, 6), 90, np.float32))
    assert comps.forest.tolist() == valid.tolist()


def test_definition_variants() -> None:
    fao_like = ForestDefinition(name="canopy ≥ 10 %", canopy_cover_min_pct=10, forest_classes=(), special_shrubland=None)
    comps = forest_components(
        fao_like, VALID, canopy_cover_pct=np.array([[5, 10, 15, 0, 0, 0]], np.float32), landcover=np.full((1, 6), 3)
    )
    assert comps.forest.tolist() == [[False, True, True, False, False, False]]
    no_precip_rule = ForestDefinition(special_shrubland=SpecialShrubland(precip_below_mm=None))
    comps = forest_components(
        no_precip_rule, VALID, landcover=np.full((1, 6), 3), annual_precip_mm=np.full((1, 6), 100, np.float32)
    )
    assert not comps.forest.any()


def test_inputs_not_modified() -> None:
    canopy = np.array([[10, 50, 90, 0, 0, 0]], np.float32)
    before = canopy.copy()
    forest_components(CHINA, VALID, canopy_cover_pct=canopy)
    np.testing.assert_array_equal(canopy, before)


def test_forest_class_decides_where_canopy_has_no_value() -> None:
    landcover = np.array([[2, 2, 3]])
    canopy = np.array([[np.nan, 10, np.nan]], np.float32)
    comps = forest_components(CHINA, np.ones((1, 3), bool), landcover=landcover, canopy_cover_pct=canopy)
    assert comps.tree.tolist() == [[True, False, False]]
