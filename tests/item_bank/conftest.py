"""Fixtures of the item_bank tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# The shared test kit (tiny images, sample items, hypothesis strategies) lives beside the
# fixture files; test modules import it as ``itemkit``.
sys.path.insert(0, str(FIXTURES))


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
