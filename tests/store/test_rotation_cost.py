"""Rotation costs what emptying whole tables costs, whatever SQLite's build defaults: the
freed pages are not rewritten (bench/scale.py: a week of a million events in 0.1 s)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from logcycle.cycles import WEEK_MS
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch, Maintain
from logcycle.store.sqlite import SQLiteStore
from tests.conftest import T0


def test_emptying_a_cycle_does_not_rewrite_its_pages(tmp_path: Path) -> None:
    db = tmp_path / "logcycle.db"
    store = SQLiteStore(f"sqlite:///{db}", tz=ZoneInfo("UTC"), retention_weeks=1)
    store.open(T0)
    events = [{"kind": "general", "instant": T0, "message": f"event {i} " + "x" * 300}
              for i in range(20_000)]
    batch = BatchDecoder(max_future_ms=10**9, max_batch=10**5).decode_json(
        orjson.dumps(events), now_ms=T0).events
    store.checkpoint(truncate=True)
    _, ((before,),) = store.fetch("PRAGMA page_count", ())
    store.apply([EventBatch(batch, None, "t", scope=ALL)], T0)
    store.checkpoint(truncate=True)
    _, ((after,),) = store.fetch("PRAGMA page_count", ())
    pages = after - before
    assert pages > 1500
    later = T0 + 2 * WEEK_MS  # retention 1: week of T0 expires
    store.apply([Maintain(later)], later)
    assert store.held()[3] is None
    assert store.fetch("SELECT count(*) FROM oslog_general_3", ())[1] == [(0,)]
    wal_pages = store.wal_bytes() // 4096
    assert wal_pages < pages // 10, (wal_pages, pages)
    store.close()
