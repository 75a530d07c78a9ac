"""The blocks' regular expression (sqlite_counts.matcher) counts what SQLite's LIKE counts,
for every shape of Event Log pattern (``*`` inside, at either end, doubled), over messages
with repeated words, mixed case, non-ASCII letters, ``%`` and ``_``: one match per message
however often it holds the pattern, never across the NUL that joins messages in a block.
The reference is SQLite itself (an in-memory database), and the blocks are built with the
same SQL text the indexer uses."""

from __future__ import annotations

import itertools
import re
import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from logcycle.query.wildcards import wildcard_pattern
from logcycle.store import sqlite_counts
from logcycle.store.search import MessagePattern, MessageQuery

# Few and short, so that patterns match often, and partly: repeated words, case, non-ASCII
# letters (which LIKE does not fold), LIKE's own % and _ and its escape, a line break.
FRAGMENTS = ["a", "A", "b", "ab", "é", "É", "%", "_", "\\", " ", "\n"]
PIECES = [*FRAGMENTS, "b\x00a"]  # a NUL ends the message as LIKE reads it
# Every message of up to three pieces, beside the drawn ones: each drawn pattern meets
# messages it matches, and ones it only nearly matches.
CORPUS = ["".join(p) for n in range(4) for p in itertools.product(PIECES, repeat=n)]
messages = st.lists(st.lists(st.sampled_from(PIECES), max_size=10).map("".join), max_size=40)
patterns = st.lists(st.sampled_from([*FRAGMENTS, "*", "*", "*", "**", "a\x00"]), min_size=1,
                    max_size=7).map("".join)


def like_total(conn: sqlite3.Connection, like: str) -> int:
    return int(conn.execute("SELECT count(*) FROM m WHERE message LIKE ? ESCAPE '\\'",
                            (like,)).fetchone()[0])


def block_total(conn: sqlite3.Connection, rx: bytes) -> int:
    # Blocks of 7 rows, as the indexer builds them (its text of each message, NUL-joined).
    blocks = conn.execute("SELECT CAST(group_concat(t, char(0)) AS BLOB) FROM (SELECT "
                          f"rowid / 7 AS b, {sqlite_counts._TEXT} AS t FROM m "
                          "WHERE message IS NOT NULL ORDER BY rowid) GROUP BY b").fetchall()
    compiled = re.compile(rx)
    return sum(sqlite_counts.count_in(compiled, body) for (body,) in blocks if body is not None)


@settings(max_examples=300, deadline=None)
@given(messages, patterns)
def test_the_regular_expression_counts_what_like_counts(texts: list[str], text: str) -> None:
    pattern = wildcard_pattern(text)
    if pattern is None:
        return  # matches every message: not a search
    q = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"), pattern=pattern,
                     count=True)
    rx = sqlite_counts.matcher(q)
    if "\x00" in text:  # where LIKE's pattern ends: left to SQL
        assert rx is None
        return
    assert rx is not None, pattern  # every other wildcard pattern is served by the blocks
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE m (message TEXT)")
    conn.executemany("INSERT INTO m VALUES (?)", [(t,) for t in [*texts, *CORPUS, None]])
    assert block_total(conn, rx) == like_total(conn, pattern.like), (texts, pattern)


def test_shapes_of_patterns() -> None:
    def rx(like: str) -> bytes | None:
        q = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"), count=True,
                         pattern=MessagePattern(like, ("x",)))
        return sqlite_counts.matcher(q)
    assert rx("%a_b%") is None  # `_` is any one character: SQL counts it
    assert rx("%a\\_b%") is not None
    assert rx("%%") is None  # every message
    assert rx("%a\\") is None  # a lone escape at the end
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE m (message TEXT)")
    # Many near-matches in one long message: linear, not one try per pair of them.
    conn.execute("INSERT INTO m VALUES (?)", ("ab" * 20_000,))
    for like in ("%a%b%c%", "a%b%c", "%ab%ab%ab%abc%", "%a%b%c", "%ab%abc"):
        got = rx(like)
        assert got is not None and block_total(conn, got) == like_total(conn, like) == 0
