"""Accessibility information (QTI 3.0 catalogs, QTI 2.1 APIP) is kept, exported, warned about."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile

import pytest
from hypothesis import given, settings
from itemkit import FIXTURES, item_lists

from item_bank.formats import export_jsonl, export_qti, load_sources

CATALOG = FIXTURES / "catalog"


def load(path=CATALOG):
    return load_sources([path], default_section="TWK")


def cards(item):
    return [(c.part, c.catalog, c.support, c.lang, c.text, c.anchor) for c in item.catalog]


def test_items_with_catalogs_import_with_their_cards_and_warnings() -> None:
    result = load()
    assert result.problems == []
    items = {item.id: item for item in result.items}
    assert cards(items["TWK-CAT-30"]) == [
        ("stem", "stem-c", "spoken", "id",
         "Lambang sila pertama Pancasila adalah, titik titik titik.", ""),
        ("stem", "stem-c", "simplified-language", "", "Apa gambar sila ke-1?", ""),
        ("stem", "stem-c", "braille", "", "⠇⠁⠍⠃⠁⠝⠛ ⠎⠊⠇⠁", ""),
        ("stem", "kata", "glossary-on-screen", "", "Dasar negara Republik Indonesia.",
         "Pancasila"),
        ("option:A", "opt-a", "spoken", "", "Bintang emas bersudut lima", ""),
    ]
    assert items["TWK-CAT-30"].catalog[1].html == "<p>Apa <strong>gambar</strong> sila ke-1?</p>"
    assert cards(items["TIU-APIP-21"])[:3] == [
        ("stem", "ae001", "spoken", "",
         "Jika x sama dengan tiga, maka dua x tambah satu sama dengan berapa?", ""),
        ("stem", "ae001", "braille", "", "⠚⠊⠅⠁ ⠭ ⠶ ⠼⠉", ""),
        ("option:ChoiceB", "ae002", "spoken", "", "tujuh", ""),
    ]
    # What the terminal cannot use is named, per file, item and element; nothing refused.
    warnings = [str(w) for w in result.warnings]
    source30, source21 = CATALOG / "qti30_catalog.xml", CATALOG / "qti21_apip.xml"
    assert (f"{source30}: item TWK-CAT-30: warning: <qti-catalog id='stem-c'> "
            "<qti-card support='sign-language'>: content in a file (video/sila1.mp4) is not "
            "carried into the bank") in warnings
    assert (f"{source30}: item TWK-CAT-30: warning: accessibility support 'glossary-on-screen' "
            "is kept with the item and exported again, but no terminal offers it") in warnings
    assert (f"{source21}: item TIU-APIP-21: warning: <apip:accessElement identifier='ae003'>: "
            "qtiLinkIdentifierRef='missing' names no element of the item body") in warnings
    assert all(w.warning for w in result.warnings)


@pytest.mark.parametrize("version", ["2.1", "3.0"])
def test_catalogs_round_trip_through_packages_and_jsonl(tmp_path, version) -> None:
    items = load().items
    package = export_qti(items, tmp_path / "bank.zip", version=version)
    again = load_sources([package])
    assert again.problems == []
    assert again.items == items
    export_jsonl(items, tmp_path / "bank.jsonl")
    line = json.loads((tmp_path / "bank.jsonl").read_text("utf-8").splitlines()[1])
    assert line["catalog"][3]["anchor"] == "Pancasila"
    assert load_sources([tmp_path / "bank.jsonl"]).items == items


def exported_alone(tmp_path, items, version: str, item_id: str):
    """The item's exported XML, and the item read back from it alone, as another tool would
    read it: without cat-engine's package metadata."""
    package = export_qti(items, tmp_path / "bank.zip", version=version)
    with zipfile.ZipFile(package) as archive:
        xml = archive.read(f"items/{item_id}.xml")
    single = tmp_path / "item.xml"
    single.write_bytes(xml)
    return xml, load_sources([single], default_section="TWK").items[0]


def test_qti30_export_writes_the_catalogs_for_other_tools(tmp_path) -> None:
    items = load().items
    xml, alone = exported_alone(tmp_path, items, "3.0", "TWK-CAT-30")
    original = next(i for i in items if i.id == "TWK-CAT-30")
    # Everything but the anchor of the glossary word (the export attaches it to the stem).
    assert [(c.part, c.catalog, c.support, c.lang, c.html) for c in alone.catalog] == [
        (c.part, c.catalog, c.support, c.lang, c.html) for c in original.catalog
    ]
    root = ET.fromstring(xml)
    ns = "{http://www.imsglobal.org/xsd/imsqtiasi_v3p0}"
    card_supports = [c.get("support") for c in root.iter(f"{ns}qti-card")]
    assert card_supports == ["spoken", "simplified-language", "braille", "glossary-on-screen",
                             "spoken"]
    entry = next(root.iter(f"{ns}qti-card-entry"))
    assert entry.get("{http://www.w3.org/XML/1998/namespace}lang") == "id"


def test_qti21_export_writes_apip_spoken_and_braille(tmp_path) -> None:
    items = load().items
    _, alone = exported_alone(tmp_path, items, "2.1", "TIU-APIP-21")
    assert cards(alone) == cards(next(i for i in items if i.id == "TIU-APIP-21"))[:3]


