"""Linking a new calibration to the bank's scale through anchor items (Kolen & Brennan 2014,
ch. 6): find ``θ_old = A θ_new + B`` and carry every new item over, ``a* = a / A``,
``b* = A b + B`` (thresholds alike, c and d unchanged).

- **Stocking-Lord** (1983): (A, B) minimise the squared difference of the anchors' test
  characteristic curves, old against carried-over new, over N(0, 1) quadrature points.
- **Haebara** (1980): the same, summed item by item and category by category.
- **Mean-sigma** (Marco 1977): ``A = sd(b_old) / sd(b_new)``, ``B = mean(b_old) − A
  mean(b_new)`` over the anchors' difficulties (all thresholds of weighted anchors); the start
  of the two above, and their fallback when their optimisation fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, stats

from scoring.irt.models import DICHOTOMOUS, FloatArray, ItemParams

Method = Literal["stocking-lord", "haebara", "mean-sigma"]


@dataclass(frozen=True)
class Link:
    method: str
    A: float
    B: float
    anchors: int


def transform(params: ItemParams, A: float, B: float) -> ItemParams:
    """``params`` carried to the scale where ``θ_old = A θ_new + B``."""
    return ItemParams(
        ids=params.ids, a=params.a / A, b=A * params.b + B, c=params.c, d=params.d, D=params.D,
        topics=params.topics, topic_names=params.topic_names, enemies=params.enemies,
        kind=params.kind, thresholds=A * params.thresholds + B,
    )


def _locations(params: ItemParams) -> FloatArray:
    out = [params.b[i] if params.kind[i] == DICHOTOMOUS
           else params.thresholds[i][~np.isnan(params.thresholds[i])] for i in range(len(params))]
    return np.concatenate([np.atleast_1d(x) for x in out])


def mean_sigma(old: ItemParams, new: ItemParams) -> tuple[float, float]:
    b_old, b_new = _locations(old), _locations(new)
    sd_new = float(np.std(b_new))
    A = float(np.std(b_old) / sd_new) if sd_new > 0 else 1.0
    return A, float(np.mean(b_old) - A * np.mean(b_new))


def link(old: ItemParams, new: ItemParams, method: Method = "stocking-lord") -> Link:
    """(A, B) from anchors: ``old`` and ``new`` hold the same items in the same order."""
    if len(old) != len(new) or old.ids != new.ids:
        raise ValueError("old and new anchor parameters must list the same items")
    if len(old) < 2:
        raise ValueError(f"{len(old)} anchor item(s): linking needs at least 2")
    start = mean_sigma(old, new)
    if method == "mean-sigma":
        return Link("mean-sigma", *start, len(old))
    theta = np.linspace(-4, 4, 41)
    w = stats.norm.pdf(theta)
    w /= w.sum()
    target_tcc = old.expected_score(theta).sum(axis=1)
    target_cat = old.category_probs(theta)

    def loss(x: FloatArray) -> float:
        if x[0] <= 0.01:
            return 1e10
        moved = transform(new, x[0], x[1])
        if method == "stocking-lord":
            return float(w @ (target_tcc - moved.expected_score(theta).sum(axis=1)) ** 2)
        diff = target_cat - moved.category_probs(theta)
        return float(w @ (diff**2).sum(axis=(1, 2)))

    found = optimize.minimize(loss, np.array(start), method="Nelder-Mead",
                              options={"xatol": 1e-6, "fatol": 1e-12, "maxiter": 2000})
    if not found.success or not np.all(np.isfinite(found.x)) or found.x[0] <= 0.01:
        return Link("mean-sigma (fallback)", *start, len(old))
    return Link(method, float(found.x[0]), float(found.x[1]), len(old))
