"""Signed session results: the file format, its signature and every check a verifier makes.

A results file is UTF-8 text (docs/integrity.md, "Results file"):

* line 1: a JWS compact serialization (RFC 7515; ``alg`` ``Ed25519``, RFC 8037/9864) whose
  payload is the RFC 8785 canonical JSON of the *summary*: the session, the exam definition,
  the bank, the columns of per-candidate results, the chain's final signed head, and the
  SHA-256 of the evidence line (null for a summary-only file);
* line 2 (optional): the canonical JSON of the *evidence*: each candidate's form, answer log
  and full signed receipt.

Summaries hold columns, not one object per candidate, so that a national merge of millions
of candidates checks them with numpy instead of a Python loop. The whole file may instead be
one JWE compact line (ECDH-ES+A256KW with X25519, A256GCM) to the central office's key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from scoring.integrity import heads, receipts
from scoring.integrity.canonical import b64url, canonical, digest, unb64url
from scoring.integrity.chain import Head

TYPE = "cat-engine.results"
JWS_TYPE = "cat-engine.results+jws"
ALG = "Ed25519"
JWE_ALG, JWE_ENC = "ECDH-ES+A256KW", "A256GCM"
#: Per-candidate columns of a summary, besides ``scores`` (one column per section).
COLUMNS = ("registration", "name", "formation", "status", "rule_set", "total", "passed",
           "rank", "tied", "receipt", "answer_log", "form")
#: A file bigger than this is refused before any parsing (a session is far smaller).
MAX_BYTES = 1 << 31


class ResultsError(Exception):
    """A results file that cannot be read, or whose signature fails."""


def _jws_registry() -> jws.JWSRegistry:
    registry = jws.JWSRegistry(algorithms=[ALG])
    registry.max_payload_length = MAX_BYTES  # a session's results are larger than a token
    return registry


def _jwe_registry() -> jwe.JWERegistry:
    registry = jwe.JWERegistry(algorithms=[JWE_ALG, JWE_ENC])
    registry.max_ciphertext_length = MAX_BYTES
    return registry


def answer_log_digest(log: list[list[Any]]) -> str:
    """SHA-256 of ``JCS([[seq, kind, position, value, server_ms], ...])`` in seq order."""
    return digest(log)


def form_digest(form: Mapping[str, Any]) -> str:
    return digest(dict(form))


def write(key: Ed25519PrivateKey, summary: dict[str, Any],
          evidence: dict[str, Any] | None) -> bytes:
    """The file's bytes: the signed summary line and the evidence line."""
    ev = canonical(evidence) if evidence is not None else None
    summary = {**summary, "evidence_sha256": hashlib.sha256(ev).hexdigest() if ev else None}
    from item_bank.keys import fingerprint

    token = jws.serialize_compact(
        {"alg": ALG, "typ": JWS_TYPE, "kid": fingerprint(key)}, canonical(summary),
        OKPKey.import_key(key), registry=_jws_registry())
    return token.encode() + b"\n" + (ev + b"\n" if ev is not None else b"")


def encrypt(content: bytes, recipient: X25519PublicKey) -> bytes:
    token = jwe.encrypt_compact({"alg": JWE_ALG, "enc": JWE_ENC, "cty": JWS_TYPE}, content,
                                OKPKey.import_key(recipient), registry=_jwe_registry())
    return token.encode() + b"\n"


def is_encrypted(first_line: bytes) -> bool:
    return first_line.strip().count(b".") == 4


def decrypt(content: bytes, key: X25519PrivateKey | None) -> bytes:
    if key is None:
        raise ResultsError("the file is encrypted to the central office: give its key "
                           "(--decrypt-key)")
    try:
        return jwe.decrypt_compact(content.strip(), OKPKey.import_key(key),
                                   registry=_jwe_registry()).plaintext or b""
    except (JoseError, ValueError) as exc:
        raise ResultsError(f"cannot decrypt: {exc} (a key other than the one the file "
                           f"was encrypted to?)") from None


@dataclass
class Opened:
    summary: dict[str, Any]
    evidence: bytes | None


