"""The guessing limits on a controlled clock, held in a real database: when a lockout starts
and ends, and that nothing a flood does makes the site forget a live one."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cat_engine.config import sqlite_url
from cat_engine.services.guard import LoginGuard
from cat_engine.store import Store


class Clock:
    def __init__(self):
        self.at = 1_000_000

    def __call__(self) -> int:
        return self.at


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(sqlite_url(tmp_path_factory.mktemp("guard")))
    yield s
    s.close()


_names = itertools.count()


def fresh(prefix: str = "R") -> str:
    """A registration number no other test (or hypothesis example) used."""
    return f"{prefix}{next(_names)}"


def locked(guard: LoginGuard, registration: str) -> bool:
    return guard.locked_until(registration) is not None


def test_a_lockout_ends_after_the_cool_down_from_the_last_wrong_pin(store):
    clock, reg = Clock(), fresh()
    guard = LoginGuard(store, max_failures=3, lockout_s=60, now=clock)
    key = guard.pin_key(reg)
    assert [guard.wrong_pin(key).failures for _ in range(3)] == [1, 2, 3]
    assert guard.locked_until(reg) == clock.at + 60_000
    clock.at += 59_999
    assert locked(guard, reg)
    clock.at += 1
    assert not locked(guard, reg)
    assert guard.wrong_pin(key).failures == 1  # counting starts again from one


def test_a_release_ends_every_count_of_the_registration(store):
    clock, reg = Clock(), fresh("R_%")  # LIKE's wildcards in a number match only themselves
    guard = LoginGuard(store, max_failures=2, now=clock)
    other = fresh("R_")
    for key in (guard.pin_key(reg), guard.pin_key(reg, "T1"), guard.pin_key(other)):
        guard.wrong_pin(key)
        guard.wrong_pin(key)
    guard.unlock(reg)
    assert guard.read([guard.pin_key(reg), guard.pin_key(reg, "T1")]) == {}
    assert locked(guard, other)


def test_wrong_tokens_block_each_source_that_reached_the_limit(store):
    clock = Clock()
    guard = LoginGuard(store, token_failures=2, token_cooldown_s=10, now=clock)
    a, b, c, addr, addr2 = (fresh(p) for p in ("tA", "tB", "tC", "ip", "ip"))
    guard.wrong_source([a, addr])
    guard.wrong_source([b, addr])
    assert guard.blocked_until([c, addr]) is not None
    assert guard.blocked_until([a, addr2]) is None
    clock.at += 10_000
    assert guard.blocked_until([c, addr]) is None


def test_a_flood_never_prunes_a_live_lockout(store):
    """The old in-memory guard forgot the oldest half when 50,000 names had come in."""
    clock, reg = Clock(), fresh()
    guard = LoginGuard(store, max_failures=2, lockout_s=900, token_cooldown_s=1, now=clock)
    guard.wrong_pin(guard.pin_key(reg))
    guard.wrong_pin(guard.pin_key(reg))
    for n in range(300):
        clock.at += 5
        guard.wrong_source([f"src:terminal:flood-{reg}-{n}"])
    clock.at += 60_000
    assert guard.prune() >= 300  # the flood's expired rows go
    assert locked(guard, reg)    # the lockout stays until its own end


def test_two_guards_on_one_database_share_their_counts(store):
    """Two server processes of one site: a lockout counted by one holds in the other."""
    clock, reg = Clock(), fresh()
    first = LoginGuard(store, max_failures=4, now=clock)
    second = LoginGuard(Store(store.url), max_failures=4, now=clock)
    try:
        for guard in (first, second, first, second):
            guard.wrong_pin(guard.pin_key(reg))
        assert locked(first, reg) and locked(second, reg)
    finally:
        second.store.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["wrong", "right", "wait"]), max_size=30),
       st.integers(1, 6))
def test_the_guard_follows_its_rule(store, steps, limit):
    """Locked iff ``limit`` wrong PINs came since the last correct login, each within the
    cool-down of the one before, and the cool-down has not passed since the last."""
    clock, reg = Clock(), fresh()
    guard = LoginGuard(store, max_failures=limit, lockout_s=30, now=clock)
    key = guard.pin_key(reg)
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
                    guard.clear([key])
                    count = 0
                else:
                    guard.wrong_pin(key)
                    count, last = count + 1, clock.at
        expected = count >= limit and clock.at - last < 30_000
        assert locked(guard, reg) == expected
