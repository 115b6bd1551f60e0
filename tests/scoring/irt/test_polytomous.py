"""Weighted (GRM/GPCM) items in banks, estimation, selection, simulation and scaling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cat_engine.cli import cli
from scoring.irt.adaptive import AdaptiveConfig, Engine, replay
from scoring.irt.estimators import (
    EAPEstimator,
    MAPEstimator,
    MLEEstimator,
    SumScoreEAPEstimator,
    WLEEstimator,
    likelihood_tables,
    log_likelihood,
    score_and_information,
)
from scoring.irt.models import (
    GPCM,
    GRM,
    ItemParams,
    ParamsError,
    gpcm_category_probs,
    gpcm_information,
    grm_category_probs,
    grm_information,
    information,
)
from scoring.irt.scaling import theta_for_score, true_score
from scoring.irt.selectors import KLSelector, MaxInfoSelector, SelectionContext
from scoring.irt.simulation import simulate


def mixed_bank(n_poly: int, n_dich: int = 0, *, seed: int = 0, models=("gpcm", "grm")):
    """TKP-like items (5 categories, thresholds around -1.5..1.5) and optional 3PL items."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_poly):
        steps = np.sort(rng.normal([-1.5, -0.5, 0.5, 1.5], 0.3) + rng.normal(0, 0.7))
        rows.append({"id": f"TKP-{i:03d}", "model": models[i % len(models)],
                     "a": float(rng.uniform(0.7, 1.6)), "thresholds": steps.tolist()})
    for i in range(n_dich):
        rows.append({"id": f"TIU-{i:03d}", "a": float(rng.lognormal(0.1, 0.3)),
                     "b": float(rng.normal()), "c": float(rng.uniform(0, 0.2))})
    return ItemParams.from_json({"items": rows})


def draw(params: ItemParams, theta: float, rng: np.random.Generator, n: int = 1) -> np.ndarray:
    """Responses (categories) of ``n`` simulees of ability ``theta`` to every item."""
    cum = np.cumsum(params.category_probs(theta), axis=-1)
    u = rng.random((n, len(params), 1))
    return np.minimum((u >= cum).sum(axis=-1), params.n_categories - 1)


@pytest.fixture(scope="module")
def mixed():
    return mixed_bank(40, 20, seed=1)


# -- models --------------------------------------------------------------------------------


