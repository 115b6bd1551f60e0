"""The ``cat-engine`` console command.

Subcommands live in their own modules and are imported only when called (click's lazy
group pattern), so ``cat-engine bank inspect`` does not pay for importing Flask or scipy.
Each module exposes one click command or group under the attribute named here.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from cat_engine import __version__

#: name -> "module:attribute" of the click command that implements it.
SUBCOMMANDS: dict[str, str] = {
    "keys": "cat_engine.cli.keys:keys",
    "bank": "cat_engine.cli.bank:bank",
    "demo-bank": "cat_engine.cli.bank:demo_bank",
    "exam": "cat_engine.cli.exam:exam",
    "simulate": "cat_engine.cli.psychometrics:simulate",
    "calibrate": "cat_engine.cli.psychometrics:calibrate",
    "analyze": "cat_engine.cli.psychometrics:analyze",
    "report": "cat_engine.cli.report:report",
    "results": "cat_engine.cli.results:results",
    "serve": "cat_engine.cli.serve:serve",
    "session": "cat_engine.cli.session:session",
    "user": "cat_engine.cli.user:user",
    "device": "cat_engine.cli.device:device",
    "loadtest": "cat_engine.cli.loadtest:loadtest",
    "db": "cat_engine.cli.db:db",
    "audit": "cat_engine.cli.audit:audit",
    "responses": "cat_engine.cli.responses:responses",
    "score": "cat_engine.cli.psychometrics:score",
    "cheating": "cat_engine.cli.cheating:cheating",
    "proxy-config": "cat_engine.cli.proxy:proxy_config",
}

#: What ``cat-engine --help`` says of each subcommand, so that listing them imports none
#: (a subcommand missing here is imported to ask it: slower, still right).
SHORT_HELP: dict[str, str] = {
    "analyze": "Item analysis of a response file as one HTML report.",
    "audit": "The audit log: verify every session's hash chain and signed heads.",
    "bank": "Build, inspect, verify and export encrypted item banks.",
    "calibrate": "Calibrate IRT item parameters from a response file.",
    "db": "The site database: upgrade its schema, verify its audit log.",
    "device": "Enrolled public screens and candidate PCs: list, enrol, revoke.",
    "demo-bank": "Write a synthetic SKD-style demo bank in Bahasa Indonesia.",
    "exam": "Exam definitions: presets, exam files, whether a bank can supply them.",
    "keys": "Signing keys (who made a bank) and site keys (which site may open it).",
    "loadtest": "Play N candidates through an exam over real websockets; report latency.",
    "proxy-config": "Write the nginx configuration for several server processes.",
    "report": "Write the item analysis of a session as one HTML file.",
    "responses": "Export sessions' answers, points and times for the analyses.",
    "results": "Signed session results (export, verify); QTI 3.0 Results Reporting.",
    "score": "Score response patterns with calibrated items: EAP, MAP, MLE, WLE.",
    "cheating": "Copying and remote-helper signals from a responses export.",
    "serve": "Run the exam server (terminals, proctor console, public board).",
    "session": "Exam sessions: create, list, open, close; rosters, terminal release.",
    "simulate": "Simulate adaptive tests and print their precision.",
    "user": "Accounts of the proctor console: add, list, disable, assign.",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args, lazy_subcommands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [name for name in self.lazy_subcommands if self._importable(name)]
        return sorted(set(super().list_commands(ctx)) | set(available))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            text = SHORT_HELP.get(name) if name in self.lazy_subcommands else None
            if text is None:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                text = command.get_short_help_str(formatter.width - 6 - len(name))
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _importable(self, name: str) -> bool:
        module_name = self.lazy_subcommands[name].split(":", 1)[0]
        return importlib.util.find_spec(module_name) is not None

    def _load(self, name: str) -> click.Command | None:
        module_name, attribute = self.lazy_subcommands[name].split(":", 1)
        if importlib.util.find_spec(module_name) is None:
            return None
        command = getattr(importlib.import_module(module_name), attribute, None)
        return command if isinstance(command, click.Command) else None


@click.group(
    cls=LazyGroup,
    lazy_subcommands=SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="cat-engine")
def cli() -> None:
    """cat-engine: a computer-assisted testing exam server.

    Prepare an encrypted item bank, define exams, run a test site with live scoring,
    and analyse the results afterwards. Run ``cat-engine COMMAND --help`` for details.
    """


def main() -> None:
    """Console entry point: no traceback ever reaches the operator."""
    try:
        cli.main(prog_name="cat-engine", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
