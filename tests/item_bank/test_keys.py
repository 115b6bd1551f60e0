"""Key files: generated with safe modes, loaded back, refused with a clear reason."""

from __future__ import annotations

import os
import stat

import pytest

from item_bank import keys


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generated_private_files_are_0600_and_public_files_readable(tmp_path):
    old_umask = os.umask(0)  # even a careless umask must not widen a private file
    try:
        written = keys.generate_key_files(tmp_path / "keys", ("signing", "site"))
    finally:
        os.umask(old_umask)
    names = sorted(path.name for path in written)
    assert names == ["signing.key", "signing.pub", "site.key", "site.pub"]
    for path in written:
        assert mode(path) == (0o600 if path.suffix == ".key" else 0o644)
    assert sorted(os.listdir(tmp_path / "keys")) == names  # no temp files left


def test_keys_load_back_and_fingerprints_match(tmp_path):
    keys.generate_key_files(tmp_path, ("signing", "site"))
    signing = keys.load_signing_key(tmp_path / "signing.key")
    site = keys.load_site_key(tmp_path / "site.key")
    assert keys.fingerprint(signing) == keys.fingerprint(
        keys.load_signing_public_key(tmp_path / "signing.pub")
    )
    assert keys.fingerprint(site) == keys.fingerprint(
        keys.load_site_public_key(tmp_path / "site.pub")
    )
    assert keys.fingerprint(site) in (tmp_path / "site.pub").read_text()
    assert keys.fingerprint(site) != keys.fingerprint(signing)


def test_fingerprints_are_short_and_stable():
    key = keys.generate("site")
    fp = keys.fingerprint(key)
    assert fp == keys.fingerprint(key.public_key())
    assert len(fp) == 39 and fp.count(":") == 7


def test_generation_never_overwrites_a_key(tmp_path):
    keys.generate_key_files(tmp_path, ("site",))
    before = (tmp_path / "site.key").read_bytes()
    with pytest.raises(keys.KeyFileError, match="refusing to overwrite"):
        keys.generate_key_files(tmp_path, ("signing", "site"))
    assert (tmp_path / "site.key").read_bytes() == before
    assert not (tmp_path / "signing.key").exists()  # nothing half-written either


def test_wrong_kinds_and_swapped_files_are_named(tmp_path):
    keys.generate_key_files(tmp_path, ("signing", "site"))
    with pytest.raises(keys.KeyFileError, match="Ed25519 bank signing key, not an X25519"):
        keys.load_site_key(tmp_path / "signing.key")
    with pytest.raises(keys.KeyFileError, match="X25519 test-site key, not an Ed25519"):
        keys.load_signing_public_key(tmp_path / "site.pub")
    with pytest.raises(keys.KeyFileError, match="is a public key"):
        keys.load_site_key(tmp_path / "site.pub")
    with pytest.raises(keys.KeyFileError, match="is a PRIVATE key"):
        keys.load_site_public_key(tmp_path / "site.key")


@pytest.mark.parametrize(
    "content",
    [b"", b"not a key\n", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
)
def test_garbage_files_are_key_file_errors(tmp_path, content):
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    with pytest.raises(keys.KeyFileError, match=r"bad\.key"):
        keys.load_site_key(path)


def test_missing_files_and_directories_are_key_file_errors(tmp_path):
    with pytest.raises(keys.KeyFileError, match="no such key file"):
        keys.load_signing_key(tmp_path / "absent.key")
    with pytest.raises(keys.KeyFileError, match="directory"):
        keys.load_site_public_key(tmp_path)


def test_other_algorithms_are_refused(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.key"
    path.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(keys.KeyFileError, match="not an X25519 test-site key"):
        keys.load_site_key(path)
