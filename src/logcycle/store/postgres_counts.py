"""A first broad total of a word on PostgreSQL, from each block part's *terms*.

A broad search's exact total read every row's ``ILIKE`` (~0.2 µs a row at best, a
million rows ~170 ms quiet against ``grep -F -c``'s 39). So, behind the message index
(store/postgres_search.py), the indexer keeps ``lc_terms_general_<cycle>``: for each run
of ``BLOCK_ROWS`` consecutive rows up to the message index's watermark, one row per
``message_type`` among them (a *part*) with the range of ids and of insert instants and
the part's words (``lower(message)`` split on spaces, as the message index's blocks
split them) with the number of its messages that hold each:

- ``common``: the words two or more messages hold, each ``\\x01 word c1 c2 c3`` (the
  count in three characters from U+0002 to U+001F, base 30), and a last ``\\x01``;
- ``single``: the words one message holds, each after a ``\\x01`` (ids, numbers: most of
  the bytes), and a last ``\\x01``;
- ``chars``: a bit per ASCII letter and digit that ``single`` holds.

A needle made of printable ASCII characters but the space (``needle``) lies inside one
word of a lowered message wherever it occurs, so the messages of a part that hold it are
those holding a word that holds it: none of its words (0), one word of ``common`` that
holds it once (that word's count), one word of ``single`` (1), else (two words, a message
may hold both) the part is counted by its rows. ``single`` is
searched only when ``chars`` holds every letter and digit of the needle. Built in SQL,
in the server (no GIL): per message its distinct words (``array_to_tsvector`` dedups in
C; a message of 2 kB or more, whose words may pass a lexeme's 2,047 bytes, by a
``DISTINCT``), then per part one ``GROUP BY`` of the words.

Exact at any lag: only rows up to the message index's watermark (all committed) go into
parts, a block is all its parts or none (one statement), and every row the parts used do
not decide (above the terms' watermark, in a block a time range cuts through, a keyset
bound inside a block, a part whose count is not told) is counted by SQL over the rows.
Rows never change and a cycle is emptied whole (``TRUNCATE``, with its terms).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from logcycle.cycles import CYCLES
from logcycle.store import schema
from logcycle.store.search import MessageQuery

COUNTED_KINDS: tuple[str, ...] = ("general",)  # only the Event Log API asks for totals
BLOCK_ROWS = 1024  # rows of a block at most (a count is at most 1,024 < 30 ** 3)
BLOCK_CHARS = 1 << 20  # characters of messages in a block at most (one message may pass it)
STEP_ROWS = 50_000  # rows put in parts per statement
MAX_RANGES = 16  # more stretches left to SQL than this: the whole range counted by SQL
SHORT = 2048  # octet_length of a message below which no word passes a lexeme's 2,047 bytes
Fetch = Callable[[str, Sequence[Any]], tuple[list[str], list[tuple[Any, ...]]]]
_ALNUM = string.ascii_lowercase + string.digits  # the bits of ``chars``, in this order


def terms_table(kind: str, cycle: int) -> str:
    """``lc_terms_general_3`` for ``oslog_general_3``."""
    schema.table(kind, cycle)  # validates both
    if kind not in COUNTED_KINDS:
        raise ValueError(f"kind {kind!r} has no terms")
    return f"lc_terms_{kind}_{cycle}"


def mark_name(kind: str) -> str:
    """The terms' watermark in ``lc_index_state`` (``search_``: reset with the message
    index's, schema upgrade)."""
    return f"search_terms_{kind}"


def ddl(lz4: bool) -> list[str]:
    """The terms' tables; idempotent. ``common`` is kept in the row (``STORAGE MAIN``),
    ``single`` out of line (it is read only when ``chars`` says it may hold the needle):
    a million rows' parts are then 1 MB of heap and counted in ~8 ms, against 21-28 ms
    with both in the row (24 MB). Compressed with lz4 where the server has it."""
    out = []
    compression = " COMPRESSION lz4" if lz4 else ""
    for kind in COUNTED_KINDS:
        for c in range(CYCLES):
            t = terms_table(kind, c)
            out.append(f"CREATE TABLE IF NOT EXISTS {t} (lo BIGINT NOT NULL, hi BIGINT NOT "
                       "NULL, type TEXT, t_min BIGINT, t_max BIGINT, chars BIGINT NOT NULL, "
                       f"common TEXT{compression}, single TEXT{compression} NOT NULL)")
            out.append("DO $$ BEGIN IF (SELECT attstorage FROM pg_attribute WHERE attrelid = "
                       f"'{t}'::regclass AND attname = 'common') <> 'm' THEN ALTER TABLE {t} "
                       "ALTER COLUMN common SET STORAGE MAIN; END IF; END $$")
            out.append(f"CREATE INDEX IF NOT EXISTS {t}_lo ON {t} (lo)")
    return out


