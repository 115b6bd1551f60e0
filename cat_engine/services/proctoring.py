"""What the proctor console and the scoreboard read and change outside a candidate's exam:
the sessions a user may see, session settings, the token, the incident log (berita acara),
seats and results.

Candidate actions (admit, pause, finish...) are :class:`cat_engine.services.site.Site`
methods; this module holds the session-level work around them, each function one transaction.
Those that write hand their transaction to ``write`` (``Site.write_session``): a session's
audit chain is written by its owner only, under the lease's fence (docs/deploy.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cat_engine.clock import now_ms
from cat_engine.services.errors import ServiceError
from cat_engine.services.grading import rule_set_for
from cat_engine.services.sessions import new_token
from cat_engine.store import Store, audit
from cat_engine.store.models import (
    AuditEntry,
    Candidate,
    ExamSession,
    ProctorAssignment,
)
from cat_engine.store.models import Exam as ExamRow

#: How scores reach the public board: as each answer is scored, or only once finished.
SCOREBOARD_MODES = ("live", "finish")
#: States of a candidate who never started the exam: absent from the results' ranking.
NOT_STARTED = ("registered", "admitted")
#: Settings a proctor may change from the console, with their type.
SETTINGS: dict[str, type] = {"auto_admit": bool, "public_names": bool, "scoreboard": str,
                             "enrolled_terminals": bool, "networks": list}
_T = TypeVar("_T")
#: Commits ``work(db)`` as a write of the session (``Site.write_session``); its result.
SessionWrite = Callable[[int, Callable[[Session], _T]], _T]
#: Actions that belong in the session's incident log (berita acara) beside incidents.
LOGGED_ACTIONS = ("incident", "admit", "release", "pause", "resume", "pause_room",
                  "resume_room", "extend", "finish", "disqualify", "session_open",
                  "session_closed", "token_rotate", "settings", "unlock", "refused_login",
                  "login_unlocked", "outage")


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a signed-in user (admin sees every session, a proctor their own)."""

    user_id: int
    username: str
    role: str

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.username}"


def visible_sessions(store: Store, viewer: Viewer) -> set[int]:
    with store.read() as db:
        if viewer.role == "admin":
            return set(db.scalars(select(ExamSession.id)))
        return set(db.scalars(select(ProctorAssignment.session_id)
                              .where(ProctorAssignment.user_id == viewer.user_id)))


def check_access(store: Store, viewer: Viewer, session_id: int) -> None:
    """Refuse (``forbidden``) a session the viewer is not assigned to."""
    if session_id not in visible_sessions(store, viewer):
        raise ServiceError("forbidden", f"session {session_id} is not assigned to you")


def session_rows(store: Store, ids: Iterable[int], *, date: str | None = None
                 ) -> list[dict[str, Any]]:
    """Sessions with their state as the console shows it (scheduled, open, running, closed)."""
    ids = set(ids)
    with store.read() as db:
        query = select(ExamSession).where(ExamSession.id.in_(ids))
        if date is not None:
            query = query.where(ExamSession.date == date)
        sessions = list(db.scalars(query.order_by(ExamSession.date, ExamSession.time)))
        counts: dict[tuple[int, str], int] = {
            (sid, state): n for sid, state, n in db.execute(
                select(Candidate.session_id, Candidate.state, func.count())
                .where(Candidate.session_id.in_(ids))
                .group_by(Candidate.session_id, Candidate.state))}
        exams = {e.id: e.title for e in db.scalars(select(ExamRow))}
    rows = []
    for s in sessions:
        per_state = {st: counts.get((s.id, st), 0) for st in
                     ("registered", "admitted", "in_progress", "finished", "disqualified")}
        state = s.state
        if state == "open" and per_state["in_progress"]:
            state = "running"
        rows.append({"id": s.id, "name": s.name, "date": s.date, "time": s.time,
                     "room": s.room, "state": state, "exam": exams.get(s.exam_id, ""),
                     "candidates": sum(per_state.values()), "counts": per_state,
                     "settings": public_settings(s.settings)})
    return rows


