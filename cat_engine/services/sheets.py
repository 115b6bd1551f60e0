"""A session's answered sheets, read from the store: each candidate's form (an adaptive
section's slots filled with the items they were given) and their answers replayed from the
answer events. The item-analysis report, the responses export and the QTI results export all
start from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select

from cat_engine.services.runtime import replay
from cat_engine.store import Store
from cat_engine.store.models import AnswerEvent, Candidate, Clock, Form
from item_bank.model import Item, ItemMeta
from scoring import adaptive_section
from scoring.exam import Exam
from scoring.forms import Form as FormObj


class ReportError(Exception):
    """The report cannot be made; the message says why."""


class Bank(Protocol):
    """An opened bank: its index (no keys) and its items (with keys)."""

    @property
    def index(self) -> Mapping[str, ItemMeta]: ...

    def item(self, item_id: str) -> Item: ...


@dataclass
class Answered:
    """One candidate's form with every adaptive slot filled, and their shown choices."""

    registration: str
    form: FormObj
    answers: list[int | None]
    candidate_id: int = 0
    #: Server time of the event that gave each position its final answer (None: none).
    answered_ms: list[int | None] = field(default_factory=list)
    #: The candidate's row (state, result, accommodations), detached from the database.
    candidate: Candidate | None = None
    #: When their clock finished them (None: still running, or never started).
    finished_ms: int | None = None


def answer_events(db: Any, session_id: int) -> dict[int, list[AnswerEvent]]:
    """Every answer event of a session's candidates, per candidate, in seq order."""
    events: dict[int, list[AnswerEvent]] = {}
    for event in db.scalars(
            select(AnswerEvent).join(Candidate, Candidate.id == AnswerEvent.candidate_id)
            .where(Candidate.session_id == session_id).order_by(AnswerEvent.seq)):
        events.setdefault(event.candidate_id, []).append(event)
    return events


def answered_sheets(store: Store, session_id: int, exam: Exam, bank: Bank, *,
                    everyone: bool = False) -> list[Answered]:
    """Each candidate's form (adaptive slots filled) and replayed answers, by registration.

    Only those who answered at least once, unless ``everyone`` (then every candidate who has
    a form: a results export lists the ones who never answered too).
    """
    with store.read() as db:
        rows = db.execute(
            select(Candidate, Form.items, Clock.finished_ms)
            .join(Form, Form.candidate_id == Candidate.id)
            .outerjoin(Clock, Clock.candidate_id == Candidate.id)
            .where(Candidate.session_id == session_id).order_by(Candidate.registration)).all()
        events = answer_events(db, session_id)
        db.expunge_all()
    pools = (adaptive_section.pools(exam, bank.index)
             if adaptive_section.is_adaptive(exam) else {})
    out = []
    for candidate, items, finished_ms in rows:
        form = FormObj.from_dict(items)
        mine = events.get(candidate.id, [])
        answers, _, answer_seq, _, _ = replay(len(form), mine)
        if not everyone and not any(a is not None for a in answers):
            continue
        if pools:
            form = adaptive_section.AdaptiveSheet(exam, form, pools, bank.item, answers).form
        at = {e.seq: e.server_ms for e in mine}
        answered_ms = [at.get(seq) if a is not None else None
                       for seq, a in zip(answer_seq, answers, strict=True)]
        out.append(Answered(candidate.registration, form, answers, candidate.id, answered_ms,
                            candidate, finished_ms))
    return out
