"""The guessing limits as plain data, on a controlled clock: when a lockout starts and ends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cat_engine.services.guard import MAX_ENTRIES, LoginGuard


class Clock:
    def __init__(self):
        self.at = 1_000_000

    def __call__(self) -> int:
        return self.at


def test_a_lockout_ends_after_the_cool_down_from_the_last_wrong_pin():
    clock = Clock()
    guard = LoginGuard(max_failures=3, lockout_s=60, now=clock)
    assert [guard.wrong_pin("R1") for _ in range(3)] == [False, False, True]
    assert guard.locked_until("R1") == clock.at + 60_000
    clock.at += 59_999
    assert guard.locked_until("R1") is not None
    clock.at += 1
    assert guard.locked_until("R1") is None
    assert guard.wrong_pin("R1") is False  # counting starts again from zero


def test_a_release_ends_a_lockout_at_once():
    guard = LoginGuard(max_failures=2, now=Clock())
    guard.wrong_pin("R1")
    guard.wrong_pin("R1")
    assert guard.locked_until("R1") is not None
    guard.unlock("R1")
    assert guard.locked_until("R1") is None


def test_wrong_tokens_block_each_source_that_reached_the_limit():
    clock = Clock()
    guard = LoginGuard(token_failures=2, token_cooldown_s=10, now=clock)
    guard.wrong_token(["terminal:A", "address:10.0.0.1"])
    guard.wrong_token(["terminal:B", "address:10.0.0.1"])
    assert guard.token_throttled(["terminal:C", "address:10.0.0.1"])
    assert not guard.token_throttled(["terminal:A", "address:10.0.0.2"])
    clock.at += 10_000
    assert not guard.token_throttled(["terminal:C", "address:10.0.0.1"])


def test_a_flood_of_distinct_names_does_not_grow_memory_without_bound():
    guard = LoginGuard(now=Clock())
    for n in range(MAX_ENTRIES + 10):
        guard.wrong_pin(f"R{n}")
    assert len(guard.pins._seen) <= MAX_ENTRIES


@given(st.lists(st.sampled_from(["wrong", "right", "wait"]), max_size=40),
       st.integers(1, 6))
def test_the_guard_follows_its_rule(steps, limit):
    """Locked iff ``limit`` wrong PINs came since the last correct login, each within the
    cool-down of the one before, and the cool-down has not passed since the last."""
    clock = Clock()
    guard = LoginGuard(max_failures=limit, lockout_s=30, now=clock)
    count, last = 0, 0
    for step in steps:
        if step == "wait":
            clock.at += 20_000
        else:
            if count and clock.at - last >= 30_000:
                count = 0
            if not (count >= limit and clock.at - last < 30_000):
                # A locked registration is refused before its PIN is checked: nothing counts.
                if step == "right":
                    guard.unlock("R")
                    count = 0
                else:
                    guard.wrong_pin("R")
                    count, last = count + 1, clock.at
        expected = count >= limit and clock.at - last < 30_000
        assert (guard.locked_until("R") is not None) == expected
