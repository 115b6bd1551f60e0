"""The public scoreboard against a real server: pushed diffs, snapshots on reconnect, the
session's settings, and a frozen board that leaks nothing over the page or the socket."""

from __future__ import annotations

import time

import pytest
import requests

pytestmark = pytest.mark.slow

ROW_KEYS = {"id", "label", "status", "sections", "total", "marks", "passed", "rank", "tied"}


def answer(t, position: int, choice: int) -> float:
    t.seq += 1
    reply = t.call("answer", {"seq": t.seq, "position": position, "choice": choice})
    assert reply["ok"], reply
    return time.monotonic()


def row_of(rows, cid):
    return next(r for r in rows if r["id"] == cid)


def test_a_saved_answer_reaches_the_board_within_a_second(site, server, clients, working):
    display = clients(server.url, "/display")
    snap = display.call("subscribe", {"session": site.prepared.session})
    assert snap["ok"] and snap["sections"] == ["TWK", "TIU", "TKP"]
    t = working(0)
    # TKP items (positions 6..9) score at least 1 for any option: the total must move.
    saved = answer(t, 7, 0)
    pushed = display.wait_for("board", lambda d: any(
        r["id"] == t.cid and (r["total"] or 0) > 0 for r in d["rows"]), timeout=1.0)
    arrived = next(ts for ev, data, ts in display.pushed if data is pushed)
    assert arrived - saved < 1.0
    row = row_of(pushed["rows"], t.cid)
    assert set(row) == ROW_KEYS and row["status"] == "working"
    # Masked by default: the registration number's middle is hidden, no name.
    reg = site.prepared.registrations[0]
    assert row["label"] != reg and row["label"][-1] == reg[-1] and "Peserta" not in row["label"]


def test_a_reconnecting_display_catches_up_from_a_snapshot(site, server, clients, working):
    t = working(1)
    answer(t, 8, 1)
    late = clients(server.url, "/display")
    snap = late.call("subscribe", {"session": site.prepared.session})
    row = row_of(snap["rows"], t.cid)
    assert row["total"] > 0 and row["status"] == "working"
    ranks = [r["rank"] for r in snap["rows"] if r["rank"] is not None]
    assert ranks == sorted(ranks)


def test_reveal_at_finish_and_names(site, server, clients, console, working):
    display = clients(server.url, "/display")
    display.call("subscribe", {"session": site.prepared.session})
    reply = console.call("settings", {"session_id": site.session_id, "reason": "aturan panitia",
                                      "scoreboard": "finish", "public_names": True})
    assert reply["ok"] and reply["settings"]["scoreboard"] == "finish"
    snap = display.wait_for("snapshot")
    assert all(r["sections"] is None for r in snap["rows"] if r["status"] == "working")
    assert any(r["label"].startswith("Peserta") for r in snap["rows"])
    t = working(2)
    answer(t, 6, 2)
    time.sleep(0.5)
    for data in display.events("board"):
        for r in data["rows"]:
            assert r["id"] != t.cid or r["total"] is None
    t.seq += 1
    result = t.call("finish", {"seq": t.seq})
    finished = display.wait_for("board", lambda d: any(
        r["id"] == t.cid and r["status"] == "finished" for r in d["rows"]))
    assert row_of(finished["rows"], t.cid)["total"] == result["result"]["total"]
    console.call("settings", {"session_id": site.session_id, "reason": "kembali",
                              "scoreboard": "live", "public_names": False})


def test_a_frozen_board_leaks_nothing(site, server, clients, console, working):
    t = working(3)
    answer(t, 9, 0)
    display = clients(server.url, "/display")
    before = display.call("subscribe", {"session": site.prepared.session})
    frozen_total = row_of(before["rows"], t.cid)["total"]
    assert console.call("freeze", {"session_id": site.session_id,
                                   "reason": "pengumuman serentak"})["ok"]
    snap = display.wait_for("snapshot")
    assert snap["settings"]["frozen"]
    assert row_of(snap["rows"], t.cid)["total"] == frozen_total
    display.pushed.clear()
    for position in range(3):
        answer(t, position, 1)
    answer(t, 6, 4)
    time.sleep(0.6)
    assert display.events("board") == []  # nothing newer than the freeze went out
    again = clients(server.url, "/display").call("subscribe", {"session": site.prepared.session})
    assert again["rows"] == snap["rows"]
    page = requests.get(f"{server.url}/display/{site.prepared.session}", timeout=10).text
    assert site.prepared.registrations[3] not in page and "Peserta 4" not in page
    # Reveal: every screen gets the scores as they are now.
    assert console.call("unfreeze", {"session_id": site.session_id, "reason": "rilis"})["ok"]
    revealed = display.wait_for("snapshot")
    assert not revealed["settings"]["frozen"]
    assert row_of(revealed["rows"], t.cid)["total"] > frozen_total
    entry = [e for e in console.call("watch", {"session_id": site.session_id})["log"]
             if e["action"] == "settings"][-2]
    assert entry["detail"]["freeze"] is True and entry["actor"] == "proctor:proc1"


def test_site_wide_display_lists_todays_open_rooms(site, server, clients):
    display = clients(server.url, "/display")
    reply = display.call("subscribe", {"site": True})
    assert reply["ok"]
    assert {r["name"] for r in reply["rooms"]} >= {site.prepared.session}
    page = requests.get(f"{server.url}/display/", timeout=10)
    assert page.status_code == 200 and "socket.io.min.js" in page.text
    assert requests.get(f"{server.url}/display/NO-SUCH", timeout=10).status_code == 404
