"""PostgreSQL's first broad total from each block part's terms (store/postgres_counts.py)
counts what the store's own ``ILIKE`` counts over the same rows: each message once however
many of its words hold the needle (and a word that holds it twice), words split on spaces
only (tabs, control characters, punctuation inside words), case folded as the database
folds it (the Kelvin sign, ``İ``, ``É``), long messages (past a lexeme's 2,047 bytes), with
the Event Log API's type and time conditions and keyset bounds, at any lag (rows not in
parts yet, rows not in the message index yet), and after a cycle is emptied. Small blocks
here, so that a few hundred rows make many blocks and parts. The reference is a
``count(*)`` with ``ILIKE`` over the cycle table, on the real PostgreSQL."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcycle.ingest.tasks import IndexSearch
from logcycle.store import postgres_counts, postgres_search
from logcycle.store.base import Store
from logcycle.store.postgres import PostgresStore
from logcycle.store.search import MessagePattern, MessageQuery, escape_like
from tests import pg
from tests.conftest import T0
from tests.store.test_contract import gen, open_store, q, raw_execute, write

pytestmark = pytest.mark.postgres

TYPES = ("Information", "Debug", "Error")
WORDS = ["time", "timeout", "TIMEOUT", "Timeouts", "out", "a", "ab", "aB", "abab", "1", "12",
         "É", "é", "\u212a", "k", "\u0130i", "t#1", "-1", "=a", "a.b", "x\ty", "a\x01b", "%", "_",
         "\\", "", "timeout" * 8]
NEEDLES = ["time", "timeout", "out", "a", "ab", "b", "1", "12", "k", "K", "i", "I", "t#", "-1",
           "=a", "TIMEOUTS", "eou", "ti", "\\", "%", "_", "a.b", "abab", "ba"]
messages = st.lists(st.tuples(st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join),
                              st.sampled_from(["Debug", "Error", "Other"]),
                              st.integers(0, 5)), min_size=1, max_size=80)


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(postgres_search, "BLOCK_ROWS", 8)
        mp.setattr(postgres_counts, "BLOCK_ROWS", 16)
        mp.setattr(postgres_counts, "SHORT", 40)  # long messages' words by DISTINCT too
        mp.setattr(postgres_counts, "BLOCK_CHARS", 400)  # some blocks end by their text
        with pg.fresh_schema() as url:
            s = open_store(url, tmp_path_factory.mktemp("counts"))
            yield s
            s.close()


@pytest.fixture
def store(module_store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr(postgres_search, "BLOCK_ROWS", 8)
    monkeypatch.setattr(postgres_counts, "BLOCK_ROWS", 16)
    monkeypatch.setattr(postgres_counts, "SHORT", 40)
    monkeypatch.setattr(postgres_counts, "BLOCK_CHARS", 400)
    return module_store


def query(needle: str, where: tuple[str, ...] = ("message_type IN (%s, %s, %s)",),
          params: tuple[Any, ...] = TYPES, below: int | None = None) -> MessageQuery:
    lit = escape_like(needle)
    return MessageQuery(kind="general", cycles=(3,), columns=("id", "message"),
                        pattern=MessagePattern(f"%{lit}%", (needle,)), where=where,
                        params=params, below_id=below, count=True)


def ilike(store: Store, mq: MessageQuery, above: int, upto: int) -> int:
    """The reference: ILIKE over the cycle table, with the query's own conditions."""
    assert mq.pattern is not None
    clauses = [*mq.where, "message ILIKE %s", "id > %s", "id <= %s"]
    params: list[Any] = [*mq.params, mq.pattern.like, above, upto]
    if mq.below_id is not None:
        clauses.append("id < %s")
        params.append(mq.below_id)
    return int(q(store, "SELECT count(*) FROM oslog_general_3 WHERE " + " AND ".join(clauses),
                 *params)[0][0])


def folds(store: Store) -> bool:
    assert isinstance(store, PostgresStore)
    assert store.ascii_fold  # the test database's ctype is C.UTF-8
    return store.ascii_fold


def from_terms(store: Store, mq: MessageQuery, above: int | None, upto: int) -> int:
    fold = folds(store)
    word = postgres_counts.needle(mq, fold)
    decide = postgres_counts.decisions(mq)
    assert word is not None and decide is not None
    return postgres_counts.count(mq, 3, store.fetch, word, decide, functools.partial(
        postgres_search._range_count, mq, 3, fold, store.fetch), above, upto)


