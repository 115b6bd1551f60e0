"""The national merge: files from several sites verified first, ranked per formation with
the special formations' rule sets, the cut at three times the vacancies with ties shown, and
nothing written when a file or a registration number is wrong."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from scoring.exam import load_exam
from scoring.integrity.merge import Formation, Part, fnv1a, merge
from tests.integrity.conftest import run_session


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _part(name, regs, formation, twk, tiu, tkp, status=None):
    n = len(regs)
    return Part(source=f"{name}.results", site=name, session="S1",
                registration=np.asarray(regs, dtype=str), name=np.asarray(regs, dtype=object),
                formation=np.asarray(formation, dtype=str),
                status=np.asarray(status or ["finished"] * n, dtype=object),
                scores={"TWK": np.asarray(twk, float), "TIU": np.asarray(tiu, float),
                        "TKP": np.asarray(tkp, float)},
                receipt=np.asarray([f"CODE-{r}" for r in regs], dtype=object))


def test_ranking_per_formation_rule_sets_and_the_cut_with_ties():
    exam = load_exam("skd")
    table = [Formation("UMUM", "Umum", 1, "general"),
             Formation("DIS", "Disabilitas", 1, "disability")]
    # UMUM, 1 vacancy -> 3 go on. A and B tie on everything at rank 3: both go on, marked.
    a = _part("site-a", ["U1", "U2", "U3"], ["UMUM"] * 3,
              [100, 90, 80], [120, 110, 100], [200, 190, 180])
    b = _part("site-b", ["U4", "U5", "U6", "D1", "D2"], ["UMUM"] * 4 + ["DIS"],
              [80, 60, 150, 10, 0], [100, 150, 175, 70, 55], [180, 225, 225, 206, 250],
              status=["finished", "finished", "disqualified", "finished", "finished"])
    b.registration[4] = "D2"
    b.formation[3] = "DIS"
    m = merge([a, b], table, exam)
    by = {r: i for i, r in enumerate(m.registration.tolist())}
    # U5 fails TWK >= 65 under the general rule set: ranked after every passer.
    assert [m.rank[by[r]] for r in ("U1", "U2", "U3", "U4", "U5")] == [1, 2, 3, 3, 5]
    assert m.tied[by["U3"]] and m.tied[by["U4"]]
    assert [bool(m.next_stage[by[r]]) for r in ("U1", "U2", "U3", "U4", "U5")] == [
        True, True, True, True, False]
    assert m.tie_at_cut[by["U3"]] and m.tie_at_cut[by["U4"]] and not m.tie_at_cut[by["U1"]]
    assert m.rank[by["U6"]] == 0 and not m.next_stage[by["U6"]]  # disqualified
    # Disability formation: only total >= 286 and TIU >= 60 count (TWK 10 is fine).
    assert m.passed[by["D1"]] and m.next_stage[by["D1"]]
    assert not m.passed[by["D2"]]  # TIU 55 < 60


def test_a_registration_at_two_sites_is_refused():
    from scoring.integrity.merge import MergeError

    exam = load_exam("skd")
    a = _part("site-a", ["X1", "X2"], ["UMUM"] * 2, [100] * 2, [100] * 2, [200] * 2)
    b = _part("site-b", ["X2"], ["UMUM"], [100], [100], [200])
    with pytest.raises(MergeError) as refused:
        merge([a, b], [Formation("UMUM", "Umum", 1, None)], exam)
    assert "registration X2 sat twice: at site site-a" in str(refused.value)
    assert "site-b" in str(refused.value)


def test_the_page_and_python_agree_on_shards():
    # The same FNV-1a the page's search.js computes (checked in the browser test too).
    assert fnv1a(np.asarray(["R00001", "1234567890123456", "é"]), 256).tolist() == [
        _fnv("R00001") % 256, _fnv("1234567890123456") % 256, _fnv("é") % 256]


def _fnv(text: str) -> int:
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


@pytest.fixture
def two_sites(tmp_path):
    """Two sites' exported files and their public keys, formations covering both."""
    from cat_engine.services.anchors import PUB_FILE
    from cat_engine.store import Store
    from cat_engine.testing import prepare_site

    keys = tmp_path / "site-keys"
    keys.mkdir()
    out = []
    for n, reg0 in ((1, 0), (2, 3)):
        files = prepare_site(tmp_path / f"site{n}", candidates=3)
        store = Store(files.database_url)
        try:
            if reg0:  # other registration numbers at the second site
                with store.engine.begin() as conn:
                    conn.exec_driver_sql("UPDATE candidates SET registration = "
                                         "'B' || registration")
            run_session(_Renamed(files, "B" if reg0 else ""), store)
        finally:
            store.close()
        path = tmp_path / f"site{n}.results"
        assert invoke("results", "export", "S1", "--out", path, "--data-dir",
                      files.data_dir).exit_code == 0
        shutil.copyfile(files.data_dir / PUB_FILE, keys / f"site{n}.pub")
        out.append(path)
    formations = tmp_path / "formations.csv"
    formations.write_text("code,name,vacancies,rule_set\ngeneral,Umum,1,\n")
    return out, keys, formations


