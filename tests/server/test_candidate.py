"""The candidate aggregate on its own: commands driven by a clock the test sets, with no store,
no bank file and no server. Each command's rows, audit entries and pushes are what the runner
would commit and send; what they do to the database is covered by the service tests."""

from __future__ import annotations

import pytest

from cat_engine.services import candidate as agg
from cat_engine.services.candidate import CandidateState, time_plan
from cat_engine.services.errors import ServiceError
from cat_engine.testing import SMALL_EXAM, FakeClock, fixture_items
from scoring.exam import parse_exam
from scoring.forms import assemble_form
from scoring.rules import ScoreSheet, build_score_key

T0 = 1_800_000_000_000
MINUTE = 60_000
#: SMALL_EXAM with TKP on a clock of its own: two time blocks (10 + 4 minutes).
TWO_BLOCKS = SMALL_EXAM.replace(
    'scoring = { rule = "weights", blank = 0 }',
    'scoring = { rule = "weights", blank = 0 }\ntime_limit_minutes = 4')
ITEMS = {i.id: i for i in fixture_items({"TWK": (6, "key"), "TIU": (6, "key"),
                                          "TKP": (8, "weights")})}


def sitting(exam_text: str = SMALL_EXAM, *, state: str = "admitted",
            accommodations: dict | None = None) -> CandidateState:
    """A candidate as the runner builds them at login, from a form and a score sheet alone."""
    exam = parse_exam(exam_text)
    form = assemble_form(exam, {k: v.meta() for k, v in ITEMS.items()}, exam_seed="seed",
                         candidate_id="1")
    n = len(form)
    acc = accommodations or {}
    return CandidateState(
        id=1, session_id=7, registration="R-001", name="Ani", formation="general", photo=None,
        accommodations=acc, state=state, terminal="T1", position=0, result=None,
        finish_reason=None, form=form, clock=None, answers=[None] * n, doubtful=[False] * n,
        answer_seq=[0] * n, flag_seq=[0] * n, seqs=set(),
        score_sheet=ScoreSheet(build_score_key(exam, form, ITEMS)), exam=exam,
        plan=time_plan(exam, acc))


def key_choice(cand: CandidateState, position: int) -> int:
    """The shown option that is the key of a keyed item."""
    item = ITEMS[cand.form.item_ids[position]]
    authored = list(item.options).index(item.key)
    return list(cand.form.option_order(position)).index(authored)


def events(out: agg.Outcome) -> list[tuple[str, str]]:
    return [(e.event, e.room) for e in out.emits]


def test_a_sitting_from_start_to_finish_returns_what_to_write():
    clock = FakeClock(T0)
    cand = sitting()
    started = cand.start_clock(clock())
    assert [s for s, _ in started.rows] == [agg.INSERT_CLOCK, agg.SET_STATE]
    assert started.rows[0][1]["started_ms"] == T0
    assert started.rows[0][1]["allowed_ms"] == 10 * MINUTE
    assert started.audit == [agg.Entry("candidate", "start", {"allowed_ms": 10 * MINUTE})]
    assert events(started) == [("progress", "proctor:7")]
    assert cand.state == "in_progress" and cand.status() == "in_progress"

    clock.at += 30_000
    choice = key_choice(cand, 0)
    run = cand.check_answer(0, choice, clock())
    out = cand.answer(clock(), seq=1, position=0, choice=choice, run=run, audited=True,
                      emits=[])
    assert out.reply == {"seq": 1, "saved": True}
    (event, event_row), (update, scores_row) = out.rows
    assert event is agg.INSERT_EVENT and update is agg.UPDATE_SCORES
    assert event_row == {"candidate_id": 1, "seq": 1, "kind": "answer", "position": 0,
                         "value": choice, "server_ms": T0 + 30_000}
    section = cand.form.sections[0]
    assert scores_row["sc"][section] == 5
    assert out.audit == [agg.Entry("candidate", "answer",
                                   {"seq": 1, "position": 0, "value": choice})]
    cand.answered(out, clock(), 0, run)
    assert events(out) == [("progress", "proctor:7"), ("score", "display:7")]
    assert out.emits[1].data["total"] == 5

    clock.at += 60_000
    done = cand.finish(clock(), reason="candidate", seq=2, actor="candidate")
    assert [s for s, _ in done.rows] == [agg.FINISH, agg.INSERT_EVENT, agg.CLOCK_FINISHED]
    assert done.reply["result"]["total"] == 5 and done.reply["seq"] == 2
    assert done.audit[0].action == "finish" and done.audit[0].detail["total"] == 5
    assert events(done) == [("finished", "cand:1"), ("progress", "proctor:7"),
                            ("score", "display:7")]
    assert cand.state == "finished" and cand.clock.finished_ms == T0 + 90_000
    # A second finish ends nothing more and writes nothing.
    again = cand.finish(clock(), reason="time")
    assert again.rows == [] and again.reply["duplicate"] is True


