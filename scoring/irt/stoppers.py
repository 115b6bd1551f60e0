"""Stopping rules: each a tiny object whose one method says whether the test is over.

``stop(n_given, se, elapsed)`` looks only at the number of items given, the current standard
error and the seconds spent, so a rule is a pure function of the adaptive state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LengthStopper:
    """Stop after ``max_items`` items (a fixed-length test, or the cap of a variable one)."""

    max_items: int

    def __post_init__(self) -> None:
        if self.max_items < 1:
            raise ValueError("max_items must be at least 1")

    def stop(self, n_given: int, se: float, elapsed: float = 0.0) -> bool:
        return n_given >= self.max_items


@dataclass(frozen=True)
class SEStopper:
    """Stop once the standard error is at most ``se``, but never before ``min_items``."""

    se: float
    min_items: int = 1

    def __post_init__(self) -> None:
        if not self.se > 0:
            raise ValueError("the SE threshold must be positive")

    def stop(self, n_given: int, se: float, elapsed: float = 0.0) -> bool:
        return n_given >= self.min_items and se <= self.se


@dataclass(frozen=True)
class TimeStopper:
    """Stop when ``seconds`` have been spent in the section (time beats any minimum length)."""

    seconds: float

    def stop(self, n_given: int, se: float, elapsed: float = 0.0) -> bool:
        return elapsed >= self.seconds


@dataclass(frozen=True)
class AnyStopper:
    """Stop when any of the rules says so."""

    rules: tuple[LengthStopper | SEStopper | TimeStopper, ...]

    def stop(self, n_given: int, se: float, elapsed: float = 0.0) -> bool:
        return any(rule.stop(n_given, se, elapsed) for rule in self.rules)
