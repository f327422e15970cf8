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
    landcover = np.array([[2, 3, 3, 3, 3, 4]])
    forest_type = np.array([[6, 6, 0, 0, 0, 0]])
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
    )
    # col 0: forest class wins over bamboo; col 1: bamboo; cols 2-4: shrub under < 400 mm, tree line, karst;
    # col 5: grassland on karst in a dry place is not shrubland
    assert comps.tree.tolist() == [[True, False, False, False, False, False]]
    assert comps.bamboo.tolist() == [[False, True, False, False, False, False]]
    assert comps.special_shrub.tolist() == [[False, False, True, True, True, False]]
    assert (comps.tree.astype(int) + comps.bamboo + comps.special_shrub <= 1).all()


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