def has_lz4(conn: Any) -> bool:
    row = conn.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                       "WHERE name = 'default_toast_compression'").fetchone()
    return row is not None and bool(row[0])


def empty_cycle_sql(cycle: int) -> str:
    """TRUNCATE of a cycle's terms (in the transaction that empties the cycle)."""
    return f"TRUNCATE {', '.join(terms_table(k, cycle) for k in COUNTED_KINDS)}"


# -- building (the indexer's connection, after the message index's step) -----------------
def _words() -> str:
    """A message's distinct lowered words, joined by spaces."""
    return (f"CASE WHEN octet_length(message) < {SHORT} THEN array_to_string("
            "tsvector_to_array(array_to_tsvector(array_remove(string_to_array(lower(message), "
            "' '), ''))), ' ') ELSE (SELECT string_agg(DISTINCT w, ' ') FROM unnest("
            "string_to_array(lower(message), ' ')) w WHERE w <> '') END")
_CHARS = " | ".join(f"(CASE WHEN strpos(p.single, '{ch}') > 0 THEN {1 << i} ELSE 0 END)"
                    for i, ch in enumerate(_ALNUM))
# Whole blocks of the rows in (terms' mark, message index's mark], up to %(rows)s rows:
# numbered (a block ends after BLOCK_ROWS rows or when its messages pass BLOCK_CHARS, as
# the message index's do; the last one, which more rows may still fill, waits), each
# (block, type) a part, its words counted, the watermark moved. The mark
# is never below the last part's hi: a watermark reset without the parts (by whoever
# rewrites ids, who empties the cycle too) cannot count a block twice.
def _step_sql(kind: str, cycle: int) -> str:
    terms, table = terms_table(kind, cycle), schema.table(kind, cycle)
    return (
        "WITH mark AS (SELECT GREATEST(COALESCE((SELECT watermark FROM lc_index_state "
        "WHERE name = %(name)s AND cycle = %(cycle)s), 0), COALESCE((SELECT hi FROM "
        f"{terms} ORDER BY lo DESC LIMIT 1), 0)) AS m), "
        "step AS (SELECT id, message_type, insert_instant, message FROM "
        f"{table} WHERE id > (SELECT m FROM mark) AND id <= COALESCE((SELECT watermark FROM "
        "lc_index_state WHERE name = %(search)s AND cycle = %(cycle)s), 0) ORDER BY id "
        "LIMIT %(rows)s), "
        f"numbered AS (SELECT *, (row_number() OVER w - 1) / {BLOCK_ROWS} + sum(length("
        f"message)) OVER w / {BLOCK_CHARS} AS block FROM step WINDOW w AS (ORDER BY id ROWS "
        "UNBOUNDED PRECEDING)), "
        "whole AS (SELECT * FROM numbered WHERE block < (SELECT max(block) FROM numbered)), "
        "span AS (SELECT block, min(id) AS lo, max(id) AS hi FROM whole GROUP BY block), "
        "parts AS (SELECT block, message_type AS type, min(insert_instant) AS t_min, "
        f"max(insert_instant) AS t_max, string_agg({_words()}, ' ') AS words FROM whole "
        "GROUP BY block, message_type), "
        "counted AS (SELECT p.block, p.type, p.t_min, p.t_max, CASE WHEN a.odd THEN NULL "
        "ELSE a.common END AS common, a.single FROM parts p CROSS JOIN LATERAL (SELECT "
        "chr(1) || COALESCE(string_agg(w || chr(2 + n / 900) || chr(2 + mod(n / 30, 30)) "
        "|| chr(2 + mod(n, 30)), chr(1)) FILTER (WHERE n > 1), '') "
        "|| chr(1) AS common, bool_or(w ~ '[\\x01-\\x1f]') FILTER (WHERE n > 1) AS odd, "
        "chr(1) || COALESCE(string_agg(w, chr(1)) FILTER (WHERE n = 1), '') || chr(1) AS "
        "single FROM (SELECT w, count(*)::int AS n FROM unnest("
        "string_to_array(p.words, ' ')) w WHERE w <> '' GROUP BY w) g) a), "
        f"moved AS (INSERT INTO {terms} (lo, hi, type, t_min, t_max, chars, common, single) "
        f"SELECT s.lo, s.hi, p.type, p.t_min, p.t_max, {_CHARS}, p.common, p.single "
        "FROM counted p JOIN span s ON s.block = p.block RETURNING hi), "
        "marked AS (INSERT INTO lc_index_state (name, cycle, watermark) SELECT %(name)s, "
        "%(cycle)s, max(hi) FROM moved HAVING count(*) > 0 ON CONFLICT (name, cycle) "
        "DO UPDATE SET watermark = excluded.watermark) "
        "SELECT count(*) FROM whole")


