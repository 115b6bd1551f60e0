"""The ``.catbank`` file: a small archive with a readable manifest and sealed entries.

One obvious writer (:func:`write_bank`) and one obvious reader (:func:`open_bank`, and
:func:`read_manifest` for what anyone may read without a key). The byte layout, the key
hierarchy and the reasons behind them are documented in ``docs/catbank.md``::

    header     "CATBANK\\0"  u16 format version  u16 flags (0)  u32 manifest length
    manifest   UTF-8 JSON, readable without a key (BankManifest)
    seal       u16 signature length (0 or 64), Ed25519 signature, 32-byte manifest MAC
    body       index (AES-256-GCM), then one AES-256-GCM entry per item and per image

Chain of trust: the signature covers the manifest; the manifest holds the SHA-256 of the
encrypted index; the index holds the SHA-256, offset and length of every entry. Every entry
is sealed with the bank's random data key, its associated data naming the bank, the entry
kind and the item (and image) it belongs to, and its nonce derived from its offset, so no
entry can be swapped, moved, added or removed. Plaintext exists only in memory.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import re
import struct
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from argon2.low_level import Type as Argon2Type
from argon2.low_level import hash_secret_raw
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    StringConstraints,
    ValidationError,
)

from item_bank import keys as keyfiles
from item_bank.atomic import atomic_write
from item_bank.errors import BankError, BankFormatError, BankTampered, NotARecipient, WrongKey
from item_bank.model import ITEM_ID_PATTERN, ImageAsset, Item, ItemMeta

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "Argon2Params",
    "BankManifest",
    "BankVerification",
    "OpenBank",
    "SectionCounts",
    "UntrustedSigner",
    "open_bank",
    "read_manifest",
    "verify_content",
    "write_bank",
]

MAGIC = b"CATBANK\x00"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">8sHHI")  # magic, format version, flags, manifest length
_SIG_LENGTH = struct.Struct(">H")
_SIGNATURE_BYTES = 64
_MAC_BYTES = 32
_KEY_BYTES = 32
_TAG_BYTES = 16
#: The manifest holds counts and holders, never content: a few KiB in practice.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024

# Domain-separation strings: a signature, MAC or ciphertext made for one purpose never
# verifies for another.
_SIGN_CONTEXT = b"cat-engine catbank v1 manifest signature\n"
_MAC_INFO = b"cat-engine catbank v1 manifest mac"
_SITE_WRAP_INFO = b"cat-engine catbank v1 site key wrap"
_INDEX_NONCE = b"\xff" * 12  # entry nonces start with four zero bytes, so never collide
_INDEX_FORMAT = "catbank-index/1"

ProgressCallback = Callable[[int, int], None]


class UntrustedSigner(BankError):
    """The bank is unsigned, or signed by a key that is not among the trusted signers."""


# --- manifest schema -------------------------------------------------------------------


def _b64_decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError("not valid base64") from exc
    return value


def _b64(size: int) -> Any:
    """Bytes of exactly ``size`` that travel in JSON as standard base64."""
    return Annotated[
        bytes,
        BeforeValidator(_b64_decode),
        Field(min_length=size, max_length=size),
        PlainSerializer(lambda raw: base64.b64encode(raw).decode("ascii"), return_type=str),
    ]


_Raw32 = _b64(32)
_Salt = _b64(16)
_Nonce = _b64(12)
_WrappedKey = _b64(_KEY_BYTES + _TAG_BYTES)
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{4}(:[0-9a-f]{4}){7}$")]
BankId = Annotated[str, StringConstraints(pattern=ITEM_ID_PATTERN)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Argon2Params(_Frozen):
    """Argon2id cost parameters (RFC 9106). The bounds stop a damaged or hostile manifest
    from making an exam server spend gigabytes or minutes on opening a bank."""

    time_cost: int = Field(3, ge=1, le=16)
    memory_kib: int = Field(64 * 1024, ge=1024, le=1024 * 1024)
    parallelism: int = Field(4, ge=1, le=16)


#: RFC 9106's second recommended option: t=3, 64 MiB, p=4. About a quarter of a second on
#: one core here (docs/catbank.md); a bank is opened once per server start.
DEFAULT_ARGON2 = Argon2Params()


class PassphraseHolder(_Frozen):
    """The data key wrapped under a key derived from a passphrase with Argon2id."""

    kind: Literal["passphrase"] = "passphrase"
    kdf: Literal["argon2id"] = "argon2id"
    params: Argon2Params
    salt: _Salt
    nonce: _Nonce
    wrapped_key: _WrappedKey


class SiteHolder(_Frozen):
    """The data key wrapped for one test site's X25519 public key (ephemeral-static ECDH)."""

    kind: Literal["site"] = "site"
    fingerprint: Fingerprint
    ephemeral_public_key: _Raw32
    nonce: _Nonce
    wrapped_key: _WrappedKey


