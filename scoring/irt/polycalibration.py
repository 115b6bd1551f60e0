"""Calibration of weighted items: Samejima's graded response model and Muraki's generalised
partial-credit model by marginal maximum likelihood (Bock-Aitkin EM), as for 0/1 items.

Responses are categories ``0..m_j`` (NaN = not presented). Each EM cycle:

- E-step: every examinee's posterior over the N(0, 1) quadrature points (which fixes the
  scale), and the expected number of examinees in each category of each item at each point,
  ``r_jkq``, by one matrix product of the one-hot responses with the posteriors.
- M-step: Fisher scoring of every item at once (batched solves), on
  ``Σ_q Σ_k r_jkq log P_jk(θ_q)`` with the gradient ``Σ r/P ∂P`` and the expected
  information ``Σ_q n_jq Σ_k ∂P ∂Pᵀ / P`` (for the GPCM ``∂P_k = P_k (g_k − ḡ)``, ``g_k`` the
  derivatives of ``Σ_{v≤k} a(θ − b_v)``; for the GRM the differences of the cumulative
  logistic curves' derivatives). Steps are capped at 0.5, slopes kept in [0.05, 10] and
  GRM thresholds increasing.

Items that cannot be calibrated (too few responses, fewer than two categories used, an
estimate at a bound: a reversed item) are left out and named, as for 0/1 items.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from scoring.irt.calibration import (
    A_BOUNDS,
    B_LIMIT,
    CalibrationError,
    FitReport,
    _quadrature,
    _round,
    accelerated_em,
    posterior,
    refit_skipping,
)
from scoring.irt.models import EPS, GPCM, GRM, FloatArray, ItemParams, polytomous_parts

PolyModel = Literal["grm", "gpcm"]


@dataclass(frozen=True, kw_only=True)
class PolyCalibrationResult(FitReport):
    model: PolyModel
    se_a: FloatArray

    def to_json(self) -> dict[str, Any]:
        doc = self.params.to_json()
        for i, row in enumerate(doc["items"]):
            row["se"] = {"a": _round(self.se_a[i])}
        doc["calibration"] = self.run_summary()
        return doc


def _check(x: FloatArray) -> FloatArray:
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise CalibrationError("need a matrix of at least 2 examinees and 1 item")
    seen = ~np.isnan(x)
    bad = seen & ((x < 0) | (x != np.round(x)) | (x > 7))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise CalibrationError(
            f"examinee {i + 1}, item {j + 1}: responses must be categories 0..7 or missing"
        )
    return x


def _screen(x: FloatArray, ids: tuple[str, ...], min_responses: int) -> dict[str, str]:
    skipped = {}
    for j, item_id in enumerate(ids):
        col = x[~np.isnan(x[:, j]), j]
        if len(col) < min_responses:
            skipped[item_id] = (
                f"answered by {len(col)} examinee(s), fewer than the minimum {min_responses}"
            )
        elif len(np.unique(col)) < 2:
            skipped[item_id] = f"every examinee answered in category {int(col[0])}: not estimable"
        elif col.max() > len(np.unique(col)) - 1 + col.min() or col.min() > 0:
            gaps = sorted(set(range(int(col.max()) + 1)) - set(col.astype(int).tolist()))
            skipped[item_id] = f"category(ies) {gaps} never used: not estimable"
    return skipped


def calibrate_polytomous(
    responses: ArrayLike,
    model: PolyModel = "gpcm",
    *,
    ids: tuple[str, ...] | None = None,
    points: int = 41,
    max_iter: int = 500,
    tol: float = 1e-4,
    min_responses: int = 20,
) -> PolyCalibrationResult:
    """Calibrate a matrix of categories 0..m (NaN = not presented), examinees x items."""
    if model not in ("grm", "gpcm"):
        raise CalibrationError(f"unknown model {model!r}; use grm or gpcm")
    x_all = _check(np.asarray(responses, dtype=float))
    ids = ids or tuple(f"item{j + 1}" for j in range(x_all.shape[1]))
    if len(ids) != x_all.shape[1]:
        raise CalibrationError(f"{len(ids)} ids for {x_all.shape[1]} items")

    def fit(keep: np.ndarray, kept: tuple[str, ...]) -> PolyCalibrationResult:
        return _run(x_all[:, keep], model, kept, points, max_iter, tol)

    def at_bound(result: PolyCalibrationResult) -> dict[str, str]:
        out = {}
        for j, item_id in enumerate(result.params.ids):
            a = result.params.a[j]
            thr = result.params.thresholds[j][~np.isnan(result.params.thresholds[j])]
            if a <= A_BOUNDS[0] * 1.01:
                out[item_id] = (
                    f"reversed or unrelated: slope at its lower bound {A_BOUNDS[0]}; check "
                    "the points of its options"
                )
            elif a >= A_BOUNDS[1] * 0.99 or np.any(np.abs(thr) > B_LIMIT):
                out[item_id] = "an estimate at its bound (slope 10 or |threshold| > 10)"
        return out

    result, skipped = refit_skipping(ids, _screen(x_all, ids, min_responses), fit, at_bound)
    return replace(result, skipped=skipped)


def _probs(theta, kind, a, thresholds) -> tuple[FloatArray, FloatArray]:
    """P (J, Q, K) and dP/d(a, b_1..b_m) (J, Q, K, 1 + m) of every item."""
    p, _ = polytomous_parts(theta, kind, a, thresholds)  # (Q, J, K)
    p = np.moveaxis(p, 0, 1)
    n_items, n_q, n_cat = p.shape
    m = n_cat - 1
    valid = ~np.isnan(thresholds)
    b = np.where(valid, thresholds, 0.0)
    t = theta[None, :, None]
    d = np.zeros((n_items, n_q, n_cat, 1 + m))
    if kind[0] == GPCM:
        # g_k = d/dparams of sum_{v <= k} a (theta - b_v): a-part and -a for each v <= k.
        steps = np.where(valid[:, None, :], t - b[:, None, :], 0.0)  # (J, Q, m)
        g = np.zeros((n_items, n_q, n_cat, 1 + m))
        g[:, :, 1:, 0] = np.cumsum(steps, axis=2)
        lower = np.tril(np.ones((m, m)))  # [k-1, v]: v <= k
        g[:, :, 1:, 1:] = -a[:, None, None, None] * lower[None, None] * valid[:, None, None, :]
        mean = np.einsum("jqk,jqkp->jqp", p, g)
        d = p[..., None] * (g - mean[:, :, None, :])
    else:
        z = a[:, None, None] * (t - b[:, None, :])
        star = np.where(valid[:, None, :], 1 / (1 + np.exp(-z)), 0.0)  # P(X >= k), (J, Q, m)
        w = star * (1 - star)
        dstar = np.zeros((n_items, n_q, m + 2, 1 + m))
        dstar[:, :, 1:-1, 0] = w * (t - b[:, None, :])
        idx = np.arange(m)
        dstar[:, :, 1 + idx, 1 + idx] = -a[:, None, None] * w
        d = dstar[:, :, :-1] - dstar[:, :, 1:]
    return np.maximum(p, EPS), d


def _run(x, model, ids, points, max_iter, tol) -> PolyCalibrationResult:
    n, n_items = x.shape
    seen = ~np.isnan(x)
    top = np.array([int(np.nanmax(x[:, j])) for j in range(n_items)])
    m = int(top.max())
    kind = np.full(n_items, GRM if model == "grm" else GPCM, dtype=np.int8)
    one_hot = np.zeros((n, n_items, m + 1))
    ii, jj = np.nonzero(seen)
    one_hot[ii, jj, x[ii, jj].astype(int)] = 1.0
    flat = one_hot.reshape(n, -1)
    theta, weights = _quadrature(points)
    log_w = np.log(weights)
    # Start values: a = 1; thresholds from the cumulative (GRM) or adjacent (GPCM) logits.
    counts = one_hot.sum(axis=0) + 0.5
    a = np.ones(n_items)
    thresholds = np.full((n_items, m), np.nan)
    for j in range(n_items):
        c = counts[j, : top[j] + 1]
        if model == "grm":
            above = np.cumsum(c[::-1])[::-1][1:] / c.sum()
            thresholds[j, : top[j]] = -np.log(above / (1 - above)) * 1.3
        else:
            thresholds[j, : top[j]] = np.log(c[:-1] / c[1:])
    valid = ~np.isnan(thresholds)
    pad = ~np.concatenate([np.ones((n_items, 1), bool), valid], axis=1)
    info = np.zeros((n_items, 1 + m, 1 + m))

    def unpack(phi: FloatArray) -> tuple[FloatArray, FloatArray]:
        t = np.full((n_items, m), np.nan)
        t[valid] = phi[n_items:]
        return phi[:n_items], t

    def pack(a: FloatArray, t: FloatArray) -> FloatArray:
        return np.concatenate([a, t[valid]])

    def em_cycle(phi: FloatArray) -> tuple[FloatArray, float, float]:
        nonlocal info
        a, thresholds = unpack(phi)
        p, d = _probs(theta, kind, a, thresholds)
        log_p = np.log(p).transpose(0, 2, 1).reshape(n_items * (m + 1), points)  # rows (j, k)
        log_l = flat @ log_p
        log_l += log_w
        post, ll = posterior(log_l)
        r = (flat.T @ post).reshape(n_items, m + 1, points).transpose(0, 2, 1)  # (J, Q, K)
        n_q = r.sum(axis=2)
        for newton in range(2):
            if newton:  # the first step starts where the E-step's P and dP were taken
                p, d = _probs(theta, kind, a, thresholds)
            # Sums over (point, category) as batched matrix products (einsum uses no BLAS).
            d_flat = d.reshape(n_items, points * (m + 1), 1 + m)
            grad = ((r / p).reshape(n_items, 1, -1) @ d_flat)[:, 0, :]
            weighted = d_flat * (n_q[:, :, None] / p).reshape(n_items, -1, 1)
            info = weighted.transpose(0, 2, 1) @ d_flat
            grad[pad] = 0.0
            info[:, np.arange(1 + m), np.arange(1 + m)] += pad * 1.0 + 1e-8
            step = np.clip(np.linalg.solve(info, grad[..., None])[..., 0], -0.5, 0.5)
            a, thresholds = unpack(project(pack(a + step[:, 0], thresholds + step[:, 1:])))
        return pack(a, thresholds), ll, ll

    def project(phi: FloatArray) -> FloatArray:
        a, t = unpack(phi)
        if model == "grm":
            # Keep thresholds increasing (a step can cross two of them).
            t = np.where(valid, t, np.inf)
            for v in range(1, m):
                t[:, v] = np.where(valid[:, v], np.maximum(t[:, v], t[:, v - 1] + 0.01), np.inf)
        return pack(np.clip(a, *A_BOUNDS), t)

    def moved(old: FloatArray, new: FloatArray) -> float:
        return float(np.max(np.abs(new - old)))

    def reversed_item(phi: FloatArray, iterations: int) -> bool:
        # A reversed item: the caller drops it and starts again without it.
        return iterations >= 25 and bool(np.any(phi[:n_items] <= A_BOUNDS[0] * 1.01))

    run = accelerated_em(em_cycle, pack(a, thresholds), change=moved, project=project,
                         tol=tol, max_iter=max_iter, give_up=reversed_item)
    a, thresholds = unpack(run.params)
    history, iterations, converged, change = (run.history, run.iterations, run.converged,
                                              run.change)
    se_a = np.sqrt(np.maximum(np.linalg.inv(info)[:, 0, 0], 0.0))
    b_mean = np.array([np.mean(t[~np.isnan(t)]) for t in thresholds])
    params = ItemParams(ids=ids, a=a, b=b_mean, c=np.zeros(n_items), d=np.ones(n_items),
                        kind=kind, thresholds=thresholds)
    return PolyCalibrationResult(model=model, params=params, se_a=se_a, iterations=iterations,
                                 converged=converged, log_likelihood=history,
                                 max_change=change, n_examinees=n)


def simulate_polytomous(params: ItemParams, thetas: ArrayLike, *, seed: int = 0) -> FloatArray:
    """Categories (examinees x items) drawn from the items' category probabilities."""
    rng = np.random.default_rng(seed)
    p = params.category_probs(np.asarray(thetas, dtype=float))  # (N, J, K)
    cum = np.cumsum(p, axis=2)
    u = rng.random((*p.shape[:2], 1))
    return np.minimum((u > cum).sum(axis=2), params.n_categories[None, :] - 1).astype(float)
