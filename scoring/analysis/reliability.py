"""Test statistics: mean, SD, Cronbach's alpha (= KR-20 for 0/1 items), SEM, distribution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class TestStats:
    n_examinees: int
    n_items: int
    mean: float
    sd: float
    alpha: float
    sem: float
    #: Histogram of total scores: bin edges (len + 1) and counts.
    bins: NDArray[np.float64]
    counts: NDArray[np.int64]


def cronbach_alpha(scores: ArrayLike) -> float:
    """``k / (k - 1) * (1 - sum item variances / total variance)`` (Cronbach 1951).

    For items scored 0/1 the item variance is p(1 - p) and this is KR-20 (Kuder &
    Richardson 1937). Population variances (ddof = 0) throughout; the ratio does not depend
    on the choice as long as it is the same for both.

    With randomized forms each examinee is shown only some items (NaN elsewhere). Then ``k``
    is the number of items a form holds (the median shown per examinee) and the sum of item
    variances is ``k`` times the mean variance of an item over those shown it: the alpha of a
    typical form, assuming the forms are parallel (they are drawn to one blueprint). On a
    complete matrix this is exactly the classical formula.
    """
    x = np.asarray(scores, dtype=float)
    shown = ~np.isnan(x)
    per_examinee = shown.sum(axis=1)
    k = float(np.median(per_examinee)) if len(per_examinee) else 0.0
    if k < 2:
        return float("nan")
    total_var = np.where(shown, x, 0.0).sum(axis=1).var()
    if total_var == 0:
        return float("nan")
    counts = shown.sum(axis=0)
    usable = counts >= 2
    if not usable.any():
        return float("nan")
    with np.errstate(invalid="ignore"):
        item_var = np.nanvar(x[:, usable], axis=0)
    return float(k / (k - 1) * (1 - k * item_var.mean() / total_var))


def test_statistics(scores: ArrayLike, *, bins: int | None = None) -> TestStats:
    """Statistics of the total score; SEM = SD * sqrt(1 - alpha)."""
    x = np.asarray(scores, dtype=float)
    total = np.nansum(x, axis=1)
    alpha = cronbach_alpha(x)
    sd = float(total.std(ddof=1)) if len(total) > 1 else 0.0
    sem = sd * float(np.sqrt(1 - alpha)) if np.isfinite(alpha) and alpha <= 1 else float("nan")
    n_bins = bins or int(min(30, max(5, np.ceil(np.sqrt(len(total))))))
    counts, edges = np.histogram(total, bins=n_bins)
    return TestStats(len(total), x.shape[1], float(total.mean()), sd, alpha, sem, edges, counts)


test_statistics.__test__ = False  # a function named test_* is not a pytest test
TestStats.__test__ = False
