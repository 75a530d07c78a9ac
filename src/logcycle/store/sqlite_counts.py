"""Exact totals of broad message searches on SQLite, from blocks of lowered messages.

A page of a broad search is quick (its newest matches come first), but its exact total
must look at every matching row: about 0.2-0.3 µs a row in SQLite whatever the layout
(``LIKE``, ``instr``, a narrow copy table: the cost is per row), where ``grep -F -c``
streams a flat file. So the indexer (store/sqlite_indexer.py) also keeps, in the index
file, ``lc_blocks_<kind>_<cycle>``: for each run of ``BLOCK_ROWS`` consecutive rows, one
row per ``message_type`` value among them with the messages as SQLite's ``LIKE`` sees
them (``lower()``, which folds ASCII letters only, up to the first NUL, where ``LIKE``
stops reading) joined by NUL, with the range of ids and of insert instants. A total is
then one regular expression per block (``needle[^\\x00]*+`` counts each message once,
whatever number of times it holds the needle; ``matcher`` also writes one for patterns
with ``%`` inside), in C, over ~100 KB at a time; or, for a ``%word%`` pattern, from
the part's *terms* (each word of its messages and how many messages hold it, kept by the
indexer: ``count_terms``), ~5 times less to read. A block's count is kept
(``BlockCounts``, bounded): a repeated total (paging through a broad search) reads only
the blocks it has not counted before.

Exact at any lag, as the arms of store/sqlite_search.py are: a block is used only while
the week recorded in ``lc_blocks_state`` is the week the main file says its cycle holds
(read in one snapshot of both files); a block is counted from its text only when every
condition of the query is decided for all of its rows by what the block records (the
message type, the span of insert instants, the range of ids); every other row of the
arm, above the blocks, below them or in an undecided block, is counted by SQL over the
main table. Patterns with ``_`` are counted by SQL.

    count = counter(q, cycle, fetch, above=None, upto=watermark)
    total = count() if count is not None else sql_count()
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from logcycle.cycles import CYCLES
from logcycle.store import schema
from logcycle.store.search import MessageQuery, base_conditions

# Only the Event Log API asks for totals, and it reads `general`.
COUNTED_KINDS: tuple[str, ...] = ("general",)
BLOCK_ROWS = 1024  # measured: 1,024 and 4,096 count alike; smaller blocks cost per row
FETCH_BLOCKS = 64  # blocks' text read per statement (~6 MB): memory stays bounded
FETCH_TERMS = 256  # blocks' terms read per statement (~2.5 MB)
META_BLOCKS = 4096  # blocks' ids, types and spans read per statement (without the text)
CACHE_ENTRIES = 100_000  # counts kept per store (BlockCounts): ~22 MB, 30M rows' blocks
MAX_RANGES = 16  # more undecided stretches than this: count the arm by SQL alone
SCHEMA = "lcs"
Fetch = Callable[[str, Sequence[Any]], tuple[list[str], list[tuple[Any, ...]]]]
# LIKE reads a message up to its first NUL; lower() folds ASCII letters only, as LIKE does.
_TEXT = ("lower(CASE WHEN instr(message, char(0)) > 0 THEN "
         "substr(message, 1, instr(message, char(0)) - 1) ELSE message END)")


def block_table(kind: str, cycle: int) -> str:
    """``lc_blocks_general_3`` for ``oslog_general_3``."""
    schema.table(kind, cycle)  # validates both
    if kind not in COUNTED_KINDS:
        raise ValueError(f"kind {kind!r} has no message blocks")
    return f"lc_blocks_{kind}_{cycle}"


def ddl() -> list[str]:
    """The blocks' tables in the index file; idempotent."""
    return ["CREATE TABLE IF NOT EXISTS lc_blocks_state (kind TEXT NOT NULL, cycle INTEGER "
            "NOT NULL, week INTEGER, mark INTEGER NOT NULL, PRIMARY KEY (kind, cycle))",
            *(f"CREATE TABLE IF NOT EXISTS {block_table(kind, c)} (lo INTEGER NOT NULL, "
              "hi INTEGER NOT NULL, type TEXT, t_min INTEGER, t_max INTEGER, body BLOB NOT "
              "NULL, terms BLOB)" for kind in COUNTED_KINDS for c in range(CYCLES))]


