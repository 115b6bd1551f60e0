"""What every subcommand shares: how errors are reported and how keys are given."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

#: Exit code for "the input was wrong" (bad file, failed check, wrong key).
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one clear message on stderr and exit; never a traceback."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


@dataclass(frozen=True)
class KeySource:
    """How the operator unlocks a bank: a passphrase from the environment and/or a site key."""

    passphrase: str | None = None
    site_key_path: Path | None = None

    @property
    def given(self) -> bool:
        return self.passphrase is not None or self.site_key_path is not None


def key_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--passphrase-env VAR`` and ``--key SITE.key``; pass a ``keys: KeySource``."""

    @click.option(
        "--passphrase-env",
        "passphrase_env",
        metavar="VAR",
        help="Name of the environment variable holding the bank passphrase.",
    )
    @click.option(
        "--key",
        "site_key",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The test site's private key file (from 'cat-engine keys generate').",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, passphrase_env: str | None, site_key: Path | None, **kwargs: Any):
        passphrase = None
        if passphrase_env:
            passphrase = os.environ.get(passphrase_env)
            if passphrase is None:
                fail(f"environment variable {passphrase_env} is not set")
            if not passphrase:
                fail(f"environment variable {passphrase_env} is empty")
        return func(*args, keys=KeySource(passphrase, site_key), **kwargs)

    return wrapper


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
