"""The Flask application factory and the Socket.IO extension.

``create_app(config)`` builds a site from a data directory (or a database URL): it runs the
schema migrations, opens the store, recovers from an outage (the heartbeat rule, see
docs/operations.md), registers the web blueprints that exist and the live namespaces, and
starts the scheduler. ``socketio`` is bound late, Flask-style, so one import serves tests, the
CLI and gunicorn (``gunicorn ... 'cat_engine.app:create_app()'``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from flask_socketio import SocketIO

from cat_engine import __version__, site_secret
from cat_engine import config as site_config
from cat_engine.tuning import (
    SOCKETIO_OPTIONS,
    CachedSessionInterface,
    SocketIOFlask,
    speed_up_websockets,
)

log = logging.getLogger(__name__)

socketio = SocketIO()

#: module:attribute of each web blueprint; registered when the module exists, so the
#: proctor console and the display join by adding a line here.
BLUEPRINTS = (
    "cat_engine.web.terminal:bp",
    "cat_engine.web.proctor:bp",
    "cat_engine.web.display:bp",
    "cat_engine.web.admin:bp",
    "cat_engine.web.reports:bp",
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = site_config.resolve(config)
    data_dir = Path(settings["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)

    app = SocketIOFlask("cat_engine")
    app.session_interface = CachedSessionInterface()
    app.config.update(settings)
    app.config["SECRET_KEY"] = settings["SECRET_KEY"] or site_config.secret_key(data_dir)
    # Before the database opens: its migrations and every PIN and token check need it.
    site_secret.load(data_dir)
    # Flask's defaults already hold these keys (SAMESITE None), so setdefault would not do.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = settings.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(settings["COOKIE_SECURE"])

    from cat_engine.services.guard import LoginGuard
    from cat_engine.services.runtime import BankKey
    from cat_engine.services.site import Site
    from cat_engine.store import Store
    from cat_engine.store.db import lock_sqlite

    background = settings.get("START_BACKGROUND", True)
    # A serving process on SQLite is the only one: refused at start if another runs there.
    exclusive = lock_sqlite(settings["DATABASE_URL"]) if background else None
    store = Store(settings["DATABASE_URL"], async_mode=settings["ASYNC_MODE"],
                  synchronous=str(settings["SQLITE_SYNCHRONOUS"]).upper())
    keys = []
    if settings["BANK_PASSPHRASE"] or settings["BANK_SITE_KEY"]:
        keys.append(BankKey(settings["BANK_PASSPHRASE"], settings["BANK_SITE_KEY"]))
    # With the SQLite lock held, a lease still running was held by a process that died:
    # take its sessions at once instead of waiting for the lease to expire.
    site = Site(store, async_mode=settings["ASYNC_MODE"], keys=keys,
                lease_ttl_ms=round(float(settings["LEASE_TTL_S"]) * 1000),
                steal=exclusive is not None)
    app.extensions["cat_engine_lock"] = exclusive
    # Several processes (they share pushes through the message queue) sit behind a proxy
    # that routes each terminal by its session (docs/deploy.md, "Routing").
    site.routed = background and exclusive is None and bool(settings["MESSAGE_QUEUE"])
    site.guard = LoginGuard(store, max_failures=settings["LOGIN_MAX_FAILURES"],
                            lockout_s=settings["LOGIN_LOCKOUT_S"],
                            token_failures=settings["TOKEN_MAX_FAILURES"],
                            token_cooldown_s=settings["TOKEN_COOLDOWN_S"], now=site.now)
    from cat_engine.services.anchors import site_key

    site.signing_key = site_key(data_dir)
    site.chain_answers = bool(settings["AUDIT_ANSWERS"])
    if not settings["ALLOW_UNTRUSTED_BANKS"]:
        from cat_engine.services.trust import trusted_issuers

        site.trusted = trusted_issuers(data_dir)
    app.extensions["cat_engine"] = site
    if exclusive is not None:
        # The only process of the site: serve its running sessions before anything else
        # (banks open, working candidates loaded, the outage since the crash credited).
        site.adopt_sessions()

    _init_i18n(app)
    for spec in BLUEPRINTS:
        module_name, attribute = spec.split(":")
        if importlib.util.find_spec(module_name) is not None:
            app.register_blueprint(getattr(importlib.import_module(module_name), attribute))

    @app.after_request
    def _nosniff(response):
        # Every response, static files of every blueprint included: a browser must never
        # guess a script out of something served as data.
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True, version=__version__, warm=site.warmed)

    @app.get("/")
    def index():
        from flask import redirect

        return redirect("/terminal/") if "terminal" in app.blueprints else jsonify(
            name="cat-engine", version=__version__)

    speed_up_websockets()
    queue = settings["MESSAGE_QUEUE"]
    if queue and queue.startswith(("redis://", "rediss://")):
        from cat_engine.live.pubsub import OrderedRedisManager

        # One ordered publisher, a listener no publish can disturb (live/pubsub.py).
        queue_options = {"client_manager": OrderedRedisManager(queue)}
    else:
        queue_options = {"message_queue": queue}
    # The SocketIO object outlives an app (tests build several): no manager of an earlier one.
    socketio.server_options.pop("client_manager", None)
    socketio.init_app(
        app,
        async_mode=settings["ASYNC_MODE"],
        **queue_options,
        max_http_buffer_size=settings["MAX_MESSAGE_BYTES"],
        # Terminals are served by this very server; no other origin may open a socket.
        cors_allowed_origins=settings.get("CORS_ORIGINS"),
        # One candidate's events are handled in order, in their connection's greenlet (a
        # terminal's answers apply in the order it sent them): see cat_engine.tuning.
        **SOCKETIO_OPTIONS,
    )
    from cat_engine.live import init_live
    from cat_engine.web.security import PollingBodyLimit

    # Engine.IO answers an oversize long-polling POST only after the session's queue drains,
    # which an attacker never lets happen: refuse it here, at once.
    app.wsgi_app = PollingBodyLimit(app.wsgi_app, settings["MAX_MESSAGE_BYTES"])
    init_live(app, socketio, site)
    return app


def _init_i18n(app: Flask) -> None:
    """Flask-Babel with the shared catalogue (proctor_ui/translations), default ``id``."""
    if importlib.util.find_spec("cat_engine.web") is not None:
        from cat_engine.web import init_i18n

        init_i18n(app)
        return
    from flask_babel import Babel

    Babel(app)


def site_of(app: Flask):
    """The running :class:`cat_engine.services.site.Site` of an app."""
    return app.extensions["cat_engine"]
