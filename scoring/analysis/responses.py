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
    """1 / 0 cells as numbers, empty as NaN (not presented); anything else is a problem."""
    return _matrix(table, "binary")


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
