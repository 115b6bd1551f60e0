"""Item response functions and information against closed forms and numerical derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.irt.models import (
    D_NORMAL,
    ItemParams,
    ParamsError,
    gpcm_category_probs,
    gpcm_information,
    grm_category_probs,
    grm_information,
    information,
    load_params,
    prob,
)

slopes = st.floats(0.2, 3.0)
locations = st.floats(-3.0, 3.0)
guessing = st.floats(0.0, 0.35)
abilities = st.floats(-4.0, 4.0)


@given(a=slopes, b=locations)
@settings(deadline=None)  # a shared, loaded machine: no timing assertions
def test_2pl_information_at_difficulty_is_a_squared_over_four(a, b):
    assert information(b, [a], [b])[0] == pytest.approx(a * a / 4, rel=1e-9)
    assert information(b, [a], [b], D=D_NORMAL)[0] == pytest.approx((D_NORMAL * a) ** 2 / 4)


@given(a=slopes, b=locations, c=guessing, theta=abilities)
@settings(deadline=None)  # a shared, loaded machine: no timing assertions
def test_3pl_information_is_birnbaums_formula(a, b, c, theta):
    # Birnbaum (1968), Lord (1980, eq. 5-17): I = a^2 (Q / P) ((P - c) / (1 - c))^2.
    p = c + (1 - c) / (1 + np.exp(-a * (theta - b)))
    expected = a * a * (1 - p) / p * ((p - c) / (1 - c)) ** 2
    assert information(theta, [a], [b], [c])[0] == pytest.approx(expected, rel=1e-7)


@given(a=slopes, b=locations, c=guessing, theta=abilities, upper=st.floats(0.8, 1.0))
@settings(deadline=None)  # a shared, loaded machine: no timing assertions
def test_4pl_information_is_squared_slope_over_variance(a, b, c, theta, upper):
    h = 1e-5
    dp = (prob(theta + h, [a], [b], [c], [upper]) - prob(theta - h, [a], [b], [c], [upper])) / (
        2 * h
    )
    p = prob(theta, [a], [b], [c], [upper])
    assert information(theta, [a], [b], [c], [upper])[0] == pytest.approx(
        float(dp[0] ** 2 / (p[0] * (1 - p[0]))), rel=1e-4, abs=1e-9
    )


def test_probability_at_difficulty_is_halfway_between_asymptotes():
    assert prob(0.5, [1.3], [0.5], [0.2])[0] == pytest.approx(0.6)
    grid = prob(np.array([-1.0, 0.0, 1.0]), [1, 2], [0, 0])
    assert grid.shape == (3, 2)
    assert np.all(np.diff(grid, axis=0) > 0)


@pytest.mark.parametrize("kind", ["grm", "gpcm"])
@given(a=slopes, theta=abilities, steps=st.lists(st.floats(0.3, 1.5), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None)
def test_polytomous_probabilities_sum_to_one_and_information_matches(kind, a, theta, steps):
    thresholds = list(np.cumsum(steps) - 1.5)
    probs, info = (
        (grm_category_probs, grm_information)
        if kind == "grm"
        else (gpcm_category_probs, gpcm_information)
    )
    p = probs(theta, a, thresholds)
    assert p.sum() == pytest.approx(1.0, abs=1e-8)
    # Information of a polytomous item is sum_k P_k'^2 / P_k (Samejima 1969).
    h = 1e-5
    dp = (probs(theta + h, a, thresholds) - probs(theta - h, a, thresholds)) / (2 * h)
    assert info(theta, a, thresholds) == pytest.approx(float(np.sum(dp * dp / p)), rel=1e-4)


def test_grm_rejects_unordered_thresholds():
    with pytest.raises(ValueError, match="increasing"):
        grm_category_probs(0.0, 1.0, [0.5, -0.5])


def test_params_json_round_trip_keeps_topics_and_symmetric_enemies():
    doc = {
        "items": [
            {"id": "A", "a": 1.2, "b": -0.3, "c": 0.2, "topic": "verbal", "enemies": ["B"]},
            {"id": "B", "a": 0.8, "b": 0.4, "topic": "numeric"},
            {"id": "C", "a": 1.0, "b": 1.0},
        ]
    }
    params = ItemParams.from_json(doc)
    assert list(params.enemies[1]) == [0]  # B is A's enemy, so A is B's
    again = ItemParams.from_json(params.to_json())
    assert again.ids == params.ids
    assert np.allclose(again.c, [0.2, 0, 0])
    assert again.topic_names[again.topics[0]] == "verbal"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON: line 1"),
        ('{"items": []}', "non-empty list"),
        ('{"items": [{"id": "x", "a": -1, "b": 0}]}', "item 1 (x): 'a' must be in (0, 10]"),
        ('{"items": [{"id": "x", "a": 1}]}', "item 1 (x): 'b' must be a number"),
        ('{"items": [{"id": "x", "b": 0, "c": 0.5, "d": 0.4}]}', "need 0 <= c < d <= 1"),
        ('{"items": [{"id": "x", "b": 0}, {"id": "x", "b": 1}]}', "duplicate item id(s): x"),
        ('{"items": [{"id": "x", "b": 0, "enemies": ["y"]}]}', "unknown enemy id(s)"),
        ('{"items": [{"id": "x", "b": "NaN"}]}', "'b' must be a number"),
    ],
)
def test_bad_parameter_files_name_the_item_and_field(text, message):
    with pytest.raises(ParamsError) as info:
        load_params(text)
    assert message in str(info.value)


def test_params_from_a_bank_index_keep_topics_and_only_present_enemies():
    from item_bank.model import IrtParams, ItemMeta

    metas = [
        ItemMeta(
            id="TIU-1",
            section="TIU",
            topic="numerik",
            n_options=5,
            scoring="key",
            enemies=("TIU-2", "TIU-9"),
            irt=IrtParams(model="3pl", a=1.1, b=0.2, c=0.2),
        ),
        ItemMeta(
            id="TIU-2",
            section="TIU",
            topic="verbal",
            n_options=5,
            scoring="key",
            irt=IrtParams(a=0.9, b=-0.4),
        ),
    ]
    params = ItemParams.from_metas(metas)
    assert params.ids == ("TIU-1", "TIU-2")
    assert list(params.enemies[1]) == [0]  # TIU-9 is not in this bank: ignored
    assert params.topic_names[params.topics[0]] == "numerik"
    weighted = ItemMeta(
        id="TKP-1",
        section="TKP",
        n_options=5,
        scoring="weights",
        irt=IrtParams(model="grm", thresholds=(-1.0, 0.0, 1.0)),
    )
    with pytest.raises(ParamsError, match="TKP-1: no dichotomous IRT parameters"):
        ItemParams.from_metas([weighted])
