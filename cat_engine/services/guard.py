"""Login guessing limits, held in the database: every server process of a site sees the same
counts, a restart forgets nothing, and a flood of made-up names cannot push a live lockout
out (a row is deleted only once it has expired).

Each key counts failures; it is blocked once it has ``limit`` failures, for ``hold`` after its
last one (a failure after the hold starts counting from one again). The site uses keys:

- ``pin:<registration>``: wrong PINs typed on any terminal but the one the candidate is bound
  to. Its lockout stops new logins from other terminals; it never stops the candidate's own
  bound terminal (so nobody else can lock a working candidate out of their exam);
- ``pin:<registration>@<terminal>``: wrong PINs on the bound terminal itself, its own budget;
- ``src:terminal:<id>`` / ``src:address:<ip>``: wrong session tokens and unknown registration
  numbers per terminal and per address (a guesser cannot mint rows per made-up number);
- ``user:<name>@<ip>``, ``user-addr:<ip>``, ``user:<name>``: the console's wrong passwords
  (``unlock...`` alike for wrong bank passphrases; see :func:`cat_engine.auth.limit_keys`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cat_engine.store import Prepared, Store
from cat_engine.store.models import LoginLimit
from cat_engine.store.prepared import in_slots

_limits = LoginLimit.__table__
#: Keys per read: a login reads three (its PIN count, its terminal, its address).
_SLOTS = 3
_READ = Prepared(select(_limits.c.key, _limits.c.failures, _limits.c.last_ms, _limits.c.until_ms)
                 .where(_limits.c.key.in_([bindparam(f"k{i}") for i in range(_SLOTS)])))


@dataclass(frozen=True)
class Limit:
    """One key's count as stored."""

    failures: int
    last_ms: int
    until_ms: int | None

    def blocked(self, now: int) -> bool:
        return self.until_ms is not None and now < self.until_ms


class LoginGuard:
    def __init__(self, store: Store, *, max_failures: int = 5, lockout_s: float = 900.0,
                 token_failures: int = 10, token_cooldown_s: float = 60.0,
                 now: Callable[[], int]):
        if max_failures < 1 or token_failures < 1:
            raise ValueError("login failure limits must be at least 1")
        self.store = store
        self.now = now
        self.max_failures = int(max_failures)
        self.lockout_ms = round(lockout_s * 1000)
        self.token_failures = int(token_failures)
        self.token_cooldown_ms = round(token_cooldown_s * 1000)

    # -- the store ---------------------------------------------------------------------------

    def read(self, keys: Iterable[str]) -> dict[str, Limit]:
        """The stored counts of ``keys`` (one query), live or not."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        # A prepared read: every login of a room's storm runs it (store/prepared.py).
        rows = [row for params in in_slots("k", keys, _SLOTS)
                for row in self.store.query(_READ, params)]
        return {key: Limit(failures, last, until) for key, failures, last, until in rows}

    def blocked_until(self, keys: Iterable[str]) -> int | None:
        """The latest end of a live block among ``keys``, or None."""
        now = self.now()
        ends = [lim.until_ms for lim in self.read(keys).values() if lim.blocked(now)]
        return max(ends, default=None)

    def fail(self, key: str, *, limit: int, hold_ms: int) -> Limit:
        """Count one failure of ``key`` (atomic across processes); returns the new count."""
        now = self.now()

        def work(db) -> Limit:
            insert = {"sqlite": sqlite_insert, "postgresql": pg_insert}.get(
                db.get_bind().dialect.name)
            if insert is not None:  # two processes may count the first failure together
                db.execute(insert(LoginLimit).values(key=key, failures=0, last_ms=now,
                                                     hold_ms=hold_ms, until_ms=None)
                           .on_conflict_do_nothing(index_elements=["key"]))
            row = db.execute(select(LoginLimit).where(LoginLimit.key == key)
                             .with_for_update()).scalar_one_or_none()
            if row is None:
                row = LoginLimit(key=key, failures=0, last_ms=now, hold_ms=hold_ms)
                db.add(row)
            if row.failures and now - row.last_ms >= hold_ms:
                row.failures = 0  # the hold passed since the last failure: count anew
            row.failures += 1
            row.last_ms = now
            row.hold_ms = hold_ms
            row.until_ms = now + hold_ms if row.failures >= limit else None
            return Limit(row.failures, row.last_ms, row.until_ms)

        return self.store.write(work)

    def clear(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self.store.write(lambda db: db.execute(delete(LoginLimit).where(
            LoginLimit.key.in_(keys))))

    def prune(self) -> int:
        """Delete the rows that no longer count (past their hold and any block)."""
        now = self.now()

        def work(db) -> int:
            result = db.execute(delete(LoginLimit).where(
                LoginLimit.last_ms + LoginLimit.hold_ms <= now,
                or_(LoginLimit.until_ms.is_(None), LoginLimit.until_ms <= now)))
            return result.rowcount or 0

        return self.store.write(work)

    # -- the site's keys ---------------------------------------------------------------------

    @staticmethod
    def pin_key(registration: str, bound_terminal: str | None = None) -> str:
        return f"pin:{registration}" + (f"@{bound_terminal}" if bound_terminal else "")

    def locked_registrations(self, registrations: Iterable[str]) -> set[str]:
        """Which registrations are locked for new logins (one query; for the console)."""
        now = self.now()
        found = self.read(self.pin_key(r) for r in registrations)
        return {key[4:] for key, lim in found.items() if lim.blocked(now)}

    def locked_until(self, registration: str) -> int | None:
        return self.blocked_until([self.pin_key(registration)])

    def wrong_pin(self, key: str) -> Limit:
        return self.fail(key, limit=self.max_failures, hold_ms=self.lockout_ms)

    def wrong_source(self, sources: Iterable[str]) -> None:
        for source in sources:
            self.fail(source, limit=self.token_failures, hold_ms=self.token_cooldown_ms)

    def unlock(self, registration: str) -> None:
        """A proctor's release or unlock: every PIN count of the registration ends."""
        prefix = self.pin_key(registration)
        self.store.write(lambda db: db.execute(delete(LoginLimit).where(or_(
            LoginLimit.key == prefix, LoginLimit.key.like(prefix.replace("%", r"\%")
                                                           .replace("_", r"\_") + "@%",
                                                           escape="\\")))))
