"""Exam files and presets: what an exam author and a test site rely on."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from scoring.exam import (
    PRESETS,
    Exam,
    ExamError,
    exam_to_toml,
    key_path,
    load_exam,
    parse_exam,
    preset_text,
)

MINIMAL = """
id = "mini"
time_limit_minutes = 60
[[sections]]
id = "A"
items = 10
scoring = { rule = "key", correct = 4, wrong = -1 }
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ExamError) as caught:
        parse_exam(text, source="exam.toml")
    return [f"{p.location}: {p.reason}" for p in caught.value.problems]


def test_skd_preset_reproduces_the_rules(skd: Exam) -> None:
    assert [(s.id, s.items) for s in skd.sections] == [("TWK", 30), ("TIU", 35), ("TKP", 45)]
    assert skd.n_items == 110
    assert skd.total_minutes() == 100
    assert skd.total_minutes("tunanetra") == 130
    assert skd.navigation == "free"
    for section_id in ("TWK", "TIU"):
        rule = skd.section(section_id).scoring
        assert (rule.rule, rule.correct, rule.wrong, rule.blank) == ("key", 5, 0, 0)
    assert skd.section("TKP").scoring.rule == "weights"
    assert skd.section("TKP").scoring.blank == 0
    assert skd.rule_set() == ("general", skd.rule_sets["general"])
    assert skd.rule_sets["general"].minimum == {"TWK": 65, "TIU": 80, "TKP": 166}
    assert skd.rule_sets["general"].total is None
    for name in ("cum-laude", "diaspora"):
        assert skd.rule_sets[name].minimum == {"TIU": 85}
        assert skd.rule_sets[name].total == 311
    for name in ("disability", "papua"):
        assert skd.rule_sets[name].minimum == {"TIU": 60}
        assert skd.rule_sets[name].total == 286
    assert skd.ranking.by == ["total", "TKP", "TIU", "TWK"]
    assert skd.ranking.passed_first


def test_pppk_preset_reproduces_the_rules(pppk: Exam) -> None:
    assert [(s.id, s.items) for s in pppk.sections] == [
        ("teknis", 90),
        ("manajerial", 25),
        ("sosiokultural", 20),
        ("wawancara", 10),
    ]
    assert pppk.n_items == 145
    teknis = pppk.section("teknis").scoring
    assert (teknis.rule, teknis.correct, teknis.wrong) == ("key", 5, 0)
    assert all(pppk.section(s).scoring.rule == "weights" for s in pppk.section_ids[1:])
    assert [tuple(b) for b in pppk.time_blocks()] == [
        (("teknis", "manajerial", "sosiokultural"), 120),
        (("wawancara",), 10),
    ]
    assert [b.minutes for b in pppk.time_blocks("tunanetra")] == [150, 15]
    general = pppk.rule_sets["general"]
    assert general.minimum == {"wawancara": 24}
    assert [(c.sections, c.minimum) for c in general.combined] == [
        (["manajerial", "sosiokultural"], 117)
    ]


@pytest.mark.parametrize("name", PRESETS)
def test_preset_printed_as_a_file_reads_back_equal(name: str) -> None:
    exam = load_exam(name)
    text = exam_to_toml(exam)
    assert text.startswith("# ")
    assert parse_exam(text) == exam


def test_a_file_with_every_feature_round_trips(tmp_path) -> None:
    text = """
id = "skb-2025"
title = "SKB \\"teknis\\" ✓"
navigation = "forward-only"
shuffle_items = false
shuffle_options = false
default_rule_set = "umum"

[[sections]]
id = "verbal"
items = 6
topics = { analogi = 2, "kata baku" = 4 }
difficulty = { mudah = 3, sulit = 3 }
scoring = { rule = "key", correct = 2.5, wrong = -0.5, blank = 0 }
time_limit_minutes = 20

[[sections]]
id = "sikap"
items = 4
scoring = { rule = "weights", blank = 1 }
time_limit_minutes = 10

[rule_sets.umum]
minimum = { verbal = 5 }
total = 9.5
combined = [{ sections = ["verbal", "sikap"], minimum = 7 }]

[rule_sets.khusus]
total = 5

[ranking]
passed_first = false
by = ["verbal", "total"]

[accommodations]
low-vision = { sections = { verbal = 5, sikap = 2 } }
"""
    path = tmp_path / "skb.toml"
    path.write_text(text, encoding="utf-8")
    exam = load_exam(path)
    assert exam.section("verbal").topics == {"analogi": 2, "kata baku": 4}
    assert [b.minutes for b in exam.time_blocks("low-vision")] == [25, 12]
    assert parse_exam(exam_to_toml(exam)) == exam


def test_every_problem_is_listed_with_its_key_path() -> None:
    found = problems_of(
        """
id = "x"
time_limit_minutes = 100
colour = "red"
default_rule_set = "nope"
[[sections]]
id = "A"
items = 10
topics = { deret = 4, angka = 5 }
scoring = { rule = "key", correct = 5 }
[[sections]]
id = "B"
items = 10
topics = { deret = 0, angka = 10 }
scoring = { rule = "weights", correct = 5 }
[rule_sets.g]
minimum = { A = 60, C = 3 }
[ranking]
by = ["total", "D"]
[accommodations]
tunanetra = "lots"
"""
    )
    assert "sections[1].topics.deret: must be > 0" in found
    assert "colour: unknown key" in found
    assert "sections[0].topics: add up to 9, the section has 10 items" in found
    assert any(p.startswith("sections[1].scoring: ") for p in found)
    assert any(p.startswith("accommodations.tunanetra: must be minutes") for p in found)
    assert "rule_sets.g.minimum.A: can never be reached: the section scores at most 50" in found
    assert "rule_sets.g.minimum.C: no such section" in found
    assert "default_rule_set: no rule set 'nope' in rule_sets" in found
    assert "ranking.by[1]: 'D' is neither 'total' nor a section" in found
    assert len(found) == 9


