"""PostgreSQL's message index in blocks (store/postgres_search.py): a side row per block of
rows holding their distinct lowered words, a candidate filter whose blocks are checked
row by row with the exact ``ILIKE``. Small blocks here, so that a few hundred rows make
many blocks, several chunks of candidates and the dense path."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logcycle.ingest.tasks import IndexSearch
from logcycle.query.wildcards import wildcard_pattern
from logcycle.store import postgres_search
from logcycle.store.base import Store
from logcycle.store.search import MessageQuery
from tests import pg
from tests.conftest import T0
from tests.store.test_contract import gen, open_store, q, raw_execute, write

pytestmark = pytest.mark.postgres

WORDS = ["disk", "Full", "retry", "timeout", "50%", "a_b", "ÉRREUR", "x"]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setattr(postgres_search, "BLOCK_ROWS", 4)
    with pg.fresh_schema() as url:
        s = open_store(url, tmp_path)
        yield s
        s.close()


def like(pattern: str, message: str) -> bool:
    """The Event Log rule, case folded as PostgreSQL's ILIKE does (all letters)."""
    p = pattern if "*" in pattern else f"*{pattern}*"
    rx = ".*".join(re.escape(part) for part in p.split("*"))
    return re.fullmatch(rx, message, re.IGNORECASE | re.DOTALL) is not None


def find(store: Store, pattern: str, **kw: object) -> tuple[list[int], int | None]:
    query = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"),
                         pattern=wildcard_pattern(pattern), count=True,
                         **{"limit": 10_000, **kw})  # type: ignore[arg-type]
    result = store.search_messages(query)
    return [r[0] for r in result.rows], result.total


def test_blocks_hold_distinct_lowered_words_of_consecutive_rows(store: Store) -> None:
    ids = write(store, *(gen(m) for m in ["Disk full", "disk  FULL", "retry", "a b",
                                           "new block"]))
    assert store.apply([IndexSearch(1000)], T0) == [5]
    rows = q(store, "SELECT lo, hi, body FROM lc_search_general_3 ORDER BY lo")
    assert [(lo, hi) for lo, hi, _ in rows] == [(ids[0], ids[3]), (ids[4], ids[4])]
    assert sorted(rows[0][2].split(" ")) == sorted(["", "disk", "full", "retry", "a", "b"])
    assert q(store, "SELECT watermark FROM lc_index_state WHERE name = 'search_general' "
             "AND cycle = 3") == [(ids[4],)]


def test_a_block_ends_when_its_messages_pass_the_character_bound(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_search, "BLOCK_CHARS", 10)
    write(store, *(gen("abcdef") for _ in range(4)))  # 6 characters each
    store.apply([IndexSearch(1000)], T0)
    assert q(store, "SELECT hi - lo + 1 FROM lc_search_general_3 ORDER BY lo") == \
        [(1,), (2,), (1,)]  # 6 | 12, 18 | 24: a block per passed multiple of 10


PATTERNS = ["disk", "DISK full", "full*disk", "disk*full", "timeout*retry", "50%", "a_b",
            "érreur", "ÉRR", "*x", "x*", "ful", "no such thing", "isk fu", "rare0042",
            "t rare0042"]


def test_search_is_exact_through_the_blocks_and_the_tail(store: Store) -> None:
    rng = random.Random(3)
    msgs = [" ".join(rng.choices(WORDS, k=rng.randint(1, 4))) for _ in range(200)]
    msgs[42] += " rare0042"
    by_id = dict(zip(write(store, *(gen(m) for m in msgs)), msgs, strict=True))
    for step in (0, 37, 1000):  # none indexed, 37 rows (10 blocks), all (50 blocks)
        store.apply([IndexSearch(step)], T0)
        for pattern in PATTERNS:
            want = sorted((i for i, m in by_id.items() if like(pattern, m)), reverse=True)
            assert find(store, pattern) == (want, len(want)), (pattern, step)
            # Pages across the chunks of candidate blocks and the tail, both orders.
            for offset in (0, 3, len(want) - 1):
                assert find(store, pattern, limit=3, offset=offset) == \
                    (want[offset:offset + 3], len(want)), (pattern, offset)
                assert find(store, pattern, limit=3, offset=offset, descending=False) == \
                    (sorted(want)[offset:offset + 3], len(want)), (pattern, offset)


def test_a_star_never_matches_across_the_messages_of_a_block(store: Store) -> None:
    write(store, gen("alpha one"), gen("two omega"))
    store.apply([IndexSearch(1000)], T0)
    assert q(store, "SELECT count(*) FROM lc_search_general_3") == [(1,)]
    assert find(store, "alpha*omega") == ([], 0)


