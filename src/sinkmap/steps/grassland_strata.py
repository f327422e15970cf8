"""Grassland strata: the activity data of the grassland carbon chain's Monte Carlo uncertainty, aggregated once.

:class:`GrasslandStrataStep` counts, per region and epoch, the true area of every cell of (IPCC climate zone × soil
type × management × input level) over the pixels the carbon step gives a grassland carbon estimate (grassland land
cover with climate zones). Within a cell the grassland chain of :mod:`sinkmap.kernels.carbon.grassland` is a product
of factors with no other per-pixel input (biomass = Table 6.4 default × carbon fraction; SOC = SOC_ref × F_LU × F_MG
× F_I), so the table carries the chain exactly: no binning, no approximation
(:func:`sinkmap.apps.grassland_terms.grassland_terms` turns it into model terms).

The cells are read from the carbon step's products (:class:`~sinkmap.steps.carbon.GrasslandPixels`): the same mask,
climate zones and codes it gives the SOC kernel, with the kernel's defaults where it gives none (HAC soil, nominal
management, medium input; at this version the carbon step passes no soil or input-level layer, so those two parts
of the code are always HAC and medium).

Code layout (:data:`N_GRASSLAND_CODES` = 12 × 6 × 4 × 2 = 576 codes; −1 = not grassland with an estimate)::

    code = (((climate − 1) × N_SOIL + (soil − 1)) × N_MANAGEMENT + (management − 1)) × N_INPUT + (input − 1)

with climate the IPCC climate code 1–12 (:data:`sinkmap.kernels.carbon.zones.IPCC_CLIMATE_NAMES`), soil 1–6
(:data:`~sinkmap.kernels.carbon.grassland.SOIL_TYPE_NAMES`), management 1–4
(:data:`~sinkmap.kernels.carbon.grassland.MANAGEMENT_NAMES`) and input level 1–2
(:data:`~sinkmap.kernels.carbon.grassland.INPUT_LEVEL_NAMES`), as passed to the kernel (the input level takes effect
on improved grassland only; the code keeps it as passed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.step import CrosstabSpec, Earlier, StatSpec, Step, StepOutput, WindowInputs
from sinkmap.kernels.carbon.grassland import INPUT_LEVEL_NAMES, MANAGEMENT_NAMES, SOIL_TYPE_NAMES
from sinkmap.kernels.carbon.zones import IPCC_CLIMATE_NAMES
from sinkmap.steps.carbon import CarbonStep

__all__ = [
    "N_CLIMATES",
    "N_GRASSLAND_CODES",
    "N_INPUT",
    "N_MANAGEMENT",
    "N_SOIL",
    "GrasslandStrataStep",
    "decode_grassland_stratum",
    "grassland_strata_name",
    "grassland_stratum",
]

N_CLIMATES = max(IPCC_CLIMATE_NAMES)
"""IPCC climate codes 1–12."""
N_SOIL = max(SOIL_TYPE_NAMES)
"""Soil type codes 1–6 (1 HAC, the default)."""
N_MANAGEMENT = max(MANAGEMENT_NAMES)
"""Management codes 1–4 (1 nominally managed, the default)."""
N_INPUT = max(INPUT_LEVEL_NAMES)
"""Input level codes 1–2 (1 medium, the default)."""
N_GRASSLAND_CODES = N_CLIMATES * N_SOIL * N_MANAGEMENT * N_INPUT

_DEFAULT = 1
"""The SOC kernel's default class of every optional layer (HAC, nominal, medium); 0 or less means unknown."""


def grassland_strata_name(epoch: int) -> str:
    """The cross-tabulation of the grassland strata at ``epoch``."""
    return f"grassland_strata_{epoch}"


def grassland_stratum(
    climate: NDArray[np.integer[Any]],
    soil: NDArray[np.integer[Any]],
    management: NDArray[np.integer[Any]],
    input_level: NDArray[np.integer[Any]],
) -> NDArray[np.int64]:
    """The stratum code of (climate 1–12, soil 1–6, management 1–4, input level 1–2) (see the module docstring);
    codes outside those ranges give meaningless results, so callers mask them."""
    c, s, g, i = (
        np.asarray(x, dtype=np.int64) - 1 for x in (climate, soil, management, input_level)
    )
    return np.asarray(((c * N_SOIL + s) * N_MANAGEMENT + g) * N_INPUT + i, dtype=np.int64)


def decode_grassland_stratum(code: NDArray[np.integer[Any]]) -> tuple[NDArray[np.int64], ...]:
    """(IPCC climate 1–12, soil type 1–6, management 1–4, input level 1–2) of stratum codes ≥ 0."""
    c = np.asarray(code, dtype=np.int64)
    c, inp = np.divmod(c, N_INPUT)
    c, mg = np.divmod(c, N_MANAGEMENT)
    clim, soil = np.divmod(c, N_SOIL)
    return clim + 1, soil + 1, mg + 1, inp + 1


def _codes_or_default(
    codes: NDArray[np.integer[Any]] | None, shape: tuple[int, int]
) -> NDArray[np.int64]:
    """As the SOC kernel reads an optional layer: none → the default class; 0 or less (unknown) → the default."""
    if codes is None:
        return np.full(shape, _DEFAULT, np.int64)
    c = np.asarray(codes, dtype=np.int64)
    return np.where(c <= 0, _DEFAULT, c)


@dataclass(frozen=True)
class GrasslandStrataStep(Step[None]):
    """True area per region of each grassland stratum cell, per epoch (see the module docstring).

    Runs after :class:`~sinkmap.steps.carbon.CarbonStep` (whose products give the cells) in a job with land cover.
    """

    name = "grassland_strata"
    epochs: tuple[int, ...]

    @property
    def n_codes(self) -> int:
        return N_GRASSLAND_CODES

    def stats(self) -> tuple[StatSpec, ...]:
        return ()

    def crosstabs(self) -> tuple[CrosstabSpec, ...]:
        return tuple(
            CrosstabSpec(
                grassland_strata_name(e),
                self.n_codes,
                f"grassland area {e} with a carbon estimate by IPCC climate zone × soil type × management × input level",
            )
            for e in self.epochs
        )

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[None]:
        carbon = earlier.get(CarbonStep)
        shape = inputs.shape
        codes: dict[str, NDArray[np.integer[Any]]] = {}
        for e in self.epochs:
            pixels = carbon.grassland.get(e)
            if pixels is None:  # no land cover: the carbon step estimated no grassland
                codes[grassland_strata_name(e)] = np.full(shape, -1, np.int64)
                continue
            code = grassland_stratum(
                carbon.ipcc_climate,
                _codes_or_default(pixels.soil_type, shape),
                _codes_or_default(pixels.management, shape),
                _codes_or_default(pixels.input_level, shape),
            )
            codes[grassland_strata_name(e)] = np.where(pixels.mask, code, -1)
        return StepOutput(None, crosstabs=codes)
