"""QTI 2.1 and 3.0: hand-written items and packages, round trips, and hostile input."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itemkit import FIXTURES, item_lists, make_png, sample_items

from item_bank.demo import generate_demo_items
from item_bank.formats import export_qti, load_sources
from item_bank.formats.markup import XhtmlToMarkdown, markdown_to_elements
from item_bank.model import Item

SLOW_OK = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def zip_folder(folder, target):
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target


def test_qti21_item_with_key_image_table_and_prompt():
    result = load_sources([FIXTURES / "qti21_choice.xml"], default_section="TIU")
    assert result.problems == []
    (item,) = result.items
    assert (item.id, item.section, item.key) == ("TIU-QTI-0001", "TIU", "ChoiceB")
    assert item.options == {
        "ChoiceA": "12 cm", "ChoiceB": "10 cm", "ChoiceC": "14 cm", "ChoiceD": "9 cm",
    }  # fmt: skip
    assert item.stem == (
        "Perhatikan *gambar* berikut.\n\n"
        "![segitiga siku-siku](images/segitiga.png)\n\n"
        "| Sisi | Panjang |\n|---|---|\n| alas | 6 cm |\n| tinggi | 8 cm |\n\n"
        "Berapakah panjang sisi **miringnya**?"
    )
    (image,) = item.images
    assert (image.name, image.media_type) == ("images/segitiga.png", "image/png")
    assert image.data == (FIXTURES / "images" / "segitiga.png").read_bytes()


def test_qti21_mapping_gives_weights_with_the_default_value():
    result = load_sources([FIXTURES / "qti21_mapping.xml"], default_section="TKP")
    (item,) = result.items
    assert item.weights == {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1}
    assert item.key is None


def test_qti30_item():
    result = load_sources(
        [FIXTURES / "qti30_choice.xml"], default_section="TWK", default_topic="Pancasila"
    )
    (item,) = result.items
    assert (item.id, item.key, item.topic) == ("TWK-QTI-0001", "C", "Pancasila")
    assert item.options["C"] == "Persatuan Indonesia"
    assert item.stem == "Bunyi sila ketiga Pancasila adalah ..."


def test_an_item_without_section_metadata_needs_a_default():
    (problem,) = load_sources([FIXTURES / "qti30_choice.xml"]).problems
    assert problem.location == "item TWK-QTI-0001" and "--section" in problem.reason


def test_what_cannot_be_represented_is_reported_per_item():
    result = load_sources([FIXTURES / "qti21_unsupported.xml"], default_section="TIU")
    assert result.items == []
    reasons = " | ".join(p.reason for p in result.problems)
    assert {p.location for p in result.problems} == {"item X-0001"}
    assert "<modalFeedback identifier='OK'>: feedback not supported" in reasons
    assert "<textEntryInteraction>: only choiceInteraction is supported" in reasons


def test_multiple_response_and_cardinality_are_reported(tmp_path):
    text = (FIXTURES / "qti21_unsupported.xml").read_text()
    text = text.replace(
        '<p>Tuliskan alasannya: <textEntryInteraction responseIdentifier="RESPONSE2"/></p>', ""
    )
    text = text.replace(text[text.index("<modalFeedback") : text.index("</assessmentItem>")], "")
    (tmp_path / "multi.xml").write_text(text)
    reasons = [
        p.reason for p in load_sources([tmp_path / "multi.xml"], default_section="T").problems
    ]
    assert "<choiceInteraction maxChoices='2'>: multiple response is not supported" in reasons
    assert (
        "<responseDeclaration identifier='RESPONSE' cardinality='multiple'>: only single "
        "cardinality is supported"
    ) in reasons


def test_package_with_object_image_metadata_and_a_test_resource(tmp_path):
    package = zip_folder(FIXTURES / "qti21_package", tmp_path / "paket.zip")
    without_default = load_sources([package])
    assert [i.id for i in without_default.items] == ["TIU-PKG-0002"]
    assert [p.location for p in without_default.problems] == [
        "items/lingkaran.xml (item TIU-PKG-0001)"
    ]

    result = load_sources([package], default_section="TIU")
    assert result.problems == []
    circle, series = result.items
    assert (
        circle.stem
        == "Bangun pada gambar ini disebut ...\n\n![lingkaran biru](../images/lingkaran.png)"
    )
    assert circle.images[0].data == (FIXTURES / "qti21_package/images/lingkaran.png").read_bytes()
    assert (series.section, series.topic, series.difficulty) == ("TIU", "deret angka", "mudah")
    assert (series.irt.model, series.irt.a, series.irt.b, series.irt.c) == ("3pl", 1.2, -0.5, 0.2)
    assert series.stem == "1. Perhatikan deret **2, 4, 8, 16**.\n2. Tentukan suku berikutnya."


@pytest.mark.parametrize("version", ["2.1", "3.0"])
def test_round_trip_of_sample_and_demo_items(tmp_path, version):
    items = sample_items() + generate_demo_items(60, seed=3)
    package = export_qti(items, tmp_path / "bank.zip", version=version)
    result = load_sources([package])
    assert result.problems == []
    assert result.items == items
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        manifest = archive.read("imsmanifest.xml").decode()
        first = archive.read("items/TIU-0001.xml").decode()
    assert "imsmanifest.xml" in names and "items/TIU-0001/fig1.png" in names
    resource_type = "imsqti_item_xmlv2p1" if version == "2.1" else "imsqti_item_xmlv3p0"
    assert resource_type in manifest
    assert ("<choiceInteraction" in first) == (version == "2.1")
    assert ("<qti-choice-interaction" in first) == (version == "3.0")


@SLOW_OK
@given(item_lists(), st.sampled_from(["2.1", "3.0"]))
def test_round_trip_preserves_any_items(tmp_path, items, version):
    package = export_qti(items, tmp_path / "rt.zip", version=version)
    result = load_sources([package])
    assert result.problems == []
    assert result.items == items


def test_an_edit_by_another_tool_wins_over_the_carried_markdown(tmp_path):
    package = export_qti(sample_items(), tmp_path / "bank.zip")
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(edited, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "items/TIU-0001.xml":
                data = data.replace(b">32<", b">33<").replace(
                    b"<em>satu</em>", b"<strong>dua</strong>"
                )
            target.writestr(info, data)
    (item, _) = load_sources([edited]).items
    assert item.options["B"] == "33" and item.options["A"] == "24"
    assert item.stem == "2, 4, 8, 16, ...\n\nPilih **dua**: ![gambar](img/fig1.png)"


def test_export_refuses_text_xml_cannot_carry_and_writes_nothing(tmp_path):
    bad = sample_items()[0].model_copy(update={"stem": "bell \x07"})
    with pytest.raises(ValueError, match="U\\+0007"):
        export_qti([bad], tmp_path / "bad.zip")
    assert list(tmp_path.iterdir()) == []


# Hostile input ------------------------------------------------------------------------------
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE assessmentItem [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="X">
<itemBody><p>&xxe;</p></itemBody></assessmentItem>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<assessmentItem identifier="X"><itemBody><p>&lol3;</p></itemBody></assessmentItem>"""


