"""The proctor console, a candidate terminal and the public board in Debian's chromium,
against a real server process: a proctor admits a candidate, the candidate answers, and the
board in a third page shows the new score within a second of the answer being saved."""

from __future__ import annotations

import pytest

from cat_engine.testing import enrolled_device

from .conftest import enrol_screen, sign_in, watch_errors

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser
WAIT_MS = 15_000

#: Records, in epoch milliseconds, when a matching element's text first satisfies a test.
OBSERVE = """([selector, pattern, key]) => {
  const re = new RegExp(pattern);
  const check = () => {
    const node = document.querySelector(selector);
    if (node && re.test(node.textContent) && !window[key]) window[key] = Date.now();
  };
  new MutationObserver(check).observe(document.body,
    {subtree: true, childList: true, characterData: true});
  check();
}"""


def test_admit_answer_and_the_board_shows_it_within_a_second(browser, server, site):
    proctor_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    terminal_ctx = browser.new_context(viewport={"width": 1024, "height": 768})
    display_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        proctor, terminal, display = (proctor_ctx.new_page(), terminal_ctx.new_page(),
                                      display_ctx.new_page())
        errors = [watch_errors(p) for p in (proctor, terminal, display)]
        index = 11
        registration = site.prepared.registrations[index]

        # The public board of the room, on a screen enrolled for the site.
        enrol_screen(display_ctx, enrolled_device(site.prepared.database_url))
        display.goto(f"{server.url}/display/{site.prepared.session}")
        expect(display.locator(".board-table tbody tr")).to_have_count(12, timeout=WAIT_MS)

        # The proctor signs in and opens the session's console.
        sign_in(proctor, server.url, "proc1")
        proctor.click(f"text={site.prepared.session}")
        expect(proctor.locator("#live-state")).to_have_text("Langsung", timeout=WAIT_MS)
        expect(proctor.locator("#token")).to_have_text(site.prepared.token)

        # The candidate logs in at a terminal and waits for admission.
        terminal.goto(f"{server.url}/terminal/")
        terminal.fill("#registration", registration)
        terminal.fill("#pin", site.prepared.pins[registration])
        terminal.fill("#token", site.prepared.token)
        terminal.press("#token", "Enter")
        expect(terminal.locator("#waiting-box")).to_be_visible(timeout=WAIT_MS)

        # The proctor sees the seat online, checks identity and admits with a reason.
        seat = proctor.locator(".seat", has_text=registration)
        expect(seat.locator(".conn.on")).to_be_visible(timeout=WAIT_MS)
        seat.click()
        proctor.click("#selected-bar [data-action=admit]")
        proctor.fill("#action-reason", "KTP dan wajah cocok")
        proctor.click("#action-confirm")
        expect(seat.locator(".chip-admitted")).to_be_visible(timeout=WAIT_MS)

        # The candidate starts and answers a TKP item (every option of it scores).
        expect(terminal.locator("#start-box")).to_be_visible(timeout=WAIT_MS)
        terminal.check("#rules-read")
        terminal.click("#start")
        expect(terminal.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)
        terminal.locator("#box-6").click()
        expect(terminal.locator("#item-heading")).to_have_text("Soal 7 dari 10",
                                                              timeout=WAIT_MS)
        expect(terminal.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)

        row = f".board-table tbody tr[data-id='{seat_id(proctor, registration)}'] td.total"
        display.evaluate(OBSERVE, [row, r"^[1-9]", "boardAt"])
        terminal.evaluate(OBSERVE, ["#item-save", "Tersimpan", "savedAt"])
        terminal.keyboard.press("c")
        terminal.wait_for_function("() => window.savedAt", timeout=WAIT_MS)
        display.wait_for_function("() => window.boardAt", timeout=WAIT_MS)
        saved_at = terminal.evaluate("() => window.savedAt")
        board_at = display.evaluate("() => window.boardAt")
        assert board_at - saved_at < 1000, f"board updated {board_at - saved_at} ms after save"

        # The console shows the progress too, pushed.
        expect(seat.locator(".seat-progress")).to_contain_text("1 dari 10 dijawab",
                                                               timeout=WAIT_MS)
        expect(seat.locator(".chip-in_progress")).to_be_visible()
        assert errors == [[], [], []]
    finally:
        for ctx in (proctor_ctx, terminal_ctx, display_ctx):
            ctx.close()


def seat_id(page, registration: str) -> str:
    return page.locator(".seat", has_text=registration).get_attribute("data-id")


def test_an_unenrolled_screen_shows_a_code_and_the_board_once_a_proctor_enrols_it(
        browser, server, site, clients):
    """Issue 11: a screen without a credential shows only a pairing code; the proctor types it
    in the console and the screen goes on to the board by itself."""
    import re

    from .conftest import web_login

    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        errors = watch_errors(page)
        page.goto(f"{server.url}/display/{site.prepared.session}")
        code = page.locator("#pairing-code")
        expect(code).to_have_text(re.compile(r"^[A-Z0-9]{6}$"), timeout=WAIT_MS)
        expect(page.locator(".board-table tbody tr")).to_have_count(0)
        proctor = clients(server.url, "/proctor", web_login(server.url, "proc1"))
        reply = proctor.call("enrol_device", {"session_id": site.session_id,
                                              "code": code.text_content(), "name": "hall"})
        assert reply["ok"], reply
        expect(page.locator(".board-table tbody tr")).to_have_count(12, timeout=WAIT_MS)
        expect(page.locator("#pairing")).to_be_hidden()
        assert errors == []
    finally:
        ctx.close()
