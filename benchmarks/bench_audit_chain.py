"""What chaining every answer into the session's audit log costs the live server (issue 10).

    .venv/bin/python benchmarks/bench_audit_chain.py [--candidates 1000] [--runs 3]
        [--saturate 10] [--duration 5] [--offered 500]

The same prepared SKD site is served with the answer chain on (the default) and off
(``CAT_ENGINE_AUDIT_ANSWERS=0``, which exists only for this measurement), alternating which
goes first in each run, and played by the same load generator as `cat-engine loadtest`
(scripts/loadgen.py). Prints, per mode, the medians of the closed-loop saturation phase
(answers acknowledged per second, server CPU per ack) and the open-loop p99, and the ratio
chain/no-chain of the medians. Writes benchmarks/out/audit-chain.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from cat_engine.cli.loadtest import (
        _bank_items,
        _fresh_copy,
        _loadgen,
        _wait_warm,
        server_env,
    )
    from cat_engine.testing import ServerProcess, prepare_site

    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--offered", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--saturate", type=float, default=10.0)
    args = parser.parse_args()
    gen = _loadgen()
    base = {"SQLITE_SYNCHRONOUS": "FULL", "RATE_PER_S": 20.0, "RATE_BURST": 60,
            "CLOCK_PUSH_S": 30.0}
    modes = {"chain": {**base, "AUDIT_ANSWERS": "1"}, "no_chain": {**base, "AUDIT_ANSWERS": "0"}}
    reports: dict[str, list] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="cat-engine-chain-") as tmp:
        tmp_path = Path(tmp)
        site = prepare_site(tmp_path / "site", candidates=args.candidates, exam="skd",
                            items=_bank_items())
        roster = list(site.pins.items())
        for run in range(args.runs):
            order = list(modes) if run % 2 == 0 else list(modes)[::-1]
            for mode in order:
                proc = ServerProcess(_fresh_copy(site, tmp_path / f"{mode}-{run}"),
                                     env=server_env(modes[mode], site.passphrase))
                proc.start(timeout=120)
                try:
                    _wait_warm(proc.url)
                    report = gen.run(proc.url, site.token, roster, offered=args.offered,
                                     duration=args.duration, saturate=args.saturate,
                                     server_pid=proc.proc.pid, workers=2)
                finally:
                    proc.stop()
                reports[mode].append(report)
                sat = _phase(report, "saturat")
                print(f"run {run + 1} {mode}: saturation {sat['acked_per_s']}/s "
                      f"({sat.get('server_cpu_us_per_ack')} us/ack), load "
                      f"{sat['load_avg'][0]}", flush=True)
    summary = {}
    for mode, runs in reports.items():
        sat = [_phase(r, "saturat") for r in runs]
        offered = [_phase(r, "offered") for r in runs]
        summary[mode] = {
            "saturation_acked_per_s": statistics.median(p["acked_per_s"] for p in sat),
            "saturation_server_cpu_us_per_ack": statistics.median(
                p.get("server_cpu_us_per_ack") or 0 for p in sat),
            "offered_p99_ms": statistics.median(p["p99_ms"] for p in offered),
            "load_avg": [p["load_avg"][0] for p in sat]}
    c, n = summary["chain"], summary["no_chain"]
    summary["ratio_chain_over_no_chain"] = {
        k: round(c[k] / n[k], 3) for k in ("saturation_acked_per_s",
                                           "saturation_server_cpu_us_per_ack", "offered_p99_ms")
        if n[k]}
    summary["conditions"] = {**vars(args), "cpus": os.cpu_count()}
    out = ROOT / "benchmarks" / "out" / "audit-chain.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "runs": reports}, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


def _phase(report: dict, name: str) -> dict:
    return next(p for p in report["phases"] if p["phase"].startswith(name))


if __name__ == "__main__":
    sys.exit(main())
