"""Live exam server vs. the bare Flask-SocketIO ceiling (issue 4's speed targets).

    .venv/bin/python benchmarks/bench_live_server.py [--candidates 2000] [--runs 3]

Runs `cat-engine loadtest` (scripts/loadgen.py against `cat-engine serve` and against
scripts/bare_server.py, alternating, in the same run), writes the raw reports to
benchmarks/out/live-<mode>-<N>.json and prints the medians, the ratios and the targets.
Bounded: every phase has a fixed duration; loopback only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "storm_s": ("<=", 10.0),
    "offered_acked_fraction": (">=", 0.95),
    "offered_p99_ms_server_over_bare": ("<=", 1.5),
    "saturation_acked_per_s_server_over_bare": (">=", 0.60),
    "peak_mib": ("<=", 1024.0),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--offered", type=float, default=1000.0)
    parser.add_argument("--async-mode", default="gevent")
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "out" / f"live-{args.async_mode}-{args.candidates}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-c", "from cat_engine.cli import main; main()", "loadtest",
           "--candidates", str(args.candidates), "--runs", str(args.runs),
           "--offered", str(args.offered), "--async-mode", args.async_mode,
           "--json-out", str(out)]
    subprocess.run(cmd, check=True, timeout=60 * 30)
    summary = json.loads(out.read_text())["summary"]
    server, ratios = summary["server"], summary.get("ratios", {})
    figures = {**server, **ratios}
    print(json.dumps(summary, indent=1))
    failed = 0
    for key, (op, bound) in TARGETS.items():
        value = figures.get(key)
        ok = value is not None and (value <= bound if op == "<=" else value >= bound)
        failed += not ok
        print(f"{'ok  ' if ok else 'MISS'} {key} = {value} (target {op} {bound})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
