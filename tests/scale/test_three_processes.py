"""Issue 9's "done when": three processes behind nginx, PostgreSQL and Redis, three sessions
of 100 candidates each answering a full exam, the owner of one session SIGKILLed mid-exam,
and Redis restarted mid-exam. Scripted clients (asyncio) reconnect as the terminal does:
through the proxy, with the route their login reply named. A display on every process keeps
its boards as board.js does (snapshot, numbered diffs, a new snapshot after a gap)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
import socketio
from sqlalchemy import func, select

from cat_engine.services import grading, users
from cat_engine.services.runtime import BankKey, load_candidate, replay
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.store.models import (
    AuditEntry,
    Candidate,
    Clock,
    ExamSession,
    Outage,
    SessionLease,
)
from cat_engine.testing import (
    call_or_drop,
    cookie_header,
    enrolled_device,
    run_in_own_loop,
    web_login,
)
from scoring.forms import Form as FormObj

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis,
              pytest.mark.timeout(600)]

NS = "/candidate"
#: Seconds between two answers of one candidate: ten answers take about 40 s of the minute,
#: so that the kill finds every candidate with answers still to give.
PACE_S = 4.0
#: terminal.js: socket.io's reconnection delay (1 s doubling to at most 5 s, each +-50 %),
#: and its retry of a login or start refused for a passing reason.
RECONNECT_S, RECONNECT_MAX_S, RETRY_S = 1.0, 5.0, 2.0


@dataclass
class Log:
    acked: list[tuple] = field(default_factory=list)  # (session, registration, seq, pos, value)
    refused: list[tuple] = field(default_factory=list)  # logins/starts refused for good
    finished: dict = field(default_factory=lambda: defaultdict(list))
    #: (session, registration) -> times of acknowledged answers
    ack_times: dict = field(default_factory=lambda: defaultdict(list))
    #: (session, registration) -> [(wall time of the start reply, remaining_ms)]
    sheets: dict = field(default_factory=lambda: defaultdict(list))
    #: (session, registration) -> the last reason to reconnect (for a failure's message)
    last: dict = field(default_factory=dict)
    paused: set = field(default_factory=set)
    #: (session, registration) -> [(wall time, what)]: connects, login and start replies
    steps: dict = field(default_factory=lambda: defaultdict(list))


class Display:
    """A public display connected to one server process, subscribed to every session, that
    keeps its boards as board.js does."""

    def __init__(self, url: str, sessions: list[str], secret: str):
        self.url, self.sessions, self.secret = url, sessions, secret
        self.boards: dict[int, dict] = {}
        self.resyncs = 0
        self.client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.5)
        self.client.on("connect", self._subscribe_all, namespace="/display")
        self.client.on("board", self._diff, namespace="/display")
        self.client.on("board_seq", self._seq, namespace="/display")
        self.client.on("snapshot", self._snapshot, namespace="/display")

    async def start(self) -> Display:
        await self.client.connect(self.url, namespaces=["/display"], transports=["websocket"],
                                  auth={"device": self.secret}, wait_timeout=5)
        return self

    async def _subscribe_all(self) -> None:
        for name in self.sessions:
            asyncio.get_running_loop().create_task(self._subscribe(name))

    async def _subscribe(self, name: str) -> None:
        reply = await self.client.call("subscribe", {"session": name}, namespace="/display",
                                       timeout=10)
        if reply.get("ok"):
            await self._snapshot(reply)

    async def _snapshot(self, snap) -> None:
        self.boards[snap["session"]["id"]] = {
            "name": snap["session"]["name"], "seq": snap.get("seq"),
            "rows": {r["id"]: dict(r) for r in snap["rows"]}}

    def _in_sequence(self, board: dict, seq, diff: bool) -> bool:
        if not isinstance(seq, int):
            return True
        if board["seq"] is None or seq == (board["seq"] + 1 if diff else board["seq"]):
            board["seq"] = seq
            return True
        board["seq"] = None
        self.resyncs += 1
        asyncio.get_running_loop().create_task(self._subscribe(board["name"]))
        return False

    async def _diff(self, diff) -> None:
        board = self.boards.get(diff["session_id"])
        if board is None or not self._in_sequence(board, diff.get("seq"), True):
            return
        for row in diff["rows"]:
            board["rows"][row["id"]] = dict(row)
        for cid, (rank, tied) in (diff.get("ranks") or {}).items():
            if int(cid) in board["rows"]:
                board["rows"][int(cid)].update(rank=rank, tied=tied)

    async def _seq(self, msg) -> None:
        board = self.boards.get(msg["session_id"])
        if board is not None:
            self._in_sequence(board, msg.get("seq"), False)

    def shown(self) -> dict[int, dict]:
        return {sid: {cid: (r["total"], r["rank"], r["tied"], r["status"])
                      for cid, r in b["rows"].items()} for sid, b in self.boards.items()}

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


class Console:
    """A proctor console connected to one server process, watching one session, that keeps
    its seat grid as console.js does (snapshot, numbered pushes, a new snapshot after a gap
    or when the repeated last number differs)."""

    def __init__(self, url: str, session_id: int, cookie: str):
        self.url, self.session_id, self.cookie = url, session_id, cookie
        self.seats: dict[int, dict] = {}
        self.seq = None
        self.resyncs = 0
        self.told_resync = 0
        self.client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.5)
        self.client.on("connect", self._connected, namespace="/proctor")
        self.client.on("progress", self._progress, namespace="/proctor")
        self.client.on("console_seq", self._seq, namespace="/proctor")
        self.client.on("console_resync", self._resync, namespace="/proctor")
        for event in ("alert", "alert_cleared", "log_changed"):
            self.client.on(event, self._other, namespace="/proctor")

    async def start(self) -> Console:
        await self.client.connect(self.url, namespaces=["/proctor"], transports=["websocket"],
                                  headers={"Cookie": self.cookie}, wait_timeout=5)
        return self

    async def _connected(self) -> None:
        asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        try:
            reply = await self.client.call("watch", {"session_id": self.session_id},
                                           namespace="/proctor", timeout=10)
        except (TimeoutError, socketio.exceptions.SocketIOError):
            return  # disconnected meanwhile: the reconnect watches again
        if reply.get("ok"):
            self.seq = reply["seq"] if isinstance(reply.get("seq"), int) else None
            self.seats = {s["id"]: dict(s) for s in reply["seats"]}

    def _in_sequence(self, msg) -> bool:
        if not isinstance(msg.get("seq"), int):
            return True
        if self.seq is None or msg["seq"] == self.seq + 1:
            self.seq = msg["seq"]
            return True
        self.seq = None
        self.resyncs += 1
        asyncio.get_running_loop().create_task(self._watch())
        return False

    async def _progress(self, p) -> None:
        if self._in_sequence(p) and p["candidate_id"] in self.seats:
            self.seats[p["candidate_id"]].update(
                {k: p[k] for k in ("status", "connected", "answered", "paused")})

    async def _other(self, msg) -> None:
        self._in_sequence(msg)

    async def _seq(self, msg) -> None:
        if self.seq is not None and msg["seq"] != self.seq:
            self.seq = None
            self.resyncs += 1
            asyncio.get_running_loop().create_task(self._watch())

    async def _resync(self, _msg) -> None:
        self.seq = None
        self.told_resync += 1
        asyncio.get_running_loop().create_task(self._watch())

    def shown(self) -> dict[int, tuple]:
        return {cid: (s["status"], s["answered"], s["paused"]) for cid, s in self.seats.items()}

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


async def play(proxy: str, site, index: int, log: Log, rng: random.Random) -> None:
    login = site.login(index)
    key = (site.session, login["registration"])
    route, seq, answered = None, 0, {}
    attempt = 0  # reconnection attempts in a row (socket.io's backoff, as terminal.js)
    end = time.monotonic() + 150
    while time.monotonic() < end:
        client = socketio.AsyncClient(reconnection=False)
        done, lost = asyncio.Event(), asyncio.Event()

        async def on_finished(data, done=done):
            log.finished[key].append(data)
            done.set()

        async def on_disconnect(*_args, lost=lost):
            lost.set()
        client.on("finished", on_finished, namespace=NS)
        client.on("disconnect", on_disconnect, namespace=NS)

        async def call(event, data, client=client, lost=lost):
            # As the terminal: give up at once when the connection drops (the server died).
            return await call_or_drop(client, event, data, namespace=NS, lost=lost)
        try:
            url = proxy + (f"/?session={route}" if route else "")
            await client.connect(url, namespaces=[NS], transports=["websocket"],
                                 wait_timeout=5)
            log.steps[key].append((time.time(), "connected"))
            attempt = 0
            reply = await call("login", login)
            log.steps[key].append(
                (time.time(), f"login {reply.get('ok') or reply['error']['code']}"))
            if not reply["ok"]:
                code = reply["error"]["code"]
                log.last[key] = ("login", code)
                if code == "elsewhere":
                    if reply.get("route") and reply["route"] != route:
                        route = reply["route"]
                    else:
                        await asyncio.sleep(RETRY_S)
                    continue
                if code in ("timeout", "internal"):
                    await asyncio.sleep(RETRY_S)
                    continue
                log.refused.append((key, "login", code))
                return
            route = reply["route"]
            if reply["status"] == "finished":
                return
            reply = await call("start", {})
            if not reply["ok"]:
                code = reply["error"]["code"]
                if code in ("finished", "time_up"):
                    return
                if code in ("elsewhere", "timeout", "internal", "not_logged_in"):
                    await asyncio.sleep(RETRY_S)
                    continue
                log.refused.append((key, "start", code))
                return
            if "sheet" not in reply:  # the deadline passed while away: the result
                return
            sheet = reply["sheet"]
            log.sheets[key].append((time.time(), sheet["remaining_ms"]))
            log.steps[key].append((time.time(), "started"))
            seq = max(seq, sheet["next_seq"] - 1)
            position = 0
            while position < sheet["n_items"]:
                if position in answered:
                    position += 1
                    continue
                seq += 1
                choice = rng.randrange(4)
                reply = await call("answer", {"seq": seq, "position": position,
                                              "choice": choice})
                code = reply.get("error", {}).get("code")
                if reply.get("saved"):
                    answered[position] = choice
                    log.acked.append((*key, seq, position, choice))
                    log.ack_times[key].append(time.time())
                    log.steps[key].append((time.time(), "acked"))
                elif code in ("time_up", "finished"):
                    break
                elif code == "paused":  # the proctor paused this candidate: wait
                    log.paused.add(key)
                    await asyncio.sleep(0.5)
                    continue
                else:
                    raise ConnectionError(f"answer refused: {reply}")
                # The candidate reads the next item; a dropped connection is noticed at
                # once (the terminal reconnects by itself and resends what is pending).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PACE_S * rng.uniform(0.6, 1.4))
                if lost.is_set():
                    raise ConnectionError("disconnected")
            waiting = asyncio.ensure_future(done.wait())
            dropped = asyncio.ensure_future(lost.wait())
            await asyncio.wait({waiting, dropped}, timeout=120,
                               return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            dropped.cancel()
            if done.is_set():
                return
            raise ConnectionError("disconnected while waiting for the deadline")
        except (TimeoutError, socketio.exceptions.SocketIOError, ConnectionError,
                OSError) as exc:
            log.last[key] = repr(exc)[:200]
            log.steps[key].append((time.time(), repr(exc)[:80]))
            attempt += 1
            await asyncio.sleep(min(RECONNECT_MAX_S, RECONNECT_S * 2 ** (attempt - 1))
                                * rng.uniform(0.5, 1.5))
        finally:
            if client.connected:
                await client.disconnect()
    log.refused.append((key, "gave up", log.last.get(key)))


def _owner(cluster, session_id: int):
    """The server process that holds the session's lease (waiting for its first login)."""
    store = Store(cluster.database_url, upgrade=False)
    try:
        for _ in range(300):
            with store.read() as db:
                lease = db.get(SessionLease, session_id)
            if lease is not None and lease.owner is not None:
                break
            time.sleep(0.1)
        owner = lease.owner
    finally:
        store.close()
    pid = int(owner.split(":")[1])
    return next(s for s in cluster.servers if s.proc.pid == pid)


