"""``cat-engine analyze``: a response file in, one self-contained report out."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cat_engine.cli import cli


def write_session(tmp_path, session):
    choices, key, _ = session(n=80, k=8, seed=3)
    ids = [f"TWK-{j}" for j in range(8)]
    lines = ["examinee," + ",".join(ids)]
    lines += [f"P{i}," + ",".join(row) for i, row in enumerate(choices)]
    csv = tmp_path / "session.csv"
    csv.write_text("\n".join(lines) + "\n")
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(dict(zip(ids, key, strict=True))))
    return csv, key_file


def test_analyze_with_a_key_writes_the_report(tmp_path, session):
    csv, key_file = write_session(tmp_path, session)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli, ["analyze", str(csv), "--key", str(key_file), "--out", str(out), "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert html.startswith("<!doctype html>") and "data:image/png;base64," in html


def test_analyze_errors_are_clear(tmp_path, session):
    csv, key_file = write_session(tmp_path, session)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["analyze", str(csv), "--out", str(out)])
    assert result.exit_code == 2
    assert "expected points (a number >= 0) or empty, got 'A'" in result.output
    assert "give --key" in result.output
    key_file.write_text(json.dumps({"TWK-0": "A"}))
    result = CliRunner().invoke(
        cli, ["analyze", str(csv), "--key", str(key_file), "--out", str(out)]
    )
    assert result.exit_code == 2 and "no key for item(s) TWK-1" in result.output
    assert not out.exists()


def test_analyze_weighted_points_without_a_key(tmp_path):
    csv = tmp_path / "tkp.csv"
    rows = ["TKP-1,TKP-2,TKP-3", "5,4,3", "1,2,", "3,3,5", "4,5,4", "2,1,2"]
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "tkp.html"
    result = CliRunner().invoke(cli, ["analyze", str(csv), "--section", "TKP", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Subtes: TKP" in out.read_text()
