"""The candidate terminal in Debian's chromium against a real ``cat-engine serve`` process.

What a candidate does at a test-room PC: log in, answer with mouse and keyboard, mark an item
doubtful, lose an unsaved answer's acknowledgement, reload mid-exam, finish, and read a score
that must equal what the authored keys and weights give for what the page showed.
"""

from __future__ import annotations

import json
import re

import pytest

from cat_engine.live import messages

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

#: The small exam of cat_engine.testing: 10 items, thresholds TWK 10, TIU 10, TKP 12.
N_ITEMS = 10
THRESHOLDS = {"TWK": 10, "TIU": 10, "TKP": 12}
#: expect() waits this long for the page: the machine is shared, the server is a real process.
WAIT_MS = 15_000


def error_text(code: str, lang: str = "id") -> str:
    """The message the server sends for ``code``, from the Flask-Babel catalogue."""
    from flask import Flask

    from cat_engine.web import init_i18n

    app = Flask(__name__)
    init_i18n(app)
    with app.app_context():
        return messages.text(code, lang)


def log_in(page, server, site, index: int) -> None:
    registration = site.registrations[index]
    page.goto(f"{server.url}/terminal/")
    page.fill("#registration", registration)
    page.fill("#pin", site.pins[registration])
    page.fill("#token", site.token)
    page.press("#token", "Enter")


def start_exam(page) -> None:
    expect(page.locator("#view-confirm")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#start")).to_be_disabled()
    page.check("#rules-read")
    page.click("#start")
    expect(page.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)


def box(page, position: int):
    return page.locator(f"#box-{position}")


def wait_all_saved(page, word: str = "Tersimpan") -> None:
    expect(page.locator("#save-summary")).to_have_text(word, timeout=WAIT_MS)
    assert journal_ops(page) == []


def journal_ops(page) -> list[dict]:
    """The unacknowledged operations the page keeps in localStorage."""
    raw = page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.startsWith('cat.terminal.journal:'))"
        ".map(k => localStorage.getItem(k))"
    )
    return [op for entry in raw for op in json.loads(entry)["ops"]]


def shown(page) -> tuple[str, list[str]]:
    """The current item's stem and option texts as the candidate sees them."""
    stem = page.inner_text("#item-stem").strip()
    options = [t.strip() for t in page.locator("#item-options .option-html").all_inner_texts()]
    return stem, options


def go_to(page, position: int) -> None:
    """Click a box of the grid and wait for its item."""
    box(page, position).click()
    expect(page.locator("#item-heading")).to_have_text(
        f"Soal {position + 1} dari {N_ITEMS}", timeout=WAIT_MS)
    expect(page.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)


def expect_choice(page, position: int, choice: int | None, doubtful: bool) -> None:
    """The grid box and, for the current item, the option buttons show this state."""
    target = box(page, position)
    if choice is None:
        expect(target).not_to_have_class(re.compile(r"\banswered\b"), timeout=WAIT_MS)
    else:
        expect(target).to_have_class(re.compile(r"\banswered\b"), timeout=WAIT_MS)
        expect(target.locator(".mark")).to_have_text("ABCDE"[choice])
    pattern = re.compile(r"\bdoubtful\b")
    if doubtful:
        expect(target).to_have_class(pattern)
    else:
        expect(target).not_to_have_class(pattern)


def score_of(bank, answers: dict[int, tuple[str, str]]) -> dict[str, float]:
    """Section scores from the authored items for {position: (stem, chosen option text)}."""
    by_stem = {item.stem: item for item in bank}
    scores = {section: 0.0 for section in THRESHOLDS}
    for stem, option_text in answers.values():
        item = by_stem[stem]
        label = next(lab for lab, text in item.options.items() if text == option_text)
        scores[item.section] += item.option_points(5, 0)[label]
    return scores


