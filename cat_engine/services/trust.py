"""Trusted bank issuers: a site opens a bank only if the key that signed it is on the site's
trust list, the ``.pub`` files in ``DATA_DIR/trusted-issuers/`` (``cat-engine keys trust``).

Development and the demo may open any bank (unsigned ones too) with an explicit option,
``--allow-untrusted-banks``, which the server announces when it starts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from item_bank import keys as keyfiles

TRUST_DIR = "trusted-issuers"
HINT = ("add the issuer's public key with 'cat-engine keys trust ISSUER.pub', or, for "
        "development and the demo only, start with --allow-untrusted-banks")


def trusted_issuers(data_dir: Path) -> list[Ed25519PublicKey]:
    """The site's trusted issuers' public keys (empty: no bank opens)."""
    folder = Path(data_dir) / TRUST_DIR
    if not folder.is_dir():
        return []
    return [keyfiles.load_signing_public_key(p) for p in sorted(folder.glob("*.pub"))]


def trust(data_dir: Path, public_key_file: Path) -> tuple[str, Path]:
    """Add an issuer's Ed25519 public key to the trust list; returns its fingerprint."""
    key = keyfiles.load_signing_public_key(public_key_file)
    fp = keyfiles.fingerprint(key)
    folder = Path(data_dir) / TRUST_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{fp.replace(':', '')}.pub"
    if not target.exists():
        shutil.copyfile(public_key_file, target)
    return fp, target
