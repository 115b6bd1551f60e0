"""One candidate's sitting as an aggregate: state machine, time plan and score sheet.

:class:`CandidateState` holds what the server knows of a candidate between two committed
events; its commands (``start_clock``, ``answer``, ``flag``, ``move_block``, ``finish``,
``pause``, ``resume``, ``extend``, ``release``, ``disqualify``, ``admit``, ``bind``...) take
the current time and their inputs, check them against the state (``ServiceError`` when the
candidate may not do this now), apply the change to the candidate in memory and return an
:class:`Outcome`: the rows to commit, the audit entries and the pushes. No command does I/O or
touches the database, so each is tested with a number for the time and no server
(tests/server/test_candidate.py).

The runner (:class:`cat_engine.services.site.Site`) holds the locks, commits an outcome's rows
and audit entries with the session's fence in one transaction, and drops the candidate (to be
rebuilt from the database) if that commit fails: the change is applied before the commit so
that concurrent answers of one candidate keep seq order.

State machine: ``registered`` -admit/bind-> ``admitted`` -start_clock-> ``in_progress``
-finish-> ``finished``; ``disqualify`` from any state but finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, update

from cat_engine import clock as clk
from cat_engine.services import events as ev
from cat_engine.services.errors import ServiceError
from cat_engine.services.grading import result as grade
from cat_engine.store.models import AnswerEvent, Candidate, Clock
from scoring.adaptive_section import AdaptiveSheet

LABELS = "ABCDEFGH"
#: How far a terminal's seq may run ahead of the candidate's next one (see check_seq).
SEQ_AHEAD = 10_000

# The statements of the commands' rows, on the tables (Core): the writer merges consecutive
# rows of one statement into an executemany.
_candidates = Candidate.__table__
_clocks = Clock.__table__
_CID = _candidates.c.id == bindparam("cid")
_CLOCK_OF = _clocks.c.candidate_id == bindparam("cid")
INSERT_EVENT = insert(AnswerEvent.__table__)
UPDATE_POSITION = update(_candidates).where(_CID).values(position=bindparam("pos"))
UPDATE_SCORES = (update(_candidates).where(_CID)
                 .values(position=bindparam("pos"), scores=bindparam("sc")))
UPDATE_ADAPTIVE = (update(_candidates).where(_CID)
                   .values(position=bindparam("pos"), scores=bindparam("sc"),
                           adaptive=bindparam("ad")))
INSERT_CLOCK = insert(_clocks)
SET_STATE = update(_candidates).where(_CID).values(state=bindparam("st"))
SET_TERMINAL = update(_candidates).where(_CID).values(terminal=bindparam("term"))
SET_TERMINAL_STATE = (update(_candidates).where(_CID)
                      .values(terminal=bindparam("term"), state=bindparam("st")))
DISQUALIFY = (update(_candidates).where(_CID)
              .values(state="disqualified", finish_reason="disqualified"))
MOVE_BLOCK = update(_clocks).where(_CLOCK_OF).values(
    allowed_ms=bindparam("al"), block=bindparam("bl"), block_start_ms=bindparam("bs"),
    block_end_ms=bindparam("be"))
PAUSE = update(_clocks).where(_CLOCK_OF).values(paused_since_ms=bindparam("ps"))
RESUME = update(_clocks).where(_CLOCK_OF).values(
    paused_since_ms=None, paused_ms=bindparam("pm"), pauses=bindparam("pl"))
EXTEND = update(_clocks).where(_CLOCK_OF).values(extension_ms=bindparam("ext"))
CLOCK_FINISHED = update(_clocks).where(_CLOCK_OF).values(finished_ms=bindparam("fin"))
CREDIT_OUTAGE = (update(_clocks).where(_CLOCK_OF)
                 .values(outage_ms=_clocks.c.outage_ms + bindparam("extra")))
#: Conditional, so that a candidate is finished once: with several server processes (one
#: database) a second scheduler or proctor finds the row already ended (rowcount 0).
FINISH = (update(_candidates)
          .where(_CID, _candidates.c.state.not_in(("finished", "disqualified")))
          .values(state="finished", result=bindparam("res"), finish_reason=bindparam("why"),
                  scores=bindparam("sc"), terminal=bindparam("term")))
SET_RESULT = update(_candidates).where(_CID).values(result=bindparam("res"))


class Block(NamedTuple):
    """One time block of a candidate: its sections and its length in milliseconds."""

    sections: tuple[str, ...]
    ms: int


class Entry(NamedTuple):
    """An audit entry a command asks for (the runner chains it at commit)."""

    actor: str
    action: str
    detail: dict[str, Any]


@dataclass
class Outcome:
    """What a command decided: the caller's reply, the pushes to send, and (for the runner)
    the rows to commit with their audit entries, stamped ``at_ms``."""

    reply: dict[str, Any] = field(default_factory=dict)
    emits: list[ev.Emit] = field(default_factory=list)
    rows: list[tuple[Any, Any]] = field(default_factory=list)
    audit: list[Entry] = field(default_factory=list)
    at_ms: int = 0


def allowed_minutes_ms(exam: Any, accommodations: Mapping[str, Any]) -> int:
    """A candidate's whole exam time: the exam's, with their accommodation and own minutes."""
    acc = accommodations.get("accommodation")
    minutes = exam.total_minutes(acc if acc in exam.accommodations else None)
    return clk.allowed_ms(minutes, float(accommodations.get("extra_minutes", 0) or 0))


def time_plan(exam: Any, accommodations: Mapping[str, Any]) -> tuple[Block, ...]:
    """A candidate's time blocks in order: the exam's clocks with their accommodation.

    A candidate's own ``extra_minutes`` go to the block of the exam's shared clock (as an
    accommodation's ``minutes`` do), or to the first block when every section has its own.
    """
    acc = accommodations.get("accommodation")
    extra = float(accommodations.get("extra_minutes", 0) or 0)
    raw = exam.time_blocks(acc if acc in exam.accommodations else None)
    shared = set(s.id for s in exam.sections if s.time_limit_minutes is None)
    target = next((i for i, b in enumerate(raw) if shared & set(b.sections)), 0)
    return tuple(Block(b.sections, clk.allowed_ms(b.minutes, extra if i == target else 0))
                 for i, b in enumerate(raw))


@dataclass
class ClockData:
    started_ms: int
    allowed_ms: int
    extension_ms: int = 0
    paused_ms: int = 0
    paused_since_ms: int | None = None
    outage_ms: int = 0
    pauses: list = field(default_factory=list)
    finished_ms: int | None = None
    block: int = 0
    block_start_ms: int = 0
    block_end_ms: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> ClockData:
        """From a ``clocks`` row (ORM object or Core row)."""
        return cls(row.started_ms, row.allowed_ms, row.extension_ms, row.paused_ms,
                   row.paused_since_ms, row.outage_ms, list(row.pauses or []), row.finished_ms,
                   row.block or 0, row.block_start_ms or 0, row.block_end_ms)


@dataclass
class CandidateState:
    """One candidate as the server sees them between two committed events, and the commands
    that change them (see the module's docstring)."""

    id: int
    session_id: int
    registration: str
    name: str
    formation: str
    photo: str | None
    accommodations: dict[str, Any]
    state: str
    terminal: str | None
    position: int
    result: dict[str, Any] | None
    finish_reason: str | None
    form: Any  # scoring.forms.Form
    clock: ClockData | None
    answers: list[int | None]
    doubtful: list[bool]
    #: Highest seq applied per position (answers and flags separately): newest seq wins.
    answer_seq: list[int]
    flag_seq: list[int]
    seqs: set[int]
    score_sheet: Any = None  # scoring.rules.ScoreSheet or an AdaptiveSheet
    #: seq -> event of an answer being committed right now (a resend waits for it).
    inflight: dict[int, Any] = field(default_factory=dict)
    #: The connection logged in as this candidate (live/registry.py keeps it).
    sid: str | None = None
    lock: Any = None
    exam: Any = None  # scoring.exam.Exam
    #: The candidate's time blocks (time_plan), in order.
    plan: tuple[Block, ...] = ()
    #: The highest seq in ``seqs`` (0: none), kept as seqs are applied: every message checks
    #: it, and a maximum over all of a candidate's events grew with the exam.
    last_seq: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.last_seq = max(self.seqs, default=0)

    @property
    def n_items(self) -> int:
        return len(self.form)

    @property
    def next_seq(self) -> int:
        return self.last_seq + 1

    def applied(self, seq: int) -> None:
        """Record that the event numbered ``seq`` is applied (a resend of it is a duplicate)."""
        self.seqs.add(seq)
        if seq > self.last_seq:
            self.last_seq = seq

    # -- what the candidate's state says -----------------------------------------------------

    def status(self) -> str:
        return {"registered": "waiting_admission", "admitted": "ready",
                "in_progress": "in_progress", "finished": "finished",
                "disqualified": "finished"}[self.state]

    def allowed_ms(self) -> int:
        return allowed_minutes_ms(self.exam, self.accommodations)

    def block_info(self, now: int) -> dict[str, Any]:
        """What start, clock and block pushes say about the current block."""
        c = self.clock
        plan = self.plan
        index = min(c.block, len(plan) - 1)
        return {"index": index, "count": len(plan), "sections": list(plan[index].sections),
                "remaining_ms": clk.block_remaining_ms(c, now)}

    def expired(self, now: int) -> bool:
        """True when the current block's time (the exam's, with one block) has run out."""
        if self.clock is None or self.state != "in_progress":
            return False
        deadline = clk.block_deadline_ms(self.clock)
        return deadline is not None and now >= deadline

    def adaptive_info(self, section: str) -> dict[str, Any]:
        sheet = self.score_sheet
        return sheet.info(section) if isinstance(sheet, AdaptiveSheet) else {}

    def sheet(self, now: int) -> dict[str, Any]:
        """The terminal's sheet at start or resume: sections, answers, marks, time."""
        plan = self.plan
        block_of = {sid: i for i, b in enumerate(plan) for sid in b.sections}
        sections, first = [], 0
        for s in self.exam.sections:
            sections.append({"name": s.id, "first": first, "count": s.positions})
            if len(plan) > 1:  # a single-block sheet stays as it was
                sections[-1]["block"] = block_of[s.id]
            if s.adaptive is not None:
                sections[-1]["adaptive"] = self.adaptive_info(s.id)
            first += s.positions
        info = self.block_info(now)
        return {
            "n_items": self.n_items, "sections": sections, "answers": list(self.answers),
            "doubtful": list(self.doubtful), "position": self.position,
            "next_seq": self.next_seq, "remaining_ms": info["remaining_ms"],
            "exam_remaining_ms": clk.remaining_ms(self.clock, now), "block": info,
            "paused": self.clock.paused_since_ms is not None,
        }

    # -- pushes --------------------------------------------------------------------------------

    def clock_push(self, now: int) -> ev.Emit:
        info = self.block_info(now)
        return ev.to_candidate(self.id, "clock", {
            "remaining_ms": info["remaining_ms"],
            "exam_remaining_ms": clk.remaining_ms(self.clock, now), "block": info,
            "paused": self.clock.paused_since_ms is not None})

    def progress(self, now: int, *, connected: bool | None = None) -> ev.Emit:
        """The proctor console's row of this candidate."""
        c = self.clock
        return ev.to_proctors(self.session_id, "progress", {
            "candidate_id": self.id, "registration": self.registration,
            "status": self.state,
            "connected": (self.sid is not None) if connected is None else connected,
            "position": self.position,
            # Counted in C: this runs for every answer.
            "answered": len(self.answers) - self.answers.count(None),
            # Every answer, change, clear and flag so far: changes count toward the
            # "too fast" alert (probing the board by changing answers).
            "events": len(self.seqs),
            "doubtful": self.doubtful.count(True),
            # The seat grid shows the current block's time (the exam's, with one block).
            "remaining_ms": clk.block_remaining_ms(c, now) if c else None,
            "block": c.block if c else None,
            "paused": bool(c and c.paused_since_ms is not None),
        })

    def score_push(self, scores: dict[str, float]) -> ev.Emit:
        """The public display's row of this candidate."""
        return ev.to_display(self.session_id, "score", {
            "candidate_id": self.id, "sections": scores,
            "total": sum(scores.values()), "status": self.state})

    def block_emits(self, now: int, reason: str) -> list[ev.Emit]:
        info = self.block_info(now)
        return [ev.to_candidate(self.id, "block", {**info, "reason": reason}),
                self.clock_push(now), self.progress(now)]

    # -- checks --------------------------------------------------------------------------------

    def check_live(self, *, allow_finished: bool = False) -> None:
        if self.state == "disqualified":
            raise ServiceError("disqualified")
        if self.state == "finished" and not allow_finished:
            raise ServiceError("finished", result=self.result)

    def check_working(self, position: int | None, now: int) -> None:
        """The candidate may act on ``position`` (None: on the exam) now."""
        self.check_live()
        if self.state != "in_progress" or self.clock is None:
            raise ServiceError("not_started")
        if self.clock.paused_since_ms is not None:
            raise ServiceError("paused")
        if position is None:
            return
        if not 0 <= position < self.n_items:
            raise ServiceError("bad_position", f"position {position} is outside "
                               f"0..{self.n_items - 1}")
        if position < self.position and self.exam.navigation == "forward-only":
            raise ServiceError("bad_position", "this exam does not go back to earlier items")
        self.check_block(position, now)
        if isinstance(self.score_sheet, AdaptiveSheet):
            reason = self.score_sheet.check(position, answering=False)
            if reason is not None:
                raise ServiceError("bad_position", reason)

    def check_block(self, position: int, now: int) -> None:
        plan = self.plan
        if len(plan) == 1:
            return
        section = self.form.sections[position]
        current = min(self.clock.block, len(plan) - 1)
        if section not in plan[current].sections:
            closed = any(section in b.sections for b in plan[:current])
            raise ServiceError("outside_block", f"item {position + 1} ({section}) is in a part "
                               f"that is {'closed' if closed else 'not open yet'}",
                               block=self.block_info(now))

    def check_answer(self, position: int, choice: int | None, now: int):
        """An answer's checks; the adaptive run that ``position`` belongs to (or None)."""
        self.check_working(position, now)
        # Counted once per form: a numpy row per answer was 3 % of the server's CPU.
        n_options = self.form.n_options[position]
        if choice is not None and not 0 <= choice < n_options:
            raise ServiceError("bad_choice", f"choice {choice} is outside 0..{n_options - 1}")
        run = (self.score_sheet.run_at(position)
               if isinstance(self.score_sheet, AdaptiveSheet) else None)
        if run is not None and choice is None:
            raise ServiceError("bad_choice", "an adaptive item cannot be left blank")
        return run

    def check_seq(self, seq: int) -> None:
        """A new seq may run ahead of the candidate's next one by at most :data:`SEQ_AHEAD`
        (a terminal counts up by one per event): otherwise one message of 2^31-1 would push
        the candidate's own ``next_seq`` past what any message may carry."""
        if seq > self.next_seq + SEQ_AHEAD and seq not in self.seqs:
            raise ServiceError("bad_request", f"seq: more than {SEQ_AHEAD} ahead of "
                                              f"{self.next_seq}")

    # -- commands: login and admission -------------------------------------------------------

    def bind(self, now: int, terminal: str, admit: bool, address: str | None) -> Outcome:
        """Bind the candidate to this terminal (and admit them)."""
        if admit:
            row = (SET_TERMINAL_STATE, {"cid": self.id, "term": terminal, "st": "admitted"})
            self.state = "admitted"
        else:
            row = (SET_TERMINAL, {"cid": self.id, "term": terminal})
        self.terminal = terminal
        return Outcome(rows=[row], at_ms=now, audit=[Entry("system", "login", {
            "terminal": terminal, "admitted": admit, "address": address})])

    def admit(self, now: int, *, actor: str, reason: str = "") -> Outcome:
        if self.state != "registered":
            return Outcome({"state": self.state})
        self.state = "admitted"
        return Outcome({"state": "admitted"},
                       [ev.to_candidate(self.id, "admitted", {}), self.progress(now)],
                       [(SET_STATE, {"cid": self.id, "st": "admitted"})],
                       [Entry(actor, "admit", {"reason": reason})], now)

    # -- commands: time ------------------------------------------------------------------------

    def start_clock(self, now: int) -> Outcome:
        """An admitted candidate's first start: their clock runs from ``now``."""
        plan = self.plan
        c = ClockData(started_ms=now, allowed_ms=sum(b.ms for b in plan),
                      block_end_ms=plan[0].ms if len(plan) > 1 else None)
        self.clock = c
        self.state = "in_progress"
        return Outcome(emits=[self.progress(now)], at_ms=now, rows=[
            (INSERT_CLOCK, {
                "candidate_id": self.id, "started_ms": c.started_ms,
                "allowed_ms": c.allowed_ms, "extension_ms": 0, "paused_ms": 0,
                "outage_ms": 0, "pauses": [], "block": 0, "block_start_ms": 0,
                "block_end_ms": c.block_end_ms}),
            (SET_STATE, {"cid": self.id, "st": "in_progress"})],
            audit=[Entry("candidate", "start", {"allowed_ms": c.allowed_ms})])

    def time_up(self, now: int) -> tuple[Outcome | None, bool]:
        """The current block's time ran out: move on to the next block (the outcome, or None
        when no block moves) and whether the last block's time is up too (then finish).

        Every block whose end has passed moves on: a late tick must not cost the next block
        any time, so each starts where the one before ended."""
        if not self.expired(now):
            return None, False
        c = self.clock
        plan = self.plan
        worked = clk.worked_ms(c, now)
        block, start, end = c.block, c.block_start_ms, clk.block_end_ms(c)
        while block < len(plan) - 1 and worked >= end:
            start, end, block = end, end + plan[block + 1].ms, block + 1
        last = block >= len(plan) - 1 and worked >= end
        if block == c.block:
            return None, last
        out = self.move_block(now, block, c.allowed_ms, start, end, reason="time")
        out.emits = self.block_emits(now, "time")
        return out, last

    def next_block(self, now: int, *, seq: int, block: int,
                   moved: list[ev.Emit]) -> Outcome:
        """The candidate closes their current block early (its unused time is given up).
        ``moved``: the pushes of a deadline applied just before, sent with a stale reply."""
        c = self.clock
        if block != c.block:
            # Time already moved this candidate on (or a resend): close nothing more.
            return Outcome({"seq": seq, "saved": True, "stale": True,
                            "block": self.block_info(now)}, moved)
        plan = self.plan
        if c.block >= len(plan) - 1:
            raise ServiceError("last_block", "this is the last part: finish the exam")
        allowed, start, end = clk.next_block(c, plan[c.block + 1].ms,
                                             at_worked=clk.worked_ms(c, now))
        out = self.move_block(now, c.block + 1, allowed, start, end, reason="candidate",
                              seq=seq)
        self.applied(seq)
        out.reply = {"seq": seq, "saved": True, "block": self.block_info(now)}
        out.emits = self.block_emits(now, "candidate")
        return out

    def move_block(self, now: int, block: int, allowed: int, start: int, end: int, *,
                   reason: str, seq: int | None = None) -> Outcome:
        """The candidate's new current block (``seq``: the candidate's own event)."""
        c = self.clock
        closed, given_up = c.block, c.allowed_ms - allowed
        rows: list = []
        if seq is not None:
            rows.append((INSERT_EVENT, {"candidate_id": self.id, "seq": seq, "kind": "block",
                                        "position": None, "value": closed, "server_ms": now}))
        rows.append((MOVE_BLOCK, {"cid": self.id, "al": allowed, "bl": block, "bs": start,
                                  "be": end}))
        c.allowed_ms, c.block, c.block_start_ms, c.block_end_ms = allowed, block, start, end
        return Outcome(rows=rows, at_ms=now, audit=[Entry(
            "candidate" if seq is not None else "system", "next_block",
            {"from": closed, "to": block, "reason": reason, "given_up_ms": given_up})])

    def pause(self, now: int, *, actor: str, reason: str, scope: str = "proctor") -> Outcome:
        self.check_live()
        c = self.clock
        if c is None or c.paused_since_ms is not None:
            return Outcome({"paused": c is not None})
        c.paused_since_ms = now
        return Outcome({"paused": True}, [
            ev.to_candidate(self.id, "paused", {"reason": scope}),
            self.clock_push(now), self.progress(now)],
            [(PAUSE, {"cid": self.id, "ps": now})], [Entry(actor, "pause", {"reason": reason})],
            now)

    def resume(self, now: int, *, actor: str, reason: str = "") -> Outcome:
        self.check_live()
        c = self.clock
        if c is None or c.paused_since_ms is None:
            return Outcome({"paused": False})
        since = c.paused_since_ms
        pauses = [*c.pauses, [since, now]]
        paused_ms = c.paused_ms + (now - since)
        c.paused_since_ms, c.paused_ms, c.pauses = None, paused_ms, pauses
        return Outcome({"paused": False}, [
            ev.to_candidate(self.id, "resumed", {}), self.clock_push(now), self.progress(now)],
            [(RESUME, {"cid": self.id, "pm": paused_ms, "pl": pauses})],
            [Entry(actor, "resume", {"reason": reason, "paused_ms": now - since})], now)

    def extend(self, now: int, *, minutes: float, actor: str, reason: str) -> Outcome:
        self.check_live()
        if self.clock is None:
            raise ServiceError("not_started")
        if not 0 < minutes <= 600:
            raise ServiceError("bad_request", "an extension is 0 to 600 minutes")
        total = self.clock.extension_ms + round(minutes * 60_000)
        self.clock.extension_ms = total
        return Outcome({"extension_ms": total}, [
            # The clock jumps: the terminal says why (docs/protocol.md, "extended").
            ev.to_candidate(self.id, "extended", {"minutes": minutes}),
            self.clock_push(now), self.progress(now)],
            [(EXTEND, {"cid": self.id, "ext": total})],
            [Entry(actor, "extend", {"reason": reason, "minutes": minutes})], now)

    def working(self) -> bool:
        """In progress with their clock running (not paused)."""
        return (self.state == "in_progress" and self.clock is not None
                and self.clock.paused_since_ms is None)

    def credit_outage(self, now: int, since: int, limit_ms: int) -> Outcome | None:
        """Credit a working candidate the time from ``since`` (their session served again
        after an outage) to now, at most ``limit_ms``; None when nothing is credited."""
        c = self.clock
        extra = now - since
        if not 0 < extra <= limit_ms or clk.deadline_ms(c) <= since:
            return None
        c.outage_ms += extra
        return Outcome(rows=[(CREDIT_OUTAGE, {"cid": self.id, "extra": extra})], at_ms=now,
                       audit=[Entry("system", "outage_credit",
                                    {"from_ms": since, "outage_ms": extra})])

    # -- commands: answering -------------------------------------------------------------------

    def answer(self, now: int, *, seq: int, position: int, choice: int | None, run: Any,
               audited: bool, emits: list[ev.Emit]) -> Outcome:
        """Apply a checked answer (``check_answer`` gave ``run``); newest seq wins. ``emits``:
        the pushes so far (a deadline applied just before). After the commit,
        :meth:`answered` moves the candidate to the item and adds the pushes."""
        supersedes = seq > self.answer_seq[position]
        sheet = self.score_sheet
        if supersedes:
            sheet.answer(position, choice)
            self.answers[position] = choice
            self.answer_seq[position] = seq
        scores = dict(sheet.section_scores)
        self.applied(seq)
        cid = self.id
        rows: list = [(INSERT_EVENT, {"candidate_id": cid, "seq": seq, "kind": "answer",
                                      "position": position, "value": choice, "server_ms": now})]
        # An adaptive answer also commits the new ability estimate and next item.
        if run is not None:
            self.form = sheet.form
            rows.append((UPDATE_ADAPTIVE, {"cid": cid, "pos": position,
                                           "sc": scores if supersedes else None,
                                           "ad": sheet.persisted()}))
        elif supersedes:
            rows.append((UPDATE_SCORES, {"cid": cid, "pos": position, "sc": scores}))
        else:
            rows.append((UPDATE_POSITION, {"cid": cid, "pos": position}))
        # The answer's audit entry commits in the same transaction (audit verify compares
        # the two, so a changed answer row shows).
        return Outcome({"seq": seq, "saved": True}, emits, rows, at_ms=now, audit=[Entry(
            "candidate", "answer", {"seq": seq, "position": position, "value": choice})]
            if audited else [])

    def answered(self, out: Outcome, now: int, position: int, run: Any) -> Outcome:
        """After an answer's commit: the candidate is at ``position``; its pushes (the
        board's when the answer superseded: its row carries the new scores)."""
        if run is not None:
            out.reply["adaptive"] = self.adaptive_info(self.form.sections[position])
        self.position = position
        out.emits.append(self.progress(now))
        scores = out.rows[1][1].get("sc")
        if scores is not None:
            out.emits.append(self.score_push(scores))
        return out

    def flag(self, now: int, *, seq: int, position: int, doubtful: bool,
             audited: bool) -> Outcome:
        if seq > self.flag_seq[position]:
            self.doubtful[position] = doubtful
            self.flag_seq[position] = seq
        self.applied(seq)
        value = int(doubtful)
        return Outcome({"seq": seq, "saved": True}, at_ms=now, rows=[
            (INSERT_EVENT, {"candidate_id": self.id, "seq": seq, "kind": "flag",
                            "position": position, "value": value, "server_ms": now}),
            (UPDATE_POSITION, {"cid": self.id, "pos": position})],
            audit=[Entry("candidate", "flag", {"seq": seq, "position": position,
                                               "value": value})] if audited else [])

    def shown(self, now: int, position: int, emits: list[ev.Emit]) -> Outcome:
        """The item at ``position`` is shown: which item, when (committed before the terminal
        gets it). After the commit, :meth:`visit` moves the candidate there."""
        return Outcome({"position": position, "section": self.form.sections[position]},
                       emits, at_ms=now, audit=[Entry("candidate", "shown", {
                           "position": position, "item": self.form.item_ids[position]})])

    def visit(self, out: Outcome, now: int, position: int) -> Outcome:
        if self.position != position:
            self.position = position
            out.emits.append(self.progress(now))
        return out

    # -- commands: the end ---------------------------------------------------------------------

    def finish(self, now: int, *, reason: str, seq: int | None = None, actor: str = "system",
               note: str = "") -> Outcome:
        """End the exam with its result. The first row is conditional (FINISH): the runner
        stops the commit there when it ends nothing (another process finished the exam)."""
        if self.state in ("finished", "disqualified"):
            return Outcome({"seq": seq, "result": self.result, "duplicate": True})
        scores = dict(self.score_sheet.section_scores)
        result = grade(self.exam, self.score_sheet, self.formation)
        self.state = "finished"  # refuse answers from here on
        rows: list = [(FINISH, {"cid": self.id, "res": result, "why": reason, "sc": scores,
                                "term": self.terminal})]
        if seq is not None:
            self.applied(seq)
            rows.append((INSERT_EVENT, {"candidate_id": self.id, "seq": seq, "kind": "finish",
                                        "position": None, "value": None, "server_ms": now}))
        rows.append((CLOCK_FINISHED, {"cid": self.id, "fin": now}))
        self.result = result
        self.finish_reason = reason
        if self.clock is not None:
            self.clock.finished_ms = now
        reply: dict[str, Any] = {"result": result}
        if seq is not None:
            reply["seq"] = seq
        return Outcome(reply, [
            ev.to_candidate(self.id, "finished", {"result": result, "reason": reason}),
            self.progress(now), self.score_push(scores)], rows,
            [Entry(actor, "finish", {"reason": reason, "note": note, "total": result["total"]})],
            now)

    def disqualify(self, now: int, *, actor: str, reason: str) -> Outcome:
        if not reason.strip():
            raise ServiceError("bad_request", "a disqualification needs a reason")
        if self.state == "disqualified":
            return Outcome({"state": "disqualified"})
        self.state = "disqualified"
        return Outcome({"state": "disqualified"}, [
            ev.to_candidate(self.id, "disqualified", {"reason": reason}),
            self.progress(now)],
            [(DISQUALIFY, {"cid": self.id}), (CLOCK_FINISHED, {"cid": self.id, "fin": now})],
            [Entry(actor, "disqualify", {"reason": reason})], now)

    def release(self, now: int, *, actor: str, reason: str) -> Outcome:
        """Free the candidate from their terminal so they can log in on a spare PC (the
        connection registry forgets their connection)."""
        terminal = self.terminal
        self.terminal = None
        self.sid = None
        return Outcome({"released": True}, [ev.to_candidate(self.id, "released", {}),
                                            self.progress(now, connected=False)],
                       [(SET_TERMINAL, {"cid": self.id, "term": None})],
                       [Entry(actor, "release", {"reason": reason, "terminal": terminal})], now)

    def disconnect(self, now: int) -> Outcome:
        self.sid = None
        return Outcome({}, [self.progress(now, connected=False),
                            ev.to_proctors(self.session_id, "alert", {
                                "candidate_id": self.id, "kind": "disconnected",
                                "detail": {}})])
