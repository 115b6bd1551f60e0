"""Ability estimators: MLE, MAP and EAP, each with its standard error.

Every estimator is a tiny object with one method, ``estimate(params, items, responses)``,
where ``items`` are indices into ``params`` and ``responses`` the answers to them: 0/1 for a
dichotomous item, the category 0..m for a weighted (GRM/GPCM) item. The
log-likelihood is evaluated on a fixed quadrature grid from tables computed once per bank
(:func:`likelihood_tables`), so one estimate costs O(k * grid) for k answered items; MLE and
MAP then refine the grid maximum by Fisher scoring, so they are not limited to grid points.

MLE has no finite solution when every answer is right (or wrong), or, with weighted items,
in the lowest (or highest) category. :class:`MLEEstimator` then
falls back to the EAP estimate under its prior (the method of Bock & Mislevy 1982, used by most
operational CATs for the first items): documented in docs/psychometrics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.irt.models import (
    DICHOTOMOUS,
    EPS,
    FloatArray,
    ItemParams,
    category_curves,
    category_information,
    prob,
)

#: Default ability range and quadrature: 81 points on [-4, 4] (spacing 0.1).
DEFAULT_BOUNDS = (-4.0, 4.0)
DEFAULT_POINTS = 81


@dataclass(frozen=True)
class Estimate:
    """An ability estimate and its standard error."""

    theta: float
    se: float


@dataclass(frozen=True)
class NormalPrior:
    """A normal prior N(mean, sd²) on ability."""

    mean: float = 0.0
    sd: float = 1.0

    def __post_init__(self) -> None:
        if not self.sd > 0:
            raise ValueError("the prior's sd must be positive")

    def log_density(self, theta: FloatArray) -> FloatArray:
        return -0.5 * ((theta - self.mean) / self.sd) ** 2

    def gradient(self, theta: float) -> float:
        return -(theta - self.mean) / self.sd**2

    def precision(self) -> float:
        return 1.0 / self.sd**2


@dataclass(frozen=True)
class UniformPrior:
    """A flat prior over the quadrature range (EAP then averages the likelihood itself)."""

    def log_density(self, theta: FloatArray) -> FloatArray:
        return np.zeros_like(theta)

    def gradient(self, theta: float) -> float:
        return 0.0

    def precision(self) -> float:
        return 0.0


Prior = NormalPrior | UniformPrior


@dataclass(frozen=True, eq=False)
class LikelihoodTables:
    """log P and log(1 - P) of every item at every grid point: shape (items, points).

    For a bank with weighted items, ``log_cat[j, k]`` is log P(X_j = k) on the grid, shape
    (items, categories, points); a dichotomous item's categories are (wrong, right) and
    categories an item does not have hold 0 (they are never indexed by a valid response).
    """

    grid: FloatArray
    log_p: FloatArray
    log_q: FloatArray
    log_cat: FloatArray | None = None


@lru_cache(maxsize=16)
def likelihood_tables(
    params: ItemParams, bounds: tuple[float, float] = DEFAULT_BOUNDS, points: int = DEFAULT_POINTS
) -> LikelihoodTables:
    """Tables for ``params`` on an evenly spaced grid; cached per bank object."""
    grid = np.linspace(bounds[0], bounds[1], points)
    p = params.prob(grid).T
    log_cat = None
    if params.has_polytomous:
        cat = np.moveaxis(params.category_probs(grid), 0, -1)
        log_cat = np.log(np.where(cat > 0, cat, 1.0))
    return LikelihoodTables(grid, np.log(p), np.log1p(-p), log_cat)


def log_likelihood(
    tables: LikelihoodTables, items: NDArray[np.int64], responses: NDArray[np.int64]
) -> FloatArray:
    """The log-likelihood of a response pattern at every grid point."""
    if len(items) == 0:
        return np.zeros_like(tables.grid)
    if tables.log_cat is not None:
        return tables.log_cat[items, responses].sum(axis=0)
    right = responses.astype(bool)
    return tables.log_p[items[right]].sum(axis=0) + tables.log_q[items[~right]].sum(axis=0)


def _as_arrays(
    params: ItemParams, items: ArrayLike, responses: ArrayLike
) -> tuple[NDArray, NDArray]:
    """Validated integer arrays of item indices and responses; every problem is a ValueError
    that names the offending position (never a silent cast, wrap-around or double count)."""
    raw_items = np.asarray(items).reshape(-1)
    raw_responses = np.asarray(responses).reshape(-1)
    if raw_items.shape != raw_responses.shape:
        raise ValueError(f"{len(raw_items)} items but {len(raw_responses)} responses")
    items_int = _integers(raw_items, "item index")
    responses_int = _integers(raw_responses, "response")
    bad = np.flatnonzero((items_int < 0) | (items_int >= len(params)))
    if len(bad):
        j = int(bad[0])
        raise ValueError(
            f"item index {items_int[j]} at position {j}: the bank has items 0..{len(params) - 1}"
        )
    listed = items_int.tolist()
    if len(set(listed)) != len(listed):
        again = sorted({i for i in listed if listed.count(i) > 1})
        raise ValueError(
            f"item(s) {', '.join(params.ids[i] for i in again[:5])} answered more than once "
            "in one pattern"
        )
    items, responses = items_int, responses_int
    if not params.has_polytomous:
        wrong = np.flatnonzero((responses != 0) & (responses != 1))
        if len(wrong):
            j = int(wrong[0])
            raise ValueError(
                f"response {responses[j]} to item {params.ids[items[j]]}: "
                "responses must be 0 or 1"
            )
        return items, responses
    top = params.n_categories[items] - 1
    bad = np.flatnonzero((responses < 0) | (responses > top))
    if len(bad):
        j = int(bad[0])
        raise ValueError(
            f"response {responses[j]} to item {params.ids[items[j]]}: responses must be 0 or 1 "
            f"for a dichotomous item, a category 0..{top[j]} for a weighted one"
        )
    return items, responses


def _integers(values: NDArray, what: str) -> NDArray[np.int64]:
    """``values`` as int64 if every one is a whole number, else a ValueError naming the first."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind == "b":
        return values.astype(np.int64)
    try:
        as_float = values.astype(float)
    except (TypeError, ValueError):
        shown = values.tolist()[:5]
        raise ValueError(f"every {what} must be a whole number, got {shown}") from None
    bad = np.flatnonzero(~np.isfinite(as_float) | (as_float != np.round(as_float)))
    if len(bad):
        j = int(bad[0])
        raise ValueError(f"{what} {values[j].item()!r} at position {j}: must be a whole number")
    return as_float.astype(np.int64)


