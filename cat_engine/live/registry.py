"""Who is connected where: the terminal connection logged in as each candidate of this process,
and the address each candidate last logged in from.

A candidate's live state (services/candidate.py) carries ``sid``, the connection logged in as
them (its pushes and the console's "connected" go by it); this registry keeps the other way
round, connection -> candidate, and the connections of candidates dropped from memory, so
that a candidate rebuilt from the database stays logged in on the connection they had.
Plain dictionaries: only the process that owns a candidate's session ever holds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Connections:
    def __init__(self) -> None:
        #: socket id -> the candidate logged in on it
        self.by_sid: dict[str, int] = {}
        #: candidate id -> their socket id, while the candidate is not in memory
        self._parked: dict[int, str] = {}
        #: candidate id -> the address of their last login (address_changed alerts)
        self._address: dict[int, str] = {}

    def attach(self, cand: Any, sid: str) -> str | None:
        """``sid`` is logged in as ``cand`` now; the connection it replaces, if another."""
        old = cand.sid
        cand.sid = sid
        self.by_sid[sid] = cand.id
        if old and old != sid:
            self.by_sid.pop(old, None)
            return old
        return None

    def detach(self, sid: str) -> int | None:
        """The connection ``sid`` is gone (or no longer counts): the candidate it was."""
        return self.by_sid.pop(sid, None)

    def cut(self, cand: Any) -> None:
        """The candidate's connection no longer counts as theirs (released, or replaced)."""
        if cand.sid is not None:
            self.by_sid.pop(cand.sid, None)
            cand.sid = None

    def park(self, cand: Any) -> None:
        """The candidate leaves memory; their connection stays logged in."""
        if cand.sid is not None:
            self._parked[cand.id] = cand.sid

    def restore(self, cand: Any) -> None:
        """The candidate was rebuilt from the database: their connection, if they had one."""
        cand.sid = self._parked.pop(cand.id, None)

    def came_from(self, candidate_id: int, address: str) -> str | None:
        """The candidate logged in from ``address``; the address of their login before."""
        previous = self._address.get(candidate_id)
        self._address[candidate_id] = address
        return previous

    def drop(self, cands: Iterable[Any]) -> list[str]:
        """Forget the connections of these candidates (their session is served elsewhere
        now); the socket ids, to be disconnected."""
        sids = []
        for cand in cands:
            self._address.pop(cand.id, None)
            if cand.sid is not None:
                sids.append(cand.sid)
                self.by_sid.pop(cand.sid, None)
            sid = self._parked.pop(cand.id, None)
            if sid is not None:
                sids.append(sid)
                self.by_sid.pop(sid, None)
        return sids
