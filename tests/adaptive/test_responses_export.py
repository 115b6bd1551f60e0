"""`cat-engine responses export` on a taken exam: one row per item shown, with the option,
key, points and seconds from the server's own events, read back by calibrate, analyze,
score and cheating as they are."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from cat_engine.services import sessions
from cat_engine.services.runtime import BankKey
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.testing import PASSPHRASE_ENV, FakeClock
from tests.adaptive.conftest import log_in_and_start

CANDIDATES = 5


def _take(site: Site, clock: FakeClock, files, index: int) -> tuple[dict, dict]:
    """Answer with varied choices and varied times; returns (result, position -> seconds)."""
    cand, sheet = log_in_and_start(site, files, index)
    seq, waited = 1, {}
    for section in sheet["sections"]:
        adaptive = "adaptive" in section
        for k in range(section["count"]):
            position = section["first"] + k
            if adaptive and cand.score_sheet.info(section["name"])["done"]:
                break
            item = site.get_item(cand, position).reply
            seconds = 3 + (index + 2 * k) % 7
            clock.at += seconds * 1000
            waited[position] = seconds
            if not adaptive and (k + index) % 5 == 4:
                continue  # shown, left blank
            site.answer(cand, seq=seq, position=position,
                        choice=(index + k * (index + 1)) % len(item["options"]))
            seq += 1
    return site.finish(cand, seq=seq).reply["result"], waited


@pytest.fixture(scope="module")
def exported(tmp_path_factory, adaptive_site_factory):
    files = adaptive_site_factory(tmp_path_factory.mktemp("export"), CANDIDATES)
    store = Store(files.database_url)
    import time

    clock = FakeClock(int(time.time() * 1000))
    try:
        site = Site(store, keys=[BankKey(files.passphrase)], now=clock)
        taken = [_take(site, clock, files, i) for i in range(CANDIDATES)]
        sessions.set_state(store, files.session, "closed")
    finally:
        store.close()
    out = files.data_dir / "responses.csv"
    ran = CliRunner().invoke(
        cli, ["responses", "export", files.session, "--out", str(out), "--site", "JKT-1",
              "--data-dir", str(files.data_dir), "--passphrase-env", PASSPHRASE_ENV],
        env={PASSPHRASE_ENV: files.passphrase}, catch_exceptions=False)
    assert ran.exit_code == 0, ran.output
    return files, taken, out, ran.output


def test_every_shown_item_is_a_row_with_its_points_and_seconds(exported):
    files, taken, out, output = exported
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert f"answers of {CANDIDATES} candidate(s) in 1 session(s)" in output
    for index, (result, waited) in enumerate(taken):
        mine = [r for r in rows if r["examinee"] == files.registrations[index]]
        assert len(mine) == len(waited)  # one row per item shown, blanks included
        for section in result["sections"]:
            if section["name"] != "TIU":  # the adaptive section's score is a scaled theta
                points = sum(float(r["score"]) for r in mine if r["section"] == section["name"])
                assert points == pytest.approx(section["score"])
        for r in mine:
            assert r["site"] == "JKT-1" and r["session"] == files.session
            position = int(r["position"]) - 1
            if r["choice"]:
                # The time from the item's showing to its answer, by the server's clock.
                assert float(r["seconds"]) == pytest.approx(waited[position], abs=0.01)
                assert int(r["answered_ms"]) - int(r["shown_ms"]) == waited[position] * 1000
            else:
                assert r["answered_ms"] == "" and r["seconds"] == ""
    blanks = [r for r in rows if not r["choice"]]
    assert blanks and all(r["shown_ms"] and r["score"] == "0" for r in blanks)


@pytest.mark.parametrize("command", [
    ["calibrate", "--min-responses", "2", "--out", "{dir}/p.json"],
    ["analyze", "--out", "{dir}/r.html"],
    ["cheating"],
])
def test_the_export_is_read_as_it_is(exported, command, tmp_path):
    _, _, out, _ = exported
    args = [a.format(dir=tmp_path) for a in command]
    ran = CliRunner().invoke(cli, [args[0], str(out), *args[1:]], catch_exceptions=False)
    # Five candidates are too few to calibrate much: calibrate must say so (by name, or that
    # EM did not converge), never fail on the file.
    assert ran.exit_code in ((0, 1, 2) if args[0] == "calibrate" else (0,)), ran.output
    assert "Traceback" not in ran.output
    if args[0] == "calibrate":
        assert {0: "items calibrated", 1: "did NOT converge",
                2: "no item can be calibrated"}[ran.exit_code] in ran.output
    if args[0] == "analyze":
        assert "examinees; wrote" in ran.output
