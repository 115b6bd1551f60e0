"""Timed blocks: each clock's current block and its start and end in worked time
(docs/operations.md, "the clock").

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing clocks are in their first block, which ends at allowed_ms (block_end_ms NULL):
    # exactly the single deadline they had.
    with op.batch_alter_table("clocks") as batch:
        batch.add_column(sa.Column("block", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("block_start_ms", sa.BigInteger(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("block_end_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clocks") as batch:
        batch.drop_column("block_end_ms")
        batch.drop_column("block_start_ms")
        batch.drop_column("block")
