"""Signing keys (Ed25519) and test-site keys (X25519): generate, write, load.

A central office signs every bank it builds with its Ed25519 key so sites can tell who made
it, and wraps the bank's data key for a site's X25519 public key so only that site can open
it. Key files are PEM (PKCS#8 for private keys, SubjectPublicKeyInfo for public ones) after a
few ``#`` comment lines that name the kind and fingerprint; ``openssl pkey`` reads them too.
Private files are created with mode 0600, atomically, and never overwrite an existing file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from item_bank.atomic import atomic_write

KeyKind = Literal["site", "signing"]
PrivateKey = Ed25519PrivateKey | X25519PrivateKey
PublicKey = Ed25519PublicKey | X25519PublicKey

#: File names ``cat-engine keys generate`` writes into its output directory.
KEY_FILES: dict[KeyKind, tuple[str, str]] = {
    "signing": ("signing.key", "signing.pub"),
    "site": ("site.key", "site.pub"),
}

_DESCRIPTION: dict[KeyKind, str] = {
    "signing": "Ed25519 bank signing key",
    "site": "X25519 test-site key",
}
#: Private key files hold a few hundred bytes; anything much larger is not a key file.
_MAX_KEY_FILE_BYTES = 64 * 1024


class KeyFileError(Exception):
    """A key file is missing, unreadable, of the wrong kind, or not a key at all."""


def public_bytes(key: PublicKey) -> bytes:
    """The raw 32-byte public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: PublicKey | PrivateKey) -> str:
    """A short, stable name for a public key: the first 16 bytes of its SHA-256, in hex groups.

    Operators compare these by eye (the central office reads one out on the phone), so they
    are short and grouped; 128 bits is ample against a second key with the same fingerprint.
    """
    if isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        key = key.public_key()
    digest = hashlib.sha256(public_bytes(key)).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


def generate(kind: KeyKind) -> PrivateKey:
    """A fresh private key of the given kind."""
    return Ed25519PrivateKey.generate() if kind == "signing" else X25519PrivateKey.generate()


def kind_of(key: PublicKey | PrivateKey) -> KeyKind:
    return "signing" if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey) else "site"


def private_key_text(key: PrivateKey) -> bytes:
    kind = kind_of(key)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    header = (
        f"# cat-engine {_DESCRIPTION[kind]} (PRIVATE: keep it secret)\n"
        f"# fingerprint {fingerprint(key)}\n"
    )
    return header.encode() + pem


def public_key_text(key: PublicKey | PrivateKey) -> bytes:
    if isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        key = key.public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = (
        f"# cat-engine {_DESCRIPTION[kind_of(key)]} (public)\n# fingerprint {fingerprint(key)}\n"
    )
    return header.encode() + pem


def write_private_key(key: PrivateKey, path: str | os.PathLike[str]) -> Path:
    """Write a private key file with mode 0600; refuse to replace an existing file."""
    return _write_new_file(Path(path), private_key_text(key), mode=0o600)


def write_public_key(key: PublicKey | PrivateKey, path: str | os.PathLike[str]) -> Path:
    """Write a ``.pub`` file (mode 0644); refuse to replace an existing file."""
    return _write_new_file(Path(path), public_key_text(key), mode=0o644)


def generate_key_files(out_dir: str | os.PathLike[str], kinds: tuple[KeyKind, ...]) -> list[Path]:
    """Generate one key pair per kind into ``out_dir``; return the files written.

    Nothing is written when any target file already exists, so a second run never leaves a
    half-replaced key set behind.
    """
    directory = Path(out_dir)
    targets = [directory / name for kind in kinds for name in KEY_FILES[kind]]
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise KeyFileError(f"refusing to overwrite existing key file(s): {', '.join(existing)}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create {directory}: {exc.strerror or exc}") from exc
    written: list[Path] = []
    for kind in kinds:
        key = generate(kind)
        private_name, public_name = KEY_FILES[kind]
        written.append(write_private_key(key, directory / private_name))
        written.append(write_public_key(key, directory / public_name))
    return written


def load_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load an Ed25519 private signing key."""
    return _load_private(Path(path), "signing")  # type: ignore[return-value]


def load_site_key(path: str | os.PathLike[str]) -> X25519PrivateKey:
    """Load an X25519 private site key."""
    return _load_private(Path(path), "site")  # type: ignore[return-value]


def load_signing_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Load an Ed25519 public key (a ``signing.pub``)."""
    return _load_public(Path(path), "signing")  # type: ignore[return-value]


def load_site_public_key(path: str | os.PathLike[str]) -> X25519PublicKey:
    """Load an X25519 public key (a ``site.pub``)."""
    return _load_public(Path(path), "site")  # type: ignore[return-value]


def _read_key_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file") from None
    except IsADirectoryError:
        raise KeyFileError(f"{path}: is a directory, not a key file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{path}: too large to be a key file")
    return data


def _load_private(path: Path, kind: KeyKind) -> PrivateKey:
    data = _read_key_file(path)
    if b"BEGIN PUBLIC KEY" in data:
        raise KeyFileError(
            f"{path}: is a public key; this needs the private {_DESCRIPTION[kind]} (*.key)"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a readable private key file ({_reason(exc)})") from None
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey) or kind_of(key) != kind:
        found = _describe(key)
        raise KeyFileError(f"{path}: holds {found}, not an {_DESCRIPTION[kind]}")
    return key


def _load_public(path: Path, kind: KeyKind) -> PublicKey:
    data = _read_key_file(path)
    if b"PRIVATE KEY" in data:
        raise KeyFileError(
            f"{path}: is a PRIVATE key; give the public {_DESCRIPTION[kind]} (*.pub) instead"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a readable public key file ({_reason(exc)})") from None
    if not isinstance(key, Ed25519PublicKey | X25519PublicKey) or kind_of(key) != kind:
        found = _describe(key)
        raise KeyFileError(f"{path}: holds {found}, not an {_DESCRIPTION[kind]}")
    return key


def _describe(key: object) -> str:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey | X25519PrivateKey | X25519PublicKey):
        return f"an {_DESCRIPTION[kind_of(key)]}"
    return f"a {type(key).__name__.removeprefix('_')} key"


def _reason(exc: Exception) -> str:
    # cryptography appends a FAQ link to PEM errors; the first sentence is what matters here.
    return str(exc).split(". See ", 1)[0].strip() or type(exc).__name__


def _write_new_file(path: Path, data: bytes, *, mode: int) -> Path:
    """Write ``data`` to a new file atomically with ``mode``; never overwrite a key."""
    if path.exists():
        raise KeyFileError(f"refusing to overwrite existing file {path}")
    try:
        return atomic_write(path, [data], mode=mode)
    except OSError as exc:
        directory = path.parent if str(path.parent) else Path(".")
        raise KeyFileError(f"cannot write in {directory}: {exc.strerror or exc}") from None