@given(theta=st.floats(-4, 4), seed=st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_bank_information_is_sum_of_squared_category_slopes_over_probabilities(theta, seed):
    # Samejima (1969): I = sum_k P_k'^2 / P_k, with P_k' by central differences.
    params = mixed_bank(6, 3, seed=seed)
    h = 1e-5
    p = params.category_probs(theta)
    dp = (params.category_probs(theta + h) - params.category_probs(theta - h)) / (2 * h)
    numeric = np.sum(np.divide(dp * dp, p, out=np.zeros_like(p), where=p > 0), axis=-1)
    assert params.information(theta) == pytest.approx(numeric, rel=1e-4, abs=1e-9)
    # The grid path and the scalar path agree, and each item matches its own formula.
    grid = params.information(np.array([theta, 0.0]))
    assert grid[0] == pytest.approx(params.information(theta), rel=1e-12)
    for j in range(6):
        thr = params.thresholds[j][~np.isnan(params.thresholds[j])]
        own = (gpcm_information if params.kind[j] == GPCM else grm_information)(
            theta, params.a[j], thr)
        # (to within the EPS floor both put under a category probability)
        assert params.information(theta)[j] == pytest.approx(float(own), rel=1e-7, abs=1e-8)


def test_gpcm_information_is_squared_slope_times_category_variance():
    # Muraki (1993): I = a^2 Var(X | theta); at theta = 0 with a = 1.5 and thresholds
    # (-1, 1) the three categories have weights exp(0), exp(1.5), exp(1.5 - 1.5) = 1, e^1.5, 1.
    e = np.exp(1.5)
    p = np.array([1, e, 1]) / (2 + e)
    var = p @ np.arange(3) ** 2 - (p @ np.arange(3)) ** 2
    params = ItemParams.from_json([{"id": "x", "model": "gpcm", "a": 1.5, "thresholds": [-1, 1]}])
    assert params.information(0.0)[0] == pytest.approx(2.25 * var, rel=1e-12)
    assert params.category_probs(0.0)[0] == pytest.approx(p, rel=1e-12)


@given(a=st.floats(0.3, 3), b=st.floats(-3, 3), theta=st.floats(-4, 4))
@settings(max_examples=30, deadline=None)
def test_a_one_threshold_grm_or_gpcm_item_is_a_2pl_item(a, b, theta):
    for model in ("grm", "gpcm"):
        params = ItemParams.from_json([{"id": "x", "model": model, "a": a, "thresholds": [b]}])
        assert params.information(theta)[0] == pytest.approx(
            float(information(theta, [a], [b])[0]), rel=1e-9, abs=1e-12)
        assert params.expected_score(theta)[0] == pytest.approx(
            1 / (1 + np.exp(-a * (theta - b))), rel=1e-9, abs=1e-10)


def test_category_probabilities_match_the_single_item_functions(mixed):
    grid = np.linspace(-3, 3, 7)
    probs = mixed.category_probs(grid)
    assert probs.shape == (7, len(mixed), 5)
    assert np.allclose(probs.sum(axis=-1), 1.0)
    for j in (0, 1):
        fn = gpcm_category_probs if mixed.kind[j] == GPCM else grm_category_probs
        assert np.allclose(probs[:, j], fn(grid, mixed.a[j], mixed.thresholds[j]))
    # Dichotomous items keep two categories: (wrong, right).
    assert np.allclose(probs[:, -1, 1], mixed.prob(grid)[:, -1])
    assert np.all(probs[:, -1, 2:] == 0)


def test_params_json_round_trips_and_names_bad_weighted_items():
    params = mixed_bank(3, 2, seed=4)
    again = ItemParams.from_json(json.loads(json.dumps(params.to_json())))
    assert again.ids == params.ids and list(again.kind) == list(params.kind)
    assert np.allclose(again.information(0.3), params.information(0.3))
    assert list(params.kind[:2]) == [GPCM, GRM] and list(params.n_categories) == [5, 5, 5, 2, 2]
    bad = [
        {"id": "A", "model": "grm", "a": 1, "thresholds": [1, 0]},
        {"id": "B", "model": "gpcm", "a": 1, "b": 0.5, "thresholds": [0]},
        {"id": "C", "model": "gpcm", "a": 1},
        {"id": "D", "model": "pcm", "a": 1, "b": 0},
        {"id": "E", "model": "gpcm", "a": 0, "thresholds": ["x"]},
    ]
    with pytest.raises(ParamsError) as err:
        ItemParams.from_json(bad)
    text = str(err.value)
    assert "item 1 (A): graded-response thresholds must be strictly increasing" in text
    assert "item 2 (B): 'b' does not apply to a gpcm item" in text
    assert "item 3 (C): 'thresholds' must be a list of 1 to 7 numbers" in text
    assert "item 4 (D): 'model' must be one of" in text
    assert "item 5 (E): 'a' must be in (0, 10]" in text and "must all be numbers" in text


# -- estimation ----------------------------------------------------------------------------


@given(theta=st.floats(-3, 3), seed=st.integers(0, 1000))
@settings(max_examples=30, deadline=None)
def test_score_is_the_derivative_of_the_log_likelihood(mixed, theta, seed):
    """Fisher scoring's score must be d/dtheta of the log-likelihood of the pattern."""
    rng = np.random.default_rng(seed)
    items = rng.choice(len(mixed), 25, replace=False)
    responses = draw(mixed, 0.5, rng)[0][items]

    def loglik(t: float) -> float:
        p = mixed.category_probs(t)[items, responses]
        return float(np.log(p).sum())

    h = 1e-5
    score, info = score_and_information(mixed, items, responses, theta)
    assert score == pytest.approx((loglik(theta + h) - loglik(theta - h)) / (2 * h), abs=1e-4)
    assert info == pytest.approx(float(mixed.information(theta)[items].sum()), rel=1e-9)


def test_grid_likelihood_is_the_pattern_probability(mixed):
    rng = np.random.default_rng(3)
    items = np.arange(len(mixed))
    responses = draw(mixed, -0.4, rng)[0]
    tables = likelihood_tables(mixed)
    expected = np.log(mixed.category_probs(tables.grid)[:, items, responses]).sum(axis=1)
    assert np.allclose(log_likelihood(tables, items, responses), expected)


@pytest.mark.parametrize("estimator", [EAPEstimator(), MAPEstimator(), MLEEstimator()],
                         ids=["eap", "map", "mle"])
def test_estimates_from_a_mixed_test_recover_theta_with_honest_se(mixed, estimator):
    """300 simulees at theta = 0.8 answer 40 five-category items and 20 3PL items.

    The test information is ~30, so the SE is ~0.18 and the mean of 300 estimates has a
    sampling SD of 0.18 / sqrt(300) = 0.010; the N(0, 1) prior pulls EAP/MAP by about
    SE^2 * theta / (1 + SE^2) = 0.025 and MLE's bias is O(1/I). |mean - 0.8| < 0.07 leaves
    four sampling SDs beyond the prior's pull. The reported SE must match the empirical SD
    within 15% (a sample SD of 300 draws has a relative SD of ~4%).
    """
    rng = np.random.default_rng(5)
    items = np.arange(len(mixed))
    est = [estimator.estimate(mixed, items, r) for r in draw(mixed, 0.8, rng, 300)]
    thetas = np.array([e.theta for e in est])
    assert thetas.mean() == pytest.approx(0.8, abs=0.07)
    assert np.mean([e.se for e in est]) == pytest.approx(thetas.std(), rel=0.15)


def test_one_threshold_items_estimate_exactly_like_2pl_items():
    rng = np.random.default_rng(8)
    a, b = rng.uniform(0.6, 2, 15), rng.normal(size=15)
    dich = ItemParams(ids=tuple(map(str, range(15))), a=a, b=b, c=np.zeros(15), d=np.ones(15))
    poly = ItemParams.from_json([{"id": str(i), "model": "gpcm", "a": a[i], "thresholds": [b[i]]}
                                 for i in range(15)])
    items, responses = np.arange(15), (rng.random(15) < 0.5).astype(int)
    for estimator in (EAPEstimator(), MAPEstimator(), MLEEstimator()):
        one, two = estimator.estimate(dich, items, responses), estimator.estimate(
            poly, items, responses)
        assert one.theta == pytest.approx(two.theta, abs=1e-6)
        assert one.se == pytest.approx(two.se, rel=1e-5)


def test_mle_falls_back_to_eap_for_all_lowest_or_all_highest_categories(mixed):
    items = np.arange(len(mixed))
    lowest = np.zeros(len(mixed), dtype=int)
    highest = mixed.n_categories - 1
    fallback = EAPEstimator()
    for pattern in (lowest, highest):
        est = MLEEstimator().estimate(mixed, items, pattern)
        assert est == fallback.estimate(mixed, items, pattern)
        assert np.isfinite(est.theta) and est.se > 0
    assert MLEEstimator().estimate(mixed, items, lowest).theta < -2
    assert MLEEstimator().estimate(mixed, items, highest).theta > 2
    # One step off the extreme and MLE has a finite maximum of its own.
    mid = highest.copy()
    mid[0] = 1
    assert MLEEstimator().estimate(mixed, items, mid) != fallback.estimate(mixed, items, mid)


def test_a_category_outside_the_item_is_refused_by_name(mixed):
    with pytest.raises(ValueError, match=r"response 5 to item TKP-000: .* a category 0\.\.4"):
        EAPEstimator().estimate(mixed, [0], [5])
    with pytest.raises(ValueError, match="response 2 to item TIU-000"):
        MLEEstimator().estimate(mixed, [40], [2])


# -- selection, the adaptive engine, simulation ---------------------------------------------


def test_max_info_and_kl_choose_among_weighted_items(mixed):
    eligible = np.ones(len(mixed), dtype=bool)
    eligible[:3] = False
    for theta in (-1.5, 0.0, 1.2):
        ctx = SelectionContext(mixed, eligible, theta, 0)
        info = np.where(eligible, mixed.information(theta), -np.inf)
        assert MaxInfoSelector().select(ctx).item == int(np.argmax(info))
        kl = KLSelector().select(SelectionContext(mixed, eligible, theta, 4)).item
        assert eligible[kl]


def test_kl_on_one_threshold_items_chooses_as_on_2pl_items():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.6, 2, 30), rng.normal(size=30)
    dich = ItemParams(ids=tuple(map(str, range(30))), a=a, b=b, c=np.zeros(30), d=np.ones(30))
    poly = ItemParams.from_json([{"id": str(i), "model": "grm", "a": a[i], "thresholds": [b[i]]}
                                 for i in range(30)])
    eligible = np.ones(30, dtype=bool)
    for theta, n in ((-1.0, 1), (0.3, 5), (1.7, 12)):
        assert (KLSelector().select(SelectionContext(dich, eligible, theta, n)).item
                == KLSelector().select(SelectionContext(poly, eligible, theta, n)).item)


