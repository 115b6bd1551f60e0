"""Item selectors: each a tiny object whose one method picks the next item.

``select(ctx)`` gets a :class:`SelectionContext` (the bank, a boolean mask of the items that
may still be given, the current estimate, a seeded generator) and returns the chosen item's
index and the indices it *set aside* on the way (only Sympson-Hetter sets any aside: items
that lost their exposure lottery may not be given later in the same test). Nothing here
mutates its arguments, so a selection is reproducible from its inputs.

Eligibility (not yet given, not an enemy of a given item, in the topic the blueprint needs
next) is computed once per step by :func:`eligible_mask` and :func:`content_mask`, as numpy
masks, never Python membership tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from scoring.irt.estimators import likelihood_tables
from scoring.irt.models import ItemParams

BoolArray = NDArray[np.bool_]
IndexArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class SelectionContext:
    """What a selector may look at. ``seed`` seeds :attr:`rng`, built only when used."""

    params: ItemParams
    eligible: BoolArray
    theta: float
    n_given: int
    seed: Sequence[int] | int | None = None

    @cached_property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)


@dataclass(frozen=True, eq=False)
class Selection:
    """The chosen item, and the items that lost an exposure lottery on the way to it."""

    item: int
    set_aside: IndexArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def eligible_mask(
    params: ItemParams, given: Sequence[int], set_aside: Sequence[int] = ()
) -> BoolArray:
    """Items not yet given, not set aside, and not an enemy of any given item."""
    mask = np.ones(len(params), dtype=bool)
    if len(given):
        idx = np.asarray(given, dtype=np.int64)
        mask[idx] = False
        enemies = [params.enemies[i] for i in idx if len(params.enemies[i])]
        if enemies:
            mask[np.concatenate(enemies)] = False
    if len(set_aside):
        mask[np.asarray(set_aside, dtype=np.int64)] = False
    return mask


def content_mask(
    params: ItemParams, given: Sequence[int], targets: NDArray[np.float64], eligible: BoolArray
) -> BoolArray:
    """Restrict ``eligible`` to the topic furthest behind its quota (Kingsbury & Zara 1989).

    ``targets[t]`` is topic t's share of the test (summing to 1). The topic whose
    ``target * (given + 1) - count`` is largest, among topics with an eligible item, is next.
    """
    counts = np.bincount(params.topics[np.asarray(given, dtype=np.int64)], minlength=len(targets))[
        : len(targets)
    ]
    deficit = targets * (len(given) + 1) - counts
    available = np.bincount(params.topics[eligible], minlength=len(targets))[: len(targets)] > 0
    deficit = np.where(available & (targets > 0), deficit, -np.inf)
    if not np.isfinite(deficit).any():
        return eligible
    return eligible & (params.topics == int(np.argmax(deficit)))


def _masked(values: NDArray[np.float64], eligible: BoolArray) -> NDArray[np.float64]:
    return np.where(eligible, values, -np.inf)


@dataclass(frozen=True)
class MaxInfoSelector:
    """The eligible item with the most Fisher information at the current estimate (Lord 1980)."""

    def select(self, ctx: SelectionContext) -> Selection:
        info = _masked(ctx.params.information(ctx.theta), ctx.eligible)
        return Selection(int(np.argmax(info)))


@dataclass(frozen=True)
class KLSelector:
    """Chang & Ying's (1996) Kullback-Leibler index, integrated over theta ± z / sqrt(n).

    Early in a test the estimate is poor, so the index looks at a wide interval around it
    instead of a single point; the interval narrows as answers accumulate. For weighted
    items the divergence sums over their categories, ``sum_k P_k(θ̂) log(P_k(θ̂) / P_k(θ))``.
    """

    z: float = 3.0

    def select(self, ctx: SelectionContext) -> Selection:
        tables = likelihood_tables(ctx.params)
        delta = self.z / np.sqrt(max(ctx.n_given, 1))
        window = np.abs(tables.grid - ctx.theta) <= delta
        if not window.any():
            window[np.argmin(np.abs(tables.grid - ctx.theta))] = True
        if tables.log_cat is not None:
            p_hat = ctx.params.category_probs(ctx.theta)
            # Missing categories have P = 0 and log P = 0 in the table: they add nothing.
            # scipy is imported here, not at the top: the live server imports this module,
            # and scipy.special alone is 25 MiB of every server's memory.
            from scipy.special import xlogy

            self_term = np.sum(xlogy(p_hat, p_hat), axis=1) * window.sum()
            cross = np.einsum("jk,jkg->j", p_hat, tables.log_cat[:, :, window])
            return Selection(int(np.argmax(_masked(self_term - cross, ctx.eligible))))
        p_hat = ctx.params.prob(ctx.theta)[:, None]
        log_p, log_q = tables.log_p[:, window], tables.log_q[:, window]
        kl = p_hat * (np.log(p_hat) - log_p) + (1 - p_hat) * (np.log1p(-p_hat) - log_q)
        return Selection(int(np.argmax(_masked(kl.sum(axis=1), ctx.eligible))))


@dataclass(frozen=True)
class RandomesqueSelector:
    """One of the ``k`` most informative eligible items, uniformly (Kingsbury & Zara 1989)."""

    k: int = 5

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("randomesque k must be at least 1")

    def select(self, ctx: SelectionContext) -> Selection:
        info = _masked(ctx.params.information(ctx.theta), ctx.eligible)
        k = min(self.k, int(ctx.eligible.sum()))
        top = np.argpartition(-info, k - 1)[:k] if k < len(info) else np.arange(len(info))
        top = top[np.isfinite(info[top])]
        return Selection(int(ctx.rng.choice(top)))


@dataclass(frozen=True, eq=False)
class SympsonHetterSelector:
    """Sympson-Hetter (1985) exposure control around maximum information.

    Eligible items are visited from the most informative down; each faces a lottery it wins
    with probability ``exposure[j]`` (its exposure-control parameter, calibrated by
    simulation with :func:`scoring.irt.simulation.calibrate_sympson_hetter`). Items that lose
    are set aside for the rest of this candidate's test, as in the original procedure. The
    last eligible item is given if every lottery is lost, so a test never runs dry.
    """

    exposure: NDArray[np.float64]

    def select(self, ctx: SelectionContext) -> Selection:
        info = ctx.params.information(ctx.theta)
        candidates = np.flatnonzero(ctx.eligible)
        order = candidates[np.argsort(-info[candidates], kind="stable")]
        wins = ctx.rng.random(len(order)) <= self.exposure[order]
        first = int(np.argmax(wins)) if wins.any() else len(order) - 1
        return Selection(int(order[first]), order[:first])


Selector = MaxInfoSelector | KLSelector | RandomesqueSelector | SympsonHetterSelector
