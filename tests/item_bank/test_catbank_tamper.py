"""Damage and tampering: every changed, missing or moved byte is one clear BankError."""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from item_bank import keys
from item_bank.catbank import (
    _SIGN_CONTEXT,
    Argon2Params,
    UntrustedSigner,
    _entry_nonce,
    _item_ad,
    open_bank,
    read_manifest,
    verify_content,
    write_bank,
)
from item_bank.errors import BankError, BankFormatError, BankTampered
from item_bank.model import ImageAsset, Item

FAST_KDF = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)


def small_items() -> list[Item]:
    return [
        Item(
            id="TIU-1",
            section="TIU",
            topic="deret",
            stem="1, 2, 4, ... ![g](g.png)",
            options={"A": "8", "B": "6"},
            key="A",
            images=(ImageAsset(name="g.png", media_type="image/png", data=b"\x89PNG..."),),
        ),
        Item(id="TIU-2", section="TIU", stem="3 + 4 = ?", options={"A": "7", "B": "8"}, key="A"),
        Item(id="TIU-3", section="TIU", stem="3 + 5 = ?", options={"A": "7", "B": "8"}, key="B"),
        Item(
            id="TKP-1",
            section="TKP",
            stem="Rekan kerja Anda terlambat.",
            options={"A": "tegur", "B": "bantu"},
            weights={"A": 2, "B": 5},
        ),
    ]


@pytest.fixture(scope="module")
def site_key():
    return keys.generate("site")


@pytest.fixture(scope="module")
def signed_bank(tmp_path_factory, site_key):
    path = tmp_path_factory.mktemp("signed") / "signed.catbank"
    write_bank(
        small_items(),
        path,
        bank_id="tamper",
        recipients=[site_key.public_key()],
        signing_key=keys.generate("signing"),
    )
    return path.read_bytes()


@pytest.fixture(scope="module")
def unsigned_bank(tmp_path_factory):
    path = tmp_path_factory.mktemp("unsigned") / "unsigned.catbank"
    write_bank(small_items(), path, bank_id="tamper", passphrases=["sandi"], kdf=FAST_KDF)
    return path.read_bytes()


def read_everything(path, **credentials) -> list[Item]:
    with open_bank(path, **credentials) as opened:
        items = list(opened.iter_items())
        opened.verify()
    return items


def expect_bank_error(path, **credentials) -> None:
    """The damaged file raises a BankError: never another exception, never wrong data."""
    try:
        items = read_everything(path, **credentials)
    except BankError:
        return
    pytest.fail(f"damage not detected; read {len(items)} items")


def test_the_untouched_banks_read_back(tmp_path, signed_bank, unsigned_bank, site_key):
    path = tmp_path / "b.catbank"
    path.write_bytes(signed_bank)
    assert read_everything(path, site_key=site_key) == small_items()
    path.write_bytes(unsigned_bank)
    assert read_everything(path, passphrase="sandi") == small_items()


@pytest.mark.parametrize("mask", [0xFF, 0x01])
def test_flipping_any_byte_of_a_signed_bank_is_detected(tmp_path, signed_bank, site_key, mask):
    path = tmp_path / "b.catbank"
    for position in range(len(signed_bank)):
        damaged = bytearray(signed_bank)
        damaged[position] ^= mask
        path.write_bytes(damaged)
        expect_bank_error(path, site_key=site_key)


def test_flipping_any_byte_of_an_unsigned_bank_is_detected(tmp_path, unsigned_bank):
    path = tmp_path / "b.catbank"
    for position in range(len(unsigned_bank)):
        damaged = bytearray(unsigned_bank)
        damaged[position] ^= 0x01
        path.write_bytes(damaged)
        expect_bank_error(path, passphrase="sandi")


def test_truncating_at_any_length_is_detected(tmp_path, signed_bank, site_key):
    path = tmp_path / "b.catbank"
    for length in range(len(signed_bank)):
        path.write_bytes(signed_bank[:length])
        expect_bank_error(path, site_key=site_key)
        with pytest.raises(BankError):
            read_manifest(path)


def test_truncation_and_appended_bytes_are_named(tmp_path, signed_bank, site_key):
    path = tmp_path / "b.catbank"
    path.write_bytes(signed_bank[:-1])
    with pytest.raises(BankFormatError, match="truncated"):
        open_bank(path, site_key=site_key)
    path.write_bytes(signed_bank + b"\x00")
    with pytest.raises(BankFormatError, match="unexpected bytes"):
        open_bank(path, site_key=site_key)


def test_a_flipped_manifest_byte_shows_as_an_invalid_signature(tmp_path, signed_bank):
    path = tmp_path / "b.catbank"
    damaged = signed_bank.replace(b'"bank_id": "tamper"', b'"bank_id": "tampeR"')
    path.write_bytes(damaged)
    assert read_manifest(path).signature_status == "invalid"


def _entry_of(path, site_key, item_id):
    with open_bank(path, site_key=site_key) as opened:
        return opened.index.record(item_id).entry, opened._entries_start


