"""The audit hash chain: one chain per exam session (chain 0 holds the site's own entries).

Entry ``n`` of chain ``c`` (n = 1, 2, ...) has

    hash_n = SHA-256(JCS({"v": 1, "chain": c, "seq": n, "prev": hash_{n-1}, "at_ms": ...,
                          "actor": ..., "action": ..., "candidate": ..., "detail": {...}}))

with ``hash_0 = GENESIS``. One chain per session means two server processes that run two
sessions never race for a shared predecessor, and a session's log can be exported and checked
alone. Keys alone do not stop a recomputed chain: :func:`verify_chain` checks it against the
heads the site signed (``scoring.integrity.heads``), which were shown on the public display.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scoring.integrity.canonical import digest

GENESIS = "0" * 64
VERSION = 1


def entry_hash(*, chain: int, seq: int, prev: str, at_ms: int, actor: str, action: str,
               candidate: int | None, detail: Mapping[str, Any]) -> str:
    return digest({"v": VERSION, "chain": chain, "seq": seq, "prev": prev, "at_ms": at_ms,
                   "actor": actor, "action": action, "candidate": candidate,
                   "detail": dict(detail)})


@dataclass(frozen=True)
class Entry:
    """One stored chain entry, as read back (``row`` names it in problems: a database id)."""

    row: Any
    chain: int
    seq: int
    prev: str
    hash: str
    at_ms: int
    actor: str
    action: str
    candidate: int | None
    detail: Mapping[str, Any]

    def expected_hash(self) -> str:
        return entry_hash(chain=self.chain, seq=self.seq, prev=self.prev, at_ms=self.at_ms,
                          actor=self.actor, action=self.action, candidate=self.candidate,
                          detail=self.detail)


@dataclass(frozen=True)
class Head:
    """A signed statement that chain ``chain`` had ``seq`` entries ending in ``hash`` (an
    anchor read off a screen may give only the hash's first hex digits)."""

    chain: int
    seq: int
    hash: str
    at_ms: int


def verify_chain(chain: int, entries: Iterable[Entry], heads: Iterable[Head] = ()) -> list[str]:
    """Problems of one chain, first failing entry first (empty: intact).

    ``entries`` in seq order. A deletion or insertion shows as a gap or a broken link; an edit
    as a hash mismatch; a reordering as a broken link; a truncation or a recomputed chain as
    a disagreement with a signed head (each head must be covered by the entries, with the
    same hash at its seq).
    """
    problems: list[str] = []
    by_seq: dict[int, str] = {}
    prev, expected_seq = GENESIS, 1
    for entry in entries:
        where = f"chain {chain} entry seq {entry.seq} (row {entry.row}, {entry.action})"
        if entry.seq != expected_seq:
            problems.append(f"{where}: expected seq {expected_seq}: an entry was "
                            f"{'deleted' if entry.seq > expected_seq else 'inserted or reordered'}")
        if entry.prev != prev:
            problems.append(f"{where}: does not follow the entry before it (its prev_hash is "
                            f"not that entry's hash): removed, inserted or reordered")
        if entry.expected_hash() != entry.hash:
            problems.append(f"{where}: content does not match its hash: edited")
        by_seq[entry.seq] = entry.hash
        prev, expected_seq = entry.hash, entry.seq + 1
    for head in sorted(heads, key=lambda h: h.seq):
        found = by_seq.get(head.seq)
        if found is None:
            problems.append(f"chain {chain}: the head signed at {head.at_ms} covers {head.seq} "
                            f"entries but seq {head.seq} is missing: the log was truncated")
        elif not found.startswith(head.hash):  # an anchor may give only a prefix
            problems.append(f"chain {chain} entry seq {head.seq}: differs from the head signed "
                            f"at {head.at_ms}: the chain was rewritten (recomputed) after signing")
    return problems
