"""Canonical JSON (RFC 8785, JCS) and the digests built on it."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import rfc8785

_SAFE_INT = 2**53 - 1


class _Slow(Exception):
    """The value holds something the fast path does not write (a float, non-ASCII text)."""


def _fast(value: Any, out: list[str]) -> None:
    """JCS for the values every audit entry of an answer is made of: ints, booleans, null,
    printable ASCII strings, lists and objects of them. For these JCS is plain: keys sorted
    (ASCII: code units and code points agree), no whitespace, no escapes."""
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif type(value) is int:
        if -_SAFE_INT <= value <= _SAFE_INT:
            out.append(str(value))
        else:
            raise _Slow
    elif type(value) is str:
        if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
            out.append(f'"{value}"')
        else:
            raise _Slow
    elif type(value) is dict:
        out.append("{")
        for i, key in enumerate(sorted(value)):
            if i:
                out.append(",")
            _fast(key, out)
            out.append(":")
            _fast(value[key], out)
        out.append("}")
    elif type(value) is list:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _fast(item, out)
        out.append("]")
    else:
        raise _Slow


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value.

    Simple values (see ``_fast``) are written directly, five times faster than the rfc8785
    package, which writes everything else; tests/integrity check the two agree."""
    out: list[str] = []
    try:
        _fast(value, out)
    except (_Slow, TypeError):  # TypeError: a non-str key; rfc8785 names the problem
        return rfc8785.dumps(value)
    return "".join(out).encode()


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
