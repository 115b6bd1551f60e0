"""CSV for spreadsheet authors: columns, separators, images, problems per row."""

from __future__ import annotations

import csv

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itemkit import make_png

from item_bank.formats import export_jsonl, load_sources

HEADER = [
    "id",
    "section",
    "topic",
    "difficulty",
    "stem",
    "A",
    "B",
    "C",
    "D",
    "E",
    "key",
    "weight_A",
]


def write_csv(path, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def test_keyed_and_weighted_rows_with_semicolons_and_images(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "pola.png").write_bytes(make_png())
    rows = [
        ["ID", "Section", "topic", "stem", "A", "B", "C", "D", "E", "key",
         "weight_A", "weight_B", "weight_C", "weight_D", "weight_E",
         "irt_a", "irt_b", "irt_c", "enemies"],
        ["TIU-1", "TIU", "figural", "Lanjutkan pola:\n\n![pola](img/pola.png)", "1", "2",
         "3", "4", "", "C", "", "", "", "", "", "1,2", "-0,5", "0,2", "TKP-1"],
        ["TKP-1", "TKP", "pelayanan publik", "Situasi; berkas kurang", "a", "b", "c", "d",
         "e", "", "5", "4", "3", "2", "1", "", "", "", ""],
        ["", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],
    ]  # fmt: skip
    result = load_sources([write_csv(tmp_path / "bank.csv", rows, ";")])
    assert result.problems == []
    tiu, tkp = result.items
    assert (list(tiu.options), tiu.key, tiu.enemies) == (["A", "B", "C", "D"], "C", ("TKP-1",))
    assert (tiu.irt.model, tiu.irt.a, tiu.irt.b, tiu.irt.c) == ("3pl", 1.2, -0.5, 0.2)
    assert tiu.images[0].name == "img/pola.png" and tiu.images[0].data == make_png()
    assert tkp.weights == {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1}
    assert tkp.stem == "Situasi; berkas kurang"


def test_csv_round_trips_through_the_native_format(tmp_path):
    rows = [HEADER, ["TWK-1", "TWK", "Pancasila", "mudah", "Sila ketiga?", "a", "b", "c", "d",
                     "e", "C"]]  # fmt: skip
    first = load_sources([write_csv(tmp_path / "b.csv", rows)])
    again = load_sources([export_jsonl(first.items, tmp_path / "b.jsonl")])
    assert again.problems == [] and again.items == first.items
    assert first.items[0].difficulty == "mudah"


def test_header_problems_stop_the_file(tmp_path):
    rows = [["id", "stem", "A", "B", "answer", "A"], ["X", "s", "1", "2", "A", "1"]]
    problems = load_sources([write_csv(tmp_path / "b.csv", rows)]).problems
    assert [(p.location, p.reason) for p in problems] == [
        ("row 1", "unknown column(s): answer"),
        ("row 1", "repeated column(s): a"),
    ]


def test_every_bad_row_is_reported_with_its_spreadsheet_row(tmp_path):
    rows = [
        HEADER,
        ["OK-1", "TIU", "t", "", "s", "1", "2", "", "", "", "A"],
        ["X-1", "TIU", "t", "", "s", "1", "", "3", "", "", "A"],  # gap in options
        ["X-2", "TIU", "t", "", "", "1", "2", "", "", "", "A"],  # empty stem
        ["X-3", "TIU", "t", "", "s", "1", "2", "", "", "", "Z"],  # key not an option
        ["X-4", "TIU", "t", "", "s", "1", "2", "", "", "", "A", "", "extra"],
        ["X-5", "TIU", "t", "", "s", "1", "2", "", "", "", "", "nan"],
        ["OK-1", "TIU", "t", "", "s", "1", "2", "", "", "", "A"],  # duplicate id
    ]
    problems = load_sources([write_csv(tmp_path / "b.csv", rows)]).problems
    assert [p.location for p in problems] == [
        "row 3 (item X-1)",
        "row 4 (item X-2)",
        "row 5 (item X-3)",
        "row 6",
        "row 7 (item X-5)",
        "row 8 (item OK-1)",
    ]
    reasons = [p.reason for p in problems]
    assert reasons[0] == "option B is empty but C is not"
    assert reasons[1] == "stem: is empty"
    assert reasons[2] == "key 'Z' is not one of the options A, B"
    assert "13 cells but the header names 12" in reasons[3]
    assert reasons[4] == "weight_A: 'nan' is not a number"
    assert "duplicate id OK-1" in reasons[5]


def test_a_non_utf8_sheet_is_named_as_such(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"id,stem,A,B,key\nX,caf\xe9,1,2,A\n")
    (problem,) = load_sources([path]).problems
    assert problem.location == "line 2" and "CSV UTF-8" in problem.reason


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.lists(st.text(max_size=12), max_size=13), max_size=5),
    st.sampled_from([",", ";", "\t"]),
    st.binary(max_size=30),
)
def test_random_rows_and_bytes_never_crash(tmp_path, rows, delimiter, tail):
    path = write_csv(tmp_path / "fuzz.csv", [HEADER, *rows], delimiter)
    with open(path, "ab") as handle:
        handle.write(tail)
    result = load_sources([path])
    for problem in result.problems:
        assert problem.source == str(path)
        assert problem.location.startswith(("row ", "line "))
        assert problem.reason
