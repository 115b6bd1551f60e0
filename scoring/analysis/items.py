"""Classical item statistics: facility, corrected point-biserial, distractor analysis, flags.

Inputs are plain arrays: ``scores`` (examinees x items, the points each got, 0 for blank,
NaN for an item the examinee was never shown) and optionally ``choices`` (the option label each
chose, "" for blank) with the ``key``. Top and bottom groups are the 27% highest and lowest
total scorers (Kelley 1939).

Every candidate sits a different form drawn from the bank, so most cells of a session's matrix
are NaN: each statistic of an item is taken over the examinees who were shown it, never with
the others counted as zeros (that would flag every item of a large bank as too hard).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class Thresholds:
    """When an item is flagged (conventional values, Ebel & Frisbie 1991, ch. 13)."""

    too_easy: float = 0.90
    too_hard: float = 0.20
    weak_discrimination: float = 0.20
    #: A distractor chosen by this much more of the top group than the bottom one.
    wrong_key_margin: float = 0.05
    group_fraction: float = 0.27


@dataclass(frozen=True)
class OptionStats:
    label: str
    is_key: bool
    overall: float
    top: float
    bottom: float


@dataclass(frozen=True)
class ItemStats:
    item_id: str
    facility: float
    discrimination: float
    options: tuple[OptionStats, ...] = ()
    flags: tuple[str, ...] = field(default=())
    #: Examinees who were shown the item (the base of every figure above).
    presented: int = 0


def corrected_point_biserial(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Correlation of each item with the total of the *other* items (NaN when constant).

    Taken over the examinees who were shown the item (non-NaN cells); the rest score is the
    examinee's total on the items they were shown, less this item.
    """
    shown = ~np.isnan(scores)
    x = np.where(shown, scores, 0.0)
    weight = shown.astype(float)
    count = weight.sum(axis=0)
    rest = x.sum(axis=1, keepdims=True) - x
    with np.errstate(invalid="ignore", divide="ignore"):
        x_mean = x.sum(axis=0) / count
        rest_mean = (rest * weight).sum(axis=0) / count
        dx = (x - x_mean) * weight
        dy = (rest - rest_mean) * weight
        denom = np.sqrt((dx * dx).sum(axis=0) * (dy * dy).sum(axis=0))
        return np.where((denom > 0) & (count > 1), (dx * dy).sum(axis=0) / denom, np.nan)


def item_statistics(
    scores: ArrayLike,
    item_ids: Sequence[str],
    *,
    max_points: ArrayLike | None = None,
    min_points: ArrayLike | None = None,
    choices: Sequence[Sequence[str]] | None = None,
    key: Sequence[str] | None = None,
    thresholds: Thresholds | None = None,
) -> list[ItemStats]:
    """Statistics and flags of every item; ``choices``/``key`` enable distractor analysis."""
    t = thresholds or Thresholds()
    x = np.asarray(scores, dtype=float)
    n, k = x.shape
    if len(item_ids) != k:
        raise ValueError(f"{len(item_ids)} item ids for {k} columns")
    shown = ~np.isnan(x)
    presented = shown.sum(axis=0)
    # Facility is the mean score on the item's range, (mean - lowest) / (highest - lowest):
    # a weighted item scored 1..5 whose takers all chose the 1-point option has facility 0,
    # not 0.2 (which would keep "too hard" from ever firing). Without given bounds the range
    # is the observed one, taken as 0..1 for an item scored 0/1 only.
    observed = np.where(shown, x, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        seen_max = np.nanmax(observed, axis=0)
        seen_min = np.nanmin(observed, axis=0)
    binary = np.all(~shown | (x == 0) | (x == 1), axis=0)
    high = (
        np.asarray(max_points, dtype=float)
        if max_points is not None
        else np.where(binary, 1.0, seen_max)
    )
    low = (
        np.asarray(min_points, dtype=float)
        if min_points is not None
        else np.where(binary, 0.0, seen_min)
    )
    span = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(shown, x, 0.0).sum(axis=0) / presented
        facility = np.where(span > 0, (mean - low) / np.where(span > 0, span, 1.0), np.nan)
    r = corrected_point_biserial(x)
    total = np.where(shown, x, 0.0).sum(axis=1)
    order = np.argsort(total, kind="stable")
    size = max(1, round(t.group_fraction * n))
    bottom, top = order[:size], order[-size:]
    picks = np.asarray(choices, dtype=object) if choices is not None else None
    out = []
    for j in range(k):
        flags = []
        if presented[j] == 0:
            out.append(ItemStats(item_ids[j], float("nan"), float("nan"), (), ("not_presented",)))
            continue
        if np.isfinite(r[j]) and r[j] < 0:
            flags.append("negative_discrimination")
        elif not np.isfinite(r[j]) or r[j] < t.weak_discrimination:
            flags.append("weak_discrimination")
        if facility[j] > t.too_easy:
            flags.append("too_easy")
        if facility[j] < t.too_hard:
            flags.append("too_hard")
        options: list[OptionStats] = []
        if picks is not None:
            column = picks[:, j]
            labels = sorted({str(v) for v in column[shown[:, j]] if v not in ("", None)})
            top_shown, bottom_shown = top[shown[top, j]], bottom[shown[bottom, j]]
            for label in labels:
                chose = column == label
                stats = OptionStats(
                    label=label,
                    is_key=key is not None and bool(key[j]) and label == key[j],
                    overall=float(chose[shown[:, j]].mean()),
                    top=_rate(chose, top_shown),
                    bottom=_rate(chose, bottom_shown),
                )
                options.append(stats)
                if (
                    key is not None
                    and key[j]
                    and not stats.is_key
                    and stats.top - stats.bottom >= t.wrong_key_margin
                    and "likely_wrong_key" not in flags
                ):
                    flags.append("likely_wrong_key")
        out.append(
            ItemStats(item_ids[j], float(facility[j]), float(r[j]), tuple(options), tuple(flags),
                      int(presented[j]))
        )
    return out


def _rate(chose: NDArray[np.bool_], group: NDArray[np.intp]) -> float:
    """Share of ``group`` that chose the option (0 for an empty group: nobody there saw it)."""
    return float(chose[group].mean()) if group.size else 0.0
