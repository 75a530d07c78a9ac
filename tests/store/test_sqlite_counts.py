"""The totals counted from SQLite's message blocks (store/sqlite_counts.py) are the totals
SQL's LIKE gives, whatever the blocks hold: each message counted once however often it
holds the word, case folded for ASCII only, a NUL ending the message as LIKE reads it,
the Event Log API's conditions (type, time range, scope) decided per block or left to SQL."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from logcycle.cycles import WEEK_MS
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch, IndexSearch, Maintain
from logcycle.keys import Scope
from logcycle.query.eventlog import EventLogSearch, search_event_logs
from logcycle.query.scope import Reader
from logcycle.query.wildcards import wildcard_pattern
from logcycle.store import search, sqlite_counts
from logcycle.store.search import MessageQuery
from logcycle.store.sqlite import SQLiteStore
from tests.conftest import T0

UTC = ZoneInfo("UTC")
WORDS = ["disk", "DISK", "Disk", "full", "érreur", "ÉRREUR", "50%", "a_b", "x\x00disk",
         "disk\x00x", "line\ndisk", "zz", ""]
TYPES = ["Information", "Debug", "Error", None, "Audit"]
PATTERNS = ["disk", "DISK", "isk", "érreur", "ÉRR", "50%", "a_b", "zz", "disk disk", "z",
            "no such thing", "x", "*disk*", "disk*", "*disk", "disk*full", "DISK*érreur*",
            "*d*s*k*", "*50%*a_b*", "disk**full*", "x*x", "*full*disk"]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SQLiteStore]:
    monkeypatch.setattr(sqlite_counts, "BLOCK_ROWS", 16)
    monkeypatch.setattr(sqlite_counts, "FETCH_BLOCKS", 3)
    s = SQLiteStore(f"sqlite:///{tmp_path / 'l.db'}", tz=UTC, retention_weeks=9)
    s.open(T0)
    yield s
    s.close()


def write(store: SQLiteStore, rng: random.Random, n: int, now: int) -> None:
    events = []
    for _ in range(n):
        event: dict[str, Any] = {"kind": "general", "instant": now,
                                 "message": " ".join(rng.choices(WORDS, k=rng.randint(0, 5))),
                                 "src": rng.choice(["prod/a", "dev/b"])}
        if (t := rng.choice(TYPES)) is not None:
            event["message_type"] = t
        events.append(event)
    batch = BatchDecoder(max_future_ms=WEEK_MS, max_batch=10_000).decode_json(
        orjson.dumps(events), now_ms=now)
    store.apply([EventBatch(batch.events, None, "test", scope=ALL)], now)


def sql_total(store: SQLiteStore, q: MessageQuery, cycle: int) -> int:
    """The reference: count(*) with LIKE over the main table."""
    assert q.pattern is not None
    where = " AND ".join([*q.where, "message LIKE ? ESCAPE '\\'"])
    _, rows = store.fetch(f"SELECT count(*) FROM oslog_general_{cycle} WHERE {where}",
                          [*q.params, q.pattern.like])
    return int(rows[0][0])


def totals_used(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each call of the block counter records the rows it took from blocks."""
    used: list[int] = []
    real = sqlite_counts._count

    def spy(*args: Any) -> int:
        n = real(*args)
        used.append(n)
        return n
    monkeypatch.setattr(sqlite_counts, "_count", spy)
    return used


QUERIES: list[tuple[str, list[str], list[Any]]] = [
    ("no condition", [], []),
    ("event logs", ["(message_type IN (?, ?, ?))"], ["Information", "Debug", "Error"]),
    ("one type", ["(message_type = ?)"], ["Error"]),
    ("from", ["(insert_instant >= ?)"], [T0 + 1500]),
    ("span", ["(insert_instant >= ?)", "(insert_instant <= ?)"], [T0 + 1000, T0 + 2500]),
    ("a scope: counted by SQL", ["(substr(src, 1, CAST(? AS INTEGER)) = ?)"], [4, "dev/"]),
]


