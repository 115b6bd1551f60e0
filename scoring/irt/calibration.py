"""Item calibration by marginal maximum likelihood: Bock & Aitkin's (1981) EM algorithm.

Abilities are integrated out over a fixed quadrature of the N(0, 1) population distribution
(which also fixes the scale). Each EM cycle:

- E-step: every examinee's posterior over the quadrature points, from which the expected
  number of examinees ``n_jq`` who saw item j at point q and of correct answers ``r_jq``.
- M-step: each item's parameters maximise ``sum_q r log P + (n - r) log(1 - P)`` plus the
  log prior, by Fisher scoring, for all items at once (batched 2x2 / 3x3 solves).

Items use the slope-intercept form ``z = a theta + g`` internally (better conditioned than
``a (theta - b)``) and are reported as ``b = -g / a``. The 3PL's guessing parameter is
estimated as ``logit c`` with a Beta prior on c and a log-normal prior on a (as BILOG-MG
does): without them 3PL estimates drift for easy items (Mislevy 1986).

Standard errors come from the cross-product of the examinees' score vectors (the XPD
information of Mislevy & Bock), inverted jointly for all items, then carried to (a, b, c) by
the delta method. Fit: the item RMSD between the posterior-expected and model proportions
correct at the quadrature points (as in PISA), and Yen's (1981) Q1 chi-square over ten
ability groups. Missing cells (items not presented) simply drop out of every sum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.special import expit

from scoring.irt.models import EPS, FloatArray, ItemParams

Model = Literal["1pl", "2pl", "3pl"]


@dataclass(frozen=True)
class Priors:
    """Priors of the M-step. ``a_sd`` None: no prior on a (1PL/2PL default)."""

    a_mean_log: float = 0.0
    a_sd_log: float | None = None
    c_alpha: float = 5.0
    c_beta: float = 17.0

    @classmethod
    def for_model(cls, model: Model) -> Priors:
        # Beta(5, 17) has its mode at 0.2, one chance in five options; log a ~ N(0, 0.5^2).
        return cls(a_sd_log=0.5) if model == "3pl" else cls()


@dataclass(frozen=True, kw_only=True)
class FitReport:
    """What an EM calibration of any model reports beside its own statistics."""

    model: str
    params: ItemParams
    iterations: int
    converged: bool
    log_likelihood: list[float] = field(repr=False)
    max_change: float = 0.0
    n_examinees: int = 0
    #: Items left out, id -> why (too few responses, no variance, estimate at a bound).
    skipped: dict[str, str] = field(default_factory=dict)

    def run_summary(self) -> dict[str, Any]:
        """The ``calibration`` block of a parameters file: how the run went."""
        return {
            "method": "marginal maximum likelihood (Bock-Aitkin EM)",
            "model": self.model,
            "metric": "logistic, D = 1",
            "examinees": self.n_examinees,
            "iterations": self.iterations,
            "converged": self.converged,
            "max_parameter_change": _round(self.max_change),
            "log_likelihood": (_round(self.log_likelihood[-1]) if self.log_likelihood
                               else None),
            "skipped": [{"id": k, "reason": v} for k, v in self.skipped.items()],
        }


@dataclass(frozen=True, kw_only=True)
class CalibrationResult(FitReport):
    model: Model
    se: dict[str, FloatArray]
    rmsd: FloatArray
    q1: FloatArray
    q1_df: int
    q1_p: FloatArray
    #: Orlando & Thissen's S-X2 (statistic, df, p) per item; NaN for a sparse design.
    sx2: tuple[FloatArray, FloatArray, FloatArray] | None = None

    def to_json(self) -> dict[str, Any]:
        """PARAMS.json with per-item standard errors and fit, and a convergence report."""
        doc = self.params.to_json()
        for i, row in enumerate(doc["items"]):
            row["se"] = {k: _round(v[i]) for k, v in self.se.items()}
            row["fit"] = {
                "rmsd": _round(self.rmsd[i]),
                "q1": _round(self.q1[i]),
                "df": self.q1_df,
                "p": _round(self.q1_p[i]),
            }
            if self.sx2 is not None and np.isfinite(self.sx2[0][i]):
                row["fit"]["s_x2"] = _round(self.sx2[0][i])
                row["fit"]["s_x2_df"] = int(self.sx2[1][i])
                row["fit"]["s_x2_p"] = _round(self.sx2[2][i])
        doc["calibration"] = self.run_summary()
        return doc


def _round(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)


class CalibrationError(ValueError):
    """The response matrix cannot be calibrated; the message says why and where."""


def _quadrature(points: int) -> tuple[FloatArray, FloatArray]:
    theta = np.linspace(-5.0, 5.0, points)
    w = stats.norm.pdf(theta)
    return theta, w / w.sum()


def _check(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise CalibrationError("need a matrix of at least 2 examinees and 1 item")
    seen = ~np.isnan(x)
    bad = seen & (x != 0) & (x != 1)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise CalibrationError(f"examinee {i + 1}, item {j + 1}: responses must be 0, 1 or missing")
    return np.nan_to_num(x), seen.astype(float)


def screen_items(
    x: FloatArray, m: FloatArray, ids: tuple[str, ...], min_responses: int
) -> dict[str, str]:
    """Items that cannot be calibrated, each with the reason: too few responses, or none
    varying (all right or all wrong: the likelihood has no finite maximum)."""
    skipped: dict[str, str] = {}
    count = m.sum(axis=0)
    right = (x * m).sum(axis=0)
    for j, item_id in enumerate(ids):
        if count[j] < min_responses:
            skipped[item_id] = (
                f"answered by {int(count[j])} examinee(s), fewer than the minimum {min_responses}"
            )
        elif right[j] in (0, count[j]):
            what = "correctly" if right[j] else "wrongly"
            skipped[item_id] = f"every examinee answered it {what}: not estimable"
    return skipped


#: Slope bounds of the M-step, and the difficulty range the parameter loader accepts.
A_BOUNDS = (0.05, 10.0)
C_BOUNDS = (1e-4, 0.6)
B_LIMIT = 10.0


def bound_reason(a: float, b: float, item_rest: float) -> str | None:
    """Why an item's estimate is no real estimate (it ran to a bound), or None."""
    if a <= A_BOUNDS[0] * 1.01:
        where = f"slope at its lower bound {A_BOUNDS[0]}"
    elif a >= A_BOUNDS[1] * 0.99:
        where = f"slope at its upper bound {A_BOUNDS[1]:g}"
    elif not -B_LIMIT <= b <= B_LIMIT:
        where = f"difficulty b = {b:.1f} outside [-{B_LIMIT:g}, {B_LIMIT:g}]"
    else:
        return None
    if np.isfinite(item_rest) and item_rest < -0.05:
        # A reversed item: a mis-keyed option, or a question worded the other way round.
        return (
            f"reversed: scored against the rest of the test (item-rest r = {item_rest:.2f}; "
            f"its estimate ran to a bound: {where}); check its key"
        )
    return (
        f"not estimable: {where} (item-rest r = {item_rest:.2f}); it does not measure what "
        "the other items measure, check its key and wording"
    )


