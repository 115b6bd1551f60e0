"""The baseline: a bare Flask-SocketIO server that only acknowledges (no validation, no storage).

    python scripts/bare_server.py --port 5001 [--async-mode gevent|threading|eventlet] [--untuned]

It speaks just enough of docs/protocol.md for scripts/loadgen.py (login, start, get_item,
answer), so the same generator in the same run measures what this stack can do at all. It uses
the same generic tunings as cat-engine (cat_engine.tuning: ``async_handlers=False``, the same
ping interval, no URL routing for Socket.IO requests, the cached cookie session, ``gc.freeze``
with a raised threshold, the orjson packet codec, ``answer`` events handled without a Flask
request context) on the same transport stack (gevent's WSGI
server with gevent-websocket, unmasked by wsaccel): any Flask-SocketIO app can have them, so
the ratio measures what cat-engine's own work costs. ``--untuned`` is the default
``SocketIO(app)`` the figures before issue 14 were measured against.
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
    parser.add_argument("--untuned", action="store_true",
                        help="A default SocketIO(app), without the generic tunings.")
    args = parser.parse_args(argv)
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

    @app.get("/healthz")
    def healthz():
        return {"ok": True, "warm": True}

    ns = "/candidate"
    sheet = {"n_items": 110, "next_seq": 1, "answers": [], "remaining_ms": 6_000_000}

    def answer(data=None):
        return {"ok": True, "seq": data.get("seq"), "saved": True}

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
                return answer(*args[1:])
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
