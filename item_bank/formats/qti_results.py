"""A candidate's results as an IMS QTI 3.0 Results Reporting ``assessmentResult`` document.

Pure: plain data in, XML bytes out. What goes where (docs/formats.md, "Results out"):

- ``context``: ``sourcedId`` and a ``sessionIdentifier`` for the registration number and one
  for the exam session;
- ``testResult``: the exam's id, the test outcomes (``SCORE``, ``MAXSCORE``, ``PASSED``,
  ``SCORE_<section>``) when the candidate finished, ``DISQUALIFIED`` when disqualified;
- one ``itemResult`` per item given, in the order shown (``sequenceIndex``): the response
  (``RESPONSE``, the authored option label, no value when left blank; ``choiceSequence`` the
  labels in the order shown; ``correctResponse`` the key), and the outcomes ``SCORE``,
  ``MAXSCORE`` and ``completionStatus``;
- ``support``: the accessibility supports the candidate was offered.

QTI identifiers are XML NCNames; registration numbers ("1234") and item ids ("TIU:1") often
are not. :func:`ncname` escapes them reversibly (:func:`from_ncname`), the way XML name
encoding does: ``_xHHHH_`` for each character an NCName cannot hold there.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from item_bank.formats.common import export_number

RESULT_NS = "http://www.imsglobal.org/xsd/imsqti_result_v3p0"
RESULT_XSD = "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqti_resultv3p0_v1p0.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: sourceID of the context's session identifiers.
REGISTRATION_SOURCE = "urn:x-cat-engine:registration"
SESSION_SOURCE = "urn:x-cat-engine:session"

_NAME_CHAR = re.compile(r"[A-Za-z0-9.\-]")
_ESCAPE = re.compile(r"_x([0-9A-F]{4,6})_")


def ncname(text: str) -> str:
    """``text`` as an NCName: letters, digits, ``.`` and ``-`` kept, the rest ``_xHHHH_``."""
    out = []
    for i, char in enumerate(text):
        if _NAME_CHAR.match(char) and (i or char.isalpha()):
            out.append(char)
        else:
            out.append(f"_x{ord(char):04X}_")
    return "".join(out) or "_x0000_"


def from_ncname(name: str) -> str:
    """The text :func:`ncname` escaped."""
    if name == "_x0000_":
        return ""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)


@dataclass(frozen=True)
class ItemOutcome:
    """One item as the candidate met it."""

    item_id: str
    #: Option labels in the order shown to the candidate.
    shown: tuple[str, ...]
    #: The label chosen; None when left blank.
    response: str | None
    key: str | None
    score: float
    max_score: float
    #: When the answer was last saved (None: never answered).
    answered_at: datetime | None = None


@dataclass(frozen=True)
class CandidateResult:
    """What one candidate's ``assessmentResult`` reports."""

    registration: str
    session: str
    exam_id: str
    items: Sequence[ItemOutcome]
    #: When the candidate finished; None while the test is still open for them.
    finished_at: datetime | None
    #: When the report was made (datestamp of items never answered in an open test).
    reported_at: datetime
    #: Section id -> score, total, maximum and pass/fail, once finished.
    section_scores: dict[str, float] = field(default_factory=dict)
    total: float | None = None
    max_total: float | None = None
    passed: bool | None = None
    #: Accessibility supports offered to the candidate (``spoken``, ...).
    supports: tuple[str, ...] = ()
    #: Disqualified by the proctor: the session is over for them, without a score.
    disqualified: bool = False


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: float) -> str:
    return repr(export_number(float(value)))


def _outcome(parent: ET.Element, identifier: str, base_type: str, value: str) -> None:
    variable = ET.SubElement(
        parent,
        "outcomeVariable",
        {"identifier": identifier, "cardinality": "single", "baseType": base_type},
    )
    ET.SubElement(variable, "value").text = value


def result_to_xml(result: CandidateResult) -> ET.Element:
    """The ``assessmentResult`` element of one candidate."""
    root = ET.Element(
        "assessmentResult",
        {"xmlns": RESULT_NS, f"{{{XSI}}}schemaLocation": f"{RESULT_NS} {RESULT_XSD}"},
    )
    context = ET.SubElement(root, "context", {"sourcedId": ncname(result.registration)})
    for source, value in ((REGISTRATION_SOURCE, result.registration),
                          (SESSION_SOURCE, result.session)):
        ET.SubElement(context, "sessionIdentifier",
                      {"sourceID": source, "identifier": ncname(value)})
    final = result.finished_at is not None or result.disqualified
    moment = result.finished_at or result.reported_at
    test = ET.SubElement(root, "testResult",
                         {"identifier": ncname(result.exam_id), "datestamp": _stamp(moment)})
    if result.disqualified:
        _outcome(test, "DISQUALIFIED", "boolean", "true")
    elif final and result.total is not None:
        _outcome(test, "SCORE", "float", _number(result.total))
        if result.max_total is not None:
            _outcome(test, "MAXSCORE", "float", _number(result.max_total))
        if result.passed is not None:
            _outcome(test, "PASSED", "boolean", "true" if result.passed else "false")
        for section, score in result.section_scores.items():
            _outcome(test, f"SCORE_{ncname(section)}", "float", _number(score))
    for name in result.supports:
        ET.SubElement(test, "support", {"name": ncname(name), "assignment": "assigned"})
    for sequence, item in enumerate(result.items, start=1):
        stamp = item.answered_at or moment
        element = ET.SubElement(
            root,
            "itemResult",
            {
                "identifier": ncname(item.item_id),
                "sequenceIndex": str(sequence),
                "datestamp": _stamp(stamp),
                "sessionStatus": "final" if final else "pendingSubmission",
            },
        )
        response = ET.SubElement(
            element,
            "responseVariable",
            {
                "identifier": "RESPONSE",
                "cardinality": "single",
                "baseType": "identifier",
                "choiceSequence": " ".join(ncname(label) for label in item.shown),
            },
        )
        if item.key is not None:
            correct = ET.SubElement(response, "correctResponse")
            ET.SubElement(correct, "value").text = ncname(item.key)
        given = ET.SubElement(response, "candidateResponse")
        if item.response is not None:
            ET.SubElement(given, "value").text = ncname(item.response)
        _outcome(element, "SCORE", "float", _number(item.score))
        _outcome(element, "MAXSCORE", "float", _number(item.max_score))
        status = "completed" if item.response is not None else "not_attempted"
        _outcome(element, "completionStatus", "identifier", status)
        if ncname(item.item_id) != item.item_id:
            # The escaped identifier is exact, but say the original plainly too.
            variable = ET.SubElement(
                element,
                "contextVariable",
                {"identifier": "ITEM_ID", "cardinality": "single", "baseType": "string"},
            )
            ET.SubElement(variable, "value").text = item.item_id
    return root


def result_bytes(result: CandidateResult) -> bytes:
    """The document of one candidate, UTF-8 with an XML declaration."""
    root = result_to_xml(result)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
