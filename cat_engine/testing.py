"""Helpers for tests across the team: a prepared site and a real server process.

    site = prepare_site(tmp_path, candidates=3)          # bank, exam, open session, PINs
    with ServerProcess(site) as server:                   # `cat-engine serve` on a free port
        client.connect(server.url, namespaces=["/candidate"])
        client.call("login", site.login(0), namespace="/candidate")

Everything is real: the catbank writer, the scoring package, SQLite in a temp data directory,
and the server in its own process (so a test may SIGKILL it).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

#: A small SKD-shaped exam (10 items, three sections, the SKD scoring rules) for fast tests.
SMALL_EXAM = """\
id = "mini-skd"
title = "Mini SKD"
title_en = "Mini SKD"
time_limit_minutes = 10
default_rule_set = "general"

[[sections]]
id = "TWK"
items = 3
scoring = { rule = "key", correct = 5, wrong = 0, blank = 0 }

[[sections]]
id = "TIU"
items = 3
scoring = { rule = "key", correct = 5, wrong = 0, blank = 0 }

[[sections]]
id = "TKP"
items = 4
scoring = { rule = "weights", blank = 0 }

[rule_sets.general]
title = "Formasi umum"
title_en = "General formation"
minimum = { TWK = 10, TIU = 10, TKP = 12 }