def test_candidate_answers_reloads_finishes_and_reads_the_score(
    page, server, site, seats, fixture_bank
):
    index = next(seats)
    page.goto(f"{server.url}/terminal/")
    # An English browser still gets the candidates' language.
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.locator("#login-heading")).to_have_text("Masuk peserta")
    log_in(page, server, site, index)
    expect(page.locator("#candidate-name")).to_have_text(f"Peserta {index + 1}", timeout=WAIT_MS)
    # The formation in words, not the exam file's key ("general").
    expect(page.locator("#candidate-formation")).to_have_text("Formasi umum")
    start_exam(page)
    expect(page.locator("#item-heading")).to_have_text(f"Soal 1 dari {N_ITEMS}")
    expect(page.locator("#clock")).to_have_text(re.compile(r"^\d\d:\d\d$"))

    answers: dict[int, tuple[str, str]] = {}

    def remember(position: int, choice: int) -> None:
        stem, options = shown(page)
        answers[position] = (stem, options[choice])

    # Item 1 with the mouse.
    page.locator("#item-options .option").nth(1).click()
    expect(page.locator("#item-options .option").nth(1)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#item-save")).to_have_text("Tersimpan", timeout=WAIT_MS)
    remember(0, 1)
    expect_choice(page, 0, 1, doubtful=False)

    # Item 2 with the keyboard: arrow, a letter, and R for ragu-ragu.
    page.keyboard.press("ArrowRight")
    expect(page.locator("#item-heading")).to_have_text(f"Soal 2 dari {N_ITEMS}", timeout=WAIT_MS)
    expect(page.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)
    page.keyboard.press("c")
    page.keyboard.press("r")
    expect(page.locator("#doubtful")).to_have_attribute("aria-pressed", "true")
    remember(1, 2)

    # Item 3 with a digit, item 6 doubtful without an answer (Shift+D), item 4 set and cleared.
    page.keyboard.press("ArrowRight")
    expect(page.locator("#item-heading")).to_have_text(f"Soal 3 dari {N_ITEMS}", timeout=WAIT_MS)
    expect(page.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)
    page.keyboard.press("5")
    remember(2, 4)
    go_to(page, 5)
    page.keyboard.press("Shift+D")
    go_to(page, 3)
    page.keyboard.press("e")
    expect_choice(page, 3, 4, doubtful=False)
    page.keyboard.press("Delete")
    # Item 8 (TKP) by the grid and the mouse.
    go_to(page, 7)
    page.locator("#item-options .option").nth(3).click()
    remember(7, 3)
    wait_all_saved(page)

    expected = {0: (1, False), 1: (2, True), 2: (4, False), 3: (None, False), 5: (None, True),
                7: (3, False)}
    for position, (choice, doubtful) in expected.items():
        expect_choice(page, position, choice, doubtful)

    # Item text stays in memory: nothing of an item is left in the browser's storage.
    stored = page.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    for stem, option_text in answers.values():
        assert stem not in stored and option_text not in stored

    # Reload mid-exam: back on item 8 with every answer and mark, and a running clock.
    page.reload()
    expect(page.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#item-heading")).to_have_text(f"Soal 8 dari {N_ITEMS}", timeout=WAIT_MS)
    expect(page.locator("#item-options .option").nth(3)).to_have_attribute(
        "aria-pressed", "true", timeout=WAIT_MS)
    for position, (choice, doubtful) in expected.items():
        expect_choice(page, position, choice, doubtful)
    assert shown(page)[0] == answers[7][0]
    expect(page.locator("#clock")).to_have_text(re.compile(r"^0\d:\d\d$"))

    # Finish: the dialog counts what is open, cancelling changes nothing, confirming scores.
    page.click("#finish")
    dialog = page.locator("#finish-dialog")
    expect(dialog).to_be_visible()
    unanswered = N_ITEMS - len(answers)
    expect(page.locator("#finish-summary")).to_have_text(
        f"Soal belum dijawab: {unanswered}. Soal ditandai ragu-ragu: 2.")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#view-exam")).to_be_visible()
    page.click("#finish")
    page.click("#finish-confirm")
    expect(page.locator("#view-result")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#result-reason")).to_have_text("Anda telah menyelesaikan ujian.")

    scores = score_of(fixture_bank, answers)
    rows = page.locator("#result-rows tr")
    expect(rows).to_have_count(3)
    for i, section in enumerate(("TWK", "TIU", "TKP")):
        cells = rows.nth(i).locator("th, td").all_inner_texts()
        passed = scores[section] >= THRESHOLDS[section]
        assert cells[0] == section
        assert float(cells[1]) == scores[section]
        assert float(cells[3]) == THRESHOLDS[section]
        assert cells[4].endswith("Lulus" if passed else "Tidak lulus")
    page_total = page.inner_text("#result-total")
    assert float(page_total) == sum(scores.values())
    all_passed = all(scores[s] >= THRESHOLDS[s] for s in THRESHOLDS)
    expect(page.locator("#result-verdict")).to_have_text("LULUS" if all_passed else "TIDAK LULUS")
    expect(page.locator("#result-caption")).to_have_text("Aturan kelulusan: Formasi umum")

    # Nothing of the exam stays on the PC: no journal, no credentials; a reload shows the login.
    assert journal_ops(page) == []
    assert page.evaluate("() => sessionStorage.length") == 0
    page.reload()
    expect(page.locator("#view-result")).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#view-login")).to_be_visible()
    # Logging in again (same PC) shows the stored result; the button clears it for the next one.
    log_in(page, server, site, index)
    expect(page.locator("#result-total")).to_have_text(page_total, timeout=WAIT_MS)
    page.click("#result-done")
    expect(page.locator("#view-login")).to_be_visible()
    expect(page.locator("#registration")).to_have_value("")


def test_an_answer_whose_ack_is_lost_is_resent_after_a_reload(page, server, site, seats):
    """The server never sees the answer before the reload; the page's journal delivers it."""
    index = next(seats)
    dropping = {"on": False}
    dropped: list[str] = []

    def relay(ws) -> None:
        upstream = ws.connect_to_server()

        def to_server(message) -> None:
            if dropping["on"] and isinstance(message, str) and '"answer"' in message:
                dropped.append(message)
                return
            upstream.send(message)

        ws.on_message(to_server)

    page.route_web_socket(re.compile(r"/socket\.io/"), relay)
    log_in(page, server, site, index)
    start_exam(page)
    # Socket.IO starts on HTTP long-polling and then moves to a websocket, which the relay
    # sees; the first answer goes through and proves the upgrade happened.
    page.keyboard.press("a")
    expect(page.locator("#item-save")).to_have_text("Tersimpan", timeout=WAIT_MS)

    dropping["on"] = True
    page.keyboard.press("b")
    expect(page.locator("#item-save")).to_have_text("Menyimpan…")
    expect(box(page, 0)).to_have_class(re.compile(r"\bsaving\b"))
    for _ in range(100):
        if dropped:
            break
        page.wait_for_timeout(50)
    assert dropped, "the answer went out over the websocket and was dropped"
    assert [op["payload"]["choice"] for op in journal_ops(page)] == [1]

    dropping["on"] = False
    page.reload()
    expect(page.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
    expect_choice(page, 0, 1, doubtful=False)
    wait_all_saved(page)
    # Another reload shows only what the server holds (the journal is empty now).
    page.reload()
    expect(page.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#item-options .option").nth(1)).to_have_attribute(
        "aria-pressed", "true", timeout=WAIT_MS)
    expect_choice(page, 0, 1, doubtful=False)


def test_language_switch_shows_english_everywhere(page, server, site, seats):
    index = next(seats)
    page.goto(f"{server.url}/terminal/")
    page.click("text=English")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#login-heading")).to_have_text("Candidate login")
    # The server's own messages follow the page's language.
    registration = site.registrations[index]
    page.fill("#registration", registration)
    page.fill("#pin", "wrong")
    page.fill("#token", site.token)
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text(error_text("bad_credentials", "en"),
                                                      timeout=WAIT_MS)
    log_in(page, server, site, index)
    expect(page.locator("#confirm-heading")).to_have_text("Check your identity", timeout=WAIT_MS)
    start_exam(page)
    expect(page.locator("#item-heading")).to_have_text(f"Item 1 of {N_ITEMS}")
    expect(box(page, 0)).to_have_attribute("aria-label", "Item 1: not answered")
    page.click("#finish")
    expect(page.locator("#finish-summary")).to_have_text(
        f"Unanswered items: {N_ITEMS}. Items marked doubtful: 0.")
    page.click("#finish-cancel")
    # And back: the switch is remembered per PC and the exam resumes in Indonesian.
    page.click("text=Bahasa Indonesia")
    expect(page.locator("#item-heading")).to_have_text(f"Soal 1 dari {N_ITEMS}", timeout=WAIT_MS)


def test_a_second_terminal_is_refused_until_released(browser, page, server, site, seats):
    index = next(seats)
    log_in(page, server, site, index)
    expect(page.locator("#view-confirm")).to_be_visible(timeout=WAIT_MS)
    other = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        second = other.new_page()
        log_in(second, server, site, index)
        expect(second.locator("#login-error")).to_have_text(
            error_text("already_active"), timeout=WAIT_MS)
        expect(second.locator("#view-login")).to_be_visible()
    finally:
        other.close()


def test_text_size_is_adjustable_and_remembered(page, server):
    page.goto(f"{server.url}/terminal/")
    size = "() => parseFloat(getComputedStyle(document.documentElement).fontSize)"
    before = page.evaluate(size)
    page.click("#font-up")
    page.click("#font-up")
    bigger = page.evaluate(size)
    assert bigger > before
    page.reload()
    expect(page.locator("#login-heading")).to_be_visible()
    assert page.evaluate(size) == bigger
    page.click("#font-down")
    assert page.evaluate(size) < bigger


def test_answers_made_while_the_network_is_down_arrive_after_it_returns(page, server, site,
                                                                       seats):
    """No reload: the page notices the drop, keeps working from memory, and catches up."""
    index = next(seats)
    network = {"up": True}
    sockets = []

    def relay(ws) -> None:
        if not network["up"]:
            ws.close()
            return
        sockets.append(ws)
        ws.connect_to_server()

    # Socket.IO reconnects over HTTP long-polling first: cut that path too.
    page.route(re.compile(r"/socket\.io/"),
               lambda route: route.continue_() if network["up"] else route.abort())
    page.route_web_socket(re.compile(r"/socket\.io/"), relay)
    log_in(page, server, site, index)
    start_exam(page)
    page.keyboard.press("a")
    expect(page.locator("#item-save")).to_have_text("Tersimpan", timeout=WAIT_MS)
    assert sockets, "the page talks over a websocket"

    network["up"] = False
    for ws in sockets:
        ws.close()
    expect(page.locator("#banner")).to_have_text(
        re.compile("^Koneksi ke server ujian terputus"), timeout=WAIT_MS)
    page.keyboard.press("c")
    page.keyboard.press("r")
    expect(page.locator("#item-save")).to_have_text("Menyimpan…")
    expect(page.locator("#save-summary")).to_have_text("Belum tersimpan: 2")
    assert [op["event"] for op in journal_ops(page)] == ["answer", "flag"]

    network["up"] = True
    expect(page.locator("#save-summary")).to_have_text("Tersimpan", timeout=WAIT_MS)
    expect(page.locator("#banner")).not_to_have_text(re.compile("terputus"))
    assert journal_ops(page) == []
    page.reload()
    expect(page.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
    expect_choice(page, 0, 2, doubtful=True)


def test_a_released_candidate_resumes_on_a_spare_pc(browser, page, server, site, seats):
    """A PC fails: the proctor releases it, the candidate goes on at another one."""
    from cat_engine.services import sessions
    from cat_engine.store import Store

    index = next(seats)
    log_in(page, server, site, index)
    start_exam(page)
    page.keyboard.press("b")
    go_to(page, 4)
    page.keyboard.press("d")
    page.keyboard.press("r")
    wait_all_saved(page)

    store = Store(site.database_url)
    try:
        sessions.release_terminal(store, site.session, site.registrations[index], "PC mati")
    finally:
        store.close()

    spare_pc = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        spare = spare_pc.new_page()
        log_in(spare, server, site, index)
        # Straight back into the exam, on the same item, with the same answers and marks.
        expect(spare.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
        expect(spare.locator("#item-heading")).to_have_text(f"Soal 5 dari {N_ITEMS}",
                                                            timeout=WAIT_MS)
        expect_choice(spare, 0, 1, doubtful=False)
        expect_choice(spare, 4, 3, doubtful=True)
        expect(spare.locator("#clock")).to_have_text(re.compile(r"^0\d:\d\d$"))
        # The first PC is told, and shows the login again.
        expect(page.locator("#banner")).to_contain_text("dilepas oleh pengawas",
                                                        timeout=WAIT_MS)
        expect(page.locator("#view-login")).to_be_visible()
        # The spare PC has no journal of its own: its new changes must still count.
        spare.keyboard.press("e")
        wait_all_saved(spare)
        spare.reload()
        expect(spare.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
        expect_choice(spare, 4, 4, doubtful=True)
    finally:
        spare_pc.close()


def test_a_second_tab_takes_over_and_the_first_one_steps_aside(context, page, server, site,
                                                               seats):
    """Same PC (same terminal id), two tabs: the newer one works, the older one stops."""
    index = next(seats)
    log_in(page, server, site, index)
    start_exam(page)
    newer = context.new_page()
    log_in(newer, server, site, index)
    expect(newer.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#banner")).to_have_text(error_text("replaced"), timeout=WAIT_MS)
    # The key works once the item is drawn (under load the view shows before its options).
    expect(newer.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)
    # The old tab does not log in again behind the new one's back.
    newer.keyboard.press("c")
    wait_all_saved(newer)
    newer.reload()
    expect(newer.locator("#view-exam")).to_be_visible(timeout=WAIT_MS)
    expect_choice(newer, 0, 2, doubtful=False)
    expect(newer.locator("#banner")).to_be_hidden()
    expect(page.locator("#banner")).to_have_text(error_text("replaced"))


def test_a_candidate_not_yet_admitted_waits_for_the_proctor(page, tmp_path):
    from cat_engine.testing import ServerProcess, prepare_site

    site = prepare_site(tmp_path / "admission", candidates=1, auto_admit=False)
    with ServerProcess(site) as server:
        log_in(page, server, site, 0)
        expect(page.locator("#view-confirm")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#candidate-name")).to_have_text("Peserta 1")
        expect(page.locator("#waiting-box")).to_have_text(
            "Menunggu pengawas mengizinkan Anda masuk…")
        expect(page.locator("#start")).to_be_hidden()
        # A reload keeps the candidate waiting, logged in, without typing again.
        page.reload()
        expect(page.locator("#waiting-box")).to_be_visible(timeout=WAIT_MS)
