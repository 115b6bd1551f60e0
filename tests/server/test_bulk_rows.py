"""A group commit's rows as one JSON-array statement per table on PostgreSQL (store/bulk.py):
what the database holds afterwards is exactly what the executemany would have left, value
for value, and rows whose meaning JSON would change keep the executemany.

The PostgreSQL tests are skipped unless CAT_ENGINE_TEST_POSTGRES_URL names a server.
"""

from __future__ import annotations

import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from cat_engine.services.candidate import (
    FINISH,
    INSERT_EVENT,
    UPDATE_ADAPTIVE,
    UPDATE_POSITION,
    UPDATE_SCORES,
)
from cat_engine.store import Rows, Store, audit, lease, writer
from cat_engine.store.bulk import json_rows
from cat_engine.store.lease import fence_guard
from cat_engine.store.models import AnswerEvent, AuditEntry, Candidate
from cat_engine.store.writer import GroupCommitter, _Op
from cat_engine.testing import postgres_database, prepare_site
from scoring.integrity.chain import verify_chain

PG = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")
PG_DIALECT = postgresql.psycopg.dialect()


def _event(cid: int, seq: int, value: int | None = 2) -> dict:
    return {"candidate_id": cid, "seq": seq, "kind": "answer", "position": 3, "value": value,
            "server_ms": 1_700_000_000_000 + seq}


# -- which rows take the JSON form (no database needed) ---------------------------------------

def test_answer_rows_scores_and_audit_entries_take_one_statement_each():
    sql, (payload,) = json_rows(PG_DIALECT, INSERT_EVENT, [_event(1, 1), _event(2, 1)])
    assert sql.startswith("INSERT INTO answer_events") and "json_populate_recordset" in sql
    assert payload.startswith('[{"candidate_id":1,')
    sql = json_rows(PG_DIALECT, UPDATE_SCORES, [{"cid": 1, "pos": 2, "sc": {"TWK": 5}}]).sql
    assert sql.startswith("UPDATE candidates SET")
    entry = {"chain": 1, "seq": 1, "at_ms": 1, "actor": "candidate", "action": "answer",
             "session_id": 1, "candidate_id": 1, "detail": {"seq": 1}, "prev_hash": "0",
             "hash": "1"}
    assert json_rows(PG_DIALECT, audit.INSERT, [entry]) is not None


def test_rows_whose_meaning_json_would_change_keep_the_executemany():
    # SQLite has its own fast executemany; the JSON form is PostgreSQL's.
    assert json_rows(sqlite.dialect(), INSERT_EVENT, [_event(1, 1)]) is None
    # A JSON column's None is JSON null to SQLAlchemy, SQL NULL to json_populate_recordset.
    assert json_rows(PG_DIALECT, UPDATE_ADAPTIVE,
                     [{"cid": 1, "pos": 1, "sc": None, "ad": {"theta": 0.1}}]) is None
    # A bool where an integer column is: the executemany adapts it; JSON would not.
    assert json_rows(PG_DIALECT, INSERT_EVENT, [_event(1, 1, value=True)]) is None
    # Rows that differ in their keys, and values JSON cannot write.
    assert json_rows(PG_DIALECT, INSERT_EVENT, [_event(1, 1), {"candidate_id": 1}]) is None
    assert json_rows(PG_DIALECT, UPDATE_SCORES,
                     [{"cid": 1, "pos": 1, "sc": {"x": float("nan")}}]) is None
    # A conditional UPDATE (FINISH ends only a running exam) and a literal value.
    assert json_rows(PG_DIALECT, FINISH, [{"cid": 1, "res": {}, "why": "x", "sc": {},
                                           "term": None}]) is None


# -- against PostgreSQL -----------------------------------------------------------------------

needs_pg = pytest.mark.skipif(not PG, reason="CAT_ENGINE_TEST_POSTGRES_URL is not set")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not PG:
        pytest.skip("CAT_ENGINE_TEST_POSTGRES_URL is not set")
    with postgres_database(PG) as url:
        prepare_site(tmp_path_factory.mktemp("bulk"), candidates=4, database_url=url)
        # The group commit as `serve` builds it (gevent: the writer's own engine, the audit
        # chain heads it committed cached), called directly in this thread.
        store = Store(url, async_mode="gevent")
        with store.transaction() as db:
            cids = list(db.scalars(select(Candidate.id).order_by(Candidate.id)))
            sid = db.scalar(select(Candidate.session_id))
            fence = (sid, lease.acquire(db, sid, "bulk test", 0, 10**15).fence)
        with pytest.MonkeyPatch.context() as patch:
            # Count the statements that went out in the JSON form, and the batches sent as
            # one statement: the tests below must exercise them, not only the executemany
            # and the pipeline they fall back to.
            def counted(*args):
                merged = json_rows(*args)
                JSON_FORM[args[1]] = JSON_FORM.get(args[1], 0) + (merged is not None)
                return merged

            def one_statement(fences, writes=()):
                ONE_STATEMENT.append(bool(writes))
                return fence_guard(fences, writes)

            patch.setattr(writer, "json_rows", counted)
            patch.setattr(writer, "fence_guard", one_statement)
            yield store, store.committer, cids, sid, fence
        store.close()


