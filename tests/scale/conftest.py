"""A site as docs/deploy.md runs a large one: three `serve` processes behind nginx, on a
PostgreSQL database of their own and a private Redis, all started by the test and stopped."""

from __future__ import annotations

import os

import pytest

from cat_engine.testing import SMALL_EXAM, postgres_database, start_cluster

PG = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")
#: One minute and ten items: a full exam that ends at its deadline within the test.
ONE_MINUTE_EXAM = SMALL_EXAM.replace("time_limit_minutes = 10", "time_limit_minutes = 1")


@pytest.fixture
def pg_database():
    if not PG:
        pytest.skip("CAT_ENGINE_TEST_POSTGRES_URL is not set")
    try:
        database = postgres_database(PG)
        url = database.__enter__()
    except Exception as exc:
        pytest.skip(f"PostgreSQL unusable: {exc}")
    yield url
    database.__exit__(None, None, None)


@pytest.fixture
def cluster(tmp_path, pg_database):
    exam = tmp_path / "one-minute.toml"
    exam.write_text(ONE_MINUTE_EXAM)
    try:
        with start_cluster(tmp_path, pg_database, sessions=["S1", "S2", "S3"],
                           candidates=100, exam=str(exam),
                           env={"CAT_ENGINE_LEASE_TTL_S": "3"}) as running:
            yield running
    except FileNotFoundError as exc:  # no redis-server or nginx here
        pytest.skip(str(exc))