def test_three_processes_three_sessions_and_a_killed_owner(cluster):
    log = Log()
    store = Store(cluster.database_url, upgrade=False)
    with store.read() as db:
        session_ids = {s.session: db.scalar(select(ExamSession.id).where(
            ExamSession.name == s.session)) for s in cluster.sites}
    killed: dict = {}
    with store.read() as db:
        ids = {(r.session_id, r.registration): r.id for r in db.execute(
            select(Candidate.id, Candidate.session_id, Candidate.registration))}
    extended = ids[(session_ids["S2"], "R00005")]
    paused = ids[(session_ids["S3"], "R00006")]
    users.add_user(store, "proc9", "proctor password 9", "proctor")
    for sid in session_ids.values():
        users.assign(store, "proc9", sid)
    cookie = cookie_header(web_login(cluster.proxy.url, "proc9", "proctor password 9"))
    outcome: dict = {}

    async def console(url: str, session_id: int) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(f"{url}/?session={session_id}", namespaces=["/proctor"],
                             transports=["websocket"], headers={"Cookie": cookie},
                             wait_timeout=5)
        assert (await client.call("watch", {"session_id": session_id}, namespace="/proctor",
                                  timeout=10))["ok"]
        return client

    async def act(client, event: str, data: dict) -> dict:
        return await client.call(event, {**data, "reason": "test"}, namespace="/proctor",
                                 timeout=10)

    async def main():
        names = [s.session for s in cluster.sites]
        secret = enrolled_device(cluster.database_url)
        displays = [await Display(s.url, names, secret).start() for s in cluster.servers]
        # A console for each session on each process: most are not on the session's owner,
        # so its pushes reach them through Redis.
        consoles = [await Console(s.url, sid, cookie).start()
                    for s in cluster.servers for sid in session_ids.values()]
        rng = random.Random(9)
        players = {(site.session, i): asyncio.create_task(play(
            cluster.proxy.url, site, i, log, random.Random(rng.random())))
            for site in cluster.sites for i in range(100)}
        await asyncio.sleep(8)
        while True:  # both candidates the proctor acts on have started
            with store.read() as db:
                states = {db.get(Candidate, c).state for c in (extended, paused)}
            if states == {"in_progress"}:
                break
            await asyncio.sleep(0.2)
        # A proctor's extension and pause, through the proxy (it routes the console to the
        # session's owner); straight to another process, the action is refused, not lost.
        owners = {sid: await asyncio.to_thread(_owner, cluster, sid)
                  for sid in session_ids.values()}
        # start_cluster chose the ports so that the proxy gives each process one session.
        assert len(set(owners.values())) == 3, owners
        s2 = await console(cluster.proxy.url, session_ids["S2"])
        outcome["extend"] = await act(s2, "extend", {"candidate_id": extended, "minutes": 1})
        other = next(s for s in cluster.servers if s is not owners[session_ids["S2"]])
        try:
            elsewhere = await console(other.url, session_ids["S2"])
            outcome["elsewhere"] = await act(elsewhere, "extend",
                                             {"candidate_id": extended, "minutes": 1})
            await elsewhere.disconnect()
        except AssertionError:  # the watch itself was refused there: as good
            outcome["elsewhere"] = {"ok": False, "error": {"code": "elsewhere"}}
        s3 = await console(cluster.proxy.url, session_ids["S3"])
        outcome["pause"] = await act(s3, "pause", {"candidate_id": paused})
        await asyncio.sleep(3)
        outcome["resume"] = await act(s3, "resume", {"candidate_id": paused})
        await s3.disconnect()
        await asyncio.sleep(1)  # mid-exam: every candidate has answered a few items
        # The owner of the session whose process owns the fewest: the others' sessions
        # must carry on untouched.
        victim = min(owners.values(), key=lambda p: sum(o is p for o in owners.values()))
        with store.read() as db:
            killed["deadlines"] = {(sid, reg): deadline for reg, sid, deadline in db.execute(
                select(Candidate.registration, Candidate.session_id,
                       Clock.started_ms + Clock.allowed_ms + Clock.extension_ms
                       + Clock.paused_ms + Clock.outage_ms)
                .join(Clock, Clock.candidate_id == Candidate.id)).all()}
        killed["owned"] = [sid for sid, owner in owners.items() if owner is victim]
        killed["at"] = time.time()
        victim.kill()
        await asyncio.sleep(12)
        cluster.redis.stop()  # Redis restarts mid-exam: pushes in flight are lost
        restarted = {c: c.resyncs for c in consoles}
        # A pause while Redis is away: its push cannot reach the other processes' consoles,
        # and the candidate pushes nothing more until resumed, so only a resync shows it.
        held = next(sid for sid in session_ids.values() if sid not in killed["owned"])
        killed["paused2"] = next(ids[k] for k in sorted(ids) if k[0] == held
                                 and ids[k] not in (extended, paused))
        s4 = await console(cluster.proxy.url, held)
        outcome["pause2"] = await act(s4, "pause", {"candidate_id": killed["paused2"]})
        await asyncio.sleep(1)
        cluster.redis.start()
        # Redis back, then a repeat of the last push number (every 3 s) at the latest.
        watching = [c for c in consoles if c.session_id == held and c.url != victim.url]
        until = time.monotonic() + 15
        while time.monotonic() < until and not all(
                c.seats.get(killed["paused2"], {}).get("paused") for c in watching):
            await asyncio.sleep(0.2)
        outcome["console_pause"] = [c.seats.get(killed["paused2"], {}).get("paused")
                                    for c in watching]
        outcome["console_resyncs"] = sum(c.resyncs - restarted[c] for c in consoles
                                         if c.url != victim.url)
        outcome["resume2"] = await act(s4, "resume", {"candidate_id": killed["paused2"]})
        await s4.disconnect()
        # The extension held: the candidate is still working 5 s after the deadline they
        # had without it.
        with store.read() as db:
            c = db.get(Clock, extended)
            without = c.started_ms + c.allowed_ms + c.paused_ms + c.outage_ms
        await asyncio.sleep(max(0.0, (without + 5_000) / 1000 - time.time()))
        with store.read() as db:
            outcome["extended_state"] = db.get(Candidate, extended).state
        if s2.connected is False:
            s2 = await console(cluster.proxy.url, session_ids["S2"])
        outcome["finish"] = await act(s2, "finish", {"candidate_id": extended})
        await asyncio.gather(*players.values())
        await s2.disconnect()
        await asyncio.sleep(12)  # a full snapshot period: every display catches up
        live = [d for d, server in zip(displays, cluster.servers, strict=True)
                if server is not victim]
        truth = await Display(cluster.proxy.url, names, secret).start()
        await asyncio.sleep(3)
        outcome["truth"] = truth.shown()
        outcome["shown"] = [d.shown() for d in live]
        outcome["resyncs"] = sum(d.resyncs for d in live)
        outcome["consoles"] = [(c.session_id, c.shown()) for c in consoles
                               if c.url != victim.url]
        for d in [*displays, truth, *consoles]:
            await d.close()

    run_in_own_loop(main)
    assert not log.refused, log.refused[:10]
    actions = {k: outcome[k] for k in ("extend", "pause", "resume", "elsewhere")}
    assert all(actions[k]["ok"] for k in ("extend", "pause", "resume")), actions
    assert outcome["elsewhere"]["error"]["code"] == "elsewhere"
    assert outcome["extended_state"] == "in_progress" and outcome["finish"]["ok"]

    # No acknowledged answer lost, and every stored result is the replay of its answers.
    site = Site(store, keys=[BankKey(cluster.sites[0].passphrase)])
    with store.read() as db:
        rows = db.execute(select(Candidate.id, Candidate.session_id, Candidate.registration,
                                 Candidate.state, Candidate.result)).all()
        stored = {(r[1], r[2]) for r in rows}
    assert len(stored) == 300
    by_id = {r[0]: r for r in rows}
    names = {v: k for k, v in session_ids.items()}
    committed, answered = set(), {}
    for cid, (_cid, sid, reg, state, result) in by_id.items():
        row, form_row, _clock, evs = load_candidate(store, cid)
        for e in evs:
            if e.kind == "answer":
                committed.add((names[sid], reg, e.seq, e.position, e.value))
        assert state == "finished", (names[sid], reg, state)
        session = site.session(sid)
        form = FormObj.from_dict(form_row.items)
        answers = replay(len(form), evs)[0]
        answered[cid] = sum(a is not None for a in answers)
        again = grading.result(session.exam, grading.score_sheet(
            session, site.unlock(session), form, answers), row.formation)
        assert result["total"] == again["total"] and result["sections"] == again["sections"]
    lost = [a for a in log.acked if a not in committed]
    assert not lost, f"{len(lost)} acknowledged answers lost: {lost[:5]}"

    with store.read() as db:
        # Each deadline finished each candidate once.
        finishes = db.execute(select(AuditEntry.candidate_id, func.count())
                              .where(AuditEntry.action == "finish")
                              .group_by(AuditEntry.candidate_id)).all()
        outages = db.execute(select(Outage.session_id, Outage.candidates)).all()
        credits = db.execute(select(AuditEntry.session_id, AuditEntry.detail)
                             .where(AuditEntry.action == "outage")).all()
        clocks = db.execute(select(Candidate.id, Candidate.session_id, Clock.outage_ms,
                                   Clock.paused_ms, Clock.extension_ms)
                            .join(Clock, Clock.candidate_id == Candidate.id)).all()
    assert len(finishes) == 300 and all(n == 1 for _cid, n in finishes)
    assert all(len(v) == 1 for v in log.finished.values()), "a second finished push"
    # Only the killed owner's sessions were credited an outage; the others never moved.
    moved = {sid for sid, _n in outages}
    assert moved == set(killed["owned"]), (credits, killed["owned"])
    for cid, sid, outage_ms, paused_ms, extension_ms in clocks:
        if cid == paused:
            assert paused_ms >= 2500  # the pause held on the owner
        elif cid == killed["paused2"]:
            assert paused_ms > 0
        elif sid not in killed["owned"]:
            assert outage_ms == 0 and paused_ms == 0
        assert extension_ms == (60_000 if cid == extended else 0)

    # The killed sessions' candidates continued through another process within 10 s, and
    # lost at most 1 s of exam time (remaining at the kill minus remaining at the restart).
    failover, time_lost = [], []
    for sid in killed["owned"]:
        for reg in [r[2] for r in rows if r[1] == sid]:
            key = (names[sid], reg)
            after = [t for t in log.ack_times[key] if t > killed["at"]]
            if after:
                failover.append(after[0] - killed["at"])
            restart = [(t, rem) for t, rem in log.sheets[key] if t > killed["at"]]
            deadline = killed["deadlines"].get((sid, reg))
            if restart and deadline is not None:
                time_lost.append(deadline - killed["at"] * 1000 - restart[0][1])
    # Every display, on every process still running, shows every candidate's final score
    # with one ranking: the one a fresh subscription gets.
    truth = outcome["truth"]
    assert sorted(truth) == sorted(session_ids.values())
    results = {r[0]: r[4]["total"] for r in rows}
    for sid, board in truth.items():
        assert len(board) == 100
        for cid, (total, _rank, _tied, status) in board.items():
            assert status == "finished" and total == results[cid], (sid, cid)
    for shown in outcome["shown"]:
        assert shown == truth
    # Every console, on every process still running, shows every candidate as committed:
    # the pause given while Redis was away reached the other processes' consoles (queued by
    # its owner until Redis was back, or by a resync after a gap), and in the end every
    # candidate finished, unpaused, with their answers counted (None: a snapshot from a
    # process that does not serve the session shows no count).
    assert outcome["pause2"]["ok"] and outcome["resume2"]["ok"], outcome
    assert outcome["console_pause"] and all(outcome["console_pause"]), outcome["console_pause"]
    for sid, seats in outcome["consoles"]:
        assert sorted(seats) == sorted(c for c, r in by_id.items() if r[1] == sid)
        wrong = {cid: seat for cid, seat in seats.items()
                 if seat[0] != "finished" or seat[2] or seat[1] not in (None, answered[cid])}
        assert not wrong, (names[sid], list(wrong.items())[:5])
    print(f"consoles resynced {outcome['console_resyncs']} times after the Redis restart")
    print(f"\ndisplays resynced {outcome['resyncs']} times after gaps")
    assert failover, "no candidate of the killed sessions answered after the kill"
    print(f"\nfailover: median {sorted(failover)[len(failover) // 2]:.2f} s, "
          f"max {max(failover):.2f} s over {len(failover)} candidates; exam time lost: "
          f"max {max(time_lost)} ms")
    killed_keys = [(names[sid], r[2]) for r in rows for sid in killed["owned"] if r[1] == sid]
    by_failover = sorted(killed_keys, key=lambda k: (
        [t for t in log.ack_times[k] if t > killed["at"]] or [0])[0])
    for k in (by_failover[len(by_failover) // 2], *by_failover[-3:]):
        print(k, [(round(t - killed["at"], 2), what) for t, what in log.steps[k]
                  if t > killed["at"]])
    # Issue 9's targets: through another process within 10 s, at most 1 s of exam time lost.
    assert failover and max(failover) <= 10, sorted(failover)[-5:]
    assert time_lost and max(time_lost) <= 1000, sorted(time_lost)[-5:]
    store.close()
