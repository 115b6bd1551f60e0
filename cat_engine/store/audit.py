"""The append-only audit log: one hash chain per exam session (scoring.integrity.chain).

Chain ``session_id`` holds every state change of a session, each answer event included;
chain 0 holds the site's own entries (users, outages). ``(chain, seq)`` is unique, so two
writers that raced for the same predecessor cannot both commit (the loser's transaction
fails and is retried). Each transaction reads a chain's head once and then carries it in
``db.info``, so a batch of a hundred answers of one session costs one query, not a hundred.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from cat_engine.store.models import AuditEntry
from scoring.integrity.canonical import canonical
from scoring.integrity.chain import GENESIS, VERSION, Entry, Head, entry_hash

__all__ = ["GENESIS", "INSERT", "append", "deferred", "entries"]

_HEADS = "audit_heads"
#: On the table, compiled once: the ORM's per-call insert cost five times as much, and every
#: login, start and answer of a room appends an entry.
INSERT = insert(AuditEntry.__table__)
_t = AuditEntry.__table__
_HEAD_QUERY = (select(_t.c.seq, _t.c.hash).where(_t.c.chain == bindparam("chain"))
               .order_by(_t.c.seq.desc()).limit(1))


def _row(db: Session, *, at_ms: int, actor: str, action: str, session_id: int | None,
         candidate_id: int | None, detail: dict[str, Any]) -> dict[str, Any]:
    """The next entry's row of its session's chain, and the chain's new head in ``db.info``."""
    chain = session_id or 0
    heads = db.info.setdefault(_HEADS, {})
    head = heads.get(chain)
    if head is None:
        cache = db.info.get(CACHE)
        head = cache.get(chain) if cache is not None else None
    if head is None:
        if db.new or db.dirty:
            db.flush()
        # Core, on the session's connection: through the ORM this one query cost a
        # millisecond, more than the rest of an answer's commit.
        last = db.connection().execute(_HEAD_QUERY, {"chain": chain}).first()
        head = (last[0], last[1]) if last is not None else (0, GENESIS)
    seq, prev = head[0] + 1, head[1]
    digest = _entry_hash(chain, seq, prev, at_ms, actor, action, candidate_id, detail)
    heads[chain] = (seq, digest)
    return {"chain": chain, "seq": seq, "at_ms": at_ms, "actor": actor, "action": action,
            "session_id": session_id, "candidate_id": candidate_id, "detail": detail,
            "prev_hash": prev, "hash": digest}


_SAFE_INT = 2**53 - 1


def _plain(text: Any) -> bool:
    """A string JCS writes as itself between quotes (printable ASCII, nothing to escape)."""
    return (type(text) is str and text.isascii() and text.isprintable() and '"' not in text
            and "\\" not in text)


def _safe(number: Any) -> bool:
    return type(number) is int and -_SAFE_INT <= number <= _SAFE_INT


def _entry_hash(chain: int, seq: int, prev: str, at_ms: int, actor: str, action: str,
                candidate: int | None, detail: dict[str, Any]) -> str:
    """``scoring.integrity.chain.entry_hash``, the envelope written from a template: every
    answer appends an entry on the writer thread, and building and canonicalising the
    envelope's dictionary cost more than hashing it. Anything the template does not
    cover exactly takes entry_hash itself (tests/load/test_write_path.py checks the two
    agree)."""
    if not (_plain(action) and _plain(actor) and _plain(prev) and _safe(at_ms)
            and _safe(chain) and _safe(seq) and (candidate is None or _safe(candidate))
            and type(detail) is dict):
        return entry_hash(chain=chain, seq=seq, prev=prev, at_ms=at_ms, actor=actor,
                          action=action, candidate=candidate, detail=detail)
    who = "null" if candidate is None else candidate
    # Keys in JCS order (sorted); no whitespace.
    return hashlib.sha256(b"".join((
        f'{{"action":"{action}","actor":"{actor}","at_ms":{at_ms},"candidate":{who},'
        f'"chain":{chain},"detail":'.encode(),
        canonical(detail),
        f',"prev":"{prev}","seq":{seq},"v":{VERSION}}}'.encode()))).hexdigest()


#: ``Session.info`` key of the heads the group commit's sessions committed (chain -> (seq,
#: hash)), so that an answer's transaction does not query its chain's head. Kept true by
#: :func:`track_heads`; a head another process appended past makes the unique (chain, seq)
#: refuse the batch, whose rollback drops the cached head (the writer then retries).
CACHE = "audit_head_cache"


def track_heads(sessions, cache: dict, *, owner: bool) -> None:
    """Keep ``cache`` in step with what ``sessions`` commit. The owner's sessions read and
    fill it; the others' (direct transactions beside the group commit) drop the chains they
    appended to, so the owner re-reads those heads."""
    from sqlalchemy import event

    if owner:
        sessions.configure(info={CACHE: cache})

    @event.listens_for(sessions, "after_commit")
    def _committed(db: Session) -> None:
        if owner:
            heads_committed(db.info)
        else:
            for chain in db.info.pop(_HEADS, None) or {}:
                cache.pop(chain, None)

    @event.listens_for(sessions, "after_soft_rollback")
    def _rolled_back(db: Session, _previous) -> None:
        heads_dropped(db.info, cache)


def heads_committed(info: dict) -> None:
    """The owner's transaction with this ``info`` committed: the chain heads it appended
    are the chains' heads now (``info`` holds the owner's cache)."""
    info[CACHE].update(info.pop(_HEADS, None) or {})


