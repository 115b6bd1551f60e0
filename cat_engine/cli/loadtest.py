"""``cat-engine loadtest``: the live server against the tuned bare baseline, same run.

Prepares a throw-away site (SKD exam, N candidates) in a temp directory, then for each run
starts ``cat-engine serve`` and ``scripts/bare_server.py`` in turn (alternating which goes
first) on loopback, plays ``scripts/loadgen.py`` against each, and prints the medians and the
ratios to the bare server. The ``durable`` baseline is the bare server storing each answer
durably before its ack (``bare_server.py --durable``): the ratios to it say how much of
cat-engine's cost is its work beyond the durability promise, and its own ratios to the bare
server what the promise alone costs. Every server gets a clean, explicit environment: only PATH, the
bank passphrase and the settings below, so nothing in the caller's environment changes what
is measured, and the report prints them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from cat_engine.cli.common import fail

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

#: The figures a run compares (name -> path in a loadgen report), and the issue-14 targets.
FIGURES = {
    "storm_s": ("connect_storm", "seconds"),
    "storm_p99_ms": ("connect_storm", "p99_ms"),
    "storm_server_cpu_s": ("connect_storm", "server_cpu_s"),
    "peak_mib": ("server_memory_mib", "VmHWM"),
}
PHASE_FIGURES = ("acked_per_s", "acked_fraction", "failed", "p50_ms", "p99_ms",
                 "server_cpu_pct", "server_cpu_us_per_ack", "generator_cpu_pct",
                 "generator_max_process_cpu_pct", "machine_busy_pct")
#: The baselines ``--baselines`` knows.
BASELINES = ("bare", "untuned", "durable")
#: server/bare ratio targets (issue 14): figure -> (comparison, bound).
RATIO_TARGETS = {
    "saturation_acked_per_s": (">=", 0.75),
    "saturation_server_cpu_us_per_ack": ("<=", 1.35),
    "storm_s": ("<=", 1.3),
}


def _loadgen():
    path = SCRIPTS / "loadgen.py"
    if not path.is_file():
        fail(f"{path} not found: run the load test from a checkout of cat-engine")
    spec = importlib.util.spec_from_file_location("cat_engine_loadgen", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _bank_items():
    from item_bank.demo import generate_demo_items

    return generate_demo_items(110)


def server_env(settings: dict[str, Any], passphrase: str | None = None) -> dict[str, str]:
    """A clean environment: PATH, a UTF-8 locale, the passphrase and ``CAT_ENGINE_*`` settings.

    Nothing else of the caller's (a stray CAT_ENGINE_SQLITE_SYNCHRONOUS or CAT_ENGINE_RATE_*)
    reaches the server under test.
    """
    from cat_engine.testing import PASSPHRASE_ENV

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    if passphrase is not None:
        env[PASSPHRASE_ENV] = passphrase
    env.update({f"CAT_ENGINE_{key}": str(value) for key, value in settings.items()})
    return env


def _bare(data_dir: Path, async_mode: str, env: dict[str, str], untuned: bool = False,
          durable: str | None = None):
    """scripts/bare_server.py as a ServerProcess; with ``durable`` (a synchronous mode), the
    durable baseline, storing its answers in ``data_dir``."""
    from cat_engine.testing import ServerProcess

    proc = ServerProcess(data_dir=data_dir, async_mode=async_mode, env=env)
    proc.command = lambda: [sys.executable, str(SCRIPTS / "bare_server.py"),
                            "--port", str(proc.port), "--async-mode", async_mode,
                            *(["--untuned"] if untuned else []),
                            *(["--durable", str(data_dir), "--synchronous", durable]
                              if durable else [])]
    return proc


def stored_answers(data_dir: Path) -> int:
    """How many answers the durable baseline stored in ``data_dir`` (read after it stopped)."""
    import sqlite3

    with sqlite3.connect(data_dir / "answers.sqlite3") as db:
        return db.execute("SELECT count(*) FROM answers").fetchone()[0]


@click.command()
@click.option("--candidates", type=click.IntRange(1, 5000), default=2000, show_default=True,
              help="Simulated candidates who connect and play, each on its own websocket.")
@click.option("--registered", type=click.IntRange(1, 20000), default=None,
              help="Candidates registered in the session (default: --candidates).")
@click.option("--offered", type=float, default=1000.0, show_default=True,
              help="Answers per second offered in the open-loop phase.")
@click.option("--duration", type=float, default=10.0, show_default=True,
              help="Seconds of the open-loop phase (answers offered at --offered per second).")
@click.option("--saturate", type=float, default=10.0, show_default=True,
              help="Seconds of the closed-loop phase that finds the most answers per second.")
@click.option("--runs", type=click.IntRange(1, 9), default=3, show_default=True,
              help="Repeat each phase this many times and report the median.")
@click.option("--workers", type=click.IntRange(1, 8), default=2, show_default=True,
              help="Load generator processes (each reports its CPU).")
@click.option("--async-mode", type=click.Choice(["gevent", "threading", "eventlet"]),
              default="gevent", show_default=True,
              help="Concurrency model of the server under test.")
@click.option("--synchronous", type=click.Choice(["FULL", "NORMAL", "EXTRA"]), default="FULL",
              show_default=True, help="The server's SQLite synchronous mode.")
@click.option("--rate", type=float, default=20.0, show_default=True,
              help="The server's per-connection flood limit, messages per second.")
@click.option("--burst", type=int, default=60, show_default=True,
              help="The flood limit's burst.")
@click.option("--baselines", default="bare", show_default=True,
              help="Comma-separated: bare (tuned), untuned (a default SocketIO(app)), durable "
                   "(bare, storing each answer durably before its ack), none.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every figure to this JSON file.")
def loadtest(candidates, registered, offered, duration, saturate, runs, workers, async_mode,
             synchronous, rate, burst, baselines, json_out) -> None:
    """Play N candidates through an exam over real websockets and report the figures."""
    from cat_engine.testing import ServerProcess, prepare_site

    gen = _loadgen()
    registered = max(registered or candidates, candidates)
    chosen = [b for b in baselines.split(",") if b and b != "none"]
    for name in chosen:
        if name not in BASELINES:
            fail(f"--baselines: unknown baseline {name!r} ({', '.join(BASELINES)}, none)")
    if "durable" in chosen and async_mode != "gevent":
        fail("--baselines durable: the durable baseline runs on gevent only")
    settings = {"SQLITE_SYNCHRONOUS": synchronous, "RATE_PER_S": rate, "RATE_BURST": burst,
                "CLOCK_PUSH_S": 30.0}
    conditions = {"settings": settings, "candidates": candidates, "registered": registered,
                  "offered_per_s": offered, "duration_s": duration, "saturate_s": saturate,
                  "workers": workers, "async_mode": async_mode, "cpus": os.cpu_count(),
                  "python": sys.version.split()[0]}
    if "durable" in chosen:  # what the durable server reports of itself is added per run
        conditions["durable"] = {"synchronous": synchronous}
    click.echo(f"conditions: {json.dumps(conditions)}", err=True)
    with tempfile.TemporaryDirectory(prefix="cat-engine-load-") as tmp:
        tmp_path = Path(tmp)
        click.echo(f"preparing a site with {registered} candidates...", err=True)
        site = prepare_site(tmp_path / "site", candidates=registered, exam="skd",
                            items=_bank_items())
        roster = list(site.pins.items())[:candidates]
        results: dict[str, list] = {"server": [], **{name: [] for name in chosen}}
        for run in range(runs):
            targets = [("server", ServerProcess(
                _fresh_copy(site, tmp_path / f"run-{run}"), async_mode=async_mode,
                env=server_env(settings, site.passphrase)))]
            for name in chosen:
                targets.append((name, _bare(
                    tmp_path / f"{name}-{run}" if name == "durable" else tmp_path,
                    async_mode, server_env({}), untuned=name == "untuned",
                    durable=synchronous if name == "durable" else None)))
            if run % 2:  # alternate who goes first: drift in the machine's load hits both
                targets.reverse()
            for name, proc in targets:
                proc.data_dir.mkdir(exist_ok=True)
                proc.start(timeout=120)
                try:
                    health = _wait_warm(proc.url)
                    report = gen.run(proc.url, site.token, roster, offered=offered,
                                     duration=duration, saturate=saturate,
                                     server_pid=proc.proc.pid, workers=workers)
                finally:
                    proc.stop()
                if name == "durable":
                    # Its settings as its own connection reads them back, and a check that
                    # it did the work: every answer acknowledged as saved is a row.
                    conditions["durable"].update(health.get("durable") or {})
                    report["stored_answers"] = stored_answers(proc.data_dir)
                    report["saved_acks"] = sum(p["acked"] + p["late"]
                                               for p in report["phases"])
                results[name].append(report)
                click.echo(f"run {run + 1} {name}: {_line(report)}", err=True)
    summary = summarize(gen, results)
    summary["conditions"] = conditions
    click.echo(json.dumps(summary, indent=1))
    for line in target_lines(summary):
        click.echo(line, err=True)
    if json_out:
        json_out.write_text(json.dumps({"summary": summary, "runs": results}, indent=1))


def _fresh_copy(site, data_dir: Path):
    """The prepared site, copied: every run plays a room that has not logged in yet (on the
    same site, later runs' storms were resumes, with no clock to start)."""
    import dataclasses
    import shutil

    from cat_engine.config import sqlite_url

    shutil.copytree(site.data_dir, data_dir, ignore=shutil.ignore_patterns("server-*.log"))
    return dataclasses.replace(site, data_dir=data_dir,
                               database_url=sqlite_url(data_dir.resolve()))


def _wait_warm(url: str, timeout: float = 120.0) -> dict[str, Any]:
    """Wait until the server says it is ready for a room (``warm`` in /healthz); return what
    /healthz said."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            health = json.load(response)
            if health.get("warm", True):
                break
        time.sleep(0.2)
    return health


def _line(report: dict) -> str:
    storm = report["connect_storm"]
    parts = [f"storm {storm['seconds']} s ({storm['ready']}/{report['candidates']} ready, "
             f"server cpu {storm['server_cpu_pct']}%, gen {storm['generator_cpu_pct']}%, "
             f"load {storm['load_avg'][0]})"]
    for p in report["phases"]:
        parts.append(f"{p['phase']} {p['acked_per_s']}/s failed {p['failed']} "
                     f"p50 {p['p50_ms']} p99 {p['p99_ms']} ms server {p['server_cpu_pct']}% "
                     f"({p.get('server_cpu_us_per_ack')} us/ack) gen {p['generator_cpu_pct']}% "
                     f"(max proc {p['generator_max_process_cpu_pct']}%) machine "
                     f"{p['machine_busy_pct']}% load {p['load_avg'][0]}")
    mem = report.get("server_memory_mib") or {}
    parts.append(f"peak {mem.get('VmHWM', 0):.0f} MiB")
    if "stored_answers" in report:
        parts.append(f"stored {report['stored_answers']} rows for {report['saved_acks']} "
                     "saved acks")
    return "; ".join(parts)


def _figures(report: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, path in FIGURES.items():
        value: Any = report
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        out[key] = value
    for phase in report["phases"]:
        for key in PHASE_FIGURES:
            out[f"{phase['phase']}_{key}"] = phase.get(key)
    return out


def summarize(gen, results: dict[str, list]) -> dict:
    """Medians per figure over the runs, server/baseline ratios of the medians, and the median
    of the per-run ratios (each run's server against the baseline measured next to it)."""
    out: dict = {}
    per_run = {name: [_figures(r) for r in reports] for name, reports in results.items()}
    for name, figures in per_run.items():
        if not figures:
            continue
        keys = figures[0].keys()
        out[name] = {k: _median([f.get(k) for f in figures]) for k in keys}
        out[name]["ready_min"] = min(r["connect_storm"]["ready"] for r in results[name])
        out[name]["load_avg_range"] = [
            min(r["connect_storm"]["load_avg"][0] for r in results[name]),
            max(p["load_avg"][1] for r in results[name] for p in r["phases"] or
                [r["connect_storm"]])]
    pairs = [("server", b) for b in per_run if b != "server" and per_run[b]]
    if per_run.get("durable") and per_run.get("bare"):
        pairs.append(("durable", "bare"))  # what the durability promise alone costs
    for name, base in pairs:
        out[f"{name}_over_{base}"], out[f"{name}_over_{base}_per_run"] = _ratios(
            out[name], out[base], per_run[name], per_run[base])
    return out


def _ratios(s: dict, b: dict, runs_s: list[dict], runs_b: list[dict]) -> tuple[dict, dict]:
    """Ratios of two servers' medians, and the median of their per-run ratios (each run's
    server against the baseline measured next to it)."""
    ratios, paired = {}, {}
    for key in s:
        if isinstance(s.get(key), (int, float)) and isinstance(b.get(key), (int, float)) \
                and b[key] and key not in ("ready_min", "load_avg_range"):
            ratios[key] = round(s[key] / b[key], 3)
            pairs = [fs[key] / fb[key] for fs, fb in zip(runs_s, runs_b, strict=False)
                     if isinstance(fs.get(key), (int, float))
                     and isinstance(fb.get(key), (int, float)) and fb[key]]
            if pairs:
                paired[key] = {"median": round(statistics.median(pairs), 3),
                               "runs": [round(x, 3) for x in pairs]}
    return ratios, paired


def _median(values: list) -> Any:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(numbers) if numbers else None


def target_lines(summary: dict) -> list[str]:
    """One line per issue-14 ratio target against the tuned bare server, and the same
    figures for the pairs the durable baseline adds (cat-engine against it, it against bare).
    """
    lines = []
    for name, base in (("server", "bare"), ("server", "durable"), ("durable", "bare")):
        paired = summary.get(f"{name}_over_{base}_per_run") or {}
        for key, (op, bound) in RATIO_TARGETS.items():
            entry = paired.get(key)
            if entry is None:
                continue
            value = entry["median"]
            ok = value <= bound if op == "<=" else value >= bound
            lines.append(f"{'met ' if ok else 'MISS'} {key}: {name}/{base} {value} per run "
                         f"{entry['runs']} (target {op} {bound})")
    return lines
