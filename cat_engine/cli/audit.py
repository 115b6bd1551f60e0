"""``cat-engine audit``: check the site's audit log (one hash chain per session)."""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import fail
from cat_engine.cli.db import open_store, store_options


def run_verify(data_dir: Path, database_url: str | None) -> None:
    from cat_engine.store import audit

    store = open_store(data_dir, database_url)
    try:
        with store.read() as session:
            problems = audit.verify(session)
    finally:
        store.close()
    if problems:
        fail("the audit log was tampered with; first failing entry first:\n"
             + "\n".join(problems))
    click.echo("audit log intact")


@click.group()
def audit() -> None:
    """The audit log: every state change of every session, hash-chained per session."""


@audit.command("verify")
@store_options
def verify(data_dir: Path, database_url: str | None) -> None:
    """Check every session's chain and the answer rows against it; exit 2 on any break,
    naming the first entry that fails and why."""
    run_verify(data_dir, database_url)
