"""QTI assessment tests import as exams; what does not map is named with its element."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.exam import ExamError, load_exam
from scoring.qti_test import exam_from_qti_test, exam_to_qti_test

FIXTURES = Path(__file__).parent / "fixtures"
PACKAGE = Path(__file__).parents[1] / "item_bank" / "fixtures" / "qti21_package"
CLI = str(Path(sys.executable).with_name("cat-engine"))


def imported(name: str, **options):
    path = FIXTURES / name
    return exam_from_qti_test(path.read_bytes(), source=str(path), **options)


def test_a_qti21_test_gives_sections_selection_ordering_and_clocks() -> None:
    result = imported("qti21_test.xml", weighted=["TKP"], correct=5)
    exam = result.exam
    assert (exam.id, exam.title, exam.navigation, exam.shuffle_items) == (
        "skd-2025", "SKD CPNS 2025", "free", True)
    assert [(s.id, s.items, s.topics, s.time_limit_minutes) for s in exam.sections] == [
        ("TWK", 30, None, None),
        ("TIU", 35, {"verbal": 15, "numerik": 20}, None),
        ("TKP", 45, None, 30),  # 1770 s, rounded up
    ]
    assert exam.time_limit_minutes == 100
    assert [s.scoring.rule for s in exam.sections] == ["key", "key", "weights"]
    assert exam.sections[0].scoring.correct == 5
    source = str(FIXTURES / "qti21_test.xml")
    notes = {(n.location, n.reason) for n in result.notes}
    assert all(n.source == source and n.warning for n in result.notes)
    for where in ("<outcomeDeclaration identifier='SCORE'>", "<itemSessionControl>",
                  "<rubricBlock>", "<weight identifier='W'>", "<branchRule>",
                  "<outcomeProcessing>"):
        assert any(location == where for location, _ in notes), where
    assert ("<assessmentSection identifier='verbal'>",
            "visible=false is not mapped: every section shows its title") in notes


def test_a_qti30_test_gives_a_linear_exam_with_section_clocks() -> None:
    result = imported("qti30_test.xml", weighted=["wawancara"])
    exam = result.exam
    assert (exam.id, exam.navigation, exam.shuffle_items, exam.time_limit_minutes) == (
        "pppk_teknis", "forward-only", False, None)
    assert [(s.id, s.items, s.time_limit_minutes) for s in exam.sections] == [
        ("teknis", 3, 10), ("wawancara", 2, 10)]
    notes = {(n.location, n.reason) for n in result.notes}
    assert ("<qti-assessment-item-ref identifier='t4'>",
            "required/fixed item references are not mapped: items are drawn") in notes
    assert ("<qti-assessment-section identifier='teknis'>",
            "minTime (a minimum time) is not mapped") in notes


def test_every_problem_of_a_test_is_reported_at_once(tmp_path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(
        '<assessmentTest xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="x">'
        '<testPart identifier="P" navigationMode="linear" submissionMode="simultaneous">'
        '<assessmentSection identifier="A" title="A" visible="true">'
        '<selection select="many"/><assessmentItemRef identifier="i" href="i.xml"/>'
        '</assessmentSection>'
        '<assessmentSection identifier="B" title="B" visible="true"/>'
        '</testPart></assessmentTest>', encoding="utf-8")
    with pytest.raises(ExamError) as caught:
        exam_from_qti_test(bad.read_bytes(), source=str(bad), weighted=["C"])
    errors = [(p.location, p.reason) for p in caught.value.problems if not p.warning]
    assert errors == [
        ("<assessmentSection identifier='A'>", "selection select='many' is not a whole number"),
        ("<assessmentSection identifier='B'>", "the section selects no item"),
        ("", "--weights names 'C', which is no section"),
        ("<assessmentTest identifier='x'>", "the test gives no time limit (timeLimits maxTime) "
         "for the whole test or every section: give the exam's minutes (--minutes)"),
    ]
    with pytest.raises(ExamError, match="not a QTI assessment test"):
        exam_from_qti_test((PACKAGE / "items" / "deret.xml").read_bytes())


def test_the_cli_writes_an_exam_file_that_loads_and_names_what_is_not_mapped(tmp_path):
    out = tmp_path / "exam.toml"
    done = subprocess.run(
        [CLI, "exam", "import", str(FIXTURES / "qti21_test.xml"), "--out", str(out),
         "--weights", "TKP", "--correct", "5"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "not mapped: " in done.stderr and "<branchRule>" in done.stderr
    assert f"wrote {out} (12 thing(s) not mapped)" in done.stdout
    exam = load_exam(out)
    assert exam == imported("qti21_test.xml", weighted=["TKP"], correct=5).exam
    assert "# Not mapped: <rubricBlock>: rubric blocks: not mapped" in out.read_text()
    # A content package: the test resource listed in its manifest, with a clock given.
    package = tmp_path / "package"
    shutil.copytree(PACKAGE, package)
    done = subprocess.run([CLI, "exam", "import", str(package), "--out", str(out),
                           "--minutes", "20", "--id", "uji"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    exam = load_exam(out)
    assert (exam.id, exam.time_limit_minutes, [(s.id, s.items) for s in exam.sections]) == (
        "uji", 20, [("S1", 2)])
    refused = subprocess.run([CLI, "exam", "import", str(PACKAGE / "items" / "deret.xml"),
                              "--out", str(tmp_path / "x.toml")],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert not (tmp_path / "x.toml").exists()


def test_a_single_parts_time_limit_is_the_exams_clock() -> None:
    xml = (b'<qti-assessment-test xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0" '
           b'identifier="t"><qti-test-part identifier="P" navigation-mode="nonlinear" '
           b'submission-mode="simultaneous"><qti-time-limits max-time="3599"/>'
           b'<qti-assessment-section identifier="A" title="A" visible="true">'
           b'<qti-ordering shuffle="true"/>'
           b'<qti-assessment-item-ref identifier="i" href="i.xml"/>'
           b'</qti-assessment-section></qti-test-part></qti-assessment-test>')
    exam = exam_from_qti_test(xml).exam
    assert (exam.time_limit_minutes, exam.shuffle_items, exam.sections[0].items) == (60, True, 1)


@pytest.mark.parametrize("version", ["2.1", "3.0"])
def test_an_imported_test_exports_and_imports_again_unchanged(version) -> None:
    first = imported("qti21_test.xml", weighted=["TKP"], correct=5).exam
    data, notes = exam_to_qti_test(first, version)
    assert exam_from_qti_test(data, weighted=["TKP"], correct=5).exam == first
    assert "sections.TKP: scoring 'weights' is not part of a QTI test" in notes
    for preset in ("skd", "pppk"):
        exam = load_exam(preset)
        data, _ = exam_to_qti_test(exam, version)
        weighted = [s.id for s in exam.sections if s.scoring.rule == "weights"]
        again = exam_from_qti_test(data, weighted=weighted).exam
        blueprint = [(s.id, s.title, s.items, s.topics, s.time_limit_minutes)
                     for s in exam.sections]
        assert [(s.id, s.title, s.items, s.topics, s.time_limit_minutes)
                for s in again.sections] == blueprint
        assert (again.id, again.time_limit_minutes, again.navigation, again.shuffle_items) == (
            exam.id, exam.time_limit_minutes, exam.navigation, exam.shuffle_items)


def test_the_cli_exports_an_exam_as_a_qti_test(tmp_path) -> None:
    out = tmp_path / "skd.xml"
    done = subprocess.run([CLI, "exam", "export-qti", "skd", "--out", str(out), "--version",
                           "2.1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "not written: rule_sets is not written (no place in a QTI test)" in done.stderr
    assert out.read_bytes().startswith(b"<?xml")
    assert b'<assessmentTest xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1"' in out.read_bytes()
