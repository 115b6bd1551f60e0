"""``cat-engine bank`` (build, inspect, verify, export) and ``cat-engine demo-bank``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from cat_engine.cli.common import KeySource, fail, key_options
from item_bank import keys as keyfiles
from item_bank.catbank import (
    BankManifest,
    OpenBank,
    PassphraseHolder,
    SiteHolder,
    open_bank,
    read_manifest,
    verify_content,
    write_bank,
)
from item_bank.errors import BankError
from item_bank.model import ITEM_ID_PATTERN, Item

#: The documented passphrase of demo banks when none is given (docs/catbank.md). Demo banks
#: hold synthetic items only; never use it for a real bank.
DEMO_PASSPHRASE = "demo-cat-engine"

_FILE = click.Path(dir_okay=False, path_type=Path)
_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _passphrase_env_option(func: Callable[..., Any]) -> Callable[..., Any]:
    # Same option and semantics as common.key_options, for commands that take no site key.
    return click.option(
        "--passphrase-env",
        "passphrase_env",
        metavar="VAR",
        help="Name of the environment variable holding the bank passphrase.",
    )(func)


def _read_passphrase(var: str | None) -> str | None:
    if not var:
        return None
    passphrase = os.environ.get(var)
    if passphrase is None:
        fail(f"environment variable {var} is not set")
    if not passphrase:
        fail(f"environment variable {var} is empty")
    return passphrase


def _signer_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--signer",
        "signers",
        multiple=True,
        type=_EXISTING_FILE,
        metavar="SIGNING.pub",
        help="Require the bank to be signed by this key (repeatable: any one of them).",
    )(func)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal; nothing when stderr is piped or redirected."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@click.group()
def bank() -> None:
    """Build, inspect, verify and export encrypted item banks (.catbank files)."""


@bank.command("build")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=_FILE, help="The .catbank file to write.")
@_passphrase_env_option
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    type=_EXISTING_FILE,
    metavar="SITE.pub",
    help="Issue the bank to this test site's public key (repeatable).",
)
@click.option(
    "--sign-key",
    type=_EXISTING_FILE,
    metavar="SIGNING.key",
    help="Sign the bank with this Ed25519 key (strongly advised).",
)
@click.option("--bank-id", help="Bank id (default: the output file name without .catbank).")
@click.option(
    "--version",
    "bank_version",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Bank version number.",
)
@click.option("--section", help="Section for items whose source gives none (e.g. plain QTI).")
@click.option("--topic", help="Topic for items whose source gives none.")
def build(
    sources: tuple[Path, ...],
    out: Path,
    passphrase_env: str | None,
    recipients: tuple[Path, ...],
    sign_key: Path | None,
    bank_id: str | None,
    bank_version: int,
    section: str | None,
    topic: str | None,
) -> None:
    """Encrypt the items of SOURCES (.jsonl, .csv, QTI .xml/.zip, folders) into a bank.

    Every problem in every source is listed at once and no bank is written. The bank opens
    with the passphrase and/or the private keys of the recipient sites: give at least one.
    """
    from item_bank.formats import load_sources

    passphrase = _read_passphrase(passphrase_env)
    if passphrase is None and not recipients:
        fail("a bank needs at least one holder: --passphrase-env VAR and/or --recipient SITE.pub")
    bank_id = bank_id or _default_bank_id(out)
    if not re.fullmatch(ITEM_ID_PATTERN, bank_id):
        fail(f"bank id {bank_id!r} may hold only letters, digits and . _ : - (give --bank-id)")
    sites, signing_key = _holder_keys(recipients, sign_key)

    loaded = load_sources(sources, default_section=section, default_topic=topic)
    for warning in loaded.warnings:
        click.echo(str(warning), err=True)
    if loaded.problems:
        for problem in loaded.problems:
            click.echo(str(problem), err=True)
        count = len(loaded.problems)
        fail(f"{count} problem{'s' if count != 1 else ''} in the sources; no bank written")
    if not loaded.items:
        fail("the sources hold no items; no bank written")

    with _progress("sealing items") as progress:
        try:
            manifest = write_bank(
                loaded.items,
                out,
                bank_id=bank_id,
                version=bank_version,
                passphrases=[passphrase] if passphrase else [],
                recipients=sites,
                signing_key=signing_key,
                progress=progress,
            )
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
    _report_written(out, manifest)


def _holder_keys(recipients: tuple[Path, ...], sign_key: Path | None) -> tuple[list, Any]:
    """The recipient sites' public keys and the signing key of a bank about to be written."""
    try:
        sites = [keyfiles.load_site_public_key(path) for path in recipients]
        signing_key = keyfiles.load_signing_key(sign_key) if sign_key else None
    except keyfiles.KeyFileError as exc:
        fail(str(exc))
    return sites, signing_key


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _default_bank_id(out: Path) -> str:
    name = out.name.removesuffix(".catbank") or "bank"
    return re.sub(r"[^A-Za-z0-9._:\-]", "-", name).lstrip("._:-")[:128] or "bank"


