"""Prepared reads (store/prepared.py): what a login reads, without SQLAlchemy's machinery, must
read what the ORM reads, on SQLite and (when CAT_ENGINE_TEST_POSTGRES_URL is set) PostgreSQL."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import bindparam, insert, select

from cat_engine.config import sqlite_url
from cat_engine.services.guard import LoginGuard
from cat_engine.services.runtime import BankKey, load_candidate
from cat_engine.services.site import Site
from cat_engine.store import Prepared, Store
from cat_engine.store.models import Candidate, Form, LoginLimit
from cat_engine.store.prepared import in_slots
from cat_engine.testing import FakeClock, prepare_site

T0 = 1_800_000_000_000


def test_in_slots_pads_the_last_chunk_with_its_first_value():
    assert in_slots("k", ["a"], 3) == [{"k0": "a", "k1": "a", "k2": "a"}]
    assert in_slots("k", ["a", "b", "c", "d"], 3) == [{"k0": "a", "k1": "b", "k2": "c"},
                                                      {"k0": "d", "k1": "d", "k2": "d"}]
    assert in_slots("k", [], 3) == []


def test_prepared_rows_equal_the_orm_rows_json_included(tmp_path, database_url):
    files = prepare_site(tmp_path, candidates=2, database_url=database_url)
    store = Store(files.database_url)
    try:
        with store.read() as db:
            cid = db.scalar(select(Candidate.id).order_by(Candidate.id))
            orm_row = db.get(Candidate, cid)
            orm_form = db.get(Form, cid)
            expected = {c.name: getattr(orm_row, c.name) for c in Candidate.__table__.columns}
            expected_items = orm_form.items
        row, form, clock, events = load_candidate(store, cid)
        assert row._asdict() == expected
        assert isinstance(row.accommodations, dict)  # JSON decoded, as the ORM does
        assert form.items == expected_items and isinstance(form.items, dict)
        assert clock is None and events == []
        assert load_candidate(store, 10_000) == (None, None, None, [])
    finally:
        store.close()


def test_prepared_statements_refuse_parameters_that_need_conversion(tmp_path):
    store = Store(sqlite_url(tmp_path))
    try:
        statement = Prepared(select(Form.candidate_id).where(
            Form.items == bindparam("items", type_=Form.items.type)))
        with pytest.raises(TypeError), store.snapshot() as db:
            db.all(statement, {"items": {"a": 1}})
    finally:
        store.close()


def test_a_snapshot_sees_what_was_committed_before_it(tmp_path, database_url):
    store = Store(database_url or sqlite_url(tmp_path))
    guard = LoginGuard(store, now=FakeClock(T0))
    try:
        assert guard.read(["pin:A", "src:terminal:T1"]) == {}
        guard.wrong_pin("pin:A")
        store.write(lambda db: db.execute(insert(LoginLimit).values(
            key="src:address:10.0.0.9", failures=3, last_ms=T0, hold_ms=1, until_ms=T0 + 5)))
        # Four keys: two chunks of the prepared statement's three slots.
        found = guard.read(["pin:A", "pin:B", "src:terminal:T1", "src:address:10.0.0.9"])
        assert set(found) == {"pin:A", "src:address:10.0.0.9"}
        assert found["pin:A"].failures == 1 and found["pin:A"].until_ms is None
        assert found["src:address:10.0.0.9"].blocked(T0)
    finally:
        store.close()


def test_a_login_after_a_lockout_elsewhere_is_refused_through_the_prepared_reads(tmp_path):
    """Two stores on one database (two processes): the lockout one counted, the other sees."""
    files = prepare_site(tmp_path, candidates=1)
    clock = FakeClock(T0)
    stores = [Store(files.database_url), Store(files.database_url)]
    sites = [Site(s, keys=[BankKey(files.passphrase)], now=clock) for s in stores]
    try:
        reg = files.registrations[0]
        for _ in range(sites[0].guard.max_failures):
            with contextlib.suppress(Exception):
                sites[0].login(registration=reg, pin="000000", token=files.token,
                               terminal="T9")
        from cat_engine.services.errors import ServiceError

        with pytest.raises(ServiceError) as refused:
            sites[1].login(registration=reg, pin=files.pins[reg], token=files.token,
                           terminal="T9")
        assert refused.value.code == "locked"
    finally:
        for s in stores:
            s.close()


def test_a_statement_keeps_its_own_literals(tmp_path, database_url):
    files = prepare_site(tmp_path, candidates=3, database_url=database_url)
    store = Store(files.database_url)
    try:
        with store.read() as db:
            expected = list(db.scalars(select(Candidate.id).where(
                Candidate.state == "registered").order_by(Candidate.id)))
            session_id = db.scalar(select(Candidate.session_id))
        statement = Prepared(select(Candidate.id).where(
            Candidate.state == "registered", Candidate.session_id == bindparam("sid"))
            .order_by(Candidate.id))
        assert [r[0] for r in store.query(statement, {"sid": session_id})] == expected
        assert len(expected) == 3
        assert store.query(statement, {"sid": session_id + 1}) == []
    finally:
        store.close()
