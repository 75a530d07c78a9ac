"""The PostgreSQL message index: per cycle a side table of *blocks* under a pg_trgm GIN
index, filled *behind* the writer, as :mod:`logcycle.store.sqlite_search` does for SQLite.

A GIN trigram index on the log tables themselves would put every row's trigrams into the
index inside the write transaction: measured here, COPY falls from ~330,000 to ~37,000
rows/s (``bench/ingest.py --store postgresql://…``). So ingest writes only the log tables;
a thread of the store with a connection of its own (``PostgresStore._search_loop``)
indexes the new rows in steps (``build``) and records the highest id indexed (the
*watermark*) in ``lc_index_state``, in the same transaction. Commits are visible in id
order (tickets, store/postgres.py), so the rows it sees above the watermark are always a
prefix of what will be committed.

One side row per *block* of up to ``BLOCK_ROWS`` consecutive rows of a cycle table (fewer
when their messages pass ``BLOCK_CHARS``, or at the end of a step), not one per event:
``lc_search_<kind>_<cycle> (lo, hi, body)``, where ``body`` is the block's distinct
words, lowered, split on spaces (``lower(message)`` split on ``' '``). GIN's cost is per
(row, distinct trigram) and neighbouring log lines share most of their words: measured in
isolation (bench/pg_search_index.py) the block table absorbs 4.5-5.8x the rows/s of a
side row per event, at a tenth of the size. Where it loses: words of high entropy (hex
ids, numbers) put most of their trigrams in every block, so a search for one id checks
many blocks (docs/benchmarks.md). The words are a *candidate filter* only:

- every space-free run of a lowered message is inside one of its words, so a block whose
  body does not contain ``lower(run)`` for a run of the pattern's literals holds no row
  that matches (``ILIKE`` on a UTF-8 database is ``lower(m) LIKE lower(p)``, and
  ``lower`` maps each character on its own with the libc provider; an ICU default
  collation does not promise that, and the store then scans: ``usable``);
- the exact ``ILIKE`` is always checked on the log rows of the candidate blocks, read by
  id range, so ``*`` never matches across messages and the answer is exact.

A search of a cycle reads its arms in one snapshot: the candidate blocks (``id <=
watermark``), chunked so that a page stops reading as soon as it is full, and the tail
above the watermark, scanned. The candidates and watermarks of all cycles come from one
statement through the GIN bitmap (``lc_message_blocks``); the row arms check a cheap
case-sensitive ``LIKE`` of the pattern's ASCII non-letters, letters between them as
``_``, before the ``ILIKE`` (``prefilter``). Rotation empties the side table with its
cycle's tables.

Where the database's collation lowers ASCII as "C" does, an all-ASCII pattern is matched
on all-ASCII messages under the "C" collation, ~3 times cheaper and the same answer
(``match``); a cycle read whole keeps its total up to the watermark between searches
(``KeptTotals``), so a repeated broad total counts only the rows indexed since, and a
first total of a ``%word%`` pattern counts those rows from the block parts' terms
(store/postgres_counts.py) where they tell.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from logcycle.cycles import CYCLES
from logcycle.kinds import MESSAGE_KINDS
from logcycle.store import postgres_counts, schema
from logcycle.store.search import (
    Arm,
    MessageQuery,
    base_conditions,
    build_newest_first,
    escape_like,
    scan_arm,
)

INDEXED_KINDS: tuple[str, ...] = MESSAGE_KINDS
BLOCK_ROWS = 1024  # rows of a block at most (a candidate block costs their ILIKE)
BLOCK_CHARS = 1 << 20  # characters of messages in a block at most
CHUNKS = (1, 4, 16, 64)  # candidate blocks per arm, newest (or oldest) first, then 64 each
DENSE_SHARE = 0.5  # candidate share of a cycle's blocks from which it is read by id
MAX_ID = 2**63 - 1
# kB of GIN's pending list of a side index (the server's default: 4 MB). Every lookup
# reads the whole pending list: under a stream the default held all of a minute's
# blocks, 0.5-1 ms a lookup for 3,300 of them quiet (0.1 ms merged); the indexer
# merges a smaller list more often, in its own backend.
PENDING_KB = 256
KEPT_TOTALS = 1024  # totals kept per store (KeptTotals); 0: none kept
TERMS = True  # count a %word% total from the blocks' terms (False: by the rows, before)
Fetch = Callable[[str, Sequence[Any]], tuple[list[str], list[tuple[Any, ...]]]]


def side_table(kind: str, cycle: int) -> str:
    """``lc_search_general_3`` for ``oslog_general_3``."""
    schema.table(kind, cycle)  # validates both
    if kind not in INDEXED_KINDS:
        raise ValueError(f"kind {kind!r} has no search index")
    return f"lc_search_{kind}_{cycle}"


def ddl(opclass: str) -> list[str]:
    """The side tables and their GIN indexes (``opclass``: the qualified gin_trgm_ops)."""
    out = []
    for kind in INDEXED_KINDS:
        for c in range(CYCLES):
            t = side_table(kind, c)
            out.append(f"CREATE TABLE IF NOT EXISTS {t} (lo BIGINT PRIMARY KEY, "
                       "hi BIGINT NOT NULL, body TEXT NOT NULL)")
            # Stored out of line uncompressed: every candidate block's body is read by a
            # LIKE, and not having to decompress it (pglz) made a scan of them 1.6x faster
            # (34 against 52-58 ms for 530 bodies of 22 KB). Altered once, not each open.
            out.append("DO $$ BEGIN IF (SELECT attstorage FROM pg_attribute WHERE attrelid = "
                       f"'{t}'::regclass AND attname = 'body') <> 'e' THEN ALTER TABLE {t} "
                       "ALTER COLUMN body SET STORAGE EXTERNAL; END IF; END $$")
            out.append(f"CREATE INDEX IF NOT EXISTS {t}_body ON {t} USING gin (body {opclass}) "
                       f"WITH (gin_pending_list_limit = {PENDING_KB})")
            # Set on indexes made before it too, once (not an ALTER at each open).
            out.append("DO $$ BEGIN IF NOT COALESCE((SELECT reloptions FROM pg_class WHERE oid "
                       f"= '{t}_body'::regclass), '{{}}') @> ARRAY['gin_pending_list_limit="
                       f"{PENDING_KB}'] THEN ALTER INDEX {t}_body SET (gin_pending_list_limit "
                       f"= {PENDING_KB}); END IF; END $$")
    return [*out, _BLOCKS_FN]


# The candidate blocks of every cycle of a search and their watermarks in one round trip,
# read through the GIN index. Left to itself the planner seq-scans the few hundred block
# rows (it prices the trigram bitmap at ~100 times a scan of them) and checks every body
# by LIKE: 13 against 6 ms for a hex id over 530 blocks. The settings hold inside this
# function only (its SET clauses), not in the rest of the search's transaction, whose
# tail and newest-first pages want their index scans. Per cycle a row (cycle, watermark,
# NULL, NULL, blocks of the cycle), then one per candidate block (..., lo, hi, ...).
_BLOCKS_FN = (
    "CREATE OR REPLACE FUNCTION lc_message_blocks(kind text, cycles int[], key text) "
    "RETURNS TABLE (cycle int, mark bigint, lo bigint, hi bigint, blocks bigint) "
    "LANGUAGE plpgsql STABLE SET enable_seqscan = off SET enable_indexscan = off "
    "AS $fn$ DECLARE c int; side text; BEGIN "
    "FOREACH c IN ARRAY cycles LOOP "
    "side := format('lc_search_%s_%s', kind, c); "
    "SELECT COALESCE(max(s.watermark), 0) INTO mark FROM lc_index_state s "
    "WHERE s.name = 'search_' || kind AND s.cycle = c; "
    "EXECUTE format('SELECT count(*) FROM %I', side) INTO blocks; "
    "cycle := c; lo := NULL; hi := NULL; RETURN NEXT; "
    "IF mark > 0 THEN RETURN QUERY EXECUTE format('SELECT $1, $2, lo, hi, $3 FROM %I "
    "WHERE body LIKE lower($4) ESCAPE ''\\''', side) USING c, mark, blocks, key; END IF; "
    "END LOOP; END $fn$")


def drop_old_sql() -> str:
    """Schema version 4's side tables (a row per event): dropped on upgrade, and with them
    their watermarks (``DELETE FROM lc_index_state WHERE name LIKE 'search_%'``)."""
    return "DROP TABLE IF EXISTS " + ", ".join(
        side_table(k, c) for k in INDEXED_KINDS for c in range(CYCLES))


def usable(conn: Any) -> bool:
    """True when ``lower`` maps each character on its own, the candidate filter's premise
    (module doc): a UTF-8 database whose default collation is not ICU's."""
    if str(conn.execute("SHOW server_encoding").fetchone()[0]).upper() != "UTF8":
        return False
    if conn.info.server_version < 150000:  # no ICU default collation before 15
        return True
    row = conn.execute("SELECT datlocprovider FROM pg_database "
                       "WHERE datname = current_database()").fetchone()
    return row is None or str(row[0]) != "i"


