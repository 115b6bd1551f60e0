"""Builders shared by the exam, form, scoring and results tests: small real items and banks."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from item_bank.model import Item
from scoring.exam import Exam, load_exam

LABELS = "ABCDEFGH"


def make_item(
    item_id: str,
    section: str,
    *,
    topic: str = "",
    difficulty: str | None = None,
    n_options: int = 5,
    key: int | None = 0,
    weights: Iterable[float] | None = None,
    enemies: Iterable[str] = (),
) -> Item:
    """A real Item: keyed on option ``key`` (0-based), or weighted when ``weights`` is given."""
    labels = LABELS[:n_options]
    options = {label: f"Pilihan {label} dari {item_id}" for label in labels}
    if weights is not None:
        return Item(
            id=item_id,
            section=section,
            topic=topic,
            difficulty=difficulty,
            stem=f"Soal {item_id}",
            options=options,
            weights=dict(zip(labels, weights, strict=True)),
            enemies=tuple(enemies),
        )
    return Item(
        id=item_id,
        section=section,
        topic=topic,
        difficulty=difficulty,
        stem=f"Soal {item_id}",
        options=options,
        key=labels[key or 0],
        enemies=tuple(enemies),
    )


def skd_items(per_section: int = 100) -> list[Item]:
    """An SKD-shaped bank: TWK and TIU keyed, TKP weighted 1..5 in a rotating order."""
    items = []
    for section in ("TWK", "TIU", "TKP"):
        for j in range(per_section):
            item_id = f"{section}-{j:04d}"
            if section == "TKP":
                weights = [1 + (j + o) % 5 for o in range(5)]
                items.append(make_item(item_id, section, weights=weights))
            else:
                items.append(make_item(item_id, section, key=j % 5))
    return items


@pytest.fixture(scope="session")
def skd() -> Exam:
    return load_exam("skd")


@pytest.fixture(scope="session")
def pppk() -> Exam:
    return load_exam("pppk")


@pytest.fixture(scope="session")
def skd_bank() -> dict[str, Item]:
    return {item.id: item for item in skd_items(100)}


@pytest.fixture(scope="session")
def item_factory() -> Callable[..., Item]:
    """:func:`make_item`, for tests (conftest modules are not importable by name)."""
    return make_item


@pytest.fixture(scope="session")
def skd_items_factory() -> Callable[[int], list[Item]]:
    return skd_items
