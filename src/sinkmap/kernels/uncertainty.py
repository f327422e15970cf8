"""Uncertainty of inventory quantities: factor pdfs, IPCC Approach 1 (error propagation) and Approach 2 (Monte Carlo).

IPCC 2006 Guidelines Vol. 1 Ch. 3 ask inventories to report the 95 % interval of each estimate. sinkmap's carbon
chain is, within a stratum, a sum of products of factors times activity data (AGB carbon = V × BCEF × CF, BGB
carbon = V × BCEF × R × CF, a sink = a difference of two stocks over the years between them): a *multilinear*
model

    Q_o = Σ_t a[t, o] · Π_{f ∈ t} x_f

with terms ``t`` (a tuple of factors), activity ``a`` (growing stock or area summed over the strata that use the
term, per output ``o``: a region × quantity) and factor values ``x``. This module evaluates such a model:

* :class:`Pdf`: a factor's probability density — normal, lognormal, normal truncated to an interval, or fixed —
  with :meth:`Pdf.from_range` (a table's min/max read as a 95 % interval unless stated otherwise) and
  :meth:`Pdf.from_sd`.
* :func:`monte_carlo` (Approach 2): ``n_draws`` values of every factor, **one draw per factor per iteration shared by
  every term, stratum and output that uses it** (a BCEF that is wrong is wrong in the same direction everywhere),
  applied to the model as matrix products; the 2.5 % and 97.5 % quantiles per output. Each factor's draws come from
  its own random stream, seeded by ``(seed, crc32(factor id))``, so they depend on the seed and the factor's id
  only — not on which other factors exist, on their order, or on how the draws are batched.
* :func:`error_propagation` (Approach 1): first-order (Taylor) propagation of the factor variances through the
  model at the central values; for the IPCC's products and sums of independent factors it is the Approach 1
  formulas (relative uncertainties of a product add in quadrature; absolute ones of a sum add in quadrature).
* :func:`top_contributors`: the factors that contribute most of an output's variance, with their shares.
* :class:`Derived`: a factor computed from another's draw (a root ratio R enters AGB and BGB as ``1/(1+R)`` and
  ``R/(1+R)``, which are not linear in R), so both take the same draw of R.
* :class:`Combination`: activity-data errors on top of the factor model. A published output is a sum of
  *components*, each a column of the factor model (a *part*: the volume-proportional or the area-proportional share
  of a quantity at one epoch) times ``ρ × (1 + s·z)``: ``ρ`` an area ratio drawn from its pdf (the accuracy-adjusted
  over the mapped area of a class in a region, Olofsson et al. 2014), ``z`` a standard normal shared by every
  component that names it (a map's error, fully correlated within a region) and ``s`` the component's relative
  standard deviation from that map. Without a combination every model column is an output.

Pure numpy: no files, no logging. No SciPy: the normal CDF and its inverse are computed here
(:func:`normal_cdf`, :func:`normal_ppf`; absolute error below 1e-9 over the range used).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Z95",
    "Combination",
    "Derived",
    "MonteCarloResult",
    "MultilinearModel",
    "Pdf",
    "PropagationResult",
    "Shares",
    "draw_factors",
    "error_propagation",
    "monte_carlo",
    "normal_cdf",
    "normal_ppf",
    "top_contributors",
]

Z95 = 1.959963984540054
"""Standard normal quantile of a two-sided 95 % interval."""

FloatArray = NDArray[np.float64]


# ------------------------------------------------------------------------------------------ the normal distribution
def normal_cdf(x: ArrayLike) -> FloatArray:
    """Standard normal CDF Φ(x), elementwise (via ``math.erfc``; exact to double precision)."""
    arr = np.asarray(x, dtype=np.float64)
    erfc = np.frompyfunc(math.erfc, 1, 1)
    return np.asarray(0.5 * erfc(-arr / math.sqrt(2.0)), dtype=np.float64)


_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)  # fmt: skip
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)


def normal_ppf(p: ArrayLike) -> FloatArray:
    """Inverse standard normal CDF Φ⁻¹(p) for 0 < p < 1: Acklam's rational approximation (relative error
    1.2e-9) refined by one Halley step against :func:`normal_cdf`."""
    q = np.asarray(p, dtype=np.float64)
    if np.any((q <= 0) | (q >= 1)):
        raise ValueError("normal_ppf needs probabilities strictly between 0 and 1")
    out = np.empty_like(q)
    low, high = q < 0.02425, q > 1 - 0.02425
    mid = ~(low | high)
    r = q[mid] - 0.5
    s = r * r
    num = ((((_A[0] * s + _A[1]) * s + _A[2]) * s + _A[3]) * s + _A[4]) * s + _A[5]
    den = ((((_B[0] * s + _B[1]) * s + _B[2]) * s + _B[3]) * s + _B[4]) * s + 1.0
    out[mid] = num * r / den
    for sel, sign in ((low, 1.0), (high, -1.0)):
        t = np.sqrt(-2.0 * np.log(q[sel] if sign > 0 else 1.0 - q[sel]))
        num = ((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5]
        den = (((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1.0
        out[sel] = sign * num / den
    err = normal_cdf(out) - q
    u = err * math.sqrt(2.0 * math.pi) * np.exp(out * out / 2.0)
    return np.asarray(out - u / (1.0 + out * u / 2.0), dtype=np.float64)


# ------------------------------------------------------------------------------------------------------- pdfs
@dataclass(frozen=True)
class Pdf:
    """A factor's probability density.

    Attributes:
        kind: ``normal`` (``mu``, ``sigma``), ``lognormal`` (``log`` of the value is normal with ``mu``, ``sigma``),
            ``truncnormal`` (normal ``mu``, ``sigma`` restricted to ``[lower, upper]``) or ``fixed`` (always
            ``central``).
        central: the value the inventory uses (a table's ``def``).
        mu, sigma: parameters of the normal (of the log for ``lognormal``).
        lower, upper: truncation bounds (``truncnormal``).
        assumption: how the pdf was read from its source, for the manifest.
    """

    kind: Literal["normal", "lognormal", "truncnormal", "fixed"]
    central: float
    mu: float = 0.0
    sigma: float = 0.0
    lower: float = -math.inf
    upper: float = math.inf
    assumption: str = ""

    # ------------------------------------------------------------------ constructors
    @classmethod
    def fixed(cls, central: float, assumption: str = "no uncertainty given: held fixed") -> Pdf:
        return cls("fixed", float(central), assumption=assumption)

    @classmethod
    def normal(cls, mean: float, sd: float, assumption: str = "") -> Pdf:
        if not sd >= 0:
            raise ValueError(f"a standard deviation must be ≥ 0, got {sd}")
        return cls("normal", float(mean), float(mean), float(sd), assumption=assumption or f"normal({mean:g}, sd {sd:g})")

    @classmethod
    def lognormal(cls, mean: float, sd: float, assumption: str = "") -> Pdf:
        """A lognormal with arithmetic ``mean`` and standard deviation ``sd`` (``mean`` > 0)."""
        if not mean > 0 or not sd >= 0:
            raise ValueError(f"a lognormal needs mean > 0 and sd ≥ 0, got mean {mean}, sd {sd}")
        s2 = math.log1p((sd / mean) ** 2)
        return cls(
            "lognormal", float(mean), math.log(mean) - s2 / 2, math.sqrt(s2),
            assumption=assumption or f"lognormal(mean {mean:g}, sd {sd:g})",
        )  # fmt: skip

    @classmethod
    def truncated_normal(cls, mean: float, sd: float, lower: float, upper: float = math.inf, assumption: str = "") -> Pdf:
        """A normal ``(mean, sd)`` restricted to ``[lower, upper]`` (``central`` stays ``mean``)."""
        if not lower < upper or not lower <= mean <= upper:
            raise ValueError(f"truncation [{lower}, {upper}] must hold the mean {mean}")
        return cls(
            "truncnormal", float(mean), float(mean), float(sd), float(lower), float(upper),
            assumption=assumption or f"normal({mean:g}, sd {sd:g}) truncated to [{lower:g}, {upper:g}]",
        )  # fmt: skip

    @classmethod
    def from_sd(cls, central: float, sd: float, *, nonnegative: bool = True) -> Pdf:
        """A table's central value and standard deviation: normal, truncated at 0 for a quantity that cannot be
        negative (when 0 lies within 4 SD of the centre; otherwise the truncation changes nothing and a plain
        normal is used)."""
        if sd == 0:
            return cls.fixed(central, "standard deviation 0: held fixed")
        if nonnegative and central - 4 * sd < 0 <= central:
            return cls.truncated_normal(central, sd, 0.0, assumption=f"normal({central:g}, sd {sd:g} from the table) truncated at 0")
        return cls.normal(central, sd, f"normal({central:g}, sd {sd:g} from the table)")

    @classmethod
    def from_range(cls, central: float, low: float, high: float, *, coverage: float = 0.95) -> Pdf:
        """A table's central value with a min/max range, read as a ``coverage`` interval (95 % unless the table
        says otherwise).

        * symmetric about the centre (the two sides differ by at most 10 % of the range): normal with
          ``sd = (high − low) / (2 z)``, truncated at 0 when ``low ≥ 0`` and 0 lies within 4 SD;
        * asymmetric with ``low > 0``: lognormal whose ``coverage`` interval is ``[low, high]``
          (``sigma = ln(high / low) / (2 z)``, median ``√(low · high)``);
        * asymmetric with ``low ≤ 0``: normal with the sd of the wider side (``max(high − c, c − low) / z``),
          truncated at 0 when ``low = 0``.

        Raises:
            ValueError: ``central`` outside ``[low, high]`` or ``low > high``.
        """
        if not low <= central <= high:
            raise ValueError(f"the central value {central} lies outside its range [{low}, {high}]")
        if low == high:
            return cls.fixed(central, "range of zero width: held fixed")
        z = float(normal_ppf(0.5 + coverage / 2))
        read = f"range {low:g}–{high:g} read as a {coverage:.0%} interval"
        if abs((high - central) - (central - low)) <= 0.1 * (high - low):
            sd = (high - low) / (2 * z)
            if low >= 0 and central - 4 * sd < 0:
                return cls.truncated_normal(central, sd, 0.0, assumption=f"{read}: normal(sd {sd:.4g}) truncated at 0")
            return cls.normal(central, sd, f"{read}: normal(sd {sd:.4g})")
        if low > 0:
            sigma = math.log(high / low) / (2 * z)
            mu = 0.5 * math.log(high * low)
            return cls("lognormal", float(central), mu, sigma, assumption=f"{read}: asymmetric, lognormal(median {math.exp(mu):.4g}, σ_log {sigma:.4g})")
        sd = max(high - central, central - low) / z
        if low == 0:
            return cls.truncated_normal(central, sd, 0.0, assumption=f"{read}: asymmetric, normal(sd {sd:.4g} of the wider side) truncated at 0")
        return cls.normal(central, sd, f"{read}: asymmetric, normal(sd {sd:.4g} of the wider side)")

    # ------------------------------------------------------------------ properties
    @property
    def variance(self) -> float:
        """The variance of the distribution (for Approach 1)."""
        if self.kind == "fixed":
            return 0.0
        if self.kind == "normal":
            return self.sigma**2
        if self.kind == "lognormal":
            return (math.exp(self.sigma**2) - 1.0) * math.exp(2 * self.mu + self.sigma**2)
        a, b = self._std_bounds()
        pa, pb = float(normal_cdf(a)), float(normal_cdf(b))
        phi_a = math.exp(-a * a / 2) / math.sqrt(2 * math.pi) if math.isfinite(a) else 0.0
        phi_b = math.exp(-b * b / 2) / math.sqrt(2 * math.pi) if math.isfinite(b) else 0.0
        za = a * phi_a if math.isfinite(a) else 0.0
        zb = b * phi_b if math.isfinite(b) else 0.0
        mass = pb - pa
        return self.sigma**2 * (1 + (za - zb) / mass - ((phi_a - phi_b) / mass) ** 2)

    def _std_bounds(self) -> tuple[float, float]:
        return (self.lower - self.mu) / self.sigma, (self.upper - self.mu) / self.sigma

    def from_standard_normal(self, z: FloatArray) -> FloatArray:
        """Values of this pdf from standard normal draws ``z`` (monotone in ``z``: one quantile per draw)."""
        if self.kind == "fixed":
            return np.full(z.shape, self.central)
        if self.kind == "normal":
            return self.mu + self.sigma * z
        if self.kind == "lognormal":
            return np.exp(self.mu + self.sigma * z)
        a, b = self._std_bounds()
        if a < -8.5 and b > 8.5:  # both bounds beyond 8.5 SD (mass outside < 2e-17): the normal itself
            return np.clip(self.mu + self.sigma * z, self.lower, self.upper)
        pa = float(normal_cdf(a)) if math.isfinite(a) else 0.0
        pb = float(normal_cdf(b)) if math.isfinite(b) else 1.0
        u = pa + normal_cdf(z) * (pb - pa)
        u = np.clip(u, np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0))
        return np.clip(self.mu + self.sigma * normal_ppf(u), self.lower, self.upper)


@dataclass(frozen=True)
class Derived:
    """A factor that is a function of another factor's value: ``kind`` ``share_1`` is ``1 / (1 + x)``, ``share_x``
    is ``x / (1 + x)`` (the above- and below-ground shares of total biomass for a root ratio ``x``)."""

    base: str
    kind: Literal["share_1", "share_x"]

    def value(self, x: FloatArray) -> FloatArray:
        return 1.0 / (1.0 + x) if self.kind == "share_1" else x / (1.0 + x)

    def derivative(self, x: FloatArray) -> FloatArray:
        d = 1.0 / (1.0 + x) ** 2
        return -d if self.kind == "share_1" else d


FactorPdfs = Mapping[str, "Pdf | Derived"]
"""Each factor id's pdf, or how it derives from another factor."""


