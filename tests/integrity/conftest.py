"""Fixtures of the integrity tests: a site with a finished session, run in-process."""

from __future__ import annotations

import pytest

from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.testing import prepare_site


def run_session(files, store: Store, *, answers: int = 4) -> Site:
    """Three candidates log in, see items, answer, flag and finish."""
    from cat_engine.services.anchors import site_key

    site = Site(store, keys=[BankKey(files.passphrase)])
    site.signing_key = site_key(files.data_dir)
    for index, reg in enumerate(files.registrations):
        cand, _ = site.login(registration=reg, pin=files.pins[reg], token=files.token,
                             terminal=f"T{index}")
        site.start(cand)
        for position in range(answers):
            site.get_item(cand, position)
            site.answer(cand, seq=position + 1, position=position, choice=(position + index) % 4)
        site.flag(cand, seq=answers + 1, position=0, doubtful=True)
        site.finish(cand, seq=answers + 2)
    return site


@pytest.fixture
def files(tmp_path):
    return prepare_site(tmp_path, candidates=3)


@pytest.fixture
def store(files):
    s = Store(files.database_url)
    yield s
    s.close()
