"""Load generator: N candidates play an exam over real websockets, from several processes.

    python scripts/loadgen.py --url http://127.0.0.1:5000 --roster roster.json \
        --offered 1000 --duration 10 --saturate 10 [--workers 2] [--server-pid PID]

Each candidate is a raw Engine.IO 4 / Socket.IO 5 websocket (aiohttp, text packets written by
hand: a python-socketio client costs about as much CPU per message as the server it measures).
The candidates are split over ``--workers`` processes; every process reports its own CPU, so
a report shows whether the generator, not the server, was what saturated.

Phases, each measured on its own, all processes starting together:
  1. connect storm: every candidate connects, logs in, starts and fetches the first item;
  2. offered load: answers at ``--offered`` per second in total (open loop: a send never waits
     for an earlier ack), for ``--duration`` seconds;
  3. saturation: every candidate sends its next answer as soon as the previous is acked.
An answer counts as acknowledged only if its ack (``saved``) arrives inside the phase's window;
one that arrives later (up to ``--grace`` seconds) is *late* (not acknowledged, its latency
counts), one that never arrives is *missing* and one refused is *refused*: both fail. Latency
percentiles are over every answer sent, a missing or refused one counting as infinitely late.
The report also gives the server process's CPU (from /proc) and peak memory (VmHWM), the load
average and the whole machine's CPU use during each phase. The roster is JSON:
``{"token": "...", "candidates": [["registration", "pin"], ...]}``. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

NS = "/candidate"
_ACK = f"43{NS},"
_EMIT = f"42{NS},"

try:  # the generator's own JSON work is part of its CPU: use the fast codec when there
    import orjson

    def _dumps(obj: Any) -> str:
        return orjson.dumps(obj).decode()

    _loads = orjson.loads
except ImportError:  # pragma: no cover
    def _dumps(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"))

    _loads = json.loads


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; ``math.inf`` entries (failures) sort last."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


class ProcStats:
    """CPU seconds and memory of a process, read from /proc (Linux)."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self._tick = float(os.sysconf("SC_CLK_TCK"))

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
                out[key] = round(int(value.split()[0]) / 1024, 1)
        return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Conn:
    """One candidate's Socket.IO connection to the candidate namespace, over a raw websocket."""

    def __init__(self, registration: str, pin: str):
        self.registration, self.pin = registration, pin
        self.ws: Any = None
        self.acks: dict[int, asyncio.Future] = {}
        self.last_id = 0
        self.n_items = 110
        self.seq = 0
        self.ok = False
        self.reader: asyncio.Task | None = None

    async def open(self, session, url: str) -> None:
        ws_url = url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.ws = await session.ws_connect(ws_url, autoping=True, compress=0, max_msg_size=0)
        hello = await self.ws.receive(timeout=30)
        if not str(hello.data).startswith("0"):
            raise RuntimeError(f"engine.io open: {str(hello.data)[:100]}")
        await self.ws.send_str(f"40{NS},")
        joined = await self.ws.receive(timeout=30)
        if not str(joined.data).startswith(f"40{NS},"):
            raise RuntimeError(f"namespace refused: {str(joined.data)[:100]}")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                data = msg.data
                if not isinstance(data, str):
                    continue
                if data == "2":
                    await self.ws.send_str("3")
                elif data.startswith(_ACK):
                    at = time.monotonic()
                    bracket = data.index("[", len(_ACK))
                    fut = self.acks.pop(int(data[len(_ACK):bracket]), None)
                    if fut is not None and not fut.done():
                        args = _loads(data[bracket:])
                        fut.set_result((at, args[0] if args else None))
                elif data.startswith(("1", f"41{NS}")):
                    break
        except Exception:  # a broken socket ends like a closed one: its acks go missing
            pass
        finally:
            self.ok = False
            for fut in self.acks.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))
            self.acks.clear()

    async def emit(self, event: str, data: Any) -> asyncio.Future:
        """Send an event asking for an ack; the future gets (arrival time, reply)."""
        self.last_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.acks[self.last_id] = fut
        await self.ws.send_str(f"{_EMIT}{self.last_id}{_dumps([event, data])}")
        return fut

    async def call(self, event: str, data: Any, timeout: float = 60.0) -> Any:
        _at, reply = await asyncio.wait_for(await self.emit(event, data), timeout)
        if not (isinstance(reply, dict) and reply.get("ok")):
            error = reply.get("error") if isinstance(reply, dict) else reply
            raise RuntimeError(f"{event}: {error}")
        return reply

    def answer(self) -> dict[str, int]:
        self.seq += 1
        return {"seq": self.seq, "position": self.seq % self.n_items,
                "choice": random.randrange(4)}

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


