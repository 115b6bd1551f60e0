"""An IMS QTI assessment test (2.1 ``assessmentTest``, 3.0 ``qti-assessment-test``) as an exam.

What maps (docs/formats.md, "Assessment tests"):

- each ``assessmentSection`` directly under a ``testPart`` is a section of the exam, in
  order: its ``identifier`` the section id, its ``title`` the title; the number of items is its
  ``selection select`` or else the items it holds (sub-sections counted by their own size);
- sub-sections of a section become its ``topics`` (their identifier, their size) when the
  section holds nothing but sub-sections; otherwise they only add to its size;
- ``ordering shuffle`` is the exam's ``shuffle_items`` (cat-engine shuffles all sections or
  none: mixed settings are named);
- ``timeLimits maxTime`` (seconds) of the test, or of a single test part, is the exam's clock;
  a section's own ``maxTime`` is its own clock; minutes are rounded up;
- ``navigationMode`` ``linear`` is ``forward-only``, ``nonlinear`` is ``free``.

Everything else the test says (item references as a fixed pool, weights, item session
control, rubric blocks, branch rules, preconditions, outcome processing, feedback, minimum
times, selection with replacement...) is named in the notes, each with its element, never
silently dropped. Scoring is not in a QTI test: the caller says how sections score.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from item_bank.errors import Problem
from item_bank.formats.qti import QtiError, normalise, parse_xml
from scoring.exam import Exam, ExamError, exam_from_data

#: Elements of a test that carry nothing cat-engine's exam can hold: name -> what it is.
_NOT_MAPPED = {
    "outcomeDeclaration": "test outcome declarations (scores are computed by the exam's rules)",
    "outcomeProcessing": "outcome processing (scores are computed by the exam's rules)",
    "testFeedback": "test feedback",
    "rubricBlock": "rubric blocks",
    "itemSessionControl": "item session control (attempts, review, skipping)",
    "branchRule": "branch rules",
    "preCondition": "preconditions",
    "weight": "item weights",
    "variableMapping": "variable mappings",
    "templateDefault": "template defaults",
    "assessmentSectionRef": "section references to other files",
    "assessmentStimulusRef": "stimulus references",
    "contextDeclaration": "context declarations",
}


@dataclass
class ImportedExam:
    """The exam a QTI test gives, and what of the test it could not hold."""

    exam: Exam
    #: Each thing not mapped, with the element it is in.
    notes: list[Problem] = field(default_factory=list)


@dataclass
class _Section:
    element: ET.Element
    path: str
    size: int = 0
    topics: dict[str, int] | None = None


def _slug(text: str, pattern: str, fallback: str, lower: bool = False) -> str:
    value = re.sub(r"[^A-Za-z0-9_\-]+", "-", text).strip("-")
    value = value.lower() if lower else value
    if not value or not re.fullmatch(pattern, value):
        value = f"{fallback}-{value}" if value else fallback
    return value[:32] if not lower else value[:64]


def _where(element: ET.Element, version: str) -> str:
    name = element.tag
    if version == "3.0":
        name = "qti-" + re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()
    identifier = element.get("identifier")
    return f"<{name} identifier={identifier!r}>" if identifier else f"<{name}>"


def _minutes(element: ET.Element) -> tuple[int | None, list[str]]:
    """Minutes of an element's ``timeLimits maxTime``, and notes on the rest of it."""
    limits = element.find("timeLimits")
    if limits is None:
        return None, []
    notes = []
    if limits.get("minTime"):
        notes.append("minTime (a minimum time) is not mapped")
    if limits.get("allowLateSubmission") in ("true", "1"):
        notes.append("allowLateSubmission is not mapped: the clock is the server's")
    raw = limits.get("maxTime")
    if raw is None:
        return None, notes
    try:
        seconds = float(raw)
    except ValueError:
        return None, [*notes, f"maxTime {raw!r} is not a number of seconds; ignored"]
    if not math.isfinite(seconds) or seconds <= 0:
        return None, [*notes, f"maxTime {raw!r} is not a positive time; ignored"]
    return math.ceil(seconds / 60), notes