def upgrade(conn: Any) -> None:
    """Give the blocks' tables of an index file written before their terms a ``terms``
    column (NULL: such blocks are counted by their text)."""
    for kind in COUNTED_KINDS:
        for c in range(CYCLES):
            blocks = block_table(kind, c)
            if "terms" not in {r[1] for r in conn.execute(f"PRAGMA table_info({blocks})")}:
                conn.execute(f"ALTER TABLE {blocks} ADD COLUMN terms BLOB")


# -- building (the indexer's thread, in its transaction of the index file) ----------------
_STATE = "SELECT week, mark FROM lc_blocks_state WHERE kind = ? AND cycle = ?"
_SET = ("INSERT INTO lc_blocks_state (kind, cycle, week, mark) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (kind, cycle) DO UPDATE SET week = excluded.week, mark = excluded.mark")


def build(conn: Any, kind: str, cycle: int, week: int, max_rows: int) -> int:
    """Add whole blocks of the cycle's newest rows, at least one if there is one and up
    to about ``max_rows`` rows; the number of rows put in blocks. The SQL runs in SQLite
    (without the GIL): ~2 µs a row, against ~6-10 µs for the FTS5 insert beside it."""
    if kind not in COUNTED_KINDS or max_rows <= 0:
        return 0
    table, blocks = schema.table(kind, cycle), block_table(kind, cycle)
    state = conn.execute(_STATE, (kind, cycle)).fetchone()
    mark = 0 if state is None else int(state[1])
    if state is None or state[0] != week:
        # A new week in the cycle: its rows are all above the mark (ids only grow).
        conn.execute(f"DELETE FROM {blocks}")
        conn.execute(_SET, (kind, cycle, week, mark))
    done = 0
    while done < max_rows:
        hi, n = conn.execute(f"SELECT max(id), count(*) FROM (SELECT id FROM src.{table} "
                             "WHERE id > ? ORDER BY id LIMIT ?)", (mark, BLOCK_ROWS)).fetchone()
        if n < BLOCK_ROWS:
            break
        (last,) = conn.execute(f"SELECT COALESCE(max(rowid), 0) FROM {blocks}").fetchone()
        conn.execute(f"INSERT INTO {blocks} (lo, hi, type, t_min, t_max, body) SELECT ?, ?, "
                     "message_type, min(insert_instant), max(insert_instant), "
                     f"COALESCE(CAST(group_concat({_TEXT}, char(0)) AS BLOB), x'') "
                     f"FROM src.{table} WHERE id > ? AND id <= ? GROUP BY message_type",
                     (mark + 1, hi, mark, hi))
        _add_terms(conn, table, blocks, int(last), mark, int(hi))
        mark = int(hi)
        done += int(n)
        conn.execute(_SET, (kind, cycle, week, mark))
    return done


# The words of each part of a block and how many of its messages hold each, as FTS5's
# `ascii` tokenizer splits them (runs of ASCII letters and digits and of non-ASCII
# characters, ASCII letters folded: what LIKE folds), counted by fts5vocab: in SQLite,
# without the GIL, through a scratch table of the indexer's connection.
_SCRATCH = ["CREATE VIRTUAL TABLE IF NOT EXISTS temp.lc_terms USING fts5(body, "
            "content='', detail=none, columnsize=0, tokenize='ascii')",
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.lc_term_docs USING "
            "fts5vocab(temp, lc_terms, row)"]
