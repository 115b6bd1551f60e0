"""Response times after the exam: the lognormal model, aberrant speed, idle-then-burst, and
pairs of candidates whose active spells interleave (one remote helper answering for several).

**Lognormal response-time model** (van der Linden 2006): ``log T_ij = β_j − τ_i + ε_ij``,
``ε_ij ~ N(0, 1/α_j²)``: item time intensity β_j, person speed τ_i, item discrimination α_j.
Fitted by alternating least squares on the answers observed (a sparse matrix is fine), with
mean τ = 0 to fix the scale; ``z_ij = α_j (log t_ij − β_j + τ_i)`` is then N(0, 1) under the
model. A candidate is flagged for **aberrant speed** when the number of answers with
``z < −3`` (far too fast for that item at that candidate's own speed: an answer known before
the item was read) is improbable under the model at the family-wise level (binomial tail
below ``alpha / candidates``). **Idle then burst**: an answer of ``z > 3`` (the candidate sat
on the item: waiting) followed, within the next five answers, by at least three of ``z < −2``.

**Interleaving** (a remote helper works on one candidate at a time, in spells): a candidate
is *busy* inside the short gaps between consecutive answers (at most their own median gap).
Two candidates working independently answer while the other is busy at the other's usual
rate; a helper's candidates almost never do, since the helper is with one of them at a time.
Counted over 1-second bins for all pairs at once (a sparse-dense matrix product), linked
when the count is at most a fifth of what independent work gives (:func:`interleaved_pairs`),
and links are joined into rings (connected components): a helper's candidates form one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RTModel:
    beta: FloatArray  # item time intensity
    alpha: FloatArray  # item discrimination (1 / residual SD)
    tau: FloatArray  # person speed
    #: Standardised residual of every answer (same order as the input arrays).
    z: FloatArray


def fit_lognormal(
    person: ArrayLike, item: ArrayLike, seconds: ArrayLike, n_persons: int, n_items: int,
    *, iterations: int = 30,
) -> RTModel:
    """Fit ``log T = β_j − τ_i + ε`` to answers given as parallel arrays (NaN/<=0 dropped)."""
    p = np.asarray(person, dtype=np.int64)
    j = np.asarray(item, dtype=np.int64)
    t = np.asarray(seconds, dtype=float)
    ok = np.isfinite(t) & (t > 0)
    p, j, log_t = p[ok], j[ok], np.log(t[ok])
    beta = np.zeros(n_items)
    tau = np.zeros(n_persons)
    n_item = np.maximum(np.bincount(j, minlength=n_items), 1)
    n_person = np.maximum(np.bincount(p, minlength=n_persons), 1)
    for _ in range(iterations):
        beta = np.bincount(j, log_t + tau[p], minlength=n_items) / n_item
        tau = np.bincount(p, beta[j] - log_t, minlength=n_persons) / n_person
        tau -= tau[np.bincount(p, minlength=n_persons) > 0].mean() if len(p) else 0.0
    resid = log_t - beta[j] + tau[p]
    var = np.bincount(j, resid**2, minlength=n_items) / np.maximum(n_item - 1, 1)
    alpha = 1 / np.sqrt(np.maximum(var, 1e-6))
    z = np.full(len(t), np.nan)
    z[ok] = alpha[j] * resid
    return RTModel(beta, alpha, tau, z)


@dataclass(frozen=True)
class SpeedFlag:
    examinee: str
    answers: int
    too_fast: int
    expected_too_fast: float
    p_value: float
    idle_bursts: int


def speed_flags(
    model: RTModel, person: ArrayLike, answered_ms: ArrayLike, names: Sequence[str],
    *, alpha: float = 0.1,
) -> list[SpeedFlag]:
    """Candidates with improbably many far-too-fast answers, or an idle-then-burst spell."""
    p = np.asarray(person, dtype=np.int64)
    at = np.asarray(answered_ms, dtype=float)
    n = len(names)
    z = model.z
    seen = np.isfinite(z)
    fast = seen & (z < -3)
    answers = np.bincount(p[seen], minlength=n)
    too_fast = np.bincount(p[fast], minlength=n)
    rate = stats.norm.cdf(-3)
    p_value = stats.binom.sf(too_fast - 1, answers, rate)
    out = []
    for i in range(n):
        mine = np.flatnonzero((p == i) & seen)
        mine = mine[np.argsort(at[mine], kind="stable")]
        bursts = _idle_bursts(z[mine])
        if p_value[i] * n <= alpha or bursts:
            out.append(SpeedFlag(names[i], int(answers[i]), int(too_fast[i]),
                                 float(answers[i] * rate), float(p_value[i]), bursts))
    return sorted(out, key=lambda f: (f.p_value, -f.idle_bursts))


def _idle_bursts(z: FloatArray, window: int = 5, fast_needed: int = 3) -> int:
    """Answers of z > 3 followed, within ``window`` answers, by ``fast_needed`` of z < −2."""
    count = 0
    for k in np.flatnonzero(z > 3):
        if int((z[k + 1 : k + 1 + window] < -2).sum()) >= fast_needed:
            count += 1
    return count


@dataclass(frozen=True)
class InterleavedPair:
    first: str
    second: str
    #: Answers of each given while the other was busy, and how many independence expects.
    observed: int
    expected: float


@dataclass(frozen=True)
class Activity:
    """Every candidate's answers and busy time on one grid of ``bin_ms`` bins."""

    #: (persons, bins) 1 inside a short gap between two of the candidate's answers.
    busy: NDArray[np.float32]
    #: (persons, bins) sparse count of answers per bin.
    answers: Any
    #: First and last bin of each candidate's answers (their window).
    first: NDArray[np.int64]
    last: NDArray[np.int64]


