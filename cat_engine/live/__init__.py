"""The live side of the server: Socket.IO namespaces and the scheduler that keeps time.

``init_live(app, socketio, site)`` registers the namespaces listed in :data:`NAMESPACES` (the
proctor and display namespaces join the list when their modules exist) and starts the
scheduler: heartbeat, deadlines, clock pushes, session state.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

from cat_engine.services.events import CANDIDATE_NS, Emit
from cat_engine.tuning import freeze_heap

log = logging.getLogger(__name__)

#: Seconds between two pushes of the last push number to consoles (how soon a lost push
#: shows on a console whose session is quiet).
SEQ_S = 3.0

#: module:class of each namespace; each class takes (site, socketio, **settings).
NAMESPACES = (
    "cat_engine.live.candidate:CandidateNamespace",
    "cat_engine.live.proctor:ProctorNamespace",
    "cat_engine.live.display:DisplayNamespace",
)


def init_live(app, socketio, site) -> None:
    config = app.config
    for spec in NAMESPACES:
        module_name, cls_name = spec.split(":")
        if importlib.util.find_spec(module_name) is None:
            continue
        cls = getattr(importlib.import_module(module_name), cls_name)
        if cls_name == "CandidateNamespace":
            ns = cls(site, socketio, rate=config["RATE_PER_S"], burst=config["RATE_BURST"])
        else:
            ns = cls(site, socketio)
        socketio.on_namespace(ns)
    def disconnect(_session_id: int, sids: list[str]) -> None:
        # Their session is served by another process now: a reconnect reaches it.
        for sid in sids:
            try:
                socketio.server.disconnect(sid, namespace="/candidate")
            except Exception:  # already gone
                log.debug("socket %s already closed", sid)

    site.on_deposed = disconnect
    if config.get("START_BACKGROUND", True):
        scheduler = Scheduler(site, socketio, heartbeat_s=config["HEARTBEAT_S"],
                              clock_push_s=config["CLOCK_PUSH_S"],
                              audit_sign_s=config["AUDIT_SIGN_S"])
        app.extensions["cat_engine_scheduler"] = scheduler
        socketio.start_background_task(scheduler.run_leases)
        socketio.start_background_task(scheduler.run)


def deliver(socketio, emits: list[Emit]) -> None:
    """Send what a service returned.

    A namespace class with a ``relay(emit)`` method takes the pushes addressed to its
    audience and decides what reaches its clients (the display filters scores through its
    board, so a frozen board leaks nothing); other pushes go straight to their room.
    """
    handlers = getattr(socketio.server, "namespace_handlers", {})
    for e in emits:
        relay = getattr(handlers.get(e.namespace), "relay", None)
        if relay is not None:
            relay(e)
        elif e.namespace == CANDIDATE_NS:
            # A candidate is connected to the process that owns their session, this one:
            # their pushes never depend on the message queue (a Redis restart loses none).
            socketio.emit(e.event, e.data, to=e.room, namespace=e.namespace,
                          ignore_queue=True)
        else:
            socketio.emit(e.event, e.data, to=e.room, namespace=e.namespace)


class Scheduler:
    """One loop that keeps the site's time, whether terminals are connected or not.

    Every ``tick`` seconds: renew the leases of the sessions served here and take the
    sessions nobody serves (ownership, docs/deploy.md), finish every candidate whose deadline
    passed, refresh session states changed by the CLI; every ``clock_push_s``: push each
    connected candidate's remaining time.
    """

    def __init__(self, site, socketio, *, heartbeat_s: float = 1.0, clock_push_s: float = 30.0,
                 tick: float = 0.5, audit_sign_s: float = 60.0):
        self.site = site
        self.audit_sign_s = audit_sign_s
        self.sio = socketio
        self.heartbeat_s = heartbeat_s
        self.clock_push_s = clock_push_s
        self.tick = tick
        self.running = True
        self._locked_warned: set[int] = set()

    def run(self) -> None:
        try:
            ready = self.site.warm(pause=lambda: self.sio.sleep(0))
            log.info("%d open sessions ready", ready)
        except Exception:
            log.exception("opening the sessions failed; they open at the first login instead")
        # The sessions and banks are long-lived: out of the cyclic collector's sight.
        freeze_heap()
        last_beat = last_refresh = last_prune = last_seq = 0.0
        last_sign = self.site.now() / 1000  # the first heads a period after start
        while self.running:
            now = self.site.now() / 1000
            try:
                if now - last_beat >= self.heartbeat_s:
                    self.site.adopt_sessions()
                    last_beat = now
                if now - last_seq >= SEQ_S:
                    self.beat_namespaces()
                    last_seq = now
                self.finish_due()
                if now - last_sign >= self.audit_sign_s:
                    self.sign_heads()
                    last_sign = now
                self.sweep_consoles()
                if now - last_refresh >= 2.0:
                    self.refresh_sessions()
                    last_refresh = now
                if now - last_prune >= 60.0:
                    self.site.guard.prune()  # expired login counts only
                    last_prune = now
                # Each tick pushes the clocks of a slice of the candidates, so that the
                # pushes of a whole site are spread over the period instead of one burst.
                self.push_clocks(slice_=int(now / self.tick), slices=max(
                    1, round(self.clock_push_s / self.tick)))
            except Exception:
                log.exception("scheduler tick failed; continuing")
            self.sio.sleep(self.tick)

    def run_leases(self) -> None:
        """Renew the leases of the sessions served here every heartbeat, in a loop of its own:
        a long tick of the scheduler (finishing a room at its deadline, taking a session over)
        must not let them expire."""
        while self.running:
            try:
                self.site.renew()
            except Exception:
                log.exception("lease renewal failed; retrying")
            self.sio.sleep(self.heartbeat_s)

    def beat_namespaces(self) -> None:
        """The namespaces that number their pushes send their last number (see beat())."""
        handlers = getattr(self.sio.server, "namespace_handlers", None) or {}
        for handler in list(handlers.values()):
            beat = getattr(handler, "beat", None)
            if beat is not None:
                beat()

    def finish_due(self) -> None:
        from cat_engine.services.errors import ServiceError

        for candidate_id in self.site.due():
            try:
                cand = self.site.candidate(candidate_id)
                if cand.state != "in_progress":
                    self.site.forget(candidate_id)  # stale cache: reload next time
                    continue
                # Moves the candidate to their next time block, or finishes after the last.
                out = self.site.time_up(cand)
            except ServiceError as exc:
                if candidate_id not in self._locked_warned:
                    log.warning("cannot finish candidate %s at their deadline: %s",
                                candidate_id, exc)
                    self._locked_warned.add(candidate_id)
                continue
            deliver(self.sio, out.emits)

    def sign_heads(self) -> None:
        """Sign every chain that grew, and show each session's new head on its boards."""
        from cat_engine.live.display import board_room
        from cat_engine.services import anchors
        from cat_engine.services.events import DISPLAY_NS

        if self.site.signing_key is None:
            return
        for head in anchors.sign_heads(self.site.store, self.site.signing_key, self.site.now()):
            if head.chain:
                self.sio.emit("anchor", {"session_id": head.chain, **head.as_dict()},
                              to=board_room(head.chain), namespace=DISPLAY_NS)

    def sweep_consoles(self) -> None:
        """Cut the consoles of accounts disabled or logged out, and the displays whose
        enrolment was revoked (in any process)."""
        handlers = getattr(self.sio.server, "namespace_handlers", {})
        for namespace in ("/proctor", "/display"):
            if handlers.get(namespace) is not None:
                handlers[namespace].sweep()

    def refresh_sessions(self) -> None:
        for session_id in list(self.site.sessions):
            self.site.session(session_id, refresh=True)

    def push_clocks(self, slice_: int = 0, slices: int = 1) -> None:
        now = self.site.now()
        for cand in list(self.site.candidates.values()):
            if cand.id % slices != slice_ % slices:
                continue
            if cand.sid is not None and cand.clock is not None and cand.state == "in_progress":
                e = self.site.clock_push(cand, now)
                self.sio.emit(e.event, e.data, to=cand.sid, namespace=e.namespace,
                              ignore_queue=True)