MAX_TERM = 32_000  # FTS5 cuts a word to 32,768 bytes: a part with a longer one keeps none
assert BLOCK_ROWS < 32 * 33  # a count as two bytes, 1 + n // 32 and 1 + n % 32
# One entry a word: NUL, the word, its count in two bytes from 1 to 33 (b"!"): none of
# them is a byte of a word, so a needle made of word bytes only matches inside a word.
_TERMS = (f"SELECT CASE WHEN max(length(CAST(term AS BLOB))) >= {MAX_TERM} THEN NULL ELSE "
          "CAST(COALESCE(group_concat(char(0) || term || char(1 + doc / 32, 1 + doc % 32), "
          "''), '') AS BLOB) END FROM temp.lc_term_docs")


def _add_terms(conn: Any, table: str, blocks: str, last: int, above: int, hi: int) -> None:
    """The terms of the block of rows (above, hi], whose parts have rowids above ``last``."""
    for stmt in _SCRATCH:
        conn.execute(stmt)
    parts = conn.execute(f"SELECT rowid, type FROM {blocks} WHERE rowid > ?", (last,))
    for rowid, t in parts.fetchall():
        conn.execute("INSERT INTO temp.lc_terms (lc_terms) VALUES ('delete-all')")
        conn.execute(f"INSERT INTO temp.lc_terms (rowid, body) SELECT id, {_TEXT} FROM "
                     f"src.{table} WHERE id > ? AND id <= ? AND message_type IS ?",
                     (above, hi, t))
        conn.execute(f"UPDATE {blocks} SET terms = ({_TERMS}) WHERE rowid = ?", (rowid,))


# -- counting (read threads, inside the search's read transaction) ------------------------
_END = rb"(?=\x00|\Z)"  # where a message ends in a block
_REST = rb"[^\x00]*+"  # possessive: the rest of the message is consumed, never given back


def _like_parts(like: str) -> list[str] | None:
    """The literal runs of a ``LIKE`` pattern (escape ``\\``) between its ``%``, empty
    ones included (``'a%b%'`` gives ``['a', 'b', '']``); None if it holds ``_`` or ends
    with a lone escape."""
    parts: list[str] = []
    run: list[str] = []
    i = 0
    while i < len(like):
        c = like[i]
        if c == "\\":
            if i + 1 == len(like):
                return None
            run.append(like[i + 1])
            i += 2
            continue
        if c == "_":
            return None
        if c == "%":
            parts.append("".join(run))
            run = []
        else:
            run.append(c)
        i += 1
    parts.append("".join(run))
    return parts


def matcher(q: MessageQuery) -> bytes | None:
    """A regular expression over a block with a NUL put before it (``b"\\x00" + body``):
    each message that the pattern of ``q`` matches as ``LIKE`` reads it gives exactly one
    match whose one group is empty or unset (``count_in``); never across a NUL. None:
    the blocks cannot count this pattern (SQL does).

    The earliest occurrence of each literal is always the best choice for ``%``, so each
    gap is an atomic ``(?>[^\\x00]*?lit)`` (exact, and a message costs linear time). A
    pattern held to the start of a message begins with the NUL before it, a literal
    prefix the search skips to quickly; an unheld one tries only the first occurrence of
    its first literal in a message: either the rest follows (the group unset) or the
    message is consumed with the group set to that literal's last byte. The rest of a matched
    message is consumed, so it is counted once."""
    if q.pattern is None or len(q.pattern.like) > 50_000:
        return None  # SQLite refuses patterns past 50,000 bytes: SQL says so
    parts = _like_parts(q.pattern.like)
    if parts is None or not any(parts) or any("\x00" in p for p in parts):
        return None  # `_`, or every message matches, or a NUL ends LIKE's pattern
    lits = [p.encode().lower() for p in parts]  # lower(): ASCII letters only, as LIKE
    first, middle = lits[0], [m for m in lits[1:-1] if m]
    if len(lits) == 1:
        return b"\x00" + re.escape(first) + _END + b"()"
    last = lits[-1]
    end = b"[^\x00]*?" + re.escape(last) + _END if last else _REST
    if first:
        return b"\x00" + re.escape(first) + _gaps(middle) + end + b"()"
    if not middle:
        return re.escape(last) + _END + b"()"  # `%last`: at most one match a message
    head, rest = middle[0], middle[1:]
    if not rest and not last:
        return re.escape(head) + _REST + b"()"  # `%text%`
    tail = re.escape(head[-1:])
    return (re.escape(head[:-1]) + b"(?:" + tail + _gaps(rest) + end + b"|(" + tail + b")"
            + _REST + b")")