def test_the_same_commands_at_the_same_times_give_the_same_rows():
    """Deterministic in its inputs: two aggregates driven alike decide alike."""
    def drive() -> list:
        cand = sitting()
        outs = [cand.start_clock(T0)]
        for seq, position in enumerate(range(5), start=1):
            run = cand.check_answer(position, 1, T0 + seq * 1000)
            outs.append(cand.answer(T0 + seq * 1000, seq=seq, position=position, choice=1,
                                    run=run, audited=True, emits=[]))
        outs.append(cand.flag(T0 + 9000, seq=9, position=2, doubtful=True, audited=True))
        outs.append(cand.finish(T0 + 10_000, reason="candidate", seq=10))
        return [(o.reply, o.rows, o.audit) for o in outs]

    assert drive() == drive()


def test_an_older_seq_does_not_overwrite_a_newer_answer():
    cand = sitting()
    cand.start_clock(T0)
    first = cand.answer(T0, seq=5, position=0, choice=key_choice(cand, 0), run=None,
                        audited=True, emits=[])
    late = cand.answer(T0 + 1, seq=3, position=0, choice=(key_choice(cand, 0) + 1) % 5,
                       run=None, audited=False, emits=[])
    assert first.rows[1][0] is agg.UPDATE_SCORES
    assert late.rows[1][0] is agg.UPDATE_POSITION and late.audit == []
    assert cand.answers[0] == key_choice(cand, 0) and cand.seqs == {3, 5}
    cand.answered(late, T0 + 1, 0, None)
    assert events(late) == [("progress", "proctor:7")]  # the board's total did not move


def test_pause_resume_and_extension_move_the_deadline():
    cand = sitting()
    cand.start_clock(T0)
    paused = cand.pause(T0 + MINUTE, actor="proctor1", reason="noise")
    assert paused.rows == [(agg.PAUSE, {"cid": 1, "ps": T0 + MINUTE})]
    assert paused.audit == [agg.Entry("proctor1", "pause", {"reason": "noise"})]
    assert [e.event for e in paused.emits] == ["paused", "clock", "progress"]
    with pytest.raises(ServiceError) as refused:
        cand.check_answer(0, 0, T0 + 2 * MINUTE)
    assert refused.value.code == "paused"
    # A second pause changes nothing and writes nothing.
    assert cand.pause(T0 + 2 * MINUTE, actor="proctor1", reason="again").rows == []

    resumed = cand.resume(T0 + 3 * MINUTE, actor="proctor1")
    assert resumed.rows == [(agg.RESUME, {"cid": 1, "pm": 2 * MINUTE,
                                          "pl": [[T0 + MINUTE, T0 + 3 * MINUTE]]})]
    assert resumed.audit[0].detail["paused_ms"] == 2 * MINUTE
    extended = cand.extend(T0 + 4 * MINUTE, minutes=5, actor="proctor2", reason="PC restart")
    assert extended.rows == [(agg.EXTEND, {"cid": 1, "ext": 5 * MINUTE})]
    # 10 minutes, plus 2 paused, plus 5 given.
    assert not cand.expired(T0 + 17 * MINUTE - 1)
    assert cand.expired(T0 + 17 * MINUTE)
    with pytest.raises(ServiceError) as bad:
        cand.extend(T0, minutes=0, actor="proctor2", reason="none")
    assert bad.value.code == "bad_request"


