"""Timed blocks on the server's clock: each block's deadline, moving on early, restarts and
outages within a block, accommodations per block, pauses and extensions.

Services run in-process on a real store and bank, with the site's clock set by the test.
"""

from __future__ import annotations

import pytest

from cat_engine.live import Scheduler
from cat_engine.services.errors import ServiceError
from cat_engine.services.site import Site

T0 = 1_800_000_000_000  # the fixtures' clock starts here (conftest.py)
MINUTE = 60_000


def test_start_says_which_sections_the_first_block_holds(
        env, started, positions, socket):
    _files, site, _clock = env
    cand = started(0)
    sheet = site.start(cand).reply["sheet"]
    assert sheet["block"] == {"index": 0, "count": 2, "sections": ["TWK", "TIU"],
                              "remaining_ms": 10 * MINUTE}
    assert sheet["remaining_ms"] == 10 * MINUTE
    assert sheet["exam_remaining_ms"] == 14 * MINUTE
    assert [(s["name"], s["block"]) for s in sheet["sections"]] == [
        ("TWK", 0), ("TIU", 0), ("TKP", 1)]


def test_items_of_a_later_block_are_refused_until_it_opens(
        env, started, positions, socket):
    _files, site, _clock = env
    cand = started(0)
    tkp = positions(cand, "TKP")[0]
    for action in (lambda: site.get_item(cand, tkp),
                   lambda: site.answer(cand, seq=1, position=tkp, choice=0),
                   lambda: site.flag(cand, seq=2, position=tkp, doubtful=True)):
        with pytest.raises(ServiceError) as refused:
            action()
        assert refused.value.code == "outside_block"
        assert "not open yet" in refused.value.detail
    assert cand.answers[tkp] is None and not cand.doubtful[tkp]


def test_the_scheduler_moves_a_disconnected_candidate_on_then_finishes(
        env, started, positions, socket):
    _files, site, clock = env
    cand = started(0)
    twk = positions(cand, "TWK")[0]
    site.answer(cand, seq=1, position=twk, choice=1)
    scheduler = Scheduler(site, socket)
    clock.at = T0 + 10 * MINUTE - 1
    scheduler.finish_due()
    assert cand.clock.block == 0 and not socket.sent
    clock.at = T0 + 10 * MINUTE
    site.forget(cand.id)  # not in memory: the database is what counts
    scheduler.finish_due()
    cand = site.candidate(cand.id)
    assert cand.state == "in_progress" and cand.clock.block == 1
    moved = socket.events("block")
    assert moved == [{"index": 1, "count": 2, "sections": ["TKP"],
                      "remaining_ms": 4 * MINUTE, "reason": "time"}]
    with pytest.raises(ServiceError) as closed:
        site.answer(cand, seq=2, position=twk, choice=0)
    assert closed.value.code == "outside_block" and "closed" in closed.value.detail
    assert cand.answers[twk] == 1  # the closed block's answers stand
    site.answer(cand, seq=3, position=positions(cand, "TKP")[0], choice=2)
    clock.at = T0 + 14 * MINUTE - 1
    scheduler.finish_due()
    assert cand.state == "in_progress"
    clock.at = T0 + 14 * MINUTE
    scheduler.finish_due()
    assert cand.state == "finished" and cand.finish_reason == "time"
    assert socket.events("finished")[0]["reason"] == "time"


def test_a_late_tick_costs_the_next_block_nothing(
        env, started, positions, socket):
    _files, site, clock = env
    cand = started(0)
    clock.at = T0 + 12 * MINUTE  # nobody looked for two minutes
    Scheduler(site, socket).finish_due()
    assert cand.clock.block == 1
    assert site.start(cand).reply["sheet"]["remaining_ms"] == 2 * MINUTE
    clock.at = T0 + 30 * MINUTE  # and past every block at once
    Scheduler(site, socket).finish_due()
    assert cand.state == "finished"


def test_an_answer_after_the_block_ran_out_moves_the_candidate_on(
        env, started, positions, socket):
    _files, site, clock = env
    cand = started(0)
    clock.at = T0 + 10 * MINUTE + 5  # before the scheduler's tick
    with pytest.raises(ServiceError) as refused:
        site.answer(cand, seq=1, position=positions(cand, "TIU")[0], choice=0)
    assert refused.value.code == "outside_block"
    pushed = [e.event for e in refused.value.extra["emits"]]
    assert "block" in pushed and cand.clock.block == 1
    out = site.answer(cand, seq=2, position=positions(cand, "TKP")[0], choice=0)
    assert out.reply["saved"] is True


def test_next_block_closes_early_without_carrying_time_over(
        env, started, positions, socket):
    _files, site, clock = env
    cand = started(0)
    clock.at = T0 + 3 * MINUTE
    out = site.next_block(cand, seq=1, block=0)
    assert out.reply["saved"] is True and out.reply["block"]["index"] == 1
    assert "block" in [e.event for e in out.emits]
    sheet = site.start(cand).reply["sheet"]
    assert sheet["remaining_ms"] == 4 * MINUTE  # the 7 unused minutes are gone
    assert sheet["exam_remaining_ms"] == 4 * MINUTE
    with pytest.raises(ServiceError) as closed:
        site.get_item(cand, positions(cand, "TWK")[0])
    assert closed.value.code == "outside_block"
    # A resend of the same seq is answered again; a late click for block 0 closes nothing.
    assert site.next_block(cand, seq=1, block=0).reply["duplicate"] is True
    stale = site.next_block(cand, seq=2, block=0).reply
    assert stale["stale"] is True and cand.clock.block == 1
    with pytest.raises(ServiceError) as last:
        site.next_block(cand, seq=3, block=1)
    assert last.value.code == "last_block"
    clock.at = T0 + 7 * MINUTE - 1
    assert site.due() == []
    clock.at = T0 + 7 * MINUTE
    assert site.due() == [cand.id]


