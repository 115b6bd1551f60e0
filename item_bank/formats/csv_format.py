"""CSV for spreadsheet authors: one item per row, a header row naming the columns.

Columns (case-insensitive, any order): ``id`` and ``stem`` (required), ``section``,
``topic``, ``difficulty``, option texts ``A`` .. ``H`` (leave unused ones empty), either
``key`` or ``weight_A`` .. ``weight_H``, and optionally ``irt_model``, ``irt_a``, ``irt_b``,
``irt_c``, ``irt_d``, ``irt_thresholds`` (``;``-separated), ``enemies`` (``;``-separated
ids) and ``fixed`` (the option letters that keep their place when options shuffle).
Images are referenced from the stem or an option as ``![alt](path)``, relative to the CSV
file. Comma, semicolon and tab separators are recognised (a spreadsheet set to
Indonesian often saves with ``;``). Rows are counted as the spreadsheet shows them: the
header is row 1.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

from item_bank.errors import Problem
from item_bank.formats.common import apply_defaults, build_item
from item_bank.formats.images import ImageError, make_asset, read_local_image
from item_bank.model import MAX_OPTIONS, Item, referenced_images

OPTION_COLUMNS = tuple("ABCDEFGH"[:MAX_OPTIONS])
TEXT_COLUMNS = (
    "id", "section", "topic", "difficulty", "stem", "key", "enemies", "fixed", "irt_model",
)
NUMBER_COLUMNS = ("irt_a", "irt_b", "irt_c", "irt_d")
KNOWN_COLUMNS = frozenset(
    (
        *TEXT_COLUMNS,
        *NUMBER_COLUMNS,
        "irt_thresholds",
        *(c.lower() for c in OPTION_COLUMNS),
        *(f"weight_{c.lower()}" for c in OPTION_COLUMNS),
    )
)
#: The csv module's default limit is 128 KiB per field; a stem may be 20,000 characters.
_FIELD_LIMIT = 1 << 20


def load_csv(
    path: Path,
    *,
    default_section: str | None = None,
    default_topic: str | None = None,
) -> tuple[list[tuple[Item, str]], list[Problem]]:
    """Items of a CSV file with their locations ("row N"), and every problem."""
    source = str(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        return [], [
            Problem(
                source,
                f"line {line}",
                f"not UTF-8 text (byte 0x{raw[error.start]:02x}); save the sheet as 'CSV UTF-8'",
            )
        ]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return [], [Problem(source, f"line {line}", "holds a NUL character; not a CSV text file")]
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    previous_limit = csv.field_size_limit(_FIELD_LIMIT)
    try:
        return _read_rows(reader, path, default_section, default_topic)
    except csv.Error as error:
        return [], [Problem(source, f"line {reader.line_num}", f"not valid CSV: {error}")]
    finally:
        csv.field_size_limit(previous_limit)


def _read_rows(
    reader: Any, path: Path, default_section: str | None, default_topic: str | None
) -> tuple[list[tuple[Item, str]], list[Problem]]:
    source = str(path)
    problems: list[Problem] = []
    items: list[tuple[Item, str]] = []
    header = next(reader, None)
    if header is None:
        return [], [Problem(source, "row 1", "the file is empty; expected a header row")]
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name and name not in KNOWN_COLUMNS]
    missing = [name for name in ("id", "stem") if name not in columns]
    repeated = sorted({name for name in columns if name and columns.count(name) > 1})
    if unknown:
        problems.append(Problem(source, "row 1", f"unknown column(s): {', '.join(unknown)}"))
    if missing:
        problems.append(Problem(source, "row 1", f"missing column(s): {', '.join(missing)}"))
    if repeated:
        problems.append(Problem(source, "row 1", f"repeated column(s): {', '.join(repeated)}"))
    if problems:
        return [], problems
    for row_number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"row {row_number}"
        if len(row) > len(columns):
            problems.append(
                Problem(source, where, f"{len(row)} cells but the header names {len(columns)}")
            )
            continue
        cells = {name: cell for name, cell in zip(columns, row, strict=False) if name}
        fields, found = _fields_from_cells(cells, path.parent, source, where)
        if cells.get("id", "").strip():
            where = f"{where} (item {cells['id'].strip()})"
            found = [Problem(p.source, where, p.reason) for p in found]
        if found:
            problems.extend(found)
            continue
        apply_defaults(fields, default_section, default_topic)
        item, found = build_item(fields, source, where)
        problems.extend(found)
        if item is not None:
            items.append((item, where))
    return items, problems


def _number(text: str) -> float:
    # A spreadsheet in an Indonesian locale writes 2,5 for 2.5.
    value = float(text.strip().replace(",", ".") if text.count(",") == 1 else text.strip())
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _fields_from_cells(
    cells: dict[str, str], base_dir: Path, source: str, where: str
) -> tuple[dict[str, Any], list[Problem]]:
    problems: list[Problem] = []
    fields: dict[str, Any] = {}
    for name in ("id", "section", "topic", "difficulty", "key"):
        value = cells.get(name, "").strip()
        if value:
            fields[name] = value
    fields["stem"] = cells.get("stem", "").strip()
    options: dict[str, str] = {}
    gap = None
    for label in OPTION_COLUMNS:
        text = cells.get(label.lower(), "").strip()
        if not text:
            gap = gap or label
            continue
        if gap:
            problems.append(Problem(source, where, f"option {gap} is empty but {label} is not"))
            gap = None
        options[label] = text
    fields["options"] = options
    weights = {}
    for label in OPTION_COLUMNS:
        text = cells.get(f"weight_{label.lower()}", "").strip()
        if text:
            try:
                weights[label] = _number(text)
            except ValueError:
                problems.append(Problem(source, where, f"weight_{label}: {text!r} is not a number"))
    if weights:
        fields["weights"] = weights
    for name in ("enemies", "fixed"):
        if cells.get(name, "").strip():
            fields[name] = [e for e in re.split(r"[;,\s]+", cells[name]) if e]
    irt: dict[str, Any] = {}
    for name in NUMBER_COLUMNS:
        text = cells.get(name, "").strip()
        if text:
            try:
                irt[name.removeprefix("irt_")] = _number(text)
            except ValueError:
                problems.append(Problem(source, where, f"{name}: {text!r} is not a number"))
    if cells.get("irt_thresholds", "").strip():
        try:
            irt["thresholds"] = [
                _number(t) for t in cells["irt_thresholds"].split(";") if t.strip()
            ]
        except ValueError:
            problems.append(Problem(source, where, "irt_thresholds: not a ';'-separated list"))
    if cells.get("irt_model", "").strip():
        irt["model"] = cells["irt_model"].strip().lower()
    if irt:
        irt.setdefault("model", "3pl" if "c" in irt else ("gpcm" if "thresholds" in irt else "2pl"))
        fields["irt"] = irt
    names = dict.fromkeys(referenced_images(fields["stem"]))
    for text in options.values():
        names.update(dict.fromkeys(referenced_images(text)))
    assets = []
    for name in names:
        try:
            assets.append(make_asset(name, read_local_image(base_dir, name)))
        except ImageError as error:
            problems.append(Problem(source, where, str(error)))
    fields["images"] = assets
    return fields, problems