def public_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """A session's settings with their defaults (the frozen board itself left out)."""
    settings = dict(settings or {})
    return {"auto_admit": bool(settings.get("auto_admit", True)),
            "public_names": bool(settings.get("public_names", False)),
            "scoreboard": settings.get("scoreboard", "live"),
            "frozen": bool(settings.get("frozen", False)),
            "frozen_ms": settings.get("frozen_ms"),
            "enrolled_terminals": bool(settings.get("enrolled_terminals", False)),
            "networks": list(settings.get("networks") or [])}


def networks(values: Any) -> list[str]:
    """Address ranges of a room (``10.1.2.0/24``, ``192.168.5.17``), normalised; a bad one
    is refused, naming it."""
    import ipaddress

    if not isinstance(values, list) or len(values) > 64:
        raise ServiceError("bad_request", "networks: a list of at most 64 address ranges")
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            raise ServiceError("bad_request", f"networks: {value!r} is not an address range "
                                              "such as 10.1.2.0/24") from None
    return out


def address_allowed(address: str | None, ranges: list[str]) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(r) for r in ranges)


def session_info(store: Store, session_id: int) -> dict[str, Any]:
    with store.read() as db:
        s = db.get(ExamSession, session_id)
        if s is None:
            raise ServiceError("not_found", f"no session {session_id}")
        exam = db.get(ExamRow, s.exam_id)
        return {"id": s.id, "name": s.name, "date": s.date, "time": s.time, "room": s.room,
                "state": s.state, "token": s.token, "exam": exam.title, "exam_id": s.exam_id,
                "settings": public_settings(s.settings)}


def update_settings(write: SessionWrite, session_id: int, changes: Mapping[str, Any], *,
                    actor: str, reason: str, frozen_board: Mapping[str, Any] | None = None,
                    unfreeze: bool = False) -> dict[str, Any]:
    """Change console settings (validated) and/or freeze or unfreeze the public board.

    ``frozen_board`` is what the board showed at the moment of freezing: stored with the
    session so a restarted server keeps showing exactly that and nothing newer.
    """
    for key, value in changes.items():
        if key not in SETTINGS or not isinstance(value, SETTINGS[key]):
            raise ServiceError("bad_request", f"setting {key!r}: unknown or wrong type")
    if changes.get("scoreboard", "live") not in SCOREBOARD_MODES:
        raise ServiceError("bad_request", f"scoreboard: one of {', '.join(SCOREBOARD_MODES)}")
    if "networks" in changes:
        changes = {**changes, "networks": networks(changes["networks"])}
    now = now_ms()

    def work(db: Session) -> dict[str, Any] | None:
        row = db.get(ExamSession, session_id)
        if row is None:
            return None
        settings = dict(row.settings or {})
        settings.update(changes)
        detail: dict[str, Any] = {"reason": reason, "changes": dict(changes)}
        if frozen_board is not None:
            settings.update(frozen=True, frozen_ms=now, frozen_board=dict(frozen_board))
            detail["freeze"] = True
        if unfreeze:
            settings.update(frozen=False, frozen_ms=None)
            settings.pop("frozen_board", None)
            detail["freeze"] = False
        row.settings = settings
        audit.append(db, at_ms=now, actor=actor, action="settings", session_id=session_id,
                     detail=detail)
        return dict(settings)

    settings = write(session_id, work)
    if settings is None:
        raise ServiceError("not_found", f"no session {session_id}")
    return settings


def rotate_token(write: SessionWrite, session_id: int, *, actor: str, reason: str) -> str:
    """A new session token; the old one stops working for new logins at once."""
    token = new_token()
    now = now_ms()

    def work(db: Session) -> bool:
        row = db.get(ExamSession, session_id)
        if row is None:
            return False
        row.set_token(token)
        audit.append(db, at_ms=now, actor=actor, action="token_rotate", session_id=session_id,
                     detail={"reason": reason})
        return True

    if not write(session_id, work):
        raise ServiceError("not_found", f"no session {session_id}")
    return token