@pytest.mark.parametrize("document", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_dtds_and_entities_are_refused(tmp_path, document):
    (tmp_path / "evil.xml").write_bytes(document)
    (problem,) = load_sources([tmp_path / "evil.xml"], default_section="T").problems
    assert problem.reason.startswith("refused: the XML declares a DTD or entities")
    package = tmp_path / "evil.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("imsmanifest.xml", document)
    (problem,) = load_sources([package]).problems
    assert problem.location == "imsmanifest.xml" and problem.reason.startswith("refused")


def test_zip_slip_entries_are_refused(tmp_path):
    package = tmp_path / "slip.zip"
    shutil.copy(zip_folder(FIXTURES / "qti21_package", tmp_path / "ok.zip"), package)
    with zipfile.ZipFile(package, "a") as archive:
        archive.writestr("../../outside.xml", b"<x/>")
    (problem,) = load_sources([package]).problems
    assert "points outside the package" in problem.reason


def test_references_that_climb_out_of_the_package_are_refused(tmp_path):
    folder = tmp_path / "pkg"
    shutil.copytree(FIXTURES / "qti21_package", folder)
    item = folder / "items" / "lingkaran.xml"
    item.write_text(item.read_text().replace("../images/lingkaran.png", "../../../etc/passwd"))
    manifest = folder / "imsmanifest.xml"
    manifest.write_text(
        manifest.read_text().replace('href="items/deret.xml">', 'href="../deret.xml">')
    )
    result = load_sources([zip_folder(folder, tmp_path / "p.zip")], default_section="T")
    reasons = sorted(p.reason for p in result.problems)
    assert result.items == []
    assert any("points outside" in r for r in reasons)
    assert any("'../deret.xml' is not in the package" in r for r in reasons)


def test_zip_bombs_are_refused(tmp_path):
    package = tmp_path / "bomb.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("imsmanifest.xml", b"<manifest/>")
        archive.writestr("items/big.xml", b"\0" * (16 * 1024 * 1024))
    (problem,) = load_sources([package]).problems
    assert "zip bomb" in problem.reason


def test_images_in_packages_are_checked_by_content(tmp_path):
    folder = tmp_path / "pkg"
    shutil.copytree(FIXTURES / "qti21_package", folder)
    (folder / "images" / "lingkaran.png").write_bytes(b"<html>not an image</html>")
    result = load_sources([zip_folder(folder, tmp_path / "p.zip")], default_section="T")
    (problem,) = result.problems
    assert problem.location == "items/lingkaran.xml (item TIU-PKG-0001)"
    assert "not a PNG" in problem.reason


def test_unsupported_media_objects_are_reported(tmp_path):
    text = (
        (FIXTURES / "qti21_choice.xml")
        .read_text()
        .replace(
            '<img src="images/segitiga.png" alt="segitiga siku-siku"/>',
            '<object type="video/mp4" data="images/segitiga.png">video</object>',
        )
    )
    (tmp_path / "video.xml").write_text(text)
    shutil.copytree(FIXTURES / "images", tmp_path / "images")
    reasons = [
        p.reason for p in load_sources([tmp_path / "video.xml"], default_section="T").problems
    ]
    assert "unsupported media <object type='video/mp4'>" in reasons


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300), st.sampled_from(["x.xml", "x.zip"]))
def test_random_bytes_never_crash(tmp_path, data, name):
    (tmp_path / name).write_bytes(data)
    result = load_sources([tmp_path / name])
    assert result.items == [] and result.problems
    assert all(p.source == str(tmp_path / name) and p.reason for p in result.problems)


