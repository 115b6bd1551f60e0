"""Numbered pushes in the pages (Chromium, a real server): a board or console push that the
page's snapshot already holds (it was still in the message queue when the snapshot came
straight from the server) is skipped without a needless reload, and a push of another
numbering (another server took the session over) is never applied but reloads the page's
state. The pushes are put into the page's own websocket, beside the server's."""

from __future__ import annotations

import json
import re
import time

import pytest

from cat_engine.testing import enrolled_device

from .conftest import enrol_screen, sign_in, watch_errors

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser
WAIT_MS = 15_000


class Tap:
    """The page's Socket.IO websocket, relayed: what each side sent, and a way to push."""

    def __init__(self, page, namespace: str):
        self.namespace = namespace
        self.from_page: list[str] = []
        self.from_server: list[tuple[str, dict]] = []
        self.socket = None
        self.page = page
        page.route_web_socket(re.compile(r"/socket\.io/"), self._relay)

    def _relay(self, ws) -> None:
        server = ws.connect_to_server()
        self.socket = ws

        def to_server(message) -> None:
            self.from_page.append(message if isinstance(message, str) else "")
            server.send(message)

        def to_page(message) -> None:
            prefix = f"42{self.namespace},"
            if isinstance(message, str) and message.startswith(prefix):
                event, data = json.loads(message[len(prefix):])[:2]
                self.from_server.append((event, data))
            ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)

    def numbering(self, events: tuple[str, ...], timeout: float = 10) -> tuple[int, str]:
        """The highest push number the server sent the page so far, and its epoch."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            seen = [d for e, d in self.from_server if e in events and d.get("epoch")]
            if seen:
                return max(d["seq"] for d in seen), seen[-1]["epoch"]
            self.page.wait_for_timeout(100)  # (the relay runs while Playwright is called)
        raise AssertionError(f"no numbered {events} push reached the page")

    def push(self, event: str, data: dict) -> int:
        """Send the page a push as if from the server; how many messages the page had sent."""
        sent = len(self.from_page)
        self.socket.send(f"42{self.namespace}," + json.dumps([event, data]))
        return sent

    def sent_since(self, mark: int, event: str) -> bool:
        return any(f'"{event}"' in m for m in self.from_page[mark:])


def test_the_board_skips_a_diff_it_holds_and_reloads_on_another_numbering(
        browser, server, site, working):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        enrol_screen(ctx, enrolled_device(site.prepared.database_url))
        page = ctx.new_page()
        errors = watch_errors(page)
        tap = Tap(page, "/display")
        page.goto(f"{server.url}/display/{site.prepared.session}")
        expect(page.locator(".board-table tbody tr")).to_have_count(12, timeout=WAIT_MS)
        t = working(9)
        t.seq += 1
        assert t.call("answer", {"seq": t.seq, "position": 7, "choice": 0})["ok"]
        seq, epoch = tap.numbering(("board", "board_seq"))
        row = {"id": t.cid, "label": "{}", "status": "working", "sections": None,
               "total": 99, "marks": None, "passed": None, "rank": 1, "tied": False}

        mark = tap.push("board", {"session_id": site.session_id, "seq": seq, "epoch": epoch,
                                  "rows": [{**row, "label": "STALE"}], "ranks": {}})
        page.wait_for_timeout(1500)
        assert not tap.sent_since(mark, "subscribe"), "a diff it holds made it subscribe again"
        expect(page.locator(".board-table")).not_to_contain_text("STALE")

        mark = tap.push("board", {"session_id": site.session_id, "seq": seq + 1,
                                  "epoch": "another", "rows": [{**row, "label": "FOREIGN"}],
                                  "ranks": {}})
        until = time.monotonic() + 5
        while not tap.sent_since(mark, "subscribe") and time.monotonic() < until:
            page.wait_for_timeout(100)
        assert tap.sent_since(mark, "subscribe"), "another numbering did not reload the board"
        expect(page.locator(".board-table tbody tr")).to_have_count(12, timeout=WAIT_MS)
        expect(page.locator(".board-table")).not_to_contain_text("FOREIGN")
        assert errors == []
    finally:
        ctx.close()


def test_the_console_skips_a_push_it_holds_and_reloads_on_another_numbering(
        browser, server, site, working):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        errors = watch_errors(page)
        tap = Tap(page, "/proctor")
        sign_in(page, server.url, "proc1")
        page.click(f"text={site.prepared.session}")
        expect(page.locator("#live-state")).to_have_text("Langsung", timeout=WAIT_MS)
        t = working(8)
        t.seq += 1
        assert t.call("answer", {"seq": t.seq, "position": 7, "choice": 0})["ok"]
        seat = page.locator(f".seat[data-id='{t.cid}']")
        expect(seat.locator(".seat-progress")).to_contain_text("1 dari 10", timeout=WAIT_MS)
        seq, epoch = tap.numbering(("progress", "console_seq"))
        progress = {"candidate_id": t.cid, "status": "in_progress", "connected": True,
                    "position": 9, "answered": 7, "doubtful": 0, "remaining_ms": 60_000,
                    "paused": False}

        mark = tap.push("progress", {**progress, "seq": seq, "epoch": epoch})
        page.wait_for_timeout(1500)
        assert not tap.sent_since(mark, "watch"), "a push it holds made it reload the grid"
        expect(seat.locator(".seat-progress")).to_contain_text("1 dari 10")

        mark = tap.push("progress", {**progress, "seq": seq + 1, "epoch": "another"})
        until = time.monotonic() + 5
        while not tap.sent_since(mark, "watch") and time.monotonic() < until:
            page.wait_for_timeout(100)
        assert tap.sent_since(mark, "watch"), "another numbering did not reload the grid"
        expect(seat.locator(".seat-progress")).to_contain_text("1 dari 10", timeout=WAIT_MS)
        assert errors == []
    finally:
        ctx.close()
