"""Scoring a form: incremental scores equal a full rescore, stay in bounds, ignore shuffles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.exam import Exam
from scoring.forms import Form, FormAssembler, shown_choice
from scoring.rules import ScoreSheet, ScoringError, build_score_key, rescore

WEIGHTS = st.sampled_from([0, 1, 2, 3, 4, 5, 0.1, 0.25, 1 / 3, -0.5, 2.2])


@st.composite
def scored_forms(draw):
    """An exam of a keyed and a weighted section, its items, and a form in any option order."""
    correct = draw(st.sampled_from([1, 2.5, 4, 5]))
    wrong = draw(st.sampled_from([0, -1, -0.25, -1 / 3]))
    exam = Exam(
        id="gen",
        time_limit_minutes=60,
        sections=[
            {"id": "K", "items": draw(st.integers(1, 6)),
             "scoring": {"rule": "key", "correct": correct, "wrong": wrong,
                         "blank": draw(st.sampled_from([0, -0.5, 0.5]))}},
            {"id": "W", "items": draw(st.integers(1, 6)),
             "scoring": {"rule": "weights", "blank": draw(st.sampled_from([0, 1]))}},
        ],
    )
    specs = []
    for section in exam.sections:
        for j in range(section.items):
            n = draw(st.integers(2, 8))
            order = tuple(draw(st.permutations(range(n))))
            if section.id == "K":
                specs.append((f"K{j}", "K", n, {"key": draw(st.integers(0, n - 1))}, order))
            else:
                weights = [draw(WEIGHTS) for _ in range(n)]
                specs.append((f"W{j}", "W", n, {"weights": weights}, order))
    return exam, specs


def build(specs, item_factory):
    items = {
        item_id: item_factory(item_id, section, n_options=n, **scoring)
        for item_id, section, n, scoring, _ in specs
    }
    form = Form.from_items(
        "gen", "seed", "cand", None, [(item_id, section, order) for item_id, section, _, _, order
                                      in specs]
    )
    return items, form


def answers(n_positions: int):
    return st.lists(
        st.tuples(st.integers(0, n_positions - 1), st.none() | st.integers(0, 7)), max_size=40
    )


@given(case=scored_forms(), data=st.data())
@settings(max_examples=150, deadline=None)
def test_incremental_equals_rescore_and_stays_in_bounds(case, data, item_factory) -> None:
    exam, specs = case
    items, form = build(specs, item_factory)
    key = build_score_key(exam, form, items)
    sheet = ScoreSheet(key)
    assert sheet.scores == rescore(key, [None] * len(form))
    for position, choice in data.draw(answers(len(form))):
        if choice is not None:
            choice %= len(form.option_order(position))
        update = sheet.answer(position, choice)
        assert update.section == form.sections[position]
        assert update.section_score == sheet.section_scores[update.section]
        assert update.total == sheet.total
        assert sheet.scores == rescore(key, sheet.choices)
        for section, (low, high) in key.bounds.items():
            assert low <= sheet.section_scores[section] <= high
    # A sheet restored from its choices (after a crash) is the same sheet.
    assert ScoreSheet(key, sheet.choices).scores == sheet.scores


@given(case=scored_forms(), data=st.data())
@settings(max_examples=100, deadline=None)
def test_option_shuffling_never_changes_a_score(case, data, item_factory) -> None:
    exam, specs = case
    items, form = build(specs, item_factory)
    # The same items shown with another option order, to another candidate.
    reordered = [
        (item_id, section, n, scoring, tuple(data.draw(st.permutations(range(n)))))
        for item_id, section, n, scoring, _ in specs
    ]
    _, other = build(reordered, item_factory)
    # Each position's chosen authored option (None: blank), seen through either shuffle.
    chosen = [data.draw(st.none() | st.integers(0, n - 1)) for _, _, n, _, _ in specs]

    def shown(f: Form) -> list[int | None]:
        return [None if a is None else f.option_order(p).index(a) for p, a in enumerate(chosen)]

    one = rescore(build_score_key(exam, form, items), shown(form))
    two = rescore(build_score_key(exam, other, items), shown(other))
    assert one == two


def test_skd_scores_by_the_rules(skd: Exam, skd_bank) -> None:
    index = {item_id: item.meta() for item_id, item in skd_bank.items()}
    form = FormAssembler(skd, index).assemble(exam_seed="s", candidate_id="P-1", seat=0)
    key = build_score_key(skd, form, skd_bank)
    assert key.bounds == {"TWK": (0, 150), "TIU": (0, 175), "TKP": (0, 225)}
    def shown_with_points(position: int, pick) -> int:
        """The shown choice of the option whose points ``pick`` (max or min) selects."""
        item = skd_bank[form.item_ids[position]]
        points = item.option_points(5, 0)
        label = pick(item.options, key=points.__getitem__)
        return form.option_order(position).index(list(item.options).index(label))

    best = [shown_with_points(p, max) for p in range(len(form))]
    assert rescore(key, best) == ({"TWK": 150, "TIU": 175, "TKP": 225}, 550)
    sheet = ScoreSheet(key)
    assert sheet.scores == ({"TWK": 0, "TIU": 0, "TKP": 0}, 0)
    tkp = form.section_positions()["TKP"].start
    # TKP's lowest weight is 1, not 0: every TKP answer earns something.
    worst = [shown_with_points(tkp, min)]
    assert sheet.answer(tkp, worst[0]).section_score == 1
    assert sheet.answer(tkp, None).section_score == 0
    assert sheet.answered == 0


def test_answers_that_do_not_fit_the_form_are_refused(skd: Exam, skd_bank) -> None:
    index = {item_id: item.meta() for item_id, item in skd_bank.items()}
    form = FormAssembler(skd, index).assemble(exam_seed="s", candidate_id="P-1")
    sheet = ScoreSheet(build_score_key(skd, form, skd_bank))
    for position, choice in ((110, 0), (-1, 0), (0, 5), (0, -1), ("0", 1), (0, True)):
        with pytest.raises(ScoringError):
            sheet.answer(position, choice)
    assert sheet.scores.total == 0
    assert sheet.answer(3, shown_choice("E")).position == 3
    with pytest.raises(ScoringError, match="2 choices for a form of 110 positions"):
        rescore(sheet.key, [0, 1])
    with pytest.raises(ScoringError, match="position 1: choice 9"):
        ScoreSheet(sheet.key, [0, 9] + [None] * 108)


def test_a_key_needs_the_form_items_as_the_exam_scores_them(skd: Exam, skd_bank, item_factory):
    form = Form.from_items("skd", "s", "c", None, [("TWK-0001", "TWK", (0, 1, 2, 3, 4))])
    with pytest.raises(ScoringError, match="not among the items given"):
        build_score_key(skd, form, {})
    moved = Form.from_items("skd", "s", "c", None, [("TWK-0001", "TIU", (0, 1, 2, 3, 4))])
    with pytest.raises(ScoringError, match="the bank puts the item in section 'TWK'"):
        build_score_key(skd, moved, skd_bank)
    short = Form.from_items("skd", "s", "c", None, [("TWK-0001", "TWK", (0, 1, 2))])
    with pytest.raises(ScoringError, match="does not fit the item's 5 options"):
        build_score_key(skd, short, skd_bank)
    keyed_tkp = {"TKP-x": item_factory("TKP-x", "TKP")}
    wrong_kind = Form.from_items("skd", "s", "c", None, [("TKP-x", "TKP", (0, 1, 2, 3, 4))])
    with pytest.raises(ScoringError, match="section TKP scores by option weights"):
        build_score_key(skd, wrong_kind, keyed_tkp)
    alien = Form.from_items("skd", "s", "c", None, [("TWK-0001", "SKB", (0, 1, 2, 3, 4))])
    with pytest.raises(ScoringError, match="exam skd has no section 'SKB'"):
        build_score_key(skd, alien, skd_bank)
