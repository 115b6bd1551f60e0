"""Shared item banks for the IRT tests: synthetic, seeded, on the logistic metric."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.irt.models import ItemParams


def make_bank(n: int, *, seed: int = 0, guessing: bool = True, topics: int = 1) -> ItemParams:
    """A bank like an SKD pool: a ~ lognormal around 1.1, b ~ N(0, 1), c ~ U(0, 0.25)."""
    rng = np.random.default_rng(seed)
    names = tuple(f"T{t}" for t in range(topics))
    return ItemParams(
        ids=tuple(f"TIU-{i:04d}" for i in range(n)),
        a=rng.lognormal(0.1, 0.3, n),
        b=rng.normal(0.0, 1.0, n),
        c=rng.uniform(0.0, 0.25, n) if guessing else np.zeros(n),
        d=np.ones(n),
        topics=np.arange(n, dtype=np.int64) % topics,
        topic_names=names,
    )


@pytest.fixture(scope="session")
def bank() -> ItemParams:
    return make_bank(200, seed=11)


@pytest.fixture(scope="session")
def bank_factory():
    return make_bank