def _commit(committer: GroupCommitter, writes: list[Rows], fence) -> list[_Op]:
    """One group commit of ``writes`` (the batch a busy site would merge)."""
    ops = [_Op(rows, threading.Event(), fence=fence) for rows in writes]
    committer._commit(ops)
    return ops


_SEQ = iter(range(1, 10**9))
#: statement -> how many of its batches went out as one JSON-array statement
JSON_FORM: dict = {}
#: per fence guard sent, whether it carried the batch's writes (one statement)
ONE_STATEMENT: list[bool] = []

#: Any text PostgreSQL can hold (no NUL), JSON-ish details with awkward keys and values.
texts = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53 + 1, 2**53 - 1) | texts
    | st.floats(allow_nan=False, allow_infinity=False, width=32),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8)


@needs_pg
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.none() | st.integers(-2**31, 2**31 - 1), min_size=1, max_size=12),
       scores=st.lists(st.dictionaries(texts, json_values, max_size=4), min_size=1,
                       max_size=12),
       details=st.lists(st.dictionaries(texts, json_values, max_size=4), min_size=1,
                        max_size=6),
       actor=texts)
def test_what_is_stored_is_what_was_written(site, values, scores, details, actor):
    store, committer, cids, sid, fence = site
    writes, events, last_scores, entries = [], [], {}, []
    for n, value in enumerate(values):
        cid = cids[n % len(cids)]
        event = _event(cid, next(_SEQ), value)
        events.append(event)
        sc = scores[n % len(scores)]
        last_scores[cid] = (n, sc)
        detail = details[n % len(details)]
        entries.append(detail)
        writes.append(Rows((INSERT_EVENT, event),
                           (UPDATE_SCORES, {"cid": cid, "pos": n, "sc": sc}),
                           audit.deferred(at_ms=event["server_ms"], actor=actor,
                                          action="bulk-test", session_id=sid,
                                          candidate_id=cid, detail=detail)))
    JSON_FORM.clear()
    ONE_STATEMENT.clear()
    cached = sid in store.audit_heads
    ops = _commit(committer, writes, fence)
    assert [op.error for op in ops] == [None] * len(ops)
    assert JSON_FORM == {INSERT_EVENT: 1, UPDATE_SCORES: 1, audit.INSERT: 1}
    # One statement whenever the chain's head was cached (after the first batch), else a
    # session that reads it: the pipeline, with the guard alone.
    assert [cached] == ONE_STATEMENT
    with store.read() as db:
        for event in events:
            stored = db.execute(select(AnswerEvent).where(
                AnswerEvent.candidate_id == event["candidate_id"],
                AnswerEvent.seq == event["seq"])).scalar_one()
            assert {key: getattr(stored, key) for key in event} == event
        # Several answers of one candidate in a batch: the last one's scores and position.
        for cid, (n, sc) in last_scores.items():
            candidate = db.get(Candidate, cid)
            assert (candidate.position, candidate.scores) == (n, sc)
        logged = db.execute(select(AuditEntry.actor, AuditEntry.detail).where(
            AuditEntry.action == "bulk-test").order_by(AuditEntry.id.desc())
            .limit(len(entries))).all()
        assert [tuple(row) for row in logged[::-1]] == [(actor, detail) for detail in entries]
        # The chain is whole: every entry's hash still covers what is stored.
        assert verify_chain(sid, audit.entries(db, sid)) == []


