"""The live-exam API: deterministic selection, exact crash-resume, stopping rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from scoring.irt.adaptive import (
    AdaptiveConfig,
    AdaptiveState,
    Engine,
    initial_state,
    next_item,
    record,
    replay,
)
from scoring.irt.stoppers import AnyStopper, LengthStopper, SEStopper, TimeStopper


def run_live(params, config, seed, true_theta, stop_after=None):
    """A candidate takes the section through the server's two calls; returns states."""
    rng = np.random.default_rng(99)
    state = initial_state(params, config)
    events = []
    while (item := next_item(state, params, config, seed)) is not None:
        response = int(rng.random() < params.prob(true_theta)[item])
        state = record(state, item, response, params, config, seed)
        events.append((params.ids[item], response))
        if stop_after is not None and len(events) == stop_after:
            break
    return state, events


@pytest.mark.parametrize("selector", ["max_info", "kl", "randomesque", "sympson_hetter"])
def test_replay_after_a_crash_gives_the_same_estimate_and_next_item(bank, selector):
    exposure = {item_id: 0.6 for item_id in bank.ids} if selector == "sympson_hetter" else None
    config = AdaptiveConfig(selector=selector, exposure=exposure, max_items=15, estimator="map")
    before, events = run_live(bank, config, seed=1234, true_theta=0.7, stop_after=7)
    # The server dies; it kept the events (and maybe the state as JSON). Both rebuild it.
    rebuilt = replay(events, bank, config, rng_seed=1234)
    restored = AdaptiveState.from_dict(json.loads(json.dumps(before.to_dict())))
    assert rebuilt == before == restored
    assert next_item(rebuilt, bank, config, 1234) == next_item(before, bank, config, 1234)
    if selector == "sympson_hetter":
        assert len(before.set_aside) > 0  # lotteries were lost and are remembered


def test_different_seeds_give_different_randomesque_tests(bank):
    config = AdaptiveConfig(selector="randomesque", randomesque_k=8, max_items=10)
    firsts = {next_item(initial_state(bank, config), bank, config, s) for s in range(20)}
    assert len(firsts) > 1


def test_record_refuses_a_repeat_or_a_bad_response(bank):
    engine = Engine.build(bank, AdaptiveConfig())
    state = engine.record(engine.initial_state(), 3, 1)
    with pytest.raises(ValueError, match="already given"):
        engine.record(state, 3, 0)
    with pytest.raises(ValueError, match="0 or 1"):
        engine.record(state, 4, 2)
    with pytest.raises(ValueError, match="outside the bank"):
        engine.record(state, 10_000, 1)
    with pytest.raises(ValueError, match="not in the bank"):
        replay([("NOPE", 1)], bank, AdaptiveConfig(), 0)


def test_se_rule_stops_between_min_and_max_length(bank):
    config = AdaptiveConfig(min_items=5, max_items=40, se_target=0.45)
    state, events = run_live(bank, config, seed=3, true_theta=0.0)
    assert 5 <= len(events) < 40
    assert state.se <= 0.45


def test_time_limit_ends_the_section(bank):
    config = AdaptiveConfig(max_items=30, time_limit_s=600)
    state = initial_state(bank, config)
    assert next_item(state, bank, config, 0, elapsed=599.0) is not None
    assert next_item(state, bank, config, 0, elapsed=600.0) is None


def test_stoppers():
    rule = AnyStopper((LengthStopper(20), SEStopper(0.3, min_items=10), TimeStopper(60)))
    assert not rule.stop(9, 0.1, 0)  # SE reached but too few items
    assert rule.stop(10, 0.3, 0)
    assert rule.stop(20, 0.9, 0)
    assert rule.stop(3, 0.9, 60)
    with pytest.raises(ValueError):
        LengthStopper(0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_items": 10, "max_items": 5}, "exceeds max_items"),
        ({"selector": "sympson_hetter"}, "needs calibrated 'exposure'"),
        ({"selector": "sympson_hetter", "exposure": {"x": 1.5}}, "in (0, 1]"),
        ({"selector": "nearest"}, "selector"),
    ],
)
def test_config_errors_say_what_is_wrong(settings, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace("]", r"\]")):
        AdaptiveConfig(**settings)


def test_engine_refuses_quotas_or_exposure_for_unknown_names(bank):
    with pytest.raises(ValueError, match="no item has"):
        Engine.build(bank, AdaptiveConfig(topic_quotas={"geometry": 1}))
    with pytest.raises(ValueError, match="unknown item id"):
        Engine.build(bank, AdaptiveConfig(selector="sympson_hetter", exposure={"zz": 0.5}))
