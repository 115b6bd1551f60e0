"""The bridge to the scoring package: forms, score keys and results for the live server."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cat_engine.services.runtime import SessionState, UnlockedBank
from scoring.adaptive_section import form_assembler
from scoring.forms import Form, FormAssembler
from scoring.results import Result, evaluate
from scoring.rules import ScoreSheet, build_score_key


def assembler(session: SessionState, bank: UnlockedBank) -> FormAssembler:
    """One assembler per session (it checks the bank can supply the blueprint once)."""
    return bank.per_session("assembler", session,
                            lambda: form_assembler(session.exam, bank.index, bank.item))


def assemble(session: SessionState, bank: UnlockedBank, candidate_id: int,
             seat: int | None = None) -> Form:
    """The candidate's randomized form (deterministic in the session seed, candidate and seat:
    neighbouring seats get disjoint item blocks, see docs/exams.md)."""
    return assembler(session, bank).assemble(exam_seed=session.seed,
                                             candidate_id=str(candidate_id), seat=seat)


def score_sheet(session: SessionState, bank: UnlockedBank, form: Form,
                answers: list[int | None]) -> ScoreSheet:
    """The candidate's live score sheet (its key stays on the server), up to date."""
    memo = bank.per_session("item_points", session, dict)
    items = {item_id: bank.item(item_id) for item_id in form.item_ids if item_id not in memo}
    return ScoreSheet(build_score_key(session.exam, form, items, memo), answers)


class LazyScoreSheet:
    """A candidate's score sheet, built the first time it is used (their first answer, or
    their finish), not when they log in: a room's 2,000 logins at once wait for each other's
    work, while their first answers come spread over minutes. The first use puts the real
    sheet in the candidate's place (``owner.score_sheet``); until then this stands in."""

    __slots__ = ("_build", "_sheet", "owner")

    def __init__(self, build: Callable[[], ScoreSheet]):
        self._build: Callable[[], ScoreSheet] | None = build
        self._sheet: ScoreSheet | None = None
        #: The candidate state holding this sheet (its ``score_sheet`` is replaced).
        self.owner: Any = None

    def built(self) -> ScoreSheet:
        sheet = self._sheet
        if sheet is None:
            sheet = self._sheet = self._build()
            self._build = None
            owner, self.owner = self.owner, None
            if owner is not None and owner.score_sheet is self:
                owner.score_sheet = sheet
        return sheet

    def __getattr__(self, name: str) -> Any:
        return getattr(self.built(), name)


def rule_set_for(exam, formation: str) -> str | None:
    return formation if formation in exam.rule_sets else None


def formation_title(exam, formation: str | None, lang: str = "id") -> str:
    """A formation (rule set) as people read it: its title in the language, else its name."""
    rules = exam.rule_sets.get(formation or "")
    if rules is not None and (rules.title or rules.title_en):
        return (rules.title_en if lang == "en" else "") or rules.title or rules.title_en
    return formation or ""


def result(exam, sheet: ScoreSheet, formation: str) -> dict[str, Any]:
    """The candidate's result as the terminal and the scoreboard show it."""
    res = evaluate(exam, sheet.section_scores, rule_set_for(exam, formation))
    return result_payload(exam, res, {s: hi for s, (_lo, hi) in sheet.key.bounds.items()})


def result_payload(exam, res: Result, maxima: Mapping[str, float]) -> dict[str, Any]:
    """docs/protocol.md's result: per section score, max, threshold and pass; total; pass."""
    own = {check.label: check for check in res.checks}
    sections = []
    for section in exam.sections:
        check = own.get(section.id)
        sections.append({
            "name": section.id, "score": res.section_scores[section.id],
            "max": maxima[section.id],
            "threshold": check.minimum if check else None,
            "passed": check.passed if check else None,
        })
    extra = [{"label": c.label, "score": c.score, "minimum": c.minimum, "passed": c.passed}
             for c in res.checks if c.label not in {s.id for s in exam.sections}]
    return {"sections": sections, "total": res.total,
            "max_total": sum(s["max"] for s in sections), "passed": res.passed,
            "rule_set": res.rule_set, "checks": extra}

