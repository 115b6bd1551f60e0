"""Ability estimators: edge cases, agreement with independent numerical methods, recovery."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, stats

from scoring.irt.estimators import (
    EAPEstimator,
    MAPEstimator,
    MLEEstimator,
    NormalPrior,
    UniformPrior,
    score_and_information,
)

ESTIMATORS = [EAPEstimator(), MAPEstimator(), MLEEstimator()]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_extreme_and_tiny_patterns_give_finite_ordered_estimates(estimator, bank):
    items = np.arange(10)
    right = estimator.estimate(bank, items, np.ones(10))
    wrong = estimator.estimate(bank, items, np.zeros(10))
    one = estimator.estimate(bank, [0], [1])
    none = estimator.estimate(bank, [], [])
    for est in (right, wrong, one, none):
        assert np.isfinite(est.theta) and -4 <= est.theta <= 4
        assert np.isfinite(est.se) and est.se > 0
    assert wrong.theta < none.theta < right.theta
    assert none.theta == pytest.approx(0.0, abs=1e-9)  # the prior mean, by symmetry


def test_mle_all_correct_uses_the_documented_eap_fallback(bank):
    items = np.arange(5)
    assert MLEEstimator().estimate(bank, items, np.ones(5)) == EAPEstimator().estimate(
        bank, items, np.ones(5)
    )


def test_eap_matches_adaptive_quadrature_of_the_posterior(bank):
    items, responses = np.arange(8), np.array([1, 0, 1, 1, 0, 1, 0, 0])
    prior = NormalPrior(0.3, 1.2)
    est = EAPEstimator(prior=prior).estimate(bank, items, responses)

    def posterior(t: float) -> float:
        p = bank.prob(t)[items]
        return float(np.prod(np.where(responses == 1, p, 1 - p)) * stats.norm.pdf(t, 0.3, 1.2))

    z = integrate.quad(posterior, -4, 4)[0]
    mean = integrate.quad(lambda t: t * posterior(t), -4, 4)[0] / z
    sd = np.sqrt(integrate.quad(lambda t: (t - mean) ** 2 * posterior(t), -4, 4)[0] / z)
    # 81 equally spaced points (step 0.1) integrate this smooth posterior to ~1e-4.
    assert est.theta == pytest.approx(mean, abs=2e-3)
    assert est.se == pytest.approx(sd, abs=2e-3)


@given(pattern=st.lists(st.integers(0, 1), min_size=2, max_size=25), start=st.integers(0, 150))
@settings(max_examples=60, deadline=None)
def test_mle_and_map_maximise_what_scipy_maximises(bank, pattern, start):
    responses = np.array(pattern)
    items = np.arange(start, start + len(pattern))

    def neg_log_post(t: float, prior_sd: float | None) -> float:
        p = bank.prob(t)[items]
        ll = np.sum(np.where(responses == 1, np.log(p), np.log1p(-p)))
        return -(ll + (stats.norm.logpdf(t, 0, prior_sd) if prior_sd else 0.0))

    # Within 1e-5 of the maximum log-likelihood means within sqrt(2e-5) = 0.0045 SE of the
    # optimum: far below any difference that matters, and above the 1e-4 step tolerance.
    map_est = MAPEstimator().estimate(bank, items, responses)
    ref = optimize.minimize_scalar(
        lambda t: neg_log_post(t, 1.0), bounds=(-4, 4), method="bounded", options={"xatol": 1e-8}
    )
    assert neg_log_post(map_est.theta, 1.0) <= ref.fun + 1e-5
    if 0 < responses.sum() < len(responses):
        mle = MLEEstimator().estimate(bank, items, responses)
        ref = optimize.minimize_scalar(
            lambda t: neg_log_post(t, None),
            bounds=(-4, 4),
            method="bounded",
            options={"xatol": 1e-8},
        )
        assert neg_log_post(mle.theta, None) <= ref.fun + 1e-5


def test_map_estimate_is_a_stationary_point_with_prior_adjusted_se(bank):
    items, responses = np.arange(12), np.array([1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0])
    est = MAPEstimator().estimate(bank, items, responses)
    score, info = score_and_information(bank, items, responses, est.theta)
    assert score - est.theta == pytest.approx(0.0, abs=1e-4)
    assert est.se == pytest.approx(1 / np.sqrt(info + 1.0), rel=1e-3)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_recovery_of_a_known_ability_on_a_long_test(estimator, bank_factory):
    """400 simulees at theta = 0.8 answer 150 items; the mean estimate recovers theta.

    With ~150 items the SE is about 0.15, so the mean of 400 estimates has a sampling SD of
    0.15 / 20 = 0.0075; MLE bias is O(1/n) and the N(0, 1) prior's pull on EAP/MAP is about
    SE^2 * theta = 0.02. A tolerance of 0.05 covers both with > 4 sampling SDs to spare.
    The reported SE must match the empirical SD of the estimates within 15% (the SD of a
    sample SD from 400 draws is ~3.5%).
    """
    params = bank_factory(150, seed=3, guessing=False)
    rng = np.random.default_rng(5)
    p = params.prob(0.8)
    responses = (rng.random((400, len(params))) < p).astype(int)
    items = np.arange(len(params))
    est = [estimator.estimate(params, items, r) for r in responses]
    thetas = np.array([e.theta for e in est])
    assert thetas.mean() == pytest.approx(0.8, abs=0.05)
    assert np.mean([e.se for e in est]) == pytest.approx(thetas.std(), rel=0.15)


def test_uniform_prior_eap_and_bad_input(bank):
    est = EAPEstimator(prior=UniformPrior()).estimate(bank, [0, 1], [1, 0])
    assert np.isfinite(est.theta)
    with pytest.raises(ValueError, match="0 or 1"):
        EAPEstimator().estimate(bank, [0], [2])
    with pytest.raises(ValueError, match="2 items but 1 responses"):
        EAPEstimator().estimate(bank, [0, 1], [1])
    with pytest.raises(ValueError, match="sd must be positive"):
        NormalPrior(0, 0)
