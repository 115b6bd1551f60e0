"""The printed records of a whole session, as a proctor signs them: the berita acara (PDF, page,
CSV) and the results (page, CSV, PDF) after a session with an extension, a settings change, a
finish with a reason, a disqualification, a server restart and an absent candidate."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from cat_engine.testing import ServerProcess, prepare_site

from .conftest import PASSWORDS, Client, sign_in, watch_errors, web_login

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

FINISH_REASON = "Peserta sakit, minta mengakhiri ujian"
#: Long enough to run off a fixed-width column: every word must still be printed.
DISQUALIFY_REASON = ("Membawa ponsel ke dalam ruangan dan memotret layar soal nomor 12; ponsel "
                     "disita, peserta dikeluarkan dari ruangan, kejadian disaksikan dua pengawas "
                     "dan petugas keamanan, server dinyalakan ulang, semua jawaban tersimpan")
#: Audit codes that must never reach the printed record.
RAW_CODES = ("session_open", "token_rotate", "refused_login", "extend", "settings", "finish",
             "disqualify", "outage", "proctor:", "system")


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """The session played to its end; yields (server, prepared, session id)."""
    from cat_engine.services import sessions, users
    from cat_engine.store import Store

    prepared = prepare_site(tmp_path_factory.mktemp("records"), candidates=5)
    store = Store(prepared.database_url)
    session_id = sessions.find_session(store, prepared.session).id
    for name in ("proc1", "proc2"):
        users.add_user(store, name, PASSWORDS[name], "proctor")
        users.assign(store, name, session_id)
    store.close()
    server = ServerProcess(prepared, env={**prepared.env(), "CAT_ENGINE_SITE_NAME":
                                          "SMAN 1 Jakarta"}).start()
    terminals = []
    try:
        console = Client(server.url, "/proctor", {"Cookie": _cookie(web_login(
            server.url, "proc1"))}).connect()
        ids = {s["registration"]: s["id"] for s in console.call(
            "watch", {"session_id": session_id})["seats"]}
        for index in range(4):  # the fifth candidate never comes
            t = Client(server.url, "/candidate").connect()
            assert t.call("login", prepared.login(index))["ok"]
            assert t.call("start")["ok"]
            terminals.append(t)
        assert terminals[0].call("answer", {"seq": 1, "position": 0, "choice": 0})["ok"]
        reg = prepared.registrations

        def act(event, index, reason, **extra):
            reply = console.call(event, {"candidate_id": ids[reg[index]], "reason": reason,
                                         **extra})
            assert reply["ok"], reply

        act("extend", 0, "Komputer macet 10 menit", minutes=10)
        assert console.call("settings", {"session_id": session_id, "public_names": True,
                                         "reason": "Diminta panitia"})["ok"]
        act("finish", 1, FINISH_REASON)
        act("disqualify", 2, DISQUALIFY_REASON)
        console.close()
        for t in terminals:
            t.close()
        terminals = []
        server.kill()  # a power cut: the restart records the outage
        time.sleep(2.5)
        server = ServerProcess(prepared, port=server.port, env=server.env).start()
        yield server, prepared, session_id
    finally:
        for t in terminals:
            t.close()
        server.stop()


def _cookie(web) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in web.cookies)


def pdf_text(content: bytes, tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def words_in(text: str, sentence: str) -> bool:
    """Every word of the sentence, in order, in the (wrapped, column-laid) text."""
    at = 0
    for word in sentence.split():
        found = text.find(word, at)
        if found < 0:
            return False
        at = found + len(word)
    return True


def test_the_berita_acara_pdf_is_a_record_a_proctor_signs(played, tmp_path):
    server, _prepared, session_id = played
    web = web_login(server.url, "proc1")
    url = f"{server.url}/proctor/session/{session_id}/incidents"
    reply = web.get(url, params={"format": "pdf"}, timeout=60)
    assert reply.headers["Content-Type"] == "application/pdf"
    text = pdf_text(reply.content, tmp_path, "ba-id.pdf")
    flat = " ".join(text.split())
    # The header: site, room, session, date, proctors.
    assert "BERITA ACARA" in text
    for field in ("Lokasi", "SMAN 1 Jakarta", "Ruang", "Sesi", "S1", "Tanggal", "Pengawas",
                  "proc1, proc2"):
        assert field in text, field
    assert "5 terdaftar, 4 hadir, 1 tidak hadir" in flat
    # Numbered entries in human wording with every detail, no raw code.
    assert re.search(r"^\s*1\s", text, re.M) and re.search(r"^\s*6\s", text, re.M)
    assert words_in(flat, "Waktu ditambah 10 menit. Alasan: Komputer macet 10 menit")
    assert words_in(flat, "nama di papan publik: ditampilkan")
    assert words_in(flat, "Pengawas mengakhiri ujian") and words_in(flat, FINISH_REASON)
    assert words_in(flat, "Didiskualifikasi") and words_in(flat, DISQUALIFY_REASON)
    # The outage with its credited time (two candidates were still working).
    assert words_in(flat, "Server tidak berjalan dari")
    assert words_in(flat, "detik); waktu itu ditambahkan kepada 2 peserta")
    for code in RAW_CODES:
        assert code not in text, code
    # Signature blocks for both proctors.
    assert text.count("NIP") >= 3 and "Pengawas 1" in text and "Pengawas 2" in text
    assert "Koordinator lokasi" in text
    # The same record in English.
    english = pdf_text(web.get(url, params={"format": "pdf", "lang": "en"}, timeout=60).content,
                       tmp_path, "ba-en.pdf")
    flat_en = " ".join(english.split())
    assert words_in(flat_en, "Time extended by 10 minutes")
    assert words_in(flat_en, "The proctor ended the exam")
    assert "Berita" not in english.replace("(berita acara)", "")
    # The CSV keeps the reason of the finish (not "proctor").
    csv_text = web.get(url, params={"format": "csv"}, timeout=10).text
    assert FINISH_REASON in csv_text


def test_the_berita_acara_page_reads_in_words(played, browser):
    server, _prepared, session_id = played
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        errors = watch_errors(page)
        sign_in(page, server.url, "proc1")
        page.goto(f"{server.url}/proctor/session/{session_id}/incidents")
        rows = page.locator(".record-table tbody tr")
        expect(rows.first).to_be_visible()
        finish = page.locator(".record-table tr[data-action=finish]")
        expect(finish).to_contain_text(FINISH_REASON)
        expect(finish).to_contain_text("Pengawas proc1")
        expect(page.locator(".record-table tr[data-action=outage]")).to_contain_text(
            "Server tidak berjalan")
        body = page.locator(".record-table").inner_text()
        for code in ("session_open", "token_rotate", "extend", "proctor:"):
            assert code not in body
        expect(page.locator(".signature")).to_have_count(3)  # two proctors, the coordinator
        assert errors == []
    finally:
        ctx.close()


def test_absent_candidates_are_listed_as_absent_not_ranked(played, browser, tmp_path):
    server, prepared, session_id = played
    absent = prepared.registrations[4]
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        sign_in(page, server.url, "proc1")
        page.goto(f"{server.url}/proctor/session/{session_id}/results")
        row = page.locator("tbody tr", has_text=absent)
        expect(row).to_contain_text("Tidak hadir")
        assert row.locator("td").first.inner_text().strip() == "–"
        expect(page.locator("tbody tr").last).to_contain_text("Didiskualifikasi")
        expect(page.locator("tbody tr").first).to_contain_text("Formasi umum")
    finally:
        ctx.close()
    web = web_login(server.url, "proc1")
    url = f"{server.url}/proctor/session/{session_id}/results"
    rows = web.get(url, params={"format": "csv"}, timeout=10).text.lstrip("\ufeff").splitlines()
    line = next(r for r in rows if absent in r)
    assert line.startswith(",") and ",absent," in line
    text = pdf_text(web.get(url, params={"format": "pdf"}, timeout=60).content, tmp_path,
                    "results.pdf")
    assert "Formasi" in text and "Formasi umum" in text
    line = next(r for r in text.splitlines() if absent in r)
    assert "Tidak hadir" in line and not re.match(r"\s*\d", line)
