"""The terminal of a full SKD form (110 items) as a candidate sees it while the proctor acts:
every number of the grid in sight at 1024x768 with the exam's title whole, "Finish the exam"
in view under a pause banner, one Tab stop for the grid with arrow keys inside it, and a
notice when the proctor extends the time."""

from __future__ import annotations

import re

import pytest

from .conftest import PASSWORDS, Client, cookie_header, web_login

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT_MS = 20_000
N_ITEMS = 110

#: What of the exam view lies outside the window or is cut (empty when all is in sight).
OUT_OF_SIGHT = """() => {
  const out = [];
  const inView = (node) => {
    const r = node.getBoundingClientRect();
    return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight + 0.5
      && r.right <= innerWidth + 0.5;
  };
  const grid = document.getElementById("grid");
  if (grid.scrollHeight > grid.clientHeight + 1) out.push("grid scrolls");
  const g = grid.getBoundingClientRect();
  document.querySelectorAll("#grid .box").forEach((box) => {
    const r = box.getBoundingClientRect();
    if (!inView(box) || r.bottom > g.bottom + 0.5 || r.top < g.top - 0.5) out.push("box " + box.id);
  });
  const title = document.getElementById("exam-title");
  if (title.scrollWidth > title.clientWidth + 1 || title.scrollHeight > title.clientHeight + 1) {
    out.push("title cut");
  }
  if (!inView(title)) out.push("title out of view");
  if (!inView(document.getElementById("finish"))) out.push("finish below the fold");
  return out;
}"""


@pytest.fixture(scope="module")
def skd(tmp_path_factory):
    """A full SKD session (auto-admit) with proctor proc1; yields (server, prepared, console)."""
    from cat_engine.services import sessions, users
    from cat_engine.store import Store
    from cat_engine.testing import ServerProcess, prepare_site
    from item_bank.demo import generate_demo_items

    prepared = prepare_site(tmp_path_factory.mktemp("skd-screens"), candidates=4, exam="skd",
                            items=generate_demo_items(220, seed=4))
    store = Store(prepared.database_url)
    session_id = sessions.find_session(store, prepared.session).id
    users.add_user(store, "proc1", PASSWORDS["proc1"], "proctor")
    users.assign(store, "proc1", session_id)
    store.close()
    with ServerProcess(prepared) as server:
        console = Client(server.url, "/proctor", {"Cookie": cookie_header(
            web_login(server.url, "proc1"))}).connect()
        watched = console.call("watch", {"session_id": session_id})
        console.ids = {s["registration"]: s["id"] for s in watched["seats"]}
        yield server, prepared, console
        console.close()


def _start(browser, skd, index: int, size: tuple[int, int], start_exam_in_terminal):
    server, prepared, _console = skd
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = ctx.new_page()
    registration = prepared.registrations[index]
    start_exam_in_terminal(page, server.url, registration, prepared.pins[registration],
                           prepared.token, timeout_ms=WAIT_MS)
    expect(page.locator("#grid .box")).to_have_count(N_ITEMS, timeout=WAIT_MS)
    expect(page.locator("#item-options .option").first).to_be_visible(timeout=WAIT_MS)
    return ctx, page, registration


def test_every_number_and_the_title_are_in_sight_at_1024x768(browser, skd,
                                                            start_exam_in_terminal):
    ctx, page, _reg = _start(browser, skd, 0, (1024, 768), start_exam_in_terminal)
    try:
        expect(page.locator("#exam-title")).to_have_text("Seleksi Kompetensi Dasar (SKD) CPNS")
        assert page.evaluate(OUT_OF_SIGHT) == []
    finally:
        ctx.close()


def test_a_pause_banner_keeps_finish_in_view_and_an_extension_is_announced(
        browser, skd, start_exam_in_terminal):
    _server, _prepared, console = skd
    ctx, page, registration = _start(browser, skd, 1, (1280, 800), start_exam_in_terminal)
    cid = console.ids[registration]
    try:
        assert console.call("pause", {"candidate_id": cid, "reason": "Izin ke toilet"})["ok"]
        expect(page.locator("#banner")).to_be_visible(timeout=WAIT_MS)
        assert page.evaluate(OUT_OF_SIGHT) == []
        page.set_viewport_size({"width": 1024, "height": 768})
        assert page.evaluate(OUT_OF_SIGHT) == []
        assert console.call("resume", {"candidate_id": cid, "reason": "Kembali"})["ok"]
        expect(page.locator("#banner")).to_be_hidden(timeout=WAIT_MS)

        # The proctor adds ten minutes: the clock jumps, and the terminal says why.
        before = _minutes_left(page)
        assert console.call("extend", {"candidate_id": cid, "reason": "Komputer macet",
                                       "minutes": 10})["ok"]
        expect(page.locator("#banner")).to_have_text(
            "Pengawas menambah waktu Anda 10 menit.", timeout=WAIT_MS)
        expect(page.locator("#announcer")).to_have_text(
            "Pengawas menambah waktu Anda 10 menit.")
        assert _minutes_left(page) >= before + 9
    finally:
        ctx.close()


def _minutes_left(page) -> int:
    text = page.locator("#clock").inner_text()
    parts = [int(p) for p in re.findall(r"\d+", text)]
    return parts[0] * 60 + parts[1] if len(parts) == 3 else parts[0]


def test_the_grid_is_one_tab_stop_with_arrow_keys_inside(browser, skd, start_exam_in_terminal):
    ctx, page, _reg = _start(browser, skd, 2, (1024, 768), start_exam_in_terminal)
    try:
        # From the first control of the item to "Finish the exam": a handful of Tab presses.
        page.focus("#prev") if page.locator("#prev").is_enabled() else page.focus("#doubtful")
        presses = 0
        while page.evaluate("document.activeElement.id") != "finish" and presses < 40:
            page.keyboard.press("Tab")
            presses += 1
        assert presses <= 8, f"{presses} Tab presses to reach Finish"
        boxes_on_the_way = page.evaluate(
            "document.querySelectorAll('#grid .box[tabindex=\"0\"]').length")
        assert boxes_on_the_way == 1

        # Inside the grid the arrow keys move; Enter opens the item.
        page.focus("#box-0")
        page.keyboard.press("ArrowRight")
        assert page.evaluate("document.activeElement.id") == "box-1"
        page.keyboard.press("ArrowDown")
        below = page.evaluate("document.activeElement.id")
        assert below == "box-11"
        page.keyboard.press("End")
        assert page.evaluate("document.activeElement.id") == f"box-{N_ITEMS - 1}"
        page.keyboard.press("Home")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        expect(page.locator("#item-heading")).to_have_text(f"Soal 22 dari {N_ITEMS}",
                                                           timeout=WAIT_MS)
        # Tab leaves the grid at once, Shift+Tab comes back to the same box.
        page.focus("#box-21")
        page.keyboard.press("Tab")
        assert not page.evaluate("document.activeElement.classList.contains('box')")
        page.keyboard.press("Shift+Tab")
        assert page.evaluate("document.activeElement.id") == "box-21"
    finally:
        ctx.close()
