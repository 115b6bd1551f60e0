"""Per-candidate forms: items drawn to the blueprint, items and options shuffled.

A form is a pure function of (exam, bank index, exam seed, candidate id, seat), so an auditor
regenerates any candidate's form from the published seed, the bank index and the roster.

The method, in full (docs/exams.md repeats it for auditors):

1. **Strata.** Each section is split into strata by (topic, difficulty) as its blueprint asks;
   the number of items per stratum is fixed for the exam (:func:`allocate`), so every candidate
   gets the same mix. A stratum's pool is its items sorted by id.
2. **Seat blocks.** For stratum *s* with pool size *m* drawing *k* items, the candidate at seat
   *j* takes the items at positions ``j*k .. j*k+k-1`` of an endless sequence that is the
   concatenation of rounds ``R(0), R(1), ...``, each a permutation of the pool. With
   ``Q(r) = argsort(default_rng(H("stratum", seed, section, topic, difficulty, r)).random(m),
   kind="stable")`` (topic, difficulty: null when the blueprint does not split by them) and
   ``g = min(2k, m // 3)``: ``R(r)`` is the first ``g`` entries of ``Q(r)[:m-g]`` that are not
   among the last ``g`` of ``Q(r-1)``, then the rest of ``Q(r)[:m-g]`` in order, then the last
   ``g`` of ``Q(r)``. A pool of fewer than ``3k`` items uses ``R(r) = Q(0)`` for every round.
   Every item is used exactly once per round of ``m / k`` seats (exposure is even), a form
   never meets an item twice, and neighbouring seats share no item while the pool holds six
   forms' worth (``m >= 6k``), even across the seam between two rounds; smaller pools share
   fewer items than independent draws would, and at most ``2k - m`` below two forms' worth.
   Enemies of items already on the form are skipped (the next position is used).
   **Without a seat** the draw is independent of everyone else's: the items in ascending order
   of ``default_rng(H("free", seed, candidate, section, topic, difficulty)).random(m)``
   (stable), enemies skipped.
3. **Candidate shuffle.** ``rng = default_rng(H("candidate", seed, candidate))``. Sections
   keep their order; the drawn items, listed section by section, stratum by stratum, by id,
   are (if items shuffle) put in order within each section by ascending ``u = rng.random(n)``
   (one value per item, in that listing; stable). Then, if options shuffle, ``v =
   rng.random(n)`` picks for the item at position *p* whose *o* options include *f* that
   are not fixed the order number ``floor(v[p] * f!)`` among
   ``itertools.permutations(range(f))`` (lexicographic order): the j-th place that is not
   fixed shows the not-fixed option numbered by entry j of that order, counting only the
   not-fixed options in authored order; a fixed option stays at its authored place. Without
   fixed options ``f = o`` and that is simply the o-th order of all options.

``H(*parts)`` is the SHA-256 of the compact UTF-8 JSON array ``["cat-engine/forms/1", *parts]``
read as a big-endian integer; ``default_rng`` is numpy's PCG64 seeded through SeedSequence.
Only ``Generator.random`` is drawn from (53 bits of each 64-bit PCG64 output, unchanged since
numpy 1.17); keep the numpy version beside a published seed all the same.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from item_bank.model import MAX_OPTIONS, ItemMeta
from scoring.exam import Exam, Section

SEED_DOMAIN = "cat-engine/forms/1"
#: Option labels as a candidate sees them, by shown position.
SHOWN_LABELS = "ABCDEFGH"
_PERM_CACHE_SIZE = 1024


class FormError(ValueError):
    """The bank cannot supply the blueprint; the message names the section/topic/difficulty."""


class FormItem(NamedTuple):
    """One position of a form."""

    item_id: str
    section: str
    #: Shown position i holds the item's authored option number ``option_order[i]`` (0-based).
    option_order: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Form:
    """A candidate's items in the order shown, with the arguments that regenerate it.

    Held as compact columns (what assembly produces and the store keeps); ``items`` gives
    the same as :class:`FormItem` rows.
    """

    exam_id: str
    exam_seed: str
    candidate_id: str
    seat: int | None
    #: Item id per position.
    item_ids: tuple[str, ...]
    #: Section id per position; sections are contiguous, in exam order.
    sections: tuple[str, ...]
    #: Row per position: the authored option number shown at each column, -1 past the
    #: item's last option. Read-only.
    option_table: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        self.option_table.flags.writeable = False

    def __len__(self) -> int:
        return len(self.item_ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Form):
            return NotImplemented
        return self._identity() == other._identity()

    __hash__ = None  # type: ignore[assignment]

    def _identity(self) -> tuple[Any, ...]:
        return (
            self.exam_id,
            self.exam_seed,
            self.candidate_id,
            self.seat,
            self.item_ids,
            self.sections,
            self.option_table.tolist(),
        )

    def option_order(self, position: int) -> tuple[int, ...]:
        """Authored option numbers in the order shown at ``position``."""
        row = self.option_table[position]
        return tuple(row[row >= 0].tolist())

    @cached_property
    def n_options(self) -> tuple[int, ...]:
        """Options shown at each position."""
        return tuple((self.option_table >= 0).sum(axis=1).tolist())

    @cached_property
    def items(self) -> tuple[FormItem, ...]:
        return tuple(
            FormItem(item_id, section, tuple(o for o in row if o >= 0))
            for item_id, section, row in zip(
                self.item_ids, self.sections, self.option_table.tolist(), strict=True
            )
        )

    def section_positions(self) -> dict[str, range]:
        """Positions of each section in the form."""
        spans: dict[str, range] = {}
        for position, section in enumerate(self.sections):
            start = spans[section].start if section in spans else position
            spans[section] = range(start, position + 1)
        return spans

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (what the store keeps)."""
        return {
            "exam_id": self.exam_id,
            "exam_seed": self.exam_seed,
            "candidate_id": self.candidate_id,
            "seat": self.seat,
            "items": [[i.item_id, i.section, list(i.option_order)] for i in self.items],
        }

    @classmethod
    def from_items(
        cls,
        exam_id: str,
        exam_seed: str,
        candidate_id: str,
        seat: int | None,
        items: Sequence[FormItem | Sequence[Any]],
    ) -> Form:
        # One array from padded lists: a numpy assignment per position was most of loading a
        # candidate's form at login.
        rows = [[*order, *[-1] * (MAX_OPTIONS - len(order))] for _, _, order in items]
        table = np.array(rows, dtype=np.int8).reshape(len(items), MAX_OPTIONS)
        # Interned: every form of a session names the same items and sections, and a live
        # server holds thousands of forms.
        return cls(
            exam_id,
            exam_seed,
            candidate_id,
            seat,
            tuple(map(sys.intern, map(str, (item[0] for item in items)))),
            tuple(map(sys.intern, map(str, (item[1] for item in items)))),
            table,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Form:
        return cls.from_items(
            data["exam_id"], data["exam_seed"], data["candidate_id"], data["seat"], data["items"]
        )


def shown_choice(label: str) -> int:
    """The shown position of an option label as a candidate saw it (``"C"`` -> 2)."""
    position = SHOWN_LABELS.find(label.upper()) if len(label) == 1 else -1
    if position < 0:
        raise ValueError(f"{label!r} is not an option label (A..H)")
    return position


@dataclass(frozen=True)
class Stratum:
    """The items of one (section, topic, difficulty) cell of a blueprint."""

    section: str
    topic: str | None
    difficulty: str | None
    #: Items drawn from this stratum for every form.
    count: int
    #: Indices (into the assembler's sorted ids) of the items that may be drawn.
    pool: np.ndarray
    #: Whether any item of the pool has an enemy among the exam's items.
    has_enemies: bool

    def describe(self) -> str:
        parts = [f"section {self.section}"]
        if self.topic is not None:
            parts.append(f"topic {self.topic}")
        if self.difficulty is not None:
            parts.append(f"difficulty {self.difficulty}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Shortage:
    """Where a bank cannot supply a blueprint, and by how many items."""

    section: str
    topic: str | None
    difficulty: str | None
    needed: int
    available: int

    @property
    def short_by(self) -> int:
        return self.needed - self.available

    def __str__(self) -> str:
        where = f"section {self.section}"
        if self.topic is not None:
            where += f", topic {self.topic}"
        if self.difficulty is not None:
            where += f", difficulty {self.difficulty}"
        return (
            f"{where}: needs {self.needed} items, the bank has {self.available} "
            f"({self.short_by} short)"
        )


def check_bank(exam: Exam, manifest_sections: Mapping[str, Any]) -> list[Shortage]:
    """Every section, topic and difficulty whose item count in a bank falls short.

    ``manifest_sections`` is a bank manifest's ``{section: {"items": n, "topics": {topic: n},
    "difficulties": {label: n}}}``. The manifest holds no joint topic x difficulty counts nor
    enemies, so an empty list means the counts suffice; :class:`FormAssembler` gives the final
    word.
    """
    shortages: list[Shortage] = []
    for section in exam.sections:
        counts = manifest_sections.get(section.id) or {}
        available = int(_count(counts, "items") or 0)
        if available < section.items:
            shortages.append(Shortage(section.id, None, None, section.items, available))
        for counted, blueprint, is_topic in (
            ("topics", section.topics, True),
            ("difficulties", section.difficulty, False),
        ):
            have = _count(counts, counted) or {}
            for label, needed in (blueprint or {}).items():
                got = int(have.get(label, 0))
                if got < needed:
                    topic, difficulty = (label, None) if is_topic else (None, label)
                    shortages.append(Shortage(section.id, topic, difficulty, needed, got))
    return shortages


def _count(counts: Any, name: str) -> Any:
    # A manifest's section counts read as a mapping (JSON) or as attributes (SectionCounts).
    if isinstance(counts, Mapping):
        return counts.get(name)
    return getattr(counts, name, None)


def allocate(
    section: Section, capacity: Mapping[tuple[str | None, str | None], int]
) -> dict[tuple[str | None, str | None], int]:
    """Items per (topic, difficulty) cell meeting the section's topic and difficulty counts.

    Starts from the counts the two margins would give if independent (rounded down, capped by
    what the bank holds), then completes them along augmenting paths (a max-flow), so the
    result meets both margins exactly whenever the bank allows. Deterministic.
    Raises :class:`FormError` naming the shortfall otherwise.
    """
    rows: dict[str | None, int] = dict(section.topics or {None: section.items})
    cols: dict[str | None, int] = dict(section.difficulty or {None: section.items})
    total = section.items
    n = {
        (r, c): min(capacity.get((r, c), 0), rows[r] * cols[c] // total) for r in rows for c in cols
    }
    while True:
        row_left = {r: rows[r] - sum(n[r, c] for c in cols) for r in rows}
        col_left = {c: cols[c] - sum(n[r, c] for r in rows) for c in cols}
        if not any(row_left.values()):
            return {cell: count for cell, count in n.items() if count}
        path = _augmenting_path(rows, cols, n, capacity, row_left, col_left)
        if path is None:
            raise FormError(_allocation_failure(section, capacity, rows, cols))
        for i, (r, c) in enumerate(path):
            n[r, c] += 1 if i % 2 == 0 else -1


def _augmenting_path(rows, cols, n, capacity, row_left, col_left):
    """Cells along a path from a topic short of items to a difficulty short of items.

    Even steps add an item to a cell (room left in the bank), odd steps move one away.
    """
    parent: dict[Any, Any] = {}
    queue = deque(("row", r) for r in rows if row_left[r] > 0)
    seen = set(queue)
    while queue:
        kind, node = queue.popleft()
        if kind == "row":
            for c in cols:
                if n[node, c] < capacity.get((node, c), 0) and ("col", c) not in seen:
                    seen.add(("col", c))
                    parent["col", c] = (kind, node)
                    if col_left[c] > 0:
                        return _trace(parent, ("col", c))
                    queue.append(("col", c))
        else:
            for r in rows:
                if n[r, node] > 0 and ("row", r) not in seen:
                    seen.add(("row", r))
                    parent["row", r] = (kind, node)
                    queue.append(("row", r))
    return None


def _trace(parent: Mapping[Any, Any], end: tuple[str, Any]) -> list[tuple[Any, Any]]:
    cells = []
    node = end
    while node in parent:
        previous = parent[node]
        row, col = (previous[1], node[1]) if node[0] == "col" else (node[1], previous[1])
        cells.append((row, col))
        node = previous
    return cells[::-1]


def _allocation_failure(section, capacity, rows, cols) -> str:
    for r, need in rows.items():
        have = sum(capacity.get((r, c), 0) for c in cols)
        if have < need:
            return str(Shortage(section.id, r, None, need, have))
    for c, need in cols.items():
        have = sum(capacity.get((r, c), 0) for r in rows)
        if have < need:
            return str(Shortage(section.id, None, c, need, have))
    cells = ", ".join(f"{r}/{c}: {capacity.get((r, c), 0)}" for r in rows for c in cols)
    return (
        f"section {section.id}: the bank cannot meet the topic and difficulty counts together "
        f"(items per topic/difficulty in the bank: {cells})"
    )


def _option_orders(sizes: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every order of n options for each n in ``sizes``, in lexicographic order, in one table.

    Rows ``offset[n] .. offset[n] + n! - 1`` hold the orders of n options (padded with -1);
    the first is the authored order.
    """
    offset = np.zeros(MAX_OPTIONS + 1, dtype=np.int64)
    blocks = []
    rows = 0
    for n in sorted(sizes):
        offset[n] = rows
        block = np.full((math.factorial(n), MAX_OPTIONS), -1, dtype=np.int8)
        block[:, :n] = list(itertools.permutations(range(n)))
        blocks.append(block)
        rows += len(block)
    table = np.concatenate(blocks) if blocks else np.zeros((0, MAX_OPTIONS), dtype=np.int8)
    return table, offset


def place_fixed(free_order: Sequence[int], n_options: int, fixed: Sequence[int]) -> np.ndarray:
    """The shown order of ``n_options`` options whose ``fixed`` ones keep their place.

    ``free_order`` orders the options that are not fixed, numbered 0.. among themselves in
    authored order; the row is padded with -1 to ``MAX_OPTIONS`` like a form's table.
    """
    free = [i for i in range(n_options) if i not in fixed]
    row = np.full(MAX_OPTIONS, -1, dtype=np.int8)
    row[:n_options] = range(n_options)
    row[free] = [free[int(j)] for j in free_order[: len(free)]]
    return row


def _hash_int(*parts: str | int | None) -> int:
    text = json.dumps([SEED_DOMAIN, *parts], ensure_ascii=False, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


def _rng(*parts: str | int | None) -> np.random.Generator:
    return np.random.default_rng(_hash_int(*parts))


class FormAssembler:
    """Draws forms of one exam from one bank index; build it once, call :meth:`assemble` often.

    Construction checks that the bank can supply the blueprint (:class:`FormError` if not),
    so a site learns it before exam day, not at the first candidate.
    """

    def __init__(self, exam: Exam, index: Mapping[str, ItemMeta]):
        self.exam = exam
        self._ids: list[str] = sorted(index)
        position = {item_id: i for i, item_id in enumerate(self._ids)}
        metas = [index[item_id] for item_id in self._ids]
        self._n_options = np.array([meta.n_options for meta in metas], dtype=np.int64)
        #: Item index -> its fixed option numbers, for the few items that have any.
        self._fixed = {i: meta.fixed for i, meta in enumerate(metas) if meta.fixed}
        #: Options that shuffle: all of an item's, less its fixed ones.
        self._n_free = self._n_options - np.array(
            [len(meta.fixed) for meta in metas], dtype=np.int64
        )
        wrong_kind = []
        pools: list[tuple[Section, dict[tuple[str | None, str | None], list[int]]]] = []
        eligible: set[int] = set()
        for section in exam.sections:
            cells: dict[tuple[str | None, str | None], list[int]] = {}
            for i, meta in enumerate(metas):
                if meta.section != section.id:
                    continue
                if meta.scoring != section.scoring.rule:
                    wrong_kind.append(meta.id)
                    continue
                topic = meta.topic if section.topics is not None else None
                difficulty = meta.difficulty if section.difficulty is not None else None
                if section.topics is not None and topic not in section.topics:
                    continue
                if section.difficulty is not None and difficulty not in section.difficulty:
                    continue
                cells.setdefault((topic, difficulty), []).append(i)
                eligible.add(i)
            pools.append((section, cells))
        if wrong_kind:
            shown = ", ".join(wrong_kind[:5]) + (" ..." if len(wrong_kind) > 5 else "")
            raise FormError(
                f"{len(wrong_kind)} item(s) are scored differently from their section's rule "
                f"(by key vs. by option weights): {shown}"
            )
        # Enemies count both ways: either item listing the other keeps them apart.
        enemies: dict[int, set[int]] = {}
        for i in eligible:
            for other in metas[i].enemies:
                j = position.get(other)
                if j is not None and j in eligible:
                    enemies.setdefault(i, set()).add(j)
                    enemies.setdefault(j, set()).add(i)
        self._enemies = {i: frozenset(js) for i, js in enemies.items()}
        strata: list[Stratum] = []
        for section, cells in pools:
            counts = self._allocate(section, cells)
            for (topic, difficulty), count in counts.items():
                pool = np.array(cells[topic, difficulty], dtype=np.int64)
                has_enemies = any(i in self._enemies for i in cells[topic, difficulty])
                strata.append(Stratum(section.id, topic, difficulty, count, pool, has_enemies))
        self.strata: tuple[Stratum, ...] = tuple(strata)
        # Strata are grouped by section in exam order, as are the positions of a form.
        self._position_sections = tuple(s.section for s in self.strata for _ in range(s.count))
        numbers = {section_id: i for i, section_id in enumerate(exam.section_ids)}
        self._section_numbers = np.array([numbers[s] for s in self._position_sections])
        self._id_array = np.array(self._ids, dtype=object)
        self._perm_table, self._perm_offset = _option_orders(
            {int(self._n_options[i]) for i in eligible} | {int(self._n_free[i]) for i in eligible}
        )
        self._factorial = np.array([math.factorial(n) for n in range(MAX_OPTIONS + 1)])
        self._perms: dict[tuple[str, int, int], np.ndarray] = {}

    def _allocate(
        self, section: Section, cells: Mapping[tuple[str | None, str | None], list[int]]
    ) -> dict[tuple[str | None, str | None], int]:
        # Prefer counts each cell can give despite enemies inside it (a cell of n items with
        # p enemy pairs surely gives n - p); fall back to plain counts, which may still work.
        sizes = {cell: len(items) for cell, items in cells.items()}
        safe = {}
        for cell, items in cells.items():
            members = set(items)
            pairs = sum(len(self._enemies.get(i, frozenset()) & members) for i in items) // 2
            safe[cell] = len(items) - pairs
        if safe != sizes:
            try:
                return allocate(section, safe)
            except FormError:
                pass
        return allocate(section, sizes)

    def assemble(self, *, exam_seed: str, candidate_id: str, seat: int | None = None) -> Form:
        """The candidate's form; the same arguments always give the same form."""
        if seat is not None and (isinstance(seat, bool) or not isinstance(seat, int) or seat < 0):
            raise ValueError(f"seat must be a whole number >= 0, not {seat!r}")
        taken_by_stratum = []
        blocked: set[int] = set()
        for number, stratum in enumerate(self.strata):
            if seat is None:
                taken = self._draw_free(stratum, exam_seed, candidate_id, blocked)
            else:
                taken = self._draw_seated(number, stratum, exam_seed, seat, blocked)
            taken_by_stratum.append(taken)
        rng = _rng("candidate", exam_seed, candidate_id)
        # Strata are in exam order, so this is section by section, stratum by stratum, by id.
        drawn = np.concatenate([np.sort(taken) for taken in taken_by_stratum])
        if self.exam.shuffle_items:
            # Within each section, by a uniform key per item (lexsort: last key first).
            drawn = drawn[np.lexsort((rng.random(len(drawn)), self._section_numbers))]
        n_options = self._n_options[drawn]
        if not self.exam.shuffle_options:
            # Row 0 of each block is the authored order.
            table = self._perm_table[self._perm_offset[n_options]]
        else:
            # One of the f! orders of each item's f options that are not fixed, uniformly.
            n_free = self._n_free[drawn]
            picks = rng.random(len(drawn)) * self._factorial[n_free]
            table = self._perm_table[self._perm_offset[n_free] + picks.astype(np.int64)]
            for position in np.flatnonzero(n_free != n_options):
                item = int(drawn[position])
                table[position] = place_fixed(
                    table[position], int(self._n_options[item]), self._fixed[item]
                )
        item_ids = tuple(self._id_array[drawn].tolist())
        return Form(
            self.exam.id, exam_seed, candidate_id, seat, item_ids, self._position_sections, table
        )

    def _draw_seated(
        self, number: int, stratum: Stratum, exam_seed: str, seat: int, blocked: set[int]
    ) -> np.ndarray:
        k, m = stratum.count, len(stratum.pool)
        start = seat * k
        round_, offset = divmod(start, m)
        if not stratum.has_enemies and offset + k <= m:
            return self._permutation(number, stratum, exam_seed, round_)[offset : offset + k]
        # Walking the rest of this round and all of the next visits every item of the pool.
        sequence = (
            int(self._permutation(number, stratum, exam_seed, step // m)[step % m])
            for step in range(start, start + 2 * m - offset)
        )
        return self._pick(stratum, sequence, blocked)

    def _draw_free(
        self, stratum: Stratum, exam_seed: str, candidate_id: str, blocked: set[int]
    ) -> np.ndarray:
        k, m = stratum.count, len(stratum.pool)
        parts = ("free", exam_seed, candidate_id, stratum.section, stratum.topic)
        u = _rng(*parts, stratum.difficulty).random(m)
        if not stratum.has_enemies:
            # The k smallest values, found in O(m); their order does not matter here.
            return stratum.pool[np.argpartition(u, k - 1)[:k]] if k < m else stratum.pool
        return self._pick(stratum, stratum.pool[np.argsort(u, kind="stable")].tolist(), blocked)

    def _pick(self, stratum: Stratum, candidates: Iterable[int], blocked: set[int]) -> np.ndarray:
        """The first ``count`` candidates that are neither repeated nor enemies of the form."""
        picked: list[int] = []
        seen: set[int] = set()
        for item in candidates:
            if item in seen or item in blocked:
                continue
            seen.add(item)
            picked.append(item)
            blocked.update(self._enemies.get(item, ()))
            if len(picked) == stratum.count:
                return np.array(picked, dtype=np.int64)
        raise FormError(
            f"{stratum.describe()}: only {len(picked)} of {stratum.count} items can be drawn "
            f"without two enemy items on one form (pool of {len(stratum.pool)}); add items or "
            "remove enemy marks"
        )

    def _permutation(
        self, number: int, stratum: Stratum, exam_seed: str, round_: int
    ) -> np.ndarray:
        """Round ``round_`` of the stratum's sequence (a permutation of its pool).

        ``Q(r)`` is a plain seeded permutation. Its last ``g`` items end the round, and the
        round starts with the first ``g`` items of the rest that did not end the round
        before, so the seats on either side of a seam between rounds share nothing.
        """
        key = (exam_seed, number, round_)
        perm = self._perms.get(key)
        if perm is not None:
            return perm
        m, k = len(stratum.pool), stratum.count
        guard = min(2 * k, m // 3)
        if m < 3 * k:
            # A pool under three forms' worth: one order for every round, so that the
            # sequence is a cycle and adjacent seats overlap by no more than 2k - m.
            order = self._plain_order(stratum, exam_seed, 0)
        else:
            order = self._plain_order(stratum, exam_seed, round_)
            # guard >= k: a window across the seam never meets the same item twice.
            previous_end = self._plain_order(stratum, exam_seed, round_ - 1)[m - guard :]
            body = order[: m - guard]
            head = np.flatnonzero(~np.isin(body, previous_end))[:guard]
            rest = np.ones(len(body), dtype=bool)
            rest[head] = False
            order = np.concatenate((body[head], body[rest], order[m - guard :]))
        perm = stratum.pool[order]
        if len(self._perms) >= _PERM_CACHE_SIZE:
            self._perms.clear()
        self._perms[key] = perm
        return perm

    @staticmethod
    def _plain_order(stratum: Stratum, exam_seed: str, round_: int) -> np.ndarray:
        """``Q(r)``: positions in the pool, in a seeded random order."""
        rng = _rng(
            "stratum", exam_seed, stratum.section, stratum.topic, stratum.difficulty, round_
        )
        return np.argsort(rng.random(len(stratum.pool)), kind="stable")


def assemble_form(
    exam: Exam,
    index: Mapping[str, ItemMeta],
    *,
    exam_seed: str,
    candidate_id: str,
    seat: int | None = None,
) -> Form:
    """One candidate's form. For many forms, build one :class:`FormAssembler` and reuse it."""
    return FormAssembler(exam, index).assemble(
        exam_seed=exam_seed, candidate_id=candidate_id, seat=seat
    )


def shared_items(a: Form, b: Form) -> int:
    """How many items two forms have in common."""
    return len(set(a.item_ids) & set(b.item_ids))


def exposure(forms: Sequence[Form]) -> dict[str, int]:
    """How many of the forms hold each item."""
    counts: dict[str, int] = {}
    for form in forms:
        for item_id in form.item_ids:
            counts[item_id] = counts.get(item_id, 0) + 1
    return counts
