"""One owner per exam session: the lease, its fence, and one server per SQLite directory.

The fencing tests run on SQLite and, when CAT_ENGINE_TEST_POSTGRES_URL is set, on a database
of their own on PostgreSQL (where two processes really do share one database).
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from cat_engine.services import proctoring
from cat_engine.services.errors import ServiceError
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import LeaseLost, Store, audit
from cat_engine.store.models import AnswerEvent, AuditEntry, Candidate, Clock, SessionLease
from cat_engine.testing import FakeClock, ServerProcess, prepare_site

T0 = 1_800_000_000_000


@pytest.fixture
def two_processes(tmp_path, database_url):
    """Two sites on one database, each with a store of its own (as two processes)."""
    files = prepare_site(tmp_path, candidates=3, database_url=database_url)
    clock = FakeClock(T0)
    stores = [Store(files.database_url), Store(files.database_url)]
    sites = [Site(s, keys=[BankKey(files.passphrase)], now=clock) for s in stores]
    yield files, sites, clock
    for s in stores:
        s.close()


def _started(site, files, index):
    cand, _ = site.login(registration=files.registrations[index],
                         pin=files.pins[files.registrations[index]], token=files.token,
                         terminal=f"T{index}")
    site.start(cand)
    return cand


def test_only_the_owner_serves_a_session_and_a_deposed_owner_writes_nothing(two_processes):
    files, (a, b), clock = two_processes
    cand = _started(a, files, 0)
    assert a.answer(cand, seq=1, position=0, choice=1).reply["saved"]
    with pytest.raises(ServiceError) as refused:
        b.login(registration=files.registrations[1], pin=files.pins[files.registrations[1]],
                token=files.token, terminal="T1")
    assert refused.value.code == "elsewhere"
    clock.at = T0 + 1_000
    a.renew()
    clock.at = T0 + 6_000  # a stalls (no renewal for 5 s): b takes the session
    twin = b.candidate(cand.id)
    assert twin.answers[0] == 1
    assert twin.clock.outage_ms == 5_000  # since a's last renewal, for this session only
    for late in (lambda: a.answer(cand, seq=2, position=1, choice=0),
                 lambda: a.pause(cand, actor="p", reason="late"),
                 lambda: a.finish_now(cand, reason="time")):
        with pytest.raises(ServiceError) as refused:
            late()
        assert refused.value.code == "elsewhere"
    assert b.answer(twin, seq=2, position=1, choice=3).reply["saved"]
    with b.store.read() as db:
        events = db.execute(select(AnswerEvent.seq, AnswerEvent.value)
                            .where(AnswerEvent.candidate_id == cand.id)
                            .order_by(AnswerEvent.seq)).all()
        clock_row = db.get(Clock, cand.id)
        lease = db.get(SessionLease, cand.session_id)
    assert [tuple(e) for e in events] == [(1, 1), (2, 3)]
    assert clock_row.paused_since_ms is None
    assert lease.fence == 2 and lease.owner == b.ownership.owner


def test_the_database_refuses_a_write_under_a_stale_fence(two_processes):
    """The fence is checked in the write's own transaction (store/lease.py), not only in the
    owner's memory: a write carrying an old fence is refused and leaves nothing."""
    files, (a, _b), _clock = two_processes
    cand = _started(a, files, 0)
    with a.store.read() as db:
        fence = db.get(SessionLease, cand.session_id).fence
    with pytest.raises(LeaseLost):
        a.store.write(lambda db: audit.append(db, at_ms=T0, actor="t", action="stale_write"),
                      fence=(cand.session_id, fence - 1))
    a.store.write(lambda db: audit.append(db, at_ms=T0, actor="t", action="fenced_write"),
                  fence=(cand.session_id, fence))
    with a.store.read() as db:
        actions = db.scalars(select(AuditEntry.action).where(
            AuditEntry.action.in_(("stale_write", "fenced_write")))).all()
    assert actions == ["fenced_write"]


def test_a_handover_when_the_terminals_reach_another_process(two_processes):
    files, (a, b), _clock = two_processes
    cand = _started(a, files, 0)
    with pytest.raises(ServiceError):
        b.candidate(cand.id)  # b receives the session's terminals and asks for it
    a.renew()  # no terminal of the session is connected to a any more: a hands it over
    assert not a.ownership.held
    assert b.candidate(cand.id).state == "in_progress"


