"""Scaled scores: the reference form's expected points, monotone and invertible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.irt.scaling import scaled_score, theta_for_score, true_score


def test_true_score_runs_from_the_guessing_floor_to_full_points(bank_factory):
    ref = bank_factory(35, seed=1)
    points = 5.0  # TIU: 35 items x 5 points = 175
    assert float(true_score(12.0, ref, points)) == pytest.approx(175, abs=0.5)
    assert float(true_score(-12.0, ref, points)) == pytest.approx(5 * ref.c.sum(), abs=0.5)
    grid = true_score(np.linspace(-4, 4, 50), ref, points)
    assert np.all(np.diff(grid) > 0)


@given(score=st.floats(40, 170))
@settings(deadline=None)  # a shared, loaded machine: no timing assertions
def test_theta_for_score_inverts_the_scale(bank_factory, score):
    ref = bank_factory(35, seed=1)
    theta = theta_for_score(score, ref, 5.0)
    assert float(true_score(theta, ref, 5.0)) == pytest.approx(score, abs=1e-6)


def test_threshold_means_the_same_ability_for_adaptive_and_fixed(bank_factory):
    ref = bank_factory(35, seed=1)
    cut = theta_for_score(80, ref, 5.0)  # TIU >= 80
    assert scaled_score(cut + 0.01, ref, 5.0, decimals=2) >= 80
    assert scaled_score(cut - 0.01, ref, 5.0, decimals=2) < 80
    with pytest.raises(ValueError, match="outside the reachable range"):
        theta_for_score(176, ref, 5.0)