def open_summary(first_line: bytes, public: Ed25519PublicKey) -> dict[str, Any]:
    """Check the JWS signature with the site's key and return the summary."""
    token = first_line.strip()
    if token.count(b".") != 2:
        raise ResultsError("line 1 is not a JWS compact serialization")
    try:
        header = json.loads(unb64url(token.split(b".", 1)[0].decode()))
    except (ValueError, UnicodeDecodeError):
        raise ResultsError("line 1: the JWS header is not JSON") from None
    if header.get("alg") != ALG or header.get("typ") != JWS_TYPE:
        raise ResultsError(f"line 1: expected alg {ALG} and typ {JWS_TYPE}, found "
                           f"{header.get('alg')!r} and {header.get('typ')!r}")
    try:
        signed = jws.deserialize_compact(token, OKPKey.import_key(public),
                                         registry=_jws_registry())
    except JoseError as exc:
        from item_bank.keys import fingerprint

        raise ResultsError(f"the signature does not verify with site key "
                           f"{fingerprint(public)} (signed by {header.get('kid')}): "
                           f"{exc.error}") from None
    try:
        # orjson: a national merge parses gigabytes of these, three times faster than json
        summary = orjson.loads(signed.payload)
    except ValueError:
        raise ResultsError("the signed summary is not JSON") from None
    if not isinstance(summary, dict) or summary.get("type") != TYPE:
        raise ResultsError(f"the signed payload is not a {TYPE} document")
    return summary


def open_file(content: bytes, public: Ed25519PublicKey,
              decrypt_key: X25519PrivateKey | None = None) -> Opened:
    first, _, rest = content.partition(b"\n")
    if is_encrypted(first):
        content = decrypt(first, decrypt_key)
        first, _, rest = content.partition(b"\n")
    summary = open_summary(first, public)
    evidence = rest.strip() or None
    expected = summary.get("evidence_sha256")
    if expected is None and evidence is not None:
        raise ResultsError("line 2: evidence follows a summary that names none")
    if expected is not None:
        if evidence is None:
            raise ResultsError("line 2: the evidence the summary names is missing")
        if hashlib.sha256(evidence).hexdigest() != expected:
            raise ResultsError("line 2: the evidence does not match the SHA-256 in the "
                               "signed summary: it was changed")
    return Opened(summary, evidence)


# -- checks ---------------------------------------------------------------------------------


