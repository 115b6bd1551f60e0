"""JSON Lines: the native format, its images, its problems, and round trips."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itemkit import item_lists, make_png, sample_items

from item_bank.formats import export_jsonl, load_sources
from item_bank.model import MAX_IMAGE_BYTES

ISSUE_EXAMPLE = (
    '{"id": "TIU-0001", "section": "TIU", "topic": "deret angka", "stem": "2, 4, 8, 16, ...", '
    '"options": {"A": "24", "B": "32", "C": "30", "D": "28", "E": "36"}, "key": "B"}\n'
    '{"id": "TKP-0001", "section": "TKP", "topic": "pelayanan publik", "stem": "Situasi", '
    '"options": {"A": "a", "B": "b", "C": "c", "D": "d", "E": "e"}, '
    '"weights": {"A": 1, "B": 5, "C": 3, "D": 2, "E": 4}}\n'
)


def test_the_issue_example_loads(tmp_path):
    source = tmp_path / "bank.jsonl"
    source.write_text(ISSUE_EXAMPLE, encoding="utf-8")
    result = load_sources([source])
    assert result.problems == []
    keyed, weighted = result.items
    assert (keyed.id, keyed.key, list(keyed.options)) == ("TIU-0001", "B", list("ABCDE"))
    assert weighted.weights == {"A": 1, "B": 5, "C": 3, "D": 2, "E": 4}


def test_images_by_relative_path_become_assets(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "fig1.png").write_bytes(make_png())
    line = {
        "id": "TIU-1", "section": "TIU", "stem": "Lihat ![gambar](img/fig1.png)",
        "options": {"A": "1", "B": "2"}, "key": "A",
    }  # fmt: skip
    (tmp_path / "b.jsonl").write_text(json.dumps(line) + "\n")
    (item,) = load_sources([tmp_path / "b.jsonl"]).items
    assert [(i.name, i.media_type, i.data) for i in item.images] == [
        ("img/fig1.png", "image/png", make_png())
    ]


def test_round_trip_of_sample_items(tmp_path):
    out = export_jsonl(sample_items(), tmp_path / "out" / "bank.jsonl")
    result = load_sources([out])
    assert result.problems == []
    assert result.items == sample_items()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(item_lists())
def test_round_trip_preserves_every_item(tmp_path, items):
    out = export_jsonl(items, tmp_path / "rt.jsonl")
    result = load_sources([out])
    assert result.problems == []
    assert result.items == items


def test_export_replaces_the_previous_export_whole(tmp_path):
    target = tmp_path / "bank.jsonl"
    export_jsonl(sample_items(), target)
    export_jsonl(sample_items()[1:], target)
    assert load_sources([target]).items == sample_items()[1:]
    assert not (tmp_path / "bank-images").exists()  # the second export has no images
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.jsonl"]


ROW = {"section": "TIU", "stem": "s", "options": {"A": "1", "B": "2"}, "key": "A"}


def test_every_problem_is_reported_with_its_line(tmp_path):
    lines = [
        ISSUE_EXAMPLE.splitlines()[0],
        "not json",
        "[1, 2]",
        json.dumps(ROW | {"id": "bad id"}),
        json.dumps(ROW | {"id": "X-1", "key": "C"}),
        json.dumps(ROW | {"id": "X-2", "options": {"A": "1"}, "colour": 1}),
        '{"id": "X-3", "section": "TIU", "stem": "s", "options": {"A": "1", "B": "2"}, '
        '"weights": {"A": NaN, "B": 1e999}}',
        '{"id": "X-4", "section": "TIU", "stem": "![a](../secret.png)", "options": {"A": "1", '
        '"B": "2"}, "key": "A"}',
        ISSUE_EXAMPLE.splitlines()[0],  # a duplicate id
    ]
    source = tmp_path / "bad.jsonl"
    source.write_bytes(("\n".join(lines) + "\n\xff\n").encode("utf-8") + b"\xff\xfe\n")
    result = load_sources([source])
    where = {p.location.split(" (")[0] for p in result.problems}
    assert where == {f"line {n}" for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11)}
    text = "\n".join(str(p) for p in result.problems)
    assert "not valid JSON" in text
    assert "one JSON object" in text
    assert "'bad id' is not allowed" in text
    assert "key 'C' is not one of the options A, B" in text
    assert "colour: is not a known field" in text
    assert "needs 2 to 8 options" in text
    assert "NaN is not a number" in text
    assert "outside the source folder" in text
    assert "duplicate id TIU-0001" in text
    assert "not UTF-8" in text
    assert [i.id for i in result.items] == ["TIU-0001"]


def test_images_are_checked_by_content_and_size(tmp_path):
    (tmp_path / "fake.png").write_bytes(b"GIF8 not really an image")
    (tmp_path / "huge.png").write_bytes(make_png() + b"\0" * MAX_IMAGE_BYTES)
    rows = [
        {"id": f"X-{n}", "section": "TIU", "stem": f"![a]({name})", "options": {"A": "1", "B": "2"},
         "key": "A"}
        for n, name in enumerate(["fake.png", "huge.png", "missing.png"])
    ]  # fmt: skip
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    reasons = [p.reason for p in load_sources([tmp_path / "b.jsonl"]).problems]
    assert len(reasons) == 3
    assert "not a PNG, JPEG, GIF, WebP or SVG image" in reasons[0]
    assert "more than the" in reasons[1]
    assert "not found" in reasons[2]


def test_missing_section_comes_from_the_default(tmp_path):
    row = {"id": "Q-1", "stem": "s", "options": {"A": "1", "B": "2"}, "key": "A"}
    (tmp_path / "b.jsonl").write_text(json.dumps(row) + "\n")
    assert load_sources([tmp_path / "b.jsonl"]).problems[0].reason == "section: is missing"
    result = load_sources([tmp_path / "b.jsonl"], default_section="TWK", default_topic="NKRI")
    assert (result.items[0].section, result.items[0].topic) == ("TWK", "NKRI")


def test_unknown_files_and_missing_files_are_problems(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    result = load_sources([tmp_path / "notes.txt", tmp_path / "absent.jsonl"])
    assert [p.reason.split(":")[0] for p in result.problems] == [
        "unsupported file type '.txt'",
        "file not found",
    ]


def test_unknown_enemy_is_a_problem(tmp_path):
    row = {"id": "Q-1", "section": "TIU", "stem": "s", "options": {"A": "1", "B": "2"},
           "key": "A", "enemies": ["Q-9"]}  # fmt: skip
    (tmp_path / "b.jsonl").write_text(json.dumps(row) + "\n")
    (problem,) = load_sources([tmp_path / "b.jsonl"]).problems
    assert (problem.location, "Q-9" in problem.reason) == ("item Q-1", True)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.binary(max_size=200) | st.text(max_size=200).map(str.encode), max_size=6))
def test_random_lines_never_crash_and_problems_have_lines(tmp_path, lines):
    source = tmp_path / "fuzz.jsonl"
    source.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
    result = load_sources([source])
    for problem in result.problems:
        assert problem.source == str(source)
        assert problem.location.startswith("line ")
        assert problem.reason


def test_duplicate_ids_across_sources_and_folders_as_sources(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.jsonl").write_text(ISSUE_EXAMPLE)
    (tmp_path / "a" / "readme.txt").write_text("not an item file, skipped in a folder")
    (tmp_path / "two.csv").write_text("id,section,stem,A,B,key\nTIU-0001,TIU,s,1,2,A\n")
    result = load_sources([tmp_path / "a", tmp_path / "two.csv"])
    assert [i.id for i in result.items] == ["TIU-0001", "TKP-0001"]
    (problem,) = result.problems
    assert (problem.source, problem.location) == (
        str(tmp_path / "two.csv"),
        "row 2 (item TIU-0001)",
    )
    assert (
        problem.reason
        == f"duplicate id TIU-0001: already in {tmp_path / 'a' / 'one.jsonl'} (line 1)"
    )
