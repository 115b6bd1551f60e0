"""The baseline: a bare Flask-SocketIO server that only acknowledges (no validation, no storage).

    python scripts/bare_server.py --port 5001 [--async-mode gevent|threading|eventlet] [--untuned]
    python scripts/bare_server.py --port 5001 --durable DATA_DIR [--synchronous FULL]

It speaks just enough of docs/protocol.md for scripts/loadgen.py (login, start, get_item,
answer), so the same generator in the same run measures what this stack can do at all. It uses
the same generic tunings as cat-engine (cat_engine.tuning: ``async_handlers=False``, the same
ping interval, no URL routing for Socket.IO requests, the cached cookie session, ``gc.freeze``
with a raised threshold, the orjson packet codec, ``answer`` events handled without a Flask
request context) on the same transport stack (gevent's WSGI
server with gevent-websocket, unmasked by wsaccel): any Flask-SocketIO app can have them, so
the ratio measures what cat-engine's own work costs. ``--untuned`` is the default
``SocketIO(app)`` the figures before issue 14 were measured against.

``--durable DATA_DIR`` is the same tuned server keeping cat-engine's durability promise and
nothing else: each ``answer`` is one row (candidate, seq, item, value, time) in SQLite (WAL,
``synchronous=FULL`` unless told otherwise) in DATA_DIR/answers.sqlite3, and its ack is sent
only after the transaction holding the row has committed. The commit is the best group
commit this stack offers (see :class:`DurableLog`), so the ratio to it measures cat-engine's
work beyond durability, and its ratio to the bare server what the promise alone costs.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

#: The one statement of the durable baseline, prepared once (sqlite3 keeps it by its text).
INSERT = "INSERT INTO answers (candidate, seq, item, value, at) VALUES (?, ?, ?, ?, ?)"


class DurableLog:
    """Group commit, the leanest this stack can do: answers queue in a list, one committer
    greenlet hands everything queued to one native thread, which writes it with the stdlib's
    sqlite3 (one executemany of a prepared INSERT, one COMMIT with its fsync) while the event
    loop keeps serving; every answer of the batch then wakes on the batch's one AsyncResult.
    No ORM, no SQLAlchemy, no per-row Python beyond building the tuple.
    """

    def __init__(self, data_dir: Path, synchronous: str = "FULL"):
        import gevent
        import gevent.event
        import gevent.threadpool

        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "answers.sqlite3"
        # isolation_level=None: BEGIN and COMMIT are ours, one transaction per batch.
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL (cat-engine's setting): a committed row survives a power cut.
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.execute("CREATE TABLE IF NOT EXISTS answers (candidate TEXT, seq INTEGER, "
                        "item INTEGER, value INTEGER, at REAL)")
        self.settings = {
            "journal_mode": self.db.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
                self.db.execute("PRAGMA synchronous").fetchone()[0]],
            "sqlite": sqlite3.sqlite_version,
            "commit": "one native thread: executemany + COMMIT of all queued per transaction",
        }
        self._event = gevent.event.AsyncResult
        self._queue: list[tuple] = []
        self._done = self._event()  # the batch being gathered
        self._wake = gevent.event.Event()
        self._pool = gevent.threadpool.ThreadPool(1)
        gevent.spawn(self._commit_loop)

    def save(self, row: tuple) -> None:
        """Return once ``row`` is committed; raise if its transaction failed."""
        self._queue.append(row)
        done = self._done
        self._wake.set()
        done.get()

    def _commit_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._queue:
                rows, done = self._queue, self._done
                self._queue, self._done = [], self._event()
                try:
                    self._pool.apply(self._commit, (rows,))
                except Exception as exc:  # the batch's answers get no "saved" ack
                    done.set_exception(exc)
                else:
                    done.set(True)

    def _commit(self, rows: list[tuple]) -> None:
        """In the native thread: one transaction for everything queued."""
        try:
            self.db.execute("BEGIN")
            self.db.executemany(INSERT, rows)
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--async-mode", default="gevent",
                        choices=["gevent", "threading", "eventlet"])
    parser.add_argument("--untuned", action="store_true",
                        help="A default SocketIO(app), without the generic tunings.")
    parser.add_argument("--durable", type=Path, metavar="DATA_DIR",
                        help="Store each answer durably in DATA_DIR before acknowledging it.")
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL", "EXTRA"],
                        help="--durable: SQLite's synchronous mode.")
    args = parser.parse_args(argv)
    if args.durable and (args.untuned or args.async_mode != "gevent"):
        parser.error("--durable is the tuned server on gevent (cat-engine's stack)")
    if args.async_mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
    elif args.async_mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()

    from flask import Flask
    from flask_socketio import Namespace, SocketIO

    from cat_engine import tuning

    if args.untuned:
        app = Flask("bare")
        socketio = SocketIO(app, async_mode=args.async_mode)
    else:
        tuning.speed_up_websockets()
        app = tuning.SocketIOFlask("bare")
        app.session_interface = tuning.CachedSessionInterface()
        # cat-engine's limit on a client's packet; the same parser work per message.
        socketio = SocketIO(app, async_mode=args.async_mode, max_http_buffer_size=16 * 1024,
                            **tuning.SOCKETIO_OPTIONS)
    app.config["SECRET_KEY"] = "bare"

    log = DurableLog(args.durable, args.synchronous) if args.durable else None
    #: --durable: each connection's candidate, from its login (the row names them).
    names: dict[str, Any] = {}

    @app.get("/healthz")
    def healthz():
        return {"ok": True, "warm": True, **({"durable": log.settings} if log else {})}

    ns = "/candidate"
    sheet = {"n_items": 110, "next_seq": 1, "answers": [], "remaining_ms": 6_000_000}

    def answer(data=None):
        return {"ok": True, "seq": data.get("seq"), "saved": True}

    def durable_answer(sid, data=None):
        seq = data.get("seq")
        try:
            log.save((names.get(sid), seq, data.get("position"), data.get("choice"),
                      time.time()))
        except Exception:
            return {"ok": False, "seq": seq, "error": {"code": "internal"}}
        return {"ok": True, "seq": seq, "saved": True}

    class Candidate(Namespace):
        def on_login(self, data=None):
            return {"ok": True, "status": "ready"}

        def on_start(self, data=None):
            return {"ok": True, "sheet": sheet}

        def on_get_item(self, data=None):
            return {"ok": True, "stem_html": "<p>x</p>"}

        def on_answer(self, data=None):
            return answer(data)

        def trigger_event(self, event, *args):
            # The tuning cat-engine's answer handler has (it needs no Flask request
            # context, so none is built per event), on the same event: like for like.
            if event == "answer" and not untuned:
                return durable_answer(*args) if log else answer(*args[1:])
            if log is not None:
                if event == "login":
                    names[args[0]] = (args[1] or {}).get("registration")
                elif event == "disconnect":
                    names.pop(args[0], None)
            return super().trigger_event(event, *args)

    untuned = args.untuned
    socketio.on_namespace(Candidate(ns))
    if not args.untuned:
        tuning.freeze_heap()
    socketio.run(app, host=args.host, port=args.port, log_output=False,
                 allow_unsafe_werkzeug=True, **tuning.run_options(args.async_mode))
    return 0


if __name__ == "__main__":
    sys.exit(main())
