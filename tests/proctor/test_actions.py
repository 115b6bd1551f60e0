"""Every proctor action through the /proctor socket, its effect on the candidate's terminal,
and its audit record (who, when, why) — against a real server process."""

from __future__ import annotations

import time

import pytest

from cat_engine.testing import ServerProcess

from .conftest import audit_rows

pytestmark = pytest.mark.slow


def seat_id(console, registration: str) -> int:
    return next(s["id"] for s in console.snapshot["seats"] if s["registration"] == registration)


@pytest.fixture
def candidate(server, site, clients):
    """A logged-in terminal for the index-th candidate: ``candidate(index, start=True)``."""

    def make(index: int, *, admit_with=None, start: bool = False, terminal: str | None = None):
        t = clients(server.url, "/candidate")
        reply = t.call("login", site.prepared.login(index, terminal=terminal))
        assert reply["ok"], reply
        t.login_reply = reply
        if admit_with is not None and reply["status"] == "waiting_admission":
            cid = seat_id(admit_with, site.prepared.registrations[index])
            assert admit_with.call("admit", {"candidate_id": cid, "reason": "KTP cocok"})["ok"]
            t.wait_for("admitted")
        if start:
            assert t.call("start")["ok"]
        return t

    return make


def test_the_seat_grid_is_in_seat_order_and_names_each_seat(site, console):
    seats = console.snapshot["seats"]
    numbers = [seat["seat"] for seat in seats]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert None not in numbers


def test_admit_after_identity_check(site, console, candidate):
    t = candidate(0)
    assert t.login_reply["status"] == "waiting_admission"
    cid = seat_id(console, site.prepared.registrations[0])
    assert t.call("start")["error"]["code"] == "not_admitted"

    refused = console.call("admit", {"candidate_id": cid, "reason": "   "})
    assert refused["error"]["code"] == "bad_request" and "reason" in refused["error"]["message"]
    reply = console.call("admit", {"candidate_id": cid, "reason": "KTP dan foto cocok"})
    assert reply == {"ok": True, "state": "admitted"}
    t.wait_for("admitted")
    console.wait_for("progress", lambda p: p["candidate_id"] == cid and p["status"] == "admitted")
    assert t.call("start")["ok"]
    [entry] = audit_rows(site, "admit", cid)
    assert entry["actor"] == "proctor:proc1"
    assert entry["detail"]["reason"] == "KTP dan foto cocok"
    assert abs(entry["at_ms"] - time.time() * 1000) < 60_000


def test_pause_and_resume_stop_the_clock(site, console, candidate):
    t = candidate(1, admit_with=console, start=True)
    cid = seat_id(console, site.prepared.registrations[1])
    assert console.call("pause", {"candidate_id": cid, "reason": "listrik padam"})["ok"]
    assert t.wait_for("paused")["reason"] == "proctor"
    frozen = t.wait_for("clock", lambda c: c["paused"])["remaining_ms"]
    assert t.call("answer", {"seq": 1, "position": 0, "choice": 0})["error"]["code"] == "paused"
    console.wait_for("progress", lambda p: p["candidate_id"] == cid and p["paused"])
    time.sleep(0.3)
    assert console.call("resume", {"candidate_id": cid, "reason": "listrik menyala"})["ok"]
    t.wait_for("resumed")
    resumed = t.wait_for("clock", lambda c: not c["paused"])["remaining_ms"]
    assert resumed >= frozen - 50  # the pause cost the candidate nothing
    assert t.call("answer", {"seq": 1, "position": 0, "choice": 0})["ok"]
    assert audit_rows(site, "pause", cid)[-1]["detail"]["reason"] == "listrik padam"
    resume = audit_rows(site, "resume", cid)[-1]
    assert resume["actor"] == "proctor:proc1" and resume["detail"]["paused_ms"] >= 300


def test_extend_time(site, console, candidate):
    t = candidate(2, admit_with=console, start=True)
    cid = seat_id(console, site.prepared.registrations[2])
    before = t.wait_for("clock")["remaining_ms"]
    assert console.call("extend", {"candidate_id": cid, "minutes": 0,
                                   "reason": "x"})["error"]["code"] == "bad_request"
    reply = console.call("extend", {"candidate_id": cid, "minutes": 5, "reason": "PC mati"})
    assert reply == {"ok": True, "extension_ms": 300_000}
    after = t.wait_for("clock", lambda c: c["remaining_ms"] > before + 250_000)["remaining_ms"]
    assert after <= before + 300_000
    entry = audit_rows(site, "extend", cid)[-1]
    assert entry["detail"] == {"reason": "PC mati", "minutes": 5}


