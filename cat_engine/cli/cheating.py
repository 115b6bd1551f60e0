"""``cat-engine cheating``: copying pairs, remote-helper rings, aberrant speed and person fit
from a responses export (one site's, or several sites' concatenated)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cat_engine.cli.common import fail
from cat_engine.cli.psychometrics import _read_text, _write


@click.command()
@click.argument("responses", type=click.Path(path_type=Path))
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True), default=0.1,
              show_default=True,
              help="Family-wise false-alarm rate: the chance that an exam with no cheating "
              "at all raises one flag (copying, speed, person fit, each).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every flag with its evidence as JSON.")
def cheating(responses: Path, alpha: float, out_path: Path | None) -> None:
    """Copying and remote-helper signals in RESPONSES.csv, a `responses export` file (the
    files of several sites may be concatenated, one header: every pair across rooms and
    sites is compared).

    Copying: a likelihood-ratio test of each candidate copying a share of another's answers,
    over the items they shared, with the copier's ability estimated under copying. Remote
    helpers: candidates whose answers interleave (one works while the other waits) in rings
    of three or more, answers far too fast for the item, long
    waits followed by bursts. Person fit: lz*. See docs/psychometrics.md.
    """
    from scoring.analysis.flags import cheating_flags
    from scoring.analysis.responses import ResponseFileError, parse_responses_csv

    try:
        table = parse_responses_csv(_read_text(responses, "responses"), source=str(responses))
    except ResponseFileError as exc:
        fail(str(exc))
    if table.export is None:
        fail(f"{responses}: not a responses export (columns examinee, item, choice, key, "
             "score, answered_ms, seconds): write one with `cat-engine responses export`")
    flags = cheating_flags(table, alpha=alpha)
    n = flags.examinees
    report: dict = {"examinees": n, "pairs": n * (n - 1) // 2, "alpha": alpha}
    lines = [f"{n} candidates, {report['pairs']} pairs, {len(table.item_ids)} items; "
             f"family-wise false-alarm rate {alpha} (one honest flag per "
             f"{1 / alpha:.0f} exams of this size, on average)"]
    if flags.keyed:
        report["copying"] = [vars(p) for p in flags.copying]
        lines.append(f"\nCopying (likelihood ratio given ability): {len(flags.copying)} pair(s)")
        lines += [f"  {p.copier} likely copied from {p.source}: {p.matches} of {p.shared} "
                  f"shared answers identical, {p.expected:.1f} expected alone; about "
                  f"{p.copy_rate:.0%} copied; p = {p.p_value:.2g} "
                  f"(honest pairs this extreme: {p.expected_false_alarms:.2g} per exam)"
                  for p in flags.copying]
    if flags.person_fit_cut is not None:
        report["person_fit"] = [vars(f) for f in flags.person_fit]
        lines.append(f"\nPerson fit lz* <= {flags.person_fit_cut:.2f}: "
                     f"{len(flags.person_fit)} candidate(s)")
        lines += [f"  {f.examinee}: lz* = {f.lz_star:.2f}" for f in flags.person_fit]
    if flags.timed:
        where = flags.where
        report["rings"] = [[{"examinee": x, "where": where[x]} for x in g]
                           for g in flags.rings]
        report["interleaved_pairs"] = [vars(p) for p in flags.interleaved]
        report["speed"] = [vars(f) for f in flags.speed]
        lines.append("\nRemote-helper rings (answers interleave, >= 3 linked): "
                     f"{len(flags.rings)}")
        lines += ["  " + ", ".join(f"{x} ({where[x]})" for x in g) for g in flags.rings]
        lines.append(f"  linked pairs: {len(flags.interleaved)}")
        lines += [f"    {p.first} - {p.second}: {p.observed} answers while the other was "
                  f"busy, {p.expected:.1f} expected" for p in flags.interleaved[:20]]
        lines.append(f"\nAberrant speed: {len(flags.speed)} candidate(s)")
        lines += [f"  {f.examinee}: {f.too_fast} of {f.answers} answers far too fast "
                  f"({f.expected_too_fast:.2f} expected, p = {f.p_value:.2g}); "
                  f"{f.idle_bursts} wait(s) followed by a burst" for f in flags.speed]
    click.echo("\n".join(lines))
    if out_path is not None:
        _write(out_path, json.dumps(report, indent=2, default=float) + "\n")