def test_the_block_survives_a_restart_and_an_outage_moves_its_deadline(
        env, started, positions, socket):
    _files, site, clock = env
    cand = started(0)
    clock.at = T0 + 2 * MINUTE
    site.next_block(cand, seq=1, block=0)
    clock.at = T0 + 3 * MINUTE
    site.renew()  # the owner's last lease renewal before the crash
    clock.at = T0 + 8 * MINUTE  # back five minutes later
    fresh = Site(site.store, keys=site.keys, now=clock)
    again = fresh.candidate(cand.id)
    assert again.clock.outage_ms == 5 * MINUTE
    assert again.clock.block == 1
    sheet = fresh.start(again).reply["sheet"]
    assert sheet["block"]["sections"] == ["TKP"]
    assert sheet["remaining_ms"] == 3 * MINUTE  # as when the server stopped
    assert again.next_seq == 2  # the next_block event was committed with its seq
    clock.at = T0 + 11 * MINUTE
    assert fresh.due() == [cand.id]


def test_accommodations_add_minutes_to_their_own_block(
        env, started, positions, socket):
    _files, site, clock = env
    tunanetra = started(2)  # +3 on the shared clock, +2 on TKP's
    sheet = site.start(tunanetra).reply["sheet"]
    assert (sheet["remaining_ms"], sheet["exam_remaining_ms"]) == (13 * MINUTE, 19 * MINUTE)
    extra = started(3)  # a candidate's own 5 extra minutes go to the shared clock
    sheet = site.start(extra).reply["sheet"]
    assert (sheet["remaining_ms"], sheet["exam_remaining_ms"]) == (15 * MINUTE, 19 * MINUTE)
    clock.at = T0 + 13 * MINUTE
    Scheduler(site, socket).finish_due()
    assert (tunanetra.clock.block, extra.clock.block) == (1, 0)
    assert site.start(tunanetra).reply["sheet"]["remaining_ms"] == 6 * MINUTE


def test_pause_and_extension_apply_to_the_current_block(
        env, started, positions, socket):
    _files, site, clock = env
    cand = started(1)
    clock.at = T0 + 11 * MINUTE
    Scheduler(site, socket).finish_due()
    assert cand.clock.block == 1  # 1 minute into TKP's 4
    site.pause(cand, actor="proctor1", reason="power flicker")
    clock.at = T0 + 20 * MINUTE
    assert site.start(cand).reply["sheet"]["remaining_ms"] == 3 * MINUTE
    assert site.due() == []
    site.resume(cand, actor="proctor1")
    out = site.extend(cand, minutes=2, actor="proctor1", reason="noise")
    progress = next(e.data for e in out.emits if e.event == "progress")
    assert progress["remaining_ms"] == 5 * MINUTE and progress["block"] == 1
    clock.at = T0 + 25 * MINUTE - 1  # 14 minutes + 9 paused + 2 extended
    assert site.due() == []
    clock.at = T0 + 25 * MINUTE
    assert site.due() == [cand.id]


def test_a_single_block_exam_has_one_block_holding_every_section(tmp_path):
    from cat_engine.services.runtime import BankKey
    from cat_engine.store import Store
    from cat_engine.testing import prepare_site

    files = prepare_site(tmp_path, candidates=1)
    store = Store(files.database_url)
    try:
        site = Site(store, keys=[BankKey(files.passphrase)], now=lambda: T0)
        cand, _ = site.login(registration=files.registrations[0],
                             pin=files.pins[files.registrations[0]], token=files.token,
                             terminal="T0")
        site.start(cand)
        sheet = site.start(cand).reply["sheet"]
        assert sheet["block"]["sections"] == ["TWK", "TIU", "TKP"]
        assert sheet["remaining_ms"] == sheet["exam_remaining_ms"] == 10 * MINUTE
        assert cand.clock.block_end_ms is None  # its block ends at allowed_ms, as before
        with pytest.raises(ServiceError) as last:
            site.next_block(cand, seq=1, block=0)
        assert last.value.code == "last_block"
    finally:
        store.close()


def test_a_clock_started_before_the_upgrade_keeps_its_single_deadline(tmp_path):
    """Migration 0004 on a database at 0003 with a running clock: the clock is in its first
    block, which ends where its deadline always was."""
    from alembic import command
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from cat_engine.clock import block_deadline_ms, deadline_ms
    from cat_engine.services.candidate import ClockData
    from cat_engine.store import migrate
    from cat_engine.store.models import Clock

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        command.upgrade(migrate._config(connection), "0003")
        connection.execute(text("INSERT INTO clocks (candidate_id, started_ms, allowed_ms, "
                                "extension_ms, paused_ms, outage_ms, pauses) "
                                "VALUES (1, :t, 600000, 60000, 0, 5000, '[]')"), {"t": T0})
    assert migrate.upgrade(engine) == migrate.head_revision()
    with Session(engine) as db:
        clock = ClockData.from_row(db.get(Clock, 1))
    assert (clock.block, clock.block_start_ms, clock.block_end_ms) == (0, 0, None)
    assert block_deadline_ms(clock) == deadline_ms(clock) == T0 + 665_000
    engine.dispose()