def exam_from_qti_test(
    data: bytes,
    *,
    source: str = "<test>",
    exam_id: str | None = None,
    weighted: Iterable[str] = (),
    correct: float = 1.0,
    wrong: float = 0.0,
    minutes: int | None = None,
) -> ImportedExam:
    """The exam of a QTI assessment test; :class:`ExamError` lists every reason it cannot be.

    Sections in ``weighted`` score by their items' option weights; the others by the key,
    ``correct`` and ``wrong`` points (blank 0). ``minutes`` is the exam's clock when the test
    gives none.
    """
    try:
        root = parse_xml(data)
    except QtiError as error:
        where = error.location or ""
        raise ExamError([Problem(source, where, str(error))]) from None
    version = normalise(root)
    if root.tag != "assessmentTest":
        raise ExamError([Problem(source, "", f"not a QTI assessment test (the root element is "
                                             f"<{root.tag}>)")])
    notes: list[Problem] = []

    def note(element: ET.Element, reason: str) -> None:
        notes.append(Problem(source, _where(element, version), reason, warning=True))

    weighted = set(weighted)
    for element in root.iter():
        if element.tag in _NOT_MAPPED:
            note(element, f"{_NOT_MAPPED[element.tag]}: not mapped")
    parts = root.findall("testPart")
    problems: list[Problem] = []
    if not parts:
        problems.append(Problem(source, _where(root, version), "the test has no testPart"))
    modes = {part.get("navigationMode", "linear") for part in parts}
    if len(modes) > 1:
        note(root, "test parts navigate differently; the exam takes 'free' for all")
    navigation = "forward-only" if modes == {"linear"} else "free"
    for part in parts:
        if part.get("submissionMode", "individual") == "individual":
            note(part, "submissionMode individual: cat-engine saves each answer as it is "
                       "given and scores at the end, as in simultaneous submission")
    test_minutes, test_notes = _minutes(root)
    for text in test_notes:
        note(root, text)
    part_minutes = []
    for part in parts:
        part_limit, part_notes = _minutes(part)
        for text in part_notes:
            note(part, text)
        part_minutes.append(part_limit)
    if test_minutes is None and len(parts) == 1:
        test_minutes = part_minutes[0]
    elif any(m is not None for m in part_minutes):
        for part, part_limit in zip(parts, part_minutes, strict=True):
            if part_limit is not None:
                note(part, "a test part's own time limit is not mapped when the test has "
                           "several parts or its own limit")

    sections: list[dict[str, Any]] = []
    shuffles: set[bool] = set()
    for part in parts:
        top = part.findall("assessmentSection")
        if not top:
            problems.append(Problem(source, _where(part, version), "the part has no section"))
        for element in top:
            ordering = element.find("ordering")
            shuffles.add(ordering is not None and ordering.get("shuffle") in ("true", "1"))
            section = _read_section(element, version, note, problems, source)
            own_minutes, section_notes = _minutes(element)
            for text in section_notes:
                note(element, text)
            section_id = _slug(element.get("identifier", ""), r"^[A-Za-z][A-Za-z0-9_\-]{0,31}$",
                               "S")
            if section_id != element.get("identifier"):
                note(element, f"identifier written as the section id {section_id!r}")
            table: dict[str, Any] = {"id": section_id, "title": element.get("title", "")[:200],
                                     "items": section.size}
            if section.topics:
                table["topics"] = section.topics
            if section_id in weighted:
                table["scoring"] = {"rule": "weights", "blank": 0}
            else:
                table["scoring"] = {"rule": "key", "correct": correct, "wrong": wrong, "blank": 0}
            if own_minutes is not None:
                table["time_limit_minutes"] = own_minutes
            sections.append(table)
    if len(shuffles) > 1:
        note(root, "sections order their items differently; cat-engine shuffles all sections "
                   "or none: the exam shuffles")
    unknown = sorted(weighted - {s["id"] for s in sections})
    for name in unknown:
        problems.append(Problem(source, "", f"--weights names {name!r}, which is no section"))
    data_out: dict[str, Any] = {
        "id": exam_id or _slug(root.get("identifier", ""), r"^[a-z0-9][a-z0-9_\-]{0,63}$",
                               "exam", lower=True),
        "title": (root.get("title") or "")[:200],
        "navigation": navigation,
        "shuffle_items": bool(shuffles) and True in shuffles,
        "sections": sections,
    }
    if test_minutes is None and minutes is not None and any(
        "time_limit_minutes" not in section for section in sections
    ):
        test_minutes = minutes
        note(root, f"the test gives no time limit: the exam's clock is the {minutes} minutes "
                   "asked for")
    if test_minutes is not None:
        data_out["time_limit_minutes"] = test_minutes
    elif any("time_limit_minutes" not in s for s in sections):
        problems.append(Problem(source, _where(root, version),
                                "the test gives no time limit (timeLimits maxTime) for the whole "
                                "test or every section: give the exam's minutes (--minutes)"))
    if problems:
        raise ExamError(problems + notes)
    try:
        exam = exam_from_data(data_out, source=source)
    except ExamError as error:
        raise ExamError(error.problems + notes) from None
    return ImportedExam(exam, notes)


