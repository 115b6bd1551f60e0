"""``cat-engine results export-qti``: a session's results as QTI 3.0 Results Reporting."""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import KeySource, fail, key_options
from cat_engine.cli.db import open_store, store_options


@click.command("export-qti")
@click.argument("session_name", metavar="SESSION")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write, one assessmentResult-<registration>.xml per candidate "
                   "(replaced whole if it exists).")
@key_options
@store_options
def export_qti(session_name: str, out_dir: Path, keys: KeySource, data_dir: Path,
               database_url: str | None) -> None:
    """Write the results of SESSION (name or id) as IMS QTI 3.0 Results Reporting documents:
    per candidate an assessmentResult with every item given (the response, the key, the
    points) and, once the candidate finished, the scores and the pass/fail outcome.

    The bank's key is needed (answer keys are inside the encrypted bank).
    """
    from cat_engine.services.qti_results import export_session
    from cat_engine.services.reports import ReportError
    from cat_engine.services.sessions import SetupError, find_session
    from cat_engine.store.models import Bank
    from item_bank.catbank import open_bank
    from item_bank.errors import BankError
    from scoring.forms import FormError

    if database_url is None and not data_dir.is_dir():
        fail(f"no data directory {data_dir} (give --data-dir of the test site)")
    if not keys.given:
        fail("the export needs the bank's key: --passphrase-env VAR or --key SITE.key")
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
        try:
            written = export_session(store, session.id, bank, out_dir)
        except (ReportError, FormError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{out_dir}: cannot be written ({exc.strerror})")
    finally:
        store.close()
    click.echo(f"wrote {len(written)} assessmentResult file(s) to {out_dir}")
