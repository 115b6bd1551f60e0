"""Engines for the site database: SQLite (WAL) by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine

#: ``application_name`` of the group commit's own PostgreSQL connections
WRITER_NAME = "cat-engine writer"


def make_engine(url: str, *, synchronous: str = "FULL", immediate: bool = False,
                native_thread: bool = False) -> Engine:
    """An engine with the site's SQLite settings.

    ``immediate`` makes every SQLite transaction ``BEGIN IMMEDIATE``: a writer takes the write
    lock up front and waits (busy_timeout) instead of failing when another process (the CLI
    beside a running server) committed between its read and its write.

    ``native_thread``: the engine's connections are used only from a native thread (the group
    commit's writer), never from the gevent event loop, so psycopg may block on its socket.
    They are named ``cat-engine writer`` (``application_name``: pg_stat_activity) and not
    pinged when taken from the pool: a ping is one more round trip per group commit, and
    the writer itself retries a batch on a new connection when it finds its connection dead
    (store/writer.py).
    """
    if not url.startswith("sqlite"):
        if not native_thread:
            return create_engine(url, pool_pre_ping=True)
        named = make_url(url).get_backend_name() == "postgresql"
        engine = create_engine(url, connect_args={"application_name": WRITER_NAME}
                               if named else {})
        event.listen(engine, "connect", _blocking_waits)
        return engine
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        # Take transaction control from the driver so BEGIN is ours (see SQLAlchemy's
        # "pysqlite serializable" recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed answer survives a power cut, not only a process crash.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _blocking_waits(dbapi_connection, _record) -> None:
    """Make a psycopg connection wait for its socket with psycopg's own blocking C poll.

    Under gevent's monkey-patching psycopg waits through gevent's ``select.poll``, which in a
    native thread runs a hub of that thread's own for every wait, and an executemany waits
    once per row (pipeline mode): that was a third of the writer thread's time on PostgreSQL.
    A blocking wait there releases the GIL and stalls nothing but the writer."""
    from psycopg import waiting

    wait_c = getattr(waiting, "wait_c", None)
    if wait_c is None:  # the pure-Python psycopg: its default wait is what we have
        return
    pgconn = dbapi_connection.pgconn

    def wait(gen, interval: float = 0.1, timeout: float | None = None):
        return wait_c(gen, pgconn.socket, interval=interval, timeout=timeout)

    dbapi_connection.wait = wait


class DatabaseBusy(RuntimeError):
    """Another server process already runs on this SQLite database."""


def lock_sqlite(url: str):
    """Hold an exclusive lock beside a SQLite database for this process's lifetime.

    SQLite serves one server process: a second one would own sessions the first also serves
    from memory. The lock (``<database>.serve.lock``, released by the kernel when the process
    dies, even by SIGKILL) turns that mistake into a clear refusal at start. Returns the open
    lock file (keep it referenced), or None for a database that is not a SQLite file.
    """
    import fcntl
    import os
    from pathlib import Path

    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    path = Path(url[len("sqlite:///"):] + ".serve.lock")
    handle = open(path, "a+")  # noqa: SIM115 (held open until the process ends)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise DatabaseBusy(
            f"another cat-engine server (pid {holder}) already runs on {path.parent}: one "
            "SQLite data directory is served by one process; to run several, use PostgreSQL "
            "and a message queue (docs/deploy.md)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
