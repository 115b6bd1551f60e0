"""Does password work stall the event loop? A flood of wrong passwords against a real server.

A real `cat-engine serve` (gevent) runs with gevent's monitor thread, which logs every stall
of the event loop longer than 20 ms with the stack that held it. A working candidate sends a
cheap request (``get_item``) every 50 ms and times each reply:

1. baseline: no other traffic;
2. flood: wrong console passwords from ``--addresses`` addresses, ``--attempts`` each, at the
   same time as wrong bank passphrases on a signed-in console's ``unlock`` and ``--pins``
   candidate logins with wrong PINs, each from its own address.

Target (issue 11): no stall over 20 ms spent in password work (argon2: console passwords,
PINs, bank key derivation), and the candidate's replies during the flood close to the
baseline measured in the same run. Stalls with other stacks (the OS taking the core away on a
shared machine) are counted for both phases.

    .venv/bin/python benchmarks/bench_password_stall.py [--addresses 10] [--attempts 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from cat_engine.testing import (
    ServerProcess,
    SocketClient,
    blocked_stacks,
    loop_monitor_env,
    prepare_site,
)

#: A stall spent hashing: its innermost frames are argon2's or the bank's key derivation.
PASSWORD_WORK = ("argon2", "derive_key", "hash_secret", "verify_secret")
PROCTOR = ("bench-proctor", "bench proctor password")
#: Reply times (s) of the wrong passphrases.
UNLOCK_TIMES: list[float] = []


def csrf(web: requests.Session, url: str) -> str:
    page = web.get(f"{url}/proctor/login", timeout=60)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)


def wrong_logins(url: str, address: str, attempts: int, codes: list[int]) -> None:
    web = requests.Session()
    web.headers["X-Forwarded-For"] = address
    for _ in range(attempts):
        reply = web.post(f"{url}/proctor/login", data={
            "csrf_token": csrf(web, url), "username": PROCTOR[0], "password": "wrong guess"},
            allow_redirects=False, timeout=60)
        codes.append(reply.status_code)


def signed_in_console(url: str) -> SocketClient:
    """The proctor's console, signed in before the flood (during it, a sign-in may be told
    to come back later: the password pool's queue is full)."""
    web = requests.Session()
    web.headers["X-Forwarded-For"] = "203.0.113.99"
    web.post(f"{url}/proctor/login", data={"csrf_token": csrf(web, url),
                                           "username": PROCTOR[0], "password": PROCTOR[1]},
             allow_redirects=False, timeout=60)
    cookie = "; ".join(f"{c.name}={c.value}" for c in web.cookies)
    return SocketClient(url, "/proctor", {"Cookie": cookie,
                                          "X-Forwarded-For": "203.0.113.99"}).connect()


def wrong_unlocks(console: SocketClient, session_id: int, attempts: int,
                  codes: list[str]) -> None:
    for n in range(attempts):
        started = time.monotonic()
        try:
            reply = console.call("unlock", {"session_id": session_id,
                                            "passphrase": f"guess {n}"}, timeout=60)
            codes.append(reply.get("error", {}).get("code", "ok"))
        except Exception as exc:  # a missing reply is a failure: counted, shown
            codes.append(f"no reply ({type(exc).__name__})")
        UNLOCK_TIMES.append(time.monotonic() - started)


def wrong_pins(url: str, site, attempts: int, codes: list[str]) -> None:
    """Wrong PINs for made-up numbers, each from its own address (so no limit stops them
    before the PIN is hashed)."""
    for n in range(attempts):
        terminal = SocketClient(url, headers={"X-Forwarded-For": f"198.18.{n // 250}.{n % 250}"})
        terminal.connect()
        try:
            reply = terminal.call("login", {**site.login(1), "registration": f"GUESS{n:05d}",
                                            "pin": "000000", "terminal": f"guess-{n}"},
                                  timeout=60)
            codes.append(reply.get("error", {}).get("code", "ok"))
        finally:
            terminal.close()


