"""``results export``: a session's results as a signed file (scoring.integrity.results).

Read from the store: the roster with each candidate's scores and receipt, their forms and
answer logs, and the session chain's final head, signed now if the chain grew since the
last one. The export itself is an entry of the chain ("results_published").
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from cat_engine.clock import now_ms
from cat_engine.services import anchors
from cat_engine.services.grading import rule_set_for
from cat_engine.services.sessions import SetupError, find_session
from cat_engine.store import Store, audit
from cat_engine.store.models import AnswerEvent, AuditEntry, Bank, Candidate, Form
from cat_engine.store.models import Exam as ExamRow
from item_bank.keys import fingerprint
from scoring.exam import exam_to_toml, parse_exam
from scoring.integrity import results as files
from scoring.results import evaluate, rank

#: Candidate states and what the file calls them.
STATUS = {"finished": "finished", "disqualified": "disqualified", "registered": "absent",
          "admitted": "absent"}


def export(store: Store, session_name: str, key: Ed25519PrivateKey, *,
           evidence: bool = True, actor: str = "cli") -> bytes:
    """The signed results file of a session whose candidates have all stopped working."""
    session = find_session(store, session_name)
    now = now_ms()
    with store.read() as db:
        working = db.scalar(select(func.count()).select_from(Candidate).where(
            Candidate.session_id == session.id, Candidate.state == "in_progress"))
        if working:
            raise SetupError(f"session {session.name}: {working} candidate(s) still working; "
                             f"results are exported once everyone has finished")
        exam_row = db.get(ExamRow, session.exam_id)
        bank = db.get(Bank, session.bank_id)
        cands = list(db.scalars(select(Candidate).where(Candidate.session_id == session.id)
                                .order_by(Candidate.registration)))
        forms = {f.candidate_id: f.items for f in db.scalars(select(Form).where(
            Form.candidate_id.in_([c.id for c in cands])))}
        # The full signed receipts are entries of the session's chain.
        signed = {e.candidate_id: e.detail for e in db.scalars(select(AuditEntry).where(
            AuditEntry.chain == session.id, AuditEntry.action == "receipt"))}
        logs: dict[int, list[list[Any]]] = defaultdict(list)
        for e in db.scalars(select(AnswerEvent).where(
                AnswerEvent.candidate_id.in_([c.id for c in cands]))
                .order_by(AnswerEvent.candidate_id, AnswerEvent.seq)):
            logs[e.candidate_id].append([e.seq, e.kind, e.position, e.value, e.server_ms])
    exam = parse_exam(exam_row.source)
    with store.transaction() as db:
        audit.append(db, at_ms=now, actor=actor, action="results_published",
                     session_id=session.id, detail={"candidates": len(cands),
                                                    "evidence": evidence})
    anchors.sign_heads(store, key, now, reason="export", chains=[session.id])
    head = anchors.latest(store, session.id)

    sections = list(exam.section_ids)
    rows, results = [], []
    for c in cands:
        status = STATUS.get(c.state)
        scores = {s: float((c.scores or {}).get(s, 0) or 0) for s in sections}
        res = evaluate(exam, scores, rule_set_for(exam, c.formation))
        rows.append((c, status, scores, res))
        if status == "finished":
            results.append(res)
    ranking = rank(results, exam)
    place: dict[int, tuple[int, bool]] = {}
    finished = [r for r in rows if r[1] == "finished"]
    for position, tied, index in ranking:
        place[finished[index][0].id] = (position, tied)

    col: dict[str, list] = {name: [] for name in files.COLUMNS}
    score_cols: dict[str, list] = {s: [] for s in sections}
    records = []
    for c, status, scores, res in rows:
        receipt = signed.get(c.id)
        form = forms.get(c.id)
        log = logs.get(c.id, [])
        position, tied = place.get(c.id, (None, False))
        for name, value in (
                ("registration", c.registration), ("name", c.name),
                ("formation", c.formation), ("status", status), ("rule_set", res.rule_set),
                ("total", res.total), ("passed", bool(res.passed and status == "finished")),
                ("rank", position), ("tied", tied),
                ("receipt", receipt["code"] if receipt else None),
                ("answer_log", files.answer_log_digest(log)),
                ("form", files.form_digest(form) if form else None)):
            col[name].append(value)
        for s in sections:
            score_cols[s].append(scores[s])
        records.append({"registration": c.registration, "form": form, "answer_log": log,
                        "receipt": receipt})
    summary = {
        "type": files.TYPE, "v": 1,
        "site": {"fingerprint": fingerprint(key),
                 "key": files.public_key_b64(key.public_key())},
        "session": {"name": session.name, "date": session.date, "time": session.time,
                    "room": session.room, "seed": session.seed},
        "exam": {"name": exam_row.name, "definition": exam_to_toml(exam)},
        "bank": {"bank_id": bank.bank_id, "version": bank.version,
                 "content_sha256": bank.content_hash},
        "exported_ms": now, "sections": sections,
        "candidates": {**col, "scores": score_cols},
        "chain": {"chain": head.chain, "seq": head.seq, "hash": head.hash,
                  "signed_ms": head.signed_ms, "signature": head.signature},
    }
    return files.write(key, summary, {"candidates": records} if evidence else None)


def summary_exam(summary: dict[str, Any]):
    """The exam a results file was scored under (its definition travels in the file)."""
    return parse_exam(summary["exam"]["definition"])
