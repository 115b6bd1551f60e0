"""Fixtures of the hardening tests: a real site, real `cat-engine serve` processes started with
the settings a test needs, a signed-in proctor, and socket clients that record every push."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
import requests

from cat_engine.testing import PreparedSite, ServerProcess, prepare_site
from cat_engine.testing import SocketClient as Client

PROCTOR = ("proc1", "proctor password 1")


def make_site(path, **kwargs) -> tuple[PreparedSite, int]:
    """A prepared site with proctor ``proc1`` assigned to its session; (site, session id)."""
    from cat_engine.services import sessions, users
    from cat_engine.store import Store

    prepared = prepare_site(path, **kwargs)
    store = Store(prepared.database_url)
    try:
        session_id = sessions.find_session(store, prepared.session).id
        users.add_user(store, PROCTOR[0], PROCTOR[1], "proctor")
        users.assign(store, PROCTOR[0], session_id)
    finally:
        store.close()
    return prepared, session_id


def start_server(site: PreparedSite, **settings) -> ServerProcess:
    """``cat-engine serve`` with ``CAT_ENGINE_<KEY>`` environment settings."""
    env = site.env()
    env.update({f"CAT_ENGINE_{k}": str(v) for k, v in settings.items()})
    return ServerProcess(site, env=env).start()


@pytest.fixture
def clients():
    made: list[Client] = []

    def make(url: str, namespace: str = "/candidate", headers: dict | None = None,
             auth: dict | None = None) -> Client:
        c = Client(url, namespace, headers, auth).connect()
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def proctor_cookie(url: str) -> str:
    """Sign in through the console's login form (with its CSRF token), as a browser would."""
    web = requests.Session()
    page = web.get(f"{url}/proctor/login", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    reply = web.post(f"{url}/proctor/login", data={
        "csrf_token": token.group(1), "username": PROCTOR[0], "password": PROCTOR[1]},
        allow_redirects=False, timeout=10)
    assert reply.status_code == 302, reply.text[:300]
    return "; ".join(f"{c.name}={c.value}" for c in web.cookies)


def console(clients, url: str, session_id: int) -> Client:
    c = clients(url, "/proctor", {"Cookie": proctor_cookie(url)})
    snapshot = c.call("watch", {"session_id": session_id})
    assert snapshot["ok"], snapshot
    c.snapshot = snapshot
    return c


def audit_rows(site: PreparedSite, action: str) -> list[dict]:
    with sqlite3.connect(site.data_dir / "cat-engine.sqlite3") as db:
        return [{"actor": a, "candidate_id": c, "detail": json.loads(d)} for a, c, d in db.execute(
            "SELECT actor, candidate_id, detail FROM audit_log WHERE action = ? ORDER BY id",
            (action,))]


def candidate_id(site: PreparedSite, registration: str) -> int:
    with sqlite3.connect(site.data_dir / "cat-engine.sqlite3") as db:
        return db.execute("SELECT id FROM candidates WHERE registration = ?",
                          (registration,)).fetchone()[0]
