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
   the pair's p-value without the factor 2 for its two directions would flag. The alpha
   curve (``--alphas``): at each family-wise alpha, planted pairs flagged by ours, by the
   oracle (its exact tail, factor 2 as ours had until 2026-11-28) and by the Neyman-Pearson
   ceiling (the most powerful test of each planted pair with the direction known too), and
   honest pairs flagged by ours and by the oracle, in the copying and in the copy-free exam.
2. the same exam without copying: honest pairs flagged (the false-alarm rate).
3. remote helpers (scoring/analysis/timing.py): one helper answering for 5 candidates at 5
   different sites, interleaving their work; flagged or not, and honest pairs flagged.

    .venv/bin/python benchmarks/bench_integrity.py [--seeds 3] [--quick] [--alphas 0.1,1]
    .venv/bin/python benchmarks/bench_integrity.py --summarize benchmarks/out/a.json b.json

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
from scipy.special import logsumexp
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
    saddlepoint_sf,
    screen_pairs,
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


def oracle_pair_p(options, probabilities, pairs, rate: float, directions: int = 2):
    """The oracle's p-value of each pair ``(a, b)`` of ``pairs``: its likelihood-ratio
    statistic (the match weights at the TRUE probabilities and the TRUE copying rate) at its
    exact tail given the other's answers (a weighted sum of Bernoulli trials, by the
    saddlepoint), in both directions, p = ``directions`` x the smaller (2: our rule; 1:
    without the Bonferroni factor). With the true model the tail is exact, so an honest
    pair's p is uniform (no check needed)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if not len(pairs):
        return np.zeros(0)
    items = np.arange(options.shape[1])
    tails = []
    for a, b in ((pairs[:, 0], pairs[:, 1]), (pairs[:, 1], pairs[:, 0])):
        both = (options[a] >= 0) & (options[b] >= 0)
        p = np.where(both, probabilities[a[:, None], items, np.maximum(options[b], 0)], 0.5)
        w = np.where(both, match_weights(p, rate), 0.0)
        observed = (w * (both & (options[a] == options[b]))).sum(axis=1)
        tails.append(np.concatenate([
            _weighted_bernoulli_sf(w[i:i + 4096], p[i:i + 4096], observed[i:i + 4096])
            for i in range(0, len(a), 4096)]))
    return np.minimum(1.0, directions * np.minimum(*tails))


def oracle_at_alpha(
    options, probabilities, planted, rate: float, alpha: float = 0.1, directions: int = 2
) -> int:
    """Copy pairs the oracle statistic flags at OUR family-wise threshold: p (see
    :func:`oracle_pair_p`) <= alpha / pairs."""
    n = len(options)
    p = oracle_pair_p(options, probabilities, planted, rate, directions)
    return int((p * (n * (n - 1) / 2) <= alpha).sum())


def _discrete_sum_sf(values, probs, observed):
    """``P(sum_j Y_j >= observed)`` per row, ``Y_j`` independent, equal to ``values[..., j,
    m]`` with probability ``probs[..., j, m]`` and 0 otherwise (the remainder), by the
    Lugannani-Rice saddlepoint approximation (as ``_weighted_bernoulli_sf``, which is the
    case of one value per item). Values must be >= 0."""
    rest = np.log(np.maximum(1 - probs.sum(axis=2), 1e-300))[:, :, None]
    logq = np.log(np.maximum(probs, 1e-300))
    mean = (values * probs).sum(axis=(1, 2))
    out = np.ones(len(observed))
    live = observed > mean
    if not live.any():
        return out
    v, lq, r0, x = values[live], logq[live], rest[live], observed[live]

    def moments(t):
        z = np.concatenate([r0, lq + t[:, None, None] * v], axis=2)
        log_d = logsumexp(z, axis=2)
        pi = np.exp(z - log_d[:, :, None])[:, :, 1:]  # tilted chances of each value
        m1 = (pi * v).sum(axis=2)
        m2 = (pi * v * v).sum(axis=2)
        return log_d.sum(axis=1), m1.sum(axis=1), (m2 - m1 * m1).sum(axis=1)

    out[live] = saddlepoint_sf(moments, x, mean[live])
    return out


def neyman_pearson_p(options, probabilities, planted, rate: float):
    """The ceiling: per planted pair, the p-value of the most powerful test of "copier c
    copied from s at ``rate``" against independence, both abilities and the item model
    known and the direction known (Neyman-Pearson: reject when the likelihood ratio, here
    the weighted match count ``sum_j w_j(x_sj) [x_cj = x_sj]``, is large, its threshold set
    on its distribution over BOTH candidates' independent answers, not given the source's).
    No valid test of that pair at level p (whatever it knows less) flags it with a higher
    chance; at the family-wise threshold ``p <= alpha / pairs`` each honest pair's level is
    ``alpha / pairs``, so ``alpha`` honest flags per exam are expected."""
    planted = np.asarray(planted, dtype=np.int64).reshape(-1, 2)
    c, s = planted[:, 0], planted[:, 1]
    both = ((options[c] >= 0) & (options[s] >= 0))[:, :, None]
    pc, ps = probabilities[c], probabilities[s]
    w = match_weights(pc, rate) * both  # value of a match on each option
    q = pc * ps * both  # chance both give that option alone
    items = np.arange(options.shape[1])
    match = (options[c] == options[s]) & both[:, :, 0]
    observed = (w[np.arange(len(c))[:, None], items, np.maximum(options[s], 0)]
                * match).sum(axis=1)
    return _discrete_sum_sf(w, q, observed)


def planted_flagged(options, planted, own, log_prior, alpha: float = 0.1) -> int:
    """Planted pairs our likelihood-ratio statistic flags at ``alpha`` (the p-value rule
    before the either-direction tail, kept for these diagnostics: twice the smaller
    direction's ``Φ(-√(2 log Λ))``) with the chances ``own[g, i, j]`` of
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


#: The oracle's honest pairs are those its own weighted match count puts this many standard
#: deviations above its mean in either direction (checked against 1.5 on seeds 1-2: the
#: same flags at every alpha of the curve).
ORACLE_SCREEN_Z = 2.5


def oracle_honest_p(options, probabilities, planted, rate: float):
    """The oracle's p-value (both directions, factor 2) of every pair not planted that its
    screen passes, and whether neither candidate is planted (the rest pair a copier or a
    source with a third candidate)."""
    first, second = screen_pairs(options, probabilities, rate=rate, screen_z=ORACLE_SCREEN_Z)
    planted_set = {frozenset(p) for p in planted}
    keep = np.array([frozenset((int(a), int(b))) not in planted_set
                     for a, b in zip(first, second, strict=True)], dtype=bool)
    first, second = first[keep], second[keep]
    involved = np.zeros(len(options), dtype=bool)
    if len(planted):
        involved[np.array(planted).ravel()] = True
    p = oracle_pair_p(options, probabilities, np.stack([first, second], axis=1), rate)
    return p, ~(involved[first] | involved[second])


def alpha_curve(alphas, n_pairs, ours_copy_p, ours_honest_p, ours_uninvolved, clean_p,
                oracle_copy_p, ceiling_p, oracle_honest, oracle_uninvolved,
                oracle_clean_p) -> dict:
    """Per family-wise alpha (flag at p <= alpha / pairs): planted pairs flagged by ours,
    by the oracle (factor 2, as ours had before the either-direction tail) and by the
    Neyman-Pearson ceiling (direction known); honest pairs flagged by ours and by the oracle
    in the copying exam (every pair not planted; in brackets those with no planted
    candidate) and in the copy-free exam."""
    def count(p, a):
        return int((np.asarray(p) * n_pairs <= a).sum())

    out = {}
    for a in alphas:
        out[f"{a:g}"] = {
            "ours_planted": count(ours_copy_p, a),
            "oracle_planted": count(oracle_copy_p, a),
            "ceiling_planted": count(ceiling_p, a),
            "ours_honest_copying": count(ours_honest_p, a),
            "ours_honest_copying_uninvolved": count(ours_honest_p[ours_uninvolved], a),
            "oracle_honest_copying": count(oracle_honest, a),
            "oracle_honest_copying_uninvolved": count(oracle_honest[oracle_uninvolved], a),
            "ours_honest_copy_free": count(clean_p, a),
            "oracle_honest_copy_free": count(oracle_clean_p, a),
        }
    return out


def bench_copying(seed: int, candidates: int, items: int, pairs: int, rate: float,
                  alphas=(0.1,)) -> dict:
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
    one_direction = norm.sf(np.sqrt(scores.statistic)) * n_pairs <= 0.1
    start = time.perf_counter()
    oracle_honest, oracle_uninvolved = oracle_honest_p(options, exam.probabilities, planted,
                                                       rate)
    oracle_clean, _ = oracle_honest_p(exam.options, exam.probabilities, [], rate)
    oracle_copy = oracle_pair_p(options, exam.probabilities, planted, rate)
    curve = alpha_curve(
        alphas, n_pairs, scores.p_value[is_copy], scores.p_value[~is_copy],
        honest[~is_copy], clean.p_value, oracle_copy,
        neyman_pearson_p(options, exam.probabilities, planted, rate),
        oracle_honest, oracle_uninvolved, oracle_clean)
    oracle_seconds = time.perf_counter() - start
    return {
        "seed": seed,
        "copy_pairs": pairs,
        "ours_flagged_copy_pairs": hits,
        "ours_direction_right": direction,
        "ours_honest_flagged": len(flags) - hits,
        "oracle_separated": oracle_separated(options, exam.probabilities, planted, rate),
        "oracle_at_alpha_0.1": int((oracle_copy * n_pairs <= 0.1).sum()),
        "copy_pairs_screened": int(is_copy.sum()),
        "ours_flagged_at_alpha_1": int((is_copy & (scores.p_value * n_pairs <= 1)).sum()),
        "honest_flagged_at_alpha_1": int((~is_copy & (scores.p_value * n_pairs <= 1)).sum()),
        "ours_separated_oracle_threshold": int((scores.statistic[is_copy] > second_honest).sum()),
        "copy_free_honest_flagged": len(clean_flags),
        "copy_free_honest_at_alpha_1": int((clean.p_value * n_pairs <= 1).sum()),
        "no_factor_2_copy_flagged": int((is_copy & one_direction).sum()),
        "no_factor_2_honest_flagged": int((~is_copy & one_direction).sum()),
        "no_factor_2_copy_free_honest_flagged": int(
            (norm.sf(np.sqrt(clean.statistic)) * n_pairs <= 0.1).sum()),
        "no_factor_2_oracle_at_alpha_0.1": oracle_at_alpha(
            options, exam.probabilities, planted, rate, directions=1),
        **ability_cost(exam, options, planted, model, curves),
        "copy_free_p_values_below": calibration,
        "pairs_screened": len(scores.first),
        "alpha_curve": curve,
        "oracle_pairs_screened": [len(oracle_honest), len(oracle_clean)],
        "seconds": round(seconds, 2),
        "copy_free_seconds": round(clean_seconds, 2),
        "oracle_curve_seconds": round(oracle_seconds, 2),
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


def print_alpha_curve(rows) -> None:
    """Per alpha and seed, then summed: planted pairs flagged and honest pairs flagged
    (copying exam: all not planted, in brackets with no planted candidate; copy-free exam),
    and the exams with more than one honest pair flagged."""
    print("| α | seed | ours | oracle | ceiling (direction known) | ours honest, copying "
          "(no planted) | oracle honest, copying (no planted) | ours honest, copy-free | "
          "oracle honest, copy-free |")
    print("|---|---|---|---|---|---|---|---|---|")
    alphas = list(rows[0]["alpha_curve"]) if rows else []
    for a in alphas:
        for r in rows:
            c = r["alpha_curve"][a]
            print(f"| {a} | {r['seed']} | {c['ours_planted']} | {c['oracle_planted']} | "
                  f"{c['ceiling_planted']} | {c['ours_honest_copying']} "
                  f"({c['ours_honest_copying_uninvolved']}) | {c['oracle_honest_copying']} "
                  f"({c['oracle_honest_copying_uninvolved']}) | {c['ours_honest_copy_free']} "
                  f"| {c['oracle_honest_copy_free']} |")
    seeds = ", ".join(str(r["seed"]) for r in rows)
    print(f"\nSummed over seeds {seeds}; exams with more than one honest pair flagged in "
          "brackets (copying exams: all not planted)")
    print("| α | ours | oracle | ceiling (direction known) | ours honest, copying | oracle "
          "honest, copying (no planted) | ours honest, copy-free | oracle honest, copy-free |")
    print("|---|---|---|---|---|---|---|---|")
    for a in alphas:
        cs = [r["alpha_curve"][a] for r in rows]

        def total(key, cs=cs):
            return sum(c[key] for c in cs)

        def over(key, cs=cs):
            return sum(c[key] > 1 for c in cs)

        print(f"| {a} | {total('ours_planted')} | {total('oracle_planted')} | "
              f"{total('ceiling_planted')} | {total('ours_honest_copying')} "
              f"[{over('ours_honest_copying')}] | {total('oracle_honest_copying')} "
              f"({total('oracle_honest_copying_uninvolved')}) "
              f"[{over('oracle_honest_copying')} ({over('oracle_honest_copying_uninvolved')})]"
              f" | {total('ours_honest_copy_free')} [{over('ours_honest_copy_free')}] | "
              f"{total('oracle_honest_copy_free')} [{over('oracle_honest_copy_free')}] |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="500 candidates, 2 seeds")
    parser.add_argument("--copying-only", action="store_true")
    parser.add_argument("--out", default="integrity.json", help="file in benchmarks/out")
    parser.add_argument("--alphas", default="0.1,0.2,0.5,1",
                        help="family-wise alphas of the curve (ours, oracle, ceiling)")
    parser.add_argument("--summarize", nargs="+", metavar="JSON",
                        help="only print the alpha curve summed over these result files")
    args = parser.parse_args()
    if args.summarize:
        print_alpha_curve([r for f in args.summarize
                           for r in json.loads(Path(f).read_text())["copying"]])
        return
    alphas = [float(a) for a in args.alphas.split(",")]
    candidates, seeds = (500, 2) if args.quick else (2000, args.seeds)
    seed_list = range(args.first_seed, args.first_seed + seeds)
    print(f"load average at start {os.getloadavg()}", flush=True)
    rows = [bench_copying(seed, candidates, 110, 20, 0.3, alphas) for seed in seed_list]
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
    print()
    print_alpha_curve(rows)
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