@needs_pg
def test_a_batch_mixing_both_forms_keeps_every_write(site):
    store, committer, cids, _sid, fence = site
    JSON_FORM.clear()
    ONE_STATEMENT.clear()
    a, b = cids[0], cids[1]
    seq = next(_SEQ)
    ops = _commit(committer, [
        Rows((INSERT_EVENT, _event(a, seq)), (UPDATE_SCORES, {"cid": a, "pos": 7,
                                                              "sc": {"TWK": 10}})),
        # JSON null scores, as an adaptive answer that superseded nothing writes them: the
        # executemany's way, beside the JSON form of the other rows.
        Rows((INSERT_EVENT, _event(b, seq, value=True)),
             (UPDATE_ADAPTIVE, {"cid": b, "pos": 8, "sc": None, "ad": {"theta": -0.5}})),
        Rows((UPDATE_POSITION, {"cid": a, "pos": 9})),
    ], fence)
    assert [op.error for op in ops] == [None] * 3
    assert True not in ONE_STATEMENT  # the candidates' table twice: the pipeline
    # The bool answer value takes the whole answer batch to the executemany; the scores
    # and positions go as JSON; the adaptive row with JSON null as an executemany.
    assert JSON_FORM[UPDATE_SCORES] and JSON_FORM[UPDATE_POSITION]
    assert not JSON_FORM[UPDATE_ADAPTIVE]
    with store.read() as db:
        assert (db.get(Candidate, a).position, db.get(Candidate, a).scores) == (9, {"TWK": 10})
        assert db.get(Candidate, b).adaptive == {"theta": -0.5}
        assert db.scalar(select(AnswerEvent.value).where(
            AnswerEvent.candidate_id == b, AnswerEvent.seq == seq)) == 1


@needs_pg
def test_one_row_written_by_two_statements_of_a_batch_keeps_both_writes(site):
    """An answer's scores and a flag's position of one candidate in one batch: two UPDATEs
    of one row, which must not become two clauses of one statement (only one of two
    updates of a row in one statement takes effect)."""
    store, committer, cids, _sid, fence = site
    cid = cids[3]
    ops = _commit(committer, [
        Rows((INSERT_EVENT, _event(cid, next(_SEQ))),
             (UPDATE_SCORES, {"cid": cid, "pos": 4, "sc": {"TIU": 25}})),
        Rows((UPDATE_POSITION, {"cid": cid, "pos": 5})),
    ], fence)
    assert [op.error for op in ops] == [None, None]
    with store.read() as db:
        candidate = db.get(Candidate, cid)
        assert (candidate.position, candidate.scores) == (5, {"TIU": 25})


@needs_pg
def test_a_duplicate_answer_in_a_batch_fails_alone(site):
    """The unique (candidate, seq) refuses a replayed answer: the JSON statement fails for
    the whole batch, and the writer's one-by-one retry commits its neighbours."""
    store, committer, cids, _sid, fence = site
    seq = next(_SEQ)
    _commit(committer, [Rows((INSERT_EVENT, _event(cids[0], seq)))], fence)
    fresh = next(_SEQ)
    ops = _commit(committer, [Rows((INSERT_EVENT, _event(cids[1], fresh))),
                              Rows((INSERT_EVENT, _event(cids[0], seq))),
                              Rows((INSERT_EVENT, _event(cids[2], fresh)))], fence)
    assert [op.error is None for op in ops] == [True, False, True]
    with store.read() as db:
        assert db.scalar(select(AnswerEvent.id).where(
            AnswerEvent.candidate_id == cids[2], AnswerEvent.seq == fresh)) is not None


@needs_pg
def test_an_uncached_chain_head_is_read_then_batches_are_one_statement(site):
    """After a restart or a failed commit the writer does not know a chain's head: that
    batch reads it in a session; the next ones go out as one statement; the chain holds."""
    store, committer, cids, sid, fence = site

    def answer() -> Rows:
        event = _event(cids[0], next(_SEQ))
        return Rows((INSERT_EVENT, event), audit.deferred(
            at_ms=event["server_ms"], actor="candidate", action="answer", session_id=sid,
            candidate_id=cids[0], detail={"seq": event["seq"], "position": 3, "value": 2}))

    store.audit_heads.clear()
    ONE_STATEMENT.clear()
    for _ in range(3):
        assert [op.error for op in _commit(committer, [answer(), answer()], fence)] == \
            [None, None]
    assert ONE_STATEMENT == [False, True, True]
    with store.read() as db:
        assert verify_chain(sid, audit.entries(db, sid)) == []


@needs_pg
def test_a_deposed_owner_writes_nothing(site):
    store, committer, cids, sid, fence = site
    stale = (sid, fence[1] - 1)
    seq = next(_SEQ)
    ONE_STATEMENT.clear()
    ops = _commit(committer, [Rows((INSERT_EVENT, _event(cids[0], seq)))], stale)
    assert ONE_STATEMENT[0]  # refused by the one statement's guard, then found out alone
    assert isinstance(ops[0].error, lease.LeaseLost)
    with store.read() as db:
        assert db.scalar(select(AnswerEvent.id).where(AnswerEvent.seq == seq)) is None