def test_clock_rules_are_checked() -> None:
    no_clock = MINIMAL.replace("time_limit_minutes = 60", "")
    assert problems_of(no_clock) == [
        "sections[0].time_limit_minutes: required when the exam has no time_limit_minutes"
    ]
    own_clocks = no_clock.replace("items = 10", "items = 10\ntime_limit_minutes = 20")
    assert problems_of(own_clocks + "[accommodations]\ntunanetra = 30\n") == [
        "accommodations.tunanetra: the exam has no clock of its own to extend"
    ]
    split = (
        MINIMAL
        + '[[sections]]\nid = "B"\nitems = 2\nscoring = { rule = "weights" }\n'
        + "time_limit_minutes = 5\n"
        + '[[sections]]\nid = "C"\nitems = 2\nscoring = { rule = "weights" }\n'
    )
    assert problems_of(split) == [
        "sections[2].time_limit_minutes: sections on the exam's clock must follow each other; "
        "give this one its own clock or move it"
    ]


def test_duplicate_sections_and_reserved_names() -> None:
    text = MINIMAL + '[[sections]]\nid = "A"\nitems = 1\nscoring = { rule = "weights" }\n'
    text += '[[sections]]\nid = "total"\nitems = 1\nscoring = { rule = "weights" }\n'
    found = problems_of(text)
    assert "sections[1].id: 'A' is already the id of sections[0]" in found
    assert "sections[2].id: 'total' is reserved for the sum of sections" in found


def test_a_rule_set_must_name_a_check() -> None:
    assert problems_of(MINIMAL + "[rule_sets.general]\ntitle = 'kosong'\n") == [
        "rule_sets.general: names no check: give minimum, total or combined"
    ]


def test_broken_files_get_one_clear_problem(tmp_path) -> None:
    with pytest.raises(ExamError, match=r"not valid TOML: .*line 2"):
        parse_exam('id = "x"\nitems = = 3\n')
    binary = tmp_path / "exam.toml"
    binary.write_bytes(b"id = '\xff'\n")
    with pytest.raises(ExamError, match="not UTF-8"):
        load_exam(binary)
    with pytest.raises(ExamError, match=r"no such exam file and no preset of that name"):
        load_exam(tmp_path / "missing.toml")
    with pytest.raises(ExamError, match="no such exam file"):
        load_exam("skd.toml")


def test_an_exam_built_in_code_is_checked_too() -> None:
    with pytest.raises(ValidationError, match="add up to 3"):
        Exam(
            id="x",
            time_limit_minutes=10,
            sections=[
                {"id": "A", "items": 4, "topics": {"a": 3}, "scoring": {"rule": "weights"}}
            ],
        )


def test_unknown_rule_set_and_accommodation_name_what_exists(skd: Exam) -> None:
    with pytest.raises(KeyError, match=r"has no rule set 'umum'.*general, cum-laude"):
        skd.rule_set("umum")
    with pytest.raises(KeyError, match=r"no accommodation 'blind'.*tunanetra"):
        skd.time_blocks("blind")


def test_preset_text_is_the_shipped_file() -> None:
    assert 'tunanetra = { minutes = 30, supports = ["spoken"] }' in preset_text("skd")
    with pytest.raises(ExamError, match="no such preset"):
        preset_text("cpns")


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("sections", 1, "topics", "deret"), "sections[1].topics.deret"),
        (("sections", 0, "topics", "kata baku"), 'sections[0].topics."kata baku"'),
        (("rule_sets", "cum-laude", "total"), "rule_sets.cum-laude.total"),
        (("ranking", "by", 2), "ranking.by[2]"),
    ],
)
def test_key_path_reads_like_toml(loc: tuple, path: str) -> None:
    assert key_path(loc) == path


@given(
    items=st.integers(1, 60),
    correct=st.integers(1, 10),
    wrong=st.integers(-5, 0),
    shuffle=st.booleans(),
    minutes=st.integers(1, 300),
    extra=st.integers(0, 60),
)
@settings(max_examples=40, deadline=None)
def test_any_valid_exam_round_trips_through_toml(items, correct, wrong, shuffle, minutes, extra):
    exam = Exam(
        id="gen",
        time_limit_minutes=minutes,
        shuffle_items=shuffle,
        sections=[
            {"id": "A", "items": items, "scoring": {"rule": "key", "correct": correct,
                                                    "wrong": wrong}},
            {"id": "B", "items": 3, "scoring": {"rule": "weights", "blank": 0.25}},
        ],
        rule_sets={"x": {"total": items * correct, "minimum": {"A": 0}}},
        accommodations={"lambat": extra},
    )
    again = parse_exam(exam_to_toml(exam))
    assert again == exam
    assert again.total_minutes("lambat") == minutes + extra