def _report_written(out: Path, manifest: BankManifest) -> None:
    sections = ", ".join(f"{name} {c.items}" for name, c in manifest.sections.items())
    click.echo(
        f"wrote {out}: bank {manifest.bank_id} v{manifest.version}, "
        f"{_count(manifest.item_count, 'item')} ({sections}), "
        f"{_count(manifest.image_count, 'image')}"
    )
    click.echo(f"holders: {_holders_line(manifest)}")
    if manifest.signer is None:
        click.echo(
            "warning: the bank is unsigned; sites cannot check who made it (use --sign-key)",
            err=True,
        )
    else:
        click.echo(f"signed by {manifest.signer_fingerprint}")


def _holders_line(manifest: BankManifest) -> str:
    parts = []
    for holder in manifest.holders:
        if isinstance(holder, PassphraseHolder):
            p = holder.params
            parts.append(
                f"passphrase (argon2id t={p.time_cost} m={p.memory_kib // 1024} MiB "
                f"p={p.parallelism})"
            )
        elif isinstance(holder, SiteHolder):
            parts.append(f"site {holder.fingerprint}")
    return "; ".join(parts)


@bank.command("inspect")
@click.argument("bank_file", metavar="BANK", type=_EXISTING_FILE)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def inspect(bank_file: Path, as_json: bool) -> None:
    """Show a bank's manifest, counts, holders and signature status (no key needed).

    Also checks the content hash of the whole file. Exits with code 2 when the signature
    is invalid or the content does not match.
    """
    try:
        manifest = read_manifest(bank_file)
    except BankError as exc:
        fail(str(exc))
    try:
        verify_content(bank_file, manifest)
        content = "intact"
    except BankError:
        content = "damaged"

    if as_json:
        data = manifest.summary()
        data["content_status"] = content
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print_manifest(manifest, content)
    if manifest.signature_status == "invalid":
        fail(f"{bank_file}: the signature is INVALID: do not use this bank")
    if content != "intact":
        fail(f"{bank_file}: the content does not match its content hash: the file is damaged")


def _print_manifest(manifest: BankManifest, content: str) -> None:
    echo = click.echo
    echo(f"bank       {manifest.bank_id} v{manifest.version}")
    echo(f"format     catbank {manifest.format_version}")
    echo(f"created    {manifest.created.isoformat()}")
    echo(f"items      {manifest.item_count} ({_count(manifest.image_count, 'image')})")
    for name, counts in manifest.sections.items():
        echo(f"  {name:<8} {_count(counts.items, 'item')}")
        if counts.topics:
            topics = ", ".join(f"{t or '(none)'} {n}" for t, n in sorted(counts.topics.items()))
            echo(f"           topics: {topics}")
        if counts.difficulties:
            levels = ", ".join(f"{d} {n}" for d, n in sorted(counts.difficulties.items()))
            echo(f"           difficulties: {levels}")
    echo(f"content    sha256 {manifest.content_sha256} ({content})")
    echo(f"holders    {_holders_line(manifest)}")
    status = manifest.signature_status
    if status == "unsigned":
        echo("signature  unsigned (nobody vouches for this bank)")
    else:
        echo(f"signature  {status}, signer {manifest.signer_fingerprint}")


