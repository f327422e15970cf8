"""The land-cover transition step: true area of every (class before → class after) pair per region.

A cross-tabulation of the ``landcover`` layer at the first and last epoch, counted by the engine in one pass over
the window (:func:`sinkmap.kernels.coverage.weighted_histograms`); code = before × N + after with N one more than
the legend's largest code. Cells invalid in either epoch, or with a code outside the legend's range, are not
counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sinkmap.engine.roles import CLCD_LEGEND
from sinkmap.engine.step import CrosstabSpec, Earlier, StatSpec, Step, StepOutput, WindowInputs

__all__ = ["N_LANDCOVER_CODES", "TRANSITIONS", "TransitionStep"]

TRANSITIONS = "landcover_transitions"
N_LANDCOVER_CODES = max(CLCD_LEGEND) + 1


@dataclass(frozen=True)
class TransitionStep(Step[None]):
    """Land-cover transitions between ``first`` and ``last`` epoch."""

    name = "transitions"
    first: int
    last: int

    def stats(self) -> tuple[StatSpec, ...]:
        return ()

    def crosstabs(self) -> tuple[CrosstabSpec, ...]:
        n = N_LANDCOVER_CODES
        return (
            CrosstabSpec(TRANSITIONS, n * n, f"land-cover transitions {self.first}→{self.last}: code = before × {n} + after"),
        )

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[None]:
        before = inputs.categorical("landcover", self.first)
        after = inputs.categorical("landcover", self.last)
        assert before is not None and after is not None
        n = N_LANDCOVER_CODES
        known = (before >= 0) & (before < n) & (after >= 0) & (after < n)
        return StepOutput(None, crosstabs={TRANSITIONS: np.where(known, before * n + after, -1)})
