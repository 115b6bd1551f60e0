"""Reads on the hot path of a login, without SQLAlchemy's per-statement machinery.

A room of 2,000 logging in at once runs a few reads per login (the login's row, the guessing
limits, the candidate's rows) on the event loop. Through an ORM session one such read cost
about 600 us of CPU, through a Core connection 100-200 us, while SQLite itself answers in about
15 us: the rest was building sessions, transactions, cache keys and result objects.

:class:`Prepared` compiles a Core ``select`` once per dialect (the SQL text, the order of its
parameters, and each result column's converter, e.g. JSON on SQLite); :func:`snapshot` runs
prepared statements on a DBAPI connection of the store's read pool inside one read transaction,
and returns plain tuples. Everything else keeps using sessions: only statements a login storm
runs thousands of times are worth this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select


class _Compiled:
    __slots__ = ("convert", "fixed", "names", "sql")

    def __init__(self, sql: str, names: list[str] | None,
                 convert: list[tuple[int, Callable[[Any], Any]]], fixed: dict[str, Any]):
        self.sql = sql
        #: the values of the statement's own literals (``state == "in_progress"``)
        self.fixed = fixed
        #: parameter names in order for positional paramstyles (SQLite's ?), None for named
        self.names = names
        #: (column index, converter) of the columns whose raw value needs converting
        self.convert = convert


class Prepared:
    """A Core ``select`` compiled once per dialect for :meth:`Snapshot.all`.

    Only plain bound parameters (``bindparam("name")``), no expanding ``IN`` lists: a list is
    written as a fixed number of parameters instead (see :func:`in_slots`).
    """

    def __init__(self, statement: Select):
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, engine: Engine) -> _Compiled:
        dialect = engine.dialect
        done = self._compiled.get(dialect.name)
        if done is None:
            comp = self.statement.compile(dialect=dialect)
            if any(b.type._cached_bind_processor(dialect) is not None
                   for b in comp.binds.values()):
                raise TypeError("prepared statements take parameters that need no conversion")
            convert = []
            for index, column in enumerate(self.statement.selected_columns):
                process = column.type.dialect_impl(dialect).result_processor(dialect, None)
                if process is not None:
                    convert.append((index, process))
            names = list(comp.positiontup) if comp.positiontup is not None else None
            fixed = {name: value for name, value in comp.params.items() if value is not None}
            done = self._compiled[dialect.name] = _Compiled(str(comp), names, convert, fixed)
        return done


class Snapshot:
    """Prepared reads inside one read transaction (they see one state of the database)."""

    __slots__ = ("_cursor", "_engine")

    def __init__(self, engine: Engine, cursor: Any):
        self._engine = engine
        self._cursor = cursor

    def all(self, prepared: Prepared, params: Mapping[str, Any]) -> list[tuple]:
        c = prepared.compiled(self._engine)
        cursor = self._cursor
        if c.fixed:
            params = {**c.fixed, **params}
        if c.names is None:
            cursor.execute(c.sql, dict(params))
        else:
            cursor.execute(c.sql, [params[name] for name in c.names])
        rows = cursor.fetchall()
        if not c.convert:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for index, process in c.convert:
                values[index] = process(values[index])
            out.append(tuple(values))
        return out

    def first(self, prepared: Prepared, params: Mapping[str, Any]) -> tuple | None:
        rows = self.all(prepared, params)
        return rows[0] if rows else None


@contextmanager
def snapshot(engine: Engine, *, single: bool = False) -> Iterator[Snapshot]:
    """A read transaction on a DBAPI connection of ``engine``'s pool, for prepared reads.

    ``single``: the caller runs one statement, which sees one state of the database by
    itself; on SQLite it then runs without BEGIN and ROLLBACK (two statements fewer)."""
    connection = engine.raw_connection()
    # The site's SQLite connections run without the driver's own transactions (store/db.py):
    # a snapshot's BEGIN is ours.
    explicit = engine.dialect.name == "sqlite" and not single
    try:
        cursor = connection.cursor()
        try:
            if explicit:
                cursor.execute("BEGIN")
            yield Snapshot(engine, cursor)
        finally:
            try:
                if explicit:
                    cursor.execute("ROLLBACK")
                elif engine.dialect.name != "sqlite":
                    connection.rollback()
            finally:
                cursor.close()
    finally:
        connection.close()  # back to the pool


def read(engine: Engine, prepared: Prepared, params: Mapping[str, Any]) -> list[tuple]:
    """The rows of one prepared statement (a read of its own)."""
    with snapshot(engine, single=True) as db:
        return db.all(prepared, params)


def in_slots(name: str, values: list[Any], slots: int) -> list[dict[str, Any]]:
    """Parameters for a statement with ``slots`` parameters ``name0..`` in an ``IN`` list:
    one dict per chunk of ``values``, the last chunk padded with its first value."""
    out = []
    for start in range(0, len(values), slots):
        chunk = values[start:start + slots]
        chunk += [chunk[0]] * (slots - len(chunk))
        out.append({f"{name}{i}": v for i, v in enumerate(chunk)})
    return out
