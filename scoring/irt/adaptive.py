"""The adaptive test of one candidate: a serialisable state and the two calls a server needs.

- :func:`next_item` ``(state, params, config, rng_seed, elapsed=0)`` -> the index of the next
  item, or ``None`` when the stopping rule is met (or nothing eligible is left).
- :func:`record` ``(state, item, response, params, config, rng_seed)`` -> the new state, with
  the ability re-estimated.

Both are deterministic in their arguments: random choices (randomesque, Sympson-Hetter) draw
from a generator seeded by ``(rng_seed, number of items given)``. So a server that persists
the (item, response) events can rebuild the state exactly with :func:`replay` after a crash
and will be offered the same next item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from scoring.irt.estimators import (
    EAPEstimator,
    Estimator,
    MAPEstimator,
    MLEEstimator,
    NormalPrior,
)
from scoring.irt.models import ItemParams
from scoring.irt.selectors import (
    KLSelector,
    MaxInfoSelector,
    RandomesqueSelector,
    SelectionContext,
    Selector,
    SympsonHetterSelector,
    content_mask,
    eligible_mask,
)
from scoring.irt.stoppers import AnyStopper, LengthStopper, SEStopper, TimeStopper

SelectorName = Literal["max_info", "kl", "randomesque", "sympson_hetter"]
EstimatorName = Literal["eap", "map", "mle"]


class AdaptiveConfig(BaseModel):
    """How an adaptive section selects, estimates and stops (the ``adaptive`` table of an exam).

    Defaults are the ones recommended for live exams: maximum information selection with EAP
    under N(0, 1) (finite from the first answer on, lowest RMSE in short tests, see
    docs/psychometrics.md).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    selector: SelectorName = "max_info"
    estimator: EstimatorName = "eap"
    prior_mean: float = 0.0
    prior_sd: float = Field(1.0, gt=0)
    #: Randomesque: choose among this many most informative items.
    randomesque_k: int = Field(5, ge=1)
    #: Sympson-Hetter exposure-control parameters by item id (missing ids: 1, never held back).
    exposure: dict[str, float] | None = None
    #: KL selector: the interval is the estimate ± kl_z / sqrt(items given).
    kl_z: float = Field(3.0, gt=0)
    min_items: int = Field(1, ge=0)
    max_items: int = Field(20, ge=1)
    se_target: float | None = Field(None, gt=0)
    time_limit_s: float | None = Field(None, gt=0)
    #: Share of the test per topic (any positive numbers, normalised; e.g. item counts).
    topic_quotas: dict[str, float] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AdaptiveConfig:
        if self.min_items > self.max_items:
            raise ValueError(f"min_items {self.min_items} exceeds max_items {self.max_items}")
        if self.selector == "sympson_hetter" and self.exposure is None:
            raise ValueError("the sympson_hetter selector needs calibrated 'exposure' parameters")
        if self.exposure and any(not 0 < k <= 1 for k in self.exposure.values()):
            raise ValueError("exposure parameters must be in (0, 1]")
        if self.topic_quotas and any(v < 0 for v in self.topic_quotas.values()):
            raise ValueError("topic quotas must not be negative")
        return self


@dataclass(frozen=True)
class AdaptiveState:
    """What a candidate has done in an adaptive section; JSON-serialisable via to_dict()."""

    administered: tuple[int, ...] = ()
    responses: tuple[int, ...] = ()
    theta: float = 0.0
    se: float = 1.0
    #: Items that lost a Sympson-Hetter lottery: not to be given in this test.
    set_aside: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "administered": list(self.administered),
            "responses": list(self.responses),
            "theta": self.theta,
            "se": self.se,
            "set_aside": list(self.set_aside),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdaptiveState:
        return cls(
            administered=tuple(int(i) for i in data["administered"]),
            responses=tuple(int(r) for r in data["responses"]),
            theta=float(data["theta"]),
            se=float(data["se"]),
            set_aside=tuple(int(i) for i in data.get("set_aside", ())),
        )


