"""A session's results as QTI 3.0 Results Reporting documents, one per candidate.

Gathers each candidate's form, saved answers (the newest per item, as the live scoring
replays them), clock and final result from the store, and hands them to the pure writer
:mod:`item_bank.formats.qti_results`. Used by ``cat-engine results export-qti``.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cat_engine.services.sheets import Answered, Bank, ReportError, answered_sheets
from cat_engine.store import Store
from cat_engine.store.models import Exam as ExamRow
from cat_engine.store.models import ExamSession
from item_bank.atomic import replace_dir
from item_bank.formats.qti_results import CandidateResult, ItemOutcome, ncname, result_bytes
from scoring.exam import Exam, parse_exam


def _moment(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def session_results(store: Store, session_id: int, bank: Bank,
                    *, now: datetime | None = None) -> list[CandidateResult]:
    """Every candidate of the session who has a form, by registration number."""
    now = now or datetime.now(UTC)
    with store.read() as db:
        session = db.get(ExamSession, session_id)
        if session is None:
            raise ReportError(f"no session {session_id}")
        session_name = session.name
        exam = parse_exam(db.get(ExamRow, session.exam_id).source)
    out = []
    for sheet in answered_sheets(store, session_id, exam, bank, everyone=True):
        candidate = sheet.candidate
        disqualified = candidate.state == "disqualified"
        finished = (_moment(sheet.finished_ms) if candidate.state == "finished" or disqualified
                    else None)
        result = candidate.result if finished is not None and not disqualified else None
        out.append(CandidateResult(
            registration=candidate.registration, session=session_name, exam_id=exam.id,
            items=_items(exam, sheet, bank), finished_at=finished, reported_at=now,
            section_scores={s["name"]: s["score"] for s in (result or {}).get("sections", [])},
            total=(result or {}).get("total"), max_total=(result or {}).get("max_total"),
            passed=(result or {}).get("passed"),
            supports=exam.supports_for(candidate.accommodations.get("accommodation")),
            disqualified=disqualified,
        ))
    return out


def _items(exam: Exam, sheet: Answered, bank: Bank) -> list[ItemOutcome]:
    form, answers = sheet.form, sheet.answers
    outcomes = []
    for position, item_id in enumerate(form.item_ids):
        if not item_id:  # an adaptive slot never filled
            continue
        item = bank.item(item_id)
        rule = exam.section(form.sections[position]).scoring
        points = item.option_points(*rule.key_points)
        labels = list(item.options)
        shown = tuple(labels[i] for i in form.option_order(position))
        choice = answers[position]
        response = shown[choice] if choice is not None and 0 <= choice < len(shown) else None
        outcomes.append(ItemOutcome(
            item_id=item_id, shown=shown, response=response, key=item.key,
            score=points[response] if response is not None else rule.blank,
            max_score=max(max(points.values()), rule.blank),
            answered_at=_moment(sheet.answered_ms[position]) if response is not None else None,
        ))
    return outcomes


def export_session(store: Store, session_id: int, bank: Bank, out_dir: Path,
                   *, now: datetime | None = None) -> list[Path]:
    """Write ``assessmentResult-<registration>.xml`` per candidate into ``out_dir``.

    The folder is filled in a temporary sibling and renamed into place, so an interrupted
    export never leaves half the candidates beside an older export.
    """
    results = session_results(store, session_id, bank, now=now)
    if not results:
        raise ReportError("the session has no candidate with a form yet")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        names = []
        for result in results:
            name = f"assessmentResult-{ncname(result.registration)}.xml"
            (staging / name).write_bytes(result_bytes(result))
            names.append(name)
        replace_dir(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out_dir / name for name in names]
