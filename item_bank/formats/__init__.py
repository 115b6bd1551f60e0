"""Item formats in and out: JSON Lines (native), CSV, and IMS QTI 2.1 / 3.0.

``load_sources`` reads any mix of files and reports every problem of every source at once;
``export_jsonl`` and ``export_qti`` write items back out (atomically). See docs/formats.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from item_bank.errors import ImportFailed, Problem
from item_bank.formats.csv_format import load_csv
from item_bank.formats.jsonl import export_jsonl, load_jsonl
from item_bank.formats.qti_package import export_qti, load_item_file, load_package
from item_bank.model import Item

Loader = Callable[..., tuple[list[tuple[Item, str]], list[Problem]]]
LOADERS: dict[str, Loader] = {
    ".jsonl": load_jsonl,
    ".csv": load_csv,
    ".xml": load_item_file,
    ".zip": load_package,
}


@dataclass
class LoadResult:
    """The items that loaded, every problem found in any source, and the warnings: what
    was kept (or harmlessly left out) but is worth telling the author."""

    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise ImportFailed carrying every problem, if there is any."""
        if self.problems:
            raise ImportFailed(self.problems)


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given; a folder stands for the item files in it (recursively, sorted), and
    a folder holding an imsmanifest.xml is an unzipped QTI package, read as one."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            files.append(path)
            continue
        packages = sorted(m.parent for m in path.rglob("imsmanifest.xml"))
        files.extend(packages)
        files.extend(
            sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in LOADERS
                and not any(p.is_relative_to(package) for package in packages)
            )
        )
    return files


def load_sources(
    paths: Iterable[str | os.PathLike[str]],
    *,
    default_section: str | None = None,
    default_topic: str | None = None,
) -> LoadResult:
    """Load items from ``.jsonl``, ``.csv``, QTI ``.xml`` and QTI package ``.zip`` files.

    Every problem of every source is collected with its file, place and reason. An id seen
    twice (in one source or across sources) and an enemy id that no loaded item has are
    problems too. Items with problems are left out of ``items``.
    """
    result = LoadResult()
    first_seen: dict[str, str] = {}
    for path in _expand(paths):
        source = str(path)
        loader = load_package if path.is_dir() else LOADERS.get(path.suffix.lower())
        if loader is None:
            result.problems.append(
                Problem(
                    source,
                    "",
                    f"unsupported file type {path.suffix or '(none)'!r}: "
                    "expected .jsonl, .csv, .xml (QTI item) or .zip (QTI package)",
                )
            )
            continue
        try:
            loaded, problems = loader(
                path, default_section=default_section, default_topic=default_topic
            )
        except FileNotFoundError:
            result.problems.append(Problem(source, "", "file not found"))
            continue
        except (IsADirectoryError, PermissionError) as error:
            result.problems.append(Problem(source, "", f"cannot be read ({error.strerror})"))
            continue
        result.problems.extend(p for p in problems if not p.warning)
        result.warnings.extend(p for p in problems if p.warning)
        for item, where in loaded:
            if item.id in first_seen:
                result.problems.append(
                    Problem(
                        source, where, f"duplicate id {item.id}: already in {first_seen[item.id]}"
                    )
                )
                continue
            first_seen[item.id] = f"{source} ({where})"
            result.items.append(item)
    for item in result.items:
        unknown = [enemy for enemy in item.enemies if enemy not in first_seen]
        if unknown:
            result.problems.append(
                Problem(
                    first_seen[item.id].split(" (", 1)[0],
                    f"item {item.id}",
                    f"enemy id(s) not among the loaded items: {', '.join(unknown)}",
                )
            )
    return result


__all__ = ["LOADERS", "LoadResult", "export_jsonl", "export_qti", "load_sources"]
