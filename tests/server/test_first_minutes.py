"""A newcomer's first minutes with the command line: every option says what it is for, the
README's table names every command, the README says where the server listens and where its
data (and the demo's passphrase) go, and ``cat-engine --help`` answers without importing the
server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click

from cat_engine.cli import SHORT_HELP, SUBCOMMANDS, cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def commands(group: click.Group = cli, path: tuple[str, ...] = ()):
    """(path, command) of every command and subcommand."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def test_every_option_has_help_text():
    missing = [f"{' '.join(path)} {'/'.join(param.opts)}"
               for path, command in commands() for param in command.params
               if isinstance(param, click.Option) and not param.hidden and not param.help]
    assert missing == []


def test_the_readme_table_names_every_command_and_subcommand():
    # Each row's first cell: "`session create / list / ...`" or "`simulate / calibrate`".
    cells = [re.match(r"\| `([^`]+)`", line).group(1).replace("/", " ").split()
             for line in README.splitlines() if re.match(r"\| `[^`]+` \|", line)]
    missing = []
    for path, command in commands():
        if len(path) == 1 and not isinstance(command, click.Group):
            ok = any(path[0] in cell for cell in cells)
        elif len(path) == 2:
            ok = any(cell[0] == path[0] and path[1] in cell[1:] for cell in cells)
        else:
            continue
        if not ok:
            missing.append(" ".join(path))
    assert missing == []


def test_the_readme_says_where_it_listens_and_where_the_data_goes():
    for words in ("--host", "--port", "--data-dir", "cat-engine-data", "demo.json",
                  "passphrase", "SIGTERM"):
        assert words in README, words


def test_help_lists_every_command_without_importing_them():
    assert set(SHORT_HELP) <= set(SUBCOMMANDS)
    probe = ("import sys\n"
             "from cat_engine.cli import cli\n"
             "try:\n    cli.main(['--help'], prog_name='cat-engine')\n"
             "except SystemExit:\n    pass\n"
             "heavy = sorted(m for m in sys.modules if m.startswith('cat_engine.cli.')\n"
             "               or m.split('.')[0] in ('flask', 'numpy', 'scipy', 'sqlalchemy',\n"
             "                                      'matplotlib', 'gevent'))\n"
             "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "HEAVY []" in out, out[-500:]
    for name in SUBCOMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\s+\S", out, re.M), name