def _open(bank_file: Path, keys: KeySource, signers: tuple[Path, ...]) -> OpenBank:
    if not keys.given:
        fail("this command needs a key: --passphrase-env VAR or --key SITE.key")
    try:
        trusted = [keyfiles.load_signing_public_key(path) for path in signers] or None
        site_key = keyfiles.load_site_key(keys.site_key_path) if keys.site_key_path else None
    except keyfiles.KeyFileError as exc:
        fail(str(exc))
    try:
        return open_bank(
            bank_file, passphrase=keys.passphrase, site_key=site_key, trusted_signers=trusted
        )
    except BankError as exc:
        fail(str(exc))


@bank.command("verify")
@click.argument("bank_file", metavar="BANK", type=_EXISTING_FILE)
@key_options
@_signer_option
def verify(bank_file: Path, keys: KeySource, signers: tuple[Path, ...]) -> None:
    """Decrypt every item in memory and check it against the index and the manifest.

    Nothing is written to disk. Exits with code 2 on the first failure.
    """
    opened = _open(bank_file, keys, signers)
    with opened, _progress("verifying items") as progress:
        try:
            result = opened.verify(progress=progress)
        except BankError as exc:
            fail(str(exc))
    manifest = opened.manifest
    sections = ", ".join(f"{name} {count}" for name, count in result.sections.items())
    click.echo(
        f"ok: {bank_file}: bank {manifest.bank_id} v{manifest.version}, "
        f"{_count(result.items, 'item')} ({sections}) and {_count(result.images, 'image')} "
        "decrypted and valid"
    )
    if manifest.signature_status == "valid":
        click.echo(f"signature valid, signer {manifest.signer_fingerprint}")
    else:
        click.echo("warning: the bank is unsigned; nobody vouches for it", err=True)


