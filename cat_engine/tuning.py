"""Generic Flask-SocketIO tunings: what any Flask-SocketIO app on gevent can use.

cat-engine's app and the benchmark's bare baseline (scripts/bare_server.py) both take them
from here, so the baseline is the best the same stack can do (docs/benchmarks.md): a ratio
against an untuned baseline would credit cat-engine with the tunings themselves.
"""

from __future__ import annotations

import gc
from typing import Any

import orjson
from flask import Flask
from flask.sessions import SecureCookieSessionInterface


class OrjsonCodec:
    """python-socketio's ``json`` parameter, with orjson: packets are encoded and decoded
    several times faster than with the standard library (5 % of the CPU under load).

    Integer keys (the scoreboard's ``{id: [rank, tied]}``) are written as strings, as the
    standard library does. What orjson refuses to read (NaN, Infinity) goes to engineio's own
    decoder, so such a message is read, or refused, as before and gets the same error reply.
    orjson reads integers beyond 64 bits as floats, in linear time; the message schemas
    refuse a float where they expect an integer.
    """

    @staticmethod
    def dumps(obj: Any, **_options: Any) -> str:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    @staticmethod
    def loads(text: str | bytes, **options: Any) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            from engineio import json as engineio_json

            return engineio_json.loads(text, **options)


#: Keyword arguments for ``SocketIO(...)`` / ``socketio.init_app(...)``.
SOCKETIO_OPTIONS: dict[str, Any] = {
    "json": OrjsonCodec,
    # One connection's events are handled in order, in its own greenlet: no greenlet per
    # event (a tenth of the CPU under load), and a client's messages apply in the order sent.
    "async_handlers": False,
    "ping_interval": 10,
    "ping_timeout": 10,
    "logger": False,
    "engineio_logger": False,
}


def run_options(async_mode: str) -> dict[str, Any]:
    """Extra ``socketio.run`` arguments: a listen backlog for a room that logs in at once."""
    return {"backlog": 2048} if async_mode == "gevent" else {}


class CachedSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie sessions with the signing serializer built once per key, not per request.

    Flask-SocketIO opens a request context (and so a session) for every socket event; building
    the serializer each time was an eighth of the server's CPU under load.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple, Any] = {}

    def open_session(self, app: Flask, request):
        # Flask opens (reads and verifies) the cookie session at every socket event, and
        # Flask-SocketIO then swaps in the connection's own copy, kept from the first event:
        # hand that copy over directly.
        saved = request.environ.get("saved_session")
        if saved is not None:
            return saved
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask):
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._cache.get(key)
        if serializer is None:
            serializer = self._cache[key] = super().get_signing_serializer(app)
        return serializer


class SocketIOFlask(Flask):
    """Flask, minus URL routing for Socket.IO traffic.

    Flask-SocketIO opens a request context for every socket event, and Flask matches its URL
    (/socket.io/) against every route, a miss that cost a seventh of the server's CPU under
    load. Socket.IO requests are served by the Socket.IO middleware, never by a view, so they
    need no URL adapter.
    """

    def create_url_adapter(self, request):
        if request is not None and request.environ.get("PATH_INFO", "").startswith(
                "/socket.io/"):
            return None
        return super().create_url_adapter(request)


def freeze_heap() -> None:
    """Move what is alive now (imports, loaded state) out of the cyclic collector's sight, and
    collect the young generation less often.

    A full collection over 2,000 loaded candidates paused the server for about 0.3 s; with
    thousands of sockets allocating fast, collecting every 700 allocations (the default) cost
    a fifth of the CPU at saturation.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def speed_up_websockets() -> None:
    """gevent-websocket unmasks every client frame in a Python loop over its bytes; wsaccel
    (whose UTF-8 validator gevent-websocket already picks up by itself) does it in C."""
    try:
        from geventwebsocket.websocket import Header
        from wsaccel.xormask import XorMaskerSimple
    except ImportError:  # another transport, or no wsaccel: nothing to speed up
        return

    def unmask(header: Header, payload: bytes) -> bytes:
        return XorMaskerSimple(bytes(header.mask)).process(payload)

    Header.mask_payload = Header.unmask_payload = unmask