[accommodations]
tunanetra = 3
"""

PASSPHRASE_ENV = "CAT_ENGINE_TEST_PASSPHRASE"
T = TypeVar("T")


def fixture_items(per_section: dict[str, tuple[int, str]]):
    """Items for a fixture bank: ``{"TWK": (6, "key"), "TKP": (8, "weights")}``.

    Stems and options never contain the item id or the authored label, so a test can check
    that nothing sent to a terminal reveals them; keys and weights vary between items.
    """
    from item_bank.model import Item

    items = []
    for section, (count, rule) in per_section.items():
        for n in range(count):
            item_id = f"{section}-{n:03d}"
            options = {label: f"Jawaban {i * 7 + n} untuk soal {n}" for i, label
                       in enumerate("ABCDE")}
            common = {"id": item_id, "section": section, "topic": "umum",
                      "stem": f"Soal {section.lower()} nomor {n}: manakah yang benar?",
                      "options": options}
            if rule == "key":
                items.append(Item(**common, key="ABCDE"[n % 5]))
            else:
                weights = {label: float((i + n) % 5 + 1) for i, label in enumerate("ABCDE")}
                items.append(Item(**common, weights=weights))
    return items


@dataclass
class PreparedSite:
    data_dir: Path
    database_url: str
    session: str
    token: str
    passphrase: str
    bank_path: Path
    #: registration -> PIN, in roster order
    pins: dict[str, str] = field(default_factory=dict)

    @property
    def registrations(self) -> list[str]:
        return list(self.pins)

    def login(self, index: int = 0, *, terminal: str | None = None, lang: str = "id"
              ) -> dict[str, Any]:
        """The ``login`` message of the index-th candidate."""
        registration = self.registrations[index]
        return {"registration": registration, "pin": self.pins[registration],
                "token": self.token, "terminal": terminal or f"T-{registration}",
                "lang": lang}

    def env(self) -> dict[str, str]:
        return {**os.environ, PASSPHRASE_ENV: self.passphrase}


def prepare_site(data_dir: Path, *, candidates: int = 3, exam: str | None = None,
                 items=None, passphrase: str = "test passphrase 1", open_session: bool = True,
                 session: str = "S1", accommodations: dict[int, dict] | None = None,
                 auto_admit: bool = True, database_url: str | None = None,
                 issuer: str | None = "trusted",
                 secret_from: Path | None = None) -> PreparedSite:
    """A site in ``data_dir``: a fixture bank, an exam (default: :data:`SMALL_EXAM`), a session
    with ``candidates`` candidates (PINs 1000+i), opened with its forms assembled.

    The bank is signed by a fresh issuer key (``issuer.key``/``issuer.pub`` in the data
    directory) that the site trusts; ``issuer="unknown"`` leaves it off the trust list and
    ``issuer=None`` writes an unsigned bank (both refused by a server without
    ``--allow-untrusted-banks``). ``secret_from``: another site's data directory whose site
    secret this one shares (sites whose sessions live in one database and are served by the
    same processes must key PINs and tokens alike)."""
    import shutil

    from cat_engine import site_secret
    from cat_engine.config import sqlite_url
    from cat_engine.services import sessions
    from cat_engine.services.runtime import BankKey
    from cat_engine.store import Store
    from item_bank.catbank import Argon2Params, write_bank

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if secret_from is not None:
        shutil.copy(Path(secret_from) / site_secret.SECRET_FILE, data_dir / site_secret.SECRET_FILE)
    if exam is None:
        exam_path = data_dir / "exam.toml"
        exam_path.write_text(SMALL_EXAM)
        exam = str(exam_path)
    if items is None:
        items = fixture_items({"TWK": (6, "key"), "TIU": (6, "key"), "TKP": (8, "weights")})
    bank_path = data_dir / "bank.catbank"
    signing_key = None
    if issuer is not None:
        from cat_engine.services.trust import trust
        from item_bank import keys as keyfiles

        signing_key = keyfiles.generate("signing")
        if not (data_dir / "issuer.key").exists():
            keyfiles.write_private_key(signing_key, data_dir / "issuer.key")
            keyfiles.write_public_key(signing_key, data_dir / "issuer.pub")
        signing_key = keyfiles.load_signing_key(data_dir / "issuer.key")
        if issuer == "trusted":
            trust(data_dir, data_dir / "issuer.pub")
    # Cheap key derivation: tests open banks often; production banks keep the defaults.
    write_bank(items, bank_path, bank_id="test-bank", version=1, passphrases=[passphrase],
               kdf=Argon2Params(time_cost=1, memory_kib=8192, parallelism=1),
               signing_key=signing_key)
    database_url = database_url or sqlite_url(data_dir.resolve())
    site_secret.load(data_dir)
    store = Store(database_url)
    try:
        row = sessions.create_session(store, name=session, exam_source=exam,
                                      bank_path=bank_path, auto_admit=auto_admit)
        rows = [
            sessions.RosterRow(f"R{n + 1:05d}", f"Peserta {n + 1}", "1995-01-31", "general",
                               (accommodations or {}).get(n, {}), None, f"{1000 + n}")
            for n in range(candidates)
        ]
        pins = dict(sessions.add_candidates(store, row.id, rows))
        if open_session:
            sessions.open_session(store, session, BankKey(passphrase))
    finally:
        store.close()
    return PreparedSite(data_dir, database_url, session, row.token, passphrase, bank_path, pins)


def enrolled_device(database_url: str, kind: str = "display", room: str | None = None) -> str:
    """Pair and confirm a device straight in the database (what a proctor does in the
    console); returns the secret the device holds. ``room`` None: the whole site."""
    from cat_engine.services import devices
    from cat_engine.store import Store

    store = Store(database_url)
    try:
        code, secret = devices.start_pairing(store, kind)
        devices.confirm(store, code, room=room, actor="test")
    finally:
        store.close()
    return secret


#: localStorage key where the board page keeps its enrolment secret (board.js).
DISPLAY_SECRET_KEY = "cat.display.device"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``cat-engine serve`` in its own process on a free loopback port.

    Every started server is remembered until it stops, so ``stop_all()`` (called when the test
    run ends, and at interpreter exit) leaves no server behind a test that failed half-way.
    """

    _running: set[ServerProcess] = set()  # noqa: RUF012 (shared on purpose)

    @classmethod
    def stop_all(cls) -> None:
        for server in list(cls._running):
            server.kill()

    def __init__(self, site: PreparedSite | None = None, *, data_dir: Path | None = None,
                 args: list[str] | None = None, env: dict[str, str] | None = None,
                 port: int | None = None, async_mode: str = "gevent"):
        self.site = site
        self.data_dir = Path(data_dir or site.data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(args or [])
        self.env = env or (site.env() if site else dict(os.environ))
        self.async_mode = async_mode
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / f"server-{self.port}.log"

    #: The Python the server process runs (a benchmark's baseline may patch something first).
    entry = "from cat_engine.cli import main; main()"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-c", self.entry, "serve",
               "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
               "--port", str(self.port), "--async-mode", self.async_mode]
        if self.site is not None:
            cmd += ["--passphrase-env", PASSPHRASE_ENV]
            if not self.site.database_url.startswith("sqlite"):
                cmd += ["--database-url", self.site.database_url]
        return cmd + self.args

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env, start_new_session=True)
        ServerProcess._running.add(self)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def output_all(self) -> str:
        """The whole log of the server (output() keeps only its end)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit."""
        if self.proc is None or self.proc.poll() is not None:
            return self._closed()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._closed()

    def kill(self) -> None:
        """SIGKILL: the crash a power cut or the OOM killer causes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._closed()

    def _closed(self) -> None:
        ServerProcess._running.discard(self)
        log = getattr(self, "log", None)
        if log is not None and not log.closed:
            log.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SocketClient:
    """A python-socketio client of one namespace that records every push it receives.

    ``pushed`` holds ``(event, data, monotonic time)`` so latency tests can read arrival times;
    ``replies`` holds every acknowledgement ``call`` got.
    """

    def __init__(self, url: str, namespace: str = "/candidate",
                 headers: dict[str, str] | None = None, auth: dict[str, Any] | None = None):
        import socketio

        self.url = url
        self.ns = namespace
        self.headers = headers or {}
        self.auth = auth
        self.pushed: list[tuple[str, Any, float]] = []
        self.replies: list[Any] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._record, namespace=namespace)

    def _record(self, event: str, *args: Any) -> None:
        self.pushed.append((event, args[0] if args else None, time.monotonic()))

    def connect(self) -> SocketClient:
        self.client.connect(self.url, namespaces=[self.ns], transports=["websocket"],
                            headers=self.headers, auth=self.auth, wait_timeout=10)
        return self

    def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        reply = self.client.call(event, {} if data is None else data, namespace=self.ns,
                                 timeout=timeout)
        self.replies.append(reply)
        return reply

    def events(self, name: str) -> list[Any]:
        return [data for event, data, _at in list(self.pushed) if event == name]

    def wait_for(self, name: str, predicate=lambda data: True, timeout: float = 5.0) -> Any:
        """The first push of ``name`` that satisfies ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for data in self.events(name):
                if predicate(data):
                    return data
            time.sleep(0.02)
        raise AssertionError(f"no {name} push matching within {timeout} s: {self.pushed[-5:]}")

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


