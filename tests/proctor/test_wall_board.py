"""The public board as a wall screen of a 40-seat room at 1920x1080: every row in sight with
the top of the ranking top left (no scrolling it away), type and status large and high in
contrast, each row's pass marks, a summary of the room, and a language switch."""

from __future__ import annotations

import re

import pytest

from cat_engine.testing import enrolled_device

from .conftest import Client, enrol_screen, watch_errors

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT_MS = 20_000
SEATS, FINISHED = 40, 4

#: Each row's place, its type size, and the status cell's contrast against its row.
MEASURE = """() => {
  const lum = (css) => {
    const [r, g, b] = css.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map((v) => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
                                return (x + 0.05) / (y + 0.05); };
  const rows = [...document.querySelectorAll(".board-table tbody tr")].map((tr) => {
    const r = tr.getBoundingClientRect();
    const status = tr.querySelector("td.status");
    const style = getComputedStyle(status);
    return {rank: tr.querySelector("td.rank").textContent, top: r.top, left: r.left,
            bottom: r.bottom, right: r.right,
            font: parseFloat(getComputedStyle(tr.querySelector("td.who")).fontSize),
            statusFont: parseFloat(style.fontSize), statusWeight: Number(style.fontWeight),
            contrast: contrast(style.color, style.backgroundColor)};
  });
  const scroller = document.querySelector(".board-scroll");
  return {rows, scrolls: scroller.scrollHeight > scroller.clientHeight + 2,
          width: innerWidth, height: innerHeight};
}"""


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A 40-seat room: everyone answered a few items, the first four finished."""
    from cat_engine.testing import ServerProcess, prepare_site

    prepared = prepare_site(tmp_path_factory.mktemp("wall"), candidates=SEATS)
    with ServerProcess(prepared) as server:
        terminals = []
        for n in range(SEATS):
            t = Client(server.url, "/candidate").connect()
            assert t.call("login", prepared.login(n))["ok"]
            assert t.call("start")["ok"]
            for seq, position in enumerate(range(n % 4 + 1), start=1):
                assert t.call("answer", {"seq": seq, "position": position,
                                         "choice": (n + position) % 4})["ok"]
            if n < FINISHED:
                assert t.call("finish", {"seq": 9})["ok"]
            terminals.append(t)
        yield server, prepared
        for t in terminals:
            t.close()


def test_forty_rows_on_a_wall_screen(browser, room):
    server, prepared = room
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    enrol_screen(ctx, enrolled_device(prepared.database_url))  # a wall screen of the site
    try:
        page = ctx.new_page()
        errors = watch_errors(page)
        page.goto(f"{server.url}/display/{prepared.session}")
        expect(page.locator(".board-table tbody tr")).to_have_count(SEATS, timeout=WAIT_MS)
        page.wait_for_timeout(1500)  # the row highlight fades; the layout settles
        shown = page.evaluate(MEASURE)
        rows = shown["rows"]
        # Every row in sight at once, nothing to scroll: the top ranks never leave the screen.
        assert not shown["scrolls"]
        outside = [r["rank"] for r in rows if r["top"] < 0 or r["bottom"] > 1080
                   or r["left"] < 0 or r["right"] > 1920]
        assert outside == []
        first = min(rows, key=lambda r: (r["left"], r["top"]))
        assert first["rank"].rstrip("=") == "1"
        # Large type, a large bold status in high contrast.
        assert min(r["font"] for r in rows) >= 24
        assert min(r["statusFont"] for r in rows) >= 24
        assert min(r["statusWeight"] for r in rows) >= 700
        assert min(r["contrast"] for r in rows) >= 7
        # Nothing cut at the right: every column's table fits its width.
        assert page.evaluate("""() => {
            const tables = [...document.querySelectorAll('.board-table')].filter((t) => !t.hidden)
              .map((t) => t.getBoundingClientRect());
            const board = document.querySelector('.board').getBoundingClientRect();
            return tables.every((r, i) => r.right <= (i + 1 < tables.length
                                                      ? tables[i + 1].left : board.right));
        }""")
        # Each finished row carries its pass marks, as signs.
        finished = page.locator(".board-table tbody tr:has(td.status-finished)")
        expect(finished).to_have_count(FINISHED)
        for i in range(FINISHED):
            cells = finished.nth(i).locator("td.section")
            assert all(re.search(r"[✓✗]$", cells.nth(j).inner_text()) for j in range(3))
        # The room in one line.
        expect(page.locator(".board-summary")).to_have_text(
            re.compile(rf"^{SEATS - FINISHED} mengerjakan · {FINISHED} selesai · \d+ lulus$"))
        # The language switch.
        page.click(".lang-switch a[lang=en]")
        expect(page.locator(".board-summary")).to_have_text(
            re.compile(rf"^{SEATS - FINISHED} working · {FINISHED} finished · \d+ passed$"),
            timeout=WAIT_MS)
        expect(page.locator("h1")).to_have_text("Live scoreboard")
        assert errors == []
    finally:
        ctx.close()
