"""Failover of a session's owner under load, and the message queue's numbered pushes (issue 9).

    CAT_ENGINE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    flock /work/bench.lock .venv/bin/python benchmarks/bench_failover.py [--kills 5]

Each kill gets a fresh cluster as docs/deploy.md runs a large site: a PostgreSQL database of
its own, a private Redis, three ``serve`` processes behind nginx (``cat-engine proxy-config``),
three sessions of ``--clients / 3`` terminals. The terminals behave as terminal.js does: an
answer every ``--pace`` seconds (+-40 %), a dropped connection noticed at once, reconnection
with socket.io's backoff (1 s doubling to 5 s, +-50 %) through the proxy with the route of
their login, then login, start, and the pending answer sent again. A display on each process
subscribes to every session and checks the numbers of the board pushes.

After ``--warmup`` seconds and a steady window of ``--window`` seconds, the owner of one
session is SIGKILLed. Per kill:

- failover: for each terminal of the killed process's sessions, the time from the kill to the
  first acknowledgement of an answer *sent after the kill*; the first, median and last
  terminal. The figure of the issue ("kill to first answer acknowledged again") is the first;
  the last is when the whole room works again. Medians over the kills.
- exam time lost per terminal: its remaining time at the kill (from the database) minus the
  remaining time in its first start reply after the kill (negative: credited more).
- pushes lost: gaps in the numbered board pushes seen by the displays during the steady
  window (before the kill), with the servers' message-queue errors in their logs.

``--pushes``: instead of kills, the message queue alone under a closed-loop load (each
terminal answers as soon as its last answer is acknowledged), in the same run with
python-socketio's own RedisManager (the baseline, what the server used before
cat_engine/live/pubsub.py) and with ours: board-push gaps seen by the displays and message-queue
errors in the logs over ``--window`` seconds.

Writes benchmarks/out/failover.json (or pushes.json) and prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import socketio

from cat_engine.testing import (
    SMALL_EXAM,
    ServerProcess,
    call_or_drop,
    enrolled_device,
    postgres_database,
    start_cluster,
)

ROOT = Path(__file__).resolve().parents[1]
NS = "/candidate"
#: Long enough that no deadline falls inside a run.
EXAM = SMALL_EXAM.replace("time_limit_minutes = 10", "time_limit_minutes = 30")
#: terminal.js: socket.io's reconnection delay and its retry of a refused login or start.
RECONNECT_S, RECONNECT_MAX_S, RETRY_S = 1.0, 5.0, 2.0


@dataclass
class Record:
    #: (session, registration) -> [(acknowledged, sent)] wall times
    acks: dict = field(default_factory=lambda: defaultdict(list))
    #: (session, registration) -> [(wall time of the start reply, remaining_ms)]
    starts: dict = field(default_factory=lambda: defaultdict(list))
    gaps: list = field(default_factory=list)  # (wall time, display, session id, what)


async def terminal(url: str, session: str, login: dict, stop: float, pace: float,
                   rec: Record, rng: random.Random) -> None:
    key = (session, login["registration"])
    route, seq, attempt = None, 0, 0
    while time.monotonic() < stop:
        sio = socketio.AsyncClient(reconnection=False)
        lost = asyncio.Event()
        sio.on("disconnect", lambda *_a, lost=lost: lost.set(), namespace=NS)

        async def call(event, data, sio=sio, lost=lost):
            return await call_or_drop(sio, event, data, namespace=NS, lost=lost)
        try:
            await sio.connect(url + (f"/?session={route}" if route else ""), namespaces=[NS],
                              transports=["websocket"], wait_timeout=10)
            attempt = 0
            reply = await call("login", login)
            if not reply["ok"]:
                if reply.get("route") and reply["route"] != route:
                    route = reply["route"]
                else:
                    await asyncio.sleep(RETRY_S)
                continue
            route = reply["route"]
            reply = await call("start", {})
            if not reply.get("ok") or "sheet" not in reply:
                await asyncio.sleep(RETRY_S)
                continue
            rec.starts[key].append((time.time(), reply["sheet"]["remaining_ms"]))
            seq = max(seq, reply["sheet"]["next_seq"] - 1)
            while time.monotonic() < stop:
                seq += 1
                sent = time.time()
                reply = await call("answer", {"seq": seq, "position": seq % 10,
                                              "choice": rng.randrange(4)})
                if not reply.get("saved"):
                    break
                rec.acks[key].append((time.time(), sent))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), pace * rng.uniform(0.6, 1.4))
                if lost.is_set():
                    raise ConnectionError("disconnected")
        except (TimeoutError, socketio.exceptions.SocketIOError, ConnectionError, OSError):
            attempt += 1
            await asyncio.sleep(min(RECONNECT_MAX_S, RECONNECT_S * 2 ** (attempt - 1))
                                * rng.uniform(0.5, 1.5))
        finally:
            if sio.connected:
                await sio.disconnect()


async def display(url: str, name: str, sessions: list[str], secret: str,
                  rec: Record) -> socketio.AsyncClient:
    """Subscribe to every session's board and record each push lost: a diff whose number
    skips one, or a repeated last number (``board_seq``) that is not the last seen. A diff may
    arrive before the snapshot that precedes it (the owner flushed between taking the
    snapshot and sending the reply): those are held and applied after it, not counted."""
    client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.5)
    last: dict[int, int | None] = {}  # session id -> last number seen (None: any follows)
    early: dict[int, list[int]] = defaultdict(list)  # numbers seen while subscribing
    names: dict[int, str] = {}
    waiting: set[int] = set()

    async def subscribe(session: str) -> None:
        with contextlib.suppress(TimeoutError, socketio.exceptions.SocketIOError):
            snap = await client.call("subscribe", {"session": session}, namespace="/display",
                                     timeout=10)
            if not snap.get("ok"):
                return
            sid = snap["session"]["id"]
            names[sid] = session
            waiting.discard(sid)
            seq = snap.get("seq")
            held = sorted(n for n in early.pop(sid, []) if seq is None or n > seq)
            if seq is None:  # a snapshot from the database: the next number starts the count
                last[sid] = held[-1] if held else None
                return
            if held and held != list(range(seq + 1, seq + 1 + len(held))):
                lost(sid, f"snapshot {seq}, then {held}")
                return
            last[sid] = held[-1] if held else seq

    def lost(session_id: int, what: str) -> None:
        rec.gaps.append((time.time(), name, session_id, what))
        last[session_id] = None
        waiting.add(session_id)
        asyncio.get_running_loop().create_task(subscribe(names[session_id]))

    def check(session_id: int, seq, diff: bool) -> None:
        if not isinstance(seq, int):
            return
        if session_id in waiting or session_id not in last:
            if diff:
                early[session_id].append(seq)
            return
        previous = last[session_id]
        if previous is None or seq == (previous + 1 if diff else previous):
            last[session_id] = seq
            return
        lost(session_id, f"{'diff' if diff else 'repeat'} {seq} after {previous}")

    async def on_board(diff) -> None:
        check(diff["session_id"], diff.get("seq"), True)

    async def on_seq(msg) -> None:
        check(msg["session_id"], msg.get("seq"), False)

    async def on_connect() -> None:
        for sid in list(last):
            waiting.add(sid)
        for session in sessions:
            asyncio.get_running_loop().create_task(subscribe(session))

    client.on("board", on_board, namespace="/display")
    client.on("board_seq", on_seq, namespace="/display")
    client.on("connect", on_connect, namespace="/display")
    await client.connect(url, namespaces=["/display"], transports=["websocket"],
                         auth={"device": secret}, wait_timeout=10)
    return client


class StockQueueServer(ServerProcess):
    """``serve`` with python-socketio's RedisManager as its message queue (the baseline)."""

    entry = ("import socketio, cat_engine.live.pubsub as q; "
             "q.OrderedRedisManager = lambda url: socketio.RedisManager("
             "url, channel='flask-socketio'); "
             "from cat_engine.cli import main; main()")


