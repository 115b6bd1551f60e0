"""``cat-engine simulate`` and ``cat-engine calibrate`` as an operator uses them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from scoring.irt.calibration import simulate_responses


def run(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def params_file(tmp_path, bank):
    path = tmp_path / "params.json"
    path.write_text(json.dumps(bank.to_json()))
    return path


def test_simulate_prints_one_json_line(params_file, tmp_path):
    result = run(
        "simulate",
        "--items",
        str(params_file),
        "--examinees",
        "40",
        "--length",
        "10",
        "--seed",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip())
    assert set(line) >= {
        "rmse",
        "bias",
        "mean_se",
        "mean_length",
        "max_exposure",
        "overlap_rate",
        "seconds",
        "us_per_step",
    }
    assert line["mean_length"] == 10
    thetas = tmp_path / "thetas.json"
    thetas.write_text(json.dumps({"thetas": [-1.0, 0.0, 1.0]}))
    result = run(
        "simulate",
        "--items",
        str(params_file),
        "--thetas",
        str(thetas),
        "--length",
        "30",
        "--se",
        "0.5",
        "--estimator",
        "mle",
        "--selector",
        "kl",
        "--d",
        "1.702",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["mean_length"] < 30


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "exactly one of --thetas or --examinees"),
        (("--examinees", "5", "--length", "999"), "--length 999 exceeds the 200 items"),
        (("--examinees", "5", "--min-length", "9", "--length", "5"), "--min-length 9 exceeds"),
    ],
)
def test_simulate_refuses_bad_options(params_file, extra, message):
    args = ["simulate", "--items", str(params_file), *extra]
    if "--length" not in extra:
        args += ["--length", "5"]
    result = run(*args)
    assert result.exit_code == 2 and message in result.output


def test_simulate_refuses_bad_files(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text('{"items": [{"id": "A", "a": 1, "b": 11}]}')
    result = run("simulate", "--items", str(bad), "--examinees", "3", "--length", "1")
    assert result.exit_code == 2 and "item 1 (A): 'b' must be in [-10, 10]" in result.output
    result = run(
        "simulate", "--items", str(tmp_path / "none.json"), "--examinees", "3", "--length", "1"
    )
    assert result.exit_code == 2 and "no such file" in result.output
    thetas = tmp_path / "t.json"
    thetas.write_text('[0.5, "high"]')
    bad.write_text('{"items": [{"id": "A", "b": 0}]}')
    result = run("simulate", "--items", str(bad), "--thetas", str(thetas), "--length", "1")
    assert result.exit_code == 2 and "ability 2 must be a number" in result.output


def test_calibrate_writes_params_that_simulate_accepts(tmp_path, bank):
    sub = bank.subset(range(12))
    x = simulate_responses(sub, np.random.default_rng(0).normal(size=600), seed=1)
    lines = ["examinee," + ",".join(sub.ids)]
    for i, row in enumerate(x):
        cells = ["" if (i + j) % 7 == 0 else str(int(v)) for j, v in enumerate(row)]
        lines.append(f"cand{i}," + ",".join(cells))
    csv = tmp_path / "responses.csv"
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "calibrated.json"
    result = run("calibrate", str(csv), "--model", "2pl", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "converged" in result.output
    doc = json.loads(out.read_text())
    assert [row["id"] for row in doc["items"]] == list(sub.ids)
    assert doc["calibration"]["converged"] is True
    result = run("simulate", "--items", str(out), "--examinees", "5", "--length", "5", "--json")
    assert result.exit_code == 0


def test_calibrate_names_a_mis_keyed_item_and_writes_only_loadable_params(tmp_path, bank):
    sub = bank.subset(range(15))
    x = simulate_responses(sub, np.random.default_rng(3).normal(size=1500), seed=4)
    x[:, 2] = 1 - x[:, 2]  # mis-keyed
    x[30:, 5] = np.nan  # seen by 30 only
    csv = tmp_path / "responses.csv"
    csv.write_text(
        ",".join(sub.ids)
        + "\n"
        + "\n".join(",".join("" if v != v else str(int(v)) for v in row) for row in x)
    )
    out = tmp_path / "calibrated.json"
    args = ["--model", "3pl", "--out", str(out), "--min-responses", "50"]
    result = run("calibrate", str(csv), *args)
    assert result.exit_code == 0, result.output
    assert f"left out {sub.ids[2]}: reversed: scored against the rest" in result.output
    assert f"left out {sub.ids[5]}: answered by 30 examinee(s), fewer than the minimum 50" in (
        result.output
    )
    assert "13 of 15 items calibrated (2 left out, named above)" in result.output
    result = run("simulate", "--items", str(out), "--examinees", "5", "--length", "5", "--json")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("examinee,Q1,Q2\nA,1,0\nB,1\n", "row 3: 2 cells, the header has 3"),
        ("Q1,Q2\n1,0\n0,x\n", "row 3, column 2 (Q2): expected 1, 0 or empty, got 'x'"),
        ("Q1,Q2\n\n1,0\n\n0,x\n", "row 5, column 2 (Q2)"),  # blank lines still count
        ("examinee,Q1,Q2\nA,1,0\nB,yes,1\n", "row 3, column 2 (Q1)"),
        ("Q1,Q1\n1,0\n", "duplicate item id(s): Q1"),
        ("Q 1,Q2\n1,0\n", "row 1, column 1: invalid item id 'Q 1'"),
        ("", "the file is empty"),
        ("Q1,Q2\n1,0\n1,1\n0,1\n", "Q2: answered by 3 examinee(s), fewer than the minimum 4"),
    ],
)
def test_calibrate_reports_bad_csv_with_row_and_column(tmp_path, text, message):
    csv = tmp_path / "r.csv"
    csv.write_text(text)
    out = tmp_path / "out.json"
    result = run("calibrate", str(csv), "--out", str(out), "--min-responses", "4")
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()  # nothing half-written


def test_simulate_with_sympson_hetter_calibrates_first(tmp_path, bank_factory):
    path = tmp_path / "small.json"
    path.write_text(json.dumps(bank_factory(40, seed=5).to_json()))
    result = run(
        "simulate",
        "--items",
        str(path),
        "--examinees",
        "60",
        "--length",
        "4",
        "--selector",
        "sympson_hetter",
        "--r-max",
        "0.5",
        "--json",
    )
    assert result.exit_code == 0, result.output
    line = json.loads(result.output)
    assert line["sh_iterations"] >= 1 and "sh_converged" in line


def test_score_command_scores_every_examinee_by_every_method(tmp_path, bank):
    from scoring.irt.estimators import EAPEstimator, WLEEstimator

    sub = bank.subset(range(20))
    params = tmp_path / "params.json"
    params.write_text(json.dumps(sub.to_json()))
    x = simulate_responses(sub, np.random.default_rng(5).normal(size=6), seed=6)
    x[0, :10] = np.nan  # examinee 0 was shown only half
    csv = tmp_path / "r.csv"
    csv.write_text(
        "examinee,EXTRA-1," + ",".join(sub.ids) + "\n"
        + "\n".join(f"P{i},1," + ",".join("" if v != v else str(int(v)) for v in row)
                    for i, row in enumerate(x)) + "\n"
    )
    out = tmp_path / "scores.csv"
    result = run("score", str(csv), "--items", str(params), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "left out 1 item(s) without parameters: EXTRA-1" in result.output
    lines = out.read_text().splitlines()
    assert lines[0] == ("examinee,items,sum,eap_theta,eap_se,map_theta,map_se,mle_theta,"
                        "mle_se,wle_theta,wle_se,sum-eap_theta,sum-eap_se")
    first = lines[1].split(",")
    assert first[:2] == ["P0", "10"]
    seen = np.flatnonzero(~np.isnan(x[0]))
    eap = EAPEstimator().estimate(sub, seen, x[0, seen].astype(int))
    assert float(first[3]) == pytest.approx(eap.theta, abs=1e-4)
    wle = WLEEstimator().estimate(sub, seen, x[0, seen].astype(int))
    assert float(first[9]) == pytest.approx(wle.theta, abs=1e-4)
    assert len(lines) == 7
    csv.write_text("I1\n0.5\n")
    params.write_text(json.dumps({"items": [{"id": "I1", "a": 1, "b": 0}]}))
    result = run("score", str(csv), "--items", str(params))
    assert result.exit_code == 2
    assert "response 0.5 at position 0: must be a whole number" in result.output
