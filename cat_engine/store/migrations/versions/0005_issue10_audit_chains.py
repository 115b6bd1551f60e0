"""Issue 10: one audit hash chain per session (chain, seq), and the signed heads table.

The old log was one global chain, which every process raced for. Its entries move, in their
order, into their session's chain (chain 0: entries of no session) and are hashed again in the
new form (scoring.integrity.chain, version 1). The formula is frozen here so that later changes to
live code cannot change what this migration wrote.

Revision ID: 0005
Revises: 0004
"""

import hashlib

import rfc8785
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _hash(chain, seq, prev, at_ms, actor, action, candidate, detail) -> str:
    return hashlib.sha256(rfc8785.dumps({
        "v": 1, "chain": chain, "seq": seq, "prev": prev, "at_ms": at_ms, "actor": actor,
        "action": action, "candidate": candidate, "detail": detail})).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    new = op.create_table(
        "audit_log_v2",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("candidate_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),
    )
    old = sa.table("audit_log", sa.column("id"), sa.column("at_ms"), sa.column("actor"),
                   sa.column("action"), sa.column("session_id"), sa.column("candidate_id"),
                   sa.column("detail", sa.JSON()))
    heads: dict[int, tuple[int, str]] = {}
    rows = []
    for r in bind.execute(sa.select(old).order_by(old.c.id)):
        chain = r.session_id or 0
        seq, prev = heads.get(chain, (0, GENESIS))
        seq += 1
        detail = r.detail or {}
        digest = _hash(chain, seq, prev, r.at_ms, r.actor, r.action, r.candidate_id, detail)
        heads[chain] = (seq, digest)
        rows.append({"id": r.id, "chain": chain, "seq": seq, "at_ms": r.at_ms,
                     "actor": r.actor, "action": r.action, "session_id": r.session_id,
                     "candidate_id": r.candidate_id, "detail": detail, "prev_hash": prev,
                     "hash": digest})
    if rows:
        op.bulk_insert(new, rows)
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_session")
    op.drop_table("audit_log")
    op.rename_table("audit_log_v2", "audit_log")
    op.create_index("ix_audit_session", "audit_log", ["session_id"])
    if bind.dialect.name == "postgresql" and rows:
        # The copied ids came with their values: move the id sequence past them.
        op.execute("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), "
                   "(SELECT max(id) FROM audit_log))")
    op.create_table(
        "audit_heads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signed_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_heads_chain", "audit_heads", ["chain", "seq"])


def downgrade() -> None:
    raise NotImplementedError("the per-session audit chains cannot be folded back into one "
                              "global chain without rewriting every hash; restore a backup")
