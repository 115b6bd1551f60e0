"""A session's results as QTI 3.0 Results Reporting, valid against the published schema."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from cat_engine.services.qti_results import export_session
from cat_engine.services.runtime import BankKey
from cat_engine.services.sessions import find_session
from cat_engine.services.site import Site
from cat_engine.store import Store
from cat_engine.testing import PASSPHRASE_ENV, SMALL_EXAM, prepare_site
from item_bank.catbank import open_bank
from item_bank.formats.qti_results import (
    CandidateResult,
    ItemOutcome,
    from_ncname,
    ncname,
    result_bytes,
)

XSD = Path(__file__).parent / "fixtures" / "imsqti_resultv3p0_v1p0.xsd"
NS = "{http://www.imsglobal.org/xsd/imsqti_result_v3p0}"
CLI = str(Path(sys.executable).with_name("cat-engine"))


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(XSD))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A session of four: one finished, one half-way, one who never logged in, one
    disqualified."""
    folder = tmp_path_factory.mktemp("results")
    exam = folder / "exam.toml"
    exam.write_text(SMALL_EXAM.replace("tunanetra = 3",
                                       'tunanetra = { minutes = 3, supports = ["spoken"] }'))
    files = prepare_site(folder / "site", candidates=4, exam=str(exam),
                         accommodations={1: {"accommodation": "tunanetra"}})
    store = Store(files.database_url)
    site = Site(store, keys=[BankKey(files.passphrase)])
    shown: dict[str, dict[int, int]] = {}
    for index, answers in ((0, {0: 1, 1: 0, 3: 2, 6: 4, 9: 0}), (1, {2: 3}), (3, {0: 0})):
        registration = files.registrations[index]
        cand, _ = site.login(registration=registration, pin=files.pins[registration],
                             token=files.token, terminal=f"T{index}")
        site.start(cand)
        for seq, (position, choice) in enumerate(answers.items(), start=1):
            site.answer(cand, seq=seq, position=position, choice=choice)
        if index == 0:
            site.finish(cand, seq=99)
        if index == 3:
            site.disqualify(cand, actor="proctor1", reason="kertas contekan")
        shown[registration] = answers
    bank = open_bank(files.bank_path, passphrase=files.passphrase)
    yield files, store, bank, shown
    store.close()


def test_each_candidate_gets_a_valid_assessment_result(tmp_path, schema, session) -> None:
    files, store, bank, shown = session
    session_id = find_session(store, files.session).id
    written = export_session(store, session_id, bank, tmp_path / "out")
    assert [p.name for p in written] == [
        f"assessmentResult-{r}.xml" for r in files.registrations
    ]
    for path in written:
        schema.validate(str(path))  # raises, naming the element, if anything is off

    finished = ET.parse(written[0]).getroot()
    context = finished.find(f"{NS}context")
    assert context.get("sourcedId") == files.registrations[0]
    test = finished.find(f"{NS}testResult")
    outcomes = {v.get("identifier"): v.find(f"{NS}value").text
                for v in test.findall(f"{NS}outcomeVariable")}
    items = finished.findall(f"{NS}itemResult")
    assert len(items) == 10
    assert [i.get("sequenceIndex") for i in items] == [str(n) for n in range(1, 11)]
    assert {i.get("sessionStatus") for i in items} == {"final"}
    item_scores = [float(i.find(f"{NS}outcomeVariable[@identifier='SCORE']/{NS}value").text)
                   for i in items]
    assert float(outcomes["SCORE"]) == pytest.approx(sum(item_scores))
    assert outcomes["PASSED"] in ("true", "false")
    assert {"SCORE_TWK", "SCORE_TIU", "SCORE_TKP", "MAXSCORE"} <= set(outcomes)
    # The response is the authored label at the shown place the candidate chose.
    for position, item in enumerate(items):
        response = item.find(f"{NS}responseVariable")
        sequence = response.get("choiceSequence").split()
        values = [v.text for v in response.find(f"{NS}candidateResponse")]
        choice = shown[files.registrations[0]].get(position)
        assert values == ([] if choice is None else [sequence[choice]])
        meta = bank.index[from_ncname(item.get("identifier"))]
        assert len(sequence) == meta.n_options
        real = bank.item(meta.id)
        if choice is not None:
            points = real.option_points(5, 0)[sequence[choice]]
            assert item_scores[position] == points
        status = item.find(f"{NS}outcomeVariable[@identifier='completionStatus']/{NS}value")
        assert status.text == ("completed" if choice is not None else "not_attempted")

    half = ET.parse(written[1]).getroot()
    test = half.find(f"{NS}testResult")
    assert test.findall(f"{NS}outcomeVariable") == []  # no scores before the end
    assert [s.get("name") for s in test.findall(f"{NS}support")] == ["spoken"]
    assert {i.get("sessionStatus") for i in half.findall(f"{NS}itemResult")} == {
        "pendingSubmission"}

    out = ET.parse(written[3]).getroot()
    test = out.find(f"{NS}testResult")
    assert [(v.get("identifier"), v.find(f"{NS}value").text)
            for v in test.findall(f"{NS}outcomeVariable")] == [("DISQUALIFIED", "true")]
    assert {i.get("sessionStatus") for i in out.findall(f"{NS}itemResult")} == {"final"}


def test_the_cli_writes_the_folder(tmp_path, schema, session) -> None:
    files = session[0]
    out = tmp_path / "qti"
    env = {**os.environ, PASSPHRASE_ENV: files.passphrase}
    done = subprocess.run(
        [CLI, "results", "export-qti", files.session,
         "--out", str(out), "--data-dir", str(files.data_dir), "--passphrase-env",
         PASSPHRASE_ENV],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote 4 assessmentResult file(s) to {out}"
    for path in out.iterdir():
        schema.validate(str(path))
    again = subprocess.run(
        [CLI, "results", "export-qti", "no-such-session",
         "--out", str(out), "--data-dir", str(files.data_dir), "--passphrase-env",
         PASSPHRASE_ENV],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert len(list(out.iterdir())) == 4  # the earlier export is untouched


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=0, max_size=20), st.lists(
    st.from_regex(r"\A[A-Za-z0-9_\-]{1,8}\Z"), min_size=2, max_size=8, unique=True))
def test_any_registration_and_labels_stay_valid_and_reversible(schema, registration, labels):
    registration = "".join(c for c in registration if c.isprintable())
    assert from_ncname(ncname(registration)) == registration
    moment = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    result = CandidateResult(
        registration=registration, session="S 1", exam_id="skd",
        items=[ItemOutcome(item_id="1:TIU", shown=tuple(labels), response=labels[0],
                           key=labels[-1], score=0, max_score=5, answered_at=moment)],
        finished_at=moment, reported_at=moment, section_scores={"TIU": 0.0}, total=0.0,
        max_total=5.0, passed=False,
    )
    schema.validate(result_bytes(result).decode())