def test_a_broken_card_is_a_located_problem(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({
        "id": "X-1", "section": "TWK", "stem": "s", "options": {"A": "a", "B": "b"},
        "key": "A", "catalog": [{"part": "option:Z", "catalog": "c", "support": "spoken",
                                 "html": "<b>unclosed", "text": "t"}],
    }) + "\n", encoding="utf-8")
    problems = [str(p) for p in load_sources([bad]).problems]
    assert problems == [
        f"{bad}: line 1 (item X-1): catalog.0.html: not well-formed XHTML",
    ]


@settings(max_examples=15, deadline=None)
@given(item_lists())
def test_any_items_with_catalogs_round_trip(tmp_path_factory, items) -> None:
    tmp = tmp_path_factory.mktemp("rt")
    items = [item.model_copy(update={"catalog": load().items[1].catalog[:1]})
             if n == 0 else item for n, item in enumerate(items)]
    for version in ("2.1", "3.0"):
        package = export_qti(items, tmp / f"rt{version}.zip", version=version)
        assert load_sources([package]).items == items


def test_a_card_the_bank_cannot_hold_is_a_warning_not_a_refusal(tmp_path) -> None:
    text = (CATALOG / "qti30_catalog.xml").read_text("utf-8")
    text = text.replace('<qti-card support="braille">', '<qti-card support="">')
    text = text.replace("Bintang emas bersudut lima", "lima " * 5000)
    odd = tmp_path / "odd.xml"
    odd.write_text(text, encoding="utf-8")
    result = load(odd)
    assert result.problems == []
    (item,) = result.items
    assert [c.support for c in item.catalog] == ["spoken", "simplified-language",
                                                 "glossary-on-screen"]
    warnings = [w.reason for w in result.warnings]
    assert any(w.startswith("<qti-catalog id='stem-c'> <qti-card support=''>: not kept (support:")
               for w in warnings), warnings
    assert any(w.startswith("<qti-catalog id='opt-a'> <qti-card support='spoken'>: not kept "
                            "(html:") for w in warnings), warnings


def test_bank_build_warns_and_writes_the_bank_with_the_cards(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from cat_engine.cli import cli
    from item_bank.catbank import open_bank

    monkeypatch.setenv("BANK_PASS", "sandi-uji-katalog")
    out = tmp_path / "a11y.catbank"
    result = CliRunner().invoke(cli, [
        "bank", "build", str(CATALOG), "--section", "TWK", "--out", str(out),
        "--passphrase-env", "BANK_PASS"])
    assert result.exit_code == 0, result.output
    assert "warning: accessibility support 'braille' is kept" in result.output
    bank = open_bank(out, passphrase="sandi-uji-katalog")
    assert bank.item("TWK-CAT-30").catalog == load().items[1].catalog


def test_cards_naming_files_and_catalogs_on_the_interaction(tmp_path) -> None:
    text = (CATALOG / "qti30_catalog.xml").read_text("utf-8")
    text = text.replace(
        '<qti-file-href mime-type="video/mp4">video/sila1.mp4</qti-file-href>',
        '<qti-html-content><video><source src="video/sila1.mp4" type="video/mp4"/></video>'
        '</qti-html-content>')
    text = text.replace('<qti-choice-interaction response-identifier="RESPONSE"',
                        '<qti-choice-interaction data-catalog-idref="kata" '
                        'response-identifier="RESPONSE"')
    text = text.replace("<qti-simple-choice identifier=\"A\" data-catalog-idref=\"opt-a\">",
                        "<qti-prompt>Pilih satu.</qti-prompt>"
                        "<qti-simple-choice identifier=\"A\" data-catalog-idref=\"opt-a\">")
    edited = tmp_path / "edited.xml"
    edited.write_text(text, encoding="utf-8")
    result = load(edited)
    assert result.problems == []
    (item,) = result.items
    signs = [c for c in item.catalog if c.support == "sign-language"]
    assert [(c.text, c.html) for c in signs] == [
        ("", '<video><source src="video/sila1.mp4" type="video/mp4" /></video>')]
    assert ("<qti-catalog id='stem-c'> <qti-card support='sign-language'>: kept, but the file(s) "
            "it refers to are not carried into the bank: video/sila1.mp4") in [
        w.reason for w in result.warnings]
    # A catalog on the interaction stands for its prompt, not for the options' words.
    glossary = [c.anchor for c in item.catalog if c.support == "glossary-on-screen"]
    assert glossary == ["Pancasila", "Pilih satu."]


def test_export_refuses_card_text_that_xml_cannot_carry(tmp_path) -> None:
    item = load().items[1]
    card = item.catalog[0].model_copy(update={"text": "bel\x07"})
    bad = item.model_copy(update={"catalog": (card,)})
    with pytest.raises(ValueError, match=r"item TWK-CAT-30: the catalog card 0 \(text\) holds "
                                         r"the control character U\+0007"):
        export_qti([bad], tmp_path / "bank.zip", version="2.1")
    assert not (tmp_path / "bank.zip").exists()