Holder = Annotated[PassphraseHolder | SiteHolder, Field(discriminator="kind")]


class Signer(_Frozen):
    algorithm: Literal["ed25519"] = "ed25519"
    public_key: _Raw32

    @property
    def fingerprint(self) -> str:
        return keyfiles.fingerprint(Ed25519PublicKey.from_public_bytes(self.public_key))


Count = Annotated[int, Field(ge=0)]


class SectionCounts(_Frozen):
    """Items of one section, by topic and by difficulty label (unlabelled items not counted).

    Reads both as attributes and as a mapping (``counts.items`` or ``counts["items"]``), the
    shape the manifest has in JSON.
    """

    items: Count
    topics: dict[str, Count] = {}
    difficulties: dict[str, Count] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in type(self).model_fields:
            raise KeyError(name)
        return getattr(self, name)


class IndexRef(_Frozen):
    length: int = Field(ge=_TAG_BYTES)
    sha256: Sha256Hex


class BankManifest(_Frozen):
    """The readable part of a bank: what it is, what it holds, who may open it, who made it.

    ``signature_status`` is not stored in the file: :func:`read_manifest` sets it after
    checking the signature.
    """

    format: Literal["catbank"] = "catbank"
    format_version: Literal[1] = FORMAT_VERSION
    bank_id: BankId
    version: int = Field(ge=1)
    created: AwareDatetime
    item_count: Count
    image_count: Count
    sections: dict[str, SectionCounts]
    #: SHA-256 of the body (every byte after the seal): checkable without a key.
    content_sha256: Sha256Hex
    body_length: int = Field(ge=_TAG_BYTES)
    index: IndexRef
    holders: list[Holder] = Field(min_length=1)
    signer: Signer | None = None

    _signature_status: Literal["valid", "invalid", "unsigned"] = PrivateAttr("unsigned")

    @property
    def signature_status(self) -> Literal["valid", "invalid", "unsigned"]:
        return self._signature_status

    @property
    def signer_fingerprint(self) -> str | None:
        return self.signer.fingerprint if self.signer else None

    @property
    def site_fingerprints(self) -> list[str]:
        return [h.fingerprint for h in self.holders if isinstance(h, SiteHolder)]

    @property
    def passphrase_holders(self) -> int:
        return sum(isinstance(h, PassphraseHolder) for h in self.holders)

    def summary(self) -> dict[str, Any]:
        """The manifest as JSON-ready data, with the signature status and fingerprints."""
        data = self.model_dump(mode="json")
        data["signature_status"] = self.signature_status
        data["signer_fingerprint"] = self.signer_fingerprint
        for holder in data["holders"]:
            for secret in ("salt", "nonce", "wrapped_key", "ephemeral_public_key"):
                holder.pop(secret, None)
        if data["signer"]:
            data["signer"]["fingerprint"] = self.signer_fingerprint
        return data


# --- the parsed layout -------------------------------------------------------------------


