"""Receipts and signed results files: export, verify (signature, consistency, receipts,
re-scoring from the bank) and what each kind of tampering looks like."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cat_engine.cli import cli
from cat_engine.services import anchors
from cat_engine.testing import PASSPHRASE_ENV
from scoring.integrity import receipts
from scoring.integrity.canonical import b64url, unb64url
from tests.integrity.conftest import run_session


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture
def exported(files, store, tmp_path):
    run_session(files, store)
    out = tmp_path / "S1.results"
    result = invoke("results", "export", files.session, "--out", out,
                    "--data-dir", files.data_dir)
    assert result.exit_code == 0, result.output
    return out


def verify(files, path, *extra, env=None):
    return invoke("results", "verify", path, "--site-key",
                  files.data_dir / anchors.PUB_FILE, *extra, env=env)


def test_a_finished_candidate_gets_a_signed_receipt_on_the_chain(files, store):
    site = run_session(files, store)
    cand = site.candidate(next(iter(site.candidates)))
    with store.read() as db:
        receipt = json.loads(db.execute(text(
            "SELECT detail FROM audit_log WHERE action = 'receipt' AND candidate_id = :c"),
            {"c": cand.id}).scalar_one())
    assert cand.result["receipt"] == {"code": receipt["code"]}
    assert len(receipt["code"]) == 24 and receipt["code"].count("-") == 4
    public = anchors.site_public_key(files.data_dir)
    assert receipts.problems(public, receipt) == []
    body = receipt["payload"]
    assert body["total"] == cand.result["total"] and body["registration"] == cand.registration
    with store.read() as db:
        finish = db.execute(text("SELECT seq, hash FROM audit_log WHERE action = 'finish' "
                                 "AND candidate_id = :c"), {"c": cand.id}).one()
    assert (body["chain_seq"], body["chain_hash"]) == (finish.seq, finish.hash)
    changed = {**receipt, "payload": {**body, "total": body["total"] + 5}}
    assert len(receipts.problems(public, changed)) == 2  # code and signature


def test_export_verifies_and_rescoring_from_the_bank_agrees(files, exported):
    result = verify(files, exported, "--bank", files.bank_path, "--passphrase-env",
                    PASSPHRASE_ENV, env={PASSPHRASE_ENV: files.passphrase})
    assert result.exit_code == 0, result.output
    assert "re-computed from the answer logs" in result.output and "3 candidates" in result.output
    summary = json.loads(unb64url(exported.read_bytes().split(b".")[1].decode()))
    cands = summary["candidates"]
    assert sorted(cands["rank"]) == [1, 2, 3] or None not in cands["rank"]
    assert all(code and len(code) == 24 for code in cands["receipt"])
    assert summary["chain"]["seq"] > 40 and summary["bank"]["version"] == "1"


def _edit_summary(path, change):
    header, payload, signature = path.read_bytes().split(b"\n", 1)[0].split(b".")
    summary = json.loads(unb64url(payload.decode()))
    change(summary)
    lines = path.read_bytes().split(b"\n")
    lines[0] = b".".join([header, b64url(json.dumps(summary).encode()).encode(), signature])
    path.write_bytes(b"\n".join(lines))


def test_a_result_edited_in_the_file_fails(files, exported):
    _edit_summary(exported, lambda s: s["candidates"]["total"].__setitem__(0, 550.0))
    result = verify(files, exported)
    assert result.exit_code == 2 and "signature does not verify" in result.output


def test_evidence_edited_in_the_file_fails(files, exported):
    lines = exported.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"answer"', b'"flag"', 1)
    exported.write_bytes(b"\n".join(lines))
    result = verify(files, exported)
    assert result.exit_code == 2 and "the evidence does not match the SHA-256" in result.output


def test_a_result_changed_in_the_database_after_the_room_no_longer_matches_its_receipt(
        files, store, tmp_path):
    run_session(files, store)
    with store.engine.begin() as conn:  # the site's staff "fix" a score before exporting
        conn.execute(text("UPDATE candidates SET scores = json_set(scores, '$.TWK', 30.0) "
                          "WHERE registration = 'R00001'"))
    out = tmp_path / "S1.results"
    assert invoke("results", "export", files.session, "--out", out, "--data-dir",
                  files.data_dir).exit_code == 0
    result = verify(files, out)
    assert result.exit_code == 2
    assert "candidate R00001: the result's total" in result.output
    assert "changed after the room" in result.output


def test_encrypted_to_the_central_office(files, store, tmp_path):
    run_session(files, store)
    assert invoke("keys", "generate", "--out", tmp_path / "pusat", "--kind", "site").exit_code == 0
    out = tmp_path / "S1.results.jwe"
    result = invoke("results", "export", files.session, "--out", out, "--summary-only",
                    "--encrypt-to", tmp_path / "pusat" / "site.pub", "--data-dir", files.data_dir)
    assert result.exit_code == 0 and "encrypted to" in result.output
    assert b"R00001" not in out.read_bytes()
    refused = verify(files, out)
    assert refused.exit_code == 2 and "give its key (--decrypt-key)" in refused.output
    opened = verify(files, out, "--decrypt-key", tmp_path / "pusat" / "site.key")
    assert opened.exit_code == 0, opened.output
    wrong = invoke("results", "verify", out, "--site-key", tmp_path / "pusat" / "site.pub",
                   "--decrypt-key", tmp_path / "pusat" / "site.key")
    assert wrong.exit_code == 2 and "--site-key" in wrong.output


def test_export_refuses_while_candidates_work(files, store, tmp_path):
    from cat_engine.services.runtime import BankKey
    from cat_engine.services.site import Site

    site = Site(store, keys=[BankKey(files.passphrase)])
    reg = files.registrations[0]
    cand, _ = site.login(registration=reg, pin=files.pins[reg], token=files.token,
                         terminal="T1")
    site.start(cand)
    result = invoke("results", "export", files.session, "--out", tmp_path / "x",
                    "--data-dir", files.data_dir)
    assert result.exit_code == 2 and "1 candidate(s) still working" in result.output
