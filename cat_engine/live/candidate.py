"""The ``/candidate`` namespace: what a terminal may ask (docs/protocol.md).

Each ``on_*`` method is the whole public surface for one event: validate the message, call one
service, send what it returns. The dispatcher around them makes sure that whatever a client
sends (wrong shape, wrong state, a flood, an exception deep inside) ends as one error reply
and changes nothing.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from flask import has_app_context, request
from flask_socketio import Namespace, join_room
from pydantic import ValidationError

from cat_engine.live import messages as m
from cat_engine.proxy import remote_address
from cat_engine.services.errors import ServiceError
from cat_engine.services.events import CANDIDATE_NS, Emit, candidate_room

log = logging.getLogger(__name__)


#: Events handled without a Flask request context, by the method named, which takes the
#: connection's id first (python-socketio passes it; connect also gets environ and auth).
WITHOUT_CONTEXT = {"connect": "_connect", "start": "_start",
                   "get_item": "_get_item"}


class _Bucket:
    """Token bucket: ``rate`` messages per second, bursts up to ``burst``."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, burst: float):
        self.tokens = burst
        self.stamp = time.monotonic()


class CandidateNamespace(Namespace):
    def __init__(self, site, socketio, *, rate: float = 20.0, burst: int = 60):
        super().__init__(CANDIDATE_NS)
        self.site = site
        #: Which connection is logged in as which candidate (live/registry.py).
        self.connections = site.connections
        self.sio = socketio
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._lang: dict[str, str] = {}

    # -- plumbing --------------------------------------------------------------------------

    def trigger_event(self, event: str, *args: Any):
        if event == "answer":
            # The hot event, handled without a Flask request context (building and tearing
            # one down per answer was a tenth of the server's CPU): it needs only the
            # connection's id, which python-socketio passes first.
            return self._dispatch("answer", args[1:], self._answer, sid=args[0])
        if event in WITHOUT_CONTEXT:
            # A room's connect storm: every terminal connects, starts and fetches its first
            # item at once, and these need no more than the connection's id either.
            return getattr(self, WITHOUT_CONTEXT[event])(args[0], *args[1:])
        if event in ("connect", "disconnect") or event in m.EVENTS:
            return super().trigger_event(event, *args)
        # No handler, so no request context yet: the catalogue needs the app's.
        environ = self.sio.server.get_environ(args[0], namespace=self.namespace) or {}
        app = environ.get("flask.app")
        if app is None:
            return {"ok": False, "error": {"code": "unknown_event", "message": ""}}
        with app.app_context():
            return {"ok": False, "error": m.error("unknown_event", self._lang.get(args[0], "id"))}

    def deliver(self, emits: list[Emit]) -> None:
        from cat_engine.live import deliver

        deliver(self.sio, emits)

    def _allowed(self, sid: str) -> bool:
        bucket = self._buckets.get(sid)
        if bucket is None:
            bucket = self._buckets[sid] = _Bucket(self.burst)
        now = time.monotonic()
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _dispatch(self, event: str, args: tuple, handler, sid: str | None = None
                  ) -> dict[str, Any]:
        sid = request.sid if sid is None else sid
        lang = self._lang.get(sid, "id")
        if not self._allowed(sid):
            return {"ok": False, "error": self._error(sid, "rate_limited", lang)}
        if len(args) > 1 or (args and not isinstance(args[0], dict)):
            return {"ok": False, "error": self._error(sid, "bad_request", lang,
                                                      "message: must be one JSON object")}
        try:
            message = m.EVENTS[event].model_validate(args[0] if args else {})
        except ValidationError as exc:
            return {"ok": False, "error": self._error(sid, "bad_request", lang,
                                                      m.describe(exc))}
        try:
            reply, emits = handler(sid, message)
        except ServiceError as exc:
            extra = dict(exc.extra)
            self.deliver(extra.pop("emits", []))
            lang = self._lang.get(sid, lang)
            return {"ok": False, "error": self._error(sid, exc.code, lang, exc.detail), **extra}
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("candidate %s failed (ref %s)", event, ref)
            return {"ok": False, "error": {**self._error(sid, "internal", lang), "ref": ref}}
        self.deliver(emits)
        return {"ok": True, **reply}

    def _error(self, sid: str, code: str, lang: str, detail: str = "") -> dict[str, Any]:
        """An error reply's text, from the catalogue (an app context when the event has none)."""
        if has_app_context():
            return m.error(code, lang, detail)
        environ = self.sio.server.get_environ(sid, namespace=self.namespace) or {}
        app = environ.get("flask.app")
        if app is None:
            return m.error(code, lang, detail)
        with app.app_context():
            return m.error(code, lang, detail)

    def _me(self, sid: str):
        candidate_id = self.connections.by_sid.get(sid)
        if candidate_id is None:
            raise ServiceError("not_logged_in")
        cand = self.site.candidate(candidate_id)
        if cand.sid != sid:  # released or replaced since
            self.connections.detach(sid)
            raise ServiceError("not_logged_in")
        return cand

    # -- connection ------------------------------------------------------------------------

    def _connect(self, _sid: str, *_environ_and_auth):
        return True

    def on_disconnect(self, *args):
        sid = request.sid
        self._buckets.pop(sid, None)
        self._lang.pop(sid, None)
        candidate_id = self.connections.detach(sid)
        if candidate_id is None:
            return
        cand = self.site.candidates.get(candidate_id)
        if cand is not None and cand.sid == sid:
            self.deliver(self.site.disconnect(cand).emits)

    # -- events ----------------------------------------------------------------------------

    def on_login(self, *args):
        return self._dispatch("login", args, self._login)

    def _login(self, sid: str, msg: m.Login):
        self._lang[sid] = msg.lang
        cand, out = self.site.login(registration=msg.registration, pin=msg.pin,
                                    token=msg.token, terminal=msg.terminal, sid=sid,
                                    address=remote_address(), device=msg.device,
                                    route=request.args.get("session"))
        old_sid = self.connections.attach(cand, sid)
        self._in_words(out.reply, cand, msg.lang)
        join_room(candidate_room(cand.id))
        if old_sid is not None:
            # The same terminal came back on a new connection: the old one must stop.
            self.sio.emit("error", m.error("replaced", self._lang.get(old_sid, "id")),
                          to=old_sid, namespace=CANDIDATE_NS, ignore_queue=True)
            self.sio.server.leave_room(old_sid, candidate_room(cand.id), namespace=CANDIDATE_NS)
            self.sio.server.disconnect(old_sid, namespace=CANDIDATE_NS)
        return out.reply, out.emits

    def _in_words(self, reply: dict[str, Any], cand, lang: str) -> None:
        """The exam's title and the candidate's formation as the candidate reads them."""
        from cat_engine.services.grading import formation_title

        exam = self.site.session(cand.session_id).exam
        reply["candidate"]["formation_title"] = formation_title(exam, cand.formation, lang)
        if lang == "en" and exam.title_en:
            reply["exam"]["title"] = exam.title_en

    def on_pair(self, *args):
        return self._dispatch("pair", args, self._pair)

    def _pair(self, sid: str, msg: m.Pair):
        """A pairing code for a PC that a session requires to be enrolled."""
        from cat_engine.live.pairing import pair

        self._lang[sid] = msg.lang
        return pair(self.site, "terminal", enrolled=False), []

    def _start(self, sid: str, *args):
        return self._dispatch("start", args, lambda sid, msg: self._run(
            self.site.start(self._me(sid))), sid=sid)

    def _get_item(self, sid: str, *args):
        return self._dispatch("get_item", args, lambda sid, msg: self._run(
            self.site.get_item(self._me(sid), msg.position)), sid=sid)

    def _answer(self, sid: str, msg: m.Answer):
        return self._run(self.site.answer(self._me(sid), seq=msg.seq, position=msg.position,
                                          choice=msg.choice))

    def on_flag(self, *args):
        return self._dispatch("flag", args, lambda sid, msg: self._run(
            self.site.flag(self._me(sid), seq=msg.seq, position=msg.position,
                           doubtful=msg.doubtful)))

    def on_next_block(self, *args):
        return self._dispatch("next_block", args, lambda sid, msg: self._run(
            self.site.next_block(self._me(sid), seq=msg.seq, block=msg.block)))

    def on_finish(self, *args):
        return self._dispatch("finish", args, lambda sid, msg: self._run(
            self.site.finish(self._me(sid), seq=msg.seq)))

    @staticmethod
    def _run(outcome):
        return outcome.reply, outcome.emits
