"""Load generator: N candidates play an exam over real websockets (python-socketio, asyncio).

    python scripts/loadgen.py --url http://127.0.0.1:5000 --roster roster.json \
        --offered 1000 --duration 10 --saturate 10 [--server-pid PID]

Phases, each measured on its own:
  1. connect storm: every candidate connects, logs in, starts and fetches the first item;
  2. offered load: answers at ``--offered`` per second in total (open loop: a send never waits
     for an earlier ack), for ``--duration`` seconds;
  3. saturation: every candidate sends its next answer as soon as the previous is acked.
Reports connect-storm time, answers acked per second, ack latency p50/p95/p99, and the server
process's CPU (from /proc) and peak memory (VmHWM). The roster is JSON:
``{"token": "...", "candidates": [["registration", "pin"], ...]}``. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio

NS = "/candidate"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class ProcStats:
    """CPU seconds and memory of a process, read from /proc (Linux)."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self._tick = 100.0
        try:
            import os

            self._tick = float(os.sysconf("SC_CLK_TCK"))
        except (ValueError, OSError, AttributeError):
            pass

    def cpu_s(self) -> float | None:
        if self.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self._tick

    def memory_mib(self) -> dict[str, float] | None:
        if self.pid is None:
            return None
        try:
            lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        except OSError:
            return None
        out = {}
        for line in lines:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
        return out


@dataclass
class Player:
    registration: str
    pin: str
    client: Any = None
    n_items: int = 110
    seq: int = 0
    ok: bool = False
    error: str | None = None


@dataclass
class PhaseResult:
    name: str
    seconds: float
    sent: int = 0
    acked: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    cpu_s: float | None = None
    #: CPU seconds of this generator process during the phase (it shares the machine).
    generator_cpu_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "phase": self.name, "seconds": round(self.seconds, 3), "sent": self.sent,
            "acked": self.acked, "failed": self.failed,
            "acked_per_s": round(self.acked / self.seconds, 1) if self.seconds else None,
            "p50_ms": _r(percentile(lat, 50)), "p95_ms": _r(percentile(lat, 95)),
            "p99_ms": _r(percentile(lat, 99)), "max_ms": _r(max(lat) if lat else None),
            "server_cpu_pct": (round(100 * self.cpu_s / self.seconds, 1)
                               if self.cpu_s is not None and self.seconds else None),
            "generator_cpu_pct": (round(100 * self.generator_cpu_s / self.seconds, 1)
                                  if self.seconds else None),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def _connect_one(url: str, token: str, player: Player, index: int,
                       gate: asyncio.Semaphore, latencies: list[float]) -> None:
    async with gate:
        client = socketio.AsyncClient(reconnection=False)
        player.client = client
        try:
            await client.connect(url, namespaces=[NS], transports=["websocket"],
                                 wait_timeout=30)
            login = {"registration": player.registration, "pin": player.pin,
                     "token": token, "terminal": f"LOAD-{index}", "lang": "id"}
            reply = await client.call("login", login, namespace=NS, timeout=60)
            if not reply.get("ok"):
                raise RuntimeError(f"login: {reply.get('error')}")
            reply = await client.call("start", {}, namespace=NS, timeout=60)
            if not reply.get("ok"):
                raise RuntimeError(f"start: {reply.get('error')}")
            sheet = reply["sheet"]
            player.n_items = sheet["n_items"]
            player.seq = sheet.get("next_seq", 1) - 1
            started = time.perf_counter()
            reply = await client.call("get_item", {"position": 0}, namespace=NS, timeout=60)
            latencies.append((time.perf_counter() - started) * 1000)
            if not reply.get("ok"):
                raise RuntimeError(f"get_item: {reply.get('error')}")
            player.ok = True
        except Exception as exc:  # reported in the result, never fatal for the run
            player.error = f"{type(exc).__name__}: {exc}"


def _answer(player: Player) -> dict[str, int]:
    player.seq += 1
    return {"seq": player.seq, "position": player.seq % player.n_items,
            "choice": random.randrange(4)}


