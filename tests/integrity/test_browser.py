"""End to end in Debian's chromium: a candidate finishes and reads their receipt code; the
site's signed results file verifies; the national merge's static page, searched for their
registration number, shows the same code."""

from __future__ import annotations

import re
import shutil

import pytest
from click.testing import CliRunner

from cat_engine.cli import cli

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT_MS = 15_000


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_receipt_shown_at_the_terminal_is_confirmed_by_verify_and_the_announcement(
        page, tmp_path, start_exam_in_terminal):
    from cat_engine.services.anchors import PUB_FILE
    from cat_engine.testing import ServerProcess, prepare_site

    site = prepare_site(tmp_path / "site", candidates=2)
    reg = site.registrations[0]
    with ServerProcess(site) as server:
        start_exam_in_terminal(page, server.url, reg, site.pins[reg], site.token)
        expect(page.locator("#item-options .option")).to_have_count(5, timeout=WAIT_MS)
        page.locator("#item-options .option").nth(1).click()
        expect(page.locator("#save-summary")).to_have_text("Tersimpan", timeout=WAIT_MS)
        page.click("#finish")
        page.click("#finish-confirm")
        expect(page.locator("#view-result")).to_be_visible(timeout=WAIT_MS)
        code = page.locator("#result-receipt-code")
        expect(code).to_have_text(re.compile(r"^[0-9A-F]{4}(-[0-9A-F]{4}){4}$"),
                                  timeout=WAIT_MS)
        receipt = code.inner_text()
    results = tmp_path / "S1.results"
    invoke("results", "export", site.session, "--out", results, "--data-dir", site.data_dir)
    verified = invoke("results", "verify", results, "--site-key", site.data_dir / PUB_FILE)
    assert "verified" in verified and "receipts, forms and answer logs" in verified

    keys = tmp_path / "site-keys"
    keys.mkdir()
    shutil.copyfile(site.data_dir / PUB_FILE, keys / "site.pub")
    formations = tmp_path / "formations.csv"
    formations.write_text("code,name,vacancies,rule_set\ngeneral,Formasi umum,1,\n")
    national = tmp_path / "national"
    invoke("results", "merge", results, "--formations", formations, "--site-keys", keys,
           "--out", national)

    page.goto((national / "index.html").as_uri())
    page.fill("#registration", reg)
    page.press("#registration", "Enter")
    card = page.locator("#result .card")
    expect(card).to_be_visible(timeout=WAIT_MS)
    expect(card.locator('[data-f="receipt"]')).to_have_text(receipt)
    expect(card.locator('[data-f="registration"]')).to_have_text(reg)
    page.fill("#registration", "TIDAK-ADA")
    page.press("#registration", "Enter")
    expect(page.locator("#result")).to_have_text("Tidak ada peserta dengan nomor ini.",
                                                 timeout=WAIT_MS)
