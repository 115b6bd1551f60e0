"""The site's database: models, migrations, the group-commit write path and the audit log.

``Store`` is what services use: ``store.read()`` for a short read-only session, and
``store.write(work)`` to run ``work(session)`` in a committed transaction (batched with
concurrent writes; see :mod:`cat_engine.store.writer`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cat_engine.store import audit, migrate, prepared
from cat_engine.store.db import make_engine
from cat_engine.store.lease import Fence, LeaseLost
from cat_engine.store.prepared import Prepared, Snapshot
from cat_engine.store.writer import GroupCommitter, Rows, Work

__all__ = ["LeaseLost", "Prepared", "Rows", "Snapshot", "Store", "private_files"]


def private_files(database: str | None) -> None:
    """Make a SQLite database readable by the server's account only: the file (and its WAL
    and shared-memory files, which SQLite creates with the file's mode) 0600, its directory
    0700. PIN hashes, tokens and answers are in there."""
    if not database or database == ":memory:":
        return
    path = os.path.abspath(database)
    for name in (path, f"{path}-wal", f"{path}-shm"):
        if os.path.exists(name):
            os.chmod(name, 0o600)
    os.chmod(os.path.dirname(path), 0o700)


class Store:
    def __init__(self, url: str, *, async_mode: str = "threading", synchronous: str = "FULL",
                 upgrade: bool = True):
        self.url = url
        self.engine = make_engine(url, synchronous=synchronous, immediate=True)
        self.read_engine = (
            make_engine(url, synchronous=synchronous) if url.startswith("sqlite") else self.engine
        )
        if upgrade:
            migrate.upgrade(self.engine)
        if self.is_sqlite:
            private_files(self.engine.url.database)
        # Under gevent the group commit writes from a native thread of its own: on PostgreSQL
        # its connections get a pool of their own, whose waits may block (store/db.py).
        self.write_engine = (
            make_engine(url, native_thread=True)
            if async_mode == "gevent" and not self.is_sqlite else self.engine)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        self._direct_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        #: Audit chain heads the group commit committed (cat_engine.store.audit.CACHE).
        self.audit_heads: dict = {}
        audit.track_heads(self._write_sessions, self.audit_heads, owner=True)
        audit.track_heads(self._direct_sessions, self.audit_heads, owner=False)
        self.committer = GroupCommitter(self._write_sessions, async_mode=async_mode)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions() as db:
            yield db

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """A read transaction for :class:`Prepared` statements (the login's hot reads)."""
        return prepared.snapshot(self.read_engine)

    def query(self, statement: Prepared, params: Mapping[str, Any]) -> list[tuple]:
        """The rows of one :class:`Prepared` statement, read on its own."""
        return prepared.read(self.read_engine, statement, params)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A direct write transaction, outside the group commit (CLI and set-up work)."""
        with self._direct_sessions() as db, db.begin():
            yield db

    def write(self, work: Work | Rows, fence: Fence | None = None) -> Any:
        """Run ``work(session)`` or write ``Rows``; return once it is committed. ``fence``:
        (session id, fencing number) of the lease the writer holds (store/lease.py)."""
        return self.committer.submit(work, fence)

    def close(self) -> None:
        self.committer.close()
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
