"""The land-cover transition step: true area of every (class before → class after) pair per region.

A cross-tabulation of the ``landcover`` layer at the first and last epoch, counted by the engine in one pass over
the window (:func:`sinkmap.kernels.coverage.weighted_histograms`) from the codes of
:func:`sinkmap.kernels.carbon.change.transition_codes` (code = before × N + after, N one more than the legend's
largest code), the same codes :func:`~sinkmap.kernels.carbon.change.transition_matrix` counts. Cells invalid in either epoch, or with a code outside the legend's range, are not
counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sinkmap.engine.roles import CLCD_LEGEND
from sinkmap.engine.step import CrosstabSpec, Earlier, StatSpec, Step, StepOutput, WindowInputs
from sinkmap.kernels.carbon.change import transition_codes

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
        codes = transition_codes(before, after, range(N_LANDCOVER_CODES))
        return StepOutput(None, crosstabs={TRANSITIONS: codes})
