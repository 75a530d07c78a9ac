"""The store contract: one suite, run unchanged against SQLite and PostgreSQL (the
``store_url`` fixture of tests/conftest.py). Everything goes through the Store Protocol
(open, apply, fetch, held, entities, keys, close) with explicit times."""

from __future__ import annotations

import random
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from logcycle.cycles import WEEK_MS, ms_of
from logcycle.errors import BadRequest, Conflict, LogcycleError, NotFound, StoreUnavailable
from logcycle.ingest.decode import BatchDecoder, Prepared
from logcycle.ingest.tasks import (
    ALL,
    DeclareEntity,
    EventBatch,
    IndexSearch,
    Maintain,
    RecordBatch,
    Reindex,
)
from logcycle.kinds import KINDS
from logcycle.query.wildcards import wildcard_pattern
from logcycle.settings import Settings
from logcycle.store import postgres, schema, sqlite
from logcycle.store.base import Store
from logcycle.store.factory import make_store
from logcycle.store.search import MessageQuery
from tests import pg
from tests.conftest import T0  # 2026-11-23T15:00Z: week 1403, cycle 3

NEXT_WEEK = ms_of("2026-11-27T23:45:00+00:00")  # week 1404, cycle 4
_decoder = BatchDecoder(max_future_ms=10**12, max_batch=100_000)


def events(*evs: dict[str, Any]) -> list[Prepared]:
    return _decoder.decode_json(orjson.dumps(list(evs)), now_ms=T0).events


def err(msg: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "error", "instant": T0, "module_name": "shop", "message": msg, **extra}


def gen(msg: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "general", "instant": T0, "message": msg, **extra}


def open_store(url: str, tmp_path: Path, *, now: int = T0, retention: int = 9) -> Store:
    store = make_store(Settings(data=tmp_path / "data", store=url, retention_weeks=retention))
    store.open(now)
    return store


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    s = open_store(store_url, tmp_path)
    yield s
    s.close()