@pytest.mark.parametrize("indexed", [0, 700, 100_000])
def test_block_totals_are_like_totals(store: SQLiteStore, indexed: int,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(indexed)
    for step in range(4):  # four insert instants: time ranges cut through blocks
        write(store, rng, 450, T0 + 1000 * step)
    # Rows written another way than ingest's (which replaces NUL) may hold a NUL, where
    # LIKE stops reading.
    store.apply([Maintain(T0)], T0)  # the writer connection is open and idle
    assert store._writer is not None
    store._writer.execute("UPDATE oslog_general_3 SET message = 'Disk x' || char(0) || "
                          "message WHERE id % 5 = 0")
    store.apply([IndexSearch(indexed)], T0)
    used = totals_used(store, monkeypatch)
    for pattern in PATTERNS:
        for label, where, params in QUERIES:
            for below in (None, 1500):
                q = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"),
                                 pattern=wildcard_pattern(pattern), where=tuple(where),
                                 params=tuple(params), limit=1, count=True, below_id=below)
                want = sql_total(store, q, 3) if below is None else \
                    sql_total(store, MessageQuery(**{**_fields(q), "below_id": None,
                                                    "where": (*where, "id < ?"),
                                                    "params": (*params, below)}), 3)
                assert store.search_messages(q).total == want, (pattern, label, below)
    if indexed:
        assert used and any(used), "the blocks were never used"


