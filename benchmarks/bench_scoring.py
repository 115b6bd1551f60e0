"""Benchmarks of form assembly, one answer's scoring and ranking, beside naive baselines.

Run: ``.venv/bin/python benchmarks/bench_scoring.py`` (about half a minute). Prints a
Markdown table for docs/benchmarks.md ("Exams, forms and scoring"). Targets (issue 3):
10,000 SKD forms from a 10,000-item bank in < 2 s in total, one answer < 20 us median,
ranking 100,000 results < 1 s; adjacent seats share fewer items than independent draws.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from itertools import pairwise

import numpy as np

from item_bank.model import Item, ItemMeta
from scoring.exam import load_exam
from scoring.forms import Form, FormAssembler, shared_items
from scoring.results import Result, evaluate, rank
from scoring.rules import ScoreSheet, build_score_key

BANK_SHARES = {"TWK": 3000, "TIU": 3000, "TKP": 4000}
LABELS = "ABCDE"


def bank_index() -> dict[str, ItemMeta]:
    return {
        f"{section}-{j:05d}": ItemMeta(
            id=f"{section}-{j:05d}",
            section=section,
            n_options=5,
            scoring="weights" if section == "TKP" else "key",
        )
        for section, size in BANK_SHARES.items()
        for j in range(size)
    }


def item_for(meta: ItemMeta, rng: random.Random) -> Item:
    options = {label: f"Pilihan {label}" for label in LABELS}
    if meta.scoring == "weights":
        weights = dict(zip(LABELS, rng.sample([1, 2, 3, 4, 5], 5), strict=True))
        return Item(id=meta.id, section=meta.section, stem="Soal", options=options, weights=weights)
    return Item(id=meta.id, section=meta.section, stem="Soal", options=options,
                key=rng.choice(LABELS))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


# -- naive baselines: what plain Python without the design would do -------------------------


def naive_forms(index: dict[str, ItemMeta], exam, count: int) -> list[list[tuple]]:
    """random.sample per section and random.shuffle per item's options, per candidate."""
    pools: dict[str, list[str]] = {}
    for item_id, meta in index.items():
        pools.setdefault(meta.section, []).append(item_id)
    forms = []
    for candidate in range(count):
        rng = random.Random(f"seed/{candidate}")
        form = []
        for section in exam.sections:
            for item_id in rng.sample(pools[section.id], section.items):
                order = list(range(index[item_id].n_options))
                rng.shuffle(order)
                form.append((item_id, section.id, tuple(order)))
        forms.append(form)
    return forms


def naive_rescore(points: list[list[float]], sections: list[str], choices: list) -> dict:
    """Recompute every section from all answers (what a server without O(1) updates does)."""
    scores: dict[str, float] = {}
    for position, choice in enumerate(choices):
        earned = 0.0 if choice is None else points[position][choice]
        scores[sections[position]] = scores.get(sections[position], 0.0) + earned
    return scores