def is_extreme(params: ItemParams, items: NDArray[np.int64], responses: NDArray) -> bool:
    """True when every response is in its item's lowest, or every one in its highest,
    category (all wrong / all right): the likelihood then has no finite maximum."""
    if not params.has_polytomous:
        total = int(responses.sum())
        return total == 0 or total == len(responses)
    return bool(np.all(responses == 0) or np.all(responses == params.n_categories[items] - 1))


def score_and_information(
    params: ItemParams, items: NDArray[np.int64], responses: NDArray[np.int64], theta: float
) -> tuple[float, float]:
    """First derivative of the log-likelihood and test information at ``theta`` (4PL)."""
    return _Pattern(params, items, responses).score_and_information(theta)


class _Pattern:
    """The answered items' parameters gathered once, for repeated evaluation.

    Weighted items are kept apart: their score is ``dP_x / P_x`` of the category x given
    and their information ``sum_k P_k'^2 / P_k`` (Samejima 1969; for the GPCM these are
    ``D a (x - E[X])`` and ``(D a)^2 Var(X)``, Muraki 1992, 1993).
    """

    __slots__ = ("a", "b", "c", "d_c", "params", "poly_items", "poly_x", "x")

    def __init__(self, params: ItemParams, items: NDArray[np.int64], responses: NDArray):
        self.params = params
        self.poly_items = self.poly_x = None
        if params.has_polytomous:
            poly = params.kind[items] != DICHOTOMOUS
            if poly.any():
                self.poly_items, self.poly_x = items[poly], responses[poly]
                items, responses = items[~poly], responses[~poly]
        self.a = params.D * params.a[items]
        self.b = params.b[items]
        self.c = params.c[items]
        self.d_c = params.d[items] - self.c
        self.x = responses

    def score_and_information(self, theta: float) -> tuple[float, float]:
        s = 1.0 / (1.0 + np.exp(-self.a * (theta - self.b)))
        p = np.clip(self.c + self.d_c * s, EPS, 1.0 - EPS)
        dp = self.a * self.d_c * s * (1.0 - s)
        pq = p * (1.0 - p)
        score, info = float(np.sum((self.x - p) * dp / pq)), float(np.sum(dp * dp / pq))
        if self.poly_items is not None:
            pk, dpk = self.params.polytomous_parts(theta, self.poly_items)
            rows = np.arange(len(self.poly_x))
            score += float(np.sum(dpk[rows, self.poly_x] / pk[rows, self.poly_x]))
            info += float(np.sum(category_information(pk, dpk)))
        return score, info


