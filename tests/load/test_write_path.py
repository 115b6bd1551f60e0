"""The write path under load: group-commit leadership, cheap writes for a connect storm."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)

from cat_engine.config import sqlite_url
from cat_engine.store import Rows, Store, audit
from cat_engine.store.models import AuditEntry
from scoring.integrity.chain import GENESIS, entry_hash


def test_a_leader_gets_its_ack_after_its_own_batch_not_after_the_queue_drains(tmp_path):
    """While the first batch commits, a second write arrives and can only finish after the
    first writer has its answer back: a leader that kept committing until nothing was
    pending would wait for it forever (here: until the timeout)."""
    store = Store(sqlite_url(tmp_path))
    in_first, first_returned = threading.Event(), threading.Event()
    second_submitted = threading.Event()
    order: list[str] = []

    def first(db):
        in_first.set()
        assert second_submitted.wait(10)
        time.sleep(0.05)  # let the second write reach the queue
        audit.append(db, at_ms=1, actor="t", action="first")
        return "first"

    def second(db):
        # Runs only once the first writer returned: possible only if it did not lead this batch.
        assert first_returned.wait(10), "the first writer was held by the next batch"
        audit.append(db, at_ms=2, actor="t", action="second")
        return "second"

    def run_first():
        order.append(store.write(first))
        first_returned.set()

    def run_second():
        assert in_first.wait(10)
        second_submitted.set()
        order.append(store.write(second))

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert order == ["first", "second"]
        with store.read() as db:
            assert db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all() == [
                "first", "second"]
        assert store.committer.batches == 2
    finally:
        store.close()


@settings(max_examples=200, deadline=None)
@given(chain=st.integers(0, 2**60), seq=st.integers(-5, 2**60),
       prev=st.one_of(st.text(max_size=70), st.sampled_from([GENESIS, "ab" * 32])),
       at_ms=st.one_of(st.integers(-2**60, 2**60),
                       st.floats(allow_nan=False, allow_infinity=False)),
       actor=st.one_of(st.text(max_size=12), st.sampled_from(["candidate", "system"])),
       action=st.text(max_size=12), candidate=st.one_of(st.none(), st.integers(-2**60, 2**60)),
       detail=st.dictionaries(st.text(max_size=8), st.one_of(
           st.none(), st.booleans(), st.integers(-2**60, 2**60), st.text(max_size=8)),
           max_size=4))
def test_the_answer_path_hashes_every_entry_as_the_chain_defines_it(
        chain, seq, prev, at_ms, actor, action, candidate, detail):
    """The writer's template for an entry's envelope gives the chain's own hash, for plain
    values and for every value it must hand to the general path (quotes, non-ASCII, floats,
    integers beyond 2^53)."""
    try:
        expected = entry_hash(chain=chain, seq=seq, prev=prev, at_ms=at_ms, actor=actor,
                              action=action, candidate=candidate, detail=detail)
    except Exception as exc:  # what JCS cannot write (an integer beyond 2^53) fails alike
        with pytest.raises(type(exc)):
            audit._entry_hash(chain, seq, prev, at_ms, actor, action, candidate, detail)
        return
    assert audit._entry_hash(chain, seq, prev, at_ms, actor, action, candidate, detail) == \
        expected


_TABLE = Table("write_path_rows", MetaData(), Column("id", Integer, primary_key=True),
               Column("n", Integer), Column("text", String(40)), Column("doc", JSON))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_merged_rows_store_what_sqlalchemy_itself_would(tmp_path, backend):
    """Rows merged into one driver executemany store the same values, JSON and NULL
    included, as SQLAlchemy's own execute, and an UPDATE by a bound key hits its rows."""
    import contextlib
    import os

    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = sqlite_url(tmp_path)
        else:
            admin = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")
            if not admin:
                pytest.skip("CAT_ENGINE_TEST_POSTGRES_URL is not set")
            from cat_engine.testing import postgres_database

            url = stack.enter_context(postgres_database(admin))
        store = Store(url)
        stack.callback(store.close)
        _TABLE.create(store.engine)
        docs = [{"a": [1, 2.5, None], "é": "x\"y"}, None, [], "text", 3]
        by_driver = [{"id": i, "n": i * 7, "text": f"r{i}'", "doc": d} for i, d in enumerate(docs)]
        by_orm = [{**r, "id": r["id"] + 100} for r in by_driver]
        set_n = update(_TABLE).where(_TABLE.c.id == bindparam("key")).values(n=bindparam("v"))
        store.write(Rows(*[(insert(_TABLE), r) for r in by_driver],
                         (set_n, {"key": 1, "v": -1}), (set_n, {"key": 2, "v": -2})))
        # One statement given different columns of the same count: each row as given.
        store.write(Rows((insert(_TABLE), {"id": 50, "n": 5}),
                         (insert(_TABLE), {"id": 51, "text": "t"})))
        with store.transaction() as db:
            db.execute(insert(_TABLE), by_orm)
        with store.read() as db:
            got = {r.id: (r.n, r.text, r.doc) for r in db.execute(select(_TABLE))}
        assert (got[50], got[51]) == ((5, None, None), (None, "t", None))
        for r in by_driver:
            n = {1: -1, 2: -2}.get(r["id"], r["n"])
            assert got[r["id"]] == (n, r["text"], r["doc"])
            assert got[r["id"] + 100] == (r["n"], r["text"], r["doc"])