def _base_ids(factor_ids: Sequence[str], pdfs: FactorPdfs) -> tuple[str, ...]:
    """The drawn factors behind ``factor_ids`` (derived ones replaced by their bases), sorted."""
    out = set()
    for fid in factor_ids:
        if fid not in pdfs:
            raise KeyError(f"no pdf for factor {fid!r}")
        spec = pdfs[fid]
        out.add(spec.base if isinstance(spec, Derived) else fid)
    missing = [b for b in out if b not in pdfs or isinstance(pdfs[b], Derived)]
    if missing:
        raise KeyError(f"no pdf for factor(s) {sorted(missing)[:5]}")
    return tuple(sorted(out))


def _draw_one(fid: str, pdf: Pdf, n_draws: int, seed: int) -> FloatArray:
    rng = np.random.default_rng([seed, zlib.crc32(fid.encode("utf-8"))])
    return pdf.from_standard_normal(rng.standard_normal(n_draws))


def draw_factors(factor_ids: Sequence[str], pdfs: FactorPdfs, n_draws: int, seed: int) -> FloatArray:
    """``(n_draws, len(factor_ids))`` factor values, column ``j`` from ``pdfs[factor_ids[j]]``.

    Each drawn factor's column comes from its own stream, ``numpy.random.default_rng([seed, crc32(id)])``, so it
    depends on ``seed`` and the factor's id only; a :class:`Derived` factor is computed from its base's column.
    """
    out = np.empty((n_draws, len(factor_ids)))
    for j, fid in enumerate(factor_ids):
        spec = pdfs[fid]
        if isinstance(spec, Derived):
            base = pdfs[spec.base]
            assert isinstance(base, Pdf), f"{fid}: a derived factor's base must be drawn"
            out[:, j] = spec.value(_draw_one(spec.base, base, n_draws, seed))
        else:
            out[:, j] = _draw_one(fid, spec, n_draws, seed)
    return out