Fitted = TypeVar("Fitted", bound=Any)


def refit_skipping(
    ids: tuple[str, ...],
    skipped: dict[str, str],
    fit: Callable[[NDArray[np.bool_], tuple[str, ...]], Fitted],
    at_bound: Callable[[Fitted], dict[str, str]],
    rounds: int = 5,
) -> tuple[Fitted, dict[str, str]]:
    """Fit the items not in ``skipped``, leave out those whose estimate ran to a bound and fit
    the rest again, until no estimate is at a bound (any model's calibration).

    ``fit(keep, kept_ids)`` fits the items where the mask ``keep`` is true; ``at_bound(result)``
    names the fitted items whose estimate is at a bound, with the reason. Dropping an item
    moves the others, so a new one can reach a bound: after ``rounds`` such rounds the rest is
    fitted once more and, if an estimate is still at a bound, the run is reported as not
    converged (a cascade that did not settle is no converged calibration, and those items stay
    in the fit for the caller to show). Returns the last fit and every item left out.
    """
    skipped = dict(skipped)
    for round_ in range(rounds + 1):
        keep = np.array([i not in skipped for i in ids])
        if not keep.any():
            raise CalibrationError(
                "no item can be calibrated: "
                + "; ".join(f"{item_id}: {why}" for item_id, why in skipped.items())
            )
        result = fit(keep, tuple(i for i, k in zip(ids, keep, strict=True) if k))
        bound = at_bound(result)
        if not bound:
            return result, skipped
        if round_ < rounds:
            skipped.update(bound)
    return replace(result, converged=False), skipped