def test_version_4_per_event_index_is_rebuilt_in_blocks(store: Store, tmp_path: Path) -> None:
    ids = write(store, gen("needle one"), gen("other"))
    raw_execute(store, postgres_search.drop_old_sql() + "; " + "; ".join(
        f"CREATE TABLE lc_search_{k}_{c} (rid BIGINT PRIMARY KEY, body TEXT NOT NULL)"
        for k in postgres_search.INDEXED_KINDS for c in range(10)))
    raw_execute(store, f"INSERT INTO lc_search_general_3 VALUES ({ids[0]}, 'needle one'); "
                f"UPDATE lc_index_state SET watermark = {ids[1]} WHERE name LIKE 'search%'; "
                "UPDATE lc_meta SET value = 4 WHERE name = 'schema_version'")
    store.close()
    url = pg.store_url(store.schema)  # type: ignore[attr-defined]
    again = open_store(url, tmp_path)
    try:
        assert q(again, "SELECT count(*) FROM lc_index_state WHERE name LIKE ?",
                 "search%") == [(0,)]
        assert find(again, "needle") == ([ids[0]], 1)  # scanned meanwhile: exact
        assert again.apply([IndexSearch(1000)], T0) == [2]
        assert q(again, "SELECT lo, hi FROM lc_search_general_3") == [(ids[0], ids[1])]
        assert find(again, "needle") == ([ids[0]], 1)
    finally:
        again.close()


def test_the_prefilter_of_ids_keeps_every_case_of_their_letters(store: Store) -> None:
    # The prefilter is a case-sensitive LIKE of a literal's ASCII non-letters, letters
    # between them as "_": here "-4711-", " 10.0.0.7" and "9_0__7_1"; the letters, in any
    # case and from characters that lower to ASCII ones (Kelvin sign, dotted capital I),
    # match.
    msgs = ["order ID-4711-Ab done", "order id-4711-aB", "order \u212a-4711-ab",
            "host \u0130P 10.0.0.7", "host ip 10.0.0.7x", "order id-4712-ab", "ip 10.0.1.7",
            "tx 9F0a\u212a7E1 ok", "tx 9f0AK7e1", "tx 9f0ak8e1", "tx 9f0a7e1"]
    by_id = dict(zip(write(store, *(gen(m) for m in msgs)), msgs, strict=True))
    for step in (0, 1000):  # the tail, then the blocks
        store.apply([IndexSearch(step)], T0)
        for pattern in ("k-4711-AB", "id-4711-ab", "ip 10.0.0.7", "*-4711-*", "4711",
                        "9f0ak7e1", "*F0aK7*1*"):
            want = sorted((i for i, m in by_id.items()
                           if like(pattern, m.replace("\u212a", "k").replace("\u0130", "i"))),
                          reverse=True)
            assert want, pattern
            assert find(store, pattern) == (want, len(want)), (pattern, step)
    assert postgres_search.prefilter(["id-4711-ab"]) == "%-4711-%"
    assert postgres_search.prefilter(["timeout", "ab"]) is None
    assert postgres_search.prefilter(["ndl0a3fb9c1e2"]) == "%0_3__9_1_2%"
    assert postgres_search.prefilter(["a b c d"]) is None  # spaces do not count


def test_searches_of_letters_keep_every_case_of_them(store: Store) -> None:
    # Letters in every case, from characters that lower to ASCII letters (U+0130, the
    # Kelvin sign) and beyond ASCII, through the tail and the blocks: a cheaper match of
    # letters (the "C" collation's lower, a prefilter) must not miss these rows.
    msgs = ["Disk FULL on node", "\u212aernel Panic", "kernel panic", "L\u0130NK down",
            "link DOWN", "ÉRREUR grave", "érreur grave", "TIMEOUT after a RETRY",
            "kernel paniq", "lin down"]
    by_id = dict(zip(write(store, *(gen(m) for m in msgs)), msgs, strict=True))
    for step in (0, 1000):  # the tail, then the blocks
        store.apply([IndexSearch(step)], T0)
        for pattern in ("KERNEL PANIC", "link down", "ÉRREUR gr", "disk*node",
                        "timeout*RETRY", "rREUR", "Nk dOw"):
            want = sorted((i for i, m in by_id.items()
                           if like(pattern, m.replace("\u212a", "k").replace("\u0130", "i"))),
                          reverse=True)
            assert want, pattern
            assert find(store, pattern) == (want, len(want)), (pattern, step)


