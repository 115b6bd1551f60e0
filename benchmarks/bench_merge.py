"""The national merge at scale (issue 10): N candidates in F generated site files, merged,
verified and ranked by `cat-engine results merge`, timed with its peak memory.

    .venv/bin/python benchmarks/bench_merge.py [--candidates 2000000] [--files 600]
        [--formations 1000] [--out benchmarks/out/merge] [--reuse] [--postgres]

Generates (once; --reuse keeps them) F signed summary-only results files, each from its own
site key, with SKD-like scores (TWK/TIU binomial multiples of 5, TKP weighted), a few percent
absent or disqualified, and formations of which a tenth use the special rule sets. Every file
is genuine: signed, its totals, pass flags and ranks computed as a site computes them, so
the merge verifies each. Then runs the merge under /usr/bin/time and prints wall time, peak
RSS and the load average. Targets: <= 60 s, <= 4 GiB (the default, in-memory mode).

--postgres runs the merge with ``--database-url`` into a database of its own created on
CAT_ENGINE_TEST_POSTGRES_URL's server (dropped afterwards); the PostgreSQL server's own
CPU and memory are not in the merge's figures, and the 60 s target is not applied.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPECIAL = ("cum-laude", "diaspora", "disability", "papua")


def formations(n: int, seed: int = 1) -> list[tuple[str, str, int, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rule = SPECIAL[i % 4] if i % 10 == 9 else "general"
        out.append((f"F{i:05d}", f"Formasi {i}", int(rng.integers(1, 20)), rule))
    return out


def make_file(args: tuple) -> None:
    index, per_file, table, folder = args
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from item_bank import keys as keyfiles
    from scoring.integrity.sample import sample_file

    key = Ed25519PrivateKey.generate()
    keyfiles.write_public_key(key, folder / "keys" / f"site{index:04d}.pub")
    (folder / "files" / f"site{index:04d}.results").write_bytes(
        sample_file(key, index, per_file, [(code, rule) for code, _n, _v, rule in table]))


def generate(out: Path, candidates: int, n_files: int, n_formations: int) -> None:
    for sub in ("keys", "files"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    table = formations(n_formations)
    with open(out / "formations.csv", "w") as handle:
        handle.write("code,name,vacancies,rule_set\n")
        for code, name, vacancies, rule in table:
            handle.write(f"{code},{name},{vacancies},{rule}\n")
    per_file = candidates // n_files
    jobs = [(i, per_file, table, out) for i in range(n_files)]
    with multiprocessing.Pool(2) as pool:
        for done, _ in enumerate(pool.imap_unordered(make_file, jobs, chunksize=4), 1):
            if done % 50 == 0:
                print(f"  {done}/{n_files} files", flush=True)


_BASELINE = """
import base64, json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
n = 0
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        payload = f.readline().split(b".")[1]
    summary = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    n += len(summary["candidates"]["registration"])
print(json.dumps({"wall_s": round(time.perf_counter() - t0, 1),
                  "cpu_s": round(time.process_time() - c0, 1), "candidates": n}))
"""


def _baseline(files: list[Path]) -> dict:
    """The floor any merge of these files pays: read each signed summary, decode it and parse
    its JSON (no signature, no checks, no ranking), in the same run."""
    run = subprocess.run([sys.executable, "-c", _BASELINE, *map(str, files)],
                         capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(run.stdout)


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and its descendants (forked workers share pages with
    their parent until they write them, so the sum overstates: a ceiling)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status)[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, TypeError):
            continue  # it ended meanwhile
    return total


def _run_sampled(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run ``cmd``; its wall time and the peak of its process tree's summed RSS."""
    peak = [0]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kib(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(timeout=1800)
    wall = time.perf_counter() - started
    sampler.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), wall, peak[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--formations", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "merge")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    out = args.out
    files = sorted((out / "files").glob("*.results")) if args.reuse else []
    if not files:
        started = time.perf_counter()
        generate(out, args.candidates, args.files, args.formations)
        print(f"generated {args.files} files in {time.perf_counter() - started:.0f} s")
        files = sorted((out / "files").glob("*.results"))
    baseline = _baseline(files)
    national = out / "national"
    if national.exists():
        subprocess.run(["rm", "-rf", str(national)], check=True)
    size = sum(f.stat().st_size for f in files)
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c",
           "from cat_engine.cli import main; main()", "results", "merge", *map(str, files),
           "--formations", str(out / "formations.csv"), "--site-keys", str(out / "keys"),
           "--out", str(national)]
    if args.postgres:
        from cat_engine.testing import postgres_database

        admin = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")
        if not admin:
            print("--postgres needs CAT_ENGINE_TEST_POSTGRES_URL")
            return 2
        with postgres_database(admin) as url:
            return _measure(args, [*cmd, "--database-url", url], files, size, baseline)
    return _measure(args, cmd, files, size, baseline)


def _measure(args, cmd: list[str], files: list[Path], size: int, baseline: dict) -> int:
    load_before = os.getloadavg()
    run, wall, tree_kib = _run_sampled(cmd)
    if run.returncode != 0:
        print(run.stdout, run.stderr)
        return 1
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)[1])
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", run.stderr)[1])
              for kind in ("User", "System"))
    phases = {k: float(v) for k, v in re.findall(r"(verify|rank|write) [\d.]+ s, cpu ([\d.]+)",
                                                 run.stdout)}
    report = {"mode": "postgres" if args.postgres else "memory",
              "candidates": args.candidates, "files": len(files),
              "input_mib": round(size / 2**20), "wall_s": round(wall, 1),
              "cpu_s": round(cpu, 1), "cpu_by_phase_s": phases,
              "verify_and_rank_cpu_s": round(phases.get("verify", 0) + phases.get("rank", 0), 1),
              "baseline_read_parse": baseline,
              "verify_and_rank_cpu_over_baseline_cpu": round(
                  (phases.get("verify", 0) + phases.get("rank", 0)) / baseline["cpu_s"], 2),
              "peak_mib": round(peak_kib / 1024),
              "peak_tree_mib_sum_of_rss": round(tree_kib / 1024), "load_before": load_before,
              "load_after": os.getloadavg(), "merge_says": run.stdout.strip()}
    print(json.dumps(report, indent=1))
    peak = max(peak_kib, tree_kib) / 2**20
    if args.postgres:  # no target: the figure is reported
        print(f"postgres {wall:.1f} s wall, {peak:.2f} GiB (merge processes only)")
        return 0
    ok = wall <= 60 and peak <= 4
    print(("ok  " if ok else "MISS") + f" {wall:.1f} s wall (<= 60; verify+rank cpu "
          f"{report['verify_and_rank_cpu_s']} s), {peak:.2f} GiB (<= 4)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
