"""The candidate terminal (Debian's chromium) in an exam with an adaptive section: the grid
grows one item per saved answer, an answered adaptive item stays closed, and the page moves
on by itself when the section is over."""

from __future__ import annotations

import pytest

from cat_engine.testing import ServerProcess

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

WAIT_MS = 15_000
N_POSITIONS = 13  # TWK 3, TIU up to 6 (adaptive), TKP 4


def test_adaptive_section_in_the_terminal(page, adaptive_site, start_exam_in_terminal):
    site = adaptive_site
    with ServerProcess(site) as server:
        registration = site.registrations[0]
        start_exam_in_terminal(page, server.url, registration, site.pins[registration],
                               site.token)
        # The TIU section (positions 3..8) shows its first item only; TKP starts at 9.
        expect(page.locator("#box-3")).to_be_visible()
        expect(page.locator("#box-4")).to_have_count(0)
        expect(page.locator("#box-9")).to_be_visible()

        page.click("#box-3")
        heading = page.locator("#item-heading")
        for k in range(6):
            expect(heading).to_have_text(f"Soal {4 + k} dari {N_POSITIONS}", timeout=WAIT_MS)
            expect(page.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)
            page.locator("#item-options .option").nth(k % 5).click()
            if k < 5:  # the next item appears in the grid, and the page goes there
                expect(page.locator(f"#box-{4 + k}")).to_be_visible(timeout=WAIT_MS)
                expect(page.locator(f"#box-{3 + k}")).to_be_disabled()
        # Section over: the page moves on to the first TKP item; TIU boxes stay closed.
        expect(heading).to_have_text(f"Soal 10 dari {N_POSITIONS}", timeout=WAIT_MS)
        expect(page.locator("#box-8")).to_be_disabled()
        page.keyboard.press("ArrowLeft")  # back over the closed TIU items, to TWK's last
        expect(heading).to_have_text(f"Soal 3 dari {N_POSITIONS}", timeout=WAIT_MS)
        expect(page.locator("#save-summary")).to_have_text("Tersimpan", timeout=WAIT_MS)
        # A reload resumes with the same grid.
        page.reload()
        expect(page.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#box-8")).to_be_disabled(timeout=WAIT_MS)
        expect(page.locator("#box-3 .mark")).not_to_have_text("")
