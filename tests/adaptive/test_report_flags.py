"""The session report lists the cheating flags with their evidence (issue 12): a session of
40 candidates in which one copies a neighbour's answers and, for the last third of the test,
answers every item in about a second (as when someone else feeds the answers)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cat_engine.services import sessions
from cat_engine.services.reports import session_flags, session_report
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.testing import SMALL_EXAM, FakeClock, fixture_items, prepare_site
from tests.adaptive.conftest import log_in_and_start

ITEMS, CANDIDATES, CHEATER, SOURCE = 24, 30, 0, 1
LABELS = "ABCDE"

EXAM = (
    SMALL_EXAM.split("[[sections]]")[0].replace("time_limit_minutes = 10",
                                                "time_limit_minutes = 120")
    + f'[[sections]]\nid = "TWK"\nitems = {ITEMS}\n'
    'scoring = { rule = "key", correct = 5, wrong = 0, blank = 0 }\n\n'
    '[rule_sets.general]\ntitle = "Formasi umum"\ntitle_en = "General formation"\n'
    "minimum = { TWK = 10 }\n\n[accommodations]\ntunanetra = 3\n"
)


def _authored(item: dict) -> tuple[int, list[str]]:
    """The fixture item's number and the authored label of each shown option (fixture_items
    writes "Soal twk nomor n" and "Jawaban 7i + n untuk soal n" for label i)."""
    n = int(re.search(r"nomor (\d+)", item["stem_html"]).group(1))
    labels = [LABELS[(int(re.search(r"Jawaban (\d+)", o["html"]).group(1)) - n) // 7]
              for o in item["options"]]
    return n, labels


@pytest.fixture(scope="module")
def cheated_session(tmp_path_factory):
    directory = tmp_path_factory.mktemp("flags")
    (directory / "exam.toml").write_text(EXAM, encoding="utf-8")
    files = prepare_site(directory, candidates=CANDIDATES, exam=str(directory / "exam.toml"),
                         items=fixture_items({"TWK": (ITEMS, "key")}))
    rng = np.random.default_rng(12)
    theta = rng.normal(size=CANDIDATES)
    theta[SOURCE], theta[CHEATER] = 0.0, -1.0
    difficulty = np.linspace(-1.5, 1.5, ITEMS)
    intensity = rng.normal(np.log(30), 0.3, ITEMS)  # each item's typical log seconds
    # Drawn per (candidate, item) up front: forms show items in an order of their own.
    right = rng.random((CANDIDATES, ITEMS)) < 1 / (
        1 + np.exp(-1.3 * (theta[:, None] - difficulty[None, :])))
    wrong = rng.integers(1, 5, (CANDIDATES, ITEMS))  # which of the four other options
    pace = rng.normal(0, 0.35, (CANDIDATES, ITEMS))
    chosen: dict[int, dict[int, str]] = {}
    store = Store(files.database_url)
    clock = FakeClock(1_800_000_000_000)
    try:
        site = Site(store, keys=[BankKey(files.passphrase)], now=clock)
        for index in [SOURCE, CHEATER, *range(2, CANDIDATES)]:  # the source answers first
            cand, sheet = log_in_and_start(site, files, index)
            first = sheet["sections"][0]["first"]
            mine = chosen[index] = {}
            for k in range(ITEMS):
                item = site.get_item(cand, first + k).reply
                n, labels = _authored(item)
                if index == CHEATER:
                    label = chosen[SOURCE][n]
                else:  # the key (label n % 5) or another option
                    label = LABELS[(n + (0 if right[index, n] else wrong[index, n])) % 5]
                mine[n] = label
                fed = index == CHEATER and k >= 2 * ITEMS // 3
                seconds = 1.0 if fed else float(np.exp(intensity[n] + pace[index, n]))
                clock.at += int(seconds * 1000)
                site.answer(cand, seq=k + 1, position=first + k, choice=labels.index(label))
            site.finish(cand, seq=ITEMS + 1)
        sessions.set_state(store, files.session, "closed")
    finally:
        store.close()
    return files


def _opened(files):
    from item_bank.catbank import open_bank

    return open_bank(files.bank_path, passphrase=files.passphrase)


def test_the_report_shows_the_planted_cheater_with_the_evidence(cheated_session):
    files = cheated_session
    store = Store(files.database_url)
    try:
        with store.read() as db:
            from cat_engine.store.models import ExamSession

            session_id = db.query(ExamSession.id).filter_by(name=files.session).scalar()
        bank = _opened(files)
        flags = session_flags(store, session_id, bank)
        html_id = session_report(store, session_id, bank)
        html_en = session_report(store, session_id, bank, lang="en")
    finally:
        store.close()
    cheater, source = files.registrations[CHEATER], files.registrations[SOURCE]
    speed = {f.examinee: f for f in flags.speed}
    assert cheater in speed and speed[cheater].too_fast >= ITEMS // 3 - 1
    assert speed[cheater].p_value < 1e-6
    assert len(speed) <= 2  # honest paces are not flagged (at most a chance idle-burst)
    pairs = {(p.copier, p.source) for p in flags.copying} | {
        (p.source, p.copier) for p in flags.copying}
    assert (cheater, source) in pairs
    assert len(flags.copying) == 1  # no honest pair
    for html, heading, fast in (
        (html_id, "Tanda kecurangan dan buktinya", "Jauh terlalu cepat"),
        (html_en, "Cheating flags and their evidence", "Far too fast"),
    ):
        section = html[html.index(heading):]
        assert fast in section
        # The cheater's speed row: answers, too fast, expected, p-value.
        row = f"<td class=l>{cheater}</td><td>{ITEMS}</td><td>{speed[cheater].too_fast}</td>"
        assert row in section
        # The copying pair with its shared items and identical answers.
        pair = flags.copying[0]
        assert f"<td>{pair.shared}</td><td>{pair.matches}</td>" in section
        assert cheater in section and source in section
