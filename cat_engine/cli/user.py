"""``cat-engine user``: proctor and admin accounts (argon2id password hashes)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cat_engine.cli.common import fail, open_store, store_options


def _setup_errors(call, *args, **kwargs):
    from cat_engine.services.sessions import SetupError

    try:
        return call(*args, **kwargs)
    except SetupError as exc:
        fail("; ".join(str(p).lstrip(": ") for p in exc.problems))


@click.group()
def user() -> None:
    """Accounts of the proctor console: add, list, disable, assign to sessions."""


@user.command()
@click.argument("username")
@click.option("--role", type=click.Choice(["proctor", "admin"]), default="proctor",
              show_default=True,
              help="A proctor sees the sessions assigned to them; an admin sees every one.")
@click.option("--password-env", metavar="VAR",
              help="Read the password from this environment variable (else it is asked).")
@click.option("--session", "sessions_", multiple=True, metavar="NAME",
              help="Assign the proctor to this session (repeatable).")
@store_options
def add(username: str, role: str, password_env: str | None, sessions_: tuple[str, ...],
        data_dir: Path, database_url: str | None) -> None:
    """Add an account USERNAME."""
    from cat_engine.services import sessions, users

    if password_env:
        password = os.environ.get(password_env)
        if not password:
            fail(f"environment variable {password_env} is not set or empty")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    store = open_store(data_dir, database_url)
    targets = [_setup_errors(sessions.find_session, store, name) for name in sessions_]
    _setup_errors(users.add_user, store, username, password, role)
    for target in targets:
        _setup_errors(users.assign, store, username, target.id)
    click.echo(f"{role} {username} added" + (
        f", assigned to {', '.join(t.name for t in targets)}" if targets else ""))


@user.command("list")
@store_options
def list_(data_dir: Path, database_url: str | None) -> None:
    """Every account with its role, state and sessions."""
    from cat_engine.services import sessions, users

    store = open_store(data_dir, database_url)
    names = {s["id"]: s["name"] for s in sessions.list_sessions(store)}
    rows = users.list_users(store)
    if not rows:
        click.echo("no accounts (add one with 'cat-engine user add NAME --role admin')")
    for u in rows:
        state = "disabled" if u["disabled"] else "active"
        assigned = ", ".join(names.get(s, str(s)) for s in u["sessions"]) or "-"
        click.echo(f"{u['username']:<20} {u['role']:<8} {state:<9} sessions: {assigned}")


@user.command()
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
@store_options
def disable(username: str, enable: bool, data_dir: Path, database_url: str | None) -> None:
    """Disable account USERNAME: its open consoles lose access at their next action."""
    from cat_engine.services import users

    _setup_errors(users.set_disabled, open_store(data_dir, database_url), username,
                  not enable)
    click.echo(f"{username} {'enabled' if enable else 'disabled'}")


@user.command()
@click.argument("username")
@click.argument("session_name")
@store_options
def assign(username: str, session_name: str, data_dir: Path, database_url: str | None) -> None:
    """Let proctor USERNAME see and act on session SESSION_NAME."""
    from cat_engine.services import sessions, users

    store = open_store(data_dir, database_url)
    target = _setup_errors(sessions.find_session, store, session_name)
    _setup_errors(users.assign, store, username, target.id)
    click.echo(f"{username} assigned to {target.name}")
