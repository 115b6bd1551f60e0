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
    import numpy as np

    from scoring.analysis.copying import BLANK, NOT_SHOWN, ability_model, detect_copying
    from scoring.analysis.personfit import lz_star
    from scoring.analysis.responses import OMITTED, ResponseFileError, parse_responses_csv
    from scoring.analysis.timing import (
        activity,
        fit_lognormal,
        interleaved_pairs,
        rings,
        speed_flags,
    )
    from scoring.irt.estimators import MLEEstimator

    try:
        table = parse_responses_csv(_read_text(responses, "responses"), source=str(responses))
    except ResponseFileError as exc:
        fail(str(exc))
    data = table.export
    if data is None:
        fail(f"{responses}: not a responses export (columns examinee, item, choice, key, "
             "score, answered_ms, seconds): write one with `cat-engine responses export`")
    names = list(table.examinees)
    n = len(names)
    keyed = [j for j, k in enumerate(data.key) if k]
    report: dict = {"examinees": n, "pairs": n * (n - 1) // 2, "alpha": alpha}
    lines = [f"{n} candidates, {report['pairs']} pairs, {len(table.item_ids)} items; "
             f"family-wise false-alarm rate {alpha} (one honest flag per "
             f"{1 / alpha:.0f} exams of this size, on average)"]

    if keyed:
        labels = sorted({c for row in data.choices for c in row if c not in ("", OMITTED)}
                        | {data.key[j] for j in keyed})
        index = {label: i for i, label in enumerate(labels)}
        options = np.full((n, len(keyed)), NOT_SHOWN, dtype=np.int64)
        for i, row in enumerate(data.choices):
            for col, j in enumerate(keyed):
                cell = row[j]
                options[i, col] = (NOT_SHOWN if cell == "" else BLANK if cell == OMITTED
                                   else index[cell])
        key = np.array([index[data.key[j]] for j in keyed])
        # One calibration serves both copying and person fit.
        model = ability_model(options, key)
        copying, _ = detect_copying(options, key, names, alpha=alpha, model=model)
        report["copying"] = [vars(p) for p in copying]
        lines.append(f"\nCopying (likelihood ratio given ability): {len(copying)} pair(s)")
        lines += [f"  {p.copier} likely copied from {p.source}: {p.matches} of {p.shared} "
                  f"shared answers identical, {p.expected:.1f} expected alone; about "
                  f"{p.copy_rate:.0%} copied; p = {p.p_value:.2g} "
                  f"(honest pairs this extreme: {p.expected_false_alarms:.2g} per exam)"
                  for p in copying]
        scored = np.where(options == NOT_SHOWN, np.nan, (options == key[None, :]) * 1.0)
        params, cols = model.params, model.cols
        if params is not None:
            mle = MLEEstimator()
            sub = scored[:, cols]
            theta = np.array([
                mle.estimate(params, np.flatnonzero(~np.isnan(r)),
                             r[~np.isnan(r)].astype(int)).theta for r in sub])
            lz = lz_star(params, sub, theta)
            from scipy.stats import norm

            cut = norm.ppf(alpha / n)
            misfit = [(names[i], float(lz[i])) for i in np.argsort(lz) if lz[i] <= cut]
            report["person_fit"] = [{"examinee": e, "lz_star": v} for e, v in misfit]
            lines.append(f"\nPerson fit lz* <= {cut:.2f}: {len(misfit)} candidate(s)")
            lines += [f"  {e}: lz* = {v:.2f}" for e, v in misfit]

    timed = np.isfinite(data.answered_ms)
    if timed.any():
        model = fit_lognormal(data.examinee_index, data.item_index, data.seconds, n,
                              len(table.item_ids))
        speed = speed_flags(model, data.examinee_index, data.answered_ms, names, alpha=alpha)
        links = interleaved_pairs(activity(data.examinee_index[timed],
                                           data.answered_ms[timed], n), names)
        groups = rings([(p.first, p.second) for p in links])
        where = {names[i]: f"{data.site[i] or '-'}/{data.session[i]}/{data.room[i]}"
                 for i in range(n)}
        report["rings"] = [[{"examinee": x, "where": where[x]} for x in g] for g in groups]
        report["interleaved_pairs"] = [vars(p) for p in links]
        report["speed"] = [vars(f) for f in speed]
        lines.append(f"\nRemote-helper rings (answers interleave, >= 3 linked): {len(groups)}")
        lines += ["  " + ", ".join(f"{x} ({where[x]})" for x in g) for g in groups]
        lines.append(f"  linked pairs: {len(links)}")
        lines += [f"    {p.first} - {p.second}: {p.observed} answers while the other was "
                  f"busy, {p.expected:.1f} expected" for p in links[:20]]
        lines.append(f"\nAberrant speed: {len(speed)} candidate(s)")
        lines += [f"  {f.examinee}: {f.too_fast} of {f.answers} answers far too fast "
                  f"({f.expected_too_fast:.2f} expected, p = {f.p_value:.2g}); "
                  f"{f.idle_bursts} wait(s) followed by a burst" for f in speed]
    click.echo("\n".join(lines))
    if out_path is not None:
        _write(out_path, json.dumps(report, indent=2, default=float) + "\n")
