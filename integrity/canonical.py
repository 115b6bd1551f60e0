"""Canonical JSON (RFC 8785, JCS) and the digests built on it."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import rfc8785


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value."""
    return rfc8785.dumps(value)


def digest(value: Any) -> str:
    """SHA-256 of the canonical form, lowercase hex."""
    return hashlib.sha256(canonical(value)).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def short(hex_digest: str, groups: int = 4) -> str:
    """A hex digest's first ``groups`` groups of four, upper case, for reading off a screen."""
    head = hex_digest[: 4 * groups].upper()
    return "-".join(head[i : i + 4] for i in range(0, len(head), 4))