def probe(terminal: SocketClient, stop: threading.Event) -> list[float]:
    """Reply times (s) of get_item every 50 ms until ``stop``."""
    times = []
    while not stop.is_set():
        started = time.monotonic()
        reply = terminal.call("get_item", {"position": len(times) % 3}, timeout=60)
        times.append(time.monotonic() - started)
        assert reply["ok"], reply
        time.sleep(0.05)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"n={len(times)} median={statistics.median(times) * 1000:.1f} ms "
            f"p99={p99 * 1000:.1f} ms max={ordered[-1] * 1000:.1f} ms")


def stalls(server: ServerProcess, start: int) -> tuple[int, int]:
    """(all stalls, stalls in password work) logged since byte ``start`` of the log."""
    stacks = blocked_stacks(server.output_all()[start:])
    return len(stacks), sum(any(w in "\n".join(s.strip().splitlines()[-4:])
                                for w in PASSWORD_WORK) for s in stacks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=10)
    parser.add_argument("--attempts", type=int, default=5)
    parser.add_argument("--pins", type=int, default=100, help="wrong PIN logins")
    parser.add_argument("--baseline-s", type=float, default=8.0)
    args = parser.parse_args()

    from cat_engine.services import sessions, users
    from cat_engine.store import Store

    site = prepare_site(Path(tempfile.mkdtemp(prefix="bench-stall-")), candidates=2)
    store = Store(site.database_url)
    session_id = sessions.find_session(store, site.session).id
    users.add_user(store, *PROCTOR, "admin")
    store.close()
    env = site.env()
    env.update(loop_monitor_env(0.02))
    env.update(CAT_ENGINE_TRUST_PROXY="1")
    with ServerProcess(site, env=env) as server:
        terminal = SocketClient(server.url).connect()
        assert terminal.call("login", site.login(0))["ok"]
        assert terminal.call("start")["ok"]
        time.sleep(2)  # past the start-up stalls (imports, warming)

        mark = len(server.output_all())
        stop = threading.Event()
        timer = threading.Timer(args.baseline_s, stop.set)
        timer.start()
        baseline = probe(terminal, stop)
        base_stalls = stalls(server, mark)

        mark = len(server.output_all())
        login_codes: list[int] = []
        unlock_codes: list[str] = []
        flood = [threading.Thread(target=wrong_logins, args=(
            server.url, f"192.0.2.{n + 1}", args.attempts, login_codes))
            for n in range(args.addresses)]
        console = signed_in_console(server.url)
        flood.append(threading.Thread(target=wrong_unlocks, args=(
            console, session_id, 8, unlock_codes)))
        pin_codes: list[str] = []
        flood.append(threading.Thread(target=wrong_pins, args=(
            server.url, site, args.pins, pin_codes)))
        started = time.monotonic()
        for t in flood:
            t.start()
        stop = threading.Event()
        watcher = threading.Thread(target=lambda: ([t.join() for t in flood], stop.set()))
        watcher.start()
        flooded = probe(terminal, stop)
        flood_s = time.monotonic() - started
        flood_stalls = stalls(server, mark)
        terminal.close()
        console.close()

    print(f"load average before/after: {os.getloadavg()}")
    print(f"baseline ({args.baseline_s:.0f} s): {summary(baseline)}; loop stalls > 20 ms: "
          f"{base_stalls[0]} (in password work: {base_stalls[1]})")
    print(f"flood ({len(login_codes)} wrong console passwords from {args.addresses} addresses, "
          f"{len(unlock_codes)} wrong passphrases, {len(pin_codes)} wrong PINs, {flood_s:.1f} s): "
          f"{summary(flooded)}; loop "
          f"stalls > 20 ms: {flood_stalls[0]} (in password work: {flood_stalls[1]})")
    print(f"console replies: {sorted(set(login_codes))}; unlock replies: "
          f"{sorted(set(unlock_codes))}; PIN replies: {sorted(set(pin_codes))}")
    print("unlock reply times (s): " + ", ".join(f"{t:.2f}" for t in UNLOCK_TIMES))
    print(f"median ratio flood/baseline: "
          f"{statistics.median(flooded) / statistics.median(baseline):.2f}")
    return 1 if flood_stalls[1] else 0


if __name__ == "__main__":
    sys.exit(main())