def heads_dropped(info: dict, cache: dict) -> None:
    """A transaction with this ``info`` failed: forget the cached heads of the chains it
    appended to, which another process may have moved (the next transaction reads them)."""
    for chain in info.pop(_HEADS, None) or {}:
        cache.pop(chain, None)


def append(db: Session, *, at_ms: int, actor: str, action: str, session_id: int | None = None,
           candidate_id: int | None = None, detail: dict[str, Any] | None = None) -> str:
    """Add one entry in the caller's transaction, chained to its session's newest; returns
    its hash."""
    row = _row(db, at_ms=at_ms, actor=actor, action=action, session_id=session_id,
               candidate_id=candidate_id, detail=detail or {})
    db.execute(INSERT, row)
    return row["hash"]


def head(db: Session, session_id: int | None) -> tuple[int, str]:
    """(seq, hash) of the newest entry this transaction appended to the session's chain."""
    return db.info[_HEADS][session_id or 0]


def deferred(*, at_ms: int, actor: str, action: str, session_id: int | None,
             candidate_id: int | None, detail: dict[str, Any]
             ) -> tuple[Any, Callable[[Session], dict[str, Any]]]:
    """An entry for :class:`cat_engine.store.Rows`: chained when the writer applies it, so
    the answer and its entry commit together and merge into the batch's executemany."""
    return INSERT, lambda db: _row(db, at_ms=at_ms, actor=actor, action=action,
                                   session_id=session_id, candidate_id=candidate_id,
                                   detail=detail)


def chains(db: Session) -> list[int]:
    return list(db.scalars(select(AuditEntry.chain).distinct().order_by(AuditEntry.chain)))


def entries(db: Session, chain: int) -> Iterator[Entry]:
    """A chain's entries in seq order, as ``scoring.integrity.chain`` checks them."""
    rows = db.execute(select(AuditEntry).where(AuditEntry.chain == chain)
                      .order_by(AuditEntry.seq, AuditEntry.id)).scalars()
    for r in rows:
        yield Entry(row=r.id, chain=r.chain, seq=r.seq, prev=r.prev_hash, hash=r.hash,
                    at_ms=r.at_ms, actor=r.actor, action=r.action, candidate=r.candidate_id,
                    detail=r.detail)


def answer_problems(db: Session) -> list[str]:
    """Answer and flag rows that disagree with their session's chain, either way round.

    The chain entry of an answer is written in the answer's own transaction, so any later
    change to ``answer_events`` (edited, deleted or added) shows here."""
    from cat_engine.store.models import AnswerEvent, Candidate

    logged: dict[tuple[int, int], tuple] = {}
    for cid, seq_row, action, detail, at_ms in db.execute(
            select(AuditEntry.candidate_id, AuditEntry.id, AuditEntry.action,
                   AuditEntry.detail, AuditEntry.at_ms)
            .where(AuditEntry.action.in_(("answer", "flag")))):
        logged[(cid, detail.get("seq"))] = (action, detail.get("position"),
                                            detail.get("value"), at_ms, seq_row)
    problems = []
    for row in db.execute(select(AnswerEvent, Candidate.registration)
                          .join(Candidate, Candidate.id == AnswerEvent.candidate_id)
                          .where(AnswerEvent.kind.in_(("answer", "flag")))
                          .order_by(AnswerEvent.id)):
        event, registration = row
        where = (f"answer row {event.id} (candidate {registration}, seq {event.seq}, "
                 f"{event.kind})")
        entry = logged.pop((event.candidate_id, event.seq), None)
        if entry is None:
            problems.append(f"{where}: has no entry in the audit chain: added after the fact")
        elif entry[:4] != (event.kind, event.position, event.value, event.server_ms):
            problems.append(f"{where}: differs from audit entry row {entry[4]} "
                            f"(position {entry[1]}, value {entry[2]}): the answer was changed")
    for (cid, seq), entry in logged.items():
        problems.append(f"audit entry row {entry[4]} ({entry[0]} of candidate id {cid}, seq "
                        f"{seq}): its answer row is missing: deleted")
    return problems


def signed_heads(db: Session, public_key, problems: list[str]) -> dict[int, list[Head]]:
    """The stored heads whose signature verifies with ``public_key``, per chain; every other
    head is a problem (a forged or altered head proves nothing)."""
    from cat_engine.store.models import AuditHead
    from scoring.integrity import heads as signed

    good: dict[int, list[Head]] = {}
    for row in db.scalars(select(AuditHead).order_by(AuditHead.chain, AuditHead.seq)):
        head = Head(chain=row.chain, seq=row.seq, hash=row.hash, at_ms=row.signed_ms)
        if public_key is None or not signed.verify(public_key, head, row.signature):
            problems.append(f"signed head row {row.id} (chain {row.chain}, seq {row.seq}): "
                            f"the signature does not verify with the site key: forged or "
                            f"altered")
            continue
        good.setdefault(row.chain, []).append(head)
    return good


def verify(db: Session, public_key=None, anchors: dict[int, list[Head]] | None = None
           ) -> list[str]:
    """Every problem of every chain (first failing entry first), checked against the heads
    the site signed (and ``anchors``: heads known from outside, such as a photographed
    display), and of the answer rows; empty: the log is intact."""
    from scoring.integrity.chain import verify_chain

    problems: list[str] = []
    heads = signed_heads(db, public_key, problems)
    for chain, extra in (anchors or {}).items():
        heads.setdefault(chain, []).extend(extra)
    for chain in sorted(set(chains(db)) | set(heads)):
        problems += verify_chain(chain, entries(db, chain), heads.get(chain, ()))
    return problems + answer_problems(db)
