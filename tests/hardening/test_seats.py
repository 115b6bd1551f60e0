"""Seats: every roster row has one (given in the CSV or in roster order), it is stored, and
forms are drawn by seat, so neighbours share no item when the bank allows (docs/exams.md)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cat_engine.services import sessions
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.testing import fixture_items, prepare_site
from scoring.exam import load_exam
from scoring.forms import Form

#: Six forms' worth per stratum (m >= 6k): adjacent seats can always be disjoint.
ROOMY = {"TWK": (18, "key"), "TIU": (18, "key"), "TKP": (24, "weights")}


def forms_by_seat(site) -> dict[int, set[str]]:
    with sqlite3.connect(site.data_dir / "cat-engine.sqlite3") as db:
        rows = db.execute("SELECT c.seat, f.items FROM candidates c JOIN forms f "
                          "ON f.candidate_id = c.id").fetchall()
    return {seat: set(Form.from_dict(json.loads(items)).item_ids)
            for seat, items in rows}


def test_adjacent_seats_of_an_opened_session_share_no_item(tmp_path):
    site = prepare_site(tmp_path, candidates=8, items=fixture_items(ROOMY))
    forms = forms_by_seat(site)
    assert sorted(forms) == list(range(1, 9))  # roster order gives seats 1..8
    for seat in range(1, 8):
        assert forms[seat].isdisjoint(forms[seat + 1]), f"seats {seat} and {seat + 1}"


def test_a_form_assembled_at_first_login_is_drawn_by_seat_too(tmp_path):
    site = prepare_site(tmp_path, candidates=2, items=fixture_items(ROOMY))
    store = Store(site.database_url)
    try:
        session_id = sessions.find_session(store, site.session).id
        # Added after the session opened: no form yet, seat 3 follows the roster.
        [(registration, pin)] = sessions.add_candidates(store, session_id, [sessions.RosterRow(
            "LATE1", "Peserta Susulan", "1990-01-01", "general", {}, None, "7777")])
        live = Site(store, keys=[BankKey(site.passphrase)])
        cand, _ = live.login(registration=registration, pin=pin, token=site.token,
                             terminal="T-late")
    finally:
        store.close()
    forms = forms_by_seat(site)
    assert sorted(forms) == [1, 2, 3]
    assert set(cand.form.item_ids) == forms[3]
    assert forms[3].isdisjoint(forms[2])


def roster(tmp_path, text: str):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return path


def test_roster_seats_are_stored_as_given_and_checked(tmp_path):
    site = prepare_site(tmp_path, candidates=1, open_session=False)
    store = Store(site.database_url)
    try:
        sessions.import_roster(store, site.session, roster(tmp_path, (
            "registration,name,birth_date,seat\n"
            "A1,Satu,1990-01-01,12\nA2,Dua,1990-01-01,\nA3,Tiga,1990-01-01,7\n")))
        with sqlite3.connect(site.data_dir / "cat-engine.sqlite3") as db:
            seats = dict(db.execute("SELECT registration, seat FROM candidates"))
        # R00001 came first (seat 1); a row without a seat follows the highest one.
        assert seats == {"R00001": 1, "A1": 12, "A2": 13, "A3": 7}

        with pytest.raises(sessions.SetupError) as bad:
            sessions.import_roster(store, site.session, roster(tmp_path, (
                "registration,name,birth_date,seat\n"
                "B1,Satu,1990-01-01,x9\nB2,Dua,1990-01-01,4\nB3,Tiga,1990-01-01,4\n"
                "B4,Empat,1990-01-01,12\n")))
        problems = [f"{p.location}: {p.reason}" for p in bad.value.problems]
        assert any(p.startswith("row 2: seat 'x9'") for p in problems), problems
        assert any(p.startswith("row 4: seat 4 repeats row 3") for p in problems), problems
        assert any("seat 12 (registration B4) is already taken" in p for p in problems), problems
    finally:
        store.close()


def test_seats_reach_the_assembler_exactly(tmp_path):
    """The stored form is the assembler's form for that seat (auditors regenerate forms from
    the published seed, the bank index and the roster's seats)."""
    site = prepare_site(tmp_path, candidates=3, items=fixture_items(ROOMY))
    from scoring.forms import FormAssembler

    store = Store(site.database_url)
    try:
        session = sessions.find_session(store, site.session)
        with sqlite3.connect(site.data_dir / "cat-engine.sqlite3") as db:
            rows = db.execute("SELECT c.id, c.seat, f.items FROM candidates c JOIN forms f "
                              "ON f.candidate_id = c.id").fetchall()
    finally:
        store.close()
    exam = load_exam(str(site.data_dir / "exam.toml"))
    index = {item.id: item.meta() for item in fixture_items(ROOMY)}
    assembler = FormAssembler(exam, index)

    for cid, seat, items in rows:
        expected = assembler.assemble(exam_seed=session.seed, candidate_id=str(cid), seat=seat)
        assert Form.from_dict(json.loads(items)).item_ids == expected.item_ids
