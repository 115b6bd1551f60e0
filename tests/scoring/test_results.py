"""Pass/fail by formation and ranking with tie-breaks, on hand-checked SKD and PPPK cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.exam import Exam
from scoring.results import Result, evaluate, rank, rank_columns
from scoring.rules import ScoringError


def skd_scores(twk: float, tiu: float, tkp: float) -> dict[str, float]:
    return {"TWK": twk, "TIU": tiu, "TKP": tkp}


@pytest.mark.parametrize(
    ("twk", "tiu", "tkp", "passed", "failed"),
    [
        (65, 80, 166, True, []),
        (64, 80, 166, False, ["TWK"]),
        (65, 75, 166, False, ["TIU"]),
        (65, 80, 165, False, ["TKP"]),
        (150, 175, 100, False, ["TKP"]),  # a high total does not rescue one subtest
        (60, 70, 160, False, ["TWK", "TIU", "TKP"]),
    ],
)
def test_general_formation_needs_every_subtest(skd: Exam, twk, tiu, tkp, passed, failed):
    result = evaluate(skd, skd_scores(twk, tiu, tkp))
    assert result.rule_set == "general"
    assert result.total == twk + tiu + tkp
    assert result.passed is passed
    assert [check.label for check in result.failed_checks] == failed
    assert [(c.label, c.minimum) for c in result.checks] == [
        ("TWK", 65), ("TIU", 80), ("TKP", 166)
    ]


@pytest.mark.parametrize(
    ("rule_set", "twk", "tiu", "tkp", "passed"),
    [
        ("cum-laude", 40, 85, 186, True),  # total 311, TWK under 65 is not checked
        ("cum-laude", 40, 85, 185, False),  # total 310
        ("cum-laude", 50, 80, 200, False),  # total 330 but TIU 80 < 85
        ("diaspora", 40, 85, 186, True),
        ("disability", 30, 60, 196, True),  # total 286
        ("disability", 30, 55, 201, False),  # TIU 55 < 60
        ("papua", 30, 60, 195, False),  # total 285
        ("papua", 30, 60, 196, True),
    ],
)
def test_special_formations_check_only_total_and_tiu(skd: Exam, rule_set, twk, tiu, tkp, passed):
    result = evaluate(skd, skd_scores(twk, tiu, tkp), rule_set, candidate_id="P-7")
    assert result.passed is passed
    assert [c.label for c in result.checks] == ["TIU", "total"]
    assert result.candidate_id == "P-7"
    assert result.rule_set == rule_set


def test_pppk_combined_threshold(pppk: Exam) -> None:
    scores = {"teknis": 300, "manajerial": 70, "sosiokultural": 47, "wawancara": 24}
    result = evaluate(pppk, scores)
    assert result.passed
    assert [(c.label, c.score, c.minimum) for c in result.checks] == [
        ("wawancara", 24, 24),
        ("manajerial+sosiokultural", 117, 117),
    ]
    assert not evaluate(pppk, scores | {"sosiokultural": 46.5}).passed


def test_fractional_scores_add_up_exactly(skd: Exam) -> None:
    # 0.1 + 0.2 is not 0.3 in floating point; scores add up in micro-points.
    exam = skd.model_copy(update={"rule_sets": {}, "default_rule_set": None})
    assert evaluate(exam, skd_scores(0.1, 0.2, 0.0)).total == 0.3
    assert evaluate(exam, skd_scores(0.1, 0.2, 0.0)).passed  # no rule set: nothing checked


def test_bad_scores_and_rule_sets_are_named(skd: Exam) -> None:
    with pytest.raises(ScoringError, match=r"no score for section.*TKP"):
        evaluate(skd, {"TWK": 1, "TIU": 1})
    with pytest.raises(ScoringError, match=r"has no section.*SKB"):
        evaluate(skd, skd_scores(1, 1, 1) | {"SKB": 3})
    with pytest.raises(ScoringError, match="score 'x' is not a number"):
        evaluate(skd, skd_scores(1, "x", 1))
    with pytest.raises(ScoringError, match=r"no rule set 'umum' \(it has: general"):
        evaluate(skd, skd_scores(1, 1, 1), "umum")


def test_skd_ranking_breaks_ties_by_tkp_tiu_twk(skd: Exam) -> None:
    results = [
        evaluate(skd, skd_scores(100, 120, 200), candidate_id="a"),  # 420
        evaluate(skd, skd_scores(90, 130, 200), candidate_id="b"),  # 420, TIU higher
        evaluate(skd, skd_scores(95, 115, 210), candidate_id="c"),  # 420, TKP highest
        evaluate(skd, skd_scores(150, 175, 160), candidate_id="d"),  # 485 but fails TKP
        evaluate(skd, skd_scores(100, 120, 200), candidate_id="e"),  # same as a
        evaluate(skd, skd_scores(70, 85, 170), candidate_id="f"),  # 325
    ]
    ranking = rank(results, skd)
    listed = [(r, tied, results[i].candidate_id) for r, tied, i in ranking]
    assert listed == [
        (1, False, "c"),
        (2, False, "b"),
        (3, True, "a"),
        (3, True, "e"),
        (5, False, "f"),
        (6, False, "d"),
    ]


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2), st.booleans()),
        max_size=40,
    )
)
@settings(max_examples=100, deadline=None)
def test_vectorised_ranking_equals_the_plain_definition(rows) -> None:
    columns = [np.array([row[j] for row in rows], dtype=float) for j in range(3)]
    passed = np.array([row[3] for row in rows], dtype=bool)
    ranking = rank_columns(columns, passed)
    keys = [(not row[3], -row[0], -row[1], -row[2]) for row in rows]
    expected_order = sorted(range(len(rows)), key=lambda i: (keys[i], i))
    assert ranking.order.tolist() == expected_order
    for i, key in enumerate(keys):
        assert ranking.ranks[i] == 1 + sum(other < key for other in keys)
        assert ranking.tied[i] == (keys.count(key) > 1)


def test_ranking_without_passing_first(skd: Exam) -> None:
    by_score_only = skd.ranking.model_copy(update={"passed_first": False})
    exam = skd.model_copy(update={"ranking": by_score_only})
    results = [
        evaluate(exam, skd_scores(65, 80, 166)),
        evaluate(exam, skd_scores(150, 175, 160)),
    ]
    assert [i for _, _, i in rank(results, exam)] == [1, 0]
    assert len(rank([], exam)) == 0


def test_results_are_plain_data(skd: Exam) -> None:
    result = evaluate(skd, skd_scores(65, 80, 166))
    assert isinstance(result, Result)
    assert result.section_scores == {"TWK": 65.0, "TIU": 80.0, "TKP": 166.0}
    assert result.total == 311
