"""Query plans that must not turn into scans of a whole table: at ten million events a scan
per table is seconds where a lookup is a millisecond (bench/scale.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest

from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch, Reindex
from logcycle.store import schema
from logcycle.store.postgres import PostgresStore
from logcycle.store.sqlite import SQLiteStore
from tests import pg
from tests.conftest import T0


def plan(store: SQLiteStore, sql: str, params: list[Any]) -> str:
    _, rows = store.fetch("EXPLAIN QUERY PLAN " + sql, params)
    return "\n".join(str(r[-1]) for r in rows)


def test_request_key_lookups_read_by_rowid_in_either_order(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'db'}", tz=ZoneInfo("UTC"), retention_weeks=9)
    store.open(T0)
    events = [{"kind": "general", "instant": T0, "message": f"m{i}", "request_key": f"r{i % 7}"}
              for i in range(500)]
    batch = BatchDecoder(max_future_ms=10**9, max_batch=10**4).decode_json(
        orjson.dumps(events), now_ms=T0).events
    store.apply([EventBatch(batch[:400], None, "t", scope=ALL)], T0)
    store.apply([Reindex()], T0)
    store.apply([EventBatch(batch[400:], None, "t", scope=ALL)], T0)  # above the watermark
    cycle = 3
    table = schema.table("general", cycle)
    cond, params = store.request_key_condition("general", cycle, "r2")
    for order in ("ORDER BY id LIMIT ?", "ORDER BY id DESC LIMIT ?"):
        for extra, extra_params in (("", []), (" AND id < ?", [10**9])):  # tree, list
            got = plan(store, f"SELECT * FROM {table} WHERE {cond}{extra} {order}",
                       [*params, *extra_params, 100])
            # Driven by the ids of the request, not by a walk over the table's rowids.
            assert f"SEARCH {table} USING INTEGER PRIMARY KEY (rowid=?)" in got, got
            assert f"SCAN {table}" not in got.split("LIST SUBQUERY")[0], got
            # The side table is read by its primary key, one seek per segment.
            assert "SEARCH lc_rk_3 USING PRIMARY KEY (seg=? AND request_key=?)" in got, got
            assert "SCAN lc_rk_3" not in got, got
        _, rows = store.fetch(f"SELECT id FROM {table} WHERE {cond} AND id < ? {order}",
                              [*params, 10**9, 1000])
        ids = [r[0] for r in rows]
        assert sorted(ids) == [i + 1 for i in range(500) if i % 7 == 2]
        assert ids == sorted(ids, reverse="DESC" in order)
    store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("analyzed", [False, True])
def test_postgres_request_key_lookups_read_by_primary_keys(analyzed: bool) -> None:
    with pg.fresh_schema() as url:
        store = PostgresStore(url, tz=ZoneInfo("UTC"), retention_weeks=9)
        store.open(T0)
        cycle, n = 3, 200_000
        table = schema.table("general", cycle)
        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{store.schema}"')
            conn.execute(f"INSERT INTO {table} (id, insert_instant, instant, message, "
                         f"request_key) SELECT g, 0, 0, 'x', 'q' || (g % 50000) FROM "
                         f"generate_series(1, {n}) AS g")  # type: ignore[arg-type]
            conn.execute(f"SELECT setval('lc_event_id', {n + 1}, false)")
            if analyzed:
                conn.execute("ANALYZE")
        events = [{"kind": "general", "instant": T0, "message": f"m{i}",
                   "request_key": f"r{i % 7}"} for i in range(500)]
        batch = BatchDecoder(max_future_ms=10**9, max_batch=10**4).decode_json(
            orjson.dumps(events), now_ms=T0).events
        store.apply([EventBatch(batch[:400], None, "t", scope=ALL)], T0)
        assert store.apply([Reindex()], T0) == [n + 400]
        store.apply([EventBatch(batch[400:], None, "t", scope=ALL)], T0)  # above the watermark
        cond, params = store.request_key_condition("general", cycle, "r2")
        for order in ("ORDER BY id LIMIT %s", "ORDER BY id DESC LIMIT %s"):
            for extra, extra_params in (("", []), (" AND id < %s", [10**9])):  # tree, list
                _, rows = store.fetch(f"EXPLAIN SELECT * FROM {table} WHERE {cond}{extra} "
                                      f"{order}", [*params, *extra_params, 100])
                got = "\n".join(str(r[0]) for r in rows)
                assert "lc_rk_3_rk" in got, got
                assert "(id = ANY ($1))" in got.split("Index Cond: ")[-1], got
                assert "Seq Scan on oslog_" not in got, got
            _, rows = store.fetch(f"SELECT id FROM {table} WHERE {cond} AND id < %s {order}",
                                  [*params, 10**9, 1000])
            ids = [r[0] for r in rows]
            assert sorted(ids) == [n + i + 1 for i in range(500) if i % 7 == 2]
            assert ids == sorted(ids, reverse="DESC" in order)
        store.close()