class _Layout:
    """Where things are in one bank file, and the bytes the seal protects."""

    __slots__ = ("body_start", "mac", "manifest", "sealed_prefix", "signature", "size")

    def __init__(self, buffer: bytes, size: int, name: str):
        if size < _HEADER.size:
            if size == 0:
                raise BankFormatError(f"{name} is empty, not a .catbank file")
            if MAGIC.startswith(bytes(buffer[: min(size, len(MAGIC))])):
                raise BankFormatError(f"{name} is truncated: the header is incomplete")
            raise BankFormatError(f"{name} is not a .catbank file")
        magic, version, flags, manifest_length = _HEADER.unpack_from(buffer, 0)
        if magic != MAGIC:
            raise BankFormatError(f"{name} is not a .catbank file (wrong magic bytes)")
        if version != FORMAT_VERSION:
            raise BankFormatError(
                f"{name} is a .catbank of format version {version}; this cat-engine reads "
                f"version {FORMAT_VERSION}"
            )
        if flags != 0:
            raise BankFormatError(f"{name}: header flags {flags:#06x} are unknown (damaged?)")
        if manifest_length > MAX_MANIFEST_BYTES:
            raise BankFormatError(f"{name}: manifest length {manifest_length} is implausible")
        manifest_end = _HEADER.size + manifest_length
        if size < manifest_end + _SIG_LENGTH.size:
            raise BankFormatError(f"{name} is truncated inside its manifest")
        (signature_length,) = _SIG_LENGTH.unpack_from(buffer, manifest_end)
        if signature_length not in (0, _SIGNATURE_BYTES):
            raise BankFormatError(f"{name}: signature length {signature_length} is invalid")
        signature_start = manifest_end + _SIG_LENGTH.size
        self.body_start = signature_start + signature_length + _MAC_BYTES
        if size < self.body_start:
            raise BankFormatError(f"{name} is truncated inside its seal")
        self.size = size
        self.manifest = _parse_manifest(bytes(buffer[_HEADER.size : manifest_end]), name)
        self.signature = bytes(buffer[signature_start : signature_start + signature_length])
        self.sealed_prefix = bytes(buffer[: signature_start + signature_length])
        self.mac = bytes(buffer[self.body_start - _MAC_BYTES : self.body_start])
        if (self.signature == b"") != (self.manifest.signer is None):
            raise BankFormatError(f"{name}: the signer and the signature do not match up")
        expected = self.body_start + self.manifest.body_length
        if size < expected:
            raise BankFormatError(
                f"{name} is truncated: {size} bytes, the manifest says {expected}"
            )
        if size > expected:
            raise BankFormatError(
                f"{name} has {size - expected} unexpected bytes after its last entry"
            )
        if self.manifest.index.length > self.manifest.body_length:
            raise BankFormatError(f"{name}: the index is longer than the body")

    @property
    def manifest_bytes(self) -> bytes:
        end = len(self.sealed_prefix) - len(self.signature) - _SIG_LENGTH.size
        return self.sealed_prefix[_HEADER.size : end]

    def check_signature(self) -> Literal["valid", "invalid", "unsigned"]:
        signer = self.manifest.signer
        if signer is None:
            return "unsigned"
        try:
            public = Ed25519PublicKey.from_public_bytes(signer.public_key)
            public.verify(self.signature, _SIGN_CONTEXT + self.manifest_bytes)
        except (InvalidSignature, ValueError):
            return "invalid"
        return "valid"


