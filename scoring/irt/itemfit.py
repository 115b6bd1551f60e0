"""Item fit by Orlando & Thissen's (2000) S-X2, for dichotomous items of a complete design.

Examinees are grouped by their summed score ``k``; for item j, the observed proportion right
in group k is compared with the model's

    E_jk = ∫ P_j(θ) S*_{k−1}(θ) φ(θ) dθ / ∫ S_k(θ) φ(θ) dθ

where ``S_k`` is the probability of summed score k on all items and ``S*_{k−1}`` of k − 1 on
the items other than j (Lord-Wingersky recursion, :func:`sum_score_distribution`), the
integrals by quadrature over N(0, 1). ``S-X2 = Σ_k N_k (O_jk − E_jk)² / (E_jk (1 − E_jk))``
over score groups (0 and the maximum carry no information and are left out), adjacent groups
pooled from the ends until every group expects at least one right and one wrong answer;
df = groups − item parameters. Unlike Yen's Q1 it groups by what is observed, not by an
estimate, so its null distribution is close to chi-square even in short tests.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from scoring.irt.estimators import sum_score_distribution
from scoring.irt.models import FloatArray, ItemParams


def s_x2(
    params: ItemParams, responses: ArrayLike, *, n_params: int = 2, points: int = 61
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(S-X2, df, p) of every item; ``responses`` complete 0/1 (examinees x items)."""
    x = np.asarray(responses, dtype=float)
    n_items = x.shape[1]
    theta = np.linspace(-6, 6, points)
    w = stats.norm.pdf(theta)
    w /= w.sum()
    items = np.arange(n_items)
    all_scores = sum_score_distribution(params, items, theta) @ w  # (n + 1,)
    p = params.prob(theta)  # (Q, n)
    expected = np.zeros((n_items, n_items + 1))
    for start in range(0, n_items, 64):  # 64 items at a time bounds the memory
        chunk = slice(start, start + 64)
        rest = _leave_one_out_scores(p.T, chunk)  # (chunk, n scores, Q)
        expected[chunk, 1:] = (rest * p.T[chunk, None, :]) @ w / np.maximum(
            all_scores[1:], 1e-300
        )
    total = x.sum(axis=1).astype(int)
    by_score = np.zeros((n_items + 1, x.shape[0]))
    by_score[total, np.arange(x.shape[0])] = 1.0
    n_k = by_score.sum(axis=1)  # examinees with each summed score
    right = by_score @ x  # (n + 1, items): right answers to each item in each score group
    chi = np.full(n_items, np.nan)
    dfs = np.full(n_items, np.nan)
    for j in range(n_items):
        k = slice(1, n_items)
        groups = np.stack([n_k[k], right[k, j], n_k[k] * expected[j, k]], axis=1)
        g = _pool(groups)
        if len(g) <= n_params:
            continue
        size, o_k, e_k = g[:, 0], g[:, 1], g[:, 2]
        e_p = e_k / size
        chi[j] = float(np.sum(size * (o_k / size - e_p) ** 2 / (e_p * (1 - e_p))))
        dfs[j] = len(g) - n_params
    return chi, dfs, stats.chi2.sf(chi, dfs)


def _leave_one_out_scores(p: FloatArray, items: slice) -> FloatArray:
    """Summed-score distributions on all items but j, for every j in ``items`` at once:
    (len(items), n, Q) from P (n, Q), by the Lord-Wingersky recursion with item j's step
    skipped in slice j (one pass over the items instead of one recursion per item)."""
    n, n_q = p.shape
    js = np.arange(n)[items]
    dist = np.zeros((len(js), n, n_q))
    dist[:, 0] = 1.0
    for i in range(n):
        others = js != i
        d = dist[others]
        pi = p[i]
        top = min(i + 1, n - 1)  # scores above the items seen so far are still 0
        d[:, 1 : top + 1] = d[:, 1 : top + 1] * (1 - pi) + d[:, :top] * pi
        d[:, 0] *= 1 - pi
        dist[others] = d
    return dist


def _pool(groups: FloatArray, minimum: float = 1.0) -> FloatArray:
    """Pool adjacent (count, observed right, expected right) rows from both ends inward
    until each expects at least ``minimum`` right and wrong answers; drop empty rows."""
    rows = [r for r in groups if r[0] > 0]

    def ok(r) -> bool:
        return r[2] >= minimum and r[0] - r[2] >= minimum

    for _ in range(2):  # low end, then high end (by reversing)
        out: list = []
        acc = None
        for r in rows:
            acc = r.copy() if acc is None else acc + r
            if ok(acc):
                out.append(acc)
                acc = None
        if acc is not None:
            if out:
                out[-1] = out[-1] + acc
            else:
                out.append(acc)
        rows = out[::-1]
    return np.array(rows[::-1]) if rows else np.zeros((0, 3))
