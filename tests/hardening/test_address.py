"""The terminal's address: recorded at login, and a session that continues from another
address raises the console's ``address_changed`` alert (and an audit entry). Behind a trusted
proxy the address comes from X-Forwarded-For; otherwise that header is the client's word and
is ignored."""

from __future__ import annotations

import pytest

from .conftest import audit_rows, candidate_id, console, make_site, start_server


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("address"), candidates=3)


def resume_from(clients, url, message, address):
    terminal = clients(url, headers={"X-Forwarded-For": address})
    reply = terminal.call("login", message)
    assert reply["ok"], reply
    assert terminal.call("start")["ok"]
    terminal.close()


def test_a_session_that_moves_to_another_address_alerts_the_proctor(site, clients):
    prepared, session_id = site
    running = start_server(prepared, TRUST_PROXY=1)
    try:
        watcher = console(clients, running.url, session_id)
        message = prepared.login(0)
        resume_from(clients, running.url, message, "10.1.0.5")
        resume_from(clients, running.url, message, "10.1.0.5")  # a reload: no alert
        resume_from(clients, running.url, message, "10.1.0.77")
        alert = watcher.wait_for("alert", lambda a: a["kind"] == "address_changed")
        cid = candidate_id(prepared, message["registration"])
        assert alert["candidate_id"] == cid
        assert alert["detail"]["from"] == "10.1.0.5" and alert["detail"]["to"] == "10.1.0.77"
        # One change, one alert and one audit entry (the reload from the same address: none).
        assert len([a for a in watcher.events("alert") if a["kind"] == "address_changed"]) == 1
        [entry] = audit_rows(prepared, "address_changed")
        assert entry["candidate_id"] == cid and entry["detail"]["to"] == "10.1.0.77"
        # The login itself records where it came from.
        assert audit_rows(prepared, "login")[0]["detail"]["address"] == "10.1.0.5"
    finally:
        running.stop()


def test_forwarded_addresses_are_ignored_without_a_trusted_proxy(site, clients):
    prepared, session_id = site
    running = start_server(prepared)
    try:
        watcher = console(clients, running.url, session_id)
        message = prepared.login(1)
        resume_from(clients, running.url, message, "10.2.0.5")
        resume_from(clients, running.url, message, "10.2.0.6")
        cid = candidate_id(prepared, message["registration"])
        assert [a for a in watcher.events("alert") if a["candidate_id"] == cid
                and a["kind"] == "address_changed"] == []
        logins = [r for r in audit_rows(prepared, "login") if r["candidate_id"] == cid]
        assert logins[0]["detail"]["address"] == "127.0.0.1"
    finally:
        running.stop()
