"""``cat-engine session``: create sessions, import rosters, open, close, release, list."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import click

from cat_engine.cli.common import KeySource, fail, key_options, open_store, store_options


def _setup_errors(func):
    """Turn a SetupError (every problem listed) into one clean failure."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from cat_engine.services.sessions import SetupError

        try:
            return func(*args, **kwargs)
        except SetupError as exc:
            lines = [str(p).lstrip(": ") for p in exc.problems]
            if len(lines) == 1:
                fail(lines[0])
            fail(f"{len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines))
    return wrapper


@click.group()
def session() -> None:
    """Exam sessions: the unit of a test day (room, time, exam, bank, roster)."""


@session.command()
@click.argument("name")
@click.option("--exam", "exam_source", required=True,
              help="A preset (skd, pppk) or an exam TOML file.")
@click.option("--bank", "bank_path", required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The encrypted item bank (.catbank) the forms are drawn from.")
@click.option("--date", help="YYYY-MM-DD (default: today).")
@click.option("--time", "time_", default="08:00", show_default=True,
              help="Start time HH:MM, as printed on the records.")
@click.option("--room", default="R1", show_default=True,
              help="The test room, as shown on the console, the board and the records.")
@click.option("--seed", help="Seed of the randomized forms (default: random).")
@click.option("--auto-admit/--no-auto-admit", default=True, show_default=True,
              help="Admit candidates at login (identity checked before PINs are handed out).")
@store_options
@_setup_errors
def create(name, exam_source, bank_path, date, time_, room, seed, auto_admit, data_dir,
           database_url) -> None:
    """Create a session NAME."""
    from cat_engine.services import sessions

    store = open_store(data_dir, database_url)
    row = sessions.create_session(store, name=name, exam_source=exam_source,
                                  bank_path=bank_path, date=date, time=time_, room=room,
                                  seed=seed, auto_admit=auto_admit)
    click.echo(f"session {row.name} created ({row.date} {row.time}, room {row.room}); "
               f"token {row.token}")


@session.command("import-roster")
@click.argument("name")
@click.argument("csv_path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--pins-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write registration,pin of every candidate here (mode 0600).")
@store_options
@_setup_errors
def import_roster(name, csv_path, pins_out, data_dir, database_url) -> None:
    """Add the candidates of CSV_PATH to session NAME (all or nothing; every bad row shown).

    Columns: registration, name, birth_date (YYYY-MM-DD), and optionally formation,
    accommodation, extra_minutes, photo (a file next to the CSV), pin.
    """
    from cat_engine.services import sessions

    store = open_store(data_dir, database_url)
    pins = sessions.import_roster(store, name, csv_path)
    if pins_out:
        fd = os.open(pins_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["registration", "pin"])
            writer.writerows(pins)
    click.echo(f"{len(pins)} candidate(s) added to {name}"
               + (f"; PINs in {pins_out}" if pins_out else ""))


@session.command("open")
@click.argument("name")
@key_options
@store_options
@click.option("--allow-untrusted-banks", is_flag=True,
              help="Open a bank of any issuer, unsigned too (development and demo only).")
@_setup_errors
def open_(name, keys: KeySource, data_dir, database_url, allow_untrusted_banks) -> None:
    """Open session NAME for logins. With a key, check it and assemble every form now.

    The server unlocks the bank with the key it was started with (`serve --key` or
    `--passphrase-env`), kept in its memory only.
    """
    from cat_engine.services import sessions
    from cat_engine.services.runtime import BankKey

    store = open_store(data_dir, database_url)
    key = BankKey(keys.passphrase, keys.site_key_path) if keys.given else None
    from cat_engine.services.trust import trusted_issuers

    trusted = None if allow_untrusted_banks else trusted_issuers(data_dir)
    made = sessions.open_session(store, name, key, trusted=trusted)
    click.echo(f"session {name} is open" + (f"; {made} form(s) assembled" if key else ""))


@session.command()
@click.argument("name")
@store_options
@_setup_errors
def close(name, data_dir, database_url) -> None:
    """Close session NAME (refused while a candidate is still working)."""
    from cat_engine.services import sessions
    from cat_engine.services.anchors import site_key

    sessions.set_state(open_store(data_dir, database_url), name, "closed",
                       signing_key=site_key(data_dir))
    click.echo(f"session {name} is closed")


@session.command()
@click.argument("name")
@click.argument("registration")
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
@store_options
@_setup_errors
def release(name, registration, reason, data_dir, database_url) -> None:
    """Release a candidate's terminal so they can log in on a spare PC."""
    from cat_engine.services import sessions

    previous = sessions.release_terminal(open_store(data_dir, database_url), name,
                                         registration, reason)
    click.echo(f"{registration} released" + (f" from terminal {previous}" if previous
                                             else " (was not bound to a terminal)"))


@session.command("list")
@store_options
def list_(data_dir, database_url) -> None:
    """The sessions of this site."""
    from cat_engine.services import sessions

    rows = sessions.list_sessions(open_store(data_dir, database_url))
    if not rows:
        click.echo("no sessions")
    for r in rows:
        click.echo(f"{r['name']:<16} {r['date']} {r['time']}  room {r['room']:<8} "
                   f"{r['state']:<9} token {r['token']}  {r['candidates']} candidates")
