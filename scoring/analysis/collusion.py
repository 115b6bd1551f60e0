"""Answer-copying signals between pairs of candidates: identical wrong answers vs chance.

For a pair (u, v) and an item both answered wrongly, the chance that they chose the same
wrong option independently is ``q_j = sum_d (n_jd / n_j,wrong)^2`` over the item's
distractors d (their popularity among all who got it wrong). The count of identical wrong
answers is then a sum of independent Bernoulli(q_j), whose mean and variance give a z score
(the normal approximation to the Poisson-binomial; in the spirit of Holland's K index and
Wollack's 1997 omega, both of which condition on the pair's wrong answers). All pairs are
scored at once with matrix products of one-hot encodings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairSignal:
    first: str
    second: str
    identical_wrong: int
    expected: float
    z: float


def identical_wrong_answers(
    choices: Sequence[Sequence[str]],
    key: Sequence[str],
    examinees: Sequence[str],
    *,
    z_threshold: float = 4.0,
) -> list[PairSignal]:
    """Pairs whose identical wrong answers exceed chance by ``z_threshold`` SDs, worst first.

    A threshold near 4 keeps false alarms rare across the ~n²/2 pairs of a large session.
    """
    picks = np.asarray(choices, dtype=object)
    n, k = picks.shape
    key_arr = np.asarray(key, dtype=object)
    wrong = (picks != "") & (picks != key_arr[None, :])
    labels = sorted({str(v) for v in picks.ravel() if v != ""})
    # One-hot of the wrong choices: (examinees, items * labels).
    one_hot = np.zeros((n, k, len(labels)))
    for li, label in enumerate(labels):
        one_hot[:, :, li] = wrong & (picks == label)
    per_label = one_hot.sum(axis=0)
    n_wrong = np.maximum(per_label.sum(axis=1), 1)
    q = ((per_label / n_wrong[:, None]) ** 2).sum(axis=1)
    flat = one_hot.reshape(n, -1)
    observed = flat @ flat.T
    w = wrong.astype(float)
    expected = (w * q) @ w.T
    variance = (w * q * (1 - q)) @ w.T
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, (observed - expected) / np.sqrt(variance), 0.0)
    iu, ju = np.triu_indices(n, k=1)
    hits = np.flatnonzero(z[iu, ju] >= z_threshold)
    signals = [
        PairSignal(
            examinees[iu[h]],
            examinees[ju[h]],
            int(observed[iu[h], ju[h]]),
            float(expected[iu[h], ju[h]]),
            float(z[iu[h], ju[h]]),
        )
        for h in hits
    ]
    return sorted(signals, key=lambda s: -s.z)