def build(conn: Any, max_rows: int) -> int:
    """Put up to about ``max_rows`` rows of the message index's (whole blocks of
    ``BLOCK_ROWS``) into parts, newest week first; the number put."""
    done = 0
    order = conn.execute("SELECT cycle FROM lc_cycles WHERE week IS NOT NULL "
                         "ORDER BY week DESC").fetchall()
    for kind in COUNTED_KINDS:
        for (cycle,) in order:
            while done < max_rows:
                (n,) = conn.execute(_step_sql(kind, int(cycle)), {
                    "name": mark_name(kind), "search": f"search_{kind}", "cycle": int(cycle),
                    "rows": min(STEP_ROWS, max_rows - done + BLOCK_ROWS)}).fetchone()
                done += int(n)
                if n == 0:
                    break
    return done


# -- counting (read threads, inside the search's read snapshot) ---------------------------
def needle(q: MessageQuery, fold: bool) -> str | None:
    """The lowered literal of a ``%text%`` pattern made of printable ASCII characters but
    the space, when the database lowers ASCII as "C" does (``fold``: the premise of
    postgres_search.match): each occurrence in a lowered message then lies inside one
    word. None for any other pattern."""
    if not fold or q.pattern is None:
        return None
    like = q.pattern.like
    if len(like) < 3 or like[0] != "%" or like[-1] != "%":
        return None
    text, i, body = [], 1, like[1:-1]
    while i <= len(body):
        ch = body[i - 1]
        if ch == "\\":
            if i == len(body):
                return None
            ch = body[i]
            i += 1
        elif ch in "%_":
            return None
        text.append(ch)
        i += 1
    word = "".join(text)
    if not word or not all("!" <= ch <= "~" for ch in word):
        return None
    return word.lower()


def mask(word: str) -> int:
    """The bits of ``chars`` a part's ``single`` must all have to hold ``word``."""
    return sum(1 << i for i, ch in enumerate(_ALNUM) if ch in word)


Decide = Callable[[str | None, int | None, int | None], bool | None]


