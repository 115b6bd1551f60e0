"""PIN guessing and token guessing against a real server: a lockout per registration number
that reconnecting does not escape, a proctor's release that ends it, and a throttle on wrong
session tokens per terminal and address."""

from __future__ import annotations

import pytest

from .conftest import audit_rows, candidate_id, console, make_site, start_server

FAILURES = 3


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("guard"), candidates=4)


@pytest.fixture(scope="module")
def server(site):
    running = start_server(site[0], LOGIN_MAX_FAILURES=FAILURES, LOGIN_LOCKOUT_S=3600,
                           TOKEN_MAX_FAILURES=50)
    yield running
    running.stop()


def login_once(clients, url, message):
    """Each attempt on a fresh connection: what a guesser who reconnects gets."""
    terminal = clients(url)
    try:
        return terminal.call("login", message)
    finally:
        terminal.close()


def test_wrong_pins_lock_the_registration_across_connections(site, server, clients):
    prepared, session_id = site
    watcher = console(clients, server.url, session_id)
    good = prepared.login(0)
    wrong = {**good, "pin": "0000"}
    replies = [login_once(clients, server.url, wrong) for _ in range(FAILURES)]
    assert [r["error"]["code"] for r in replies] == ["bad_credentials"] * (FAILURES - 1) + [
        "locked"]
    assert replies[-1]["retry_after_s"] > 3000
    # The right PIN does not get through a lockout, in either language, from any terminal.
    refused = login_once(clients, server.url, {**good, "terminal": "spare-pc", "lang": "en"})
    assert refused["ok"] is False and refused["error"]["code"] == "locked"
    assert "PIN" in refused["error"]["message"]
    # Other candidates are not affected.
    assert login_once(clients, server.url, prepared.login(1))["ok"] is True

    cid = candidate_id(prepared, good["registration"])
    locked = audit_rows(prepared, "login_locked")
    assert [row["candidate_id"] for row in locked] == [cid]
    assert locked[0]["detail"]["failures"] == FAILURES
    alert = watcher.wait_for("alert", lambda a: a["kind"] == "locked")
    assert alert["candidate_id"] == cid
    # A console that opens now sees the lockout on the seat.
    seat = {s["id"]: s for s in console(clients, server.url, session_id).snapshot["seats"]}[cid]
    assert seat["locked"] is True

    released = watcher.call("release", {"candidate_id": cid, "reason": "identity checked"})
    assert released["ok"], released
    assert login_once(clients, server.url, good)["ok"] is True


def test_a_correct_login_starts_the_count_again(site, server, clients):
    prepared, _ = site
    good = prepared.login(2)
    for _ in range(3):
        for _ in range(FAILURES - 1):
            assert login_once(clients, server.url, {**good, "pin": "0000"})["error"][
                "code"] == "bad_credentials"
        assert login_once(clients, server.url, good)["ok"] is True


def test_unknown_registrations_are_locked_alike(site, server, clients):
    """A lockout says nothing about whether a registration number exists."""
    prepared, _ = site
    ghost = {**prepared.login(3), "registration": "NOBODY-1", "pin": "0000"}
    codes = [login_once(clients, server.url, ghost)["error"]["code"] for _ in range(FAILURES)]
    assert codes == ["bad_credentials"] * (FAILURES - 1) + ["locked"]


@pytest.fixture(scope="module")
def token_site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("token"), candidates=2)


def test_wrong_tokens_are_throttled_per_terminal_and_address(token_site, clients):
    prepared, _ = token_site
    running = start_server(prepared, TOKEN_MAX_FAILURES=FAILURES, TOKEN_COOLDOWN_S=3600)
    try:
        guess = {**prepared.login(0), "token": "WRONG1"}
        codes = [login_once(clients, running.url, guess)["error"]["code"]
                 for _ in range(FAILURES)]
        assert codes == ["bad_credentials"] * FAILURES
        # From then on that terminal (and address) is refused even with the right token,
        # and wrong tokens never counted against the candidate's PIN.
        refused = login_once(clients, running.url, prepared.login(0, terminal=guess["terminal"]))
        assert refused["error"]["code"] == "rate_limited"
        assert audit_rows(prepared, "login_locked") == []
    finally:
        running.stop()


def test_unlocking_a_login_leaves_the_working_terminal_alone(site, server, clients):
    """Someone guesses the PIN of a candidate who is working: the lockout does not disturb the
    candidate, and the proctor's unlock_login ends it without releasing their terminal."""
    prepared, session_id = site
    watcher = console(clients, server.url, session_id)
    good = prepared.login(3)
    working = clients(server.url)
    assert working.call("login", good)["ok"] and working.call("start")["ok"]
    codes = [login_once(clients, server.url, {**good, "pin": "0000", "terminal": "other"})[
        "error"]["code"] for _ in range(FAILURES)]
    assert codes[-1] == "locked"
    assert working.call("answer", {"seq": 1, "position": 0, "choice": 1})["saved"] is True

    cid = candidate_id(prepared, good["registration"])
    unlocked = watcher.call("unlock_login", {"candidate_id": cid, "reason": "checked"})
    assert unlocked["ok"], unlocked
    assert audit_rows(prepared, "login_unlocked")[-1]["detail"]["was_locked"] is True
    assert working.call("answer", {"seq": 2, "position": 1, "choice": 0})["saved"] is True
    assert working.events("released") == []
    # A reload of the candidate's own terminal logs in again.
    assert login_once(clients, server.url, good)["ok"] is True
