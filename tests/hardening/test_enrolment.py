"""Attack 1 of issue 11 (the public board as an answer-key oracle) and the room binding:
only enrolled screens see the board, a candidate's PC never can, and a session can take
logins only from enrolled PCs and from its room's address ranges. Real server, real sockets."""

from __future__ import annotations

import time

import pytest

from cat_engine.testing import enrolled_device

from .conftest import candidate_id, console, make_site, start_server


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("enrol"), candidates=4)


@pytest.fixture(scope="module")
def server(site):
    running = start_server(site[0], TRUST_PROXY=1, RATE_PER_S=200, RATE_BURST=200)
    yield running
    running.stop()


def test_an_unenrolled_screen_or_a_candidate_pc_gets_nothing_from_the_board(
        site, server, clients):
    prepared, _ = site
    stranger = clients(server.url, "/display")
    for message in ({"session": prepared.session}, {"site": True}):
        reply = stranger.call("subscribe", message)
        assert reply["ok"] is False and reply["error"]["code"] == "not_enrolled"
    # A PC enrolled as a candidate terminal is not a display.
    pc = clients(server.url, "/display", auth={"device": enrolled_device(
        prepared.database_url, "terminal", room="R1")})
    assert pc.call("subscribe", {"session": prepared.session})["error"]["code"] == \
        "not_enrolled"
    # A terminal's own connection cannot speak to the board at all.
    terminal = clients(server.url)
    assert terminal.call("login", prepared.login(0))["ok"]
    assert not any(event in ("snapshot", "board") for event, *_ in terminal.pushed)


def test_a_screen_pairs_shows_its_room_only_and_goes_dark_when_revoked(site, server, clients):
    prepared, session_id = site
    screen = clients(server.url, "/display")
    paired = screen.call("pair")
    assert paired["ok"] and len(paired["code"]) == 6 and len(paired["secret"]) >= 40
    proctor = console(clients, server.url, session_id)
    # A proctor may not enrol for the whole site; for their room they may.
    refused = proctor.call("enrol_device", {"session_id": session_id, "code": paired["code"],
                                            "scope": "site"})
    assert refused["error"]["code"] == "forbidden"
    done = proctor.call("enrol_device", {"session_id": session_id,
                                         "code": paired["code"].lower(), "name": "wall"})
    assert done["ok"] and done["device"]["room"] == "R1"
    screen.wait_for("enrolled")
    assert proctor.call("enrol_device", {"session_id": session_id,
                                         "code": paired["code"]})["error"]["code"] == "not_found"

    wall = clients(server.url, "/display", auth={"device": paired["secret"]})
    assert wall.call("subscribe", {"session": prepared.session})["ok"]
    assert [r["room"] for r in wall.call("subscribe", {"site": True})["rooms"]] == ["R1"]

    revoked = proctor.call("revoke_device", {"session_id": session_id,
                                             "device_id": done["device"]["id"],
                                             "reason": "screen moved to the hall"})
    assert revoked["ok"]
    deadline = time.monotonic() + 5
    while wall.client.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not wall.client.connected
    again = clients(server.url, "/display", auth={"device": paired["secret"]})
    assert again.call("subscribe", {"session": prepared.session})["error"]["code"] == \
        "not_enrolled"


def test_changing_answers_fast_raises_the_too_fast_alert(site, server, clients):
    """Probing a live board by changing one answer over and over is as fast as answering."""
    prepared, session_id = site
    proctor = console(clients, server.url, session_id)
    terminal = clients(server.url, "/candidate", {"X-Forwarded-For": "10.1.0.3"})
    assert terminal.call("login", prepared.login(2))["ok"]
    assert terminal.call("start")["ok"]
    for seq in range(1, 10):  # one item, five options, round and round
        assert terminal.call("answer", {"seq": seq, "position": 0, "choice": seq % 5})["ok"]
    alert = proctor.wait_for("alert", lambda a: a["kind"] == "too_fast")
    assert alert["candidate_id"] == candidate_id(prepared, prepared.registrations[2])