def record_incident(write: SessionWrite, session_id: int, text: str, *, actor: str,
                    candidate_id: int | None = None) -> dict[str, Any]:
    """One entry of the session's berita acara (an audit entry: it cannot be edited)."""
    now = now_ms()

    def work(db: Session) -> bool:
        if candidate_id is not None:
            owner = db.scalar(select(Candidate.session_id).where(Candidate.id == candidate_id))
            if owner != session_id:
                return False
        audit.append(db, at_ms=now, actor=actor, action="incident", session_id=session_id,
                     candidate_id=candidate_id, detail={"text": text})
        return True

    if not write(session_id, work):
        raise ServiceError("forbidden", f"candidate {candidate_id} is not in this session")
    return {"at_ms": now, "actor": actor, "action": "incident", "candidate_id": candidate_id,
            "detail": {"text": text}}


def record_action(write: SessionWrite, session_id: int, action: str, *, actor: str,
                  detail: Mapping[str, Any]) -> None:
    """An audit entry of a session-wide action (room pause, unlock, opening)."""
    now = now_ms()

    def work(db: Session) -> None:
        audit.append(db, at_ms=now, actor=actor, action=action, session_id=session_id,
                     detail=dict(detail))

    write(session_id, work)


def incident_log(store: Store, session_id: int, *, after: int = 0) -> list[dict[str, Any]]:
    """Incidents and every proctor action of a session, oldest first, with candidate names
    (only the entries after audit entry ``after``: what a console has not shown yet)."""
    with store.read() as db:
        names = {cid: (reg, name) for cid, reg, name in db.execute(
            select(Candidate.id, Candidate.registration, Candidate.name)
            .where(Candidate.session_id == session_id))}
        entries = db.scalars(select(AuditEntry).where(
            AuditEntry.session_id == session_id, AuditEntry.action.in_(LOGGED_ACTIONS),
            AuditEntry.id > after)
            .order_by(AuditEntry.id))
        out = []
        for e in entries:
            reg, name = names.get(e.candidate_id, ("", ""))
            detail = dict(e.detail or {})
            out.append({"id": e.id, "at_ms": e.at_ms, "actor": e.actor, "action": e.action,
                        "candidate_id": e.candidate_id, "registration": reg, "name": name,
                        # A proctor's finish keeps its reason as the note ("proctor" is who).
                        "text": (detail.get("text") or detail.get("note")
                                 or detail.get("reason") or ""),
                        "detail": detail})
        return out


def proctors(store: Store, session_id: int) -> list[str]:
    """The user names of the proctors assigned to the session (for the record's header)."""
    from cat_engine.store.models import User

    with store.read() as db:
        return list(db.scalars(
            select(User.username).join(ProctorAssignment, ProctorAssignment.user_id == User.id)
            .where(ProctorAssignment.session_id == session_id, User.role == "proctor")
            .order_by(User.username)))


def state_counts(store: Store, session_id: int) -> dict[str, int]:
    """How many of the session's candidates are in each state."""
    with store.read() as db:
        return dict(db.execute(select(Candidate.state, func.count())
                               .where(Candidate.session_id == session_id)
                               .group_by(Candidate.state)).all())


def roster(store: Store, session_id: int) -> list[dict[str, Any]]:
    """The session's candidates as stored (no PIN hashes, photos only as a flag)."""
    with store.read() as db:
        return [{"id": c.id, "registration": c.registration, "name": c.name, "seat": c.seat,
                 "formation": c.formation, "state": c.state, "terminal": c.terminal,
                 "position": c.position, "scores": dict(c.scores or {}),
                 "has_photo": bool(c.photo), "finish_reason": c.finish_reason,
                 "accommodations": dict(c.accommodations or {}),
                 "receipt": ((c.result or {}).get("receipt") or {}).get("code")}
                # In seat order: the grid is read like the room.
                for c in db.scalars(select(Candidate).where(Candidate.session_id == session_id)
                                    .order_by(Candidate.seat, Candidate.registration))]


