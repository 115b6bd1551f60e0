"""The session report: `cat-engine report` on a finished session, its errors, and the page
the proctor console links to for a closed session."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from cat_engine.services import sessions
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.testing import PASSPHRASE_ENV
from tests.adaptive.conftest import log_in_and_start

CANDIDATES = 6


def _take_exam(site: Site, files, index: int) -> dict:
    cand, sheet = log_in_and_start(site, files, index)
    seq = 1
    for section in sheet["sections"]:
        adaptive = "adaptive" in section
        for k in range(section["count"]):
            position = section["first"] + k
            if adaptive and cand.score_sheet.info(section["name"])["done"]:
                break
            if not adaptive and (k + index) % 4 == 3:
                continue  # some blanks in fixed sections
            item = site.get_item(cand, position).reply
            choice = (index * 3 + k * (index + 1)) % len(item["options"])
            site.answer(cand, seq=seq, position=position, choice=choice)
            seq += 1
    return site.finish(cand, seq=seq).reply["result"]


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def closed_site(tmp_path_factory, adaptive_site_factory):
    """An adaptive exam taken to the end by every candidate (varied answers), then closed."""
    files = adaptive_site_factory(tmp_path_factory.mktemp("report"), CANDIDATES)
    store = Store(files.database_url)
    try:
        site = Site(store, keys=[BankKey(files.passphrase)])
        results = [_take_exam(site, files, i) for i in range(CANDIDATES)]
        sessions.set_state(store, files.session, "closed")
    finally:
        store.close()
    return files, results


def test_report_command_writes_one_self_contained_html_file(closed_site, tmp_path):
    files, results = closed_site
    assert len({r["total"] for r in results}) > 1  # the answers really differ
    out = tmp_path / "report.html"
    ran = _run("report", files.session, "--out", str(out), "--data-dir", str(files.data_dir),
               "--passphrase-env", PASSPHRASE_ENV, env={PASSPHRASE_ENV: files.passphrase})
    assert ran.exit_code == 0, ran.output
    html = out.read_text(encoding="utf-8")
    for section in ("TWK", "TIU", "TKP"):
        assert f"<h2>Subtes: {section}</h2>" in html
    assert html.count("Sebaran skor") >= 3  # a score histogram per section
    assert "<h3>Fungsi informasi tes</h3>" in html  # the adaptive section's information
    assert "<h2>Tingkat keterpaparan butir</h2>" in html
    assert "Mini SKD: S1" in html
    # Self-contained: plots inline, nothing fetched, no script.
    assert html.count('src="data:image/png;base64,') >= 5
    assert not re.search(r'(src|href)="(?!data:)', html) and "<script" not in html
    # Every administered TIU item is a column; items never given are not.
    assert re.search(r"<td class=l>TIU-\d{3}</td>", html)


def test_report_in_english(closed_site, tmp_path):
    files, _ = closed_site
    out = tmp_path / "report-en.html"
    ran = _run("report", files.session, "--out", str(out), "--lang", "en", "--data-dir",
               str(files.data_dir), "--passphrase-env", PASSPHRASE_ENV,
               env={PASSPHRASE_ENV: files.passphrase})
    assert ran.exit_code == 0, ran.output
    html = out.read_text(encoding="utf-8")
    assert "<h2>Section: TIU</h2>" in html and "Test information function" in html


@pytest.mark.parametrize("case", ["no key", "wrong key", "no session", "no data dir"])
def test_report_errors_are_one_clear_line(closed_site, tmp_path, case):
    files, _ = closed_site
    out = tmp_path / "r.html"
    args = ["report", files.session, "--out", str(out), "--data-dir", str(files.data_dir),
            "--passphrase-env", PASSPHRASE_ENV]
    env = {PASSPHRASE_ENV: files.passphrase}
    expected = {"no key": "needs the bank's key", "wrong key": "bank ",
                "no session": "no session 'S9'", "no data dir": "no data directory"}[case]
    if case == "no key":
        args = args[:-2]
    elif case == "wrong key":
        env = {PASSPHRASE_ENV: "not the passphrase"}
    elif case == "no session":
        args[1] = "S9"
    else:
        args[5] = str(tmp_path / "missing")
    ran = _run(*args, env=env)
    assert ran.exit_code == 2
    assert ran.output.startswith("error: ") and expected in ran.output
    assert "Traceback" not in ran.output and not out.exists()


def test_report_page_for_a_closed_session_only(closed_site, tmp_path):
    from cat_engine.app import create_app
    from cat_engine.services import users

    files, _ = closed_site
    app = create_app({"DATA_DIR": str(files.data_dir), "BANK_PASSPHRASE": files.passphrase,
                      "ASYNC_MODE": "threading", "START_BACKGROUND": False})
    site = app.extensions["cat_engine"]
    assigned = users.add_user(site.store, "proc9", "proctor password 9", "proctor")
    users.assign(site.store, "proc9", 1)
    other = users.add_user(site.store, "proc8", "proctor password 8", "proctor")
    try:
        web = app.test_client()
        assert web.get("/reports/session/1").status_code == 302  # sign in first
        with web.session_transaction() as cookie:
            # A signed-in session carries its account's epoch (issue 11: log-out everywhere).
            cookie["uid"], cookie["epoch"] = other.id, other.session_epoch
        assert web.get("/reports/session/1").status_code == 403  # not this proctor's room
        with web.session_transaction() as cookie:
            cookie["uid"], cookie["epoch"] = assigned.id, assigned.session_epoch
        listing = web.get("/proctor/?date=all")
        assert 'href="/reports/session/1"' in listing.text  # the console links a closed session
        page = web.get("/reports/session/1")
        assert page.status_code == 200, page.text[:300]
        assert "<h3>Fungsi informasi tes</h3>" in page.text
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert "Test information function" in web.get("/reports/session/1?lang=en").text

        sessions.set_state(site.store, files.session, "open")
        site.session(1, refresh=True)
        app.extensions["cat_engine_reports"].clear()
        refused = web.get("/reports/session/1")
        assert refused.status_code == 409 and "ditutup" in refused.text
        assert 'href="/reports/session/1"' not in web.get("/proctor/?date=all").text
    finally:
        sessions.set_state(site.store, files.session, "closed")
        site.store.close()
