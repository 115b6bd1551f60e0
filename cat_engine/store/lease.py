"""Session leases in the database: taking, renewing and releasing ownership of an exam session,
and the fencing check that every write of a session carries (docs/deploy.md, "Ownership").

The fence is checked by the database itself: a write transaction first touches the lease row
``WHERE session_id = :s AND fence = :f``; no row means another process took the session since
the writer got its fence, and the write is refused (:class:`LeaseLost`). On PostgreSQL the
touch also locks the row until commit, so a takeover waits for a write already under way
instead of overtaking it; on SQLite every write transaction holds the database's write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cat_engine.store.models import SessionLease

_leases = SessionLease.__table__
#: (session id, fence) of one write
Fence = tuple[int, int]


class LeaseLost(Exception):
    """A write of a session this process no longer owns: refused by the database."""

    def __init__(self, session_id: int):
        super().__init__(f"session {session_id} is owned by another server process now")
        self.session_id = session_id


@dataclass(frozen=True)
class Grant:
    """A lease taken: its fence, and when the session was last served by anyone (None: never,
    or served by this very owner until now)."""

    fence: int
    last_served_ms: int | None


#: The fence check's touch: compiled once per dialect (see :func:`lost_fences`).
_TOUCH = update(_leases).where(
    _leases.c.session_id == bindparam("lease_session"),
    _leases.c.fence == bindparam("lease_fence"),
).values(fence=_leases.c.fence)
#: dialect name -> (SQL text, parameter names in order, None for a named paramstyle)
_TOUCH_SQL: dict[str, tuple[str, list[str] | None]] = {}


def lost_fences(db: Session, fences: set[Fence]) -> set[Fence]:
    """Touch each fenced session's lease row in this transaction; the fences that are stale.

    Every group commit runs this once per fenced session, in the writer thread holding the
    GIL: building the UPDATE and executing it through the session cost about 120 us a
    transaction, the same SQL compiled once and run on the driver 11 us.
    """
    lost = set()
    if not fences:
        return lost
    conn = db.connection()
    dialect = conn.dialect
    plan = _TOUCH_SQL.get(dialect.name)
    if plan is None:
        compiled = _TOUCH.compile(dialect=dialect)
        plan = _TOUCH_SQL[dialect.name] = (
            compiled.string, list(compiled.positiontup) if dialect.positional else None)
    sql, order = plan
    for session_id, fence in fences:
        params = {"lease_session": session_id, "lease_fence": fence}
        touched = conn.exec_driver_sql(
            sql, params if order is None else tuple(params[name] for name in order))
        if touched.rowcount == 0:
            lost.add((session_id, fence))
    return lost


def fence_guard(fences: list[Fence], writes: Sequence[tuple[str, tuple]] = ()
                ) -> tuple[str, tuple]:
    """PostgreSQL: one statement (SQL text and parameters, psycopg's placeholders) touching
    each fenced session's lease row, as :func:`lost_fences` does, that *fails* when any fence
    is stale, which aborts its transaction: the writer can then send it, its rows and COMMIT
    in one pipeline without waiting for its result (store/writer.py), and the database still
    refuses a deposed owner's writes. Which fence was stale, the writer finds out again with
    :func:`lost_fences`.

    ``writes``: data-modifying statements (SQL, parameters) made part of this one statement
    (WITH clauses, each run once and to completion): all of them take effect, or none when a
    fence is stale. With no fences, the statement is just the writes."""
    ctes = []
    if fences:
        pairs = ", ".join(["(%s, %s)"] * len(fences))
        ctes.append(f"touched AS (UPDATE {_leases.name} SET fence = fence "
                    f"WHERE (session_id, fence) IN ({pairs}) RETURNING 1)")
    ctes += [f"write_{n} AS ({sql})" for n, (sql, _params) in enumerate(writes)]
    # The CASE's failing branch depends on count(*), so PostgreSQL cannot fold it early.
    check = (f"SELECT CASE WHEN count(*) = {len(fences)} THEN 1 "
             f"ELSE ('lease lost: ' || count(*))::int END FROM touched" if fences
             else "SELECT 1")
    params = tuple(n for fence in fences for n in fence)
    for _sql, more in writes:
        params += tuple(more)
    return (f"WITH {', '.join(ctes)} {check}" if ctes else check), params


def acquire(db: Session, session_id: int, owner: str, now: int, ttl_ms: int, *,
            steal: bool = False) -> Grant | None:
    """Take the session's lease if it is free, expired or ours (``steal``: whoever holds it);
    None when another live process holds it (or won the race for it)."""
    row = db.execute(select(_leases).where(_leases.c.session_id == session_id)).first()
    if row is None:
        try:
            with db.begin_nested():
                db.execute(insert(_leases).values(session_id=session_id, owner=owner, fence=1,
                                                  expires_ms=now + ttl_ms, renewed_ms=now))
        except IntegrityError:  # another process created it first
            return None
        return Grant(1, None)
    mine = row.owner == owner
    if not mine and row.owner is not None and row.expires_ms > now and not steal:
        return None
    fence = row.fence if mine else row.fence + 1
    taken = db.execute(update(_leases).where(
        _leases.c.session_id == session_id, _leases.c.fence == row.fence,
    ).values(owner=owner, fence=fence, expires_ms=now + ttl_ms, renewed_ms=now,
             wanted_ms=None))
    if taken.rowcount == 0:
        return None
    return Grant(fence, None if mine else row.renewed_ms)


def renew(db: Session, session_id: int, fence: int, now: int, ttl_ms: int
          ) -> tuple[bool, int | None]:
    """(still ours, when another process last asked for the session)."""
    renewed = db.execute(update(_leases).where(
        _leases.c.session_id == session_id, _leases.c.fence == fence,
    ).values(expires_ms=now + ttl_ms, renewed_ms=now))
    if renewed.rowcount == 0:
        return False, None
    return True, db.scalar(select(_leases.c.wanted_ms)
                           .where(_leases.c.session_id == session_id))


def release(db: Session, session_id: int, fence: int, now: int, *, served: bool) -> None:
    """Give the session up. ``served``: this process served it until ``now`` (a handover or a
    clean stop), so the next owner credits only the time from here; otherwise the outage
    still runs from the last renewal."""
    values: dict = {"owner": None, "expires_ms": 0}
    if served:
        values["renewed_ms"] = now
    db.execute(update(_leases).where(_leases.c.session_id == session_id,
                                     _leases.c.fence == fence).values(**values))


def want(db: Session, session_id: int, now: int) -> None:
    """Ask the owner to hand the session over (its terminals now reach another process)."""
    db.execute(update(_leases).where(_leases.c.session_id == session_id)
               .values(wanted_ms=now))


def live_owner(db: Session, session_id: int, now: int) -> str | None:
    """The process whose lease on the session runs at ``now``; None when nobody's does."""
    return db.scalar(select(_leases.c.owner).where(
        _leases.c.session_id == session_id, _leases.c.owner.is_not(None),
        _leases.c.expires_ms > now))


def expired(db: Session, session_ids: list[int], now: int, grace_ms: int = 0) -> list[int]:
    """Of these sessions, those that no live process owns (no lease, released, or expired
    for more than ``grace_ms``)."""
    if not session_ids:
        return []
    held = set(db.scalars(select(_leases.c.session_id).where(
        _leases.c.session_id.in_(session_ids), _leases.c.owner.is_not(None),
        _leases.c.expires_ms > now - grace_ms)))
    return [s for s in session_ids if s not in held]
