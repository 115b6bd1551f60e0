"""The site's CLI: sessions, rosters, the database; errors are one clear message, exit 2."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from cat_engine.testing import PASSPHRASE_ENV, prepare_site


@pytest.fixture
def site(tmp_path):
    return prepare_site(tmp_path, candidates=1, open_session=False)


def run(*args, env=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output
    return result


def test_session_life_cycle(site, tmp_path):
    d = ["--data-dir", site.data_dir]
    created = run("session", "create", "S2", "--exam", site.data_dir / "exam.toml", "--bank",
                  site.bank_path, "--date", "2026-12-01", "--time", "10:30", "--room", "R7", *d)
    assert created.exit_code == 0, created.output
    assert "token" in created.output
    roster = tmp_path / "roster.csv"
    roster.write_text("registration,name,birth_date,formation,accommodation\n"
                      "A001,Ani,1999-02-03,general,\n"
                      "A002,Banu,2000-12-31,general,tunanetra\n")
    pins = tmp_path / "pins.csv"
    imported = run("session", "import-roster", "S2", roster, "--pins-out", pins, *d)
    assert imported.exit_code == 0, imported.output
    rows = list(csv.reader(pins.open()))
    assert rows[0] == ["registration", "pin"] and [r[0] for r in rows[1:]] == ["A001", "A002"]
    opened = run("session", "open", "S2", "--passphrase-env", PASSPHRASE_ENV, *d,
                 env={PASSPHRASE_ENV: site.passphrase})
    assert opened.exit_code == 0 and "2 form(s) assembled" in opened.output
    listed = run("session", "list", *d)
    assert "S2" in listed.output and "open" in listed.output and "2 candidates" in listed.output
    released = run("session", "release", "S2", "A001", "--reason", "PC 3 died", *d)
    assert released.exit_code == 0, released.output
    closed = run("session", "close", "S2", *d)
    assert closed.exit_code == 0
    # Closing signed the session chain's final head with the site key.
    assert "1 signed heads" in run("db", "verify-audit", *d).output


def test_roster_errors_name_every_bad_row_and_import_nothing(site, tmp_path):
    d = ["--data-dir", site.data_dir]
    roster = tmp_path / "bad.csv"
    roster.write_text("registration,name,birth_date,formation,accommodation,photo\n"
                      "B001,Ok Person,1990-01-01,general,,\n"
                      "B 002,,1990-13-01,general,,\n"
                      "B001,Twice,1990-01-01,astronaut,,\n"
                      "B004,Pic,1990-01-01,general,flying,missing.jpg\n")
    result = run("session", "import-roster", site.session, roster, *d)
    assert result.exit_code == 2
    out = result.output
    for expected in ("row 3: registration 'B 002'", "row 3: name", "row 3: birth_date",
                     "row 4: registration B001 repeats row 2", "row 4: formation 'astronaut'",
                     "row 5: accommodation 'flying'", "row 5: photo 'missing.jpg'"):
        assert expected in out, out
    assert "2 candidate" not in run("session", "list", *d).output


def test_wrong_key_and_unknown_names_are_clear_errors(site):
    d = ["--data-dir", site.data_dir]
    wrong = run("session", "open", site.session, "--passphrase-env", "X", *d,
                env={"X": "not the passphrase"})
    assert wrong.exit_code == 2 and "bank" in wrong.output
    assert run("session", "open", "NOPE", *d).exit_code == 2
    missing = run("session", "release", site.session, "ZZZ", "--reason", "x", *d)
    assert missing.exit_code == 2 and "no candidate 'ZZZ'" in missing.output
    dup = run("session", "create", site.session, "--exam", "skd", "--bank", site.bank_path, *d)
    assert dup.exit_code == 2 and "exists already" in dup.output


def test_db_upgrade_and_tampered_audit(site):
    import sqlite3

    d = ["--data-dir", site.data_dir]
    assert "revision" in run("db", "upgrade", *d).output
    with sqlite3.connect(site.data_dir / "cat-engine.sqlite3") as db:
        db.execute("UPDATE audit_log SET actor = 'someone else' WHERE id = 1")
    for command in (("db", "verify-audit"), ("audit", "verify")):
        result = run(*command, *d)
        assert result.exit_code == 2 and "entry seq 1 (row 1," in result.output