def q(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``sql`` written with ``?`` placeholders on either engine."""
    return store.fetch(sql.replace("?", store.dialect.param), params)[1]


def write(store: Store, *evs: dict[str, Any], now: int = T0, key: str | None = None,
          principal: str = "p") -> list[int]:
    (ids,) = store.apply([EventBatch(events(*evs), key, principal, scope=ALL)], now)
    assert isinstance(ids, list), ids
    return ids


def raw_execute(store: Store, sql: str) -> None:
    """Change the store behind its back, as another program would."""
    if isinstance(store, sqlite.SQLiteStore):
        conn = sqlite3.connect(store.path, isolation_level=None)
        conn.execute(sql)
        conn.close()
    else:
        assert isinstance(store, postgres.PostgresStore)
        with psycopg.connect(store.conninfo, autocommit=True) as pconn:
            pconn.execute(f'SET search_path TO "{store.schema}"')
            pconn.execute(sql)  # type: ignore[arg-type]  # a literal of this test module


# -- schema ------------------------------------------------------------------------------
def test_tables_and_views_of_every_kind(store: Store) -> None:
    for kind in KINDS:
        for c in range(10):
            assert q(store, f"SELECT count(*) FROM oslog_{kind}_{c}") == [(0,)]
        assert q(store, f"SELECT count(*) FROM oslog_{kind}") == [(0,)]
        assert q(store, f"SELECT count(*) FROM oslog_{kind}_previous") == [(0,)]
    write(store, err("now"))
    assert q(store, "SELECT message FROM oslog_error") == [("now",)]
    assert q(store, "SELECT message FROM oslog_error_3") == [("now",)]


def test_open_is_idempotent_and_keeps_data(store_url: str, tmp_path: Path) -> None:
    s = open_store(store_url, tmp_path)
    ids = write(s, err("kept"))
    s.close()
    s = open_store(store_url, tmp_path)
    assert q(s, "SELECT id FROM oslog_error") == [(ids[0],)]
    assert write(s, err("next"))[0] > ids[0]
    s.close()


def test_a_newer_schema_is_refused(store: Store, store_url: str, tmp_path: Path) -> None:
    raw_execute(store, "UPDATE lc_meta SET value = 999 WHERE name = 'schema_version'")
    store.close()
    other = make_store(Settings(data=tmp_path / "data", store=store_url))
    with pytest.raises(LogcycleError, match="newer than this logcycle"):
        other.open(T0)
    other.close()


@pytest.mark.postgres
def test_postgres_version_1_is_upgraded(tmp_path: Path) -> None:
    """Version 1 had an inline request_key index per table: it goes, and the side tables
    are filled by the next reindexes; lookups are exact meanwhile."""
    with pg.fresh_schema() as url:
        s = open_store(url, tmp_path)
        ids = write(s, err("a", request_key="k"), err("b", request_key="k"))
        rk = ", ".join(schema.rk_table(c) for c in range(10))
        raw_execute(s, f"DROP TABLE {rk}; DELETE FROM lc_index_state; UPDATE lc_meta SET "
                    "value = 1 WHERE name = 'schema_version'; CREATE INDEX "
                    "oslog_error_3_request_key ON oslog_error_3 (request_key) WHERE "
                    "request_key IS NOT NULL")
        s.close()
        s = open_store(url, tmp_path)
        assert q(s, "SELECT value FROM lc_meta WHERE name = 'schema_version'") == \
            [(schema.PG_SCHEMA_VERSION,)]
        assert q(s, "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() "
                 "AND indexname LIKE ?", "%request_key") == [(0,)]
        assert rk_ids(s, "k") == ids
        assert s.apply([Reindex()], T0) == [2]
        assert rk_ids(s, "k") == ids
        assert q(s, "SELECT id FROM lc_rk_3 ORDER BY id") == [(i,) for i in ids]
        s.close()


@pytest.mark.postgres
def test_postgres_version_2_is_upgraded(tmp_path: Path) -> None:
    """Version 2 took the store's lock for every group commit: version 3 adds the ticket
    sequence and the functions that order overlapping commits; ids go on from where
    they were. Its lc_rk_<cycle> tables held the keys as text: they are rebuilt with
    hashes."""
    with pg.fresh_schema() as url:
        s = open_store(url, tmp_path)
        ids = write(s, err("a", request_key="k"))
        s.apply([Reindex()], T0)
        rk = ", ".join(schema.rk_table(c) for c in range(10))
        raw_execute(s, "DROP FUNCTION lc_reserve(bigint), lc_await(bigint), lc_settled(); "
                    f"DROP SEQUENCE lc_ticket; DROP TABLE {rk}; UPDATE lc_meta SET value = 2 "
                    "WHERE name = 'schema_version'")
        for c in range(10):  # version 2's side tables: the keys as text
            raw_execute(s, f"CREATE TABLE {schema.rk_table(c)} (request_key TEXT NOT NULL, "
                        "id BIGINT NOT NULL, kind SMALLINT NOT NULL, PRIMARY KEY "
                        "(request_key, id))")
        raw_execute(s, f"INSERT INTO lc_rk_3 VALUES ('k', {ids[0]}, 1)")
        s.close()
        s = open_store(url, tmp_path)
        assert q(s, "SELECT value FROM lc_meta WHERE name = 'schema_version'") == \
            [(schema.PG_SCHEMA_VERSION,)]
        assert rk_ids(s, "k") == ids  # exact before the side tables are filled again
        more = write(s, err("b", request_key="k"))
        assert more[0] > ids[0]
        assert q(s, "SELECT message FROM oslog_error ORDER BY id") == [("a",), ("b",)]
        assert s.apply([Reindex()], T0) == [2]
        assert rk_ids(s, "k") == ids + more
        s.close()


# -- writes ------------------------------------------------------------------------------
def test_ids_unique_and_increasing_across_kinds_and_tasks(store: Store) -> None:
    tasks = [EventBatch(events(err("a"), gen("b"), err("c")), None, "p", scope=ALL),
             EventBatch(events(gen("d", module_name="m", error={"message": "inline"})), None,
                        "p", scope=ALL)]
    first, second = store.apply(tasks, T0)
    assert first == sorted(first) and len(set(first)) == 3
    assert second[0] > first[-1] + 1  # the inline error took the id just before
    (parent,) = q(store, "SELECT id, error_id FROM oslog_general WHERE message = 'd'")
    assert parent == (second[0], second[0] - 1)
    assert q(store, "SELECT message, module_name FROM oslog_error WHERE id = ?",
             second[0] - 1) == [("inline", "m")]
    later = write(store, err("e"))
    assert later[0] > second[0]


def test_every_field_round_trips(store: Store) -> None:
    ev = {"kind": "integration", "instant": T0 - 5, "duration_ms": 12.5, "is_expose": True,
          "endpoint": "/pay", "type": "REST", "attributes": {"a": [1, "x"]}}
    (i,) = write(store, ev)
    names, rows = store.fetch(f"SELECT * FROM oslog_integration WHERE id = {i}", ())
    row = dict(zip(names, rows[0], strict=True))
    assert row["insert_instant"] == T0 and row["instant"] == T0 - 5
    assert row["duration_ms"] == 12.5 and bool(row["is_expose"]) is True
    assert orjson.loads(row["attributes"]) == {"a": [1, "x"]}


def test_idempotency_key_stores_a_batch_once(store: Store) -> None:
    a = write(store, err("once"), key="k1")
    assert write(store, err("once"), key="k1") == a
    assert write(store, err("once"), key="k1", principal="other") != a
    assert q(store, "SELECT count(*) FROM oslog_error") == [(2,)]


def test_a_failing_task_fails_alone(store: Store) -> None:
    ok, bad = store.apply([EventBatch(events(err("kept")), None, "p", scope=ALL),
                           RecordBatch("nobody", [{"x": 1}])], T0)
    assert isinstance(bad, NotFound)
    assert q(store, "SELECT id FROM oslog_error") == [(ok[0],)]


def test_a_nul_character_is_stored_as_u_fffd(store: Store) -> None:
    write(store, err("a\x00b"))
    (msg,) = q(store, "SELECT message FROM oslog_error")[0]
    assert msg == "a\ufffdb"  # PostgreSQL text cannot hold NUL; SQLite's LIKE stops at it


# -- rotation and retention --------------------------------------------------------------
def test_rotation_moves_views_and_writes(store: Store) -> None:
    write(store, err("week 1403"))
    (report,) = store.apply([Maintain(NEXT_WEEK)], T0)
    assert report.rotated and (report.current_cycle, report.previous_cycle) == (4, 3)
    write(store, err("week 1404"), now=NEXT_WEEK)
    assert q(store, "SELECT message FROM oslog_error") == [("week 1404",)]
    assert q(store, "SELECT message FROM oslog_error_previous") == [("week 1403",)]
    assert q(store, "SELECT message FROM oslog_error_4") == [("week 1404",)]
    assert store.held()[3] == 1403 and store.held()[4] == 1404
    (again,) = store.apply([Maintain(NEXT_WEEK + 1000)], NEXT_WEEK)
    assert not again.rotated and again.emptied == ()


def test_going_back_a_week_needs_force(store: Store) -> None:
    store.apply([Maintain(NEXT_WEEK)], T0)
    (refused,) = store.apply([Maintain(T0)], T0)
    assert isinstance(refused, Conflict)
    (forced,) = store.apply([Maintain(T0, force=True)], T0)
    assert forced.current_cycle == 3


def test_a_write_after_the_turn_rotates_first(store: Store) -> None:
    write(store, err("old"))
    write(store, err("new"), now=NEXT_WEEK)
    assert q(store, "SELECT message FROM oslog_error") == [("new",)]
    assert q(store, "SELECT message FROM oslog_error_previous") == [("old",)]


def test_retention_empties_old_weeks(store_url: str, tmp_path: Path) -> None:
    s = open_store(store_url, tmp_path, retention=2)
    for week in range(4):
        write(s, err(f"week {week}"), now=T0 + week * WEEK_MS)
    assert sorted(m for (m,) in q(s, "SELECT message FROM oslog_error_3 UNION ALL "
                                    "SELECT message FROM oslog_error_4 UNION ALL "
                                    "SELECT message FROM oslog_error_5 UNION ALL "
                                    "SELECT message FROM oslog_error_6")) == \
        ["week 1", "week 2", "week 3"]
    assert s.held() == {0: None, 1: None, 2: None, 3: None, 4: 1404, 5: 1405, 6: 1406,
                        7: None, 8: None, 9: None}
    s.close()


def test_a_maintain_task_reports_what_it_did(store: Store) -> None:
    write(store, err("ten weeks ago"))
    later = T0 + 10 * WEEK_MS  # what `logcycle maintain --now …` does
    (report,) = store.apply([Maintain(later)], later)
    assert report.rotated and report.emptied == (3,) and report.week == 1413
    assert q(store, "SELECT count(*) FROM oslog_error_3") == [(0,)]


def test_catch_up_after_ten_weeks_down(store_url: str, tmp_path: Path) -> None:
    s = open_store(store_url, tmp_path)
    write(s, err("ten weeks ago"))
    s.close()
    s = open_store(store_url, tmp_path, now=T0 + 10 * WEEK_MS)
    assert q(s, "SELECT count(*) FROM oslog_error_3") == [(0,)]
    assert s.held()[3] == 1413
    assert [c for c, w in s.held().items() if w is not None] == [3]
    s.close()


# -- several writers on one store (processes, here: store objects on threads) ------------
def test_rotation_happens_once_however_many_writers(store_url: str, tmp_path: Path) -> None:
    stores = [open_store(store_url, tmp_path) for _ in range(4)]
    write(stores[0], err("last week"))
    reports: list[Any] = []
    acked: list[int] = []
    barrier = threading.Barrier(len(stores))

    def run(s: Store) -> None:
        barrier.wait()
        reports.extend(s.apply([Maintain(NEXT_WEEK)], T0))
        acked.extend(write(s, err("this week"), now=NEXT_WEEK))

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.rotated for r in reports) == 1
    assert sorted(i for (i,) in q(stores[0], "SELECT id FROM oslog_error")) == sorted(acked)
    assert q(stores[0], "SELECT message FROM oslog_error_previous") == [("last week",)]
    for s in stores:
        s.close()


def test_a_writer_behind_the_turn_writes_into_the_current_week(store_url: str,
                                                               tmp_path: Path) -> None:
    """A process that took its time before the turn (or whose clock is behind) and writes
    after another one turned the week: its events go to the current table, at the week's
    first instant, so ids, weeks and insert instants stay in one order."""
    ahead, behind = open_store(store_url, tmp_path), open_store(store_url, tmp_path)
    (new,) = write(ahead, err("after the turn"), now=NEXT_WEEK + 1000)
    (late,) = write(behind, err("late"), now=NEXT_WEEK - 1000)
    assert late > new
    assert q(ahead, "SELECT id, insert_instant FROM oslog_error_4 ORDER BY id") == \
        [(new, NEXT_WEEK + 1000), (late, NEXT_WEEK)]
    ahead.close()
    behind.close()


def test_ids_appear_in_id_order_to_a_follower(store_url: str, tmp_path: Path) -> None:
    """A reader polling "ids above the last one I saw" misses nothing while several
    writers commit: ids are visible in the order they were given."""
    writers = [open_store(store_url, tmp_path) for _ in range(3)]
    reader = writers[0]
    acked: list[int] = []
    done = threading.Event()

    def run(s: Store, n: int) -> None:
        for i in range(25):
            acked.extend(write(s, *(gen(f"w{n} {i} {j}") for j in range(20))))

    seen: list[int] = []

    def follow() -> None:
        last = 0
        while True:
            finished = done.is_set()
            new = [i for (i,) in q(reader, "SELECT id FROM oslog_general WHERE id > ? "
                                           "ORDER BY id", last)]
            seen.extend(new)
            last = new[-1] if new else last
            if finished:
                return

    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=run, args=(s, n)) for n, s in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    follower.join()
    assert len(acked) == len(set(acked)) == 3 * 25 * 20
    assert seen == sorted(acked)
    for s in writers:
        s.close()


# -- records and entities ----------------------------------------------------------------
def test_entities_and_records(store: Store) -> None:
    (cols,) = store.apply([DeclareEntity("orders", {"amount": "real", "paid": "boolean"})], T0)
    assert cols == {"amount": "real", "paid": "boolean"}
    (ids,) = store.apply([RecordBatch("orders", [{"amount": 12.5, "paid": True},
                                                 {"amount": 3, "who": "ada"}])], T0)
    assert ids == [1, 2]
    assert store.entities() == {"orders": {"amount": "real", "paid": "boolean"}}
    rows = q(store, "SELECT id, amount, data FROM record_orders ORDER BY id")
    assert [(r[0], r[1], orjson.loads(r[2])) for r in rows] == [
        (1, 12.5, {"amount": 12.5, "paid": True}), (2, 3, {"amount": 3, "who": "ada"})]
    (same,) = store.apply([DeclareEntity("orders")], T0)
    assert same == cols
    (other,) = store.apply([DeclareEntity("orders", {"amount": "text"})], T0)
    assert isinstance(other, Conflict)
    (bad,) = store.apply([RecordBatch("orders", [{"amount": "lots"}])], T0)
    assert isinstance(bad, BadRequest) and "amount" in bad.message


# -- keys --------------------------------------------------------------------------------
def test_keys(store: Store) -> None:
    assert store.list_keys() == []
    a = store.add_key("hash-a", "admin", "first", None, 1000)
    b = store.add_key("hash-b", "ingest", None, "app/", 2000)
    assert b > a
    keys = store.list_keys()
    assert [(k.id, k.hash, k.scope, k.name, k.src_prefix, k.created, k.revoked)
            for k in keys] == [(a, "hash-a", "admin", "first", None, 1000, None),
                               (b, "hash-b", "ingest", None, "app/", 2000, None)]
    assert store.revoke_key(b, 3000)
    assert not store.revoke_key(b, 4000) and not store.revoke_key(999, 4000)
    assert store.list_keys()[1].revoked == 3000


# -- reads -------------------------------------------------------------------------------
def test_fetch_names_rows_and_parameters(store: Store) -> None:
    ids = write(store, err("x", request_key="r1"), err("y", request_key="r2"))
    names, rows = store.fetch(
        f"SELECT id, message FROM oslog_error WHERE request_key = {store.dialect.param}",
        ["r2"])
    assert names == ["id", "message"] and rows == [(ids[1], "y")]
    sizes = store.table_sizes()
    assert sizes["oslog_error_3"] == 2 and sizes["oslog_error_4"] == 0


def test_table_sizes_follow_writes_and_an_emptied_cycle(store: Store) -> None:
    """SQLite keeps each table's count and counts only the rows above it the next time:
    the counts must stay exact across writes, a read with nothing new, and a cycle
    emptied and written again ten weeks later (its old rows gone, new ids above)."""
    def size(name: str) -> int:
        return store.table_sizes()[name]

    write(store, err("a"), err("b"), gen("g"))
    assert size("oslog_error_3") == 2 and size("oslog_general_3") == 1
    assert size("oslog_error_3") == 2  # nothing new
    write(store, err("c"))
    assert size("oslog_error_3") == 3 and size("oslog_general_3") == 1
    later = T0 + 10 * WEEK_MS  # cycle 3 again: emptied by the rotation
    (report,) = store.apply([Maintain(later)], later)
    assert report.emptied == (3,)
    assert size("oslog_error_3") == 0
    write(store, err("d"), now=later)
    assert size("oslog_error_3") == 1
    write(store, err("e"), err("f"), now=later)
    sizes = store.table_sizes()
    assert sizes["oslog_error_3"] == 3 and sizes["oslog_general_3"] == 0
    assert sizes == {t: n for t, n in ((t, q(store, f"SELECT count(*) FROM {t}")[0][0])
                                       for t in sizes)}


def test_fetch_errors_are_store_unavailable(store: Store) -> None:
    with pytest.raises(StoreUnavailable):
        store.fetch("SELECT nothing FROM nowhere", ())


def test_a_slow_query_is_stopped(store_url: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite, "QUERY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(postgres, "QUERY_TIMEOUT_MS", 300)
    s = open_store(store_url, tmp_path)
    endless = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
               "SELECT count(*) FROM r")
    with pytest.raises(StoreUnavailable, match="narrow it") as caught:
        s.fetch(endless, ())
    assert caught.value.code == "query_timeout"
    assert q(s, "SELECT count(*) FROM oslog_error") == [(0,)]  # the connection still works
    s.close()


# -- message search: exact at any lag of the index built behind the writer -----------------
ASCII_WORDS = ["disk", "full", "DISK", "plein", "50%", "a_b", "x", "lambda", "invocation",
               "id-7f3a", "id-7f3b", "back\\slash", "zz"]
PATTERNS = ["disk", "DISK full", "isk", "*full", "disk*", "d*k", "50%", "a_b", "_", "7f3",
            "id-7f3a", "back\\s", "zz", "no such thing", "lambda*invocation*", "*x*", "ab"]


def like(pattern: str, message: str) -> bool:
    """The Event Log wildcard rule, case-insensitive (ASCII messages here: SQLite's LIKE
    folds ASCII letters only, PostgreSQL's ILIKE folds all)."""
    if "*" not in pattern:
        pattern = f"*{pattern}*"
    rx = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(rx, message, re.IGNORECASE | re.DOTALL) is not None


def find(store: Store, pattern: str, **kw: Any) -> tuple[list[int], int | None]:
    q = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"),
                     pattern=wildcard_pattern(pattern), limit=kw.pop("limit", 10_000),
                     count=True, **kw)
    result = store.search_messages(q)
    return [r[0] for r in result.rows], result.total


def test_search_is_exact_at_any_index_lag(store: Store) -> None:
    rng = random.Random(5)
    msgs = [" ".join(rng.choices(ASCII_WORDS, k=rng.randint(1, 5))) for _ in range(300)]
    by_id = dict(zip(write(store, *(gen(m) for m in msgs)), msgs, strict=True))
    indexed = 0
    for step in (0, 120, 1000):
        (n,) = store.apply([IndexSearch(step)], T0) if step else (0,)
        indexed += n
        for pattern in PATTERNS:
            want = sorted((i for i, m in by_id.items() if like(pattern, m)), reverse=True)
            assert find(store, pattern) == (want, len(want)), (pattern, indexed)
    assert indexed in (0, 300)  # 0: the engine keeps no index of its own


def test_search_pages_across_the_indexed_rows_and_the_tail(store: Store) -> None:
    ids = write(store, *(gen(f"disk {i:03d}") for i in range(50)))
    store.apply([IndexSearch(20)], T0)
    for offset in (0, 15, 25, 45):
        assert find(store, "disk", limit=10, offset=offset) == (ids[::-1][offset:offset + 10],
                                                               50)
        assert find(store, "disk", limit=10, offset=offset, descending=False) == \
            (ids[offset:offset + 10], 50)
    got, _ = find(store, "disk", limit=3, offset=2, order_column="message")
    assert got == [ids[47], ids[46], ids[45]]
    assert find(store, "disk 01", below_id=ids[15]) == ([ids[14], ids[13], ids[12], ids[11],
                                                         ids[10]], 5)


def test_rotation_empties_the_search_index_with_its_cycle(store: Store) -> None:
    write(store, *(gen("needle in week one") for _ in range(3)))
    store.apply([IndexSearch(1000)], T0)
    later = T0 + 10 * WEEK_MS  # cycle 3 again, ten weeks on: emptied first
    store.apply([Maintain(later)], later)
    new = write(store, gen("needle in week eleven"), now=later)
    assert find(store, "needle") == (new, 1)
    store.apply([IndexSearch(1000)], later)
    assert find(store, "needle") == (new, 1)


def test_sqlite_version_2_is_upgraded(tmp_path: Path) -> None:
    """Version 2 keyed lc_rk_<cycle> by (request_key, id): the tables are rebuilt in
    segments, refilled by the next reindex, and lookups are exact meanwhile."""
    url = f"sqlite:///{tmp_path / 'v2.db'}"
    s = open_store(url, tmp_path)
    ids = write(s, err("a", request_key="k"), gen("b", request_key="k"))
    s.apply([Reindex()], T0)
    for c in range(10):
        raw_execute(s, f"DROP TABLE {schema.rk_table(c)}")
        raw_execute(s, f"CREATE TABLE {schema.rk_table(c)} (request_key TEXT NOT NULL, id "
                    "INTEGER NOT NULL, kind INTEGER NOT NULL, PRIMARY KEY (request_key, id)) "
                    "WITHOUT ROWID")
    raw_execute(s, f"INSERT INTO lc_rk_3 VALUES ('k', {ids[0]}, 1)")
    raw_execute(s, "UPDATE lc_meta SET value = 2 WHERE name = 'schema_version'")
    s.close()
    s = open_store(url, tmp_path)
    assert q(s, "SELECT value FROM lc_meta WHERE name = 'schema_version'") == \
        [(schema.SCHEMA_VERSION,)]
    assert q(s, "SELECT count(*) FROM lc_rk_3 WHERE seg IS NOT NULL") == [(0,)]
    assert rk_ids(s, "k") == ids[:1] and rk_ids(s, "k", "general") == ids[1:]
    assert s.apply([Reindex()], T0) == [2]
    assert rk_ids(s, "k") == ids[:1] and rk_ids(s, "k", "general") == ids[1:]
    s.close()


def test_request_key_lookups_read_every_segment(store: Store) -> None:
    """SQLite cuts lc_rk_<cycle> into segments of ids (schema.RK_SEGMENT_BITS): a lookup
    finds the request's rows in each, indexed or not, errors in their own segment."""
    seg = 1 << schema.RK_SEGMENT_BITS
    raw_execute(store, f"UPDATE lc_meta SET value = {seg - 3} WHERE name = 'next_id'")
    first = write(store, *(gen(f"m{i}", request_key=f"k{i % 2}") for i in range(6)),
                  err("e", request_key="k0"))
    store.apply([Reindex()], T0)
    raw_execute(store, f"UPDATE lc_meta SET value = {3 * seg} WHERE name = 'next_id'")
    more = write(store, gen("n", request_key="k0"), err("f", request_key="k0"))
    assert rk_ids(store, "k0", "general") == [*first[0:6:2], more[0]]
    assert rk_ids(store, "k0") == [first[6], more[1]]
    store.apply([Reindex()], T0)
    assert rk_ids(store, "k0", "general") == [*first[0:6:2], more[0]]
    assert rk_ids(store, "k1", "general") == first[1:6:2]
    assert rk_ids(store, "k0") == [first[6], more[1]]


# -- the request_key index built behind the writer ----------------------------------------
def rk_ids(store: Store, key: str, kind: str = "error", cycle: int = 3) -> list[int]:
    cond, params = store.request_key_condition(kind, cycle, key)
    _, rows = store.fetch(f"SELECT id FROM {schema.table(kind, cycle)} WHERE {cond} "
                          "ORDER BY id", params)
    return [int(r[0]) for r in rows]


def test_request_key_lookups_are_exact_while_several_writers_reindex(store_url: str,
                                                                     tmp_path: Path) -> None:
    stores = [open_store(store_url, tmp_path) for _ in range(3)]
    acked: list[int] = []
    seen: list[list[int]] = []
    barrier = threading.Barrier(len(stores))

    def run(s: Store, n: int) -> None:
        barrier.wait()
        for i in range(15):
            acked.extend(write(s, err(f"{n}.{i}", request_key="k"), err("other",
                                                                         request_key="o")))
            if (i + n) % 2 == 0:
                s.apply([Reindex()], T0)
            seen.append(rk_ids(s, "k"))

    threads = [threading.Thread(target=run, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = sorted(acked[0::2])
    for ids in seen:  # every lookup saw a prefix of the ids, each once
        assert ids == expected[:len(ids)]
    assert rk_ids(stores[0], "k") == expected
    stores[0].apply([Reindex()], T0)
    assert rk_ids(stores[1], "k") == expected
    assert stores[2].apply([Reindex()], T0) == [0]
    assert rk_ids(stores[2], "o") == sorted(acked[1::2])
    for s in stores:
        s.close()


@pytest.mark.postgres
def test_postgres_indexes_request_keys_on_a_thread_of_its_own(tmp_path: Path) -> None:
    """The server's indexer (start_background) catches up by itself, beside the writer."""
    with pg.fresh_schema() as url:
        s = open_store(url, tmp_path)
        assert isinstance(s, postgres.PostgresStore)
        ids = write(s, err("a", request_key="k"), err("b", request_key="k"))
        s.start_background()
        deadline = time.monotonic() + 10
        while q(s, "SELECT count(*) FROM lc_rk_3") != [(2,)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert q(s, "SELECT id FROM lc_rk_3 ORDER BY id") == [(i,) for i in ids]
        assert q(s, "SELECT watermark FROM lc_index_state WHERE name = 'rk' AND cycle = 3") \
            == [(ids[-1],)]
        assert rk_ids(s, "k") == ids
        s.close()  # stops the thread
