"""Scoring a form: a key per form, and a score sheet that takes one answer at a time.

The key holds the points of every (position, shown choice) already mapped through the
candidate's option shuffle, so scoring an answer needs nothing from the terminal but the
position and the shown choice. Points are kept as whole micro-points (``SCALE``): sums are
exact, so the running score after any sequence of answers, changes and clears is always
*equal* (not merely close) to a full rescore.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from item_bank.model import MAX_OPTIONS, Item
from scoring.exam import Exam
from scoring.forms import Form

#: Points are stored as integers in millionths of a point.
SCALE = 1_000_000


class ScoringError(ValueError):
    """A key could not be built, or an answer does not fit the form; the message says where."""


class Scores(NamedTuple):
    section_scores: dict[str, float]
    total: float


class ScoreUpdate(NamedTuple):
    """What one answer changed: the position's section, its new score and the new total."""

    position: int
    section: str
    section_score: float
    total: float


def _micro(points: float) -> int:
    return round(points * SCALE)


@dataclass(frozen=True, eq=False)
class FormScoreKey:
    """Points per position and shown choice of one candidate's form (secret: server only)."""

    #: Section ids in exam order.
    sections: tuple[str, ...]
    #: Section number (into ``sections``) of each position.
    section_of: np.ndarray = field(repr=False)
    #: (positions, MAX_OPTIONS) micro-points of each shown choice; 0 past an item's options.
    points: np.ndarray = field(repr=False)
    #: Options of each position.
    n_options: np.ndarray = field(repr=False)
    #: Micro-points of leaving each position blank.
    blank: np.ndarray = field(repr=False)
    #: (sections, 2) lowest and highest micro-points each section can reach on this form.
    micro_bounds: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.section_of)

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        """The (min, max) score each section can reach on this form."""
        return {
            section: (low / SCALE, high / SCALE)
            for section, (low, high) in zip(self.sections, self.micro_bounds.tolist(), strict=True)
        }


def build_score_key(exam: Exam, form: Form, items: Mapping[str, Item],
                    memo: dict[str, tuple] | None = None) -> FormScoreKey:
    """The scoring key of a form, from the exam's rules and the form's items (with keys).

    ``memo`` (item id -> its checked, authored micro-points), kept by the caller for one
    exam, spares checking and recomputing each item for every form that shows it: a live
    server builds a candidate's key at their login, while the rest of the room waits.
    """
    sections = exam.section_ids
    memo = {} if memo is None else memo
    n = len(form)
    entries = []
    for position, (item_id, section_id) in enumerate(zip(form.item_ids, form.sections,
                                                          strict=True)):
        entry = memo.get(item_id)
        if entry is None or entry[0] != section_id:
            entry = memo[item_id] = _item_entry(exam, position, item_id, section_id, items)
        entries.append(entry)
    # One array operation per form, not per position: authored points, shuffled as shown.
    table = form.option_table.astype(np.int64)
    shown = table >= 0
    counts = np.array([e[2] for e in entries], dtype=np.int64).reshape(n)
    columns = np.arange(MAX_OPTIONS)[None, :]
    expected = np.where(columns < counts[:, None], columns, MAX_OPTIONS)
    bad = np.flatnonzero((np.sort(np.where(shown, table, MAX_OPTIONS), axis=1)
                          != expected).any(axis=1))
    if bad.size:
        position = int(bad[0])
        order = [o for o in table[position].tolist() if o >= 0]
        raise ScoringError(
            f"position {position} (item {form.item_ids[position]}): option order {order} "
            f"does not fit the item's {entries[position][2]} options"
        )
    authored = np.array([e[1] for e in entries], dtype=np.int64).reshape(n, MAX_OPTIONS)
    points = np.where(shown, np.take_along_axis(authored, np.maximum(table, 0), axis=1), 0)
    blank = np.array([e[3] for e in entries], dtype=np.int64).reshape(n)
    n_options = counts
    section_of = np.array([e[4] for e in entries], dtype=np.int64).reshape(n)
    # Lowest and highest points of each position: over its options and a blank.
    real = np.arange(MAX_OPTIONS)[None, :] < n_options[:, None]
    low = np.minimum(np.where(real, points, np.iinfo(np.int64).max).min(axis=1), blank)
    high = np.maximum(np.where(real, points, np.iinfo(np.int64).min).max(axis=1), blank)
    micro_bounds = np.zeros((len(sections), 2), dtype=np.int64)
    np.add.at(micro_bounds[:, 0], section_of, low)
    np.add.at(micro_bounds[:, 1], section_of, high)
    key = FormScoreKey(sections, section_of, points, n_options, blank, micro_bounds)
    for array in (section_of, points, n_options, blank, micro_bounds):
        array.flags.writeable = False
    return key


