"""The server's clock and the arithmetic of a candidate's exam time.

The server's wall clock is the only clock: terminals display what it says. A candidate's
deadline is ``started + allowed + extension + paused + outage`` (see docs/operations.md for the
outage policy); the functions here are pure so they can be checked without a server.
"""

from __future__ import annotations

import time
from typing import Protocol


def now_ms() -> int:
    """Milliseconds since the epoch (UTC) on the server."""
    return time.time_ns() // 1_000_000


class ClockState(Protocol):
    started_ms: int
    allowed_ms: int
    extension_ms: int
    paused_ms: int
    paused_since_ms: int | None
    outage_ms: int


def allowed_ms(minutes: float, extra_minutes: float = 0) -> int:
    """Exam time for one candidate: the exam's minutes (with its accommodation) plus extra."""
    return round((minutes + extra_minutes) * 60_000)


def deadline_ms(clock: ClockState) -> int | None:
    """When the candidate's time runs out, or None while paused (the clock is stopped)."""
    if clock.paused_since_ms is not None:
        return None
    return (clock.started_ms + clock.allowed_ms + clock.extension_ms + clock.paused_ms
            + clock.outage_ms)


def remaining_ms(clock: ClockState, now: int) -> int:
    """Time left, never negative; frozen at its value when the pause began."""
    at = clock.paused_since_ms if clock.paused_since_ms is not None else now
    end = (clock.started_ms + clock.allowed_ms + clock.extension_ms + clock.paused_ms
           + clock.outage_ms)
    return max(0, end - at)
