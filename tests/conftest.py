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


@pytest.fixture
def page(browser):
    """A fresh 1024x768 page that fails the test on an uncaught script error."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"errors on the page: {errors}"


@pytest.fixture
def start_exam_in_terminal():
    """Log a candidate in on the terminal page and start the exam (the exam view is shown)."""
    from playwright.sync_api import expect

    def start(page, url: str, registration: str, pin: str, token: str,
              timeout_ms: int = 15_000) -> None:
        page.goto(f"{url}/terminal/")
        page.fill("#registration", registration)
        page.fill("#pin", pin)
        page.fill("#token", token)
        page.press("#token", "Enter")
        expect(page.locator("#view-confirm")).to_be_visible(timeout=timeout_ms)
        page.check("#rules-read")
        page.click("#start")
        expect(page.locator("#view-exam")).to_be_visible(timeout=timeout_ms)

    return start