async def offered_phase(players: list[Player], rate: float, duration: float,
                        proc: ProcStats, grace: float = 5.0) -> PhaseResult:
    """Open loop: ``rate`` answers/s spread evenly over the players, whatever the acks do."""
    result = PhaseResult("offered", duration)
    live = [p for p in players if p.ok]
    if not live:
        return result
    loop = asyncio.get_running_loop()
    interval = len(live) / rate  # seconds between two answers of one player
    cpu0, gen0 = proc.cpu_s(), time.process_time()
    t0 = loop.time()
    end = t0 + duration
    pending: set[asyncio.Future] = set()

    async def one(player: Player, phase: float) -> None:
        next_at = t0 + phase
        while next_at < end:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at = time.perf_counter()
            fut = loop.create_future()
            pending.add(fut)

            def done(reply, fut=fut, sent_at=sent_at):
                if not fut.done():
                    fut.set_result((reply, (time.perf_counter() - sent_at) * 1000))

            result.sent += 1
            await player.client.emit("answer", _answer(player), namespace=NS, callback=done)
            next_at += interval

    await asyncio.gather(*(one(p, random.random() * interval) for p in live))
    # Acks that arrive within the grace period still count (latency says how late they were).
    if pending:
        await asyncio.wait(pending, timeout=grace)
    for fut in pending:
        if fut.done():
            reply, ms = fut.result()
            if isinstance(reply, dict) and reply.get("saved"):
                result.acked += 1
                result.latencies_ms.append(ms)
            else:
                result.failed += 1
    cpu1 = proc.cpu_s()
    result.cpu_s = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    result.generator_cpu_s = time.process_time() - gen0
    return result


async def saturation_phase(players: list[Player], duration: float,
                           proc: ProcStats) -> PhaseResult:
    """Closed loop: each player sends its next answer as soon as the previous is acked."""
    result = PhaseResult("saturation", duration)
    live = [p for p in players if p.ok]
    loop = asyncio.get_running_loop()
    cpu0, gen0 = proc.cpu_s(), time.process_time()
    end = loop.time() + duration
    t0 = time.perf_counter()

    async def one(player: Player) -> None:
        while loop.time() < end:
            sent_at = time.perf_counter()
            result.sent += 1
            try:
                reply = await player.client.call("answer", _answer(player), namespace=NS,
                                                 timeout=30)
            except Exception:
                result.failed += 1
                continue
            if isinstance(reply, dict) and reply.get("saved"):
                result.acked += 1
                result.latencies_ms.append((time.perf_counter() - sent_at) * 1000)
            else:
                result.failed += 1

    await asyncio.gather(*(one(p) for p in live))
    result.seconds = time.perf_counter() - t0
    cpu1 = proc.cpu_s()
    result.cpu_s = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    result.generator_cpu_s = time.process_time() - gen0
    return result


async def run(url: str, token: str, candidates: list[tuple[str, str]], *, offered: float,
              duration: float, saturate: float, server_pid: int | None,
              connect_concurrency: int = 500) -> dict[str, Any]:
    proc = ProcStats(server_pid)
    players = [Player(reg, pin) for reg, pin in candidates]
    gate = asyncio.Semaphore(connect_concurrency)
    first_item_ms: list[float] = []
    cpu0 = proc.cpu_s()
    t0 = time.perf_counter()
    await asyncio.gather(*(_connect_one(url, token, p, i, gate, first_item_ms)
                           for i, p in enumerate(players)))
    storm = time.perf_counter() - t0
    cpu1 = proc.cpu_s()
    errors = sorted({p.error for p in players if p.error})
    report: dict[str, Any] = {
        "url": url, "candidates": len(players),
        "connect_storm": {"seconds": round(storm, 2), "ready": sum(p.ok for p in players),
                          "errors": errors[:5],
                          "server_cpu_pct": (round(100 * (cpu1 - cpu0) / storm, 1)
                                             if cpu0 is not None and cpu1 is not None else None)},
        "phases": [],
    }
    if offered > 0 and duration > 0:
        report["phases"].append((await offered_phase(players, offered, duration, proc))
                                .summary() | {"offered_per_s": offered})
    if saturate > 0:
        report["phases"].append((await saturation_phase(players, saturate, proc)).summary())
    report["server_memory_mib"] = proc.memory_mib()
    await asyncio.gather(*(p.client.disconnect() for p in players if p.client is not None),
                         return_exceptions=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--roster", required=True, type=Path,
                        help='JSON: {"token": ..., "candidates": [[registration, pin], ...]}')
    parser.add_argument("--candidates", type=int, help="Use only the first N of the roster.")
    parser.add_argument("--offered", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--saturate", type=float, default=10.0)
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        print("error: the load generator runs against loopback only", file=sys.stderr)
        return 2
    roster = json.loads(args.roster.read_text())
    candidates = [tuple(c) for c in roster["candidates"]][: args.candidates]
    report = asyncio.run(run(args.url, roster["token"], candidates, offered=args.offered,
                             duration=args.duration, saturate=args.saturate,
                             server_pid=args.server_pid))
    print(json.dumps(report, indent=1))
    return 0


def median_of(reports: list[dict[str, Any]], path: tuple) -> float | None:
    """Median of one figure over several runs' reports (None values skipped)."""
    values = []
    for report in reports:
        value: Any = report
        for key in path:
            value = value[key] if value is not None else None
        if value is not None:
            values.append(value)
    return statistics.median(values) if values else None


if __name__ == "__main__":
    sys.exit(main())
