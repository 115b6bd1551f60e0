"""Who may do what: a proctor only on their own sessions, a display only subscribes, a
candidate never reaches the proctor events, and the web pages follow the same rules."""

from __future__ import annotations

import time

import pytest
import socketio

from .conftest import PASSWORDS, Client, audit_rows, cookie_header, web_login

pytestmark = pytest.mark.slow

ACTIONS = ("admit", "release", "pause", "resume", "finish", "disqualify")


def other_candidate(site, server) -> int:
    web = web_login(server.url, "proc2")
    c = Client(server.url, "/proctor", {"Cookie": cookie_header(web)}).connect()
    try:
        snap = c.call("watch", {"session_id": site.other_session_id})
        return snap["seats"][0]["id"]
    finally:
        c.close()


def test_a_proctor_cannot_touch_another_proctors_session(site, server, console):
    foreign = other_candidate(site, server)
    watched = console.call("watch", {"session_id": site.other_session_id})
    assert watched["error"]["code"] == "forbidden"
    audit_before = {a: len(audit_rows(site, a)) for a in ACTIONS}
    for action in ACTIONS:
        reply = console.call(action, {"candidate_id": foreign, "reason": "coba"})
        assert reply["error"]["code"] == "forbidden", (action, reply)
    reply = console.call("extend", {"candidate_id": foreign, "minutes": 5, "reason": "coba"})
    assert reply["error"]["code"] == "forbidden"
    for action in ("pause_room", "rotate_token", "freeze", "close_session"):
        reply = console.call(action, {"session_id": site.other_session_id, "reason": "coba"})
        assert reply["error"]["code"] == "forbidden", (action, reply)
    assert console.call("incident", {"session_id": site.other_session_id,
                                     "text": "x"})["error"]["code"] == "forbidden"
    assert {a: len(audit_rows(site, a)) for a in ACTIONS} == audit_before


def test_an_incident_cannot_name_a_candidate_of_another_session(site, server, console):
    foreign = other_candidate(site, server)
    reply = console.call("incident", {"session_id": site.session_id, "text": "x",
                                      "candidate_id": foreign})
    assert reply["error"]["code"] == "forbidden"


def test_an_admin_sees_every_session(site, server, clients):
    c = clients(server.url, "/proctor", web_login(server.url, "admin1"))
    assert c.call("watch", {"session_id": site.other_session_id})["ok"]


def test_the_proctor_socket_refuses_strangers(server):
    stranger = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        stranger.connect(server.url, namespaces=["/proctor"], transports=["websocket"],
                         wait_timeout=5)
    forged = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        forged.connect(server.url, namespaces=["/proctor"], transports=["websocket"],
                       headers={"Cookie": "session=eyJ1aWQiOjF9.forged.sig"},
                       wait_timeout=5)


def test_a_candidate_cannot_reach_proctor_events(site, server, clients):
    t = clients(server.url, "/candidate")
    assert t.call("login", site.prepared.login(9))["ok"]
    cid_guess = 1
    for action in ("admit", "release", "pause", "resume", "disqualify", "extend", "watch",
                   "pause_room", "rotate_token", "freeze", "settings", "unlock"):
        reply = t.call(action, {"candidate_id": cid_guess, "session_id": site.session_id,
                                "reason": "saya sendiri"})
        assert reply["error"]["code"] == "unknown_event"
    # "finish" on /candidate is the candidate's own finish: it takes no candidate id.
    own = t.call("finish", {"candidate_id": cid_guess, "reason": "x"})
    assert own["error"]["code"] == "bad_request"
    # A candidate's browser holds no console cookie, so /proctor stays closed to it.
    with pytest.raises(socketio.exceptions.ConnectionError):
        Client(server.url, "/proctor").connect()


def test_a_display_can_only_subscribe(site, server, clients, console):
    display = clients(server.url, "/display")
    assert display.call("subscribe", {"session": site.prepared.session})["ok"]
    cid = console.snapshot["seats"][10]["id"]
    before = len(audit_rows(site, "admit", cid))
    for event in (*ACTIONS, "watch", "answer", "login", "settings", "freeze"):
        reply = display.call(event, {"candidate_id": cid, "session_id": site.session_id,
                                     "reason": "x"})
        assert reply["error"]["code"] == "read_only", event
    assert len(audit_rows(site, "admit", cid)) == before
    bad = display.call("subscribe", {"session": site.prepared.session, "extra": 1})
    assert bad["error"]["code"] == "bad_request"


def test_a_disabled_account_loses_the_console_at_once(site, server, clients):
    from cat_engine.services import users
    from cat_engine.store import Store

    store = Store(site.prepared.database_url)
    try:
        users.add_user(store, "proc3", "proctor password 3")
        users.assign(store, "proc3", site.session_id)
        web = web_login(server.url, "proc3", "proctor password 3")
        c = clients(server.url, "/proctor", web)
        assert c.call("watch", {"session_id": site.session_id})["ok"]
        users.set_disabled(store, "proc3")
    finally:
        store.close()
    # At once: an action is refused, and the sweep (twice a second) cuts the connection; under
    # load the cut can come first, while the action waits for its reply.
    try:
        reply = c.call("watch", {"session_id": site.session_id}, timeout=5)
    except socketio.exceptions.SocketIOError:
        reply = None
    assert reply is None or reply["error"]["code"] == "not_logged_in", reply
    until = time.monotonic() + 5
    while "/proctor" in c.client.namespaces and time.monotonic() < until:
        time.sleep(0.05)
    assert "/proctor" not in c.client.namespaces, "the console of a disabled account stays"
    assert web.get(f"{server.url}/proctor/", allow_redirects=False).status_code == 302


def test_pages_follow_the_same_rules(site, server):
    import requests

    anonymous = requests.get(f"{server.url}/proctor/", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/proctor/login" in anonymous.headers["Location"]
    web = web_login(server.url, "proc1")
    assert web.get(f"{server.url}/proctor/session/{site.other_session_id}",
                   timeout=10).status_code == 403
    assert web.get(f"{server.url}/proctor/session/{site.other_session_id}/results",
                   timeout=10).status_code == 403
    assert web.get(f"{server.url}/admin/", timeout=10).status_code == 403
    page = web.get(f"{server.url}/proctor/session/{site.session_id}", timeout=10)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    signed_in = web_login_attempt(server.url, "proc1", PASSWORDS["proc1"])
    cookie = signed_in.history[0].headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forms_need_their_csrf_token_and_logins_are_throttled(server):
    import requests

    web = requests.Session()
    web.get(f"{server.url}/proctor/login", timeout=10)
    no_token = web.post(f"{server.url}/proctor/login",
                        data={"username": "proc1", "password": PASSWORDS["proc1"]}, timeout=10)
    assert no_token.status_code == 400
    assert web.get(f"{server.url}/proctor/", allow_redirects=False).status_code == 302
    for _ in range(5):
        wrong = web_login_attempt(server.url, "admin1", "wrong password")
        assert wrong.status_code == 400 and "salah" in wrong.text
    locked = web_login_attempt(server.url, "admin1", PASSWORDS["admin1"])
    assert locked.status_code == 400 and "Tunggu" in locked.text


def web_login_attempt(url: str, username: str, password: str):
    import re

    import requests

    web = requests.Session()
    page = web.get(f"{url}/proctor/login", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    return web.post(f"{url}/proctor/login", data={"csrf_token": token, "username": username,
                                                  "password": password}, timeout=10)
