"""The ``/proctor`` namespace: the proctor console's live grid and every proctor action.

Only a signed-in, enabled user connects (the console page's session cookie); a proctor acts
only on the sessions assigned to them, an admin on every session. Each action names its
reason, calls one service, and leaves an audit record with who did it and when. Progress and
alerts from the candidates' side arrive through :meth:`ProctorNamespace.relay` and go to the
room ``proctor:<session_id>`` of the console that watches that session.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from typing import Annotated, Any

from flask import request
from flask_babel import lazy_gettext as _l
from flask_socketio import Namespace, join_room, leave_room
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from cat_engine import clock as clk
from cat_engine.live.pubsub import Audience, room_session
from cat_engine.services import proctoring
from cat_engine.services.errors import ServiceError
from cat_engine.services.events import DISPLAY_NS, PROCTOR_NS, Emit, proctor_room, to_display
from cat_engine.services.runtime import BankKey

log = logging.getLogger(__name__)

#: "Answering far faster than anyone could read": this many new answers within the window.
FAST_ANSWERS = 8
FAST_WINDOW_S = 20.0
#: One fast-answer alert per candidate per this many seconds.
FAST_REPEAT_S = 120.0
ALERTS_KEPT = 200
#: A second alert of one kind for one candidate within this many seconds is only counted.
ALERT_REPEAT_S = 60.0


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Id = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
Reason = Annotated[StrictStr, Field(min_length=1, max_length=500)]


class Watch(Message):
    session_id: Id


class LogAfter(Message):
    session_id: Id
    after: Annotated[StrictInt, Field(ge=0)] = 0


class CandidateAction(Message):
    candidate_id: Id
    reason: Reason

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("must not be blank")
        return reason


class Extend(CandidateAction):
    minutes: Annotated[StrictInt, Field(ge=1, le=600)]


class SessionAction(Message):
    session_id: Id
    reason: Reason


class Incident(Message):
    session_id: Id
    text: Annotated[StrictStr, Field(min_length=1, max_length=4000)]
    candidate_id: Id | None = None


class Unlock(Message):
    session_id: Id
    passphrase: Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class Settings(Message):
    session_id: Id
    reason: Reason
    auto_admit: StrictBool | None = None
    public_names: StrictBool | None = None
    scoreboard: Annotated[StrictStr, Field(pattern="^(live|finish)$")] | None = None
    #: Room binding (issue 11): logins only from enrolled PCs / from these address ranges.
    enrolled_terminals: StrictBool | None = None
    networks: Annotated[list[Annotated[StrictStr, Field(max_length=64)]],
                        Field(max_length=64)] | None = None


class EnrolDevice(Message):
    session_id: Id
    code: Annotated[StrictStr, Field(min_length=4, max_length=16)]
    #: "room": the session's room only; "site": every room (admins only).
    scope: Annotated[StrictStr, Field(pattern="^(room|site)$")] = "room"
    name: Annotated[StrictStr, Field(max_length=100)] = ""


class RevokeDevice(Message):
    session_id: Id
    device_id: Id
    reason: Reason


#: event -> message schema: the whole public surface of the namespace.
EVENTS: dict[str, type[Message]] = {
    "watch": Watch, "log": LogAfter,
    "admit": CandidateAction, "release": CandidateAction, "unlock_login": CandidateAction,
    "pause": CandidateAction,
    "resume": CandidateAction, "finish": CandidateAction, "disqualify": CandidateAction,
    "extend": Extend,
    "pause_room": SessionAction, "resume_room": SessionAction, "rotate_token": SessionAction,
    "close_session": SessionAction, "freeze": SessionAction, "unfreeze": SessionAction,
    "incident": Incident, "unlock": Unlock, "settings": Settings,
    "enrol_device": EnrolDevice, "revoke_device": RevokeDevice,
}

ERRORS = {
    "bad_request": _l("The request is not valid"),
    "unknown_event": _l("Unknown request"),
    "not_logged_in": _l("Please sign in again"),
    "forbidden": _l("This session is not assigned to you"),
    "not_found": _l("No such session or candidate"),
    "session_locked": _l("The session's bank is locked: enter its passphrase"),
    "bad_key": _l("The passphrase does not unlock this session's bank"),
    "not_started": _l("The candidate has not started"),
    "finished": _l("The candidate has finished"),
    "disqualified": _l("The candidate was disqualified"),
    "busy": _l("Candidates are still working; the session closes once every one has finished"),
    "rate_limited": _l("Too many wrong attempts; wait a minute"),
    "overloaded": _l("The server is busy; try again in a moment"),
    "internal": _l("The server failed; nothing was changed. Try again"),
}


def error(code: str, detail: str = "") -> dict[str, Any]:
    """The error of a reply: ``message`` wholly in the console's language (a bad request
    names its field, a protocol word); ``detail``, in English, is for the server's log."""
    message = str(ERRORS.get(code, ERRORS["internal"]))
    if code == "bad_request" and detail:
        message = f"{message}: {detail.split(':', 1)[0]}"
    reply = {"code": code, "message": message}
    if detail:
        reply["detail"] = detail
    return reply


