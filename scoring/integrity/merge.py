"""The national merge: every site's verified results, one ranking per formation.

Pure: it takes verified summaries (scoring.integrity.results) and the formations table and returns
columns. Per-candidate work is numpy over all candidates at once (a year's national data is
two to three million candidates); the only Python loops are over files and formations.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scoring.results import passed_columns, rank_columns, rank_key_columns, totals_columns

#: How many times the vacancies go on to the next stage (domain: at most 3x).
NEXT_STAGE_FACTOR = 3


class MergeError(Exception):
    """The merge cannot go on; the message names the file or line and the reason."""


@dataclass(frozen=True)
class Formation:
    code: str
    name: str
    vacancies: int
    rule_set: str | None


def read_formations(text: str, source: str = "formations") -> list[Formation]:
    """FORMATIONS.csv: ``code,name,vacancies,rule_set`` (rule_set empty: the exam's default)."""
    reader = csv.DictReader(io.StringIO(text))
    need = {"code", "name", "vacancies", "rule_set"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise MergeError(f"{source}: the header must have columns {', '.join(sorted(need))}")
    out, seen, problems = [], set(), []
    for line, row in enumerate(reader, start=2):
        code = (row["code"] or "").strip()
        try:
            vacancies = int(row["vacancies"])
            if vacancies < 0:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"{source} line {line}: vacancies {row['vacancies']!r} is not a "
                            f"whole number >= 0")
            continue
        if not code:
            problems.append(f"{source} line {line}: empty formation code")
        elif code in seen:
            problems.append(f"{source} line {line}: formation {code} is listed twice")
        seen.add(code)
        out.append(Formation(code, (row["name"] or "").strip(), vacancies,
                             (row["rule_set"] or "").strip() or None))
    if problems:
        raise MergeError("\n".join(problems))
    return out


@dataclass
class Part:
    """One verified file's candidates, as the merge keeps them."""

    source: str
    site: str
    session: str
    registration: np.ndarray  # str
    name: np.ndarray          # object
    formation: np.ndarray     # str
    status: np.ndarray        # object
    scores: dict[str, np.ndarray]
    receipt: np.ndarray       # object
    #: When the site exported the file (its signed ``exported_ms``).
    exported_ms: int = 0

    def identity(self) -> Part:
        """The file's names without its columns (what a merge keeps once it has them)."""
        return Part(self.source, self.site, self.session, None, None, None, None, {}, None,
                    self.exported_ms)


@dataclass
class Merged:
    """Every candidate of every file, ranked within their formation (columns)."""

    sections: list[str]
    formations: list[Formation]
    formation: np.ndarray     # index into formations
    source: np.ndarray        # index into sources
    sources: list[Part]
    registration: np.ndarray
    name: np.ndarray
    status: np.ndarray
    scores: dict[str, np.ndarray]
    total: np.ndarray
    passed: np.ndarray
    rank: np.ndarray          # 0: not ranked (did not finish)
    tied: np.ndarray
    next_stage: np.ndarray
    tie_at_cut: np.ndarray
    receipt: np.ndarray
    #: Row indices in announcement order: formation, then rank (unranked last).
    order: np.ndarray


def check_rule_sets(formations: Sequence[Formation], exam) -> None:
    """Every formation's rule set must be one of the exam's."""
    for f in formations:
        try:
            exam.rule_set(f.rule_set)
        except KeyError as exc:
            raise MergeError(f"formation {f.code}: {exc.args[0]}") from None


def passed_by_formation(exam, formations: Sequence[Formation], formation: np.ndarray,
                        scores: dict[str, np.ndarray], finished: np.ndarray) -> np.ndarray:
    """Each candidate's pass flag under their formation's rule set (special formations check
    only total and TIU); False for those who did not finish. ``formation`` indexes
    ``formations`` (-1: unknown, never passes)."""
    passed = np.zeros(len(formation), dtype=bool)
    for rule in {f.rule_set for f in formations}:
        mask = np.isin(formation, [i for i, f in enumerate(formations) if f.rule_set == rule])
        if mask.any():
            passed[mask] = passed_columns(exam, rule, {s: v[mask] for s, v in scores.items()})
    return passed & finished


def twice_message(pairs: Sequence[tuple[str, Part, Part]], more: int) -> str:
    """The refusal of registration numbers seen twice (at most ten pairs, then a count)."""
    lines = [f"registration {reg} sat twice: at site {pa.site} session {pa.session} "
             f"({pa.source}) and at site {pb.site} session {pb.session} ({pb.source})"
             for reg, pa, pb in pairs]
    return "\n".join(lines) + (f"\n... and {more} more" if more > 0 else "")


def missing_message(missing: dict[str, str]) -> str:
    """The refusal of formation codes not in the table (code -> first file holding it)."""
    codes = sorted(missing)[:5]
    return "formations not in the formations table: " + ", ".join(
        f"{c} (first in {missing[c]})" for c in codes)


def merge(parts: Sequence[Part], formations: Sequence[Formation], exam) -> Merged:
    """Refuse a registration number seen at two sites or a formation not in the table; rank
    each formation under its rule set with the exam's tie-breaks; mark who goes on."""
    sections = list(exam.section_ids)
    check_rule_sets(formations, exam)
    code_index = {f.code: i for i, f in enumerate(formations)}
    registration = np.concatenate([p.registration for p in parts]) if parts else np.array([])
    source = np.concatenate([np.full(len(p.registration), i, dtype=np.int32)
                             for i, p in enumerate(parts)]) if parts else np.array([], np.int32)
    # A registration number that sat at two sites (or twice at one) is refused.
    order = np.argsort(registration, kind="stable")
    dup = np.flatnonzero(registration[order][1:] == registration[order][:-1])
    if len(dup):
        pairs = [(str(registration[order[d]]), parts[source[order[d]]],
                  parts[source[order[d + 1]]]) for d in dup[:10]]
        raise MergeError(twice_message(pairs, len(dup) - len(pairs)))
    formation_codes = np.concatenate([p.formation for p in parts]) if parts else np.array([])
    known, inverse = np.unique(formation_codes, return_inverse=True)
    missing = [c for c in known.tolist() if c not in code_index]
    if missing:
        raise MergeError(missing_message(
            {c: next(p.source for p in parts if c in set(p.formation.tolist()))
             for c in missing}))
    formation = np.asarray([code_index[c] for c in known.tolist()], dtype=np.int64)[inverse]
    scores = {s: np.concatenate([p.scores[s] for p in parts]) for s in sections}
    status = np.concatenate([p.status for p in parts])
    total = totals_columns([scores[s] for s in sections])
    finished = status == "finished"
    passed = passed_by_formation(exam, formations, formation, scores, finished)
    keys = rank_key_columns(exam, scores, total)
    # Unfinished candidates rank after everyone: a group of their own per formation.
    group = formation * 2 + (~finished)
    ranking = rank_columns(keys, passed if exam.ranking.passed_first else None, group)
    rank = np.where(finished, ranking.ranks, 0)
    tied = ranking.tied & finished
    cut = np.asarray([NEXT_STAGE_FACTOR * f.vacancies for f in formations],
                     dtype=np.int64)[formation]
    # Competition ranks: a tie group that starts within the cut goes on whole.
    next_stage = passed & (rank >= 1) & (rank <= cut)
    tie_at_cut = next_stage & tied & _group_crosses(formation, rank, next_stage, cut)
    return Merged(sections, list(formations), formation, source,
                  [p.identity() for p in parts], registration,
                  np.concatenate([p.name for p in parts]), status, scores, total, passed,
                  rank, tied, next_stage, tie_at_cut,
                  np.concatenate([p.receipt for p in parts]), ranking.order)


def _group_crosses(formation, rank, next_stage, cut) -> np.ndarray:
    """Rows of a tie group whose members end beyond the cut (ties shown at the cut)."""
    key = formation.astype(np.int64) * (int(rank.max(initial=0)) + 2) + rank
    _keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    n_at = counts[inverse]
    return next_stage & (rank + n_at - 1 > cut)


def fnv1a(registrations: np.ndarray, buckets: int = 256) -> np.ndarray:
    """32-bit FNV-1a of each registration number's UTF-8 bytes, mod ``buckets``: which data
    shard of the announcement page holds it (the page computes the same in JavaScript)."""
    text = np.asarray(registrations, dtype=str)
    n = len(text)
    lengths = np.strings.str_len(text)
    width = int(lengths.max(initial=0))
    codes = text.view(np.uint32).reshape(n, -1)[:, :width] if n and width else None
    if codes is not None and int(codes.max()) < 0x80:
        matrix = codes  # ASCII: one byte per code point (the usual registration number)
    else:  # otherwise the UTF-8 bytes themselves
        raw = np.char.encode(text, "utf-8")
        width = raw.dtype.itemsize
        matrix = np.frombuffer(raw.tobytes(), dtype=np.uint8).reshape(n, width)
        lengths = np.char.str_len(raw)
    h = np.full(n, 2166136261, dtype=np.uint64)
    for col in range(width):
        live = col < lengths
        mixed = ((h ^ matrix[:, col]) * 16777619) & 0xFFFFFFFF
        h = np.where(live, mixed, h)
    return (h % buckets).astype(np.int64)
