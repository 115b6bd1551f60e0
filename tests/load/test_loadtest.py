"""`cat-engine loadtest` as a user runs it: the server against the tuned bare baseline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_loadtest_measures_both_servers_in_a_clean_environment(tmp_path):
    out = tmp_path / "report.json"
    # A stray setting in the caller's environment must not reach the server under test:
    # with this flood limit every answer would be refused. The benchmark sets its own (four
    # candidates at saturation send far more than the default 20 messages/s each).
    env = {**os.environ, "CAT_ENGINE_RATE_PER_S": "0.001", "CAT_ENGINE_RATE_BURST": "1"}
    done = subprocess.run(
        [sys.executable, "-c", "from cat_engine.cli import main; main()", "loadtest",
         "--candidates", "4", "--runs", "1", "--offered", "8", "--duration", "1",
         "--saturate", "1", "--workers", "2", "--rate", "1000", "--burst", "1000",
         "--json-out", str(out)],
        env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert summary["conditions"]["settings"]["RATE_PER_S"] == 1000.0
    assert summary["conditions"]["settings"]["SQLITE_SYNCHRONOUS"] == "FULL"
    for name in ("server", "bare"):
        (run,) = report["runs"][name]
        assert run["connect_storm"]["ready"] == 4, run["connect_storm"]
        offered, saturation = run["phases"]
        for phase in (offered, saturation):
            assert phase["refused"] == {} and phase["missing"] == 0, phase
            assert phase["acked"] > 0 and phase["acked"] + phase["late"] == phase["sent"]
            assert phase["generator_cpu_pct"] is not None
        assert saturation["server_cpu_us_per_ack"] > 0
    ratios = summary["server_over_bare_per_run"]
    assert ratios["saturation_acked_per_s"]["runs"] and ratios["storm_s"]["runs"]
    assert "server/bare" in done.stderr  # the target lines
