"""Differential item functioning: the Mantel-Haenszel procedure (Holland & Thayer 1988) with
the ETS A/B/C categories (Zieky 1993).

For an item, examinees of the reference and the focal group are matched on ability strata;
in stratum k, ``A_k``/``B_k`` are the reference group's right/wrong counts and ``C_k``/``D_k``
the focal group's. ``α_MH = Σ A_k D_k / N_k / Σ B_k C_k / N_k`` is the common odds ratio and
``Δ_MH = −2.35 ln α_MH`` its ETS delta (negative: the item favours the reference group). The
continuity-corrected ``χ²_MH = (|Σ A_k − Σ E[A_k]| − 0.5)² / Σ Var(A_k)`` tests α = 1.
Categories: **C** when |Δ| >= 1.5 and χ² is significant at 5%, **B** when |Δ| >= 1 and
significant, **A** otherwise (the rule's "significantly greater than 1" part for C is
simplified to the χ² test). Strata: the examinee's proportion right on the items shown, in
ten groups (with randomized forms, the total score of different forms is not comparable; the
proportion right is the matching variable that needs no calibration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


@dataclass(frozen=True)
class DIFResult:
    item_id: str
    reference: int
    focal: int
    delta: float
    chi2: float
    p_value: float
    category: str


def mantel_haenszel(
    scores: ArrayLike, item_ids: Sequence[str], group: Sequence[str], reference: str, focal: str,
    *, strata: int = 10,
) -> list[DIFResult]:
    """MH DIF of every item (0/1, NaN = not shown) between two groups."""
    x = np.asarray(scores, dtype=float)
    g = np.asarray(group, dtype=object)
    shown = ~np.isnan(x)
    with np.errstate(invalid="ignore"):
        prop = np.where(shown, x, 0).sum(axis=1) / np.maximum(shown.sum(axis=1), 1)
    edges = np.quantile(prop, np.linspace(0, 1, strata + 1)[1:-1])
    stratum = np.searchsorted(edges, prop, side="right")
    ref, foc = g == reference, g == focal
    out = []
    for j, item_id in enumerate(item_ids):
        num = den = sum_a = sum_e = sum_v = 0.0
        for k in range(strata):
            r = ref & (stratum == k) & shown[:, j]
            f = foc & (stratum == k) & shown[:, j]
            a, b = float(x[r, j].sum()), float(r.sum() - x[r, j].sum())
            c, d = float(x[f, j].sum()), float(f.sum() - x[f, j].sum())
            n = a + b + c + d
            if n < 2 or (a + b) == 0 or (c + d) == 0:
                continue
            num += a * d / n
            den += b * c / n
            m1, m0 = a + c, b + d
            sum_a += a
            sum_e += (a + b) * m1 / n
            sum_v += (a + b) * (c + d) * m1 * m0 / (n * n * (n - 1))
        if num > 0 and den > 0 and sum_v > 0:
            delta = float(-2.35 * np.log(num / den))
            chi2 = float((abs(sum_a - sum_e) - 0.5) ** 2 / sum_v)
            p = float(stats.chi2.sf(chi2, 1))
        else:
            delta, chi2, p = float("nan"), float("nan"), float("nan")
        significant = p < 0.05
        category = ("C" if significant and abs(delta) >= 1.5 else
                    "B" if significant and abs(delta) >= 1.0 else "A")
        out.append(DIFResult(item_id, int((ref & shown[:, j]).sum()),
                             int((foc & shown[:, j]).sum()), delta, chi2, p, category))
    return out