#: What either message queue logs when a publish or its subscriber fails.
QUEUE_ERRORS = ("Cannot publish", "Cannot receive", "publish failed", "subscriber lost",
                "I/O operation on closed file")


def push_run(tmp: Path, args, pg_admin: str, server: type[ServerProcess]) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "exam.toml").write_text(EXAM)
    with postgres_database(pg_admin) as url, start_cluster(
            tmp, url, sessions=["S0", "S1", "S2"], candidates=args.clients // 3,
            exam=str(tmp / "exam.toml"), server=server) as running:
        secret = enrolled_device(url)

        async def run() -> dict:
            rec = Record()
            names = [s.session for s in running.sites]
            rng = random.Random(1)
            displays = [await display(s.url, f"display@{s.port}", names, secret, rec)
                        for s in running.servers]
            stop = time.monotonic() + args.warmup + args.window
            tasks = [asyncio.create_task(terminal(
                running.proxy.url, site.session, site.login(i), stop, 0.0, rec,
                random.Random(rng.random())))
                for site in running.sites for i in range(args.clients // 3)]
            await asyncio.sleep(args.warmup)
            t0, cpu0 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
            await asyncio.gather(*tasks)
            t1, cpu1 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
            for d in displays:
                with contextlib.suppress(Exception):
                    await d.disconnect()
            answers = sum(1 for acks in rec.acks.values() for a, _s in acks if t0 <= a < t1)
            return {"window_s": round(t1 - t0, 1), "answers": answers,
                    "answers_per_s": round(answers / (t1 - t0)),
                    "push_gaps": sum(1 for g in rec.gaps if t0 <= g[0] < t1),
                    "queue_errors_in_logs": sum(s.output_all().count(text)
                                                for s in running.servers
                                                for text in QUEUE_ERRORS),
                    "loadgen_cpu_share": round((cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime
                                                - cpu0.ru_stime) / (t1 - t0), 2)}
        return asyncio.run(run())


def pushes(args, pg: str) -> int:
    report: dict = {"load_before": os.getloadavg(), "args": vars(args)}
    variants = (("stock RedisManager", StockQueueServer), ("OrderedRedisManager", ServerProcess))
    runs: dict = {name: [] for name, _server in variants}
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):  # alternated: the machine's load drifts
            for name, server in variants:
                run = push_run(Path(d) / f"{name.split()[0]}{r}", args, pg, server)
                runs[name].append(run)
                print(f"{name}: {json.dumps(run)}", flush=True)
    for name, done in runs.items():
        report[name] = {"runs": done, **{k: sum(run[k] for run in done) for k in (
            "answers", "push_gaps", "queue_errors_in_logs")}}
    report["load_after"] = os.getloadavg()
    out = ROOT / "benchmarks" / "out" / "pushes.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    ours = report["OrderedRedisManager"]
    ok = ours["push_gaps"] == 0 and ours["queue_errors_in_logs"] == 0
    print(("ok  " if ok else "MISS") + f" pushes under load: {ours['push_gaps']} gaps, "
          f"{ours['queue_errors_in_logs']} queue errors (stock: "
          f"{report['stock RedisManager']['push_gaps']} gaps, "
          f"{report['stock RedisManager']['queue_errors_in_logs']} errors); load "
          f"{report['load_before'][0]:.1f} -> {report['load_after'][0]:.1f}")
    return 0 if ok else 1


def deadlines(url: str) -> dict[tuple[str, str], int]:
    from sqlalchemy import select

    from cat_engine.store import Store
    from cat_engine.store.models import Candidate, Clock, ExamSession

    store = Store(url, upgrade=False)
    try:
        with store.read() as db:
            return {(name, reg): deadline for name, reg, deadline in db.execute(
                select(ExamSession.name, Candidate.registration,
                       Clock.started_ms + Clock.allowed_ms + Clock.extension_ms
                       + Clock.paused_ms + Clock.outage_ms)
                .join(Candidate, Candidate.session_id == ExamSession.id)
                .join(Clock, Clock.candidate_id == Candidate.id))}
    finally:
        store.close()


def owners(url: str) -> dict[str, int]:
    """Session name -> pid of the process holding its lease."""
    from cat_engine.store import Store
    from cat_engine.store.models import ExamSession, SessionLease

    store = Store(url, upgrade=False)
    try:
        with store.read() as db:
            return {name: int(lease.owner.split(":")[1]) for lease, name in db.query(
                SessionLease, ExamSession.name).join(
                ExamSession, ExamSession.id == SessionLease.session_id)
                if lease.owner}
    finally:
        store.close()


def one_kill(tmp: Path, args, pg_admin: str, k: int) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "exam.toml").write_text(EXAM)
    with postgres_database(pg_admin) as url, start_cluster(
            tmp, url, sessions=["S0", "S1", "S2"], candidates=args.clients // 3,
            exam=str(tmp / "exam.toml"),
            env={"CAT_ENGINE_LEASE_TTL_S": str(args.lease_ttl)}) as running:
        secret = enrolled_device(url)
        return asyncio.run(measure(running.proxy, running.servers, running.sites, url,
                                   secret, args, k))


