"""The layer-role registry: what each input layer of a job means.

A *role* names what a raster holds (``landcover``, ``growing_stock``, …), its unit, whether it is categorical or
continuous, its valid range or legend, whether it changes between epochs, and the resampling that suits it when it
lies on another grid. Configuration (which roles a pipeline may name, and the resampling suggested when a layer
is on another grid), the xarray API (dtype and variable attributes), the README's role table and the transition
codes (the land-cover legend) come from :data:`ROLES`. Valid ranges and legends are enforced on every pixel read
(:mod:`sinkmap.engine.checks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = ["CLCD_LEGEND", "ROLES", "LayerRole", "role_table_markdown"]

CLCD_LEGEND: Mapping[int, str] = MappingProxyType(
    {
        1: "cropland",
        2: "forest",
        3: "shrub",
        4: "grassland",
        5: "water",
        6: "snow/ice",
        7: "barren",
        8: "impervious",
        9: "wetland",
    }
)
"""China Land Cover Dataset (CLCD) level-1 classes, the ``landcover`` role's default legend (FACTORS.md §D)."""


@dataclass(frozen=True)
class LayerRole:
    """What one input layer holds.

    Attributes:
        name: the key used in pipelines, the API and outputs.
        unit: physical unit, or ``"class code"`` for categorical layers.
        kind: ``categorical`` (integer codes; invalid cells read as −1) or ``continuous`` (read as float32 with
            NaN where invalid).
        temporal: ``epoch`` (one raster per epoch expected), ``static`` (one raster for all epochs) or ``either``.
        valid_range: (min, max) of meaningful values, inclusive, for continuous roles.
        legend: code → meaning, for categorical roles.
        resampling: the method that suits the role when the layer lies on another grid (nearest for categories).
        description: one line for tables and messages.
    """

    name: str
    unit: str
    kind: Literal["categorical", "continuous"]
    temporal: Literal["epoch", "static", "either"]
    description: str
    valid_range: tuple[float, float] | None = None
    legend: Mapping[int, str] = field(default_factory=dict)
    resampling: str = "nearest"

    @property
    def categorical(self) -> bool:
        return self.kind == "categorical"


