"""The national merge kept in PostgreSQL (``cat-engine results merge --database-url``).

A year's national data is two to three million candidates: rather than this machine's
memory, the merge keeps them in a schema of its own, created fresh for each run
(``merge_<UTC time>_<random>``), all inside one transaction:

1. each verified file's candidates are loaded with ``COPY`` (psycopg 3), with the per-row
   values the in-memory merge computes in numpy (total, pass flag under the formation's rule
   set, page shard) computed the same way, by the same functions, a file at a time;
2. SQL refuses registration numbers seen twice, and ranks every formation with window
   functions (``rank()`` over the exam's tie-breaks, ``count(*)`` over each tie group,
   ``row_number()`` for the announcement order), the cut at three times the vacancies;
3. the announcement's writers read the ranking back in order, a chunk at a time
   (:class:`PostgresRanked`), so the files are byte for byte those of the in-memory merge.

On any failure the transaction is rolled back: the schema, and everything loaded into it,
disappears. On success it is committed with the ranking (``ranked``), the source files
(``sources``) and the formations table, for queries later; the staging table is dropped.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    create_engine,
    func,
    insert,
    not_,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateSchema

from scoring.exam import TOTAL
from scoring.integrity.merge import (
    NEXT_STAGE_FACTOR,
    Formation,
    MergeError,
    Part,
    check_rule_sets,
    fnv1a,
    missing_message,
    passed_by_formation,
    twice_message,
)
from scoring.results import totals_columns

#: Rows fetched from the server per round trip when reading the ranking back.
FETCH = 50_000


def engine_for(url: str):
    """An engine for a PostgreSQL URL (``postgresql://`` is taken as psycopg 3)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise MergeError(f"--database-url: {parsed.get_backend_name()} is not PostgreSQL")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed)


def _tables(schema: str, sections: Sequence[str]) -> tuple[MetaData, dict[str, Table]]:
    """The run's tables. Section scores are columns ``s0``, ``s1``, ... in the exam's order
    (section ids are the exam author's, not SQL names)."""
    md = MetaData(schema=schema)

    def person() -> list[Column]:
        return [Column("id", BigInteger, nullable=False),  # input order over all files
                Column("src", Integer, nullable=False),
                Column("registration", Text(collation="C"), nullable=False),
                Column("name", Text, nullable=False),
                Column("formation", Integer, nullable=False),
                Column("status", Text, nullable=False),
                Column("finished", Boolean, nullable=False),
                Column("receipt", Text),
                *[Column(f"s{i}", Float(53), nullable=False) for i in range(len(sections))],
                Column("total", Float(53), nullable=False),
                Column("passed", Boolean, nullable=False),
                Column("shard", SmallInteger, nullable=False)]

    tables = {
        "sources": Table("sources", md, Column("src", Integer, primary_key=True),
                         Column("file", Text, nullable=False),
                         Column("site", Text, nullable=False),
                         Column("session", Text, nullable=False)),
        "formations": Table("formations", md, Column("formation", Integer, primary_key=True),
                            Column("code", Text, nullable=False),
                            Column("name", Text, nullable=False),
                            Column("vacancies", Integer, nullable=False),
                            Column("rule_set", Text)),
        # Staging: loaded by COPY, dropped once ranked (unlogged: it never outlives the run).
        "candidates": Table("candidates", md, *person(), prefixes=["UNLOGGED"]),
        "ranked": Table("ranked", md, *person(),
                        Column("ord", BigInteger, nullable=False),  # announcement order
                        Column("rank", BigInteger, nullable=False),  # 0: not ranked
                        Column("tied", Boolean, nullable=False),
                        Column("next_stage", Boolean, nullable=False),
                        Column("tie_at_cut", Boolean, nullable=False)),
    }
    return md, tables


class NationalRun:
    """One merge's schema and transaction: load the verified files, check, rank, read back.

    Use as a context manager; :meth:`commit` keeps the schema, leaving the block without it
    (an error, or a refusal) rolls everything back.
    """

    def __init__(self, url: str, formations: Sequence[Formation], shards: int) -> None:
        self.engine = engine_for(url)
        self.formations = list(formations)
        self.shards = shards
        self.schema = f"merge_{time.strftime('%Y%m%d_%H%M%S', time.gmtime())}_" \
                      f"{secrets.token_hex(3)}"
        self.conn: Connection | None = None
        self.committed = False
        self.exam = None
        self.sections: list[str] = []
        self.sources: list[tuple[str, str]] = []
        self._parts: list[Part] = []  # each file's identity, without its columns
        self._rows = 0
        self._missing: dict[str, str] = {}
        self._code_index = {f.code: i for i, f in enumerate(self.formations)}

    def __enter__(self) -> NationalRun:
        self.conn = self.engine.connect()
        self._trans = self.conn.begin()
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._trans.is_active:
                self._trans.rollback()
            self.conn.close()
        finally:
            self.engine.dispose()

    def commit(self) -> None:
        self._trans.commit()
        self.committed = True

    def drop(self) -> None:
        """Remove a committed run's schema (its announcement could not be put in place)."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def _start(self, exam) -> None:
        check_rule_sets(self.formations, exam)
        self.exam = exam
        self.sections = list(exam.section_ids)
        self.md, self.t = _tables(self.schema, self.sections)
        self.conn.execute(CreateSchema(self.schema))
        for name in ("sources", "formations", "candidates"):
            self.t[name].create(self.conn)
        # Sorting two million rows: in memory rather than in temporary files (this run only).
        self.conn.exec_driver_sql("SET LOCAL work_mem = '512MB'")
        if self.formations:
            self.conn.execute(insert(self.t["formations"]), [
                {"formation": i, "code": f.code, "name": f.name, "vacancies": f.vacancies,
                 "rule_set": f.rule_set} for i, f in enumerate(self.formations)])

    def load(self, part: Part, exam) -> None:
        """One verified file's candidates, by COPY."""
        if self.exam is None:
            self._start(exam)
        src = len(self.sources)
        self.sources.append((part.site, part.session))
        self._parts.append(part.identity())
        self.conn.execute(insert(self.t["sources"]), [
            {"src": src, "file": part.source, "site": part.site, "session": part.session}])
        n = len(part.registration)
        codes = part.formation.tolist()
        formation = np.asarray([self._code_index.get(c, -1) for c in codes], dtype=np.int64)
        for i in np.flatnonzero(formation < 0).tolist():
            self._missing.setdefault(codes[i], part.source)
        scores = [np.asarray(part.scores[s], dtype=np.float64) for s in self.sections]
        finished = part.status == "finished"
        passed = passed_by_formation(exam, self.formations, formation,
                                     dict(zip(self.sections, scores, strict=True)), finished)
        columns = [np.arange(self._rows, self._rows + n).tolist(), [src] * n,
                   part.registration.tolist(), part.name.tolist(), formation.tolist(),
                   part.status.tolist(), finished.tolist(), part.receipt.tolist(),
                   *[s.tolist() for s in scores], totals_columns(scores).tolist(),
                   passed.tolist(), fnv1a(part.registration, self.shards).tolist()]
        self._rows += n
        names = [c.name for c in self.t["candidates"].columns]
        cursor = self.conn.connection.driver_connection.cursor()
        with cursor.copy(f'COPY "{self.schema}".candidates ({", ".join(names)}) '
                         f"FROM STDIN") as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)

    def rank(self) -> None:
        """Refuse numbers seen twice and unknown formations, then rank into ``ranked``."""
        if self.exam is None:
            raise MergeError("no candidates to merge")
        if self._missing:
            raise MergeError(missing_message(self._missing))
        self._refuse_twice()
        c = self.t["candidates"]
        exam = self.exam
        keys = [c.c.total if key == TOTAL else c.c[f"s{self.sections.index(key)}"]
                for key in exam.ranking.by]
        first = [not_(c.c.passed)] if exam.ranking.passed_first else []
        tie = [c.c.passed] if exam.ranking.passed_first else []
        # Unfinished candidates are a group of their own, after everyone, unranked.
        rank = func.rank().over(partition_by=[c.c.formation, c.c.finished],
                                order_by=[*first, *[k.desc() for k in keys]])
        tie_size = func.count().over(partition_by=[c.c.formation, c.c.finished, *tie, *keys])
        ord_ = func.row_number().over(order_by=[
            c.c.formation, not_(c.c.finished), *first, *[k.desc() for k in keys], c.c.id])
        inner = select(*c.columns, rank.label("rank_all"), tie_size.label("tie_size"),
                       ord_.label("ord")).subquery("w")
        f = self.t["formations"]
        cut = f.c.vacancies * NEXT_STAGE_FACTOR
        ranked_rank = _case(inner.c.finished, inner.c.rank_all, 0)
        tied = inner.c.finished & (inner.c.tie_size > 1)
        next_stage = inner.c.passed & inner.c.finished & (inner.c.rank_all <= cut)
        tie_at_cut = next_stage & tied & (inner.c.rank_all + inner.c.tie_size - 1 > cut)
        person = [inner.c[col.name] for col in c.columns]
        # Stored in announcement order: reading it back in that order is then sequential.
        query = select(*person, inner.c.ord, ranked_rank, tied, next_stage, tie_at_cut) \
            .select_from(inner.join(f, f.c.formation == inner.c.formation)) \
            .order_by(inner.c.ord)
        r = self.t["ranked"]
        r.create(self.conn)
        self.conn.execute(insert(r).from_select(
            [*[col.name for col in c.columns], "ord", "rank", "tied", "next_stage",
             "tie_at_cut"], query))
        c.drop(self.conn)
        self.conn.exec_driver_sql(f'CREATE UNIQUE INDEX ON "{self.schema}".ranked (ord)')
        self.conn.exec_driver_sql(f'CREATE INDEX ON "{self.schema}".ranked (shard, ord)')
        self.conn.exec_driver_sql(f'ANALYZE "{self.schema}".ranked')

    def _refuse_twice(self) -> None:
        c = self.t["candidates"]
        groups = self.conn.execute(
            select(c.c.registration, func.array_agg(c.c.src, order_by=c.c.id))
            .group_by(c.c.registration).having(func.count() > 1)
            .order_by(c.c.registration).limit(10)).all()
        if not groups:
            return
        pairs = []
        for reg, srcs in groups:
            pairs += [(reg, self._parts[a], self._parts[b]) for a, b in itertools.pairwise(srcs)]
        total = self.conn.execute(select(func.sum(func.count() - 1).over()).select_from(c)
                                  .group_by(c.c.registration).having(func.count() > 1)
                                  .limit(1)).scalar()
        raise MergeError(twice_message(pairs[:10], int(total) - len(pairs[:10])))

    def ranked(self) -> PostgresRanked:
        return PostgresRanked(self)


