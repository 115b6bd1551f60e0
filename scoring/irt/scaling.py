"""Scaled scores: put an adaptive section's ability on the points scale of a fixed form.

An adaptive section reports the *expected points on a reference form* (the fixed section it
replaces, e.g. the 35 TIU items worth 5 points each):

    score(theta) = sum_j points_j * P_j(theta)

This is the test characteristic curve of IRT true-score equating (Lord 1980, ch. 13; Kolen &
Brennan 2014, ch. 6). It is monotone in theta, so a threshold on the fixed form's points
(TIU >= 80) means the same ability whichever way the section was taken, and adaptive and
fixed sections share one threshold table. :func:`theta_for_score` is its inverse.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from scoring.irt.models import FloatArray, ItemParams


def true_score(theta: ArrayLike, reference: ItemParams, points: ArrayLike = 1.0) -> FloatArray:
    """Expected points on the reference form at each theta."""
    pts = np.broadcast_to(np.asarray(points, dtype=float), (len(reference),))
    return reference.prob(theta) @ pts


def scaled_score(
    theta: float, reference: ItemParams, points: ArrayLike = 1.0, *, decimals: int = 0
) -> float:
    """The reported score of an adaptive section: its true score, rounded."""
    return round(float(true_score(theta, reference, points)), decimals)


def theta_for_score(
    score: float, reference: ItemParams, points: ArrayLike = 1.0, *, bounds=(-8.0, 8.0)
) -> float:
    """The ability whose expected points equal ``score`` (the cut score on the theta scale)."""
    lo, hi = (float(true_score(b, reference, points)) for b in bounds)
    if not lo <= score <= hi:
        raise ValueError(f"score {score} is outside the reachable range [{lo:.2f}, {hi:.2f}]")
    return float(brentq(lambda t: float(true_score(t, reference, points)) - score, *bounds))
