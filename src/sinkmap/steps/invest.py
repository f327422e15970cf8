"""The InVEST step: carbon storage by pool from an InVEST Carbon pools table, per scenario, and the change.

Each scenario is a land-cover layer (the pipeline's ``landcover`` per epoch, or the baseline and alternates given
to ``sinkmap invest``). Densities come from :func:`sinkmap.kernels.carbon.invest.lookup_pools` (t C/ha, the table's
units). The change of every later scenario against the first (the baseline) is computed per pixel where both are
valid, by pool, so the change of a region is over the same pixels in both scenarios. Nodata is a mask, never a
value: a real change of −1.0 t C/ha stays −1.0. Codes missing from the table are returned as notes and reported
together.

Two InVEST behaviours are available on request: ``map_nodata`` maps pixels holding a scenario's nodata code through
the table row for that code (InVEST does this when the table lists the code) instead of masking them; and the
step can write InVEST's per-pixel rasters (storage, per-pool intermediates, change, net present value; t C/ha and
currency/ha) under sinkmap's names or InVEST's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sinkmap.engine.step import (
    Earlier,
    LayerKey,
    RasterSpec,
    StatSpec,
    Step,
    StepOutput,
    WindowInputs,
    per_m2,
)
from sinkmap.kernels.carbon.invest import POOL_COLUMNS, InvestCarbonTable, InvestPools, lookup_pools

__all__ = ["UNKNOWN_CODE", "InvestStep"]

UNKNOWN_CODE = "invest: land-cover code without a pools-table row"
RASTER_NODATA = float("nan")


@dataclass(frozen=True)
class InvestStep(Step[None]):
    """Storage per scenario and change against the first scenario.

    Attributes:
        table: the pools table.
        scenarios: (label, layer key) per scenario, baseline first; the label is the statistics' epoch (a year
            in a pipeline, 0, 1, … for ``sinkmap invest``).
        map_nodata: per scenario, the nodata code whose pixels are mapped through the table (InVEST's behaviour)
            instead of masked, or ``None``; empty: mask every scenario's nodata.
        scenario_names: per scenario, the name used in raster file names (``bas``, ``alt``, …); empty: no rasters.
        invest_names: name rasters as InVEST does (``c_storage_bas``, ``c_above_bas``, ``c_change_bas_alt``,
            ``npv_alt``) instead of sinkmap's names with units.
        npv_per_t_c: per later scenario, the net present value of one t C of change (currency/t C), or ``None``
            for no valuation raster.
    """

    name = "invest"
    table: InvestCarbonTable
    scenarios: tuple[tuple[int, LayerKey], ...]
    map_nodata: tuple[float | None, ...] = ()
    scenario_names: tuple[str, ...] = ()
    invest_names: bool = False
    npv_per_t_c: tuple[float | None, ...] = ()

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

    def raster_name(self, kind: str, k: int, pool: str = "") -> str:
        """File stem of a raster: ``kind`` is ``storage``, ``pool``, ``change`` or ``npv``; ``k`` the scenario."""
        names = self.scenario_names
        scenario, base = names[k], names[0]
        if self.invest_names:
            return {
                "storage": f"c_storage_{scenario}",
                "pool": f"{pool}_{scenario}",
                "change": f"c_change_{base}_{scenario}",
                "npv": f"npv_{scenario}",
            }[kind]
        return {
            "storage": f"carbon_storage_t_c_per_ha_{scenario}",
            "pool": f"{pool}_t_c_per_ha_{scenario}",
            "change": f"carbon_change_t_c_per_ha_{base}_{scenario}",
            "npv": f"npv_per_ha_{base}_{scenario}",
        }[kind]

    def rasters(self) -> tuple[RasterSpec, ...]:
        if not self.scenario_names:
            return ()
        out = []
        for k, name in enumerate(self.scenario_names):
            out.append(
                RasterSpec(self.raster_name("storage", k), None, "float32", RASTER_NODATA, "t C/ha",
                           f"carbon storage, sum of the four pools, scenario {name}", {"SCENARIO": name})
            )
            out += [
                RasterSpec(self.raster_name("pool", k, pool), None, "float32", RASTER_NODATA, "t C/ha",
                           f"carbon pool {pool} from the pools table, scenario {name}", {"SCENARIO": name})
                for pool in POOL_COLUMNS
            ]
        base = self.scenario_names[0]
        for k in range(1, len(self.scenario_names)):
            name = self.scenario_names[k]
            out.append(
                RasterSpec(self.raster_name("change", k), None, "float32", RASTER_NODATA, "t C/ha",
                           f"change in carbon storage {base} → {name} (positive = carbon gained), where both are valid",
                           {"SCENARIO": f"{base}->{name}", "SIGN_CONVENTION": "gain positive"})
            )
            if self._npv(k) is not None:
                out.append(
                    RasterSpec(self.raster_name("npv", k), None, "float32", RASTER_NODATA, "currency/ha",
                               f"net present value of the change in storage {base} → {name} (InVEST valuation)",
                               {"SCENARIO": f"{base}->{name}", "VALUE_PER_T_C": repr(self._npv(k))})
                )
        return tuple(out)

    def _npv(self, k: int) -> float | None:
        return self.npv_per_t_c[k - 1] if len(self.npv_per_t_c) >= k else None

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[None]:
        out: StepOutput[None] = StepOutput(None)
        pools: list[InvestPools] = []
        unknown: set[int] = set()
        for k, (label, (name, epoch)) in enumerate(self.scenarios):
            got = inputs.layer(name, epoch)
            assert got is not None  # the job is built with every scenario's layer
            values, valid = got
            code = self.map_nodata[k] if k < len(self.map_nodata) else None
            if code is not None:
                valid = valid | (values == code)  # InVEST: the nodata code is a land-cover code like any other
            densities, missing = lookup_pools(values, valid, self.table)
            unknown |= missing
            pools.append(densities)
            ok = np.isfinite(densities.c_above)
            out.stats[("invest_valid_area_m2", label)] = ok
            for pool in POOL_COLUMNS:
                out.stats[(f"invest_{pool}_t_c", label)] = per_m2(getattr(densities, pool))
            if self.scenario_names:
                out.rasters[(self.raster_name("storage", k), None)] = densities.total.astype(np.float32)
                for pool in POOL_COLUMNS:
                    out.rasters[(self.raster_name("pool", k, pool), None)] = getattr(densities, pool).astype(np.float32)
        base = pools[0]
        for k, ((label, _), later) in enumerate(zip(self.scenarios[1:], pools[1:], strict=True), start=1):
            both = np.isfinite(base.c_above) & np.isfinite(later.c_above)
            out.stats[("invest_both_valid_area_m2", label)] = both
            for pool in POOL_COLUMNS:
                change = getattr(later, pool) - getattr(base, pool)
                out.stats[(f"invest_{pool}_change_t_c", label)] = np.where(both, change, 0.0) / 10_000.0
            if self.scenario_names:
                total_change = np.where(both, later.total - base.total, np.nan)
                out.rasters[(self.raster_name("change", k), None)] = total_change.astype(np.float32)
                value = self._npv(k)
                if value is not None:
                    out.rasters[(self.raster_name("npv", k), None)] = (total_change * value).astype(np.float32)
        out.notes = frozenset((UNKNOWN_CODE, code) for code in unknown)
        return out
