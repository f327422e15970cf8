"""Sequestration and change: stock difference, IPCC gain–loss growth removals, land-cover transition matrices.

Sign convention: a **sink (removal from the atmosphere) is positive** in every output here.

- :func:`stock_difference_sink` — ``(stock_t1 − stock_t0) / (year1 − year0)``: carbon gained per year, in the basis
  of the inputs (t C/ha → t C/ha/yr; t C per pixel → t C/yr per pixel), and × 44/12 as CO₂e.
- :func:`forest_growth_removals` — the gain side of the IPCC gain–loss method where only one epoch exists:
  ``ΔC = G_AGB × (1 + R) × CF`` with G_AGB the 2019R Table 4.9 above-ground growth (t d.m./ha/yr) by FAO ecological
  zone and age class, R the Table 4.4 root-to-shoot ratio and CF 0.47. Age classes follow GFW's forest age category:
  1 secondary forest <= 20 years, 2 secondary forest > 20 years, 3 primary forest. Losses (harvest, disturbance,
  t C/ha/yr, positive numbers) can be passed and are subtracted.
- :func:`transition_matrix` — area-weighted land-cover transition matrix (rows = class before, columns = class
  after), summing the given weights exactly (e.g. pixel area or coverage-weighted area), decomposable over chunks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sinkmap.errors import ConfigError
from sinkmap.factors import FactorTables
from sinkmap.kernels.carbon._common import (
    C_TO_CO2,
    FloatArray,
    as_codes,
    as_float,
    require_codes,
    valid_mask,
)
from sinkmap.kernels.carbon.forest import root_shoot_ratio
from sinkmap.kernels.carbon.zones import FAO_ZONE_NAMES

__all__ = [
    "AGE_CLASS_NAMES",
    "GROWTH_ECOZONE",
    "CarbonFlux",
    "GrowthRemovals",
    "TransitionMatrix",
    "forest_growth_removals",
    "stock_difference_sink",
    "transition_codes",
    "transition_matrix",
]

AGE_CLASS_NAMES: Mapping[int, str] = MappingProxyType(
    {1: "secondary_le20", 2: "secondary_gt20", 3: "primary"}
)
"""Forest age class codes (GFW forest_age_category) → ``forest_growth`` table keys."""

GROWTH_ECOZONE: Mapping[int, str] = MappingProxyType(
    {**{z: n for z, n in FAO_ZONE_NAMES.items() if 0 < z < 13}, 13: "boreal_mountain"}
)
"""``forest_growth`` ecozone key per FAO zone code (polar, which should hold no forest, falls back to boreal mountain)."""


@dataclass(frozen=True)
class CarbonFlux:
    """A carbon flux and its CO₂e (positive = sink), in the basis of the inputs per year."""

    c_t_per_yr: FloatArray
    co2e_t_per_yr: FloatArray


@dataclass(frozen=True)
class GrowthRemovals:
    """Forest growth removals per pixel, t C/ha/yr (positive = sink)."""

    agb_t_c_per_ha_yr: FloatArray
    bgb_t_c_per_ha_yr: FloatArray
    losses_t_c_per_ha_yr: FloatArray

    @property
    def net_t_c_per_ha_yr(self) -> FloatArray:
        """Gains (AGB + BGB) minus losses, t C/ha/yr."""
        return self.agb_t_c_per_ha_yr + self.bgb_t_c_per_ha_yr - self.losses_t_c_per_ha_yr

    @property
    def net_co2e_t_per_ha_yr(self) -> FloatArray:
        """:attr:`net_t_c_per_ha_yr` × 44/12, t CO₂e/ha/yr."""
        return self.net_t_c_per_ha_yr * C_TO_CO2


@dataclass(frozen=True)
class TransitionMatrix:
    """Summed weights of (class before → class after) transitions; ``values[i, j]`` for ``classes[i] → classes[j]``."""

    classes: tuple[int, ...]
    values: FloatArray

    def __add__(self, other: TransitionMatrix) -> TransitionMatrix:
        """Combine partial matrices (e.g. from chunks); the class lists must be equal."""
        if self.classes != other.classes:
            raise ValueError("cannot add transition matrices with different class lists")
        return TransitionMatrix(self.classes, self.values + other.values)

    def as_dict(self) -> dict[tuple[int, int], float]:
        """Non-zero cells as ``{(before, after): weight}``."""
        out = {}
        for i, a in enumerate(self.classes):
            for j, b in enumerate(self.classes):
                if self.values[i, j] != 0:
                    out[(a, b)] = float(self.values[i, j])
        return out


def stock_difference_sink(
    stock_t0_t_c: ArrayLike,
    stock_t1_t_c: ArrayLike,
    *,
    year0: float,
    year1: float,
) -> CarbonFlux:
    """Stock-difference sink ``(stock_t1 − stock_t0) / (year1 − year0)``, positive when the stock grew.

    Args:
        stock_t0_t_c: carbon stock at ``year0`` (t C/ha or t C per pixel; NaN = nodata).
        stock_t1_t_c: carbon stock at ``year1`` in the same basis.
        year0: first epoch (year).
        year1: second epoch (year, > year0).

    Returns:
        :class:`CarbonFlux`: t C per year and t CO₂e per year in the inputs' basis; NaN where either stock is NaN.
        A real change of any value (including −1.0) is kept as is.

    Raises:
        ConfigError: ``year1 <= year0``.
    """
    if not year1 > year0:
        raise ConfigError(f"stock difference needs year1 > year0, got year0={year0}, year1={year1}")
    s0 = as_float(stock_t0_t_c, "stock_t0_t_c")
    s1 = as_float(stock_t1_t_c, "stock_t1_t_c")
    c = (s1 - s0) / float(year1 - year0)
    return CarbonFlux(c_t_per_yr=c, co2e_t_per_yr=c * C_TO_CO2)


def forest_growth_removals(
    ecozone: ArrayLike,
    age_class: ArrayLike,
    *,
    tables: FactorTables,
    forest_type: ArrayLike | None = None,
    agb_t_dm_per_ha: ArrayLike | None = None,
    root_shoot: ArrayLike | None = None,
    losses_t_c_per_ha_yr: ArrayLike | None = None,
    continent: str = "asia",
    valid: ArrayLike | None = None,
) -> GrowthRemovals:
    """IPCC gain–loss forest removals per pixel from 2019R Table 4.9 growth rates, t C/ha/yr.

    ``AGB gain = G_AGB × CF``; ``BGB gain = G_AGB × R × CF``; CF from ``carbon_fraction`` (wood, 0.47).

    Args:
        ecozone: FAO ecological zone codes (0 = nodata → NaN).
        age_class: 1 secondary <= 20 yr, 2 secondary > 20 yr, 3 primary (0/other → NaN).
        tables: factor tables (``forest_growth``, ``forest_root_shoot``, ``carbon_fraction``).
        forest_type: sinkmap forest type codes; with ``agb_t_dm_per_ha`` selects R from Table 4.4.
        agb_t_dm_per_ha: standing AGB, t d.m./ha, for the R class (e.g. from
            :func:`sinkmap.kernels.carbon.forest.forest_carbon_stocks`).
        root_shoot: R given directly (scalar or array), overriding the table.
        losses_t_c_per_ha_yr: optional carbon losses, t C/ha/yr (>= 0), subtracted in :attr:`GrowthRemovals.net_t_c_per_ha_yr`.
        continent: ``forest_growth`` continent key (default ``"asia"``).
        valid: optional boolean mask.

    When neither ``root_shoot`` nor (``forest_type`` and ``agb_t_dm_per_ha``) is given, R is the global default
    0.26 (``forest_root_shoot`` group ``default``; Mokany et al. 2006 as used by GFW).
    """
    eco = as_codes(ecozone, "ecozone")
    age = as_codes(age_class, "age_class")
    shape = np.broadcast_shapes(eco.shape, age.shape)
    eco, age = np.broadcast_to(eco, shape), np.broadcast_to(age, shape)
    require_codes(eco, (-1, *FAO_ZONE_NAMES), "ecozone")
    ok = valid_mask(valid, shape) & (eco > 0) & np.isin(age, tuple(AGE_CLASS_NAMES))
    growth = np.full(shape, np.nan)
    for code, key in GROWTH_ECOZONE.items():
        for a, age_key in AGE_CLASS_NAMES.items():
            m = ok & (eco == code) & (age == a)
            if np.any(m):
                growth[m] = tables.value(
                    "forest_growth", ecozone=key, continent=continent, age_class=age_key
                )
    if root_shoot is not None:
        r = np.broadcast_to(as_float(root_shoot, "root_shoot"), shape)
    elif forest_type is not None and agb_t_dm_per_ha is not None:
        r = root_shoot_ratio(agb_t_dm_per_ha, forest_type, eco, tables=tables)
        r = np.broadcast_to(r, shape)
    elif forest_type is None and agb_t_dm_per_ha is None:
        r = np.full(
            shape,
            tables.value(
                "forest_root_shoot", ecozone_group="default", forest_group="all", agb_class="0-inf"
            ),
        )
    else:
        raise ValueError(
            "give both forest_type and agb_t_dm_per_ha to select R from Table 4.4, or neither"
        )
    cf = tables.value("carbon_fraction", pool="wood", category="default")
    losses = (
        np.zeros(shape)
        if losses_t_c_per_ha_yr is None
        else np.broadcast_to(as_float(losses_t_c_per_ha_yr, "losses_t_c_per_ha_yr"), shape)
    )
    if np.any(losses[np.isfinite(losses)] < 0):
        raise ValueError(
            "losses_t_c_per_ha_yr must be >= 0 (a loss is a positive amount of carbon)"
        )
    agb = growth * cf
    return GrowthRemovals(
        agb_t_c_per_ha_yr=agb,
        bgb_t_c_per_ha_yr=agb * r,
        losses_t_c_per_ha_yr=np.where(ok, losses, np.nan),
    )


def transition_codes(
    codes_before: ArrayLike,
    codes_after: ArrayLike,
    classes: Sequence[int],
    *,
    valid: ArrayLike | None = None,
) -> NDArray[np.int64]:
    """Each pixel's transition as one code ``i × k + j`` (class ``classes[i]`` before, ``classes[j]`` after, k
    classes), or −1 where either code is not a class (nodata) or ``valid`` is False.

    The matrix of :func:`transition_matrix` and the engine's per-region transition areas
    (:class:`sinkmap.steps.landcover.TransitionStep`) both count these codes.
    """
    cls = np.asarray(list(classes), dtype=np.int64)
    if cls.ndim != 1 or cls.size == 0 or np.unique(cls).size != cls.size:
        raise ValueError("classes must be a non-empty sequence of distinct integer codes")
    before = as_codes(codes_before, "codes_before")
    after = as_codes(codes_after, "codes_after")
    if before.shape != after.shape:
        raise ValueError(
            f"codes_before {before.shape} and codes_after {after.shape} differ in shape"
        )
    order = np.argsort(cls)
    sorted_cls = cls[order]
    k = cls.size

    def index(codes: NDArray[np.int64]) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
        pos = np.clip(np.searchsorted(sorted_cls, codes), 0, k - 1)
        return order[pos], sorted_cls[pos] == codes

    ib, okb = index(before)
    ia, oka = index(after)
    keep = okb & oka & valid_mask(valid, before.shape)
    return np.where(keep, ib * k + ia, -1).astype(np.int64)


def transition_matrix(
    codes_before: ArrayLike,
    codes_after: ArrayLike,
    weights: ArrayLike | None,
    classes: Sequence[int],
    *,
    valid: ArrayLike | None = None,
) -> TransitionMatrix:
    """Area-weighted land-cover transition matrix.

    Args:
        codes_before: class codes at the first epoch (integer array; NaN in float arrays = nodata).
        codes_after: class codes at the second epoch, same shape.
        weights: per-pixel weight summed into the cells (e.g. pixel area m², or area × covered fraction);
            ``None`` counts pixels. Pixels with NaN weight are skipped.
        classes: the class codes, in matrix order; codes not in ``classes`` (nodata) are skipped.
        valid: optional boolean mask.

    Returns:
        :class:`TransitionMatrix` with ``values[i, j]`` = Σ weights of pixels going ``classes[i] → classes[j]``
        (float64). Partial matrices of chunks add up with ``+`` to the matrix of the whole.
    """
    codes = transition_codes(codes_before, codes_after, classes, valid=valid)
    k = len(classes)
    w = (
        np.ones(codes.shape)
        if weights is None
        else np.broadcast_to(as_float(weights, "weights"), codes.shape)
    )
    keep = (codes >= 0) & np.isfinite(w)
    values = (
        np.bincount(codes[keep].ravel(), weights=w[keep].ravel(), minlength=k * k)
        .reshape(k, k)
        .astype(np.float64)
    )
    cls = np.asarray(list(classes), dtype=np.int64)
    return TransitionMatrix(classes=tuple(int(c) for c in cls), values=values)
