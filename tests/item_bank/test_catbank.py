"""The .catbank file: round trips, holders, trust, and what the manifest tells without a key."""

from __future__ import annotations

import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from item_bank import keys
from item_bank.catbank import (
    Argon2Params,
    UntrustedSigner,
    open_bank,
    read_manifest,
    verify_content,
    write_bank,
)
from item_bank.errors import BankError, NotARecipient, WrongKey
from item_bank.model import ImageAsset, IrtParams, Item

#: Cheap Argon2id so tests stay fast; real banks use the RFC 9106 defaults.
FAST_KDF = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def make_items(count: int = 40) -> list[Item]:
    items = []
    for i in range(count):
        section = ("TWK", "TIU", "TKP")[i % 3]
        common = {
            "id": f"{section}-{i:04d}",
            "section": section,
            "topic": f"topik {i % 4}",
            "difficulty": ("mudah", "sedang", "sulit", None)[i % 4],
            "options": {label: f"pilihan {label} {i}" for label in "ABCDE"},
        }
        if section == "TKP":
            items.append(
                Item(
                    **common,
                    stem=f"Situasi kerja nomor {i}.",
                    weights={"A": 1, "B": 5, "C": 3, "D": 2, "E": 4},
                    irt=IrtParams(model="grm", a=1.1, thresholds=(-1.0, 0.0, 1.0, 2.0)),
                )
            )
        elif i % 5 == 1:
            images = (
                ImageAsset(name="soal.png", media_type="image/png", data=PNG + bytes([i])),
                ImageAsset(name="a.svg", media_type="image/svg+xml", data=b"<svg/>" * (i + 1)),
            )
            items.append(
                Item(
                    **{**common, "options": {**common["options"], "A": "![a](a.svg)"}},
                    stem=f"Gambar berikutnya? ![soal](soal.png) nomor {i}",
                    key="C",
                    images=images,
                )
            )
        else:
            items.append(
                Item(
                    **common,
                    stem=f"2, 4, 8, 16, ... nomor {i}",
                    key="B",
                    irt=IrtParams(model="3pl", a=1.3, b=-0.5 + i / 50, c=0.2),
                    enemies=(f"{section}-{i + 3:04d}",) if i % 7 == 0 else (),
                )
            )
    return items


@pytest.fixture(scope="module")
def site_key():
    return keys.generate("site")


@pytest.fixture(scope="module")
def signing_key():
    return keys.generate("signing")


@pytest.fixture(scope="module")
def items():
    return make_items()


@pytest.fixture(scope="module")
def bank(tmp_path_factory, items, site_key, signing_key):
    path = tmp_path_factory.mktemp("bank") / "skd.catbank"
    write_bank(
        items,
        path,
        bank_id="skd-2026",
        version=3,
        passphrases=["kata sandi rahasia"],
        recipients=[site_key.public_key()],
        signing_key=signing_key,
        kdf=FAST_KDF,
    )
    return path


def test_round_trip_with_site_key_gives_back_every_item_and_image(bank, items, site_key):
    with open_bank(bank, site_key=site_key) as opened:
        assert list(opened.index) == [item.id for item in items]
        assert {i: opened.index[i] for i in opened.index} == {it.id: it.meta() for it in items}
        assert list(opened.iter_items()) == items
        figural = next(item for item in items if item.images)
        assert opened.item(figural.id).images == figural.images


def test_round_trip_with_passphrase(bank, items):
    with open_bank(bank, passphrase="kata sandi rahasia") as opened:
        assert opened.item(items[5].id) == items[5]
        assert opened.manifest.signature_status == "valid"


def test_site_key_file_path_opens_the_bank(tmp_path, bank, site_key, items):
    key_file = keys.write_private_key(site_key, tmp_path / "site.key")
    with open_bank(bank, site_key=key_file) as opened:
        assert opened.item(items[0].id) == items[0]