#: Environment that makes a gevent server report every stall of its event loop longer than
#: ``seconds`` (gevent's monitor thread) in its log, with the blocking stack.
def loop_monitor_env(seconds: float = 0.02) -> dict[str, str]:
    return {"GEVENT_MONITOR_THREAD_ENABLE": "true", "GEVENT_MAX_BLOCKING_TIME": str(seconds)}


def blocked_stacks(log_text: str) -> list[str]:
    """The stacks gevent's monitor logged as blocking the event loop (see
    :func:`loop_monitor_env`), one string each."""
    stacks = []
    for part in log_text.split("Blocked Stack")[1:]:
        stacks.append(part.split("\n\n", 1)[0].split("*" * 20, 1)[0])
    return stacks


def web_login(url: str, username: str, password: str):
    """A ``requests`` session signed in to the proctor console through its login form (with
    its CSRF token), as a browser would."""
    import re

    import requests

    web = requests.Session()
    page = web.get(f"{url}/proctor/login", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    token = token or re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"',
                               page.text)
    reply = web.post(f"{url}/proctor/login", data={
        "csrf_token": token.group(1), "username": username, "password": password},
        allow_redirects=False, timeout=10)
    assert reply.status_code == 302, reply.text[:500]
    return web


def cookie_header(web) -> str:
    """The Cookie header of a signed-in ``requests`` session (for a socket client)."""
    return "; ".join(f"{c.name}={c.value}" for c in web.cookies)


class FakeClock:
    """A controlled time source (epoch milliseconds) for clock and scheduler tests."""

    def __init__(self, at: int):
        self.at = at

    def __call__(self) -> int:
        return self.at


class RecordingSocket:
    """Stands in for the socket layer only: records what the scheduler sends."""

    server = None  # no namespaces: every push goes straight to its room

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, Any, Any]] = []

    def emit(self, event: str, data: Any, to: Any = None, namespace: Any = None,
             **_options: Any) -> None:
        self.sent.append((event, data, to, namespace))

    def events(self, name: str) -> list[Any]:
        return [data for event, data, *_ in self.sent if event == name]


# -- several processes: a private Redis, nginx in front, a PostgreSQL database of one's own --

def wait_http(url: str, timeout: float = 20.0) -> None:
    """Wait until ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def postgres_database(admin_url: str):
    """A database of its own on a PostgreSQL server (dropped afterwards): its URL."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"cat_engine_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class PrivateRedis:
    """A redis-server of one's own on a free port (it may be stopped and restarted); never
    the machine's shared one."""

    def __init__(self, directory: Path):
        import shutil

        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        import redis

        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port).ping()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Nginx:
    """nginx running the configuration ``cat-engine proxy-config`` writes."""

    def __init__(self, directory: Path, servers: list[str]):
        import shutil

        from cat_engine.proxy import nginx_config

        binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
        if binary is None:
            raise FileNotFoundError("nginx is not installed (.ci/run installs it)")
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = directory / "nginx.conf"
        user = "root" if os.geteuid() == 0 else None
        self.conf.write_text(nginx_config(f"127.0.0.1:{self.port}", servers,
                                          prefix=str(directory), user=user, fail_timeout_s=5))
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.conf), "-p", str(directory), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"{self.url}/healthz")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def share_issuers(sites: list[PreparedSite]) -> None:
    """Servers run on the first site's data directory: make it trust every site's bank
    issuer (each prepared site signs its bank with a key of its own)."""
    import shutil

    for site in sites[1:]:
        for pub in (site.data_dir / "trusted-issuers").glob("*.pub"):
            shutil.copy(pub, sites[0].data_dir / "trusted-issuers" / pub.name)


