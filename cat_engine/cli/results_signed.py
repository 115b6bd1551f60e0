"""``cat-engine results export`` and ``results verify``: signed session results out of a
site, checked anywhere (docs/integrity.md)."""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import KeySource, fail, key_options, open_store, store_options


@click.command("export")
@click.argument("session")
@click.option("--out", "out_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The results file to write.")
@click.option("--summary-only", is_flag=True,
              help="Leave out the evidence line (forms, answer logs, full receipts).")
@click.option("--encrypt-to", type=click.Path(dir_okay=False, path_type=Path),
              help="The central office's X25519 public key (site.pub kind): only it can read "
                   "the file.")
@store_options
def export(session: str, out_path: Path, summary_only: bool, encrypt_to: Path | None,
           data_dir: Path, database_url: str | None) -> None:
    """Write SESSION's results, signed with the site key (site-signing.key in the data
    directory): scores, pass/fail, ranks, receipts and the chain's final signed head."""
    from cat_engine.services import anchors
    from cat_engine.services.export import export as build
    from cat_engine.services.sessions import SetupError
    from item_bank import keys as keyfiles
    from item_bank.atomic import atomic_write
    from scoring.integrity import results as files

    recipient = None
    if encrypt_to is not None:
        try:
            recipient = keyfiles.load_site_public_key(encrypt_to)
        except keyfiles.KeyFileError as exc:
            fail(f"--encrypt-to: {exc}")
    store = open_store(data_dir, database_url)
    try:
        key = anchors.site_key(data_dir)
        content = build(store, session, key, evidence=not summary_only)
    except SetupError as exc:
        fail(str(exc))
    finally:
        store.close()
    if recipient is not None:
        content = files.encrypt(content, recipient)
    try:
        atomic_write(out_path, [content], mode=0o644)
    except OSError as exc:
        fail(f"cannot write {out_path}: {exc.strerror or exc}")
    click.echo(f"{out_path}: results of session {session}, signed by site key "
               f"{keyfiles.fingerprint(key)}"
               + (f", encrypted to {keyfiles.fingerprint(recipient)}" if recipient else ""))


def read_results(path: Path, public, decrypt_key=None):
    """Open one results file; a ResultsError names what failed."""
    from scoring.integrity import results as files

    try:
        size = path.stat().st_size
        if size > files.MAX_BYTES:
            raise files.ResultsError(f"{size} bytes is larger than any results file")
        content = path.read_bytes()
    except OSError as exc:
        raise files.ResultsError(f"cannot read: {exc.strerror or exc}") from None
    return files.open_file(content, public, decrypt_key)


def load_public(path: Path):
    from item_bank import keys as keyfiles

    try:
        return keyfiles.load_signing_public_key(path)
    except keyfiles.KeyFileError as exc:
        fail(f"--site-key: {exc}")


def load_decrypt_key(path: Path | None):
    from item_bank import keys as keyfiles

    if path is None:
        return None
    try:
        return keyfiles.load_site_key(path)
    except keyfiles.KeyFileError as exc:
        fail(f"--decrypt-key: {exc}")


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--site-key", "site_pub", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The site's public signing key (site-signing.pub).")
@click.option("--bank", type=click.Path(dir_okay=False, path_type=Path),
              help="The session's bank: re-score every candidate from their answer log.")
@click.option("--decrypt-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The central office's X25519 private key, for an encrypted file.")
@key_options
def verify(file: Path, site_pub: Path, bank: Path | None, decrypt_key: Path | None,
           keys: KeySource) -> None:
    """Check a results file: signature, totals, pass flags, ranks and ties, the chain head,
    every receipt and answer log, and (with --bank) the scores from the answer logs."""
    from cat_engine.services.export import summary_exam
    from scoring.integrity import results as files

    public = load_public(site_pub)
    try:
        opened = read_results(file, public, load_decrypt_key(decrypt_key))
        exam = summary_exam(opened.summary)
    except files.ResultsError as exc:
        fail(f"{file}: {exc}")
    except Exception as exc:
        fail(f"{file}: the exam definition in the file does not load: {exc}")
    summary = opened.summary
    problems = files.consistency_problems(summary, exam, public)
    checked = ["signature", "totals, pass flags, ranks and ties", "chain head"]
    if opened.evidence is not None:
        problems += files.evidence_problems(summary, opened.evidence, public)
        checked.append("receipts, forms and answer logs")
    if bank is not None:
        if opened.evidence is None:
            fail(f"{file}: a summary-only file has no answer logs to re-score")
        problems += _rescore(summary, opened.evidence, exam, bank, keys)
        checked.append("scores re-computed from the answer logs")
    if problems:
        fail(f"{file}: " + "\n".join(problems))
    n = len(summary["candidates"]["registration"])
    click.echo(f"{file}: verified ({'; '.join(checked)}): session "
               f"{summary['session']['name']}, {n} candidates, site key "
               f"{summary['site']['fingerprint']}, chain head #{summary['chain']['seq']}")


def _rescore(summary, evidence: bytes, exam, bank: Path, keys: KeySource) -> list[str]:
    from item_bank.catbank import open_bank
    from item_bank.errors import BankError
    from scoring.integrity import results as files

    if not keys.given:
        fail("--bank needs the bank's key: --passphrase-env VAR or --key SITE.key")
    try:
        opened = open_bank(bank, passphrase=keys.passphrase, site_key=keys.site_key_path)
    except BankError as exc:
        fail(str(exc))
    with opened:
        m = opened.manifest
        if (m.bank_id, str(m.version), m.content_sha256) != (
                summary["bank"]["bank_id"], str(summary["bank"]["version"]),
                summary["bank"]["content_sha256"]):
            return [f"--bank {bank} is {m.bank_id} version {m.version}, not the bank the "
                    f"session used ({summary['bank']['bank_id']} version "
                    f"{summary['bank']['version']})"]
        return files.rescore_problems(summary, evidence, exam, opened.item)
