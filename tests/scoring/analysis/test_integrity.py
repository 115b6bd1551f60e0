"""Cheating signals on simulated exams with planted copying and a planted remote helper:
what is planted is found, an honest exam raises nothing, and the tail probabilities are
right where the thresholds sit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from scoring.analysis.copying import (
    _weighted_bernoulli_sf,
    detect_copying,
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
