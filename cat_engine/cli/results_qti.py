"""``cat-engine results export-qti``: a session's results as QTI 3.0 Results Reporting."""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import KeySource, fail, key_options, session_and_bank, store_options


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
    from cat_engine.services.sheets import ReportError
    from scoring.forms import FormError

    with session_and_bank(session_name, keys, data_dir, database_url,
                          purpose="the export") as (store, session, bank):
        try:
            written = export_session(store, session.id, bank, out_dir)
        except (ReportError, FormError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{out_dir}: cannot be written ({exc.strerror})")
    click.echo(f"wrote {len(written)} assessmentResult file(s) to {out_dir}")
