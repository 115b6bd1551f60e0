"""The group commit's own PostgreSQL connection dying between batches (the database restarted,
or its backend ended): the writer's engine does not ping a pooled connection before each batch
(a round trip per group commit), so the writer itself must notice a dead connection and send
the batch again on a new one, with no error reaching the caller and no acknowledged write lost.

Skipped unless CAT_ENGINE_TEST_POSTGRES_URL names a PostgreSQL server.
"""

from __future__ import annotations

import os
import time

import pytest
import socketio
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import sessionmaker

from cat_engine.store import Rows, Store, lease
from cat_engine.store.db import WRITER_NAME, make_engine
from cat_engine.store.models import AnswerEvent, Candidate
from cat_engine.store.writer import GroupCommitter
from cat_engine.testing import ServerProcess, postgres_database, prepare_site

PG = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")
NS = "/candidate"

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not PG, reason="CAT_ENGINE_TEST_POSTGRES_URL is not set")]


@pytest.fixture
def pg_url():
    with postgres_database(PG) as url:
        yield url


def _end_writer_backends(admin, database_url: str) -> int:
    """pg_terminate_backend every writer connection of the test's database, and wait until
    they are gone; how many there were."""
    name = create_engine(database_url).url.database
    with admin.connect() as conn:
        pids = list(conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = :d AND application_name = :a"),
            {"d": name, "a": WRITER_NAME}).scalars())
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"),
                {"p": pids}).scalar():
            time.sleep(0.02)
    return len(pids)


def test_a_batch_finds_its_connection_dead_and_commits_on_a_new_one(tmp_path, pg_url):
    from cat_engine.services.candidate import UPDATE_POSITION

    prepare_site(tmp_path, candidates=2, database_url=pg_url)
    store = Store(pg_url)
    engine = make_engine(pg_url, native_thread=True)  # the writer's engine under gevent
    committer = GroupCommitter(sessionmaker(engine, expire_on_commit=False))
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    try:
        with store.transaction() as db:
            cid, sid = db.execute(select(Candidate.id, Candidate.session_id)).first()
            fence = (sid, lease.acquire(db, sid, "me", 0, 10**15).fence)
        committer.submit(Rows((UPDATE_POSITION, {"cid": cid, "pos": 1})), fence=fence)
        for pos in range(2, 5):
            assert _end_writer_backends(admin, pg_url) == 1
            # The pipelined path (rows, fenced), then SQLAlchemy's own (a function).
            committer.submit(Rows((UPDATE_POSITION, {"cid": cid, "pos": pos})), fence=fence)
            with store.read() as db:
                assert db.get(Candidate, cid).position == pos
            assert _end_writer_backends(admin, pg_url) == 1
            committer.submit(lambda db, p=pos: db.execute(
                text("UPDATE candidates SET position = :p WHERE id = :c"),
                {"p": p + 10, "c": cid}))
            with store.read() as db:
                assert db.get(Candidate, cid).position == pos + 10
        # A stale fence is still refused after a reconnect.
        assert _end_writer_backends(admin, pg_url) == 1
        with pytest.raises(lease.LeaseLost):
            committer.submit(Rows((UPDATE_POSITION, {"cid": cid, "pos": 99})),
                             fence=(sid, fence[1] + 1))
        with store.read() as db:
            assert db.get(Candidate, cid).position == 14
        # The pipelined batch's own BEGIN leaves no pooled connection in autocommit, the
        # failed one (stale fence) included.
        pooled = engine.raw_connection()
        try:
            assert pooled.driver_connection.autocommit is False
        finally:
            pooled.close()
    finally:
        committer.close()
        engine.dispose()
        store.close()
        admin.dispose()


def test_a_server_loses_no_answer_when_its_writer_connection_is_ended(tmp_path, pg_url):
    """A real `serve` (gevent, the writer in its native thread): the writer's backend ended
    between answers; every answer is acknowledged, none with an error, and every acknowledged
    answer is in the database."""
    site = prepare_site(tmp_path, candidates=1, database_url=pg_url)
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    acked = []
    with ServerProcess(site) as server:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, namespaces=[NS], transports=["websocket"])
        assert client.call("login", site.login(0), namespace=NS)["ok"]
        assert client.call("start", {}, namespace=NS)["ok"]
        for seq in range(1, 9):
            if seq > 1 and seq % 2 == 0:
                assert _end_writer_backends(admin, pg_url) >= 1
            reply = client.call("answer", {"seq": seq, "position": seq, "choice": 1},
                                namespace=NS)
            assert reply.get("saved"), reply
            acked.append(seq)
        client.disconnect()
        log = server.log_path.read_text()
    assert log.count("the writer's database connection was lost") >= 4
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        stored = list(conn.execute(select(AnswerEvent.seq).where(AnswerEvent.kind == "answer")
                                   .order_by(AnswerEvent.seq)).scalars())
    engine.dispose()
    admin.dispose()
    assert stored == acked
