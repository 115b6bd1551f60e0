"""Response matrices from CSV text: a header of item ids, an optional ``examinee`` column.

Cells are kept as strings here; :func:`binary_matrix` and :func:`choice_matrix` turn them
into numbers. Every problem is reported with its row and column, all at once.
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


def parse_responses_csv(text: str, *, source: str = "responses") -> ResponseTable:
    """Parse the CSV text; rows are numbered as a spreadsheet shows them (header = row 1)."""
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
    cells: list[tuple[str, ...]] = []
    row_numbers: list[int] = []
    for n, row in numbered[1:]:
        if len(row) != len(header):
            problems.append(
                Problem(source, f"row {n}", f"{len(row)} cells, the header has {len(header)}")
            )
            continue
        values = [cell.strip() for cell in row]
        examinees.append(values[0] if has_examinee else str(len(examinees) + 1))
        cells.append(tuple(values[1:] if has_examinee else values))
        row_numbers.append(n)
    if not cells and not problems:
        problems.append(Problem(source, "", "no examinee rows after the header"))
    if problems:
        raise ResponseFileError(problems)
    return ResponseTable(
        tuple(ids), tuple(examinees), tuple(cells), source, first_col, tuple(row_numbers)
    )


def binary_matrix(table: ResponseTable) -> NDArray[np.float64]:
    """1 / 0 cells as numbers, empty as NaN (not presented); anything else is a problem."""
    out = np.full((len(table.cells), len(table.item_ids)), np.nan)
    problems: list[Problem] = []
    offset = table.first_item_column
    for i, row in enumerate(table.cells):
        for j, cell in enumerate(row):
            if cell in ("1", "0"):
                out[i, j] = float(cell)
            elif cell != "":
                problems.append(
                    Problem(
                        table.source,
                        f"row {table.row_numbers[i]}, column {j + offset} ({table.item_ids[j]})",
                        f"expected 1, 0 or empty, got {cell!r}",
                    )
                )
    if problems:
        raise ResponseFileError(problems)
    return out


def score_matrix(table: ResponseTable) -> NDArray[np.float64]:
    """Points per cell (0/1, or TKP-like weights such as 1..5); empty counts as 0 points."""
    out = np.zeros((len(table.cells), len(table.item_ids)))
    problems: list[Problem] = []
    for i, row in enumerate(table.cells):
        for j, cell in enumerate(row):
            if cell == "":
                continue
            try:
                value = float(cell)
            except ValueError:
                value = float("nan")
            if not (np.isfinite(value) and value >= 0):
                problems.append(
                    Problem(
                        table.source,
                        f"row {table.row_numbers[i]}, column {j + table.first_item_column} "
                        f"({table.item_ids[j]})",
                        f"expected points (a number >= 0) or empty, got {cell!r}",
                    )
                )
            else:
                out[i, j] = value
    if problems:
        raise ResponseFileError(problems)
    return out
