"""Cheating signals on simulated exams with planted copying and a planted remote helper:
what is planted is found, an honest exam raises nothing, and the tail probabilities are
right where the thresholds sit."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import norm

from cat_engine.cli import cli
from scoring.analysis.copying import (
    THETA_GRID,
    _weighted_bernoulli_sf,
    copying_likelihood_ratio,
    detect_copying,
    distractor_curves,
    either_direction_tail,
    match_weights,
)
from scoring.analysis.personfit import lz_star
from scoring.analysis.simulation import (
    export_csv,
    plant_copying,
    plant_helper,
    simulate_exam,
    simulate_times,
)
from scoring.analysis.timing import activity, fit_lognormal, interleaved_pairs, rings
from scoring.irt.models import ItemParams


@pytest.fixture(scope="module")
def exam():
    return simulate_exam(500, 110, seed=12)


def test_saddlepoint_tail_matches_exact_enumeration():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.9, 12)
    w = match_weights(p)
    totals = np.array([
        (w * np.array(bits)).sum() for bits in itertools.product([0, 1], repeat=12)
    ])
    probs = np.array([
        np.prod(np.where(np.array(bits) == 1, p, 1 - p))
        for bits in itertools.product([0, 1], repeat=12)
    ])
    for q in (0.2, 0.01, 0.001):
        x = np.quantile(totals, 1 - q)
        exact = probs[totals >= x - 1e-12].sum()
        approx = _weighted_bernoulli_sf(w[None], p[None], np.array([x]))[0]
        assert approx == pytest.approx(exact, rel=0.25)


def test_either_direction_tail_is_the_bivariate_normal_union():
    from scipy.stats import multivariate_normal

    z = np.array([2.0, 3.0, 3.0, 3.5, 5.5, 5.5])
    rho = np.array([0.5, 0.0, 0.9, 0.3, 0.0, 0.999999])
    for zi, ri, got in zip(z[:4], rho[:4], either_direction_tail(z[:4], rho[:4]), strict=True):
        both_below = multivariate_normal([0, 0], [[1, ri], [ri, 1]]).cdf([zi, zi])
        assert got == pytest.approx(1 - both_below, rel=1e-3)
    # Far in the tail: independent directions give the Bonferroni sum, identical ones one.
    tail = either_direction_tail(z[4:], rho[4:])
    q = norm.sf(5.5)
    assert tail[0] == pytest.approx(2 * q - q * q, rel=1e-4)
    assert tail[1] == pytest.approx(q, rel=0.02)


def test_planted_copiers_are_found_and_honest_pairs_are_not(exam):
    options, planted = plant_copying(exam.options, 6, 0.4, seed=12)
    names = [f"C{i}" for i in range(len(options))]
    flags, _ = detect_copying(options, exam.key, names)
    found = {frozenset((f.copier, f.source)) for f in flags}
    truth = {frozenset((names[c], names[s])) for c, s in planted}
    assert len(found & truth) >= 4
    assert found <= truth  # no honest pair among ~125,000
    for f in flags:
        assert f.matches > f.expected and f.expected_false_alarms <= 0.1


def test_an_honest_exam_flags_no_pair_even_strong_agreeing_candidates(exam):
    names = [f"C{i}" for i in range(len(exam.options))]
    flags, scores = detect_copying(exam.options, exam.key, names)
    assert flags == []
    # Unconditioned, the strongest candidates agree far above the average pair.
    top = np.argsort(exam.theta)[-20:]
    same = (exam.options[top][:, None, :] == exam.options[top][None, :, :]).mean(axis=2)
    assert same[np.triu_indices(20, 1)].mean() > 0.6
    assert len(scores.first) < 0.02 * 500 * 499 / 2  # the screen keeps the test cheap


def test_weak_copiers_of_strong_sources_are_found_with_their_copied_share():
    # What copying from a stronger neighbour does: it lifts the copier's ability estimated
    # from all answers, and the copied right answers then look expected. Estimated under
    # copying, the ability is not lifted (an index at the inflated ability found 1 of these).
    n, rate = 600, 0.35
    sim = simulate_exam(n, 110, seed=2)
    rng = np.random.default_rng(3)
    order = np.argsort(sim.theta)
    weak = rng.permutation(order[n // 5:n // 2])[:12]
    strong = rng.permutation(order[-n // 5:])[:12]
    options = sim.options.copy()
    for c, s in zip(weak, strong, strict=True):
        take = rng.random(110) < rate
        options[c, take] = options[s, take]
    names = [f"C{i}" for i in range(n)]
    flags, _ = detect_copying(options, sim.key, names)
    truth = {(names[c], names[s]) for c, s in zip(weak, strong, strict=True)}
    found = {(f.copier, f.source) for f in flags}
    assert len(found & truth) >= 3 and found <= truth  # direction right, no honest pair
    assert all(0.2 <= f.copy_rate <= 0.6 for f in flags)


def test_copy_free_p_values_are_not_smaller_than_their_level():
    # About 180,000 honest pairs: as many below each level as chance gives, not more (the
    # family-wise control rests on it); the benchmark checks 2 million pairs to 1e-7.
    sim = simulate_exam(600, 110, seed=5)
    _, scores = detect_copying(sim.options, sim.key, [str(i) for i in range(600)])
    pairs = 600 * 599 / 2
    for level in (1e-3, 1e-4):
        assert (scores.p_value < level).sum() <= 1.5 * level * pairs + 3


def test_likelihood_ratio_is_the_maximum_over_ability_and_copied_share():
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(8)
    k, n_opt = 40, 4
    # Two candidates' answers and each one's chance of their own answer at every grid
    # ability: brute force maximises the same likelihood over a fine γ grid.
    options = rng.integers(0, n_opt, (2, k))
    options[1, :15] = options[0, :15]
    options[0, 3] = -2  # a blank drops out
    own = np.ones((len(THETA_GRID), 2, k))
    own[:, :, :] = rng.uniform(0.05, 0.9, (2, k))[None] * (
        1 + 0.05 * THETA_GRID[:, None, None])
    own = np.clip(own, 0.01, 0.99)
    own[:, 0, 3] = 1.0
    prior = -0.5 * THETA_GRID**2
    stat, rate = copying_likelihood_ratio(options, own, [1], [0], log_prior=prior)
    shared = (options[0] >= 0) & (options[1] >= 0)
    match = shared & (options[0] == options[1])

    def profile(g: int) -> float:
        p = own[g, 1]

        def minus_log_lik(gam: float) -> float:
            copied = np.where(match, (1 - gam) * p + gam, (1 - gam) * p)
            return -(np.log(copied)[shared].sum() + np.log(p[~shared]).sum())

        best = minimize_scalar(minus_log_lik, bounds=(0, 0.999), method="bounded")
        return -best.fun + prior[g]

    alone = np.log(own[:, 1]).sum(axis=1) + prior
    brute = 2 * (max(profile(g) for g in range(len(THETA_GRID))) - alone.max())
    # The grid maximum is refined by a parabola: within a small fraction of the statistic.
    assert stat[0] == pytest.approx(brute, abs=0.05 + 0.01 * brute)
    assert 0.2 < rate[0] < 0.6


def test_distractor_curves_recover_the_nominal_model():
    sim = simulate_exam(3000, 30, seed=9)
    curves = distractor_curves(sim.options, sim.key, sim.theta, 5)
    theta = np.array([-1.5, 0.0, 1.5])
    z = curves[None, :, :, 0] + curves[None, :, :, 1] * theta[:, None, None]
    share = np.exp(z - z.max(axis=2, keepdims=True))
    share /= share.sum(axis=2, keepdims=True)
    # The generating model, at any ability: the answers were drawn from it at the true ones.
    assert np.allclose(sim.model.probabilities(sim.theta), sim.probabilities)
    true = sim.model.probabilities(theta)
    true_share = true / np.maximum(1 - true[:, np.arange(30), sim.key][:, :, None], 1e-9)
    true_share[:, np.arange(30), sim.key] = 0.0
    assert np.abs(share - true_share).mean() < 0.03


def test_lognormal_times_are_recovered_and_a_remote_helper_ring_is_found():
    n, k = 400, 110
    sim = simulate_exam(n, k, seed=21)
    times = simulate_times(n, k, seed=22)
    helped = [5, 105, 205, 305, 395]
    _, helped_times = plant_helper(sim, times, helped, seed=23)
    person = np.repeat(np.arange(n), k)
    item = np.tile(np.arange(k), n)
    model = fit_lognormal(person, item, times.seconds.ravel(), n, k)
    assert np.nanstd(model.z) == pytest.approx(1.0, abs=0.1)
    names = [f"C{i}" for i in range(n)]
    clean = interleaved_pairs(activity(person, times.answered_ms.ravel(), n), names)
    assert rings([(p.first, p.second) for p in clean]) == []
    links = interleaved_pairs(activity(person, helped_times.answered_ms.ravel(), n), names)
    assert rings([(p.first, p.second) for p in links]) == [sorted(names[i] for i in helped)]


def test_lz_star_is_standard_normal_for_model_data_and_low_for_reversed_patterns():
    rng = np.random.default_rng(31)
    k = 60
    params = ItemParams(ids=tuple(f"I{j}" for j in range(k)), a=rng.lognormal(0.2, 0.2, k),
                        b=rng.normal(0, 1, k), c=np.zeros(k), d=np.ones(k))
    theta = rng.normal(size=2000)
    x = (rng.random((2000, k)) < params.prob(theta)).astype(float)
    from scoring.irt.estimators import MLEEstimator

    mle = MLEEstimator()
    est = np.array([mle.estimate(params, np.arange(k), row.astype(int)).theta for row in x])
    lz = lz_star(params, x, est)
    ok = np.isfinite(lz)
    assert lz[ok].mean() == pytest.approx(0.0, abs=0.1)
    assert lz[ok].std() == pytest.approx(1.0, abs=0.15)
    # Right on the hardest half, wrong on the easiest half: nobody answers like that.
    odd = (params.b > np.median(params.b)).astype(float)[None, :]
    odd_theta = mle.estimate(params, np.arange(k), odd[0].astype(int)).theta
    assert lz_star(params, odd, [odd_theta])[0] < -4


def test_cheating_command_reads_an_export_of_several_sites(tmp_path):
    n, k = 300, 110
    sim = simulate_exam(n, k, seed=41)
    times = simulate_times(n, k, seed=42)
    helped = [7, 108, 209]  # three sites (i % 5)
    options, helped_times = plant_helper(sim, times, helped, seed=43)
    options, planted = plant_copying(options, 2, 0.5, seed=44)
    path = tmp_path / "export.csv"
    path.write_text(export_csv(options, sim.key, helped_times, sites=5))
    out = tmp_path / "flags.json"
    result = CliRunner().invoke(cli, ["cheating", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Remote-helper rings (answers interleave, >= 3 linked): 1" in result.output
    assert "C00007 (S3/S3-1/R1), C00108 (S4/S4-1/R1), C00209 (S5/S5-1/R1)" in result.output
    for copier, source in planted:
        assert f"C{copier:05d}" in result.output and f"C{source:05d}" in result.output
    assert '"rings"' in out.read_text()
    flags = json.loads(out.read_text())["copying"]
    assert {frozenset((f["copier"], f["source"])) for f in flags} == {
        frozenset((f"C{c:05d}", f"C{s:05d}")) for c, s in planted}
    # The evidence a proctor reads: the share copied, estimated (planted: 50%).
    assert all(0.3 <= f["copy_rate"] <= 0.7 for f in flags)
    assert "copied; p = " in result.output
    wide = tmp_path / "wide.csv"
    wide.write_text("I1,I2\n1,0\n0,1\n")
    result = CliRunner().invoke(cli, ["cheating", str(wide)])
    assert result.exit_code == 2 and "not a responses export" in result.output


def test_mantel_haenszel_finds_the_item_that_favours_one_group(tmp_path):
    from scoring.analysis.dif import mantel_haenszel

    rng = np.random.default_rng(51)
    n, k = 2000, 20
    theta = rng.normal(size=n)
    group = np.where(rng.random(n) < 0.5, "umum", "cumlaude")
    b = rng.normal(size=(1, k)) + np.where(group[:, None] == "cumlaude",
                                           np.eye(k)[0] * 1.0, 0.0)  # item 0: 1 logit harder
    x = (rng.random((n, k)) < 1 / (1 + np.exp(-(theta[:, None] - b)))).astype(float)
    result = mantel_haenszel(x, [f"I{j}" for j in range(k)], group, "umum", "cumlaude")
    assert result[0].category == "C"
    assert result[0].delta == pytest.approx(-2.35, abs=0.5)  # -2.35 x the 1-logit shift
    assert sum(r.category != "A" for r in result[1:]) <= 1
    # The same through analyze, from a responses export with a roster group column.
    options = np.where(x == 1, 0, 1).astype(np.int64)
    path = tmp_path / "export.csv"
    path.write_text(export_csv(options, np.zeros(k, np.int64), groups=list(group)))
    out = tmp_path / "report.html"
    ran = CliRunner().invoke(cli, ["analyze", str(path), "--out", str(out), "--lang", "en"])
    assert ran.exit_code == 0, ran.output
    assert "DIF (Mantel-Haenszel) against" in ran.output and "TIU-000 (" in ran.output
    assert "Differential item functioning" in out.read_text()