def _parse_manifest(raw: bytes, name: str) -> BankManifest:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BankFormatError(f"{name}: the manifest is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BankFormatError(f"{name}: the manifest is not a JSON object")
    try:
        return BankManifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "manifest"
        raise BankFormatError(f"{name}: the manifest is damaged: {where}: {first['msg']}") from None


def _read_head(handle: Any) -> tuple[bytes, int]:
    """The first bytes of an open bank (header, manifest and seal) and the file's size."""
    size = os.fstat(handle.fileno()).st_size
    head = handle.read(_HEADER.size)
    if len(head) == _HEADER.size and head[:8] == MAGIC:
        manifest_length = min(_HEADER.unpack(head)[3], MAX_MANIFEST_BYTES)
        head += handle.read(manifest_length + _SIG_LENGTH.size + _SIGNATURE_BYTES + _MAC_BYTES)
    return head, size


def _open_file(path: Path) -> Any:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise BankError(f"{path}: no such bank file") from None
    except IsADirectoryError:
        raise BankError(f"{path}: is a directory, not a bank file") from None
    except OSError as exc:
        raise BankError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_prefix(path: Path) -> tuple[bytes, int]:
    with _open_file(path) as handle:
        try:
            return _read_head(handle)
        except OSError as exc:
            raise BankError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_manifest(path: str | os.PathLike[str]) -> BankManifest:
    """The manifest of a bank, readable without any key, with its signature status set.

    Checks the file's structure and the signature (if any); does not read the body (see
    :func:`verify_content` for the keyless whole-file check).
    """
    path = Path(path)
    head, size = _read_prefix(path)
    layout = _Layout(head, size, str(path))
    manifest = layout.manifest
    manifest._signature_status = layout.check_signature()
    return manifest


def verify_content(path: str | os.PathLike[str], manifest: BankManifest | None = None) -> None:
    """Check the body's SHA-256 against the manifest without a key; raise BankTampered."""
    path = Path(path)
    manifest = manifest or read_manifest(path)
    head, size = _read_prefix(path)
    layout = _Layout(head, size, str(path))
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            handle.seek(layout.body_start)
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    except OSError as exc:
        raise BankError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if digest.hexdigest() != manifest.content_sha256:
        raise BankTampered(f"{path}: the content does not match the manifest's content hash")


# --- keys ---------------------------------------------------------------------------------


def _passphrase_kek(passphrase: str, salt: bytes, params: Argon2Params) -> bytes:
    # NFC so that the same passphrase typed on two keyboards gives the same bytes;
    # surrogatepass so that any str (even one undecodable environment bytes became) works.
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8", "surrogatepass")
    return hash_secret_raw(
        secret,
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=_KEY_BYTES,
        type=Argon2Type.ID,
    )


def _site_kek(shared: bytes, ephemeral: bytes, site: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=ephemeral + site, info=_SITE_WRAP_INFO
    ).derive(shared)


def _wrap_ad(bank_id: str, holder: str) -> bytes:
    return _pack(b"catbank/1 key", bank_id, holder)


def _wrap_for_passphrase(
    data_key: bytes, passphrase: str, bank_id: str, params: Argon2Params
) -> PassphraseHolder:
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _passphrase_kek(passphrase, salt, params)
    wrapped = AESGCM(kek).encrypt(nonce, data_key, _wrap_ad(bank_id, "passphrase"))
    return PassphraseHolder(params=params, salt=salt, nonce=nonce, wrapped_key=wrapped)


def _wrap_for_site(data_key: bytes, site: X25519PublicKey, bank_id: str) -> SiteHolder:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = keyfiles.public_bytes(ephemeral.public_key())
    kek = _site_kek(ephemeral.exchange(site), ephemeral_raw, keyfiles.public_bytes(site))
    fingerprint = keyfiles.fingerprint(site)
    nonce = os.urandom(12)
    wrapped = AESGCM(kek).encrypt(nonce, data_key, _wrap_ad(bank_id, f"site {fingerprint}"))
    return SiteHolder(
        fingerprint=fingerprint,
        ephemeral_public_key=ephemeral_raw,
        nonce=nonce,
        wrapped_key=wrapped,
    )


def _unwrap(
    manifest: BankManifest, name: str, passphrase: str | None, site_key: X25519PrivateKey | None
) -> bytes:
    """The data key, from whichever holder the given credentials unlock."""
    if passphrase is None and site_key is None:
        raise WrongKey(f"{name}: no key given; this bank opens with {_holders_text(manifest)}")
    errors: list[BankError] = []
    if site_key is not None:
        try:
            return _unwrap_site(manifest, name, site_key)
        except BankError as exc:
            errors.append(exc)
    if passphrase is not None:
        try:
            return _unwrap_passphrase(manifest, name, passphrase)
        except BankError as exc:
            errors.append(exc)
    # A damaged bank matters more than a wrong key, and a wrong key more than a wrong site.
    for kind in (BankTampered, WrongKey, NotARecipient):
        for error in errors:
            if isinstance(error, kind):
                raise error
    raise errors[0]


def _unwrap_site(manifest: BankManifest, name: str, site_key: X25519PrivateKey) -> bytes:
    fingerprint = keyfiles.fingerprint(site_key)
    holders = [
        h for h in manifest.holders if isinstance(h, SiteHolder) and h.fingerprint == fingerprint
    ]
    if not holders:
        sites = manifest.site_fingerprints
        issued = f"site(s) {', '.join(sites)}" if sites else "no site (passphrase only)"
        raise NotARecipient(f"{name} was issued to {issued}, not to this site (key {fingerprint})")
    site_raw = keyfiles.public_bytes(site_key.public_key())
    for holder in holders:
        try:
            shared = site_key.exchange(
                X25519PublicKey.from_public_bytes(holder.ephemeral_public_key)
            )
            kek = _site_kek(shared, holder.ephemeral_public_key, site_raw)
            return AESGCM(kek).decrypt(
                holder.nonce, holder.wrapped_key, _wrap_ad(manifest.bank_id, f"site {fingerprint}")
            )
        except (InvalidTag, ValueError):
            continue
    raise BankTampered(f"{name}: the key slot for site {fingerprint} is damaged")


def _unwrap_passphrase(manifest: BankManifest, name: str, passphrase: str) -> bytes:
    holders = [h for h in manifest.holders if isinstance(h, PassphraseHolder)]
    if not holders:
        raise NotARecipient(
            f"{name} has no passphrase; it opens only with the key of site(s) "
            f"{', '.join(manifest.site_fingerprints)}"
        )
    for holder in holders:
        kek = _passphrase_kek(passphrase, holder.salt, holder.params)
        try:
            return AESGCM(kek).decrypt(
                holder.nonce, holder.wrapped_key, _wrap_ad(manifest.bank_id, "passphrase")
            )
        except InvalidTag:
            continue
    raise WrongKey(f"{name}: wrong passphrase (or its key slot is damaged)")


def _holders_text(manifest: BankManifest) -> str:
    parts = []
    if manifest.passphrase_holders:
        parts.append("a passphrase")
    if manifest.site_fingerprints:
        parts.append(f"the key of site(s) {', '.join(manifest.site_fingerprints)}")
    return " or ".join(parts)


def _manifest_mac(data_key: bytes, sealed_prefix: bytes) -> bytes:
    # Keyed with the data key, so an unsigned bank is still tamper-evident to its holders.
    mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_MAC_INFO).derive(data_key)
    return hmac.new(mac_key, sealed_prefix, hashlib.sha256).digest()


