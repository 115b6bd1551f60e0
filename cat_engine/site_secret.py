"""The site secret: 32 random bytes in the data directory (``site-secret.key``, mode 0600).

It keys what the database keeps about PINs and session tokens, so that the database alone (a
dump, a backup, a copied PostgreSQL database) yields neither: a PIN hash is argon2id over
HMAC-SHA256(secret, PIN), which cannot be brute-forced without the secret however small the
PIN space; a session token is kept as an HMAC (what a login looks up) and sealed with AES-GCM
(what the console and the CLI show). Every process serving one database must hold the same
file, as they already share ``site-signing.key``.

Loaded once per process (:func:`load`) by whatever opens a site's data directory: the app
factory, the CLI's store, the test helpers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_FILE = "site-secret.key"

_keys: dict[str, bytes] | None = None


class SecretMissing(RuntimeError):
    """The site secret was needed before any data directory was opened."""


def random_key_file(path: Path, size: int = 32) -> bytes:
    """``size`` random bytes kept in ``path`` (mode 0600), created on first use; if another
    process creates it first, theirs stands."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    key = os.urandom(size)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"cat-engine {purpose} v1".encode()).derive(secret)


def load(data_dir: Path) -> None:
    """Read (or create) the data directory's secret and use it in this process."""
    secret = random_key_file(Path(data_dir) / SECRET_FILE)
    if len(secret) != 32:
        raise SecretMissing(f"{Path(data_dir) / SECRET_FILE}: expected 32 bytes, found "
                            f"{len(secret)}")
    global _keys
    _keys = {p: _derive(secret, p) for p in ("pin", "token-lookup", "token-seal")}


def loaded() -> bool:
    return _keys is not None


def _key(purpose: str) -> bytes:
    if _keys is None:
        raise SecretMissing("the site secret is not loaded (open the data directory first)")
    return _keys[purpose]


def pin_digest(pin: str) -> str:
    """HMAC-SHA256 of a PIN under the site secret (what argon2id then hashes)."""
    return hmac.new(_key("pin"), pin.encode(), hashlib.sha256).hexdigest()


def token_digest(token: str) -> str:
    """The deterministic keyed digest a login looks a session token up by."""
    return hmac.new(_key("token-lookup"), token.encode(), hashlib.sha256).hexdigest()


def seal_token(token: str) -> str:
    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(
        nonce + AESGCM(_key("token-seal")).encrypt(nonce, token.encode(), b"session-token")
    ).decode()


def open_token(sealed: str) -> str:
    """The token sealed by :func:`seal_token`; SecretMissing if sealed under another secret."""
    raw = base64.urlsafe_b64decode(sealed.encode())
    try:
        return AESGCM(_key("token-seal")).decrypt(raw[:12], raw[12:], b"session-token").decode()
    except InvalidTag:
        raise SecretMissing("the session token was sealed under another site secret "
                            f"(is this data directory's {SECRET_FILE} the right one?)") from None