def _grid_mode(grid: FloatArray, log_f: FloatArray) -> float:
    """The maximum of a log-density on the grid, refined by a parabola through its neighbours."""
    i = int(np.argmax(log_f))
    if 0 < i < len(grid) - 1:
        left, mid, right = log_f[i - 1], log_f[i], log_f[i + 1]
        curvature = left - 2 * mid + right
        if curvature < 0:
            shift = 0.5 * (left - right) / curvature
            return float(grid[i] + shift * (grid[1] - grid[0]))
    return float(grid[i])


def _fisher_scoring(
    params: ItemParams,
    items: NDArray[np.int64],
    responses: NDArray[np.int64],
    start: float,
    prior: Prior | None,
    bounds: tuple[float, float],
) -> tuple[float, float]:
    """Solve score(theta) (+ prior gradient) = 0 from ``start``; returns (theta, information).

    ``start`` is the parabola-refined grid mode, already close to the root, so one or two
    steps usually suffice; the tolerance (1e-4) is far below any standard error a test can
    reach. The information returned is that of the last step's starting point, which
    differs from the root by less than the tolerance.
    """
    pattern = _Pattern(params, items, responses)
    theta, info = start, 0.0
    lo, hi = bounds
    # The root is bracketed once the score has been seen positive (left) and negative (right).
    left, right = -np.inf, np.inf
    for _ in range(40):
        score, info = pattern.score_and_information(theta)
        if prior is not None:
            score += prior.gradient(theta)
            info += prior.precision()
        if info <= 0:
            break
        if score > 0:
            left = theta
        else:
            right = theta
        # Steps are capped so a flat region cannot throw the estimate across the range.
        target = theta + min(max(score / info, -0.5), 0.5)
        if np.isfinite(left) and np.isfinite(right) and not left < target < right:
            # Expected information can be far below the observed curvature (3PL, few items),
            # and the full step then oscillates around the root: bisect the bracket instead.
            target = 0.5 * (left + right)
        target = min(max(target, lo), hi)
        step, theta = target - theta, target
        if abs(step) < 1e-4:
            break
    return theta, info


def pattern_log_likelihood(
    params: ItemParams, items: NDArray[np.int64], responses: NDArray[np.int64], theta: FloatArray
) -> FloatArray:
    """The log-likelihood of a validated response pattern at arbitrary abilities ``theta``."""
    theta = np.asarray(theta, dtype=float)
    out = np.zeros_like(theta)
    if len(items) == 0:
        return out
    poly = params.kind[items] != DICHOTOMOUS
    if poly.any():
        p, _ = params.polytomous_parts(theta, items[poly])
        rows = np.arange(int(poly.sum()))
        out += np.log(np.maximum(p[:, rows, responses[poly]], EPS)).sum(axis=-1)
    dich = items[~poly]
    if len(dich):
        p = prob(theta, params.a[dich], params.b[dich], params.c[dich], params.d[dich], D=params.D)
        right = responses[~poly].astype(bool)
        out += np.log(p[:, right]).sum(axis=-1) + np.log1p(-p[:, ~right]).sum(axis=-1)
    return out


