"""The audit log proves itself: one hash chain per session holding every answer event, and
`cat-engine audit verify` names the first entry each kind of tampering breaks."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select, text

from cat_engine.cli import cli
from cat_engine.store import audit
from cat_engine.store.models import AuditEntry
from tests.integrity.conftest import run_session


def _verify(files) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(files.data_dir)])
    return result.exit_code, result.output


def _actions(store, chain):
    with store.read() as db:
        return db.execute(select(AuditEntry.seq, AuditEntry.action, AuditEntry.candidate_id)
                          .where(AuditEntry.chain == chain).order_by(AuditEntry.seq)).all()


def test_one_chain_per_session_holds_every_answer_event(files, store):
    run_session(files, store)
    with store.read() as db:
        session_id = db.scalar(text("SELECT id FROM sessions"))
        assert audit.verify(db) == []
    rows = _actions(store, session_id)
    assert [seq for seq, _, _ in rows] == list(range(1, len(rows) + 1))
    per_candidate = {}
    for _, action, cid in rows:
        per_candidate.setdefault(cid, []).append(action)
    candidate_actions = [a for cid, acts in per_candidate.items() if cid for a in acts]
    assert candidate_actions.count("answer") == 12 and candidate_actions.count("flag") == 3
    assert candidate_actions.count("shown") == 12 and candidate_actions.count("finish") == 3
    assert candidate_actions.count("receipt") == 3
    first = next(acts for cid, acts in per_candidate.items() if cid)
    assert first[:2] == ["login", "start"] and first[-2:] == ["finish", "receipt"]
    assert {"session_create", "roster_import", "session_open", "bank_opened"} <= set(
        per_candidate[None])
    code, out = _verify(files)
    assert code == 0 and out.startswith(f"audit log intact: 1 chains, {len(rows)} entries")


def _tamper(store, *statements):
    with store.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _answer_entry(store, nth=3):
    with store.read() as db:
        return db.execute(select(AuditEntry.id, AuditEntry.chain, AuditEntry.seq)
                          .where(AuditEntry.action == "answer")
                          .order_by(AuditEntry.id).offset(nth).limit(1)).one()


def test_edit_is_named(files, store):
    run_session(files, store)
    row, chain, seq = _answer_entry(store)
    _tamper(store, f"UPDATE audit_log SET detail = '{{\"seq\": 1, \"position\": 0, "
                   f"\"value\": 3}}' WHERE id = {row}")
    code, out = _verify(files)
    assert code == 2
    assert f"chain {chain} entry seq {seq} (row {row}, answer): content does not match" in out


def test_deletion_is_named(files, store):
    run_session(files, store)
    row, chain, seq = _answer_entry(store)
    _tamper(store, f"DELETE FROM audit_log WHERE id = {row}")
    code, out = _verify(files)
    assert code == 2
    assert f"chain {chain} entry seq {seq + 1} " in out and "deleted" in out


def test_insertion_is_named(files, store):
    run_session(files, store)
    row, chain, seq = _answer_entry(store)
    # A forged entry squeezed in after seq: later entries move up one, as a forger must.
    _tamper(store,
            f"UPDATE audit_log SET seq = -seq WHERE chain = {chain} AND seq > {seq}",
            f"UPDATE audit_log SET seq = 1 - seq WHERE chain = {chain} AND seq < 0",
            f"INSERT INTO audit_log (chain, seq, at_ms, actor, action, session_id, "
            f"candidate_id, detail, prev_hash, hash) SELECT chain, seq + 1, at_ms, actor, "
            f"'incident', session_id, candidate_id, '{{}}', hash, hash FROM audit_log "
            f"WHERE id = {row}")
    code, out = _verify(files)
    assert code == 2 and f"chain {chain} entry seq {seq + 1} " in out and "incident" in out


def test_reordering_is_named(files, store):
    run_session(files, store)
    _row, chain, seq = _answer_entry(store)
    _tamper(store,
            f"UPDATE audit_log SET seq = -1 WHERE chain = {chain} AND seq = {seq}",
            f"UPDATE audit_log SET seq = {seq} WHERE chain = {chain} AND seq = {seq + 1}",
            f"UPDATE audit_log SET seq = {seq + 1} WHERE chain = {chain} AND seq = -1")
    code, out = _verify(files)
    assert code == 2
    assert f"chain {chain} entry seq {seq} " in out and "does not follow" in out


def test_changed_answer_row_is_caught(files, store):
    run_session(files, store)
    with store.read() as db:
        event = db.execute(text("SELECT id, value FROM answer_events WHERE kind = 'answer' "
                                "ORDER BY id LIMIT 1")).one()
    _tamper(store, f"UPDATE answer_events SET value = {(event.value + 1) % 4} "
                   f"WHERE id = {event.id}")
    code, out = _verify(files)
    assert code == 2 and f"answer row {event.id} " in out and "the answer was changed" in out
    _tamper(store, f"DELETE FROM answer_events WHERE id = {event.id}")
    code, out = _verify(files)
    assert code == 2 and "its answer row is missing: deleted" in out


def _close_signed(files, store):
    from cat_engine.services import anchors, sessions

    key = anchors.site_key(files.data_dir)
    sessions.set_state(store, files.session, "closed", signing_key=key)
    with store.read() as db:
        return db.scalar(text("SELECT id FROM sessions"))


def _recompute_from(store, chain, seq):
    """What a forger with database access does: re-hash every entry from ``seq`` on."""
    from scoring.integrity.chain import entry_hash

    with store.engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT id, seq, at_ms, actor, action, candidate_id, detail FROM audit_log "
            "WHERE chain = :c ORDER BY seq"), {"c": chain}).all()
        prev = "0" * 64
        for r in rows:
            detail = r.detail if isinstance(r.detail, dict) else __import__("json").loads(r.detail)
            digest = entry_hash(chain=chain, seq=r.seq, prev=prev, at_ms=r.at_ms, actor=r.actor,
                                action=r.action, candidate=r.candidate_id, detail=detail)
            if r.seq >= seq:
                conn.execute(text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :i"),
                             {"p": prev, "h": digest, "i": r.id})
            prev = digest


def test_truncation_is_caught_by_the_signed_close_head(files, store):
    run_session(files, store)
    chain = _close_signed(files, store)
    assert _verify(files)[0] == 0
    _tamper(store, f"DELETE FROM audit_log WHERE chain = {chain} AND seq > "
                   f"(SELECT max(seq) - 3 FROM audit_log WHERE chain = {chain})")
    code, out = _verify(files)
    assert code == 2 and "the log was truncated" in out


def test_recomputed_chain_is_caught_by_signed_heads_and_by_a_photographed_anchor(files, store):
    from cat_engine.services import anchors

    run_session(files, store)
    chain = _close_signed(files, store)
    head = anchors.latest(store, chain)
    anchor = f"{files.session}#{head.seq}:{head.fingerprint}"
    code, out = _verify(files)
    assert code == 0, out
    assert CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(files.data_dir),
                                    "--anchor", anchor]).exit_code == 0
    row, _, seq = _answer_entry(store)
    _tamper(store, f"UPDATE audit_log SET detail = '{{\"seq\": 1, \"position\": 0, "
                   f"\"value\": 3}}' WHERE id = {row}")
    _recompute_from(store, chain, seq)
    code, out = _verify(files)
    assert code == 2
    # The chain is consistent in itself; only the signed head shows it was rewritten.
    assert "content does not match" not in out and "rewritten (recomputed)" in out
    # A forger who also re-signs nothing but rewrites the heads table is caught by the key...
    _tamper(store, f"UPDATE audit_heads SET hash = (SELECT hash FROM audit_log WHERE "
                   f"chain = {chain} AND seq = audit_heads.seq) WHERE chain = {chain}")
    code, out = _verify(files)
    assert code == 2 and "signature does not verify" in out
    # ...and one who deletes the heads, by the fingerprint photographed off the display.
    _tamper(store, "DELETE FROM audit_heads")
    result = CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(files.data_dir),
                                      "--anchor", anchor])
    assert result.exit_code == 2 and "rewritten (recomputed)" in result.output
    bad = CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(files.data_dir),
                                   "--anchor", "nonsense"])
    assert bad.exit_code == 2 and "expected SESSION#SEQ:FINGERPRINT" in bad.output


def test_two_writers_on_one_chain_stay_one_chain(files):
    """A head cached by one process's group commit goes stale when another process appends
    to the same chain: the unique (chain, seq) refuses the stale write, which is retried."""
    from cat_engine.store import Rows, Store

    one, two = Store(files.database_url), Store(files.database_url)
    try:
        with one.read() as db:
            session_id = db.scalar(text("SELECT id FROM sessions"))

        def entry(store, n):
            store.write(Rows(audit.deferred(at_ms=n, actor="proctor", action="incident",
                                            session_id=session_id, candidate_id=None,
                                            detail={"n": n})))

        for n in range(6):
            entry(one if n % 2 else two, n)
        with one.transaction() as db:  # a direct transaction beside the group commit
            audit.append(db, at_ms=7, actor="cli", action="release", session_id=session_id)
        entry(one, 8)
        with one.read() as db:
            assert audit.verify(db) == []
            seqs = db.scalars(select(AuditEntry.seq).where(AuditEntry.chain == session_id)
                              .order_by(AuditEntry.seq)).all()
        assert seqs == list(range(1, len(seqs) + 1))
    finally:
        one.close()
        two.close()
