"""Candidate error texts come from the Flask-Babel catalogue, in the terminal's language."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from cat_engine.live import messages
from cat_engine.testing import ServerProcess

from .conftest import make_site

TRANSLATIONS = Path(messages.__file__).resolve().parents[2] / "proctor_ui" / "translations"


def indonesian() -> dict[str, str]:
    with open(TRANSLATIONS / "id" / "LC_MESSAGES" / "messages.po", "rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id and not m.fuzzy}


def test_every_candidate_error_is_a_translated_catalogue_entry():
    catalogue = indonesian()
    for code, text in messages.ERRORS.items():
        msgid = text._args[0]  # the lazy string's English id
        assert catalogue.get(msgid), f"{code}: {msgid!r} has no Indonesian translation"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    prepared, _ = make_site(tmp_path_factory.mktemp("messages"), candidates=1)
    with ServerProcess(prepared) as running:
        yield prepared, running


@pytest.mark.parametrize("lang", ["id", "en"])
def test_errors_reach_the_terminal_in_its_language(server, clients, lang):
    prepared, running = server
    terminal = clients(running.url)
    # Before any login the terminal's language is unknown: Indonesian, the default.
    assert terminal.call("nonsense")["error"] == {"code": "unknown_event",
                                                  "message": indonesian()["Unknown request"]}
    reply = terminal.call("login", {**prepared.login(0, lang=lang), "pin": "0000"})
    msgid = "Registration number, PIN or session token is wrong"
    expected = indonesian()[msgid] if lang == "id" else msgid
    assert reply["error"] == {"code": "bad_credentials", "message": expected}
    unknown = terminal.call("nonsense")["error"]["message"]
    assert unknown == (indonesian()["Unknown request"] if lang == "id" else "Unknown request")