def test_live_api_records_categories_and_replays_them(mixed):
    config = AdaptiveConfig(max_items=8, selector="randomesque", randomesque_k=3)
    engine = Engine.build(mixed, config)
    rng = np.random.default_rng(4)
    state, events = engine.initial_state(), []
    while (choice := engine.select(state, 99)) is not None:
        item = choice[0]
        response = int(draw(mixed, 1.0, rng)[0][item])
        state = engine.record(state, item, response, choice[1])
        events.append((mixed.ids[item], response))
    assert len(events) == 8
    assert replay(events, mixed, config, 99) == state
    weighted = int(np.flatnonzero(mixed.kind)[-1])
    with pytest.raises(ValueError, match=r"weighted item TKP-039 must be a category 0\.\.4"):
        engine.record(engine.initial_state(), weighted, 5)


def test_simulation_over_a_weighted_bank_is_unbiased_with_honest_se():
    """300 N(0, 1) simulees, 12 of 120 five-category items: RMSE ~ 0.3.

    The mean error has a sampling SD of 0.3 / sqrt(300) = 0.017: |bias| < 0.07 is a 4-SD
    bound. EAP's posterior SD approximates the error, so the mean SE must match the RMSE
    within 20% (a sample RMSE of 300 errors has a relative SD of ~4%).
    """
    params = mixed_bank(120, seed=6)
    thetas = np.random.default_rng(1).normal(size=300)
    result = simulate(params, thetas, AdaptiveConfig(max_items=12), seed=2)
    assert abs(result.bias) < 0.07
    assert result.rmse == pytest.approx(float(result.se.mean()), rel=0.2)
    assert result.rmse < 0.4
    assert np.all(result.lengths == 12)


