"""Fixtures of the live-server tests: a prepared site and a real `cat-engine serve` process."""

from __future__ import annotations

import pytest

from cat_engine.testing import PreparedSite, ServerProcess, prepare_site
from cat_engine.testing import SocketClient as Terminal

NS = "/candidate"


@pytest.fixture(scope="module")
def live_site(tmp_path_factory) -> PreparedSite:
    return prepare_site(tmp_path_factory.mktemp("site"), candidates=12)


@pytest.fixture(scope="module")
def server(live_site):
    with ServerProcess(live_site) as proc:
        yield proc


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
