"""A session's item-analysis report: its response matrix gathered from the store, handed to
:func:`scoring.analysis.report.build_report` (one self-contained HTML file).

Used by ``cat-engine report`` and by the proctor console's report page. Every candidate who
answered at least once is an examinee; each section's columns are the items any of them saw
(an adaptive section's items differ per candidate: cells of items not given are empty).
"""

from __future__ import annotations

import numpy as np

from cat_engine.services.sheets import Answered, Bank, ReportError, answered_sheets
from cat_engine.store import Store
from cat_engine.store.models import Exam as ExamRow
from cat_engine.store.models import ExamSession
from scoring.exam import Exam, parse_exam


def session_report(store: Store, session_id: int, bank: Bank, *, lang: str = "id") -> str:
    """The HTML report of a session (any state; the proctor console links it once closed)."""
    from scoring.analysis.report import build_report
    from scoring.irt.models import ItemParams

    with store.read() as db:
        session = db.get(ExamSession, session_id)
        if session is None:
            raise ReportError(f"no session {session_id}")
        exam = parse_exam(db.get(ExamRow, session.exam_id).source)
        title = f"{exam.title or exam.id}: {session.name} ({session.date} {session.time})"
    sheets = answered_sheets(store, session_id, exam, bank)
    if not sheets:
        raise ReportError(f"session {session.name}: no candidate has answered yet")
    sections = [_section(exam, section.id, sheets, bank) for section in exam.sections]
    calibrated = [m for m in bank.index.values()
                  if m.irt is not None and m.irt.model not in ("grm", "gpcm")]
    params = ItemParams.from_metas(calibrated) if calibrated else None
    seen: dict[str, int] = {}
    for sheet in sheets:
        for item_id, choice in zip(sheet.form.item_ids, sheet.answers, strict=True):
            if item_id and choice is not None:
                seen[item_id] = seen.get(item_id, 0) + 1
    exposure = {item_id: n / len(sheets) for item_id, n in seen.items()}
    return build_report(sections, title=title, params=params, exposure=exposure,
                        collusion=None, lang=lang, cheating=session_flags(store, session_id, bank))


def session_flags(store: Store, session_id: int, bank: Bank, *, alpha: float = 0.1):
    """The cheating flags of one session with their evidence: the session's responses
    export, analysed as ``cat-engine cheating`` analyses it (copying given ability over the
    items each pair shared, person fit, aberrant speed, interleaved answers)."""
    import csv
    import io

    from cat_engine.services.responses_export import COLUMNS, export_rows
    from scoring.analysis.flags import cheating_flags
    from scoring.analysis.responses import parse_responses_csv

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(export_rows(store, session_id, bank))
    return cheating_flags(parse_responses_csv(buf.getvalue(), source=f"session {session_id}"),
                          alpha=alpha)


def _section(exam: Exam, section_id: str, sheets: list[Answered], bank: Bank):
    from scoring.analysis.report import SectionData

    section = exam.section(section_id)
    rule = section.scoring
    ids = sorted({i for s in sheets for i, sec in zip(s.form.item_ids, s.form.sections,
                                                      strict=True) if i and sec == section_id})
    column = {item_id: j for j, item_id in enumerate(ids)}
    items = {item_id: bank.item(item_id) for item_id in ids}
    points = {item_id: item.option_points(*rule.key_points) for item_id, item in items.items()}
    scores = np.full((len(sheets), len(ids)), np.nan)
    choices = [[""] * len(ids) for _ in sheets]
    for row, sheet in enumerate(sheets):
        for position, item_id in enumerate(sheet.form.item_ids):
            if not item_id or sheet.form.sections[position] != section_id:
                continue
            choice, j = sheet.answers[position], column[item_id]
            if choice is None:
                scores[row, j] = rule.blank
                continue
            label = list(items[item_id].options)[sheet.form.option_order(position)[choice]]
            choices[row][j] = label
            scores[row, j] = points[item_id][label]
    max_points = [max(max(points[i].values()), rule.blank) for i in ids]
    min_points = [min(min(points[i].values()), rule.blank) for i in ids]
    key = [items[i].key or "" for i in ids] if rule.rule == "key" else None
    return SectionData(section_id, ids, scores, choices if key else None, key, max_points,
                       adaptive=section.adaptive is not None, min_points=min_points)