def _error_code(exc: BaseException) -> str:
    text = str(exc)
    for code in ("rate_limited", "not_logged_in", "bad_request", "internal"):
        if code in text:
            return code
    return type(exc).__name__


class _Tally:
    """One phase's answers: in window, late, missing, refused, and every latency."""

    def __init__(self, end: float):
        self.end = end
        self.sent = self.acked = self.late = self.missing = 0
        self.refused: Counter = Counter()
        self.latencies: list[float] = []

    def add(self, sent_at: float, fut: asyncio.Future) -> None:
        if not fut.done() or fut.cancelled() or fut.exception() is not None:
            self.missing += 1
            self.latencies.append(math.inf)
            return
        at, reply = fut.result()
        if not (isinstance(reply, dict) and reply.get("saved")):
            error = reply.get("error") if isinstance(reply, dict) else None
            self.refused[(error or {}).get("code", "no_saved") if isinstance(error, dict)
                         else "no_saved"] += 1
            self.latencies.append(math.inf)
            return
        self.latencies.append((at - sent_at) * 1000)
        if at <= self.end:
            self.acked += 1
        else:
            self.late += 1

    def result(self) -> dict[str, Any]:
        return {"sent": self.sent, "acked": self.acked, "late": self.late,
                "missing": self.missing, "refused": dict(self.refused),
                "latencies": self.latencies}


class Worker:
    """A generator process's share of the candidates; runs the phases it is told to."""

    def __init__(self, url: str, token: str, candidates: list[tuple[str, str]]):
        self.url, self.token = url, token
        self.conns = [Conn(reg, pin) for reg, pin in candidates]
        self.session: Any = None

    async def serve(self, pipe) -> None:
        import aiohttp

        loop = asyncio.get_running_loop()
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        try:
            while True:
                command, kwargs = await loop.run_in_executor(None, pipe.recv)
                if command == "close":
                    await asyncio.gather(*(c.close() for c in self.conns),
                                         return_exceptions=True)
                    pipe.send({})
                    return
                cpu0 = time.process_time()
                out = await getattr(self, command)(**kwargs)
                out["cpu_s"] = time.process_time() - cpu0
                pipe.send(out)
        finally:
            await self.session.close()

    @staticmethod
    async def _until(at: float) -> None:
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def storm(self, t0: float, concurrency: int) -> dict[str, Any]:
        await self._until(t0)
        gate = asyncio.Semaphore(concurrency)
        ready_ms: list[float] = []
        errors: Counter = Counter()

        async def one(index: int, conn: Conn) -> None:
            async with gate:
                try:
                    await conn.open(self.session, self.url)
                    await conn.call("login", {"registration": conn.registration,
                                              "pin": conn.pin, "token": self.token,
                                              "terminal": f"LOAD-{conn.registration}",
                                              "lang": "id"})
                    sheet = (await conn.call("start", {}))["sheet"]
                    conn.n_items = sheet["n_items"]
                    conn.seq = sheet.get("next_seq", 1) - 1
                    await conn.call("get_item", {"position": 0})
                    ready_ms.append((time.monotonic() - t0) * 1000)
                    conn.ok = True
                except Exception as exc:  # counted in the report, never fatal for the run
                    errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                    ready_ms.append(math.inf)

        await asyncio.gather(*(one(i, c) for i, c in enumerate(self.conns)))
        return {"ready_ms": ready_ms, "errors": dict(errors)}

    async def offered(self, t0: float, rate: float, duration: float,
                      grace: float) -> dict[str, Any]:
        """Open loop: ``rate`` answers/s over this process's live candidates."""
        live = [c for c in self.conns if c.ok]
        end = t0 + duration
        tally = _Tally(end)
        if not live or rate <= 0:
            return tally.result()
        interval = len(live) / rate
        sent: list[tuple[float, asyncio.Future]] = []
        await self._until(t0)

        async def one(conn: Conn, phase: float) -> None:
            next_at = t0 + phase
            while next_at < end:
                await self._until(next_at)
                sent_at = time.monotonic()
                try:
                    fut = await conn.emit("answer", conn.answer())
                except Exception:
                    fut = asyncio.get_running_loop().create_future()
                    fut.set_exception(ConnectionError("send failed"))
                sent.append((sent_at, fut))
                next_at += interval

        await asyncio.gather(*(one(c, random.random() * interval) for c in live))
        await self._settle([f for _s, f in sent], end + grace)
        for sent_at, fut in sent:
            tally.sent += 1
            tally.add(sent_at, fut)
        return tally.result()

    async def saturate(self, t0: float, duration: float, grace: float) -> dict[str, Any]:
        """Closed loop: each candidate sends its next answer when the previous is acked."""
        live = [c for c in self.conns if c.ok]
        end = t0 + duration
        tally = _Tally(end)
        await self._until(t0)

        async def one(conn: Conn) -> None:
            while time.monotonic() < end:
                sent_at = time.monotonic()
                tally.sent += 1
                try:
                    fut = await conn.emit("answer", conn.answer())
                except Exception:
                    tally.missing += 1
                    tally.latencies.append(math.inf)
                    return
                # Timed out or the connection closed: the tally counts it missing.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(fut),
                                           max(0.0, end + grace - time.monotonic()))
                tally.add(sent_at, fut)
                if not fut.done() or fut.exception() is not None:
                    return

        await asyncio.gather(*(one(c) for c in live))
        return tally.result()

    @staticmethod
    async def _settle(futures: list[asyncio.Future], deadline: float) -> None:
        pending = [f for f in futures if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))


