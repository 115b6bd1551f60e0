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


def _real_line_posterior_moments(params, items, responses, prior_mean=0.0, prior_sd=1.0):
    """Mean and SD of the posterior by adaptive quadrature over the whole real line."""
    sub = params.subset(items)
    right = np.asarray(responses) == 1

    def log_f(t: float) -> float:
        p = sub.prob(t)
        ll = np.sum(np.where(right, np.log(p), np.log1p(-p)))
        return float(ll + stats.norm.logpdf(t, prior_mean, prior_sd))

    mode = optimize.minimize_scalar(lambda t: -log_f(t), bounds=(-12, 12), method="bounded").x
    peak = log_f(mode)

    def moment(k: int, centre: float = 0.0) -> float:
        def f(t):
            return (t - centre) ** k * np.exp(log_f(t) - peak)

        # Split at the mode so quad cannot miss a sharp peak on an infinite range.
        opts = {"epsabs": 0, "epsrel": 1e-10, "limit": 100}
        return (
            integrate.quad(f, -np.inf, mode, **opts)[0] + integrate.quad(f, mode, np.inf, **opts)[0]
        )

    z = moment(0)
    mean = moment(1) / z
    return mean, np.sqrt(moment(2, mean) / z)


def test_eap_matches_the_real_line_integral_to_1e6(bank):
    """120 patterns of 1-60 items (3PL), many scoring beyond the old [-4, 4] grid's reach."""
    rng = np.random.default_rng(1)
    est = EAPEstimator(prior=NormalPrior(0.3, 1.2))
    worst = 0.0
    for _ in range(120):
        k = int(rng.integers(1, 61))
        items = rng.choice(len(bank), k, replace=False)
        truth = rng.normal(0, 1.8)
        responses = (rng.random(k) < bank.prob(truth)[items]).astype(int)
        got = est.estimate(bank, items, responses)
        mean, sd = _real_line_posterior_moments(bank, items, responses, 0.3, 1.2)
        worst = max(worst, abs(got.theta - mean), abs(got.se - sd))
    assert worst < 1e-6


def test_eap_of_adaptive_test_patterns_is_exact_on_its_fast_path(bank):
    """Patterns of a CAT under the live default N(0, 1) prior: most are integrated on the
    wide fixed grid alone (the tails' mass bounded, not computed), and every one matches the
    real-line integral to 1e-6 whichever path it took."""
    rng = np.random.default_rng(5)
    est = EAPEstimator()
    refined = []
    original = EAPEstimator._refined

    def counting(self, *args):
        refined.append(1)
        return original(self, *args)

    EAPEstimator._refined = counting
    try:
        worst = 0.0
        for _ in range(80):
            k = int(rng.integers(8, 41))
            items = rng.choice(len(bank), k, replace=False)
            truth = rng.normal()
            responses = (rng.random(k) < bank.prob(truth)[items]).astype(int)
            got = est.estimate(bank, items, responses)
            mean, sd = _real_line_posterior_moments(bank, items, responses)
            worst = max(worst, abs(got.theta - mean), abs(got.se - sd))
    finally:
        EAPEstimator._refined = original
    assert worst < 1e-6
    assert len(refined) < 40  # the fast path is the common one


def test_eap_of_a_sharp_posterior_beyond_four(bank_factory):
    params = bank_factory(150, seed=4, guessing=False)
    items = np.arange(150)
    got = EAPEstimator(prior=NormalPrior(0, 3)).estimate(params, items, np.ones(150, int))
    mean, sd = _real_line_posterior_moments(params, items, np.ones(150, int), 0, 3)
    assert mean > 4
    assert got.theta == pytest.approx(mean, abs=1e-6) and got.se == pytest.approx(sd, abs=1e-6)


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


BAD_PATTERNS = [
    ([0, 1], [1, 0.7], "response 0.7 at position 1: must be a whole number"),
    ([0, 1], [1, float("nan")], "response nan at position 1: must be a whole number"),
    ([0, -1], [1, 0], r"item index -1 at position 1: the bank has items 0\.\.199"),
    ([0, 200], [1, 0], "item index 200 at position 1"),
    ([0, 1.5], [1, 0], "item index 1.5 at position 1: must be a whole number"),
    ([3, 5, 3], [1, 0, 1], "item.s. TIU-0003 answered more than once"),
    ([0, 1], ["1", "x"], "must be a whole number"),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(("items", "responses", "message"), BAD_PATTERNS)
def test_estimators_reject_bad_patterns_clearly(estimator, bank, items, responses, message):
    with pytest.raises(ValueError, match=message):
        estimator.estimate(bank, items, responses)


def test_whole_number_floats_are_accepted(bank):
    as_float = EAPEstimator().estimate(bank, np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    assert as_float == EAPEstimator().estimate(bank, [0, 1], [1, 0])


def test_wle_solves_warms_equation_and_is_finite_for_extreme_patterns(bank_factory):
    from scoring.irt.estimators import WLEEstimator

    params = bank_factory(30, seed=8)  # 3PL
    items = np.arange(30)
    rng = np.random.default_rng(2)
    responses = (rng.random(30) < params.prob(0.4)).astype(int)
    est = WLEEstimator().estimate(params, items, responses)
    h = 1e-5

    def weighted_score(t: float) -> float:
        # Warm's equation from numerical derivatives of P (independent of the code's algebra).
        p = params.prob(t)
        d1 = (params.prob(t + h) - params.prob(t - h)) / (2 * h)
        d2 = (params.prob(t + h) - 2 * p + params.prob(t - h)) / h**2
        pq = p * (1 - p)
        correction = np.sum(d1 * d2 / pq) / (2 * np.sum(d1**2 / pq))
        return float(np.sum((responses - p) * d1 / pq) + correction)

    assert weighted_score(est.theta) == pytest.approx(0.0, abs=1e-4)
    top = WLEEstimator().estimate(params, items, np.ones(30, int))
    assert np.isfinite(top.theta) and top.theta > est.theta


def test_sum_score_eap_matches_enumeration_of_all_patterns(bank):
    import itertools

    from scoring.irt.estimators import SumScoreEAPEstimator

    items = np.arange(8)
    grid = np.linspace(-6, 6, 201)
    prior = stats.norm.pdf(grid)
    p = bank.prob(grid)[:, items]
    by_sum = np.zeros((9, len(grid)))
    for bits in itertools.product([0, 1], repeat=8):
        x = np.array(bits)
        by_sum[x.sum()] += np.prod(np.where(x == 1, p, 1 - p), axis=1)
    for s in (0, 3, 8):
        w = by_sum[s] * prior
        expected = float(w @ grid / w.sum())
        responses = np.array([1] * s + [0] * (8 - s))
        got = SumScoreEAPEstimator().estimate(bank, items, responses)
        assert got.theta == pytest.approx(expected, abs=1e-9)
        # Any pattern with that sum scores the same.
        assert SumScoreEAPEstimator().estimate(bank, items, responses[::-1]) == got
