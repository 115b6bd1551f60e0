"""The server's clock and the arithmetic of a candidate's exam time.

The server's wall clock is the only clock: terminals display what it says. A candidate's
deadline is ``started + allowed + extension + paused + outage`` (see docs/operations.md for the
outage policy); the functions here are pure so they can be checked without a server.

An exam with timed blocks (``Exam.time_blocks``: PPPK's 120 shared minutes, then 10 for the
interview) runs them in order on the same clock. *Worked* time is elapsed time minus pauses,
outages and extensions; the current block ends when worked time reaches ``block_end_ms``.
Closing a block early gives up its unused time (``allowed_ms`` shrinks by it): see
docs/operations.md. A clock without ``block_end_ms`` (one block, or a row older than blocks)
ends its block at ``allowed_ms``, which is exactly the single deadline of before.
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
    #: Index of the current time block, and where it started and ends in worked time.
    block: int
    block_start_ms: int
    block_end_ms: int | None


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


def _offset(clock: ClockState) -> int:
    """Wall time that does not count as worked: the start, pauses, outages, extensions."""
    return clock.started_ms + clock.extension_ms + clock.paused_ms + clock.outage_ms


def block_end_ms(clock: ClockState) -> int:
    """Worked time at which the current block ends."""
    return clock.allowed_ms if clock.block_end_ms is None else clock.block_end_ms


def worked_ms(clock: ClockState, now: int) -> int:
    """Exam time the candidate has used so far (frozen while paused)."""
    at = clock.paused_since_ms if clock.paused_since_ms is not None else now
    return at - _offset(clock)


def block_deadline_ms(clock: ClockState) -> int | None:
    """When the current block's time runs out, or None while paused."""
    if clock.paused_since_ms is not None:
        return None
    return _offset(clock) + block_end_ms(clock)


def block_remaining_ms(clock: ClockState, now: int) -> int:
    """Time left in the current block, never negative; frozen while paused."""
    return max(0, block_end_ms(clock) - worked_ms(clock, now))


def next_block(clock: ClockState, block_ms: int, *, at_worked: int | None = None
               ) -> tuple[int, int, int]:
    """``(allowed_ms, block_start_ms, block_end_ms)`` once the current block closes.

    ``at_worked`` is the worked time of an early close: the block's unused time is given up,
    so the exam's allowance shrinks by it. None: the block ran out; the next one starts at
    its end, however late the server noticed.
    """
    end = block_end_ms(clock)
    if at_worked is None or at_worked >= end:
        return clock.allowed_ms, end, end + block_ms
    start = max(at_worked, clock.block_start_ms)
    return clock.allowed_ms - (end - start), start, start + block_ms
