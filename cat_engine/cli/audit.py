"""``cat-engine audit``: check the site's audit log (one hash chain per session) against the
heads the site signed and heads seen elsewhere (a photographed display)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from cat_engine.cli.common import fail, open_store, store_options

_ANCHOR = re.compile(r"^(?P<session>[^#\s]+)#(?P<seq>\d+):(?P<fp>[0-9A-Fa-f-]{19,})$")


def run_verify(data_dir: Path, database_url: str | None, site_key: Path | None = None,
               anchors: tuple[str, ...] = ()) -> None:
    from sqlalchemy import func, select

    from cat_engine.services import anchors as signing
    from cat_engine.store import audit
    from cat_engine.store.models import AuditEntry, AuditHead, ExamSession
    from item_bank import keys as keyfiles
    from scoring.integrity.chain import Head

    try:
        public = (keyfiles.load_signing_public_key(site_key) if site_key is not None
                  else signing.site_public_key(data_dir))
    except keyfiles.KeyFileError as exc:
        fail(f"--site-key: {exc}")
    store = open_store(data_dir, database_url)
    try:
        with store.read() as db:
            known: dict[int, list[Head]] = {}
            for text in anchors:
                match = _ANCHOR.match(text.strip())
                if match is None:
                    fail(f"--anchor {text!r}: expected SESSION#SEQ:FINGERPRINT as the display "
                         f"shows it, e.g. S1#120:3F2A-9C1B-0D4E-77A1")
                sid = db.scalar(select(ExamSession.id).where(
                    ExamSession.name == match["session"]))
                if sid is None:
                    fail(f"--anchor {text!r}: no session {match['session']!r}")
                known.setdefault(sid, []).append(Head(
                    chain=sid, seq=int(match["seq"]), at_ms=0,
                    hash=match["fp"].replace("-", "").lower()))
            problems = audit.verify(db, public, known)
            n_entries = db.scalar(select(func.count()).select_from(AuditEntry))
            n_heads = db.scalar(select(func.count()).select_from(AuditHead))
            n_chains = len(audit.chains(db))
    finally:
        store.close()
    if problems:
        fail("the audit log was tampered with; first failing entry first:\n"
             + "\n".join(problems))
    signer = (f"site key {keyfiles.fingerprint(public)}" if public is not None
              else "no site key to check heads with")
    click.echo(f"audit log intact: {n_chains} chains, {n_entries} entries, {n_heads} signed "
               f"heads ({signer}), {len(anchors)} anchors")


@click.group()
def audit() -> None:
    """The audit log: every state change of every session, hash-chained per session."""


@audit.command("verify")
@store_options
@click.option("--site-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The site's public signing key (default: site-signing.pub in the data "
                   "directory; give the copy you trust, e.g. the central office's).")
@click.option("--anchor", "anchors", multiple=True, metavar="SESSION#SEQ:FINGERPRINT",
              help="A head seen outside the site (the public display shows it); repeatable.")
def verify(data_dir: Path, database_url: str | None, site_key: Path | None,
           anchors: tuple[str, ...]) -> None:
    """Check every session's chain, the answer rows and the signed heads; exit 2 on any
    break, naming the first entry that fails and why (edited, deleted, inserted, reordered,
    truncated, or rewritten after a head was signed)."""
    run_verify(data_dir, database_url, site_key, anchors)
