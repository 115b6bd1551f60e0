"""Genuine signed results files of made-up sessions, for the merge's benchmark and tests.

Each is what a site exports (scoring.integrity.results): signed by the site's key, its
totals, pass flags, ranks and ties computed as a site computes them, so a merge verifies it.
Scores are SKD-like (TWK and TIU binomial multiples of 5, TKP around 165), a few percent
absent or disqualified.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def sample_file(key: Ed25519PrivateKey, index: int, n: int,
                formations: Sequence[tuple[str, str]], *, names: Sequence[str] | None = None,
                registration_prefix: str = "", seed: int | None = None) -> bytes:
    """A summary-only results file of session ``S{index:04d}`` with ``n`` candidates, each in
    one of ``formations`` ((code, rule set) pairs) at random; ``names`` cycle if given."""
    from item_bank import keys as keyfiles
    from scoring.exam import exam_to_toml, load_exam
    from scoring.integrity import heads, results
    from scoring.integrity.chain import Head
    from scoring.results import passed_columns, rank_columns, rank_key_columns, totals_columns

    exam = load_exam("skd")
    rng = np.random.default_rng(1000 + index if seed is None else seed)
    pick = rng.integers(0, len(formations), n)
    formation = [formations[p][0] for p in pick.tolist()]
    rule = np.asarray([formations[p][1] for p in pick.tolist()], dtype=object)
    scores = {"TWK": 5.0 * rng.binomial(30, 0.55, n), "TIU": 5.0 * rng.binomial(35, 0.5, n),
              "TKP": np.clip(np.round(rng.normal(165, 14, n)), 45, 225)}
    status = rng.choice(np.asarray(["finished", "absent", "disqualified"], dtype=object), n,
                        p=[0.98, 0.015, 0.005])
    final = status == "finished"
    total = totals_columns([scores[s] for s in exam.section_ids])
    passed = np.zeros(n, dtype=bool)
    for r in set(rule.tolist()):
        mask = rule == r
        passed[mask] = passed_columns(exam, r, {s: v[mask] for s, v in scores.items()})
    passed &= final
    ranked = np.flatnonzero(final)
    ranking = rank_columns([k[ranked] for k in rank_key_columns(exam, scores, total)],
                           passed[ranked])
    rank = np.zeros(n, dtype=np.int64)
    tied = np.zeros(n, dtype=bool)
    rank[ranked], tied[ranked] = ranking.ranks, ranking.tied
    alphabet = np.asarray(list("0123456789ABCDEF"))
    codes = ["-".join("".join(row[i:i + 4]) for i in range(0, 20, 4))
             for row in alphabet[rng.integers(0, 16, (n, 20))].tolist()]
    digest = "ab" * 32
    head = Head(chain=1, seq=n * 120, hash=f"{index:064x}", at_ms=1_790_000_000_000)
    summary = {
        "type": results.TYPE, "v": 1,
        "site": {"fingerprint": keyfiles.fingerprint(key),
                 "key": results.public_key_b64(key.public_key())},
        "session": {"name": f"S{index:04d}", "date": "2026-11-28", "time": "08:00",
                    "room": "R1", "seed": f"{index:032x}"},
        "exam": {"name": "skd", "definition": exam_to_toml(exam)},
        "bank": {"bank_id": "skd-2026", "version": "1", "content_sha256": "cd" * 32},
        "exported_ms": 1_790_000_000_000, "sections": list(exam.section_ids),
        "candidates": {
            "registration": [f"{registration_prefix}{index:04d}{i:012d}" for i in range(n)],
            "name": ([names[i % len(names)] for i in range(n)] if names
                     else [f"Peserta {index}-{i}" for i in range(n)]),
            "formation": formation, "status": status.tolist(), "rule_set": rule.tolist(),
            "total": total.tolist(), "passed": passed.tolist(),
            "rank": [int(r) if r else None for r in rank.tolist()], "tied": tied.tolist(),
            "receipt": [c if f else None for c, f in zip(codes, final.tolist(), strict=True)],
            "answer_log": [digest] * n, "form": [digest] * n,
            "scores": {s: v.tolist() for s, v in scores.items()}},
        "chain": {"chain": head.chain, "seq": head.seq, "hash": head.hash,
                  "signed_ms": head.at_ms, "signature": heads.sign(key, head)},
    }
    return results.write(key, summary, None)
