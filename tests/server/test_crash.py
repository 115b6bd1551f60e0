"""SIGKILL the server in the middle of a load: nothing acknowledged is lost, and every running
deadline moves by the outage, counted until the restarted server serves the session again."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

import pytest
import socketio

from cat_engine.testing import ServerProcess, prepare_site

NS = "/candidate"
pytestmark = pytest.mark.slow


def _player(url: str, login: dict, acked: list, stop: threading.Event) -> None:
    client = socketio.Client(reconnection=False)
    try:
        client.connect(url, namespaces=[NS], transports=["websocket"], wait_timeout=10)
        assert client.call("login", login, namespace=NS, timeout=10)["ok"]
        n = client.call("start", {}, namespace=NS, timeout=10)["sheet"]["n_items"]
        seq = 0
        while not stop.is_set():
            seq += 1
            position, choice = seq % n, seq % 4
            reply = client.call("answer", {"seq": seq, "position": position, "choice": choice},
                                namespace=NS, timeout=5)
            if reply.get("saved"):
                acked.append((login["registration"], seq, position, choice))
    except Exception:
        pass  # the server dies under us: that is the test
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()


def _deadlines(db: sqlite3.Connection) -> dict[str, int]:
    return dict(db.execute(
        "SELECT c.registration, k.started_ms + k.allowed_ms + k.extension_ms + k.paused_ms "
        "+ k.outage_ms FROM clocks k JOIN candidates c ON c.id = k.candidate_id "
        "WHERE c.state = 'in_progress'").fetchall())


def test_sigkill_during_load_loses_no_acknowledged_answer(tmp_path):
    site = prepare_site(tmp_path, candidates=16)
    server = ServerProcess(site).start()
    acked: list = []
    stop = threading.Event()
    players = [threading.Thread(target=_player, args=(server.url, site.login(i), acked, stop))
               for i in range(16)]
    for p in players:
        p.start()
    # Kill in the middle of the load: once the players are well into it (logins cost an
    # argon2 PIN check each, so on a busy machine the first acks may take a while).
    deadline = time.monotonic() + 20
    while len(acked) <= 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    assert len(acked) > 50, server.output()
    server.kill()
    killed_at = time.time()
    stop.set()
    for p in players:
        p.join(10)
    acknowledged = list(acked)

    db_path = site.data_dir / "cat-engine.sqlite3"
    with sqlite3.connect(db_path) as db:
        before = _deadlines(db)
    assert len(before) == 16
    time.sleep(1.5)  # the outage

    restarted = ServerProcess(site, port=server.port).start()
    try:
        # Every candidate comes back at once (load) and reads their remaining time.
        lost: dict[str, int] = {}

        def back(index: int) -> None:
            client = socketio.Client(reconnection=False)
            client.connect(restarted.url, namespaces=[NS], transports=["websocket"])
            assert client.call("start", {}, namespace=NS)["error"]["code"] == "not_logged_in"
            login = site.login(index)
            assert client.call("login", login, namespace=NS, timeout=10)["status"] == (
                "in_progress")
            sheet = client.call("start", {}, namespace=NS, timeout=10)["sheet"]
            # Remaining at the kill minus remaining now (the outage credit included): the
            # exam time this candidate lost to the crash and the restart.
            lost[login["registration"]] = round(
                before[login["registration"]] - killed_at * 1000 - sheet["remaining_ms"])
            mine = [a for a in acknowledged if a[0] == login["registration"]]
            assert sheet["next_seq"] > max(a[1] for a in mine)
            client.disconnect()

        threads = [threading.Thread(target=back, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        with sqlite3.connect(db_path) as db:
            stored = set(db.execute(
                "SELECT c.registration, e.seq, e.position, e.value FROM answer_events e "
                "JOIN candidates c ON c.id = e.candidate_id").fetchall())
            outage = db.execute("SELECT last_beat_ms, restart_ms, candidates, session_id "
                                "FROM outages").fetchall()
        missing = [a for a in acknowledged if a not in stored]
        assert not missing, f"{len(missing)} acknowledged answers lost: {missing[:5]}"
        assert len(outage) == 1 and outage[0][2] == 16 and outage[0][3] is not None
        assert outage[0][0] <= killed_at * 1000 + 50  # counted from the last renewal
        assert len(lost) == 16, restarted.output()
        # At most half a second of anyone's time is lost to the crash and the restart.
        assert max(lost.values()) <= 500, sorted(lost.values())
    finally:
        restarted.stop()