def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each count records how many parts of blocks it read the text of."""
    read: list[int] = []
    real = sqlite_counts._read_counts

    def spy(*args: Any) -> dict[tuple[Any, ...], int]:
        read.append(len(args[-1]))
        return real(*args)
    monkeypatch.setattr(sqlite_counts, "_read_counts", spy)
    return read


def test_kept_counts_stay_exact_as_blocks_come_and_go(store: SQLiteStore, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    read = reads(monkeypatch)

    def check(s: SQLiteStore, pattern: str, cycle: int) -> int:
        q = MessageQuery(kind="general", cycles=(cycle,), columns=("id", "message"),
                         pattern=wildcard_pattern(pattern), limit=1, count=True,
                         where=("(message_type IN (?, ?))",), params=("Debug", "Error"))
        total = s.search_messages(q).total
        assert total == sql_total(s, q, cycle) > search.SPILL, pattern  # not from the page
        return read[-1]

    def index(s: SQLiteStore, now: int) -> None:
        while s.apply([IndexSearch(10_000)], now)[0]:
            pass

    rng = random.Random(11)
    write(store, rng, 1500, T0)
    index(store, T0)
    first = check(store, "disk", 3)
    assert first > 0 and check(store, "disk", 3) == 0  # asked again: nothing read
    assert check(store, "*d*s*k*", 3) == first  # another pattern: counted afresh
    write(store, rng, 1000, T0)
    index(store, T0)
    assert 0 < check(store, "disk", 3) < first  # only the new blocks
    # Another store in the same process, the same ids, other messages: its own counts.
    other = SQLiteStore(f"sqlite:///{tmp_path / 'other.db'}", tz=UTC, retention_weeks=9)
    other.open(T0)
    try:
        write(other, random.Random(12), 1500, T0)
        index(other, T0)
        check(other, "disk", 3)
    finally:
        other.close()
    # A new week in the cycle: its blocks are built anew (the same rowids, other rows).
    later = T0 + 10 * WEEK_MS
    store.apply([Maintain(later, catch_up=True)], later)
    held = {w: c for c, w in store.held().items() if w is not None}
    cycle = held[max(held)]
    for n in (1500, 1000):
        write(store, random.Random(n), n, later)
        index(store, later)
        check(store, "disk", cycle)


def test_kept_counts_are_bounded() -> None:
    kept = sqlite_counts.BlockCounts(max_entries=5)
    kept.put((b"a", "general", 3), {(1, 16, None, 9): 1, (17, 32, None, 9): 2})
    kept.put((b"b", "general", 3), {(1, 16, None, 9): 3, (17, 32, None, 9): 4})
    assert kept.get((b"a", "general", 3))  # a is now the most recently asked
    kept.put((b"c", "general", 3), {(1, 16, None, 9): 5, (17, 32, None, 9): 6})
    assert kept.get((b"b", "general", 3)) == {}  # dropped first
    assert kept.get((b"a", "general", 3)) == {(1, 16, None, 9): 1, (17, 32, None, 9): 2}
    kept.put((b"d", "general", 3), {(i, i, None, 1): i for i in range(6)})  # over the bound
    assert kept.get((b"d", "general", 3)) == {}


def _fields(q: MessageQuery) -> dict[str, Any]:
    return {f: getattr(q, f) for f in q.__slots__}  # type: ignore[attr-defined]


def test_the_event_log_total_reads_the_blocks(store: SQLiteStore,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    for step in range(3):
        write(store, rng, 800, T0 + 1000 * step)
    while store.apply([IndexSearch(10_000)], T0)[0]:
        pass
    used = totals_used(store, monkeypatch)
    reader = Reader(store, Scope())
    for message, kw in [("disk", {}), ("DISK", {"type": "Debug"}),
                        ("isk", {"start": T0 + 500, "end": T0 + 1500})]:
        found = search_event_logs(reader, EventLogSearch(message=message, number_of_results=2,
                                                         **kw), tz=UTC)  # type: ignore[arg-type]
        every = search_event_logs(reader, EventLogSearch(message=message,
                                                         number_of_results=1000, **kw),
                                  tz=UTC)  # type: ignore[arg-type]
        assert found.total == every.total == len(every.event_logs) > 2
    assert len(used) == 3
    scoped = Reader(store, Scope("dev/"))
    found = search_event_logs(scoped, EventLogSearch(message="disk", number_of_results=2),
                              tz=UTC)
    every = search_event_logs(scoped, EventLogSearch(message="disk", number_of_results=1000),
                              tz=UTC)
    assert found.total == len(every.event_logs) > 2
    assert len(used) == 3  # a scope's condition is not one the blocks decide


def test_a_rotated_cycle_is_counted_by_sql_until_its_blocks_are_rebuilt(
        store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    write(store, rng, 100, T0)
    store.apply([IndexSearch(10_000)], T0)
    later = T0 + 10 * WEEK_MS  # the same cycle again, ten weeks on
    store.apply([Maintain(later, catch_up=True)], later)
    held = {w: c for c, w in store.held().items() if w is not None}
    cycle = held[max(held)]
    write(store, rng, 50, later)
    q = MessageQuery(kind="general", cycles=(cycle,), columns=("id", "message"),
                     pattern=wildcard_pattern("disk"), limit=1, count=True)
    assert store.search_messages(q).total == sql_total(store, q, cycle)
    store.apply([IndexSearch(10_000)], later)
    assert store.search_messages(q).total == sql_total(store, q, cycle)


def test_an_index_file_from_before_the_terms_counts_by_text_then_keeps_terms(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_counts, "BLOCK_ROWS", 16)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    s = SQLiteStore(url, tz=UTC, retention_weeks=9)
    s.open(T0)
    write(s, random.Random(21), 300, T0)
    s.apply([IndexSearch(100_000)], T0)
    s.close()
    index = sqlite3.connect(tmp_path / "l.db-search")
    index.execute("ALTER TABLE lc_blocks_general_3 DROP COLUMN terms")  # as written before
    index.close()
    s = SQLiteStore(url, tz=UTC, retention_weeks=9)
    s.open(T0)
    try:
        q = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"),
                         pattern=wildcard_pattern("disk"), limit=1, count=True)
        _, rows = s.fetch("SELECT count(*), count(terms) FROM lcs.lc_blocks_general_3", ())
        assert rows[0][0] > 0 and rows[0][1] == 0  # the old blocks: no terms
        assert s.search_messages(q).total == sql_total(s, q, 3)
        write(s, random.Random(22), 300, T0)
        s.apply([IndexSearch(100_000)], T0)
        assert s.search_messages(q).total == sql_total(s, q, 3)
        _, now = s.fetch("SELECT count(terms) FROM lcs.lc_blocks_general_3", ())
        assert now[0][0] > 0  # the new blocks have their terms
    finally:
        s.close()