@SLOW_OK
@given(st.lists(st.sampled_from([
    "<p>", "</p>", "<em>", "</em>", "<img src='a.png'/>", "<table><tr><td>", "</td></tr></table>",
    "<ul><li>", "</li></ul>", "x", "*", "<br/>", "<math/>", "&amp;", "<object data='b.png'/>",
]), max_size=12))  # fmt: skip
def test_any_body_markup_gives_an_item_or_located_problems(tmp_path, fragments):
    (tmp_path / "a.png").write_bytes(make_png())
    text = (
        (FIXTURES / "qti30_choice.xml")
        .read_text()
        .replace("<p>Bunyi sila ketiga Pancasila adalah ...</p>", "".join(fragments))
    )
    (tmp_path / "x.xml").write_text(text)
    result = load_sources([tmp_path / "x.xml"], default_section="TWK")
    if result.items:
        assert isinstance(result.items[0], Item)
    else:
        assert all(p.location or "XML" in p.reason for p in result.problems)


def test_malformed_xml_names_line_and_column(tmp_path):
    (tmp_path / "broken.xml").write_text('<?xml version="1.0"?>\n<assessmentItem>\n<itemBody></p>')
    (problem,) = load_sources([tmp_path / "broken.xml"]).problems
    assert problem.location == "line 3, column 12"
    assert problem.reason == "not well-formed XML (mismatched tag)"


XHTML_BITS = [
    "<p>", "</p>", "<em>", "</em>", "<strong>", "</strong>", "<table><tr><td>", "</td><td>",
    "</td></tr></table>", "<ul><li>", "</li><li>", "</li></ul>", "<ol><li>", "</li></ol>", "x",
    "y z", "*", "_", "1.", "-", "#", "|", "<br/>", "&amp;", "&lt;", "<sub>", "</sub>", "<code>",
    "</code>", "<blockquote>", "</blockquote>", "<h2>", "</h2>", " ", "\n", "`", "\\", "[", "]",
    "!", "<img src='a.png' alt='g'/>",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(XHTML_BITS), max_size=14))
def test_xhtml_to_markdown_keeps_the_text_and_is_stable(parts):
    try:
        root = ET.fromstring("<div>" + "".join(parts) + "</div>")
    except ET.ParseError:
        return

    def to_markdown(element):
        return XhtmlToMarkdown(lambda src, _alt: src, skip=lambda _e: None).convert(element)

    def text(element):
        return re.sub(r"\s+", "", "".join(element.itertext()))

    markdown = to_markdown(root)
    again = markdown_to_elements(markdown, {"a.png": "a.png"})
    assert text(again) == text(root)
    assert to_markdown(again) == markdown