# Default collations whose lower() folds the 26 ASCII capitals to their small letters and
# leaves every other ASCII character as it is: what the "C" collation's lower() does.
_ASCII_CTYPES = {"c", "posix", "c.utf8", "c.utf-8"}


def ascii_fold(conn: Any) -> bool:
    """True when an all-ASCII message and an all-ASCII pattern give ``ILIKE`` the same
    answer under the "C" collation as under the database's default (``match``): a UTF-8
    database whose default collation is libc's C (or POSIX, C.UTF-8)."""
    if not usable(conn):
        return False
    row = conn.execute("SELECT datctype FROM pg_database "
                       "WHERE datname = current_database()").fetchone()
    return row is not None and str(row[0]).lower() in _ASCII_CTYPES


def empty_cycle_sql(cycle: int) -> str:
    """TRUNCATE of a cycle's side tables (in the transaction that empties the cycle). The
    watermark stays: ids only grow, so every row written later is above it."""
    return f"TRUNCATE {', '.join(side_table(k, cycle) for k in INDEXED_KINDS)}"


# -- the indexer (its own thread and connection) ----------------------------------------------
def build(conn: Any, max_rows: int) -> int:
    """Index up to ``max_rows`` rows, newest week first; the number indexed."""
    return build_newest_first(conn, INDEXED_KINDS, max_rows, _index_cycle)


