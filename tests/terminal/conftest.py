"""Fixtures for the terminal's browser tests: a real site, a real server process, chromium.

The site is the team's small SKD-shaped exam (cat_engine.testing.SMALL_EXAM, 10 items) with
fixture items we keep here, so a test can map what the page showed back to the authored item
and compute the score the page must display.
"""

from __future__ import annotations

import pytest

#: The sections of the fixture bank (the exam draws 3 TWK, 3 TIU, 4 TKP of them).
FIXTURE_SECTIONS = {"TWK": (6, "key"), "TIU": (6, "key"), "TKP": (8, "weights")}
CANDIDATES = 8


@pytest.fixture(scope="module")
def fixture_bank():
    from cat_engine.testing import fixture_items

    return fixture_items(FIXTURE_SECTIONS)


@pytest.fixture(scope="module")
def site(tmp_path_factory, fixture_bank):
    from cat_engine.testing import prepare_site

    return prepare_site(tmp_path_factory.mktemp("terminal-site"), candidates=CANDIDATES,
                        items=fixture_bank)


@pytest.fixture(scope="module")
def server(site):
    from cat_engine.testing import ServerProcess

    with ServerProcess(site) as running:
        yield running


@pytest.fixture(scope="module")
def seats():
    """Hands out candidate indexes so no two tests share a candidate on the one site."""
    return iter(range(CANDIDATES))


@pytest.fixture()
def context(browser):
    """A fresh browser profile (its own localStorage, so its own terminal id) at 1024x768."""
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-US")
    yield context
    context.close()


@pytest.fixture()
def page(context):
    """A page that fails the test on an uncaught script error or a refused resource."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A content-security-policy refusal would silently break a part of the page.
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield page
    assert errors == [], f"errors on the page: {errors}"
