"""The /candidate protocol against a real server process (docs/protocol.md)."""

from __future__ import annotations

import json
import sqlite3
import time

from cat_engine.testing import fixture_items


def _db(site):
    return sqlite3.connect(site.data_dir / "cat-engine.sqlite3")


def test_whole_exam_login_answer_flag_finish(live_site, terminal):
    t = terminal()
    login = t.call("login", live_site.login(0))
    assert login["ok"] and login["status"] == "ready"
    assert login["candidate"]["registration"] == live_site.registrations[0]
    assert [s["items"] for s in login["exam"]["sections"]] == [3, 3, 4]
    assert login["exam"]["duration_s"] == 600

    sheet = t.call("start")["sheet"]
    assert sheet["n_items"] == 10 and sheet["answers"] == [None] * 10
    assert sheet["next_seq"] == 1 and 590_000 < sheet["remaining_ms"] <= 600_000
    item = t.call("get_item", {"position": 4})
    assert item["ok"] and item["section"] == "TIU"
    assert [o["label"] for o in item["options"]] == list("ABCDE")

    for position in range(10):
        reply = t.call("answer", {"seq": position + 1, "position": position, "choice": 0})
        assert reply == {"ok": True, "seq": position + 1, "saved": True}
    assert t.call("flag", {"seq": 11, "position": 2, "doubtful": True})["saved"]
    result = t.call("finish", {"seq": 12})
    assert result["ok"]
    sections = result["result"]["sections"]
    assert [s["name"] for s in sections] == ["TWK", "TIU", "TKP"]
    assert result["result"]["total"] == sum(s["score"] for s in sections)
    assert t.events("finished")[-1]["reason"] == "candidate"
    # After the end nothing more is accepted, and a new login shows the result.
    refused = t.call("answer", {"seq": 13, "position": 0, "choice": 1})
    assert refused["error"]["code"] == "finished"
    again = t.call("login", live_site.login(0))
    assert again["status"] == "finished" and again["result"] == result["result"]


def test_answer_is_committed_before_its_ack(live_site, terminal):
    t = terminal()
    t.call("login", live_site.login(1))
    t.call("start")
    assert t.call("answer", {"seq": 1, "position": 3, "choice": 2})["saved"]
    # Read the database from another connection right after the ack.
    with _db(live_site) as db:
        rows = db.execute(
            "SELECT e.seq, e.position, e.value FROM answer_events e JOIN candidates c "
            "ON c.id = e.candidate_id WHERE c.registration = ?", (live_site.registrations[1],)
        ).fetchall()
    assert rows == [(1, 3, 2)]


def test_repeated_and_stale_seq_are_idempotent(live_site, terminal):
    t = terminal()
    t.call("login", live_site.login(2))
    t.call("start")
    assert t.call("answer", {"seq": 5, "position": 0, "choice": 1}) == {
        "ok": True, "seq": 5, "saved": True}
    assert t.call("answer", {"seq": 5, "position": 0, "choice": 3}) == {
        "ok": True, "seq": 5, "saved": True, "duplicate": True}
    # An older change arriving late is kept for the audit but does not override seq 5.
    assert t.call("answer", {"seq": 4, "position": 0, "choice": 4})["saved"]
    sheet = t.call("start")["sheet"]
    assert sheet["answers"][0] == 1 and sheet["next_seq"] == 6


