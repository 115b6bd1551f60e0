"""A candidate's receipt: a short code, signed by the site, that commits to their final
answers, their scores and their session's audit chain at the moment they finished.

The payload is a JSON object (docs/integrity.md lists its fields); the receipt code is the
first 80 bits of ``SHA-256(JCS(payload))`` in five groups of four hex digits, and the site
signs ``JCS(payload)`` with Ed25519. A published result that no longer matches the payload
(or a payload that no longer matches its code or signature) was changed after the room.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from scoring.integrity.canonical import b64url, canonical, digest, short, unb64url

TYPE = "cat-engine.receipt"
CODE_GROUPS = 5


def answers_digest(answers: Sequence[tuple[str, int | None]]) -> str:
    """SHA-256 of ``JCS([[item_id, authored option number or null], ...])`` in form order:
    the final answers as the bank knows them (independent of the shown option order)."""
    return digest([[item, option] for item, option in answers])


def payload(*, site: str, session: str, registration: str, formation: str,
            answers: str, scores: Mapping[str, float], total: float, passed: bool,
            rule_set: str | None, chain: int, chain_seq: int, chain_hash: str,
            finished_ms: int) -> dict[str, Any]:
    return {"type": TYPE, "v": 1, "site": site, "session": session,
            "registration": registration, "formation": formation, "answers": answers,
            "scores": {k: float(v) for k, v in scores.items()}, "total": float(total),
            "passed": bool(passed), "rule_set": rule_set, "chain": chain,
            "chain_seq": chain_seq, "chain_hash": chain_hash, "finished_ms": finished_ms}


def code(body: Mapping[str, Any]) -> str:
    return short(digest(dict(body)), CODE_GROUPS)


def issue(key: Ed25519PrivateKey, body: Mapping[str, Any]) -> dict[str, Any]:
    """The receipt as stored and exported: payload, code and signature."""
    return {"code": code(body), "payload": dict(body),
            "signature": b64url(key.sign(canonical(dict(body))))}


def problems(public: Ed25519PublicKey, receipt: Mapping[str, Any]) -> list[str]:
    """What is wrong with a receipt on its own (its code and signature)."""
    out = []
    body = receipt.get("payload")
    if not isinstance(body, Mapping) or body.get("type") != TYPE:
        return ["not a cat-engine receipt"]
    if receipt.get("code") != code(body):
        out.append(f"code {receipt.get('code')} does not match its payload ({code(body)})")
    try:
        public.verify(unb64url(str(receipt.get("signature", ""))), canonical(dict(body)))
    except (InvalidSignature, ValueError):
        out.append("signature does not verify with the site key")
    return out
