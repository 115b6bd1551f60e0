"""Live exam server vs. the tuned bare Flask-SocketIO baseline (issue 14's targets).

    .venv/bin/python benchmarks/bench_live_server.py [--sizes 500,2000] [--runs 3] \
        [--memory 2000:100,2000:2000] [--baselines bare,durable]

For each size C, runs ``cat-engine loadtest --candidates C`` (scripts/loadgen.py in several
processes against ``cat-engine serve`` and scripts/bare_server.py, alternating, in the same
run), then one memory run per ``registered:connected`` pair (the server alone). Raw reports go
to benchmarks/out/; the script prints the medians, the per-run ratios and the targets:
answers acked per second at saturation >= 0.75x the bare server's, server CPU per acked
answer <= 1.35x, the 2,000-candidate connect storm <= 1.3x, peak memory <= 150 MiB + 100 KiB
per connected candidate. The durable baseline (the bare server storing each answer durably
before its ack) is measured in the same runs: its ratio to the bare server is what the
durability promise alone costs, cat-engine's ratio to it what its work beyond that costs.
Bounded: every phase has a fixed duration; loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def loadtest(name: str, *args: str) -> dict:
    out = OUT / f"{name}.json"
    cmd = [sys.executable, "-c", "from cat_engine.cli import main; main()", "loadtest",
           *args, "--json-out", str(out)]
    print("$ cat-engine loadtest " + " ".join(args), file=sys.stderr)
    subprocess.run(cmd, check=True, timeout=60 * 40)
    return json.loads(out.read_text())["summary"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,2000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--offered", type=float, default=1000.0)
    parser.add_argument("--memory", default="2000:100,2000:2000",
                        help="registered:connected pairs for the memory runs ('' for none)")
    parser.add_argument("--baselines", default="bare,durable",
                        help="loadtest --baselines for the sized runs (bare is required)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    lines, failed = [], 0
    print(f"load average at the start: {os.getloadavg()}", file=sys.stderr)
    for size in [int(s) for s in args.sizes.split(",") if s]:
        summary = loadtest(f"live-{size}", "--candidates", str(size), "--runs", str(args.runs),
                           "--offered", str(args.offered), "--baselines", args.baselines)
        paired = summary.get("server_over_bare_per_run", {})
        checks = [("saturation_acked_per_s", ">=", 0.75),
                  ("saturation_server_cpu_us_per_ack", "<=", 1.35)]
        if size >= 2000:
            checks.append(("storm_s", "<=", 1.3))
        for key, op, bound in checks:
            entry = paired.get(key) or {}
            value = entry.get("median")
            ok = value is not None and (value <= bound if op == "<=" else value >= bound)
            failed += not ok
            lines.append(f"{'met ' if ok else 'MISS'} C={size} {key} server/bare = {value} "
                         f"(runs {entry.get('runs')}; target {op} {bound})")
        s, b = summary["server"], summary["bare"]
        lines.append(f"     C={size} medians server / bare: saturation "
                     f"{s.get('saturation_acked_per_s')} / {b.get('saturation_acked_per_s')}/s, "
                     f"{s.get('saturation_server_cpu_us_per_ack')} / "
                     f"{b.get('saturation_server_cpu_us_per_ack')} us per ack, storm "
                     f"{s.get('storm_s')} / {b.get('storm_s')} s, generator CPU at saturation "
                     f"{s.get('saturation_generator_cpu_pct')} / "
                     f"{b.get('saturation_generator_cpu_pct')} %, load "
                     f"{s.get('load_avg_range')}")
        for pair in ("durable_over_bare", "server_over_durable"):
            entry = summary.get(f"{pair}_per_run", {}).get("saturation_server_cpu_us_per_ack")
            if entry:  # the durability promise alone, and the work beyond it
                lines.append(f"     C={size} CPU per acked answer {pair.replace('_over_', '/')}"
                             f" = {entry['median']} (runs {entry['runs']})")
    for pair in [p for p in args.memory.split(",") if p]:
        registered, connected = (int(x) for x in pair.split(":"))
        summary = loadtest(f"memory-{registered}-{connected}", "--candidates", str(connected),
                           "--registered", str(registered), "--runs", "1", "--baselines",
                           "none", "--offered", str(min(args.offered, 10.0 * connected)))
        peak = summary["server"]["peak_mib"]
        bound = 150 + 100 * connected / 1024
        ok = peak is not None and peak <= bound
        failed += not ok
        lines.append(f"{'met ' if ok else 'MISS'} peak memory, {registered} registered, "
                     f"{connected} connected: {peak} MiB (target <= {bound:.0f} MiB)")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