@dataclass(frozen=True, eq=False)
class Engine:
    """The strategies of one (bank, config) pair, built once and reused for every step."""

    params: ItemParams
    config: AdaptiveConfig
    selector: Selector
    estimator: Estimator
    stopper: AnyStopper
    targets: np.ndarray | None

    @classmethod
    def build(cls, params: ItemParams, config: AdaptiveConfig) -> Engine:
        prior = NormalPrior(config.prior_mean, config.prior_sd)
        estimator: Estimator
        if config.estimator == "eap":
            estimator = EAPEstimator(prior=prior)
        elif config.estimator == "map":
            estimator = MAPEstimator(prior=prior)
        else:
            estimator = MLEEstimator(fallback=EAPEstimator(prior=prior))
        selector: Selector
        if config.selector == "max_info":
            selector = MaxInfoSelector()
        elif config.selector == "kl":
            selector = KLSelector(config.kl_z)
        elif config.selector == "randomesque":
            selector = RandomesqueSelector(config.randomesque_k)
        else:
            exposure = np.ones(len(params))
            index = params.index
            unknown = sorted(set(config.exposure or {}) - set(index))
            if unknown:
                raise ValueError(f"exposure parameters for unknown item id(s): {unknown[:5]}")
            for item_id, k in (config.exposure or {}).items():
                exposure[index[item_id]] = k
            selector = SympsonHetterSelector(exposure)
        rules: list[LengthStopper | SEStopper | TimeStopper] = [LengthStopper(config.max_items)]
        if config.se_target is not None:
            rules.append(SEStopper(config.se_target, max(config.min_items, 1)))
        if config.time_limit_s is not None:
            rules.append(TimeStopper(config.time_limit_s))
        targets = None
        if config.topic_quotas:
            unknown = sorted(set(config.topic_quotas) - set(params.topic_names))
            if unknown:
                raise ValueError(f"topic quota(s) for topic(s) no item has: {unknown[:5]}")
            raw = np.array([config.topic_quotas.get(t, 0.0) for t in params.topic_names])
            if raw.sum() <= 0:
                raise ValueError("topic quotas must not all be zero")
            targets = raw / raw.sum()
        return cls(params, config, selector, estimator, AnyStopper(tuple(rules)), targets)

    def initial_state(self) -> AdaptiveState:
        est = self.estimator.estimate(self.params, (), ())
        return AdaptiveState(theta=est.theta, se=est.se)

    @staticmethod
    def step_seed(rng_seed: int, state: AdaptiveState) -> list[int]:
        """The seed of this step's random draws: the candidate's seed and the step number."""
        return [int(rng_seed) & 0xFFFFFFFFFFFFFFFF, len(state.administered)]

    def select(
        self, state: AdaptiveState, rng_seed: int, elapsed: float = 0.0
    ) -> tuple[int, np.ndarray] | None:
        """The next item and the items set aside choosing it, or None when the test is over."""
        if self.stopper.stop(len(state.administered), state.se, elapsed):
            return None
        mask = eligible_mask(self.params, state.administered, state.set_aside)
        if not mask.any():
            return None
        if self.targets is not None:
            mask = content_mask(self.params, state.administered, self.targets, mask)
        ctx = SelectionContext(
            self.params, mask, state.theta, len(state.administered), self.step_seed(rng_seed, state)
        )
        choice = self.selector.select(ctx)
        return choice.item, choice.set_aside

    def record(
        self,
        state: AdaptiveState,
        item: int,
        response: int,
        set_aside: Iterable[int] = (),
    ) -> AdaptiveState:
        if not 0 <= item < len(self.params):
            raise ValueError(f"item index {item} is outside the bank of {len(self.params)} items")
        if item in state.administered:
            raise ValueError(f"item {self.params.ids[item]} was already given")
        top = int(self.params.n_categories[item]) - 1
        if response not in range(top + 1):
            if top == 1:
                raise ValueError(f"response must be 0 or 1, got {response!r}")
            raise ValueError(
                f"response to weighted item {self.params.ids[item]} must be a category "
                f"0..{top}, got {response!r}"
            )
        administered = (*state.administered, int(item))
        responses = (*state.responses, int(response))
        est = self.estimator.estimate(self.params, administered, responses)
        return AdaptiveState(
            administered,
            responses,
            est.theta,
            est.se,
            (*state.set_aside, *(int(i) for i in set_aside)),
        )


def initial_state(params: ItemParams, config: AdaptiveConfig) -> AdaptiveState:
    """The state before the first answer (the prior's estimate)."""
    return Engine.build(params, config).initial_state()


def next_item(
    state: AdaptiveState,
    params: ItemParams,
    config: AdaptiveConfig,
    rng_seed: int,
    elapsed: float = 0.0,
) -> int | None:
    """Index of the next item to present, or None when the section is over."""
    choice = Engine.build(params, config).select(state, rng_seed, elapsed)
    return None if choice is None else choice[0]


def record(
    state: AdaptiveState,
    item: int,
    response: int,
    params: ItemParams,
    config: AdaptiveConfig,
    rng_seed: int,
) -> AdaptiveState:
    """The state after ``response`` (0/1, or a weighted item's category) to ``item``.

    The Sympson-Hetter items set aside when ``item`` was chosen are recomputed from the same
    seeded draw, so they never need to be stored apart from the events.
    """
    engine = Engine.build(params, config)
    set_aside: Iterable[int] = ()
    if isinstance(engine.selector, SympsonHetterSelector):
        choice = engine.select(state, rng_seed)
        if choice is not None and choice[0] == item:
            set_aside = choice[1]
    return engine.record(state, item, response, set_aside)


def replay(
    events: Iterable[tuple[str, int]],
    params: ItemParams,
    config: AdaptiveConfig,
    rng_seed: int,
) -> AdaptiveState:
    """Rebuild the state from (item id, response) events, e.g. after a server restart."""
    index = params.index
    state = initial_state(params, config)
    for n, (item_id, response) in enumerate(events, start=1):
        if item_id not in index:
            raise ValueError(f"event {n}: item {item_id!r} is not in the bank")
        state = record(state, index[item_id], int(response), params, config, rng_seed)
    return state
