"""Login guessing limits: a lockout per registration number and a throttle on wrong tokens.

A candidate's PIN is short, and the per-connection rate limit does not stop a client that
reconnects. So the site counts wrong PINs per registration number (whatever connection they
come from) and locks the registration after ``max_failures`` until a proctor releases it or
``lockout_ms`` pass; and it counts wrong session tokens per terminal id and per address, and
refuses those for ``token_cooldown_ms`` after ``token_failures``.

Counts live in this process's memory (a restart forgets them; the audit log keeps each
lockout). Plain data and an injected clock: no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: Entries kept per counter before expired ones are dropped (bounded memory under a flood).
MAX_ENTRIES = 50_000


class _Counter:
    """Failures per key; a key is blocked once it has ``limit`` failures, for ``hold_ms``
    after its last one (then it starts from zero)."""

    def __init__(self, limit: int, hold_ms: int):
        self.limit = limit
        self.hold_ms = hold_ms
        #: key -> [failures, last failure ms]
        self._seen: dict[str, list[int]] = {}

    def _live(self, key: str, now: int) -> list[int] | None:
        entry = self._seen.get(key)
        if entry is not None and now - entry[1] >= self.hold_ms:
            del self._seen[key]
            return None
        return entry

    def blocked_until(self, key: str, now: int) -> int | None:
        entry = self._live(key, now)
        if entry is None or entry[0] < self.limit:
            return None
        return entry[1] + self.hold_ms

    def fail(self, key: str, now: int) -> int:
        """Count one failure; returns the key's failures so far."""
        entry = self._live(key, now)
        if entry is None:
            if len(self._seen) >= MAX_ENTRIES:
                self._prune(now)
            entry = self._seen[key] = [0, now]
        entry[0] += 1
        entry[1] = now
        return entry[0]

    def clear(self, key: str) -> None:
        self._seen.pop(key, None)

    def _prune(self, now: int) -> None:
        for key in [k for k, (_n, last) in self._seen.items() if now - last >= self.hold_ms]:
            del self._seen[key]
        # Still full (a flood of distinct keys): forget the oldest half rather than grow.
        if len(self._seen) >= MAX_ENTRIES:
            for key in list(self._seen)[: MAX_ENTRIES // 2]:
                del self._seen[key]


class LoginGuard:
    def __init__(self, *, max_failures: int = 5, lockout_s: float = 900.0,
                 token_failures: int = 10, token_cooldown_s: float = 60.0,
                 now: Callable[[], int]):
        if max_failures < 1 or token_failures < 1:
            raise ValueError("login failure limits must be at least 1")
        self.now = now
        self.pins = _Counter(int(max_failures), round(lockout_s * 1000))
        self.tokens = _Counter(int(token_failures), round(token_cooldown_s * 1000))

    @property
    def max_failures(self) -> int:
        return self.pins.limit

    def locked_until(self, registration: str) -> int | None:
        """When the registration's lockout ends (epoch ms), or None if it is not locked."""
        return self.pins.blocked_until(registration, self.now())

    def wrong_pin(self, registration: str) -> bool:
        """Count a wrong PIN; True when this very failure locks the registration."""
        return self.pins.fail(registration, self.now()) == self.pins.limit

    def unlock(self, registration: str) -> None:
        """A proctor's release, or a correct login: the count starts again."""
        self.pins.clear(registration)

    def token_throttled(self, sources: Iterable[str]) -> bool:
        now = self.now()
        return any(self.tokens.blocked_until(s, now) is not None for s in sources)

    def wrong_token(self, sources: Iterable[str]) -> None:
        now = self.now()
        for source in sources:
            self.tokens.fail(source, now)
