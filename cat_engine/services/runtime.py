"""The running site's memory: unlocked banks, loaded exams, and the rows each candidate's live
state (services/candidate.py) is rebuilt from.

The database is the truth; this is a cache of it that a server process builds on demand and
can drop at any time (a candidate is reloaded from their committed answer events). Bank keys
live only here, never on disk.
"""

from __future__ import annotations

import logging
import threading
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from cat_engine.store import Prepared, Store
from cat_engine.store.models import AnswerEvent, Bank, Candidate, Clock, ExamSession, Form
from item_bank.model import Item

log = logging.getLogger(__name__)


@dataclass
class BankKey:
    """A way to unlock a bank, held in memory only."""

    passphrase: str | None = None
    site_key: Any = None  # whatever item_bank.catbank.open_bank accepts as site_key

    def __repr__(self) -> str:  # never print a secret
        return "BankKey(<hidden>)"


class UnlockedBank:
    """An open .catbank whose items are decrypted on demand and kept in memory."""

    def __init__(self, opened: Any):
        self.opened = opened
        self._items: dict[str, Item] = {}
        self._rendered: dict[str, tuple[str, list[str]]] = {}
        self._per_session: dict[tuple[str, Any], Any] = {}
        self._lock = threading.Lock()

    @property
    def index(self):
        return self.opened.index

    def per_session(self, kind: str, session: Any, build: Callable[[], Any]) -> Any:
        """What ``build()`` makes for a session of this bank (an assembler, adaptive pools),
        made once: it checks the whole bank index, which is too slow for every login."""
        key = (kind, (session.exam.id, session.id))
        made = self._per_session.get(key)
        if made is None:
            made = self._per_session[key] = build()
        return made

    def rendered(self, item_id: str) -> tuple[str, list[str]]:
        """(stem HTML, option HTML in authored order): rendered once, shuffled per candidate."""
        cached = self._rendered.get(item_id)
        if cached is None:
            from item_bank.render import render_item_for_terminal

            item = self.item(item_id)
            shown = render_item_for_terminal(item, list(item.options))
            cached = (shown["stem_html"], [o["html"] for o in shown["options"]])
            self._rendered[item_id] = cached
        return cached

    def item(self, item_id: str) -> Item:
        cached = self._items.get(item_id)
        if cached is None:
            with self._lock:
                cached = self._items.get(item_id)
                if cached is None:
                    cached = self._items[item_id] = self.opened.item(item_id)
        return cached


@dataclass
class SessionState:
    id: int
    name: str
    token: str
    state: str
    settings: dict[str, Any]
    exam: Any  # scoring.exam.Exam
    exam_id: int
    bank_row_id: int
    bank_path: str
    seed: str
    bank: UnlockedBank | None = None
    #: The room the session sits in (enrolled devices are enrolled for a room).
    room: str = ""


def load_session(store: Store, session_id: int, load_exam) -> SessionState | None:
    with store.read() as db:
        row = db.get(ExamSession, session_id)
        if row is None:
            return None
        bank = db.get(Bank, row.bank_id)
        from cat_engine.store.models import Exam as ExamRow

        exam_row = db.get(ExamRow, row.exam_id)
        return SessionState(
            id=row.id, name=row.name, token=row.token, state=row.state,
            settings=dict(row.settings or {}), exam=load_exam(exam_row.source),
            exam_id=row.exam_id, bank_row_id=row.bank_id, bank_path=bank.path, seed=row.seed,
            room=row.room,
        )


_CANDIDATE = Prepared(select(Candidate.__table__).where(Candidate.id == bindparam("cid")))
_FORM = Prepared(select(Form.__table__.c["items"]).where(Form.candidate_id == bindparam("cid")))
_CLOCK = Prepared(select(Clock.__table__).where(Clock.candidate_id == bindparam("cid")))
_EVENTS = Prepared(select(AnswerEvent.seq, AnswerEvent.kind, AnswerEvent.position,
                          AnswerEvent.value)
                   .where(AnswerEvent.candidate_id == bindparam("cid"))
                   .order_by(AnswerEvent.seq))
CandidateRow = namedtuple("CandidateRow", [c.name for c in Candidate.__table__.columns])
ClockRow = namedtuple("ClockRow", [c.name for c in Clock.__table__.columns])
FormRow = namedtuple("FormRow", ["items"])
EventRow = namedtuple("EventRow", ["seq", "kind", "position", "value"])


def load_candidate(store: Store, candidate_id: int):
    """The rows a candidate's state is rebuilt from: (candidate, form, clock, answer events),
    each a row with the table's columns as attributes (None when missing), read together.

    Prepared statements (store/prepared.py), not ORM gets: a room's logins load their
    candidates at once, and SQLAlchemy's machinery was most of each load.
    """
    params = {"cid": candidate_id}
    with store.snapshot() as db:
        row, form, clock = (db.first(_CANDIDATE, params), db.first(_FORM, params),
                            db.first(_CLOCK, params))
        events = db.all(_EVENTS, params)
    return (None if row is None else CandidateRow(*row), None if form is None else FormRow(*form),
            None if clock is None else ClockRow(*clock), [EventRow(*e) for e in events])


def replay(n: int, events: list[AnswerEvent]):
    """Answers, marks and seq bookkeeping from committed events (newest seq per item wins)."""
    answers: list[int | None] = [None] * n
    doubtful = [False] * n
    answer_seq = [0] * n
    flag_seq = [0] * n
    seqs: set[int] = set()
    for ev in events:  # ordered by seq
        seqs.add(ev.seq)
        if ev.position is None or not 0 <= ev.position < n:
            continue
        if ev.kind == "answer":
            answers[ev.position] = ev.value
            answer_seq[ev.position] = ev.seq
        elif ev.kind == "flag":
            doubtful[ev.position] = bool(ev.value)
            flag_seq[ev.position] = ev.seq
    return answers, doubtful, answer_seq, flag_seq, seqs
