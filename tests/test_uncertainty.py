"""Uncertainty kernels: the normal CDF and its inverse, factor pdfs, Approach 1 by hand, Approach 1 = Approach 2
where both apply, shared draws, reproducibility and variance shares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sinkmap.kernels.uncertainty import (
    Z95,
    Combination,
    Derived,
    MultilinearModel,
    Pdf,
    draw_factors,
    error_propagation,
    monte_carlo,
    normal_cdf,
    normal_ppf,
    top_contributors,
)


def test_normal_cdf_and_ppf_known_values() -> None:
    # Φ(1.959963984540054) = 0.975; Φ(−1) = 0.15865525393145707; Φ⁻¹(1e−6) = −4.753424308822899
    assert float(normal_cdf(Z95)) == pytest.approx(0.975, abs=1e-15)
    assert float(normal_cdf(-1.0)) == pytest.approx(0.15865525393145707, rel=1e-14)
    np.testing.assert_allclose(normal_ppf([0.975, 0.5, 1e-6, 1 - 1e-6]), [Z95, 0.0, -4.753424308822899, 4.753424308822899], atol=1e-9)
    p = np.linspace(1e-8, 1 - 1e-8, 2001)
    np.testing.assert_allclose(normal_cdf(normal_ppf(p)), p, rtol=1e-9, atol=1e-15)
    with pytest.raises(ValueError, match="strictly between"):
        normal_ppf([0.0])


def _quantiles(pdf: Pdf, n: int = 200_000) -> tuple[float, float]:
    x = draw_factors(["f"], {"f": pdf}, n, seed=3)[:, 0]
    lo, hi = np.quantile(x, [0.025, 0.975])
    return float(lo), float(hi)


def test_symmetric_range_is_a_normal_95_percent_interval() -> None:
    pdf = Pdf.from_range(0.47, 0.44, 0.50)
    assert pdf.kind == "normal"
    assert pdf.sigma == pytest.approx(0.06 / (2 * Z95))
    lo, hi = _quantiles(pdf)
    assert lo == pytest.approx(0.44, abs=0.0005) and hi == pytest.approx(0.50, abs=0.0005)
    assert "read as a 95% interval" in pdf.assumption


def test_asymmetric_range_is_a_lognormal_with_that_95_percent_interval() -> None:
    pdf = Pdf.from_range(3.0, 0.8, 4.5)  # IPCC Table 4.5 temperate hardwoods, 0–20 m³/ha
    assert pdf.kind == "lognormal"
    lo, hi = _quantiles(pdf)
    assert lo == pytest.approx(0.8, rel=0.01) and hi == pytest.approx(4.5, rel=0.01)
    assert pdf.central == 3.0


def test_wide_symmetric_range_of_a_positive_factor_is_truncated_at_zero() -> None:
    pdf = Pdf.from_range(0.2, 0.0, 0.4)
    assert pdf.kind == "truncnormal"
    x = draw_factors(["f"], {"f": pdf}, 200_000, seed=1)[:, 0]
    assert x.min() >= 0.0
    assert pdf.variance == pytest.approx(float(x.var()), rel=0.01)
    with pytest.raises(ValueError, match="outside its range"):
        Pdf.from_range(5.0, 0.8, 4.5)


def test_lognormal_from_mean_and_sd() -> None:
    pdf = Pdf.lognormal(2.0, 0.5)
    x = draw_factors(["f"], {"f": pdf}, 400_000, seed=2)[:, 0]
    assert x.mean() == pytest.approx(2.0, rel=0.005) and x.std() == pytest.approx(0.5, rel=0.01)
    assert pdf.variance == pytest.approx(0.25)


def test_approach_1_by_hand() -> None:
    # Q = 10 · x · y, x ~ N(2, 0.1), y ~ N(3, 0.3): Var = (10·3·0.1)² + (10·2·0.3)² = 9 + 36
    model = MultilinearModel.build({("x", "y"): [10.0]}, 1)
    result = error_propagation(model, {"x": Pdf.normal(2, 0.1), "y": Pdf.normal(3, 0.3)})
    assert result.central[0] == pytest.approx(60.0)
    assert result.sd[0] == pytest.approx(math.sqrt(45.0))
    np.testing.assert_allclose(result.shares[:, 0], [9 / 45, 36 / 45])
    # relative uncertainties of a product add in quadrature (IPCC Approach 1, eq. 3.2)
    assert result.sd[0] / 60 == pytest.approx(math.hypot(0.1 / 2, 0.3 / 3))


def _chain() -> tuple[MultilinearModel, dict[str, Pdf]]:
    """A carbon-like chain for three regions: AGB C = V·BCEF·CF, BGB C = V·BCEF·R·CF, two BCEF rows shared."""
    terms = {
        ("bcef_a", "cf"): [100.0, 0.0, 50.0],
        ("bcef_a", "cf", "r_a"): [100.0, 0.0, 50.0],
        ("bcef_b", "cf"): [0.0, 80.0, 30.0],
        ("bcef_b", "cf", "r_b"): [0.0, 80.0, 30.0],
    }
    pdfs = {
        "bcef_a": Pdf.normal(1.2, 0.012),
        "bcef_b": Pdf.normal(0.8, 0.016),
        "cf": Pdf.normal(0.47, 0.0047),
        "r_a": Pdf.normal(0.25, 0.005),
        "r_b": Pdf.normal(0.3, 0.003),
    }
    return MultilinearModel.build(terms, 3), pdfs


def test_approaches_1_and_2_agree_for_small_normal_uncertainties() -> None:
    model, pdfs = _chain()
    a1 = error_propagation(model, pdfs)
    a2 = monte_carlo(model, pdfs, n_draws=20_000, seed=7)
    np.testing.assert_allclose(a2.central, a1.central, rtol=1e-12)
    # half-widths agree to a few per cent (sampling error of a 2.5 % quantile from 20,000 draws is ~1–2 %)
    np.testing.assert_allclose(a2.high - a2.central, Z95 * a1.sd, rtol=0.04)
    np.testing.assert_allclose(a2.central - a2.low, Z95 * a1.sd, rtol=0.04)
    # and so do the variance shares of the leading factors
    np.testing.assert_allclose(a2.shares, a1.shares, atol=0.03)


def test_one_draw_per_factor_shared_by_every_output() -> None:
    # two regions use the same factor: their draws move together, so the sum's relative interval is the
    # regions' relative interval (independent draws would shrink it by √2)
    model = MultilinearModel.build({("bcef",): [100.0, 300.0, 400.0]}, 3)
    result = monte_carlo(model, {"bcef": Pdf.normal(1.0, 0.1)}, n_draws=5_000, seed=1)
    relative = (result.high - result.low) / result.central
    np.testing.assert_allclose(relative, relative[0], rtol=1e-12)


def test_same_seed_same_result_whatever_the_batch_and_the_other_factors() -> None:
    model, pdfs = _chain()
    a = monte_carlo(model, pdfs, n_draws=3_000, seed=11, batch=3_000)
    b = monte_carlo(model, pdfs, n_draws=3_000, seed=11, batch=7)
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.high, b.high)
    c = monte_carlo(model, pdfs, n_draws=3_000, seed=12)
    assert not np.allclose(a.low, c.low, rtol=1e-9)
    # a factor's draws depend on the seed and its id only
    one = draw_factors(["cf"], pdfs, 100, seed=5)
    two = draw_factors(["bcef_a", "cf", "r_a"], pdfs, 100, seed=5)
    np.testing.assert_array_equal(one[:, 0], two[:, 1])


def test_variance_shares_and_top_contributors() -> None:
    # Q = x1 + x2 + x3, sd 3, 1, 0 → shares 0.9, 0.1, 0
    model = MultilinearModel.build({("x1",): [1.0], ("x2",): [1.0], ("x3",): [1.0]}, 1)
    pdfs = {"x1": Pdf.normal(10, 3), "x2": Pdf.normal(5, 1), "x3": Pdf.fixed(2.0)}
    a1 = error_propagation(model, pdfs)
    assert top_contributors(a1.shares, model.factors, 0) == [("x1", pytest.approx(0.9)), ("x2", pytest.approx(0.1))]
    a2 = monte_carlo(model, pdfs, n_draws=20_000, seed=3)
    ranked = top_contributors(a2.shares, model.factors, 0)
    assert [name for name, _ in ranked] == ["x1", "x2"]
    assert ranked[0][1] == pytest.approx(0.9, abs=0.01)


def test_model_gradient_handles_a_factor_twice_in_a_term() -> None:
    model = MultilinearModel.build({("x", "x"): [1.0]}, 1)  # Q = x²
    assert model.gradient(np.array([3.0]))[0, 0] == pytest.approx(6.0)
    with pytest.raises(KeyError, match="no pdf"):
        error_propagation(model, {})


def test_fixed_factors_take_no_share_of_the_variance_of_large_outputs() -> None:
    # outputs of 1e10 with a fixed factor beside a drawn one: the fixed one's share is 0, not rounding noise
    model = MultilinearModel.build({("k", "x"): [1e10, 3e10]}, 2)
    result = monte_carlo(model, {"k": Pdf.fixed(0.47), "x": Pdf.normal(1.0, 0.1)}, n_draws=10_000, seed=2)
    np.testing.assert_allclose(result.shares[model.factors.index("x")], 1.0)
    np.testing.assert_array_equal(result.shares[model.factors.index("k")], 0.0)


# ---------------------------------------------------------------------------------------- activity data, derived
def _one_part(value: float) -> MultilinearModel:
    return MultilinearModel.build({(): [value]}, 1)


def test_area_ratio_moves_the_interval_to_the_adjusted_area() -> None:
    """Q = 1000 km² × ρ with ρ ~ N(0.9, 0.05) truncated at 0 and central 1 (the map): the central value stays the
    map's, the interval is the adjusted area's, 900 ± 1.96 × 50, and Approach 1's SD is 50."""
    ratio = Pdf("truncnormal", 1.0, 0.9, 0.05, 0.0, math.inf)
    comb = Combination(1, np.array([0]), np.array([0]), np.array([0]), np.array([-1]), np.zeros(1), ("rho",), (ratio,))
    a2 = monte_carlo(_one_part(1000.0), {}, n_draws=40_000, seed=4, combination=comb)
    a1 = error_propagation(_one_part(1000.0), {}, combination=comb)
    assert a2.central[0] == pytest.approx(1000.0) and a1.central[0] == pytest.approx(1000.0)
    assert a2.low[0] == pytest.approx(900 - Z95 * 50, rel=0.01)
    assert a2.high[0] == pytest.approx(900 + Z95 * 50, rel=0.01)
    assert a1.sd[0] == pytest.approx(50.0, rel=1e-6)
    assert a2.variance is not None and a2.variance.variables == ("rho",)
    top, share = a2.variance.top(1)
    assert top[0, 0] == 0 and share[0, 0] == pytest.approx(1.0)


