"""Item calibration against the Python `mirt` package and girth, on the same data, in one run.

Models 2PL, 3PL (2,000 examinees x 40 items), GRM and GPCM (2,000 x 20 items, 5 categories),
each on a complete design and a sparse one (every examinee shown a random half of the items:
randomized forms). Every program uses 41 quadrature points. Reported per model and design:
RMSE of the slopes and of the difficulties / thresholds against the generating values, and
the median wall and CPU seconds of ``--repeats`` fits, ours and mirt alternately (so both
meet the same load), with the median of the per-pair ratios; EM cycles and the final
log-likelihood of each, since the two stop by different rules: ours when no parameter moves
by 1e-4 in a cycle (a, b, c; thresholds), mirt when the log-likelihood rises by less than
1e-4 (its default ``tol``).

The peers live in their own environments, never in the package's (benchmarks/out/ is git-
ignored); mirt 1.2 needs NumPy 2 and girth 0.8 NumPy 1, so they cannot share one::

    python -m venv benchmarks/out/venv-mirt
    benchmarks/out/venv-mirt/bin/pip install -r benchmarks/requirements-mirt.txt
    python -m venv benchmarks/out/venv-peers
    benchmarks/out/venv-peers/bin/pip install -r benchmarks/requirements-peers.txt
    benchmarks/out/venv-mirt/bin/python benchmarks/bench_calibration.py [--repeats 3]

This script runs ours and mirt in the mirt environment and girth (2PL, 3PL, GRM: girth 0.8
has no GPCM, and no missing data in its GRM) in a subprocess of the girth environment, on the
same matrices (saved as .npy). Results print as Markdown and go to
benchmarks/out/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scoring.irt.calibration import calibrate  # noqa: E402
from scoring.irt.models import GPCM, GRM, ItemParams  # noqa: E402
from scoring.irt.polycalibration import calibrate_polytomous, simulate_polytomous  # noqa: E402

POINTS = 41
GIRTH_PY = ROOT / "benchmarks" / "out" / "venv-peers" / "bin" / "python"

GIRTH_SCRIPT = r"""
import json, sys, time
import numpy as np
import girth
x = np.load(sys.argv[1]); model = sys.argv[2]; repeats = int(sys.argv[3])
opts = {"quadrature_n": 41}
seconds, out = [], None
for _ in range(repeats):
    start = time.perf_counter()
    if model == "2pl":
        r = girth.twopl_mml(x.T.astype(int), options=opts)
        out = {"a": r["Discrimination"].tolist(), "b": r["Difficulty"].tolist()}
    elif model == "3pl":
        r = girth.threepl_mml(x.T.astype(int), options=opts)
        out = {"a": r["Discrimination"].tolist(), "b": r["Difficulty"].tolist()}
    else:
        r = girth.grm_mml(x.T.astype(int) + 1, options=opts)
        out = {"a": r["Discrimination"].tolist(), "b": r["Difficulty"].tolist()}
    seconds.append(time.perf_counter() - start)