def _item_entry(exam: Exam, position: int, item_id: str, section_id: str,
                items: Mapping[str, Item]) -> tuple:
    """(section, authored micro-points padded to MAX_OPTIONS, options, blank micro-points,
    section number) of one item, checked against the exam's rules."""
    where = f"position {position} (item {item_id})"
    if section_id not in exam.section_ids:
        raise ScoringError(f"{where}: exam {exam.id} has no section {section_id!r}")
    item = items.get(item_id)
    if item is None:
        raise ScoringError(f"{where}: the item is not among the items given")
    if item.section != section_id:
        raise ScoringError(f"{where}: the bank puts the item in section {item.section!r}")
    rule = exam.section(section_id).scoring
    if rule.rule == "weights" and item.weights is None:
        raise ScoringError(f"{where}: section {section_id} scores by option weights")
    if rule.rule == "key" and item.key is None:
        raise ScoringError(f"{where}: section {section_id} scores by key, the item has none")
    by_label = item.option_points(*rule.key_points)
    authored = [_micro(by_label[label]) for label in item.options]
    k = len(authored)
    return (section_id, tuple(authored + [0] * (MAX_OPTIONS - k)), k, _micro(rule.blank),
            exam.section_ids.index(section_id))


def _choice_array(key: FormScoreKey, choices: Sequence[int | None]) -> np.ndarray:
    if len(choices) != len(key):
        raise ScoringError(f"{len(choices)} choices for a form of {len(key)} positions")
    c = np.array([-1 if choice is None else choice for choice in choices], dtype=np.int64)
    bad = np.flatnonzero((c < -1) | (c >= key.n_options) | (c == -1) & _not_none(choices))
    if bad.size:
        position = int(bad[0])
        raise ScoringError(
            f"position {position}: choice {choices[position]!r} is not one of its "
            f"{key.n_options[position]} options"
        )
    return c


def _not_none(choices: Sequence[int | None]) -> np.ndarray:
    return np.array([choice is not None for choice in choices], dtype=bool)


def rescore(key: FormScoreKey, choices: Sequence[int | None]) -> Scores:
    """Scores of a whole answer sheet (shown choice per position, None for blank)."""
    c = _choice_array(key, choices)
    answered = c >= 0
    earned = np.where(answered, key.points[np.arange(len(c)), np.maximum(c, 0)], key.blank)
    per_section = np.zeros(len(key.sections), dtype=np.int64)
    np.add.at(per_section, key.section_of, earned)
    return Scores(
        {s: int(v) / SCALE for s, v in zip(key.sections, per_section.tolist(), strict=True)},
        int(per_section.sum()) / SCALE,
    )


#: Every distinct row of points any sheet holds, held once: a site's thousands of sheets
#: share a few hundred rows (an item's points in a few shuffles), and the big integers in them.
_ROWS: dict[tuple[int, ...], tuple[int, ...]] = {}



class ScoreSheet:
    """A candidate's running scores; each answer, change or clear updates them in O(1)."""

    __slots__ = ("_blank", "_choices", "_n_options", "_points", "_section", "_section_of",
                 "_total", "key")

    def __init__(self, key: FormScoreKey, choices: Sequence[int | None] | None = None):
        self.key = key
        # Python lists: indexing them is several times faster than numpy scalars.
        # Rows shared between sheets (see _ROWS): a list of 8 fresh ints per position was a
        # third of a live candidate's memory.
        self._points: list[tuple[int, ...]] = [_ROWS.setdefault(row, row) for row
                                               in map(tuple, key.points.tolist())]
        self._blank: list[int] = key.blank.tolist()
        self._section_of: list[int] = key.section_of.tolist()
        self._n_options: list[int] = key.n_options.tolist()
        self._choices: list[int | None] = [None] * len(key)
        self._section = [0] * len(key.sections)
        for section, points in zip(self._section_of, self._blank, strict=True):
            self._section[section] += points
        self._total = sum(self._section)
        if choices is not None:
            _choice_array(key, choices)  # validates every choice before any is applied
            for position, choice in enumerate(choices):
                if choice is not None:
                    self.answer(position, choice)

    def answer(self, position: int, shown_choice: int | None) -> ScoreUpdate:
        """Record the shown choice at a position (None clears it); returns what changed."""
        if not (type(position) is int and 0 <= position < len(self._choices)):
            raise ScoringError(f"position {position!r} is not on this form of {len(self._choices)}")
        if shown_choice is not None and not (
            type(shown_choice) is int and 0 <= shown_choice < self._n_options[position]
        ):
            raise ScoringError(
                f"position {position}: choice {shown_choice!r} is not one of its "
                f"{self._n_options[position]} options"
            )
        row = self._points[position]
        old = self._choices[position]
        before = self._blank[position] if old is None else row[old]
        after = self._blank[position] if shown_choice is None else row[shown_choice]
        section = self._section_of[position]
        self._section[section] += after - before
        self._total += after - before
        self._choices[position] = shown_choice
        return ScoreUpdate(
            position, self.key.sections[section], self._section[section] / SCALE,
            self._total / SCALE,
        )

    @property
    def choices(self) -> tuple[int | None, ...]:
        return tuple(self._choices)

    @property
    def section_scores(self) -> dict[str, float]:
        return {s: v / SCALE for s, v in zip(self.key.sections, self._section, strict=True)}

    @property
    def total(self) -> float:
        return self._total / SCALE

    @property
    def scores(self) -> Scores:
        return Scores(self.section_scores, self.total)

    @property
    def answered(self) -> int:
        return sum(choice is not None for choice in self._choices)
