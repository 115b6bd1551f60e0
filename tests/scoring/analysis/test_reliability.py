"""Test statistics: alpha / KR-20 on a published example, SEM, distribution."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.analysis.reliability import cronbach_alpha, test_statistics


def test_alpha_of_the_lsat_data_is_the_published_value(lsat):
    # Item proportions correct as published by Bock & Lieberman (1970)...
    assert list(lsat.mean(axis=0)) == pytest.approx([0.924, 0.709, 0.553, 0.763, 0.870])
    # ... and alpha as R's ltm reports it: cronbach.alpha(LSAT) -> 0.295 (Rizopoulos 2006).
    assert cronbach_alpha(lsat) == pytest.approx(0.295, abs=5e-4)


def test_kr20_formula_equals_alpha_on_dichotomous_items(lsat):
    k = lsat.shape[1]
    p = lsat.mean(axis=0)
    kr20 = k / (k - 1) * (1 - np.sum(p * (1 - p)) / lsat.sum(axis=1).var())
    assert cronbach_alpha(lsat) == pytest.approx(kr20, rel=1e-12)


def test_parallel_items_give_alpha_one_and_sem_zero():
    scores = np.repeat(np.array([[0], [1], [1], [0], [1]]), 4, axis=1).astype(float)
    stats = test_statistics(scores)
    assert stats.alpha == pytest.approx(1.0)
    assert stats.sem == pytest.approx(0.0, abs=1e-12)


def test_statistics_of_a_weighted_section():
    scores = np.array([[5, 4, 3], [1, 2, 1], [3, 3, 5], [2, 1, 2]], dtype=float)
    stats = test_statistics(scores, bins=3)
    totals = scores.sum(axis=1)
    assert stats.mean == pytest.approx(totals.mean())
    assert stats.sd == pytest.approx(totals.std(ddof=1))
    assert stats.sem == pytest.approx(stats.sd * np.sqrt(1 - stats.alpha))
    assert stats.counts.sum() == 4 and len(stats.bins) == 4


def test_alpha_is_undefined_for_one_item_or_no_variance():
    assert np.isnan(cronbach_alpha(np.ones((5, 1))))
    assert np.isnan(cronbach_alpha(np.ones((5, 3))))


def test_alpha_of_randomized_forms_matches_the_alpha_of_complete_forms():
    """Parallel forms drawn from one pool: the sparse estimate is close to the complete one."""
    rng = np.random.default_rng(3)
    n, k, shown = 3000, 60, 20
    ability = rng.normal(size=n)
    difficulty = rng.normal(size=k)
    prob = 1 / (1 + np.exp(-(1.2 * ability[:, None] - difficulty)))
    full = (rng.random((n, k)) < prob).astype(float)
    sparse = np.full_like(full, np.nan)
    forms = np.array([rng.choice(k, size=shown, replace=False) for _ in range(n)])
    rows = np.repeat(np.arange(n), shown)
    sparse[rows, forms.ravel()] = full[rows, forms.ravel()]
    # Reference: alpha of complete 20-item forms, averaged over random 20-item subsets.
    reference = np.mean([
        cronbach_alpha(full[:, rng.choice(k, size=shown, replace=False)]) for _ in range(50)
    ])
    # The standard error of alpha at n = 3000, k = 20 is about 0.005; forms also differ in
    # difficulty, so allow a few of them.
    assert cronbach_alpha(sparse) == pytest.approx(reference, abs=0.03)
