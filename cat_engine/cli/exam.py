"""``cat-engine exam``: print a preset as a file to start from, check an exam against a bank,
import a QTI assessment test as an exam.

Exit codes of ``exam check``: 0 the exam is valid (and the bank, if given, has enough items),
1 the bank is short of items, 2 the exam file or the bank file is invalid.
"""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import fail
from scoring.exam import Exam, ExamError, exam_to_toml, load_exam

#: Exit code of ``exam check`` when the bank cannot supply the blueprint.
EXIT_BANK_SHORT = 1


def _load(source: str) -> Exam:
    try:
        return load_exam(source)
    except ExamError as exc:
        fail(str(exc))


@click.group()
def exam() -> None:
    """Exam definitions: presets, exam files, and whether a bank can supply them."""


@exam.command()
@click.argument("source", metavar="EXAM")
def show(source: str) -> None:
    """Print EXAM as a commented TOML file to start from.

    EXAM is a preset (skd, pppk) or an exam file: `cat-engine exam show skd > my-exam.toml`.
    """
    click.echo(exam_to_toml(_load(source)), nl=False)


@exam.command()
@click.argument("source", metavar="EXAM")
@click.option(
    "--bank",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A .catbank file: check that it holds enough items (no key needed).",
)
def check(source: str, bank: Path | None) -> None:
    """Validate EXAM (a preset or a TOML file) and, with --bank, the bank's item counts.

    Every problem of an exam file is listed with its key path. Exits 0 when all is well,
    1 when the bank is short of items (each short section, topic or difficulty listed),
    2 when the exam or the bank file is invalid.
    """
    exam_ = _load(source)
    click.echo(_summary(exam_))
    if bank is None:
        return
    from item_bank.catbank import read_manifest
    from item_bank.errors import BankError
    from scoring.forms import check_bank

    try:
        manifest = read_manifest(bank)
    except BankError as exc:
        fail(str(exc))
    shortages = check_bank(exam_, manifest.sections)
    if shortages:
        click.echo(f"bank {bank}: cannot supply the exam:")
        for shortage in shortages:
            click.echo(f"  {shortage}")
        raise SystemExit(EXIT_BANK_SHORT)
    click.echo(
        f"bank {bank}: enough items for every section, topic and difficulty "
        "(enemy marks are checked when forms are drawn)"
    )


@exam.command("import")
@click.argument("test", metavar="TEST", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The exam file (TOML) to write.")
@click.option("--id", "exam_id", help="The exam's id (default: from the test's identifier).")
@click.option("--weights", "weighted", multiple=True, metavar="SECTION",
              help="A section scored by its items' option weights (repeatable); the others "
                   "score by the key.")
@click.option("--correct", type=float, default=1.0, show_default=True,
              help="Points for the keyed option in sections scored by the key.")
@click.option("--wrong", type=float, default=0.0, show_default=True,
              help="Points for any other option in those sections.")
@click.option("--minutes", type=click.IntRange(1, 24 * 60),
              help="The exam's clock when the test gives no time limit.")
def import_(test: Path, out_path: Path, exam_id: str | None, weighted: tuple[str, ...],
            correct: float, wrong: float, minutes: int | None) -> None:
    """Turn a QTI assessment test (TEST: a 2.1 assessmentTest or 3.0 qti-assessment-test
    .xml file, or a content package .zip or folder holding one) into an exam file.

    Sections, selection counts, ordering and time limits become the blueprint and clocks;
    everything else the test says is listed as not mapped, with its element. Check the
    result with `cat-engine exam check EXAM.toml --bank BANK.catbank`.
    """
    from item_bank.atomic import atomic_write
    from item_bank.formats.qti_package import PackageError, read_test_file
    from scoring.qti_test import exam_from_qti_test

    try:
        source, data = read_test_file(test)
    except PackageError as exc:
        fail(f"{test}: {exc}")
    try:
        imported = exam_from_qti_test(data, source=source, exam_id=exam_id, weighted=weighted,
                                      correct=correct, wrong=wrong, minutes=minutes)
    except ExamError as exc:
        fail(str(exc))
    for note in imported.notes:
        click.echo(f"not mapped: {note}", err=True)
    header = [f"# Imported from the QTI assessment test {source}."]
    header += [f"# Not mapped: {n.location}: {n.reason}" for n in imported.notes]
    text = "\n".join(header) + "\n" + exam_to_toml(imported.exam)
    try:
        atomic_write(out_path, [text.encode("utf-8")])
    except OSError as exc:
        fail(f"{out_path}: cannot be written ({exc.strerror})")
    click.echo(_summary(imported.exam))
    click.echo(f"wrote {out_path} ({len(imported.notes)} thing(s) not mapped)")


@exam.command("export-qti")
@click.argument("source", metavar="EXAM")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The QTI assessment test file (.xml) to write.")
@click.option("--version", "version", type=click.Choice(["2.1", "3.0"]), default="3.0",
              show_default=True, help="QTI version to write.")
def export_qti(source: str, out_path: Path, version: str) -> None:
    """Write EXAM's blueprint as a QTI assessment test: sections and their item counts,
    topics as sub-sections, item shuffling, navigation and clocks (what `exam import` reads
    back). Scoring, rule sets, ranking and accommodations have no place in a QTI test and
    are listed as not written.
    """
    from item_bank.atomic import atomic_write
    from scoring.qti_test import exam_to_qti_test

    data, notes = exam_to_qti_test(_load(source), version)
    for note in notes:
        click.echo(f"not written: {note}", err=True)
    try:
        atomic_write(out_path, [data])
    except OSError as exc:
        fail(f"{out_path}: cannot be written ({exc.strerror})")
    click.echo(f"wrote {out_path} (QTI {version} assessment test)")


def _summary(exam_: Exam) -> str:
    clocks = " + ".join(str(block.minutes) for block in exam_.time_blocks())
    lines = [
        f"exam {exam_.id}: {exam_.title or exam_.id}",
        f"  {len(exam_.sections)} sections, {exam_.n_items} items, {clocks} minutes, "
        f"navigation {exam_.navigation}",
    ]
    for section in exam_.sections:
        rule = section.scoring
        if rule.rule == "key":
            scoring = f"key {rule.correct:g}/{rule.wrong or 0:g}/{rule.blank:g}"
        else:
            scoring = f"option weights, blank {rule.blank:g}"
        lines.append(f"  {section.id}: {section.items} items, {scoring}")
    if exam_.rule_sets:
        lines.append(f"  rule sets: {', '.join(exam_.rule_sets)}")
    return "\n".join(lines)

