"""The append-only audit log, hash-chained so that any edit or deletion shows.

Each row stores the hash of the row before it; ``prev_hash`` is unique, so two writers that
raced for the same predecessor cannot both commit (the loser retries in a new transaction).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cat_engine.store.models import AuditEntry

GENESIS = "0" * 64
_HEAD = "audit_head"
#: On the table, compiled once: the ORM's per-call insert cost five times as much, and every
#: login and start of a room's connect storm appends an entry.
_INSERT = insert(AuditEntry.__table__)


def entry_hash(prev_hash: str, at_ms: int, actor: str, action: str, session_id: int | None,
               candidate_id: int | None, detail: dict[str, Any]) -> str:
    canonical = json.dumps(
        [prev_hash, at_ms, actor, action, session_id, candidate_id, detail],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(db: Session, *, at_ms: int, actor: str, action: str, session_id: int | None = None,
           candidate_id: int | None = None, detail: dict[str, Any] | None = None) -> str:
    """Add one entry in the caller's transaction, chained to the newest one; returns its hash.

    The chain's head is read once per transaction and then carried in ``db.info``, so a
    batch of a hundred entries costs one query, not a hundred.
    """
    detail = detail or {}
    prev = db.info.get(_HEAD)
    if prev is None:
        db.flush()
        prev = db.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
        prev = prev or GENESIS
    digest = entry_hash(prev, at_ms, actor, action, session_id, candidate_id, detail)
    db.execute(_INSERT, {"at_ms": at_ms, "actor": actor, "action": action,
                         "session_id": session_id, "candidate_id": candidate_id,
                         "detail": detail, "prev_hash": prev, "hash": digest})
    db.info[_HEAD] = digest
    return digest


def verify(db: Session) -> list[str]:
    """Every break in the chain, as readable problems (empty: the log is intact)."""
    problems = []
    prev = GENESIS
    for entry in db.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        if entry.prev_hash != prev:
            problems.append(f"audit entry {entry.id}: does not follow the entry before it")
        expected = entry_hash(entry.prev_hash, entry.at_ms, entry.actor, entry.action,
                              entry.session_id, entry.candidate_id, entry.detail)
        if entry.hash != expected:
            problems.append(f"audit entry {entry.id}: content does not match its hash")
        prev = entry.hash
    return problems
