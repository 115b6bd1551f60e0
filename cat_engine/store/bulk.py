"""PostgreSQL: a batch's rows of one statement as one statement with one JSON parameter.

The group commit merges every answer of a batch into one executemany per statement (answer
rows, audit entries, the candidates' scores). psycopg sends an executemany as one execution
per row, and adapts each row's parameters and reads back each row's result in Python: that
was most of what a PostgreSQL site's writer thread spent per answer, beyond what SQLite's
spends (docs/benchmarks.md, issue 9). Here the rows go out as one JSON array (one
``json.dumps``, in C) that the database turns back into rows with
``json_populate_recordset``, which types each field as its column:

    INSERT INTO t (a, b) SELECT a, b FROM json_populate_recordset(NULL::t, %s::json) ...
    UPDATE t SET b = x.b FROM json_populate_recordset(NULL::t, %s::json) AS x WHERE t.id = x.id

Only for statements and values whose meaning JSON carries unchanged: plain INSERTs of the
given columns and single-key UPDATEs, of integer, text, boolean and JSON columns, with values
of exactly those Python types (a JSON column's ``None`` is JSON ``null`` to SQLAlchemy but
SQL NULL here, so such a row keeps the executemany). Everything else keeps the executemany.
"""

from __future__ import annotations

import json
import operator
from typing import Any, NamedTuple

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import BinaryExpression, BindParameter

#: the Python types a column of each SQL type may take in the JSON form (None: SQL NULL)
_ACCEPTS: tuple[tuple[type, tuple[type, ...]], ...] = (
    (Boolean, (bool, type(None))),
    (Integer, (int, type(None))),  # Integer, BigInteger, SmallInteger
    (String, (str, type(None))),  # String, Text
)


class JsonRows(NamedTuple):
    """One statement writing a batch's rows of one table."""

    sql: str
    params: tuple[str]


class _Plan:
    """A statement's JSON form: its SQL, and each parameter's column and allowed types."""

    __slots__ = ("columns", "key", "sql")

    def __init__(self, sql: str, columns: list[tuple[str, str, tuple[type, ...] | None]],
                 key: str | None):
        self.sql = sql
        #: (parameter name, column name, accepted Python types; None: a JSON column's value)
        self.columns = columns
        #: an UPDATE's column that names the row (the batch's last row per key wins)
        self.key = key


#: (statement, parameter names) -> plan, or None for a statement that keeps the executemany
_PLANS: dict[tuple[Any, tuple[str, ...]], _Plan | None] = {}


def _accepts(column: Any) -> tuple[type, ...] | bool | None:
    """The Python types a column's values may have in the JSON form; None for a JSON column
    (any value but None); False for a column of another type."""
    if isinstance(column.type, JSON):
        return None
    for sql_type, python_types in _ACCEPTS:
        if isinstance(column.type, sql_type):
            return python_types
    return False


def _plan(statement: Any, dialect: Any, keys: tuple[str, ...]) -> _Plan | None:
    cache_key = (statement, keys)
    if cache_key in _PLANS:
        return _PLANS[cache_key]
    plan = None
    if isinstance(statement, Insert):
        plan = _insert_plan(statement, dialect, keys)
    elif isinstance(statement, Update):
        plan = _update_plan(statement, dialect, keys)
    _PLANS[cache_key] = plan
    return plan


def _insert_plan(statement: Insert, dialect: Any, keys: tuple[str, ...]) -> _Plan | None:
    """A plain ``insert(table)`` given its values by the rows."""
    if statement._returning or statement._values or statement._multi_values \
            or statement._post_values_clause is not None or statement.select is not None \
            or statement._prefixes or statement._hints:
        return None
    table = statement.table
    columns = []
    for key in keys:
        column = table.c.get(key)
        accepts = _accepts(column) if column is not None else False
        if accepts is False:
            return None
        columns.append((key, column.name, accepts))
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for _key, name, _types in columns)
    table_name = dialect.identifier_preparer.format_table(table)
    sql = (f"INSERT INTO {table_name} ({names}) SELECT {names} "
           f"FROM json_populate_recordset(NULL::{table_name}, %s::json) WITH ORDINALITY "
           "ORDER BY ordinality")  # the rows' own order: ids follow the batch
    return _Plan(sql, columns, None)


def _update_plan(statement: Update, dialect: Any, keys: tuple[str, ...]) -> _Plan | None:
    """``update(table).where(table.c.k == bindparam(p)).values(c=bindparam(q), ...)``."""
    where = statement.whereclause
    if statement._returning or not statement._values or statement._multi_values \
            or statement._prefixes or statement._hints \
            or not isinstance(where, BinaryExpression) or where.operator is not operator.eq \
            or not isinstance(where.right, BindParameter) \
            or getattr(where.left, "table", None) is not statement.table:
        return None
    table = statement.table
    by_param = {where.right.key: where.left}
    for column, value in statement._values.items():
        column = table.c.get(column) if isinstance(column, str) else column
        if not isinstance(value, BindParameter) or column is None \
                or column.table is not table or value.key in by_param:
            return None
        by_param[value.key] = column
    if set(by_param) != set(keys):
        return None
    columns = []
    for key in keys:
        accepts = _accepts(by_param[key])
        if accepts is False:
            return None
        columns.append((key, by_param[key].name, accepts))
    quote = dialect.identifier_preparer.quote
    table_name = dialect.identifier_preparer.format_table(table)
    row_key = quote(where.left.name)
    sets = ", ".join(f"{quote(by_param[key].name)} = x.{quote(by_param[key].name)}"
                     for key in keys if key != where.right.key)
    sql = (f"UPDATE {table_name} SET {sets} "
           f"FROM json_populate_recordset(NULL::{table_name}, %s::json) AS x "
           f"WHERE {table_name}.{row_key} = x.{row_key}")
    return _Plan(sql, columns, where.left.name)


def json_rows(dialect: Any, statement: Any, rows: list[dict[str, Any]]) -> JsonRows | None:
    """The SQL and its one parameter (the rows as a JSON array) that write ``rows`` of
    ``statement`` in one execution on PostgreSQL; None when they must go one by one."""
    if dialect.name != "postgresql":
        return None
    keys = tuple(rows[0])
    plan = _plan(statement, dialect, keys)
    if plan is None:
        return None
    records = []
    for row in rows:
        if len(row) != len(keys):
            return None
        record = {}
        for key, name, types in plan.columns:
            value = row.get(key, _MISSING)
            if value is _MISSING:
                return None
            if types is None:
                if value is None:
                    return None
            elif type(value) not in types:
                return None
            record[name] = value
        records.append(record)
    if plan.key is not None:
        # UPDATE ... FROM takes one source row per target row, unspecified which: the
        # batch's last word for each row, as the executemany would have left it.
        records = list({record[plan.key]: record for record in records}.values())
    try:
        payload = json.dumps(records, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # a value JSON cannot carry: SQLAlchemy's way
        return None
    return JsonRows(plan.sql, (payload,))


_MISSING = object()
