"""``cat-engine loadtest``: the live server against the bare ceiling, same generator, same run.

Prepares a throw-away site (SKD exam, N candidates) in a temp directory, then for each run
starts ``cat-engine serve`` and ``scripts/bare_server.py`` in turn on loopback, plays
``scripts/loadgen.py`` against each, and prints the medians and the ratios to the bare server.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import tempfile
from pathlib import Path

import click

from cat_engine.cli.common import fail

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


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


class _Bare:
    """scripts/bare_server.py as a ServerProcess-like object."""

    def __init__(self, data_dir: Path, async_mode: str):
        from cat_engine.testing import ServerProcess

        self.proc = ServerProcess(data_dir=data_dir, async_mode=async_mode)
        self.proc.command = lambda: [sys.executable, str(SCRIPTS / "bare_server.py"),
                                     "--port", str(self.proc.port),
                                     "--async-mode", async_mode]


@click.command()
@click.option("--candidates", type=click.IntRange(1, 5000), default=2000, show_default=True,
              help="Simulated candidates, each on its own websocket.")
@click.option("--offered", type=float, default=1000.0, show_default=True,
              help="Answers per second offered in the open-loop phase.")
@click.option("--duration", type=float, default=10.0, show_default=True,
              help="Seconds of the open-loop phase (answers offered at --offered per second).")
@click.option("--saturate", type=float, default=10.0, show_default=True,
              help="Seconds of the closed-loop phase that finds the most answers per second.")
@click.option("--runs", type=click.IntRange(1, 9), default=3, show_default=True,
              help="Repeat each phase this many times and report the median.")
@click.option("--async-mode", type=click.Choice(["gevent", "threading", "eventlet"]),
              default="gevent", show_default=True,
              help="Concurrency model of the server under test.")
@click.option("--no-bare", is_flag=True, help="Skip the bare-server ceiling.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every figure to this JSON file.")
def loadtest(candidates, offered, duration, saturate, runs, async_mode, no_bare,
             json_out) -> None:
    """Play N candidates through an exam over real websockets and report the figures."""
    import asyncio

    from cat_engine.testing import ServerProcess, prepare_site

    gen = _loadgen()
    with tempfile.TemporaryDirectory(prefix="cat-engine-load-") as tmp:
        tmp_path = Path(tmp)
        click.echo(f"preparing a site with {candidates} candidates...", err=True)
        site = prepare_site(tmp_path / "site", candidates=candidates, exam="skd",
                            items=_bank_items())
        roster = list(site.pins.items())
        results: dict[str, list] = {"server": [], "bare": []}
        for run in range(runs):
            targets = [("server", ServerProcess(_fresh_copy(site, tmp_path / f"run-{run}"),
                                                async_mode=async_mode))]
            if not no_bare:
                targets.append(("bare", _Bare(tmp_path, async_mode).proc))
            for name, proc in targets:
                proc.start(timeout=120)
                if name == "server":
                    _wait_warm(proc.url)
                try:
                    report = asyncio.run(gen.run(proc.url, site.token, roster, offered=offered,
                                                 duration=duration, saturate=saturate,
                                                 server_pid=proc.proc.pid))
                finally:
                    proc.stop()
                results[name].append(report)
                click.echo(f"run {run + 1} {name}: {_line(report)}", err=True)
    summary = summarize(gen, results)
    click.echo(json.dumps(summary, indent=1))
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


def _wait_warm(url: str, timeout: float = 120.0) -> None:
    """A site's server starts well before its candidates arrive: let it load them first."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            if json.load(response).get("warm"):
                return
        time.sleep(0.2)


def _line(report: dict) -> str:
    storm = report["connect_storm"]
    parts = [f"storm {storm['seconds']} s ({storm['ready']}/{report['candidates']} ready)"]
    for phase in report["phases"]:
        parts.append(f"{phase['phase']} {phase['acked_per_s']}/s p50 {phase['p50_ms']} "
                     f"p99 {phase['p99_ms']} ms cpu {phase['server_cpu_pct']}%")
    mem = report.get("server_memory_mib") or {}
    parts.append(f"peak {mem.get('VmHWM', 0):.0f} MiB")
    return "; ".join(parts)


def summarize(gen, results: dict[str, list]) -> dict:
    """Medians per figure over the runs, and server/bare ratios."""
    out: dict = {}
    for name, reports in results.items():
        if not reports:
            continue
        fig = {"storm_s": gen.median_of(reports, ("connect_storm", "seconds")),
               "ready": min(r["connect_storm"]["ready"] for r in reports),
               "peak_mib": gen.median_of(reports, ("server_memory_mib", "VmHWM"))}
        for index, phase in enumerate(reports[0]["phases"]):
            for key in ("acked_per_s", "p50_ms", "p95_ms", "p99_ms", "server_cpu_pct"):
                fig[f"{phase['phase']}_{key}"] = gen.median_of(reports, ("phases", index, key))
            if phase["phase"] == "offered":
                fig["offered_acked_fraction"] = statistics.median(
                    r["phases"][index]["acked"] / max(1, r["phases"][index]["sent"])
                    for r in reports)
        out[name] = fig
    if out.get("server") and out.get("bare"):
        s, b = out["server"], out["bare"]
        ratios = {}
        for key in ("offered_p99_ms", "saturation_acked_per_s", "offered_acked_per_s"):
            if s.get(key) and b.get(key):
                ratios[f"{key}_server_over_bare"] = round(s[key] / b[key], 2)
        out["ratios"] = ratios
    return out
