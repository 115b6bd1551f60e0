"""The documentation screenshots of the proctor console and the public board
(docs/screenshots/proctor-*.png and display-*.png).

Run only on request, so a test run never rewrites tracked files:

    CAT_ENGINE_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/proctor/test_screenshots.py

The scene is a real SKD session (110 items from the Indonesian demo bank) with 36 candidates
driven over the /candidate protocol: most working, some finished, one paused, one
disqualified, two disconnected, a few still waiting at the door.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from cat_engine.testing import enrolled_device

from .conftest import PASSWORDS, Client, enrol_screen, watch_errors

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

TARGET = os.environ.get("CAT_ENGINE_SCREENSHOTS")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not TARGET, reason="set CAT_ENGINE_SCREENSHOTS=<dir> to take them"),
]
SIZES = {"1920x1080": (1920, 1080), "1280x800": (1280, 800)}
WAIT_MS = 20_000
SESSION = "SKD-PAGI-R1"
SESSION2 = "SKD-PAGI-R2"
#: The board scrolls slowly through rows that do not fit; pictures start at the top.
TOP = "document.querySelectorAll('.board-scroll').forEach(n => { n.scrollTop = 0; })"
PASSPHRASE = "frasa sandi demo"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from cat_engine.demo import demo_name
    from cat_engine.services import sessions, users
    from cat_engine.services.runtime import BankKey
    from cat_engine.store import Store
    from cat_engine.testing import PASSPHRASE_ENV, ServerProcess
    from item_bank.catbank import Argon2Params, write_bank
    from item_bank.demo import generate_demo_items

    data_dir = tmp_path_factory.mktemp("screens")
    bank = data_dir / "demo.catbank"
    write_bank(generate_demo_items(220, seed=4), bank, bank_id="demo-skd", version=1,
               passphrases=[PASSPHRASE],
               kdf=Argon2Params(time_cost=1, memory_kib=8192, parallelism=1))
    store = Store(f"sqlite:///{data_dir / 'cat-engine.sqlite3'}")
    row = sessions.create_session(store, name=SESSION, exam_source="skd", bank_path=bank,
                                  room="Ruang 1", time="07:30", auto_admit=True,
                                  settings={"public_names": True})
    rows = [sessions.RosterRow(
        f"2408{1200450 + n * 37:07d}", demo_name(n),
        "1998-05-17", "general", {}, None, f"{4000 + n}") for n in range(36)]
    pins = dict(sessions.add_candidates(store, row.id, rows))
    sessions.open_session(store, SESSION, BankKey(PASSPHRASE))
    # A second room of the same session time, for the site-wide board.
    row2 = sessions.create_session(store, name=SESSION2, exam_source="skd", bank_path=bank,
                                   room="Ruang 2", time="07:30", auto_admit=True)
    rows2 = [sessions.RosterRow(
        f"2408{1300450 + n * 41:07d}", demo_name(n + 40),
        "1999-02-11", "general", {}, None, f"{5000 + n}") for n in range(24)]
    pins2 = dict(sessions.add_candidates(store, row2.id, rows2))
    sessions.open_session(store, SESSION2, BankKey(PASSPHRASE))
    users.add_user(store, "proc1", PASSWORDS["proc1"])
    users.assign(store, "proc1", row.id)
    store.close()
    env = {**os.environ, PASSPHRASE_ENV: PASSPHRASE}
    server = ServerProcess(data_dir=data_dir, env=env, args=["--passphrase-env", PASSPHRASE_ENV])
    with server:
        terminals = drive(server.url, row.token, pins)
        terminals += drive(server.url, row2.token, pins2, working=20, finished=2)
        yield server, row
        for t in terminals:
            t.close()


def drive(url: str, token: str, pins: dict[str, str], *, working: int = 30,
          finished: int = 4) -> list[Client]:
    """Play the room: candidates at work, at different speeds and fortunes; the first few
    finish, the last two lose their connection."""
    rng = random.Random(len(pins))
    terminals = []
    for n, (registration, pin) in enumerate(list(pins.items())[:working]):
        t = Client(url, "/candidate").connect()
        t.call("login", {"registration": registration, "pin": pin, "token": token,
                         "terminal": f"PC-{n + 1:02d}"})
        t.call("start")
        # At most 55 answers each: a terminal's flood limit allows a burst of 60 messages.
        answered = rng.randint(12, 55) if n >= finished else 55
        positions = sorted(rng.sample(range(110), answered))
        skill = rng.random()
        for seq, position in enumerate(positions, start=1):
            choice = 0 if rng.random() < skill * 0.6 else rng.randint(0, 4)
            t.call("answer", {"seq": seq, "position": position, "choice": choice})
        if n < finished:
            t.call("finish", {"seq": answered + 1})
        terminals.append(t)
    for t in terminals[-2:]:  # two PCs lose their connection
        t.close()
    return terminals[:-2]


def console_page(browser, server, size):
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = ctx.new_page()
    page.goto(f"{server.url}/proctor/login")
    page.fill("#username", "proc1")
    page.fill("#password", PASSWORDS["proc1"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/proctor/")
    return ctx, page


def test_console_and_board_screenshots(browser, scene):
    server, row = scene
    out = Path(TARGET)
    out.mkdir(parents=True, exist_ok=True)
    first = True
    for name, size in SIZES.items():
        ctx, page = console_page(browser, server, size)
        errors = watch_errors(page)
        page.screenshot(path=str(out / f"proctor-sessions-{name}.png"))
        page.goto(f"{server.url}/proctor/session/{row.id}")
        expect(page.locator(".seat")).to_have_count(36, timeout=WAIT_MS)
        if first:  # actions seen in the pictures: a pause, a disqualification, an incident
            act(page, 5, "pause", "Peserta izin ke toilet")
            act(page, 6, "disqualify", "Membawa ponsel ke dalam ruangan")
            act(page, 8, "finish", "Peserta sakit, minta mengakhiri ujian")
            page.fill("#incident-text", "07.52 listrik di Ruang 1 padam 3 menit; UPS bekerja.")
            page.click("#incident-form button[type=submit]")
            time.sleep(0.5)
            first = False
        page.locator(".seat").nth(7).click()
        page.evaluate("document.querySelector('.side-panel').scrollTop = 0")
        page.screenshot(path=str(out / f"proctor-console-{name}.png"))
        page.goto(f"{server.url}/proctor/session/{row.id}/results")
        page.screenshot(path=str(out / f"proctor-results-{name}.png"))
        page.goto(f"{server.url}/proctor/session/{row.id}/incidents")
        page.screenshot(path=str(out / f"proctor-incidents-{name}.png"))
        assert errors == []
        ctx.close()

        ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
        enrol_screen(ctx, enrolled_device(f"sqlite:///{server.data_dir / 'cat-engine.sqlite3'}"))
        page = ctx.new_page()
        errors = watch_errors(page)
        page.goto(f"{server.url}/display/{SESSION}")
        expect(page.locator(".board-table tbody tr")).to_have_count(36, timeout=WAIT_MS)
        time.sleep(1.5)  # let the row highlight fade
        page.evaluate(TOP)
        page.screenshot(path=str(out / f"display-board-{name}.png"))
        page.goto(f"{server.url}/display/?layout=side")
        expect(page.locator(".board")).to_have_count(2, timeout=WAIT_MS)
        expect(page.locator(".board-table tbody tr")).to_have_count(60, timeout=WAIT_MS)
        time.sleep(0.5)
        page.evaluate(TOP)
        page.screenshot(path=str(out / f"display-site-{name}.png"))
        assert errors == []
        ctx.close()


def act(page, index: int, action: str, reason: str) -> None:
    page.locator(".seat").nth(index).click()
    page.click(f"#selected-bar [data-action={action}]")
    page.fill("#action-reason", reason)
    page.click("#action-confirm")
    expect(page.locator("#action-dialog")).not_to_be_visible(timeout=WAIT_MS)