def test_manifest_counts_sections_topics_and_difficulties_without_a_key(bank, items, site_key):
    manifest = read_manifest(bank)
    assert manifest.bank_id == "skd-2026" and manifest.version == 3
    assert manifest.item_count == len(items)
    assert manifest.image_count == sum(len(item.images) for item in items)
    twk = [item for item in items if item.section == "TWK"]
    assert manifest.sections["TWK"].items == len(twk)
    assert manifest.sections["TWK"]["items"] == len(twk)  # the JSON shape reads too
    assert sum(manifest.sections["TWK"].topics.values()) == len(twk)
    labelled = [item for item in twk if item.difficulty == "sedang"]
    assert manifest.sections["TWK"]["difficulties"]["sedang"] == len(labelled)
    assert manifest.signature_status == "valid"
    assert manifest.site_fingerprints == [keys.fingerprint(site_key)]
    verify_content(bank, manifest)


def test_no_item_text_or_key_is_readable_in_the_file(bank, items):
    raw = bank.read_bytes()
    for item in items[:10]:
        assert item.stem.encode() not in raw
        assert item.id.encode() not in raw
    assert PNG not in raw
    assert b"pilihan" not in raw


def test_verify_checks_every_item(bank, site_key, items):
    with open_bank(bank, site_key=site_key) as opened:
        result = opened.verify()
    assert result.items == len(items)
    assert result.sections == {"TWK": 14, "TIU": 13, "TKP": 13}


def test_items_are_cached_and_unknown_ids_are_key_errors(bank, site_key, items):
    with open_bank(bank, site_key=site_key) as opened:
        assert opened.item(items[1].id) is opened.item(items[1].id)
        with pytest.raises(KeyError):
            opened.item("TIU-9999")
        with pytest.raises(KeyError):
            opened.index["TIU-9999"]


def test_wrong_passphrase_is_wrong_key(bank):
    with pytest.raises(WrongKey, match="wrong passphrase"):
        open_bank(bank, passphrase="kata sandi salah")


def test_a_bank_for_another_site_names_the_sites_it_was_issued_to(bank, site_key):
    other = keys.generate("site")
    with pytest.raises(NotARecipient) as caught:
        open_bank(bank, site_key=other)
    assert keys.fingerprint(site_key) in str(caught.value)
    assert keys.fingerprint(other) in str(caught.value)


def test_a_site_only_bank_does_not_open_with_a_passphrase(tmp_path, items, site_key):
    path = tmp_path / "site-only.catbank"
    write_bank(items[:3], path, bank_id="site-only", recipients=[site_key.public_key()])
    with pytest.raises(NotARecipient, match="no passphrase"):
        open_bank(path, passphrase="anything")
    with pytest.raises(WrongKey, match="no key given"):
        open_bank(path)
    with open_bank(path, site_key=site_key) as opened:
        assert len(opened.index) == 3


def test_one_bank_for_two_sites_opens_at_both(tmp_path, items):
    first, second = keys.generate("site"), keys.generate("site")
    path = tmp_path / "two.catbank"
    write_bank(items[:4], path, bank_id="two", recipients=[first.public_key(), second.public_key()])
    for key in (first, second):
        with open_bank(path, site_key=key) as opened:
            assert list(opened.iter_items()) == items[:4]


def test_trusted_signers(bank, site_key, signing_key):
    with open_bank(bank, site_key=site_key, trusted_signers=[signing_key.public_key()]):
        pass
    with open_bank(bank, site_key=site_key, trusted_signers=[keys.fingerprint(signing_key)]):
        pass
    stranger = keys.generate("signing")
    with pytest.raises(UntrustedSigner, match="not a trusted signer"):
        open_bank(bank, site_key=site_key, trusted_signers=[stranger.public_key()])


def test_an_unsigned_bank_opens_but_fails_a_trust_check(tmp_path, items, site_key, signing_key):
    path = tmp_path / "unsigned.catbank"
    write_bank(items[:2], path, bank_id="u", recipients=[site_key.public_key()])
    assert read_manifest(path).signature_status == "unsigned"
    with open_bank(path, site_key=site_key) as opened:
        assert opened.manifest.signature_status == "unsigned"
    with pytest.raises(UntrustedSigner, match="unsigned"):
        open_bank(path, site_key=site_key, trusted_signers=[signing_key.public_key()])


def test_passphrases_are_normalised(tmp_path, items):
    path = tmp_path / "nfc.catbank"
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    write_bank(items[:1], path, bank_id="nfc", passphrases=[composed], kdf=FAST_KDF)
    with open_bank(path, passphrase=decomposed) as opened:
        assert len(opened.index) == 1