def analyze_newest(conn: Any, indexed: int) -> bool:
    """Refresh the planner's statistics of the newest week's indexed tables once the rows
    indexed since the last refresh (``indexed``) reach the rows they held then: the first
    time after ANALYZE_AFTER_ROWS (store/postgres.py), then at each doubling. Autovacuum
    does it too, but only after a tenth of a table changed: a week's table that just
    filled has none, and the planner then scans where it should read by id. Not every
    50,000 rows: under a stream of 20,000 events/s that was two thirds of the indexer's
    time (sampled in pg_stat_activity), and the tail every search scans grew with it.
    True when it ran."""
    row = conn.execute("SELECT cycle FROM lc_cycles WHERE week IS NOT NULL "
                       "ORDER BY week DESC LIMIT 1").fetchone()
    if row is None:
        return False
    c = int(row[0])
    tables = [t for k in INDEXED_KINDS for t in (schema.table(k, c), side_table(k, c))]
    held = conn.execute("SELECT COALESCE(sum(GREATEST(reltuples, 0)), 0) FROM pg_class "
                        "WHERE oid = ANY(%s::regclass[])", (tables,)).fetchone()[0]
    if indexed < float(held):
        return False
    conn.execute("ANALYZE " + ", ".join(tables))
    return True


# One statement a (kind, cycle), one round trip: the rows above the watermark, numbered
# into blocks (a block ends after BLOCK_ROWS rows or when its messages pass BLOCK_CHARS:
# both running counts only grow, so their sum numbers contiguous blocks), each block's
# distinct lowered words inserted, the watermark moved to the last row indexed.
_STEP = ("WITH step AS (SELECT id, message FROM {table} WHERE id > COALESCE((SELECT "
         "watermark FROM lc_index_state WHERE name = %(name)s AND cycle = %(cycle)s), 0) "
         "ORDER BY id LIMIT %(rows)s), "
         "numbered AS (SELECT id, message, (row_number() OVER w - 1) / {block_rows} "
         "+ sum(length(message)) OVER w / {block_chars} AS block FROM step "
         "WINDOW w AS (ORDER BY id ROWS UNBOUNDED PRECEDING)), "
         "moved AS (INSERT INTO {side} (lo, hi, body) SELECT min(id), max(id), "
         "array_to_string(ARRAY(SELECT DISTINCT unnest(string_to_array("
         "string_agg(lower(message), ' '), ' '))), ' ') FROM numbered GROUP BY block "
         "RETURNING hi), "
         "marked AS (INSERT INTO lc_index_state (name, cycle, watermark) SELECT %(name)s, "
         "%(cycle)s, max(hi) FROM moved HAVING count(*) > 0 ON CONFLICT (name, cycle) "
         "DO UPDATE SET watermark = excluded.watermark) "
         "SELECT count(*) FROM step")


