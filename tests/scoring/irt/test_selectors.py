"""Item selectors: eligibility (never a given or enemy item), content balance, exposure."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.irt.adaptive import AdaptiveConfig
from scoring.irt.models import ItemParams
from scoring.irt.selectors import (
    KLSelector,
    MaxInfoSelector,
    RandomesqueSelector,
    SelectionContext,
    SympsonHetterSelector,
    content_mask,
    eligible_mask,
)
from scoring.irt.simulation import calibrate_sympson_hetter, simulate


def with_enemies(bank: ItemParams, pairs: list[tuple[int, int]]) -> ItemParams:
    doc = bank.to_json()
    for i, j in pairs:
        if i != j:
            doc["items"][i].setdefault("enemies", []).append(bank.ids[j])
    return ItemParams.from_json(doc)


SELECTORS = [
    MaxInfoSelector(),
    KLSelector(),
    RandomesqueSelector(4),
    SympsonHetterSelector(np.full(40, 0.5)),
]


@pytest.mark.parametrize("selector", SELECTORS, ids=lambda s: type(s).__name__)
@given(
    given_items=st.lists(st.integers(0, 39), max_size=20, unique=True),
    pairs=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=15),
    theta=st.floats(-3, 3),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
def test_selectors_never_pick_a_given_or_enemy_item(
    selector, bank_factory, given_items, pairs, theta, seed
):
    params = with_enemies(bank_factory(40, seed=1), pairs)
    mask = eligible_mask(params, given_items)
    if not mask.any():
        return
    ctx = SelectionContext(params, mask, theta, len(given_items), seed)
    choice = selector.select(ctx)
    assert choice.item not in given_items
    for g in given_items:
        assert choice.item not in params.enemies[g]
    assert mask[choice.set_aside].all() and choice.item not in choice.set_aside


def test_max_info_picks_the_most_informative_and_randomesque_one_of_the_top_k(bank):
    mask = np.ones(len(bank), dtype=bool)
    info = bank.information(0.4)
    ctx = SelectionContext(bank, mask, 0.4, 3, 0)
    assert MaxInfoSelector().select(ctx).item == int(np.argmax(info))
    top5 = set(np.argsort(-info)[:5])
    picks = {
        RandomesqueSelector(5).select(SelectionContext(bank, mask, 0.4, 3, s)).item
        for s in range(60)
    }
    assert picks <= top5 and len(picks) > 1


def test_content_mask_targets_the_topic_furthest_behind(bank_factory):
    params = bank_factory(30, seed=2, topics=3)
    targets = np.array([0.5, 0.25, 0.25])
    given_items = [0, 3]  # two of topic T0
    mask = content_mask(params, given_items, targets, eligible_mask(params, given_items))
    assert set(params.topics[mask]) == {1}  # T1 and T2 tie; the first wins


def test_adaptive_tests_meet_topic_quotas_exactly(bank_factory):
    params = bank_factory(120, seed=4, topics=3)
    config = AdaptiveConfig(max_items=12, topic_quotas={"T0": 6, "T1": 3, "T2": 3})
    result = simulate(params, np.linspace(-2, 2, 25), config, seed=1, keep_tests=True)
    for test in result.administered:
        counts = np.bincount(params.topics[list(test)], minlength=3)
        assert list(counts) == [6, 3, 3]


def test_sympson_hetter_bounds_exposure_in_new_simulees(bank_factory):
    """Calibrate on one sample, check the bound on a fresh one (see the docstring of
    calibrate_sympson_hetter for the statistical margins).

    The calibration keeps expected exposures below r_max; an item's exposure in a fresh
    sample of N = 600 then exceeds r_max by more than 3 sampling SDs
    (3 * sqrt(0.3 * 0.7 / 600) = 0.056) with probability < 0.0014 per item.
    """
    params = bank_factory(80, seed=8)
    config = AdaptiveConfig(max_items=8)
    rng = np.random.default_rng(0)
    plain = simulate(params, rng.normal(size=600), config, seed=2)
    assert plain.exposure.max() > 0.6  # without control a few items go to nearly everyone
    cal = calibrate_sympson_hetter(params, rng.normal(size=400), config, r_max=0.3, seed=3)
    assert cal.converged
    controlled = config.model_copy(update={"selector": "sympson_hetter", "exposure": cal.exposure})
    result = simulate(params, rng.normal(size=600), controlled, seed=4)
    assert result.exposure.max() <= 0.3 + 0.056
