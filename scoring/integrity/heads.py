"""Signed chain heads: the site's Ed25519 key vouches that a session's chain had ``seq``
entries ending in ``hash`` at ``signed_ms``.

The signed message is ``JCS({"type": "cat-engine.audit-head", "v": 1, "chain": c,
"seq": n, "hash": h, "signed_ms": t})``; the signature is base64url without padding. The
public display shows the head's fingerprint (:func:`fingerprint`), so a photograph of the
screen pins the chain outside the site: a chain rewritten later no longer has that hash.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from scoring.integrity.canonical import b64url, canonical, short, unb64url
from scoring.integrity.chain import Head

TYPE = "cat-engine.audit-head"


def statement(head: Head) -> bytes:
    return canonical({"type": TYPE, "v": 1, "chain": head.chain, "seq": head.seq,
                      "hash": head.hash, "signed_ms": head.at_ms})


def sign(key: Ed25519PrivateKey, head: Head) -> str:
    return b64url(key.sign(statement(head)))


def verify(public: Ed25519PublicKey, head: Head, signature: str) -> bool:
    try:
        public.verify(unb64url(signature), statement(head))
    except (InvalidSignature, ValueError):
        return False
    return True


def fingerprint(hash_hex: str) -> str:
    """What the display shows of a head's hash: 64 bits in four groups (ABCD-EF01-...)."""
    return short(hash_hex, 4)