async def measure(proxy, servers, sites, url: str, secret: str, args, k: int) -> dict:
    rec = Record()
    names = [s.session for s in sites]
    rng = random.Random(k)
    displays = [await display(s.url, f"display@{s.port}", names, secret, rec)
                for s in servers]
    stop = time.monotonic() + args.warmup + args.window + args.after
    tasks = [asyncio.create_task(terminal(proxy.url, site.session, site.login(i), stop,
                                          args.pace, rec, random.Random(rng.random())))
             for site in sites for i in range(args.clients // 3)]
    await asyncio.sleep(args.warmup)
    window_from = time.time()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(args.window)
    held = await asyncio.to_thread(owners, url)
    victim_pid = held[names[k % 3]]
    victim = next(s for s in servers if s.proc.pid == victim_pid)
    killed = sorted(n for n, pid in held.items() if pid == victim_pid)
    before = await asyncio.to_thread(deadlines, url)
    at = time.time()
    victim.kill()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*tasks)
    for d in displays:
        with contextlib.suppress(Exception):
            await d.disconnect()
    failover, lost, missing = [], [], []
    for (session, reg), acks in rec.acks.items():
        if session not in killed:
            continue
        after = [acked for acked, sent in acks if sent > at]
        if not after:
            missing.append(reg)
            continue
        failover.append(after[0] - at)
        restart = [rem for t, rem in rec.starts[(session, reg)] if t > at]
        deadline = before.get((session, reg))
        if restart and deadline is not None:
            lost.append(deadline - at * 1000 - restart[0])
    failover.sort()
    window_gaps = [g for g in rec.gaps if window_from <= g[0] < at]
    queue_errors = sum(s.output_all().count(text) for s in servers if s is not victim
                       for text in ("Cannot publish", "Cannot receive", "publish failed",
                                    "subscriber lost"))
    gen_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {
        "killed_sessions": killed,
        "terminals": len(failover) + len(missing),
        "never_back": missing,
        "failover_first_s": round(failover[0], 2) if failover else None,
        "failover_median_s": round(statistics.median(failover), 2) if failover else None,
        "failover_last_s": round(failover[-1], 2) if failover else None,
        "time_lost_max_ms": round(max(lost)) if lost else None,
        "time_lost_median_ms": round(statistics.median(lost)) if lost else None,
        "window_s": round(at - window_from, 1),
        "window_answers": sum(1 for acks in rec.acks.values() for a, _s in acks
                              if window_from <= a < at),
        "window_push_gaps": len(window_gaps),
        "queue_errors_in_logs": queue_errors,
        "loadgen_cpu_share": round(gen_cpu / max(0.001, at - window_from), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=90)
    parser.add_argument("--pace", type=float, default=1.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--after", type=float, default=15.0)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--lease-ttl", type=float, default=4.0)
    parser.add_argument("--pushes", action="store_true",
                        help="compare the message queues under load instead of killing")
    parser.add_argument("--rounds", type=int, default=2, help="--pushes: rounds of both")
    args = parser.parse_args()
    pg = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")
    if not pg:
        print("set CAT_ENGINE_TEST_POSTGRES_URL", file=sys.stderr)
        return 2
    if args.pushes:
        return pushes(args, pg)
    report: dict = {"load_before": os.getloadavg(), "args": vars(args), "kills": []}
    with tempfile.TemporaryDirectory() as d:
        for k in range(args.kills):
            run = one_kill(Path(d) / f"k{k}", args, pg, k)
            report["kills"].append(run)
            print(f"kill {k + 1}: {json.dumps(run)}", flush=True)
    runs = report["kills"]

    def median(name):
        values = [r[name] for r in runs if r[name] is not None]
        return statistics.median(values) if values else None
    report["median"] = {name: median(name) for name in (
        "failover_first_s", "failover_median_s", "failover_last_s", "time_lost_max_ms")}
    report["never_back"] = sum(len(r["never_back"]) for r in runs)
    report["window_push_gaps"] = sum(r["window_push_gaps"] for r in runs)
    report["queue_errors_in_logs"] = sum(r["queue_errors_in_logs"] for r in runs)
    report["load_after"] = os.getloadavg()
    out = ROOT / "benchmarks" / "out" / "failover.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("median", "never_back", "window_push_gaps",
                                             "queue_errors_in_logs", "load_before",
                                             "load_after")}))
    med = report["median"]
    ok = (report["never_back"] == 0 and med["failover_last_s"] is not None
          and med["failover_last_s"] <= 10 and med["time_lost_max_ms"] <= 1000
          and report["window_push_gaps"] == 0)
    print(("ok  " if ok else "MISS") + f" failover (median of {len(runs)} kills): first "
          f"{med['failover_first_s']} s, last terminal {med['failover_last_s']} s (target "
          f"<= 10 s); time lost {med['time_lost_max_ms']} ms (<= 1000); push gaps "
          f"{report['window_push_gaps']} (0)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
