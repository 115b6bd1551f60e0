"""A session's live responses as rows for ``cat-engine responses export``: one row per item a
candidate was shown, with the option chosen, the key, the points and the time on the item.

Times come from the store: ``shown_ms`` is the last time the server sent the item to the
terminal before its final answer (the ``shown`` audit entry, committed before the terminal
gets the item), ``answered_ms`` the server time of that final answer event; ``seconds`` is
their difference. An item shown and left blank has a row with an empty choice and the blank's
points; an item never shown has no row (so ``calibrate`` and ``analyze`` read it as not
presented). The format is docs/psychometrics.md's "responses export".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cat_engine.services.sheets import Answered, Bank, answered_sheets
from cat_engine.store import Store
from cat_engine.store.models import AuditEntry, Candidate, ExamSession
from cat_engine.store.models import Exam as ExamRow
from scoring.analysis.responses import EXPORT_COLUMNS
from scoring.exam import parse_exam

#: The export's columns, in order (scoring/analysis/responses.py reads them back).
COLUMNS = EXPORT_COLUMNS


def _shown_times(db: Any, session_id: int) -> dict[tuple[int, int], list[int]]:
    """(candidate id, position) -> every time the item was sent to the terminal, ascending."""
    out: dict[tuple[int, int], list[int]] = {}
    for candidate_id, at_ms, detail in db.execute(
            select(AuditEntry.candidate_id, AuditEntry.at_ms, AuditEntry.detail)
            .where(AuditEntry.session_id == session_id, AuditEntry.action == "shown")
            .order_by(AuditEntry.at_ms)):
        position = (detail or {}).get("position")
        if candidate_id is not None and isinstance(position, int):
            out.setdefault((candidate_id, position), []).append(at_ms)
    return out


def export_rows(store: Store, session_id: int, bank: Bank, *, site: str = "") -> list[dict]:
    """Every shown item of every candidate who answered at least once, in the export's
    columns (values as text, ready for csv)."""
    with store.read() as db:
        session = db.get(ExamSession, session_id)
        exam = parse_exam(db.get(ExamRow, session.exam_id).source)
        shown = _shown_times(db, session_id)
        info = {c.registration: (c.seat, c.formation) for c in db.scalars(
            select(Candidate).where(Candidate.session_id == session_id))}
        name, room = session.name, session.room
    rows: list[dict] = []
    sheets: list[Answered] = answered_sheets(store, session_id, exam, bank)
    for sheet in sheets:
        seat, group = info.get(sheet.registration, (None, ""))
        for position, item_id in enumerate(sheet.form.item_ids):
            if not item_id:
                continue
            times = shown.get((sheet.candidate_id, position), [])
            choice = sheet.answers[position]
            answered_ms = sheet.answered_ms[position]
            if choice is None and not times:
                continue  # never shown: not presented
            rule = exam.section(sheet.form.sections[position]).scoring
            item = bank.item(item_id)
            points = item.option_points(*rule.key_points)
            label = ""
            score = rule.blank
            if choice is not None:
                label = list(item.options)[sheet.form.option_order(position)[choice]]
                score = points[label]
            before = [t for t in times if answered_ms is None or t <= answered_ms]
            shown_ms = before[-1] if before else (times[0] if times else None)
            seconds = ("" if shown_ms is None or answered_ms is None
                       else f"{(answered_ms - shown_ms) / 1000:.3f}")
            rows.append({
                "examinee": sheet.registration, "site": site, "session": name, "room": room,
                "seat": "" if seat is None else str(seat), "group": group or "",
                "section": sheet.form.sections[position], "item": item_id,
                "position": str(position + 1), "choice": label,
                "key": (item.key or "") if rule.rule == "key" else "",
                "score": f"{score:g}",
                "max_points": f"{max(max(points.values()), rule.blank):g}",
                "shown_ms": "" if shown_ms is None else str(shown_ms),
                "answered_ms": "" if answered_ms is None else str(answered_ms),
                "seconds": seconds,
            })
    return rows
