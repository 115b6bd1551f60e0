"""The ceiling: a Flask-SocketIO server that only acknowledges (no validation, no storage).

    python scripts/bare_server.py --port 5001 [--async-mode gevent|threading|eventlet]

It speaks just enough of docs/protocol.md for scripts/loadgen.py (login, start, get_item,
answer), so the same generator in the same run measures what this machine can do at all.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--async-mode", default="gevent",
                        choices=["gevent", "threading", "eventlet"])
    args = parser.parse_args(argv)
    if args.async_mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
    elif args.async_mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()

    from flask import Flask
    from flask_socketio import SocketIO

    app = Flask("bare")
    socketio = SocketIO(app, async_mode=args.async_mode)

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    ns = "/candidate"
    sheet = {"n_items": 110, "next_seq": 1, "answers": [], "remaining_ms": 6_000_000}
    socketio.on_event("login", lambda data=None: {"ok": True, "status": "ready"}, namespace=ns)
    socketio.on_event("start", lambda data=None: {"ok": True, "sheet": sheet}, namespace=ns)
    socketio.on_event("get_item", lambda data=None: {"ok": True, "stem_html": "<p>x</p>"},
                      namespace=ns)
    socketio.on_event("answer", lambda data=None: {"ok": True, "seq": data.get("seq"),
                                                   "saved": True}, namespace=ns)
    extra = {"backlog": 2048} if args.async_mode == "gevent" else {}
    socketio.run(app, host=args.host, port=args.port, log_output=False,
                 allow_unsafe_werkzeug=True, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
