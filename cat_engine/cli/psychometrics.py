"""``cat-engine simulate``, ``calibrate`` and ``analyze``: psychometrics from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cat_engine.cli.common import fail


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{what} {path}: no such file")
    except UnicodeDecodeError:
        fail(f"{what} {path}: not UTF-8 text")
    except OSError as exc:
        fail(f"{what} {path}: {exc.strerror}")


def _load_params(path: Path, d: float):
    from scoring.irt.models import ParamsError, load_params

    try:
        return load_params(_read_text(path, "item parameters"), D=d)
    except ParamsError as exc:
        fail(f"{path}: {exc}")


def _load_thetas(path: Path) -> list[float]:
    text = _read_text(path, "abilities")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{path}: not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}")
    if isinstance(data, dict):
        data = data.get("thetas")
    if not isinstance(data, list) or not data:
        fail(f"{path}: expected a non-empty list of abilities (or under 'thetas')")
    out = []
    for n, value in enumerate(data, start=1):
        if isinstance(value, bool) or not isinstance(value, int | float) or not -10 <= value <= 10:
            fail(f"{path}: ability {n} must be a number in [-10, 10], got {value!r}")
        out.append(float(value))
    return out


def _write(path: Path, text: str) -> None:
    """Write atomically, so a failed run never leaves half a file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"cannot write {path}: {exc.strerror}")


