"""Scaled scores: put an adaptive section's ability on the points scale of a fixed form.

An adaptive section reports the *expected points on a reference form* (the fixed section it
replaces, e.g. the 35 TIU items worth 5 points each):

    score(theta) = sum_j points_j * P_j(theta)

This is the test characteristic curve of IRT true-score equating (Lord 1980, ch. 13; Kolen &
Brennan 2014, ch. 6). It is monotone in theta, so a threshold on the fixed form's points
(TIU >= 80) means the same ability whichever way the section was taken, and adaptive and
fixed sections share one threshold table. :func:`theta_for_score` is its inverse.

A weighted (GRM/GPCM) item earns the points of the category it is answered in: with
``category_points[j, k]`` the points of category k of item j (e.g. TKP's weights 1..5),

    score(theta) = sum_j sum_k category_points[j, k] * P_jk(theta)

(Lord 1980's true score with expected item scores; Kolen & Brennan 2014, ch. 6). With
``points`` instead, category k earns ``k * points_j`` (0/1 items: ``points_j`` if right).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from scoring.irt.models import FloatArray, ItemParams


def true_score(
    theta: ArrayLike,
    reference: ItemParams,
    points: ArrayLike = 1.0,
    *,
    category_points: ArrayLike | None = None,
) -> FloatArray:
    """Expected points on the reference form at each theta.

    ``points`` (per item, or one number) scales each item's expected category; or
    ``category_points`` of shape (items, categories) gives every category's points (entries
    beyond an item's categories are ignored).
    """
    if category_points is not None:
        probs = reference.category_probs(theta)
        table = np.asarray(category_points, dtype=float)
        if table.ndim != 2 or table.shape[0] != len(reference):
            raise ValueError(f"category_points needs one row for each of {len(reference)} items")
        k = min(table.shape[1], probs.shape[-1])
        if np.any(reference.n_categories > k):
            raise ValueError("category_points has fewer columns than an item has categories")
        return np.einsum("...jk,jk->...", probs[..., :k], table[:, :k])
    pts = np.broadcast_to(np.asarray(points, dtype=float), (len(reference),))
    score = reference.expected_score(theta) if reference.has_polytomous else reference.prob(theta)
    return score @ pts


def scaled_score(
    theta: float,
    reference: ItemParams,
    points: ArrayLike = 1.0,
    *,
    decimals: int = 0,
    category_points: ArrayLike | None = None,
) -> float:
    """The reported score of an adaptive section: its true score, rounded."""
    score = true_score(theta, reference, points, category_points=category_points)
    return round(float(score), decimals)


def theta_for_score(
    score: float,
    reference: ItemParams,
    points: ArrayLike = 1.0,
    *,
    bounds=(-8.0, 8.0),
    category_points: ArrayLike | None = None,
) -> float:
    """The ability whose expected points equal ``score`` (the cut score on the theta scale).

    The true score increases with theta when every item's points increase with its
    category (as weights ranked into categories do), so the root is unique.
    """

    def f(t: float) -> float:
        return float(true_score(t, reference, points, category_points=category_points))

    lo, hi = f(bounds[0]), f(bounds[1])
    if not lo <= score <= hi:
        raise ValueError(f"score {score} is outside the reachable range [{lo:.2f}, {hi:.2f}]")
    # Imported here: the live server imports this module, and scipy.optimize is 20 MiB of
    # every server's memory.
    from scipy.optimize import brentq

    return float(brentq(lambda t: f(t) - score, *bounds))