#: Posterior density at the refined grid's ends is below exp(-TAIL) of its peak.
_TAIL = 30.0
#: The grid on which a normal-prior EAP is integrated first: wide enough that a N(0, 1)
#: prior leaves 2e-9 of its mass beyond it, at the fixed grid's step of 0.1.
_WIDE_BOUNDS, _WIDE_POINTS = (-6.0, 6.0), 121


@dataclass(frozen=True)
class EAPEstimator:
    """Expected a posteriori ability (Bock & Mislevy 1982) with the posterior SD as SE.

    Under a normal prior the mean and SD are integrals over the whole real line. A fixed grid
    on [-4, 4] cuts the posterior of a high or low scorer and is coarse for a sharp one, so
    the grid posterior only locates the posterior; the integrals are then taken by the
    trapezoidal rule on a grid centred on it and scaled to its SD (mean ± 11 SD, step SD/2.5,
    at most 0.25), widened until the density at both ends is below exp(-30) of its peak. For
    these smooth, rapidly decaying integrands the trapezoidal rule converges geometrically
    (Trefethen & Weideman 2014): it matches adaptive quadrature on the real line to 1e-6.
    A :class:`UniformPrior` is flat over ``bounds`` only, so its posterior stays on them.
    """

    prior: Prior = field(default_factory=NormalPrior)
    bounds: tuple[float, float] = DEFAULT_BOUNDS
    points: int = DEFAULT_POINTS

    @cached_property
    def _log_prior(self) -> FloatArray:
        grid = np.linspace(self.bounds[0], self.bounds[1], self.points)
        return self.prior.log_density(grid)

    def posterior(self, params: ItemParams, items: ArrayLike, responses: ArrayLike) -> FloatArray:
        """Normalised posterior weights on the fixed grid (a coarse picture, for selectors)."""
        items, responses = _as_arrays(params, items, responses)
        return self._grid_posterior(params, items, responses)

    def _grid_posterior(
        self, params: ItemParams, items: NDArray[np.int64], responses: NDArray[np.int64]
    ) -> FloatArray:
        return self._grid_log_posterior(params, items, responses)[0]

    def _grid_log_posterior(
        self, params: ItemParams, items: NDArray[np.int64], responses: NDArray[np.int64]
    ) -> tuple[FloatArray, FloatArray]:
        """Normalised weights on the fixed grid, and the log posterior they come from."""
        tables = likelihood_tables(params, self.bounds, self.points)
        log_post = log_likelihood(tables, items, responses) + self._log_prior
        w = np.exp(log_post - log_post.max())
        return w / w.sum(), log_post

    @cached_property
    def _wide_log_prior(self) -> FloatArray:
        return self.prior.log_density(np.linspace(*_WIDE_BOUNDS, _WIDE_POINTS))

    def estimate(self, params: ItemParams, items: ArrayLike, responses: ArrayLike) -> Estimate:
        items, responses = _as_arrays(params, items, responses)
        if isinstance(self.prior, UniformPrior):
            w = self._grid_posterior(params, items, responses)
            grid = likelihood_tables(params, self.bounds, self.points).grid
            mean = float(w @ grid)
            return Estimate(mean, float(np.sqrt(max(float(w @ (grid - mean) ** 2), 0.0))))
        tables = likelihood_tables(params, _WIDE_BOUNDS, _WIDE_POINTS)
        log_post = log_likelihood(tables, items, responses) + self._wide_log_prior
        peak = float(log_post.max())
        w = np.exp(log_post - peak)
        # The trapezoidal rule's half weights at the ends: then the only error of these sums
        # against the real-line integrals is the mass beyond the grid (bounded below).
        w[[0, -1]] *= 0.5
        total = float(w.sum())
        w /= total
        mean = float(w @ tables.grid)
        sd = float(np.sqrt(max(float(w @ (tables.grid - mean) ** 2), 0.0)))
        if self._grid_is_exact(tables, params, items, responses, peak + np.log(total), mean, sd):
            return Estimate(mean, sd)
        return self._refined(params, items, responses, mean, sd)

    def _grid_is_exact(
        self,
        tables: LikelihoodTables,
        params: ItemParams,
        items: NDArray[np.int64],
        responses: NDArray[np.int64],
        log_sum: float,
        mean: float,
        sd: float,
    ) -> bool:
        """Whether the wide grid's mean and SD are the real-line integrals to 1e-7.

        Two errors: the trapezoidal rule's, negligible when the step is at most SD / 2.5 (the
        refined grid's own rule), and the mass beyond the grid. That is bounded without
        evaluating it: below the grid every right answer's P is at most its P at the grid's
        end (P rises with theta) and every wrong answer's 1 - P at most 1, so the likelihood
        there is at most the product of the right answers' P at that end (above the grid, of
        the wrong answers' 1 - P); the normal prior's mass and moments beyond a point are
        closed forms. ``log_sum`` is the log of the trapezoid sum of the unnormalised
        posterior. Most adaptive steps pass and skip a second, refined evaluation.
        """
        grid = tables.grid
        step = float(grid[1] - grid[0])
        if (step > sd / 2.5 or params.has_polytomous or not isinstance(self.prior, NormalPrior)
                or np.any(params.a[items] <= 0)):
            return False
        right = responses == 1
        bound_lo = float(tables.log_p[items[right], 0].sum())
        bound_hi = float(tables.log_q[items[~right], -1].sum())
        mu, sigma = self.prior.mean, self.prior.sd
        # The log normaliser: the trapezoid sum times the step, the prior's constant in.
        log_norm = log_sum + math.log(step) - math.log(sigma * math.sqrt(2 * math.pi))
        d = mu - mean
        mass = moment2 = 0.0
        for z, side, bound in (((grid[0] - mu) / sigma, -1.0, bound_lo),
                               ((grid[-1] - mu) / sigma, 1.0, bound_hi)):
            # The prior's mass beyond the end (z, on ``side``) and its second moment about
            # ``mean``, each times the likelihood's bound there.
            tail = 0.5 * math.erfc(side * z / math.sqrt(2))
            dens = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
            second = (d * d * tail + 2 * side * d * sigma * dens
                      + sigma * sigma * (tail + side * z * dens))
            scale = math.exp(min(bound - log_norm, 700.0))
            mass += tail * scale
            moment2 += second * scale
        d_mean = math.sqrt(mass * moment2)  # Cauchy-Schwarz on the first moment
        d_var = moment2 + sd * sd * mass + d_mean * d_mean
        return d_mean < 1e-7 and d_var / sd < 1e-7

    def _refined(
        self,
        params: ItemParams,
        items: NDArray[np.int64],
        responses: NDArray[np.int64],
        mean: float,
        sd: float,
    ) -> Estimate:
        # The grid SD of a posterior cut at a bound, or sharper than the grid step, is off:
        # integrate once on the grid's picture, and again if the SD found differs by 2x.
        sd = max(sd, 0.02)
        for _ in range(3):
            new_mean, new_sd = self._trapezoid(params, items, responses, mean, sd)
            settled = sd / 2 <= new_sd <= 2 * sd
            mean, sd = new_mean, max(new_sd, 1e-3)
            if settled:
                break
        return Estimate(mean, new_sd)

    def _trapezoid(
        self,
        params: ItemParams,
        items: NDArray[np.int64],
        responses: NDArray[np.int64],
        mean: float,
        sd: float,
    ) -> tuple[float, float]:
        lo, hi = mean - 11 * sd, mean + 11 * sd
        step = min(sd / 2.5, 0.25)
        for _ in range(40):
            theta = np.linspace(lo, hi, int(np.ceil((hi - lo) / step)) + 1)
            log_post = pattern_log_likelihood(params, items, responses, theta)
            log_post += self.prior.log_density(theta)
            peak = log_post.max()
            low_open = log_post[0] > peak - _TAIL
            high_open = log_post[-1] > peak - _TAIL
            if not (low_open or high_open):
                break
            lo -= 11 * sd * low_open
            hi += 11 * sd * high_open
        w = np.exp(log_post - peak)
        w /= w.sum()
        m = float(w @ theta)
        return m, float(np.sqrt(max(float(w @ (theta - m) ** 2), 0.0)))