def test_simulated_categories_follow_the_model():
    """4,000 simulees at theta = 0.4 answer one five-category item: the categories drawn
    match P_k(theta). Each category gives a distinct EAP estimate, so the estimates tell
    the categories apart. A frequency of 4,000 draws has a SD of at most 0.008: 0.035 is a
    4-SD bound.
    """
    params = mixed_bank(1, seed=9)
    result = simulate(params, np.full(4000, 0.4), AdaptiveConfig(max_items=1), seed=3)
    values, freq = np.unique(np.round(result.theta, 9), return_counts=True)
    assert len(values) == 5
    assert freq / 4000 == pytest.approx(params.category_probs(0.4)[0], abs=0.035)


# -- scaled scores ---------------------------------------------------------------------------


def test_true_score_of_weighted_items_runs_from_lowest_to_highest_weights():
    params = mixed_bank(10, seed=3)
    weights = np.tile(np.arange(1.0, 6.0), (10, 1))  # TKP: categories 0..4 earn 1..5 points
    assert float(true_score(12.0, params, category_points=weights)) == pytest.approx(50, abs=0.1)
    assert float(true_score(-12.0, params, category_points=weights)) == pytest.approx(10, abs=0.1)
    grid = true_score(np.linspace(-4, 4, 40), params, category_points=weights)
    assert np.all(np.diff(grid) > 0)
    # With evenly spaced weights, category points = 1 + category: points per step of 1.
    assert float(true_score(0.3, params, category_points=weights)) == pytest.approx(
        10 + float(true_score(0.3, params)))
    theta = theta_for_score(33, params, category_points=weights)
    assert float(true_score(theta, params, category_points=weights)) == pytest.approx(33)
    with pytest.raises(ValueError, match="fewer columns"):
        true_score(0.0, params, category_points=weights[:, :3])


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_simulates_a_bank_of_weighted_items(tmp_path):
    path = tmp_path / "params.json"
    path.write_text(json.dumps(mixed_bank(60, 20, seed=2).to_json()))
    result = CliRunner().invoke(cli, ["simulate", "--items", str(path), "--examinees", "50",
                                      "--length", "10", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["mean_length"] == 10 and 0 < summary["rmse"] < 1

    path.write_text(json.dumps({"items": [{"id": "W1", "model": "grm", "a": 1.2,
                                           "thresholds": [0.5, -0.5]}]}))
    result = CliRunner().invoke(cli, ["simulate", "--items", str(path), "--examinees", "5",
                                      "--length", "1"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "item 1 (W1): graded-response thresholds must be strictly increasing" in result.output


def test_scoring_does_not_oscillate_where_expected_information_is_small(bank):
    """Three 3PL items answered wrong, wrong, right: the expected information at the root
    (0.17) is far below the observed curvature (0.45), so plain Fisher scoring overshoots
    further each step; the estimators bisect the bracket and land on the maximum."""
    items, responses = np.arange(116, 119), np.array([0, 0, 1])
    score, _ = score_and_information(bank, items, responses,
                                     MLEEstimator().estimate(bank, items, responses).theta)
    assert abs(score) < 1e-3


def _warm_root_by_finite_differences(params, items, responses):
    """Warm's equation from category probabilities alone (derivatives by central
    differences), solved by scipy: an independent check of the WLE."""
    from scipy.optimize import brentq

    h = 1e-4

    def curves(t):
        p = params.category_probs(np.array([t - h, t, t + h]))[:, items, :]
        return p[1], (p[2] - p[0]) / (2 * h), (p[2] - 2 * p[1] + p[0]) / h**2

    def warm(t):
        p, d1, d2 = curves(t)
        open_ = p > 0
        safe = np.where(open_, p, 1.0)
        info = np.sum(np.where(open_, d1 * d1 / safe, 0.0))
        j = np.sum(np.where(open_, d1 * d2 / safe, 0.0))
        rows = np.arange(len(items))
        return np.sum(d1[rows, responses] / p[rows, responses]) + j / (2 * info)

    grid = np.linspace(-6, 6, 121)
    values = np.array([warm(t) for t in grid])
    i = int(np.flatnonzero((values[:-1] > 0) & (values[1:] <= 0))[-1])
    return brentq(warm, grid[i], grid[i + 1], xtol=1e-10)


@pytest.mark.parametrize("models", [("gpcm",), ("grm",), ("gpcm", "grm")])
def test_wle_of_weighted_items_solves_warms_equation(models):
    params = mixed_bank(6, 4, seed=21, models=models)
    rng = np.random.default_rng(22)
    for theta in (-1.5, 0.0, 1.2):
        responses = draw(params, theta, rng)[0]
        items = np.arange(len(params))
        got = WLEEstimator().estimate(params, items, responses)
        assert got.theta == pytest.approx(
            _warm_root_by_finite_differences(params, items, responses), abs=1e-5)
    # All lowest categories: the MLE has no root, the WLE stays finite.
    low = WLEEstimator().estimate(params, np.arange(len(params)), np.zeros(len(params), int))
    assert -6 < low.theta < -1 and np.isfinite(low.se)


def test_sum_score_eap_of_weighted_items_matches_enumerated_patterns():
    """Three weighted items and a 0/1 item: P(sum | theta) by enumerating every pattern,
    integrated by scipy over the real line, against the estimator's recursion on its grid."""
    from itertools import product

    from scipy import integrate, stats

    params = mixed_bank(3, 1, seed=23)
    items = np.arange(len(params))
    tops = params.n_categories - 1

    def likelihood_of_sum(total, t):
        p = params.category_probs(np.array([t]))[0]
        return sum(np.prod([p[j, k] for j, k in enumerate(pattern)])
                   for pattern in product(*(range(m + 1) for m in tops))
                   if sum(pattern) == total)

    for total in (0, 3, int(tops.sum())):
        responses = np.zeros(len(items), int)
        left = total
        for j in items:  # any pattern with that sum scores the same
            responses[j] = min(left, tops[j])
            left -= responses[j]
        got = SumScoreEAPEstimator().estimate(params, items, responses)

        def f(t, k, total=total):
            return t**k * likelihood_of_sum(total, t) * stats.norm.pdf(t)

        z = integrate.quad(f, -10, 10, args=(0,))[0]
        mean = integrate.quad(f, -10, 10, args=(1,))[0] / z
        sd = np.sqrt(integrate.quad(f, -10, 10, args=(2,))[0] / z - mean**2)
        assert got.theta == pytest.approx(mean, abs=1e-4)
        assert got.se == pytest.approx(sd, abs=1e-4)


def test_score_command_gives_wle_and_sum_score_eap_for_weighted_items(tmp_path):
    params = mixed_bank(6, 2, seed=24)
    (tmp_path / "params.json").write_text(json.dumps(params.to_json()))
    x = draw(params, 0.4, np.random.default_rng(25), n=4)
    (tmp_path / "r.csv").write_text(
        "examinee," + ",".join(params.ids) + "\n"
        + "\n".join(f"P{i}," + ",".join(str(int(v)) for v in row) for i, row in enumerate(x))
        + "\n")
    ran = CliRunner().invoke(cli, ["score", str(tmp_path / "r.csv"), "--items",
                                   str(tmp_path / "params.json"), "--method", "wle",
                                   "--method", "sum-eap"])
    assert ran.exit_code == 0, ran.output
    lines = ran.output.splitlines()
    assert lines[0] == "examinee,items,sum,wle_theta,wle_se,sum-eap_theta,sum-eap_se"
    for row, line in zip(x, lines[1:], strict=True):
        cells = line.split(",")
        items = np.arange(len(params))
        wle = WLEEstimator().estimate(params, items, row)
        eap = SumScoreEAPEstimator().estimate(params, items, row)
        assert float(cells[3]) == pytest.approx(wle.theta, abs=1e-4)
        assert float(cells[5]) == pytest.approx(eap.theta, abs=1e-4)
