"""Who may use the proctor console and the admin pages.

Accounts live in the site database (argon2id hashes, roles ``admin`` and ``proctor``; see
:mod:`cat_engine.services.users`). A successful login stores the user's id in Flask's signed
session cookie (HttpOnly, SameSite=Lax, Secure when the site runs behind TLS); every request
and every Socket.IO connection checks again that the account exists and is enabled, so
disabling a user locks them out at once. Every form carries a Flask-WTF CSRF token.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_wtf import CSRFProtect

from cat_engine.services.proctoring import Viewer

csrf = CSRFProtect()

#: Failed logins allowed per username and per address before a pause.
MAX_FAILURES = 5
LOCKOUT_S = 60.0
SESSION_HOURS = 12


def init_auth(app: Flask) -> None:
    """CSRF on every form and hardened session cookies; idempotent (every blueprint calls it)."""
    if "csrf" in app.extensions:
        return
    csrf.init_app(app)
    # Flask's defaults hold these keys already (SameSite None), so setdefault would not do.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    # Test rooms often run plain HTTP on a closed LAN; behind TLS set COOKIE_SECURE.
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("COOKIE_SECURE", False))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=SESSION_HOURS)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", SESSION_HOURS * 3600)
    app.extensions["cat_engine_login_failures"] = _Failures()


class _Failures:
    """Failed logins per key (username, address) in a sliding window: slows guessing."""

    def __init__(self) -> None:
        self._seen: dict[str, list[float]] = {}

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        for key in keys:
            recent = [t for t in self._seen.get(key, []) if now - t < LOCKOUT_S]
            self._seen[key] = recent
            if len(recent) >= MAX_FAILURES:
                return True
        return False

    def add(self, *keys: str) -> None:
        for key in keys:
            self._seen.setdefault(key, []).append(time.monotonic())

    def clear(self, *keys: str) -> None:
        for key in keys:
            self._seen.pop(key, None)


def site():
    return current_app.extensions["cat_engine"]


def log_in(username: str, password: str) -> Viewer | str:
    """The viewer on success, else the reason to show (never which part was wrong)."""
    from cat_engine.services.users import verify_password

    failures: _Failures = current_app.extensions["cat_engine_login_failures"]
    keys = (f"user:{username}", f"addr:{request.remote_addr}")
    if failures.blocked(*keys):
        return "locked"
    user = verify_password(site().store, username, password)
    if user is None:
        failures.add(*keys)
        return "bad_credentials"
    failures.clear(keys[0])
    session.clear()  # a fresh session: nothing from before the login survives
    session.permanent = True
    session["uid"] = user.id
    session["user"] = user.username
    session["role"] = user.role
    return Viewer(user.id, user.username, user.role)


def log_out() -> None:
    session.clear()


def current_viewer() -> Viewer | None:
    """The signed-in, still enabled user of this request (or Socket.IO connection)."""
    from cat_engine.services.users import get_user

    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    user = get_user(site().store, uid)
    if user is None or user.disabled:
        return None
    return Viewer(user.id, user.username, user.role)


def login_required(role: str | None = None) -> Callable:
    """View decorator: sign-in page for strangers, 403 for the wrong role."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            viewer = current_viewer()
            if viewer is None:
                return redirect(url_for("proctor.login", next=request.full_path))
            if role is not None and viewer.role != role:
                abort(403)
            return view(viewer, *args, **kwargs)

        return wrapper

    return decorate