def put(store: Store, rows: list[tuple[str, str, int]]) -> list[int]:
    """Rows (message, type, second) written in order of their second, each second's rows
    inserted at that instant (``insert_instant``)."""
    ids = []
    for d in sorted({d for _, _, d in rows}):
        ids += write(store, *(gen(m, message_type=t) for m, t, e in rows if e == d),
                     now=T0 + 1000 * d)
    return ids


def index(store: Store) -> None:
    while store.apply([IndexSearch(10_000)], T0)[0]:
        pass


def served(store: Store, needle: str, above: int, upto: int) -> tuple[int, int]:
    """(parts whose terms tell the needle's count, those that leave it to the rows) in
    (above, upto]: the test reaches both."""
    mq = query(needle)
    word = postgres_counts.needle(mq, folds(store))
    _, rows = store.fetch(postgres_counts._PARTS.format(terms="lc_terms_general_3"),
                          (word, word, len(word or "x"), 0, 0, word, len(word or "x"), above, upto))
    return sum(r[5] is not None and r[5] > 0 for r in rows), sum(r[5] is None for r in rows)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=messages, more=messages, needle=st.sampled_from(NEEDLES),
       cond=st.integers(0, 4), bound=st.integers(0, 6), lag=st.booleans())
def test_a_total_from_the_terms_is_ilikes(store: Store, rows: list[tuple[str, str, int]],
                                          more: list[tuple[str, str, int]], needle: str,
                                          cond: int, bound: int, lag: bool) -> None:
    ids = put(store, rows)
    index(store)
    if lag:  # rows above the terms (and the message index) too
        ids += put(store, more)
    wheres: list[tuple[tuple[str, ...], tuple[Any, ...]]] = [
        (("message_type IN (%s, %s, %s)",), TYPES),
        (("message_type = %s",), ("Debug",)),
        (("message_type IN (%s, %s, %s)", "insert_instant >= %s"), (*TYPES, T0 + 1000 * bound)),
        (("message_type = %s", "insert_instant <= %s"), ("Error", T0 + 1000 * bound)),
        (("message_type IN (%s, %s, %s)",), TYPES),
    ]
    where, params = wheres[cond]
    below = ids[len(ids) * bound // 7] if cond == 4 else None
    mq = query(needle, where, params, below)
    first = ids[0] - 1
    for above, upto in [(None, ids[-1]), (first, ids[-1]), (ids[len(ids) // 2], ids[-1]),
                        (first, ids[len(ids) // 3])]:
        want = ilike(store, mq, -1 if above is None else above, upto)
        assert from_terms(store, mq, above, upto) == want, (above, upto)


def test_the_terms_serve_a_common_word_and_the_total_is_exact(store: Store) -> None:
    msgs = [f"req {i} timeout on disk{i % 7} TimeOut" if i % 2 else f"req {i} ok" for i in
            range(600)]
    ids = write(store, *(gen(m, message_type=TYPES[i % 3]) for i, m in enumerate(msgs)))
    index(store)
    told, left = served(store, "timeout", ids[0] - 1, ids[-1])
    assert told > 0 and left == 0
    assert served(store, "disk", ids[0] - 1, ids[-1])[1] > 0  # disk0 and disk3 in a part
    for needle in ("timeout", "TIMEOUT", "disk", "req", "1", "zq"):
        mq = query(needle)
        want = ilike(store, mq, ids[0] - 1, ids[-1])
        assert from_terms(store, mq, ids[0] - 1, ids[-1]) == want
        total = store.search_messages(mq).total
        assert total == ilike(store, mq, -1, 2**62)


def test_terms_are_built_up_to_the_message_index_only_and_emptied_with_the_cycle(
        store: Store) -> None:
    ids = write(store, *(gen(f"word{i % 4} w", message_type="Debug") for i in range(20)))
    (mark,) = q(store, "SELECT COALESCE(max(hi), 0) FROM lc_terms_general_3")[0]
    assert mark < ids[0]  # not indexed yet: no parts
    index(store)
    (top,) = q(store, "SELECT max(hi) FROM lc_terms_general_3")[0]
    search_mark = q(store, "SELECT watermark FROM lc_index_state WHERE name = "
                    "'search_general' AND cycle = 3")[0][0]
    assert top <= search_mark and top >= ids[-1] - 16  # whole blocks only
    spans = q(store, "SELECT lo, hi FROM lc_terms_general_3 ORDER BY lo")
    assert all(hi - lo + 1 <= 16 for lo, hi in spans)
    assert len({lo for lo, _ in spans}) == len({(lo, hi) for lo, hi in spans})


def test_a_keyset_bound_inside_the_parts_is_counted_by_the_rows(store: Store) -> None:
    ids = put(store, [(f"timeout n{i}", TYPES[i % 3], 0) for i in range(64)])
    index(store)
    for below in (ids[0], ids[5], ids[17], ids[40], ids[-1] + 1):
        mq = query("timeout", below=below)
        assert from_terms(store, mq, ids[0] - 1, ids[-1]) == \
            ilike(store, mq, ids[0] - 1, ids[-1]) == sum(i < below for i in ids)


def test_a_cycle_emptied_and_refilled_never_counts_its_old_parts(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # More matches than a page and its spill (store/search.py): the total is counted, by
    # the terms (the spy says so).
    calls: list[int] = []
    real = postgres_counts.count

    def spy(*args: Any) -> int:
        calls.append(1)
        return real(*args)
    monkeypatch.setattr(postgres_counts, "count", spy)

    def total() -> int | None:
        calls.clear()
        got = store.search_messages(query("timeout")).total
        assert calls, "not counted from the terms"
        return got

    def want() -> int:
        return ilike(store, query("timeout"), -1, 2**62)

    put(store, [(f"timeout n{i}", "Debug", 0) for i in range(400)])
    index(store)
    assert total() == want()
    # Emptied behind the store's back (the terms left): the old parts lie below the
    # cycle's least id and are not used.
    raw_execute(store, "TRUNCATE oslog_general_3, lc_search_general_3")
    put(store, [("timeout again", "Debug", 0) for _ in range(300)])
    index(store)
    assert total() == want() == 300
    # Emptied as a rotation empties it: the terms go too.
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.conninfo) as conn:
        conn.execute(f'SET search_path TO "{store.schema}"')
        store.empty_cycle(conn, 3)
    assert q(store, "SELECT count(*) FROM lc_terms_general_3") == [(0,)]
    put(store, [("timeout 3", "Error", 0) for _ in range(260)])
    index(store)
    assert total() == want() == 260


def test_long_messages_count_each_word_once_too(store: Store) -> None:
    # Past SHORT bytes a message's words are made distinct by a DISTINCT, not a tsvector.
    rows = [(" ".join(["Timeout", "x" * 30, "timeout"] * 3), "Debug", 0) for _ in range(32)]
    ids = put(store, rows)
    index(store)
    assert served(store, "timeout", ids[0] - 1, ids[-1])[0] > 0
    mq = query("timeout")
    assert from_terms(store, mq, ids[0] - 1, ids[-1]) == ilike(store, mq, ids[0] - 1,
                                                               ids[-1]) == 32


def test_the_servers_terms_thread_builds_them_behind_the_message_index(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_search, "BLOCK_ROWS", 8)
    monkeypatch.setattr(postgres_counts, "BLOCK_ROWS", 16)
    monkeypatch.setattr(postgres_counts, "BLOCK_CHARS", 1 << 20)
    with pg.fresh_schema() as url:
        s = open_store(url, tmp_path)
        try:
            s.start_background()
            ids = put(s, [(f"timeout n{i}", "Debug", 0) for i in range(100)])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and \
                    q(s, "SELECT COALESCE(max(hi), 0) FROM lc_terms_general_3")[0][0] < 96:
                time.sleep(0.05)
            spans = q(s, "SELECT lo, hi FROM lc_terms_general_3 ORDER BY lo")
            assert spans == [(ids[i], ids[i + 15]) for i in range(0, 96, 16)]
        finally:
            s.close()


def test_a_block_ends_when_its_messages_pass_the_character_bound(store: Store) -> None:
    ids = put(store, [("timeout " + "x" * 92, "Debug", 0) for _ in range(40)])  # 100 each
    index(store)
    spans = q(store, "SELECT lo, hi FROM lc_terms_general_3 WHERE lo >= ? ORDER BY lo",
              ids[0])
    assert spans and all(hi - lo + 1 <= 5 for lo, hi in spans)  # 400 characters a block
    mq = query("timeout")
    assert from_terms(store, mq, ids[0] - 1, ids[-1]) == 40
