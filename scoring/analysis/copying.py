"""Answer copying: the generalised binomial test, conditioned on each candidate's ability.

For a candidate ``c`` suspected of copying from ``s``, and an item ``j`` both answered, the
chance that ``c`` chose the very option ``s`` chose, had ``c`` worked alone, is
``p_j = P_c(x_sj)``: the probability of that option for a candidate of ``c``'s ability. The
number of matching answers ``M`` over the items the two shared is then, without copying, a
sum of independent Bernoulli(p_j): a Poisson-binomial, whose upper tail ``P(M >= m)`` is the
p-value of the generalised binomial test (van der Linden & Sotaridona 2006; Wollack's 1997 ω
is its normal approximation). Conditioning on ability is what keeps two strong candidates,
who agree on most answers because both are right, from looking like copiers (and two weak
ones, who share the popular wrong answers).

``P_c(k)`` is the probability of option ``k``: ``P(correct | θ_c)`` from the IRT model for
the key, and ``(1 - P(correct)) q_jk(θ_c)`` for a distractor, where ``q_jk`` is the share of
the item's wrong answers that go to ``k`` among candidates of similar ability (ability
quintiles, smoothed toward the item's overall shares; a nonparametric stand-in for the
nominal response model's distractor curves). Blanks and items not presented drop out.

Every ordered pair is scored at once: with one-hot answers ``X`` (candidates x item-options)
and the option probabilities ``P`` of every candidate, ``M = X Xᵀ``, ``E = P Xᵀ`` and
``V = (P(1 - P)) Xᵀ``, in blocks of rows so memory stays O(block x candidates). The exact
tail is then computed for the pairs whose normal score makes them candidates at all.

The direction of copying is unknown, so a pair's p-value is twice the smaller of its two
directional p-values (Bonferroni); the pair is flagged when that is below ``alpha / pairs``,
so that all the honest pairs of an exam together raise a false alarm with probability at most
``alpha`` (Bonferroni over the family; default 0.1: one honest pair flagged per ten exams of
any size, on average, if the model holds).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
    #: The pair's p-value (both directions, Bonferroni): chance of so many matches alone.
    p_value: float
    #: ``p_value`` times the number of pairs: the expected number of honest pairs of this
    #: exam with a p-value this small (a proctor's reading of the evidence).
    expected_false_alarms: float


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


def option_probabilities(
    options: ArrayLike,
    key: ArrayLike,
    p_correct: ArrayLike,
    theta: ArrayLike,
    n_options: int,
    *,
    groups: int = 5,
    smoothing: float = 2.0,
) -> FloatArray:
    """``P[i, j, k]``: the chance candidate i picks option k of item j working alone.

    ``p_correct[i, j]`` comes from the IRT model at candidate i's ability; distractor shares
    are estimated within ``groups`` ability groups, each shrunk toward the item's overall
    shares by ``smoothing`` pseudo-answers (so a sparse item still has sensible shares).
    """
    x = np.asarray(options, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    p = np.clip(np.asarray(p_correct, dtype=float), 1e-6, 1 - 1e-6)
    theta = np.asarray(theta, dtype=float)
    k = x.shape[1]
    wrong = (x >= 0) & (x != key[None, :])
    edges = np.quantile(theta, np.linspace(0, 1, groups + 1)[1:-1])
    group = np.searchsorted(edges, theta)
    # counts[g, j, o]: wrong answers of group g on item j that chose option o.
    counts = np.zeros((groups, k, n_options))
    gi, ji = np.nonzero(wrong)
    np.add.at(counts, (group[gi], ji, x[gi, ji]), 1.0)
    total = counts.sum(axis=0)
    distractor = np.ones((k, n_options))
    distractor[np.arange(k), key] = 0.0
    # Overall shares with one pseudo-answer per distractor, so none is ever impossible.
    overall = (total + distractor) / (total + distractor).sum(axis=1, keepdims=True)
    shares = counts + smoothing * overall[None]
    shares /= shares.sum(axis=2, keepdims=True)
    out = (1 - p)[:, :, None] * shares[group]
    out[:, np.arange(k), key] = p
    return out


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
    lo, hi = np.zeros(len(x)), np.full(len(x), 1.0)
    log_odds = np.log(p) - np.log1p(-p)

    def moments(t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        z = log_odds + t[:, None] * w
        pi = 0.5 * (1 + np.tanh(0.5 * z))  # tilted probabilities
        k0 = np.logaddexp(0.0, z) + np.log1p(-p)  # log(1 - p + p e^{tw})
        return k0.sum(axis=1), (w * pi).sum(axis=1), (w * w * pi * (1 - pi)).sum(axis=1)

    # Bracket the root of K'(t) = x, then Newton steps kept inside the bracket.
    for _ in range(60):
        _, k1, _ = moments(hi)
        below = k1 < x
        if not below.any():
            break
        lo = np.where(below, hi, lo)
        hi = np.where(below, hi * 2, hi)
    t = 0.5 * (lo + hi)
    for _ in range(50):
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
    from scipy.stats import norm

    with np.errstate(divide="ignore", invalid="ignore"):
        tail = norm.sf(r) + norm.pdf(r) * (1 / u - 1 / r)
    # Near the mean the formula is 0/0: the normal tail is exact enough there.
    near = r < 1e-3
    tail = np.where(near, norm.sf((x - mean[live]) / np.sqrt(np.maximum(k2, 1e-300))), tail)
    out[live] = np.clip(tail, 0.0, 1.0)
    return out


@dataclass(frozen=True)
class PairScores:
    """Statistics of the candidate pairs that passed the screen."""

    first: NDArray[np.int64]
    second: NDArray[np.int64]
    shared: NDArray[np.int64]
    matches: NDArray[np.int64]
    expected: FloatArray
    p_value: FloatArray
    copier_is_first: NDArray[np.bool_]


#: The share of answers a copier is assumed to copy when weighting matches (see below).
DESIGN_RATE = 0.25


def match_weights(probabilities: FloatArray, rate: float = DESIGN_RATE) -> FloatArray:
    """``w = log(1 + rate / ((1 - rate) P_c(k)))``: the log-likelihood ratio a match on option
    k adds when a copier copies each answer with probability ``rate`` (and a mismatch adds
    ``log(1 - rate)``, the same for every pair sharing as many items). A match on an unlikely
    option weighs much more than one on an answer every candidate of that ability gives."""
    return np.log1p(rate / ((1 - rate) * np.maximum(probabilities, 1e-12)))


def copying_pairs(
    options: ArrayLike,
    probabilities: ArrayLike,
    *,
    rate: float = DESIGN_RATE,
    screen_z: float = 3.0,
    block: int = 512,
) -> PairScores:
    """The weighted generalised binomial test for every pair whose normal score in either
    direction reaches ``screen_z`` (no other pair can come near any useful threshold).

    ``options``: (candidates, items) option indices (NOT_SHOWN, BLANK or 0..K-1);
    ``probabilities``: (candidates, items, K) from :func:`option_probabilities`.
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
    mask = answered[:, :, None]
    w = match_weights(prob, rate) * mask
    observed_w = (w.reshape(n, -1) * one_hot)
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
    lo_, hi_ = np.minimum(copier[keep], source[keep]), np.maximum(copier[keep], source[keep])
    pair_id = np.unique(lo_.astype(np.int64) * n + hi_)
    first, second = pair_id // n, pair_id % n
    items = np.arange(k)
    both = answered[first] & answered[second]
    same = both & (x[first] == x[second])
    # P(c picks what s picked) and its weight, both directions, on the shared items only.
    p_fs = np.where(both, prob[first[:, None], items, np.maximum(x[second], 0)], 0.5)
    p_sf = np.where(both, prob[second[:, None], items, np.maximum(x[first], 0)], 0.5)
    w_fs = np.where(both, match_weights(p_fs, rate), 0.0)
    w_sf = np.where(both, match_weights(p_sf, rate), 0.0)
    sf_fs = _weighted_bernoulli_sf(w_fs, p_fs, (w_fs * same).sum(axis=1))
    sf_sf = _weighted_bernoulli_sf(w_sf, p_sf, (w_sf * same).sum(axis=1))
    copier_is_first = sf_fs <= sf_sf
    p_value = np.minimum(1.0, 2 * np.minimum(sf_fs, sf_sf))
    expected = np.where(copier_is_first, (p_fs * both).sum(axis=1), (p_sf * both).sum(axis=1))
    return PairScores(
        first, second, both.sum(axis=1), same.sum(axis=1), expected, p_value, copier_is_first
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


def abilities_and_p_correct(
    options: ArrayLike, key: ArrayLike, *, min_responses: int = 20
) -> tuple[FloatArray, FloatArray]:
    """EAP abilities and P(correct) of every candidate on every item, from a 2PL calibrated
    on the same answers (items that cannot be calibrated get their overall facility)."""
    x = np.asarray(options, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    n = x.shape[0]
    scored = np.where(x != NOT_SHOWN, (x == key[None, :]).astype(float), np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        facility = np.nan_to_num(np.nanmean(scored, axis=0), nan=0.5)
    p_correct = np.tile(np.clip(facility, 0.01, 0.99), (n, 1))
    params, cols, theta = calibrated_abilities(scored, min_responses=min_responses)
    if params is not None:
        p_correct[:, cols] = params.prob(theta)
    return theta, p_correct


def detect_copying(
    options: ArrayLike,
    key: ArrayLike,
    names: Sequence[str],
    *,
    alpha: float = 0.1,
    theta: ArrayLike | None = None,
    p_correct: ArrayLike | None = None,
) -> tuple[list[CopyingPair], PairScores]:
    """The whole analysis from chosen options and the key: abilities (unless given), option
    probabilities, all pairs, and the flags at family-wise false-alarm rate ``alpha``."""
    x = np.asarray(options, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    if theta is None or p_correct is None:
        theta, p_correct = abilities_and_p_correct(x, key)
    n_options = int(max(x.max(initial=0), key.max(initial=0))) + 1
    prob = option_probabilities(x, key, p_correct, theta, n_options)
    scores = copying_pairs(x, prob)
    return flag_copying(scores, names, alpha=alpha), scores
