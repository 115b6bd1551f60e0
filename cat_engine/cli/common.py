"""What every subcommand shares: how errors are reported and how keys are given."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
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
