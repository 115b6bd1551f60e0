"""The console's record and alerts stay true without a reload: admit, finish with a reason,
disqualify and a new token appear in its log as they happen, in words; a terminal that comes
back clears its "disconnected" alert; a disqualified seat is not shown online."""

from __future__ import annotations

import pytest

from .conftest import Client, sign_in, watch_errors

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser
WAIT_MS = 15_000


def act(page, seat, action: str, reason: str) -> None:
    seat.click()
    page.click(f"#selected-bar [data-action={action}]")
    page.fill("#action-reason", reason)
    page.click("#action-confirm")
    expect(page.locator("#action-dialog")).not_to_be_visible(timeout=WAIT_MS)


def seated(page, server, site, index: int):
    """The index-th candidate logs in at PC-<index>; their seat on the console shows online."""
    terminal = Client(server.url, "/candidate").connect()
    assert terminal.call("login", site.prepared.login(index, terminal=f"PC-{index:02d}"))["ok"]
    seat = page.locator(".seat", has_text=site.prepared.registrations[index])
    expect(seat.locator(".conn.on")).to_be_visible(timeout=WAIT_MS)
    return terminal, seat


def test_the_log_and_alerts_follow_the_room_live(browser, server, site):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    terminals: list[Client] = []
    try:
        page = ctx.new_page()
        errors = watch_errors(page)
        sign_in(page, server.url, "proc1")
        page.goto(f"{server.url}/proctor/session/{site.session_id}")
        expect(page.locator("#live-state")).to_have_text("Langsung", timeout=WAIT_MS)
        log = page.locator("#log")
        reg_a = site.prepared.registrations[9]

        a, seat_a = seated(page, server, site, 9)
        terminals.append(a)

        # Admit: the record shows it at once, in words, with the reason.
        act(page, seat_a, "admit", "KTP cocok")
        expect(log.locator("li").first).to_contain_text(
            "Diizinkan mengikuti ujian setelah pemeriksaan identitas. Alasan: KTP cocok",
            timeout=WAIT_MS)
        expect(log.locator("li").first).to_contain_text(reg_a)
        a.wait_for("admitted")
        assert a.call("start")["ok"]

        # The terminal drops (a reload, a spare PC): one alert; back again: the alert is gone.
        a.close()
        alerts = page.locator("#alerts li.alert-disconnected")
        expect(alerts).to_have_count(1, timeout=WAIT_MS)
        expect(seat_a.locator(".seat-alert")).not_to_be_empty()
        a = Client(server.url, "/candidate").connect()
        terminals.append(a)
        assert a.call("login", site.prepared.login(9, terminal="PC-09"))["ok"]
        expect(alerts).to_have_count(0, timeout=WAIT_MS)
        expect(seat_a.locator(".seat-alert")).to_be_empty()
        # ...also after the console reloads (the server forgot the stale alert too).
        page.reload()
        expect(page.locator("#live-state")).to_have_text("Langsung", timeout=WAIT_MS)
        expect(page.locator(".seat", has_text=reg_a).locator(".conn.on")).to_be_visible(
            timeout=WAIT_MS)
        expect(alerts).to_have_count(0)
        seat_a = page.locator(".seat", has_text=reg_a)

        # Finish with a reason: the reason is in the record, not "proctor".
        act(page, seat_a, "finish", "Peserta sakit, minta mengakhiri ujian")
        expect(log.locator("li").first).to_contain_text(
            "Pengawas mengakhiri ujian. Alasan: Peserta sakit, minta mengakhiri ujian",
            timeout=WAIT_MS)
        assert "proctor" not in log.locator("li").first.inner_text()

        # Disqualify a candidate whose terminal is still open: logged, and not "online".
        b, seat_b = seated(page, server, site, 10)
        terminals.append(b)
        act(page, seat_b, "disqualify", "Membawa ponsel")
        expect(log.locator("li").first).to_contain_text("Didiskualifikasi. Alasan: Membawa ponsel",
                                                        timeout=WAIT_MS)
        expect(seat_b.locator(".chip-disqualified")).to_be_visible()
        expect(seat_b).not_to_contain_text("online")
        expect(seat_b).not_to_have_class("online")

        # A new token: logged live too.
        page.click("[data-room-action=rotate_token]")
        page.fill("#action-reason", "Token terlihat dari luar")
        page.click("#action-confirm")
        expect(log.locator("li").first).to_contain_text("Token sesi baru diterbitkan",
                                                        timeout=WAIT_MS)
        expect(page.locator("#token")).not_to_have_text(site.prepared.token)
        site.prepared.token = page.locator("#token").inner_text().strip()
        assert errors == []
    finally:
        for t in terminals:
            t.close()
        ctx.close()


def test_every_text_of_the_console_is_in_its_language(browser, server, site):
    """A refusal, the formation, an error page: Indonesian through and through."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    t = Client(server.url, "/candidate").connect()
    try:
        assert t.call("login", site.prepared.login(11, terminal="PC-11"))["ok"]
        page = ctx.new_page()
        errors = watch_errors(page)
        sign_in(page, server.url, "proc1")
        page.goto(f"{server.url}/proctor/session/{site.session_id}")
        seat = page.locator(".seat", has_text=site.prepared.registrations[11])
        expect(seat).to_contain_text("Formasi umum", timeout=WAIT_MS)
        expect(seat).not_to_contain_text("general")
        act(page, seat, "admit", "KTP cocok")
        t.wait_for("admitted")
        assert t.call("start")["ok"]
        # Closing the session while a candidate works is refused, in one language.
        page.click("[data-room-action=close_session]")
        page.fill("#action-reason", "Selesai")
        page.click("#action-confirm")
        refusal = page.locator("#action-error")
        expect(refusal).to_have_text(
            "Ditolak: Masih ada peserta yang mengerjakan; sesi dapat ditutup setelah semua "
            "peserta selesai", timeout=WAIT_MS)
        page.click("#action-cancel")
        # Werkzeug's own error pages are English: ours are not.
        page.goto(f"{server.url}/proctor/no-such-page")
        expect(page.locator("h1")).to_have_text("Halaman ini tidak ada")
        page.goto(f"{server.url}/display/NO-SUCH-SESSION")
        expect(page.locator("main")).to_contain_text("Tidak ada sesi NO-SUCH-SESSION.")
        assert errors == []
    finally:
        t.close()
        ctx.close()