def _fragment(text: str, params: Sequence[Any]) -> Decide | None:
    """What a condition of the Event Log API says of a part (its message type, least and
    greatest insert instant): True or False for all of its rows, None when it cannot
    tell. None for a condition it does not know (the range is counted by SQL)."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    types = (f"message_type IN ({schema.POSTGRES.params(len(params))})",
             "message_type = %s" if len(params) == 1 else "")
    if params and text in types and all(isinstance(v, str) for v in params):
        values = set(params)
        return lambda t, lo, hi: t is not None and t in values
    if len(params) == 1 and type(params[0]) is int:
        bound = params[0]
        if text == "insert_instant >= %s":
            return lambda t, lo, hi: None if lo is None or hi is None else \
                True if lo >= bound else False if hi < bound else None
        if text == "insert_instant <= %s":
            return lambda t, lo, hi: None if lo is None or hi is None else \
                True if hi <= bound else False if lo > bound else None
    return None


def decisions(q: MessageQuery) -> list[Decide] | None:
    """One ``Decide`` per condition of ``q``; None when one is not known."""
    out, i = [], 0
    for text in q.where:
        n = text.count("%s")
        decide = _fragment(text, q.params[i:i + n])
        if decide is None:
            return None
        out.append(decide)
        i += n
    return out if i == len(q.params) else None


# Per part of the blocks wholly in (above, top]: its bounds and the messages of it that
# hold the needle, NULL when its terms do not tell: the needle's occurrences in
# ``common`` (c) and in ``single`` (s, searched only when ``chars`` allows it).
_PARTS = ("SELECT lo, hi, type, t_min, t_max, CASE WHEN common IS NULL THEN NULL "
          "WHEN o.c = 0 AND o.s = 0 THEN 0 WHEN o.c = 0 AND o.s = 1 THEN 1 "
          "WHEN o.c = 1 AND o.s = 0 THEN (SELECT (ascii(substr(r, 1, 1)) - 2) * 900 "
          "+ (ascii(substr(r, 2, 1)) - 2) * 30 + ascii(substr(r, 3, 1)) - 2 FROM (SELECT "
          "right(split_part(split_part(common, %s, 2), chr(1), 1), 3) AS r) x) END "
          "FROM {terms} CROSS JOIN LATERAL (SELECT (octet_length(common) - octet_length("
          "replace(common, %s, ''))) / %s AS c, CASE WHEN chars & %s = %s THEN (octet_length("
          "single) - octet_length(replace(single, %s, ''))) / %s ELSE 0 END AS s) o "
          "WHERE lo > %s AND hi <= %s ORDER BY lo")
Part = tuple[str | None, int | None, int | None, int | None]  # type, t_min, t_max, count


def count(q: MessageQuery, cycle: int, fetch: Fetch, word: str, decide: list[Decide],
          sql_count: Callable[[int | None, int], int], above: int | None, upto: int,
          least: int = 0) -> int:
    """The matches of ``q`` (whose ``needle`` is ``word``, conditions ``decide``) with ids
    in (above, upto]: from the parts wholly in it whose rows every condition decides,
    the rest by ``sql_count(above, upto)``. ``least``: the cycle's least id in this
    snapshot; parts below it are not used (a cycle emptied without its terms, behind the
    store's back: ids only grow, so its new rows are all above the old parts)."""
    _, marks = fetch("SELECT watermark FROM lc_index_state WHERE name = %s AND cycle = %s",
                     (mark_name(q.kind), cycle))
    top = min(int(marks[0][0]) if marks else 0, upto)
    low = max(-1 if above is None else above, least - 1)
    if top <= low:
        return sql_count(above, upto)
    bits = mask(word)
    _, rows = fetch(_PARTS.format(terms=terms_table(q.kind, cycle)),
                    (word, word, len(word), bits, bits, word, len(word), low, top))
    total, pos = 0, low  # the blocks used decide every row in (low, pos]
    gaps: list[tuple[int, int]] = []
    for lo, hi, parts in _blocks(rows):
        n = _block_count(q, hi, parts, decide)
        if n is None:
            continue  # left to the SQL count of the stretch it falls in
        if lo - 1 > pos:
            gaps.append((pos, lo - 1))
        total += n
        pos = hi
    gaps.append((pos, upto))
    if len(gaps) > MAX_RANGES:
        return sql_count(above, upto)
    return total + sum(sql_count(a, b) for a, b in gaps if b > a)


def _block_count(q: MessageQuery, hi: int, parts: list[Part],
                 decide: list[Decide]) -> int | None:
    if q.below_id is not None and not hi < q.below_id:
        return None  # id < below_id undecided or false for the block: SQL counts it
    n = 0
    for t, t_min, t_max, got in parts:
        told = [d(t, t_min, t_max) for d in decide]
        if None in told:
            return None
        if all(told):
            if got is None:
                return None
            n += int(got)
    return n


def _blocks(rows: list[tuple[Any, ...]]) -> Iterator[tuple[int, int, list[Part]]]:
    current: tuple[int, int] | None = None
    parts: list[Part] = []
    for lo, hi, t, t_min, t_max, n in rows:
        if current is not None and current != (lo, hi):
            yield current[0], current[1], parts
            parts = []
        current = (int(lo), int(hi))
        parts.append((t, t_min, t_max, n))
    if current is not None:
        yield current[0], current[1], parts