@dataclass(frozen=True)
class EMRun:
    """Where an EM run ended: the parameter vector, the log-likelihood at every E-step taken
    on the path (never falling), the EM cycles run, and the last plain cycle's change."""

    params: FloatArray
    history: list[float]
    iterations: int
    converged: bool
    change: float


def accelerated_em(
    em_cycle: Callable[[FloatArray], tuple[FloatArray, float, float]],
    start: FloatArray,
    *,
    change: Callable[[FloatArray, FloatArray], float],
    project: Callable[[FloatArray], FloatArray],
    tol: float,
    max_iter: int,
    give_up: Callable[[FloatArray, int], bool] | None = None,
) -> EMRun:
    """EM cycles accelerated by SQUAREM (Varadhan & Roland 2008, scheme S3), for any model.

    ``em_cycle(phi)`` runs one E-step at ``phi`` and its M-step: (next phi, log-likelihood at
    phi, the objective the M-step maximises at phi: the log-likelihood plus any log prior).
    EM creeps along a ridge at a linear rate; after two plain cycles phi -> phi1 -> phi2
    SQUAREM jumps to ``phi - 2 alpha r + alpha^2 v`` (r = phi1 - phi, v = phi2 - 2 phi1 + phi,
    alpha = -|r| / |v|) and takes one EM cycle from there. The jump is kept only if its
    objective is at least phi1's, else the run goes on from phi2 (plain EM): the objective
    never falls. ``project`` puts a jump back inside the parameter bounds.
    Convergence is the caller's ``change`` between the two ends of a plain cycle below
    ``tol``, as for unaccelerated EM, so a converged run ends where EM would stop.
    """
    history: list[float] = []
    iterations, delta = 0, np.inf

    def cycle(phi: FloatArray) -> tuple[FloatArray, float, float]:
        nonlocal iterations, delta
        new, ll, objective = em_cycle(phi)
        iterations += 1
        delta = change(phi, new)
        return new, ll, objective

    def stop(phi: FloatArray) -> bool:
        return iterations >= max_iter or (give_up is not None and give_up(phi, iterations))

    phi, step_max = start, 1.0
    while iterations < max_iter:
        path, objective1 = [phi], -np.inf
        for _ in range(2):  # two plain EM cycles: phi -> phi1 -> phi2
            after, ll, objective1 = cycle(path[-1])
            history.append(ll)
            path.append(after)
            if delta < tol:
                return EMRun(after, history, iterations, True, delta)
            if stop(after):
                return EMRun(after, history, iterations, False, delta)
        _, phi1, phi2 = path
        r = phi1 - phi
        v = phi2 - phi1 - r
        alpha = min(-np.sqrt((r @ r) / (v @ v)), -1.0) if v @ v > 0 else -1.0
        # The step grows by 4x at most per jump (Varadhan & Roland's step.max), so that an
        # early jump, from far off, cannot land far off.
        capped = alpha <= -step_max
        alpha = max(alpha, -step_max)
        start_of_jump, phi = phi, phi2
        if alpha < -1.0:  # alpha = -1 is phi2 itself
            last = delta
            jump = project(start_of_jump - 2 * alpha * r + alpha**2 * v)
            after_jump, ll_jump, objective = cycle(jump)
            if np.isfinite(objective) and objective >= objective1:
                history.append(ll_jump)
                phi = after_jump
                step_max *= 4 if capped else 1
                if delta < tol:  # a plain EM cycle (from the jump) that moved less than tol
                    return EMRun(phi, history, iterations, True, delta)
            else:
                delta = last
                step_max = max(1.0, step_max / 4)
        elif capped:
            step_max *= 4
    return EMRun(phi, history, iterations, False, delta)


