"""Fixtures for the item-analysis tests: the LSAT data and a simulated keyed session."""

from __future__ import annotations

import numpy as np
import pytest

#: LSAT Section VI (Bock & Lieberman 1970): frequencies of the 32 response patterns of 1,000
#: examinees to 5 items, patterns in binary order 00000 .. 11111 (item 1 = leftmost bit).
LSAT_FREQUENCIES = [
    3, 6, 2, 11, 1, 1, 3, 4, 1, 8, 0, 16, 0, 3, 2, 15,
    10, 29, 14, 81, 3, 28, 15, 80, 16, 56, 21, 173, 11, 61, 28, 298,
]  # fmt: skip


@pytest.fixture(scope="session")
def lsat() -> np.ndarray:
    rows = []
    for pattern, count in enumerate(LSAT_FREQUENCIES):
        rows += [[int(bit) for bit in format(pattern, "05b")]] * count
    return np.array(rows, dtype=float)


def keyed_session(n: int = 300, k: int = 20, seed: int = 0):
    """Choices (labels A-E) of n candidates on k items keyed 'A', from a 2PL with distractors
    whose popularity falls with ability (the weak spread over B..E, the strong rarely err)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    b = rng.uniform(-1.5, 1.5, k)
    p = 1 / (1 + np.exp(-1.3 * (theta[:, None] - b)))
    right = rng.random((n, k)) < p
    wrong_pick = rng.choice(list("BCDE"), size=(n, k), p=[0.4, 0.3, 0.2, 0.1])
    choices = np.where(right, "A", wrong_pick).astype(object)
    return choices, ["A"] * k, theta


@pytest.fixture
def session():
    return keyed_session
