"""A part's terms (sqlite_counts: the words of its messages and how many messages hold
each, kept by the indexer) count what SQLite's LIKE counts for every ``%text%`` pattern
they serve: each message once however many of its words hold the text, case folded for
ASCII only, words split at every ASCII byte that is not a letter or digit (``_``, ``-``,
a NUL, a line break), non-ASCII characters inside words; two words holding the text, or
a word too long for FTS5, leave the part to its text. The reference is SQLite's LIKE over
the same rows, and the blocks are built by the indexer's own ``build``."""

from __future__ import annotations

import itertools
import re
import sqlite3
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from logcycle.store import sqlite_counts
from logcycle.store.search import MessagePattern, MessageQuery

PIECES = ["a", "A", "b", "ab", "1", "é", "É", "_", "-", " ", "\n", "%", "b\x00a"]
CORPUS = ["".join(p) for n in range(4) for p in itertools.product(PIECES, repeat=n)]
messages = st.lists(st.tuples(st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
                              st.sampled_from(["Error", "Debug", None])), max_size=60)
needles = st.lists(st.sampled_from(["a", "A", "b", "1", "é", "É"]), min_size=1,
                   max_size=4).map("".join)
TYPES = ["Error", "Debug", None]


def built(rows: list[tuple[str | None, str | None]]) -> sqlite3.Connection:
    """An index connection whose blocks of 7 rows hold ``rows`` (message, type)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("ATTACH DATABASE ':memory:' AS src")
    conn.execute("CREATE TABLE src.oslog_general_3 (id INTEGER PRIMARY KEY, message TEXT, "
                 "message_type TEXT, insert_instant INTEGER)")
    conn.executemany("INSERT INTO src.oslog_general_3 (message, message_type, "
                     "insert_instant) VALUES (?, ?, 0)", rows)
    for stmt in sqlite_counts.ddl():
        conn.execute(stmt)
    with mock.patch.object(sqlite_counts, "BLOCK_ROWS", 7):
        conn.execute("BEGIN")
        sqlite_counts.build(conn, "general", 3, 100, 10**6)
        conn.execute("COMMIT")
    return conn


def check(conn: sqlite3.Connection, text: str) -> int:
    """Asserts each part's count from its terms is LIKE's; the parts its terms served."""
    q = MessageQuery(kind="general", cycles=(3,), columns=("id",), count=True,
                     pattern=MessagePattern(f"%{text}%", (text,)))
    needle = sqlite_counts.needle(q)
    assert needle == text.encode().lower()
    served = 0
    parts = conn.execute("SELECT lo, hi, type, terms FROM lc_blocks_general_3").fetchall()
    assert parts
    for lo, hi, t, terms in parts:
        (want,) = conn.execute("SELECT count(*) FROM src.oslog_general_3 WHERE id BETWEEN ? "
                               "AND ? AND message_type IS ? AND message LIKE ?",
                               (lo, hi, t, f"%{text}%")).fetchone()
        assert terms is not None
        got = sqlite_counts.count_terms(terms, needle)
        if got is not None:
            served += 1
            assert got == want, (text, lo, t)
    return served


@settings(max_examples=200, deadline=None)
@given(messages, needles)
def test_terms_count_what_like_counts(rows: list[tuple[str, str | None]], text: str) -> None:
    corpus = [(m, TYPES[i % 3]) for i, m in enumerate(CORPUS)]
    check(built([*rows, *corpus, (None, "Error")]), text)


def test_two_words_holding_the_text_leave_the_part_to_its_text() -> None:
    # Seven messages of one type: "ab" and "ba" both hold "a"; one message holds both.
    conn = built([("ab ba", "Error"), ("ab", "Error"), ("ba", "Error"), ("x", "Error"),
                  ("ab", "Error"), ("AB", "Error"), ("b-a", "Error")])
    (terms,) = conn.execute("SELECT terms FROM lc_blocks_general_3").fetchone()
    assert sqlite_counts.count_terms(terms, b"a") is None
    assert sqlite_counts.count_terms(terms, b"ab") == 4  # only the word "ab"
    assert sqlite_counts.count_terms(terms, b"ba") == 2
    assert sqlite_counts.count_terms(terms, b"q") == 0
    assert check(conn, "ab") == 1


def test_a_word_longer_than_fts5_keeps_no_terms() -> None:
    long = "a" * 40_000 + "zz"  # FTS5 would keep only the first 32,768 bytes of it
    conn = built([(long, "Error"), *[("zz", "Error")] * 6, *[("b", "Debug")] * 7])
    got = dict(conn.execute("SELECT type, terms FROM lc_blocks_general_3").fetchall())
    assert got["Error"] is None
    assert got["Debug"] is not None and sqlite_counts.count_terms(got["Debug"], b"b") == 7
    # And the total of such a part comes from its text, exactly.
    q = MessageQuery(kind="general", cycles=(3,), columns=("id",), count=True,
                     pattern=MessagePattern("%azz%", ("azz",)))
    rx = sqlite_counts.matcher(q)
    assert rx is not None
    (body,) = conn.execute("SELECT body FROM lc_blocks_general_3 WHERE type = 'Error'"
                           ).fetchone()
    assert sqlite_counts.count_in(re.compile(rx), body) == 1


def test_patterns_the_terms_do_not_serve() -> None:
    def needle(like: str) -> bytes | None:
        return sqlite_counts.needle(MessageQuery(
            kind="general", cycles=(3,), columns=("id",), count=True,
            pattern=MessagePattern(like, ("x",))))
    assert needle("%Disk%") == b"disk"
    assert needle("%érreur%") == "érreur".encode()
    for like in ("%a b%", "%a-b%", "%a\\_b%", "%a\\%%", "disk%", "%disk", "%a%b%", "%a_b%"):
        assert needle(like) is None, like
