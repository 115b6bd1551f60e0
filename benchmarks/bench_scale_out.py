"""Several processes (PostgreSQL + Redis + nginx) vs one SQLite process (issue 9's targets).

    CAT_ENGINE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    .venv/bin/python benchmarks/bench_scale_out.py [--clients 60] [--seconds 20]

1. Server CPU per answer, in the same run: the same closed-loop load (each client sends its
   next answer when the last is acknowledged) against one `serve` on SQLite, then against
   three `serve` on a PostgreSQL database of their own with a private Redis behind nginx.
   CPU is the servers' user + system time (/proc) over the measured window, summed over the
   `serve` processes: that is the figure the target compares. Beside it, measured over the
   same window and not in the ratio: the PostgreSQL backends serving the benchmark's
   database, the private redis-server, nginx (master and workers) and the load generator
   (this process). ``--runs`` alternates which goes first; the ratio is the median of the
   per-run ratios. Target: ratio <= 1.3.

   Both sites are watched as a real one is (``--watchers``, default on): a proctor console per
   session and a public display subscribed to every session, all connected as browsers are
   (through the proxy for the cluster: a console by its session, the display by its address).
   Without them a process could skip work a real site always asks of it (diffing and
   publishing boards nobody watches). Pushes they receive are counted and reported.

Failover (a session's owner killed under load) is benchmarks/bench_failover.py.
Writes benchmarks/out/scale-out.json and prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import socketio

from cat_engine.testing import (
    SMALL_EXAM,
    ServerProcess,
    cookie_header,
    cpu_seconds,
    enrolled_device,
    postgres_database,
    prepare_site,
    start_cluster,
    web_login,
)

ROOT = Path(__file__).resolve().parents[1]
NS = "/candidate"
#: Long enough that no deadline falls inside a run.
EXAM = SMALL_EXAM.replace("time_limit_minutes = 10", "time_limit_minutes = 30")


async def client(url: str, login: dict, stop: float, acks: list[tuple[float, float, str]],
                 session: str) -> None:
    """Log in (following the route), start, then answer as fast as acknowledgements come;
    ``acks`` gets (when acknowledged, when sent, session) of each acknowledged answer."""
    route, seq = None, 0
    while time.monotonic() < stop:
        sio = socketio.AsyncClient(reconnection=False)
        try:
            await sio.connect(url + (f"/?session={route}" if route else ""), namespaces=[NS],
                              transports=["websocket"], wait_timeout=5)
            reply = await sio.call("login", login, namespace=NS, timeout=10)
            if not reply["ok"]:
                route = reply.get("route", route)
                await asyncio.sleep(0.2)
                continue
            route = reply["route"]
            sheet = (await sio.call("start", {}, namespace=NS, timeout=10))["sheet"]
            seq = max(seq, sheet["next_seq"] - 1)
            while time.monotonic() < stop:
                seq += 1
                sent = time.monotonic()
                reply = await sio.call("answer", {"seq": seq, "position": seq % 10,
                                                  "choice": seq % 4},
                                       namespace=NS, timeout=10)
                if not reply.get("saved"):
                    break
                acks.append((time.monotonic(), sent, session))
        except (TimeoutError, socketio.exceptions.SocketIOError, OSError):
            await asyncio.sleep(0.2)
        finally:
            if sio.connected:
                await sio.disconnect()


PROCTOR = ("bench-proctor", "bench proctor password")


def add_proctor(database_url: str, sessions: list[str]) -> dict[str, int]:
    """A proctor assigned to ``sessions``; returns session name -> id."""
    from sqlalchemy import select

    from cat_engine.services import users
    from cat_engine.store import Store
    from cat_engine.store.models import ExamSession

    store = Store(database_url, upgrade=False)
    try:
        with store.read() as db:
            ids = {name: db.scalar(select(ExamSession.id).where(ExamSession.name == name))
                   for name in sessions}
        users.add_user(store, *PROCTOR, "proctor")
        for sid in ids.values():
            users.assign(store, PROCTOR[0], sid)
    finally:
        store.close()
    return ids


class Watchers:
    """A proctor console per session and one public display subscribed to every session,
    connected as the browsers are; they count what is pushed to them."""

    def __init__(self, url: str, session_ids: dict[str, int], display_secret: str):
        self.url, self.session_ids, self.secret = url, session_ids, display_secret
        self.pushes = {"console": 0, "display": 0}
        self.clients: list[socketio.AsyncClient] = []

    def _count(self, kind: str):
        async def count(*_args) -> None:
            self.pushes[kind] += 1
        return count

    async def start(self) -> Watchers:
        cookie = await asyncio.to_thread(
            lambda: cookie_header(web_login(self.url, *PROCTOR)))
        for sid in self.session_ids.values():
            console = socketio.AsyncClient(reconnection=False)
            console.on("progress", self._count("console"), namespace="/proctor")
            await console.connect(f"{self.url}/?session={sid}", namespaces=["/proctor"],
                                  transports=["websocket"], headers={"Cookie": cookie},
                                  wait_timeout=5)
            reply = await console.call("watch", {"session_id": sid}, namespace="/proctor",
                                       timeout=10)
            assert reply.get("ok"), reply
            self.clients.append(console)
        display = socketio.AsyncClient(reconnection=False)
        display.on("board", self._count("display"), namespace="/display")
        await display.connect(self.url, namespaces=["/display"], transports=["websocket"],
                              auth={"device": self.secret}, wait_timeout=5)
        for name in self.session_ids:
            reply = await display.call("subscribe", {"session": name}, namespace="/display",
                                       timeout=10)
            assert reply.get("ok"), reply
        self.clients.append(display)
        return self

    async def close(self) -> None:
        for client in self.clients:
            if client.connected:
                await client.disconnect()


def _cpu(pids) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # ended (a pooled database connection closed)
            out[pid] = cpu_seconds(pid)
    return out


def _used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process seen only at the end counts whole."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _children(pid: int) -> list[int]:
    """A process and its children (nginx's master and workers)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(int(k) for k in kids)]


def postgres_backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving ``url``'s database now (the benchmark's)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [int(p) for p in conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).scalars()]
    finally:
        engine.dispose()


