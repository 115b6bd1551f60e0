"""Item response functions and Fisher information, vectorised over abilities and items.

Dichotomous items follow the four-parameter logistic model (1PL, 2PL and 3PL are its special
cases with ``c = 0`` and/or ``d = 1`` and a common ``a``)::

    P(theta) = c + (d - c) / (1 + exp(-D a (theta - b)))

``D`` is 1 (the logistic metric, the default everywhere in cat-engine) or 1.702 (which makes
the logistic curve approximate the normal ogive). Every function broadcasts: ``theta`` of
shape ``(m,)`` and item arrays of shape ``(n,)`` give ``(m, n)``; a scalar theta gives ``(n,)``.

Polytomous (weighted, TKP-like) items use Samejima's graded-response model or Muraki's
generalised partial-credit model; see docs/psychometrics.md for the formulas and sources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Probabilities are kept this far from 0 and 1 so that logs and information stay finite.
EPS = 1e-10
#: The scaling constant that makes the logistic curve approximate the normal ogive.
D_NORMAL = 1.702

FloatArray = NDArray[np.float64]


def _grid(theta: ArrayLike) -> tuple[FloatArray, bool]:
    t = np.asarray(theta, dtype=float)
    return (t[..., None] if t.ndim else t), bool(t.ndim)


def logistic(z: ArrayLike) -> FloatArray:
    """The standard logistic function, overflow-safe."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def prob(
    theta: ArrayLike,
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike = 0.0,
    d: ArrayLike = 1.0,
    *,
    D: float = 1.0,
) -> FloatArray:
    """P(correct) under the 4PL for every (theta, item) pair."""
    t, _ = _grid(theta)
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    p = c + (d - c) * logistic(D * a * (t - b))
    return np.clip(p, EPS, 1.0 - EPS)


def information(
    theta: ArrayLike,
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike = 0.0,
    d: ArrayLike = 1.0,
    *,
    D: float = 1.0,
) -> FloatArray:
    """Fisher information of each item at each theta (Magis 2013, eq. 2).

    ``I = (D a)^2 (P - c)^2 (d - P)^2 / ((d - c)^2 P (1 - P))``; with ``c = 0, d = 1`` this is
    the 2PL's ``(D a)^2 P (1 - P)`` and with ``d = 1`` Birnbaum's 3PL formula.
    """
    t, _ = _grid(theta)
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    s = logistic(D * a * (t - b))
    p = np.clip(c + (d - c) * s, EPS, 1.0 - EPS)
    # (P - c)(d - P) / (d - c) = (d - c) s (1 - s): written so to stay exact near the asymptotes.
    num = (d - c) * s * (1.0 - s)
    return (D * a) ** 2 * num * num / (p * (1.0 - p))


# --- polytomous models --------------------------------------------------------------------


def grm_category_probs(
    theta: ArrayLike, a: float, thresholds: Sequence[float], *, D: float = 1.0
) -> FloatArray:
    """Samejima's graded response model: P(X = k), k = 0..m, shape ``(..., m + 1)``.

    ``P(X >= k) = logistic(D a (theta - b_k))`` for the ordered thresholds ``b_1 < ... < b_m``.
    """
    t = np.asarray(theta, dtype=float)[..., None]
    b = np.asarray(thresholds, dtype=float)
    if np.any(np.diff(b) <= 0):
        raise ValueError("graded-response thresholds must be strictly increasing")
    star = logistic(D * a * (t - b))
    ones = np.ones_like(star[..., :1])
    zeros = np.zeros_like(ones)
    cum = np.concatenate([ones, star, zeros], axis=-1)
    return np.clip(cum[..., :-1] - cum[..., 1:], EPS, 1.0)


def grm_information(
    theta: ArrayLike, a: float, thresholds: Sequence[float], *, D: float = 1.0
) -> FloatArray:
    """Item information of a graded-response item (Samejima 1969; Baker & Kim 2004, ch. 8).

    ``I = sum_k (P*'_k - P*'_{k+1})^2 / P_k`` with ``P*' = D a P* (1 - P*)``.
    """
    t = np.asarray(theta, dtype=float)[..., None]
    b = np.asarray(thresholds, dtype=float)
    star = logistic(D * a * (t - b))
    deriv = D * a * star * (1.0 - star)
    zeros = np.zeros_like(deriv[..., :1])
    dcum = np.concatenate([zeros, deriv, zeros], axis=-1)
    dp = dcum[..., :-1] - dcum[..., 1:]
    p = grm_category_probs(theta, a, thresholds, D=D)
    return np.sum(dp * dp / p, axis=-1)


