"""Item statistics and flags a test committee acts on."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.analysis.items import corrected_point_biserial, item_statistics


def test_point_biserial_is_corrected_for_the_item_itself(lsat):
    r = corrected_point_biserial(lsat)
    rest = lsat.sum(axis=1) - lsat[:, 0]
    assert r[0] == pytest.approx(np.corrcoef(lsat[:, 0], rest)[0, 1])
    uncorrected = np.corrcoef(lsat[:, 0], lsat.sum(axis=1))[0, 1]
    assert r[0] < uncorrected


def test_a_miskeyed_item_is_flagged_and_good_items_are_not(session):
    choices, key, _ = session(n=400, k=15, seed=1)
    key = list(key)
    key[3] = "B"  # the committee's key says B, but A is right
    scores = (choices == np.array(key, dtype=object)).astype(float)
    stats = item_statistics(scores, [f"I{j}" for j in range(15)], choices=choices, key=key)
    flagged = stats[3]
    assert "likely_wrong_key" in flagged.flags
    assert "negative_discrimination" in flagged.flags
    option_a = next(o for o in flagged.options if o.label == "A")
    assert option_a.top > option_a.bottom and not option_a.is_key
    for other in stats[:3] + stats[4:]:
        assert "likely_wrong_key" not in other.flags
        assert "negative_discrimination" not in other.flags


def test_easy_and_hard_items_are_flagged():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=500)
    b = np.array([-4.0, 0.0, 4.0])
    scores = (rng.random((500, 3)) < 1 / (1 + np.exp(-(theta[:, None] - b)))).astype(float)
    stats = item_statistics(scores, ["easy", "mid", "hard"])
    assert "too_easy" in stats[0].flags
    assert "too_hard" in stats[2].flags
    assert not {"too_easy", "too_hard"} & set(stats[1].flags)
    assert stats[0].facility > 0.9 > stats[1].facility > 0.2 > stats[2].facility


def test_option_rates_add_up_and_weighted_items_use_their_maximum(session):
    choices, key, _ = session(n=200, k=5, seed=2)
    scores = (choices == np.array(key, dtype=object)).astype(float)
    choices[0, 0] = ""  # a blank
    stats = item_statistics(scores, list("VWXYZ"), choices=choices, key=key)
    assert sum(o.overall for o in stats[0].options) == pytest.approx(199 / 200)
    weighted = item_statistics(np.array([[5.0], [3.0], [1.0]]), ["tkp"], max_points=[5])
    assert weighted[0].facility == pytest.approx(0.5)  # mean 3 on the range 1..5


def test_weighted_items_use_their_observed_range_so_too_hard_can_fire():
    """TKP-like items scored 1..5: an item whose takers nearly all earn 1 point is too hard."""
    rng = np.random.default_rng(3)
    hard = rng.choice([1, 2, 3, 4, 5], size=300, p=[0.85, 0.1, 0.03, 0.01, 0.01])
    easy = rng.choice([1, 2, 3, 4, 5], size=300, p=[0.01, 0.01, 0.03, 0.1, 0.85])
    mid = rng.choice([1, 2, 3, 4, 5], size=300)
    stats = item_statistics(np.column_stack([hard, easy, mid]).astype(float), ["h", "e", "m"])
    assert stats[0].facility < 0.1 and "too_hard" in stats[0].flags
    assert stats[1].facility > 0.9 and "too_easy" in stats[1].flags
    assert not {"too_easy", "too_hard"} & set(stats[2].flags)
    given = item_statistics(np.array([[1.0], [1.0], [2.0]]), ["x"], max_points=[5], min_points=[1])
    assert given[0].facility == pytest.approx(1 / 12)


def test_items_not_shown_to_an_examinee_do_not_count_as_wrong():
    """Randomized forms: each examinee sees part of the bank; unseen cells are NaN, not 0."""
    rng = np.random.default_rng(7)
    n, k = 400, 40
    ability = rng.normal(size=n)
    difficulty = np.linspace(-1.5, 1.5, k)
    full = (rng.random((n, k)) < 1 / (1 + np.exp(-(ability[:, None] - difficulty)))).astype(float)
    sparse = full.copy()
    for row in range(n):  # each examinee is shown 10 of the 40 items
        sparse[row, rng.choice(k, size=k - 10, replace=False)] = np.nan
    ids = [f"I{j}" for j in range(k)]
    stats = item_statistics(sparse, ids, max_points=[1.0] * k)
    shown = ~np.isnan(sparse)
    for j, item in enumerate(stats):
        assert item.presented == shown[:, j].sum()
        assert item.facility == pytest.approx(full[shown[:, j], j].mean())
    # The easiest items stay easy: counting unseen cells as zeros would make them ~4x harder.
    assert np.mean([s.facility for s in stats[:5]]) > 0.6
    assert not any("too_hard" in s.flags for s in stats[:20])


def test_an_item_nobody_was_shown_is_reported_as_such():
    scores = np.array([[1.0, np.nan], [0.0, np.nan], [1.0, np.nan]])
    stats = item_statistics(scores, ["A", "B"], max_points=[1.0, 1.0])
    assert stats[1].flags == ("not_presented",)
    assert stats[1].presented == 0
    assert stats[0].presented == 3
