"""``cat-engine db``: the site database's schema."""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import open_store, store_options


@click.group()
def db() -> None:
    """The site database."""


@db.command()
@store_options
def upgrade(data_dir: Path, database_url: str | None) -> None:
    """Bring the database schema to this version (the server also does it on start)."""
    from cat_engine.store import migrate

    store = open_store(data_dir, database_url, upgrade=False)
    before = migrate.current_revision(store.engine)
    after = migrate.upgrade(store.engine)
    click.echo(f"database at revision {after}" + ("" if before == after else
                                                    f" (was {before or 'empty'})"))


@db.command("verify-audit")
@store_options
def verify_audit(data_dir: Path, database_url: str | None) -> None:
    """The old name of ``cat-engine audit verify``."""
    from cat_engine.cli.audit import run_verify

    run_verify(data_dir, database_url)
