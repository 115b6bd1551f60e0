"""Fixtures shared by every test folder.

One Playwright driver and one chromium for the whole run: Playwright's sync API cannot run
two drivers in one thread, so a folder that started its own would break every browser test
collected after it in the same pytest command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: Debian's chromium (never a downloaded browser build: CI has no internet).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright; skips cleanly where either is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session", autouse=True)
def _no_server_outlives_the_run():
    """A test that fails between starting a server and stopping it must not leak it."""
    yield
    from cat_engine.testing import ServerProcess

    ServerProcess.stop_all()
