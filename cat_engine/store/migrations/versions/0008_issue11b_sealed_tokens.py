"""Session tokens no longer kept in clear (issue 11b): a keyed digest for the login lookup and
the token sealed under the site secret (cat_engine.site_secret). Existing rows are converted
here, with the data directory's secret, which every entry point loads before it opens the
database; PIN hashes need no conversion (older forms still verify).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from cat_engine import site_secret

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("token_digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("token_sealed", sa.String(200), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, token FROM sessions")).all()
    if rows and not site_secret.loaded():
        raise site_secret.SecretMissing(
            "sealing the existing session tokens needs the site secret: open the database "
            "through its data directory (cat-engine --data-dir ...)")
    for session_id, token in rows:
        bind.execute(sa.text("UPDATE sessions SET token_digest = :d, token_sealed = :s "
                             "WHERE id = :i"),
                     {"d": site_secret.token_digest(token), "s": site_secret.seal_token(token),
                      "i": session_id})
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("token_digest", existing_type=sa.String(64), nullable=False)
        batch.alter_column("token_sealed", existing_type=sa.String(200), nullable=False)
        batch.drop_column("token")
        batch.create_index("ix_sessions_token_digest", ["token_digest"])


def downgrade() -> None:
    raise NotImplementedError("session tokens cannot be put back in clear")
