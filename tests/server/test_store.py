"""The store: group commit, audit chain, migrations."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from cat_engine.config import sqlite_url
from cat_engine.store import Store, audit, migrate
from cat_engine.store.models import AuditEntry, Heartbeat


@pytest.fixture
def store(tmp_path):
    s = Store(sqlite_url(tmp_path))
    yield s
    s.close()


def test_migrations_reach_head_and_enable_wal(store):
    assert migrate.current_revision(store.engine) == migrate.head_revision()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_concurrent_writes_are_batched_and_all_committed(store):
    results, errors = [], []

    def writer(n: int) -> None:
        def work(db):
            audit.append(db, at_ms=n, actor="t", action="write", detail={"n": n})
            return n
        try:
            results.append(store.write(work))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(results) == list(range(60))
    with store.read() as db:
        assert db.scalar(select(text("count(*)")).select_from(AuditEntry)) == 60
        assert audit.verify(db) == []
    # 60 writers arriving together need fewer transactions than writes.
    assert store.committer.batches < store.committer.ops == 60


def test_one_failing_write_does_not_take_its_batch_down(store):
    barrier = threading.Barrier(8)
    outcomes: dict[int, object] = {}

    def writer(n: int) -> None:
        def work(db):
            if n == 3:
                raise ValueError("bad write")
            db.merge(Heartbeat(id=100 + n, beat_ms=n, boot_ms=n))
            return n
        barrier.wait()
        try:
            outcomes[n] = store.write(work)
        except ValueError as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(outcomes.pop(3), ValueError)
    assert outcomes == {n: n for n in range(8) if n != 3}
    with store.read() as db:
        assert sorted(db.scalars(select(Heartbeat.id))) == [100 + n for n in range(8) if n != 3]


def test_audit_chain_shows_edits_and_deletions(store):
    with store.transaction() as db:
        for n in range(5):
            audit.append(db, at_ms=n, actor="proctor", action="pause", candidate_id=n,
                         detail={"reason": f"r{n}"})
    with store.read() as db:
        assert audit.verify(db) == []
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET detail = '{\"reason\": \"nothing\"}' "
                          "WHERE id = 2"))
    with store.read() as db:
        assert audit.verify(db) == ["chain 0 entry seq 2 (row 2, pause): content does not "
                                    "match its hash: edited"]
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 4"))
    with store.read() as db:
        problems = audit.verify(db)
        assert problems[1].startswith("chain 0 entry seq 5 (row 5, pause): expected seq 4")
        assert "does not follow the entry before it" in problems[2]


def test_an_older_database_gets_its_session_tokens_sealed(tmp_path):
    """Migration 0008 (issue 11b): a token kept in clear before becomes a keyed digest and a
    sealed copy; the login lookup and the console both still find it, and no byte of the
    database file holds it any more."""
    from alembic import command
    from sqlalchemy import create_engine

    from cat_engine import site_secret
    from cat_engine.store.models import ExamSession

    url = sqlite_url(tmp_path)
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(migrate._config(connection), "0007")
        exam = connection.execute(text(
            "INSERT INTO exams (name, title, source, created_ms) VALUES ('e', 'E', '', 0)"))
        bank = connection.execute(text(
            "INSERT INTO banks (bank_id, version, content_hash, path, manifest, registered_ms) "
            "VALUES ('b', '1', 'h', 'b.catbank', '{}', 0)"))
        connection.execute(text(
            "INSERT INTO sessions (name, date, time, room, exam_id, bank_id, seed, token, state,"
            " settings, created_ms) VALUES ('S1', '2026-01-01', '08:00', 'R1', :e, :b, 'x',"
            " 'QWERTY', 'scheduled', '{}', 0)"), {"e": exam.lastrowid, "b": bank.lastrowid})
    engine.dispose()
    site_secret.load(tmp_path)
    upgraded = Store(url)
    try:
        with upgraded.read() as db:
            row = db.scalars(select(ExamSession).where(
                ExamSession.token_digest == site_secret.token_digest("QWERTY"))).one()
            assert row.token == "QWERTY"
    finally:
        upgraded.close()
    assert b"QWERTY" not in b"".join(p.read_bytes() for p in tmp_path.glob("*.sqlite3*"))