def test_the_side_indexes_keep_a_small_pending_list(store: Store, tmp_path: Path) -> None:
    # Every lookup reads GIN's whole pending list; the limit is set on new indexes and on
    # the indexes of a store made before it.
    option = f"gin_pending_list_limit={postgres_search.PENDING_KB}"
    sql = ("SELECT count(*) FROM pg_class WHERE starts_with(relname, 'lc_search_') AND "
           "right(relname, 5) = '_body' AND relnamespace = current_schema()::regnamespace "
           "AND reloptions @> ARRAY[?]")
    assert q(store, sql, option) == [(len(postgres_search.INDEXED_KINDS) * 10,)]
    raw_execute(store, "ALTER INDEX lc_search_general_3_body RESET (gin_pending_list_limit)")
    assert q(store, sql, option) == [(len(postgres_search.INDEXED_KINDS) * 10 - 1,)]
    store.close()
    again = open_store(pg.store_url(store.schema), tmp_path)  # type: ignore[attr-defined]
    try:
        assert q(again, sql, option) == [(len(postgres_search.INDEXED_KINDS) * 10,)]
    finally:
        again.close()




def test_all_ascii_messages_through_the_c_collation_keep_ilikes_answer(store: Store) -> None:
    # The test database's collation is C.UTF-8 (libc): the all-ASCII messages are matched
    # under "C", the others by the database's ILIKE, which also folds non-ASCII capitals
    # and characters that lower to ASCII letters (Kelvin sign, dotted capital I).
    assert store.ascii_fold  # type: ignore[attr-defined]
    msgs = ["Key done", "KEY", "key", "k\u00e9y", "\u00c9KEY", "\u212aey", "\u212aEY x",
            "\u0130d KEY", "id key", "disk FULL", "Disk full \u00c9", "a_b 50%", "A_B 50%"]
    ids = write(store, *(gen(m) for m in msgs))
    for step in (0, 1000):  # the tail, then the blocks
        store.apply([IndexSearch(step)], T0)
        for pattern in ("key", "KEY", "*k*", "k*", "*e*y", "id key", "disk*", "*full*",
                        "a_b 50%", "\u00e9key", "k\u00c9y"):
            like_ = wildcard_pattern(pattern)
            assert like_ is not None
            want = [r[0] for r in q(store, "SELECT id FROM oslog_general_3 WHERE message "
                                    "ILIKE ? ESCAPE '\\' ORDER BY id DESC", like_.like)]
            assert want, pattern
            assert find(store, pattern) == (want, len(want)), (pattern, step)
            assert set(want) <= set(ids)
    fast = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"),
                        pattern=wildcard_pattern("key"))
    slow = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"),
                        pattern=wildcard_pattern("\u00e9key"))
    assert "COLLATE" in postgres_search.match(fast, True)[0]
    assert "COLLATE" not in postgres_search.match(slow, True)[0]  # a non-ASCII pattern
    assert "COLLATE" not in postgres_search.match(fast, False)[0]


def test_kept_totals_stay_exact_as_rows_come_and_cycles_empty(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Most blocks hold "disk": the cycle is read whole and its total kept up to the
    # watermark; new rows, a keyset bound, another cycle's emptying and refilling.
    counted: list[tuple[int | None, int]] = []
    real = postgres_search._range_count

    def spy(*args: Any) -> int:
        counted.append((args[-2], args[-1]))
        return real(*args)  # type: ignore[arg-type]
    monkeypatch.setattr(postgres_search, "_range_count", spy)

    def check(pattern: str, **kw: object) -> None:
        like_ = wildcard_pattern(pattern)
        assert like_ is not None
        below = kw.get("below_id")
        want = q(store, "SELECT count(*) FROM oslog_general_3 WHERE message ILIKE ? ESCAPE "
                 "'\\' AND id < ?", like_.like, below or postgres_search.MAX_ID)[0][0]
        assert find(store, pattern, limit=2, **kw)[1] == want > 0, (pattern, kw)

    rng = random.Random(5)
    write(store, *(gen(" ".join(["disk", *rng.choices(WORDS, k=2)])) for _ in range(400)))
    store.apply([IndexSearch(1000)], T0)
    check("disk")
    assert (None, postgres_search.MAX_ID) not in counted  # per range, not one count
    first = [c for c in counted if c[0] is None]
    assert first, "the whole-cycle count was never kept"
    counted.clear()
    check("disk")
    assert not [c for c in counted if c[0] is None]  # the rows up to the mark: kept
    ids = write(store, *(gen("disk new") for _ in range(230)))
    check("disk")  # the new rows in the tail
    store.apply([IndexSearch(1000)], T0)
    counted.clear()
    check("disk")  # and once indexed: counted between the two watermarks only
    assert counted and all(lo is not None for lo, _ in counted)
    check("disk", below_id=ids[0])  # a keyset page: a total of its own
    check("DISK*new")
    # The cycle emptied (as a rotation does) and refilled: nothing kept is reused.
    raw_execute(store, "TRUNCATE oslog_general_3, lc_search_general_3")
    write(store, *(gen("disk again") for _ in range(10)),
          *(gen(" ".join(["disk", *rng.choices(WORDS, k=2)])) for _ in range(400)))
    store.apply([IndexSearch(1000)], T0)
    check("disk")