def calibrate(
    responses: ArrayLike,
    model: Model = "2pl",
    *,
    ids: tuple[str, ...] | None = None,
    priors: Priors | None = None,
    points: int = 41,
    max_iter: int = 500,
    tol: float = 1e-4,
    min_responses: int = 20,
) -> CalibrationResult:
    """Calibrate a 0/1 response matrix (NaN = not presented), examinees x items.

    Items that cannot be calibrated are left out and named in ``result.skipped`` with the
    reason: fewer than ``min_responses`` responses, no variance, or an estimate that ends at a
    bound (a reversed or mis-keyed item drives its slope to the lower bound); the others are
    then calibrated again without them, so no estimate at a bound is reported as converged.
    """
    if model not in ("1pl", "2pl", "3pl"):
        raise CalibrationError(f"unknown model {model!r}; use 1pl, 2pl or 3pl")
    x_all, m_all = _check(np.asarray(responses, dtype=float))
    ids = ids or tuple(f"item{j + 1}" for j in range(x_all.shape[1]))
    if len(ids) != x_all.shape[1]:
        raise CalibrationError(f"{len(ids)} ids for {x_all.shape[1]} items")
    from scoring.analysis.items import corrected_point_biserial

    item_rest = dict(
        zip(ids, corrected_point_biserial(np.where(m_all > 0, x_all, np.nan)), strict=True)
    )

    def fit(keep: NDArray[np.bool_], kept_ids: tuple[str, ...]) -> CalibrationResult:
        return _calibrate(
            x_all[:, keep], m_all[:, keep], model, kept_ids,
            priors or Priors.for_model(model), points, max_iter, tol,
        )

    def at_bound(result: CalibrationResult) -> dict[str, str]:
        reasons = {
            item_id: bound_reason(result.params.a[j], result.params.b[j], item_rest[item_id])
            for j, item_id in enumerate(result.params.ids)
        }
        return {k: v for k, v in reasons.items() if v}

    result, skipped = refit_skipping(
        ids, screen_items(x_all, m_all, ids, min_responses), fit, at_bound
    )
    keep = np.array([i not in skipped for i in ids])
    if m_all[:, keep].all():
        from scoring.irt.itemfit import s_x2

        n_params = {"1pl": 1, "2pl": 2, "3pl": 3}[model]
        result = replace(result, sx2=s_x2(result.params, x_all[:, keep], n_params=n_params))
    return replace(result, skipped=skipped)


