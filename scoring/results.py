"""Results: pass/fail under a formation's rule set, and ranking with the exam's tie-breaks."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from scoring.exam import TOTAL, Exam, RuleSet
from scoring.rules import SCALE, ScoringError


@dataclass(frozen=True)
class Check:
    """One threshold of a rule set, as applied to one candidate."""

    #: A section id, ``total``, or section ids joined by ``+``.
    label: str
    sections: tuple[str, ...]
    score: float
    minimum: float

    @property
    def passed(self) -> bool:
        return self.score >= self.minimum


@dataclass(frozen=True)
class Result:
    """A candidate's scores and what the formation's rule set made of them."""

    section_scores: Mapping[str, float]
    total: float
    #: The rule set applied (None: the exam has none, so nothing is checked).
    rule_set: str | None
    checks: tuple[Check, ...]
    passed: bool
    candidate_id: str | None = None

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)


def _sum(scores: Mapping[str, float], sections: Sequence[str]) -> float:
    # In micro-points, as the score sheet adds: equal scores give equal sums.
    return sum(round(scores[s] * SCALE) for s in sections) / SCALE


def evaluate(
    exam: Exam,
    section_scores: Mapping[str, float],
    rule_set: str | None = None,
    *,
    candidate_id: str | None = None,
) -> Result:
    """Apply a rule set (None: the exam's default) to one candidate's section scores.

    Only the checks the rule set names are applied: the special SKD formations check the
    total and TIU, not TWK or TKP.
    """
    sections = exam.section_ids
    missing = [s for s in sections if s not in section_scores]
    unknown = [s for s in section_scores if s not in sections]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"no score for section(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"exam {exam.id} has no section(s) {', '.join(unknown)}")
        raise ScoringError("; ".join(parts))
    for section, score in section_scores.items():
        number = isinstance(score, int | float) and not isinstance(score, bool)
        if not number or not math.isfinite(score):
            raise ScoringError(f"section {section}: score {score!r} is not a number")
    scores = {s: float(section_scores[s]) for s in sections}
    try:
        name, rules = exam.rule_set(rule_set)
    except KeyError as exc:
        raise ScoringError(exc.args[0]) from None
    checks = _checks(sections, scores, rules) if rules is not None else ()
    return Result(
        scores,
        _sum(scores, sections),
        name,
        checks,
        all(check.passed for check in checks),
        candidate_id,
    )


def _checks(sections: Sequence[str], scores: Mapping[str, float], rules: RuleSet) -> tuple:
    checks = [
        Check(s, (s,), scores[s], rules.minimum[s]) for s in sections if s in rules.minimum
    ]
    for combined in rules.combined:
        parts = tuple(combined.sections)
        checks.append(Check("+".join(parts), parts, _sum(scores, parts), combined.minimum))
    if rules.total is not None:
        checks.append(Check(TOTAL, tuple(sections), _sum(scores, sections), rules.total))
    return tuple(checks)


@dataclass(frozen=True, eq=False)
class Ranking:
    """Ranks of a list of results (competition ranking: 1, 2, 2, 4)."""

    #: Indices into the results, best first.
    order: np.ndarray = field(repr=False)
    #: Rank of each result, by its index in the input.
    ranks: np.ndarray = field(repr=False)
    #: Whether each result shares its rank: it tied on every tie-break.
    tied: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[tuple[int, bool, int]]:
        """(rank, tied, index into the results), best first."""
        for index in self.order.tolist():
            yield int(self.ranks[index]), bool(self.tied[index]), index


def rank_columns(columns: Sequence[np.ndarray], passed: np.ndarray | None = None,
                 groups: np.ndarray | None = None) -> Ranking:
    """Rank rows by ``columns`` (each descending, the first deciding most), passers first.

    The vectorised core of :func:`rank`: one ``numpy.lexsort``; rows equal on every column
    share a rank and are flagged as tied; their listing order is their input order. With
    ``groups`` (integer labels, such as a national merge's formations) each group is ranked
    on its own, all in the same sort; ``order`` then lists the groups in label order.
    """
    keys = [-np.asarray(column, dtype=np.float64) for column in columns]
    if passed is not None:
        keys.insert(0, ~np.asarray(passed, dtype=bool))
    if groups is not None:
        keys.insert(0, np.asarray(groups, dtype=np.int64))
    n = len(keys[0]) if keys else 0
    # lexsort sorts by its last key first; stable, so equal rows keep their input order.
    order = np.lexsort(keys[::-1]) if keys else np.arange(n)
    ranks = np.empty(n, dtype=np.int64)
    tied = np.zeros(n, dtype=bool)
    if n:
        ordered = np.stack([np.asarray(key, dtype=np.float64)[order] for key in keys])
        starts = np.concatenate(([True], np.any(ordered[:, 1:] != ordered[:, :-1], axis=0)))
        group = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        ranks[order] = first[group] + 1
        if groups is not None:  # ranks restart at 1 where each group starts
            label = ordered[0]
            new_group = np.concatenate(([True], label[1:] != label[:-1]))
            group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
            ranks[order] -= group_start
        sizes = np.bincount(group)
        tied[order] = sizes[group] > 1
    return Ranking(order, ranks, tied)


def rank(results: Sequence[Result], exam: Exam) -> Ranking:
    """Rank results (a session, or one formation) by the exam's ranking rules.

    SKD: those who pass first, then by total, TKP, TIU, TWK. Results tied on every key share
    a rank and are flagged as tied.
    """
    columns = []
    for key in exam.ranking.by:
        if key == TOTAL:
            columns.append(np.fromiter((r.total for r in results), np.float64, len(results)))
        else:
            columns.append(
                np.fromiter((r.section_scores[key] for r in results), np.float64, len(results))
            )
    passed = None
    if exam.ranking.passed_first:
        passed = np.fromiter((r.passed for r in results), bool, len(results))
    return rank_columns(columns, passed)


def totals_columns(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Totals of many candidates at once, added in micro-points as :func:`evaluate` does."""
    micro = [np.round(np.asarray(s, dtype=np.float64) * SCALE).astype(np.int64) for s in scores]
    return (np.sum(micro, axis=0) if micro else np.zeros(0)) / SCALE


def passed_columns(exam: Exam, rule_set: str | None,
                   scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """:func:`evaluate`'s pass flag for many candidates of one rule set at once."""
    try:
        _name, rules = exam.rule_set(rule_set)
    except KeyError as exc:
        raise ScoringError(exc.args[0]) from None
    n = len(next(iter(scores.values()))) if scores else 0
    ok = np.ones(n, dtype=bool)
    if rules is None:
        return ok
    columns = {s: np.asarray(scores[s], dtype=np.float64) for s in exam.section_ids}
    for section, minimum in rules.minimum.items():
        ok &= columns[section] >= minimum
    for combined in rules.combined:
        ok &= totals_columns([columns[s] for s in combined.sections]) >= combined.minimum
    if rules.total is not None:
        ok &= totals_columns(list(columns.values())) >= rules.total
    return ok


def rank_key_columns(exam: Exam, scores: Mapping[str, np.ndarray],
                     total: np.ndarray) -> list[np.ndarray]:
    """The exam's ranking keys as columns (what :func:`rank` sorts by)."""
    return [np.asarray(total if key == TOTAL else scores[key], dtype=np.float64)
            for key in exam.ranking.by]