def activity(
    person: ArrayLike, answered_ms: ArrayLike, n_persons: int, *, bin_ms: int = 1_000
) -> Activity:
    """A candidate is *busy* inside the gaps between consecutive answers at most their own
    median gap long (they were working then; a long gap is a pause or an idle wait)."""
    from scipy import sparse

    p = np.asarray(person, dtype=np.int64)
    at = np.asarray(answered_ms, dtype=float)
    ok = np.isfinite(at)
    p, at = p[ok], at[ok]
    t0 = at.min() if len(at) else 0.0
    bins = int((at.max() - t0) // bin_ms) + 2 if len(at) else 1
    b = ((at - t0) // bin_ms).astype(np.int64)
    answers = sparse.csr_matrix((np.ones(len(b)), (p, b)), shape=(n_persons, bins))
    busy = np.zeros((n_persons, bins + 1), dtype=np.float32)
    first = np.zeros(n_persons, dtype=np.int64)
    last = np.full(n_persons, -1, dtype=np.int64)
    order = np.lexsort((at, p))
    p, times = p[order], (at[order] - t0) / bin_ms
    starts = np.searchsorted(p, np.arange(n_persons))
    ends = np.searchsorted(p, np.arange(n_persons), side="right")
    for i in range(n_persons):
        mine = times[starts[i] : ends[i]]
        if len(mine) == 0:
            continue
        first[i], last[i] = int(mine[0]), int(mine[-1])
        if len(mine) < 3:
            continue
        gaps = np.diff(mine)
        short = gaps <= np.median(gaps)
        # Whole bins strictly inside a short gap (its end bins hold the answers themselves).
        lo = np.floor(mine[:-1][short]).astype(np.int64) + 1
        hi = np.floor(mine[1:][short]).astype(np.int64)
        keep = hi > lo
        np.add.at(busy[i], lo[keep], 1.0)
        np.add.at(busy[i], hi[keep], -1.0)
    busy = (np.cumsum(busy, axis=1)[:, :bins] > 0).astype(np.float32)
    return Activity(busy, answers, first, last)


def interleaved_pairs(
    act: Activity, names: Sequence[str], *, max_ratio: float = 0.2, min_expected: float = 10.0,
) -> list[InterleavedPair]:
    """Pairs who almost never answer while the other is busy.

    For each ordered pair (u, v), ``O`` = v's answers inside u's busy bins and ``E`` = v's
    answer rate (over v's window) times u's busy time inside v's window: what independent
    work would give. A pair is linked when ``O_uv + O_vu <= max_ratio (E_uv + E_vu)`` with
    ``E_uv + E_vu >= min_expected``: they answered at most a fifth as often as expected while
    the other was working. (A Poisson p-value would overstate the evidence: a candidate who
    answers in spells, honest or not, puts whole spells in or out of another's busy time, so
    counts are overdispersed.) Links are evidence to read with the speed flags, and rings
    (:func:`rings`) of three or more linked candidates are what a remote helper leaves.
    """
    n = len(names)
    length = np.maximum(act.last - act.first + 1, 1).astype(float)
    rate = np.asarray(act.answers.sum(axis=1)).ravel() / length
    observed = np.asarray(act.answers @ act.busy.T.astype(np.float64)).T  # [u, v]
    cum = np.concatenate(
        [np.zeros((n, 1)), np.cumsum(act.busy, axis=1, dtype=np.float64)], axis=1
    )
    hi = np.clip(act.last + 1, 0, cum.shape[1] - 1)
    lo = np.clip(act.first, 0, cum.shape[1] - 1)
    expected = (cum[:, hi] - cum[:, lo]) * rate[None, :]  # u's busy time in v's window
    o = observed + observed.T
    e = expected + expected.T
    iu, ju = np.triu_indices(n, k=1)
    o_pairs, e_pairs = o[iu, ju], e[iu, ju]
    hit = np.flatnonzero((e_pairs >= min_expected) & (o_pairs <= max_ratio * e_pairs))
    out = [
        InterleavedPair(names[iu[h]], names[ju[h]], int(o_pairs[h]), float(e_pairs[h]))
        for h in hit
    ]
    return sorted(out, key=lambda x: x.observed / x.expected)


def rings(pairs: Sequence[tuple[str, str]], *, min_links: int = 2) -> list[list[str]]:
    """Groups of three or more candidates each linked to at least ``min_links`` others of the
    group (the 2-core of the link graph, by components), largest first. A helper's
    candidates are all linked to each other; an honest candidate who happens to be linked to
    one of them once is not pulled in."""
    links: dict[str, set[str]] = {}
    for u, v in pairs:
        links.setdefault(u, set()).add(v)
        links.setdefault(v, set()).add(u)
    changed = True
    while changed:
        changed = False
        for x in [x for x, others in links.items() if len(others) < min_links]:
            for y in links.pop(x):
                if y in links:
                    links[y].discard(x)
            changed = True
    seen: set[str] = set()
    groups = []
    for start in links:
        if start in seen:
            continue
        stack, group = [start], []
        seen.add(start)
        while stack:
            x = stack.pop()
            group.append(x)
            for y in links[x] - seen:
                seen.add(y)
                stack.append(y)
        if len(group) >= 3:
            groups.append(sorted(group))
    return sorted(groups, key=lambda g: (-len(g), g))
