"""The ``/display`` namespace: the public scoreboard's feed.

A display may send exactly two things: ``pair`` and ``subscribe``. Only an enrolled display
(:mod:`cat_engine.services.devices`: its secret in the connection's ``auth``) may subscribe,
and only to the open sessions of today in its room (or the site's, if enrolled for the site);
anything else gets nothing but a pairing code to show. A candidate terminal's credential is
not a display's, so a terminal can never watch the board. A subscribed display gets a snapshot
of what its board shows, then small ``board`` diffs: only the rows whose shown content
(scores, marks, status, rank) changed, coalesced over :data:`FLUSH_S`.

Score pushes from the candidates' side never reach a screen directly: :meth:`relay` feeds
them to the session's :class:`Board`, which applies the session's settings (names or masked
registration numbers; scores live or only at finish; frozen) before anything is sent. A
frozen board sends nothing newer than its freeze, on the page or on the socket.

With several server processes, a session's board is kept by the process that owns the
session (docs/deploy.md): only it sends diffs, through the message queue to the displays of
every process. Each diff carries the board's sequence number and its epoch (a new one each
time a board is built), and every :data:`SEQ_S` the owner sends the number alone
(``board_seq``); a display that finds a gap subscribes again and gets a fresh snapshot, so a
push lost (a Redis restart) is never silently lost. A diff the snapshot already holds (it was
still in the message queue when the owner answered the subscription directly) is ignored,
not taken for a gap. Another
process answers a subscription with a snapshot read from the database (``seq`` null: the
display takes the next number it receives as its baseline); every :data:`SNAPSHOT_S` the owner
sends its whole board, so such a display also converges on the owner's ranking.

A board no display watches is not diffed at all (its changes wait for the next diff). With the
Redis message queue, the owner publishes a board's pushes only while a display on another
process watches it (each process announces its boards' rooms: live/pubsub.py); when it starts
publishing them again it sends the whole board, numbered, after every diff it kept to itself
and before every later one, which a display there takes as its baseline.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from flask import request
from flask_socketio import Namespace, join_room
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from cat_engine.live.pubsub import Audience, room_session
from cat_engine.services import proctoring
from cat_engine.services.errors import ServiceError
from cat_engine.services.events import DISPLAY_NS, Emit
from cat_engine.services.grading import rule_set_for

log = logging.getLogger(__name__)

#: Seconds over which score changes are gathered into one diff per board.
FLUSH_S = 0.2
#: Seconds between pushes of rows that only moved (their rank changed, not their scores).
MOVES_S = 1.0
#: Subscriptions one display connection may hold (a site-wide wall shows a few rooms).
MAX_SUBSCRIPTIONS = 32
#: Seconds between two ``board_seq`` pushes of an owned board (how soon a lost diff shows).
SEQ_S = 3.0
#: Seconds between two full snapshots of an owned board to its room: a display whose snapshot
#: came from another process's database read converges on the owner's board (ranks included).
SNAPSHOT_S = 10.0
SITE_ROOM = "board:site"
STATUS = {"registered": "waiting", "admitted": "waiting", "in_progress": "working",
          "finished": "finished", "disqualified": "disqualified"}


def board_room(session_id: int) -> str:
    return f"board:{session_id}"


def mask(registration: str) -> str:
    """A registration number with most of it hidden: enough to find oneself, not to copy.
    Long numbers (12 or more) show 2 + 3 characters; shorter ones at most a third."""
    n = len(registration)
    if n >= 12:
        head, tail = 2, 3
    else:
        shown = n // 3
        head, tail = shown // 2, shown - shown // 2
    return registration[:head] + "•" * (n - head - tail) + registration[n - tail:]


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    session: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    site: StrictBool = False


class Board:
    """What one session's public screens show, and what changed since the last push."""

    def __init__(self, session: Mapping[str, Any], exam, roster: list[dict[str, Any]]):
        self.session_id = session["id"]
        self.exam = exam
        self.info = {"id": session["id"], "name": session["name"], "room": session["room"],
                     "exam": session["exam"]}
        self.sections = list(exam.section_ids)
        self.rows: dict[int, dict[str, Any]] = {}
        for r in roster:
            self.rows[r["id"]] = {"registration": r["registration"], "name": r["name"],
                                  "formation": r["formation"], "state": r["state"],
                                  "scores": {s: float(r["scores"].get(s, 0) or 0)
                                             for s in self.sections}}
        self.settings: dict[str, Any] = {}
        self.frozen_rows: dict[int, dict[str, Any]] = {}
        #: What the screens were last sent: each row's content (by identity: a row's cached
        #: content is replaced, never mutated, when it changes) and its rank.
        self._sent_rows: dict[int, dict[str, Any]] = {}
        self._sent_ranks: dict[int, tuple[int | None, bool]] = {}
        #: Rows changed since the last push; ``dirty``: the ranking may have changed.
        self._changed: set[int] = set()
        self.dirty = False
        self._evaluated: dict[int, Any] = {}
        self._base: dict[int, dict[str, Any]] = {}
        #: Number of the last diff sent (owner only); None on a process that does not own
        #: the session (its snapshots come from the database).
        self.seq: int | None = None
        #: Which numbering ``seq`` belongs to: a board built again (a roster change, a new
        #: owner) numbers from 0 anew under a new epoch, so a display can tell a late diff
        #: it already has (same epoch, lower number: ignored) from a new numbering (resync).
        self.epoch: str | None = None

    def configure(self, settings: Mapping[str, Any]) -> None:
        self.settings = proctoring.public_settings(settings)
        frozen = settings.get("frozen_board") or {}
        self.frozen_rows = {int(k): dict(v) for k, v in frozen.items()} \
            if self.settings["frozen"] else {}
        self._base.clear()  # labels and visibility may have changed
        self._mark_sent()

    def update(self, candidate_id: int, data: Mapping[str, Any]) -> bool:
        """Apply a score or status push; False for a candidate the board does not know."""
        row = self.rows.get(candidate_id)
        if row is None:
            return False
        if "sections" in data:
            scores = {s: float(data["sections"].get(s, 0) or 0) for s in self.sections}
            if scores != row["scores"]:
                row["scores"] = scores
                self._evaluated.pop(candidate_id, None)
                self._base.pop(candidate_id, None)
                self._changed.add(candidate_id)
                self.dirty = True
        if data.get("status") in STATUS and data["status"] != row["state"]:
            row["state"] = data["status"]
            self._base.pop(candidate_id, None)
            self._changed.add(candidate_id)
            self.dirty = True
        return True

    def _result(self, candidate_id: int):
        from scoring.results import evaluate

        res = self._evaluated.get(candidate_id)
        if res is None:
            row = self.rows[candidate_id]
            res = self._evaluated[candidate_id] = evaluate(
                self.exam, row["scores"], rule_set_for(self.exam, row["formation"]))
        return res

    def _row(self, cid: int) -> dict[str, Any]:
        """A row's shown content apart from its rank (cached until the candidate changes)."""
        out = self._base.get(cid)
        if out is None:
            row = self.rows[cid]
            status = STATUS.get(row["state"], "waiting")
            names = self.settings.get("public_names", False)
            out = {"id": cid, "label": row["name"] if names else mask(row["registration"]),
                   "status": status, "sections": None, "total": None, "marks": None,
                   "passed": None}
            live = self.settings.get("scoreboard", "live") == "live"
            if status == "finished" or (live and status == "working"):
                res = self._result(cid)
                out.update(sections=dict(res.section_scores), total=res.total,
                           marks={c.label: c.passed for c in res.checks}, passed=res.passed)
            self._base[cid] = out
        return out

    def _ranks(self) -> dict[int, tuple[int | None, bool]]:
        """(rank, tied) of every row with visible scores, by the exam's ranking rules."""
        from scoring.results import rank

        ranked = [cid for cid in self.rows if self._row(cid)["total"] is not None]
        ranking = rank([self._result(cid) for cid in ranked], self.exam)
        return dict(zip(ranked, zip(ranking.ranks.tolist(), ranking.tied.tolist(),
                                    strict=True), strict=True))

    def shown(self) -> dict[int, dict[str, Any]]:
        """Every row as the screens must show it now (ranked with the exam's tie-breaks)."""
        if self.settings.get("frozen"):
            return {cid: dict(row) for cid, row in self.frozen_rows.items()}
        ranks = self._ranks()
        return {cid: self._with_rank(cid, ranks) for cid in self.rows}

    def _with_rank(self, cid: int, ranks: Mapping[int, tuple[int | None, bool]]
                   ) -> dict[str, Any]:
        position, tied = ranks.get(cid, (None, False))
        return {**self._row(cid), "rank": position, "tied": tied}

    def _mark_sent(self) -> None:
        self._sent_rows = {cid: self._row(cid) for cid in self.rows}
        self._sent_ranks = self._ranks()
        self._changed.clear()
        self.dirty = False

    def snapshot(self) -> dict[str, Any]:
        rows = self.shown()
        if not self.settings.get("frozen"):
            self._mark_sent()
        return {"session": self.info, "sections": self.sections,
                "checks": self._check_labels(), "settings": self.settings,
                "rows": _ordered(rows), "seq": self.seq, "epoch": self.epoch}

    def _check_labels(self) -> list[str]:
        labels: list[str] = []
        for rules in self.exam.rule_sets.values():
            for label in [*rules.minimum, *("+".join(c.sections) for c in rules.combined),
                          *(["total"] if rules.total is not None else [])]:
                if label not in labels:
                    labels.append(label)
        return labels

    def diff(self, *, moves: bool = True) -> tuple[list[dict[str, Any]], dict[int, list]]:
        """What changed since the last push; nothing while frozen.

        Returns whole rows whose content changed, and ``{id: [rank, tied]}`` of rows that
        only moved. Without ``moves`` the ranking is not recomputed: changed rows keep the
        rank last sent, and the next push with ``moves`` brings every rank up to date. One
        answer can move every row below it by one place, so ranking and sending moves a few
        times less often than scores (:data:`MOVES_S`) keeps a board of thousands cheap.
        """
        if self.settings.get("frozen") or not (self._changed or (moves and self.dirty)):
            return [], {}
        rows: list[dict[str, Any]] = []
        moved: dict[int, list] = {}
        if not moves:
            for cid in sorted(self._changed):
                content = self._row(cid)
                if self._sent_rows.get(cid) is not content:
                    rows.append(self._with_rank(cid, self._sent_ranks))
                    self._sent_rows[cid] = content
            self._changed.clear()
            return rows, moved
        ranks = self._ranks()
        for cid in self.rows:
            content = self._row(cid)
            now = ranks.get(cid, (None, False))
            if self._sent_rows.get(cid) is not content:
                rows.append(self._with_rank(cid, ranks))
                self._sent_rows[cid] = content
            elif self._sent_ranks.get(cid, (None, False)) != now:
                moved[cid] = list(now)
        self._sent_ranks = ranks
        self._changed.clear()
        self.dirty = False
        return rows, moved


