"""``cat-engine results merge``: the national ranking from every site's signed results."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import click

from cat_engine.cli.common import fail


@click.command("merge")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--formations", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV: code,name,vacancies,rule_set (rule_set empty: the exam's default).")
@click.option("--site-keys", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory of the sites' public signing keys (*.pub); each file must be "
                   "signed by one of them.")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the announcement (created; must not exist or be empty).")
@click.option("--decrypt-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The central office's X25519 private key, for encrypted files.")
@click.option("--title", default="Pengumuman hasil SKD", show_default=True,
              help="The announcement's title.")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True,
              help="Language of the page and the PDF.")
@click.option("--database-url", envvar="CAT_ENGINE_MERGE_DATABASE_URL",
              help="Keep the merge's data in PostgreSQL (postgresql://...) instead of this "
                   "machine's memory: each run loads into a fresh schema merge_<time>_<id>, "
                   "in one transaction that is rolled back on any failure and kept (ranked, "
                   "sources, formations) on success.")
@click.option("--jobs", type=click.IntRange(1, 64), default=lambda: min(os.cpu_count() or 1, 4),
              show_default="the cores, at most 4",
              help="Processes verifying files at once (each checks whole files).")
def merge(files: tuple[Path, ...], formations: Path, site_keys: Path, out_dir: Path,
          decrypt_key: Path | None, title: str, lang: str, database_url: str | None,
          jobs: int) -> None:
    """Verify every FILE, then rank each formation nationally and write the announcement.

    Nothing is merged or written if any file fails (each failing file is named with its
    reason), or if a registration number sat at two sites. Writes ranking.csv, ranking.json,
    receipts.csv, announcement.pdf and a searchable index.html (docs/integrity.md). With
    --database-url the candidates are kept in PostgreSQL, not in memory; the files written
    are the same.
    """
    from cat_engine.cli.results_signed import load_decrypt_key
    from scoring.integrity.merge import MergeError, read_formations

    started, cpu0 = time.perf_counter(), _cpu()
    if out_dir.exists() and any(out_dir.iterdir()):
        fail(f"--out {out_dir}: exists and is not empty")
    try:
        table = read_formations(formations.read_text(encoding="utf-8"), str(formations))
    except OSError as exc:
        fail(f"--formations {formations}: {exc.strerror or exc}")
    except MergeError as exc:
        fail(str(exc))
    keys = _site_keys(site_keys)
    decrypt = load_decrypt_key(decrypt_key)
    if database_url:
        _merge_in_postgres(database_url, files, keys, decrypt, table, out_dir, title, lang,
                           (started, cpu0), jobs)
        return
    parts: list = []
    exam, problems = _verify_files(files, keys, decrypt, lambda part, _exam: parts.append(part),
                                   jobs)
    verified, cpu1 = time.perf_counter(), _cpu()
    _refuse(problems, len(files))
    from scoring.integrity.merge import merge as merge_all

    try:
        merged = merge_all(parts, table, exam)
    except MergeError as exc:
        fail(f"nothing was merged: {exc}")
    parts.clear()  # the merge holds its own copies; the files' columns can go
    ranked, cpu2 = time.perf_counter(), _cpu()
    from cat_engine.services.announce import MemoryRanked

    _write(MemoryRanked(merged), out_dir, title, lang, jobs=jobs)
    done, cpu3 = time.perf_counter(), _cpu()
    _summary(out_dir, len(merged.registration), int(merged.next_stage.sum()), len(files),
             len(table), [started, verified, ranked, done], [cpu0, cpu1, cpu2, cpu3])


def _merge_in_postgres(url, files, keys, decrypt, table, out_dir, title, lang, t0,
                       jobs: int) -> None:
    """The same merge with its data in PostgreSQL: files loaded as they verify (nothing is
    committed until the announcement is written), then ranked and read back in SQL."""
    from sqlalchemy.exc import SQLAlchemyError

    from cat_engine.services.announce import SHARDS
    from cat_engine.services.national import NationalRun
    from scoring.integrity.merge import MergeError

    times, cpus = [t0[0]], [t0[1]]
    try:
        with NationalRun(url, table, SHARDS) as run:
            refusal: list[str] = []

            def load(part, exam) -> None:
                if refusal:  # a file failed: verify the rest, load nothing more
                    return
                try:
                    run.load(part, exam)
                except MergeError as exc:
                    refusal.append(str(exc))

            _exam, problems = _verify_files(files, keys, decrypt, load, jobs)
            times.append(time.perf_counter()), cpus.append(_cpu())
            _refuse(problems, len(files))
            if refusal:
                fail(f"nothing was merged: {refusal[0]}")
            try:
                run.rank()
            except MergeError as exc:
                fail(f"nothing was merged: {exc}")
            times.append(time.perf_counter()), cpus.append(_cpu())
            ranked = run.ranked()
            n, going = ranked.count(), sum(ranked.going_on_counts())
            try:
                _write(ranked, out_dir, title, lang, before_rename=run.commit)
            except BaseException:
                if run.committed:  # committed, then the rename failed: undo the commit
                    run.drop()
                raise
            times.append(time.perf_counter()), cpus.append(_cpu())
    except SQLAlchemyError as exc:
        fail(f"--database-url: nothing was merged: {_db_error(exc)}")
    except MergeError as exc:
        fail(str(exc))
    _summary(out_dir, n, going, len(files), len(table), times, cpus,
             f"; kept in PostgreSQL schema {run.schema}")


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the verifying workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _db_error(exc) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[0]


def _refuse(problems: list[str], n_files: int) -> None:
    if problems:
        fail(f"{len(problems)} of {n_files} file(s) failed; nothing was merged:\n"
             + "\n".join(problems))


def _write(ranked, out_dir: Path, title: str, lang: str, before_rename=None,
           jobs: int = 1) -> None:
    """Write into a temporary directory beside --out, then rename it: a reader sees the whole
    announcement or none of it."""
    from cat_engine.services.announce import write_all

    try:
        tmp = Path(tempfile.mkdtemp(prefix=".merge-", dir=out_dir.parent
                                    if out_dir.parent.exists() else None))
    except OSError as exc:
        fail(f"cannot write {out_dir}: {exc.strerror or exc}")
    try:
        write_all(ranked, tmp, title=title, lang=lang, jobs=jobs)
        if before_rename is not None:
            before_rename()
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        fail(f"cannot write {out_dir}: {exc.strerror or exc}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _summary(out_dir, n, going, n_files, n_formations, times, cpus, extra="") -> None:
    # CPU seconds beside the wall clock: on a shared machine they are the steadier figure.
    phases = [f"{name} {times[i + 1] - times[i]:.1f} s, cpu {cpus[i + 1] - cpus[i]:.1f} s"
              for i, name in enumerate(("verify", "rank", "write"))]
    click.echo(f"{out_dir}: {n} candidates from {n_files} files, {going} go on to the next "
               f"stage in {n_formations} formations ({'; '.join(phases)}){extra}")


def _site_keys(folder: Path) -> dict:
    from item_bank import keys as keyfiles

    found = {}
    try:
        paths = sorted(folder.glob("*.pub"))
    except OSError as exc:
        fail(f"--site-keys {folder}: {exc.strerror or exc}")
    for path in paths:
        try:
            key = keyfiles.load_signing_public_key(path)
        except keyfiles.KeyFileError as exc:
            fail(f"--site-keys: {exc}")
        found[keyfiles.fingerprint(key)] = key
    if not found:
        fail(f"--site-keys {folder}: no site public keys (*.pub) in it")
    return found


def _verify_files(files, keys: dict, decrypt_key, on_part, jobs: int = 1):
    """Every file checked (signature by a known site, evidence digest, consistency, one
    exam); each verified file's candidates go to ``on_part(part, exam)``, in the order of
    ``files``, until one fails. Returns the exam and every problem, naming the file.

    With ``jobs`` > 1, that many forked processes verify files while this one takes their
    parts (a few files ahead at most, so a PostgreSQL merge's memory stays bounded)."""
    from scoring.exam import parse_exam

    global _WORKER
    _WORKER = (keys, decrypt_key, {})
    first: str | None = None
    exam = None
    problems: list[str] = []
    for path, (name, definition), part, problem in _each(files, jobs):
        if problem is None:
            if first is None:
                first, exam = definition, parse_exam(definition)
            elif definition != first:
                problem = f"its exam definition ({name}) differs from the first file's"
        if problem is not None:
            problems.append(f"{path}: {problem}")
        elif not problems:  # once one fails nothing is merged: only verdicts matter
            on_part(part, exam)
    return exam, problems


def _each(files, jobs: int):
    """(path, exam definition, part, problem) for each file, in order."""
    if jobs <= 1 or len(files) <= 1:
        for path in files:
            yield (path, *_verify_one(path))
        return
    import collections
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the keys (which do not pickle) and the imported modules.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: collections.deque = collections.deque()
        for path in files:
            pending.append((path, pool.submit(_verify_one, path)))
            if len(pending) >= 2 * jobs:
                done_path, future = pending.popleft()
                yield (done_path, *future.result())
        while pending:
            done_path, future = pending.popleft()
            yield (done_path, *future.result())


#: What a verifying process needs: the site keys, the decryption key, parsed exams.
_WORKER: tuple = ({}, None, {})


def _verify_one(path: Path):
    """((exam name, exam definition), part, None), or ((None, None), None, the problem)."""
    import numpy as np

    from scoring.exam import parse_exam
    from scoring.integrity import results as rf
    from scoring.integrity.canonical import unb64url
    from scoring.integrity.merge import Part

    keys, decrypt_key, exams = _WORKER
    try:
        with open(path, "rb") as handle:
            line = handle.readline(rf.MAX_BYTES)
            if rf.is_encrypted(line):
                line = rf.decrypt(line, decrypt_key).partition(b"\n")[0]
        try:
            kid = json.loads(unb64url(line.split(b".", 1)[0].decode())).get("kid")
        except (ValueError, UnicodeDecodeError, AttributeError):
            raise rf.ResultsError("line 1 is not a results file's JWS") from None
        public = keys.get(kid)
        if public is None:
            raise rf.ResultsError(f"signed by site key {kid}, which is not in --site-keys")
        summary = rf.open_summary(line, public)
        definition = summary["exam"]["definition"]
        if definition not in exams:
            exams[definition] = parse_exam(definition)
        cols, scores = rf.columns(summary)
        found = rf.consistency_problems(summary, exams[definition], public, (cols, scores))
        if found:
            raise rf.ResultsError("; ".join(found[:3]))
    except rf.ResultsError as exc:
        return (None, None), None, str(exc)
    except OSError as exc:
        return (None, None), None, f"cannot read: {exc.strerror or exc}"
    except (KeyError, TypeError, ValueError) as exc:
        return (None, None), None, f"malformed summary: {exc}"
    return (summary["exam"]["name"], definition), Part(
        source=str(path), site=summary["site"]["fingerprint"],
        session=summary["session"]["name"],
        registration=np.asarray(cols["registration"].tolist(), dtype=str),
        name=cols["name"], formation=np.asarray(cols["formation"].tolist(), dtype=str),
        status=cols["status"], scores=scores, receipt=cols["receipt"],
        exported_ms=int(summary.get("exported_ms") or 0)), None
