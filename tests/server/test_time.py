"""The server's clock: deadlines, the scheduler, pauses, extensions, accommodations, outages.

Services run in-process on a real store and bank, with the site's clock set by the test.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cat_engine.live import Scheduler
from cat_engine.services.errors import ServiceError
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.store.models import AnswerEvent, AuditEntry
from cat_engine.testing import FakeClock, RecordingSocket, prepare_site

T0 = 1_800_000_000_000
MINUTE = 60_000


@pytest.fixture
def env(tmp_path):
    site_files = prepare_site(tmp_path, candidates=4,
                              accommodations={3: {"accommodation": "tunanetra"}})
    store = Store(site_files.database_url)
    clock = FakeClock(T0)
    site = Site(store, keys=[BankKey(site_files.passphrase)], now=clock)
    yield site_files, site, clock
    store.close()


def _started(site, files, index, clock):
    cand, _ = site.login(registration=files.registrations[index],
                         pin=files.pins[files.registrations[index]], token=files.token,
                         terminal=f"T{index}")
    site.start(cand)
    return cand


def test_scheduler_finishes_a_disconnected_candidate_at_the_deadline(env):
    files, site, clock = env
    cand = _started(site, files, 0, clock)
    site.answer(cand, seq=1, position=0, choice=1)
    socket = RecordingSocket()
    scheduler = Scheduler(site, socket)
    clock.at = T0 + 10 * MINUTE - 1
    scheduler.finish_due()
    assert cand.state == "in_progress"
    clock.at = T0 + 10 * MINUTE
    site.forget(cand.id)  # not in memory: as after a restart, the database is what counts
    scheduler.finish_due()
    reloaded = site.candidate(cand.id)
    assert reloaded.state == "finished" and reloaded.finish_reason == "time"
    finished = [s for s in socket.sent if s[0] == "finished"]
    assert finished and finished[0][1]["reason"] == "time"
    assert finished[0][2] == f"cand:{cand.id}"


def test_answers_after_the_deadline_are_refused(env):
    files, site, clock = env
    cand = _started(site, files, 1, clock)
    clock.at = T0 + 10 * MINUTE + 5
    with pytest.raises(ServiceError) as refused:
        site.answer(cand, seq=1, position=0, choice=0)
    assert refused.value.code == "time_up"
    assert cand.state == "finished" and cand.result is not None


def test_pause_stops_the_clock_and_extension_adds_time(env):
    files, site, clock = env
    cand = _started(site, files, 2, clock)
    clock.at = T0 + 2 * MINUTE
    site.pause(cand, actor="proctor1", reason="power flicker")
    clock.at = T0 + 7 * MINUTE
    out = site.start(cand)
    assert out.reply["sheet"]["paused"] is True
    assert out.reply["sheet"]["remaining_ms"] == 8 * MINUTE
    with pytest.raises(ServiceError) as paused:
        site.answer(cand, seq=1, position=0, choice=0)
    assert paused.value.code == "paused"
    site.resume(cand, actor="proctor1", reason="power back")
    site.extend(cand, minutes=3, actor="proctor1", reason="noise in the room")
    assert site.start(cand).reply["sheet"]["remaining_ms"] == 11 * MINUTE
    clock.at = T0 + 18 * MINUTE - 1  # 10 allowed + 5 paused + 3 extended
    assert site.due() == []
    clock.at = T0 + 18 * MINUTE
    assert site.due() == [cand.id]


def test_accommodation_extends_the_allowed_time(env):
    files, site, _clock = env
    cand, out = site.login(registration=files.registrations[3],
                           pin=files.pins[files.registrations[3]], token=files.token,
                           terminal="T3")
    assert out.reply["exam"]["duration_s"] == 13 * 60  # 10 minutes + tunanetra 3
    site.start(cand)
    assert site.start(cand).reply["sheet"]["remaining_ms"] == 13 * MINUTE


def test_an_outage_moves_the_session_s_running_deadlines_but_not_expired_ones(env):
    files, site, clock = env
    running = _started(site, files, 0, clock)
    clock.at = T0 - 20 * MINUTE  # this candidate started long ago: expired before the crash
    expired = _started(site, files, 1, clock)
    clock.at = T0 + MINUTE
    site.renew()  # the owner's last lease renewal before it died
    clock.at = T0 + 4 * MINUTE  # another process takes the session three minutes later
    fresh = Site(site.store, keys=site.keys, now=clock)
    assert fresh.candidate(running.id).clock.outage_ms == 3 * MINUTE
    assert fresh.candidate(expired.id).clock.outage_ms == 0
    assert fresh.due() == [expired.id]
    # A third process finds the session served: refused, and no second outage is counted.
    with pytest.raises(ServiceError) as refused:
        Site(site.store, keys=site.keys, now=clock).candidate(running.id)
    assert refused.value.code == "elsewhere"
    assert fresh.candidate(running.id).clock.outage_ms == 3 * MINUTE


def test_a_deposed_owner_s_late_write_is_refused_by_the_database(env):
    files, site, clock = env
    cand = _started(site, files, 0, clock)
    site.answer(cand, seq=1, position=0, choice=1)
    clock.at = T0 + 5_000  # the owner stalls past its lease; another process takes over
    fresh = Site(site.store, keys=site.keys, now=clock)
    taken = fresh.candidate(cand.id)
    with pytest.raises(ServiceError) as late:
        site.answer(cand, seq=2, position=1, choice=2)  # the stale owner wakes up
    assert late.value.code == "elsewhere"
    assert cand.id not in site.candidates and not site.ownership.held
    with pytest.raises(ServiceError) as late:
        site.extend(cand, minutes=5, actor="proctor", reason="late")
    assert late.value.code == "elsewhere"
    with site.store.read() as db:
        seqs = db.scalars(select(AnswerEvent.seq).where(AnswerEvent.candidate_id == cand.id))
        assert list(seqs) == [1]
    assert fresh.answer(taken, seq=2, position=1, choice=2).reply["saved"]
    assert fresh.candidate(cand.id).clock.extension_ms == 0


def test_forward_only_exam_refuses_going_back(tmp_path):
    from cat_engine.testing import SMALL_EXAM

    exam = tmp_path / "forward.toml"
    exam.write_text(SMALL_EXAM.replace('time_limit_minutes = 10',
                                       'time_limit_minutes = 10\nnavigation = "forward-only"'))
    files = prepare_site(tmp_path / "site", candidates=1, exam=str(exam))
    store = Store(files.database_url)
    try:
        site = Site(store, keys=[BankKey(files.passphrase)], now=FakeClock(T0))
        cand = _started(site, files, 0, None)
        site.get_item(cand, 4)
        site.answer(cand, seq=1, position=5, choice=0)
        with pytest.raises(ServiceError) as back:
            site.get_item(cand, 2)
        assert back.value.code == "bad_position"
        with pytest.raises(ServiceError):
            site.answer(cand, seq=2, position=4, choice=1)
    finally:
        store.close()


def test_two_server_processes_finish_a_candidate_once(env):
    """Scale-out: two processes on one database both reach a candidate's deadline."""
    files, site, clock = env
    cand = _started(site, files, 2, clock)
    site.answer(cand, seq=1, position=0, choice=1)
    other_store = Store(files.database_url)
    other = Site(other_store, keys=[BankKey(files.passphrase)], now=clock)
    try:
        with pytest.raises(ServiceError) as refused:
            other.candidate(cand.id)  # nobody else caches the owner's candidates
        assert refused.value.code == "elsewhere"
        clock.at = T0 + 10 * MINUTE  # the owner stalls at the deadline; the other takes over
        twin = other.candidate(cand.id)
        second = other.finish_now(twin, reason="time")
        with pytest.raises(ServiceError) as late:
            site.finish_now(cand, reason="time")
        assert late.value.code == "elsewhere"
        assert second.reply["result"]["total"] == twin.score_sheet.total
        with other_store.read() as db:
            finishes = db.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "finish", AuditEntry.candidate_id == cand.id))
        assert finishes == 1
    finally:
        other_store.close()