def _ordered(rows: Mapping[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows.values(), key=lambda r: (r["rank"] is None, r["rank"] or 0, r["label"]))


class DisplayNamespace(Namespace):
    def __init__(self, site, socketio):
        super().__init__(DISPLAY_NS)
        self.site = site
        self.sio = socketio
        self.boards: dict[int, Board] = {}
        #: socket id -> what it subscribed to (a resubscription after a gap is not counted)
        self._subs: dict[str, set] = {}
        #: sid -> the enrolled display on that connection
        self._devices: dict[str, Any] = {}
        self._flusher = None
        #: Who may watch a board's room, here and on other processes (live/pubsub.py).
        self._audience = Audience(socketio, DISPLAY_NS, "board:", self._watched_elsewhere)

    # -- a display may only subscribe --------------------------------------------------------

    def trigger_event(self, event: str, *args: Any):
        if event in ("connect", "disconnect", "subscribe", "pair"):
            return super().trigger_event(event, *args)
        return {"ok": False, "error": {"code": "read_only",
                                       "message": "a display can only subscribe"}}

    def on_connect(self, auth=None):
        from cat_engine.services import devices

        if self._flusher is None:
            self._flusher = self.sio.start_background_task(self._flush_loop)
        secret = auth.get("device") if isinstance(auth, dict) else None
        device = devices.authenticate(self.site.store, secret, "display")
        if device is not None:
            self._devices[request.sid] = device
        return True  # an unenrolled display may only ask for a pairing code

    def on_disconnect(self, *args):
        self._subs.pop(request.sid, None)
        self._devices.pop(request.sid, None)

    def on_pair(self, *args):
        """A pairing code for this screen (and the secret it keeps): see live.pairing."""
        from cat_engine.live.pairing import pair

        try:
            return {"ok": True, **pair(self.site, "display",
                                       enrolled=request.sid in self._devices)}
        except ServiceError as exc:
            return {"ok": False, "error": {"code": exc.code, "message": exc.detail}}

    def sweep(self) -> int:
        """Disconnect the displays whose enrolment was revoked (in any process)."""
        from cat_engine.services import devices

        ids = {d.id for d in self._devices.values()}
        live = devices.still_enrolled(self.site.store, ids) if ids else set()
        cut = [sid for sid, d in self._devices.items() if d.id not in live]
        for sid in cut:
            self._devices.pop(sid, None)
            self.sio.server.disconnect(sid, namespace=DISPLAY_NS)
        return len(cut)

    def on_subscribe(self, *args):
        if len(args) != 1 or not isinstance(args[0], dict):
            return {"ok": False, "error": {"code": "bad_request",
                                           "message": "message: one JSON object"}}
        try:
            msg = Subscribe.model_validate(args[0])
        except ValidationError as exc:
            return {"ok": False, "error": {"code": "bad_request", "message": str(
                exc.errors(include_url=False)[0].get("msg"))}}
        device = self._devices.get(request.sid)
        if device is None:
            return {"ok": False, "error": {"code": "not_enrolled",
                                           "message": "this screen is not enrolled"}}
        subs = self._subs.setdefault(request.sid, set())
        what = msg.session if not msg.site else True
        if what not in subs and len(subs) >= MAX_SUBSCRIPTIONS:
            return {"ok": False, "error": {"code": "too_many", "message": "too many boards"}}
        subs.add(what)
        try:
            if msg.site:
                join_room(SITE_ROOM if device.room is None else f"{SITE_ROOM}:{device.room}")
                return {"ok": True, "rooms": self.rooms(device.room)}
            if msg.session is None:
                raise ServiceError("bad_request", "name a session or the site")
            board = self.board_by_name(msg.session, device.room)
        except ServiceError as exc:
            return {"ok": False, "error": {"code": exc.code, "message": exc.detail}}
        except Exception:
            ref = proctoring.random_ref()
            log.exception("display subscribe failed (ref %s)", ref)
            return {"ok": False, "error": {"code": "internal", "message": "server error",
                                           "ref": ref}}
        join_room(board_room(board.session_id))
        return {"ok": True, **self._snapshot(board)}

    # -- boards ------------------------------------------------------------------------------

    def _snapshot(self, board: Board) -> dict[str, Any]:
        # Every display of a board sees the same rows: a snapshot also brings the others'
        # baseline up to date, so send pending changes first.
        from cat_engine.services import anchors

        self._flush(board)
        head = anchors.latest(self.site.store, board.session_id)
        return {**board.snapshot(), "anchor": head.as_dict() if head else None}

    def rooms(self, room: str | None = None) -> list[dict[str, Any]]:
        """The sessions a site-wide screen shows: today's open ones (of ``room`` only, for a
        screen enrolled for one room)."""
        import datetime as dt

        from cat_engine.services.sessions import list_sessions

        today = dt.date.today().isoformat()
        return [{"id": s["id"], "name": s["name"], "room": s["room"], "time": s["time"]}
                for s in list_sessions(self.site.store)
                if s["state"] == "open" and s["date"] == today
                and (room is None or s["room"] == room)]

    def rooms_changed(self) -> None:
        every = self.rooms()
        self.sio.emit("rooms", {"rooms": every}, to=SITE_ROOM, namespace=DISPLAY_NS)
        for room in {d.room for d in self._devices.values() if d.room is not None}:
            self.sio.emit("rooms", {"rooms": [r for r in every if r["room"] == room]},
                          to=f"{SITE_ROOM}:{room}", namespace=DISPLAY_NS)

    def board_by_name(self, name: str, room: str | None = None) -> Board:
        from cat_engine.services.sessions import SetupError, find_session

        try:
            row = find_session(self.site.store, name)
        except SetupError:
            raise ServiceError("not_found", f"no session {name!r}") from None
        # Only the boards a site-wide screen lists (open today): nothing of a session that is
        # scheduled, closed or of another day, whatever name or id is asked for.
        if row.id not in {listed["id"] for listed in self.rooms(room)}:
            raise ServiceError("not_found", f"no session {name!r}")
        return self.board(row.id)

    def owns(self, session_id: int) -> bool:
        return session_id in self.site.ownership.held

    def board(self, session_id: int) -> Board:
        board = self.boards.get(session_id)
        if board is not None and not self.owns(session_id):
            # Not fed by this process's pushes: read again from the database.
            self.boards.pop(session_id, None)
            board = None
        if board is None:
            info = proctoring.session_info(self.site.store, session_id)
            session = self.site.session(session_id)
            board = Board(info, session.exam, proctoring.roster(self.site.store, session_id))
            board.configure(self._settings(session_id))
            if self.owns(session_id):
                board.seq, board.epoch = 0, secrets.token_hex(4)
                # A push and a subscription may build it at once (each reads the database):
                # the first kept, whose diffs may have gone out already (a second one
                # numbered from 0 again made every display resync).
                board = self.boards.setdefault(session_id, board)
        return board

    def _settings(self, session_id: int) -> dict[str, Any]:
        from cat_engine.store.models import ExamSession

        with self.site.store.read() as db:
            return dict(db.get(ExamSession, session_id).settings or {})

    def shown_rows(self, session_id: int) -> dict[str, dict[str, Any]]:
        """What the board shows now (stored with the session when it is frozen)."""
        return {str(cid): row for cid, row in self.board(session_id).shown().items()}

    def reconfigure(self, session_id: int) -> None:
        """Settings changed: every screen of the session gets a new snapshot at once."""
        board = self.boards.get(session_id)
        if board is None:
            return
        board.configure(self._settings(session_id))
        self.sio.emit("snapshot", board.snapshot(), to=board_room(session_id),
                      namespace=DISPLAY_NS)

    def relay(self, e: Emit) -> None:
        """A score or status push from the candidates' side: it updates the board only."""
        session_id = int(e.room.split(":", 1)[1])
        board = self.boards.get(session_id)
        if board is None:
            # The owner keeps every owned session's board: displays on other processes
            # get its diffs through the message queue.
            if not self.owns(session_id):
                return
            if self._flusher is None:
                self._flusher = self.sio.start_background_task(self._flush_loop)
            try:
                board = self.board(session_id)
            except Exception:
                log.exception("board %s: cannot build", session_id)
                return
        if not board.update(int(e.data.get("candidate_id", 0)), e.data):
            self.boards.pop(session_id, None)  # a roster change: rebuild on next push

    def _watchers(self, session_id: int) -> tuple[bool, bool]:
        """Whether a display here, and one on another process, may watch the board."""
        return self._audience.watchers(board_room(session_id))

    def _send(self, board: Board, event: str, data: dict[str, Any],
              watchers: tuple[bool, bool]) -> None:
        """A push of an owned board to its displays: through the message queue only when a
        display on another process watches it."""
        self._audience.emit(self.sio, event, data, board_room(board.session_id), watchers)

    def _watched_elsewhere(self, room: str) -> None:
        """A display on another process watches ``room`` and this process has not been
        sending it the board's pushes (the message queue's listener calls this as it hears
        so, before any push is published for the room again): the whole board, numbered,
        published after every diff kept here and before every later one. A display there
        that subscribed before (its snapshot, from the database, has no number) takes it
        as its baseline, as it does the snapshot sent every :data:`SNAPSHOT_S`."""
        session_id = room_session(room)
        if session_id is None:
            return  # a site-wide room: the boards' own rooms carry their pushes
        board = self.boards.get(session_id)
        if board is not None and board.seq is not None and self.owns(session_id):
            self.sio.emit("snapshot", board.snapshot(), to=room, namespace=DISPLAY_NS)

    def _flush(self, board: Board, *, moves: bool = True) -> None:
        if board.seq is None:
            return  # only the session's owner sends diffs
        watchers = self._watchers(board.session_id)
        if not any(watchers):
            # No display watches it: nothing computed, nothing numbered. The changes wait
            # for the next diff; a display that subscribes gets a snapshot, and one that
            # another process announces, the whole board (_watched_elsewhere).
            return
        rows, moved = board.diff(moves=moves)
        if rows or moved:
            board.seq += 1
            self._send(board, "board", {"session_id": board.session_id, "rows": rows,
                                        "ranks": moved, "seq": board.seq,
                                        "epoch": board.epoch}, watchers)

    def _flush_loop(self) -> None:
        import time

        last_moves = last_seq = last_full = 0.0
        while True:
            now = time.monotonic()
            moves = now - last_moves >= MOVES_S
            if moves:
                last_moves = now
            for session_id in list(self.boards):
                if not self.owns(session_id):  # taken over by another process
                    self.boards.pop(session_id, None)
            if now - last_full >= SNAPSHOT_S:
                last_full = now
                for board in list(self.boards.values()):
                    watchers = self._watchers(board.session_id)
                    if any(watchers):
                        self._flush(board)
                        self._send(board, "snapshot", board.snapshot(), watchers)
            if now - last_seq >= SEQ_S:
                last_seq = now
                for board in list(self.boards.values()):
                    self._send(board, "board_seq", {"session_id": board.session_id,
                                                    "seq": board.seq, "epoch": board.epoch},
                               self._watchers(board.session_id))
            for board in list(self.boards.values()):
                try:
                    self._flush(board, moves=moves)
                except Exception:
                    log.exception("board %s: flush failed", board.session_id)
            self.sio.sleep(FLUSH_S)