# --- entries --------------------------------------------------------------------------------


def _pack(*parts: bytes | str) -> bytes:
    """Unambiguous associated data: each part length-prefixed."""
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        out += struct.pack(">I", len(raw)) + raw
    return bytes(out)


def _entry_nonce(offset: int) -> bytes:
    # Offsets are unique within a bank and the data key is fresh per bank, so this is a
    # never-repeating nonce; it also ties every entry to its place in the file.
    return b"\x00\x00\x00\x00" + offset.to_bytes(8, "big")


def _item_ad(bank_id: str, item_id: str) -> bytes:
    return _pack(b"catbank/1 item", bank_id, item_id)


def _image_ad(bank_id: str, item_id: str, image: str) -> bytes:
    return _pack(b"catbank/1 image", bank_id, item_id, image)


def _index_ad(bank_id: str) -> bytes:
    return _pack(b"catbank/1 index", bank_id)


class _Entry(_Frozen):
    """Where one sealed entry is: offset in the entries area, length, SHA-256 of the bytes."""

    offset: int = Field(ge=0)
    length: int = Field(ge=_TAG_BYTES)
    sha256: Sha256Hex


class _ImageRecord(_Frozen):
    name: str
    media_type: str
    entry: _Entry


class _Record(_Frozen):
    """Where one item's entries are: the item itself and each of its images."""

    entry: _Entry
    images: tuple[_ImageRecord, ...] = ()


# --- writing ---------------------------------------------------------------------------------


def write_bank(
    items: Iterable[Item],
    out_path: str | os.PathLike[str],
    *,
    bank_id: str,
    version: int = 1,
    passphrases: Iterable[str] = (),
    recipients: Iterable[X25519PublicKey] = (),
    signing_key: Ed25519PrivateKey | None = None,
    progress: ProgressCallback | None = None,
    kdf: Argon2Params = DEFAULT_ARGON2,
    created: datetime | None = None,
) -> BankManifest:
    """Encrypt ``items`` into a new bank file at ``out_path`` (atomic: temp file + rename).

    The data key is wrapped for every passphrase and every site public key given (at least
    one holder). ``signing_key`` signs the manifest; without it the bank is unsigned.
    ``progress(done, total)`` is called as items are sealed.
    """
    items = list(items)
    passphrases = list(passphrases)
    # One key slot per site, even when a site is named twice.
    recipients = list({keyfiles.fingerprint(site): site for site in recipients}.values())
    _check_write_arguments(items, bank_id, version, passphrases, recipients)

    data_key = AESGCM.generate_key(bit_length=256)
    aead = AESGCM(data_key)
    chunks: list[bytes] = []
    records: list[bytes] = []
    offset = 0
    total = len(items)

    def seal(plaintext: bytes, ad: bytes) -> dict[str, Any]:
        nonlocal offset
        sealed = aead.encrypt(_entry_nonce(offset), plaintext, ad)
        chunks.append(sealed)
        entry = {"offset": offset, "length": len(sealed), "sha256": _sha256(sealed)}
        offset += len(sealed)
        return entry

    meta_lines: list[bytes] = []
    for done, item in enumerate(items, start=1):
        images = [
            {
                "name": image.name,
                "media_type": image.media_type,
                "entry": seal(image.data, _image_ad(bank_id, item.id, image.name)),
            }
            for image in item.images
        ]
        body = item.model_dump_json(exclude={"images"}, exclude_defaults=True).encode()
        record: dict[str, Any] = {"entry": seal(body, _item_ad(bank_id, item.id))}
        if images:
            record["images"] = images
        meta_lines.append(item.meta().model_dump_json(exclude_defaults=True).encode())
        records.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())
        if progress is not None and (done % 512 == 0 or done == total):
            progress(done, total)

    # The index is text, one line per field kind, so that opening it costs a split, not a
    # parse: ids first (listing), then each item's ItemMeta JSON, then where its entries are.
    index_text = b"\n".join(
        [
            json.dumps({"format": _INDEX_FORMAT, "items": total}).encode(),
            "\n".join(item.id for item in items).encode(),
            *meta_lines,
            *records,
        ]
    )
    index = aead.encrypt(_INDEX_NONCE, index_text, _index_ad(bank_id))
    content = hashlib.sha256(index)
    for chunk in chunks:
        content.update(chunk)

    holders: list[PassphraseHolder | SiteHolder] = [
        _wrap_for_passphrase(data_key, passphrase, bank_id, kdf) for passphrase in passphrases
    ]
    holders += [_wrap_for_site(data_key, site, bank_id) for site in recipients]
    manifest = BankManifest(
        bank_id=bank_id,
        version=version,
        created=(created or datetime.now(UTC)).replace(microsecond=0),
        item_count=total,
        image_count=sum(len(item.images) for item in items),
        sections=_section_counts(items),
        content_sha256=content.hexdigest(),
        body_length=len(index) + offset,
        index=IndexRef(length=len(index), sha256=_sha256(index)),
        holders=holders,
        signer=(
            Signer(public_key=keyfiles.public_bytes(signing_key.public_key()))
            if signing_key is not None
            else None
        ),
    )
    manifest_bytes = (
        json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    ).encode("utf-8")
    signature = signing_key.sign(_SIGN_CONTEXT + manifest_bytes) if signing_key is not None else b""
    sealed_prefix = (
        _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(manifest_bytes))
        + manifest_bytes
        + _SIG_LENGTH.pack(len(signature))
        + signature
    )
    mac = _manifest_mac(data_key, sealed_prefix)
    atomic_write(Path(out_path), [sealed_prefix, mac, index, *chunks], mode=0o644)
    manifest._signature_status = "valid" if signing_key is not None else "unsigned"
    return manifest


