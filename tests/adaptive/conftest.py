"""Fixtures of the adaptive-section tests: a bank whose TIU items are IRT-calibrated and an
exam whose TIU section is adaptive."""

from __future__ import annotations

import numpy as np
import pytest

from cat_engine.testing import SMALL_EXAM, fixture_items, prepare_site
from item_bank.model import IrtParams

#: SMALL_EXAM with TIU adaptive: at most 6 items, scaled to a fixed form of 3 items x 5 points.
ADAPTIVE_EXAM = SMALL_EXAM.replace(
    'id = "TIU"\nitems = 3\nscoring = { rule = "key", correct = 5, wrong = 0, blank = 0 }\n',
    'id = "TIU"\nitems = 3\nscoring = { rule = "key", correct = 5, wrong = 0, blank = 0 }\n'
    'adaptive = { estimator = "eap", selector = "randomesque", randomesque_k = 3, '
    "max_items = 6 }\n",
).replace('id = "mini-skd"', 'id = "mini-cat"')
assert ADAPTIVE_EXAM != SMALL_EXAM

TIU_POOL = 24


def adaptive_items(uncalibrated: int = 0):
    """Fixture items; TIU items get 2PL parameters spread over the ability scale (the last
    ``uncalibrated`` TIU items get none)."""
    items = fixture_items({"TWK": (6, "key"), "TIU": (TIU_POOL, "key"), "TKP": (8, "weights")})
    rng = np.random.default_rng(7)
    out = []
    tiu = 0
    for item in items:
        if item.section == "TIU":
            if tiu < TIU_POOL - uncalibrated:
                irt = IrtParams(model="2pl", a=float(rng.uniform(0.8, 2.0)),
                                b=float(np.linspace(-2.5, 2.5, TIU_POOL)[tiu]))
                item = item.model_copy(update={"irt": irt})
            tiu += 1
        out.append(item)
    return out


def write_exam(directory, text: str = ADAPTIVE_EXAM) -> str:
    path = directory / "adaptive-exam.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def bank_items() -> dict:
    return {item.id: item for item in adaptive_items()}


@pytest.fixture(scope="session")
def adaptive_site_factory():
    def make(directory, candidates: int = 3, *, uncalibrated: int = 0):
        return prepare_site(directory, candidates=candidates, exam=write_exam(directory),
                            items=adaptive_items(uncalibrated))
    return make


@pytest.fixture
def adaptive_site(tmp_path, adaptive_site_factory):
    return adaptive_site_factory(tmp_path)


def log_in_and_start(site, files, index: int):
    """Candidate ``index`` of a prepared site logs in at terminal T<index> and starts:
    returns (candidate, sheet)."""
    reg = files.registrations[index]
    cand, _ = site.login(registration=reg, pin=files.pins[reg], token=files.token,
                         terminal=f"T{index}")
    return cand, site.start(cand).reply["sheet"]
