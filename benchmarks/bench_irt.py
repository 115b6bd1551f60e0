"""cat-engine's psychometrics against the peers people use: catsim (CAT) and girth (MML).

One run compares, on the same item bank, the same simulees and the same seeds:

1. adaptive simulation, maximum-information selection, fixed length: RMSE of ability and
   microseconds per step (one selection plus one estimation) against catsim;
2. calibration of 2,000 x 60 response matrices (2PL and 3PL): parameter RMSE and seconds
   against girth;
3. Sympson-Hetter exposure control at r_max = 0.25: the largest exposure in fresh simulees
   and its RMSE cost (and, for reference, catsim's own r_max option of MaxInfoSelector).

The peers live in their own environment, never in the package's (under benchmarks/out/,
which git ignores)::

    python -m venv benchmarks/out/venv-peers
    benchmarks/out/venv-peers/bin/pip install -r benchmarks/requirements-peers.txt
    benchmarks/out/venv-peers/bin/python benchmarks/bench_irt.py [--quick]

Timings are medians of ``--repeats`` runs. Results print as Markdown and are saved as JSON in
benchmarks/out/irt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scoring package from this source tree

from scoring.irt.adaptive import AdaptiveConfig  # noqa: E402
from scoring.irt.calibration import calibrate, recovery_rmse, simulate_responses  # noqa: E402
from scoring.irt.models import ItemParams  # noqa: E402
from scoring.irt.simulation import calibrate_sympson_hetter, simulate  # noqa: E402

try:
    import girth
    from catsim.estimation import NumericalSearchEstimator
    from catsim.initialization import FixedPointInitializer
    from catsim.item_bank import ItemBank
    from catsim.selection import MaxInfoSelector
    from catsim.simulation import Simulator
    from catsim.stopping import TestLengthStopper
except ImportError as exc:  # pragma: no cover - a message for the operator
    sys.exit(f"{exc}: run this with the peers' environment (see this file's docstring)")


def make_bank(n: int, seed: int) -> ItemParams:
    """A 3PL bank like an SKD pool: a ~ lognormal(0, 0.25), b ~ N(0, 1), c ~ U(0, 0.25)."""
    rng = np.random.default_rng(seed)
    return ItemParams(
        ids=tuple(f"I{i:04d}" for i in range(n)),
        a=rng.lognormal(0.0, 0.25, n),
        b=rng.normal(0.0, 1.0, n),
        c=rng.uniform(0.0, 0.25, n),
        d=np.ones(n),
    )


def median_of(repeats: int, run):
    """Run ``run`` (returning (value, seconds)) ``repeats`` times; median seconds, last value."""
    times, value = [], None
    for _ in range(repeats):
        value, seconds = run()
        times.append(seconds)
    return value, statistics.median(times), times


def bench_cat(bank: ItemParams, thetas: np.ndarray, length: int, repeats: int, seed: int):
    items = np.column_stack([bank.a, bank.b, bank.c, bank.d])

    def catsim_run():
        sim = Simulator(ItemBank(items), thetas, seed=seed)
        start = time.perf_counter()
        sim.simulate(
            FixedPointInitializer(0.0),
            MaxInfoSelector(),
            NumericalSearchEstimator(),
            TestLengthStopper(max_items=length),
        )
        seconds = time.perf_counter() - start
        return (float(sim.rmse), float(sim.bias)), seconds

    (c_rmse, c_bias), c_sec, c_all = median_of(repeats, catsim_run)
    steps = len(thetas) * length
    rows = {
        "catsim (MaxInfoSelector + NumericalSearchEstimator, MLE with Dodd's steps)": {
            "rmse": c_rmse,
            "bias": c_bias,
            "us_per_step": 1e6 * c_sec / steps,
            "runs_s": c_all,
        }
    }
    for estimator in ("eap", "mle"):
        config = AdaptiveConfig(max_items=length, estimator=estimator)

        def ours(config=config):
            result = simulate(bank, thetas, config, seed=seed)
            return result, result.seconds

        result, sec, runs = median_of(repeats, ours)
        rows[f"cat-engine (max_info + {estimator})"] = {
            "rmse": result.rmse,
            "bias": result.bias,
            "us_per_step": 1e6 * sec / steps,
            "runs_s": runs,
        }
    return rows


def bench_calibration(n_people: int, n_items: int, repeats: int, seed: int):
    rng = np.random.default_rng(seed)
    out = {}
    for model in ("2pl", "3pl"):
        true = ItemParams(
            ids=tuple(f"Q{j}" for j in range(n_items)),
            a=rng.lognormal(0.0, 0.3, n_items),
            b=rng.uniform(-2.0, 2.0, n_items),
            c=rng.uniform(0.1, 0.25, n_items) if model == "3pl" else np.zeros(n_items),
            d=np.ones(n_items),
        )
        x = simulate_responses(true, rng.normal(size=n_people), seed=seed + 1)

        def ours(x=x, model=model):
            start = time.perf_counter()
            result = calibrate(x, model)
            return result, time.perf_counter() - start

        def theirs(x=x, model=model, true=true):
            data = x.T.astype(int)  # girth wants items x people
            start = time.perf_counter()
            fit = girth.twopl_mml(data) if model == "2pl" else girth.threepl_mml(data)
            seconds = time.perf_counter() - start
            guess = fit.get("Guessing", np.zeros(n_items))
            est = ItemParams(
                ids=true.ids,
                a=np.asarray(fit["Discrimination"], dtype=float),
                b=np.asarray(fit["Difficulty"], dtype=float),
                c=np.asarray(guess, dtype=float),
                d=np.ones(n_items),
            )
            return est, seconds

        result, our_sec, our_runs = median_of(repeats, ours)
        est, their_sec, their_runs = median_of(repeats, theirs)
        out[model] = {
            "cat-engine": {
                **recovery_rmse(true, result.params),
                "seconds": our_sec,
                "runs_s": our_runs,
                "em_cycles": result.iterations,
                "converged": result.converged,
            },
            "girth": {**recovery_rmse(true, est), "seconds": their_sec, "runs_s": their_runs},
        }
    return out


def bench_exposure(bank: ItemParams, length: int, n: int, seed: int, r_max: float = 0.25):
    rng = np.random.default_rng(seed)
    calibration_thetas = rng.normal(size=n)
    fresh = rng.normal(size=n)
    base = AdaptiveConfig(max_items=length)
    start = time.perf_counter()
    cal = calibrate_sympson_hetter(bank, calibration_thetas, base, r_max=r_max, seed=seed)
    cal_seconds = time.perf_counter() - start
    controlled = base.model_copy(update={"selector": "sympson_hetter", "exposure": cal.exposure})
    plain = simulate(bank, fresh, base, seed=seed + 100)
    sh = simulate(bank, fresh, controlled, seed=seed + 100)
    items = np.column_stack([bank.a, bank.b, bank.c, bank.d])
    sim = Simulator(ItemBank(items), fresh, seed=seed)
    sim.simulate(
        FixedPointInitializer(0.0),
        MaxInfoSelector(r_max=r_max),
        NumericalSearchEstimator(),
        TestLengthStopper(max_items=length),
    )
    catsim_usage = np.zeros(len(bank))
    for administered in sim.administered_items:
        catsim_usage[list(administered)] += 1
    return {
        "r_max": r_max,
        "calibration": {
            "simulees": n,
            "rounds": len(cal.max_exposure),
            "converged": cal.converged,
            "max_exposure_by_round": [round(x, 4) for x in cal.max_exposure],
            "seconds": cal_seconds,
        },
        "fresh simulees": n,
        "max_info": {
            "rmse": plain.rmse,
            "max_exposure": float(plain.exposure.max()),
            "overlap_rate": plain.overlap_rate,
        },
        "sympson_hetter": {
            "rmse": sh.rmse,
            "max_exposure": float(sh.exposure.max()),
            "overlap_rate": sh.overlap_rate,
            "items_over_0.27": int(np.sum(sh.exposure > 0.27)),
        },
        "catsim MaxInfoSelector(r_max)": {
            "rmse": float(sim.rmse),
            "max_exposure": float(catsim_usage.max() / n),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    n_cat, n_exposure, people = (200, 400, 500) if args.quick else (500, 1000, 2000)
    length = 20

    import catsim

    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "catsim": getattr(catsim, "__version__", "0.21.0"),
        "girth": getattr(girth, "__version__", "0.8.0"),
    }
    bank = make_bank(500, args.seed)
    thetas = np.random.default_rng(args.seed + 1).normal(size=n_cat)
    report = {
        "machine": machine,
        "command": " ".join(["benchmarks/bench_irt.py", *sys.argv[1:]]),
        "cat": bench_cat(bank, thetas, length, repeats, args.seed),
        "calibration": bench_calibration(people, 60, repeats, args.seed),
        "exposure": bench_exposure(bank, length, n_exposure, args.seed),
    }
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "irt.json").write_text(json.dumps(report, indent=2))

    print(f"machine: {machine}")
    print(
        f"\n### CAT: 500-item 3PL bank, {n_cat} N(0,1) simulees, length {length}, "
        f"median of {repeats}"
    )
    print("| engine | RMSE | bias | µs/step |\n|---|---|---|---|")
    for name, row in report["cat"].items():
        print(f"| {name} | {row['rmse']:.3f} | {row['bias']:+.3f} | {row['us_per_step']:.0f} |")
    print(f"\n### Calibration: {people} x 60, median of {repeats}")
    print("| model | engine | RMSE a | RMSE b | RMSE c | seconds |\n|---|---|---|---|---|---|")
    for model, rows in report["calibration"].items():
        for name, row in rows.items():
            print(
                f"| {model} | {name} | {row['a']:.3f} | {row['b']:.3f} | {row['c']:.3f} | "
                f"{row['seconds']:.2f} |"
            )
    exp = report["exposure"]
    print(f"\n### Exposure, r_max = {exp['r_max']}, {exp['fresh simulees']} fresh simulees")
    print("| selector | RMSE | max exposure |\n|---|---|---|")
    for name in ("max_info", "sympson_hetter", "catsim MaxInfoSelector(r_max)"):
        row = exp[name]
        print(f"| {name} | {row['rmse']:.3f} | {row['max_exposure']:.3f} |")
    print(f"SH calibration: {exp['calibration']}")


if __name__ == "__main__":
    main()
