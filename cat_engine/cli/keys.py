"""``cat-engine keys``: generate and show signing keys and test-site keys."""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import fail
from item_bank import keys as keyfiles

_KINDS = {"signing": ("signing",), "site": ("site",), "both": ("signing", "site")}


@click.group()
def keys() -> None:
    """Signing keys (who made a bank) and site keys (which test site may open it)."""


@keys.command("generate")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the key files into (created if missing).",
)
@click.option(
    "--kind",
    type=click.Choice(list(_KINDS)),
    default="both",
    show_default=True,
    help="signing: Ed25519 key to sign banks; site: X25519 key a bank is issued to.",
)
def generate(out_dir: Path, kind: str) -> None:
    """Generate key pairs: signing.key/.pub and/or site.key/.pub in DIR.

    Private files (*.key) are created with mode 0600 and never overwrite an existing file.
    Give a site's .pub to the central office (``bank build --recipient``); keep its .key on
    the site's exam server only.
    """
    try:
        written = keyfiles.generate_key_files(out_dir, _KINDS[kind])  # type: ignore[arg-type]
    except keyfiles.KeyFileError as exc:
        fail(str(exc))
    for path in written:
        if path.suffix == ".pub":
            loader = (
                keyfiles.load_signing_public_key
                if path.name.startswith("signing")
                else keyfiles.load_site_public_key
            )
            click.echo(f"{path.with_suffix('.key')}  (private, mode 0600)")
            click.echo(f"{path}  fingerprint {keyfiles.fingerprint(loader(path))}")


@keys.command("trust")
@click.argument("public_key", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("cat-engine-data"), show_default=True,
              help="The site's data directory (its trust list is trusted-issuers/ in it).")
def trust(public_key: Path, data_dir: Path) -> None:
    """Trust a bank issuer: this site opens banks signed by PUBLIC_KEY (a signing.pub)."""
    from cat_engine.services.trust import trust as add

    try:
        fp, path = add(data_dir, public_key)
    except (keyfiles.KeyFileError, OSError) as exc:
        fail(str(exc))
    click.echo(f"trusted issuer {fp} ({path})")


@keys.command("fingerprint")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def fingerprint(files: tuple[Path, ...]) -> None:
    """Show the kind and fingerprint of key files (.pub or .key)."""
    for path in files:
        key = _load_any(path)
        click.echo(f"{path}: {keyfiles.kind_of(key)} key, fingerprint {keyfiles.fingerprint(key)}")


def _load_any(path: Path) -> keyfiles.PublicKey | keyfiles.PrivateKey:
    try:
        text = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")
    private = b"PRIVATE KEY" in text
    loaders = (
        (keyfiles.load_signing_key, keyfiles.load_site_key)
        if private
        else (keyfiles.load_signing_public_key, keyfiles.load_site_public_key)
    )
    errors = []
    for loader in loaders:
        try:
            return loader(path)
        except keyfiles.KeyFileError as exc:
            errors.append(str(exc))
    fail(errors[-1])
