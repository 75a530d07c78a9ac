"""Message search: exact whatever the index holds (SQLite's FTS5 trigram index is built
behind the writer), emptied with its cycle, and the same answers on every engine."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from logcycle.cycles import WEEK_MS
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch, IndexSearch, Maintain
from logcycle.query.scope import Reader
from logcycle.query.wildcards import wildcard_pattern
from logcycle.store.search import MessageQuery
from logcycle.store.sqlite import SQLiteStore
from logcycle.store.sqlite_indexer import AUTOMERGE
from tests.conftest import T0

UTC = ZoneInfo("UTC")
WORDS = ["disk", "full", "DISK", "Disque", "plein", "érreur", "ÉRREUR", "50%", "a_b", "x",
         "lambda", "invocation", "id-7f3a", "id-7f3b", '"quoted"', "back\\slash", "zz"]
PATTERNS = ["disk", "DISK full", "isk", "*full", "disk*", "d*k", "*", "50%", "a_b", "_",
            "érreur", "ÉRR", "id-7f3a", "7f3", "quoted\"", "back\\s", "zz", "z", "no such thing",
            "lambda*invocation*", "*x*", "pl*n", "ab"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(f"sqlite:///{tmp_path / 'l.db'}", tz=UTC, retention_weeks=9)
    s.open(T0)
    yield s
    s.close()


def write_messages(store: SQLiteStore, messages: list[str], now: int = T0) -> list[int]:
    body = orjson.dumps([{"kind": "general", "instant": now, "message": m,
                          "message_type": "Information"} for m in messages])
    batch = BatchDecoder(max_future_ms=WEEK_MS, max_batch=10_000).decode_json(body, now_ms=now)
    (ids,) = store.apply([EventBatch(batch.events, None, "test", scope=ALL)], now)
    return list(ids)


def reference(pattern: str, message: str) -> bool:
    """What LIKE does: `*` any run, anchored, case folded for ASCII letters only."""
    if "*" not in pattern:
        pattern = f"*{pattern}*"
    rx = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(rx, message, re.IGNORECASE | re.ASCII | re.DOTALL) is not None


def search(store: SQLiteStore, pattern: str, **kw: object) -> tuple[list[int], int | None]:
    q = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"),
                     pattern=wildcard_pattern(pattern), limit=10_000, count=True, **kw)  # type: ignore[arg-type]
    result = store.search_messages(q)
    return [r[0] for r in result.rows], result.total


def test_results_are_exact_at_any_index_lag(store: SQLiteStore) -> None:
    rng = random.Random(7)
    messages = [" ".join(rng.choices(WORDS, k=rng.randint(1, 6))) for _ in range(600)]
    ids = write_messages(store, messages)
    by_id = dict(zip(ids, messages, strict=True))
    for indexed in (0, 250, 600):
        store.apply([IndexSearch(indexed - store_indexed(store))], T0)
        assert store_indexed(store) == indexed
        for pattern in PATTERNS:
            want = sorted((i for i, m in by_id.items() if reference(pattern, m)), reverse=True)
            got, total = search(store, pattern)
            assert got == want, (pattern, indexed)
            assert total == len(want)


def store_indexed(store: SQLiteStore) -> int:
    _, rows = store.fetch("SELECT watermark FROM lc_search_state WHERE kind = 'general' "
                          "AND cycle = 3", ())
    return int(rows[0][0]) if rows else 0


def test_pages_offsets_and_orders_across_arms(store: SQLiteStore) -> None:
    ids = write_messages(store, [f"disk {i:03d}" for i in range(50)])
    store.apply([IndexSearch(20)], T0)  # ids 1-20 indexed, 21-50 in the tail
    base = dict(kind="general", cycles=(3,), columns=("id", "message"),
                pattern=wildcard_pattern("disk"), count=True)
    for offset in (0, 5, 25, 30, 45, 60):
        q = MessageQuery(**base, limit=10, offset=offset)  # type: ignore[arg-type]
        r = store.search_messages(q)
        assert [row[0] for row in r.rows] == ids[::-1][offset:offset + 10]
        assert r.total == 50
        up = store.search_messages(MessageQuery(**base, limit=10, offset=offset,  # type: ignore[arg-type]
                                                descending=False))
        assert [row[0] for row in up.rows] == ids[offset:offset + 10]
    by_msg = store.search_messages(MessageQuery(**base, limit=3, offset=2,  # type: ignore[arg-type]
                                                order_column="message", descending=True))
    assert [row[1] for row in by_msg.rows] == ["disk 047", "disk 046", "disk 045"]


def test_rotation_empties_the_index_with_its_cycle(store: SQLiteStore) -> None:
    write_messages(store, ["needle in week one"] * 3)
    assert store.apply([IndexSearch(1000)], T0) == [3]
    later = T0 + 10 * WEEK_MS  # the same cycle again, ten weeks on: emptied first
    store.apply([Maintain(later)], later)
    # The index still names week one's rows until the indexer runs: not used meanwhile.
    assert search(store, "needle") == ([], 0)
    new = write_messages(store, ["needle in week eleven"], now=later)
    assert search(store, "needle") == (new, 1)
    assert store.apply([IndexSearch(1000)], later) == [1]
    _, rows = store.fetch("SELECT count(*) FROM lc_search_general_3 WHERE "
                          "lc_search_general_3 MATCH '\"eed\"'", ())
    assert rows[0][0] == 1  # week one's entries went with the turn of the cycle
    assert search(store, "needle") == (new, 1)
    # Its merge setting (sqlite_indexer.AUTOMERGE) outlives the emptying.
    _, rows = store.fetch("SELECT v FROM lc_search_general_3_config WHERE k = 'automerge'", ())
    assert rows == [(AUTOMERGE,)]


def test_the_indexer_reports_when_it_caught_up(store: SQLiteStore) -> None:
    write_messages(store, [f"m{i}" for i in range(30)])
    assert store.apply([IndexSearch(20)], T0) == [20]
    assert store.apply([IndexSearch(20)], T0) == [10]
    assert store.apply([IndexSearch(20)], T0) == [0]


def test_the_native_q_reads_through_the_index(store: SQLiteStore) -> None:
    from logcycle.query.events import list_events
    from logcycle.query.filters import EventFilter

    rng = random.Random(3)
    ids = write_messages(store, [" ".join(rng.choices(WORDS, k=4)) for _ in range(300)])
    store.apply([IndexSearch(120)], T0)
    for q, wildcard in (("disk", False), ("DISK full", False), ("d*k", True), ("zz", False)):
        f = EventFilter(kinds=("general",), q=q, wildcard=wildcard)
        got: list[int] = []
        after = None
        while True:
            page = list_events(Reader(store, ALL), f, after=after, limit=17, tz=UTC)
            got.extend(e["id"] for e in page.events)
            if page.next is None:
                break
            after = got[-1]
        _, rows = store.fetch("SELECT id FROM oslog_general_3 WHERE message LIKE ? ESCAPE '\\' "
                              "ORDER BY id DESC", (wildcard_pattern(q if wildcard else f"*{q}*")
                                                   .like,))  # type: ignore[union-attr]
        assert got == [r[0] for r in rows], q
        assert set(got) <= set(ids)


@pytest.mark.parametrize("in_tail", [0, 150, 400])
def test_totals_and_pages_around_the_inline_count(store: SQLiteStore, in_tail: int) -> None:
    """An arm with fewer than page + SPILL matches is counted from the page's own read,
    one with more is counted apart: the page and the total are the same either way."""
    from logcycle.store.search import INLINE_SKIP, SPILL

    n = 2 * SPILL + 50
    ids = write_messages(store, [f"disk {i}" for i in range(n)])
    store.apply([IndexSearch(n - in_tail)], T0)
    base = dict(kind="general", cycles=(3,), columns=("id", "message"),
                pattern=wildcard_pattern("disk"), count=True)
    for limit, offset in ((25, 0), (SPILL, 0), (25, SPILL - 25), (25, SPILL), (10, n - 5),
                          (25, n + 10), (5, INLINE_SKIP + 1)):
        for descending in (True, False):
            q = MessageQuery(**base, limit=limit, offset=offset,  # type: ignore[arg-type]
                             descending=descending)
            r = store.search_messages(q)
            order = ids[::-1] if descending else ids
            assert r.total == n
            assert [row[0] for row in r.rows] == order[offset:offset + limit]


def test_the_catch_up_thread_indexes_when_the_background_one_is_starved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With search_index_lag=scan the indexer yields the CPU (nice +10); when it gets
    none, rows that waited more than CATCH_UP_S are indexed by the catch-up thread."""
    from logcycle.store import sqlite_indexer
    from logcycle.store.sqlite_indexer import SearchIndexer

    monkeypatch.setattr(SearchIndexer, "_run", lambda self: None)  # starved
    monkeypatch.setattr(sqlite_indexer, "CATCH_UP_S", 0.2)
    monkeypatch.setattr(sqlite_indexer, "CATCH_UP_CHECK_S", 0.05)
    s = SQLiteStore(f"sqlite:///{tmp_path / 'l.db'}", tz=UTC, retention_weeks=9)
    s.open(T0)
    try:
        assert s.indexer.nice > 0 and s.indexer.waiting_s == 0.0
        s.start_background()
        write_messages(s, [f"m {i}" for i in range(100)])
        assert s.indexer.waiting_s >= 0.0 and s.indexer._pending_since is not None
        for _ in range(200):
            if s.search_index_lag() == (0, 0.0):
                break
            s.indexer._stop.wait(0.05)
        assert s.search_index_lag() == (0, 0.0)
        assert s.indexer.waiting_s == 0.0
    finally:
        s.close()


