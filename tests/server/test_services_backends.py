"""PostgreSQL as the store and Redis as the message queue (scale-out), with real services.

Skipped unless CAT_ENGINE_TEST_POSTGRES_URL / CAT_ENGINE_TEST_REDIS_URL name them.
"""

from __future__ import annotations

import os
import secrets
import time

import pytest
import socketio
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cat_engine.testing import ServerProcess, prepare_site

NS = "/candidate"
PG = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")
REDIS = os.environ.get("CAT_ENGINE_TEST_REDIS_URL")


@pytest.fixture
def pg_url():
    """A database of its own on the test server, dropped afterwards."""
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    name = f"cat_engine_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.skip(f"PostgreSQL at {make_url(PG).render_as_string()} unusable: {exc}")
    yield make_url(PG).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not PG, reason="CAT_ENGINE_TEST_POSTGRES_URL is not set")
def test_exam_on_postgresql(tmp_path, pg_url):
    site = prepare_site(tmp_path, candidates=2, database_url=pg_url)
    with ServerProcess(site) as server:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, namespaces=[NS], transports=["websocket"])
        assert client.call("login", site.login(0), namespace=NS)["ok"]
        assert client.call("start", {}, namespace=NS)["ok"]
        for seq in range(1, 6):
            assert client.call("answer", {"seq": seq, "position": seq, "choice": 1},
                               namespace=NS)["saved"]
        result = client.call("finish", {"seq": 6}, namespace=NS)
        assert result["ok"] and result["result"]["total"] >= 0
        client.disconnect()
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM answer_events WHERE kind = 'answer'")
                            ).scalar() == 5
        assert conn.execute(text("SELECT state FROM candidates WHERE registration = 'R00001'")
                            ).scalar() == "finished"
    engine.dispose()


@pytest.mark.redis
@pytest.mark.skipif(not REDIS, reason="CAT_ENGINE_TEST_REDIS_URL is not set")
def test_pushes_travel_through_the_message_queue(tmp_path):
    import redis

    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS} unusable: {exc}")
    site = prepare_site(tmp_path, candidates=1)
    with ServerProcess(site, args=["--message-queue", REDIS]) as server:
        received = []
        client = socketio.Client(reconnection=False)
        client.on("released", lambda data=None: received.append(data), namespace=NS)
        client.connect(server.url, namespaces=[NS], transports=["websocket"])
        assert client.call("login", site.login(0), namespace=NS)["ok"]
        # Another process (a second server, the proctor console's) emits through Redis only.
        from flask_socketio import SocketIO

        external = SocketIO(message_queue=REDIS)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            external.emit("released", {}, to="cand:1", namespace=NS)
            time.sleep(0.3)
        client.disconnect()
    assert received == [{}]