_ROLES = (
    LayerRole(
        "landcover", "class code", "categorical", "epoch", "land-cover classes (CLCD legend)", legend=CLCD_LEGEND
    ),
    LayerRole(
        "canopy_cover", "%", "continuous", "epoch", "tree canopy cover", valid_range=(0.0, 100.0), resampling="average"
    ),
    LayerRole(
        "growing_stock",
        "m3/ha",
        "continuous",
        "epoch",
        "growing stock volume of trees",
        valid_range=(0.0, 3000.0),
        resampling="average",
    ),
    LayerRole(
        "growing_stock_sd",
        "m3/ha",
        "continuous",
        "either",
        "standard deviation of the `growing_stock` layer, per pixel (enters the uncertainty draws as a map error; "
        "needs a `growing_stock` layer)",
        valid_range=(0.0, 3000.0),
        resampling="average",
    ),
    LayerRole(
        "loss_year",
        "year offset",
        "categorical",
        "static",
        "Hansen loss year: 0 no loss, N = stand-replacing loss in base_year + N (needs `base_year`)",
        valid_range=(0.0, 99.0),
    ),
    LayerRole(
        "forest_type",
        "class code",
        "categorical",
        "either",
        "forest type",
        legend=MappingProxyType(
            {
                0: "none (not forest)",
                1: "deciduous broadleaf",
                2: "evergreen broadleaf",
                3: "deciduous needleleaf",
                4: "evergreen needleleaf",
                5: "mixed",
                6: "bamboo",
            }
        ),
    ),
    LayerRole(
        "shrub_cover", "%", "continuous", "either", "shrub cover", valid_range=(0.0, 100.0), resampling="average"
    ),
    LayerRole(
        "mean_temperature",
        "degC",
        "continuous",
        "static",
        "annual mean air temperature",
        valid_range=(-60.0, 40.0),
        resampling="bilinear",
    ),
    LayerRole(
        "annual_precip",
        "mm/yr",
        "continuous",
        "static",
        "annual precipitation",
        valid_range=(0.0, 15000.0),
        resampling="bilinear",
    ),
    LayerRole(
        "elevation",
        "m",
        "continuous",
        "static",
        "terrain elevation above sea level",
        valid_range=(-500.0, 9000.0),
        resampling="bilinear",
    ),
    LayerRole(
        "carbonate",
        "class code",
        "categorical",
        "static",
        "carbonate lithology",
        legend=MappingProxyType({0: "other", 1: "exposed carbonate (karst)", 2: "buried/covered carbonate"}),
    ),
    LayerRole(
        "wetland_type",
        "class code",
        "categorical",
        "static",
        "wetland type",
        legend=MappingProxyType(
            {0: "none", 1: "inland marsh/swamp", 2: "mangrove", 3: "tidal/salt marsh", 4: "seagrass"}
        ),
    ),
    LayerRole(
        "agb",
        "t d.m./ha",
        "continuous",
        "either",
        "above-ground live woody biomass, dry matter",
        valid_range=(0.0, 1500.0),
        resampling="average",
    ),
    LayerRole(
        "agb_sd",
        "t d.m./ha",
        "continuous",
        "either",
        "standard deviation of the `agb` layer, per pixel (kept for uncertainty; needs an `agb` layer)",
        valid_range=(0.0, 1500.0),
        resampling="average",
    ),
    LayerRole(
        "carbon_density",
        "t C/ha",
        "continuous",
        "either",
        "forest vegetation carbon density (above- plus below-ground live biomass carbon)",
        valid_range=(0.0, 1000.0),
        resampling="average",
    ),
    LayerRole(
        "carbon_density_sd",
        "t C/ha",
        "continuous",
        "either",
        "standard deviation of the `carbon_density` layer, per pixel (kept for uncertainty; needs a "
        "`carbon_density` layer)",
        valid_range=(0.0, 1000.0),
        resampling="average",
    ),
    LayerRole(
        "soil_carbon",
        "t C/ha",
        "continuous",
        "static",
        "mineral soil organic carbon stock (e.g. 0-30 cm)",
        valid_range=(0.0, 2000.0),
        resampling="average",
    ),
    LayerRole(
        "grassland_management",
        "class code",
        "categorical",
        "epoch",
        "grassland management/degradation state (IPCC Table 6.2 F_MG; gives the grassland SOC change)",
        legend=MappingProxyType(
            {1: "nominally managed", 2: "moderately degraded", 3: "severely degraded", 4: "improved"}
        ),
    ),
    LayerRole(
        "forest_age",
        "class code",
        "categorical",
        "static",
        "forest age class for IPCC 2019R Table 4.9 growth (without it: secondary > 20 yr)",
        legend=MappingProxyType({1: "secondary forest ≤ 20 yr", 2: "secondary forest > 20 yr", 3: "primary"}),
    ),
    LayerRole(
        "wetland_restoration",
        "class code",
        "categorical",
        "static",
        "coastal wetland restoration (Wetlands Supplement Table 4.12 applies only where 1)",
        legend=MappingProxyType({0: "not restored", 1: "rewetted, revegetated or created"}),
    ),
)

ROLES: Mapping[str, LayerRole] = MappingProxyType({role.name: role for role in _ROLES})
"""Every role a pipeline may name, by name."""


def role_table_markdown() -> str:
    """The README's role table, generated from :data:`ROLES` (a test keeps the README in step)."""
    lines = ["| role | unit | kind | epochs | valid values | resampling when on another grid |", "|---|---|---|---|---|---|"]
    for role in ROLES.values():
        if role.legend:
            values = ", ".join(f"{code} {name}" for code, name in role.legend.items())
        elif role.valid_range is not None:
            values = f"{role.valid_range[0]:g} to {role.valid_range[1]:g}"
        else:
            values = role.description
        lines.append(f"| `{role.name}` | {role.unit} | {role.kind} | {role.temporal} | {values} | {role.resampling} |")
    return "\n".join(lines)