def test_the_catch_up_thread_leaves_an_index_far_behind_to_scans_while_ingest_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond search_index_max_lag_s the index yields to ingest (scan): the catch-up
    thread does not step in while rows keep coming, and does once ingest pauses."""
    from logcycle.store import sqlite_indexer
    from logcycle.store.sqlite_indexer import SearchIndexer

    monkeypatch.setattr(SearchIndexer, "_run", lambda self: None)
    monkeypatch.setattr(sqlite_indexer, "CATCH_UP_S", 0.3)
    monkeypatch.setattr(sqlite_indexer, "CATCH_UP_CHECK_S", 0.05)
    s = SQLiteStore(f"sqlite:///{tmp_path / 'l.db'}", tz=UTC, retention_weeks=9)
    s.open(T0)
    try:
        s.indexer.lag_s = s.indexer.max_lag_s + 1  # as measured by its last step
        s.start_background()
        for i in range(16):  # 0.8 s of a stream, ten rows every 0.05 s
            write_messages(s, [f"m {i}"] * 10)
            s.indexer._stop.wait(0.05)
        assert s.search_index_lag()[0] == 160
        for _ in range(100):  # ingest paused: the catch-up thread takes over
            if s.search_index_lag()[0] == 0:
                break
            s.indexer._stop.wait(0.05)
        assert s.search_index_lag() == (0, 0.0)
    finally:
        s.close()
