"""An adaptive TKP-like section (option weights 1..5, GPCM items) taken over a real socket
against a real server process, SIGKILLed mid-section and restarted."""

from __future__ import annotations

import json
import re
import sqlite3

import numpy as np
import pytest

from cat_engine.testing import SMALL_EXAM, ServerProcess, SocketClient, fixture_items, prepare_site
from item_bank.model import IrtParams
from scoring.adaptive_section import engine_seed, weight_levels
from scoring.exam import load_exam
from scoring.irt.adaptive import Engine, replay
from scoring.irt.models import ItemParams
from scoring.irt.scaling import true_score

NS = "/candidate"
TKP_POOL = 16
#: SMALL_EXAM with TKP adaptive: 5 items by maximum information, scaled to 4 items x 1..5.
WEIGHTED_EXAM = SMALL_EXAM.replace(
    'id = "TKP"\nitems = 4\nscoring = { rule = "weights", blank = 0 }\n',
    'id = "TKP"\nitems = 4\nscoring = { rule = "weights", blank = 0 }\n'
    "adaptive = { max_items = 5 }\n",
).replace('id = "mini-skd"', 'id = "mini-cat-tkp"')
assert WEIGHTED_EXAM != SMALL_EXAM


def weighted_items():
    """Fixture items whose TKP items carry GPCM parameters (4 thresholds, 5 categories)."""
    rng = np.random.default_rng(3)
    out = []
    for item in fixture_items({"TWK": (6, "key"), "TIU": (6, "key"), "TKP": (TKP_POOL, "weights")}):
        if item.section == "TKP":
            centre = float(rng.uniform(-1.5, 1.5))
            steps = tuple(round(centre + s, 3) for s in (-1.5, -0.5, 0.5, 1.5))
            irt = IrtParams(model="gpcm", a=float(rng.uniform(0.8, 1.6)), thresholds=steps)
            item = item.model_copy(update={"irt": irt})
        out.append(item)
    return out


@pytest.fixture
def weighted_site(tmp_path):
    path = tmp_path / "weighted-exam.toml"
    path.write_text(WEIGHTED_EXAM, encoding="utf-8")
    items = weighted_items()
    site = prepare_site(tmp_path, candidates=1, exam=str(path), items=items)
    return site, {item.id: item for item in items}, path


def _shown(reply: dict) -> tuple[str, list[str]]:
    """(item id, authored labels in shown order), read back from the fixture's texts."""
    n = int(re.search(r"nomor (\d+)", reply["stem_html"]).group(1))
    labels = []
    for option in reply["options"]:
        number = int(re.search(r"Jawaban (\d+) untuk", option["html"]).group(1))
        labels.append("ABCDE"[(number - n) // 7])
    return f"{reply['section']}-{n:03d}", labels


def _db(db_path, query: str):
    with sqlite3.connect(db_path) as db:
        return db.execute(query).fetchone()[0]


def test_weighted_adaptive_section_scores_categories_and_survives_sigkill(weighted_site):
    site, items, exam_path = weighted_site
    exam = load_exam(exam_path)
    pool_ids = sorted(i for i, item in items.items() if item.section == "TKP")
    params = ItemParams.from_metas([items[i].meta() for i in pool_ids], polytomous=True)
    config = exam.section("TKP").adaptive_config()
    db_path = site.data_dir / "cat-engine.sqlite3"

    server = ServerProcess(site).start()
    client = SocketClient(server.url).connect()
    assert client.call("login", site.login(0))["ok"]
    sheet = client.call("start")["sheet"]
    tkp = next(s for s in sheet["sections"] if s["name"] == "TKP")
    assert tkp["count"] == 5 and tkp["adaptive"] == {"given": 1, "done": False}
    first = tkp["first"]

    seq, answered = 1, []
    for k, weight in enumerate((5.0, 1.0, 4.0)):  # best, worst, good option
        reply = client.call("get_item", {"position": first + k})
        item_id, labels = _shown(reply)
        label = next(x for x, w in items[item_id].weights.items() if w == weight)
        ack = client.call("answer", {"seq": seq, "position": first + k,
                                       "choice": labels.index(label)})
        assert ack["ok"] and ack["adaptive"] == {"given": k + 2, "done": False}
        seq += 1
        # The response is the weight's category: weights 1..5 are categories 0..4.
        answered.append((item_id, int(weight) - 1))
        stored = json.loads(_db(db_path, "SELECT adaptive FROM candidates"))["TKP"]
        assert stored["items"] == [i for i, _ in answered]
        assert stored["responses"] == [r for _, r in answered]

    before = client.call("get_item", {"position": first + 3})
    seed = engine_seed(_db(db_path, "SELECT seed FROM sessions"),
                       str(_db(db_path, "SELECT id FROM candidates")), "TKP")
    rebuilt = replay(answered, params, config, seed)
    assert abs(rebuilt.theta - stored["theta"]) < 1e-12 and abs(rebuilt.se - stored["se"]) < 1e-12
    assert _shown(before)[0] == params.ids[Engine.build(params, config).select(rebuilt, seed)[0]]

    server.kill()
    client.close()
    restarted = ServerProcess(site, port=server.port).start()
    try:
        client = SocketClient(restarted.url).connect()
        assert client.call("login", site.login(0))["status"] == "in_progress"
        sheet = client.call("start")["sheet"]
        assert next(s for s in sheet["sections"] if s["name"] == "TKP")["adaptive"] == {
            "given": 4, "done": False}
        assert client.call("get_item", {"position": first + 3}) == before
        assert "mismatch" not in restarted.output().lower()

        seq = sheet["next_seq"]
        for k in (3, 4):  # the middle option (weight 3, category 2) of the last two
            item_id, labels = _shown(client.call("get_item", {"position": first + k}))
            label = next(x for x, w in items[item_id].weights.items() if w == 3.0)
            ack = client.call("answer", {"seq": seq, "position": first + k,
                                           "choice": labels.index(label)})
            seq += 1
            answered.append((item_id, 2))
        assert ack["adaptive"] == {"given": 5, "done": True}
        result = client.call("finish", {"seq": seq})["result"]
        client.close()
    finally:
        restarted.stop()

    # The section reports the expected points of a random 4-item fixed form at the estimate.
    final = replay(answered, params, config, seed)
    levels = np.array([weight_levels(items[i].weights) for i in pool_ids])
    expected = round(4 / TKP_POOL * float(true_score(final.theta, params,
                                                     category_points=levels)))
    section = next(s for s in result["sections"] if s["name"] == "TKP")
    assert section["score"] == expected and section["max"] == 20
