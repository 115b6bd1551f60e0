"""The write path under load: group-commit leadership, cheap writes for a connect storm."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from cat_engine.config import sqlite_url
from cat_engine.store import Store, audit
from cat_engine.store.models import AuditEntry


def test_a_leader_gets_its_ack_after_its_own_batch_not_after_the_queue_drains(tmp_path):
    """While the first batch commits, a second write arrives and can only finish after the
    first writer has its answer back: a leader that kept committing until nothing was
    pending would wait for it forever (here: until the timeout)."""
    store = Store(sqlite_url(tmp_path))
    in_first, first_returned = threading.Event(), threading.Event()
    second_submitted = threading.Event()
    order: list[str] = []

    def first(db):
        in_first.set()
        assert second_submitted.wait(10)
        time.sleep(0.05)  # let the second write reach the queue
        audit.append(db, at_ms=1, actor="t", action="first")
        return "first"

    def second(db):
        # Runs only once the first writer returned: possible only if it did not lead this batch.
        assert first_returned.wait(10), "the first writer was held by the next batch"
        audit.append(db, at_ms=2, actor="t", action="second")
        return "second"

    def run_first():
        order.append(store.write(first))
        first_returned.set()

    def run_second():
        assert in_first.wait(10)
        second_submitted.set()
        order.append(store.write(second))

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert order == ["first", "second"]
        with store.read() as db:
            assert db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all() == [
                "first", "second"]
        assert store.committer.batches == 2
    finally:
        store.close()
