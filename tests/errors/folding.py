"""Fold every error written so far into the group tables (store/errorgroups.py), as the
writer (SQLite) or the indexer thread (PostgreSQL) does about once a second. On
PostgreSQL a Reindex task does nothing while the indexer thread holds the lock: retry."""

from __future__ import annotations

import time

from logcycle.ingest.tasks import Reindex
from logcycle.service import Service
from logcycle.store import errorgroups


def fold(service: Service) -> None:
    store = service.store
    tables = " UNION ALL ".join(f"SELECT max(id) AS m FROM oslog_error_{c}" for c in range(10))
    _, rows = store.fetch(f"SELECT max(m) FROM ({tables}) AS t", ())
    high = int(rows[0][0] or 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        service.writer.submit_wait(Reindex())
        _, marks = store.fetch(errorgroups.watermark_sql(store.dialect), ())
        if marks and int(marks[0][0]) >= high:
            return
        time.sleep(0.05)
    raise AssertionError("the error groups were not folded in within 10 s")
