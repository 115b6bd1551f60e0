"""Response matrices from CSV text: a header of item ids, an optional ``examinee`` column.

Cells are kept as strings here; :func:`binary_matrix` and :func:`score_matrix` turn them
into numbers (an empty cell is an item the examinee was not presented: NaN). Every problem is
reported with its row and column, all at once: give ``cells="binary"`` or ``"points"`` to
:func:`parse_responses_csv` and the cells are checked in the same pass as the layout.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from item_bank.errors import Problem
from item_bank.model import ITEM_ID_PATTERN

_ID = re.compile(ITEM_ID_PATTERN)
#: A keyed file's mark for an item shown to the examinee and left blank (empty = not shown).
OMITTED = "-"


class ResponseFileError(ValueError):
    """A response file is malformed; ``problems`` holds every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(shown + more)


@dataclass(frozen=True)
class ResponseTable:
    item_ids: tuple[str, ...]
    examinees: tuple[str, ...]
    #: cells[i][j]: the stripped text of examinee i's cell for item j ("" = empty).
    cells: tuple[tuple[str, ...], ...]
    source: str = "responses"
    #: Spreadsheet column number of the first item (2 when an examinee column comes first).
    first_item_column: int = 1
    #: Spreadsheet row number of each examinee's row.
    row_numbers: tuple[int, ...] = ()
    #: From a responses export (long format) only; None otherwise.
    export: ExportData | None = None


@dataclass(frozen=True)
class ExportData:
    """What a responses export adds to the score cells (see :func:`parse_responses_csv`)."""

    #: choices[i][j]: the option label chosen, OMITTED for shown and left blank, "" not shown.
    choices: tuple[tuple[str, ...], ...]
    #: The key of each item ("" for a weighted item, which has none).
    key: tuple[str, ...]
    #: Per examinee: site, session, room and roster group.
    site: tuple[str, ...]
    session: tuple[str, ...]
    room: tuple[str, ...]
    group: tuple[str, ...]
    #: One entry per answer row: examinee index, item index, answer time (ms), seconds on
    #: the item (NaN when unknown).
    examinee_index: NDArray[np.int64]
    item_index: NDArray[np.int64]
    answered_ms: NDArray[np.float64]
    seconds: NDArray[np.float64]

    def correct_cells(self) -> tuple[tuple[str, ...], ...]:
        """1/0 cells of the keyed items ("" where not shown); weighted items are empty."""
        return tuple(
            tuple(
                "" if (c == "" or not k) else ("1" if c == k else "0")
                for c, k in zip(row, self.key, strict=True)
            )
            for row in self.choices
        )


#: The columns of a responses export (``cat-engine responses export``), in order; the
#: first three are required, the others optional.
EXPORT_COLUMNS = ("examinee", "item", "score", "site", "session", "room", "seat", "group",
                  "section", "position", "choice", "key", "max_points", "shown_ms",
                  "answered_ms", "seconds")
EXPORT_REQUIRED = EXPORT_COLUMNS[:3]


#: What a cell may hold, by kind: the message of a bad cell, or None when it is fine.
_EXPECTED = {
    "binary": "expected 1, 0 or empty",
    "points": "expected points (a number >= 0) or empty",
}


def _cell_value(kind: str, cell: str) -> float | None:
    """The number in a non-empty cell of ``kind`` ("binary" or "points"), None if invalid."""
    if kind == "binary":
        return float(cell) if cell in ("1", "0") else None
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if np.isfinite(value) and value >= 0 else None


