"""Fixtures of the timed-block tests: a two-block exam on a real store and bank, with the
site's clock set by the test."""

from __future__ import annotations

import pytest

from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.testing import SMALL_EXAM, FakeClock, RecordingSocket, prepare_site

T0 = 1_800_000_000_000
MINUTE = 60_000

#: TWK and TIU share the exam's 10 minutes; then TKP has 4 of its own (as PPPK's interview).
TWO_BLOCKS = SMALL_EXAM.replace(
    'scoring = { rule = "weights", blank = 0 }',
    'scoring = { rule = "weights", blank = 0 }\ntime_limit_minutes = 4',
).replace("tunanetra = 3", "tunanetra = { minutes = 3, sections = { TKP = 2 } }")


def two_block_site(tmp_path, candidates: int = 4, accommodations=None):
    exam = tmp_path / "two-blocks.toml"
    exam.write_text(TWO_BLOCKS)
    return prepare_site(tmp_path / "site", candidates=candidates, exam=str(exam),
                        accommodations=accommodations)


@pytest.fixture(scope="session")
def two_block_files():
    return two_block_site


@pytest.fixture
def env(tmp_path):
    files = two_block_site(tmp_path, accommodations={
        2: {"accommodation": "tunanetra"}, 3: {"extra_minutes": 5}})
    store = Store(files.database_url)
    clock = FakeClock(T0)
    site = Site(store, keys=[BankKey(files.passphrase)], now=clock)
    yield files, site, clock
    store.close()


@pytest.fixture
def started(env):
    """Log the index-th candidate in and start their exam at the clock's time."""
    files, site, _clock = env

    def start(index: int = 0):
        registration = files.registrations[index]
        cand, _ = site.login(registration=registration, pin=files.pins[registration],
                             token=files.token, terminal=f"T{index}")
        site.start(cand)
        return cand

    return start


@pytest.fixture
def socket() -> RecordingSocket:
    return RecordingSocket()


@pytest.fixture
def positions():
    """The candidate's form positions of a section."""
    return lambda cand, section: [i for i, s in enumerate(cand.form.sections) if s == section]
