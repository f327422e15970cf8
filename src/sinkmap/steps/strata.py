"""Strata steps: the activity data that accuracy assessment and Monte Carlo uncertainty need, aggregated once.

* :class:`ClassAreaStep`: true area per region of each land-cover class at each epoch (the strata weights of a
  reference sample stratified by the map's classes, :mod:`sinkmap.kernels.accuracy`).
* :class:`ForestStrataStep`: the forest carbon chain's strata — per epoch, the true area of each cell of
  (FAO ecological zone, with the dead-wood precipitation class in tropical and subtropical zones × forest type ×
  growing-stock bin, :data:`VOLUME_EDGES_M3_PER_HA`) — as one cross-tabulation,
  so that factor draws are applied to a table of a few thousand cells per region instead of to pixels
  (:mod:`sinkmap.apps.uncertainty`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.roles import CLCD_LEGEND
from sinkmap.engine.step import (
    CrosstabSpec,
    Earlier,
    StatKey,
    StatSpec,
    Step,
    StepOutput,
    WindowInputs,
)
from sinkmap.steps.carbon import MIXED_FOREST, CarbonStep
from sinkmap.steps.forest import ForestStep

__all__ = [
    "CLASS_AREA_NAMES",
    "N_FOREST_TYPES",
    "N_VOLUME_BINS",
    "N_ZONES",
    "VOLUME_EDGES_M3_PER_HA",
    "ClassAreaStep",
    "ForestStrataStep",
    "bin_middle_m3_per_ha",
    "class_area_stat",
    "decode_stratum",
    "forest_strata_name",
    "stock_sd_stat",
    "volume_bin",
    "zone_cell",
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
PRECIP_EDGES_MM = (1000.0, 1600.0)
"""Upper-inclusive annual precipitation classes of the tropical dead-wood/litter rows: ≤ 1000, ≤ 1600, > 1600 mm."""
N_ZONES = 28
"""Zone cells: 0 none; FAO zones 1–7 (tropical and subtropical: dead wood depends on precipitation) × the three
precipitation classes → 1–21; FAO zones 8–13 → 22–27."""
N_FOREST_TYPES = 6
"""Forest types 1–6 (6 bamboo) → 0–5."""
VOLUME_EDGES_M3_PER_HA = np.array(
    [0.0, 10, 20, 30, 40, 50, 60, 70, 80, 100, 120, 150, 200, 250, 300, 400, 500, 700, 1000]
)
"""Growing-stock bin edges (m³/ha): every growing-stock class edge of the BCEF tables (10, 20, 40, 50, 60, 80, 100,
120, 200) and a few more, so a bin never straddles a BCEF class. Few bins keep the cross-tabulation cheap (its cost
grows with the codes present in a window); the model takes each pool's exact regional total from the run and only
splits it among factor rows by these bins (:mod:`sinkmap.apps.uncertainty`)."""
N_VOLUME_BINS = VOLUME_EDGES_M3_PER_HA.size + 1
"""Bin 0 holds exactly 0; bin j (1 … n − 1) holds ``(edge[j − 1], edge[j]]``; the last bin holds > 1000 m³/ha."""


def volume_bin(gsv_m3_per_ha: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """Growing-stock bin of each value (≥ 0)."""
    return np.searchsorted(VOLUME_EDGES_M3_PER_HA, gsv_m3_per_ha, side="left").astype(np.int64)


def bin_middle_m3_per_ha(vbin: NDArray[np.int64]) -> NDArray[np.float64]:
    """Growing stock at the middle of each bin (the open last bin at 1025 m³/ha)."""
    edges = np.append(VOLUME_EDGES_M3_PER_HA, VOLUME_EDGES_M3_PER_HA[-1] + 50.0)
    upper = edges[np.minimum(vbin, edges.size - 1)]
    lower = edges[np.maximum(vbin - 1, 0)]
    return np.where(vbin == 0, 0.0, (lower + upper) / 2)


def zone_cell(ecozone: NDArray[np.int64], precip_class: NDArray[np.int64]) -> NDArray[np.int64]:
    """The zone cell of FAO zone codes and precipitation classes (1–3; 0 unknown)."""
    tropical = (ecozone >= 1) & (ecozone <= 7) & (precip_class >= 1)
    out = np.where(tropical, 1 + (ecozone - 1) * 3 + (precip_class - 1), 0)
    return np.where(ecozone >= 8, 22 + (ecozone - 8), out)


def forest_strata_name(epoch: int) -> str:
    """The cross-tabulation of the forest strata at ``epoch``."""
    return f"forest_strata_{epoch}"


def stock_sd_stat(correlation: str) -> str:
    """The statistic of a ``growing_stock_sd`` layer over the forest stands: ``Σ sd · area`` (m³; pixel errors
    fully correlated within a region) or ``Σ (sd · area)²`` (m⁶; independent pixels)."""
    return "growing_stock_sd_m3" if correlation == "region" else "growing_stock_sd_squared_m6"


def decode_stratum(code: NDArray[np.integer]) -> tuple[NDArray[np.int64], ...]:
    """(FAO zone, precipitation class (0 where it does not matter), forest type 1–6, volume bin) of stratum codes."""
    c = np.asarray(code, dtype=np.int64)
    c, vbin = np.divmod(c, N_VOLUME_BINS)
    zone, ftype = np.divmod(c, N_FOREST_TYPES)
    tropical = (zone >= 1) & (zone <= 21)
    eco = np.where(tropical, 1 + (zone - 1) // 3, np.where(zone >= 22, 8 + zone - 22, 0))
    pclass = np.where(tropical, 1 + (zone - 1) % 3, 0)
    return eco, pclass, ftype + 1, vbin


@dataclass(frozen=True)
class ForestStrataStep(Step[None]):
    """True area per region of each forest stratum cell, per epoch (see the module docstring).

    The cells are those of the carbon step's forest chain: tree stands and bamboo with an ecological zone, forest
    type as the carbon step reads it (missing or unknown types count as mixed forest, bamboo as 6), growing stock
    ≥ 0 in the bins of :data:`VOLUME_EDGES_M3_PER_HA`. Stock volume per cell is taken at the bin's middle
    (:mod:`sinkmap.apps.uncertainty` states the approximation and scales it to the exact regional sums).
    """

    name = "forest_strata"
    epochs: tuple[int, ...]
    stock_sd: str | None = None
    """With a ``growing_stock_sd`` layer: ``region`` or ``independent`` (:func:`stock_sd_stat`)."""

    @property
    def n_codes(self) -> int:
        return N_ZONES * N_FOREST_TYPES * N_VOLUME_BINS

    def stats(self) -> tuple[StatSpec, ...]:
        if self.stock_sd is None:
            return ()
        name = stock_sd_stat(self.stock_sd)
        unit = "m3" if self.stock_sd == "region" else "m6"
        return tuple(
            StatSpec(name, e, unit, f"growing-stock map error over the tree stands {e}: "
                     + ("Σ sd × area" if self.stock_sd == "region" else "Σ (sd × area)²"))
            for e in self.epochs
        )  # fmt: skip

    def crosstabs(self) -> tuple[CrosstabSpec, ...]:
        return tuple(
            CrosstabSpec(
                forest_strata_name(e),
                self.n_codes,
                f"forest area {e} by ecological zone (× precipitation class) × forest type × growing-stock bin",
            )
            for e in self.epochs
        )

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[None]:
        forest = earlier.get(ForestStep)
        # the zones the carbon step used, not computed again (uint8 codes: widened before the cell arithmetic)
        ecozone = earlier.get(CarbonStep).fao_ecozone.astype(np.int64)
        precip = inputs.continuous("annual_precip")
        assert precip is not None
        pclass = np.where(np.isfinite(precip), 1 + np.searchsorted(PRECIP_EDGES_MM, precip, side="left"), 0)
        base = zone_cell(ecozone, pclass) * N_FOREST_TYPES
        codes = {}
        stats: dict[StatKey, NDArray[np.float64]] = {}
        for e in self.epochs:
            comps = forest.components[e]
            stands = (comps.tree | comps.bamboo) & (ecozone > 0)
            layer = inputs.categorical("forest_type", e)
            ftype = np.full(inputs.shape, MIXED_FOREST, np.int64) if layer is None else layer.astype(np.int64)
            ftype = np.where(comps.bamboo, 6, np.where((ftype >= 1) & (ftype <= 6), ftype, MIXED_FOREST))
            gsv = inputs.continuous("growing_stock", e)
            gsv = np.zeros(inputs.shape, np.float64) if gsv is None else np.where(np.isfinite(gsv), np.maximum(gsv, 0), 0.0)
            vbin = np.where(comps.bamboo, 0, volume_bin(gsv))
            code = (base + ftype - 1) * N_VOLUME_BINS + vbin
            codes[forest_strata_name(e)] = np.where(stands, code, -1)
            if self.stock_sd is not None:  # per-m² values: the engine multiplies by the pixel's true area
                sd = inputs.continuous("growing_stock_sd", e)
                sd_m3_per_m2 = np.zeros(inputs.shape) if sd is None else np.where(comps.tree & np.isfinite(sd), sd, 0.0) / 1e4
                if self.stock_sd == "region":
                    stats[(stock_sd_stat("region"), e)] = sd_m3_per_m2
                else:  # (sd × area)² = (sd per m²)² × area × area: one area factor here, the other by the engine
                    stats[(stock_sd_stat("independent"), e)] = sd_m3_per_m2**2 * inputs.pixel_area_m2
        return StepOutput(None, stats=stats, crosstabs=codes)
