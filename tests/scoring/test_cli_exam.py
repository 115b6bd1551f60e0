"""``cat-engine exam show`` and ``exam check``, as an operator runs them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from scoring.exam import load_exam, parse_exam


def run(*args: str):
    return CliRunner().invoke(cli, ["exam", *args])


@pytest.mark.parametrize("name", ["skd", "pppk"])
def test_show_prints_a_preset_as_a_file_to_start_from(name: str, tmp_path) -> None:
    result = run("show", name)
    assert result.exit_code == 0, result.output
    assert parse_exam(result.output) == load_exam(name)
    path = tmp_path / "mine.toml"
    path.write_text(result.output.replace(f'id = "{name}"', f'id = "{name}-2025"'), "utf-8")
    again = run("show", str(path))
    assert again.exit_code == 0
    assert parse_exam(again.output) == load_exam(name).model_copy(update={"id": f"{name}-2025"})


def test_check_summarises_a_valid_exam() -> None:
    result = run("check", "pppk")
    assert result.exit_code == 0
    assert "4 sections, 145 items, 120 + 10 minutes" in result.output
    assert "teknis: 90 items, key 5/0/0" in result.output


def test_check_lists_every_problem_and_exits_2(tmp_path) -> None:
    path = tmp_path / "exam.toml"
    path.write_text(
        'id = "x"\ntime_limit_minutes = 90\n[[sections]]\nid = "A"\nitems = 5\n'
        'topics = { deret = 0, angka = 5 }\nscoring = { rule = "key", correct = 5 }\n'
        "[ranking]\nby = ['B']\n",
        encoding="utf-8",
    )
    result = run("check", str(path))
    assert result.exit_code == 2
    assert f"{path}: sections[0].topics.deret: must be > 0" in result.output
    assert f"{path}: ranking.by[0]: 'B' is neither 'total' nor a section" in result.output
    assert "Traceback" not in result.output


def test_check_unknown_exam_exits_2() -> None:
    result = run("check", "cpns")
    assert result.exit_code == 2
    assert "error: cpns: no such exam file and no preset of that name (presets: pppk, skd)" in (
        result.output
    )


@pytest.fixture(scope="module")
def small_bank(tmp_path_factory, skd_items_factory):
    catbank = pytest.importorskip("item_bank.catbank")
    path = tmp_path_factory.mktemp("bank") / "small.catbank"
    catbank.write_bank(
        skd_items_factory(40),
        path,
        bank_id="uji",
        passphrases=["kata sandi uji"],
        kdf=catbank.Argon2Params(time_cost=1, memory_kib=1024, parallelism=1),
    )
    return path


def test_check_against_a_bank_says_what_is_short(small_bank, tmp_path) -> None:
    result = run("check", "skd", "--bank", str(small_bank))
    assert result.exit_code == 1
    assert "section TKP: needs 45 items, the bank has 40 (5 short)" in result.output
    assert "section TIU" not in result.output
    trimmed = tmp_path / "trimmed.toml"
    text = run("show", "skd").output.replace("items = 45", "items = 40")
    trimmed.write_text(text, encoding="utf-8")
    result = run("check", str(trimmed), "--bank", str(small_bank))
    assert result.exit_code == 0, result.output
    assert "enough items" in result.output


def test_check_against_a_broken_bank_exits_2(tmp_path) -> None:
    pytest.importorskip("item_bank.catbank")
    junk = tmp_path / "junk.catbank"
    junk.write_bytes(b"not a bank at all")
    result = run("check", "skd", "--bank", str(junk))
    assert result.exit_code == 2
    assert result.output.count("error: ") == 1
    assert "Traceback" not in result.output
