"""The `adaptive` table of an exam section: what it accepts, and the key-path errors of what
it does not; and the bank check made when a session opens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cat_engine.services.sessions import SetupError
from scoring.exam import ExamError, exam_to_toml, parse_exam

BASE = """
id = "cat"
time_limit_minutes = 60

[[sections]]
id = "TIU"
items = 35
scoring = { rule = "key", correct = 5, wrong = 0, blank = 0 }
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ExamError) as caught:
        parse_exam(text, source="exam.toml")
    return [f"{p.location}: {p.reason}" for p in caught.value.problems]


def test_an_adaptive_section_reads_its_settings_and_takes_its_length_from_items():
    exam = parse_exam(BASE + 'adaptive = { selector = "randomesque", se_target = 0.3 }\n')
    section = exam.section("TIU")
    assert section.adaptive.selector == "randomesque" and section.adaptive.se_target == 0.3
    assert section.adaptive.max_items == 35 == section.positions
    assert section.adaptive.estimator == "eap"  # the recommended default


def test_topics_become_the_quotas_and_max_items_the_number_of_positions():
    exam = parse_exam(BASE.replace("items = 35", "items = 35\ntopics = { deret = 15, "
                                   "analogi = 20 }") + "adaptive = { max_items = 20 }\n")
    section = exam.section("TIU")
    assert section.positions == 20 and section.items == 35
    assert section.adaptive_config().topic_quotas == {"deret": 15, "analogi": 20}


@pytest.mark.parametrize(("table", "expected"), [
    ('{ selector = "best" }', "sections[0].adaptive.selector: Input should be"),
    ("{ max_items = 0 }", "sections[0].adaptive.max_items: must be >= 1"),
    ("{ prior_sd = -1 }", "sections[0].adaptive.prior_sd: must be > 0"),
    ("{ stop = 3 }", "sections[0].adaptive.stop: unknown key"),
    ("{ min_items = 30, max_items = 20 }",
     "sections[0].adaptive: min_items 30 exceeds max_items 20"),
    ('{ selector = "sympson_hetter" }',
     "sections[0].adaptive: the sympson_hetter selector needs calibrated 'exposure'"),
    ("{ exposure = { TIU-001 = 1.5 } }", "exposure parameters must be in (0, 1]"),
    ('{ model = "grm" }', "sections[0].adaptive.model: Input should be"),
    ("{ time_limit_s = 600 }", "sections[0].adaptive.time_limit_s: a live section is timed"),
    ("{ se_target = nan }", "sections[0].adaptive.se_target"),
    ('"yes"', "sections[0].adaptive: Input should be a valid dictionary"),
])
def test_bad_adaptive_tables_name_the_key_path(table, expected):
    problems = _problems(BASE + f"adaptive = {table}\n")
    assert any(p.startswith(expected) or expected in p for p in problems), problems


def test_an_adaptive_section_may_score_by_weights_but_must_leave_difficulty_out():
    text = BASE.replace('scoring = { rule = "key", correct = 5, wrong = 0, blank = 0 }',
                        'scoring = { rule = "weights" }\ndifficulty = { mudah = 35 }')
    problems = _problems(text + 'topics = { a = 35 }\nadaptive = { topic_quotas = { a = 1 } }\n')
    # Weighted (TKP-like) sections are adaptive with GRM/GPCM items (issue 6).
    assert not any(p.startswith("sections[0].adaptive: needs scoring rule") for p in problems)
    assert any(p.startswith("sections[0].difficulty: an adaptive section") for p in problems)
    assert any(p.startswith("sections[0].adaptive.topic_quotas: the section's topics")
               for p in problems)


@given(
    selector=st.sampled_from(["max_info", "kl", "randomesque"]),
    estimator=st.sampled_from(["eap", "map", "mle"]),
    max_items=st.integers(1, 60),
    extra=st.integers(0, 10),
    se=st.none() | st.floats(0.05, 1.0),
    prior=st.floats(-2, 2),
)
def test_adaptive_sections_survive_the_toml_round_trip(selector, estimator, max_items, extra,
                                                       se, prior):
    table = (f'{{ selector = "{selector}", estimator = "{estimator}", max_items = {max_items}, '
             f"min_items = {min(extra, max_items)}, prior_mean = {prior!r}"
             + (f", se_target = {se!r}" if se is not None else "") + " }")
    exam = parse_exam(BASE + f"adaptive = {table}\n")
    assert parse_exam(exam_to_toml(exam)) == exam


def test_opening_a_session_names_the_items_without_irt_parameters(tmp_path,
                                                                 adaptive_site_factory):
    # 20 of the 24 TIU items lack parameters: 4 left for a section of up to 6 items.
    with pytest.raises(SetupError) as caught:
        adaptive_site_factory(tmp_path, uncalibrated=20)
    message = str(caught.value)
    assert "adaptive section TIU: needs 6 items with IRT parameters, the bank has 4" in message
    assert "without IRT parameters: 20 item(s) (TIU-004, TIU-005, TIU-006, TIU-007, TIU-008 " \
           "and 15 more)" in message