def _check_write_arguments(
    items: list[Item],
    bank_id: str,
    version: int,
    passphrases: list[str],
    recipients: list[X25519PublicKey],
) -> None:
    if not re.fullmatch(ITEM_ID_PATTERN, bank_id):
        raise ValueError(f"bank id {bank_id!r} must match {ITEM_ID_PATTERN}")
    if version < 1:
        raise ValueError("the bank version must be 1 or more")
    if not items:
        raise ValueError("a bank needs at least one item")
    if not passphrases and not recipients:
        raise ValueError("a bank needs at least one holder: a passphrase or a site public key")
    if any(not passphrase for passphrase in passphrases):
        raise ValueError("a passphrase must not be empty")
    seen: set[str] = set()
    duplicates = sorted({item.id for item in items if item.id in seen or seen.add(item.id)})
    if duplicates:
        raise ValueError(f"duplicate item id(s): {', '.join(duplicates[:10])}")


def _section_counts(items: list[Item]) -> dict[str, SectionCounts]:
    per_section: dict[str, list[Item]] = {}
    for item in items:
        per_section.setdefault(item.section, []).append(item)
    return {
        section: SectionCounts(
            items=len(members),
            topics=dict(Counter(item.topic for item in members)),
            difficulties=dict(Counter(item.difficulty for item in members if item.difficulty)),
        )
        for section, members in per_section.items()
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- reading ----------------------------------------------------------------------------------


class BankIndex(Mapping[str, ItemMeta]):
    """The decrypted index: item id -> :class:`ItemMeta`, in bank order.

    Ids are known at once; an ``ItemMeta`` is validated the first time it is asked for
    (about 5 us), so opening a 100,000-item bank does not pay for every validation up front.
    """

    def __init__(self, ids: list[str], metas: list[bytes], records: list[bytes], name: str):
        self._ids = ids
        self._meta_lines = metas
        self._records = records
        self._position = {item_id: i for i, item_id in enumerate(ids)}
        self._metas: dict[str, ItemMeta] = {}
        self._parsed: dict[str, _Record] = {}
        self._name = name
        if len(self._position) != len(ids):
            raise BankFormatError(f"{name}: the index lists an item id twice")

    def __getitem__(self, item_id: str) -> ItemMeta:
        meta = self._metas.get(item_id)
        if meta is None:
            position = self._position[item_id]  # KeyError for an unknown id, as a Mapping
            try:
                meta = ItemMeta.model_validate_json(self._meta_lines[position])
            except ValidationError as exc:
                raise self._invalid(item_id, exc) from None
            self._metas[item_id] = self._checked(item_id, meta)
        return meta

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._position

    def record(self, item_id: str) -> _Record:
        record = self._parsed.get(item_id)
        if record is None:
            position = self._position[item_id]
            try:
                record = _Record.model_validate_json(self._records[position])
            except ValidationError as exc:
                raise self._invalid(item_id, exc) from None
            self._parsed[item_id] = record
        return record

    def _checked(self, item_id: str, meta: ItemMeta) -> ItemMeta:
        if meta.id != item_id:
            raise BankFormatError(f"{self._name}: index entry of item {item_id} names {meta.id}")
        return meta

    def _invalid(self, item_id: str, exc: ValidationError) -> BankFormatError:
        return BankFormatError(
            f"{self._name}: index entry of item {item_id} is invalid: {exc.errors()[0]['msg']}"
        )


class BankVerification(_Frozen):
    """What :meth:`OpenBank.verify` checked."""

    items: int
    images: int
    sections: dict[str, int]


class OpenBank:
    """An opened bank: the manifest, the decrypted index, and items decrypted on demand.

    The file stays open read-only; reading an item reads and decrypts only its entries,
    in memory. Decrypted items are kept in an LRU cache of ``cache_size`` items.
    """

    def __init__(
        self,
        path: Path,
        manifest: BankManifest,
        data_key: bytes,
        handle: Any,
        layout: _Layout,
        cache_size: int,
    ):
        self.path = path
        self.manifest = manifest
        self._aead = AESGCM(data_key)
        self._handle = handle
        self._lock = threading.Lock()  # only where os.pread is missing (Windows)
        self._entries_start = layout.body_start + manifest.index.length
        self._name = str(path)
        self.index = self._load_index(layout)
        self._cached = functools.lru_cache(maxsize=cache_size)(self._decrypt_item)

    def _load_index(self, layout: _Layout) -> BankIndex:
        start, length = layout.body_start, self.manifest.index.length
        sealed = self._read(start, length, "the index")
        if _sha256(sealed) != self.manifest.index.sha256:
            raise BankTampered(f"{self._name}: the index does not match the manifest")
        try:
            text = self._aead.decrypt(_INDEX_NONCE, sealed, _index_ad(self.manifest.bank_id))
        except InvalidTag:
            raise BankTampered(f"{self._name}: the index failed its authentication") from None
        lines = text.split(b"\n")
        count = self.manifest.item_count
        try:
            head = json.loads(lines[0])
            ids = [line.decode("utf-8") for line in lines[1 : 1 + count]]
        except ValueError:
            raise BankFormatError(f"{self._name}: the index is damaged") from None
        metas, records = lines[1 + count : 1 + 2 * count], lines[1 + 2 * count :]
        if (
            not isinstance(head, dict)
            or head.get("format") != _INDEX_FORMAT
            or head.get("items") != count
            or len(records) != count
        ):
            raise BankFormatError(
                f"{self._name}: the index does not list the {count} items of the manifest"
            )
        return BankIndex(ids, metas, records, self._name)

    # Reading -----------------------------------------------------------------------------

    def _read(self, offset: int, length: int, what: str) -> bytes:
        # pread rather than mmap: a file truncated under a running server gives a short
        # read (a clear error) instead of SIGBUS killing the process.
        try:
            if hasattr(os, "pread"):
                data = os.pread(self._handle.fileno(), length, offset)
            else:
                with self._lock:
                    self._handle.seek(offset)
                    data = self._handle.read(length)
        except (OSError, ValueError) as exc:
            raise BankError(f"{self._name}: cannot read {what}: {exc}") from None
        if len(data) != length:
            raise BankFormatError(f"{self._name} is truncated: {what} is cut off")
        return data

    def _open_entry(self, entry: _Entry, ad: bytes, what: str) -> bytes:
        start = self._entries_start + entry.offset
        end = start + entry.length
        sealed = self._read(start, end - start, what)
        if _sha256(sealed) != entry.sha256:
            raise BankTampered(f"{self._name}: {what} does not match the signed index")
        try:
            return self._aead.decrypt(_entry_nonce(entry.offset), sealed, ad)
        except InvalidTag:
            raise BankTampered(f"{self._name}: {what} failed its authentication") from None

    def item(self, item_id: str) -> Item:
        """The item ``item_id``, decrypted in memory (LRU-cached); KeyError if unknown."""
        return self._cached(item_id)

    def _decrypt_item(self, item_id: str) -> Item:
        if item_id not in self.index:
            raise KeyError(f"no item {item_id!r} in bank {self.manifest.bank_id}")
        record = self.index.record(item_id)
        bank_id = self.manifest.bank_id
        plaintext = self._open_entry(record.entry, _item_ad(bank_id, item_id), f"item {item_id}")
        try:
            if not record.images:  # the common case: validate straight from the JSON
                item = Item.model_validate_json(plaintext)
                return self._same_id(item, item_id)
            data = json.loads(plaintext)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            data["images"] = [
                ImageAsset(
                    name=image.name,
                    media_type=image.media_type,
                    data=self._open_entry(
                        image.entry,
                        _image_ad(bank_id, item_id, image.name),
                        f"image {image.name} of item {item_id}",
                    ),
                )
                for image in record.images
            ]
            item = Item.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise BankFormatError(
                f"{self._name}: item {item_id} is invalid: {where}: {error['msg']}"
            ) from None
        except ValueError as exc:
            raise BankFormatError(f"{self._name}: item {item_id} is damaged ({exc})") from None
        return self._same_id(item, item_id)

    def _same_id(self, item: Item, item_id: str) -> Item:
        if item.id != item_id:
            raise BankTampered(f"{self._name}: entry of item {item_id} holds item {item.id}")
        return item

    def iter_items(self) -> Iterator[Item]:
        """Every item in bank order, decrypted one at a time (bypasses the cache)."""
        for item_id in self.index:
            yield self._decrypt_item(item_id)

    def verify(self, progress: ProgressCallback | None = None) -> BankVerification:
        """Decrypt and validate every item in memory; check it against the index and manifest."""
        images = 0
        sections: Counter[str] = Counter()
        total = len(self.index)
        for done, item in enumerate(self.iter_items(), start=1):
            if item.meta() != self.index[item.id]:
                raise BankTampered(f"{self._name}: item {item.id} does not match its index entry")
            images += len(item.images)
            sections[item.section] += 1
            if progress is not None and (done % 256 == 0 or done == total):
                progress(done, total)
        expected = {name: counts.items for name, counts in self.manifest.sections.items()}
        if dict(sections) != expected or images != self.manifest.image_count:
            raise BankTampered(f"{self._name}: the items do not match the manifest's counts")
        digest = hashlib.sha256()
        body_start = self._entries_start - self.manifest.index.length
        body_end = body_start + self.manifest.body_length
        for start in range(body_start, body_end, 1 << 20):
            digest.update(self._read(start, min(1 << 20, body_end - start), "the body"))
        if digest.hexdigest() != self.manifest.content_sha256:
            raise BankTampered(f"{self._name}: the content does not match its content hash")
        return BankVerification(items=total, images=images, sections=dict(sections))

    # Lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        self._cached.cache_clear()
        self._handle.close()

    def __enter__(self) -> OpenBank:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<OpenBank {self.manifest.bank_id} v{self.manifest.version}: {len(self.index)} items>"
        )


