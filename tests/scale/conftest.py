"""A site as docs/deploy.md runs a large one: three `serve` processes behind nginx, on a
PostgreSQL database of their own and a private Redis, all started by the test and stopped."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from cat_engine.testing import (
    SMALL_EXAM,
    Nginx,
    PreparedSite,
    PrivateRedis,
    ServerProcess,
    postgres_database,
    prepare_site,
    share_issuers,
    stop_cluster,
)

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


@dataclass
class Cluster:
    sites: list[PreparedSite]
    servers: list[ServerProcess]
    proxy: Nginx
    redis: PrivateRedis
    database_url: str


@pytest.fixture
def cluster(tmp_path, pg_database):
    exam = tmp_path / "one-minute.toml"
    exam.write_text(ONE_MINUTE_EXAM)
    sites: list = []
    for i in (1, 2, 3):  # one site secret: the same processes serve all three sessions
        sites.append(prepare_site(tmp_path / f"s{i}", candidates=100, exam=str(exam),
                                  session=f"S{i}", database_url=pg_database,
                                  secret_from=sites[0].data_dir if sites else None))
    share_issuers(sites)
    try:
        redis = PrivateRedis(tmp_path).start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    env = {**sites[0].env(), "CAT_ENGINE_LEASE_TTL_S": "3"}
    servers = [ServerProcess(sites[0], args=["--message-queue", redis.url], env=env)
               for _ in range(3)]
    proxy = None
    try:
        for s in servers:
            s.start()
        try:
            proxy = Nginx(tmp_path / "nginx", [f"127.0.0.1:{s.port}" for s in servers])
        except FileNotFoundError as exc:
            pytest.skip(str(exc))
        yield Cluster(sites, servers, proxy, redis, pg_database)
    finally:
        stop_cluster(proxy, servers, redis)
