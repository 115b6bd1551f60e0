"""What services ask the live layer to send, and where.

Services never touch sockets: they return :class:`Emit` records, and the namespace that called
them (or the scheduler) sends them. Rooms are how the other audiences subscribe:

- ``/candidate`` room ``cand:<candidate_id>``: the candidate's terminal;
- ``/proctor`` room ``proctor:<session_id>``: ``progress`` and ``alert`` diffs;
- ``/display`` room ``display:<session_id>``: ``score`` diffs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CANDIDATE_NS = "/candidate"
PROCTOR_NS = "/proctor"
DISPLAY_NS = "/display"


@dataclass(frozen=True)
class Emit:
    event: str
    data: dict[str, Any]
    room: str
    namespace: str


def candidate_room(candidate_id: int) -> str:
    return f"cand:{candidate_id}"


def proctor_room(session_id: int) -> str:
    return f"proctor:{session_id}"


def display_room(session_id: int) -> str:
    return f"display:{session_id}"


def to_candidate(candidate_id: int, event: str, data: dict[str, Any]) -> Emit:
    return Emit(event, data, candidate_room(candidate_id), CANDIDATE_NS)


def to_proctors(session_id: int, event: str, data: dict[str, Any]) -> Emit:
    return Emit(event, data, proctor_room(session_id), PROCTOR_NS)


def to_display(session_id: int, event: str, data: dict[str, Any]) -> Emit:
    return Emit(event, data, display_room(session_id), DISPLAY_NS)