def _index_cycle(conn: Any, kind: str, cycle: int, rows: int) -> int:
    sql = _STEP.format(table=schema.table(kind, cycle), side=side_table(kind, cycle),
                       block_rows=BLOCK_ROWS, block_chars=BLOCK_CHARS)
    (n,) = conn.execute(sql, {"name": f"search_{kind}", "cycle": cycle, "rows": rows}).fetchone()
    return int(n)


# -- searching (read threads, inside one read snapshot) -------------------------------------
MIN_CASELESS = 3  # ASCII non-letters other than spaces a prefilter needs, else None


def _caseless(ch: str) -> bool:
    return ch.isascii() and not ch.isalpha()


def prefilter(literals: Sequence[str]) -> str | None:
    """A case-sensitive ``LIKE`` pattern every row that matches the search holds, cheaper
    than its ``ILIKE`` (~0.1 against ~1-2 µs a row, most of it ``lower``): of the literal
    with the most ASCII characters that are not letters (digits, punctuation), the span
    from its first to its last such character, each letter (or non-ASCII character) in
    it a ``_``: ``ndl0a3fb9c1e2`` gives ``%0_3__9_1_2%``. None without a literal of
    ``MIN_CASELESS`` of them (not counting spaces: words apart by spaces are everywhere).
    Exact under the premise of the candidate filter (``lower`` maps each character on
    its own to one character, module doc): no character lowers to an ASCII non-letter
    but that character itself, so a row whose ``lower(message)`` holds the literal holds
    these characters as they are, as many characters apart. Ids, numbers and addresses,
    the needles of most selective searches, have them; a search of words has none."""
    best: tuple[int, str] | None = None
    for lit in literals:
        marks = [i for i, ch in enumerate(lit) if _caseless(ch)]
        weight = sum(lit[i] != " " for i in marks)
        if weight >= MIN_CASELESS and (best is None or weight > best[0]):
            span = lit[marks[0]:marks[-1] + 1]
            best = (weight, "".join(escape_like(ch) if _caseless(ch) else "_" for ch in span))
    return None if best is None else f"%{best[1]}%"


# ILIKE on a UTF-8 database lowers both sides through wide characters (~0.9 µs a row of
# the benchmark's messages); under the "C" collation it lowers bytes (~0.25 µs). Exact for
# all-ASCII messages only (a non-ASCII character may lower to an ASCII letter: KELVIN SIGN
# to k), which octet_length = length tells (~0.2 µs a row). An OR of two ANDs, not a CASE:
# the planner prices each ILIKE by its pattern, but a CASE at a default share of the
# rows, and with the CASE a user id's search in bench/search.py took 120 ms instead of 30
# once the statements repeated (the plan it chose was not traced).
# No ESCAPE clause: backslash is PostgreSQL's default, and ``ESCAPE '\\'`` with a bound
# pattern is a call of like_escape() per row once psycopg has prepared the statement and
# PostgreSQL took the generic plan (6.2 against 2.3 ms for an 11,500-row tail).
_ILIKE = "message ILIKE %s"
_ILIKE_ASCII = ("((message ILIKE %s COLLATE \"C\" AND octet_length(message) = "
                "length(message)) OR (octet_length(message) <> length(message) AND message "
                "ILIKE %s))")


def match(q: MessageQuery, fold: bool) -> tuple[str, tuple[str, ...]]:
    """The condition that a row's message matches ``q``'s pattern, and its values:
    ``ILIKE`` as the database folds case, through the "C" collation for all-ASCII
    messages when ``fold`` (``ascii_fold``) and the pattern is all ASCII."""
    assert q.pattern is not None
    like = q.pattern.like
    return (_ILIKE_ASCII, (like, like)) if fold and like.isascii() else (_ILIKE, (like,))


def _scan(q: MessageQuery, cycle: int, fold: bool, above_id: int | None = None) -> Arm:
    """``scan_arm`` of ``ILIKE`` with the condition of ``match``."""
    if q.pattern is None:
        return scan_arm(q, cycle, "%s", "ILIKE", above_id=above_id)
    table = schema.table(q.kind, cycle)
    clauses, params = base_conditions(q, "%s")
    if above_id is not None:
        clauses.append("id > %s")
        params.append(above_id)
    fragment, values = match(q, fold)
    clauses.append(fragment)
    return Arm(f"FROM {table} WHERE {' AND '.join(clauses)}", (*params, *values), table, "id")


