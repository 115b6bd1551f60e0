"""The sessions this server process owns: their leases, fences and renewal.

A process serves (caches and writes) the candidates of a session only while it holds the
session's lease (store/lease.py). Leases are renewed every heartbeat; one that cannot be
renewed was taken by another process, and its session must be dropped from memory at once.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable

from cat_engine.services.errors import ServiceError
from cat_engine.store import Store
from cat_engine.store import lease as leases
from cat_engine.store.lease import Grant


def process_owner() -> str:
    """An owner name unique to this process (and this Site object): host, pid and a nonce."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class Ownership:
    """The leases held by one server process.

    ``steal``: take a session even while another owner's lease runs (a single SQLite process,
    whose data-directory lock proves that the previous owner is dead).
    """

    def __init__(self, store: Store, now: Callable[[], int], *, owner: str | None = None,
                 ttl_ms: int = 4000, steal: bool = False):
        self.store = store
        self.now = now
        self.owner = owner or process_owner()
        self.ttl_ms = ttl_ms
        self.steal = steal
        #: session id -> fence of each lease held
        self.held: dict[int, int] = {}
        #: session id -> when this process handed it to another that asked for it
        self.handed_over: dict[int, int] = {}

    def fence(self, session_id: int) -> tuple[int, int]:
        """The fence a write of this session carries; refused when the session is not ours."""
        fence = self.held.get(session_id)
        if fence is None:
            raise ServiceError("elsewhere", f"session {session_id} is served by another "
                               "server process")
        return session_id, fence

    def acquire(self, session_id: int) -> Grant | None:
        """Take the session's lease; the caller records it in ``held`` once the session is
        ready to be served (until then, nothing may be loaded or written under it)."""
        now = self.now()
        return self.store.write(lambda db: leases.acquire(
            db, session_id, self.owner, now, self.ttl_ms, steal=self.steal))

    def renew(self) -> tuple[list[int], list[int]]:
        """Renew every lease held: (sessions lost to another process, sessions wanted by
        another process)."""
        now = self.now()
        held = dict(self.held)
        if not held:
            return [], []

        def work(db):
            return {sid: leases.renew(db, sid, fence, now, self.ttl_ms)
                    for sid, fence in held.items()}
        outcome = self.store.write(work)
        lost = [sid for sid, (ours, _wanted) in outcome.items() if not ours]
        # Asked for within the last few seconds: a stale request is forgotten.
        wanted = [sid for sid, (ours, at) in outcome.items()
                  if ours and at is not None and now - at < 2 * self.ttl_ms]
        for sid in lost:
            self.held.pop(sid, None)
        return lost, wanted

    def release(self, session_id: int, *, served: bool = True, fence: int | None = None,
                handover: bool = False) -> None:
        fence = self.held.pop(session_id, None) or fence
        if fence is not None:
            now = self.now()
            if handover:
                self.handed_over[session_id] = now
            self.store.write(lambda db: leases.release(db, session_id, fence, now,
                                                       served=served))

    def release_all(self) -> None:
        for session_id in list(self.held):
            self.release(session_id)

    def served_elsewhere(self, session_id: int) -> bool:
        """Another live process holds the session's lease."""
        if session_id in self.held:
            return False
        with self.store.read() as db:
            owner = leases.live_owner(db, session_id, self.now())
        return owner is not None and owner != self.owner

    def want(self, session_id: int) -> None:
        now = self.now()
        self.store.write(lambda db: leases.want(db, session_id, now))

    def orphans(self, session_ids: list[int]) -> list[int]:
        """Of these sessions, those no live process has owned for two lease periods (the
        process that receives a dead owner's terminals takes their session first), leaving
        out those this process handed over lately."""
        now = self.now()
        recent = {s for s, at in self.handed_over.items() if now - at < 3 * self.ttl_ms}
        with self.store.read() as db:
            return leases.expired(
                db, [s for s in session_ids if s not in self.held and s not in recent], now,
                grace_ms=2 * self.ttl_ms)
