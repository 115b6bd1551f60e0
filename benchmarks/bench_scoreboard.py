"""Scoreboard latency: from an answer saved (its ack) to every display showing the new score.

    .venv/bin/python benchmarks/bench_scoreboard.py [--candidates 2000] [--displays 10] \
        [--offered 1000] [--duration 30] [--steps 25]

One run, two phases against one real ``cat-engine serve`` (SKD exam, N candidates):

0. the load alone: ``scripts/loadgen.py``, in its own process, plays N-1 candidates (connect
   storm, then ``--offered`` answers/s open loop) with no display connected: its ack latency
   is the reference for what the displays cost the candidates;
1. idle (the latency baseline): only a probe candidate and the displays are connected;
2. load: the same load again, now with the displays; once every candidate is working, the
   probe answers one TKP item a second while the load runs.

Each probe answer raises the probe's total (every TKP option scores at least 1), so the j-th
increase a display sees belongs to the j-th answer. Latency = arrival at the display minus
the probe's ack (the answer is committed before the ack), on one clock: the probe and the
displays share this process, the load generator does not. An update a display never shows
counts as infinitely late in the percentiles (and in ``missing_updates``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import socketio

ROOT = Path(__file__).resolve().parents[1]
TKP_FIRST = 65  # SKD: TWK 30 + TIU 35 items come first


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    value = ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]
    return value if math.isinf(value) else round(value, 1)


class Display:
    def __init__(self, url: str, session: str, probe_id: int | None = None,
                 secret: str | None = None):
        self.url, self.session = url, session
        #: The credential of an enrolled screen (only those get the board: docs/security.md).
        self.auth = {"device": secret} if secret else None
        self.client = socketio.AsyncClient(reconnection=False)
        self.probe_id = probe_id
        self.increases: list[float] = []
        self.last_total: float = -1.0
        self.rows: dict[int, dict] = {}
        self.client.on("board", self._board, namespace="/display")

    async def connect(self) -> dict:
        await self.client.connect(self.url, namespaces=["/display"], transports=["websocket"],
                                  auth=self.auth, wait_timeout=30)
        snap = await self.client.call("subscribe", {"session": self.session},
                                      namespace="/display", timeout=60)
        self.rows = {r["id"]: r for r in snap["rows"]}
        return snap

    async def _board(self, data) -> None:
        now = time.perf_counter()
        for row in data["rows"]:
            self.rows[row["id"]] = row
            if row["id"] == self.probe_id and (row["total"] or 0) > self.last_total:
                self.last_total = row["total"]
                self.increases.append(now)


async def probe_phase(probe, displays: list[Display], first: int, steps: int,
                      interval: float) -> dict:
    for d in displays:
        d.increases.clear()
    acks: list[float] = []
    for k in range(steps):
        reply = await probe.call("answer", {"seq": first + k + 1, "position": TKP_FIRST + first + k,
                                            "choice": 0}, namespace="/candidate", timeout=60)
        if not reply.get("saved"):
            raise RuntimeError(f"probe answer refused: {reply}")
        acks.append(time.perf_counter())
        await asyncio.sleep(interval)
    await asyncio.sleep(3.0)
    latencies, lost, missing = [], 0, 0
    for d in displays:
        if len(d.increases) != steps:
            lost += 1
        latencies += [(t - a) * 1000 for t, a in zip(d.increases, acks, strict=False)]
        # An update a display never showed is a failure: infinitely late, not a gap.
        missing += max(0, steps - len(d.increases))
    latencies += [math.inf] * missing
    return {"samples": len(latencies), "displays_with_missing_updates": lost,
            "missing_updates": missing,
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95),
            "p99_ms": pct(latencies, 99), "max_ms": pct(latencies, 100)}


async def run(args) -> dict:
    from cat_engine.cli.loadtest import server_env
    from cat_engine.testing import ServerProcess, enrolled_device, prepare_site
    from item_bank.demo import generate_demo_items

    with tempfile.TemporaryDirectory(prefix="cat-engine-board-") as tmp:
        started = time.perf_counter()
        site = prepare_site(Path(tmp) / "site", candidates=args.candidates, exam="skd",
                            items=generate_demo_items(110))
        print(f"site prepared in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        roster = list(site.pins.items())
        load_roster = Path(tmp) / "roster.json"
        load_roster.write_text(json.dumps({"token": site.token, "candidates": roster[:-1]}))
        # A clean, explicit environment: nothing of the caller's changes what is measured.
        settings = {"SQLITE_SYNCHRONOUS": args.synchronous, "RATE_PER_S": 20.0,
                    "RATE_BURST": 60, "CLOCK_PUSH_S": 30.0}
        print(f"server settings: {settings}", file=sys.stderr)
        with ServerProcess(site, env=server_env(settings, site.passphrase)) as server:
            await wait_warm(server.url)

            def loadgen() -> subprocess.Popen:
                return subprocess.Popen(
                    [sys.executable, str(ROOT / "scripts" / "loadgen.py"), "--url", server.url,
                     "--roster", str(load_roster), "--offered", str(args.offered),
                     "--duration", str(args.duration), "--saturate", "0",
                     "--workers", str(args.workers), "--server-pid", str(server.proc.pid)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

            alone_out, _err = loadgen().communicate(timeout=600)
            alone = _phases(alone_out)
            print(f"load alone: {alone}", file=sys.stderr)
            probe = socketio.AsyncClient(reconnection=False)
            await probe.connect(server.url, namespaces=["/candidate"], transports=["websocket"])
            login = await probe.call("login", site.login(len(roster) - 1), namespace="/candidate")
            assert login["ok"], login
            assert (await probe.call("start", {}, namespace="/candidate"))["ok"]
            screen = enrolled_device(site.database_url)  # one enrolled wall screen's secret
            displays = [Display(server.url, site.session, secret=screen)
                        for _ in range(args.displays)]
            snaps = [await d.connect() for d in displays]
            import sqlite3

            with sqlite3.connect(site.data_dir / "cat-engine.sqlite3") as db:
                (probe_id,) = db.execute("SELECT id FROM candidates WHERE registration = ?",
                                         (roster[-1][0],)).fetchone()
            assert any(r["id"] == probe_id for r in snaps[0]["rows"])
            for d in displays:
                d.probe_id = probe_id
            idle = await probe_phase(probe, displays, 0, 10, 0.5)
            print(f"idle: {idle}", file=sys.stderr)

            gen = loadgen()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            # Probe during the offered phase, not the connect storm: wait out the storm as
            # long as it took the first time (everyone is already "working" on the board).
            # A storm with failed logins has no finite end ("inf"): wait a minute at most.
            storm_s = min(alone.get("storm_s") or 15.0, 60.0) + 2.0
            await asyncio.sleep(storm_s)
            loaded = await probe_phase(probe, displays, 10, args.steps, 1.0)
            print(f"load: {loaded}", file=sys.stderr)
            out, err = gen.communicate(timeout=600)
            # The displays' own decoding competes with the server on this machine (in a
            # real room they are other computers): report what it cost.
            clients_cpu = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            await probe.disconnect()
            for d in displays:
                await d.client.disconnect()
    return {"candidates": args.candidates, "displays": args.displays, "settings": settings,
            "load_avg": os.getloadavg(),
            "offered_per_s": args.offered, "idle": idle, "load": loaded,
            "probing_started_after_s": round(storm_s, 1),
            "acks_without_displays": alone, "acks_with_displays": _phases(out, err),
            "probe_and_display_clients_cpu_pct": round(clients_cpu, 1)}


def _phases(out: str, err: str = "") -> dict:
    """The load generator's figures that matter here."""
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        return {"error": err[-2000:]}
    phase = (report.get("phases") or [{}])[0]
    return {"storm_s": report["connect_storm"]["seconds"],
            "ready": report["connect_storm"]["ready"],
            **{k: phase.get(k) for k in ("sent", "acked", "late", "missing", "refused",
                                          "acked_per_s", "p50_ms", "p95_ms", "p99_ms",
                                          "server_cpu_pct", "generator_cpu_pct",
                                          "machine_busy_pct", "load_avg")},
            "peak_mib": (report.get("server_memory_mib") or {}).get("VmHWM")}


async def wait_warm(url: str, timeout: float = 180.0) -> None:
    """Let the server load its candidates before they arrive (as a site does at 07:00)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            if json.load(response).get("warm", True):
                return
        await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--displays", type=int, default=10)
    parser.add_argument("--offered", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--steps", type=int, default=25,
                        help="probe answers under load (<= 35; keep steps < duration - 3)")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL", "EXTRA"],
                        help="the server's SQLite synchronous mode")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    args.steps = min(args.steps, 35)
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=1)
    print(text)
    if args.json_out:
        args.json_out.write_text(text)
    if result["load"]["p50_ms"] is not None:
        print(f"median ratio load/idle: "
              f"{result['load']['p50_ms'] / max(result['idle']['p50_ms'], 0.1):.1f}x",
              file=sys.stderr)


if __name__ == "__main__":
    main()
