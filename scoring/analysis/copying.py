"""Answer copying: a likelihood-ratio test per pair, the copier's ability estimated under copying.

For a candidate ``c`` suspected of copying from ``s``, on every item both answered ``c``
gives ``s``'s answer with probability γ and otherwise answers alone, with the chance
``P_j(k | θ_c)`` of option ``k`` at ``c``'s ability; without copying γ = 0. The statistic
``2 log Λ`` maximises the likelihood over ``θ_c`` and γ against ``θ_c`` alone (the
generalised likelihood-ratio test; with θ and γ known it is the most powerful test; the
generalised binomial test of van der Linden & Sotaridona 2006 and Wollack's 1997 ω test the
number of matches at an ability estimated from all answers instead). Estimating ``θ_c``
together with γ matters: from all of a copier's answers it is lifted by what they copied
from a stronger source, and the copied right answers then look expected. Conditioning on
ability is what keeps two strong candidates, who agree on most answers because both are
right, from looking like copiers (and two weak ones, who share the popular wrong answers).

``P_j(k | θ)``: ``P(correct | θ)`` from a 2PL calibrated on the same answers for the key,
and ``(1 - P(correct))`` times the distractor's nominal-model share of wrong answers
(Bock 1972) for the others. Blanks and items not presented drop out.

Every ordered pair is first screened at once: with one-hot answers ``X`` (candidates x
item-options) and match weights ``W`` at the estimated abilities, the weighted match count,
its mean and variance are ``(W∘X) Xᵀ``, ``(W∘P) Xᵀ`` and ``(W²∘P(1 - P)) Xᵀ``, in blocks of
rows so memory stays O(block x candidates); the likelihood ratio is computed for the pairs
at z >= 3.

Without copying ``2 log Λ`` is asymptotically ``½χ²₀ + ½χ²₁`` (γ = 0 is on the boundary).
The direction of copying is unknown, so a pair's p-value is the chance that either direction's
statistic reaches the larger one: the two signed roots ``√(2 log Λ)`` are asymptotically
``max(0, Z)`` of two correlated standard normals, their correlation that of the two directions'
scores (:func:`direction_correlation`; near 1 for candidates of like ability, whose two tests
nearly coincide), so the p-value lies between the smaller direction's and twice it (the
Bonferroni bound, used before); the pair is flagged when that is below ``alpha / pairs``,
so that all the honest pairs of an exam together raise a false alarm with probability at most
``alpha`` (default 0.1: one honest pair flagged per ten exams of any size, on average, if the
model holds; docs/benchmarks.md checks it on copy-free exams).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from scoring.irt.models import ItemParams

FloatArray = NDArray[np.float64]

#: Not presented / presented and left blank, in an ``options`` matrix.
NOT_SHOWN, BLANK = -1, -2


@dataclass(frozen=True)
class CopyingPair:
    """A flagged pair: ``copier`` more likely copied from ``source`` than the reverse."""

    copier: str
    source: str
    shared: int
    matches: int
    expected: float
    #: The pair's p-value (either direction): chance of so many matches alone.
    p_value: float
    #: ``p_value`` times the number of pairs: the expected number of honest pairs of this
    #: exam with a p-value this small (a proctor's reading of the evidence).
    expected_false_alarms: float
    #: The estimated share of the shared items on which the copier took the source's answer.
    copy_rate: float = 0.0


def option_matrix(
    choices: Sequence[Sequence[str]], labels: Sequence[str], blank: str = ""
) -> NDArray[np.int64]:
    """Option indices from chosen labels: ``blank`` -> BLANK, ``None`` -> NOT_SHOWN."""
    index = {label: i for i, label in enumerate(labels)}
    out = np.full((len(choices), len(choices[0]) if len(choices) else 0), NOT_SHOWN, np.int64)
    for i, row in enumerate(choices):
        for j, cell in enumerate(row):
            if cell is None:
                continue
            out[i, j] = BLANK if cell == blank else index[cell]
    return out


def distractor_curves(
    options: ArrayLike, key: ArrayLike, theta: ArrayLike, n_options: int, *,
    ridge: float = 0.5, iterations: int = 25,
) -> FloatArray:
    """Nominal-model curves for the wrong options (Bock 1972, as in Wollack's ω): among the
    candidates who got item j wrong, the chance of distractor k is ``softmax_k(c_jk + s_jk θ)``.
    Fitted on the abilities given, for all items at once by Newton's method with a ridge
    penalty ``ridge`` on every coefficient (so a distractor nobody chose keeps a small,
    finite chance). Returns ``(items, n_options, 2)``: intercept and slope; the key's
    intercept is ``-inf``."""
    x = np.asarray(options, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    theta = np.asarray(theta, dtype=float)
    k = x.shape[1]
    wrong = ((x >= 0) & (x != key[None, :])).astype(float)
    # y[i, j, o]: candidate i chose distractor o of item j.
    y = np.zeros((len(x), k, n_options))
    ii, jj = np.nonzero(wrong)
    y[ii, jj, x[ii, jj]] = 1.0
    design = np.stack([np.ones_like(theta), theta], axis=1)  # (candidates, 2)
    is_key = np.zeros((k, n_options), dtype=bool)
    is_key[np.arange(k), key] = True
    coef = np.zeros((k, n_options, 2))
    eye = np.eye(2 * n_options)
    for _ in range(iterations):
        z = np.einsum("ia,joa->ijo", design, coef)
        z[:, is_key] = -np.inf
        z -= z.max(axis=2, keepdims=True)
        share = np.exp(z)
        share /= share.sum(axis=2, keepdims=True)
        resid = (y - share) * wrong[:, :, None]
        grad = np.einsum("ijo,ia->joa", resid, design) - ridge * coef
        # Hessian of the multinomial log-likelihood, per item: X'X (diag(p) - pp').
        cov = share[:, :, :, None] * (np.eye(n_options) - share[:, :, None, :])
        cov *= wrong[:, :, None, None]
        hess = np.einsum("ia,ib,ijop->joapb", design, design, cov)
        hess = hess.reshape(k, 2 * n_options, 2 * n_options) + ridge * eye
        step = np.linalg.solve(hess, grad.reshape(k, -1, 1)).reshape(coef.shape)
        coef += step
        if np.abs(step).max() < 1e-6:
            break
    coef[..., 0][is_key] = -np.inf
    coef[..., 1][is_key] = 0.0
    return coef


def option_probabilities_at(
    p_correct: ArrayLike, key: ArrayLike, curves: FloatArray, theta: ArrayLike
) -> FloatArray:
    """``P[i, j, k]``: the chance of option k of item j at ability ``theta[i]`` working alone:
    ``p_correct[i, j]`` for the key, ``(1 - p_correct) × share`` for a distractor, the share
    from :func:`distractor_curves`."""
    p = np.clip(np.asarray(p_correct, dtype=float), 1e-6, 1 - 1e-6)
    key = np.asarray(key, dtype=np.int64)
    t = np.asarray(theta, dtype=float)
    z = curves[None, :, :, 0] + curves[None, :, :, 1] * t[:, None, None]
    z = z - z.max(axis=2, keepdims=True)
    share = np.exp(z)
    share /= share.sum(axis=2, keepdims=True)
    out = (1 - p)[:, :, None] * share
    out[:, np.arange(len(key)), key] = p
    return np.maximum(out, 1e-9)


def option_probabilities(
    options: ArrayLike,
    key: ArrayLike,
    p_correct: ArrayLike,
    theta: ArrayLike,
    n_options: int,
) -> FloatArray:
    """``P[i, j, k]``: the chance candidate i picks option k of item j working alone, at their
    estimated ability: the IRT model for the key, nominal-model curves for the distractors
    fitted on the same answers (:func:`distractor_curves`)."""
    curves = distractor_curves(options, key, theta, n_options)
    return option_probabilities_at(p_correct, key, curves, theta)


Moments = Callable[[FloatArray], tuple[FloatArray, FloatArray, FloatArray]]


def saddlepoint_sf(moments: Moments, x: FloatArray, mean: FloatArray) -> FloatArray:
    """``P(S >= x)`` per row for a sum ``S`` of independent non-negative terms with mean
    ``mean`` (``x > mean``), by the Lugannani-Rice formula. ``moments(t)`` gives, per row, the
    cumulant generating function ``K(t)`` and its first two derivatives at ``t >= 0``."""
    lo, hi = np.zeros(len(x)), np.full(len(x), 1.0)
    # Bracket the root of K'(t) = x, then Newton steps kept inside the bracket.
    for _ in range(60):
        _, k1, _ = moments(hi)
        below = k1 < x
        if not below.any():
            break
        lo = np.where(below, hi, lo)
        hi = np.where(below, hi * 2, hi)
    t = 0.5 * (lo + hi)
    for _ in range(60):
        _, k1, k2 = moments(t)
        lo = np.where(k1 < x, t, lo)
        hi = np.where(k1 >= x, t, hi)
        step = t - (k1 - x) / np.maximum(k2, 1e-300)
        t = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
        if np.all(hi - lo < 1e-10 * np.maximum(1.0, hi)):
            break
    k0, _, k2 = moments(t)
    r = np.sqrt(np.maximum(2 * (t * x - k0), 1e-300))
    u = t * np.sqrt(k2)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = norm.sf(r) + norm.pdf(r) * (1 / u - 1 / r)
    # Near the mean the formula is 0/0: the normal tail is exact enough there.
    near = r < 1e-3
    tail = np.where(near, norm.sf((x - mean) / np.sqrt(np.maximum(k2, 1e-300))), tail)
    return np.clip(tail, 0.0, 1.0)


def _weighted_bernoulli_sf(w: FloatArray, p: FloatArray, observed: FloatArray) -> FloatArray:
    """``P(sum_j w_j B_j >= observed)``, ``B_j ~ Bernoulli(p_j)`` independent, per row, by the
    Lugannani-Rice saddlepoint approximation (Daniels 1987), accurate far into the tail
    where a normal approximation is off by orders of magnitude. ``w = 0`` drops an item."""
    rows = len(observed)
    mean = (w * p).sum(axis=1)
    top = w.sum(axis=1)
    out = np.ones(rows)
    # Every item matched: the tail is the chance of exactly that.
    full = observed >= top - 1e-9
    out[full] = np.exp(np.where(w > 0, np.log(np.maximum(p, 1e-300)), 0.0)[full].sum(axis=1))
    live = ~full & (observed > mean)
    if not live.any():
        return out
    w, p, x = w[live], p[live], observed[live]
    log_odds = np.log(p) - np.log1p(-p)

    def moments(t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        z = log_odds + t[:, None] * w
        pi = 0.5 * (1 + np.tanh(0.5 * z))  # tilted probabilities
        k0 = np.logaddexp(0.0, z) + np.log1p(-p)  # log(1 - p + p e^{tw})
        return k0.sum(axis=1), (w * pi).sum(axis=1), (w * w * pi * (1 - pi)).sum(axis=1)

    out[live] = saddlepoint_sf(moments, x, mean[live])
    return out


@dataclass(frozen=True)
class PairScores:
    """Statistics of the candidate pairs that passed the screen."""

    first: NDArray[np.int64]
    second: NDArray[np.int64]
    shared: NDArray[np.int64]
    matches: NDArray[np.int64]
    #: Matches expected of the likelier copier working alone (at their estimated ability).
    expected: FloatArray
    #: Either direction: the chance of a likelihood ratio this large in either without
    #: copying.
    p_value: FloatArray
    copier_is_first: NDArray[np.bool_]
    #: The likelihood-ratio statistic ``2 log Λ`` of the likelier direction.
    statistic: FloatArray
    #: The estimated share of copied answers in that direction.
    copy_rate: FloatArray


#: The share of answers a copier is assumed to copy when screening pairs (see below).
DESIGN_RATE = 0.25

#: Abilities over which each copier's likelihood is profiled (prior N(0, 1) on top).
THETA_GRID = np.linspace(-4.0, 4.0, 41)


def match_weights(probabilities: FloatArray, rate: float = DESIGN_RATE) -> FloatArray:
    """``w = log(1 + rate / ((1 - rate) P_c(k)))``: the log-likelihood ratio a match on option
    k adds when a copier copies each answer with probability ``rate`` (and a mismatch adds
    ``log(1 - rate)``, the same for every pair sharing as many items). A match on an unlikely
    option weighs much more than one on an answer every candidate of that ability gives."""
    return np.log1p(rate / ((1 - rate) * np.maximum(probabilities, 1e-12)))


def screen_pairs(
    options: ArrayLike,
    probabilities: ArrayLike,
    *,
    rate: float = DESIGN_RATE,
    screen_z: float = 3.0,
    block: int = 512,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The unordered pairs (first < second) whose weighted match count in either direction
    is ``screen_z`` standard deviations above its mean at the candidates' estimated
    abilities: a cheap screen of all pairs at once (no other pair comes near a threshold).

    ``options``: (candidates, items) option indices (NOT_SHOWN, BLANK or 0..K-1);
    ``probabilities``: (candidates, items, K) at the estimated abilities.
    """
    x = np.asarray(options, dtype=np.int64)
    prob = np.asarray(probabilities, dtype=float)
    n, k, n_opt = prob.shape
    answered = x >= 0
    one_hot = np.zeros((n, k * n_opt), dtype=np.float64)
    ii, jj = np.nonzero(answered)
    one_hot[ii, jj * n_opt + x[ii, jj]] = 1.0
    # Only items both answered count: row c's terms are masked by c's answered items, and
    # the product with s's one-hot answers picks s's option on the items s answered.
    w = match_weights(prob, rate) * answered[:, :, None]
    observed_w = w.reshape(n, -1) * one_hot
    mean_w = (prob * w).reshape(n, -1)
    var_w = (prob * (1 - prob) * w * w).reshape(n, -1)
    firsts: list[NDArray] = []
    seconds: list[NDArray] = []
    for start in range(0, n, block):
        stop = min(n, start + block)
        stat = observed_w[start:stop] @ one_hot.T
        expected = mean_w[start:stop] @ one_hot.T
        variance = var_w[start:stop] @ one_hot.T
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (stat - expected) / np.sqrt(variance)
        z[~(variance > 0)] = -np.inf
        r, c = np.nonzero(z >= screen_z)
        firsts.append(r + start)
        seconds.append(c)
    copier = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    source = np.concatenate(seconds) if seconds else np.zeros(0, np.int64)
    keep = copier != source
    lo, hi = np.minimum(copier[keep], source[keep]), np.maximum(copier[keep], source[keep])
    pair_id = np.unique(lo.astype(np.int64) * n + hi)
    return pair_id // n, pair_id % n


def _grid_max(values: FloatArray) -> FloatArray:
    """The maximum over the last axis, refined by the parabola through the best grid point
    and its neighbours (a smooth log-likelihood, sampled every 0.2 in θ)."""
    m = values.shape[-1]
    best = np.clip(values.argmax(axis=-1), 1, m - 2)
    f0 = np.take_along_axis(values, best[..., None] - 1, -1)[..., 0]
    f1 = np.take_along_axis(values, best[..., None], -1)[..., 0]
    f2 = np.take_along_axis(values, best[..., None] + 1, -1)[..., 0]
    curve = f0 - 2 * f1 + f2
    with np.errstate(divide="ignore", invalid="ignore"):
        peak = np.where(curve < 0, f1 - (f2 - f0) ** 2 / (8 * curve), f1)
    return np.maximum(peak, values.max(axis=-1))


def copying_likelihood_ratio(
    options: ArrayLike,
    own_probability: ArrayLike,
    copier: ArrayLike,
    source: ArrayLike,
    *,
    log_prior: ArrayLike | None = None,
    block: int = 256,
) -> tuple[FloatArray, FloatArray]:
    """The generalised likelihood-ratio statistic ``2 log Λ`` that ``copier`` copied from
    ``source``, and the estimated share of copied answers, per pair.

    Under copying, on every item both answered the copier gives the source's answer with
    probability γ and otherwise answers alone: ``P(x_cj) = (1 - γ) P_j(x_cj | θ_c) + γ
    [x_cj = x_sj]``; without copying γ = 0. The likelihood is maximised over the copier's
    ability θ_c and γ ∈ [0, 1) under copying, and over θ_c alone without it, so a copier's
    ability is not inflated by what they copied (an ability estimated from all their answers
    is, and the copied matches then look expected). ``own_probability[g, i, j]`` is the
    chance of candidate i's own answer to item j at ``THETA_GRID[g]`` (1 where i did not
    answer); for each grid ability the concave log-likelihood in γ is maximised by
    safeguarded Newton steps, then the best ability is refined between grid points.
    """
    x = np.asarray(options, dtype=np.int64)
    own = np.asarray(own_probability, dtype=float)
    copier = np.asarray(copier, dtype=np.int64)
    source = np.asarray(source, dtype=np.int64)
    prior = np.zeros(own.shape[0]) if log_prior is None else np.asarray(log_prior, float)
    # Without copying: the copier's own likelihood at each grid ability.
    alone = np.log(own).sum(axis=2).T + prior  # (candidates, grid)
    alone_max = _grid_max(alone)
    stat = np.zeros(len(copier))
    rate = np.zeros(len(copier))
    for start in range(0, len(copier), block):
        c, s = copier[start:start + block], source[start:start + block]
        shared = (x[c] >= 0) & (x[s] >= 0)
        match = shared & (x[c] == x[s])
        misses = (shared & ~match).sum(axis=1).astype(float)[:, None]
        # u = 1/P - 1 on matches: a match adds log(1 + γ u), a miss log(1 - γ).
        p = own[:, c, :].transpose(1, 0, 2)
        u = np.where(match[:, None, :], 1.0 / p - 1.0, 0.0)
        slope0 = u.sum(axis=2) - misses
        gamma = np.where(slope0 > 0, 0.3, 0.0)
        lo, hi = np.zeros_like(gamma), np.ones_like(gamma)
        for _ in range(40):
            q = u / (1 + gamma[:, :, None] * u)
            d1 = q.sum(axis=2) - misses / (1 - gamma)
            d2 = -(q * q).sum(axis=2) - misses / (1 - gamma) ** 2
            lo = np.where(d1 > 0, gamma, lo)
            hi = np.where(d1 > 0, hi, gamma)
            step = gamma - d1 / np.minimum(d2, -1e-300)
            gamma = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
            gamma = np.where(slope0 > 0, np.minimum(gamma, 1 - 1e-9), 0.0)
            if np.all((hi - lo < 1e-7) | (np.abs(d1) < 1e-8) | (slope0 <= 0)):
                break
        gain = misses * np.log1p(-gamma) + np.log1p(gamma[:, :, None] * u).sum(axis=2)
        both = alone[c] + gain
        stat[start:start + block] = np.maximum(2 * (_grid_max(both) - alone_max[c]), 0.0)
        rate[start:start + block] = gamma[np.arange(len(c)), both.argmax(axis=1)]
    return stat, rate


#: Points of the integral in :func:`either_direction_tail` (in units of 1 / z beyond z).
_TAIL_STEPS = np.linspace(0.0, 40.0, 2001)


def either_direction_tail(z: ArrayLike, rho: ArrayLike) -> FloatArray:
    """``P(max(Z₁, Z₂) ≥ z)`` for standard normals of correlation ``rho``: the chance that
    either direction's signed root ``√(2 log Λ)`` reaches ``z`` without copying (each is
    asymptotically ``max(0, Z)``). ``2Φ(−z) − P(Z₁ ≥ z, Z₂ ≥ z)``, the joint tail as
    ``∫_z^∞ φ(x) Φ((ρx − z)/√(1 − ρ²)) dx`` by the trapezoid rule on ``x = z + u / z``
    (the integrand falls as ``e^{−u}``). Between ``Φ(−z)`` (ρ = 1: one test) and ``2Φ(−z)``
    (independent directions, the Bonferroni bound)."""
    z = np.asarray(z, dtype=float)
    rho = np.clip(np.asarray(rho, dtype=float), -0.999999, 0.999999)
    out = np.minimum(1.0, 2 * norm.sf(z))
    big = z > 1.0  # below, the tail is far above any flag line: Bonferroni is enough
    if not big.any():
        return out
    zb, rb = z[big], rho[big]
    x = zb[:, None] + _TAIL_STEPS[None, :] / zb[:, None]
    inner = norm.cdf((rb[:, None] * x - zb[:, None]) / np.sqrt(1 - rb[:, None] ** 2))
    joint = np.trapezoid(norm.pdf(x) * inner, _TAIL_STEPS, axis=1) / zb
    out[big] = np.clip(2 * norm.sf(zb) - joint, norm.sf(zb), 2 * norm.sf(zb))
    return out


def direction_correlation(
    options: ArrayLike,
    key: ArrayLike,
    model: AbilityModel,
    curves: FloatArray,
    first: ArrayLike,
    second: ArrayLike,
    *,
    block: int = 2048,
) -> FloatArray:
    """The correlation, without copying, of the two directions' efficient scores for γ at
    γ = 0 (each copier's ability profiled), at the estimated abilities, per pair.

    The score of "a copied from b" is ``U_ab = Σ_j [x_aj = x_bj] / P_aj(x_bj) − 1`` over the
    shared items; with both answering alone, per item ``Cov(U_ab, U_ba) = K − 1`` (K options),
    ``Var(U_ab) = Σ_k P_b(k) / P_a(k) − 1``, and the ability's score ``S_a`` is uncorrelated
    with ``U_ba`` and ``S_b``, so profiling ``θ_a`` only lowers ``Var(U_ab)`` by
    ``Cov(U_ab, S_a)² / I_a`` (``Cov = Σ_k P_b(k) ∂ log P_a(k) / ∂θ``, ``I_a`` the Fisher
    information of a's answers)."""
    x = np.asarray(options, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    theta, h = model.theta, 1e-4
    prob = option_probabilities_at(model.p_correct(theta), key, curves, theta)
    up = option_probabilities_at(model.p_correct(theta + h), key, curves, theta + h)
    down = option_probabilities_at(model.p_correct(theta - h), key, curves, theta - h)
    slope = (np.log(up) - np.log(down)) / (2 * h)  # ∂ log P / ∂θ
    answered = x >= 0
    info = (prob * slope * slope).sum(axis=2)
    info = (info * answered).sum(axis=1)
    out = np.zeros(len(first))
    for start in range(0, len(first), block):
        a, b = first[start:start + block], second[start:start + block]
        both = (answered[a] & answered[b]).astype(float)
        pa, pb = prob[a], prob[b]
        cov = ((pa.shape[2] - 1) * both).sum(axis=1)
        var_ab = (((pb / pa).sum(axis=2) - 1) * both).sum(axis=1)
        var_ba = (((pa / pb).sum(axis=2) - 1) * both).sum(axis=1)
        var_ab -= ((pb * slope[a]).sum(axis=2) * both).sum(axis=1) ** 2 / info[a]
        var_ba -= ((pa * slope[b]).sum(axis=2) * both).sum(axis=1) ** 2 / info[b]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = cov / np.sqrt(var_ab * var_ba)
        out[start:start + block] = np.where(np.isfinite(rho), np.clip(rho, 0.0, 1.0), 0.0)
    return out


def copying_pairs(
    options: ArrayLike,
    key: ArrayLike,
    model: AbilityModel,
    curves: FloatArray,
    *,
    screen_z: float = 3.0,
) -> PairScores:
    """Screen all pairs (:func:`screen_pairs`), then the likelihood-ratio test of copying in
    both directions for those that pass.

    The p-value of one direction is that of the boundary likelihood-ratio test, ``2 log Λ ~
    ½χ²₀ + ½χ²₁`` without copying (Self & Liang 1987): ``P = Φ(-√(2 log Λ))``; the pair's
    is the chance that either direction's reaches the larger statistic (either may be the
    copier; :func:`either_direction_tail` at :func:`direction_correlation`).
    docs/benchmarks.md checks it by simulation on copy-free exams.
    """
    x = np.asarray(options, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    k = x.shape[1]
    at_estimate = option_probabilities_at(model.p_correct(model.theta), key, curves, model.theta)
    first, second = screen_pairs(x, at_estimate, screen_z=screen_z)
    # own[g, i, j]: the chance of i's own answer to j at each grid ability, for the
    # candidates of screened pairs only (all of them would be 41 x n x k numbers).
    involved, index = np.unique(np.concatenate([first, second]), return_inverse=True)
    sub_first, sub_second = index[:len(first)], index[len(first):]
    sub = x[involved]
    grid_prob = option_probabilities_at(model.p_correct(THETA_GRID), key, curves, THETA_GRID)
    own = np.ones((len(THETA_GRID), len(involved), k))
    ii, jj = np.nonzero(sub >= 0)
    own[:, ii, jj] = grid_prob[:, jj, sub[ii, jj]]
    prior = -0.5 * THETA_GRID**2
    stat_fs, rate_fs = copying_likelihood_ratio(sub, own, sub_first, sub_second,
                                                log_prior=prior)
    stat_sf, rate_sf = copying_likelihood_ratio(sub, own, sub_second, sub_first,
                                                log_prior=prior)
    copier_is_first = stat_fs >= stat_sf
    stat = np.maximum(stat_fs, stat_sf)
    rho = direction_correlation(x, key, model, curves, first, second)
    p_value = either_direction_tail(np.sqrt(stat), rho)
    both = (x[first] >= 0) & (x[second] >= 0)
    same = both & (x[first] == x[second])
    items = np.arange(k)
    p_fs = at_estimate[first[:, None], items, np.maximum(x[second], 0)]
    p_sf = at_estimate[second[:, None], items, np.maximum(x[first], 0)]
    expected = np.where(copier_is_first, (p_fs * both).sum(axis=1), (p_sf * both).sum(axis=1))
    return PairScores(
        first, second, both.sum(axis=1), same.sum(axis=1), expected, p_value,
        copier_is_first, stat, np.where(copier_is_first, rate_fs, rate_sf),
    )


def flag_copying(
    scores: PairScores, names: Sequence[str], *, alpha: float = 0.1
) -> list[CopyingPair]:
    """Pairs whose p-value is below ``alpha`` / (number of pairs), most extreme first."""
    n = len(names)
    pairs = n * (n - 1) / 2
    out = []
    for h in np.flatnonzero(scores.p_value * pairs <= alpha):
        f, s = int(scores.first[h]), int(scores.second[h])
        copier, source = (f, s) if scores.copier_is_first[h] else (s, f)
        out.append(
            CopyingPair(
                names[copier],
                names[source],
                int(scores.shared[h]),
                int(scores.matches[h]),
                float(scores.expected[h]),
                float(scores.p_value[h]),
                float(scores.p_value[h] * pairs),
                float(scores.copy_rate[h]),
            )
        )
    return sorted(out, key=lambda p: p.p_value)


def calibrated_abilities(
    scored: ArrayLike, *, min_responses: int = 20
) -> tuple[ItemParams | None, NDArray[np.int64], FloatArray]:
    """A 2PL calibrated on a 0/1/NaN matrix, the columns it could calibrate, and every
    candidate's EAP ability on them (zeros when nothing could be calibrated)."""
    from scoring.irt.calibration import CalibrationError, calibrate
    from scoring.irt.estimators import EAPEstimator

    x = np.asarray(scored, dtype=float)
    n, k = x.shape
    try:
        result = calibrate(x, "2pl", ids=tuple(f"i{j}" for j in range(k)),
                           min_responses=min_responses)
    except CalibrationError:
        return None, np.zeros(0, np.int64), np.zeros(n)
    params = result.params
    cols = np.array([int(i[1:]) for i in params.ids], dtype=np.int64)
    shown = ~np.isnan(x[:, cols])
    estimator = EAPEstimator()
    theta = np.array([
        estimator.estimate(params, np.flatnonzero(shown[i]),
                           x[i, cols[shown[i]]].astype(int)).theta
        for i in range(n)
    ])
    return params, cols, theta


@dataclass(frozen=True)
class AbilityModel:
    """P(correct) of every item at any ability: a 2PL calibrated on the answers, and the
    overall facility for the items that could not be calibrated; ``theta``: every
    candidate's EAP ability."""

    params: ItemParams | None
    cols: NDArray[np.int64]
    facility: FloatArray
    theta: FloatArray

    def p_correct(self, theta: ArrayLike) -> FloatArray:
        t = np.atleast_1d(np.asarray(theta, dtype=float))
        out = np.tile(self.facility, (len(t), 1))
        if self.params is not None:
            out[:, self.cols] = self.params.prob(t)
        return out


def ability_model(
    options: ArrayLike, key: ArrayLike, *, min_responses: int = 20
) -> AbilityModel:
    """Calibrate a 2PL on the scored answers (empty: not shown) and estimate abilities."""
    x = np.asarray(options, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    scored = np.where(x != NOT_SHOWN, (x == key[None, :]).astype(float), np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        facility = np.nan_to_num(np.nanmean(scored, axis=0), nan=0.5)
    params, cols, theta = calibrated_abilities(scored, min_responses=min_responses)
    return AbilityModel(params, cols, np.clip(facility, 0.01, 0.99), theta)


def abilities_and_p_correct(
    options: ArrayLike, key: ArrayLike, *, min_responses: int = 20
) -> tuple[FloatArray, FloatArray]:
    """EAP abilities and P(correct) of every candidate on every item, from a 2PL calibrated
    on the same answers (items that cannot be calibrated get their overall facility)."""
    model = ability_model(options, key, min_responses=min_responses)
    return model.theta, model.p_correct(model.theta)


def detect_copying(
    options: ArrayLike,
    key: ArrayLike,
    names: Sequence[str],
    *,
    alpha: float = 0.1,
    model: AbilityModel | None = None,
) -> tuple[list[CopyingPair], PairScores]:
    """The whole analysis from chosen options and the key: the ability model (unless given),
    distractor curves, all pairs, and the flags at family-wise false-alarm rate ``alpha``."""
    x = np.asarray(options, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    if model is None:
        model = ability_model(x, key)
    n_options = int(max(x.max(initial=0), key.max(initial=0))) + 1
    curves = distractor_curves(x, key, model.theta, n_options)
    scores = copying_pairs(x, key, model, curves)
    return flag_copying(scores, names, alpha=alpha), scores