@dataclass(frozen=True)
class MAPEstimator:
    """Maximum a posteriori (Bayes modal) ability; SE = 1 / sqrt(information + prior precision)."""

    prior: Prior = field(default_factory=NormalPrior)
    bounds: tuple[float, float] = DEFAULT_BOUNDS
    points: int = DEFAULT_POINTS

    def estimate(self, params: ItemParams, items: ArrayLike, responses: ArrayLike) -> Estimate:
        items, responses = _as_arrays(params, items, responses)
        tables = likelihood_tables(params, self.bounds, self.points)
        log_post = log_likelihood(tables, items, responses) + self.prior.log_density(tables.grid)
        start = _grid_mode(tables.grid, log_post)
        theta, info = _fisher_scoring(params, items, responses, start, self.prior, self.bounds)
        return Estimate(theta, float(1.0 / np.sqrt(info)) if info > 0 else float("inf"))


@dataclass(frozen=True)
class MLEEstimator:
    """Maximum likelihood ability, bounded to ``bounds``; SE = 1 / sqrt(test information).

    Patterns with no finite maximum (no items, all right, all wrong; with weighted items all
    in the lowest or all in the highest category) get ``fallback``'s
    estimate instead (EAP under N(0, 1) by default), so the result is always finite and
    moves sensibly as answers arrive.
    """

    bounds: tuple[float, float] = DEFAULT_BOUNDS
    points: int = DEFAULT_POINTS
    fallback: EAPEstimator = field(default_factory=EAPEstimator)

    def estimate(self, params: ItemParams, items: ArrayLike, responses: ArrayLike) -> Estimate:
        items, responses = _as_arrays(params, items, responses)
        if is_extreme(params, items, responses):
            return self.fallback.estimate(params, items, responses)
        tables = likelihood_tables(params, self.bounds, self.points)
        start = _grid_mode(tables.grid, log_likelihood(tables, items, responses))
        theta, info = _fisher_scoring(params, items, responses, start, None, self.bounds)
        return Estimate(theta, float(1.0 / np.sqrt(info)) if info > 0 else float("inf"))