def open_bank(
    path: str | os.PathLike[str],
    *,
    passphrase: str | None = None,
    site_key: X25519PrivateKey | str | os.PathLike[str] | None = None,
    trusted_signers: Iterable[Ed25519PublicKey | str] | None = None,
    cache_size: int = 4096,
) -> OpenBank:
    """Open a bank with a passphrase and/or a site private key (object or key file path).

    Verifies the structure, the signature (a present but invalid signature is always an
    error), the manifest MAC and the index. With ``trusted_signers`` (public keys or
    fingerprints) the bank must be signed by one of them. Every failure is a BankError.
    """
    path = Path(path)
    name = str(path)
    if site_key is not None and not isinstance(site_key, X25519PrivateKey):
        try:
            site_key = keyfiles.load_site_key(site_key)
        except keyfiles.KeyFileError as exc:
            raise WrongKey(str(exc)) from None
    handle = _open_file(path)
    try:
        head, size = _read_head(handle)
        layout = _Layout(head, size, name)
        manifest = layout.manifest
        status = layout.check_signature()
        if status == "invalid":
            raise BankTampered(f"{name}: the manifest signature is invalid")
        manifest._signature_status = status
        if trusted_signers is not None:
            _check_trust(manifest, trusted_signers, name)
        data_key = _unwrap(manifest, name, passphrase, site_key)
        if not hmac.compare_digest(_manifest_mac(data_key, layout.sealed_prefix), layout.mac):
            raise BankTampered(f"{name}: the manifest was changed after the bank was written")
        return OpenBank(path, manifest, data_key, handle, layout, cache_size)
    except OSError as exc:
        handle.close()
        raise BankError(f"{name}: cannot read: {exc.strerror or exc}") from None
    except BaseException:
        handle.close()
        raise


def _check_trust(
    manifest: BankManifest, trusted: Iterable[Ed25519PublicKey | str], name: str
) -> None:
    fingerprints = {key if isinstance(key, str) else keyfiles.fingerprint(key) for key in trusted}
    signer = manifest.signer_fingerprint
    if signer is None:
        raise UntrustedSigner(f"{name} is unsigned, but a trusted signer is required")
    if signer not in fingerprints:
        raise UntrustedSigner(f"{name} is signed by {signer}, which is not a trusted signer")