def _with_prefilter(q: MessageQuery, arm: Arm) -> Arm:
    assert q.pattern is not None
    pre = prefilter(q.pattern.literals)
    if pre is None:
        return arm
    # First in the WHERE: the planner keeps the written order of conditions of one cost.
    head, rest = arm.from_where.split(" WHERE ", 1)
    return Arm(f"{head} WHERE message LIKE %s AND {rest}", (pre, *arm.params),
               arm.table, arm.id_order)


def _tail(q: MessageQuery, cycle: int, mark: int, fold: bool) -> Arm:
    """The rows above the watermark. Bounded on both sides: on a table never analyzed the
    planner takes ``id > n`` for a third of the rows and scans, a range it reads by id."""
    arm = _scan(q, cycle, fold, above_id=mark)
    return _with_prefilter(q, Arm(f"{arm.from_where} AND id <= %s", (*arm.params, MAX_ID),
                                  arm.table, arm.id_order))


def key_of(literals: Sequence[str]) -> str | None:
    """The ``LIKE`` pattern the blocks are asked for: the longest space-free run of the
    literals (a run lies inside one word of a message), None without one of 3 characters
    (a trigram index cannot help). One run only: a common word costs a long posting list
    for nothing, and the exact pattern is checked on the log rows anyway."""
    runs = [r for lit in literals for r in lit.split(" ") if len(r) >= 3]
    return f"%{escape_like(max(runs, key=len))}%" if runs else None