def count_in(rx: re.Pattern[bytes], body: bytes) -> int:
    """The messages of a block that ``rx`` (compiled from ``matcher``) matches."""
    # findall lists the group: b"" for a match, never the matched text. The NUL before
    # the block costs a copy (~10 ms per million rows): only where the pattern reads it.
    return rx.findall(b"\x00" + body if rx.pattern[:1] == b"\x00" else body).count(b"")


_WORD = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyz") | frozenset(range(0x80, 0x100))


def needle(q: MessageQuery) -> bytes | None:
    """The lowered literal of a ``%text%`` pattern when every byte of it is a byte of a
    word (an ASCII letter or digit, or part of a non-ASCII character): each occurrence
    in a message then lies inside one word, and a part's terms can count it
    (``count_terms``). None for any other pattern."""
    parts = None if q.pattern is None else _like_parts(q.pattern.like)
    if parts is None or len(parts) != 3 or parts[0] or parts[2] or not parts[1]:
        return None
    text = parts[1].encode().lower()
    return text if _WORD.issuperset(text) else None


def count_terms(terms: bytes, text: bytes) -> int | None:
    """The messages of a part that hold ``text`` (from ``needle``), from the part's terms:
    the count of the one word that holds it, 0 when none does; None when two or more
    words hold it (a message may hold both: the part is counted by its text)."""
    at = terms.find(text)
    if at < 0:
        return 0
    end = terms.find(b"\x00", at)
    end = len(terms) if end < 0 else end
    if terms.find(text, end) >= 0:
        return None
    return (terms[end - 2] - 1) * 32 + terms[end - 1] - 1


def _gaps(lits: list[bytes]) -> bytes:
    return b"".join(b"(?>[^\x00]*?" + re.escape(lit) + b")" for lit in lits)


Part = tuple[int, str | None, int | None, int | None, int]  # rowid, type, t_min, t_max, size


class BlockCounts:
    """Counts of a pattern per block, kept between searches (paging through a broad
    search asks the same total again): a block never changes while it exists (ids are
    never reused and rows never change once in a block; a new week in the cycle empties
    its blocks, and a count is keyed by the block's ids, type and size as well), so a
    count taken once stays exact. Bounded: at most ``max_entries`` counts over all
    patterns, the least recently asked patterns dropped first. Thread-safe."""

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        # (pattern, kind, cycle) -> {(lo, hi, type, size): count}
        self._by: OrderedDict[tuple[bytes, str, int], dict[tuple[Any, ...], int]] = \
            OrderedDict()
        self._size = 0

    def get(self, key: tuple[bytes, str, int]) -> dict[tuple[Any, ...], int]:
        """A copy of the counts kept for ``key`` (possibly empty)."""
        with self._lock:
            kept = self._by.get(key)
            if kept is None:
                return {}
            self._by.move_to_end(key)
            return dict(kept)

    def put(self, key: tuple[bytes, str, int], counts: dict[tuple[Any, ...], int]) -> None:
        """Keep ``counts`` (new blocks' counts) beside those kept for ``key``."""
        if not counts or len(counts) > self.max_entries:
            return
        with self._lock:
            kept = self._by.setdefault(key, {})
            self._by.move_to_end(key)
            before = len(kept)
            kept.update(counts)
            self._size += len(kept) - before
            while self._size > self.max_entries:
                _, dropped = self._by.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._by.clear()
            self._size = 0


