"""Proctor and admin accounts: argon2id password hashes, roles, session assignments."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from cat_engine.clock import now_ms
from cat_engine.services.sessions import SetupError
from cat_engine.store import Store, audit
from cat_engine.store.models import USER_ROLES, ProctorAssignment, User

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._\-]{1,63}$")
MIN_PASSWORD = 8


def add_user(store: Store, username: str, password: str, role: str = "proctor", *,
             actor: str = "cli") -> User:
    if not USERNAME_RE.fullmatch(username):
        raise SetupError(f"username {username!r}: 2-64 lower-case letters, digits, '.', '_', '-'")
    if role not in USER_ROLES:
        raise SetupError(f"role {role!r}: one of {', '.join(USER_ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise SetupError(f"the password needs at least {MIN_PASSWORD} characters")
    now = now_ms()
    with store.transaction() as db:
        if db.scalar(select(User.id).where(User.username == username)) is not None:
            raise SetupError(f"user {username!r} exists already")
        user = User(username=username, password_hash=_hasher.hash(password), role=role,
                    disabled=False, created_ms=now)
        db.add(user)
        db.flush()
        audit.append(db, at_ms=now, actor=actor, action="user_add",
                     detail={"username": username, "role": role})
        db.expunge(user)
        return user


def find_user(store: Store, username: str) -> User | None:
    """The enabled account of that name, or None."""
    with store.read() as db:
        user = db.scalar(select(User).where(User.username == username))
        if user is None or user.disabled:
            return None
        db.expunge(user)
        return user


def check_password(user: User | None, password: str) -> bool:
    """argon2id check (slow on purpose: call it off the event loop). ``user`` None spends the
    same time, so the reply does not reveal which names exist."""
    if user is None:
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def end_sessions(store: Store, user_id: int) -> None:
    """Void every signed-in session of the account (its cookies carry the old epoch)."""
    store.write(lambda db: db.execute(update(User).where(User.id == user_id)
                                      .values(session_epoch=User.session_epoch + 1)))


def assign(store: Store, username: str, session_id: int, *, actor: str = "cli") -> None:
    with store.transaction() as db:
        user = db.scalar(select(User).where(User.username == username))
        if user is None:
            raise SetupError(f"no user {username!r}")
        if db.get(ProctorAssignment, (user.id, session_id)) is None:
            db.add(ProctorAssignment(user_id=user.id, session_id=session_id))
            audit.append(db, at_ms=now_ms(), actor=actor, action="assign",
                         session_id=session_id, detail={"username": username})


def list_users(store: Store) -> list[dict]:
    """Every account with its role, state and assigned session ids (no hashes)."""
    with store.read() as db:
        assigned: dict[int, list[int]] = {}
        for user_id, session_id in db.execute(
                select(ProctorAssignment.user_id, ProctorAssignment.session_id)):
            assigned.setdefault(user_id, []).append(session_id)
        return [{"id": u.id, "username": u.username, "role": u.role, "disabled": u.disabled,
                 "sessions": sorted(assigned.get(u.id, []))}
                for u in db.scalars(select(User).order_by(User.username))]


def set_disabled(store: Store, username: str, disabled: bool = True, *,
                 actor: str = "cli") -> None:
    """Disable (or enable again) an account; its open consoles lose access at once."""
    with store.transaction() as db:
        user = db.scalar(select(User).where(User.username == username))
        if user is None:
            raise SetupError(f"no user {username!r}")
        user.disabled = disabled
        user.session_epoch += 1  # a disabled account's open consoles end at once
        audit.append(db, at_ms=now_ms(), actor=actor,
                     action="user_disable" if disabled else "user_enable",
                     detail={"username": username})


def get_user(store: Store, user_id: int) -> User | None:
    """The account, or None if it does not exist."""
    with store.read() as db:
        user = db.get(User, user_id)
        if user is not None:
            db.expunge(user)
        return user