def _chunks(blocks: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    out, i = [], 0
    for size in (*CHUNKS, *[CHUNKS[-1]] * len(blocks)):
        if i >= len(blocks):
            break
        out.append(blocks[i:i + size])
        i += size
    return out


def _block_arm(q: MessageQuery, tail: Arm, blocks: list[tuple[int, int]],
               fold: bool) -> Arm:
    """The log rows of some candidate blocks that match exactly: one id range per block
    (a bitmap of primary-key ranges)."""
    ranges = " OR ".join(["id BETWEEN %s AND %s"] * len(blocks))
    clauses, params = base_conditions(q, "%s")
    fragment, like = match(q, fold)
    where = " AND ".join([f"({ranges})", fragment, *clauses])
    values = [v for b in blocks for v in b]
    return _with_prefilter(q, Arm(f"FROM {tail.table} WHERE {where}",
                                  (*values, *like, *params), tail.table, "id"))


class KeptTotals:
    """A broad search's count of the rows up to a cycle's watermark, kept between
    searches (paging through a broad search asks the same total again), so that a
    repeated total counts only the rows indexed since. Exact: every row up to the
    watermark is committed in any snapshot that reads that watermark, rows never change,
    and a cycle's rows go only all at once (TRUNCATE), after which every row in it is
    newer than any before; so a count is keyed by the query (pattern, conditions, keyset
    bound, the match used) and the cycle's least id in the snapshot, and grows by the
    rows between the watermark it was taken at and the current one. The
    ``max_entries`` most recently asked are kept. Thread-safe."""

    def __init__(self, max_entries: int = KEPT_TOTALS) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[Any, ...], tuple[int, int]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> tuple[int, int] | None:
        """(watermark, count of the rows up to it) kept for ``key``."""
        with self._lock:
            got = self._kept.get(key)
            if got is not None:
                self._kept.move_to_end(key)
            return got

    def put(self, key: tuple[Any, ...], mark: int, count: int) -> None:
        with self._lock:
            self._kept[key] = (mark, count)
            self._kept.move_to_end(key)
            while len(self._kept) > self.max_entries:
                self._kept.popitem(last=False)


def _kept_count(q: MessageQuery, cycle: int, mark: int, fold: bool, fetch: Fetch,
                kept: KeptTotals) -> int:
    """The matches of ``q`` in the cycle: those up to ``mark`` from ``kept`` and the
    rows indexed since, the rest (the tail) counted."""
    table = schema.table(q.kind, cycle)
    _, rows = fetch(f"SELECT min(id) FROM {table}", ())
    if rows[0][0] is None:
        return 0  # an empty cycle
    assert q.pattern is not None
    key = (q.kind, cycle, int(rows[0][0]), q.pattern.like, q.where, q.params, q.below_id,
           fold)
    try:
        hash(key)
    except TypeError:  # a condition's value that cannot be a key: counted, not kept
        return _range_count(q, cycle, fold, fetch, None, MAX_ID)
    got = kept.get(key) if KEPT_TOTALS > 0 else None
    if got is not None and got[0] <= mark:
        upto = got[1] + _indexed_count(q, cycle, fold, fetch, got[0], mark, int(rows[0][0]))
    else:  # none kept, or kept at a later watermark than this snapshot's
        upto = _indexed_count(q, cycle, fold, fetch, None, mark, int(rows[0][0]))
    if KEPT_TOTALS > 0 and (got is None or got[0] <= mark):
        kept.put(key, mark, upto)
    return upto + _range_count(q, cycle, fold, fetch, mark, MAX_ID)


def _indexed_count(q: MessageQuery, cycle: int, fold: bool, fetch: Fetch,
                   above: int | None, upto: int, least: int) -> int:
    """Matches of ``q`` with ids in (above, upto], up to the watermark: from the blocks'
    terms where they tell (a ``%word%`` pattern, store/postgres_counts.py), the rest by
    SQL (``_range_count``)."""
    word = postgres_counts.needle(q, fold) if q.kind in postgres_counts.COUNTED_KINDS \
        and TERMS else None
    decide = None if word is None else postgres_counts.decisions(q)
    if word is None or decide is None:
        return _range_count(q, cycle, fold, fetch, above, upto)
    return postgres_counts.count(q, cycle, fetch, word, decide, functools.partial(
        _range_count, q, cycle, fold, fetch), above, upto, least)


def _range_count(q: MessageQuery, cycle: int, fold: bool, fetch: Fetch,
                 above: int | None, upto: int) -> int:
    """Matches of ``q`` with ids in (above, upto] (above None: from the first)."""
    if above is not None and upto <= above:
        return 0
    arm = _with_prefilter(q, _scan(q, cycle, fold, above_id=above))
    _, rows = fetch(f"SELECT count(*) {arm.from_where} AND id <= %s", (*arm.params, upto))
    return int(rows[0][0])


def arms(q: MessageQuery, fetch: Fetch, fold: bool = False,
         kept: KeptTotals | None = None) -> list[Arm]:
    """The arms of every cycle of ``q``, in the order of its page: per cycle the tail and
    its candidate blocks, a few at a time (a page stops reading when it is full), or the
    whole cycle read by id when most blocks are candidates, its total then counted with
    ``kept`` (``KeptTotals``). ``fold``: see ``match``."""
    pattern = q.pattern
    key = None if pattern is None else key_of(pattern.literals)
    if key is None or q.kind not in INDEXED_KINDS:
        return [_scan(q, c, fold) for c in q.cycles]
    found = _candidates(q, key, fetch)
    out: list[Arm] = []
    for cycle in q.cycles:
        mark, blocks, count = found.get(cycle, (0, [], 0))
        tail = _tail(q, cycle, mark, fold)
        if mark <= 0:
            out.append(tail)
            continue
        if len(blocks) >= DENSE_SHARE * count and len(blocks) > CHUNKS[1]:
            whole = _with_prefilter(q, _scan(q, cycle, fold))
            if kept is not None and q.count:
                whole = dataclasses.replace(whole, count=functools.partial(
                    _kept_count, q, cycle, mark, fold, fetch, kept))
            out.append(whole)
            continue
        indexed = [_block_arm(q, tail, c, fold) for c in _chunks(blocks)]
        out.extend([tail, *indexed] if q.descending else [*indexed, tail])
    return out


def _candidates(q: MessageQuery, key: str,
                fetch: Fetch) -> dict[int, tuple[int, list[tuple[int, int]], int]]:
    """Per cycle of ``q``: (watermark, its candidate blocks in the page's order, blocks
    of the cycle), from one statement (``lc_message_blocks``, above)."""
    _, rows = fetch("SELECT cycle, mark, lo, hi, blocks FROM lc_message_blocks(%s, %s, %s)",
                    (q.kind, list(q.cycles), key))
    out: dict[int, tuple[int, list[tuple[int, int]], int]] = {}
    for cycle, mark, lo, hi, blocks in rows:
        entry = out.setdefault(int(cycle), (int(mark), [], int(blocks)))
        if lo is not None:
            entry[1].append((int(lo), int(hi)))
    for _, found, _ in out.values():
        found.sort(reverse=q.descending)
    return out