@dataclass(frozen=True)
class WLEEstimator:
    """Warm's (1989) weighted likelihood estimate: the root of ``ℓ'(θ) + J(θ) / (2 I(θ))``
    with ``I = Σ_j Σ_k P'_jk² / P_jk`` and ``J = Σ_j Σ_k P'_jk P''_jk / P_jk`` over the
    categories of each item (for a 0/1 item ``J = P' P'' / (P Q)``; for weighted items as
    Samejima 1998 generalises it), which removes the O(1/n) bias of the MLE and is finite for
    all-right and all-wrong patterns too, for 0/1 and weighted (GRM, GPCM) items alike.
    SE = 1 / sqrt(I(θ̂)). The root is bracketed on a grid over ``bounds`` and refined by
    Brent's method."""

    bounds: tuple[float, float] = (-6.0, 6.0)

    def _equation(self, params: ItemParams, items: NDArray, responses: NDArray):
        rows = np.arange(len(items))

        def f(theta: ArrayLike) -> tuple[FloatArray, FloatArray]:
            p, d1, d2 = category_curves(params, items, theta)
            open_ = p > 0
            safe = np.where(open_, p, 1.0)
            info = np.sum(np.where(open_, d1 * d1 / safe, 0.0), axis=(-2, -1))
            j = np.sum(np.where(open_, d1 * d2 / safe, 0.0), axis=(-2, -1))
            score = np.sum(d1[:, rows, responses] / safe[:, rows, responses], axis=-1)
            return score + j / (2 * info), info

        return f

    def estimate(self, params: ItemParams, items: ArrayLike, responses: ArrayLike) -> Estimate:
        items, responses = _as_arrays(params, items, responses)
        if len(items) == 0:
            return Estimate(0.0, float("inf"))
        from scipy.optimize import brentq

        f = self._equation(params, items, responses)
        grid = np.linspace(self.bounds[0], self.bounds[1], 121)
        values = f(grid)[0]
        # The weighted score falls with theta; take the last sign change (from + to -).
        change = np.flatnonzero((values[:-1] > 0) & (values[1:] <= 0))
        if len(change) == 0:
            theta = self.bounds[0] if values[0] <= 0 else self.bounds[1]
        else:
            i = int(change[-1])
            theta = float(brentq(lambda t: float(f(t)[0][0]), grid[i], grid[i + 1],
                                 xtol=1e-10))
        info = float(f(theta)[1][0])
        return Estimate(theta, float(1 / np.sqrt(info)) if info > 0 else float("inf"))