def test_release_lets_the_candidate_move_to_a_spare_pc(site, console, candidate, clients,
                                                       server):
    first = candidate(3, admit_with=console, start=True, terminal="PC-07")
    cid = seat_id(console, site.prepared.registrations[3])
    assert first.call("answer", {"seq": 1, "position": 2, "choice": 1})["ok"]
    spare = clients(server.url, "/candidate")
    refused = spare.call("login", site.prepared.login(3, terminal="PC-SPARE"))
    assert refused["error"]["code"] == "already_active"
    alert = console.wait_for("alert", lambda a: a["candidate_id"] == cid)
    assert alert["kind"] == "second_login"

    assert console.call("release", {"candidate_id": cid, "reason": "PC-07 rusak"}) == {
        "ok": True, "released": True}
    first.wait_for("released")
    again = spare.call("login", site.prepared.login(3, terminal="PC-SPARE"))
    assert again["ok"] and again["status"] == "in_progress"
    sheet = spare.call("start")["sheet"]
    assert sheet["answers"][2] == 1  # the answer given on the broken PC is there
    entry = audit_rows(site, "release", cid)[-1]
    assert entry["detail"] == {"reason": "PC-07 rusak", "terminal": "PC-07"}
    assert entry["actor"] == "proctor:proc1"


def test_finish_by_the_proctor(site, console, candidate):
    t = candidate(4, admit_with=console, start=True)
    cid = seat_id(console, site.prepared.registrations[4])
    reply = console.call("finish", {"candidate_id": cid, "reason": "peserta sakit"})
    assert reply["ok"] and "total" in reply["result"]
    assert t.wait_for("finished")["reason"] == "proctor"
    again = console.call("finish", {"candidate_id": cid, "reason": "lagi"})
    assert again["error"]["code"] == "not_started"
    entry = audit_rows(site, "finish", cid)[-1]
    assert entry["actor"] == "proctor:proc1"
    assert entry["detail"]["reason"] == "proctor" and entry["detail"]["note"] == "peserta sakit"


def test_disqualify_with_a_reason(site, console, candidate):
    t = candidate(5, admit_with=console, start=True)
    cid = seat_id(console, site.prepared.registrations[5])
    reply = console.call("disqualify", {"candidate_id": cid, "reason": "membawa ponsel"})
    assert reply == {"ok": True, "state": "disqualified"}
    assert t.wait_for("disqualified")["reason"] == "membawa ponsel"
    assert t.call("answer", {"seq": 1, "position": 0, "choice": 0})["error"]["code"] == \
        "disqualified"
    entry = audit_rows(site, "disqualify", cid)[-1]
    assert entry["detail"] == {"reason": "membawa ponsel"}


def test_pause_and_resume_the_whole_room(site, console, candidate):
    a = candidate(6, admit_with=console, start=True)
    b = candidate(7, admit_with=console, start=True)
    reply = console.call("pause_room", {"session_id": site.session_id, "reason": "gempa"})
    assert reply["ok"] and reply["candidates"] >= 2
    assert a.wait_for("paused")["reason"] == "room"
    assert b.wait_for("paused")["reason"] == "room"
    assert console.call("resume_room", {"session_id": site.session_id,
                                        "reason": "aman"})["candidates"] >= 2
    a.wait_for("resumed")
    b.wait_for("resumed")
    room = audit_rows(site, "pause_room")[-1]
    assert room["actor"] == "proctor:proc1" and room["detail"]["reason"] == "gempa"
    assert audit_rows(site, "resume_room")[-1]["detail"]["reason"] == "aman"


