"""``cat-engine db``: the site database's schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from cat_engine.cli.common import KeySource, fail


def store_options(func):
    """``--data-dir`` and ``--database-url``, shared by the commands that open the store."""
    func = click.option("--database-url", help="Any SQLAlchemy URL (default: SQLite in "
                        "the data directory).")(func)
    func = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                        default=Path("cat-engine-data"), show_default=True,
                        help="The site's data directory (its SQLite database, secrets and "
                             "demo files), as given to 'cat-engine serve'.")(func)
    return func


def open_store(data_dir: Path, database_url: str | None, *, upgrade: bool = True):
    from cat_engine import site_secret
    from cat_engine.config import sqlite_url
    from cat_engine.store import Store

    if database_url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        database_url = sqlite_url(data_dir.resolve())
    try:
        site_secret.load(data_dir)
        return Store(database_url, upgrade=upgrade)
    except Exception as exc:
        fail(f"cannot open the database {database_url}: {exc}")


@contextmanager
def session_and_bank(session_name: str, keys: KeySource, data_dir: Path,
                     database_url: str | None, *, purpose: str) -> Iterator[tuple[Any, Any, Any]]:
    """(store, session row, opened bank) of SESSION (name or id), for commands that read a
    session's answers with the bank's key; closes the store after. Fails with one clear line
    on a missing data directory, key, session or bank."""
    from cat_engine.services.sessions import SetupError, find_session
    from cat_engine.store.models import Bank
    from item_bank.catbank import open_bank
    from item_bank.errors import BankError

    if database_url is None and not data_dir.is_dir():
        fail(f"no data directory {data_dir} (give --data-dir of the test site)")
    if not keys.given:
        fail(f"{purpose} needs the bank's key: --passphrase-env VAR or --key SITE.key")
    store = open_store(data_dir, database_url)
    try:
        try:
            session = find_session(store, session_name)
        except SetupError as exc:
            fail(str(exc))
        with store.read() as db:
            bank_path = db.get(Bank, session.bank_id).path
        try:
            bank = open_bank(bank_path, passphrase=keys.passphrase, site_key=keys.site_key_path)
        except BankError as exc:
            fail(f"bank {bank_path}: {exc}")
        except OSError as exc:
            fail(f"bank {bank_path}: cannot be read ({exc.strerror})")
        yield store, session, bank
    finally:
        store.close()


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