def parse_responses_csv(
    text: str, *, source: str = "responses", cells: str | None = None
) -> ResponseTable:
    """Parse the CSV text; rows are numbered as a spreadsheet shows them (header = row 1).

    ``cells`` ("binary" or "points") also checks every cell, so that layout and cell
    problems are reported together.
    """
    problems: list[Problem] = []
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise ResponseFileError([Problem(source, "", f"not readable as CSV: {exc}")]) from None
    # Blank lines are skipped but still counted, so row numbers match a spreadsheet's.
    numbered = [(n, r) for n, r in enumerate(rows, start=1) if any(cell.strip() for cell in r)]
    if not numbered:
        raise ResponseFileError([Problem(source, "", "the file is empty")])
    header_row, header = numbered[0][0], [h.strip() for h in numbered[0][1]]
    if set(EXPORT_REQUIRED) <= {h.lower() for h in header}:
        return _parse_export(numbered, source)
    has_examinee = bool(header) and header[0].lower() == "examinee"
    ids = header[1:] if has_examinee else header
    if not ids:
        problems.append(Problem(source, f"row {header_row}", "no item columns in the header"))
    first_col = 2 if has_examinee else 1
    for j, item_id in enumerate(ids):
        if not _ID.match(item_id):
            problems.append(
                Problem(
                    source,
                    f"row {header_row}, column {j + first_col}",
                    f"invalid item id {item_id!r}",
                )
            )
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        problems.append(
            Problem(source, f"row {header_row}", f"duplicate item id(s): {', '.join(dupes)}")
        )
    examinees: list[str] = []
    table_cells: list[tuple[str, ...]] = []
    row_numbers: list[int] = []
    for n, row in numbered[1:]:
        if len(row) != len(header):
            problems.append(
                Problem(source, f"row {n}", f"{len(row)} cells, the header has {len(header)}")
            )
            continue
        values = [cell.strip() for cell in row]
        examinees.append(values[0] if has_examinee else str(len(examinees) + 1))
        row_cells = tuple(values[1:] if has_examinee else values)
        if cells is not None:
            problems += [
                Problem(
                    source,
                    f"row {n}, column {j + first_col} ({ids[j]})",
                    f"{_EXPECTED[cells]}, got {cell!r}",
                )
                for j, cell in enumerate(row_cells)
                if cell != "" and _cell_value(cells, cell) is None
            ]
        table_cells.append(row_cells)
        row_numbers.append(n)
    if not table_cells and not problems:
        problems.append(Problem(source, "", "no examinee rows after the header"))
    if problems:
        raise ResponseFileError(problems)
    return ResponseTable(
        tuple(ids), tuple(examinees), tuple(table_cells), source, first_col, tuple(row_numbers)
    )


def binary_matrix(table: ResponseTable) -> NDArray[np.float64]:
    """1 / 0 cells as numbers, empty as NaN (not presented); anything else is a problem.

    From a responses export: right (the key chosen) or wrong, for keyed items only."""
    if table.export is not None:
        table = ResponseTable(table.item_ids, table.examinees, table.export.correct_cells(),
                              table.source, table.first_item_column, table.row_numbers)
    return _matrix(table, "binary")


def category_matrix(table: ResponseTable) -> NDArray[np.float64]:
    """Categories 0..m of weighted items: each item's distinct points in increasing order
    (TKP's 1..5 become 0..4; 0..m stays as it is), empty as NaN. From a responses export,
    the items without a key (the weighted ones) only."""
    points = score_matrix(table)
    if table.export is not None:
        keyed = np.array([bool(k) for k in table.export.key])
        points[:, keyed] = np.nan
    out = np.full_like(points, np.nan)
    for j in range(points.shape[1]):
        seen = ~np.isnan(points[:, j])
        if seen.any():
            values = np.unique(points[seen, j])
            out[seen, j] = np.searchsorted(values, points[seen, j])
    return out


def score_matrix(table: ResponseTable) -> NDArray[np.float64]:
    """Points per cell (0/1, or TKP-like weights such as 1..5); empty as NaN (not presented),
    as :func:`binary_matrix` and ``calibrate`` read it."""
    return _matrix(table, "points")