def test_map_error_is_shared_by_the_components_that_name_it() -> None:
    """Two epochs' stock parts of one region, 100 and 300, relative SDs 0.1 and 0.2, one z: the sum's SD is
    0.1·100 + 0.2·300 = 70 (fully correlated), not √(10² + 60²); with two z's it is."""
    model = MultilinearModel.build({(): [100.0, 300.0]}, 2)

    def comb(maps: list[int], ids: tuple[str, ...]) -> Combination:
        return Combination(1, np.array([0, 0]), np.array([0, 1]), np.array([-1, -1]), np.array(maps), np.array([0.1, 0.2]), map_ids=ids)

    shared = comb([0, 0], ("z",))
    separate = comb([0, 1], ("z1", "z2"))
    assert error_propagation(model, {}, combination=shared).sd[0] == pytest.approx(70.0)
    assert error_propagation(model, {}, combination=separate).sd[0] == pytest.approx(math.hypot(10, 60))
    mc = monte_carlo(model, {}, n_draws=40_000, seed=2, combination=shared)
    assert (mc.high[0] - mc.low[0]) / 2 == pytest.approx(Z95 * 70, rel=0.02)


def test_derived_root_shares_take_one_draw_of_the_ratio() -> None:
    """B × 1/(1+R) + B × R/(1+R) = B for every draw: the sum has no spread though each pool has; Approach 1 gives
    each pool's SD as B · sd_R / (1 + R)²."""
    terms = {("B", "1/(1+R):R"): [1.0, 1.0], ("B", "R/(1+R):R"): [0.0, 1.0]}
    model = MultilinearModel.build(terms, 2)  # output 0: AGB; output 1: AGB + BGB
    pdfs = {"B": Pdf.fixed(100.0), "R": Pdf.normal(0.25, 0.02), "1/(1+R):R": Derived("R", "share_1"), "R/(1+R):R": Derived("R", "share_x")}
    mc = monte_carlo(model, pdfs, n_draws=5_000, seed=9)
    assert mc.central[0] == pytest.approx(80.0) and mc.central[1] == pytest.approx(100.0)
    np.testing.assert_allclose([mc.low[1], mc.high[1]], 100.0, rtol=1e-12)
    a1 = error_propagation(model, pdfs)
    assert a1.sd[0] == pytest.approx(100 * 0.02 / 1.25**2)
    assert a1.sd[1] == pytest.approx(0.0, abs=1e-12)
    assert mc.variance is not None and mc.variance.factors == ("B", "R")


def test_combination_is_checked() -> None:
    with pytest.raises(ValueError, match="every output needs one"):
        Combination(2, np.array([0]), np.array([0]), np.array([-1]), np.array([-1]), np.zeros(1))