out["seconds"] = sorted(seconds)[len(seconds) // 2]
print(json.dumps(out))
"""


def true_items(model: str, n_items: int, seed: int) -> ItemParams:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.1, 0.25, n_items)
    ids = tuple(f"I{j:03d}" for j in range(n_items))
    if model in ("2pl", "3pl"):
        c = rng.uniform(0.1, 0.25, n_items) if model == "3pl" else np.zeros(n_items)
        return ItemParams(ids=ids, a=a, b=rng.normal(0, 1, n_items), c=c, d=np.ones(n_items))
    thr = np.sort(rng.normal(0, 0.6, (n_items, 4)), axis=1) + np.array([-1.5, -0.5, 0.5, 1.5])
    kind = np.full(n_items, GRM if model == "grm" else GPCM, dtype=np.int8)
    return ItemParams(ids=ids, a=a, b=thr.mean(1), c=np.zeros(n_items), d=np.ones(n_items),
                      kind=kind, thresholds=thr)


def data(model: str, sparse: bool, seed: int) -> tuple[ItemParams, np.ndarray]:
    poly = model in ("grm", "gpcm")
    true = true_items(model, 20 if poly else 40, seed)
    thetas = np.random.default_rng(seed + 1).normal(size=2000)
    if poly:
        x = simulate_polytomous(true, thetas, seed=seed + 2)
    else:
        p = true.prob(thetas)
        x = (np.random.default_rng(seed + 2).random(p.shape) < p).astype(float)
    if sparse:
        rng = np.random.default_rng(seed + 3)
        for row in x:
            row[rng.choice(x.shape[1], x.shape[1] // 2, replace=False)] = np.nan
    return true, x


def rmse(true: ItemParams, a, b) -> dict:
    a, b = np.asarray(a, float), np.asarray(b, float)
    want_b = true.thresholds if true.has_polytomous else true.b
    return {"rmse_a": float(np.sqrt(np.mean((a - true.a) ** 2))),
            "rmse_b": float(np.sqrt(np.nanmean((b.reshape(want_b.shape) - want_b) ** 2)))}


def timed(fn):
    """(result, wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def ours(model: str, x: np.ndarray):
    if model in ("grm", "gpcm"):
        result, wall, cpu = timed(
            lambda: calibrate_polytomous(x, model, points=POINTS, min_responses=2))
        return result.params.a, result.params.thresholds, wall, cpu, result
    result, wall, cpu = timed(lambda: calibrate(x, model, points=POINTS, min_responses=2))
    return result.params.a, result.params.b, wall, cpu, result


def with_mirt(model: str, x: np.ndarray):
    import mirt

    name = model.upper()
    result, wall, cpu = timed(lambda: mirt.fit_mirt(x, model=name, n_quadpts=POINTS))
    params = result.model.parameters
    a = np.asarray(params["discrimination"]).reshape(-1)
    if model in ("grm", "gpcm"):
        b = np.asarray(params["thresholds" if model == "grm" else "steps"])
    else:
        b = np.asarray(params["difficulty"]).reshape(-1)
    return a, b, wall, cpu, result


def head_to_head(model: str, x: np.ndarray, repeats: int):
    """Ours and mirt alternately, ``repeats`` times each after one warm-up call of each (mirt
    compiles on first use), so that both meet the same load; medians and the median of the
    per-pair ratios."""
    ours(model, x)
    with_mirt(model, x)
    pairs = []
    for _ in range(repeats):
        mine = ours(model, x)
        theirs = with_mirt(model, x)
        pairs.append((mine, theirs))
    mine, theirs = pairs[-1]
    ow, oc = (statistics.median(p[0][k] for p in pairs) for k in (2, 3))
    mw, mc = (statistics.median(p[1][k] for p in pairs) for k in (2, 3))
    return {
        "ours": {"a": mine[0], "b": mine[1], "seconds": ow, "cpu_seconds": oc,
                 "iterations": mine[4].iterations, "converged": mine[4].converged,
                 "log_likelihood": mine[4].log_likelihood[-1], "skipped": len(mine[4].skipped)},
        "mirt": {"a": theirs[0], "b": theirs[1], "seconds": mw, "cpu_seconds": mc,
                 "iterations": int(theirs[4].n_iterations), "converged": bool(theirs[4].converged),
                 "log_likelihood": float(theirs[4].log_likelihood)},
        "wall_ratio": statistics.median(p[0][2] / p[1][2] for p in pairs),
        "cpu_ratio": statistics.median(p[0][3] / p[1][3] for p in pairs),
    }


def with_girth(model: str, x: np.ndarray, repeats: int):
    if model == "gpcm" or not GIRTH_PY.exists() or (model == "grm" and np.isnan(x).any()):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        # girth codes missing as -1 (dichotomous: its own "invalid response" value).
        np.save(path, np.nan_to_num(x, nan=-1 if model != "grm" else 0))
        ran = subprocess.run([str(GIRTH_PY), "-c", GIRTH_SCRIPT, str(path), model, str(repeats)],
                             capture_output=True, text=True, timeout=1800)
    if ran.returncode != 0:
        return {"error": ran.stderr.strip().splitlines()[-1][:200]}
    return json.loads(ran.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    load_start = os.getloadavg()
    rows = []
    for model in ("2pl", "3pl", "grm", "gpcm"):
        for sparse in (False, True):
            true, x = data(model, sparse, args.seed)
            row = {"model": model, "design": "sparse" if sparse else "complete"}
            try:
                h = head_to_head(model, x, args.repeats)
            except Exception as exc:  # a peer's failure is a finding, not a crash
                row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            else:
                for who in ("ours", "mirt"):
                    a, b = h[who].pop("a"), h[who].pop("b")
                    row[who] = {**rmse(true, a, b), **h[who]}
                row["wall_ratio"], row["cpu_ratio"] = h["wall_ratio"], h["cpu_ratio"]
            g = with_girth(model, x, args.repeats)
            want = true.thresholds.size if true.has_polytomous else len(true.a)
            if g is not None and "error" not in g and np.size(g["b"]) != want:
                g = {"error": f"girth returned {np.size(g['b'])} difficulties for {want}"}
            if g is not None and "error" not in g:
                row["girth"] = {**rmse(true, g["a"], g["b"]), "seconds": g["seconds"]}
            elif g is not None:
                row["girth"] = g
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"{platform.python_version()}",
              "load_average_start": load_start, "load_average_end": os.getloadavg(),
              "points": POINTS, "rows": rows}
    print("| model | design | ours RMSE a / b | mirt RMSE a / b | girth RMSE a / b | "
          "ours s (CPU s) | mirt s (CPU s) | girth s | EM cycles ours / mirt | "
          "ours / mirt time (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def cell(r, key):
        return (f"{r[key]['rmse_a']:.3f} / {r[key]['rmse_b']:.3f}"
                if key in r and "rmse_a" in r[key] else r.get(key, {}).get("error", "-"))

    def sec(r, key):
        return f"{r[key]['seconds']:.2f}" if key in r and "seconds" in r[key] else "-"

    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | {r['design']} | {r['error']} |")
            continue
        o, m = r["ours"], r["mirt"]
        print(f"| {r['model']} | {r['design']} | {cell(r, 'ours')} | {cell(r, 'mirt')} | "
              f"{cell(r, 'girth')} | {o['seconds']:.3f} ({o['cpu_seconds']:.3f}) | "
              f"{m['seconds']:.3f} ({m['cpu_seconds']:.3f}) | {sec(r, 'girth')} | "
              f"{o['iterations']} / {m['iterations']} | "
              f"{r['wall_ratio']:.2f} ({r['cpu_ratio']:.2f}) |")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(result, indent=2))
    print(f"\nload average {load_start} at the start, {result['load_average_end']} at the end; "
          f"{result['machine']}")


if __name__ == "__main__":
    main()