def test_swapping_two_entries_ciphertexts_is_detected(tmp_path, signed_bank, site_key):
    path = tmp_path / "b.catbank"
    path.write_bytes(signed_bank)
    (first, start), (second, _) = (_entry_of(path, site_key, i) for i in ("TIU-2", "TIU-3"))
    assert first.length == second.length  # same size, so only the contents move
    data = bytearray(signed_bank)
    a = slice(start + first.offset, start + first.offset + first.length)
    b = slice(start + second.offset, start + second.offset + second.length)
    data[a], data[b] = signed_bank[b], signed_bank[a]
    path.write_bytes(data)
    with open_bank(path, site_key=site_key) as opened:
        assert opened.item("TIU-1").id == "TIU-1"  # untouched entries still read
        for item_id in ("TIU-2", "TIU-3"):
            with pytest.raises(BankTampered, match=item_id):
                opened.item(item_id)
    with pytest.raises(BankTampered, match="content"):
        verify_content(path)


def test_a_key_holder_cannot_substitute_an_item(tmp_path, signed_bank, site_key):
    """A site holds the data key, so it can seal a valid entry; the signed hashes stop it."""
    path = tmp_path / "b.catbank"
    path.write_bytes(signed_bank)
    (entry, start) = _entry_of(path, site_key, "TIU-2")
    with open_bank(path, site_key=site_key) as opened:
        aead = opened._aead
        original = aead.decrypt(
            _entry_nonce(entry.offset),
            signed_bank[start + entry.offset : start + entry.offset + entry.length],
            _item_ad("tamper", "TIU-2"),
        )
    forged_item = json.loads(original)
    forged_item["key"] = "B"  # same length, so it fits in place
    forged = aead.encrypt(
        _entry_nonce(entry.offset),
        json.dumps(forged_item, separators=(",", ":")).encode(),
        _item_ad("tamper", "TIU-2"),
    )
    assert len(forged) == entry.length
    data = bytearray(signed_bank)
    data[start + entry.offset : start + entry.offset + entry.length] = forged
    path.write_bytes(data)
    with open_bank(path, site_key=site_key) as opened, pytest.raises(BankTampered):
        opened.item("TIU-2")
    assert hashlib.sha256(forged).hexdigest() != entry.sha256


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_edits_are_detected(tmp_path_factory, signed_bank, site_key, data):
    damaged = bytearray(signed_bank)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        if action == "replace":
            new = data.draw(st.integers(0, 255).filter(lambda v, p=position: v != damaged[p]))
            damaged[position] = new
        elif action == "insert":
            damaged[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del damaged[position : position + data.draw(st.integers(1, 8))]
    path = tmp_path_factory.mktemp("edit") / "b.catbank"
    path.write_bytes(damaged)
    expect_bank_error(path, site_key=site_key)


@settings(max_examples=100, deadline=None)
@given(garbage=st.binary(max_size=400))
def test_arbitrary_bytes_are_format_errors(tmp_path_factory, site_key, garbage):
    path = tmp_path_factory.mktemp("garbage") / "g.catbank"
    path.write_bytes(garbage)
    with pytest.raises(BankError):
        read_manifest(path)
    with pytest.raises(BankError):
        open_bank(path, site_key=site_key)


def test_a_bank_re_signed_by_someone_else_is_refused(tmp_path, signed_bank, site_key):
    """Swapping in another signer's key and signature leaves the holders' MAC broken."""

    (length,) = struct.unpack_from(">I", signed_bank, 12)
    manifest = json.loads(signed_bank[16 : 16 + length])
    original_signer = manifest["signer"]["public_key"]
    forger = keys.generate("signing")
    forged_key = base64.b64encode(keys.public_bytes(forger.public_key())).decode()
    manifest["signer"]["public_key"] = forged_key
    forged_manifest = (json.dumps(manifest, indent=2) + "\n").encode()
    signature = forger.sign(_SIGN_CONTEXT + forged_manifest)
    rest = signed_bank[16 + length + 2 + 64 :]  # the MAC and the body, unchanged
    forged = (
        signed_bank[:12] + struct.pack(">I", len(forged_manifest)) + forged_manifest
        + struct.pack(">H", 64) + signature + rest
    )  # fmt: skip
    path = tmp_path / "forged.catbank"
    path.write_bytes(forged)
    assert read_manifest(path).signature_status == "valid"  # valid, but by the forger
    with pytest.raises(BankTampered, match="manifest was changed"):
        open_bank(path, site_key=site_key)
    # The trust list names who may sign, whatever the file claims.
    trusted = base64.b64decode(original_signer)
    with pytest.raises(UntrustedSigner):
        open_bank(
            path,
            site_key=site_key,
            trusted_signers=[Ed25519PublicKey.from_public_bytes(trusted)],
        )


def test_a_file_truncated_under_an_open_bank_is_an_error_not_a_crash(
    tmp_path, signed_bank, site_key
):
    path = tmp_path / "b.catbank"
    path.write_bytes(signed_bank)
    with open_bank(path, site_key=site_key) as opened:
        with path.open("r+b") as handle:
            handle.truncate(len(signed_bank) // 2)
        with pytest.raises(BankFormatError, match="truncated"):
            list(opened.iter_items())