def sum_score_distribution(params: ItemParams, items: ArrayLike, theta: FloatArray) -> FloatArray:
    """P(summed score = s | theta) for s = 0..max of ``items`` at each ``theta``: shape
    (max + 1, len(theta)). The score of a 0/1 item is 0 or 1, of a weighted item its category
    0..m; the recursion of Lord & Wingersky (1984), over categories for weighted items
    (Thissen, Pommerich, Billeaud & Williams 1995)."""
    items = np.asarray(items, dtype=np.int64)
    theta = np.asarray(theta, dtype=float)
    if not params.has_polytomous or not np.any(params.kind[items] != DICHOTOMOUS):
        p = params.prob(theta)[:, items].T if len(items) else np.zeros((0, len(theta)))
        dist = np.zeros((len(items) + 1, len(theta)))
        dist[0] = 1.0
        for j, pj in enumerate(p):
            dist[1 : j + 2] = dist[1 : j + 2] * (1 - pj) + dist[: j + 1] * pj
            dist[0] *= 1 - pj
        return dist
    cats = params.category_probs(theta)[:, items, :]  # (G, J, K)
    tops = params.n_categories[items] - 1
    dist = np.zeros((int(tops.sum()) + 1, len(theta)))
    dist[0] = 1.0
    reach = 0
    for j, top in enumerate(tops):
        new = np.zeros_like(dist[: reach + top + 1])
        for k in range(top + 1):
            new[k : k + reach + 1] += dist[: reach + 1] * cats[:, j, k]
        reach += int(top)
        dist[: reach + 1] = new
    return dist


@dataclass(frozen=True)
class SumScoreEAPEstimator:
    """EAP given only the summed score on the items taken (Thissen & Orlando 2001): the
    posterior over a 201-point grid on [-6, 6] of the Lord-Wingersky likelihood of that sum
    (number right; a weighted item adds its category 0..m). Two candidates with the same sum
    on the same items get the same score, as a published score table needs."""

    prior: NormalPrior = field(default_factory=NormalPrior)

    def estimate(self, params: ItemParams, items: ArrayLike, responses: ArrayLike) -> Estimate:
        items, responses = _as_arrays(params, items, responses)
        grid = np.linspace(-6, 6, 201)
        likelihood = sum_score_distribution(params, items, grid)[int(responses.sum())]
        w = likelihood * np.exp(self.prior.log_density(grid))
        w /= w.sum()
        mean = float(w @ grid)
        return Estimate(mean, float(np.sqrt(max(float(w @ (grid - mean) ** 2), 0.0))))


Estimator = EAPEstimator | MAPEstimator | MLEEstimator

ESTIMATORS: dict[str, type] = {"eap": EAPEstimator, "map": MAPEstimator, "mle": MLEEstimator}
