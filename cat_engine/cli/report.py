"""``cat-engine report``: a session's item-analysis report as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import KeySource, fail, key_options, session_and_bank, store_options


@click.command()
@click.argument("session_name", metavar="SESSION")
@click.option("--out", "out_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The HTML file to write.")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True,
              help="Language of the report's labels.")
@key_options
@store_options
def report(session_name: str, out_path: Path, lang: str, keys: KeySource, data_dir: Path,
           database_url: str | None) -> None:
    """Write the item analysis of SESSION (name or id) to --out: score histograms per
    section, item statistics and flags, ICCs of flagged items, the test information of
    adaptive sections, exposure rates and the collusion check.

    The bank's key is needed (answer keys are inside the encrypted bank).
    """
    from cat_engine.services.reports import ReportError, session_report
    from scoring.forms import FormError

    with session_and_bank(session_name, keys, data_dir, database_url,
                          purpose="the report") as (store, session, bank):
        try:
            html = session_report(store, session.id, bank, lang=lang)
        except (ReportError, FormError) as exc:
            fail(str(exc))
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(out_path)
    except OSError as exc:
        fail(f"{out_path}: cannot be written ({exc.strerror})")
    click.echo(f"wrote {out_path} ({len(html) // 1024} KiB)")
