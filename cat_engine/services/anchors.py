"""The site's signing key and the signed heads of the audit chains (scoring.integrity.heads).

The key is created once in the data directory (``site-signing.key``, mode 0600, with its
``site-signing.pub`` beside it): the public file is what the site hands the central office
and what anyone checks its heads, receipts and results against.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select

from cat_engine.store import Store
from cat_engine.store.models import AuditEntry, AuditHead
from item_bank import keys as keyfiles
from scoring.integrity import heads as signed
from scoring.integrity.chain import Head

KEY_FILE, PUB_FILE = "site-signing.key", "site-signing.pub"


def site_key(data_dir: Path) -> Ed25519PrivateKey:
    """The site's Ed25519 signing key, created on first use."""
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        # Another process may have created it first: theirs stands.
        with contextlib.suppress(keyfiles.KeyFileError):
            keyfiles.write_private_key(key, path)
    key = keyfiles.load_signing_key(path)
    pub = path.with_name(PUB_FILE)
    if not pub.exists():
        with contextlib.suppress(keyfiles.KeyFileError):
            keyfiles.write_public_key(key, pub)
    return key


def site_public_key(data_dir: Path) -> Ed25519PublicKey | None:
    path = Path(data_dir) / PUB_FILE
    return keyfiles.load_signing_public_key(path) if path.exists() else None


@dataclass(frozen=True)
class SignedHead:
    chain: int
    seq: int
    hash: str
    signed_ms: int
    reason: str
    signature: str

    @property
    def fingerprint(self) -> str:
        return signed.fingerprint(self.hash)

    def as_dict(self) -> dict:
        return {"chain": self.chain, "seq": self.seq, "hash": self.hash,
                "signed_ms": self.signed_ms, "reason": self.reason,
                "signature": self.signature, "fingerprint": self.fingerprint}


def sign_heads(store: Store, key: Ed25519PrivateKey, now: int, *, reason: str = "interval",
               chains: list[int] | None = None) -> list[SignedHead]:
    """Sign the head of every chain (or of ``chains``) that grew since its last signed head."""
    fp = keyfiles.fingerprint(key)

    def work(db):
        latest = (select(AuditEntry.chain, func.max(AuditEntry.seq).label("seq"))
                  .group_by(AuditEntry.chain))
        if chains is not None:
            latest = latest.where(AuditEntry.chain.in_(chains))
        signed_seq = dict(db.execute(select(AuditHead.chain, func.max(AuditHead.seq))
                                     .group_by(AuditHead.chain)).all())
        made = []
        for chain, seq in db.execute(latest).all():
            if signed_seq.get(chain) == seq and reason != "close":
                continue
            digest = db.scalar(select(AuditEntry.hash).where(AuditEntry.chain == chain,
                                                             AuditEntry.seq == seq))
            head = Head(chain=chain, seq=seq, hash=digest, at_ms=now)
            row = SignedHead(chain, seq, digest, now, reason, signed.sign(key, head))
            db.add(AuditHead(chain=chain, seq=seq, hash=digest, signed_ms=now, reason=reason,
                             key_fingerprint=fp, signature=row.signature))
            made.append(row)
        return made

    return store.write(work)


def latest(store: Store, chain: int) -> SignedHead | None:
    with store.read() as db:
        row = db.scalars(select(AuditHead).where(AuditHead.chain == chain)
                         .order_by(AuditHead.seq.desc(), AuditHead.id.desc()).limit(1)).first()
    if row is None:
        return None
    return SignedHead(row.chain, row.seq, row.hash, row.signed_ms, row.reason, row.signature)
