"""The InVEST step: carbon storage by pool from an InVEST Carbon pools table, per scenario, and the change.

Each scenario is a land-cover layer (the pipeline's ``landcover`` per epoch, or the rasters given to
``sinkmap invest``). Densities come from :func:`sinkmap.kernels.carbon.invest.lookup_pools` (t C/ha, the table's
units). The change of every later scenario against the first is computed per pixel where both are valid, by pool,
so the change of a region is over the same pixels in both scenarios. Nodata is a mask, never a value: a real
change of −1.0 t C/ha stays −1.0. Codes missing from the table are returned as notes and reported together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sinkmap.engine.step import Earlier, LayerKey, StatSpec, Step, StepOutput, WindowInputs, per_m2
from sinkmap.kernels.carbon.invest import POOL_COLUMNS, InvestCarbonTable, InvestPools, lookup_pools

__all__ = ["UNKNOWN_CODE", "InvestStep"]

UNKNOWN_CODE = "invest: land-cover code without a pools-table row"


@dataclass(frozen=True)
class InvestStep(Step[None]):
    """Storage per scenario and change against the first scenario.

    Attributes:
        table: the pools table.
        scenarios: (label, layer key) per scenario, earliest first; the label is the statistics' epoch (a year
            in a pipeline, 0, 1, … for ``sinkmap invest``).
    """

    name = "invest"
    table: InvestCarbonTable
    scenarios: tuple[tuple[int, LayerKey], ...]

    def stats(self) -> tuple[StatSpec, ...]:
        out = []
        for label, _ in self.scenarios:
            out.append(StatSpec("invest_valid_area_m2", label, "m2", "area with a valid land-cover code, m²"))
            out += [
                StatSpec(f"invest_{pool}_t_c", label, "t C", f"InVEST pools table storage, pool {pool}, t C")
                for pool in POOL_COLUMNS
            ]
        first = self.scenarios[0][0]
        for label, _ in self.scenarios[1:]:
            out.append(
                StatSpec("invest_both_valid_area_m2", label, "m2", f"area valid in scenario {first} and {label}, m²")
            )
            out += [
                StatSpec(
                    f"invest_{pool}_change_t_c",
                    label,
                    "t C",
                    f"change of pool {pool} from scenario {first} to {label} where both are valid, t C",
                )
                for pool in POOL_COLUMNS
            ]
        return tuple(out)

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[None]:
        out: StepOutput[None] = StepOutput(None)
        pools: list[InvestPools] = []
        unknown: set[int] = set()
        for label, (name, epoch) in self.scenarios:
            got = inputs.layer(name, epoch)
            assert got is not None  # the job is built with every scenario's layer
            densities, missing = lookup_pools(got[0], got[1], self.table)
            unknown |= missing
            pools.append(densities)
            valid = np.isfinite(densities.c_above)
            out.stats[("invest_valid_area_m2", label)] = valid
            for pool in POOL_COLUMNS:
                out.stats[(f"invest_{pool}_t_c", label)] = per_m2(getattr(densities, pool))
        base = pools[0]
        for (label, _), later in zip(self.scenarios[1:], pools[1:], strict=True):
            both = np.isfinite(base.c_above) & np.isfinite(later.c_above)
            out.stats[("invest_both_valid_area_m2", label)] = both
            for pool in POOL_COLUMNS:
                change = getattr(later, pool) - getattr(base, pool)
                out.stats[(f"invest_{pool}_change_t_c", label)] = np.where(both, change, 0.0) / 10_000.0
        out.notes = frozenset((UNKNOWN_CODE, code) for code in unknown)
        return out

