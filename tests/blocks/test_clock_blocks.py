"""The block arithmetic of cat_engine.clock, as properties over any plan and any closes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cat_engine import clock as clk
from cat_engine.services.candidate import ClockData

plans = st.lists(st.integers(1, 200), min_size=1, max_size=6).map(
    lambda minutes: [m * 60_000 for m in minutes])


@given(plans, st.lists(st.one_of(st.none(), st.floats(0, 1)), max_size=6))
def test_the_allowance_is_always_the_current_block_plus_the_later_ones(plan, closes):
    """Closing early gives up exactly the unused time; running out gives up nothing; each
    block gets its full length from where it starts."""
    c = ClockData(started_ms=0, allowed_ms=sum(plan), block_end_ms=plan[0])
    given_up = 0
    for index, close in enumerate(closes[:len(plan) - 1]):
        end = clk.block_end_ms(c)
        at = None if close is None else c.block_start_ms + round(close * (end - c.block_start_ms))
        allowed, start, new_end = clk.next_block(c, plan[index + 1], at_worked=at)
        given_up += 0 if at is None else end - at
        c.allowed_ms, c.block, c.block_start_ms, c.block_end_ms = allowed, index + 1, start, new_end
        assert new_end - start == plan[index + 1]
        assert c.allowed_ms - new_end == sum(plan[index + 2:])
        assert c.allowed_ms == sum(plan) - given_up


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_without_blocks_the_block_deadline_is_the_exam_deadline(paused, outage, extension):
    c = ClockData(started_ms=10**12, allowed_ms=90 * 60_000, paused_ms=paused,
                  outage_ms=outage, extension_ms=extension)
    assert clk.block_deadline_ms(c) == clk.deadline_ms(c)
    now = 10**12 + 30 * 60_000
    assert clk.block_remaining_ms(c, now) == clk.remaining_ms(c, now)