def _case(condition, then, otherwise):
    from sqlalchemy import case

    return case((condition, then), else_=otherwise)


class PostgresRanked:
    """:class:`cat_engine.services.announce.Ranked` read from the run's ``ranked`` table,
    in the same transaction (the data is not committed yet)."""

    def __init__(self, run: NationalRun) -> None:
        self.run = run
        self.sections, self.formations, self.sources = run.sections, run.formations, \
            run.sources
        self.created_ms = max((p.exported_ms for p in run._parts), default=0)
        self.t = run.t["ranked"]
        self._cols = ["formation", "src", "registration", "name", "status", "receipt",
                      *[f"s{i}" for i in range(len(self.sections))], "total", "rank", "tied",
                      "passed", "next_stage", "tie_at_cut"]

    def count(self) -> int:
        return self.run.conn.execute(select(func.count()).select_from(self.t)).scalar()

    def whole(self) -> dict[str, bool]:
        names = [*[f"s{i}" for i in range(len(self.sections))], "total"]
        row = self.run.conn.execute(select(*[
            func.bool_and(self.t.c[n] == func.round(self.t.c[n])) for n in names])).one()
        # No rows at all: numpy's all() of nothing is True, and so is this.
        return {k: v is not False for k, v in zip([*self.sections, "total"], row, strict=True)}

    def _read(self, where: str = "", order: str = "ord",
              extra: str = "") -> Iterator[dict[str, np.ndarray]]:
        raw = self.run.conn.connection.driver_connection
        sql = (f'SELECT {", ".join(self._cols)}{extra} FROM "{self.run.schema}".ranked '
               f"{where} ORDER BY {order}")
        with raw.cursor(name=f"read_{secrets.token_hex(4)}") as cursor:
            cursor.itersize = FETCH
            cursor.execute(sql)
            while rows := cursor.fetchmany(FETCH):
                yield self._columns(rows)

    def _columns(self, rows: list[tuple]) -> dict[str, np.ndarray]:
        names = self._cols + (["shard"] if rows and len(rows[0]) > len(self._cols) else [])
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        out: dict[str, np.ndarray] = {}
        for name, values in zip(names, cols, strict=True):
            if name in ("formation", "src", "rank", "shard"):
                array = np.asarray(values, dtype=np.int64)
            elif name in ("tied", "passed", "next_stage", "tie_at_cut"):
                array = np.asarray(values, dtype=bool)
            elif name == "total" or (name.startswith("s") and name[1:].isdigit()):
                array = np.asarray(values, dtype=np.float64)
            else:
                array = np.empty(len(values), dtype=object)
                array[:] = values
            out[name] = array
        out["source"] = out.pop("src")
        for i, section in enumerate(self.sections):
            out[section] = out.pop(f"s{i}")
        return out

    def chunks(self) -> Iterator[dict[str, np.ndarray]]:
        yield from self._read()

    def shards(self, count: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        if count != self.run.shards:
            raise ValueError(f"the run was loaded for {self.run.shards} shards, not {count}")
        # One pass in (shard, announcement) order, cut where the shard changes.
        pending: list[dict[str, np.ndarray]] = []
        current = 0
        for chunk in self._read(order="shard, ord", extra=", shard"):
            shard = chunk.pop("shard")
            cuts = np.flatnonzero(np.diff(shard)) + 1
            for piece_start, piece_end in zip([0, *cuts], [*cuts, len(shard)], strict=True):
                b = int(shard[piece_start])
                while current < b:  # this shard is done (or was empty)
                    yield current, (_concat(pending) if pending else self._columns([]))
                    pending, current = [], current + 1
                pending.append({k: v[piece_start:piece_end] for k, v in chunk.items()})
        while current < count:
            yield current, (_concat(pending) if pending else self._columns([]))
            pending, current = [], current + 1

    def going_on(self) -> Iterator[dict[str, np.ndarray]]:
        yield from self._read("WHERE next_stage")

    def going_on_counts(self) -> list[int]:
        counts = [0] * len(self.formations)
        for formation, n in self.run.conn.execute(
                select(self.t.c.formation, func.count()).where(self.t.c.next_stage)
                .group_by(self.t.c.formation)):
            counts[formation] = n
        return counts


def _concat(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
