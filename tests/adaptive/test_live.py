"""An adaptive section taken over a real socket against a real server process, which is
SIGKILLed mid-section and restarted: the candidate carries on with the same ability estimate
and is shown the same next item the engine gives."""

from __future__ import annotations

import re
import sqlite3

from cat_engine.testing import ServerProcess, SocketClient
from scoring.adaptive_section import engine_seed
from scoring.exam import load_exam
from scoring.irt.adaptive import Engine, replay
from scoring.irt.models import ItemParams
from scoring.irt.scaling import true_score

NS = "/candidate"


def _shown(reply: dict) -> tuple[str, list[str]]:
    """(item id, authored labels in shown order), read back from the fixture's texts."""
    n = int(re.search(r"nomor (\d+)", reply["stem_html"]).group(1))
    item_id = f"{reply['section']}-{n:03d}"
    labels = []
    for option in reply["options"]:
        number = int(re.search(r"Jawaban (\d+) untuk", option["html"]).group(1))
        labels.append("ABCDE"[(number - n) // 7])
    return item_id, labels


def _stored(db_path) -> dict:
    import json

    with sqlite3.connect(db_path) as db:
        (text,) = db.execute("SELECT adaptive FROM candidates WHERE registration = 'R00001'"
                             ).fetchone()
    return json.loads(text)["TIU"]


def test_adaptive_section_survives_sigkill_with_same_estimate_and_next_item(adaptive_site,
                                                                           bank_items):
    site = adaptive_site
    items = bank_items
    exam = load_exam(site.data_dir / "adaptive-exam.toml")
    pool_ids = sorted(i for i, item in items.items() if item.section == "TIU")
    params = ItemParams.from_metas([items[i].meta() for i in pool_ids])
    config = exam.section("TIU").adaptive_config()
    db_path = site.data_dir / "cat-engine.sqlite3"

    server = ServerProcess(site).start()
    client = SocketClient(server.url).connect()
    assert client.call("login", site.login(0))["ok"]
    sheet = client.call("start")["sheet"]
    tiu = next(s for s in sheet["sections"] if s["name"] == "TIU")
    assert tiu == {"name": "TIU", "first": 3, "count": 6,
                   "adaptive": {"given": 1, "done": False}}
    first = tiu["first"]
    # Only the item on screen can be fetched: not the next slot, not (later) an answered one.
    assert client.call("get_item", {"position": first + 1})["error"]["code"] == "bad_position"

    seq = 1
    answered: list[tuple[str, int]] = []
    for k in range(3):  # right, wrong, right
        reply = client.call("get_item", {"position": first + k})
        item_id, labels = _shown(reply)
        correct = k != 1
        key = items[item_id].key
        choice = labels.index(key) if correct else next(
            i for i, label in enumerate(labels) if label != key)
        ack = client.call("answer", {"seq": seq, "position": first + k, "choice": choice})
        assert ack["ok"] and ack["adaptive"] == {"given": k + 2, "done": False}
        seq += 1
        answered.append((item_id, int(correct)))
        # Persisted with the answer: by the time of the ack the estimate is on disk.
        stored = _stored(db_path)
        assert stored["items"] == [i for i, _ in answered]
        assert stored["responses"] == [r for _, r in answered]
    assert client.call("get_item", {"position": first})["error"]["code"] == "bad_position"
    blank = client.call("answer", {"seq": seq, "position": first + 3, "choice": None})
    assert blank["error"]["code"] == "bad_choice"

    before = client.call("get_item", {"position": first + 3})
    estimate = _stored(db_path)
    # The estimate the server keeps is the engine's, from the events alone.
    seed = engine_seed(site_seed(db_path), candidate_id(db_path), "TIU")
    rebuilt = replay(answered, params, config, seed)
    assert abs(rebuilt.theta - estimate["theta"]) < 1e-12
    assert abs(rebuilt.se - estimate["se"]) < 1e-12
    engine = Engine.build(params, config)
    expected_next = params.ids[engine.select(rebuilt, seed)[0]]
    assert _shown(before)[0] == expected_next

    server.kill()
    client.close()
    restarted = ServerProcess(site, port=server.port).start()
    try:
        client = SocketClient(restarted.url).connect()
        assert client.call("login", site.login(0))["status"] == "in_progress"
        sheet = client.call("start")["sheet"]
        tiu = next(s for s in sheet["sections"] if s["name"] == "TIU")
        assert tiu["adaptive"] == {"given": 4, "done": False}
        assert None not in sheet["answers"][first:first + 3]
        assert sheet["answers"][first + 3:first + 6] == [None] * 3
        after = client.call("get_item", {"position": first + 3})
        assert after == before  # same item, same option order
        assert _stored(db_path) == estimate
        assert "mismatch" not in restarted.output().lower()

        # Carry on to the end of the section; the section reports the scaled score.
        seq = sheet["next_seq"]
        for k in range(3, 6):
            reply = client.call("get_item", {"position": first + k})
            item_id, labels = _shown(reply)
            choice = labels.index(items[item_id].key)
            ack = client.call("answer", {"seq": seq, "position": first + k, "choice": choice})
            seq += 1
            answered.append((item_id, 1))
        assert ack["adaptive"] == {"given": 6, "done": True}
        result = client.call("finish", {"seq": seq})["result"]
        final = replay(answered, params, config, seed)
        scaled = round(float(true_score(final.theta, params, 5 * 3 / len(params))))
        section = next(s for s in result["sections"] if s["name"] == "TIU")
        assert section["score"] == scaled and section["max"] == 15
        client.close()
    finally:
        restarted.stop()


def site_seed(db_path) -> str:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT seed FROM sessions").fetchone()[0]


def candidate_id(db_path) -> str:
    with sqlite3.connect(db_path) as db:
        return str(db.execute("SELECT id FROM candidates WHERE registration = 'R00001'"
                              ).fetchone()[0])