def gpcm_category_probs(
    theta: ArrayLike, a: float, thresholds: Sequence[float], *, D: float = 1.0
) -> FloatArray:
    """Muraki's generalised partial-credit model: P(X = k), k = 0..m, shape ``(..., m + 1)``.

    ``P(X = k) ∝ exp(sum_{v <= k} D a (theta - b_v))`` with the empty sum for k = 0.
    """
    t = np.asarray(theta, dtype=float)[..., None]
    b = np.asarray(thresholds, dtype=float)
    steps = D * a * (t - b)
    zeros = np.zeros_like(steps[..., :1])
    z = np.cumsum(np.concatenate([zeros, steps], axis=-1), axis=-1)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.clip(e / e.sum(axis=-1, keepdims=True), EPS, 1.0)


def gpcm_information(
    theta: ArrayLike, a: float, thresholds: Sequence[float], *, D: float = 1.0
) -> FloatArray:
    """Item information of a GPCM item: ``(D a)^2 Var(X | theta)`` (Muraki 1993)."""
    p = gpcm_category_probs(theta, a, thresholds, D=D)
    k = np.arange(p.shape[-1], dtype=float)
    mean = np.sum(k * p, axis=-1)
    return (D * a) ** 2 * (np.sum(k * k * p, axis=-1) - mean * mean)


#: Item kinds in :attr:`ItemParams.kind`.
DICHOTOMOUS, GRM, GPCM = 0, 1, 2
#: Model names of polytomous items in PARAMS.json and the bank's ``IrtParams``.
POLYTOMOUS_MODELS = {"grm": GRM, "gpcm": GPCM}


