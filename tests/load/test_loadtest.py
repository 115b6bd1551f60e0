"""`cat-engine loadtest` as a user runs it: the server against the tuned bare baseline, and
the durable baseline's promise (an ack only for a committed answer)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from cat_engine.cli.loadtest import _bare, _loadgen, server_env
from cat_engine.testing import run_in_own_loop


@pytest.mark.slow
def test_loadtest_measures_the_server_and_both_baselines_in_a_clean_environment(tmp_path):
    out = tmp_path / "report.json"
    # A stray setting in the caller's environment must not reach the server under test:
    # with this flood limit every answer would be refused. The benchmark sets its own (four
    # candidates at saturation send far more than the default 20 messages/s each).
    env = {**os.environ, "CAT_ENGINE_RATE_PER_S": "0.001", "CAT_ENGINE_RATE_BURST": "1"}
    done = subprocess.run(
        [sys.executable, "-c", "from cat_engine.cli import main; main()", "loadtest",
         "--candidates", "4", "--runs", "1", "--offered", "8", "--duration", "1",
         "--saturate", "1", "--workers", "2", "--rate", "1000", "--burst", "1000",
         "--baselines", "bare,durable", "--json-out", str(out)],
        env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert summary["conditions"]["settings"]["RATE_PER_S"] == 1000.0
    assert summary["conditions"]["settings"]["SQLITE_SYNCHRONOUS"] == "FULL"
    durable = summary["conditions"]["durable"]
    assert (durable["synchronous"], durable["journal_mode"]) == ("FULL", "wal"), durable
    for name in ("server", "bare", "durable"):
        (run,) = report["runs"][name]
        assert run["connect_storm"]["ready"] == 4, run["connect_storm"]
        offered, saturation = run["phases"]
        for phase in (offered, saturation):
            assert phase["refused"] == {} and phase["missing"] == 0, phase
            assert phase["acked"] > 0 and phase["acked"] + phase["late"] == phase["sent"]
            assert phase["generator_cpu_pct"] is not None
        assert saturation["server_cpu_us_per_ack"] > 0
    (run,) = report["runs"]["durable"]  # it did the work it is measured for
    assert run["stored_answers"] == run["saved_acks"] == sum(p["sent"] for p in run["phases"])
    for pair in ("server_over_bare", "server_over_durable", "durable_over_bare"):
        ratios = summary[f"{pair}_per_run"]
        assert ratios["saturation_server_cpu_us_per_ack"]["runs"], pair
        assert ratios["saturation_acked_per_s"]["runs"] and ratios["storm_s"]["runs"], pair
    for pair in ("server/bare", "server/durable", "durable/bare"):
        assert pair in done.stderr  # the target lines


def test_the_durable_baseline_acks_an_answer_only_once_it_is_committed(tmp_path):
    """Each ack finds its row already visible to another connection (committed, not just
    written), and after a SIGKILL every acknowledged row is in the file."""
    gen = _loadgen()
    server = _bare(tmp_path, "gevent", server_env({}), durable="FULL").start()
    # Read from the event loop's own thread (run_in_own_loop).
    reader = sqlite3.connect(tmp_path / "answers.sqlite3", check_same_thread=False)

    async def candidate(session, registration: str) -> dict[tuple, tuple]:
        conn = gen.Conn(registration, "pin")
        await conn.open(session, server.url)
        await conn.call("login", {"registration": registration})
        # Sent without waiting: a connection's answers are handled in order, and with
        # eight connections at once the server commits them in groups.
        answers = [conn.answer() for _ in range(25)]
        futures = [await conn.emit("answer", a) for a in answers]
        acked = {}
        for a, fut in zip(answers, futures, strict=True):
            _at, reply = await asyncio.wait_for(fut, 30)
            assert reply == {"ok": True, "seq": a["seq"], "saved": True}
            row = reader.execute("SELECT item, value FROM answers WHERE candidate = ? "
                                 "AND seq = ?", (registration, a["seq"])).fetchone()
            assert row == (a["position"], a["choice"]), (registration, a, row)
            acked[registration, a["seq"]] = row
        return acked

    async def play() -> dict[tuple, tuple]:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            parts = await asyncio.gather(*(candidate(session, f"R-{i}") for i in range(8)))
        return {key: row for part in parts for key, row in part.items()}

    try:
        acked = run_in_own_loop(play)
    finally:
        server.kill()  # SIGKILL: no clean shutdown, no last flush
    reader.close()
    with sqlite3.connect(tmp_path / "answers.sqlite3") as after:
        stored = {(c, seq): (item, value) for c, seq, item, value in after.execute(
            "SELECT candidate, seq, item, value FROM answers")}
    assert len(acked) == 200 and stored == acked
    assert "Traceback" not in server.output_all()