def _worker_main(pipe, url: str, token: str, candidates: list[tuple[str, str]]) -> None:
    asyncio.run(Worker(url, token, candidates).serve(pipe))


class Generator:
    """The coordinator: starts the worker processes and gathers their phases into a report."""

    def __init__(self, url: str, token: str, candidates: list[tuple[str, str]],
                 workers: int = 2):
        # fork: the workers inherit this module however it was loaded (cat-engine loadtest
        # loads it from its path).
        context = multiprocessing.get_context("fork")
        self.pipes, self.procs = [], []
        workers = max(1, min(workers, len(candidates)))
        for w in range(workers):
            parent, child = context.Pipe()
            proc = context.Process(target=_worker_main, daemon=True,
                                   args=(child, url, token, candidates[w::workers]))
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def phase(self, command: str, **kwargs: Any) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send((command, kwargs))
        return [pipe.recv() for pipe in self.pipes]

    def close(self) -> None:
        try:
            self.phase("close")
        finally:
            for proc in self.procs:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()


class _Window:
    """What the machine did during one phase: server CPU, generator CPU, load, all cores."""

    def __init__(self, proc: ProcStats):
        self.proc = proc
        self.load0 = os.getloadavg()[0]
        self.server0 = proc.cpu_s()
        self.machine0 = machine_cpu()
        self.own0 = time.process_time()

    def close(self, seconds: float, workers_cpu_s: list[float]) -> dict[str, Any]:
        server1, machine1 = self.proc.cpu_s(), machine_cpu()
        busy = machine1[0] - self.machine0[0]
        total = max(1, machine1[1] - self.machine0[1])
        gen = sum(workers_cpu_s) + time.process_time() - self.own0
        return {
            "server_cpu_s": (None if self.server0 is None or server1 is None
                             else round(server1 - self.server0, 3)),
            "server_cpu_pct": (None if self.server0 is None or server1 is None
                               else round(100 * (server1 - self.server0) / seconds, 1)),
            "generator_cpu_pct": round(100 * gen / seconds, 1),
            "generator_max_process_cpu_pct": round(100 * max(workers_cpu_s, default=0)
                                                   / seconds, 1),
            "machine_busy_pct": round(100 * busy / total, 1),
            "load_avg": [round(self.load0, 2), round(os.getloadavg()[0], 2)],
        }


