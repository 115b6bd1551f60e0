"""The durable write path: group commit.

Every write of a running site (answers, flags, clocks, audit entries) is a small function of a
SQLAlchemy session. Callers hand it to :meth:`GroupCommitter.submit` and get its result back only
after the transaction holding it has committed. Writes that arrive while a commit is running are
batched into the next transaction, so a thousand answers per second cost a few dozen fsyncs,
not a thousand, and the caller never sees the batching.

Under gevent the database work runs in one dedicated native thread, so the event loop keeps
serving sockets while SQLite waits for the disk, and one greenlet feeds it batch after batch.
With threads, the caller that finds no commit running leads: it commits one batch and hands
the leadership to the oldest op still pending.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cat_engine.store import audit
from cat_engine.store.bulk import json_rows
from cat_engine.store.lease import Fence, LeaseLost, fence_guard, lost_fences

log = logging.getLogger(__name__)

Work = Callable[[Session], Any]
#: psycopg's TransactionStatus.IDLE (no transaction open on the connection)
_IDLE = 0


class ConnectionLost(Exception):
    """The writer's database connection was found dead during a batch (the database
    restarted, or its backend was ended); the connection is out of the pool."""


def _dead(driver: Any) -> bool:
    """A psycopg connection that is closed or was lost."""
    return driver.closed or driver.broken


def _idle_plain(driver: Any) -> bool:
    """A psycopg connection with no transaction open and psycopg's plain BEGIN (no isolation
    level, read-only or deferrable set): the writer may put it in autocommit for a moment
    and send BEGIN itself, or a statement that is its own transaction."""
    return (driver.info.transaction_status == _IDLE and driver.isolation_level is None
            and driver.read_only is None and driver.deferrable is None)


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionLost) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


#: (statement, dialect name, parameter names) -> (SQL text, [(name, bind processor)]), or
#: None for a statement that must go through SQLAlchemy's own execution.
_PLANS: dict[tuple, tuple[str, list[tuple[str, Any]]] | None] = {}
#: psycopg's named placeholder, as SQLAlchemy writes it (``pyformat``)
_NAMED = re.compile(r"%\((\w+)\)s")


def _plan(statement: Any, dialect: Any, keys: tuple[str, ...]
          ) -> tuple[str, list[tuple[str, Any]]] | None:
    """The statement compiled once for this dialect and these parameter names, as SQL text
    and the order and bind processors (JSON serialisers) of its parameters.

    The SQL text always takes parameters by position: SQLAlchemy writes psycopg's named
    ``%(name)s``, which psycopg turns back into a sequence for every row (a Python pass per
    row of each executemany); here they become ``%s`` once, and the rows tuples."""
    key = (statement, dialect.name, keys)
    if key in _PLANS:
        return _PLANS[key]
    compiled = statement.compile(dialect=dialect, column_keys=list(keys),
                                 for_executemany=True)
    sql = compiled.string
    if dialect.positional:
        names = compiled.positiontup
    elif dialect.paramstyle == "pyformat":
        names = _NAMED.findall(sql)
        sql = _NAMED.sub("%s", sql)
    else:
        names = None
    plan = None
    # Only plain statements whose every parameter comes from the rows (no SQL-side defaults
    # to fill in, no expanding IN lists): for anything else SQLAlchemy knows best.
    if names is not None and set(names) == set(keys) and not compiled.returning \
            and not getattr(compiled, "insert_prefetch", None) \
            and not getattr(compiled, "update_prefetch", None):
        processors = compiled._bind_processors  # SQLAlchemy 2's per-type converters
        plan = (sql, [(name, processors.get(name)) for name in names])
    _PLANS[key] = plan
    return plan


def driver_rows(dialect: Any, statement: Any, rows: list[dict[str, Any]]
                ) -> tuple[str, list] | None:
    """The SQL text and driver parameters (a tuple per row) of ``statement`` for ``rows``,
    compiled once and converted in one pass; None when SQLAlchemy must execute it itself."""
    first = rows[0].keys()
    plan = _plan(statement, dialect, tuple(first))
    if plan is None or any(row.keys() != first for row in rows):
        return None
    sql, order = plan
    return sql, [tuple(row[name] if proc is None else proc(row[name]) for name, proc in order)
                 for row in rows]


def executemany(db: Session, statement: Any, rows: list[dict[str, Any]]) -> None:
    """``db.execute(statement, rows)`` for the writer's merged ``Rows``, at a fraction of the
    cost: compiled once, parameters converted in one pass, one driver ``executemany``.

    SQLAlchemy's per-row parameter construction was about a tenth of the server's CPU at
    saturation (the writer thread holding the GIL the event loop needs)."""
    conn = db.connection()
    driver = driver_rows(conn.dialect, statement, rows)
    if driver is None:
        db.execute(statement, rows)
        return
    conn.exec_driver_sql(*driver)


def _gather(db: Session, pending: dict[Any, list[dict[str, Any]]], rows: Rows) -> None:
    """Add a write's rows to the batch's merged executemany, in batch order; parameters given
    as a function are computed now (an audit entry is chained to its chain's head here)."""
    for statement, params in rows.statements:
        pending.setdefault(statement, []).append(params(db) if callable(params) else params)


def _execute(db: Session, pending: dict[Any, list[dict[str, Any]]]) -> None:
    """Write the merged rows gathered so far, one executemany per statement."""
    for statement, rows in pending.items():
        executemany(db, statement, rows)
    pending.clear()


class _NeedsSession(Exception):
    """A row function asked for the database itself (store/writer.py's one-statement path
    has none to give)."""


class _RowsOnly:
    """What a batch's row functions see of their transaction on the one-statement path:
    ``info``, where an audit entry finds its chain's cached head and leaves the new one
    (store/audit.py). An entry whose head is not cached reads it from the database, which
    raises :class:`_NeedsSession`: the batch then goes through a session."""

    new = dirty = ()

    def __init__(self, info: dict):
        self.info = info

    def connection(self) -> Any:
        raise _NeedsSession

    def flush(self) -> None:
        raise _NeedsSession


class Rows:
    """A write given as statements and parameters instead of a function.

    Consecutive ``Rows`` of one batch are merged per statement into one executemany, which is
    what makes a thousand answers a second cheap for the writer thread. Their result is None.
    Parameters may be a function of the transaction's session, called in batch order when
    the writer applies them (an audit entry is chained to its predecessor then).
    """

    __slots__ = ("statements",)

    def __init__(self, *statements: tuple[Any, dict[str, Any]]):
        self.statements = statements


@dataclass
class _Op:
    work: Work
    done: Any  # an Event of the running concurrency model
    result: Any = None
    error: BaseException | None = None
    extra: dict = field(default_factory=dict)
    #: woken to commit the next batch as leader (its own work is still pending)
    lead: bool = False
    #: (session id, fence): committed only while the session's lease still has this fence
    fence: Fence | None = None


class GroupCommitter:
    """Commit submitted work in batches; ``submit`` returns after the commit."""

    def __init__(self, sessions: sessionmaker, *, async_mode: str = "threading",
                 max_batch: int = 500):
        self._sessions = sessions
        bind = sessions.kw.get("bind")
        #: psycopg (PostgreSQL): a batch of rows is sent with its COMMIT in one pipeline
        self._pipelined = bind is not None and bind.dialect.driver == "psycopg"
        self._max_batch = max_batch
        self._pending: list[_Op] = []
        self._leading = False
        if async_mode == "gevent":
            import gevent.event
            import gevent.lock
            import gevent.threadpool

            self._event = gevent.event.Event
            self._lock = gevent.lock.Semaphore()
            self._pool = gevent.threadpool.ThreadPool(1)
            self._run = self._pool.apply
            # One greenlet commits batch after batch while any is pending (see submit).
            self._wake = gevent.event.Event()
            self._spawn = gevent.spawn
        else:
            self._event = threading.Event
            self._lock = threading.Lock()
            self._pool = None
            self._run = lambda fn, args: fn(*args)
            self._spawn = None
        self._loop = None
        self.batches = 0
        self.ops = 0

    def submit(self, work: Work | Rows, fence: Fence | None = None) -> Any:
        """Run ``work(session)`` (or write ``Rows``) in a committed transaction; return its
        result or raise. With a ``fence``, the work is refused (:class:`LeaseLost`) unless
        the session's lease row still holds that fence when the transaction commits."""
        op = _Op(work, self._event(), fence=fence)
        if self._spawn is not None:  # gevent: hand it to the committer greenlet
            if self._loop is None:
                self._loop = self._spawn(self._commit_loop)
            self._pending.append(op)
            self._wake.set()
            op.done.wait()
            if op.error is not None:
                raise op.error
            return op.result
        with self._lock:
            self._pending.append(op)
            lead = not self._leading
            if lead:
                self._leading = True
        if not lead:
            op.done.wait()
            if op.lead:  # handed the leadership: commit the next batch, which holds op
                op.done.clear()
                lead = True
        if lead:
            self._lead()
        if op.error is not None:
            raise op.error
        return op.result

    def _commit_loop(self) -> None:
        """gevent: commit what is pending, batch after batch, without a greenlet switch in
        between (the writer thread stays busy); no caller waits for anyone else's batch."""
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Op]) -> None:
        try:
            self._run(self._commit, (batch,))
        except BaseException as exc:  # never leave followers waiting
            for op in batch:
                op.error = op.error or exc
            if not isinstance(exc, Exception):
                raise  # the loop was killed (the store is closing): end it
        finally:
            for op in batch:
                op.done.set()

    def _lead(self) -> None:
        """Threads: commit one batch (the leader's own work is its first op), then hand the
        leadership to the oldest pending op. A leader that committed batches until none was
        pending held its own ack (and its connection's next messages) for as long as answers
        kept coming."""
        with self._lock:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
        try:
            self._commit_batch(batch)
        finally:
            with self._lock:
                heir = self._pending[0] if self._pending else None
                if heir is None:
                    self._leading = False
                else:
                    heir.lead = True
            if heir is not None:
                heir.done.set()

    def _commit(self, batch: list[_Op]) -> None:
        """Runs in the writer thread: one transaction for the batch, or one per op on failure."""
        self.batches += 1
        self.ops += len(batch)
        try:
            try:
                results = self._transaction(batch)
            except Exception as exc:
                if not _connection_lost(exc):
                    raise
                # A pooled connection found dead (the writer's engine has no pre-ping, which
                # cost a round trip per batch): the batch once more, on a new connection.
                # Had its COMMIT reached the database in the instant before the connection
                # died, an answer's unique (candidate, seq) refuses it the second time and
                # its caller gets an error, as after any failed batch (the one-by-one retry
                # below has the same window): never an acknowledgement without its commit.
                log.warning("the writer's database connection was lost (%s); batch of %d "
                            "again on a new one", exc, len(batch))
                results = self._transaction(batch)
            for op, result in zip(batch, results, strict=True):
                op.result = result
            return
        except Exception as exc:
            if len(batch) == 1:
                # Once more in a new transaction: a chain head cached before another process
                # appended to that chain was dropped by this rollback (store.audit.CACHE).
                try:
                    with self._sessions() as db, db.begin():
                        batch[0].result = self._apply(db, batch)[0]
                except Exception:
                    batch[0].error = exc
                return
            log.info("group commit of %d failed; retrying one by one", len(batch))
        # One bad write must not take its neighbours down with it.
        for op in batch:
            try:
                with self._sessions() as db, db.begin():
                    op.result = self._apply(db, [op])[0]
            except Exception as exc:
                op.error = exc

    def _transaction(self, batch: list[_Op]) -> list[Any]:
        """The batch in one committed transaction; the ops' results."""
        if self._pipelined:
            results = self._commit_one_statement(batch)
            if results is not None:
                return results
        with self._sessions() as db, db.begin():
            results = None
            if self._pipelined:
                results = self._apply_pipelined(db, batch)
            if results is None:
                results = self._apply(db, batch)
        return results

    @staticmethod
    def _apply(db: Session, batch: list[_Op]) -> list[Any]:
        results: list[Any] = []
        pending: dict[Any, list[dict[str, Any]]] = {}
        # One touch of each fenced session's lease row per transaction (see store/lease.py).
        lost = lost_fences(db, {op.fence for op in batch if op.fence is not None})
        for op in batch:
            if op.fence is not None and op.fence in lost:
                op.error = LeaseLost(op.fence[0])
                results.append(None)
                continue
            if isinstance(op.work, Rows):
                _gather(db, pending, op.work)
                results.append(None)
            else:
                _execute(db, pending)
                results.append(op.work(db))
        _execute(db, pending)
        return results

    def _commit_one_statement(self, batch: list[_Op]) -> list[Any] | None:
        """PostgreSQL: a batch of rows that all take store/bulk.py's JSON form, each table
        once (answers: their rows, the candidates' scores, their audit entries), as one
        statement that is its own transaction: the fence guard and the writes as WITH
        clauses of one statement, which fails as a whole on a stale fence; no BEGIN, COMMIT
        or pipeline, one message and one result, on a pooled connection without a
        SQLAlchemy session (whose transaction, connection and commit were about half of
        the writer's CPU per group commit). None, having sent nothing, for any other batch:
        a table written twice (two clauses of one statement do not see each other's rows,
        and of two updates of one row only one takes effect), rows that keep the
        executemany, or an audit entry whose chain head is not cached (it needs a read)."""
        if not all(isinstance(op.work, Rows) for op in batch):
            return None
        info = dict(self._sessions.kw.get("info") or {})
        if audit.CACHE not in info:
            return None  # not the owner's writer: its chain heads are read, not cached
        # Each table once, told from the statements before any row is built (an audit
        # entry's row is hashed): a flag beside an answer updates the candidate twice.
        statements = {statement for op in batch for statement, _params in op.work.statements}
        tables = {getattr(statement, "table", None) for statement in statements}
        if None in tables or len(tables) != len(statements):
            return None
        engine = self._sessions.kw["bind"]
        pending: dict[Any, list[dict[str, Any]]] = {}
        stand_in = _RowsOnly(info)
        try:
            for op in batch:
                _gather(stand_in, pending, op.work)
        except _NeedsSession:
            return None
        merged = [json_rows(engine.dialect, statement, rows)
                  for statement, rows in pending.items()]
        if None in merged:
            return None
        fences = sorted({op.fence for op in batch if op.fence is not None})
        statement = fence_guard(fences, [(one.sql, one.params) for one in merged])
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            if not _idle_plain(driver):
                return None
            driver.autocommit = True  # no round trip: a flag while idle
            try:
                driver.execute(*statement)
            except Exception as exc:
                if _dead(driver):
                    raw.invalidate(exc)  # never back into the pool
                    raise ConnectionLost(str(exc)) from exc
                raise
            finally:
                if not _dead(driver):
                    driver.autocommit = False
            audit.heads_committed(info)
        except BaseException:
            audit.heads_dropped(info, info[audit.CACHE])
            raise
        finally:
            raw.close()  # back to the pool
        return [None] * len(batch)

    @staticmethod
    def _apply_pipelined(db: Session, batch: list[_Op]) -> list[Any] | None:
        """PostgreSQL: the transaction's statements in one pipeline, committed here; None
        (nothing sent yet) for a batch that needs :meth:`_apply`. (A batch of answers is
        one statement instead: :meth:`_commit_one_statement`.)

        The fence guard (one statement that fails on any stale fence, aborting the
        transaction), every merged executemany and COMMIT go out in one psycopg pipeline,
        one wait for all their results at the pipeline's closing Sync; BEGIN is the
        pipeline's first statement, and the writer's engine does not ping the connection
        first: a fenced group commit waits once for the server (protocol trace), where one
        executemany and one lease touch at a time waited seven, each a wait of the writer
        thread and a wake-up of the server's backend. A stale fence or any other failure
        raises, and :meth:`_commit` retries the ops through :meth:`_apply`, which finds out
        which fences were lost (a dead connection: the batch again, on a new one)."""
        if not all(isinstance(op.work, Rows) for op in batch):
            return None
        pending: dict[Any, list[dict[str, Any]]] = {}
        for op in batch:
            _gather(db, pending, op.work)
        conn = db.connection()
        # Each statement's rows as one execution with a JSON array where they can be
        # (store/bulk.py), else as psycopg's executemany, an execution per row:
        # (sql, parameters, many), ``many`` a sequence of rows for executemany.
        statements = []
        for statement, rows in pending.items():
            one = json_rows(conn.dialect, statement, rows)
            if one is not None:
                statements.append((one.sql, one.params, False))
            else:
                plain = driver_rows(conn.dialect, statement, rows)
                statements.append(plain if plain is None else (*plain, True))
        fences = sorted({op.fence for op in batch if op.fence is not None})
        if None in statements:
            # Rows that only SQLAlchemy can write: statement by statement, as _apply does.
            if lost_fences(db, set(fences)):
                raise LeaseLost(fences[0][0])  # _commit finds out which, op by op
            _execute(db, pending)
            return [None] * len(batch)
        driver = conn.connection.driver_connection
        # BEGIN ours, as the pipeline's first statement: psycopg would send its own and sync
        # on it (one more wait) before the first statement of a pipeline. Only on a
        # connection still idle (no read of this transaction, such as a chain head, sent
        # yet) and with psycopg's plain BEGIN (no isolation level or read-only set).
        own_begin = _idle_plain(driver)
        cursor = driver.cursor()
        if own_begin:
            driver.autocommit = True  # no round trip: a flag while idle
        try:
            with driver.pipeline():
                if own_begin:
                    cursor.execute("BEGIN")
                if fences:
                    cursor.execute(*fence_guard(fences))
                for sql, params, many in statements:
                    if many:
                        cursor.executemany(sql, params)
                    else:
                        cursor.execute(sql, params)
                # A statement, not driver.commit(), which would sync once more before the
                # pipeline's own closing Sync: all results come back in one wait.
                cursor.execute("COMMIT")
        except Exception as exc:
            if _dead(driver):
                conn.invalidate(exc)  # never back into the pool
                raise ConnectionLost(str(exc)) from exc
            if own_begin and driver.info.transaction_status != _IDLE:
                driver.rollback()  # end the failed transaction: autocommit can go back off
            raise
        finally:
            if own_begin and not _dead(driver):
                driver.autocommit = False
        return [None] * len(batch)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.kill()
        if self._pool is not None:
            self._pool.kill()
