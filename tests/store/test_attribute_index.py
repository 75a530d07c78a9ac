"""The attribute index built behind the writer (store/sqlite_fields.py,
store/postgres_fields.py): queries on ``attributes.<key>`` are exact whatever it holds, on
both stores, and each store reads it instead of the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from logcycle.cycles import WEEK_MS
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch, Maintain, Reindex
from logcycle.query.events import list_events
from logcycle.query.filters import EventFilter
from logcycle.query.lang import parse
from logcycle.query.scope import Reader
from logcycle.settings import Settings
from logcycle.store.base import Store
from logcycle.store.factory import make_store
from logcycle.store.sqlite import SQLiteStore
from tests.conftest import T0

UTC = ZoneInfo("UTC")


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Any:
    s = make_store(Settings(data=tmp_path, store=store_url, index_attributes="user,n,ok,long,a"))
    s.open(T0)
    yield s
    s.close()


def write(store: Store, events: list[dict[str, Any]], now: int = T0) -> None:
    batch = BatchDecoder(max_future_ms=10**9, max_batch=10**5).decode_json(
        orjson.dumps(events), now_ms=now).events
    store.apply([EventBatch(batch, None, "t", scope=ALL)], now)


def ids(store: Store, query: str) -> list[int]:
    page = list_events(Reader(store, ALL), EventFilter(query=parse(query)), after=None,
                       limit=1000, tz=UTC)
    return sorted(e["id"] for e in page.events)


def test_exact_before_and_after_the_index_catches_up(store: Store) -> None:
    events = [{"kind": "screen", "instant": T0, "duration_ms": 1, "screen": "s",
               "request_key": "r", "attributes": {"user": f"u{i % 5}", "n": i % 3,
                                                   "ok": i % 2 == 0, "deep": {"user": "u1"},
                                                   "long": "x" * 300}}
              for i in range(40)]
    write(store, events[:20])
    before = {q: ids(store, q) for q in ("attributes.user:u1", "attributes.n:2",
                                         "attributes.ok:true", "-attributes.user:u1",
                                         "attributes.long:" + "x" * 300)}
    store.apply([Reindex()], T0)
    write(store, events[20:])  # above the watermark: scanned
    after = {q: ids(store, q) for q in before}
    assert [len(v) for v in before.values()] == [4, 6, 10, 16, 20]
    assert [len(v) for v in after.values()] == [8, 13, 20, 32, 40]
    assert set(before["attributes.user:u1"]) <= set(after["attributes.user:u1"])
    assert ids(store, "attributes.deep.user:u1") == ids(store, "request_key:r")  # nested: JSON


def test_rotation_empties_the_index_with_its_week(store: Store) -> None:
    write(store, [{"kind": "general", "instant": T0, "message": "m", "attributes": {"a": "b"}}])
    store.apply([Reindex()], T0)
    assert len(ids(store, "attributes.a:b")) == 1
    for week in range(1, 11):  # ten turns: the cycle comes round again and is emptied
        store.apply([Maintain(T0 + week * WEEK_MS)], T0 + week * WEEK_MS)
    assert ids(store, "attributes.a:b") == []
    if isinstance(store, SQLiteStore):  # the index rows went with the week's rows
        assert store.fetch("SELECT count(*) FROM lc_attr_3", [])[1] == [(0,)]


def test_sqlite_reads_the_index_not_the_table(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'db'}", tz=UTC, retention_weeks=9,
                        index_attributes=("user",))
    store.open(T0)
    assert store.attribute_condition("screen", 3, "other", "u1") is None  # not indexed
    cond = store.attribute_condition("screen", 3, "user", "u1")
    assert cond is not None
    _, rows = store.fetch("EXPLAIN QUERY PLAN SELECT * FROM oslog_screen_3 WHERE "
                          f"{cond[0]} ORDER BY id DESC LIMIT 10", cond[1])
    plan = "\n".join(str(r[-1]) for r in rows)
    assert "lc_attr_3 USING PRIMARY KEY (k=? AND v=? AND kind=?)" in plan, plan
    assert "SCAN oslog_screen_3\n" not in plan + "\n", plan
    store.close()


def test_another_set_of_keys_rebuilds_the_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db'}"
    events = [{"kind": "general", "instant": T0, "message": "m",
               "attributes": {"a": f"x{i % 2}", "b": f"y{i % 3}"}} for i in range(12)]
    first = SQLiteStore(url, tz=UTC, retention_weeks=9, index_attributes=("a",))
    first.open(T0)
    write(first, events)
    first.apply([Reindex()], T0)
    assert ids(first, "attributes.b:y1") == ids(first, "attributes.b:*")[1::3]  # scanned
    first.close()
    second = SQLiteStore(url, tz=UTC, retention_weeks=9, index_attributes=("a", "b"))
    second.open(T0)
    assert len(ids(second, "attributes.b:y1")) == 4  # nothing indexed for b yet: scanned
    assert second.apply([Reindex()], T0)[0] == 12  # b of every row (a was indexed already)
    assert len(ids(second, "attributes.b:y1")) == 4 and len(ids(second, "attributes.a:x0")) == 6
    second.close()


@pytest.mark.postgres
def test_postgresql_reads_the_index_not_the_table() -> None:
    from logcycle.store.postgres import PostgresStore
    from tests import pg

    with pg.fresh_schema() as url:
        store = PostgresStore(url, tz=UTC, retention_weeks=9, index_attributes=("user",))
        store.open(T0)
        write(store, [{"kind": "screen", "instant": T0, "duration_ms": 1, "screen": "s",
                       "request_key": f"r{i}", "attributes": {"user": f"u{i}"}}
                      for i in range(2000)])
        store.reindex()
        with store.transaction() as conn:  # the planner knows the table is not 10 rows
            conn.execute("ANALYZE oslog_screen_3")
            conn.execute("ANALYZE lc_attr_3")
        assert store.attribute_condition("screen", 3, "other", "u1") is None  # not indexed
        cond = store.attribute_condition("screen", 3, "user", "u7")
        assert cond is not None
        _, rows = store.fetch("EXPLAIN SELECT * FROM oslog_screen_3 WHERE "
                              f"{cond[0]} ORDER BY id DESC LIMIT 10", cond[1])
        plan = "\n".join(str(r[0]) for r in rows)
        assert "lc_attr_3_kv" in plan and "Seq Scan on oslog_screen_3" not in plan, plan
        assert ids(store, "attributes.user:u7") == ids(store, "request_key:r7")
        store.close()