def describe(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "message"
    return f"{where}: {err.get('msg', 'invalid')}"


class ProctorNamespace(Namespace):
    def __init__(self, site, socketio):
        super().__init__(PROCTOR_NS)
        self.site = site
        self.sio = socketio
        self._alerts: dict[int, deque] = {}
        #: (session, candidate) of the "disconnected" alerts kept: every answer's progress
        #: push asks whether to clear one, and scanning the kept alerts each time was 4 % of
        #: the server's CPU under load.
        self._disconnected: set[tuple[int, Any]] = set()
        self._locked_alerts: dict[int, deque] = {}
        #: (session, candidate, kind) -> the alert kept last for it (repeats are counted).
        self._last_alert: dict[tuple, dict[str, Any]] = {}
        #: session id -> number of the last push to its consoles (see _push)
        self._seq: dict[int, int] = {}
        #: The numbering the pushes of this process belong to (a console that sees another
        #: epoch, after a takeover, reloads; one that sees a lower number of its own epoch
        #: has it already in its snapshot).
        self._epoch = secrets.token_hex(4)
        self._pace: dict[int, tuple[int, deque, float]] = {}
        #: sid -> (user id, session epoch) of every open console (see :meth:`sweep`).
        self._consoles: dict[str, tuple[int, int]] = {}
        #: Who may watch a session's consoles' room, here and on other processes
        #: (live/pubsub.py).
        self._audience = Audience(socketio, PROCTOR_NS, "proctor:", self._watched_elsewhere)

    # -- plumbing --------------------------------------------------------------------------

    def trigger_event(self, event: str, *args: Any):
        if event in ("connect", "disconnect") or event in EVENTS:
            return super().trigger_event(event, *args)
        return {"ok": False, "error": error("unknown_event")}

    def on_connect(self, auth=None):
        from flask import session

        from cat_engine.auth import current_viewer

        viewer = current_viewer()
        if viewer is None:
            raise ConnectionRefusedError("sign in to the proctor console first")
        self._consoles[request.sid] = (viewer.user_id, session.get("epoch"))
        return True

    def on_disconnect(self, *args):
        self._consoles.pop(request.sid, None)

    def sweep(self) -> int:
        """Disconnect every console whose account was disabled or logged out since it
        connected (one query; the scheduler calls this twice a second, and a token push
        calls it first). Returns how many were cut."""
        from sqlalchemy import select

        from cat_engine.store.models import User

        if not self._consoles:
            return 0
        uids = {uid for uid, _epoch in self._consoles.values()}
        with self.site.store.read() as db:
            live = {uid: epoch for uid, epoch in db.execute(
                select(User.id, User.session_epoch).where(User.id.in_(uids),
                                                          User.disabled.is_(False)))}
        cut = [sid for sid, (uid, epoch) in self._consoles.items() if live.get(uid) != epoch]
        for sid in cut:
            self._consoles.pop(sid, None)
            for room in list(self.sio.server.rooms(sid, namespace=PROCTOR_NS)):
                self.sio.server.leave_room(sid, room, namespace=PROCTOR_NS)
            self.sio.server.disconnect(sid, namespace=PROCTOR_NS)
        return len(cut)

    def _dispatch(self, event: str, args: tuple) -> dict[str, Any]:
        from cat_engine.auth import current_viewer

        viewer = current_viewer()  # checked per action: a disabled account stops at once
        if viewer is None:
            return {"ok": False, "error": error("not_logged_in")}
        if len(args) != 1 or not isinstance(args[0], dict):
            return {"ok": False, "error": error("bad_request", "message: one JSON object")}
        try:
            message = EVENTS[event].model_validate(args[0])
        except (ValidationError, ValueError) as exc:
            detail = describe(exc) if isinstance(exc, ValidationError) else str(exc)
            return {"ok": False, "error": error("bad_request", detail)}
        try:
            reply, emits = getattr(self, f"_{event}")(viewer, message)
        except ServiceError as exc:
            from cat_engine.live import deliver

            deliver(self.sio, exc.extra.get("emits", []))
            return {"ok": False, "error": error(exc.code, exc.detail)}
        except Exception:
            ref = proctoring.random_ref()
            log.exception("proctor %s failed (ref %s)", event, ref)
            return {"ok": False, "error": {**error("internal"), "ref": ref}}
        from cat_engine.live import deliver

        if event not in ("watch", "log"):  # it left a record: the consoles fetch it
            session_id = getattr(message, "session_id", None) or proctoring.candidate_session(
                self.site.store, getattr(message, "candidate_id", 0))
            if session_id is not None:
                emits = [*emits, self._log_changed(session_id)]
        deliver(self.sio, emits)
        return {"ok": True, **reply}

    @staticmethod
    def _log_changed(session_id: int) -> Emit:
        return Emit("log_changed", {"session_id": session_id}, proctor_room(session_id),
                    PROCTOR_NS)

    def relay(self, e: Emit) -> None:
        """Pushes for the consoles: forwarded to the session's room; alerts kept for the
        snapshot (a repeat only counted), and a candidate answering faster than anyone reads
        raises one."""
        session_id = int(e.room.split(":", 1)[1])
        if e.event == "alert":
            if not self._worth_alerting(e.data) or not self._keep_alert(session_id, e.data):
                return
            if e.data.get("kind") == "second_login":  # the refusal is in the record
                self._push(session_id, "log_changed", {"session_id": session_id})
        self._push(session_id, e.event, e.data)
        if e.event == "progress" and e.data.get("connected"):
            self._clear_alerts(session_id, e.data.get("candidate_id"), "disconnected")
        if e.event == "progress":
            display = self._display()
            if display is not None:  # the public board shows waiting / working / finished
                display.relay(to_display(session_id, "score", {
                    "candidate_id": e.data.get("candidate_id"), "status": e.data.get("status")}))
            alert = self._pace_check(e.data)
            if alert is not None and self._keep_alert(session_id, alert):
                self._push(session_id, "alert", alert)

    def _worth_alerting(self, data: dict[str, Any]) -> bool:
        """A terminal closed after the exam ended (finished, disqualified) is no alarm."""
        if data.get("kind") != "disconnected":
            return True
        cand = self.site.candidates.get(data.get("candidate_id"))
        return cand is None or cand.state not in ("finished", "disqualified")

    def _clear_alerts(self, session_id: int, candidate_id: int | None, kind: str) -> None:
        """The terminal is back: its "disconnected" alerts are stale, here and on every
        console (a reload, a language switch or a spare PC must not pile them up)."""
        if kind == "disconnected":
            if (session_id, candidate_id) not in self._disconnected:
                return
            self._disconnected.discard((session_id, candidate_id))
        self._last_alert.pop((session_id, candidate_id, kind), None)  # a new one is news
        kept = self._alerts.get(session_id)
        if not kept or not any(a.get("candidate_id") == candidate_id and a.get("kind") == kind
                               for a in kept):
            return
        self._alerts[session_id] = deque(
            (a for a in kept if not (a.get("candidate_id") == candidate_id
                                     and a.get("kind") == kind)), maxlen=ALERTS_KEPT)
        self._push(session_id, "alert_cleared", {"candidate_id": candidate_id, "kind": kind})

    def _push(self, session_id: int, event: str, data: dict[str, Any]) -> None:
        """A push to the session's consoles, numbered: a console that finds a gap (a push
        lost while the message queue restarted) reloads its grid (``watch``).

        Through the message queue only while a console on another process watches the
        session (most consoles are sent to the session's owner, this process): see
        :meth:`_watched_elsewhere` for one that joins there before this process hears."""
        seq = self._seq[session_id] = self._seq.get(session_id, 0) + 1
        self._audience.emit(self.sio, event, {**data, "seq": seq, "epoch": self._epoch},
                            proctor_room(session_id))

    def _watched_elsewhere(self, room: str) -> None:
        """A console on another process watches ``room`` and this process has not been
        publishing its pushes (the message queue's listener calls this as it hears so, before
        any push is published for the room again). If this process numbered any push for the
        session, such a console may have joined before and missed some, with no number to
        tell (its snapshot from a process that does not serve the session has none): every
        console of the room takes a fresh snapshot (``console_resync``, published after every
        push not published and before every later one)."""
        session_id = room_session(room)
        if session_id is not None and session_id in self._seq:
            self.sio.emit("console_resync", {"session_id": session_id}, to=room,
                          namespace=PROCTOR_NS)

    def beat(self) -> None:
        """Every few seconds (the scheduler): the last number of each session served here,
        so that a console that missed the last push notices it too."""
        for session_id in list(self.site.ownership.held):
            self.sio.emit("console_seq", {"session_id": session_id,
                                          "seq": self._seq.get(session_id, 0),
                                          "epoch": self._epoch},
                          to=proctor_room(session_id), namespace=PROCTOR_NS)

    def _keep_alert(self, session_id: int, data: dict[str, Any]) -> bool:
        """Keep an alert for the console's snapshot; False for a repeat of the same kind for
        the same candidate within :data:`ALERT_REPEAT_S`, which only raises the kept one's
        ``repeats`` (one candidate cannot flood the list). Lockouts have their own list, so
        no other alert pushes them out."""
        now = clk.now_ms()
        key = (session_id, data.get("candidate_id"), data.get("kind"))
        last = self._last_alert.get(key)
        if last is not None and now - last["at_ms"] < ALERT_REPEAT_S * 1000:
            last["repeats"] = last.get("repeats", 0) + 1
            return False
        lists = self._locked_alerts if data.get("kind") == "locked" else self._alerts
        kept = lists.setdefault(session_id, deque(maxlen=ALERTS_KEPT))
        entry = {**data, "at_ms": data.get("at_ms") or now}
        if data.get("kind") == "disconnected":
            self._disconnected.add((session_id, data.get("candidate_id")))
        kept.append(entry)
        self._last_alert[key] = entry
        if len(self._last_alert) > 4 * ALERTS_KEPT * max(1, len(self._alerts)):
            self._last_alert = {k: v for k, v in self._last_alert.items()
                                if now - v["at_ms"] < ALERT_REPEAT_S * 1000}
        return True

    def kept_alerts(self, session_id: int) -> list[dict[str, Any]]:
        return sorted([*self._alerts.get(session_id, ()),
                       *self._locked_alerts.get(session_id, ())], key=lambda a: a["at_ms"])

    def _pace_check(self, data: dict[str, Any]) -> dict[str, Any] | None:
        # Answer events, not answered items: changing answers again and again (probing a
        # live board for the key) is as fast as answering.
        cid, answered = data.get("candidate_id"), data.get("events", data.get("answered", 0))
        kept = self._pace.get(cid)  # (a default built on every answer cost a deque each)
        last, stamps, warned = kept or (answered, deque(maxlen=FAST_ANSWERS), 0.0)
        now = time.monotonic()
        if answered > last:
            stamps.extend([now] * min(answered - last, FAST_ANSWERS))
        self._pace[cid] = (answered, stamps, warned)
        if (len(stamps) == FAST_ANSWERS and now - stamps[0] <= FAST_WINDOW_S
                and now - warned >= FAST_REPEAT_S):
            self._pace[cid] = (answered, stamps, now)
            return {"candidate_id": cid, "kind": "too_fast", "at_ms": clk.now_ms(),
                    "detail": {"answers": FAST_ANSWERS, "seconds": round(now - stamps[0], 1)}}
        return None

    def _display(self):
        return self.sio.server.namespace_handlers.get(DISPLAY_NS)

    # -- helpers ---------------------------------------------------------------------------

    def _candidate(self, viewer, candidate_id: int):
        session_id = proctoring.candidate_session(self.site.store, candidate_id)
        if session_id is None:
            raise ServiceError("not_found", f"no candidate {candidate_id}")
        proctoring.check_access(self.site.store, viewer, session_id)
        return self.site.candidate(candidate_id)

    def _session(self, viewer, session_id: int):
        proctoring.check_access(self.site.store, viewer, session_id)
        return self.site.session(session_id, refresh=True)

    @staticmethod
    def _outcome(out):
        return out.reply, out.emits

    def seats(self, session_id: int) -> list[dict[str, Any]]:
        """Every seat of the session: the roster joined with the live state in memory."""
        from cat_engine.services.grading import formation_title
        from cat_engine.web import current_language

        now = self.site.now()
        exam, lang = self.site.session(session_id).exam, current_language()
        seats = []
        roster = proctoring.roster(self.site.store, session_id)
        locked = self.site.guard.locked_registrations(r["registration"] for r in roster)
        # Served by another process (or by none, between two owners): what the database says.
        # Loading a candidate here would take the session, or ask its owner to hand it over.
        ours = session_id in self.site.ownership.held
        paused = set() if ours else proctoring.paused_candidates(self.site.store, session_id)
        for row in roster:
            cand = self.site.candidates.get(row["id"])
            if cand is None and ours and row["state"] == "in_progress":
                try:
                    cand = self.site.candidate(row["id"])
                except ServiceError:
                    cand = None  # bank locked: show what the database knows
            seat = {k: row[k] for k in ("id", "seat", "registration", "name", "formation",
                                        "has_photo", "terminal")}
            seat["formation_title"] = formation_title(exam, row["formation"], lang)
            seat.update(status=row["state"], position=row["position"], connected=False,
                        answered=None, doubtful=None, remaining_ms=None,
                        paused=row["id"] in paused,
                        total=sum(float(v or 0) for v in row["scores"].values()),
                        locked=row["registration"] in locked)
            if cand is not None:
                seat.update(
                    status=cand.state, connected=cand.sid is not None,
                    position=cand.position, terminal=cand.terminal,
                    answered=sum(a is not None for a in cand.answers),
                    doubtful=sum(cand.doubtful),
                    # The current time block's (the exam's, with one block), as in progress.
                    remaining_ms=clk.block_remaining_ms(cand.clock, now) if cand.clock else None,
                    block=cand.clock.block if cand.clock else None,
                    paused=bool(cand.clock and cand.clock.paused_since_ms is not None))
            seats.append(seat)
        return seats

    # -- events: one handler per event of EVENTS ----------------------------------------------

    def on_watch(self, *args):
        return self._dispatch("watch", args)

    def on_log(self, *args):
        return self._dispatch("log", args)

    def on_admit(self, *args):
        return self._dispatch("admit", args)

    def on_release(self, *args):
        return self._dispatch("release", args)

    def on_unlock_login(self, *args):
        return self._dispatch("unlock_login", args)

    def on_pause(self, *args):
        return self._dispatch("pause", args)

    def on_resume(self, *args):
        return self._dispatch("resume", args)

    def on_finish(self, *args):
        return self._dispatch("finish", args)

    def on_disqualify(self, *args):
        return self._dispatch("disqualify", args)

    def on_extend(self, *args):
        return self._dispatch("extend", args)

    def on_pause_room(self, *args):
        return self._dispatch("pause_room", args)

    def on_resume_room(self, *args):
        return self._dispatch("resume_room", args)

    def on_rotate_token(self, *args):
        return self._dispatch("rotate_token", args)

    def on_close_session(self, *args):
        return self._dispatch("close_session", args)

    def on_freeze(self, *args):
        return self._dispatch("freeze", args)

    def on_unfreeze(self, *args):
        return self._dispatch("unfreeze", args)

    def on_incident(self, *args):
        return self._dispatch("incident", args)

    def on_unlock(self, *args):
        return self._dispatch("unlock", args)

    def on_settings(self, *args):
        return self._dispatch("settings", args)

    def on_enrol_device(self, *args):
        return self._dispatch("enrol_device", args)

    def on_revoke_device(self, *args):
        return self._dispatch("revoke_device", args)

    # -- what each event does ------------------------------------------------------------------

    def _watch(self, viewer, msg: Watch):
        session = self._session(viewer, msg.session_id)
        for room in list(self.sio.server.rooms(request.sid, namespace=PROCTOR_NS)):
            if room.startswith("proctor:"):
                leave_room(room)
        join_room(proctor_room(msg.session_id))
        info = proctoring.session_info(self.site.store, msg.session_id)
        info.update(n_items=sum(s.positions for s in session.exam.sections),
                    locked=session.bank is None and not self._can_unlock(session))
        from cat_engine.services import devices

        # The push number this snapshot includes: only the session's owner numbers them.
        owned = msg.session_id in self.site.ownership.held
        seq = self._seq.get(msg.session_id, 0) if owned else None
        return {"session": info, "seats": self.seats(msg.session_id),
                "devices": devices.list_devices(self.site.store, room=info["room"]),
                "alerts": self.kept_alerts(msg.session_id),
                "log": self._record(msg.session_id), "seq": seq,
                "epoch": self._epoch if owned else None}, []

    def _record(self, session_id: int, after: int = 0) -> list[dict[str, Any]]:
        """The session's record after entry ``after``, each entry in the viewer's words."""
        from cat_engine.web.records import by_text, event_text

        return [{**entry, "event": event_text(entry), "by": by_text(entry)}
                for entry in proctoring.incident_log(self.site.store, session_id, after=after)]

    def _log(self, viewer, msg: LogAfter):
        self._session(viewer, msg.session_id)
        return {"log": self._record(msg.session_id, msg.after)}, []

    def _can_unlock(self, session) -> bool:
        try:
            self.site.unlock(session)
        except ServiceError:
            return False
        return True

    def _admit(self, viewer, msg: CandidateAction):
        cand = self._candidate(viewer, msg.candidate_id)
        return self._outcome(self.site.admit(cand, actor=viewer.actor, reason=msg.reason))

    def _release(self, viewer, msg: CandidateAction):
        cand = self._candidate(viewer, msg.candidate_id)
        return self._outcome(self.site.release(cand, actor=viewer.actor, reason=msg.reason))

    def _unlock_login(self, viewer, msg: CandidateAction):
        cand = self._candidate(viewer, msg.candidate_id)
        return self._outcome(self.site.unlock_login(cand, actor=viewer.actor,
                                                    reason=msg.reason))

    def _pause(self, viewer, msg: CandidateAction):
        cand = self._candidate(viewer, msg.candidate_id)
        return self._outcome(self.site.pause(cand, actor=viewer.actor, reason=msg.reason))

    def _resume(self, viewer, msg: CandidateAction):
        cand = self._candidate(viewer, msg.candidate_id)
        return self._outcome(self.site.resume(cand, actor=viewer.actor, reason=msg.reason))

    def _extend(self, viewer, msg: Extend):
        cand = self._candidate(viewer, msg.candidate_id)
        return self._outcome(self.site.extend(cand, minutes=msg.minutes, actor=viewer.actor,
                                              reason=msg.reason))

    def _finish(self, viewer, msg: CandidateAction):
        cand = self._candidate(viewer, msg.candidate_id)
        if cand.state != "in_progress":
            raise ServiceError("not_started")
        return self._outcome(self.site.finish_now(cand, reason="proctor", actor=viewer.actor,
                                                  note=msg.reason))

    def _disqualify(self, viewer, msg: CandidateAction):
        cand = self._candidate(viewer, msg.candidate_id)
        return self._outcome(self.site.disqualify(cand, actor=viewer.actor,
                                                  reason=msg.reason))

    def _room(self, viewer, msg: SessionAction, *, pause: bool):
        self._session(viewer, msg.session_id)
        emits: list[Emit] = []
        done = 0
        for cid in proctoring.candidate_ids(self.site.store, msg.session_id, ("in_progress",)):
            cand = self.site.candidate(cid)
            if pause:
                out = self.site.pause(cand, actor=viewer.actor, reason=msg.reason, scope="room")
            else:
                out = self.site.resume(cand, actor=viewer.actor, reason=msg.reason)
            emits += out.emits
            done += 1
        proctoring.record_action(self.site.write_session, msg.session_id,
                                 "pause_room" if pause else "resume_room", actor=viewer.actor,
                                 detail={"reason": msg.reason, "candidates": done})
        return {"candidates": done}, emits

    def _pause_room(self, viewer, msg: SessionAction):
        return self._room(viewer, msg, pause=True)

    def _resume_room(self, viewer, msg: SessionAction):
        return self._room(viewer, msg, pause=False)

    def _rotate_token(self, viewer, msg: SessionAction):
        self._session(viewer, msg.session_id)
        token = proctoring.rotate_token(self.site.write_session, msg.session_id,
                                        actor=viewer.actor, reason=msg.reason)
        self.site.session(msg.session_id, refresh=True)
        self.sweep()  # a disabled account's console must not learn the new token
        return {"token": token}, [Emit("token", {"token": token}, proctor_room(msg.session_id),
                                       PROCTOR_NS)]

    def _unlock(self, viewer, msg: Unlock):
        """Unlock the bank with a passphrase typed in the console (kept in memory only) and
        open the session for logins if it was only scheduled. The passphrase is checked
        every time, also when the bank is open already; wrong ones count against the
        account and the address like wrong console passwords."""
        from cat_engine.auth import checked_secret, limit_keys
        from cat_engine.services import sessions

        session = self._session(viewer, msg.session_id)
        key = BankKey(msg.passphrase)
        fresh = self.site.session(msg.session_id, refresh=True)

        opened = []

        def check() -> bool:  # in the password pool: key derivation, then form assembly
            try:
                opened.append(self.site.open_bank(fresh, key))
                if session.state == "scheduled":
                    sessions.open_session(self.site.store, session.name, key,
                                          actor=viewer.actor)
            except (sessions.SetupError, ServiceError) as exc:
                log.info("unlock of session %s refused: %s", msg.session_id, exc)
                return False
            return True

        outcome = checked_secret(limit_keys(viewer.username, "unlock"), check)
        if outcome is not None:
            if outcome == "wrong":
                proctoring.record_action(self.site.write_session, msg.session_id, "unlock_refused",
                                         actor=viewer.actor, detail={})
            raise ServiceError({"wrong": "bad_key", "locked": "rate_limited"}.get(
                outcome, "overloaded"))
        self.site.adopt(self.site.session(msg.session_id, refresh=True), opened[0], key)
        proctoring.record_action(self.site.write_session, msg.session_id, "unlock",
                                 actor=viewer.actor, detail={})
        self._notify_display_site()
        return {"state": "open"}, []

    def _close_session(self, viewer, msg: SessionAction):
        from cat_engine.services import sessions

        session = self._session(viewer, msg.session_id)
        try:
            sessions.set_state(self.site.store, session.name, "closed", actor=viewer.actor,
                               signing_key=self.site.signing_key)
        except sessions.SetupError as exc:
            raise ServiceError("busy", str(exc)) from None
        self.site.session(msg.session_id, refresh=True)
        self._notify_display_site()
        return {"state": "closed"}, []

    def _incident(self, viewer, msg: Incident):
        self._session(viewer, msg.session_id)
        entry = proctoring.record_incident(self.site.write_session, msg.session_id,
                                           msg.text.strip(), actor=viewer.actor,
                                           candidate_id=msg.candidate_id)
        return {"entry": entry}, [Emit("incident", entry, proctor_room(msg.session_id),
                                       PROCTOR_NS)]

    def _settings(self, viewer, msg: Settings):
        self._session(viewer, msg.session_id)
        changes = {k: v for k, v in msg.model_dump(exclude={"session_id", "reason"}).items()
                   if v is not None}
        settings = proctoring.update_settings(self.site.write_session, msg.session_id, changes,
                                              actor=viewer.actor, reason=msg.reason)
        return self._reconfigured(msg.session_id, settings)

    def _freeze(self, viewer, msg: SessionAction):
        self._session(viewer, msg.session_id)
        display = self._display()
        shown = display.shown_rows(msg.session_id) if display is not None else {}
        settings = proctoring.update_settings(self.site.write_session, msg.session_id, {},
                                              actor=viewer.actor, reason=msg.reason,
                                              frozen_board=shown)
        return self._reconfigured(msg.session_id, settings)

    def _unfreeze(self, viewer, msg: SessionAction):
        self._session(viewer, msg.session_id)
        settings = proctoring.update_settings(self.site.write_session, msg.session_id, {},
                                              actor=viewer.actor, reason=msg.reason,
                                              unfreeze=True)
        return self._reconfigured(msg.session_id, settings)

    def _enrol_device(self, viewer, msg: EnrolDevice):
        """Confirm the pairing code a display or a PC shows, for this room or the site."""
        from cat_engine.live.pairing import pairing_room
        from cat_engine.services import devices
        from cat_engine.services.events import CANDIDATE_NS

        self._session(viewer, msg.session_id)
        if msg.scope == "site" and viewer.role != "admin":
            raise ServiceError("forbidden", "only an admin enrols a device for the whole site")
        room = proctoring.session_info(self.site.store, msg.session_id)["room"]
        row = devices.confirm(self.site.store, msg.code, actor=viewer.actor, name=msg.name,
                              room=None if msg.scope == "site" else room)
        code = devices.normal_code(msg.code)
        for namespace in (DISPLAY_NS, CANDIDATE_NS):  # the waiting screen goes on by itself
            self.sio.emit("enrolled", {"kind": row["kind"], "room": row["room"]},
                          to=pairing_room(code), namespace=namespace)
        return {"device": row}, [self._devices_push(msg.session_id, room)]

    def _revoke_device(self, viewer, msg: RevokeDevice):
        from cat_engine.services import devices

        self._session(viewer, msg.session_id)
        room = proctoring.session_info(self.site.store, msg.session_id)["room"]
        known = {d["id"]: d for d in devices.list_devices(self.site.store, room=room)}
        device = known.get(msg.device_id)
        if device is None:
            raise ServiceError("not_found", f"no device {msg.device_id} in this room")
        if device["room"] is None and viewer.role != "admin":
            raise ServiceError("forbidden", "only an admin revokes a site-wide device")
        row = devices.revoke(self.site.store, msg.device_id, actor=viewer.actor)
        proctoring.record_action(self.site.write_session, msg.session_id, "device_revoke",
                                 actor=viewer.actor,
                                 detail={"device": msg.device_id, "reason": msg.reason})
        display = self._display()
        if display is not None:
            display.sweep()  # its open screens go dark now, not at the next sweep
        return {"device": row}, [self._devices_push(msg.session_id, room)]

    def _devices_push(self, session_id: int, room: str) -> Emit:
        from cat_engine.services import devices

        return Emit("devices", {"devices": devices.list_devices(self.site.store, room=room)},
                    proctor_room(session_id), PROCTOR_NS)

    def _reconfigured(self, session_id: int, settings: dict[str, Any]):
        self.site.session(session_id, refresh=True)
        display = self._display()
        if display is not None:
            display.reconfigure(session_id)
        public = proctoring.public_settings(settings)
        return {"settings": public}, [Emit("settings", public, proctor_room(session_id),
                                           PROCTOR_NS)]

    def _notify_display_site(self) -> None:
        display = self._display()
        if display is not None:
            display.rooms_changed()
