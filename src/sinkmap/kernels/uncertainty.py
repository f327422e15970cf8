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

Pure numpy: no files, no logging. No SciPy: the normal CDF and its inverse are computed here
(:func:`normal_cdf`, :func:`normal_ppf`; absolute error below 1e-9 over the range used).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Z95",
    "MonteCarloResult",
    "MultilinearModel",
    "Pdf",
    "PropagationResult",
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
        pa = float(normal_cdf(a)) if math.isfinite(a) else 0.0
        pb = float(normal_cdf(b)) if math.isfinite(b) else 1.0
        u = pa + normal_cdf(z) * (pb - pa)
        u = np.clip(u, np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0))
        return np.clip(self.mu + self.sigma * normal_ppf(u), self.lower, self.upper)


def draw_factors(factor_ids: Sequence[str], pdfs: Mapping[str, Pdf], n_draws: int, seed: int) -> FloatArray:
    """``(n_draws, len(factor_ids))`` factor values, column ``j`` from ``pdfs[factor_ids[j]]``.

    Each factor's column comes from its own stream, ``numpy.random.default_rng([seed, crc32(id)])``, so it depends
    on ``seed`` and the factor's id only.
    """
    out = np.empty((n_draws, len(factor_ids)))
    for j, fid in enumerate(factor_ids):
        rng = np.random.default_rng([seed, zlib.crc32(fid.encode("utf-8"))])
        out[:, j] = pdfs[fid].from_standard_normal(rng.standard_normal(n_draws))
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


def _centrals(model: MultilinearModel, pdfs: Mapping[str, Pdf]) -> FloatArray:
    missing = [f for f in model.factors if f not in pdfs]
    if missing:
        raise KeyError(f"no pdf for factor(s) {missing[:5]}")
    return np.array([pdfs[f].central for f in model.factors])


@dataclass(frozen=True)
class PropagationResult:
    """Approach 1: per output the central value, its standard deviation and 95 % bounds (central ± 1.96 SD), and
    each factor's share of the variance ``(n_factors, n_outputs)``."""

    central: FloatArray
    sd: FloatArray
    shares: FloatArray

    @property
    def low(self) -> FloatArray:
        return self.central - Z95 * self.sd

    @property
    def high(self) -> FloatArray:
        return self.central + Z95 * self.sd


def error_propagation(model: MultilinearModel, pdfs: Mapping[str, Pdf]) -> PropagationResult:
    """IPCC Approach 1: first-order propagation of independent factor variances through ``model``."""
    x0 = _centrals(model, pdfs)
    variances = np.array([pdfs[f].variance for f in model.factors])
    parts = model.gradient(x0) ** 2 * variances[:, None]
    total = parts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total > 0, parts / np.where(total > 0, total, 1.0), 0.0)
    central = model.evaluate(x0[None, :])[0]
    return PropagationResult(central, np.sqrt(total), shares)


@dataclass(frozen=True)
class MonteCarloResult:
    """Approach 2: per output the central value (the model at the factors' central values), the mean, the
    2.5 % and 97.5 % quantiles of the draws, and each factor's share of the variance ``(n_factors, n_outputs)``
    (squared correlation of the factor's draws with the output's, normalised to sum to 1)."""

    central: FloatArray
    mean: FloatArray
    low: FloatArray
    high: FloatArray
    shares: FloatArray
    n_draws: int
    seed: int


def monte_carlo(
    model: MultilinearModel,
    pdfs: Mapping[str, Pdf],
    *,
    n_draws: int = 10_000,
    seed: int = 0,
    batch: int = 2_000,
) -> MonteCarloResult:
    """IPCC Approach 2 on ``model`` (see the module docstring).

    Args:
        model: the multilinear model.
        pdfs: a pdf for every factor of the model.
        n_draws: number of iterations.
        seed: the seed; the same seed gives the same result whatever ``batch`` is.
        batch: draws evaluated at a time (memory: ``batch × n_terms`` floats).
    """
    if n_draws < 2:
        raise ValueError("Monte Carlo needs at least 2 draws")
    x = draw_factors(model.factors, pdfs, n_draws, seed)
    q = np.empty((n_draws, model.n_outputs))
    for start in range(0, n_draws, batch):
        q[start : start + batch] = model.evaluate(x[start : start + batch])
    low, high = _quantiles(q, (0.025, 0.975))
    # variance shares: squared correlation of each factor's draws with each output, Σ (x − x̄)(q − q̄) = Σ (x − x̄) q
    # (Σ (x − x̄) = 0 up to rounding, which × q̄ is subtracted again; constant columns — fixed factors — get no share)
    xc = x - x.mean(axis=0)
    xs = np.where(np.ptp(x, axis=0) > 0, np.sqrt(np.einsum("ij,ij->j", xc, xc)), 0.0)
    qs = np.sqrt(q.var(axis=0) * n_draws)
    cov = xc.T @ q - np.outer(xc.sum(axis=0), q.mean(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.where(xs > 0, xs, np.inf)[:, None] / np.where(qs > 0, qs, np.inf)[None, :]
    r2 = corr**2
    total = r2.sum(axis=0)
    shares = np.where(total > 0, r2 / np.where(total > 0, total, 1.0), 0.0)
    central = model.evaluate(_centrals(model, pdfs)[None, :])[0]
    return MonteCarloResult(central, q.mean(axis=0), low, high, shares, n_draws, seed)


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
