"""The pool of a weighted (TKP-like) adaptive section: which items it takes, how an answer
becomes a category, and what it refuses, by name."""

from __future__ import annotations

import numpy as np
import pytest

from cat_engine.testing import SMALL_EXAM, fixture_items
from item_bank.model import IrtParams
from scoring.adaptive_section import AdaptiveSheet, form_assembler, pools, weight_levels
from scoring.exam import parse_exam
from scoring.forms import FormError
from scoring.irt.models import GPCM, GRM

EXAM = parse_exam(SMALL_EXAM.replace(
    'id = "TKP"\nitems = 4\nscoring = { rule = "weights", blank = 0 }\n',
    'id = "TKP"\nitems = 4\nscoring = { rule = "weights", blank = 0 }\n'
    "adaptive = { max_items = 5 }\n"))


def bank(n_tkp: int = 10, *, irt=None):
    """Items by id; TKP items get GRM/GPCM parameters (or ``irt(n)``)."""
    out = {}
    for item in fixture_items({"TWK": (6, "key"), "TIU": (6, "key"), "TKP": (n_tkp, "weights")}):
        if item.section == "TKP":
            n = int(item.id[-3:])
            params = irt(n) if irt else IrtParams(
                model="gpcm" if n % 2 else "grm", a=1.0 + n / 20,
                thresholds=tuple(n / 10 + s for s in (-1.5, -0.5, 0.5, 1.5)))
            item = item.model_copy(update={"irt": params})
        out[item.id] = item
    return out


def index(items):
    return {item_id: item.meta() for item_id, item in items.items()}


def test_a_weighted_pool_takes_grm_and_gpcm_items_and_ranks_weights_into_categories():
    items = bank()
    pool = pools(EXAM, index(items), items.__getitem__)["TKP"]
    assert pool.ids == tuple(f"TKP-{n:03d}" for n in range(10))
    assert {int(k) for k in pool.params.kind} == {GRM, GPCM}
    assert list(pool.params.n_categories) == [5] * 10
    item = items["TKP-003"]
    for label, weight in item.weights.items():  # weights 1..5: category = weight - 1
        assert pool.category(item, label) == int(weight) - 1
    assert weight_levels({"A": 4, "B": 0.5, "C": 2, "D": 4}) == (0.5, 2, 4)
    # The scaled score runs over the fixed form's points: 4 items x weights 1..5.
    assert pool.point_range() == (1.0, 5.0)
    assert pool.scaled(-8.0) == pytest.approx(4.0, abs=0.05)
    assert pool.scaled(8.0) == pytest.approx(20.0, abs=0.05)
    assert np.all(np.diff([pool.scaled(t) for t in np.linspace(-3, 3, 13)]) > 0)


def test_a_sheet_with_a_weighted_section_scores_blank_until_answered_and_bounds_its_points():
    items = bank()
    form = form_assembler(EXAM, index(items), items.__getitem__).assemble(
        exam_seed="s", candidate_id="7")
    assert form.item_ids[-5:] == ("",) * 5
    answers = [None] * len(form)
    sheet = AdaptiveSheet(EXAM, form, pools(EXAM, index(items)), items.__getitem__, answers)
    assert sheet.key.bounds["TKP"] == (0.0, 20.0)
    assert sheet.section_scores["TKP"] == 0
    first = len(form) - 5
    item = items[sheet.form.item_ids[first]]
    order = sheet.form.option_order(first)
    best = max(range(5), key=lambda shown: item.weights[list(item.options)[order[shown]]])
    sheet.answer(first, best)
    run = sheet.runs["TKP"]
    assert run.state.responses == (4,) and run.state.theta > 0.3


def test_items_whose_weights_do_not_match_their_categories_are_refused_by_name():
    items = bank()
    odd = items["TKP-004"]
    items["TKP-004"] = odd.model_copy(update={"weights": {**odd.weights, "A": odd.weights["B"]}})
    with pytest.raises(FormError, match=r"TKP-004 \(4 weights, 5 categories\)"):
        pools(EXAM, index(items), items.__getitem__)


def test_a_weighted_section_needs_polytomous_items():
    items = bank(irt=lambda n: IrtParams(model="2pl", a=1.0, b=0.0))
    with pytest.raises(FormError, match="needs 5 items with GRM/GPCM IRT parameters, the bank "
                       "has 0; without GRM/GPCM IRT parameters: 10 item"):
        pools(EXAM, index(items))
