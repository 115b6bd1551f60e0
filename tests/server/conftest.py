"""Fixtures of the live-server tests: a prepared site and a real `cat-engine serve` process."""

from __future__ import annotations

import contextlib
import os

import pytest

from cat_engine.testing import PreparedSite, ServerProcess, postgres_database, prepare_site
from cat_engine.testing import SocketClient as Terminal

NS = "/candidate"
PG = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """None (SQLite in the test's directory), then a database of its own on PostgreSQL when
    CAT_ENGINE_TEST_POSTGRES_URL is set (skipped otherwise)."""
    if request.param == "sqlite":
        yield None
        return
    if not PG:
        pytest.skip("CAT_ENGINE_TEST_POSTGRES_URL is not set")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database(PG))
        except Exception as exc:
            pytest.skip(f"PostgreSQL unusable: {exc}")
        yield url


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
