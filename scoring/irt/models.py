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


# --- an item bank's parameters as arrays ----------------------------------------------------


class ParamsError(ValueError):
    """A parameter file or mapping is malformed; the message names the item and field."""


@dataclass(frozen=True, eq=False)
class ItemParams:
    """The dichotomous parameters of a bank as aligned arrays, plus what selection needs.

    ``topics[i]`` is an index into ``topic_names``; ``enemies[i]`` the indices of the items
    that may not share a test with item ``i`` (kept symmetric).
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

    def __post_init__(self) -> None:
        n = len(self.ids)
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

    def prob(self, theta: ArrayLike) -> FloatArray:
        return prob(theta, self.a, self.b, self.c, self.d, D=self.D)

    def information(self, theta: ArrayLike) -> FloatArray:
        """Item information at theta; a scalar theta takes a fast path (same formula)."""
        if np.ndim(theta):
            return information(theta, self.a, self.b, self.c, self.d, D=self.D)
        da, span = self._derived
        s = 1.0 / (1.0 + np.exp(-da * (float(theta) - self.b)))
        p = self.c + span * s
        np.clip(p, EPS, 1.0 - EPS, out=p)
        num = span * s * (1.0 - s)
        return da * da * num * num / (p * (1.0 - p))

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
        )

    def to_json(self) -> dict[str, Any]:
        """The PARAMS.json shape: ``{"items": [{"id", "a", "b", "c", ...}]}``."""
        items = []
        for i, item_id in enumerate(self.ids):
            row: dict[str, Any] = {
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
        """Read ``{"items": [...]}`` (or a bare list); every problem names the item and field."""
        rows = data.get("items") if isinstance(data, Mapping) else data
        if not isinstance(rows, list) or not rows:
            raise ParamsError("expected a non-empty list under 'items'")
        problems: list[str] = []
        ids: list[str] = []
        values: dict[str, list[float]] = {k: [] for k in "abcd"}
        topics: list[str] = []
        enemy_ids: list[list[str]] = []
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
        )

    @classmethod
    def from_metas(cls, metas: Sequence[Any], *, D: float = 1.0) -> ItemParams:
        """Build from ``item_bank.model.ItemMeta`` objects with dichotomous ``irt`` parameters."""
        present = {meta.id for meta in metas}
        rows = []
        for meta in metas:
            irt = meta.irt
            if irt is None or irt.model in ("grm", "gpcm"):
                raise ParamsError(f"item {meta.id}: no dichotomous IRT parameters")
            rows.append(
                {
                    "id": meta.id,
                    "a": irt.a,
                    "b": irt.b,
                    "c": irt.c,
                    "d": irt.d,
                    "topic": meta.topic,
                    "enemies": [e for e in meta.enemies if e in present],
                }
            )
        return cls.from_json({"items": rows}, D=D)


def load_params(text: str, *, D: float = 1.0) -> ItemParams:
    """Parse a PARAMS.json document."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParamsError(
            f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    return ItemParams.from_json(data, D=D)
