"""Admin pages against a real server: banks (upload, inspect, verify), exams, sessions,
rosters (every bad row reported, nothing imported) and proctor assignment; and the
``cat-engine user`` commands."""

from __future__ import annotations

import html
import re

import pytest
from click.testing import CliRunner

from .conftest import web_login

pytestmark = pytest.mark.slow


def csrf(page_text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_text).group(1)


@pytest.fixture
def admin(server):
    web = web_login(server.url, "admin1")
    web.token = csrf(web.get(f"{server.url}/admin/", timeout=10).text)
    return web


def test_bank_upload_inspect_and_verify(server, site, admin):
    data = site.prepared.bank_path.read_bytes()
    reply = admin.post(f"{server.url}/admin/banks", data={"csrf_token": admin.token},
                       files={"bank": ("soal.catbank", data)}, timeout=30)
    assert reply.status_code == 200 and "test-bank" in reply.text
    assert "TWK" in reply.text and "20" in reply.text  # sections and item count
    verify = re.search(r'action="([^"]+/verify)"', reply.text).group(1)
    checked = admin.post(f"{server.url}{verify}", data={"csrf_token": admin.token}, timeout=30)
    assert "cocok dengan manifesnya" in checked.text

    junk = admin.post(f"{server.url}/admin/banks", data={"csrf_token": admin.token},
                      files={"bank": ("junk.catbank", b"not a bank at all")}, timeout=30)
    assert junk.status_code == 400 and "junk.catbank" in junk.text
    stored = list((site.prepared.data_dir / "banks").glob("*.catbank"))
    assert len(stored) == 1  # the junk file was not kept


def test_session_creation_roster_import_and_assignment(server, site, admin):
    page = admin.get(f"{server.url}/admin/", timeout=10).text
    exam_id = re.search(r'<option value="(\d+)">Mini SKD', page).group(1)
    bank_id = re.search(r'id="s-bank" name="bank" required><option value="(\d+)"', page).group(1)
    created = admin.post(f"{server.url}/admin/sessions", data={
        "csrf_token": admin.token, "name": "SIANG-R3", "exam": exam_id, "bank": bank_id,
        "date": "2026-12-01", "time": "13:00", "room": "R3", "auto_admit": "on",
        "scoreboard": "finish"}, timeout=30)
    assert created.status_code == 200 and "SIANG-R3" in created.text
    roster_url = re.search(r'action="(/admin/sessions/\d+/roster)"', created.text).group(1)

    bad = ("registration,name,birth_date,formation\n"
           "A001,Ani,2000-01-01,general\n"
           "A002,,2000-13-01,general\n"
           "A001,Budi,2000-01-02,nowhere\n")
    refused = admin.post(f"{server.url}{roster_url}", data={"csrf_token": admin.token},
                         files={"roster": ("peserta.csv", bad.encode())}, timeout=30)
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    for expected in ("row 3", "name: required", "birth_date '2000-13-01'", "row 4",
                     "repeats row 2", "formation 'nowhere'"):
        assert expected in text, expected
    assert "A001</td>" not in refused.text  # nothing was imported

    good = "registration,name,birth_date\nA001,Ani,2000-01-01\nA002,Budi,2000-01-02\n"
    imported = admin.post(f"{server.url}{roster_url}", data={"csrf_token": admin.token},
                          files={"roster": ("peserta.csv", good.encode())}, timeout=30)
    assert imported.status_code == 200
    pins = re.findall(r'<td class="mono">(\w+)</td>', imported.text)
    assert len(pins) == 2 and "A002</td>" in imported.text

    assign_url = roster_url.replace("/roster", "/assign")
    admin.post(f"{server.url}{assign_url}", data={"csrf_token": admin.token,
                                                  "username": "proc2"}, timeout=10)
    proctor = web_login(server.url, "proc2")
    listed = proctor.get(f"{server.url}/proctor/", params={"date": "all"}, timeout=10).text
    assert "SIANG-R3" in listed and "terjadwal" in listed


def test_admin_forms_refuse_a_missing_csrf_token(server, admin):
    reply = admin.post(f"{server.url}/admin/exams", data={"preset": "skd"}, timeout=10)
    assert reply.status_code == 400


def test_user_cli_add_list_disable(tmp_path, monkeypatch):
    from cat_engine.cli import cli

    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    monkeypatch.setenv("NEW_PASSWORD", "a long password")
    added = runner.invoke(cli, ["user", "add", "ketua", "--role", "admin",
                                "--password-env", "NEW_PASSWORD", *data])
    assert added.exit_code == 0, added.output
    again = runner.invoke(cli, ["user", "add", "ketua", "--password-env", "NEW_PASSWORD",
                                *data])
    assert again.exit_code == 2 and "exists already" in again.output
    monkeypatch.setenv("SHORT", "short")
    weak = runner.invoke(cli, ["user", "add", "kedua", "--password-env", "SHORT", *data])
    assert weak.exit_code == 2 and "at least 8" in weak.output
    assert "Traceback" not in weak.output
    listed = runner.invoke(cli, ["user", "list", *data])
    assert "ketua" in listed.output and "admin" in listed.output and "active" in listed.output
    assert runner.invoke(cli, ["user", "disable", "ketua", *data]).exit_code == 0
    assert "disabled" in runner.invoke(cli, ["user", "list", *data]).output
    missing = runner.invoke(cli, ["user", "disable", "nobody", *data])
    assert missing.exit_code == 2 and "no user 'nobody'" in missing.output
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("cat-engine.sqlite3*"))
    assert b"a long password" not in stored and b"$argon2id$" in stored