@click.command()
@click.option(
    "--items",
    "items_path",
    required=True,
    type=click.Path(path_type=Path),
    help='PARAMS.json: {"items": [{"id", "a", "b", "c"}, ...]}; weighted items as '
    '{"id", "model": "grm"|"gpcm", "a", "thresholds": [...]}.',
)
@click.option(
    "--thetas",
    "thetas_path",
    type=click.Path(path_type=Path),
    help='JSON list of true abilities (or {"thetas": [...]}).',
)
@click.option(
    "--examinees",
    type=click.IntRange(1, 1_000_000),
    help="Draw this many true abilities from N(0, 1) instead.",
)
@click.option(
    "--length",
    type=click.IntRange(1, 10_000),
    required=True,
    help="Test length (the maximum when --se is given).",
)
@click.option(
    "--min-length",
    type=click.IntRange(0, 10_000),
    default=1,
    show_default=True,
    help="Never stop on --se before this many items.",
)
@click.option(
    "--se",
    "se_target",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop once the standard error is at most this.",
)
@click.option(
    "--selector",
    default="max_info",
    show_default=True,
    type=click.Choice(["max_info", "kl", "randomesque", "sympson_hetter"]),
    help="How the next item is chosen.",
)
@click.option(
    "--estimator", default="eap", show_default=True, type=click.Choice(["eap", "map", "mle"]),
    help="How ability is estimated after each answer.",
)
@click.option("--randomesque-k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Randomesque: pick among this many most informative items.")
@click.option(
    "--r-max",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.25,
    show_default=True,
    help="Sympson-Hetter: the target maximum exposure rate.",
)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed (the same seed gives the same figures).")
@click.option(
    "--d",
    "d_const",
    type=click.Choice(["1", "1.702"]),
    default="1",
    show_default=True,
    help="Scaling constant of the parameters' metric.",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
def simulate(
    items_path,
    thetas_path,
    examinees,
    length,
    min_length,
    se_target,
    selector,
    estimator,
    randomesque_k,
    r_max,
    seed,
    d_const,
    as_json,
) -> None:
    """Simulate adaptive tests and print rmse, bias, mean_se, exposure and speed as JSON.

    With --selector sympson_hetter the exposure parameters are first calibrated by
    simulation on the same abilities (target --r-max), then the reported run uses them.
    Weighted (GRM/GPCM) items answer in categories 0..m drawn from their category
    probabilities, and may be mixed with dichotomous ones.
    """
    import numpy as np
    from pydantic import ValidationError

    from scoring.irt.adaptive import AdaptiveConfig
    from scoring.irt.simulation import calibrate_sympson_hetter
    from scoring.irt.simulation import simulate as run

    if (thetas_path is None) == (examinees is None):
        fail("give exactly one of --thetas or --examinees")
    if min_length > length:
        fail(f"--min-length {min_length} exceeds --length {length}")
    params = _load_params(items_path, float(d_const))
    thetas = (
        _load_thetas(thetas_path)
        if thetas_path is not None
        else np.random.default_rng(seed).normal(size=examinees)
    )
    if length > len(params):
        fail(f"--length {length} exceeds the {len(params)} items in {items_path}")
    try:
        config = AdaptiveConfig(
            selector="max_info" if selector == "sympson_hetter" else selector,
            estimator=estimator,
            randomesque_k=randomesque_k,
            max_items=length,
            min_items=min_length,
            se_target=se_target,
        )
    except ValidationError as exc:
        fail(f"invalid settings: {exc.errors()[0]['msg']}")
    extra = {}
    if selector == "sympson_hetter":
        cal = calibrate_sympson_hetter(params, thetas, config, r_max=r_max, seed=seed + 1)
        config = config.model_copy(update={"selector": "sympson_hetter", "exposure": cal.exposure})
        extra = {"sh_iterations": len(cal.max_exposure), "sh_converged": cal.converged}
        if not as_json:
            click.echo(
                f"Sympson-Hetter calibration: max exposure by iteration "
                f"{[round(x, 3) for x in cal.max_exposure]}",
                err=True,
            )
    result = run(params, thetas, config, seed=seed)
    summary = {**result.summary(), **extra}
    if not as_json:
        click.echo(
            f"{result.n} simulees, {config.selector} + {config.estimator}: RMSE "
            f"{summary['rmse']}, bias {summary['bias']}, mean SE {summary['mean_se']}, mean "
            f"length {summary['mean_length']}, max exposure {summary['max_exposure']}, "
            f"{summary['us_per_step']} µs/step",
            err=True,
        )
    click.echo(json.dumps(summary))


@click.command()
@click.argument("responses", type=click.Path(path_type=Path))
@click.option("--model", type=click.Choice(["1pl", "2pl", "3pl", "grm", "gpcm"]), default="2pl",
              show_default=True,
              help="IRT model to fit.")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write PARAMS.json (with SEs, fit and a convergence report).",
)
@click.option("--max-iter", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Most EM iterations before giving up on convergence.")
@click.option(
    "--min-responses",
    type=click.IntRange(2, 1_000_000),
    default=20,
    show_default=True,
    help="Leave out (and name) items answered by fewer examinees.",
)
def calibrate(responses, model, out_path, max_iter, min_responses) -> None:
    """Calibrate items from RESPONSES.csv by marginal maximum likelihood (Bock-Aitkin EM).

    The CSV has a header of item ids (optionally a first column named 'examinee') and one
    row per examinee; cells are 1, 0, or empty for an item not presented (with --model grm
    or gpcm: the points or categories of weighted items, taken as categories in the order of
    their points). A `responses export` file is read as it is. Items that cannot be
    calibrated (too few responses, no variance, a reversed or mis-keyed item whose estimate
    runs to a bound) are left out of PARAMS.json and all named with the reason.
    """
    from scoring.analysis.responses import (
        ResponseFileError,
        binary_matrix,
        category_matrix,
        parse_responses_csv,
    )
    from scoring.irt.calibration import CalibrationError
    from scoring.irt.calibration import calibrate as run
    from scoring.irt.models import ItemParams, ParamsError
    from scoring.irt.polycalibration import calibrate_polytomous

    weighted = model in ("grm", "gpcm")
    text = _read_text(responses, "responses")
    try:
        table = parse_responses_csv(text, source=str(responses),
                                    cells="points" if weighted else "binary")
        if weighted:
            result = calibrate_polytomous(category_matrix(table), model, ids=table.item_ids,
                                          max_iter=max_iter, min_responses=min_responses)
        else:
            result = run(binary_matrix(table), model, ids=table.item_ids, max_iter=max_iter,
                         min_responses=min_responses)
    except ResponseFileError as exc:
        fail(str(exc))
    except CalibrationError as exc:
        fail(f"{responses}: {exc}")
    doc = result.to_json()
    try:
        # What is written must load in simulate, score, analyze and bank recalibrate.
        ItemParams.from_json(doc)
    except ParamsError as exc:
        fail(f"{responses}: the calibrated parameters do not load ({exc}); nothing written")
    _write(out_path, json.dumps(doc, indent=2) + "\n")
    for item_id, why in result.skipped.items():
        click.echo(f"left out {item_id}: {why}", err=True)
    fit = "" if weighted else f"; {int((result.rmsd > 0.1).sum())} item(s) with RMSD > 0.1"
    state = "converged" if result.converged else "did NOT converge"
    click.echo(
        f"{len(result.params)} of {len(table.item_ids)} items calibrated "
        f"({len(result.skipped)} left out, named above), {result.n_examinees} examinees, "
        f"{model}: {state} after {result.iterations} EM cycles (max change "
        f"{result.max_change:.2g}){fit}; wrote {out_path}"
    )
    if not result.converged:
        raise SystemExit(1)


@click.command()
@click.argument("responses", type=click.Path(path_type=Path))
@click.option(
    "--key",
    "key_path",
    type=click.Path(path_type=Path),
    help="JSON {item id: correct option label}; then cells are the chosen labels.",
)
@click.option("--section", default="", help="Section name shown in the report.")
@click.option(
    "--items",
    "items_path",
    type=click.Path(path_type=Path),
    help="PARAMS.json, to draw model ICCs of flagged items.",
)
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path),
              help="The HTML file to write.")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True,
              help="Language of the report's labels.")
