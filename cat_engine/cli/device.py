"""``cat-engine device``: enrolled public screens and candidate PCs (docs/security.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from cat_engine.cli.common import fail, open_store, store_options


@click.group()
def device() -> None:
    """Public screens and candidate PCs: list, enrol by pairing code, revoke."""


@device.command("list")
@store_options
def list_(data_dir: Path, database_url: str | None) -> None:
    """Every enrolled or revoked device."""
    from cat_engine.services import devices

    rows = devices.list_devices(open_store(data_dir, database_url))
    if not rows:
        click.echo("no devices (a screen shows a pairing code until one is enrolled)")
    for d in rows:
        when = dt.datetime.fromtimestamp((d["enrolled_ms"] or 0) / 1000).strftime(
            "%Y-%m-%d %H:%M")
        click.echo(f"{d['id']:>4} {d['kind']:<8} {d['state']:<8} "
                   f"{d['room'] or '(site)':<12} {d['name']:<24} {when} by {d['enrolled_by']}")


@device.command()
@click.argument("code")
@click.option("--room", help="Enrol for this room only (the sessions' room name).")
@click.option("--site", "whole_site", is_flag=True, help="Enrol for every room of the site.")
@click.option("--name", default="", help="What the device is (a seat, a wall screen).")
@store_options
def enrol(code: str, room: str | None, whole_site: bool, name: str, data_dir: Path,
          database_url: str | None) -> None:
    """Enrol the device showing pairing CODE, for one room (--room) or the site (--site)."""
    from cat_engine.services import devices
    from cat_engine.services.errors import ServiceError

    if bool(room) == whole_site:
        fail("give either --room ROOM or --site")
    try:
        row = devices.confirm(open_store(data_dir, database_url), code, room=room,
                              actor="cli", name=name)
    except ServiceError as exc:
        fail(exc.detail)
    click.echo(f"device {row['id']} ({row['kind']}) enrolled for {row['room'] or 'the site'}")


@device.command()
@click.argument("device_id", type=int)
@store_options
def revoke(device_id: int, data_dir: Path, database_url: str | None) -> None:
    """Revoke device DEVICE_ID: its open connections are cut within a second."""
    from cat_engine.services import devices
    from cat_engine.services.errors import ServiceError

    try:
        devices.revoke(open_store(data_dir, database_url), device_id, actor="cli")
    except ServiceError as exc:
        fail(exc.detail)
    click.echo(f"device {device_id} revoked")