def test_proctor_session_writes_go_through_the_owner(two_processes):
    """Settings, incidents and token rotations append to the session's audit chain while the
    owner's answers do: none fails (on PostgreSQL a write beside the owner's lost the race
    for the chain's head and failed "internal"), and the chain stays whole. On another
    process they are refused (``elsewhere``: the console reaches the owner), never failed."""
    files, (a, b), _clock = two_processes
    cands = [_started(a, files, i) for i in range(3)]
    sid = cands[0].session_id
    failures: list[BaseException] = []

    def answering(cand):
        for seq in range(1, 41):
            a.answer(cand, seq=seq, position=seq % 5, choice=seq % 4)

    def proctor(i):
        for n in range(10):
            proctoring.record_incident(a.write_session, sid, f"incident {i}.{n}",
                                       actor="proctor:p")
            proctoring.update_settings(a.write_session, sid, {"public_names": n % 2 == 0},
                                       actor="proctor:p", reason="test")
            proctoring.rotate_token(a.write_session, sid, actor="proctor:p", reason="test")

    def run(target, arg):
        try:
            target(arg)
        except BaseException as exc:
            failures.append(exc)

    threads = ([threading.Thread(target=run, args=(answering, c)) for c in cands]
               + [threading.Thread(target=run, args=(proctor, i)) for i in range(2)])
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:3]
    for write in (lambda: proctoring.record_incident(b.write_session, sid, "late",
                                                     actor="proctor:p"),
                  lambda: proctoring.rotate_token(b.write_session, sid, actor="proctor:p",
                                                  reason="test")):
        with pytest.raises(ServiceError) as refused:
            write()
        assert refused.value.code == "elsewhere"
    with a.store.read() as db:
        assert audit.verify(db) == []
        incidents = db.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.chain == sid, AuditEntry.action == "incident"))
        answers = db.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.chain == sid, AuditEntry.action == "answer"))
    assert incidents == 20 and answers == 120


def test_two_processes_racing_for_a_free_session_one_wins(two_processes):
    _files, sites, _clock = two_processes
    with sites[0].store.read() as db:
        cid = db.scalar(select(func.min(Candidate.id)))
    outcomes: list[str] = []

    def take(site):
        try:
            site.candidate(cid)
            outcomes.append("owner")
        except ServiceError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=take, args=(s,)) for s in sites]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["elsewhere", "owner"]


def test_a_second_server_on_one_sqlite_directory_is_refused(tmp_path):
    site = prepare_site(tmp_path, candidates=1)
    with ServerProcess(site):
        second = ServerProcess(site)
        with pytest.raises(RuntimeError) as refused:
            second.start(timeout=20)
        assert "already runs on" in str(refused.value)
        assert "PostgreSQL" in str(refused.value)


def test_one_batch_with_a_stale_fence_commits_only_the_current_owners_rows(two_processes):
    """The group commit's fence check inside one transaction (on PostgreSQL: one statement
    sent with the rows and COMMIT in one pipeline): an op whose fence is stale is refused by
    the database, its neighbours with the current fence still commit."""
    from cat_engine.services.candidate import UPDATE_POSITION
    from cat_engine.store import Rows
    from cat_engine.store.lease import LeaseLost
    from cat_engine.store.writer import _Op

    files, (a, _b), _clock = two_processes
    cand = _started(a, files, 0)
    fence = a.ownership.fence(cand.session_id)
    with a.store.read() as db:
        other = db.scalar(select(Candidate.id).where(Candidate.session_id == cand.session_id,
                                                     Candidate.id != cand.id))
    batch = [_Op(Rows((UPDATE_POSITION, {"cid": cand.id, "pos": 7})), threading.Event(),
                 fence=fence),
             _Op(Rows((UPDATE_POSITION, {"cid": other, "pos": 9})), threading.Event(),
                 fence=(cand.session_id, fence[1] + 1))]
    a.store.committer._commit(batch)
    assert batch[0].error is None
    assert isinstance(batch[1].error, LeaseLost)
    with a.store.read() as db:
        assert db.get(Candidate, cand.id).position == 7
        assert db.get(Candidate, other).position != 9