# ------------------------------------------------------------------------------------------------------ models
@dataclass(frozen=True)
class MultilinearModel:
    """``Q_o = Σ_t activity[t, o] · Π_{f ∈ terms[t]} x_f`` (see the module docstring).

    Attributes:
        factors: factor ids (columns of the draws).
        terms: ``(n_terms, arity)`` indices into ``factors``; ``-1`` pads shorter terms (a term of no factor is
            plain activity).
        activity: ``(n_terms, n_outputs)`` activity data per term and output.
    """

    factors: tuple[str, ...]
    terms: NDArray[np.int64]
    activity: FloatArray

    def __post_init__(self) -> None:
        if self.terms.ndim != 2 or self.activity.ndim != 2 or self.terms.shape[0] != self.activity.shape[0]:
            raise ValueError("terms must be (n_terms, arity) and activity (n_terms, n_outputs)")
        if self.terms.size and (self.terms.max() >= len(self.factors) or self.terms.min() < -1):
            raise ValueError("a term names a factor index outside the factor list")

    @classmethod
    def build(cls, terms: Mapping[tuple[str, ...], ArrayLike], n_outputs: int) -> MultilinearModel:
        """A model from ``{(factor id, …): activity per output}``; factor ids are sorted for a stable order."""
        factors = tuple(sorted({f for key in terms for f in key}))
        index = {f: i for i, f in enumerate(factors)}
        arity = max((len(k) for k in terms), default=0)
        idx = np.full((len(terms), max(arity, 1)), -1, dtype=np.int64)
        act = np.zeros((len(terms), n_outputs))
        for t, (key, values) in enumerate(terms.items()):
            idx[t, : len(key)] = [index[f] for f in key]
            act[t] = np.asarray(values, dtype=np.float64)
        return cls(factors, idx, act)

    @property
    def n_outputs(self) -> int:
        return int(self.activity.shape[1])

    def term_values(self, x: FloatArray) -> FloatArray:
        """``(n_draws, n_terms)`` products of each term's factors for factor values ``x`` ``(n_draws, n_factors)``."""
        padded = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)  # index −1 → the column of ones
        out = np.ones((x.shape[0], self.terms.shape[0]))
        for position in range(self.terms.shape[1]):
            out *= padded[:, self.terms[:, position]]
        return out

    def evaluate(self, x: FloatArray) -> FloatArray:
        """``(n_draws, n_outputs)`` model outputs for factor values ``x`` ``(n_draws, n_factors)``."""
        return self.term_values(x) @ self.activity

    def gradient(self, x0: FloatArray) -> FloatArray:
        """``(n_factors, n_outputs)`` partial derivatives ``∂Q_o / ∂x_f`` at factor values ``x0`` ``(n_factors,)``."""
        padded = np.append(x0, 1.0)
        grad = np.zeros((len(self.factors) + 1, self.n_outputs))
        for position in range(self.terms.shape[1]):
            others = np.ones(self.terms.shape[0])
            for q in range(self.terms.shape[1]):
                if q != position:
                    others *= padded[self.terms[:, q]]
            np.add.at(grad, self.terms[:, position], others[:, None] * self.activity)
        return grad[:-1]