Decide = Callable[[str | None, int | None, int | None], bool | None]


def _fragment(text: str, params: Sequence[Any]) -> Decide | None:
    """What a condition of the Event Log API says of a block's part (its message type,
    least and greatest insert instant): True or False for all of its rows, None when it
    cannot tell. None for a condition it does not know (the arm is counted by SQL)."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    types = (f"message_type IN ({schema.SQLITE.params(len(params))})",
             "message_type = ?" if len(params) == 1 else "")
    if params and text in types and all(isinstance(v, str) for v in params):
        values = set(params)
        return lambda t, lo, hi: t is not None and t in values
    if len(params) == 1 and type(params[0]) is int:
        bound = params[0]
        if text == "insert_instant >= ?":
            return lambda t, lo, hi: None if lo is None or hi is None else \
                True if lo >= bound else False if hi < bound else None
        if text == "insert_instant <= ?":
            return lambda t, lo, hi: None if lo is None or hi is None else \
                True if hi <= bound else False if lo > bound else None
    return None


def _decisions(q: MessageQuery) -> list[Decide] | None:
    out, i = [], 0
    for text in q.where:
        n = text.count("?")
        decide = _fragment(text, q.params[i:i + n])
        if decide is None:
            return None
        out.append(decide)
        i += n
    return out if i == len(q.params) else None


def counter(q: MessageQuery, cycle: int, fetch: Fetch, *, above: int | None,
            upto: int | None, cache: BlockCounts | None = None) -> Callable[[], int] | None:
    """The count of the matches of ``q`` in the cycle's rows with ids in (above, upto]
    (None: no bound), from the blocks (their counts kept in ``cache``) and SQL for the
    rest; None when the blocks cannot serve ``q`` (count it by SQL)."""
    rx = matcher(q)
    decisions = _decisions(q)
    if rx is None or decisions is None or q.kind not in COUNTED_KINDS:
        return None
    return lambda: _count(q, cycle, fetch, rx, decisions, above, upto, cache)


_MARK = (f"SELECT s.mark FROM {SCHEMA}.lc_blocks_state s JOIN lc_cycles c ON "
         "c.cycle = s.cycle AND c.week = s.week WHERE s.kind = ? AND s.cycle = ?")


def _count(q: MessageQuery, cycle: int, fetch: Fetch, rx: bytes, decisions: list[Decide],
           above: int | None, upto: int | None, cache: BlockCounts | None) -> int:
    _, marks = fetch(_MARK, (q.kind, cycle))
    mark = int(marks[0][0]) if marks else 0
    top = mark if upto is None else min(mark, upto)
    key = (rx, q.kind, cycle)
    kept = cache.get(key) if cache is not None and CACHE_ENTRIES > 0 else {}
    total, pos = 0, above  # the blocks used count every row in (above, pos]
    gaps: list[tuple[int | None, int | None]] = []  # stretches left to SQL
    todo: list[tuple[int, tuple[Any, ...]]] = []  # (rowid, key) of the parts to read
    for lo, hi, parts in _blocks(q, cycle, fetch, above, top):
        if q.below_id is not None and not hi < q.below_id:
            continue  # (id < below_id) undecided or false for the block: SQL counts it
        told = [[d(t, t_min, t_max) for d in decisions] for _, t, t_min, t_max, _ in parts]
        if any(None in row for row in told):
            continue  # left to the SQL count of the stretch it falls in
        if lo - 1 != pos:
            gaps.append((pos, lo - 1))
        for (rowid, t, _, _, size), row in zip(parts, told, strict=True):
            if all(row):
                part = (lo, hi, t, size)
                if (n := kept.get(part)) is None:
                    todo.append((rowid, part))
                else:
                    total += n
        pos = hi
    gaps.append((pos, upto))
    if len(gaps) > MAX_RANGES:
        return _sql_count(q, cycle, fetch, above, upto)
    counted = _read_counts(q, cycle, fetch, re.compile(rx), needle(q), todo)
    if cache is not None and CACHE_ENTRIES > 0:
        cache.put(key, counted)
    return total + sum(counted.values()) + sum(_sql_count(q, cycle, fetch, a, b)
                                               for a, b in gaps)


def _blocks(q: MessageQuery, cycle: int, fetch: Fetch, above: int | None, top: int) -> \
        Iterator[tuple[int, int, list[Part]]]:
    """(lo, hi, parts) of the blocks wholly in (above, top], in id order; a part is
    (rowid, type, least and greatest insert instant, size of its text). Without the text:
    SQLite's length() of a BLOB does not read it."""
    sql = (f"SELECT rowid, lo, hi, type, t_min, t_max, length(body) FROM "
           f"{SCHEMA}.{block_table(q.kind, cycle)} WHERE rowid > ? AND lo > ? AND hi <= ? "
           "ORDER BY rowid LIMIT ?")
    after, current = 0, None
    parts: list[Part] = []
    low = -1 if above is None else above
    while True:
        _, rows = fetch(sql, (after, low, top, META_BLOCKS))
        for rowid, lo, hi, t, t_min, t_max, size in rows:
            if current is not None and current != (lo, hi):
                yield current[0], current[1], parts
                parts = []
            current = (int(lo), int(hi))
            parts.append((int(rowid), t, t_min, t_max, int(size)))
            after = rowid
        if len(rows) < META_BLOCKS:
            break
    if current is not None:
        yield current[0], current[1], parts