def analyze(responses, key_path, section, items_path, out_path, lang) -> None:
    """Item analysis of RESPONSES.csv as a self-contained HTML report.

    Without --key, cells are points (1/0, or weights such as TKP's 1..5). With --key, cells
    are the option labels chosen ('-' = shown but left blank), which adds distractor analysis
    and the collusion check. A `responses export` file carries its keys and times: the
    report then lists every cheating flag with its evidence (as `cheating` finds them). An
    empty cell is an item the examinee was not presented, as in `calibrate`: it counts
    neither as right nor as wrong.
    """
    import numpy as np

    from scoring.analysis.collusion import identical_wrong_answers
    from scoring.analysis.report import SectionData, build_report
    from scoring.analysis.responses import (
        OMITTED,
        ResponseFileError,
        parse_responses_csv,
        score_matrix,
    )

    text = _read_text(responses, "responses")
    try:
        table = parse_responses_csv(
            text, source=str(responses), cells=None if key_path is not None else "points"
        )
        if table.export is not None and key_path is not None:
            fail(f"{responses} is a responses export: it carries its keys, drop --key")
    except ResponseFileError as exc:
        hint = " (give --key KEY.json if the cells are option labels)"
        fail(f"{exc}{'' if key_path is not None else hint}")
    choices = key = None
    if table.export is not None:
        # A responses export carries the chosen options and the keys itself.
        scores = score_matrix(table)
        key = list(table.export.key)
        choices = [[c if c != OMITTED else "" for c in row] for row in table.export.choices]
    elif key_path is not None:
        try:
            key_map = json.loads(_read_text(key_path, "key"))
        except json.JSONDecodeError as exc:
            fail(f"{key_path}: not valid JSON: line {exc.lineno}: {exc.msg}")
        if not isinstance(key_map, dict):
            fail(f"{key_path}: expected an object {{item id: option label}}")
        missing = [i for i in table.item_ids if i not in key_map]
        if missing:
            fail(f"{key_path}: no key for item(s) {', '.join(missing[:10])}")
        key = [str(key_map[i]) for i in table.item_ids]
        picks = np.asarray(table.cells, dtype=object)
        scores = np.where(picks == "", np.nan, (picks == np.asarray(key, dtype=object)) * 1.0)
        # '-' marks a shown item left blank: a wrong answer with no option chosen.
        choices = [[c if c != OMITTED else "" for c in row] for row in table.cells]
    else:
        try:
            scores = score_matrix(table)
        except ResponseFileError as exc:
            fail(f"{exc} (give --key KEY.json if the cells are option labels)")
    params = _load_params(items_path, 1.0) if items_path is not None else None
    if params is not None and params.has_polytomous:
        # The report draws P(correct) curves: only dichotomous items have one.
        keep = np.flatnonzero(params.kind == 0)
        params = params.subset(keep) if len(keep) else None
    keyed = [j for j, k in enumerate(key or []) if k]  # weighted items have no key
    cheating = signals = None
    if table.export is not None:
        # An export has times and sites too: every cheating flag with its evidence.
        from scoring.analysis.flags import cheating_flags

        cheating = cheating_flags(table)
    else:
        signals = (
            identical_wrong_answers(
                [[row[j] for j in keyed] for row in choices],
                [key[j] for j in keyed],
                table.examinees,
            )
            if keyed
            else []
        )
    dif = _dif_by_group(table) if table.export is not None else []
    html = build_report(
        [SectionData(section or responses.stem, table.item_ids, scores, choices, key)],
        params=params,
        collusion=signals,
        lang=lang,
        dif=dif,
        cheating=cheating,
    )
    _write(out_path, html)
    flagged = [f"{r.item_id} ({foc}: {r.category}, delta {r.delta:.2f})"
               for _, foc, r in dif if r.category != "A"]
    if dif:
        click.echo(f"DIF (Mantel-Haenszel) against {dif[0][0]}: {len(flagged)} item(s) in "
                   f"category B or C{': ' + ', '.join(flagged[:10]) if flagged else ''}")
    click.echo(f"{len(table.item_ids)} items, {len(table.examinees)} examinees; wrote {out_path}")