def _matrix(table: ResponseTable, kind: str) -> NDArray[np.float64]:
    out = np.full((len(table.cells), len(table.item_ids)), np.nan)
    problems: list[Problem] = []
    offset = table.first_item_column
    for i, row in enumerate(table.cells):
        for j, cell in enumerate(row):
            if cell == "":
                continue
            value = _cell_value(kind, cell)
            if value is None:
                problems.append(
                    Problem(
                        table.source,
                        f"row {table.row_numbers[i]}, column {j + offset} ({table.item_ids[j]})",
                        f"{_EXPECTED[kind]}, got {cell!r}",
                    )
                )
            else:
                out[i, j] = value
    if problems:
        raise ResponseFileError(problems)
    return out


def _parse_export(numbered: list[tuple[int, list[str]]], source: str) -> ResponseTable:
    """A responses export: one row per (examinee, item shown), pivoted to a table."""
    header = [h.strip().lower() for h in numbered[0][1]]
    col = {name: header.index(name) for name in header}
    problems: list[Problem] = []
    examinees: dict[str, int] = {}
    items: dict[str, int] = {}
    info: list[tuple[str, str, str, str]] = []
    score_at: dict[tuple[int, int], str] = {}
    choice_at: dict[tuple[int, int], str] = {}
    key: dict[int, str] = {}
    answers: list[tuple[int, int, float, float]] = []

    def get(row: list[str], name: str) -> str:
        return row[col[name]].strip() if name in col else ""

    for n, row in numbered[1:]:
        if len(row) != len(header):
            problems.append(
                Problem(source, f"row {n}", f"{len(row)} cells, the header has {len(header)}")
            )
            continue
        who, item_id = get(row, "examinee"), get(row, "item")
        if not who:
            problems.append(Problem(source, f"row {n}", "empty examinee"))
        if not _ID.match(item_id):
            problems.append(Problem(source, f"row {n}", f"invalid item id {item_id!r}"))
        score = get(row, "score")
        if _cell_value("points", score) is None:
            problems.append(
                Problem(source, f"row {n} ({item_id})",
                        f"score must be a number >= 0, got {score!r}")
            )
        times = []
        for name in ("answered_ms", "seconds"):
            raw = get(row, name)
            try:
                value = float(raw) if raw else float("nan")
            except ValueError:
                message = f"{name} must be a number, got {raw!r}"
                problems.append(Problem(source, f"row {n}", message))
                value = float("nan")
            times.append(value)
        i = examinees.setdefault(who, len(examinees))
        if i == len(info):
            info.append(tuple(get(row, name) for name in ("site", "session", "room", "group")))
        j = items.setdefault(item_id, len(items))
        if (i, j) in score_at:
            problems.append(Problem(source, f"row {n}", f"{who} answers {item_id} twice"))
            continue
        score_at[i, j] = score
        choice_at[i, j] = get(row, "choice") or OMITTED
        item_key = get(row, "key")
        if key.setdefault(j, item_key) != item_key:
            problems.append(
                Problem(source, f"row {n}", f"item {item_id}: key {item_key!r}, earlier {key[j]!r}")
            )
        answers.append((i, j, times[0], times[1]))
    if not answers and not problems:
        problems.append(Problem(source, "", "no answer rows after the header"))
    if problems:
        raise ResponseFileError(problems)
    n_exam, n_item = len(examinees), len(items)
    cells = [[""] * n_item for _ in range(n_exam)]
    choices = [[""] * n_item for _ in range(n_exam)]
    for (i, j), score in score_at.items():
        cells[i][j] = score
        choices[i][j] = choice_at[i, j]
    arr = np.array(answers, dtype=float).reshape(-1, 4)
    export = ExportData(
        choices=tuple(tuple(r) for r in choices),
        key=tuple(key[j] for j in range(n_item)),
        site=tuple(x[0] for x in info),
        session=tuple(x[1] for x in info),
        room=tuple(x[2] for x in info),
        group=tuple(x[3] for x in info),
        examinee_index=arr[:, 0].astype(np.int64),
        item_index=arr[:, 1].astype(np.int64),
        answered_ms=arr[:, 2],
        seconds=arr[:, 3],
    )
    return ResponseTable(
        tuple(items), tuple(examinees), tuple(tuple(r) for r in cells), source, 1, (), export
    )
