"""Monte Carlo simulation of adaptive tests, and Sympson-Hetter calibration by simulation.

A simulee with true ability theta answers item j correctly with probability P_j(theta), or a
weighted (GRM/GPCM) item in category k with probability P_jk(theta); the test runs through
the same :class:`~scoring.irt.adaptive.Engine` a live exam uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.irt.adaptive import AdaptiveConfig, Engine
from scoring.irt.models import ItemParams


@dataclass(frozen=True)
class SimulationResult:
    true_theta: NDArray[np.float64]
    theta: NDArray[np.float64]
    se: NDArray[np.float64]
    lengths: NDArray[np.int64]
    #: Times each item was given.
    usage: NDArray[np.int64]
    #: Times each item was chosen for a (Sympson-Hetter) lottery, given or not.
    selected: NDArray[np.int64]
    seconds: float
    steps: int
    administered: list[tuple[int, ...]] = field(repr=False, default_factory=list)

    @property
    def n(self) -> int:
        return len(self.true_theta)

    @property
    def rmse(self) -> float:
        return float(np.sqrt(np.mean((self.theta - self.true_theta) ** 2)))

    @property
    def bias(self) -> float:
        return float(np.mean(self.theta - self.true_theta))

    @property
    def exposure(self) -> NDArray[np.float64]:
        """Share of simulees who were given each item."""
        return self.usage / max(self.n, 1)

    @property
    def overlap_rate(self) -> float:
        """Expected share of a test's items that two random simulees have in common.

        Sum over items of pairs sharing it, over all pairs, over the mean test length
        (Way 1998; Chen, Ankenmann & Spray 2003).
        """
        n = self.n
        if n < 2 or self.lengths.mean() == 0:
            return 0.0
        shared = float(np.sum(self.usage * (self.usage - 1))) / (n * (n - 1))
        return shared / float(self.lengths.mean())

    def summary(self) -> dict[str, float]:
        return {
            "rmse": round(self.rmse, 4),
            "bias": round(self.bias, 4),
            "mean_se": round(float(np.mean(self.se)), 4),
            "mean_length": round(float(np.mean(self.lengths)), 3),
            "max_exposure": round(float(self.exposure.max()), 4),
            "overlap_rate": round(self.overlap_rate, 4),
            "seconds": round(self.seconds, 3),
            "us_per_step": round(1e6 * self.seconds / max(self.steps, 1), 2),
        }


def simulate(
    params: ItemParams,
    thetas: ArrayLike,
    config: AdaptiveConfig,
    *,
    seed: int = 0,
    keep_tests: bool = False,
) -> SimulationResult:
    """Run one adaptive test per true ability; deterministic in ``seed``."""
    true = np.asarray(thetas, dtype=float).reshape(-1)
    engine = Engine.build(params, config)
    answers = np.random.default_rng(seed)
    n_items = len(params)
    usage = np.zeros(n_items, dtype=np.int64)
    selected = np.zeros(n_items, dtype=np.int64)
    est = np.empty(len(true))
    ses = np.empty(len(true))
    lengths = np.empty(len(true), dtype=np.int64)
    tests: list[tuple[int, ...]] = []
    steps = 0
    start = time.perf_counter()
    for i, theta in enumerate(true):
        state = engine.initial_state()
        rng_seed = seed * 1_000_003 + i
        # A weighted item's category: the number of cumulative probabilities below a uniform.
        cum = np.cumsum(params.category_probs(theta), axis=-1) if params.has_polytomous else None
        while (choice := engine.select(state, rng_seed)) is not None:
            item, set_aside = choice
            u = answers.random()
            if cum is not None and params.kind[item]:
                response = min(int(np.sum(u >= cum[item])), int(params.n_categories[item]) - 1)
            else:
                p = params.c[item] + (params.d[item] - params.c[item]) / (
                    1.0 + np.exp(-params.D * params.a[item] * (theta - params.b[item]))
                )
                response = int(u < p)
            state = engine.record(state, item, response, set_aside)
            selected[set_aside] += 1
            steps += 1
        administered = np.asarray(state.administered, dtype=np.int64)
        usage[administered] += 1
        selected[administered] += 1
        est[i], ses[i], lengths[i] = state.theta, state.se, len(administered)
        if keep_tests:
            tests.append(state.administered)
    seconds = time.perf_counter() - start
    return SimulationResult(true, est, ses, lengths, usage, selected, seconds, steps, tests)


@dataclass(frozen=True)
class ExposureCalibration:
    """Sympson-Hetter parameters by item id, and the trace of the calibration."""

    exposure: dict[str, float]
    max_exposure: list[float]
    converged: bool


def calibrate_sympson_hetter(
    params: ItemParams,
    thetas: ArrayLike,
    config: AdaptiveConfig,
    *,
    r_max: float = 0.25,
    iterations: int = 30,
    seed: int = 0,
) -> ExposureCalibration:
    """Sympson & Hetter's (1985) iterative simulations for the exposure parameters K_j.

    Start with K = 1. Simulate; an item chosen for a share P(S_j) of simulees is given to
    P(A_j) = P(S_j) K_j of them. Where P(A_j) exceeds the target, lower K_j towards
    target / P(S_j); where it is below and K_j < 1, raise it (never above 1); repeat. Each
    round draws new responses and lotteries (same abilities), so the check that ends the
    calibration is made on a sample the current K was not fitted to. The abilities should
    resemble the expected candidates (e.g. N(0, 1)).

    An observed exposure is a proportion in N simulees with sampling SD
    ``s = sqrt(r (1 - r) / N)``. To bound the *expected* exposure (what new candidates will
    see) rather than this sample's, the update aims every item at ``r_max - 3 s``: the most
    exposed of the few dozen items held at that level then shows about 2 to 3 s more in any
    one sample. After ``iterations // 2`` rounds (by then the steps are small) the
    calibration stops once a round's largest exposure is at most ``r_max - s / 2``
    (benchmarks/bench_irt.py checks the result on fresh simulees).
    """
    if not 0 < r_max <= 1:
        raise ValueError("r_max must be in (0, 1]")
    n = len(np.asarray(thetas).reshape(-1))
    noise = float(np.sqrt(r_max * (1 - r_max) / max(n, 1)))
    target, accept = max(r_max - 3 * noise, r_max / 2), r_max - 0.5 * noise
    min_rounds = iterations // 2
    k = np.ones(len(params))
    trace: list[float] = []
    exposure: dict[str, float] = {}
    for round_ in range(iterations):
        exposure = {item_id: float(k[i]) for i, item_id in enumerate(params.ids)}
        cfg = config.model_copy(update={"selector": "sympson_hetter", "exposure": exposure})
        result = simulate(params, thetas, cfg, seed=seed + round_)
        trace.append(float(result.exposure.max()))
        # Early rounds take big steps; a low maximum then may be luck, not convergence.
        if trace[-1] <= accept and round_ >= min_rounds:
            return ExposureCalibration(exposure, trace, True)
        # K_j scales the exposure of item j (P(A_j) = P(S_j) K_j): move each K by a power
        # of the ratio of target to observed exposure. The power starts at 1/2 (an item held
        # back passes its selections to its neighbours, and the full step oscillates) and
        # then decays like 1/round (Robbins & Monro 1951), so K settles instead of chasing
        # each round's sampling noise.
        p_given = result.usage / result.n
        ratio = np.where(p_given > 0, target / np.maximum(p_given, 1e-12), np.inf)
        gain = min(0.5, 4.0 / (round_ + 1))
        k = np.clip(k * ratio**gain, 1e-3, 1.0)
    return ExposureCalibration(exposure, trace, False)