def _calibrate(x, m, model, ids, priors, points, max_iter, tol) -> CalibrationResult:
    n_items = x.shape[1]
    theta, weights = _quadrature(points)
    log_w = np.log(weights)

    # Start values from classical statistics (Lord 1980, ch. 2): the proportion correct gives
    # the intercept; a = 1 is a safe start for the slope.
    p_plus = np.clip((x * m).sum(0) / m.sum(0), 0.02, 0.98)
    a = np.ones(n_items)
    g = np.log(p_plus / (1 - p_plus)) * 1.3
    c = np.full(n_items, 0.15 if model == "3pl" else 0.0)

    three = model == "3pl"

    def unpack(phi: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        c_now = expit(phi[2 * n_items :]) if three else c
        return phi[:n_items], phi[n_items : 2 * n_items], c_now

    def pack(a: FloatArray, g: FloatArray, c: FloatArray) -> FloatArray:
        return np.concatenate([a, g, np.log(c / (1 - c))] if three else [a, g])

    def em_cycle(phi: FloatArray) -> tuple[FloatArray, float]:
        a, g, c = unpack(phi)
        post, ll = _e_step(x, m, theta, log_w, a, g, c)
        new = pack(*_m_step(model, priors, theta, m.T @ post, x.T @ post, a, g, c))
        return new, ll, ll + _log_prior(priors, model, a, c)

    def moved(old: FloatArray, new: FloatArray) -> float:
        (a0, g0, c0), (a1, g1, c1) = unpack(old), unpack(new)
        return float(max(np.max(np.abs(a1 - a0)), np.max(np.abs(g1 / a1 - g0 / a0)),
                         np.max(np.abs(c1 - c0))))

    def project(phi: FloatArray) -> FloatArray:
        a, g, c = unpack(phi)
        return pack(np.clip(a, *A_BOUNDS), g, np.clip(c, *C_BOUNDS))

    run = accelerated_em(em_cycle, pack(a, g, c), change=moved, project=project, tol=tol,
                         max_iter=max_iter)
    a, g, c = unpack(run.params)
    history, iterations, converged, change = (run.history, run.iterations, run.converged,
                                              run.change)

    post, ll = _e_step(x, m, theta, log_w, a, g, c)
    history.append(ll)
    se_a, se_g, se_c, cov_ok = _standard_errors(model, priors, x, m, theta, post, a, g, c)
    b = -g / a
    # Delta method for b = -g / a: db/da = g / a^2, db/dg = -1 / a.
    se = {"a": se_a, "b": np.sqrt(se_g[1]), "c": se_c}
    if not cov_ok:
        se = {k: np.full(n_items, np.nan) for k in se}
    rmsd = _rmsd(theta, m.T @ post, x.T @ post, a, g, c)
    q1, q1_df, q1_p = _yen_q1(model, x, m, theta, post, a, g, c)
    params = ItemParams(ids=ids, a=a, b=b, c=c, d=np.ones(n_items))
    return CalibrationResult(
        model=model,
        params=params,
        se=se,
        rmsd=rmsd,
        q1=q1,
        q1_df=q1_df,
        q1_p=q1_p,
        iterations=iterations,
        converged=converged,
        log_likelihood=history,
        max_change=change,
        n_examinees=x.shape[0],
    )


def _probs(theta: FloatArray, a: FloatArray, g: FloatArray, c: FloatArray) -> FloatArray:
    """P of every item (rows) at every quadrature point (columns)."""
    s = expit(a[:, None] * theta[None, :] + g[:, None])
    return np.clip(c[:, None] + (1 - c[:, None]) * s, EPS, 1 - EPS)


def posterior(log_l: FloatArray) -> tuple[FloatArray, float]:
    """Each row's posterior over the quadrature points from its log joint likelihood
    (examinees x points), and the summed marginal log-likelihood. One exp per cell: scipy's
    logsumexp followed by exp(log_l - marginal) took two, and half the E-step's time."""
    top = log_l.max(axis=1, keepdims=True)
    post = np.exp(log_l - top)
    total = post.sum(axis=1, keepdims=True)
    post /= total
    return post, float(np.log(total).sum() + top.sum())


def _e_step(x, m, theta, log_w, a, g, c) -> tuple[FloatArray, float]:
    p = _probs(theta, a, g, c)
    log_q = np.log1p(-p)
    # x log p + (m - x) log q = x (log p - log q) + m log q: two products instead of three.
    log_l = x @ (np.log(p) - log_q) + m @ log_q
    log_l += log_w
    return posterior(log_l)


def _derivatives(theta, a, g, c, model):
    """P and dP/d(parameters) at the quadrature points: arrays (items, points[, params])."""
    s = expit(a[:, None] * theta[None, :] + g[:, None])
    p = np.clip(c[:, None] + (1 - c[:, None]) * s, EPS, 1 - EPS)
    ds = (1 - c[:, None]) * s * (1 - s)
    cols = [ds * theta[None, :], ds]
    if model == "3pl":
        cols.append((c * (1 - c))[:, None] * (1 - s))
    return p, np.stack(cols, axis=-1)


def _log_prior(priors: Priors, model: Model, a: FloatArray, c: FloatArray) -> float:
    """The log prior that the M-step's gradient terms come from (a on the log scale, c on
    the logit scale, up to constants)."""
    total = 0.0
    if priors.a_sd_log is not None and model != "1pl":
        log_a = np.log(a)
        total -= float(np.sum(log_a + (log_a - priors.a_mean_log) ** 2 / (2 * priors.a_sd_log**2)))
    if model == "3pl":
        al, be = priors.c_alpha - 1, priors.c_beta - 1
        total += float(np.sum(al * np.log(c) + be * np.log1p(-c)))
    return total


def _m_step(model, priors, theta, n_jq, r_jq, a, g, c, steps: int = 2):
    a, g, c = a.copy(), g.copy(), c.copy()
    for _ in range(steps):
        p, dp = _derivatives(theta, a, g, c, model)
        resid = (r_jq - n_jq * p) / (p * (1 - p))
        # Batched matrix products: einsum over three operands does not use BLAS.
        dp_t = dp.transpose(0, 2, 1)  # (J, K, Q)
        grad = (dp_t @ resid[..., None])[..., 0]
        info = (dp_t * (n_jq / (p * (1 - p)))[:, None, :]) @ dp
        if priors.a_sd_log is not None:
            var = priors.a_sd_log**2
            grad[:, 0] += -1 / a - (np.log(a) - priors.a_mean_log) / (var * a)
            info[:, 0, 0] += 1 / (var * a * a)
        if model == "3pl":
            al, be = priors.c_alpha - 1, priors.c_beta - 1
            grad[:, 2] += al * (1 - c) - be * c
            info[:, 2, 2] += (al + be) * c * (1 - c)
        if model == "1pl":
            # One common slope: intercepts item by item, then the slope from the summed terms.
            step_g = grad[:, 1] / np.maximum(info[:, 1, 1], 1e-9)
            step_a = grad[:, 0].sum() / max(info[:, 0, 0].sum(), 1e-9)
            g = g + np.clip(step_g, -1, 1)
            a = np.full_like(a, np.clip(a[0] + np.clip(step_a, -0.5, 0.5), *A_BOUNDS))
            continue
        k = info.shape[-1]
        info += 1e-8 * np.eye(k)
        step = np.linalg.solve(info, grad[..., None])[..., 0]
        step = np.clip(step, -1.0, 1.0)
        a = np.clip(a + step[:, 0], *A_BOUNDS)
        g = g + step[:, 1]
        if model == "3pl":
            gamma = np.log(c / (1 - c)) + step[:, 2]
            c = np.clip(expit(gamma), *C_BOUNDS)
    return a, g, c


def _standard_errors(model, priors, x, m, theta, post, a, g, c):
    """XPD information of (a, g[, logit c]) for all items jointly; returns SEs of a, (g, b), c."""
    n_items = x.shape[1]
    p, dp = _derivatives(theta, a, g, c, model)  # (J, Q), (J, Q, K)
    # Per-examinee score of each item parameter: sum_q post_iq m_ij (x_ij - P_jq) dP/(PQ).
    w = dp / (p * (1 - p))[..., None]  # (J, Q, K)
    n, (n_q, k) = x.shape[0], dp.shape[1:]

    def over_posterior(t: FloatArray) -> FloatArray:  # (J, Q, K) -> (N, J, K) by one matmul
        return (post @ t.transpose(1, 0, 2).reshape(n_q, n_items * k)).reshape(n, n_items, k)

    expected = over_posterior(w)
    weighted = over_posterior(p[..., None] * w)
    scores = (x[..., None] * expected - weighted) * m[..., None]  # (N, J, K)
    if model == "1pl":
        s = np.concatenate([scores[:, :, 0].sum(1, keepdims=True), scores[:, :, 1]], axis=1)
    else:
        s = scores.reshape(x.shape[0], n_items * k)
    info = s.T @ s
    prior_diag = np.zeros(info.shape[0])
    if model != "1pl" and priors.a_sd_log is not None:
        prior_diag[0::k] = 1 / (priors.a_sd_log**2 * a * a)
    if model == "3pl":
        prior_diag[2::k] = (priors.c_alpha + priors.c_beta - 2) * c * (1 - c)
    info[np.diag_indices_from(info)] += prior_diag
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        nan = np.full(n_items, np.nan)
        return nan, (nan, nan), nan, False
    if model == "1pl":
        var_a = np.full(n_items, cov[0, 0])
        var_g = np.diag(cov)[1:]
        cov_ag = cov[0, 1:]
    else:
        diag = np.diag(cov)
        var_a, var_g = diag[0::k], diag[1::k]
        cov_ag = cov[np.arange(0, n_items * k, k), np.arange(1, n_items * k, k)]
    var_b = (g / a**2) ** 2 * var_a + (1 / a) ** 2 * var_g - 2 * (g / a**2) / a * cov_ag
    se_c = np.zeros(n_items)
    if model == "3pl":
        # c = expit(gamma): dc/dgamma = c (1 - c).
        se_c = np.sqrt(np.clip(np.diag(cov)[2::k], 0, None)) * c * (1 - c)
    ok = bool(np.all(np.isfinite(var_b)) and np.all(var_a > 0))
    return np.sqrt(np.clip(var_a, 0, None)), (var_g, np.clip(var_b, 0, None)), se_c, ok


def _rmsd(theta, n_jq, r_jq, a, g, c) -> FloatArray:
    p = _probs(theta, a, g, c)
    f = n_jq / n_jq.sum(1, keepdims=True)
    observed = r_jq / np.maximum(n_jq, 1e-12)
    return np.sqrt(np.sum(f * (observed - p) ** 2, axis=1))


def _yen_q1(model, x, m, theta, post, a, g, c, groups: int = 10):
    """Yen's (1981) Q1 chi-square, computed on rest scores.

    For item j, examinees are ordered by their EAP from the *other* items and put in
    ``groups`` groups; a group's expected proportion correct is the mean of each member's
    posterior expectation of P_j given the other items. Leaving the item out of its own
    grouping and expectation is what keeps Q1 from rejecting well-fitting items in short
    tests (the point of Orlando & Thissen's 2000 S-X2); under the model,
    E[x_ij | other answers] is exactly that expectation.
    """
    p = _probs(theta, a, g, c)  # (J, Q)
    df = groups - {"1pl": 1, "2pl": 2, "3pl": 3}[model]
    # Dividing out item j's own factor P or Q from the posterior is a product of ``post``
    # with 1/P or 1/Q: every item's rest-posterior sums at once, by five matrix products.
    inv_p, inv_q = 1 / p, 1 / (1 - p)
    right, seen = (x > 0) & (m > 0), m > 0
    total = np.where(right, post @ inv_p.T, post @ inv_q.T)  # normaliser of the rest-posterior
    eap = np.where(right, post @ (theta * inv_p).T, post @ (theta * inv_q).T) / total
    expected = np.where(right, 1.0, post @ (p * inv_q).T) / total  # E[x_ij | other answers]
    # (Cells of items not presented come out as if answered wrong; they are never used.)
    q1 = np.zeros(x.shape[1])
    for j in range(x.shape[1]):
        members = np.flatnonzero(seen[:, j])
        if len(members) == 0:
            continue
        order = members[np.argsort(eap[members, j], kind="stable")]
        # Groups as np.array_split makes them: the first n % groups one larger.
        size = np.full(groups, len(order) // groups)
        size[: len(order) % groups] += 1
        size = size[size > 0]
        label = np.repeat(np.arange(len(size)), size)
        obs = np.bincount(label, x[order, j]) / size
        exp = np.clip(np.bincount(label, expected[order, j]) / size, EPS, 1 - EPS)
        q1[j] = float(np.sum(size * (obs - exp) ** 2 / (exp * (1 - exp))))
    return q1, df, stats.chi2.sf(q1, df)


def recovery_rmse(true: ItemParams, estimated: ItemParams) -> dict[str, float]:
    """RMSE of a, b, c between two aligned parameter sets (for recovery studies)."""
    return {
        k: float(np.sqrt(np.mean((getattr(estimated, k) - getattr(true, k)) ** 2)))
        for k in ("a", "b", "c")
    }


def simulate_responses(
    params: ItemParams, thetas: ArrayLike, *, seed: int = 0
) -> NDArray[np.float64]:
    """A 0/1 response matrix (examinees x items) drawn from the model."""
    rng = np.random.default_rng(seed)
    p = params.prob(np.asarray(thetas, dtype=float))
    return (rng.random(p.shape) < p).astype(float)