@bank.command("export")
@click.argument("bank_file", metavar="BANK", type=_EXISTING_FILE)
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(["jsonl", "qti"]),
    help="jsonl: native JSON Lines (+ image folder); qti: an IMS QTI content package (.zip).",
)
@click.option("--qti-version", type=click.Choice(["2.1", "3.0"]), default="2.1", show_default=True,
              help="QTI version of a .zip export.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="File to write.")
@key_options
@_signer_option
def export(
    bank_file: Path,
    fmt: str,
    qti_version: str,
    out: Path,
    keys: KeySource,
    signers: tuple[Path, ...],
) -> None:
    """Write a bank's items as PLAINTEXT, answer keys included.

    This is the only command that puts items on disk unencrypted: keep the output away
    from test sites and delete it when done.
    """
    from item_bank.formats import export_jsonl, export_qti

    opened = _open(bank_file, keys, signers)
    with opened:
        try:
            items: list[Item] = list(opened.iter_items())
        except BankError as exc:
            fail(str(exc))
    click.echo(
        f"warning: writing {len(items)} items in plaintext, answer keys included, to {out}",
        err=True,
    )
    try:
        if fmt == "jsonl":
            written = export_jsonl(items, out)
        else:
            written = export_qti(items, out, version=qti_version)
    except (OSError, ValueError) as exc:
        fail(f"cannot write {out}: {getattr(exc, 'strerror', None) or exc}")
    click.echo(f"wrote {written or out}")


@bank.command("recalibrate")
@click.argument("bank_file", metavar="BANK", type=_EXISTING_FILE)
@click.option("--params", "params_file", required=True, type=_EXISTING_FILE,
              metavar="PARAMS.json", help="Calibrated parameters (from 'cat-engine calibrate').")
@click.option("--out", required=True, type=_FILE, help="The new .catbank file to write.")
@key_options
@click.option("--recipient", "recipients", multiple=True, type=_EXISTING_FILE,
              metavar="SITE.pub", help="Issue the new version to this site (repeatable).")
@click.option("--sign-key", type=_EXISTING_FILE, metavar="SIGNING.key",
              help="Sign the new version with this Ed25519 key (strongly advised).")
@click.option("--version", "bank_version", type=click.IntRange(min=1),
              help="Version number of the new bank (default: the old one + 1).")
@_signer_option
@click.option("--link", "link_method", default="stocking-lord", show_default=True,
              type=click.Choice(["stocking-lord", "haebara", "mean-sigma", "none"]),
              help="Carry the new parameters to the bank's scale through the anchor items "
              "(those of PARAMS.json the bank already holds calibrated), so thresholds keep "
              "their meaning; none writes them on the calibration's own scale.")
def recalibrate(bank_file: Path, params_file: Path, out: Path, keys: KeySource,
                recipients: tuple[Path, ...], sign_key: Path | None, bank_version: int | None,
                signers: tuple[Path, ...], link_method: str) -> None:
    """Write calibrated IRT parameters into a NEW version of a bank.

    The old bank is opened with its key and left as it is; the items named in PARAMS.json get
    their new parameters, every other item keeps its own. Unless --link none, the new
    parameters are first linked to the bank's scale through the anchor items (Stocking-Lord
    by default; docs/psychometrics.md). The new version is held by the passphrase that
    opened the old one (if one did) and by the --recipient sites.
    """


    from scoring.irt.bankparams import apply_params

    if keys.passphrase is None and not recipients:
        fail("the new version needs a holder: --passphrase-env VAR and/or --recipient SITE.pub")
    try:
        document = json.loads(params_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{params_file}: not a readable JSON file: {exc}")
    sites, signing_key = _holder_keys(recipients, sign_key)
    opened = _open(bank_file, keys, signers)
    with opened:
        try:
            items = list(opened.iter_items())
        except BankError as exc:
            fail(str(exc))
        old = opened.manifest
    result = apply_params(items, document,
                          link_method=None if link_method == "none" else link_method)
    if result.problems:
        for problem in result.problems:
            click.echo(f"{params_file}: {problem}", err=True)
        count = len(result.problems)
        fail(f"{count} problem{'s' if count != 1 else ''} in {params_file}; no bank written")
    with _progress("sealing items") as progress:
        try:
            manifest = write_bank(
                result.items, out, bank_id=old.bank_id,
                version=bank_version or old.version + 1,
                passphrases=[keys.passphrase] if keys.passphrase else [],
                recipients=sites, signing_key=signing_key, progress=progress)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
    if result.link is not None:
        click.echo(f"linked by {result.link.method} on {result.link.anchors} anchor items: "
                   f"theta_bank = {result.link.A:.4f} theta_new + {result.link.B:.4f}")
    elif link_method != "none":
        click.echo("no anchor items (the bank holds none of these calibrated): the parameters "
                   "set the bank's scale as they are")
    click.echo(f"{_count(len(result.updated), 'item')} recalibrated "
               f"(v{old.version} -> v{manifest.version})")
    _report_written(out, manifest)


@click.command("demo-bank")
@click.option("--out", required=True, type=_FILE, help="The .catbank file to write.")
@click.option(
    "--size",
    type=click.IntRange(min=1, max=1_000_000),
    help="Number of items (default: the generator's SKD-sized default).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@_passphrase_env_option
def demo_bank(out: Path, size: int | None, seed: int, passphrase_env: str | None) -> None:
    """Write a synthetic SKD-style demo bank (TWK, TIU, TKP) in Bahasa Indonesia.

    Without --passphrase-env the bank opens with the documented demo passphrase
    "demo-cat-engine": fine for a demo, never for real items.
    """
    from item_bank.demo import generate_demo_items

    passphrase = _read_passphrase(passphrase_env)
    if passphrase is None:
        passphrase = DEMO_PASSPHRASE
        click.echo(
            f"warning: no --passphrase-env given; the demo bank opens with the well-known "
            f"passphrase {DEMO_PASSPHRASE!r}",
            err=True,
        )
    items = generate_demo_items(size, seed=seed)
    with _progress("sealing demo items") as progress:
        try:
            manifest = write_bank(
                items,
                out,
                bank_id=_default_bank_id(out),
                passphrases=[passphrase],
                progress=progress,
            )
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
    _report_written(out, manifest)
