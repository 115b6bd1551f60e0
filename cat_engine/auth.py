"""Who may use the proctor console and the admin pages.

Accounts live in the site database (argon2id hashes, roles ``admin`` and ``proctor``; see
:mod:`cat_engine.services.users`). A successful login stores the user's id and the account's
session epoch in Flask's signed session cookie (HttpOnly, SameSite=Lax, Secure when the site
runs behind TLS); every request and every Socket.IO event checks again that the account exists,
is enabled and still has that epoch, so disabling a user or logging out (both raise the epoch)
ends every session of that account at once, whatever cookie copies remain.

Password checks run in OS threads (:class:`cat_engine.services.passwords.PasswordPool`), after
the database-held limits on failures per account and per address (so they hold across server
processes and a flood is refused before any hashing). Every form carries a CSRF token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_wtf import CSRFProtect

from cat_engine.services.proctoring import Viewer

csrf = CSRFProtect()

#: Failed logins allowed per account from one address, and per address, before a pause of
#: LOCKOUT_S; and per account from everywhere (a distributed guesser), set higher so that a
#: stranger cannot easily lock a proctor out of their own console.
MAX_FAILURES = 5
ACCOUNT_FAILURES = 100
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


def limit_keys(username: str, what: str = "user") -> list[tuple[str, int]]:
    """The guard keys (with their limits) a console login or a bank passphrase counts
    against: the account from this address, this address, the account."""
    from cat_engine.proxy import remote_address

    address = remote_address()
    return [(f"{what}:{username}@{address}", MAX_FAILURES),
            (f"{what}-addr:{address}", MAX_FAILURES), (f"{what}:{username}", ACCOUNT_FAILURES)]


def checked_secret(keys: list[tuple[str, int]], check: Callable[[], bool]) -> str | None:
    """Run ``check`` (argon2: in the password pool) unless a key is blocked; count a failure
    against each key. None when it passed, else "locked", "busy" or "wrong"."""
    from cat_engine.services.errors import ServiceError

    guard = site().guard
    now = guard.now()
    limits = guard.read(k for k, _limit in keys)
    blocked = [k for k, _limit in keys if k in limits and limits[k].blocked(now)]
    outcome = "locked" if blocked else None
    if outcome is None:
        try:
            outcome = None if site().passwords.run(check) else "wrong"
        except ServiceError:
            return "busy"
    # A refused try still counts against the keys not yet blocked (a new address trying a
    # locked account gets blocked too), without any hashing.
    for key, limit in keys:
        if outcome is not None and key not in blocked:
            guard.fail(key, limit=limit, hold_ms=round(LOCKOUT_S * 1000))
    return outcome


def site():
    return current_app.extensions["cat_engine"]


def log_in(username: str, password: str) -> Viewer | str:
    """The viewer on success, else the reason to show ("locked", "busy", "bad_credentials";
    never which part was wrong)."""
    from cat_engine.services.users import check_password, find_user

    user = find_user(site().store, username)
    outcome = checked_secret(limit_keys(username), lambda: check_password(user, password))
    if outcome is not None:
        return "bad_credentials" if outcome == "wrong" else outcome
    session.clear()  # a fresh session: nothing from before the login survives
    session.permanent = True
    session["uid"] = user.id
    session["user"] = user.username
    session["role"] = user.role
    session["epoch"] = user.session_epoch
    return Viewer(user.id, user.username, user.role)


def log_out() -> None:
    """End the session here and everywhere: the account's epoch moves on, so any copy of
    the cookie (another tab, a stolen copy) is refused from now on."""
    from cat_engine.services.users import end_sessions

    uid = session.get("uid")
    if isinstance(uid, int):
        end_sessions(site().store, uid)
    session.clear()


def current_viewer() -> Viewer | None:
    """The signed-in, still enabled user of this request (or Socket.IO event), whose
    session was not ended since."""
    from cat_engine.services.users import get_user

    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    user = get_user(site().store, uid)
    if user is None or user.disabled or session.get("epoch") != user.session_epoch:
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