@dataclass
class Cluster:
    """A large site as docs/deploy.md runs one, started by :func:`start_cluster`."""

    sites: list[PreparedSite]
    servers: list[ServerProcess]
    proxy: Nginx
    redis: PrivateRedis
    database_url: str


@contextlib.contextmanager
def start_cluster(directory: Path, database_url: str, *, sessions: list[str], candidates: int,
                  exam: str, processes: int = 3, env: dict[str, str] | None = None,
                  server: type[ServerProcess] = ServerProcess):
    """Sessions of ``candidates`` each on one database, a private Redis and ``processes``
    ``serve`` processes behind nginx (one site secret: the same processes serve every
    session); everything stopped afterwards. FileNotFoundError when redis-server or nginx is
    missing."""
    sites: list[PreparedSite] = []
    for i, name in enumerate(sessions):
        sites.append(prepare_site(directory / f"s{i}", candidates=candidates, exam=exam,
                                  session=name, database_url=database_url,
                                  secret_from=sites[0].data_dir if sites else None))
    share_issuers(sites)
    redis = PrivateRedis(directory).start()
    servers = [server(sites[0], args=["--message-queue", redis.url],
                      env={**sites[0].env(), **(env or {})}, port=port)
               for port in spreading_ports(database_url, sessions, processes)]
    proxy = None
    try:
        for server in servers:
            server.start()
        proxy = Nginx(directory / "nginx", [f"127.0.0.1:{s.port}" for s in servers])
        yield Cluster(sites, servers, proxy, redis, database_url)
    finally:
        stop_cluster(proxy, servers, redis)


def spreading_ports(database_url: str, sessions: list[str], processes: int) -> list[int]:
    """Free ports for the processes such that the proxy's consistent hash puts these sessions
    on as many different processes as there can be: with ports left to chance, all three of
    three sessions land on one process in about one run of nine, and a test of "the other
    sessions carry on" or a benchmark of three owners has nothing to measure."""
    from sqlalchemy import create_engine, select

    from cat_engine.proxy import nginx_route
    from cat_engine.store.models import ExamSession

    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            keys = [str(k) for k in db.scalars(select(ExamSession.id).where(
                ExamSession.name.in_(sessions)))]
    finally:
        engine.dispose()
    wanted = min(len(keys), processes)
    for _ in range(1000):
        ports = [free_port() for _ in range(processes)]
        servers = [f"127.0.0.1:{p}" for p in ports]
        if len(set(ports)) == processes and len(
                {nginx_route(servers, k) for k in keys}) == wanted:
            return ports
    raise RuntimeError(f"no free ports spread sessions {keys} over {wanted} processes")


async def call_or_drop(client, event: str, data: Any, *, namespace: str, lost,
                       timeout: float = 15) -> Any:
    """An acknowledged call of an asyncio socket.io client that gives up at once when the
    connection drops (``lost``, an asyncio.Event set on disconnect), as terminal.js does,
    instead of waiting for the timeout: ConnectionError."""
    import asyncio

    task = asyncio.ensure_future(client.call(event, data, namespace=namespace,
                                             timeout=timeout))
    dropped = asyncio.ensure_future(lost.wait())
    await asyncio.wait({task, dropped}, return_when=asyncio.FIRST_COMPLETED)
    dropped.cancel()
    if not task.done():
        task.cancel()
        raise ConnectionError("disconnected")
    return task.result()


def stop_cluster(proxy: Nginx | None, servers: list[ServerProcess],
                 redis: PrivateRedis) -> None:
    """Stop what a multi-process test or benchmark started, the proxy first."""
    if proxy is not None:
        proxy.stop()
    for server in servers:
        server.stop()
    redis.stop()


def run_in_own_loop(coroutine_function: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(coroutine_function())`` in a thread of its own, returning its result: the
    browser tests' Playwright driver keeps an event loop running in the main thread for the
    whole test run, where asyncio.run refuses to start."""
    import asyncio
    import threading

    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, asyncio.run(coroutine_function())))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name="own-event-loop")
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


atexit.register(ServerProcess.stop_all)
