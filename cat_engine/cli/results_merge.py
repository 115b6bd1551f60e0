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
def merge(files: tuple[Path, ...], formations: Path, site_keys: Path, out_dir: Path,
          decrypt_key: Path | None, title: str, lang: str) -> None:
    """Verify every FILE, then rank each formation nationally and write the announcement.

    Nothing is merged or written if any file fails (each failing file is named with its
    reason), or if a registration number sat at two sites. Writes ranking.csv, ranking.json,
    receipts.csv, announcement.pdf and a searchable index.html (docs/integrity.md).
    """
    from cat_engine.cli.results_signed import load_decrypt_key
    from scoring.integrity.merge import MergeError, read_formations
    from scoring.integrity.merge import merge as merge_all

    started, cpu0 = time.perf_counter(), time.process_time()
    if out_dir.exists() and any(out_dir.iterdir()):
        fail(f"--out {out_dir}: exists and is not empty")
    try:
        table = read_formations(formations.read_text(encoding="utf-8"), str(formations))
    except OSError as exc:
        fail(f"--formations {formations}: {exc.strerror or exc}")
    except MergeError as exc:
        fail(str(exc))
    keys = _site_keys(site_keys)
    parts, exam, problems = _verify_all(files, keys, load_decrypt_key(decrypt_key))
    verified, cpu1 = time.perf_counter(), time.process_time()
    if problems:
        fail(f"{len(problems)} of {len(files)} file(s) failed; nothing was merged:\n"
             + "\n".join(problems))
    try:
        merged = merge_all(parts, table, exam)
    except MergeError as exc:
        fail(f"nothing was merged: {exc}")
    ranked, cpu2 = time.perf_counter(), time.process_time()
    from cat_engine.services.announce import write_all

    tmp = Path(tempfile.mkdtemp(prefix=".merge-", dir=out_dir.parent if out_dir.parent.exists()
                                else None))
    try:
        write_all(merged, tmp, title=title, lang=lang)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        fail(f"cannot write {out_dir}: {exc.strerror or exc}")
    done, cpu3 = time.perf_counter(), time.process_time()
    n = len(merged.registration)
    # CPU seconds beside the wall clock: on a shared machine they are the steadier figure.
    click.echo(f"{out_dir}: {n} candidates from {len(files)} files, "
               f"{int(merged.next_stage.sum())} go on to the next stage in {len(table)} "
               f"formations (verify {verified - started:.1f} s, cpu {cpu1 - cpu0:.1f} s; "
               f"rank {ranked - verified:.1f} s, cpu {cpu2 - cpu1:.1f} s; write "
               f"{done - ranked:.1f} s, cpu {cpu3 - cpu2:.1f} s)")


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


def _verify_all(files, keys: dict, decrypt_key):
    """Every file checked (signature by a known site, evidence digest, consistency, one
    exam); the parts to merge and every problem, naming the file."""
    import numpy as np

    from scoring.exam import parse_exam
    from scoring.integrity import results as rf
    from scoring.integrity.canonical import unb64url
    from scoring.integrity.merge import Part

    exams: dict[str, object] = {}
    first_exam: str | None = None
    parts, problems = [], []
    for path in files:
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
            if first_exam is None:
                first_exam = definition
            elif definition != first_exam:
                raise rf.ResultsError(f"its exam definition ({summary['exam']['name']}) "
                                      f"differs from the first file's")
            if definition not in exams:
                exams[definition] = parse_exam(definition)
            exam = exams[definition]
            found = rf.consistency_problems(summary, exam, public)
            if found:
                raise rf.ResultsError("; ".join(found[:3]))
            cols, scores = rf.columns(summary)
        except rf.ResultsError as exc:
            problems.append(f"{path}: {exc}")
            continue
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{path}: malformed summary: {exc}")
            continue
        parts.append(Part(
            source=str(path), site=summary["site"]["fingerprint"],
            session=summary["session"]["name"],
            registration=np.asarray(cols["registration"].tolist(), dtype=str),
            name=cols["name"], formation=np.asarray(cols["formation"].tolist(), dtype=str),
            status=cols["status"], scores=scores, receipt=cols["receipt"]))
    return parts, (exams.get(first_exam)), problems