def paused_candidates(store: Store, session_id: int) -> set[int]:
    """The session's candidates whose clock is paused now (as committed)."""
    from cat_engine.store.models import Clock

    with store.read() as db:
        return set(db.scalars(select(Clock.candidate_id)
                              .join(Candidate, Candidate.id == Clock.candidate_id)
                              .where(Candidate.session_id == session_id,
                                     Clock.paused_since_ms.is_not(None))))


def candidate_ids(store: Store, session_id: int, states: Iterable[str]) -> list[int]:
    with store.read() as db:
        return list(db.scalars(select(Candidate.id).where(
            Candidate.session_id == session_id, Candidate.state.in_(tuple(states)))))


def candidate_session(store: Store, candidate_id: int) -> int | None:
    with store.read() as db:
        return db.scalar(select(Candidate.session_id).where(Candidate.id == candidate_id))


def photo(store: Store, session_id: int, candidate_id: int) -> str | None:
    """The candidate's photo (a data: URI) if they are in this session."""
    with store.read() as db:
        return db.scalar(select(Candidate.photo).where(Candidate.id == candidate_id,
                                                       Candidate.session_id == session_id))


def results(store: Store, session_id: int, exam) -> list[dict[str, Any]]:
    """Every candidate's current scores, thresholds and rank (the exam's tie-breaks), best
    first. Candidates who never started (``absent``) and disqualified candidates are listed
    last without a rank. ``passed`` and ``marks`` are only given (not None / empty) for
    finished candidates: a running score is no verdict."""
    from scoring.results import evaluate, rank

    rows = roster(store, session_id)
    scored = []
    for row in rows:
        scores = {s: float(row["scores"].get(s, 0) or 0) for s in exam.section_ids}
        res = evaluate(exam, scores, rule_set_for(exam, row["formation"]))
        final = row["state"] == "finished"
        row.update(sections=scores, total=res.total, passed=res.passed if final else None,
                   marks={c.label: c.passed for c in res.checks} if final else {}, rank=None,
                   tied=False, absent=row["state"] in NOT_STARTED)
        if row["state"] != "disqualified" and not row["absent"]:
            scored.append((row, res))
    ranking = rank([res for _row, res in scored], exam)
    ordered = []
    for position, tied, index in ranking:
        row = scored[index][0]
        row.update(rank=position, tied=tied)
        ordered.append(row)
    return (ordered + [r for r in rows if r["absent"]]
            + [r for r in rows if r["state"] == "disqualified"])


def random_ref() -> str:
    return secrets.token_hex(4)


def list_exams(store: Store) -> list[dict[str, Any]]:
    with store.read() as db:
        return [{"id": e.id, "name": e.name, "title": e.title, "created_ms": e.created_ms}
                for e in db.scalars(select(ExamRow).order_by(ExamRow.name))]


def list_banks(store: Store) -> list[dict[str, Any]]:
    from cat_engine.store.models import Bank

    with store.read() as db:
        return [{"id": b.id, "bank_id": b.bank_id, "version": b.version, "path": b.path,
                 "items": (b.manifest or {}).get("item_count"), "manifest": b.manifest,
                 "content_hash": b.content_hash, "registered_ms": b.registered_ms}
                for b in db.scalars(select(Bank).order_by(Bank.id.desc()))]


def bank(store: Store, bank_row_id: int) -> dict[str, Any]:
    for row in list_banks(store):
        if row["id"] == bank_row_id:
            return row
    raise ServiceError("not_found", f"no bank {bank_row_id}")
