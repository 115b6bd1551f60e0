"""What a login loads: the candidate's score sheet waits for their first answer (or finish),
and scores the same as one built at login."""

from __future__ import annotations

import pytest

from cat_engine.services import grading
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.testing import prepare_site
from scoring.rules import ScoreSheet


@pytest.fixture
def served(tmp_path):
    """(a site serving two candidates in-process, its prepared files)"""
    files = prepare_site(tmp_path, candidates=2)
    store = Store(files.database_url)
    yield Site(store, keys=[BankKey(files.passphrase)]), files
    store.close()


def _started(site, files, index):
    reg = files.registrations[index]
    cand, _ = site.login(registration=reg, pin=files.pins[reg], token=files.token,
                         terminal=f"T{index}")
    site.start(cand)
    return cand


def _eager(site, cand) -> ScoreSheet:
    session = site.session(cand.session_id)
    return grading.score_sheet(session, site.unlock(session), cand.form, list(cand.answers))


def test_the_sheet_is_built_at_the_first_answer_and_scores_as_one_built_at_login(served):
    site, files = served
    cand = _started(site, files, 0)
    assert isinstance(cand.score_sheet, grading.LazyScoreSheet)
    for seq, (position, choice) in enumerate([(0, 1), (3, 0), (0, 2), (9, 3)], start=1):
        site.answer(cand, seq=seq, position=position, choice=choice)
        assert isinstance(cand.score_sheet, ScoreSheet)  # the real one took its place
    assert cand.score_sheet.section_scores == _eager(site, cand).section_scores


def test_a_sheet_rebuilt_after_answers_counts_them(served):
    site, files = served
    cand = _started(site, files, 0)
    site.answer(cand, seq=1, position=2, choice=1)
    site.answer(cand, seq=2, position=8, choice=0)
    expected = dict(cand.score_sheet.section_scores)
    site.forget(cand.id)  # rebuilt from the database at next use, lazily again
    again = site.candidate(cand.id)
    assert isinstance(again.score_sheet, grading.LazyScoreSheet)
    assert dict(again.score_sheet.section_scores) == expected
    assert isinstance(again.score_sheet, ScoreSheet)


def test_finishing_without_an_answer_grades_the_blank_sheet(served):
    site, files = served
    cand = _started(site, files, 1)
    finished = site.finish(cand, seq=1)
    blank = grading.result(cand.exam, _eager(site, cand), cand.formation)
    assert finished.reply["result"]["total"] == blank["total"]
    assert finished.reply["result"]["sections"] == blank["sections"]
