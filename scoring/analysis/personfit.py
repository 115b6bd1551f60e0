"""Person fit: Snijders' (2001) lz*, the standardised log-likelihood of a response pattern
corrected for the ability being estimated.

For dichotomous items with ``P_j`` at the estimate θ̂ (MLE, so ``r_0 = 0``), ``w_j =
log(P_j / Q_j)``, ``r_j = P'_j / (P_j Q_j)`` and ``c_n = Σ P'_j w_j / Σ P'_j r_j``::

    lz* = (l_0 − Σ (P_j log P_j + Q_j log Q_j)) / sqrt(Σ (w_j − c_n r_j)² P_j Q_j)

with ``l_0 = Σ x_j log P_j + (1 − x_j) log Q_j``. Asymptotically N(0, 1); large negative
values mean a pattern the model finds improbable for that ability (right answers to hard
items with wrong ones to easy items: pre-knowledge, a helper for part of the test).
Vectorised over candidates; items not presented (NaN) drop out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.irt.models import EPS, ItemParams

FloatArray = NDArray[np.float64]


def lz_star(params: ItemParams, responses: ArrayLike, theta: ArrayLike) -> FloatArray:
    """lz* of every row of ``responses`` (0/1/NaN, candidates x items of ``params``)."""
    x = np.asarray(responses, dtype=float)
    th = np.asarray(theta, dtype=float)
    shown = ~np.isnan(x)
    xs = np.where(shown, x, 0.0)
    da = params.D * params.a
    s = 1.0 / (1.0 + np.exp(-da[None, :] * (th[:, None] - params.b[None, :])))
    span = (params.d - params.c)[None, :]
    p = np.clip(params.c[None, :] + span * s, EPS, 1 - EPS)
    q = 1 - p
    dp = da[None, :] * span * s * (1 - s)
    w = np.log(p / q)
    r = dp / (p * q)
    m = shown * 1.0
    l0 = (m * (xs * np.log(p) + (1 - xs) * np.log(q))).sum(axis=1)
    expected = (m * (p * np.log(p) + q * np.log(q))).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c_n = (m * dp * w).sum(axis=1) / (m * dp * r).sum(axis=1)
        var = (m * (w - c_n[:, None] * r) ** 2 * p * q).sum(axis=1)
        return np.where(var > 0, (l0 - expected) / np.sqrt(var), np.nan)
