"""Cheating detection on simulated SKD-length exams: copying pairs and remote helpers.

One run, several seeds, each a fresh exam of 2,000 candidates x 110 items (5 options, a 2PL
key with nominal-model distractors, scoring/analysis/simulation.py):

1. copying: 20 pairs, each copier copying 30% of a source's answers. Ours
   (scoring/analysis/copying.py: the item model estimated from the same answers, the
   likelihood-ratio test with the copier's ability and copied share estimated, family-wise
   alpha = 0.1 over all ~2M pairs) against the oracle: the likelihood-ratio statistic with
   the TRUE option probabilities and the TRUE copying rate (the most powerful test on that
   data, Neyman-Pearson), its threshold put just below the second-largest honest pair's
   statistic, so that it flags one honest pair (a threshold no real test can know), and at
   our alpha. Reported: copy pairs flagged by each, honest pairs flagged by ours; where our
   power goes (our statistic given the true item model, or the true abilities); and what
   the pair's p-value without the factor 2 for its two directions would flag.
2. the same exam without copying: honest pairs flagged (the false-alarm rate).
3. remote helpers (scoring/analysis/timing.py): one helper answering for 5 candidates at 5
   different sites, interleaving their work; flagged or not, and honest pairs flagged.

    .venv/bin/python benchmarks/bench_integrity.py [--seeds 3] [--quick]

Results print as Markdown and are saved as JSON in benchmarks/out/integrity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scoring.analysis.copying import (  # noqa: E402
    THETA_GRID,
    _weighted_bernoulli_sf,
    ability_model,
    copying_likelihood_ratio,
    detect_copying,
    distractor_curves,
    match_weights,
    option_probabilities_at,
)
from scoring.analysis.simulation import (  # noqa: E402
    plant_copying,
    plant_helper,
    simulate_exam,
    simulate_times,
)
from scoring.analysis.timing import (  # noqa: E402
    activity,
    fit_lognormal,
    interleaved_pairs,
    rings,
    speed_flags,
)


def oracle_separated(options, probabilities, planted, rate: float) -> int:
    """Copy pairs whose true likelihood-ratio statistic exceeds the second-largest honest
    pair's (so at most one honest pair would be flagged), both directions per pair. Honest
    pairs are those with no planted candidate: with the copier's TRUE ability the oracle's
    statistic is also high for a copier and a third candidate like the source, and counting
    those would raise its threshold (they are no evidence against the oracle's power)."""
    n, k, n_opt = probabilities.shape
    answered = options >= 0
    one_hot = np.zeros((n, k * n_opt))
    ii, jj = np.nonzero(answered)
    one_hot[ii, jj * n_opt + options[ii, jj]] = 1.0
    w = (match_weights(probabilities, rate) * answered[:, :, None]).reshape(n, -1)
    stat = (w * one_hot) @ one_hot.T  # row: copier, column: source
    stat = np.maximum(stat, stat.T)
    copy_mask = np.zeros((n, n), dtype=bool)
    involved = np.zeros(n, dtype=bool)
    for c, s in planted:
        copy_mask[min(c, s), max(c, s)] = True
        involved[[c, s]] = True
    iu, ju = np.triu_indices(n, k=1)
    values = stat[iu, ju]
    is_copy = copy_mask[iu, ju]
    honest = np.sort(values[~(involved[iu] | involved[ju])])
    threshold = honest[-2]
    return int((values[is_copy] > threshold).sum())


def oracle_at_alpha(
    options, probabilities, planted, rate: float, alpha: float = 0.1, directions: int = 2
) -> int:
    """Copy pairs the oracle statistic flags at OUR family-wise threshold: its exact tail
    (a weighted sum of Bernoulli trials at the true probabilities, by the saddlepoint) in
    both directions, p = ``directions`` x the smaller (2: our rule; 1: without the
    Bonferroni factor), flagged at p <= alpha / pairs. Honest pairs need no check: with the
    true model the tail is exact."""
    n = len(options)
    pairs = n * (n - 1) / 2
    items = np.arange(options.shape[1])
    flagged = 0
    for c, s in planted:
        tails = []
        for a, b in ((c, s), (s, c)):
            both = (options[a] >= 0) & (options[b] >= 0)
            p = np.where(both, probabilities[a, items, np.maximum(options[b], 0)], 0.5)
            w = np.where(both, match_weights(p, rate), 0.0)
            observed = (w * (both & (options[a] == options[b]))).sum()
            tails.append(_weighted_bernoulli_sf(w[None], p[None], np.array([observed]))[0])
        flagged += directions * min(tails) * pairs <= alpha
    return int(flagged)


def planted_flagged(options, planted, own, log_prior, alpha: float = 0.1) -> int:
    """Planted pairs our likelihood-ratio statistic flags at ``alpha`` (our p-value rule:
    twice the smaller direction's ``Φ(-√(2 log Λ))``) with the chances ``own[g, i, j]`` of
    candidate i's own answer to item j at the g-th ability tried (``own`` covers the
    planted candidates, in the order of ``np.unique`` of them)."""
    people, index = np.unique(np.array(planted).ravel(), return_inverse=True)
    copier, source = index[0::2], index[1::2]
    stat = np.maximum(
        copying_likelihood_ratio(options[people], own, copier, source, log_prior=log_prior)[0],
        copying_likelihood_ratio(options[people], own, source, copier, log_prior=log_prior)[0],
    )
    n = len(options)
    return int((2 * norm.sf(np.sqrt(stat)) * n * (n - 1) / 2 <= alpha).sum())


def ability_cost(exam, options, planted, model, curves) -> dict:
    """Where our power goes, on the planted pairs at α = 0.1: our statistic with the true
    item model and the copier's ability still estimated (profiled), and with our fitted
    model at the candidates' TRUE abilities (the oracle's knowledge, γ still estimated)."""
    people = np.unique(np.array(planted).ravel())
    x = options[people]
    ii, jj = np.nonzero(x >= 0)
    true_grid = exam.model.probabilities(THETA_GRID)  # (grid, items, options)
    own = np.ones((len(THETA_GRID), len(people), x.shape[1]))
    own[:, ii, jj] = true_grid[:, jj, x[ii, jj]]
    true_model = planted_flagged(options, planted, own, -0.5 * THETA_GRID**2)
    theta = exam.theta[people]
    fitted = option_probabilities_at(model.p_correct(theta), exam.key, curves, theta)
    own_known = np.ones(x.shape)
    own_known[ii, jj] = fitted[ii, jj, x[ii, jj]]
    # One known ability per candidate, repeated: the grid maximum then is that point.
    known = np.repeat(own_known[None], 3, axis=0)
    return {
        "true_model_ability_estimated": true_model,
        "fitted_model_true_ability": planted_flagged(options, planted, known, np.zeros(3)),
    }


def bench_copying(seed: int, candidates: int, items: int, pairs: int, rate: float) -> dict:
    exam = simulate_exam(candidates, items, seed=seed)
    options, planted = plant_copying(exam.options, pairs, rate, seed=seed + 1000)
    names = [str(i) for i in range(candidates)]
    start = time.perf_counter()
    model = ability_model(options, exam.key)
    flags, scores = detect_copying(options, exam.key, names, model=model)
    seconds = time.perf_counter() - start
    # The same curves detect_copying fitted (deterministic), for the diagnostics below.
    curves = distractor_curves(options, exam.key, model.theta, exam.probabilities.shape[2])
    planted_set = {frozenset(p) for p in planted}
    hits = sum(frozenset((int(f.copier), int(f.source))) in planted_set for f in flags)
    direction = sum((int(f.copier), int(f.source)) in set(planted) for f in flags)
    n_pairs = candidates * (candidates - 1) // 2
    is_copy = np.array([frozenset((int(a), int(b))) in planted_set
                        for a, b in zip(scores.first, scores.second, strict=True)], dtype=bool)
    involved = np.zeros(candidates, dtype=bool)
    involved[np.array(planted).ravel()] = True
    honest = ~(involved[scores.first] | involved[scores.second])
    # Our statistic with the oracle's (unknowable) threshold: how well it ranks.
    second_honest = np.sort(scores.statistic[honest])[-2]
    start = time.perf_counter()
    clean_flags, clean = detect_copying(exam.options, exam.key, names)
    clean_seconds = time.perf_counter() - start
    # Calibration of the p-values on copy-free data: honest pairs below each level against
    # the number expected (pairs x level); pairs the screen dropped count as above it.
    calibration = {f"{level:g}": [int((clean.p_value < level).sum()), level * n_pairs]
                   for level in (1e-4, 1e-5, 1e-6, 1e-7)}
    # Without the factor 2 for the two directions: p = the smaller direction's alone.
    one_direction = scores.p_value / 2 * n_pairs <= 0.1
    return {
        "seed": seed,
        "copy_pairs": pairs,
        "ours_flagged_copy_pairs": hits,
        "ours_direction_right": direction,
        "ours_honest_flagged": len(flags) - hits,
        "oracle_separated": oracle_separated(options, exam.probabilities, planted, rate),
        "oracle_at_alpha_0.1": oracle_at_alpha(options, exam.probabilities, planted, rate),
        "copy_pairs_screened": int(is_copy.sum()),
        "ours_flagged_at_alpha_1": int((is_copy & (scores.p_value * n_pairs <= 1)).sum()),
        "honest_flagged_at_alpha_1": int((~is_copy & (scores.p_value * n_pairs <= 1)).sum()),
        "ours_separated_oracle_threshold": int((scores.statistic[is_copy] > second_honest).sum()),
        "copy_free_honest_flagged": len(clean_flags),
        "copy_free_honest_at_alpha_1": int((clean.p_value * n_pairs <= 1).sum()),
        "no_factor_2_copy_flagged": int((is_copy & one_direction).sum()),
        "no_factor_2_honest_flagged": int((~is_copy & one_direction).sum()),
        "no_factor_2_copy_free_honest_flagged": int((clean.p_value / 2 * n_pairs <= 0.1).sum()),
        "no_factor_2_oracle_at_alpha_0.1": oracle_at_alpha(
            options, exam.probabilities, planted, rate, directions=1),
        **ability_cost(exam, options, planted, model, curves),
        "copy_free_p_values_below": calibration,
        "pairs_screened": len(scores.first),
        "seconds": round(seconds, 2),
        "copy_free_seconds": round(clean_seconds, 2),
    }


def bench_helper(seed: int, candidates: int, items: int, sites: int = 5) -> dict:
    """One helper answers for 5 candidates, one at each of 5 sites (candidates are spread
    over the sites by index, so the helped are i, i + 1, ... mod 5 apart)."""
    exam = simulate_exam(candidates, items, seed=seed)
    times = simulate_times(candidates, items, seed=seed + 2000)
    rng = np.random.default_rng(seed + 3000)
    helped = sorted(int(rng.choice(np.arange(s, candidates, sites))) for s in range(sites))
    _, helped_times = plant_helper(exam, times, helped, seed=seed + 4000)
    names = [str(i) for i in range(candidates)]
    person = np.repeat(np.arange(candidates), items)
    item = np.tile(np.arange(items), candidates)
    out = {"seed": seed, "helped": helped}
    for label, t in (("helper", helped_times), ("clean", times)):
        start = time.perf_counter()
        links = interleaved_pairs(activity(person, t.answered_ms.ravel(), candidates), names)
        found = rings([(p.first, p.second) for p in links])
        model = fit_lognormal(person, item, t.seconds.ravel(), candidates, items)
        speed = speed_flags(model, person, t.answered_ms.ravel(), names)
        members = {int(x) for g in found for x in g}
        out[label] = {
            "rings": found,
            "helped_in_a_ring": len(members & set(helped)),
            "honest_in_a_ring": len(members - set(helped)),
            "helped_speed_flagged": sum(int(f.examinee) in helped for f in speed),
            "honest_speed_flagged": sum(int(f.examinee) not in helped for f in speed),
            "seconds": round(time.perf_counter() - start, 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="500 candidates, 2 seeds")
    parser.add_argument("--copying-only", action="store_true")
    parser.add_argument("--out", default="integrity.json", help="file in benchmarks/out")
    args = parser.parse_args()
    candidates, seeds = (500, 2) if args.quick else (2000, args.seeds)
    seed_list = range(args.first_seed, args.first_seed + seeds)
    print(f"load average at start {os.getloadavg()}", flush=True)
    rows = [bench_copying(seed, candidates, 110, 20, 0.3) for seed in seed_list]
    helpers = [] if args.copying_only else [bench_helper(s, candidates, 110) for s in seed_list]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average_end": os.getloadavg(),
        "candidates": candidates,
        "items": 110,
        "copying": rows,
        "remote_helper": helpers,
    }
    print("| seed | ours flagged / 20 (α = 0.1) | oracle separates | ours / oracle | "
          "oracle at α = 0.1 | ours at α = 1 (honest) | ours, oracle's threshold | "
          "honest flagged (copying data) | honest flagged (copy-free) | copy-free p < 1e-4 / "
          "1e-5 / 1e-6 / 1e-7 (expected) | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["ours_flagged_copy_pairs"] / max(r["oracle_separated"], 1)
        cal = " / ".join(f"{o} ({e:.2g})" for o, e in r["copy_free_p_values_below"].values())
        print(f"| {r['seed']} | {r['ours_flagged_copy_pairs']} | {r['oracle_separated']} | "
              f"{ratio:.0%} | {r['oracle_at_alpha_0.1']} | {r['ours_flagged_at_alpha_1']} "
              f"({r['honest_flagged_at_alpha_1']}) | {r['ours_separated_oracle_threshold']} | "
              f"{r['ours_honest_flagged']} | {r['copy_free_honest_flagged']} | "
              f"{cal} | {r['seconds']} |")
    print("\n| seed | ours, α = 0.1 | true model, ability estimated | fitted model, true "
          "ability | oracle at α = 0.1 | no factor 2: ours (honest) | no factor 2: copy-free "
          "honest | no factor 2: oracle | copy-free honest at α = 1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['ours_flagged_copy_pairs']} | "
              f"{r['true_model_ability_estimated']} | {r['fitted_model_true_ability']} | "
              f"{r['oracle_at_alpha_0.1']} | {r['no_factor_2_copy_flagged']} "
              f"({r['no_factor_2_honest_flagged']}) | "
              f"{r['no_factor_2_copy_free_honest_flagged']} | "
              f"{r['no_factor_2_oracle_at_alpha_0.1']} | {r['copy_free_honest_at_alpha_1']} |")
    print("\n| seed | helped in the ring / 5 | honest in a ring | helped speed-flagged | "
          "honest speed-flagged | copy-free: honest in a ring | copy-free: speed-flagged |")
    print("|---|---|---|---|---|---|---|")
    for h in helpers:
        a, c = h["helper"], h["clean"]
        print(f"| {h['seed']} | {a['helped_in_a_ring']} | {a['honest_in_a_ring']} | "
              f"{a['helped_speed_flagged']} | {a['honest_speed_flagged']} | "
              f"{c['honest_in_a_ring'] + c['helped_in_a_ring']} | "
              f"{c['honest_speed_flagged'] + c['helped_speed_flagged']} |")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / args.out).write_text(json.dumps(result, indent=2))
    print(f"\nload average at end {result['load_average_end']}; {result['machine']}")


if __name__ == "__main__":
    main()
