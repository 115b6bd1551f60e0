"""Fixtures of the proctor-console and scoreboard tests: a real site, a real server process,
real accounts, and python-socketio clients signed in through the login page."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from cat_engine import testing
from cat_engine.testing import (
    DISPLAY_SECRET_KEY,
    PreparedSite,
    ServerProcess,
    cookie_header,
    enrolled_device,
    prepare_site,
)
from cat_engine.testing import SocketClient as Client

CANDIDATES = 12
PASSWORDS = {"admin1": "admin password 1", "proc1": "proctor password 1",
             "proc2": "proctor password 2"}


@dataclass
class Site:
    prepared: PreparedSite
    session_id: int
    other_session_id: int


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    """Session S1 (proctor proc1, no auto-admit) and S2 (proctor proc2) on one bank."""
    from cat_engine.services import sessions, users
    from cat_engine.store import Store

    prepared = prepare_site(tmp_path_factory.mktemp("proctor-site"), candidates=CANDIDATES,
                            auto_admit=False)
    store = Store(prepared.database_url)
    try:
        s1 = sessions.find_session(store, prepared.session)
        s2 = sessions.create_session(store, name="S2", exam_source=str(
            prepared.data_dir / "exam.toml"), bank_path=prepared.bank_path, room="R2")
        sessions.add_candidates(store, s2.id, [sessions.RosterRow(
            "Q00001", "Lain Sesi", "1990-01-01", "general", {}, None, "9999")])
        for name, password in PASSWORDS.items():
            users.add_user(store, name, password, "admin" if name == "admin1" else "proctor")
        users.assign(store, "proc1", s1.id)
        users.assign(store, "proc2", s2.id)
    finally:
        store.close()
    return Site(prepared, s1.id, s2.id)


@pytest.fixture(scope="module")
def server(site):
    with ServerProcess(site.prepared) as running:
        yield running


def web_login(url: str, username: str, password: str | None = None) -> requests.Session:
    """Sign in through the login form (with its CSRF token), as a browser would."""
    return testing.web_login(url, username, password or PASSWORDS[username])


@pytest.fixture(scope="module")
def display_secret(site) -> str:
    """The credential of a display enrolled for the whole site."""
    return enrolled_device(site.prepared.database_url)


@pytest.fixture
def clients(request):
    made: list[Client] = []

    def make(url: str, namespace: str, web: requests.Session | None = None,
             auth: dict | None = None) -> Client:
        headers = {"Cookie": cookie_header(web)} if web is not None else None
        if namespace == "/display" and auth is None:  # an enrolled screen, unless told
            auth = {"device": request.getfixturevalue("display_secret")}
        c = Client(url, namespace, headers, auth).connect()
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def console(server, site, clients):
    """A signed-in proctor (proc1) watching S1 over /proctor."""
    web = web_login(server.url, "proc1")
    c = clients(server.url, "/proctor", web)
    snapshot = c.call("watch", {"session_id": site.session_id})
    assert snapshot["ok"], snapshot
    c.snapshot = snapshot
    return c


@pytest.fixture
def working(server, site, clients, console):
    """``working(index)``: the index-th candidate admitted, started, on a terminal."""

    def make(index: int):
        reg = site.prepared.registrations[index]
        cid = next(s["id"] for s in console.snapshot["seats"] if s["registration"] == reg)
        t = clients(server.url, "/candidate")
        assert t.call("login", site.prepared.login(index))["ok"]
        console.call("admit", {"candidate_id": cid, "reason": "identitas cocok"})
        assert t.call("start")["ok"]
        t.cid = cid
        t.seq = 0
        return t

    return make


def audit_rows(site: Site, action: str, candidate_id: int | None = None) -> list[dict]:
    """Audit entries of an action (newest last), read straight from the database."""
    import json
    import sqlite3

    with sqlite3.connect(site.prepared.data_dir / "cat-engine.sqlite3") as db:
        query = "SELECT actor, action, candidate_id, detail, at_ms FROM audit_log WHERE action = ?"
        params: list = [action]
        if candidate_id is not None:
            query += " AND candidate_id = ?"
            params.append(candidate_id)
        return [{"actor": a, "action": b, "candidate_id": c, "detail": json.loads(d),
                 "at_ms": t} for a, b, c, d, t in db.execute(query + " ORDER BY id", params)]


# ---------------------------------------------------------------- the browser (Playwright)



def watch_errors(page) -> list[str]:
    """Collect uncaught script errors and refused resources (CSP) of a page."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    return errors


def sign_in(page, url: str, username: str) -> None:
    page.goto(f"{url}/proctor/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/proctor/")


def enrol_screen(context, secret: str) -> None:
    """Give a browser context the credential of an enrolled display (board.js reads it)."""
    context.add_init_script(
        f"localStorage.setItem({DISPLAY_SECRET_KEY!r}, {secret!r});")
