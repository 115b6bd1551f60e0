"""The group commit's own CPU per answer, PostgreSQL against SQLite, by batch size.

    CAT_ENGINE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    .venv/bin/python benchmarks/bench_group_commit.py [--batches 1,5,20,50] [--rounds 300]

The writer of a `serve` process (the Store's GroupCommitter, as `serve` builds it under gevent:
on PostgreSQL its own engine, no pre-ping, blocking waits) commits batches of N answers, each
the three rows an answer writes (the answer, the candidate's scores and position, its audit
entry, fenced by the session's lease), called directly in this thread. The figure is this
thread's CPU time (``time.thread_time``) per answer, the median over the rounds after 20 of
warm-up. It isolates what the writer thread costs from the event loop, the network and the
scheduling of a whole server (benchmarks/bench_scale_out.py measures those together). To
compare two versions of the code, run this once with each tree on PYTHONPATH, alternating.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import select

from cat_engine.services.candidate import INSERT_EVENT, UPDATE_SCORES
from cat_engine.store import Rows, Store, audit, lease
from cat_engine.store.models import Candidate
from cat_engine.store.writer import _Op
from cat_engine.testing import postgres_database, prepare_site


def writer_cpu_per_answer(database_url: str | None, batch: int, rounds: int) -> float:
    """Median writer CPU (us) per answer at ``batch`` answers per group commit."""
    with tempfile.TemporaryDirectory() as d:
        # A database of its own for each run (PostgreSQL: postgres_database; SQLite: the
        # temporary directory), holding one session of ``batch`` candidates.
        site = prepare_site(Path(d), candidates=batch, database_url=database_url)
        store = Store(site.database_url, async_mode="gevent")
        try:
            with store.transaction() as db:
                rows = db.execute(select(Candidate.id, Candidate.session_id)).all()
                session_id = rows[0][1]
                fence = (session_id, lease.acquire(db, session_id, "bench", 0, 10**15).fence)
            per_answer = []
            for seq in range(1, rounds + 1):
                ops = [_Op(Rows(
                    (INSERT_EVENT, {"candidate_id": cid, "seq": seq, "kind": "answer",
                                    "position": seq % 100, "value": 3, "server_ms": seq}),
                    (UPDATE_SCORES, {"cid": cid, "pos": seq % 100,
                                     "sc": {"TWK": 35, "TIU": 40, "TKP": 120}}),
                    audit.deferred(at_ms=seq, actor="candidate", action="answer",
                                   session_id=session_id, candidate_id=cid,
                                   detail={"seq": seq, "position": seq % 100, "value": 3})),
                    threading.Event(), fence=fence) for cid, _sid in rows]
                start = time.thread_time()
                store.committer._commit(ops)
                used = time.thread_time() - start
                errors = [op.error for op in ops if op.error is not None]
                if errors:
                    raise RuntimeError(f"a batch failed: {errors[0]!r}")
                if seq > 20:
                    per_answer.append(used / len(ops))
            return statistics.median(per_answer) * 1e6
        finally:
            store.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", default="1,5,20,50",
                        help="answers per group commit, comma-separated")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(n) for n in args.batches.split(",")]
    pg = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")
    print(f"load average {os.getloadavg()[0]:.2f}; writer CPU per answer (us), median of "
          f"{args.rounds - 20} group commits")
    print("answers per commit | PostgreSQL | SQLite")
    for size in sizes:
        sqlite = writer_cpu_per_answer(None, size, args.rounds)
        if pg:
            with postgres_database(pg) as url:
                postgres = f"{writer_cpu_per_answer(url, size, args.rounds):.1f}"
        else:
            postgres = "(set CAT_ENGINE_TEST_POSTGRES_URL)"
        print(f"{size} | {postgres} | {sqlite:.1f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
