"""The ``keys``, ``bank`` and ``demo-bank`` commands, as an operator runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cat_engine.cli import cli
from item_bank.catbank import open_bank, read_manifest

ITEMS = [
    {
        "id": "TIU-0001",
        "section": "TIU",
        "topic": "deret angka",
        "stem": "2, 4, 8, 16, ...",
        "options": {"A": "24", "B": "32", "C": "30", "D": "28", "E": "36"},
        "key": "B",
    },
    {
        "id": "TKP-0001",
        "section": "TKP",
        "topic": "pelayanan publik",
        "stem": "Seorang warga mengeluh antrean terlalu panjang.",
        "options": {"A": "abaikan", "B": "jelaskan", "C": "bantu", "D": "lapor", "E": "tunda"},
        "weights": {"A": 1, "B": 4, "C": 5, "D": 3, "E": 2},
    },
]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def workdir(tmp_path, runner, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "items.jsonl").write_text(
        "".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8"
    )
    result = runner.invoke(cli, ["keys", "generate", "--out", "keys"])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("BANK_PASS", "sandi-uji")
    return tmp_path


def build(runner, *extra):
    return runner.invoke(
        cli,
        [
            "bank", "build", "items.jsonl", "--out", "skd.catbank",
            "--recipient", "keys/site.pub", "--sign-key", "keys/signing.key", *extra,
        ],
    )  # fmt: skip


def test_keys_generate_writes_private_files_0600_and_shows_fingerprints(workdir, runner):
    for name in ("signing.key", "site.key"):
        assert stat.S_IMODE(os.stat(workdir / "keys" / name).st_mode) == 0o600
    again = runner.invoke(cli, ["keys", "generate", "--out", "keys", "--kind", "site"])
    assert again.exit_code == 2
    assert "refusing to overwrite" in again.output
    shown = runner.invoke(cli, ["keys", "fingerprint", "keys/site.pub"])
    assert shown.exit_code == 0 and "site key, fingerprint" in shown.output


def test_build_inspect_verify_export(workdir, runner):
    built = build(
        runner, "--passphrase-env", "BANK_PASS", "--bank-id", "skd-2026", "--version", "2"
    )
    assert built.exit_code == 0, built.output
    assert "2 items (TIU 1, TKP 1)" in built.output

    inspected = runner.invoke(cli, ["bank", "inspect", "skd.catbank"])
    assert inspected.exit_code == 0, inspected.output
    assert "skd-2026 v2" in inspected.output
    assert "signature  valid" in inspected.output
    assert "(intact)" in inspected.output
    as_json = json.loads(runner.invoke(cli, ["bank", "inspect", "skd.catbank", "--json"]).output)
    assert as_json["sections"]["TKP"] == {
        "items": 1,
        "topics": {"pelayanan publik": 1},
        "difficulties": {},
    }
    assert as_json["signature_status"] == "valid"
    assert "wrapped_key" not in json.dumps(as_json)

    for key_args in (["--key", "keys/site.key"], ["--passphrase-env", "BANK_PASS"]):
        verified = runner.invoke(
            cli, ["bank", "verify", "skd.catbank", *key_args, "--signer", "keys/signing.pub"]
        )
        assert verified.exit_code == 0, verified.output
        assert "ok:" in verified.output and "2 items" in verified.output

    exported = runner.invoke(
        cli,
        ["bank", "export", "skd.catbank", "--format", "jsonl", "--out", "plain/items.jsonl",
         "--key", "keys/site.key"],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert "plaintext" in exported.output
    lines = (workdir / "plain" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == ITEMS

    qti = runner.invoke(
        cli,
        ["bank", "export", "skd.catbank", "--format", "qti", "--out", "plain/items.zip",
         "--passphrase-env", "BANK_PASS"],
    )  # fmt: skip
    assert qti.exit_code == 0, qti.output
    assert (workdir / "plain" / "items.zip").stat().st_size > 0


def test_build_lists_every_problem_and_writes_nothing(workdir, runner):
    (workdir / "bad.jsonl").write_text(
        '{"id": "X-1", "section": "TIU", "stem": "s", "options": {"A": "1"}, "key": "A"}\n'
        "not json\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        cli,
        ["bank", "build", "items.jsonl", "bad.jsonl", "missing.jsonl", "--out", "x.catbank",
         "--recipient", "keys/site.pub"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "bad.jsonl" in result.output and "line 2" in result.output
    assert "missing.jsonl" in result.output
    assert "no bank written" in result.output
    assert not (workdir / "x.catbank").exists()
    assert sorted(p.name for p in workdir.iterdir()) == ["bad.jsonl", "items.jsonl", "keys"]


def test_build_needs_a_holder_and_good_keys(workdir, runner):
    no_holder = runner.invoke(cli, ["bank", "build", "items.jsonl", "--out", "x.catbank"])
    assert no_holder.exit_code == 2 and "at least one holder" in no_holder.output
    wrong_kind = runner.invoke(
        cli, ["bank", "build", "items.jsonl", "--out", "x.catbank", "--recipient", "keys/site.key"]
    )
    assert wrong_kind.exit_code == 2 and "PRIVATE key" in wrong_kind.output
    unset = runner.invoke(
        cli, ["bank", "build", "items.jsonl", "--out", "x.catbank", "--passphrase-env", "NOPE"]
    )
    assert unset.exit_code == 2 and "NOPE is not set" in unset.output
    assert not (workdir / "x.catbank").exists()


def test_build_gives_a_section_to_items_without_one(workdir, runner):
    (workdir / "nosection.jsonl").write_text(
        json.dumps({k: v for k, v in ITEMS[0].items() if k != "section"}) + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        cli,
        ["bank", "build", "nosection.jsonl", "--out", "s.catbank", "--recipient",
         "keys/site.pub", "--section", "TIU", "--topic", "umum"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: the bank is unsigned" in result.output
    assert read_manifest(workdir / "s.catbank").sections["TIU"].items == 1


def test_wrong_keys_and_other_sites_fail_cleanly(workdir, runner, monkeypatch):
    assert build(runner).exit_code == 0
    runner.invoke(cli, ["keys", "generate", "--out", "other", "--kind", "both"])
    other_site = runner.invoke(cli, ["bank", "verify", "skd.catbank", "--key", "other/site.key"])
    assert other_site.exit_code == 2
    assert "not to this site" in other_site.output
    monkeypatch.setenv("WRONG", "salah")
    no_pass = runner.invoke(cli, ["bank", "verify", "skd.catbank", "--passphrase-env", "WRONG"])
    assert no_pass.exit_code == 2 and "no passphrase" in no_pass.output
    untrusted = runner.invoke(
        cli,
        ["bank", "verify", "skd.catbank", "--key", "keys/site.key", "--signer",
         "other/signing.pub"],
    )  # fmt: skip
    assert untrusted.exit_code == 2 and "not a trusted signer" in untrusted.output
    no_key = runner.invoke(cli, ["bank", "verify", "skd.catbank"])
    assert no_key.exit_code == 2 and "needs a key" in no_key.output
    for result in (other_site, no_pass, untrusted, no_key):
        assert "Traceback" not in result.output


def test_a_damaged_bank_is_reported_by_inspect_and_verify(workdir, runner):
    assert build(runner).exit_code == 0
    path = workdir / "skd.catbank"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40  # inside the last item's entry
    path.write_bytes(data)
    inspected = runner.invoke(cli, ["bank", "inspect", "skd.catbank"])
    assert inspected.exit_code == 2 and "damaged" in inspected.output
    verified = runner.invoke(cli, ["bank", "verify", "skd.catbank", "--key", "keys/site.key"])
    assert verified.exit_code == 2 and "does not match the signed index" in verified.output


def test_exit_codes_through_a_real_process(workdir, runner):
    """What a shell script sees: exit 0 on success, 2 and one line on stderr on failure."""
    assert build(runner).exit_code == 0
    command = [sys.executable, "-c", "from cat_engine.cli import main; main()"]
    ok = subprocess.run(
        [*command, "bank", "inspect", "skd.catbank", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["item_count"] == 2
    (workdir / "junk.catbank").write_bytes(b"CATBANK\x00\x00\x01")
    bad = subprocess.run(
        [*command, "bank", "verify", "junk.catbank", "--key", "keys/site.key"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: junk.catbank is truncated")
    assert "Traceback" not in bad.stderr and bad.stdout == ""


def test_demo_bank_uses_the_documented_passphrase(workdir, runner):
    result = runner.invoke(cli, ["demo-bank", "--out", "demo.catbank", "--size", "30"])
    assert result.exit_code == 0, result.output
    assert "demo-cat-engine" in result.output
    with open_bank(workdir / "demo.catbank", passphrase="demo-cat-engine") as opened:
        assert len(opened.index) == 30
        assert {item.section for item in opened.iter_items()} == {"TWK", "TIU", "TKP"}


def test_every_command_has_help(runner):
    for command in (
        ["keys", "generate"], ["keys", "fingerprint"], ["bank", "build"], ["bank", "inspect"],
        ["bank", "verify"], ["bank", "export"], ["demo-bank"],
    ):  # fmt: skip
        result = runner.invoke(cli, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_recalibrate_writes_calibrated_parameters_into_a_new_signed_version(workdir, runner):
    assert build(runner, "--passphrase-env", "BANK_PASS").exit_code == 0
    (workdir / "params.json").write_text(json.dumps({"items": [
        {"id": "TIU-0001", "a": 1.4, "b": -0.3, "c": 0.18},
        {"id": "TKP-0001", "model": "gpcm", "a": 0.9, "thresholds": [-1.5, -0.5, 0.4, 1.2]},
    ]}), encoding="utf-8")
    done = runner.invoke(cli, [
        "bank", "recalibrate", "skd.catbank", "--params", "params.json", "--out", "v2.catbank",
        "--passphrase-env", "BANK_PASS", "--sign-key", "keys/signing.key"])
    assert done.exit_code == 0, done.output
    assert "2 items recalibrated (v1 -> v2)" in done.output
    manifest = read_manifest(workdir / "v2.catbank")
    assert manifest.version == 2 and manifest.signature_status == "valid"
    with open_bank(workdir / "v2.catbank", passphrase="sandi-uji") as opened:
        tiu, tkp = opened.item("TIU-0001"), opened.item("TKP-0001")
    assert (tiu.irt.model, tiu.irt.a, tiu.irt.b, tiu.irt.c) == ("3pl", 1.4, -0.3, 0.18)
    assert tkp.irt.model == "gpcm" and tkp.irt.thresholds == (-1.5, -0.5, 0.4, 1.2)
    assert tiu.key == "B" and tkp.weights["C"] == 5  # only the parameters changed
    # The old version is untouched.
    with open_bank(workdir / "skd.catbank", passphrase="sandi-uji") as opened:
        assert opened.item("TIU-0001").irt is None


def test_recalibrate_lists_every_problem_and_writes_nothing(workdir, runner):
    assert build(runner, "--passphrase-env", "BANK_PASS").exit_code == 0
    (workdir / "params.json").write_text(json.dumps({"items": [
        {"id": "TIU-9999", "a": 1.0, "b": 0.0},
        {"id": "TKP-0001", "a": 1.0, "b": 0.0},
        {"id": "TIU-0001", "model": "grm", "a": 1.0, "thresholds": [0.0]},
    ]}), encoding="utf-8")
    done = runner.invoke(cli, [
        "bank", "recalibrate", "skd.catbank", "--params", "params.json", "--out", "v2.catbank",
        "--passphrase-env", "BANK_PASS"])
    assert done.exit_code == 2
    assert "TIU-9999): the bank holds no item with this id" in done.output
    assert "TKP-0001): dichotomous parameters for an item scored by weights" in done.output
    assert "TIU-0001): weighted-item parameters for an item with a key" in done.output
    assert "3 problems" in done.output and "Traceback" not in done.output
    assert not (workdir / "v2.catbank").exists()


def test_recalibrate_links_a_new_calibration_to_the_banks_scale(workdir, runner):
    """v2 puts the bank on a scale; v3 comes from a calibration whose own scale differs
    (theta_new = (theta_bank - 0.5) / 1.25): anchors carry it back."""
    extra = [{**ITEMS[0], "id": f"TIU-000{i}"} for i in (2, 3)]
    (workdir / "items.jsonl").write_text(
        "".join(json.dumps(item) + "\n" for item in [*ITEMS, *extra]), encoding="utf-8")
    assert build(runner, "--passphrase-env", "BANK_PASS").exit_code == 0
    first = [{"id": f"TIU-000{i}", "a": a, "b": b, "c": 0.0}
             for i, (a, b) in enumerate([(1.2, -1.0), (0.8, 0.2), (1.5, 1.1)], start=1)]
    (workdir / "v2.json").write_text(json.dumps({"items": first}), encoding="utf-8")
    args = ["--passphrase-env", "BANK_PASS"]
    done = runner.invoke(cli, ["bank", "recalibrate", "skd.catbank", "--params", "v2.json",
                               "--out", "v2.catbank", *args])
    assert done.exit_code == 0, done.output
    assert "no anchor items" in done.output
    A, B = 1.25, 0.5
    moved = [{**row, "a": row["a"] * A, "b": (row["b"] - B) / A} for row in first]
    (workdir / "v3.json").write_text(json.dumps({"items": moved}), encoding="utf-8")
    for method in ("stocking-lord", "haebara", "mean-sigma"):
        done = runner.invoke(cli, ["bank", "recalibrate", "v2.catbank", "--params", "v3.json",
                                   "--out", f"v3-{method}.catbank", "--link", method, *args])
        assert done.exit_code == 0, done.output
        assert f"linked by {method} on 3 anchor items: theta_bank = 1.2500 theta_new + 0.5000" \
            in done.output
        with open_bank(workdir / f"v3-{method}.catbank", passphrase="sandi-uji") as opened:
            for row in first:
                irt = opened.item(row["id"]).irt
                assert irt.a == pytest.approx(row["a"], abs=1e-4)
                assert irt.b == pytest.approx(row["b"], abs=1e-4)
