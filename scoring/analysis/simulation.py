"""Simulated exam answers with planted cheating, for tests and benchmarks of the integrity
analysis: a 2PL for the key and nominal-model distractors (Bock 1972) whose pull falls with
ability, so that weak candidates share the popular wrong answers, as real ones do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ItemModel:
    """The true item model: a 2PL for the key, nominal-model distractors."""

    a: FloatArray
    b: FloatArray
    key: NDArray[np.int64]
    #: (items, options) intercepts and slopes of the distractors' nominal model.
    intercept: FloatArray
    slope: FloatArray

    def probabilities(self, theta: FloatArray) -> FloatArray:
        """``P[i, j, k]``: the chance of option k of item j at ability ``theta[i]``."""
        theta = np.asarray(theta, dtype=float)
        items = np.arange(len(self.key))
        p = 1 / (1 + np.exp(-self.a * (theta[:, None] - self.b)))
        z = self.intercept[None] + self.slope[None] * theta[:, None, None]
        z[:, items, self.key] = -np.inf
        share = np.exp(z - z.max(axis=2, keepdims=True))
        share /= share.sum(axis=2, keepdims=True)
        prob = (1 - p)[:, :, None] * share
        prob[:, items, self.key] = p
        return prob


@dataclass(frozen=True)
class SimulatedExam:
    theta: FloatArray
    key: NDArray[np.int64]
    #: P[i, j, k]: the true chance that candidate i picks option k of item j alone.
    probabilities: FloatArray
    #: (candidates, items) chosen option indices.
    options: NDArray[np.int64]
    #: The generating model (benchmarks evaluate it at abilities other than the true ones).
    model: ItemModel | None = None


def simulate_exam(
    candidates: int, items: int, *, n_options: int = 5, seed: int = 0
) -> SimulatedExam:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=candidates)
    a = rng.lognormal(0.0, 0.3, items)
    b = rng.normal(0.0, 1.0, items)
    key = rng.integers(0, n_options, items)
    # Distractors: intercepts make some popular; slopes (negative) make weak candidates
    # favour the popular ones more.
    intercept = rng.normal(0.0, 0.8, (items, n_options))
    slope = rng.normal(-0.3, 0.2, (items, n_options))
    model = ItemModel(a, b, key, intercept, slope)
    prob = model.probabilities(theta)
    return SimulatedExam(theta, key, prob, draw_options(prob, rng), model)


def draw_options(prob: FloatArray, rng: np.random.Generator) -> NDArray[np.int64]:
    """One option per (row, item), drawn from ``prob[row, item, option]``."""
    cum = prob.cumsum(axis=2)
    u = rng.random((*prob.shape[:2], 1))
    return np.minimum((u > cum).sum(axis=2), prob.shape[2] - 1).astype(np.int64)


def plant_copying(
    options: NDArray[np.int64], pairs: int, rate: float, *, seed: int = 0
) -> tuple[NDArray[np.int64], list[tuple[int, int]]]:
    """Copy ``rate`` of each source's answers (of the items both were shown) into a copier;
    returns the new options and the (copier, source) pairs, all candidates distinct."""
    rng = np.random.default_rng(seed)
    out = options.copy()
    people = rng.choice(len(options), 2 * pairs, replace=False)
    planted = [(int(people[2 * i]), int(people[2 * i + 1])) for i in range(pairs)]
    for copier, source in planted:
        both = np.flatnonzero((out[copier] >= 0) & (out[source] >= 0))
        take = both[rng.random(len(both)) < rate]
        out[copier, take] = out[source, take]
    return out, planted


@dataclass(frozen=True)
class SimulatedTimes:
    """When each candidate answered each item (ms from the exam's start) and the seconds
    the item was on screen before that answer, both (candidates, items)."""

    answered_ms: FloatArray
    seconds: FloatArray


def simulate_times(
    candidates: int, items: int, *, mean_seconds: float = 45.0, seed: int = 0
) -> SimulatedTimes:
    """Lognormal response times (van der Linden 2006): person speed τ ~ N(0, 0.25²), item
    intensity β ~ N(log mean, 0.4²), item discrimination α ~ U(1.5, 2.5); each candidate works
    through the items in an order of their own, one after the other."""
    rng = np.random.default_rng(seed)
    tau = rng.normal(0, 0.25, candidates)
    beta = rng.normal(np.log(mean_seconds), 0.4, items)
    alpha = rng.uniform(1.5, 2.5, items)
    log_t = beta[None, :] - tau[:, None] + rng.normal(size=(candidates, items)) / alpha
    seconds = np.exp(log_t)
    answered = np.zeros_like(seconds)
    for i in range(candidates):
        order = rng.permutation(items)
        answered[i, order] = np.cumsum(seconds[i, order]) * 1000 + rng.uniform(0, 30_000)
    return SimulatedTimes(answered, seconds)


def plant_helper(
    exam: SimulatedExam, times: SimulatedTimes, helped: list[int], *,
    helper_theta: float = 2.0, helper_seconds: float = 9.0, seed: int = 0,
) -> tuple[NDArray[np.int64], SimulatedTimes]:
    """One remote helper answers every item for the ``helped`` candidates, one candidate's
    spell of 3-8 items at a time in turn (their terminals sit idle in between): the
    helper's own answers (ability ``helper_theta``) at the helper's pace."""
    rng = np.random.default_rng(seed)
    options = exam.options.copy()
    answered, seconds = times.answered_ms.copy(), times.seconds.copy()
    k = options.shape[1]
    # The helper answers like the simulated candidate closest to their ability.
    p = exam.probabilities[int(np.argmin(np.abs(exam.theta - helper_theta)))]
    queues = {c: list(rng.permutation(k)) for c in helped}
    shown_since = {c: 0.0 for c in helped}
    clock = rng.uniform(0, 30_000)
    while any(queues.values()):
        for c in helped:
            spell = int(rng.integers(3, 9))
            for _ in range(min(spell, len(queues[c]))):
                j = queues[c].pop(0)
                t = float(np.exp(np.log(helper_seconds) + rng.normal(0, 0.3))) * 1000
                clock += t
                options[c, j] = int(rng.choice(p.shape[1], p=p[j] / p[j].sum()))
                answered[c, j] = clock
                seconds[c, j] = (clock - shown_since[c]) / 1000
                shown_since[c] = clock
    return options, SimulatedTimes(answered, seconds)


def export_csv(
    options: NDArray[np.int64], key: NDArray[np.int64], times: SimulatedTimes | None = None,
    *, sites: int = 1, labels: str = "ABCDE", groups: list[str] | None = None,
) -> str:
    """The simulated exam as a responses export (what ``cat-engine responses export`` writes),
    candidates spread over ``sites`` sites of one room each."""
    from scoring.analysis.responses import EXPORT_COLUMNS

    n, k = options.shape
    lines = [",".join(EXPORT_COLUMNS)]
    for i in range(n):
        site = f"S{i % sites + 1}"
        for j in range(k):
            x = int(options[i, j])
            if x == -1:
                continue
            choice = labels[x] if x >= 0 else ""
            at = "" if times is None else f"{times.answered_ms[i, j]:.0f}"
            sec = "" if times is None else f"{times.seconds[i, j]:.3f}"
            row = {
                "examinee": f"C{i:05d}", "item": f"TIU-{j:03d}",
                "score": "5" if x == int(key[j]) else "0", "site": site,
                "session": f"{site}-1", "room": "R1", "seat": "",
                "group": groups[i] if groups else "",
                "section": "TIU", "position": str(j + 1), "choice": choice,
                "key": labels[int(key[j])], "max_points": "5", "shown_ms": "",
                "answered_ms": at, "seconds": sec,
            }
            lines.append(",".join(row[c] for c in EXPORT_COLUMNS))
    return "\n".join(lines) + "\n"