async def load(url: str, sites, clients: int, seconds: float, warmup: float,
               pids: list[int], beside: dict | None = None,
               watchers: Watchers | None = None) -> dict:
    """Run the load; measure CPU and answers over [warmup, seconds]. ``beside``: name ->
    a function giving the pids of a helper process group (database, Redis, proxy), whose
    CPU over the same window is reported, not counted. ``watchers`` connect first."""
    beside = {"generator": lambda: [os.getpid()], **(beside or {})}
    if watchers is not None:
        await watchers.start()
    acks: list[tuple[float, float, str]] = []
    start = time.monotonic()
    stop = start + seconds
    per_site = max(1, clients // len(sites))
    tasks = [asyncio.create_task(client(url, site.login(i), stop, acks, site.session))
             for site in sites for i in range(per_site)]
    await asyncio.sleep(warmup)
    cpu0 = sum(cpu_seconds(p) for p in pids)
    helpers0 = {name: _cpu(find()) for name, find in beside.items()}
    n0, t0 = len(acks), time.monotonic()
    await asyncio.gather(*tasks)
    cpu1 = sum(cpu_seconds(p) for p in pids)
    helpers = {name: round(_used(helpers0[name], _cpu(find())), 2)
               for name, find in beside.items()}
    n1, t1 = len(acks), time.monotonic()
    pushes = dict(watchers.pushes) if watchers is not None else None
    if watchers is not None:
        await watchers.close()
    return {"answers": n1 - n0, "watcher_pushes": pushes, "window_s": round(t1 - t0, 2),
            "answers_per_s": round((n1 - n0) / (t1 - t0), 1),
            "cpu_s": round(cpu1 - cpu0, 2),
            "cpu_ms_per_answer": round(1000 * (cpu1 - cpu0) / max(1, n1 - n0), 3),
            "beside_cpu_s": helpers, "load_avg": os.getloadavg()[0]}


def sqlite_run(tmp: Path, args) -> dict:
    site = prepare_site(tmp / "sqlite", candidates=args.clients, exam=str(tmp / "exam.toml"))
    watchers = None
    if args.watchers:  # before the server starts: one process owns the SQLite directory
        ids = add_proctor(site.database_url, [site.session])
        secret = enrolled_device(site.database_url)
    with ServerProcess(site) as server:
        if args.watchers:
            watchers = Watchers(server.url, ids, secret)
        return asyncio.run(load(server.url, [site], args.clients, args.seconds, args.warmup,
                                [server.proc.pid], watchers=watchers))


def cluster_run(tmp: Path, args, pg_admin: str, *, processes: int = 3) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "exam.toml").write_text(EXAM)
    with postgres_database(pg_admin) as url, start_cluster(
            tmp, url, sessions=["S0", "S1", "S2"], candidates=args.clients // 3,
            exam=str(tmp / "exam.toml"), processes=processes) as cluster:
        watchers = None
        if args.watchers:
            watchers = Watchers(cluster.proxy.url,
                                add_proctor(url, [s.session for s in cluster.sites]),
                                enrolled_device(url))
        return asyncio.run(load(
            cluster.proxy.url, cluster.sites, args.clients, args.seconds, args.warmup,
            [s.proc.pid for s in cluster.servers],
            beside={"postgresql": lambda: postgres_backends(url),
                    "redis": lambda: [cluster.redis.proc.pid],
                    "nginx": lambda: _children(cluster.proxy.proc.pid)},
            watchers=watchers))


