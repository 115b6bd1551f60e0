"""What every importer shares: turning raw fields into a validated Item, or into Problems."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from item_bank.errors import Problem
from item_bank.model import Item

#: Friendlier words for the pydantic error types an author meets most.
_REASONS = {
    "missing": "is missing",
    "extra_forbidden": "is not a known field",
    "string_too_short": "is empty",
    "dict_type": "must be a mapping of option label to text",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "string_type": "must be text",
}
_ID_HINT = "an id: letters, digits and . _ : - only, starting with a letter or digit, at most 128"
_LABEL_HINT = "an option label: letters, digits, _ or - only, at most 32"
_FIELD_HINTS = {"id": _ID_HINT, "enemies": _ID_HINT}


def readable_reasons(error: ValidationError) -> list[str]:
    """One plain sentence per pydantic error: where in the item, and what is wrong."""
    reasons = []
    for detail in error.errors(include_url=False):
        where = ".".join(str(part) for part in detail["loc"] if part != "[key]")
        kind = detail["type"]
        message = str(detail["msg"]).removeprefix("Value error, ")
        if kind in _REASONS:
            message = _REASONS[kind]
        elif kind == "string_pattern_mismatch":
            head = str(detail["loc"][0]) if detail["loc"] else ""
            hint = _FIELD_HINTS.get(head, _LABEL_HINT)
            shown = repr(detail.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            message = f"{shown} is not allowed here ({hint})"
        reasons.append(f"{where}: {message}" if where else message)
    return reasons


def build_item(
    fields: Mapping[str, Any], source: str, location: str
) -> tuple[Item | None, list[Problem]]:
    """Validate ``fields`` as an Item; on failure, one Problem per reason at ``location``."""
    try:
        return Item.model_validate(dict(fields)), []
    except ValidationError as error:
        return None, [Problem(source, location, reason) for reason in readable_reasons(error)]


def apply_defaults(
    fields: dict[str, Any], default_section: str | None, default_topic: str | None
) -> None:
    """Give a section and topic to an item whose source has none."""
    if not fields.get("section") and default_section:
        fields["section"] = default_section
    if not fields.get("topic") and default_topic:
        fields["topic"] = default_topic


def export_number(value: float) -> int | float:
    """Whole numbers as ints (``5`` not ``5.0``) so exported files read as authored."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value
