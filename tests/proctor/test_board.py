"""The scoreboard's rules without a server: ranking with the exam's tie-breaks, masking,
reveal-at-finish and freezing (cat_engine.live.display.Board)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cat_engine.live.display import Board, mask
from cat_engine.testing import SMALL_EXAM
from scoring.exam import parse_exam
from scoring.results import evaluate, rank

#: The team's small exam with the SKD ranking: passers first, then total, TKP, TIU, TWK.
EXAM = parse_exam(
    SMALL_EXAM + "[ranking]\npassed_first = true\nby = [\"total\", \"TKP\", \"TIU\", \"TWK\"]\n")
INFO = {"id": 1, "name": "S1", "room": "R1", "exam": "Mini SKD"}


def roster(n: int) -> list[dict]:
    return [{"id": i + 1, "registration": f"2024{i:08d}", "name": f"Peserta {i + 1}",
             "formation": "general", "state": "in_progress",
             "scores": {"TWK": 0, "TIU": 0, "TKP": 0}} for i in range(n)]


def board(n: int = 4, **settings) -> Board:
    b = Board(INFO, EXAM, roster(n))
    b.configure(settings)
    return b


def test_ties_on_total_are_broken_by_tkp_then_tiu():
    b = board(4)
    b.update(1, {"sections": {"TWK": 15, "TIU": 10, "TKP": 12}})  # 37, passes
    b.update(2, {"sections": {"TWK": 10, "TIU": 10, "TKP": 17}})  # 37, passes, more TKP
    b.update(3, {"sections": {"TWK": 10, "TIU": 15, "TKP": 12}})  # 37, passes, TKP =, more TIU
    b.update(4, {"sections": {"TWK": 5, "TIU": 15, "TKP": 20}})   # 40 but fails TWK
    rows = b.snapshot()["rows"]
    assert [r["id"] for r in rows] == [2, 3, 1, 4]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]


def test_rows_show_marks_for_each_threshold_passed():
    b = board(1)
    b.update(1, {"sections": {"TWK": 15, "TIU": 5, "TKP": 12}})
    [row] = b.snapshot()["rows"]
    assert row["marks"] == {"TWK": True, "TIU": False, "TKP": True}
    assert row["passed"] is False and row["total"] == 32


def test_registration_numbers_are_masked_unless_names_are_public():
    assert mask("202400000001") == "20•••••••001"
    # Short numbers keep at most a third (the attack found "PH•01").
    assert mask("PH001") == "••••1"
    assert mask("R00001") == "R••••1"
    assert mask("AB") == "••"
    assert board(1).snapshot()["rows"][0]["label"] == "20•••••••000"
    assert board(1, public_names=True).snapshot()["rows"][0]["label"] == "Peserta 1"


def test_reveal_at_finish_hides_scores_until_the_candidate_finishes():
    b = board(2, scoreboard="finish")
    b.update(1, {"sections": {"TWK": 15, "TIU": 15, "TKP": 20}})
    b.update(2, {"sections": {"TWK": 5, "TIU": 5, "TKP": 4}})
    b.snapshot()
    b.update(1, {"status": "finished"})
    changed, _moved = b.diff()
    assert [r["id"] for r in changed] == [1]
    assert changed[0]["total"] == 50 and changed[0]["rank"] == 1
    hidden = b.snapshot()["rows"][1]
    assert hidden["sections"] is None and hidden["total"] is None and hidden["rank"] is None


def test_a_frozen_board_shows_only_what_it_showed_when_frozen():
    live = board(2)
    live.update(1, {"sections": {"TWK": 10, "TIU": 0, "TKP": 0}})
    frozen_rows = {str(k): v for k, v in live.shown().items()}
    b = board(2)
    b.update(1, {"sections": {"TWK": 10, "TIU": 0, "TKP": 0}})
    b.configure({"frozen": True, "frozen_board": frozen_rows})
    before = b.snapshot()["rows"]
    b.update(1, {"sections": {"TWK": 15, "TIU": 15, "TKP": 20}, "status": "finished"})
    b.update(2, {"sections": {"TWK": 15, "TIU": 0, "TKP": 0}})
    assert b.diff() == ([], {})
    assert b.snapshot()["rows"] == before
    b.configure({"frozen": False})
    assert b.snapshot()["rows"][0]["total"] == 50


def test_diffs_carry_only_rows_whose_shown_content_changed():
    b = board(5)
    for cid in range(1, 6):
        b.update(cid, {"sections": {"TWK": 0, "TIU": 0, "TKP": 10 - cid}})  # ranks 1..5
    b.snapshot()
    b.update(3, {"sections": {"TWK": 5, "TIU": 0, "TKP": 7}})
    changed, moved = b.diff()
    # Candidate 3's scores changed (a whole row); 1 and 2 only move down one place (their
    # rank alone); 4 and 5 are not sent at all.
    assert [(r["id"], r["rank"], r["total"]) for r in changed] == [(3, 1, 12)]
    assert moved == {1: [2, False], 2: [3, False]}
    assert b.diff() == ([], {})


def test_between_rankings_changed_rows_keep_their_last_rank():
    b = board(3)
    for cid in (1, 2, 3):
        b.update(cid, {"sections": {"TWK": 0, "TIU": 0, "TKP": 10 - cid}})
    b.snapshot()
    b.update(3, {"sections": {"TWK": 5, "TIU": 0, "TKP": 7}})
    rows, moved = b.diff(moves=False)
    assert [(r["id"], r["total"], r["rank"]) for r in rows] == [(3, 12, 3)] and moved == {}
    rows, moved = b.diff(moves=True)
    assert rows == [] and moved == {3: [1, False], 1: [2, False], 2: [3, False]}


scores = st.fixed_dictionaries({"TWK": st.integers(0, 3).map(lambda n: n * 5),
                                "TIU": st.integers(0, 3).map(lambda n: n * 5),
                                "TKP": st.integers(4, 20)})


@settings(max_examples=60, deadline=None)
@given(st.lists(scores, min_size=1, max_size=25))
def test_board_order_is_the_exams_ranking(sheets):
    b = board(len(sheets))
    for i, sheet in enumerate(sheets):
        b.update(i + 1, {"sections": sheet})
    rows = b.snapshot()["rows"]
    results = [evaluate(EXAM, {k: float(v) for k, v in s.items()}, "general") for s in sheets]
    ranking = rank(results, EXAM)
    assert [r["rank"] for r in rows] == [position for position, _t, _i in ranking]
    by_id = {r["id"]: r for r in rows}
    for position, tied, index in ranking:
        assert by_id[index + 1]["rank"] == position and by_id[index + 1]["tied"] == tied
