"""Fixed options (QTI fixed="true") keep their place; the others shuffle uniformly."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from item_bank.model import Item, ItemMeta
from scoring.exam import Exam
from scoring.forms import FormAssembler
from scoring.rules import ScoreSheet, build_score_key

EXAM = Exam(
    id="t", time_limit_minutes=10,
    sections=[{"id": "A", "items": 1, "scoring": {"rule": "key", "correct": 5}}],
)


@st.composite
def fixed_items(draw):
    n = draw(st.integers(2, 8))
    fixed = tuple(sorted(draw(st.sets(st.integers(0, n - 1), max_size=n - 2))))
    return n, fixed


@settings(max_examples=12, deadline=None, derandomize=True)
@given(fixed_items())
def test_fixed_options_never_move_and_the_others_shuffle_uniformly(case) -> None:
    n, fixed = case
    index = {"A-1": ItemMeta(id="A-1", section="A", n_options=n, scoring="key", fixed=fixed)}
    assembler = FormAssembler(EXAM, index)
    free = [i for i in range(n) if i not in fixed]
    draws = 400 * len(free)
    places = np.zeros((n, n), dtype=np.int64)  # authored option x shown place
    orders: Counter[tuple[int, ...]] = Counter()  # the free options' joint order
    for j in range(draws):
        order = assembler.assemble(exam_seed="s", candidate_id=f"c{j}").option_order(0)
        assert sorted(order) == list(range(n))
        for place, option in enumerate(order):
            places[option, place] += 1
        orders[tuple(order[place] for place in free)] += 1
    for option in fixed:
        assert places[option, option] == draws  # never anywhere else
    # Each free option lands in each free place equally often (chi-square, fixed seeds).
    for option in free:
        observed = places[option, free]
        assert observed.sum() == draws
        assert chisquare(observed).pvalue > 1e-4, (option, observed)
    if len(free) <= 4:  # and every order of them equally often
        counts = [orders[perm] for perm in itertools.permutations(free)]
        assert sum(counts) == draws
        assert chisquare(counts).pvalue > 1e-4, counts


def test_the_documented_method_with_fixed_options() -> None:
    """docs/exams.md step 3, re-implemented from the text, on an item with fixed options."""

    def h(*parts):
        text = json.dumps(["cat-engine/forms/1", *parts], ensure_ascii=False,
                          separators=(",", ":"))
        return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")

    index = {
        "A-1": ItemMeta(id="A-1", section="A", n_options=5, scoring="key", fixed=(1, 4)),
    }
    assembler = FormAssembler(EXAM, index)
    for candidate in ("P-1", "P-2", "P-3", "P-4"):
        rng = np.random.default_rng(h("candidate", "seed", candidate))
        rng.random(1)  # u: the item order
        v = rng.random(1)
        order = list(itertools.permutations(range(3)))[math.floor(v[0] * math.factorial(3))]
        free = [0, 2, 3]
        expected = [0, 1, 2, 3, 4]
        for j, place in enumerate(free):
            expected[place] = free[order[j]]
        form = assembler.assemble(exam_seed="seed", candidate_id=candidate, seat=0)
        assert list(form.option_order(0)) == expected


def test_scoring_follows_the_shuffle_around_fixed_options() -> None:
    item = Item(
        id="A-1", section="A", stem="Ibu kota Indonesia?",
        options={"A": "Bandung", "B": "Jakarta", "C": "Medan", "D": "Semua salah"},
        key="B", fixed=("D",),
    )
    assembler = FormAssembler(EXAM, {"A-1": item.meta()})
    for j in range(30):
        form = assembler.assemble(exam_seed="s", candidate_id=f"c{j}")
        order = form.option_order(0)
        assert order[3] == 3  # "Semua salah" stays last
        key = build_score_key(EXAM, form, {"A-1": item})
        right, wrong = ScoreSheet(key), ScoreSheet(key)
        right.answer(0, order.index(1))  # the shown place of "Jakarta"
        wrong.answer(0, 3)
        assert right.total == 5 and wrong.total == 0