def _read_section(element, version, note, problems, source) -> _Section:
    """A section's size and topics (from sub-sections), noting what does not map."""
    selection = element.find("selection")
    if element.get("visible", "true") in ("false", "0"):
        note(element, "visible=false is not mapped: every section shows its title")
    if element.get("keepTogether", "true") in ("false", "0"):
        note(element, "keepTogether=false is not mapped")
    refs = element.findall("assessmentItemRef")
    subs = element.findall("assessmentSection")
    if refs:
        note(element, f"its {len(refs)} assessmentItemRef(s) are not a fixed pool: the exam "
                      "draws the section from the bank's items of the same section")
    for ref in refs:
        if ref.get("required") in ("true", "1") or ref.get("fixed") in ("true", "1"):
            note(ref, "required/fixed item references are not mapped: items are drawn")
    sizes = {}
    for sub in subs:
        inner = _read_section(sub, version, note, problems, source)
        if sub.find("ordering") is not None:
            note(sub, "a sub-section's ordering is not mapped: the section's own decides")
        if _minutes(sub)[0] is not None:
            note(sub, "a sub-section's time limit is not mapped")
        sizes[sub.get("identifier", "")] = inner.size
    own = len(refs) + sum(sizes.values())
    size = own
    if selection is not None:
        if selection.get("withReplacement") in ("true", "1"):
            note(selection, "withReplacement is not mapped: an item appears once per form")
        try:
            size = int(selection.get("select", ""))
        except ValueError:
            problems.append(Problem(source, _where(element, version),
                                    f"selection select={selection.get('select')!r} is not a "
                                    "whole number"))
            size = own
    if size <= 0:
        problems.append(Problem(source, _where(element, version),
                                "the section selects no item"))
    topics = None
    if subs and not refs and selection is None and all(sizes.values()):
        topics = {name or f"topic-{n}": count for n, (name, count) in enumerate(sizes.items())}
    elif subs:
        note(element, "sub-sections are not mapped to topics (the section selects from them "
                      "or also holds items directly): their items count toward the section")
    return _Section(element, _where(element, version), size, topics)


# Writing ----------------------------------------------------------------------------------
_TEST_NAMESPACES = {
    "2.1": "http://www.imsglobal.org/xsd/imsqti_v2p1",
    "3.0": "http://www.imsglobal.org/xsd/imsqtiasi_v3p0",
}


def exam_to_qti_test(exam: Exam, version: str = "3.0") -> tuple[bytes, list[str]]:
    """The exam's blueprint as a QTI assessment test, and what of the exam it cannot hold.

    Sections with their item counts (``selection``), topics as sub-sections, item shuffling
    (``ordering``), navigation and clocks (``timeLimits``); :func:`exam_from_qti_test` reads
    them back. There are no item references: the exam draws its items from a bank.
    """
    if version not in _TEST_NAMESPACES:
        raise ValueError(f"QTI version must be 2.1 or 3.0, not {version!r}")

    def q(name: str) -> str:
        return "qti-" + re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower() if version == "3.0" \
            else name

    def a(name: str) -> str:
        return re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower() if version == "3.0" else name

    def limits(parent: ET.Element, minutes: int | None) -> None:
        if minutes is not None:
            ET.SubElement(parent, q("timeLimits"), {a("maxTime"): str(minutes * 60)})

    def section(parent: ET.Element, identifier: str, title: str) -> ET.Element:
        return ET.SubElement(parent, q("assessmentSection"), {
            a("identifier"): identifier, a("title"): title or identifier, a("visible"): "true"})

    root = ET.Element(q("assessmentTest"), {
        "xmlns": _TEST_NAMESPACES[version], a("identifier"): exam.id,
        a("title"): exam.title or exam.id})
    limits(root, exam.time_limit_minutes)
    part = ET.SubElement(root, q("testPart"), {
        a("identifier"): "P1",
        a("navigationMode"): "linear" if exam.navigation == "forward-only" else "nonlinear",
        a("submissionMode"): "simultaneous"})
    notes = []
    for s in exam.sections:
        element = section(part, s.id, s.title)
        limits(element, s.time_limit_minutes)
        if s.topics is None:
            ET.SubElement(element, q("selection"), {a("select"): str(s.items)})
        ET.SubElement(element, q("ordering"), {a("shuffle"): str(exam.shuffle_items).lower()})
        # QTI orders a section's children: timeLimits, selection, ordering, then parts.
        if s.topics is not None:
            for topic, count in s.topics.items():
                identifier = _slug(topic, r"^[A-Za-z_][A-Za-z0-9_\-.]*$", "topic")
                if identifier != topic:
                    notes.append(f"sections.{s.id}.topics: topic {topic!r} is written as the "
                                 f"sub-section {identifier!r} (its title keeps the name)")
                sub = section(element, identifier, topic)
                ET.SubElement(sub, q("selection"), {a("select"): str(count)})
    notes += [f"sections.{s.id}: scoring {s.scoring.rule!r} is not part of a QTI test"
              for s in exam.sections]
    notes += [f"sections.{s.id}: the difficulty blueprint is not written"
              for s in exam.sections if s.difficulty is not None]
    notes += [f"sections.{s.id}: adaptive settings are not written"
              for s in exam.sections if s.adaptive is not None]
    for name, present in (("rule_sets", exam.rule_sets), ("accommodations",
                                                           exam.accommodations),
                          ("shuffle_options", not exam.shuffle_options)):
        if present:
            notes.append(f"{name} is not written (no place in a QTI test)")
    notes.append("ranking is not written (no place in a QTI test)")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n", notes
