"""Password work: PIN hashes, and argon2 kept off the event loop.

argon2 is slow on purpose (a proctor's password costs about a sixth of a second). Under gevent
one server process serves every terminal from one OS thread, so a hash computed there stalls
every candidate for that long. :class:`PasswordPool` runs such work in real OS threads
(gevent's thread pool; argon2-cffi releases the GIL while it hashes) and refuses work beyond a
bounded queue at once, so a flood of wrong passwords costs the flooder a refusal and the
candidates nothing.

PINs are hashed with argon2id at a small cost (1 MiB, one pass: under a millisecond), checked
inline (well under the loop's 20 ms budget; a pool's hand-off cost more under a login storm):
a 6-digit PIN then takes minutes of one core to find from a stolen database instead of 2-3
seconds, while a room of 2,000 logging in at once stays affordable (at 4 MiB the connect
storm of 2,000 lost a third of its connections on a loaded 2-core machine).

Since issue 11b the argon2id runs over HMAC-SHA256(site secret, PIN) (cat_engine.site_secret),
stored as ``k1$<argon2 hash>``: a database without the data directory's secret cannot be
brute-forced at all, at the same cost per check. Older hashes (argon2 over the bare PIN, the
salted SHA-256 of before issue 11) still verify.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from cat_engine import site_secret
from cat_engine.services.errors import ServiceError

T = TypeVar("T")

#: argon2id for PINs: one pass over 1 MiB (see the module's note on the cost).
_pin_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
#: A hash of no PIN: a login for an unknown registration number verifies against it, so both
#: cases cost the same time.
_NO_PIN = _pin_hasher.hash("no pin matches this")

#: OS threads for password work, and how many more requests may wait for one.
THREADS = 2
QUEUE = 16


#: Version prefix of a keyed PIN hash: argon2id over HMAC-SHA256(site secret, PIN).
KEYED = "k1$"


def hash_pin(pin: str) -> str:
    return KEYED + _pin_hasher.hash(site_secret.pin_digest(pin))


def check_pin(pin: str, stored: str | None) -> bool:
    """True if ``pin`` matches ``stored`` (keyed argon2id; argon2id over the bare PIN, or a
    salted SHA-256 from before issue 11). ``stored`` None verifies against a dummy hash and
    returns False, in the same time."""
    if stored is None:
        _verify(_NO_PIN, site_secret.pin_digest(pin))
        return False
    if stored.startswith(KEYED):
        return _verify(stored[len(KEYED):], site_secret.pin_digest(pin))
    if stored.startswith("$argon2"):
        return _verify(stored, pin)
    salt, _, _digest = stored.partition("$")
    legacy = f"{salt}${hashlib.sha256(f'{salt}:{pin}'.encode()).hexdigest()}"
    return hmac.compare_digest(legacy, stored)


def _verify(stored: str, pin: str) -> bool:
    try:
        return _pin_hasher.verify(stored, pin)
    except (VerificationError, InvalidHashError):
        return False


#: How much lower than the event loop the hashing threads run (Linux nice levels): when the
#: cores are busy, the loop serving the terminals gets the CPU first and a flood of wrong
#: passwords waits instead.
NICE = 10
_niced: set[int] = set()


def _low_priority(work: Callable[..., T], *args: Any) -> T:
    """Run ``work`` in this pool thread, which first lowers its own priority (once)."""
    tid = threading.get_native_id()
    if tid not in _niced:
        _niced.add(tid)
        # On Linux a thread id is a valid target: only this thread is affected. Elsewhere
        # the threads keep the process's priority.
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid)
                                                     + NICE))
    return work(*args)


class PasswordPool:
    """Runs password work in OS threads; beyond ``threads + queue`` waiting calls, refuses.

    ``async_mode`` "gevent": a gevent thread pool (the calling greenlet waits, the loop runs
    on). Otherwise each request already has its own thread: the work runs in it, bounded by
    the same count.
    """

    def __init__(self, async_mode: str = "threading", *, threads: int = THREADS,
                 queue: int = QUEUE, low_priority: bool = True):
        self.capacity = threads + queue
        #: Lower the threads' OS priority: for work a stranger can flood us with (console
        #: passwords, passphrases). Not for PINs: a room logging in at once must not wait
        #: behind an overloaded machine (its connections would time out meanwhile).
        self.low_priority = low_priority
        self._pending = 0
        self._count_lock = threading.Lock()
        self._pool = None
        if async_mode == "gevent":
            from gevent.threadpool import ThreadPool

            self._pool = ThreadPool(threads)

    @property
    def pending(self) -> int:
        return self._pending

    def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` in a pool thread; ServiceError("overloaded") if the queue is full."""
        with self._count_lock:
            if self._pending >= self.capacity:
                raise ServiceError("overloaded", "too many logins at once; try again in a moment")
            self._pending += 1
        try:
            if self._pool is None:
                return work(*args)
            if self.low_priority:
                return self._pool.spawn(_low_priority, work, *args).get()
            return self._pool.spawn(work, *args).get()
        finally:
            with self._count_lock:
                self._pending -= 1
