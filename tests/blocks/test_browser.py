"""The terminal's time blocks in Debian's chromium against a real ``cat-engine serve``: the
part label beside the clock, the grid of other parts disabled, the "next part" confirm, and
a closed part staying closed after a reload."""

from __future__ import annotations

import re

import pytest

from cat_engine.testing import ServerProcess

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

WAIT_MS = 15_000
#: The two-block exam's form: TWK 0-2 and TIU 3-5 share the first block, TKP 6-9 the second.
FIRST_BLOCK, SECOND_BLOCK = range(0, 6), range(6, 10)


@pytest.fixture(scope="module")
def server(tmp_path_factory, two_block_files):
    site = two_block_files(tmp_path_factory.mktemp("browser"), candidates=1)
    with ServerProcess(site) as running:
        running.prepared = site
        yield running


def test_next_part_closes_the_part_for_good(page, server, start_exam_in_terminal):
    site = server.prepared
    registration = site.registrations[0]
    start_exam_in_terminal(page, server.url, registration, site.pins[registration], site.token)
    expect(page.locator("#block-label")).to_have_text("(bagian 1 dari 2)")
    for p in SECOND_BLOCK:
        expect(page.locator(f"#box-{p}")).to_be_disabled()
    expect(page.locator("#box-3")).to_be_enabled()
    expect(page.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)
    page.locator("#item-options .option").nth(0).click()
    expect(page.locator("#save-summary")).to_have_text("Tersimpan", timeout=WAIT_MS)

    # Cancelling changes nothing; confirming moves on.
    page.click("#next-block")
    expect(page.locator("#block-dialog")).to_be_visible()
    expect(page.locator("#block-dialog")).to_contain_text("tidak dapat dibuka kembali")
    expect(page.locator("#block-summary")).to_contain_text("belum dijawab: 5")
    page.click("#block-cancel")
    expect(page.locator("#block-label")).to_have_text("(bagian 1 dari 2)")
    page.click("#next-block")
    page.click("#block-confirm")
    expect(page.locator("#block-label")).to_have_text("(bagian 2 dari 2)", timeout=WAIT_MS)
    expect(page.locator("#item-heading")).to_have_text("Soal 7 dari 10", timeout=WAIT_MS)
    expect(page.locator("#next-block")).to_be_hidden()
    for p in FIRST_BLOCK:
        expect(page.locator(f"#box-{p}")).to_be_disabled()
    expect(page.locator("#box-9")).to_be_enabled()

    page.reload()  # the server holds the part: a reload does not reopen the first one
    expect(page.locator("#block-label")).to_have_text("(bagian 2 dari 2)", timeout=WAIT_MS)
    expect(page.locator("#box-0")).to_be_disabled()
    expect(page.locator("#box-0")).to_have_class(re.compile(r"\banswered\b"))
