"""Fixtures of the live-server tests: a prepared site and a real `cat-engine serve` process."""

from __future__ import annotations

import pytest
import socketio

from cat_engine.testing import PreparedSite, ServerProcess, prepare_site

NS = "/candidate"


@pytest.fixture(scope="module")
def live_site(tmp_path_factory) -> PreparedSite:
    return prepare_site(tmp_path_factory.mktemp("site"), candidates=12)


@pytest.fixture(scope="module")
def server(live_site):
    with ServerProcess(live_site) as proc:
        yield proc


class Terminal:
    """A python-socketio client that records every event the server pushes to it."""

    def __init__(self, url: str):
        self.url = url
        self.pushed: list[tuple[str, object]] = []
        self.replies: list[object] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._record, namespace=NS)

    def _record(self, event, *args):
        self.pushed.append((event, args[0] if args else None))

    def connect(self) -> Terminal:
        self.client.connect(self.url, namespaces=[NS], transports=["websocket"], wait_timeout=10)
        return self

    def call(self, event: str, data=None, timeout: float = 10):
        reply = self.client.call(event, {} if data is None else data, namespace=NS,
                                 timeout=timeout)
        self.replies.append(reply)
        return reply

    def events(self, name: str) -> list:
        return [data for event, data in self.pushed if event == name]

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


@pytest.fixture
def terminal(server):
    made: list[Terminal] = []

    def make() -> Terminal:
        t = Terminal(server.url).connect()
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()
