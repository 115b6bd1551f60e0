"""Fixed choices are read from every format, written back, and keep their flag."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile

import pytest
from itemkit import FIXTURES

from item_bank.formats import export_jsonl, export_qti, load_sources

FIXED = FIXTURES / "fixed"


def test_every_format_reads_fixed_choices() -> None:
    result = load_sources([FIXED], default_section="TIU")
    assert result.problems == []
    fixed = {item.id: item.fixed for item in result.items}
    assert fixed == {
        "TWK-FIX-21": ("ChoiceD",),
        "TIU-FIX-30": ("A", "E"),
        "TWK-FIX-J": ("D",),
        "TIU-FIX-C": ("D",),
    }
    by_id = {item.id: item for item in result.items}
    assert by_id["TIU-FIX-30"].meta().fixed == (0, 4)


@pytest.mark.parametrize("version", ["2.1", "3.0"])
def test_fixed_choices_round_trip_through_qti_and_jsonl(tmp_path, version) -> None:
    items = load_sources([FIXED], default_section="TIU").items
    package = export_qti(items, tmp_path / "bank.zip", version=version)
    with zipfile.ZipFile(package) as archive:
        xml = archive.read("items/TIU-FIX-30.xml")
    fixed = [
        c.get("identifier")
        for c in ET.fromstring(xml).iter()
        if c.tag.endswith(("simpleChoice", "simple-choice")) and c.get("fixed") == "true"
    ]
    assert fixed == ["A", "E"]
    assert load_sources([package]).items == items
    export_jsonl(items, tmp_path / "bank.jsonl")
    assert load_sources([tmp_path / "bank.jsonl"]).items == items


def test_a_fixed_label_that_is_no_option_is_named(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,section,stem,A,B,key,fixed\nX-1,TIU,s,a,b,A,E\n", encoding="utf-8")
    problems = [str(p) for p in load_sources([bad]).problems]
    assert problems == [f"{bad}: row 2 (item X-1): fixed option(s) E are not options"]


def test_shuffle_false_keeps_every_choice_in_place_and_is_written_back(tmp_path) -> None:
    text = (FIXED / "qti30_fixed.xml").read_text("utf-8").replace(
        'shuffle="true"', 'shuffle="false"')
    source = tmp_path / "ordered.xml"
    source.write_text(text, encoding="utf-8")
    (item,) = load_sources([source], default_section="TIU").items
    assert item.fixed == ("A", "B", "C", "D", "E")
    package = export_qti([item], tmp_path / "bank.zip", version="3.0")
    with zipfile.ZipFile(package) as archive:
        xml = archive.read("items/TIU-FIX-30.xml").decode()
    assert 'shuffle="false"' in xml
    assert load_sources([package]).items == [item]
