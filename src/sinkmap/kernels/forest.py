"""Forest definitions and the per-pixel forest mask.

China's forest area (森林面积) counts tree stands with canopy closure (郁闭度) ≥ 0.20, bamboo stands (竹林, a
category of its own), and nationally designated special shrubland (国家特别规定的灌木林地: shrub cover > 30 % where
mean annual precipitation < 400 mm, above the tree line, or in tropical/subtropical karst areas and dry-hot valleys;
林资发[2004]14号), over total land area (土地总面积; FACTORS.md §D4). :data:`CHINA` encodes that definition; every field can be changed in the pipeline file, and the
definition in effect is written into every output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["CHINA", "COVERAGE_BASES", "ForestComponents", "ForestDefinition", "SpecialShrubland", "forest_components"]


@dataclass(frozen=True)
class SpecialShrubland:
    """Shrubland counted as forest (国家特别规定的灌木林地).

    Attributes:
        shrub_classes: land-cover codes that are shrubland.
        shrub_cover_above_pct: shrub cover must exceed this (%) where a ``shrub_cover`` layer is given;
            without the layer, a shrub-class pixel is taken to meet it.
        precip_below_mm: annual precipitation (mm/yr) below which shrubland qualifies (400 mm, county 30-yr mean).
        treeline_temperature_below_c: annual mean temperature (°C) below which a pixel is taken to lie above the
            tree line — the proxy used where no ``elevation`` layer is given; ``None`` disables it.
        treeline_elevation_above_m: elevation (m) above which a pixel lies above the tree line, used instead of the
            temperature proxy where an ``elevation`` layer is given; ``None`` disables it.
        karst_carbonate_codes: ``carbonate`` layer codes counted as karst areas.
        karst_min_temperature_c: the karst rule applies only in tropical/subtropical China; the proxy is annual
            mean temperature ≥ this (°C) *and* latitude ≤ ``karst_max_latitude_deg`` (the Qinling–Huaihe line, the
            conventional northern limit of China's subtropical zone, lies near 33–34° N; the temperature bound keeps
            the cold Tibetan Plateau out). ``None`` drops that part of the proxy.
        karst_max_latitude_deg: see ``karst_min_temperature_c`` (degrees north).
    """

    shrub_classes: tuple[int, ...] = (3,)
    shrub_cover_above_pct: float = 30.0
    precip_below_mm: float | None = 400.0
    treeline_temperature_below_c: float | None = 0.0
    treeline_elevation_above_m: float | None = None
    karst_carbonate_codes: tuple[int, ...] = (1,)
    karst_min_temperature_c: float | None = 10.0
    karst_max_latitude_deg: float | None = 34.0


@dataclass(frozen=True)
class ForestDefinition:
    """Which pixels count as forest.

    Attributes:
        name: a label written into outputs.
        source: the document the definition follows.
        canopy_cover_min_pct: tree canopy cover (%) at or above which a pixel is a tree stand (≥ 20 % = 郁闭度 0.2).
        forest_classes: land-cover codes that are forest land cover.
        class_needs_canopy: where a canopy layer is given, a pixel of a forest land-cover class is a tree stand only
            if its canopy cover also reaches ``canopy_cover_min_pct`` (China's definition: 疏林地 with 郁闭度
            0.10–0.19 is not forest); ``False`` lets the class alone make a tree stand. Without a canopy layer the
            class decides.
        bamboo_forest_types: ``forest_type`` codes that are bamboo stands; bamboo takes precedence over tree stands
            (a bamboo pixel that passes the forest class or canopy test is bamboo, never a tree stand).
        special_shrubland: shrubland rule, or ``None`` to leave shrubland out.
        coverage_basis: the denominator of forest coverage: ``region_area`` (土地总面积: the region's full area,
            the basis of China's 森林覆盖率), ``official_land_area`` (each region's official land area, from the
            ``land_area_field`` of its region file) or ``mapped_land`` (pixels with a valid land-cover or canopy
            value).
    """

    name: str = "China national forest definition"
    source: str = (
        "GB/T 26424-2010 and 林资发[2004]14号: canopy closure ≥ 0.20, bamboo, nationally designated special "
        "shrubland (FACTORS.md §D4)"
    )
    canopy_cover_min_pct: float | None = 20.0
    forest_classes: tuple[int, ...] = (2,)
    class_needs_canopy: bool = True
    bamboo_forest_types: tuple[int, ...] = (6,)
    special_shrubland: SpecialShrubland | None = field(default_factory=SpecialShrubland)
    coverage_basis: str = "region_area"

    def __post_init__(self) -> None:
        if self.coverage_basis not in COVERAGE_BASES:
            raise ValueError(
                f"coverage_basis {self.coverage_basis!r} is not known; use one of {', '.join(COVERAGE_BASES)}"
            )

    def describe(self) -> dict[str, object]:
        return asdict(self)


COVERAGE_BASES: dict[str, str] = {
    "region_area": "forest area / the region's full area (土地总面积 basis of China's 森林覆盖率)",
    "mapped_land": "forest area / area of pixels with a valid land-cover or canopy value (mapped land, incl. water)",
    "official_land_area": "forest area / each region's official land area (土地总面积) from the regions' "
    "land_area_field",
}
"""Coverage denominators and how outputs state them."""

CHINA = ForestDefinition()


@dataclass(frozen=True)
class ForestComponents:
    """Mutually exclusive forest masks (a pixel is in at most one) and the rules that could be applied."""

    tree: NDArray[np.bool_]
    bamboo: NDArray[np.bool_]
    special_shrub: NDArray[np.bool_]
    rules_applied: tuple[str, ...]

    @property
    def forest(self) -> NDArray[np.bool_]:
        return self.tree | self.bamboo | self.special_shrub


def _isin(codes: NDArray[Any], values: tuple[int, ...]) -> NDArray[np.bool_]:
    return np.isin(codes, np.asarray(values, dtype=codes.dtype)) if values else np.zeros(codes.shape, bool)


def forest_components(
    definition: ForestDefinition,
    valid: NDArray[np.bool_],
    *,
    canopy_cover_pct: NDArray[Any] | None = None,
    landcover: NDArray[Any] | None = None,
    forest_type: NDArray[Any] | None = None,
    shrub_cover_pct: NDArray[Any] | None = None,
    annual_precip_mm: NDArray[Any] | None = None,
    mean_temperature_c: NDArray[Any] | None = None,
    carbonate: NDArray[Any] | None = None,
    latitude_deg: NDArray[Any] | None = None,
    elevation_m: NDArray[Any] | None = None,
) -> ForestComponents:
    """Classify pixels as tree stand, bamboo or special shrubland under ``definition``.

    Layers are arrays of one shape; a layer that is ``None`` is absent, and rules that need it are skipped (and
    left out of ``rules_applied``). Cells where a layer is invalid must be passed with a value that fails the test
    (callers use ``valid`` masks: a cell outside ``valid`` is never forest). Inputs are not modified.

    Args:
        definition: the forest definition.
        valid: cells that are mapped land (e.g. land cover or canopy cover present).
        canopy_cover_pct: tree canopy cover, % (0–100); NaN where the layer has no value (there the forest class
            decides).
        landcover: land-cover codes (CLCD legend in the sample).
        forest_type: forest-type codes (bamboo = ``definition.bamboo_forest_types``).
        shrub_cover_pct: shrub cover, % (0–100).
        annual_precip_mm: annual precipitation, mm/yr.
        mean_temperature_c: annual mean air temperature, °C.
        carbonate: lithology codes (karst = ``special_shrubland.karst_carbonate_codes``).
        latitude_deg: latitude of each cell, degrees north (broadcastable; the karst zone proxy).
        elevation_m: elevation, m (optional; the tree-line rule uses it instead of the temperature proxy).

    Dry-hot valleys (干热河谷) have no layer and are not applied.
    """
    rules: list[str] = []
    by_canopy = by_class = None
    if canopy_cover_pct is not None and definition.canopy_cover_min_pct is not None:
        by_canopy = canopy_cover_pct >= definition.canopy_cover_min_pct
    if landcover is not None and definition.forest_classes:
        by_class = _isin(landcover, definition.forest_classes)
    if canopy_cover_pct is not None and by_canopy is not None and by_class is not None and definition.class_needs_canopy:
        # the canopy layer decides; the forest class alone makes a tree stand only where canopy has no value (NaN)
        tree = by_canopy | (by_class & ~np.isfinite(canopy_cover_pct))
        rules.append(
            f"canopy_cover >= {definition.canopy_cover_min_pct:g} % "
            f"(landcover in {list(definition.forest_classes)} needs it too)"
        )
    else:
        tree = np.zeros(valid.shape, dtype=bool)
        if by_canopy is not None:
            tree |= by_canopy
            rules.append(f"canopy_cover >= {definition.canopy_cover_min_pct:g} %")
        if by_class is not None:
            tree |= by_class
            rules.append(f"landcover in {list(definition.forest_classes)}")
    tree &= valid

    bamboo = np.zeros(valid.shape, dtype=bool)
    if forest_type is not None and definition.bamboo_forest_types:
        # bamboo is its own category (竹林): it takes precedence over tree stands
        candidate = tree.copy()
        for test in (by_class, by_canopy):
            if test is not None:
                candidate |= test & valid
        bamboo = _isin(forest_type, definition.bamboo_forest_types) & candidate
        tree &= ~bamboo
        rules.append(f"forest_type in {list(definition.bamboo_forest_types)} (bamboo, before tree stands)")

    shrub = np.zeros(valid.shape, dtype=bool)
    rule = definition.special_shrubland
    if rule is not None and landcover is not None and rule.shrub_classes:
        qualifies = np.zeros(valid.shape, dtype=bool)
        where: list[str] = []
        if annual_precip_mm is not None and rule.precip_below_mm is not None:
            qualifies |= annual_precip_mm < rule.precip_below_mm
            where.append(f"annual_precip < {rule.precip_below_mm:g} mm")
        if elevation_m is not None and rule.treeline_elevation_above_m is not None:
            qualifies |= elevation_m > rule.treeline_elevation_above_m
            where.append(f"elevation > {rule.treeline_elevation_above_m:g} m (above the tree line)")
        elif mean_temperature_c is not None and rule.treeline_temperature_below_c is not None:
            qualifies |= mean_temperature_c < rule.treeline_temperature_below_c
            where.append(f"mean_temperature < {rule.treeline_temperature_below_c:g} °C (tree-line proxy)")
        if carbonate is not None and rule.karst_carbonate_codes:
            karst = _isin(carbonate, rule.karst_carbonate_codes)
            zone: list[str] = []
            if rule.karst_min_temperature_c is not None:
                if mean_temperature_c is None:
                    karst[...] = False
                else:
                    karst &= mean_temperature_c >= rule.karst_min_temperature_c
                zone.append(f"mean_temperature >= {rule.karst_min_temperature_c:g} °C")
            if rule.karst_max_latitude_deg is not None:
                if latitude_deg is None:
                    karst[...] = False
                else:
                    karst &= latitude_deg <= rule.karst_max_latitude_deg
                zone.append(f"latitude <= {rule.karst_max_latitude_deg:g}° N")
            qualifies |= karst
            proxy = f" where {' and '.join(zone)} (tropical/subtropical proxy)" if zone else ""
            where.append(f"carbonate in {list(rule.karst_carbonate_codes)} (karst{proxy})")
        if where:
            shrub = _isin(landcover, rule.shrub_classes) & qualifies
            cover_rule = ""
            if shrub_cover_pct is not None:
                shrub &= shrub_cover_pct > rule.shrub_cover_above_pct
                cover_rule = f" and shrub_cover > {rule.shrub_cover_above_pct:g} %"
            shrub &= valid & ~tree & ~bamboo
            rules.append(f"landcover in {list(rule.shrub_classes)}{cover_rule} where {' or '.join(where)}")
    return ForestComponents(tree=tree, bamboo=bamboo, special_shrub=shrub, rules_applied=tuple(rules))
