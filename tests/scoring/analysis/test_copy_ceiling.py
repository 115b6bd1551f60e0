"""The core of benchmarks/bench_copy_ceiling.py: the importance-sampled tail of the mixture
likelihood ratio, against brute force and a case with a closed form."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from bench_copy_ceiling import (
    GRID,
    draw_copy_pairs,
    log_lr_known,
    log_lr_mixture,
    normal_prior,
    tail_power,
    tail_size,
)

from scoring.analysis.simulation import ItemModel


def tiny_model(items=8, options=3, seed=0) -> ItemModel:
    rng = np.random.default_rng(seed)
    return ItemModel(
        a=rng.lognormal(0, 0.3, items), b=rng.normal(0, 1, items),
        key=rng.integers(0, options, items),
        intercept=rng.normal(0, 0.8, (items, options)),
        slope=rng.normal(-0.3, 0.2, (items, options)),
    )


def test_tail_power_matches_the_normal_shift_closed_form():
    # H0: N(0, 1), H1: N(mu, 1); log Lambda = mu x - mu^2 / 2, most powerful test x > z.
    rng = np.random.default_rng(1)
    mu, level = 3.0, 1e-4
    x = rng.normal(mu, 1.0, 200_000)
    power, log_t = tail_power(mu * x - mu**2 / 2, level)
    assert abs(power - norm.sf(norm.isf(level) - mu)) < 0.005
    assert abs((log_t + mu**2 / 2) / mu - norm.isf(level)) < 0.02


def test_point_prior_mixture_is_the_known_ability_ratio():
    model, rng = tiny_model(), np.random.default_rng(2)
    xs, xc = draw_copy_pairs(model, np.full(50, 0.7), rng.normal(size=50), 0.3, rng)
    mixed = log_lr_mixture(model, xs, xc, 0.3, np.array([0.7]), np.zeros(1))
    prob = np.broadcast_to(model.probabilities(np.array([0.7])), (50, 8, 3))
    assert np.allclose(mixed, log_lr_known(prob, xs, xc, 0.3))


def test_importance_sampled_tail_matches_brute_force_under_the_null():
    """The threshold set on draws of the copying alternative has, under independent answers
    with abilities from N(0, 1), the size it was set to (brute-force Monte Carlo)."""
    model, rng = tiny_model(), np.random.default_rng(3)
    n, level = 100_000, 0.01
    h1 = log_lr_mixture(model, *draw_copy_pairs(model, rng.normal(size=n), rng.normal(size=n),
                                                0.3, rng), 0.3, GRID, normal_prior())
    _, log_t = tail_power(h1, level)
    estimate = tail_size(h1, log_t)
    xs, _ = draw_copy_pairs(model, rng.normal(size=n), rng.normal(size=n), 0.0, rng)
    _, xc = draw_copy_pairs(model, rng.normal(size=n), rng.normal(size=n), 0.0, rng)
    brute = float((log_lr_mixture(model, xs, xc, 0.3, GRID, normal_prior()) > log_t).mean())
    se = np.sqrt(level / n)  # ~3e-4 at 1e-2
    assert abs(estimate - level) < 0.1 * level
    assert abs(brute - estimate) < 4 * se