def _centrals(model: MultilinearModel, pdfs: FactorPdfs) -> FloatArray:
    """The model's factor values at the pdfs' central values (a derived factor at its base's)."""
    _base_ids(model.factors, pdfs)
    out = []
    for fid in model.factors:
        spec = pdfs[fid]
        if isinstance(spec, Derived):
            base = pdfs[spec.base]
            assert isinstance(base, Pdf)
            out.append(float(spec.value(np.array(base.central))))
        else:
            out.append(spec.central)
    return np.array(out, dtype=np.float64)


# ------------------------------------------------------------------------------------------ activity-data errors
@dataclass(frozen=True)
class Combination:
    """How the factor model's columns (*parts*) make the published outputs, with activity-data errors (see the
    module docstring): ``output_o = Σ_{c: output[c] = o} part_c × ρ_{ratio[c]} × (1 + map_sd[c] · z_{map_error[c]})``.

    Attributes:
        n_outputs: number of published outputs.
        output: ``(n_components,)`` the output of each component, non-decreasing; every output has one at least.
        part: ``(n_components,)`` the model column the component takes.
        ratio: ``(n_components,)`` index into ``ratio_ids`` (``-1``: no area ratio).
        map_error: ``(n_components,)`` index into ``map_ids`` (``-1``: no map error).
        map_sd: ``(n_components,)`` relative standard deviation of the map error (0 where none).
        ratio_ids, ratio_pdfs: the area ratios' ids (their random streams) and pdfs.
        map_ids: the map errors' ids; each is one standard normal per draw.
    """

    n_outputs: int
    output: NDArray[np.int64]
    part: NDArray[np.int64]
    ratio: NDArray[np.int64]
    map_error: NDArray[np.int64]
    map_sd: FloatArray
    ratio_ids: tuple[str, ...] = ()
    ratio_pdfs: tuple[Pdf, ...] = ()
    map_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = self.output.size
        if not all(a.shape == (n,) for a in (self.part, self.ratio, self.map_error, self.map_sd)):
            raise ValueError("a combination's component arrays must have one length")
        if n and (np.any(np.diff(self.output) < 0) or not np.array_equal(np.unique(self.output), np.arange(self.n_outputs))):
            raise ValueError("components must be ordered by output, and every output needs one")
        if len(self.ratio_ids) != len(self.ratio_pdfs):
            raise ValueError("one pdf per area ratio")
        if n and (self.ratio.max() >= len(self.ratio_ids) or self.map_error.max() >= len(self.map_ids)):
            raise ValueError("a component names an area ratio or map error that is not listed")

    @classmethod
    def identity(cls, n_outputs: int) -> Combination:
        """Every model column is an output, with no activity-data error."""
        idx = np.arange(n_outputs, dtype=np.int64)
        none = np.full(n_outputs, -1, dtype=np.int64)
        return cls(n_outputs, idx, idx.copy(), none, none.copy(), np.zeros(n_outputs))

    @property
    def variables(self) -> tuple[str, ...]:
        """The activity-data variables: area ratios, then map errors."""
        return self.ratio_ids + self.map_ids

    @property
    def starts(self) -> NDArray[np.int64]:
        """``(n_outputs + 1,)`` the first component of each output, and the number of components."""
        return np.searchsorted(self.output, np.arange(self.n_outputs + 1)).astype(np.int64)

    def pairs(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """The distinct (output, variable) pairs — variable indices into :attr:`variables` — and, per component, its
        ratio pair and map pair (``-1`` where none), so that per-component sums can be added into pairs."""
        n_ratio = len(self.ratio_ids)
        keys = []
        for var, offset in ((self.ratio, 0), (self.map_error, n_ratio)):
            keys.append(np.where(var >= 0, self.output * (len(self.variables) + 1) + var + offset, -1))
        all_keys = np.concatenate(keys)
        uniq = np.unique(all_keys[all_keys >= 0])
        pair_out, pair_var = np.divmod(uniq, len(self.variables) + 1)
        ratio_pair = np.where(keys[0] >= 0, np.searchsorted(uniq, keys[0]), -1)
        map_pair = np.where(keys[1] >= 0, np.searchsorted(uniq, keys[1]), -1)
        return np.stack([pair_out, pair_var]), ratio_pair, map_pair

    def multipliers(self, ratios: FloatArray, errors: FloatArray, components: NDArray[np.int64]) -> FloatArray:
        """``(n_draws, len(components))`` multipliers of ``components`` from the ratio and map-error draws."""
        ratio, mapping, sd = self.ratio[components], self.map_error[components], self.map_sd[components]
        n = ratios.shape[0] if ratios.shape[1] else errors.shape[0]
        if np.all(ratio >= 0):
            out = ratios[:, ratio]
        else:
            out = np.ones((n, components.size))
            has = ratio >= 0
            if has.any():
                out[:, has] = ratios[:, ratio[has]]
        if np.any(mapping >= 0):
            has = mapping >= 0
            out[:, has] *= 1.0 + sd[has] * errors[:, mapping[has]]
        return out

    def centrals(self) -> FloatArray:
        """Each component's multiplier at the central values (ratio central, map error 0)."""
        values = np.array([p.central for p in self.ratio_pdfs] + [1.0])
        return values[np.where(self.ratio >= 0, self.ratio, len(self.ratio_pdfs))]


def _draw_activity(combination: Combination, n_draws: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """Draws of the area ratios and map errors, each from its own id's stream."""
    ratios = np.empty((n_draws, len(combination.ratio_ids)))
    for j, (rid, pdf) in enumerate(zip(combination.ratio_ids, combination.ratio_pdfs, strict=True)):
        ratios[:, j] = _draw_one(rid, pdf, n_draws, seed)
    errors = np.empty((n_draws, len(combination.map_ids)))
    for j, mid in enumerate(combination.map_ids):
        errors[:, j] = np.random.default_rng([seed, zlib.crc32(mid.encode("utf-8"))]).standard_normal(n_draws)
    return ratios, errors


# ------------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class Shares:
    """Each variable's share of each output's variance.

    ``factors`` (the drawn factors, derived ones counted on their bases) have dense shares ``(n_factors,
    n_outputs)``; activity-data variables, which each touch a few outputs, have sparse ones: ``pair_output``,
    ``pair_variable`` (index into ``variables`` after the factors) and ``pair_share``.
    """

    factors: tuple[str, ...]
    dense: FloatArray
    activity: tuple[str, ...] = ()
    pair_output: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    pair_variable: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    pair_share: FloatArray = field(default_factory=lambda: np.zeros(0))

    @property
    def variables(self) -> tuple[str, ...]:
        return self.factors + self.activity

    def top(self, n: int = 5) -> tuple[NDArray[np.int64], FloatArray]:
        """``(n, n_outputs)`` indices into :attr:`variables` of the ``n`` largest shares of every output, largest
        first, and those shares."""
        n_out = self.dense.shape[1]
        counts = np.bincount(self.pair_output, minlength=n_out) if self.pair_output.size else np.zeros(n_out, np.int64)
        width = int(counts.max()) if counts.size else 0
        pad_share = np.full((width, n_out), -1.0)
        pad_var = np.zeros((width, n_out), np.int64)
        if width:
            order = np.argsort(self.pair_output, kind="stable")
            outs = self.pair_output[order]
            rank = np.arange(outs.size) - np.searchsorted(outs, outs)
            pad_share[rank, outs] = self.pair_share[order]
            pad_var[rank, outs] = len(self.factors) + self.pair_variable[order]
        share = np.concatenate([self.dense, pad_share])
        var = np.concatenate([np.broadcast_to(np.arange(len(self.factors))[:, None], self.dense.shape), pad_var])
        pick = np.argsort(-share, axis=0, kind="stable")[:n]
        return np.take_along_axis(var, pick, axis=0), np.take_along_axis(share, pick, axis=0)


@dataclass(frozen=True)
class PropagationResult:
    """Approach 1: per output the central value, its standard deviation and 95 % bounds (central ± 1.96 SD), and
    each factor's share of the variance ``(n_factors, n_outputs)`` (activity-data variables in ``variance``)."""

    central: FloatArray
    sd: FloatArray
    shares: FloatArray
    variance: Shares | None = None

    @property
    def low(self) -> FloatArray:
        return self.central - Z95 * self.sd

    @property
    def high(self) -> FloatArray:
        return self.central + Z95 * self.sd


@dataclass(frozen=True)
class MonteCarloResult:
    """Approach 2: per output the central value (the model at the central values), the mean, the 2.5 % and
    97.5 % quantiles of the draws, and each factor's share of the variance ``(n_factors, n_outputs)`` (squared
    correlation of the factor's draws with the output's, normalised to sum to 1 with the activity-data variables'
    shares, which are in ``variance``)."""

    central: FloatArray
    mean: FloatArray
    low: FloatArray
    high: FloatArray
    shares: FloatArray
    n_draws: int
    seed: int
    variance: Shares | None = None


def _normalise(dense: FloatArray, pair_output: NDArray[np.int64], pair_value: FloatArray) -> tuple[FloatArray, FloatArray]:
    total = dense.sum(axis=0) + np.bincount(pair_output, weights=pair_value, minlength=dense.shape[1])
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, dense / safe, 0.0), np.where(total[pair_output] > 0, pair_value / safe[pair_output], 0.0)


def _base_gradient(model: MultilinearModel, pdfs: FactorPdfs, bases: tuple[str, ...]) -> FloatArray:
    """``(n_bases, n_parts)`` derivatives of the model's columns by the drawn factors (chain rule through derived
    ones) at the central values."""
    x0 = _centrals(model, pdfs)
    grad = model.gradient(x0)
    index = {b: i for i, b in enumerate(bases)}
    out = np.zeros((len(bases), model.n_outputs))
    for f, fid in enumerate(model.factors):
        spec = pdfs[fid]
        if isinstance(spec, Derived):
            base = pdfs[spec.base]
            assert isinstance(base, Pdf)
            out[index[spec.base]] += grad[f] * float(spec.derivative(np.array(base.central)))
        else:
            out[index[fid]] += grad[f]
    return out


def error_propagation(
    model: MultilinearModel, pdfs: FactorPdfs, *, combination: Combination | None = None
) -> PropagationResult:
    """IPCC Approach 1: first-order propagation of independent factor (and activity-data) variances through
    ``model`` (and ``combination``), linearised at the central values."""
    comb = Combination.identity(model.n_outputs) if combination is None else combination
    bases = _base_ids(model.factors, pdfs)
    base_var = np.array([_pdf(pdfs[b]).variance for b in bases])
    x0 = _centrals(model, pdfs)
    p0 = model.evaluate(x0[None, :])[0]
    m0 = comb.centrals()
    starts = comb.starts
    grad = _base_gradient(model, pdfs, bases)[:, comb.part] * m0
    grad_out = np.add.reduceat(grad, starts[:-1], axis=1) if comb.output.size else np.zeros((len(bases), 0))
    dense = grad_out**2 * base_var[:, None]
    (pair_out, pair_var), ratio_pair, map_pair = comb.pairs()
    d_pair = np.zeros(pair_out.size)
    has = ratio_pair >= 0
    np.add.at(d_pair, ratio_pair[has], p0[comb.part[has]])
    has_map = map_pair >= 0
    np.add.at(d_pair, map_pair[has_map], (m0 * comb.map_sd * p0[comb.part])[has_map])
    pair_variance = np.array([p.variance for p in comb.ratio_pdfs] + [1.0] * len(comb.map_ids))
    parts_pair = d_pair**2 * (pair_variance[pair_var] if pair_var.size else 0.0)
    total = dense.sum(axis=0) + np.bincount(pair_out, weights=parts_pair, minlength=comb.n_outputs)
    shares, pair_share = _normalise(dense, pair_out, parts_pair)
    central = np.add.reduceat(p0[comb.part] * m0, starts[:-1]) if comb.output.size else np.zeros(0)
    variance = Shares(bases, shares, comb.variables, pair_out, pair_var, pair_share)
    return PropagationResult(central, np.sqrt(total), shares, variance)


def _pdf(spec: Pdf | Derived) -> Pdf:
    """The pdf of a drawn factor."""
    if isinstance(spec, Derived):
        raise TypeError("a derived factor has no pdf of its own")
    return spec


def monte_carlo(
    model: MultilinearModel,
    pdfs: FactorPdfs,
    *,
    n_draws: int = 10_000,
    seed: int = 0,
    batch: int = 2_000,
    combination: Combination | None = None,
) -> MonteCarloResult:
    """IPCC Approach 2 on ``model`` (see the module docstring).

    Args:
        model: the multilinear model.
        pdfs: a pdf (or derivation) for every factor of the model.
        n_draws: number of iterations.
        seed: the seed; the same seed gives the same result whatever ``batch`` is.
        batch: outputs evaluated at a time are chosen so that a block holds about ``batch × 1000`` values.
        combination: activity-data errors and how model columns add up to outputs (default: none, one output per
            column).
    """
    if n_draws < 2:
        raise ValueError("Monte Carlo needs at least 2 draws")
    comb = Combination.identity(model.n_outputs) if combination is None else combination
    bases = _base_ids(model.factors, pdfs)
    base_x = draw_factors(bases, pdfs, n_draws, seed)
    column = {b: j for j, b in enumerate(bases)}
    x = np.empty((n_draws, len(model.factors)))
    for j, fid in enumerate(model.factors):  # the model's columns from the drawn bases (derived ones transformed)
        spec = pdfs[fid]
        x[:, j] = spec.value(base_x[:, column[spec.base]]) if isinstance(spec, Derived) else base_x[:, column[fid]]
    term_values = model.term_values(x)
    ratios, errors = _draw_activity(comb, n_draws, seed)
    starts = comb.starts
    (pair_out, pair_var), _, _ = comb.pairs()
    variables = np.concatenate([ratios, errors], axis=1)
    # an output whose components share one multiplier (most: a region's forest quantities all take its forest
    # ratio) is one column of summed activity times that multiplier: no per-component work
    first = starts[:-1]
    same = np.ones(comb.n_outputs, bool)
    for arr in (comb.ratio, comb.map_error, comb.map_sd):
        differs = np.r_[False, arr[1:] != arr[:-1]] & (np.r_[False, comb.output[1:] == comb.output[:-1]])
        same &= np.bincount(comb.output[differs], minlength=comb.n_outputs) == 0 if differs.any() else True
    summed = np.add.reduceat(model.activity[:, comb.part], first, axis=1) if comb.output.size else model.activity[:, :0]
    # centred draws of every variable, and their norms (constant columns — fixed factors — get no share)
    xc = base_x - base_x.mean(axis=0)
    xs = np.where(np.ptp(base_x, axis=0) > 0, np.sqrt(np.einsum("ij,ij->j", xc, xc)), np.inf)
    vc = variables - variables.mean(axis=0)
    vs = np.where(np.ptp(variables, axis=0) > 0, np.sqrt(np.einsum("ij,ij->j", vc, vc)), np.inf) if variables.size else np.zeros(0)
    n_out = comb.n_outputs
    mean, low, high = np.empty(n_out), np.empty(n_out), np.empty(n_out)
    dense = np.zeros((len(bases), n_out))
    pair_r2 = np.zeros(pair_out.size)
    per_block = max(1, batch * 1000 // n_draws)
    for o0 in range(0, n_out, per_block):
        o1 = min(n_out, o0 + per_block)
        if same[o0:o1].all():  # one multiplier per output: activity summed first
            q = term_values @ summed[:, o0:o1]
            q *= comb.multipliers(ratios, errors, first[o0:o1])
        else:
            c0, c1 = int(starts[o0]), int(starts[o1])
            contrib = term_values @ model.activity[:, comb.part[c0:c1]]
            contrib *= comb.multipliers(ratios, errors, np.arange(c0, c1))
            q = np.add.reduceat(contrib, starts[o0:o1] - c0, axis=1)
        mean[o0:o1] = q.mean(axis=0)
        low[o0:o1], high[o0:o1] = _quantiles(q, (0.025, 0.975))
        qc = q - mean[o0:o1]
        qs = np.sqrt(np.einsum("ij,ij->j", qc, qc))
        qs = np.where(qs > 0, qs, np.inf)
        dense[:, o0:o1] = (xc.T @ qc / xs[:, None] / qs[None, :]) ** 2
        sel = np.flatnonzero((pair_out >= o0) & (pair_out < o1))
        if sel.size:
            cov = np.einsum("ij,ij->j", vc[:, pair_var[sel]], qc[:, pair_out[sel] - o0])
            pair_r2[sel] = (cov / vs[pair_var[sel]] / qs[pair_out[sel] - o0]) ** 2
    shares, pair_share = _normalise(dense, pair_out, pair_r2)
    p0 = model.evaluate(_centrals(model, pdfs)[None, :])[0]
    central = np.add.reduceat(p0[comb.part] * comb.centrals(), first) if comb.output.size else np.zeros(0)
    variance = Shares(bases, shares, comb.variables, pair_out, pair_var, pair_share)
    return MonteCarloResult(central, mean, low, high, shares, n_draws, seed, variance)


def _quantiles(q: FloatArray, probs: tuple[float, ...]) -> tuple[FloatArray, ...]:
    """Quantiles along axis 0 by linear interpolation between order statistics (numpy's default method), from one
    partial sort for all of them."""
    n = q.shape[0]
    positions = [p * (n - 1) for p in probs]
    kth = sorted({k for pos in positions for k in (math.floor(pos), min(math.floor(pos) + 1, n - 1))})
    part = np.partition(q, kth, axis=0)
    out = []
    for pos in positions:
        lo = math.floor(pos)
        frac = pos - lo
        hi = min(lo + 1, n - 1)
        out.append(part[lo] + (part[hi] - part[lo]) * frac)
    return tuple(out)


def top_contributors(shares: FloatArray, factors: Sequence[str], output: int, n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` factors with the largest variance shares for ``output``, largest first (zero shares left out)."""
    column = shares[:, output]
    order = np.argsort(-column, kind="stable")[:n]
    return [(factors[i], float(column[i])) for i in order if column[i] > 0]
