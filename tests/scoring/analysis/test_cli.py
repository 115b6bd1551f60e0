"""``cat-engine analyze``: a response file in, one self-contained report out."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
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


def randomized_forms(tmp_path, keyed: bool):
    """200 items, 300 candidates each shown 20 (empty cells = not presented), facility 0.5."""
    rng = np.random.default_rng(5)
    n, k = 300, 200
    theta = rng.normal(size=n)
    b = rng.normal(0, 0.3, k)
    right = rng.random((n, k)) < 1 / (1 + np.exp(-(theta[:, None] - b)))
    ids = [f"TIU-{j:03d}" for j in range(k)]
    lines = ["examinee," + ",".join(ids)]
    for i in range(n):
        shown = set(rng.choice(k, 20, replace=False).tolist())
        if keyed:
            cells = [("A" if right[i, j] else "B") if j in shown else "" for j in range(k)]
        else:
            cells = [str(int(right[i, j])) if j in shown else "" for j in range(k)]
        lines.append(f"P{i}," + ",".join(cells))
    path = tmp_path / "forms.csv"
    path.write_text("\n".join(lines) + "\n")
    key = tmp_path / "key.json"
    key.write_text(json.dumps(dict.fromkeys(ids, "A")))
    return path, key


@pytest.mark.parametrize("keyed", [False, True], ids=["points", "labels"])
def test_analyze_treats_empty_as_not_presented_like_calibrate(tmp_path, keyed):
    path, key = randomized_forms(tmp_path, keyed)
    out = tmp_path / "report.html"
    args = ["analyze", str(path), "--out", str(out), "--lang", "en"]
    result = CliRunner().invoke(cli, args + (["--key", str(key)] if keyed else []))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    row = r"<td class=l>TIU-\d+</td><td>\d+</td><td>([0-9.]+)</td>"
    facilities = [float(f) for f in re.findall(row, html)]
    assert len(facilities) == 200
    assert np.mean(facilities) == pytest.approx(0.5, abs=0.03)
    assert html.count("too hard") < 10  # empty = wrong flagged every one of the 200


def test_a_keyed_blank_counts_as_wrong_and_empty_as_not_shown(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("examinee,A1,A2\nP1,A,-\nP2,-,\nP3,A,A\nP4,B,\n")
    key = tmp_path / "k.json"
    key.write_text(json.dumps({"A1": "A", "A2": "A"}))
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        cli, ["analyze", str(path), "--key", str(key), "--out", str(out), "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "<td class=l>A1</td><td>4</td><td>0.50</td>" in html  # 2 right of 4 shown
    assert "<td class=l>A2</td><td>2</td><td>0.50</td>" in html  # 1 right of 2 shown
    assert "omitted 0.50" in html  # A2: one of the two shown it left it blank


def test_calibrate_reports_layout_and_cell_problems_in_one_pass(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("examinee,I1,I2\nP1,1,x\nP2,1\nP3,2,0\n")
    result = CliRunner().invoke(cli, ["calibrate", str(path), "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert "row 3: 2 cells, the header has 3" in result.output
    assert "row 2, column 3 (I2): expected 1, 0 or empty, got 'x'" in result.output
    assert "row 4, column 2 (I1): expected 1, 0 or empty, got '2'" in result.output