class _Renamed:
    """A prepared site whose registration numbers got a prefix."""

    def __init__(self, files, prefix):
        self._files, self._prefix = files, prefix

    def __getattr__(self, name):
        return getattr(self._files, name)

    @property
    def registrations(self):
        return [self._prefix + r for r in self._files.registrations]

    @property
    def pins(self):
        return {self._prefix + r: pin for r, pin in self._files.pins.items()}


def test_merge_writes_the_announcement(two_sites, tmp_path):
    files, keys, formations = two_sites
    out = tmp_path / "national"
    result = invoke("results", "merge", *files, "--formations", formations, "--site-keys", keys,
                    "--out", out)
    assert result.exit_code == 0, result.output
    assert "6 candidates from 2 files" in result.output
    rows = list(csv.DictReader((out / "ranking.csv").open()))
    assert len(rows) == 6 and {r["registration"][:1] for r in rows} == {"R", "B"}
    ranks = [int(r["rank"]) for r in rows]
    assert ranks == sorted(ranks) and ranks[0] == 1
    receipts = list(csv.DictReader((out / "receipts.csv").open()))
    assert all(len(r["receipt"]) == 24 for r in receipts)
    data = json.loads((out / "ranking.json").read_text())
    assert data["candidates"]["registration"] == [r["registration"] for r in rows]
    assert (out / "announcement.pdf").read_bytes()[:5] == b"%PDF-"
    assert "search.js" in (out / "index.html").read_text()
    assert len(list((out / "data").glob("*.js"))) == 256


def test_one_bad_file_and_nothing_is_written(two_sites, tmp_path):
    files, keys, formations = two_sites
    raw = files[1].read_bytes()
    files[1].write_bytes(raw[:200] + (b"A" if raw[200:201] != b"A" else b"B") + raw[201:])
    out = tmp_path / "national"
    result = invoke("results", "merge", *files, "--formations", formations, "--site-keys", keys,
                    "--out", out)
    assert result.exit_code == 2
    assert f"{files[1]}: " in result.output and "nothing was merged" in result.output
    assert not out.exists()
    unknown = tmp_path / "other-keys"
    unknown.mkdir()
    shutil.copyfile(keys / "site1.pub", unknown / "site1.pub")
    result = invoke("results", "merge", files[0], files[0], "--formations", formations,
                    "--site-keys", unknown, "--out", out)
    assert result.exit_code == 2 and "sat twice" in result.output and not out.exists()


def test_names_outside_latin1_print_in_the_announcement_pdf(tmp_path):
    """The PDF embeds DejaVu (bundled): accented and non-Latin names come out as written,
    as pdftotext reads them back, not as "?"."""
    from cat_engine.services.announce import write_all

    exam = load_exam("skd")
    names = ["Nguyễn Thị Ánh", "Çağlar Şahin", "Дмитрий Соколов", "Ōshima Łukasz"]
    part = _part("site-a", ["N1", "N2", "N3", "N4"], ["UMUM"] * 4, [100] * 4, [120] * 4,
                 [200, 199, 198, 197])
    part.name[:] = names
    m = merge([part], [Formation("UMUM", "Umum", 2, None)], exam)
    write_all(m, tmp_path / "out", title="Pengumuman", lang="id")
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "out" / "announcement.pdf"),
                           "-"], capture_output=True, text=True, check=True).stdout
    for name in names:
        assert name in text, (name, text)
    assert "?" not in text
