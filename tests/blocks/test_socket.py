"""Timed blocks over real websockets: a python-socketio client against `cat-engine serve`
running a two-block exam (TWK+TIU on the shared 10 minutes, then TKP's own 4)."""

from __future__ import annotations

import sqlite3
import time

import pytest
import socketio
from sqlalchemy.engine import make_url

from cat_engine.testing import ServerProcess

NS = "/candidate"


class Terminal:
    """A python-socketio client that records every event the server pushes to it."""

    def __init__(self, url: str):
        self.pushed: list[tuple[str, object]] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", lambda event, *args: self.pushed.append(
            (event, args[0] if args else None)), namespace=NS)
        self.client.connect(url, namespaces=[NS], transports=["websocket"], wait_timeout=10)

    def call(self, event: str, data=None):
        return self.client.call(event, {} if data is None else data, namespace=NS, timeout=10)

    def events(self, name: str) -> list:
        return [data for event, data in self.pushed if event == name]

    def wait_for(self, name: str, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while not self.events(name) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.events(name)


@pytest.fixture(scope="module")
def site(tmp_path_factory, two_block_files):
    return two_block_files(tmp_path_factory.mktemp("blocks"), candidates=2)


def _positions(sheet: dict, block: int) -> list[int]:
    return [p for s in sheet["sections"] if s["block"] == block
            for p in range(s["first"], s["first"] + s["count"])]


def test_blocks_over_the_wire_and_across_a_restart(site):
    with ServerProcess(site) as server:
        t = Terminal(server.url)
        try:
            assert t.call("login", site.login(0))["ok"]
            sheet = t.call("start")["sheet"]
            assert sheet["block"]["index"] == 0 and sheet["block"]["count"] == 2
            assert sheet["block"]["sections"] == ["TWK", "TIU"]
            assert 590_000 < sheet["remaining_ms"] <= 600_000
            assert 830_000 < sheet["exam_remaining_ms"] <= 840_000
            first, later = _positions(sheet, 0), _positions(sheet, 1)
            assert t.call("answer", {"seq": 1, "position": first[0], "choice": 0})["saved"]
            refused = t.call("get_item", {"position": later[0]})
            assert refused["error"]["code"] == "outside_block"
            assert refused["block"]["index"] == 0
            clock = t.wait_for("clock")[-1]
            assert clock["block"]["sections"] == ["TWK", "TIU"] and "exam_remaining_ms" in clock

            bad = t.call("next_block", {"seq": 2})
            assert bad["error"]["code"] == "bad_request"  # names the block it closes
            closed = t.call("next_block", {"seq": 2, "block": 0})
            assert closed["ok"] and closed["saved"] and closed["block"]["index"] == 1
            assert t.wait_for("block")[-1]["reason"] == "candidate"
            assert t.call("next_block", {"seq": 2, "block": 0})["duplicate"] is True
            assert t.call("answer", {"seq": 3, "position": first[1], "choice": 1}
                          )["error"]["code"] == "outside_block"
            assert t.call("answer", {"seq": 4, "position": later[0], "choice": 2})["saved"]
            assert t.call("next_block", {"seq": 5, "block": 1})["error"]["code"] == "last_block"
            assert t.call("finish", {"seq": 6})["ok"]
        finally:
            t.client.disconnect()

        # A second candidate starts, and the server dies in their first block.
        t = Terminal(server.url)
        try:
            assert t.call("login", site.login(1))["ok"]
            sheet = t.call("start")["sheet"]
        finally:
            t.client.disconnect()
        server.kill()

    # While it is down, pretend the candidate started 10.5 minutes ago: their first block ran
    # out before the crash, the exam's clock did not. The restarted scheduler moves them on
    # with nobody connected.
    db = sqlite3.connect(make_url(site.database_url).database)
    with db:
        db.execute("UPDATE clocks SET started_ms = started_ms - 630000 WHERE candidate_id = "
                   "(SELECT id FROM candidates WHERE registration = ?)",
                   (site.registrations[1],))
    db.close()
    with ServerProcess(site) as server:
        time.sleep(1.5)  # a few scheduler ticks
        t = Terminal(server.url)
        try:
            assert t.call("login", site.login(1))["ok"]
            sheet = t.call("start")["sheet"]
            assert sheet["block"]["index"] == 1 and sheet["block"]["sections"] == ["TKP"]
            # The block started where the first one ended: 4 minutes less the 30 s it ran.
            assert 200_000 < sheet["remaining_ms"] <= 210_000
            assert sheet["exam_remaining_ms"] == sheet["remaining_ms"]
        finally:
            t.client.disconnect()