def settle(seconds: float = 2.0) -> None:
    """Start each measured site clean: write back what the previous one left dirty in the
    page cache (its database files, the WAL of its last commits) and let the machine go
    quiet, so that one site's writeback is not measured in the next one's commits."""
    start = time.monotonic()
    os.sync()
    time.sleep(seconds)
    print(f"settled: sync {time.monotonic() - start - seconds:.2f} s, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--watchers", action=argparse.BooleanOptionalAction, default=True,
                        help="a console per session and a display of every session "
                             "(default; --no-watchers: terminals only, as before)")
    parser.add_argument("--processes", type=int, default=3,
                        help="serve processes of the cluster (the target's is 3; 1 tells "
                             "what PostgreSQL, Redis and the proxy cost without the split)")
    args = parser.parse_args()
    cluster = f"pg_redis_{args.processes}"
    pg = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")
    if not pg:
        print("set CAT_ENGINE_TEST_POSTGRES_URL", file=sys.stderr)
        return 2
    report: dict = {"load_before": os.getloadavg(), "args": vars(args)}
    report["runs"] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            (tmp / "exam.toml").write_text(EXAM)
            one: dict = {}
            # Alternate which goes first: drift in the machine's load hits both.
            for name in (("sqlite_1", cluster) if run % 2 == 0 else (cluster, "sqlite_1")):
                settle()
                one[name] = (sqlite_run(tmp, args) if name == "sqlite_1"
                             else cluster_run(tmp / "c", args, pg, processes=args.processes))
                print(f"run {run + 1} {name}:", one[name], flush=True)
            one["cpu_ratio"] = round(one[cluster]["cpu_ms_per_answer"]
                                     / one["sqlite_1"]["cpu_ms_per_answer"], 2)
            report["runs"].append(one)
    report["cpu_ratio"] = statistics.median(r["cpu_ratio"] for r in report["runs"])
    report["cpu_ratio_per_run"] = [r["cpu_ratio"] for r in report["runs"]]
    for name in ("sqlite_1", cluster):
        report[name] = {key: statistics.median(r[name][key] for r in report["runs"])
                        for key in ("answers_per_s", "cpu_ms_per_answer")}
    report["load_after"] = os.getloadavg()
    out = ROOT / "benchmarks" / "out" / "scale-out.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("cpu_ratio", "cpu_ratio_per_run", "sqlite_1",
                                             cluster, "load_before", "load_after")}))
    cpu_ok = report["cpu_ratio"] <= 1.3
    print(("ok  " if cpu_ok else "MISS")
          + f" cpu per answer, PostgreSQL + Redis ({args.processes} processes) / SQLite (1) = "
            f"{report['cpu_ratio']} (target <= 1.3)")
    return 0 if cpu_ok else 1


if __name__ == "__main__":
    sys.exit(main())