def test_write_refuses_bad_arguments_and_leaves_nothing_behind(tmp_path, items, site_key):
    path = tmp_path / "x.catbank"
    path.write_bytes(b"previous bank")
    recipients = [site_key.public_key()]
    with pytest.raises(ValueError, match="at least one holder"):
        write_bank(items, path, bank_id="x")
    with pytest.raises(ValueError, match="duplicate item id"):
        write_bank([items[0], items[0]], path, bank_id="x", recipients=recipients)
    with pytest.raises(ValueError, match="at least one item"):
        write_bank([], path, bank_id="x", recipients=recipients)
    with pytest.raises(ValueError, match="bank id"):
        write_bank(items, path, bank_id="no spaces", recipients=recipients)
    assert path.read_bytes() == b"previous bank"
    assert os.listdir(tmp_path) == ["x.catbank"]


def test_rewriting_a_bank_replaces_it_whole(tmp_path, items, site_key):
    path = tmp_path / "v.catbank"
    recipients = [site_key.public_key()]
    write_bank(items[:2], path, bank_id="v", version=1, recipients=recipients)
    write_bank(items[:5], path, bank_id="v", version=2, recipients=recipients)
    assert read_manifest(path).version == 2
    assert os.listdir(tmp_path) == ["v.catbank"]


def test_missing_or_non_bank_files_are_bank_errors(tmp_path, site_key):
    with pytest.raises(BankError, match="no such bank file"):
        read_manifest(tmp_path / "absent.catbank")
    with pytest.raises(BankError, match="directory"):
        open_bank(tmp_path, site_key=site_key)
    text = tmp_path / "items.jsonl"
    text.write_text('{"id": "x"}\n' * 10)
    with pytest.raises(BankError, match=r"not a \.catbank"):
        open_bank(text, site_key=site_key)


_ids = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20).filter(
    lambda s: s[0].isalnum()
)
_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="!\x00"),
    min_size=1,
    max_size=80,
).filter(str.strip)


@st.composite
def _items(draw):
    ids = draw(st.lists(_ids, min_size=1, max_size=6, unique=True))
    out = []
    for item_id in ids:
        labels = draw(st.lists(st.sampled_from("ABCDEFGH"), min_size=2, max_size=8, unique=True))
        options = {label: draw(_text) for label in labels}
        weighted = draw(st.booleans())
        extra = (
            {"weights": {label: draw(st.integers(1, 5)) for label in labels}}
            if weighted
            else {"key": draw(st.sampled_from(labels))}
        )
        out.append(
            Item(
                id=item_id,
                section=draw(st.sampled_from(["TWK", "TIU", "TKP", "Teknis"])),
                topic=draw(_text).strip()[:100],
                stem=draw(_text),
                options=options,
                **extra,
            )
        )
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=_items())
def test_any_valid_items_round_trip(tmp_path_factory, site_key, items):
    path = tmp_path_factory.mktemp("prop") / "p.catbank"
    write_bank(items, path, bank_id="prop", recipients=[site_key.public_key()])
    with open_bank(path, site_key=site_key) as opened:
        assert list(opened.iter_items()) == items
        assert dict(opened.index) == {item.id: item.meta() for item in items}


def test_progress_is_reported_to_the_end(tmp_path, items, site_key):
    seen: list[tuple[int, int]] = []
    path = tmp_path / "p.catbank"
    write_bank(
        items,
        path,
        bank_id="p",
        recipients=[site_key.public_key()],
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (len(items), len(items))
    checked: list[tuple[int, int]] = []
    with open_bank(path, site_key=site_key) as opened:
        opened.verify(progress=lambda done, total: checked.append((done, total)))
    assert checked[-1] == (len(items), len(items))


def test_a_site_named_twice_gets_one_key_slot(tmp_path, items, site_key):
    path = tmp_path / "twice.catbank"
    recipients = [site_key.public_key(), site_key.public_key()]
    manifest = write_bank(items[:1], path, bank_id="twice", recipients=recipients)
    assert manifest.site_fingerprints == [keys.fingerprint(site_key)]