def rewrite_manifest(package, target, old: bytes, new: bytes):
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "imsmanifest.xml":
                assert old in data
                data = data.replace(old, new)
            out.writestr(info, data)
    return target


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b'href="items/TIU-0001/fig1.png" />', b'href="../../etc/passwd" />', "points outside"),
        (b'a="1.1"', b'a="banyak"', "irt.a: must be a number"),
        (b'section="TIU"', b'section=""', "no section"),
    ],
)
def test_hostile_metadata_is_reported_not_trusted(tmp_path, old, new, reason):
    package = export_qti(sample_items(), tmp_path / "bank.zip")
    result = load_sources([rewrite_manifest(package, tmp_path / "edited.zip", old, new)])
    assert [i.id for i in result.items] == ["TKP:0001"]
    (problem,) = result.problems
    assert problem.location == "items/TIU-0001.xml (item TIU-0001)" and reason in problem.reason


def test_an_unzipped_package_folder_is_read_as_a_package(tmp_path):
    shutil.copytree(FIXTURES / "qti21_package", tmp_path / "sources" / "paket")
    shutil.copy(FIXTURES / "qti30_choice.xml", tmp_path / "sources" / "lepas.xml")
    result = load_sources([tmp_path / "sources"], default_section="TIU")
    assert result.problems == []
    assert [i.id for i in result.items] == ["TIU-PKG-0001", "TIU-PKG-0002", "TWK-QTI-0001"]
    assert result.items[0].images[0].data.startswith(b"\x89PNG")


def test_absurdly_deep_markup_is_a_problem_not_a_crash(tmp_path):
    deep = "<div>" * 5_000 + "x" + "</div>" * 5_000
    text = (FIXTURES / "qti30_choice.xml").read_text().replace(
        "<p>Bunyi sila ketiga Pancasila adalah ...</p>", deep
    )
    (tmp_path / "deep.xml").write_text(text)
    (problem,) = load_sources([tmp_path / "deep.xml"], default_section="TWK").problems
    assert "nested too deeply" in problem.reason


def test_export_refuses_absurdly_nested_html_and_writes_nothing(tmp_path):
    deep = Item(id="Q", section="S", stem="<b>" * 3000 + "x", options={"A": "1", "B": "2"}, key="A")
    with pytest.raises(ValueError, match="item Q: its HTML is nested too deeply"):
        export_qti([deep], tmp_path / "deep.zip")
    assert list(tmp_path.iterdir()) == []


def test_problems_name_the_element_as_the_document_spells_it(tmp_path):
    text = (FIXTURES / "qti30_choice.xml").read_text()
    text = text.replace('max-choices="1"', 'max-choices="2"').replace(
        'cardinality="single"', 'cardinality="ordered"')
    (tmp_path / "multi30.xml").write_text(text)
    problems = load_sources([tmp_path / "multi30.xml"], default_section="T").problems
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'multi30.xml'}: item TWK-QTI-0001: <qti-choice-interaction "
        "max-choices='2'>: multiple response is not supported",
        f"{tmp_path / 'multi30.xml'}: item TWK-QTI-0001: <qti-response-declaration "
        "identifier='RESPONSE' cardinality='ordered'>: only single cardinality is supported",
    ]


def test_an_interaction_inside_layout_divs_and_a_shared_stimulus(tmp_path):
    text = (FIXTURES / "qti30_choice.xml").read_text()
    text = text.replace('<qti-choice-interaction', '<div class="qti-layout-row"><div '
                        'class="qti-layout-col6"><qti-choice-interaction')
    text = text.replace("</qti-choice-interaction>", "</qti-choice-interaction></div></div>")
    (tmp_path / "layout.xml").write_text(text)
    result = load_sources([tmp_path / "layout.xml"], default_section="TWK")
    assert result.problems == []
    assert result.items[0].stem == "Bunyi sila ketiga Pancasila adalah ..."
    assert list(result.items[0].options) == ["A", "B", "C", "D"]
    # A passage in another file cannot be shown: refused, named.
    text = text.replace("<qti-item-body>", '<qti-assessment-stimulus-ref identifier="S1" '
                        'href="passages/p.xml"/><qti-item-body>')
    (tmp_path / "stimulus.xml").write_text(text)
    reasons = [p.reason for p in load_sources([tmp_path / "stimulus.xml"],
                                              default_section="TWK").problems]
    assert reasons == ["<qti-assessment-stimulus-ref identifier='S1'>: shared stimuli (a passage "
                       "kept in another file) not supported"]