def naive_rank(results: list[Result], by: list[str]) -> list[tuple[int, bool, int]]:
    def key(i: int) -> tuple:
        r = results[i]
        return (not r.passed, *(-(r.total if k == "total" else r.section_scores[k]) for k in by))

    order = sorted(range(len(results)), key=key)
    ranked, start = [], 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and key(order[end + 1]) == key(order[start]):
            end += 1
        for i in order[start : end + 1]:
            ranked.append((start + 1, end > start, i))
        start = end + 1
    return ranked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=int, default=10_000)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    exam = load_exam("skd")
    index = bank_index()
    rows: list[tuple[str, str, str, str]] = []

    # Form assembly.
    start = time.perf_counter()
    assembler = FormAssembler(exam, index)
    setup = time.perf_counter() - start
    forms: list[Form] = []

    def assemble_all() -> None:
        assembler._perms.clear()  # every run starts cold
        forms[:] = [
            assembler.assemble(exam_seed="bench", candidate_id=f"P-{j:05d}", seat=j)
            for j in range(args.forms)
        ]

    ours = statistics.median(timed(assemble_all, args.repeat))
    naive = statistics.median(timed(lambda: naive_forms(index, exam, args.forms), args.repeat))
    rows.append((f"assemble {args.forms:,} SKD forms (10,000-item bank)", f"{ours:.2f} s",
                 f"{naive:.2f} s", f"{naive / ours:.1f}x"))
    rows.append(("build the assembler once (strata, enemies)", f"{setup * 1e3:.0f} ms", "-", "-"))

    # Neighbour overlap and exposure.
    seated = forms[:2000]
    start = time.perf_counter()
    free = [assembler.assemble(exam_seed="bench", candidate_id=f"P-{j:05d}") for j in range(2000)]
    unseated = time.perf_counter() - start
    rows.append(("assemble 2,000 SKD forms without seats (independent draws)",
                 f"{unseated:.2f} s", f"{naive * 2000 / args.forms:.2f} s (scaled)",
                 f"{naive * 2000 / args.forms / unseated:.1f}x"))
    seat_overlap = statistics.mean(shared_items(a, b) for a, b in pairwise(seated))
    free_overlap = statistics.mean(shared_items(a, b) for a, b in pairwise(free))
    expected = sum(s.items**2 / BANK_SHARES[s.id] for s in exam.sections)
    rows.append(("mean items shared by adjacent seats (2,000 seats)", f"{seat_overlap:.3f}",
                 f"{free_overlap:.3f} (independent; theory {expected:.3f})", "-"))
    counts: dict[str, int] = {}
    for form in forms:
        for item_id in form.item_ids:
            counts[item_id] = counts.get(item_id, 0) + 1
    naive_uses: dict[str, int] = {}
    for naive_form in naive_forms(index, exam, args.forms):
        for item_id, _, _ in naive_form:
            naive_uses[item_id] = naive_uses.get(item_id, 0) + 1
    for section in exam.sections:
        ids = [item_id for item_id, meta in index.items() if meta.section == section.id]
        ours_uses = [counts.get(item_id, 0) for item_id in ids]
        plain_uses = [naive_uses.get(item_id, 0) for item_id in ids]
        fair = args.forms * section.items / len(ids)
        rows.append((f"{section.id} item uses over {args.forms:,} forms, min-max (fair {fair:g})",
                     f"{min(ours_uses)}-{max(ours_uses)}", f"{min(plain_uses)}-{max(plain_uses)}",
                     "-"))

    # One answer.
    rng = random.Random(7)
    form = forms[0]
    items = {item_id: item_for(index[item_id], rng) for item_id in form.item_ids}
    key = build_score_key(exam, form, items)
    sheet = ScoreSheet(key)
    answers = [(rng.randrange(len(form)), rng.choice([None, 0, 1, 2, 3, 4])) for _ in range(1000)]
    per_answer = []
    for _ in range(200):
        begin = time.perf_counter_ns()
        for position, choice in answers:
            sheet.answer(position, choice)
        per_answer.append((time.perf_counter_ns() - begin) / len(answers))
    points = key.points.tolist()
    sections = [key.sections[s] for s in key.section_of.tolist()]
    choices: list = [None] * len(form)
    per_naive = []
    for _ in range(20):
        begin = time.perf_counter_ns()
        for position, choice in answers:
            choices[position] = choice
            naive_rescore(points, sections, choices)
        per_naive.append((time.perf_counter_ns() - begin) / len(answers))
    one, plain = statistics.median(per_answer), statistics.median(per_naive)
    rows.append(("apply one answer (median)", f"{one / 1e3:.2f} us", f"{plain / 1e3:.2f} us",
                 f"{plain / one:.1f}x"))

    # Ranking.
    score_rng = np.random.default_rng(11)
    twk = score_rng.integers(0, 31, args.results) * 5
    tiu = score_rng.integers(0, 36, args.results) * 5
    tkp = score_rng.integers(45, 226, args.results)
    results = [
        evaluate(exam, {"TWK": float(a), "TIU": float(b), "TKP": float(c)}, candidate_id=str(i))
        for i, (a, b, c) in enumerate(zip(twk.tolist(), tiu.tolist(), tkp.tolist(), strict=True))
    ]
    ranked = statistics.median(timed(lambda: rank(results, exam), args.repeat))
    plain_rank = statistics.median(
        timed(lambda: naive_rank(results, exam.ranking.by), args.repeat)
    )
    ours_rows = list(rank(results, exam))
    assert ours_rows == naive_rank(results, exam.ranking.by), "rankings differ"
    ties = sum(tied for _, tied, _ in ours_rows)
    rows.append((f"rank {args.results:,} SKD results ({ties:,} tied)", f"{ranked:.3f} s",
                 f"{plain_rank:.3f} s", f"{plain_rank / ranked:.1f}x"))

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end; Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    print(f"medians of {args.repeat} runs (answers: of 200 batches of 1,000)\n")
    print("| measure | cat-engine | naive baseline | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