def test_incident_log_is_recorded_printable_and_exported(site, server, console):
    reply = console.call("incident", {"session_id": site.session_id,
                                      "text": "Pukul 08.40 listrik padam 5 menit"})
    assert reply["ok"]
    pushed = console.wait_for("incident")
    assert pushed["detail"]["text"] == "Pukul 08.40 listrik padam 5 menit"
    assert audit_rows(site, "incident")[-1]["actor"] == "proctor:proc1"
    from .conftest import web_login

    web = web_login(server.url, "proc1")
    page = web.get(f"{server.url}/proctor/session/{site.session_id}/incidents", timeout=10)
    assert page.status_code == 200 and "listrik padam 5 menit" in page.text
    csv_text = web.get(f"{server.url}/proctor/session/{site.session_id}/incidents",
                       params={"format": "csv"}, timeout=10)
    assert csv_text.headers["Content-Type"].startswith("text/csv")
    assert "Pukul 08.40 listrik padam 5 menit" in csv_text.text
    assert "proctor:proc1" in csv_text.text


def test_results_print_and_csv(site, server):
    from .conftest import web_login

    web = web_login(server.url, "proc1")
    page = web.get(f"{server.url}/proctor/session/{site.session_id}/results", timeout=10)
    assert page.status_code == 200 and site.prepared.registrations[0] in page.text
    rows = web.get(f"{server.url}/proctor/session/{site.session_id}/results",
                   params={"format": "csv"}, timeout=10).text.lstrip("\ufeff").splitlines()
    assert rows[0] == ("rank,registration,name,formation,status,TWK,TIU,TKP,total,passed,"
                       "receipt")
    assert len(rows) == 1 + 12
    for page in ("results", "incidents"):
        pdf = web.get(f"{server.url}/proctor/session/{site.session_id}/{page}",
                      params={"format": "pdf"}, timeout=60)
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF") and b"/Type /Page" in pdf.content


def test_token_rotation(site, console, clients, server):
    old = site.prepared.token
    reply = console.call("rotate_token", {"session_id": site.session_id,
                                          "reason": "token terlihat di luar ruangan"})
    assert reply["ok"] and reply["token"] != old
    assert console.wait_for("token")["token"] == reply["token"]
    t = clients(server.url, "/candidate")
    assert t.call("login", site.prepared.login(8))["error"]["code"] == "bad_credentials"
    site.prepared.token = reply["token"]
    assert t.call("login", site.prepared.login(8))["ok"]
    assert audit_rows(site, "token_rotate")[-1]["detail"]["reason"].startswith("token")


def test_unlock_opens_a_session_with_its_passphrase(tmp_path):
    """A scheduled session: the console's passphrase opens it and unlocks the bank in the
    server's memory only; a wrong passphrase changes nothing."""
    from cat_engine.services import users
    from cat_engine.store import Store
    from cat_engine.testing import prepare_site

    from .conftest import Client, cookie_header, web_login

    prepared = prepare_site(tmp_path, candidates=2, open_session=False)
    store = Store(prepared.database_url)
    users.add_user(store, "admin1", "admin password 1", "admin")
    store.close()
    env = {k: v for k, v in prepared.env().items() if k != "CAT_ENGINE_TEST_PASSPHRASE"}
    with ServerProcess(data_dir=prepared.data_dir, env=env) as server:
        web = web_login(server.url, "admin1")
        c = Client(server.url, "/proctor", {"Cookie": cookie_header(web)}).connect()
        try:
            snap = c.call("watch", {"session_id": 1})
            assert snap["session"]["state"] == "scheduled"
            wrong = c.call("unlock", {"session_id": 1, "passphrase": "salah"})
            assert wrong["error"]["code"] == "bad_key"
            assert c.call("watch", {"session_id": 1})["session"]["state"] == "scheduled"
            assert c.call("unlock", {"session_id": 1, "passphrase": prepared.passphrase})["ok"]
            assert c.call("watch", {"session_id": 1})["session"]["state"] == "open"
        finally:
            c.close()
        t = Client(server.url, "/candidate").connect()
        try:
            assert t.call("login", prepared.login(0))["ok"]
            assert t.call("start")["ok"]
            item = t.call("get_item", {"position": 0})
            assert item["ok"] and item["options"]
        finally:
            t.close()
    # The passphrase typed in the console was kept in the server's memory only.
    for path in prepared.data_dir.glob("cat-engine.sqlite3*"):
        assert prepared.passphrase.encode() not in path.read_bytes()