def columns(summary: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The summary's per-candidate columns as numpy arrays (and the section scores)."""
    cands = summary["candidates"]
    n = len(cands["registration"])
    out = {}
    for name in COLUMNS:
        values = cands.get(name)
        if not isinstance(values, list) or len(values) != n:
            raise ResultsError(f"candidates.{name}: expected a list of {n} values")
        out[name] = values
    scores = {}
    for section in summary["sections"]:
        values = cands["scores"].get(section)
        if not isinstance(values, list) or len(values) != n:
            raise ResultsError(f"candidates.scores.{section}: expected a list of {n} numbers")
        scores[section] = np.asarray(values, dtype=np.float64)
    cols = {
        "registration": np.asarray(out["registration"], dtype=object),
        "name": np.asarray(out["name"], dtype=object),
        "formation": np.asarray(out["formation"], dtype=object),
        "status": np.asarray(out["status"], dtype=object),
        "rule_set": np.asarray(out["rule_set"], dtype=object),
        "total": np.asarray(out["total"], dtype=np.float64),
        "passed": np.asarray(out["passed"], dtype=bool),
        "rank": np.asarray([0 if r is None else r for r in out["rank"]], dtype=np.int64),
        "tied": np.asarray(out["tied"], dtype=bool),
        "receipt": np.asarray(out["receipt"], dtype=object),
        "answer_log": np.asarray(out["answer_log"], dtype=object),
        "form": np.asarray(out["form"], dtype=object),
    }
    return cols, scores


def _where(cols, index) -> str:
    return f"candidate {cols['registration'][index]}"


def consistency_problems(summary: Mapping[str, Any], exam, public: Ed25519PublicKey,
                         cols_scores: tuple | None = None) -> list[str]:
    """Totals, pass flags under each rule set, ranks and ties, and the chain head: checked
    for all candidates at once (on ``cols_scores``, the summary's :func:`columns`, when the
    caller has them already)."""
    from scoring.results import passed_columns, rank_columns, rank_key_columns, totals_columns

    problems: list[str] = []
    try:
        cols, scores = cols_scores or columns(summary)
    except (KeyError, TypeError, ValueError) as exc:
        return [f"the summary's candidate columns are malformed: {exc}"]
    if list(summary["sections"]) != list(exam.section_ids):
        return [f"sections {summary['sections']} are not the exam's {list(exam.section_ids)}"]
    regs = cols["registration"]
    if len(set(regs.tolist())) != len(regs):
        seen, dup = set(), None
        for r in regs.tolist():
            if r in seen:
                dup = r
                break
            seen.add(r)
        problems.append(f"registration {dup} appears twice")
    final = cols["status"] == "finished"
    total = totals_columns([scores[s] for s in exam.section_ids])
    for i in np.flatnonzero(np.abs(total - cols["total"]) > 1e-9)[:5]:
        problems.append(f"{_where(cols, i)}: total {cols['total'][i]} is not the sum of the "
                        f"section scores ({total[i]})")
    expected_pass = np.zeros(len(regs), dtype=bool)
    for rule in set(cols["rule_set"].tolist()):
        mask = cols["rule_set"] == rule
        try:
            expected_pass[mask] = passed_columns(
                exam, rule, {s: scores[s][mask] for s in exam.section_ids})
        except Exception as exc:  # an unknown rule set name
            problems.append(f"rule set {rule!r}: {exc}")
    expected_pass &= final
    for i in np.flatnonzero(expected_pass != cols["passed"])[:5]:
        problems.append(f"{_where(cols, i)}: passed is {bool(cols['passed'][i])} but rule set "
                        f"{cols['rule_set'][i]} gives {bool(expected_pass[i])}")
    ranked = np.flatnonzero(final)
    keys = [k[ranked] for k in rank_key_columns(exam, scores, cols["total"])]
    ranking = rank_columns(keys, expected_pass[ranked] if exam.ranking.passed_first else None)
    expected_rank = np.zeros(len(regs), dtype=np.int64)
    expected_tied = np.zeros(len(regs), dtype=bool)
    expected_rank[ranked] = ranking.ranks
    expected_tied[ranked] = ranking.tied
    for i in np.flatnonzero((expected_rank != cols["rank"]) | (expected_tied != cols["tied"]))[:5]:
        problems.append(f"{_where(cols, i)}: rank {cols['rank'][i] or None} (tied "
                        f"{bool(cols['tied'][i])}) but the exam's tie-breaks give "
                        f"{expected_rank[i] or None} (tied {bool(expected_tied[i])})")
    missing = np.flatnonzero(final & (cols["receipt"] == None))  # noqa: E711 (numpy)
    for i in missing[:5]:
        problems.append(f"{_where(cols, i)}: finished without a receipt")
    problems += head_problems(summary, public)
    return problems


def head_problems(summary: Mapping[str, Any], public: Ed25519PublicKey) -> list[str]:
    chain = summary.get("chain") or {}
    try:
        head = Head(chain=int(chain["chain"]), seq=int(chain["seq"]), hash=str(chain["hash"]),
                    at_ms=int(chain["signed_ms"]))
    except (KeyError, TypeError, ValueError):
        return ["the summary has no signed chain head"]
    if not heads.verify(public, head, str(chain.get("signature", ""))):
        return ["the chain's final head: signature does not verify with the site key"]
    return []


def evidence_problems(summary: Mapping[str, Any], evidence: bytes,
                      public: Ed25519PublicKey) -> list[str]:
    """Each candidate's answer log, form and receipt against the summary."""
    try:
        records = json.loads(evidence)["candidates"]
    except (ValueError, KeyError, TypeError):
        return ["line 2: the evidence is not a JSON object with candidates"]
    cols, scores = columns(summary)
    row = {r: i for i, r in enumerate(cols["registration"].tolist())}
    chain = summary.get("chain") or {}
    problems: list[str] = []
    if len(records) != len(row):
        problems.append(f"the evidence has {len(records)} candidates, the summary {len(row)}")
    for rec in records:
        reg = rec.get("registration")
        i = row.get(reg)
        if i is None:
            problems.append(f"evidence candidate {reg}: not in the summary")
            continue
        where = f"candidate {reg}"
        if answer_log_digest(rec["answer_log"]) != cols["answer_log"][i]:
            problems.append(f"{where}: the answer log does not match its digest")
        if form_digest(rec["form"]) != cols["form"][i]:
            problems.append(f"{where}: the form does not match its digest")
        receipt = rec.get("receipt")
        if receipt is None:
            if cols["receipt"][i] is not None:
                problems.append(f"{where}: the receipt {cols['receipt'][i]} is missing")
            continue
        problems += [f"{where}: receipt {p}" for p in receipts.problems(public, receipt)]
        body = receipt["payload"]
        expected = {
            "code": cols["receipt"][i], "registration": reg,
            "total": float(cols["total"][i]), "passed": bool(cols["passed"][i]),
            "scores": {s: float(scores[s][i]) for s in summary["sections"]},
            "answers": receipts.answers_digest(final_answers(rec["form"], rec["answer_log"])),
            "chain": chain.get("chain"),
        }
        actual = {**body, "code": receipt.get("code")}
        for field, value in expected.items():
            if actual.get(field) != value:
                problems.append(f"{where}: the result's {field} ({value}) is not what the "
                                f"receipt {receipt.get('code')} holds ({actual.get(field)}): "
                                f"changed after the room")
        if body.get("chain_seq", 0) > chain.get("seq", 0):
            problems.append(f"{where}: the receipt is newer than the chain's final head")
    return problems


def final_answers(form: Mapping[str, Any], log: list[list[Any]]) -> list[tuple[str, int | None]]:
    """(item id, authored option number or None) per position, from the answer log."""
    items = form["items"]
    shown: list[int | None] = [None] * len(items)
    for _seq, kind, position, value, _ms in sorted(log, key=lambda e: e[0]):
        if kind == "answer" and position is not None and 0 <= position < len(items):
            shown[position] = value
    return [(item, None if s is None else order[s])
            for (item, _section, order), s in zip(items, shown, strict=True)]


def rescore_problems(summary: Mapping[str, Any], evidence: bytes, exam, items) -> list[str]:
    """Score every candidate again from their form and answer log with the bank's keys."""
    from scoring.forms import Form
    from scoring.rules import build_score_key, rescore

    records = json.loads(evidence)["candidates"]
    cols, scores = columns(summary)
    row = {r: i for i, r in enumerate(cols["registration"].tolist())}
    problems = []
    if any(s.adaptive is not None for s in exam.sections):
        return ["adaptive sections are not re-scored from the log by this verifier"]
    for rec in records:
        i = row.get(rec["registration"])
        if i is None or cols["status"][i] != "finished":
            continue
        form = Form.from_dict(rec["form"])
        shown = [None] * len(form)
        for _seq, kind, position, value, _ms in sorted(rec["answer_log"], key=lambda e: e[0]):
            if kind == "answer" and position is not None and 0 <= position < len(form):
                shown[position] = value
        try:
            key = build_score_key(exam, form, {iid: items(iid) for iid in form.item_ids})
        except Exception as exc:
            problems.append(f"candidate {rec['registration']}: cannot score with this bank: "
                            f"{exc}")
            continue
        again = rescore(key, shown)
        for section, value in again.section_scores.items():
            if abs(value - scores[section][i]) > 1e-9:
                problems.append(f"candidate {rec['registration']}: {section} re-scored from "
                                f"the answer log is {value}, the file says "
                                f"{scores[section][i]}")
    return problems


def public_key_b64(public: Ed25519PublicKey) -> str:
    from item_bank.keys import public_bytes

    return b64url(public_bytes(public))
