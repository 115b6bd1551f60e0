"""The adaptive sheet in-process on a real store and bank: what an unfinished section scores,
and which state wins when the stored estimate disagrees with the answer events."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import update

from cat_engine.services.errors import ServiceError
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.store.models import Candidate

TIU_FIRST = 3


@pytest.fixture
def site(adaptive_site):
    store = Store(adaptive_site.database_url)
    yield Site(store, keys=[BankKey(adaptive_site.passphrase)]), adaptive_site
    store.close()


def _started(site, files, index=0):
    reg = files.registrations[index]
    cand, _ = site.login(registration=reg, pin=files.pins[reg], token=files.token,
                         terminal=f"T{index}")
    site.start(cand)
    return cand


def test_an_unfinished_section_scores_in_proportion_to_its_answers(site):
    site, files = site
    cand = _started(site, files)
    for k in range(2):
        site.get_item(cand, TIU_FIRST + k)
        site.answer(cand, seq=k + 1, position=TIU_FIRST + k, choice=0)
    run = cand.score_sheet.runs["TIU"]
    full = run.pool.scaled(run.state.theta)
    result = site.finish(cand, seq=3).reply["result"]
    tiu = next(s for s in result["sections"] if s["name"] == "TIU")
    assert tiu["score"] == round(full * 2 / 6) and tiu["max"] == 15


def test_no_answer_scores_blank_and_an_adaptive_item_cannot_be_skipped_or_changed(site):
    site, files = site
    cand = _started(site, files)
    assert cand.score_sheet.section_scores["TIU"] == 0
    with pytest.raises(ServiceError) as blank:
        site.answer(cand, seq=1, position=TIU_FIRST, choice=None)
    assert blank.value.code == "bad_choice"
    site.answer(cand, seq=2, position=TIU_FIRST, choice=1)
    with pytest.raises(ServiceError) as again:
        site.answer(cand, seq=3, position=TIU_FIRST, choice=2)
    assert again.value.code == "bad_position" and "revisited" in again.value.detail
    with pytest.raises(ServiceError) as ahead:
        site.get_item(cand, TIU_FIRST + 2)
    assert ahead.value.code == "bad_position"
    assert cand.answers[TIU_FIRST] == 1  # the refused change changed nothing


def test_the_answer_events_win_over_a_stored_state_that_disagrees(site, caplog):
    site, files = site
    cand = _started(site, files)
    for k in range(3):
        site.answer(cand, seq=k + 1, position=TIU_FIRST + k, choice=k % 2)
    truth = cand.score_sheet.persisted()
    tampered = json.loads(json.dumps(truth))
    tampered["TIU"]["theta"] = 2.5
    with site.store.transaction() as db:
        db.execute(update(Candidate).where(Candidate.id == cand.id).values(adaptive=tampered))
    site.forget(cand.id)
    with caplog.at_level(logging.ERROR, logger="scoring.adaptive_section"):
        reloaded = site.candidate(cand.id)
    assert reloaded.score_sheet.persisted() == truth
    assert any("answer events give" in r.getMessage() for r in caplog.records)