def test_time_moves_the_blocks_and_the_last_one_finishes():
    cand = sitting(TWO_BLOCKS)
    assert [b.ms for b in cand.plan] == [10 * MINUTE, 4 * MINUTE]
    cand.start_clock(T0)
    assert cand.time_up(T0 + 10 * MINUTE - 1) == (None, False)
    tkp = cand.form.sections.index("TKP")
    with pytest.raises(ServiceError) as closed:
        cand.check_answer(tkp, 0, T0)
    assert closed.value.code == "outside_block"

    moved, last = cand.time_up(T0 + 10 * MINUTE)
    assert not last
    assert moved.rows == [(agg.MOVE_BLOCK, {"cid": 1, "al": 14 * MINUTE, "bl": 1,
                                            "bs": 10 * MINUTE, "be": 14 * MINUTE})]
    assert moved.audit[0].actor == "system" and moved.audit[0].detail["to"] == 1
    assert [e.event for e in moved.emits] == ["block", "clock", "progress"]
    cand.check_answer(tkp, 0, T0 + 10 * MINUTE)  # its block is open now

    assert cand.time_up(T0 + 14 * MINUTE) == (None, True)  # the runner finishes then


def test_closing_a_block_early_gives_up_its_time():
    cand = sitting(TWO_BLOCKS)
    cand.start_clock(T0)
    out = cand.next_block(T0 + 4 * MINUTE, seq=1, block=0, moved=[])
    assert out.rows[0] == (agg.INSERT_EVENT, {"candidate_id": 1, "seq": 1, "kind": "block",
                                              "position": None, "value": 0,
                                              "server_ms": T0 + 4 * MINUTE})
    assert out.audit[0].detail["given_up_ms"] == 6 * MINUTE
    assert out.reply["block"]["index"] == 1
    assert cand.block_info(T0 + 4 * MINUTE)["remaining_ms"] == 4 * MINUTE
    stale = cand.next_block(T0 + 5 * MINUTE, seq=2, block=0, moved=[])
    assert stale.rows == [] and stale.reply["stale"] is True
    with pytest.raises(ServiceError) as last:
        cand.next_block(T0 + 5 * MINUTE, seq=3, block=1, moved=[])
    assert last.value.code == "last_block"


def test_states_refuse_what_they_do_not_allow():
    cand = sitting(state="registered")
    admitted = cand.admit(T0, actor="proctor1", reason="identity checked")
    assert admitted.rows == [(agg.SET_STATE, {"cid": 1, "st": "admitted"})]
    assert cand.admit(T0, actor="proctor1").rows == []  # admitted already
    with pytest.raises(ServiceError) as not_started:
        cand.check_answer(0, 0, T0)
    assert not_started.value.code == "not_started"
    cand.start_clock(T0)
    with pytest.raises(ServiceError) as bad_choice:
        cand.check_answer(0, 7, T0)
    assert bad_choice.value.code == "bad_choice"
    with pytest.raises(ServiceError) as too_far:
        cand.check_seq(agg.SEQ_AHEAD + 2)
    assert too_far.value.code == "bad_request"
    out = cand.disqualify(T0, actor="proctor1", reason="phone in pocket")
    assert [s for s, _ in out.rows] == [agg.DISQUALIFY, agg.CLOCK_FINISHED]
    with pytest.raises(ServiceError) as gone:
        cand.check_answer(0, 0, T0)
    assert gone.value.code == "disqualified"
    assert cand.finish(T0, reason="time").rows == []  # a disqualified exam is not finished


def test_release_and_login_binding():
    cand = sitting(state="registered")
    bound = cand.bind(T0, "T2", admit=True, address="10.0.0.9")
    assert bound.rows == [(agg.SET_TERMINAL_STATE, {"cid": 1, "term": "T2", "st": "admitted"})]
    assert bound.audit == [agg.Entry("system", "login", {
        "terminal": "T2", "admitted": True, "address": "10.0.0.9"})]
    cand.sid = "socket-1"
    released = cand.release(T0, actor="proctor1", reason="PC 4 died")
    assert released.rows == [(agg.SET_TERMINAL, {"cid": 1, "term": None})]
    assert released.audit[0].detail == {"reason": "PC 4 died", "terminal": "T2"}
    assert cand.terminal is None and cand.sid is None
    assert released.emits[1].data["connected"] is False