def _dif_by_group(table, min_group: int = 30) -> list:
    """MH DIF of the keyed items for every roster group of a responses export with at least
    ``min_group`` examinees, against the largest group (the reference)."""
    from collections import Counter

    from scoring.analysis.dif import mantel_haenszel
    from scoring.analysis.responses import binary_matrix

    sizes = Counter(g for g in table.export.group if g)
    groups = [g for g, n in sizes.most_common() if n >= min_group]
    keyed = [j for j, k in enumerate(table.export.key) if k]
    if len(groups) < 2 or not keyed:
        return []
    right = binary_matrix(table)[:, keyed]
    ids = [table.item_ids[j] for j in keyed]
    return [(groups[0], focal, r)
            for focal in groups[1:]
            for r in mantel_haenszel(right, ids, table.export.group, groups[0], focal)]


SCORE_METHODS = ("eap", "map", "mle", "wle", "sum-eap")


@click.command()
@click.argument("responses", type=click.Path(path_type=Path))
@click.option("--items", "items_path", required=True, type=click.Path(path_type=Path),
              help="PARAMS.json of the items (as calibrate writes it).")
@click.option("--method", "methods", multiple=True, type=click.Choice(SCORE_METHODS),
              help="Estimator(s); repeat for several (default: all).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the scores as CSV here instead of printing them.")
def score(responses, items_path, methods, out_path) -> None:
    """Score every examinee of RESPONSES.csv (a 0/1 response file, categories 0..m for
    weighted items, or a responses export) on the items of --items: theta and its standard
    error by EAP, MAP, MLE, WLE and sum-score EAP, one row per examinee.

    Items of the file without parameters are left out (and named); empty cells are items
    not presented.
    """
    import csv
    import io

    import numpy as np

    from scoring.analysis.responses import ResponseFileError, parse_responses_csv, score_matrix
    from scoring.irt.estimators import (
        EAPEstimator,
        MAPEstimator,
        MLEEstimator,
        SumScoreEAPEstimator,
        WLEEstimator,
    )

    params = _load_params(items_path, 1.0)
    try:
        table = parse_responses_csv(_read_text(responses, "responses"), source=str(responses),
                                    cells="points")
    except ResponseFileError as exc:
        fail(str(exc))
    if table.export is not None:
        from scoring.analysis.responses import binary_matrix

        matrix = binary_matrix(table)
    else:
        matrix = score_matrix(table)
    index = params.index
    known = [j for j, i in enumerate(table.item_ids) if i in index]
    unknown = [i for i in table.item_ids if i not in index]
    if not known:
        fail(f"{responses}: none of its items is in {items_path}")
    if unknown:
        click.echo(f"left out {len(unknown)} item(s) without parameters: "
                   f"{', '.join(unknown[:10])}", err=True)
    methods = methods or SCORE_METHODS
    estimators = {"eap": EAPEstimator(), "map": MAPEstimator(), "mle": MLEEstimator(),
                  "wle": WLEEstimator(), "sum-eap": SumScoreEAPEstimator()}
    cols = np.array([index[table.item_ids[j]] for j in known])
    sub = matrix[:, known]
    header = ["examinee", "items", "sum"] + [f"{m}_{v}" for m in methods for v in ("theta", "se")]
    rows = []
    for name, row in zip(table.examinees, sub, strict=True):
        seen = ~np.isnan(row)
        items, answers = cols[seen], row[seen]
        out = [name, str(int(seen.sum())), f"{answers.sum():g}"]
        for method in methods:
            try:
                est = estimators[method].estimate(params, items, answers)
            except ValueError as exc:
                fail(f"{responses}: examinee {name}: {exc}")
            out += [f"{est.theta:.4f}", f"{est.se:.4f}"]
        rows.append(out)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if out_path is None:
        click.echo(buf.getvalue(), nl=False)
    else:
        _write(out_path, buf.getvalue())
        click.echo(f"scored {len(rows)} examinee(s) by {', '.join(methods)}; wrote {out_path}")
