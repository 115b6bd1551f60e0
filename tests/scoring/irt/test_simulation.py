"""Simulated adaptive tests: recovery, determinism, the summary's exposure figures."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.irt.adaptive import AdaptiveConfig
from scoring.irt.simulation import simulate


def test_adaptive_recovery_is_unbiased_and_its_se_is_honest(bank):
    """300 N(0, 1) simulees, 25 items from 200: RMSE ~ 0.3.

    The mean error has a sampling SD of 0.3 / sqrt(300) = 0.017, so |bias| < 0.07 is a
    4-SD bound. The reported SE should match the RMSE: a sample RMSE from 300 errors has a
    relative SD of about 1 / sqrt(2 * 300) = 4%, and EAP's SE is a posterior SD that only
    approximates the frequentist error, so we allow 20%.
    """
    thetas = np.random.default_rng(1).normal(size=300)
    result = simulate(bank, thetas, AdaptiveConfig(max_items=25), seed=2)
    assert abs(result.bias) < 0.07
    assert result.rmse == pytest.approx(float(result.se.mean()), rel=0.2)
    assert result.rmse < 0.45
    summary = result.summary()
    assert set(summary) == {
        "rmse",
        "bias",
        "mean_se",
        "mean_length",
        "max_exposure",
        "overlap_rate",
        "seconds",
        "us_per_step",
    }
    assert summary["mean_length"] == 25


def test_adaptive_beats_a_random_test_of_the_same_length(bank):
    # The reason to test adaptively at all: matched items measure more precisely.
    thetas = np.random.default_rng(3).normal(size=150)
    adaptive = simulate(bank, thetas, AdaptiveConfig(max_items=15), seed=1)
    near_random = simulate(
        bank,
        thetas,
        AdaptiveConfig(selector="randomesque", randomesque_k=200, max_items=15),
        seed=1,
    )
    assert adaptive.rmse < near_random.rmse


def test_simulation_is_deterministic_in_its_seed(bank):
    thetas = np.linspace(-2, 2, 20)
    config = AdaptiveConfig(selector="randomesque", max_items=10)
    one = simulate(bank, thetas, config, seed=7, keep_tests=True)
    two = simulate(bank, thetas, config, seed=7, keep_tests=True)
    assert one.administered == two.administered
    assert np.array_equal(one.theta, two.theta)


def test_overlap_is_one_when_everyone_gets_the_whole_bank(bank_factory):
    params = bank_factory(6, seed=1)
    result = simulate(params, np.zeros(10), AdaptiveConfig(max_items=6), seed=0)
    assert result.overlap_rate == pytest.approx(1.0)
    assert result.exposure.max() == 1.0