def _read_counts(q: MessageQuery, cycle: int, fetch: Fetch, rx: re.Pattern[bytes],
                 text: bytes | None, todo: list[tuple[int, tuple[Any, ...]]]) \
        -> dict[tuple[Any, ...], int]:
    """The matches of ``rx`` in each part of ``todo``: from the part's terms where they
    tell (``text``: the pattern's ``needle``), else from its text, read a few dozen
    parts at a time (a million rows are ~100 MB of text): memory stays bounded."""
    counted: dict[tuple[Any, ...], int] = {}
    table = f"{SCHEMA}.{block_table(q.kind, cycle)}"
    if text is not None:
        rest = []
        for i in range(0, len(todo), FETCH_TERMS):
            chunk = dict(todo[i:i + FETCH_TERMS])
            _, rows = fetch(f"SELECT rowid, terms FROM {table} WHERE rowid IN "
                            f"({schema.SQLITE.params(len(chunk))})", list(chunk))
            for rowid, terms in rows:
                n = None if terms is None else count_terms(terms, text)
                if n is None:
                    rest.append((int(rowid), chunk[int(rowid)]))
                else:
                    counted[chunk[int(rowid)]] = n
        todo = rest
    for i in range(0, len(todo), FETCH_BLOCKS):
        chunk = dict(todo[i:i + FETCH_BLOCKS])
        _, rows = fetch(f"SELECT rowid, body FROM {table} "
                        f"WHERE rowid IN ({schema.SQLITE.params(len(chunk))})", list(chunk))
        for rowid, body in rows:
            counted[chunk[int(rowid)]] = count_in(rx, body)
    return counted


def _sql_count(q: MessageQuery, cycle: int, fetch: Fetch, above: int | None,
               upto: int | None) -> int:
    """Matches in (above, upto] counted by SQL over the main table."""
    if above is not None and upto is not None and upto <= above:
        return 0
    clauses, params = base_conditions(q, "?")
    assert q.pattern is not None
    clauses.append("message LIKE ? ESCAPE '\\'")
    params.append(q.pattern.like)
    if above is not None:
        clauses.append("id > ?")
        params.append(above)
    if upto is not None:
        clauses.append("id <= ?")
        params.append(upto)
    _, rows = fetch(f"SELECT count(*) FROM {schema.table(q.kind, cycle)} WHERE "
                    + " AND ".join(clauses), params)
    return int(rows[0][0])
