"""``cat-engine results``: a session's results taken out of the site.

Each subcommand lives in its own module, imported only when called, so that several of
them can be added without touching one another.
"""

from __future__ import annotations

import click

from cat_engine.cli import LazyGroup

#: name -> "module:attribute" of each ``results`` subcommand.
RESULTS_SUBCOMMANDS: dict[str, str] = {
    "export-qti": "cat_engine.cli.results_qti:export_qti",
    "export": "cat_engine.cli.results_signed:export",
    "verify": "cat_engine.cli.results_signed:verify",
    "merge": "cat_engine.cli.results_merge:merge",
}


@click.group(cls=LazyGroup, lazy_subcommands=RESULTS_SUBCOMMANDS)
def results() -> None:
    """Take a session's results out of the site (signed results, QTI 3.0 Results
    Reporting) and check them anywhere."""