def _latency_summary(latencies: list[float]) -> dict[str, float | None]:
    def r(v):
        return None if v is None else (v if math.isinf(v) else round(v, 1))

    return {"p50_ms": r(percentile(latencies, 50)), "p95_ms": r(percentile(latencies, 95)),
            "p99_ms": r(percentile(latencies, 99)), "max_ms": r(max(latencies, default=None))}


def _merge(name: str, parts: list[dict[str, Any]], seconds: float,
           window: dict[str, Any]) -> dict[str, Any]:
    refused: Counter = Counter()
    for p in parts:
        refused.update(p["refused"])
    sent = sum(p["sent"] for p in parts)
    acked = sum(p["acked"] for p in parts)
    latencies = [x for p in parts for x in p["latencies"]]
    out = {"phase": name, "seconds": seconds, "sent": sent, "acked": acked,
           "late": sum(p["late"] for p in parts), "missing": sum(p["missing"] for p in parts),
           "refused": dict(refused),
           # Late acks count neither as acked nor as failed; missing and refused ones fail.
           "failed": sum(p["missing"] for p in parts) + sum(refused.values()),
           "acked_per_s": round(acked / seconds, 1),
           "acked_fraction": round(acked / sent, 4) if sent else None,
           **_latency_summary(latencies), **window}
    if window.get("server_cpu_s") is not None and acked:
        out["server_cpu_us_per_ack"] = round(1e6 * window["server_cpu_s"] / acked, 1)
    return out


def run(url: str, token: str, candidates: list[tuple[str, str]], *, offered: float,
        duration: float, saturate: float, server_pid: int | None, workers: int = 2,
        connect_concurrency: int = 500, grace: float = 5.0) -> dict[str, Any]:
    """All phases against one server; returns the report (see the module's docstring)."""
    proc = ProcStats(server_pid)
    gen = Generator(url, token, candidates, workers)
    try:
        report: dict[str, Any] = {"url": url, "candidates": len(candidates),
                                  "workers": len(gen.procs), "grace_s": grace}
        window = _Window(proc)
        t0 = time.monotonic() + 1.0  # every process is up and waiting by then
        parts = gen.phase("storm", t0=t0, concurrency=max(1, connect_concurrency
                                                            // len(gen.procs)))
        ready_ms = [x for p in parts for x in p["ready_ms"]]
        errors: Counter = Counter()
        for p in parts:
            errors.update(p["errors"])
        storm_s = max(ready_ms, default=0.0) / 1000
        finite = [x for x in ready_ms if not math.isinf(x)]
        wall = max(finite, default=0.0) / 1000 or 1.0
        report["connect_storm"] = {
            "seconds": storm_s if math.isinf(storm_s) else round(storm_s, 2),
            "ready": len(finite), "errors": dict(errors.most_common(5)),
            **_latency_summary(ready_ms),
            **window.close(wall, [p["cpu_s"] for p in parts]),
            "server_memory_mib": proc.memory_mib()}
        report["phases"] = []
        if offered > 0 and duration > 0:
            window = _Window(proc)
            # Each process offers its share of the rate (the candidates are dealt evenly).
            parts = gen.phase("offered", t0=time.monotonic() + 0.5,
                              rate=offered / len(gen.procs), duration=duration, grace=grace)
            report["phases"].append(_merge("offered", parts, duration, window.close(
                duration, [p["cpu_s"] for p in parts])) | {"offered_per_s": offered})
        if saturate > 0:
            window = _Window(proc)
            parts = gen.phase("saturate", t0=time.monotonic() + 0.5, duration=saturate, grace=grace)
            report["phases"].append(_merge("saturation", parts, saturate, window.close(
                saturate, [p["cpu_s"] for p in parts])))
        report["server_memory_mib"] = proc.memory_mib()
    finally:
        gen.close()
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
    parser.add_argument("--grace", type=float, default=5.0,
                        help="Seconds to wait for late acks after a phase (they still fail).")
    parser.add_argument("--workers", type=int, default=2, help="Generator processes.")
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        print("error: the load generator runs against loopback only", file=sys.stderr)
        return 2
    roster = json.loads(args.roster.read_text())
    candidates = [tuple(c) for c in roster["candidates"]][: args.candidates]
    report = run(args.url, roster["token"], candidates, offered=args.offered,
                 duration=args.duration, saturate=args.saturate, server_pid=args.server_pid,
                 workers=args.workers, grace=args.grace)
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
