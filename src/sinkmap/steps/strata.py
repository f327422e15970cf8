"""Strata steps: the activity data that accuracy assessment and Monte Carlo uncertainty need, aggregated once.

* :class:`ClassAreaStep`: true area per region of each land-cover class at each epoch (the strata weights of a
  reference sample stratified by the map's classes, :mod:`sinkmap.kernels.accuracy`).
* :class:`ForestStrataStep`: the forest carbon chain's strata — per epoch, the true area of each cell of
  (FAO ecological zone × dead-wood precipitation class × forest type × growing-stock bin) — as one cross-tabulation,
  so that factor draws are applied to a table of a few thousand cells per region instead of to pixels
  (:mod:`sinkmap.apps.uncertainty`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.roles import CLCD_LEGEND
from sinkmap.engine.step import CrosstabSpec, Earlier, StatKey, StatSpec, Step, StepOutput, WindowInputs
from sinkmap.kernels.carbon import zones
from sinkmap.steps.carbon import MIXED_FOREST, PET
from sinkmap.steps.forest import ForestStep

__all__ = [
    "CLASS_AREA_NAMES",
    "N_ECOZONES",
    "N_FOREST_TYPES",
    "N_PRECIP_CLASSES",
    "N_VOLUME_BINS",
    "VOLUME_BIN_M3_PER_HA",
    "ClassAreaStep",
    "ForestStrataStep",
    "class_area_stat",
    "decode_stratum",
    "forest_strata_name",
]

CLASS_AREA_NAMES = {code: name.replace("/", "_") for code, name in CLCD_LEGEND.items()}
"""Land-cover class code → the word used in statistic and column names (``snow/ice`` → ``snow_ice``)."""


def class_area_stat(code: int) -> str:
    """The statistic holding the mapped area of land-cover class ``code`` (m²)."""
    return f"landcover_{CLASS_AREA_NAMES[code]}_area_m2"


@dataclass(frozen=True)
class ClassAreaStep(Step[None]):
    """Mapped true area of every land-cover class per region and epoch (``landcover_<class>_area_m2``)."""

    name = "class_areas"
    epochs: tuple[int, ...]

    def stats(self) -> tuple[StatSpec, ...]:
        return tuple(
            StatSpec(class_area_stat(code), e, "m2", f"mapped area of land-cover class {code} ({CLCD_LEGEND[code]}), m²")
            for e in self.epochs
            for code in CLCD_LEGEND
        )

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[None]:
        stats: dict[StatKey, NDArray[np.bool_]] = {}
        for e in self.epochs:
            landcover = inputs.categorical("landcover", e)
            assert landcover is not None
            for code in CLCD_LEGEND:
                stats[(class_area_stat(code), e)] = landcover == code
        return StepOutput(None, stats=stats)


# ---------------------------------------------------------------------------------------------- forest strata
N_ECOZONES = 14
"""FAO ecological zone codes 0–13 (0 = none)."""
N_PRECIP_CLASSES = 4
"""Annual precipitation classes of the tropical dead-wood/litter rows: 0 unknown, 1 < 1000, 2 1000–1600, 3 > 1600 mm."""
PRECIP_EDGES_MM = (1000.0, 1600.0)
N_FOREST_TYPES = 7
"""Forest type codes 0–6 (0 unused; 6 bamboo)."""
VOLUME_BIN_M3_PER_HA = 10.0
N_VOLUME_BINS = 101
"""Growing-stock bins ``(10 (j − 1), 10 j]`` m³/ha for j = 1 … 99, bin 0 for exactly 0 and bin 100 for > 990."""


def forest_strata_name(epoch: int) -> str:
    return f"forest_strata_{epoch}"


def decode_stratum(code: NDArray[np.integer]) -> tuple[NDArray[np.int64], ...]:
    """(ecozone, precipitation class, forest type, volume bin) of stratum codes."""
    c = np.asarray(code, dtype=np.int64)
    c, vbin = np.divmod(c, N_VOLUME_BINS)
    c, ftype = np.divmod(c, N_FOREST_TYPES)
    eco, pclass = np.divmod(c, N_PRECIP_CLASSES)
    return eco, pclass, ftype, vbin


@dataclass(frozen=True)
class ForestStrataStep(Step[None]):
    """True area per region of each forest stratum cell, per epoch (see the module docstring).

    The cells are those of the carbon step's forest chain: tree stands and bamboo with an ecological zone, forest
    type as the carbon step reads it (missing or unknown types count as mixed forest, bamboo as 6), growing stock
    ≥ 0 in bins of :data:`VOLUME_BIN_M3_PER_HA`. Stock volume per cell is taken at the bin's middle
    (:mod:`sinkmap.apps.uncertainty` states the approximation and scales it to the exact regional sums).
    """

    name = "forest_strata"
    epochs: tuple[int, ...]

    @property
    def n_codes(self) -> int:
        return N_ECOZONES * N_PRECIP_CLASSES * N_FOREST_TYPES * N_VOLUME_BINS

    def stats(self) -> tuple[StatSpec, ...]:
        return ()

    def crosstabs(self) -> tuple[CrosstabSpec, ...]:
        return tuple(
            CrosstabSpec(
                forest_strata_name(e),
                self.n_codes,
                f"forest area {e} by ecological zone × precipitation class × forest type × growing-stock bin",
            )
            for e in self.epochs
        )

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[None]:
        forest = earlier.get(ForestStep)
        temperature = inputs.continuous("mean_temperature")
        precip = inputs.continuous("annual_precip")
        assert temperature is not None and precip is not None
        coarse_pet = inputs.continuous(PET)
        lat = inputs.latitude_deg
        pet = zones.thornthwaite_pet_mm_per_yr(temperature, lat) if coarse_pet is None else coarse_pet
        ecozone = zones.fao_ecological_zone(temperature, precip, lat, pet_mm_per_yr=pet).astype(np.int64)
        pclass = np.where(np.isfinite(precip), 1 + np.searchsorted(PRECIP_EDGES_MM, precip, side="left"), 0)
        base = (ecozone * N_PRECIP_CLASSES + pclass) * N_FOREST_TYPES
        codes = {}
        for e in self.epochs:
            comps = forest.components[e]
            stands = (comps.tree | comps.bamboo) & (ecozone > 0)
            layer = inputs.categorical("forest_type", e)
            ftype = np.full(inputs.shape, MIXED_FOREST, np.int64) if layer is None else layer.astype(np.int64)
            ftype = np.where(comps.bamboo, 6, np.where((ftype >= 1) & (ftype <= 6), ftype, MIXED_FOREST))
            gsv = inputs.continuous("growing_stock", e)
            gsv = np.zeros(inputs.shape, np.float64) if gsv is None else np.where(np.isfinite(gsv), np.maximum(gsv, 0), 0.0)
            vbin = np.minimum(np.ceil(gsv / VOLUME_BIN_M3_PER_HA), N_VOLUME_BINS - 1).astype(np.int64)
            vbin = np.where(comps.bamboo, 0, vbin)
            code = (base + ftype) * N_VOLUME_BINS + vbin
            codes[forest_strata_name(e)] = np.where(stands, code, -1)
        return StepOutput(None, crosstabs=codes)
