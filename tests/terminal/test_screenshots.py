"""The documentation screenshots of the terminal (docs/screenshots/terminal-*.png).

Run only on request, so a test run never rewrites tracked files:

    CAT_ENGINE_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/terminal/test_screenshots.py

The site is a full SKD form (110 items, 100 minutes) drawn from the Indonesian demo bank, so
the pictures show what a candidate really sees, figural TIU items with their images included.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

TARGET = os.environ.get("CAT_ENGINE_SCREENSHOTS")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not TARGET, reason="set CAT_ENGINE_SCREENSHOTS=<dir> to take them"),
]

SIZES = {"1024x768": (1024, 768), "1280x800": (1280, 800)}
WAIT_MS = 20_000
TWK, TIU = 30, 35


@pytest.fixture(scope="module")
def skd_server(tmp_path_factory):
    from cat_engine.testing import ServerProcess, prepare_site
    from item_bank.demo import generate_demo_items

    site = prepare_site(tmp_path_factory.mktemp("skd-site"), candidates=2, exam="skd",
                        items=generate_demo_items(220, seed=4))
    with ServerProcess(site) as server:
        yield site, server


def snap(page, name: str) -> None:
    directory = Path(TARGET)
    directory.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(200)  # let the layout settle before the picture
        page.screenshot(path=str(directory / f"terminal-{name}-{size}.png"))
    page.set_viewport_size({"width": 1024, "height": 768})


def go_to(page, position: int) -> None:
    page.click(f"#box-{position}")
    expect(page.locator("#item-heading")).to_have_text(
        re.compile(rf"^Soal {position + 1} dari"), timeout=WAIT_MS)
    expect(page.locator("#item-options .option").first).to_be_visible(timeout=WAIT_MS)


def test_terminal_screenshots(page, skd_server):
    site, server = skd_server
    registration = site.registrations[0]
    page.goto(f"{server.url}/terminal/")
    page.fill("#registration", registration)
    snap(page, "login")
    page.fill("#pin", site.pins[registration])
    page.fill("#token", site.token)
    page.click("#login-submit")
    expect(page.locator("#view-confirm")).to_be_visible(timeout=WAIT_MS)
    page.check("#rules-read")
    snap(page, "confirm")
    page.click("#start")
    expect(page.locator("#item-options .option").first).to_be_visible(timeout=WAIT_MS)

    # Find a figural TIU item (an image in the stem), then work on from there: answers, a few
    # doubtful marks and a skipped item, so the grid shows every state around it.
    figural = TWK
    for position in range(TWK, TWK + TIU):
        go_to(page, position)
        if page.locator("#item-stem img").count():
            figural = position
            break
    for position in range(figural - 6, figural + 8):
        go_to(page, position)
        if position != figural and position % 6 != 5:
            page.keyboard.press("abcde"[(position * 3) % 5])
        if position in (figural - 4, figural + 1, figural + 5):
            page.keyboard.press("r")
    go_to(page, figural)
    page.keyboard.press("c")
    expect(page.locator("#save-summary")).to_have_text("Tersimpan", timeout=WAIT_MS)
    snap(page, "item")

    page.click("#finish")
    expect(page.locator("#finish-dialog")).to_be_visible()
    snap(page, "finish")
    page.click("#finish-confirm")
    expect(page.locator("#view-result")).to_be_visible(timeout=WAIT_MS)
    snap(page, "result")
