"""What a service refuses with: a stable code the terminal branches on, plus details."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request that cannot be done; ``code`` is one of docs/protocol.md's error codes."""

    def __init__(self, code: str, detail: str = "", **extra: Any):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        #: Extra fields of the reply beside ``error`` (e.g. ``result`` for ``finished``).
        self.extra = extra