def polytomous_parts(
    theta: ArrayLike, kind: NDArray[np.int8], da: FloatArray, thresholds: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Category probabilities P_k and their derivatives dP_k/dtheta of many GRM/GPCM items.

    ``da`` is ``D a`` per item and ``thresholds`` the ``(n, m)`` thresholds, NaN-padded on the
    right for items with fewer categories; a scalar theta gives ``(n, m + 1)`` arrays, a
    ``(g,)`` grid ``(g, n, m + 1)``. Padded categories get P = dP = 0, so that sums over
    categories (information, expected score, KL) need no mask.
    """
    t = np.asarray(theta, dtype=float)
    t = t[..., None, None] if t.ndim else t
    valid = ~np.isnan(thresholds)
    b = np.where(valid, thresholds, 0.0)
    z = da[:, None] * (t - b)
    shape = np.broadcast_shapes(np.shape(z), thresholds.shape)
    p = np.zeros((*shape[:-1], shape[-1] + 1))
    dp = np.zeros_like(p)
    grm, gpcm = kind == GRM, kind == GPCM
    if grm.any():
        # P(X >= k) = logistic(D a (theta - b_k)); a padded threshold is b = +inf (P* = 0).
        star = np.where(valid[grm], logistic(z[..., grm, :]), 0.0)
        dstar = da[grm, None] * star * (1.0 - star)
        one, zero = np.ones_like(star[..., :1]), np.zeros_like(star[..., :1])
        cum = np.concatenate([one, star, zero], axis=-1)
        dcum = np.concatenate([zero, dstar, zero], axis=-1)
        p[..., grm, :] = cum[..., :-1] - cum[..., 1:]
        dp[..., grm, :] = dcum[..., :-1] - dcum[..., 1:]
    if gpcm.any():
        # P(X = k) ∝ exp(sum_{v <= k} D a (theta - b_v)); dP_k = D a P_k (k - E[X]).
        steps = np.where(valid[gpcm], z[..., gpcm, :], 0.0)
        zero = np.zeros_like(steps[..., :1])
        cum = np.cumsum(np.concatenate([zero, steps], axis=-1), axis=-1)
        open_ = np.concatenate([np.ones_like(valid[gpcm, :1]), valid[gpcm]], axis=-1)
        cum = np.where(open_, cum, -np.inf)
        e = np.exp(cum - cum.max(axis=-1, keepdims=True))
        probs = e / e.sum(axis=-1, keepdims=True)
        k = np.arange(probs.shape[-1], dtype=float)
        mean = (probs * k).sum(axis=-1, keepdims=True)
        p[..., gpcm, :] = probs
        dp[..., gpcm, :] = da[gpcm, None] * probs * (k - mean)
    open_all = np.concatenate([np.ones_like(valid[:, :1]), valid], axis=-1)
    # Observable categories stay EPS away from 0 so that logs and information stay finite.
    p = np.where(open_all, np.maximum(p, EPS), 0.0)
    return p, dp


def category_curves(
    params: ItemParams, items: ArrayLike, theta: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """P(X_j = k) of ``items`` and its first and second derivatives in theta, each of shape
    (len(theta), len(items), K), any mix of kinds: a dichotomous item's categories are
    (wrong, right); categories an item lacks are 0 in all three.

    Second derivatives: 4PL ``P'' = D a P' (1 − 2 s)`` (s the logistic part); GPCM
    ``P_k'' = (D a)² P_k ((k − E)² − Var)``; GRM the differences of the cumulative curves'
    ``P*'' = D a P*' (1 − 2 P*)``.
    """
    idx = np.asarray(items, dtype=np.int64)
    t = np.asarray(theta, dtype=float).reshape(-1)
    width = int(params.n_categories[idx].max()) if len(idx) else 2
    shape = (len(t), len(idx), width)
    p, d1, d2 = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    kind = params.kind[idx]
    da = params.D * params.a[idx]
    dich = np.flatnonzero(kind == DICHOTOMOUS)
    if len(dich):
        j = idx[dich]
        s = logistic(da[dich] * (t[:, None] - params.b[j]))
        span = params.d[j] - params.c[j]
        p1 = np.clip(params.c[j] + span * s, EPS, 1.0 - EPS)
        g1 = da[dich] * span * s * (1 - s)
        g2 = da[dich] * g1 * (1 - 2 * s)
        p[:, dich, 0], p[:, dich, 1] = 1 - p1, p1
        d1[:, dich, 0], d1[:, dich, 1] = -g1, g1
        d2[:, dich, 0], d2[:, dich, 1] = -g2, g2
    poly = np.flatnonzero(kind != DICHOTOMOUS)
    if len(poly):
        m = width - 1
        thr = params.thresholds[idx[poly], :m]
        pk, dk = polytomous_parts(t, kind[poly], da[poly], thr)  # (G, n, m + 1)
        p[:, poly, : m + 1], d1[:, poly, : m + 1] = pk, dk
        a = da[poly][None, :, None]
        gpcm = kind[poly] == GPCM
        if gpcm.any():
            q = pk[:, gpcm]
            k = np.arange(m + 1, dtype=float)
            mean = (q * k).sum(-1, keepdims=True)
            var = (q * k * k).sum(-1, keepdims=True) - mean**2
            d2[:, poly[gpcm], : m + 1] = a[:, gpcm] ** 2 * q * ((k - mean) ** 2 - var)
        grm = ~gpcm
        if grm.any():
            valid = ~np.isnan(thr[grm])
            b = np.where(valid, thr[grm], 0.0)
            star = np.where(valid, logistic(a[:, grm] * (t[:, None, None] - b)), 0.0)
            curve = a[:, grm] ** 2 * star * (1 - star) * (1 - 2 * star)
            zero = np.zeros_like(curve[..., :1])
            cum = np.concatenate([zero, curve, zero], axis=-1)
            d2[:, poly[grm], : m + 1] = cum[..., :-1] - cum[..., 1:]
    return p, d1, d2


def category_information(p: FloatArray, dp: FloatArray) -> FloatArray:
    """Fisher information ``sum_k P_k'^2 / P_k`` over the last axis (0 for padded categories)."""
    return np.sum(np.divide(dp * dp, p, out=np.zeros_like(p), where=p > 0), axis=-1)


# --- an item bank's parameters as arrays ----------------------------------------------------


class ParamsError(ValueError):
    """A parameter file or mapping is malformed; the message names the item and field."""


@dataclass(frozen=True, eq=False)
class ItemParams:
    """The IRT parameters of a bank as aligned arrays, plus what selection needs.

    ``topics[i]`` is an index into ``topic_names``; ``enemies[i]`` the indices of the items
    that may not share a test with item ``i`` (kept symmetric).

    A bank may mix dichotomous and weighted items: ``kind[i]`` is :data:`DICHOTOMOUS`,
    :data:`GRM` or :data:`GPCM`, and a polytomous item's ``thresholds[i]`` holds its
    ``m`` category thresholds (NaN-padded to the widest item); its response is a category
    ``0..m``. For such an item ``a`` is its slope, ``b`` the mean threshold (a location for
    reports), ``c = 0`` and ``d = 1``; :meth:`prob` is meaningful for dichotomous items only,
    :meth:`category_probs`, :meth:`expected_score` and :meth:`information` for all.
    """

    ids: tuple[str, ...]
    a: FloatArray
    b: FloatArray
    c: FloatArray
    d: FloatArray
    D: float = 1.0
    topics: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    topic_names: tuple[str, ...] = ("",)
    enemies: tuple[NDArray[np.int64], ...] = ()
    kind: NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    thresholds: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        n = len(self.ids)
        kind = np.asarray(self.kind, dtype=np.int8)
        kind = np.zeros(n, dtype=np.int8) if kind.size == 0 else kind
        thresholds = np.asarray(self.thresholds, dtype=float)
        thresholds = np.zeros((n, 0)) if thresholds.size == 0 else thresholds
        if kind.shape != (n,) or thresholds.ndim != 2 or len(thresholds) != n:
            raise ParamsError(f"'kind' and 'thresholds' must have one row for each of {n} items")
        for arr in (kind, thresholds):
            arr.setflags(write=False)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "thresholds", thresholds)
        for name in ("a", "b", "c", "d"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (n,):
                raise ParamsError(f"'{name}' has {arr.size} values for {n} items")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if len(self.topics) == 0:
            object.__setattr__(self, "topics", np.zeros(n, dtype=np.int64))
        if not self.enemies:
            object.__setattr__(self, "enemies", tuple(np.zeros(0, np.int64) for _ in range(n)))
        if self.D <= 0:
            raise ParamsError("the scaling constant D must be positive")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def index(self) -> dict[str, int]:
        return {item_id: i for i, item_id in enumerate(self.ids)}

    @cached_property
    def _derived(self) -> tuple[FloatArray, FloatArray]:
        # D*a and d - c, reused by every call on the adaptive hot path.
        return self.D * self.a, self.d - self.c

    @cached_property
    def has_polytomous(self) -> bool:
        return bool(np.any(self.kind != DICHOTOMOUS))

    @cached_property
    def n_categories(self) -> NDArray[np.int64]:
        """Response categories per item: 2 for a dichotomous item, m + 1 for m thresholds."""
        m = np.sum(~np.isnan(self.thresholds), axis=1)
        return np.where(self.kind == DICHOTOMOUS, 2, m + 1).astype(np.int64)

    @cached_property
    def _poly(self) -> tuple[NDArray[np.int64], NDArray[np.int8], FloatArray, FloatArray]:
        # Indices, kinds, D*a and thresholds of the polytomous items, gathered once.
        idx = np.flatnonzero(self.kind != DICHOTOMOUS)
        width = int(self.n_categories[idx].max()) - 1 if len(idx) else 0
        return idx, self.kind[idx], self.D * self.a[idx], self.thresholds[idx, :width]

    def polytomous_parts(
        self, theta: ArrayLike, items: NDArray[np.int64] | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """P_k and dP_k/dtheta of polytomous ``items`` (all of them by default)."""
        if items is None:
            _, kind, da, thr = self._poly
        else:
            width = int(self.n_categories[items].max()) - 1 if len(items) else 0
            kind, da, thr = self.kind[items], self.D * self.a[items], self.thresholds[items, :width]
        return polytomous_parts(theta, kind, da, thr)

    def prob(self, theta: ArrayLike) -> FloatArray:
        """P(correct) of the dichotomous items (not meaningful for polytomous ones)."""
        return prob(theta, self.a, self.b, self.c, self.d, D=self.D)

    def category_probs(self, theta: ArrayLike) -> FloatArray:
        """P(X = k) of every item, shape ``(..., n, K)`` with K the most categories of any
        item; a dichotomous item's categories are (wrong, right), missing categories are 0."""
        p1 = self.prob(theta)
        out = np.zeros((*p1.shape, int(self.n_categories.max())))
        out[..., 0], out[..., 1] = 1.0 - p1, p1
        if self.has_polytomous:
            idx = self._poly[0]
            p, _ = self.polytomous_parts(theta)
            out[..., idx, :] = 0.0
            out[..., idx, : p.shape[-1]] = p
        return out

    def expected_score(self, theta: ArrayLike) -> FloatArray:
        """E[X | theta] per item: P for a dichotomous item, the expected category otherwise."""
        score = self.prob(theta)
        if self.has_polytomous:
            p, _ = self.polytomous_parts(theta)
            score[..., self._poly[0]] = p @ np.arange(p.shape[-1], dtype=float)
        return score

    def information(self, theta: ArrayLike) -> FloatArray:
        """Item information at theta; a scalar theta takes a fast path (same formula)."""
        if np.ndim(theta):
            info = information(theta, self.a, self.b, self.c, self.d, D=self.D)
        else:
            da, span = self._derived
            s = 1.0 / (1.0 + np.exp(-da * (float(theta) - self.b)))
            p = self.c + span * s
            np.clip(p, EPS, 1.0 - EPS, out=p)
            num = span * s * (1.0 - s)
            info = da * da * num * num / (p * (1.0 - p))
        if self.has_polytomous:
            info[..., self._poly[0]] = category_information(*self.polytomous_parts(theta))
        return info

    def test_information(self, theta: ArrayLike, items: ArrayLike | None = None) -> FloatArray:
        """Sum of the information of ``items`` (all items by default) at each theta."""
        info = self.information(theta)
        if items is not None:
            info = info[..., np.asarray(items, dtype=np.int64)]
        return info.sum(axis=-1)

    def subset(self, items: ArrayLike) -> ItemParams:
        idx = np.asarray(items, dtype=np.int64)
        remap = {int(old): new for new, old in enumerate(idx)}
        enemies = tuple(
            np.array([remap[int(e)] for e in self.enemies[i] if int(e) in remap], np.int64)
            for i in idx
        )
        return ItemParams(
            ids=tuple(self.ids[i] for i in idx),
            a=self.a[idx],
            b=self.b[idx],
            c=self.c[idx],
            d=self.d[idx],
            D=self.D,
            topics=self.topics[idx],
            topic_names=self.topic_names,
            enemies=enemies,
            kind=self.kind[idx],
            thresholds=self.thresholds[idx],
        )

    def to_json(self) -> dict[str, Any]:
        """The PARAMS.json shape: ``{"items": [{"id", "a", "b", "c", ...}]}``."""
        items = []
        models = {code: name for name, code in POLYTOMOUS_MODELS.items()}
        for i, item_id in enumerate(self.ids):
            row: dict[str, Any]
            if self.kind[i] != DICHOTOMOUS:
                thresholds = self.thresholds[i][~np.isnan(self.thresholds[i])]
                row = {
                    "id": item_id,
                    "model": models[int(self.kind[i])],
                    "a": float(self.a[i]),
                    "thresholds": [float(t) for t in thresholds],
                }
            else:
                row = {
                    "id": item_id,
                    "a": float(self.a[i]),
                    "b": float(self.b[i]),
                    "c": float(self.c[i]),
                }
                if self.d[i] != 1.0:
                    row["d"] = float(self.d[i])
            if self.topic_names[self.topics[i]]:
                row["topic"] = self.topic_names[self.topics[i]]
            if len(self.enemies[i]):
                row["enemies"] = [self.ids[e] for e in self.enemies[i]]
            items.append(row)
        return {"items": items}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | Sequence[Any], *, D: float = 1.0) -> ItemParams:
        """Read ``{"items": [...]}`` (or a bare list); every problem names the item and field.

        A row is dichotomous (``a``, ``b``, optional ``c``, ``d``) or, with ``"model": "grm"``
        or ``"gpcm"``, a weighted item with ``a`` and its category ``thresholds``.
        """
        rows = data.get("items") if isinstance(data, Mapping) else data
        if not isinstance(rows, list) or not rows:
            raise ParamsError("expected a non-empty list under 'items'")
        problems: list[str] = []
        ids: list[str] = []
        values: dict[str, list[float]] = {k: [] for k in "abcd"}
        topics: list[str] = []
        enemy_ids: list[list[str]] = []
        kinds: list[int] = []
        thresholds: list[list[float]] = []
        for n, row in enumerate(rows, start=1):
            where = f"item {n}"
            if not isinstance(row, Mapping):
                problems.append(f"{where}: expected an object, got {type(row).__name__}")
                continue
            item_id = row.get("id")
            if not isinstance(item_id, str | int) or isinstance(item_id, bool) or item_id == "":
                problems.append(f"{where}: missing or invalid 'id'")
                item_id = f"#{n}"
            where = f"item {n} ({item_id})"
            ids.append(str(item_id))
            model = row.get("model")
            kind = POLYTOMOUS_MODELS.get(model, DICHOTOMOUS) if isinstance(model, str) else 0
            if model is not None and kind == DICHOTOMOUS and model not in _DICHOTOMOUS_MODELS:
                problems.append(
                    f"{where}: 'model' must be one of 1pl, 2pl, 3pl, 4pl, grm, gpcm, got {model!r}"
                )
            kinds.append(kind)
            if kind != DICHOTOMOUS:
                problems += _read_polytomous(where, model, row, values, thresholds)
                topic = row.get("topic", "")
                topics.append(str(topic) if topic is not None else "")
                enemies = row.get("enemies", [])
                if not isinstance(enemies, list):
                    problems.append(f"{where}: 'enemies' must be a list of item ids")
                    enemies = []
                enemy_ids.append([str(e) for e in enemies])
                continue
            thresholds.append([])
            for key, default in (("a", 1.0), ("b", None), ("c", 0.0), ("d", 1.0)):
                raw = row.get(key, default)
                try:
                    if raw is None or isinstance(raw, bool):
                        raise TypeError
                    value = float(raw)
                    if not np.isfinite(value):
                        raise ValueError
                except (TypeError, ValueError):
                    problems.append(f"{where}: '{key}' must be a number, got {raw!r}")
                    value = float("nan")
                values[key].append(value)
            a, b, c, d = (values[k][-1] for k in "abcd")
            if a == a and not 0 < a <= 10:
                problems.append(f"{where}: 'a' must be in (0, 10], got {a}")
            if b == b and not -10 <= b <= 10:
                problems.append(f"{where}: 'b' must be in [-10, 10], got {b}")
            if c == c and d == d and not 0 <= c < d <= 1:
                problems.append(f"{where}: need 0 <= c < d <= 1, got c={c}, d={d}")
            topic = row.get("topic", "")
            topics.append(str(topic) if topic is not None else "")
            enemies = row.get("enemies", [])
            if not isinstance(enemies, list):
                problems.append(f"{where}: 'enemies' must be a list of item ids")
                enemies = []
            enemy_ids.append([str(e) for e in enemies])
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            problems.append(f"duplicate item id(s): {', '.join(duplicates[:10])}")
        index = {item_id: i for i, item_id in enumerate(ids)}
        for n, enemies in enumerate(enemy_ids):
            unknown = [e for e in enemies if e not in index]
            if unknown:
                problems.append(f"item {n + 1} ({ids[n]}): unknown enemy id(s) {unknown[:5]}")
        if problems:
            raise ParamsError("; ".join(problems[:20]) + (" …" if len(problems) > 20 else ""))
        topic_names = tuple(dict.fromkeys(topics))
        topic_index = {name: i for i, name in enumerate(topic_names)}
        width = max((len(t) for t in thresholds), default=0)
        padded = np.full((len(ids), width), np.nan)
        for i, row_thresholds in enumerate(thresholds):
            padded[i, : len(row_thresholds)] = row_thresholds
        links: list[set[int]] = [set() for _ in ids]
        for i, enemies in enumerate(enemy_ids):
            for e in enemies:
                links[i].add(index[e])
                links[index[e]].add(i)
        return cls(
            ids=tuple(ids),
            a=np.array(values["a"]),
            b=np.array(values["b"]),
            c=np.array(values["c"]),
            d=np.array(values["d"]),
            D=D,
            topics=np.array([topic_index[t] for t in topics], dtype=np.int64),
            topic_names=topic_names,
            enemies=tuple(np.array(sorted(s), dtype=np.int64) for s in links),
            kind=np.array(kinds, dtype=np.int8),
            thresholds=padded,
        )

    @classmethod
    def from_metas(
        cls, metas: Sequence[Any], *, D: float = 1.0, polytomous: bool = False
    ) -> ItemParams:
        """Build from ``item_bank.model.ItemMeta`` objects with dichotomous ``irt`` parameters,
        or also GRM/GPCM ones (weighted items) when ``polytomous`` is set."""
        present = {meta.id for meta in metas}
        rows = []
        for meta in metas:
            irt = meta.irt
            if irt is None or (irt.model in POLYTOMOUS_MODELS and not polytomous):
                raise ParamsError(f"item {meta.id}: no dichotomous IRT parameters")
            row: dict[str, Any] = {
                "id": meta.id,
                "topic": meta.topic,
                "enemies": [e for e in meta.enemies if e in present],
            }
            if irt.model in POLYTOMOUS_MODELS:
                row.update(model=irt.model, a=irt.a, thresholds=list(irt.thresholds or ()))
            else:
                row.update(a=irt.a, b=irt.b, c=irt.c, d=irt.d)
            rows.append(row)
        return cls.from_json({"items": rows}, D=D)


_DICHOTOMOUS_MODELS = ("1pl", "2pl", "3pl", "4pl")
#: More thresholds than an item can have options (8) is surely a mistake.
MAX_THRESHOLDS = 7


def _read_polytomous(
    where: str,
    model: str,
    row: Mapping[str, Any],
    values: dict[str, list[float]],
    thresholds: list[list[float]],
) -> list[str]:
    """Append a GRM/GPCM row's slope and thresholds; return its problems."""
    problems = [
        f"{where}: '{key}' does not apply to a {model} item (give 'a' and 'thresholds')"
        for key in ("b", "c", "d")
        if key in row
    ]
    raw_a = row.get("a", 1.0)
    a = float("nan")
    if isinstance(raw_a, int | float) and not isinstance(raw_a, bool) and np.isfinite(raw_a):
        a = float(raw_a)
        if not 0 < a <= 10:
            problems.append(f"{where}: 'a' must be in (0, 10], got {a}")
    else:
        problems.append(f"{where}: 'a' must be a number, got {raw_a!r}")
    raw = row.get("thresholds")
    steps: list[float] = []
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_THRESHOLDS:
        problems.append(
            f"{where}: 'thresholds' must be a list of 1 to {MAX_THRESHOLDS} numbers, got {raw!r}"
        )
    elif not all(
        isinstance(t, int | float) and not isinstance(t, bool) and np.isfinite(t) for t in raw
    ):
        problems.append(f"{where}: 'thresholds' must all be numbers, got {raw!r}")
    else:
        steps = [float(t) for t in raw]
        if any(not -10 <= t <= 10 for t in steps):
            problems.append(f"{where}: 'thresholds' must be in [-10, 10], got {steps}")
        if model == "grm" and np.any(np.diff(steps) <= 0):
            problems.append(f"{where}: graded-response thresholds must be strictly increasing")
    values["a"].append(a)
    values["b"].append(float(np.mean(steps)) if steps else float("nan"))
    values["c"].append(0.0)
    values["d"].append(1.0)
    thresholds.append(steps)
    return problems


def load_params(text: str, *, D: float = 1.0) -> ItemParams:
    """Parse a PARAMS.json document."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParamsError(
            f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    return ItemParams.from_json(data, D=D)
