"""``cat-engine responses export``: a site's live responses out, for calibrate, analyze,
score and the cheating analysis."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click

from cat_engine.cli.common import KeySource, fail, key_options, session_and_bank, store_options


@click.group()
def responses() -> None:
    """Responses of exam sessions, out of the site database."""


@responses.command("export")
@click.argument("session_names", metavar="SESSION...", nargs=-1, required=True)
@click.option("--out", "out_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The CSV file to write.")
@click.option("--site", default="", help="This site's name, written in every row (sites' "
              "exports are then concatenated for one national analysis).")
@key_options
@store_options
def export(session_names: tuple[str, ...], out_path: Path, site: str, keys: KeySource,
           data_dir: Path, database_url: str | None) -> None:
    """Write every answer of SESSION... (names or ids) to --out: one row per item a candidate
    was shown, with the option chosen, the key, the points and the seconds on the item.

    calibrate, analyze, score and cheating read the file as it is. The bank's key is needed
    (answer keys are inside the encrypted bank).
    """
    from cat_engine.services.responses_export import COLUMNS, export_rows
    from scoring.forms import FormError

    rows: list[dict] = []
    for name in session_names:
        with session_and_bank(name, keys, data_dir, database_url,
                              purpose="the export") as (store, session, bank):
            try:
                rows += export_rows(store, session.id, bank, site=site)
            except FormError as exc:
                fail(str(exc))
    if not rows:
        fail(f"no candidate has answered in {', '.join(session_names)}")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        tmp.replace(out_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"{out_path}: cannot be written ({exc.strerror})")
    examinees = len({r["examinee"] for r in rows})
    click.echo(f"wrote {out_path}: {len(rows)} answers of {examinees} candidate(s) in "
               f"{len(session_names)} session(s)")