def test_a_session_takes_logins_only_from_enrolled_pcs_in_its_room_ranges(
        site, server, clients):
    prepared, session_id = site
    proctor = console(clients, server.url, session_id)
    bad = proctor.call("settings", {"session_id": session_id, "reason": "room binding",
                                    "networks": ["10.1.0.0/33"]})
    assert bad["error"]["code"] == "bad_request" and "networks" in bad["error"]["message"]
    assert "10.1.0.0/33" in bad["error"]["detail"]
    assert proctor.call("settings", {"session_id": session_id, "reason": "room binding",
                                     "enrolled_terminals": True,
                                     "networks": ["10.1.0.0/24"]})["ok"]
    try:
        # From outside the room's range: refused before the PIN, and the proctor is told.
        outside = clients(server.url, "/candidate", {"X-Forwarded-For": "172.16.0.9"})
        reply = outside.call("login", prepared.login(3))
        assert reply["error"]["code"] == "address_not_allowed"
        alert = proctor.wait_for("alert", lambda a: a["kind"] == "outside_room")
        assert alert["detail"]["address"] == "172.16.0.9"

        # In the range but not enrolled: refused; the PC pairs, the proctor confirms.
        pc = clients(server.url, "/candidate", {"X-Forwarded-For": "10.1.0.44"})
        assert pc.call("login", prepared.login(3))["error"]["code"] == "device_not_enrolled"
        paired = pc.call("pair", {"lang": "en"})
        assert proctor.call("enrol_device", {"session_id": session_id,
                                             "code": paired["code"], "name": "seat 4"})["ok"]
        pc.wait_for("enrolled")
        assert pc.call("login", {**prepared.login(3), "device": paired["secret"]})["ok"]
        # A display's credential is not a PC's.
        other = clients(server.url, "/candidate", {"X-Forwarded-For": "10.1.0.45"})
        screen = enrolled_device(prepared.database_url, "display", room="R1")
        assert other.call("login", {**prepared.login(1), "terminal": "x",
                                    "device": screen})["error"]["code"] == "device_not_enrolled"
    finally:
        assert proctor.call("settings", {"session_id": session_id, "reason": "done",
                                         "enrolled_terminals": False, "networks": []})["ok"]


@pytest.mark.browser
def test_a_room_pc_shows_its_code_and_logs_in_once_enrolled(site, server, clients, page):
    """The terminal page as a candidate sees it, in Debian's chromium: a session that takes
    enrolled PCs only; the PC shows a pairing code, the proctor types it, the login goes on."""
    import re

    from playwright.sync_api import expect

    prepared, session_id = site
    proctor = console(clients, server.url, session_id)
    assert proctor.call("settings", {"session_id": session_id, "reason": "enrolled PCs only",
                                     "enrolled_terminals": True})["ok"]
    try:
        registration = prepared.registrations[1]  # not bound to a PC by the tests above
        page.goto(f"{server.url}/terminal/")
        page.fill("#registration", registration)
        page.fill("#pin", prepared.pins[registration])
        page.fill("#token", prepared.token)
        page.press("#token", "Enter")
        code = page.locator("#pairing-code")
        expect(code).to_have_text(re.compile(r"^[A-Z0-9]{6}$"), timeout=15_000)
        expect(page.locator("#login-error")).to_contain_text("pengawas")
        assert proctor.call("enrol_device", {"session_id": session_id,
                                             "code": code.text_content(),
                                             "name": "kursi 1"})["ok"]
        expect(page.locator("#view-confirm")).to_be_visible(timeout=15_000)
        expect(code).to_be_hidden()
    finally:
        assert proctor.call("settings", {"session_id": session_id, "reason": "done",
                                         "enrolled_terminals": False})["ok"]
