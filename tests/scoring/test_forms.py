"""Per-candidate forms: the blueprint exactly, no duplicates or enemies, reproducible, spread."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from item_bank.model import ItemMeta
from scoring.exam import Exam, Section
from scoring.forms import (
    Form,
    FormAssembler,
    FormError,
    FormItem,
    Shortage,
    allocate,
    assemble_form,
    check_bank,
    exposure,
    shared_items,
    shown_choice,
)


def meta(item_id, section, *, topic="", difficulty=None, n_options=5, scoring="key", enemies=()):
    return ItemMeta(
        id=item_id,
        section=section,
        topic=topic,
        difficulty=difficulty,
        n_options=n_options,
        scoring=scoring,
        enemies=tuple(enemies),
    )


def flat_exam(counts: dict[str, int], **settings_) -> Exam:
    sections = [
        {"id": s, "items": n, "scoring": {"rule": "key", "correct": 1}} for s, n in counts.items()
    ]
    return Exam(id="t", time_limit_minutes=60, sections=sections, **settings_)


def flat_index(sizes: dict[str, int], n_options: int = 4) -> dict[str, ItemMeta]:
    return {
        f"{s}-{j:04d}": meta(f"{s}-{j:04d}", s, n_options=n_options)
        for s, size in sizes.items()
        for j in range(size)
    }


@st.composite
def blueprints(draw):
    """An exam with topic/difficulty blueprints and a bank that can supply it.

    Every (topic, difficulty) cell of the bank holds at least twice what the form takes from
    it; enemies pair items within a cell, so a greedy draw can always avoid them.
    """
    sections, index = [], {}
    n_sections = draw(st.integers(1, 3))
    for s in range(n_sections):
        section_id = f"S{s}"
        topics = [f"t{i}" for i in range(draw(st.integers(1, 3)))]
        levels = [f"d{i}" for i in range(draw(st.integers(1, 3)))]
        use_topics, use_levels = draw(st.booleans()), draw(st.booleans())
        rows = topics if use_topics else [None]
        cols = levels if use_levels else [None]
        table = {
            (r, c): draw(st.integers(0 if len(rows) * len(cols) > 1 else 1, 4))
            for r in rows
            for c in cols
        }
        # Every listed topic and level needs at least one item.
        for r in rows:
            if sum(table[r, c] for c in cols) == 0:
                table[r, cols[0]] = 1
        for c in cols:
            if sum(table[r, c] for r in rows) == 0:
                table[rows[0], c] = 1
        items = sum(table.values())
        section = {"id": section_id, "items": items, "scoring": {"rule": "key", "correct": 1}}
        if use_topics:
            section["topics"] = {r: sum(table[r, c] for c in cols) for r in rows}
        if use_levels:
            section["difficulty"] = {c: sum(table[r, c] for r in rows) for c in cols}
        sections.append(section)
        for (r, c), need in table.items():
            size = 2 * need + draw(st.integers(0, 3))
            cell = [f"{section_id}-{r}-{c}-{j}" for j in range(size)]
            enemy_of = {}
            if draw(st.booleans()):
                for a, b in zip(cell[0::2], cell[1::2], strict=False):
                    enemy_of[a] = (b,)
            for item_id in cell:
                index[item_id] = meta(
                    item_id,
                    section_id,
                    topic=r if r is not None else draw(st.sampled_from(["", "x"])),
                    difficulty=c if c is not None else draw(st.sampled_from([None, "d0"])),
                    n_options=draw(st.integers(2, 8)),
                    enemies=enemy_of.get(item_id, ()),
                )
        # Items the blueprint does not ask for: another topic, or a section not in the exam.
        if use_topics:
            index[f"{section_id}-other"] = meta(f"{section_id}-other", section_id, topic="zzz")
    index["X-1"] = meta("X-1", "X")
    exam = Exam(
        id="gen",
        time_limit_minutes=30,
        sections=sections,
        shuffle_items=draw(st.booleans()),
        shuffle_options=draw(st.booleans()),
    )
    return exam, index


@given(blueprints(), st.text(max_size=8), st.text(max_size=8), st.none() | st.integers(0, 10**6))
@settings(max_examples=80, deadline=None)
def test_every_form_satisfies_its_blueprint(case, seed, candidate, seat) -> None:
    exam, index = case
    form = assemble_form(exam, index, exam_seed=seed, candidate_id=candidate, seat=seat)
    assert len(form) == exam.n_items
    assert len(set(form.item_ids)) == len(form), "an item twice"
    # Sections in exam order, each contiguous, each the right size.
    runs = [s for i, s in enumerate(form.sections) if i == 0 or form.sections[i - 1] != s]
    assert runs == list(exam.section_ids)
    for section in exam.sections:
        metas = [index[i] for i, s in zip(form.item_ids, form.sections, strict=True)
                 if s == section.id]
        assert len(metas) == section.items
        assert all(m.section == section.id for m in metas)
        if section.topics is not None:
            assert Counter(m.topic for m in metas) == Counter(section.topics)
        if section.difficulty is not None:
            assert Counter(m.difficulty for m in metas) == Counter(section.difficulty)
    chosen = set(form.item_ids)
    for item_id in chosen:
        assert not chosen & set(index[item_id].enemies), "two enemies on one form"
    for item in form.items:
        n = index[item.item_id].n_options
        assert sorted(item.option_order) == list(range(n))
        if not exam.shuffle_options:
            assert item.option_order == tuple(range(n))
    # The auditor's regeneration gives the very same form.
    again = FormAssembler(exam, dict(reversed(index.items()))).assemble(
        exam_seed=seed, candidate_id=candidate, seat=seat
    )
    assert again == form


def test_same_arguments_same_form_other_candidate_other_order() -> None:
    exam = flat_exam({"A": 10, "B": 5})
    index = flat_index({"A": 200, "B": 100})
    one = assemble_form(exam, index, exam_seed="2025-06-01/sesi-1", candidate_id="P-001", seat=4)
    assert one == assemble_form(
        exam, index, exam_seed="2025-06-01/sesi-1", candidate_id="P-001", seat=4
    )
    other = assemble_form(exam, index, exam_seed="2025-06-01/sesi-1", candidate_id="P-002", seat=4)
    # The seat picks the items; the candidate picks their order and the options' order.
    assert set(other.item_ids) == set(one.item_ids)
    assert other.item_ids != one.item_ids
    reseeded = assemble_form(exam, index, exam_seed="2025-06-01/sesi-2", candidate_id="P-001",
                             seat=4)
    assert set(reseeded.item_ids) != set(one.item_ids)


def test_neighbours_share_nothing_and_a_round_of_seats_uses_every_item_once() -> None:
    exam = flat_exam({"A": 10, "B": 7})
    index = flat_index({"A": 100, "B": 70})
    assembler = FormAssembler(exam, index)
    forms = [assembler.assemble(exam_seed="s", candidate_id=f"c{j}", seat=j) for j in range(10)]
    assert all(shared_items(a, b) == 0 for a, b in itertools.pairwise(forms))
    assert set(exposure(forms).values()) == {1}
    assert len(exposure(forms)) == 170


def mean_overlap(forms: list[Form]) -> float:
    return float(np.mean([shared_items(a, b) for a, b in itertools.pairwise(forms)]))


def test_neighbours_share_nothing_across_rounds_when_the_pool_holds_six_forms() -> None:
    # 12 of 72: a new round every 6 seats, and 100 seats cross 16 seams between rounds.
    assembler = FormAssembler(flat_exam({"A": 12}), flat_index({"A": 72}))
    seated = [assembler.assemble(exam_seed="s", candidate_id=f"c{j}", seat=j) for j in range(100)]
    free = [assembler.assemble(exam_seed="s", candidate_id=f"c{j}") for j in range(100)]
    assert mean_overlap(seated) == 0
    # Independent draws share 12 * 12 / 72 = 2 items on average.
    assert mean_overlap(free) > 1.5
    counts = exposure(seated[:96])
    assert set(counts.values()) == {16}


@pytest.mark.parametrize(("k", "m"), [(12, 40), (10, 25), (6, 8)])
def test_small_pools_still_beat_independent_draws(k: int, m: int) -> None:
    assembler = FormAssembler(flat_exam({"A": k}), flat_index({"A": m}))
    seated = [assembler.assemble(exam_seed="s", candidate_id=f"c{j}", seat=j) for j in range(80)]
    free = [assembler.assemble(exam_seed="s", candidate_id=f"c{j}") for j in range(80)]
    assert mean_overlap(seated) < mean_overlap(free)
    if m < 2 * k:
        assert all(shared_items(a, b) == 2 * k - m for a, b in itertools.pairwise(seated))
    # Exposure stays even: every item within one use of its fair share.
    counts = exposure(seated)
    assert len(counts) == m
    assert max(counts.values()) - min(counts.values()) <= 1


def test_the_documented_method_regenerates_the_forms() -> None:
    """An auditor's re-implementation of docs/exams.md, from the text alone."""
    import hashlib
    import itertools
    import json
    import math

    def h(*parts):
        text = json.dumps(["cat-engine/forms/1", *parts], ensure_ascii=False,
                          separators=(",", ":"))
        return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")

    k, m, seed = 5, 42, "2025-06-01/sesi-1"
    pool = sorted(f"A-{j:04d}" for j in range(m))
    g = min(2 * k, m // 3)

    def q(r):
        return np.argsort(np.random.default_rng(h("stratum", seed, "A", None, None, r))
                          .random(m), kind="stable")

    def rounds(r):
        body = list(q(r)[: m - g])
        before = set(q(r - 1)[m - g:].tolist())
        head = [p for p in body if p not in before][:g]
        return [pool[p] for p in head + [p for p in body if p not in head] + list(q(r)[m - g:])]

    exam = flat_exam({"A": k})
    assembler = FormAssembler(exam, flat_index({"A": m}))
    for seat in (0, 7, 8, 9, 125):  # 42 items: seat 8 takes 40..44, across two rounds
        candidate = f"P-{seat}"
        stream = rounds(seat * k // m) + rounds(seat * k // m + 1)
        start = seat * k % m
        drawn = sorted(stream[start : start + k])
        rng = np.random.default_rng(h("candidate", seed, candidate))
        u = rng.random(k)
        ordered = [drawn[i] for i in np.argsort(u, kind="stable")]
        v = rng.random(k)
        orders = [list(itertools.permutations(range(4)))[math.floor(x * 24)] for x in v]
        form = assembler.assemble(exam_seed=seed, candidate_id=candidate, seat=seat)
        assert list(form.item_ids) == ordered
        assert [item.option_order for item in form.items] == orders
    # Without a seat: the k items with the smallest values of the candidate's own draw.
    u = np.random.default_rng(h("free", seed, "P-x", "A", None, None)).random(m)
    drawn = set(pool[i] for i in np.argsort(u, kind="stable")[:k])
    form = assembler.assemble(exam_seed=seed, candidate_id="P-x")
    assert set(form.item_ids) == drawn


def test_option_orders_are_uniform_over_candidates() -> None:
    assembler = FormAssembler(flat_exam({"A": 1}), flat_index({"A": 1}, n_options=4))
    orders = Counter(
        assembler.assemble(exam_seed="s", candidate_id=f"c{j}", seat=0).items[0].option_order
        for j in range(1200)
    )
    # All 24 orders of 4 options, each about 50 times (fixed seeds: no flakiness).
    assert len(orders) == 24
    assert all(25 <= count <= 75 for count in orders.values())


def test_without_shuffling_items_follow_the_blueprint_then_id() -> None:
    exam = Exam(
        id="t",
        time_limit_minutes=10,
        shuffle_items=False,
        shuffle_options=False,
        sections=[{"id": "A", "items": 4, "topics": {"b": 2, "a": 2},
                   "scoring": {"rule": "key", "correct": 1}}],
    )
    index = {f"{t}{j}": meta(f"{t}{j}", "A", topic=t) for t in "ab" for j in range(5)}
    form = assemble_form(exam, index, exam_seed="s", candidate_id="c", seat=0)
    topics = [index[i].topic for i in form.item_ids]
    assert topics == ["b", "b", "a", "a"]
    assert list(form.item_ids[:2]) == sorted(form.item_ids[:2])
    assert all(item.option_order == (0, 1, 2, 3, 4) for item in form.items)


def test_shortages_name_the_stratum() -> None:
    exam = Exam(
        id="t",
        time_limit_minutes=10,
        sections=[
            {"id": "TIU", "items": 5, "topics": {"deret": 3, "analogi": 2},
             "scoring": {"rule": "key", "correct": 5}},
        ],
    )
    index = {f"d{j}": meta(f"d{j}", "TIU", topic="deret") for j in range(2)}
    index |= {f"a{j}": meta(f"a{j}", "TIU", topic="analogi") for j in range(9)}
    with pytest.raises(FormError, match=r"section TIU, topic deret: needs 3 items, the bank "
                                        r"has 2 \(1 short\)"):
        FormAssembler(exam, index)


def test_topic_and_difficulty_counts_that_cannot_meet_are_reported() -> None:
    exam = Exam(
        id="t",
        time_limit_minutes=10,
        sections=[
            {"id": "A", "items": 4, "topics": {"x": 2, "y": 2},
             "difficulty": {"mudah": 3, "sulit": 1}, "scoring": {"rule": "key", "correct": 1}},
        ],
    )
    index = {f"x{j}": meta(f"x{j}", "A", topic="x", difficulty="mudah") for j in range(3)}
    index |= {f"y{j}": meta(f"y{j}", "A", topic="y", difficulty="sulit") for j in range(2)}
    # Enough of every topic and every difficulty, but y (both hard) must give two items and
    # only one hard item is wanted.
    with pytest.raises(FormError, match="cannot meet the topic and difficulty counts together"):
        FormAssembler(exam, index)
    index["y2"] = meta("y2", "A", topic="y", difficulty="mudah")
    form = assemble_form(exam, index, exam_seed="s", candidate_id="c")
    assert Counter(index[i].difficulty for i in form.item_ids) == {"mudah": 3, "sulit": 1}
    assert Counter(index[i].topic for i in form.item_ids) == {"x": 2, "y": 2}
    del index["x0"], index["x1"]
    with pytest.raises(FormError, match=r"topic x: needs 2 items, the bank has 1 \(1 short\)"):
        FormAssembler(exam, index)


def test_enemies_that_leave_too_few_items_are_reported() -> None:
    exam = flat_exam({"A": 3})
    index = {"a": meta("a", "A", enemies=("b", "c")), "b": meta("b", "A", enemies=("c",)),
             "c": meta("c", "A"), "d": meta("d", "A")}
    with pytest.raises(FormError, match=r"section A: only 2 of 3 items can be drawn without "
                                        r"two enemy items"):
        assemble_form(exam, index, exam_seed="s", candidate_id="c", seat=0)


def test_enemies_are_kept_apart_across_sections() -> None:
    exam = flat_exam({"A": 1, "B": 1})
    index = {"a0": meta("a0", "A", enemies=("b0",)), "b0": meta("b0", "B"), "b1": meta("b1", "B")}
    assembler = FormAssembler(exam, index)
    for seat in range(6):
        form = assembler.assemble(exam_seed="s", candidate_id=f"c{seat}", seat=seat)
        assert form.item_ids == ("a0", "b1")


def test_items_scored_unlike_their_section_are_refused() -> None:
    exam = flat_exam({"A": 1})
    index = {"a": meta("a", "A"), "b": meta("b", "A", scoring="weights")}
    with pytest.raises(FormError, match=r"1 item.*scored differently.*: b"):
        FormAssembler(exam, index)


def test_bad_seat_is_refused() -> None:
    assembler = FormAssembler(flat_exam({"A": 1}), flat_index({"A": 3}))
    for seat in (-1, 1.5, True):
        with pytest.raises(ValueError, match="seat must be a whole number"):
            assembler.assemble(exam_seed="s", candidate_id="c", seat=seat)


def test_check_bank_lists_each_shortage(skd: Exam) -> None:
    exam = skd.model_copy(
        update={"sections": [
            skd.sections[0].model_copy(update={"topics": {"pancasila": 10, "uud": 20}}),
            skd.sections[1].model_copy(update={"difficulty": {"mudah": 15, "sulit": 20}}),
            skd.sections[2],
        ]}
    )
    manifest = {
        "TWK": {"items": 500, "topics": {"pancasila": 7, "uud": 493}, "difficulties": {}},
        "TIU": {"items": 30, "topics": {}, "difficulties": {"mudah": 20, "sulit": 10}},
    }
    shortages = check_bank(exam, manifest)
    assert shortages == [
        Shortage("TWK", "pancasila", None, 10, 7),
        Shortage("TIU", None, None, 35, 30),
        Shortage("TIU", None, "sulit", 20, 10),
        Shortage("TKP", None, None, 45, 0),
    ]
    assert str(shortages[0]) == (
        "section TWK, topic pancasila: needs 10 items, the bank has 7 (3 short)"
    )
    enough = {s: {"items": 1000, "topics": {"pancasila": 10, "uud": 20},
                  "difficulties": {"mudah": 15, "sulit": 20}} for s in ("TWK", "TIU", "TKP")}
    assert check_bank(exam, enough) == []


def test_check_bank_reads_a_manifests_section_counts(skd: Exam) -> None:
    catbank = pytest.importorskip("item_bank.catbank")
    counts = {
        "TWK": catbank.SectionCounts(items=30, topics={"": 30}),
        "TIU": catbank.SectionCounts(items=32, topics={"": 32}, difficulties={"sulit": 3}),
        "TKP": catbank.SectionCounts(items=32),
    }
    assert check_bank(skd, counts) == [
        Shortage("TIU", None, None, 35, 32),
        Shortage("TKP", None, None, 45, 32),
    ]


@given(
    st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=3), min_size=1, max_size=3),
    st.data(),
)
@settings(max_examples=60, deadline=None)
def test_allocate_meets_both_margins_whenever_the_bank_can(table, data) -> None:
    width = min(len(row) for row in table)
    table = [row[:width] for row in table]
    rows = {f"t{i}": sum(row) for i, row in enumerate(table)}
    cols = {f"d{j}": sum(row[j] for row in table) for j in range(width)}
    rows = {k: v for k, v in rows.items() if v}
    cols = {k: v for k, v in cols.items() if v}
    if not rows:
        return
    capacity = {
        (f"t{i}", f"d{j}"): table[i][j] + data.draw(st.integers(0, 3))
        for i in range(len(table))
        for j in range(width)
    }
    section = Section(id="A", items=sum(rows.values()), topics=rows, difficulty=cols,
                      scoring={"rule": "key", "correct": 1})
    cells = allocate(section, capacity)
    for r, need in rows.items():
        assert sum(n for (t, _), n in cells.items() if t == r) == need
    for c, need in cols.items():
        assert sum(n for (_, d), n in cells.items() if d == c) == need
    assert all(0 < n <= capacity[cell] for cell, n in cells.items())


def test_form_survives_storage_as_plain_data() -> None:
    form = assemble_form(flat_exam({"A": 3, "B": 2}), flat_index({"A": 9, "B": 9}),
                         exam_seed="s", candidate_id="c", seat=2)
    assert Form.from_dict(form.as_dict()) == form
    assert form.section_positions() == {"A": range(0, 3), "B": range(3, 5)}
    assert isinstance(form.items[0], FormItem)
    assert form.option_order(0) == form.items[0].option_order


def test_shown_choice_reads_the_label_a_candidate_saw() -> None:
    assert [shown_choice(label) for label in "ABCDE"] == [0, 1, 2, 3, 4]
    assert shown_choice("c") == 2
    for bad in ("", "Z", "AB"):
        with pytest.raises(ValueError, match="not an option label"):
            shown_choice(bad)