def test_second_terminal_is_refused_until_released(live_site, terminal, server):
    import subprocess
    import sys

    first = terminal()
    assert first.call("login", live_site.login(3, terminal="PC-01"))["ok"]
    first.call("start")
    second = terminal()
    refused = second.call("login", live_site.login(3, terminal="PC-02"))
    assert refused["error"]["code"] == "already_active"
    assert refused["error"]["message"]  # translated text for the candidate
    done = subprocess.run(
        [sys.executable, "-c", "from cat_engine.cli import main; main()", "session", "release",
         live_site.session, live_site.registrations[3], "--reason", "PC-01 died",
         "--data-dir", str(live_site.data_dir)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert second.call("login", live_site.login(3, terminal="PC-02"))["ok"]
    deadline = time.monotonic() + 5
    while not first.events("released") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.events("released")
    assert first.call("answer", {"seq": 1, "position": 0, "choice": 0})["error"]["code"] == (
        "not_logged_in")


def test_reconnect_resumes_same_item_answers_and_time(live_site, terminal):
    t = terminal()
    t.call("login", live_site.login(4))
    t.call("start")
    t.call("get_item", {"position": 7})
    t.call("answer", {"seq": 1, "position": 7, "choice": 3})
    t.call("flag", {"seq": 2, "position": 7, "doubtful": True})
    before = t.call("start")["sheet"]
    t.close()  # the network drops
    time.sleep(0.3)
    back = terminal()
    assert back.call("login", live_site.login(4))["status"] == "in_progress"
    sheet = back.call("start")["sheet"]
    assert sheet["position"] == 7
    assert sheet["answers"][7] == 3 and sheet["doubtful"][7] is True
    assert sheet["next_seq"] == 3
    assert 0 <= before["remaining_ms"] - sheet["remaining_ms"] < 5_000
    # The unacknowledged resend after the reconnect is answered as a duplicate.
    assert back.call("answer", {"seq": 1, "position": 7, "choice": 3})["duplicate"]


def test_same_terminal_new_connection_replaces_the_old(live_site, terminal):
    old = terminal()
    old.call("login", live_site.login(5))
    new = terminal()
    assert new.call("login", live_site.login(5))["ok"]
    deadline = time.monotonic() + 5
    while not old.events("error") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert old.events("error")[-1]["code"] == "replaced"


def test_wrong_credentials_never_say_which(live_site, terminal):
    t = terminal()
    good = live_site.login(6)
    for bad in ({**good, "pin": "0000"}, {**good, "token": "XXXXXX"},
                {**good, "registration": "R99999"}):
        reply = t.call("login", bad)
        assert reply["error"]["code"] == "bad_credentials"
    english = t.call("login", {**good, "pin": "0000", "lang": "en"})
    assert english["error"]["message"] == "Registration number, PIN or session token is wrong"


def test_bad_messages_get_errors_and_change_nothing(live_site, terminal):
    t = terminal()
    assert t.call("answer", {"seq": 1, "position": 0, "choice": 0})["error"]["code"] == (
        "not_logged_in")
    t.call("login", live_site.login(7))
    t.call("start")
    cases = [
        ("answer", {"seq": 1, "position": 0}, "bad_request"),
        ("answer", {"seq": "1", "position": 0, "choice": 0}, "bad_request"),
        ("answer", {"seq": 1, "position": 0, "choice": True}, "bad_request"),
        ("answer", {"seq": 0, "position": 0, "choice": 0}, "bad_request"),
        ("answer", {"seq": 1, "position": 10, "choice": 0}, "bad_position"),
        ("answer", {"seq": 1, "position": 0, "choice": 5}, "bad_choice"),
        ("answer", {"seq": 1, "position": 0, "choice": 0, "item": "TWK-000"}, "bad_request"),
        ("flag", {"seq": 1, "position": 0, "doubtful": "yes"}, "bad_request"),
        ("get_item", {"position": -1}, "bad_request"),
        ("login", {"registration": "x" * 65, "pin": "1", "token": "t", "terminal": "t"},
         "bad_request"),
        ("drop_table", {}, "unknown_event"),
    ]
    for event, data, code in cases:
        reply = t.call(event, data)
        assert reply["ok"] is False and reply["error"]["code"] == code, (event, data, reply)
    assert t.call("answer", {"seq": 1, "position": 0, "choice": 4}) == {
        "ok": True, "seq": 1, "saved": True}
    sheet = t.call("start")["sheet"]
    assert sheet["answers"] == [4] + [None] * 9


def test_nothing_sent_to_a_terminal_reveals_keys_weights_or_item_ids(live_site, terminal):
    t = terminal()
    t.call("login", live_site.login(8))
    n = t.call("start")["sheet"]["n_items"]
    seq = 0
    for position in range(n):
        t.call("get_item", {"position": position})
        seq += 1
        t.call("answer", {"seq": seq, "position": position, "choice": position % 5})
        seq += 1
        t.call("flag", {"seq": seq, "position": position, "doubtful": position % 2 == 0})
    t.call("finish", {"seq": seq + 1})
    everything = json.dumps([t.replies, t.pushed], ensure_ascii=False)
    items = fixture_items({"TWK": (6, "key"), "TIU": (6, "key"), "TKP": (8, "weights")})
    for item in items:
        assert item.id not in everything
    for forbidden in ('"key"', '"weights"', '"weight"', '"item_id"', '"option_order"',
                      "candidate_id", '"scores"'):
        assert forbidden not in everything
    # The shown order is the candidate's shuffle, not the authored one, for some item.
    shown = [r for r in t.replies if isinstance(r, dict) and "stem_html" in r]
    authored_first = {next(iter(i.options.values())) for i in items}
    firsts = [r["options"][0]["html"] for r in shown]
    assert any(all(text not in f for text in authored_first) for f in firsts)


def test_flood_is_rate_limited_and_server_stays_responsive(live_site, terminal):
    t = terminal()
    t.call("login", live_site.login(9))
    codes = []
    for _ in range(100):
        reply = t.call("get_item", {"position": 0})
        codes.append(reply["ok"] or reply["error"]["code"])
    assert "rate_limited" in codes
    other = terminal()
    assert other.call("login", live_site.login(10))["ok"]
