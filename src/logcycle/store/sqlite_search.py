"""The SQLite message index: per kind with a ``message`` and per cycle an FTS5 trigram
table, in a file of its own (``logcycle.db-search``) filled by a thread of its own.

An FTS5 insert trigger would cut the insert rate about thirty-fold (see
``shared/MEASUREMENTS.md``), so ingest never touches the index. Built by the writer
thread between commits (as until 2026-12), it got one half chunk a second under a steady
stream and trailed by as long as the stream lasted. Now the indexer
(:mod:`logcycle.store.sqlite_indexer`) has its own connection to its own file, so it never
waits for the main file's write lock, and its SQL runs without the GIL on the other core:
it reads the rows written since its last step from the main file (attached read-only),
copies their messages into ``lc_search_<kind>_<cycle>`` and records the highest id
indexed (the *watermark*) and the week the cycle held in ``lc_search_state``, in one
transaction of the index file.

A search of a cycle reads two arms, both verified with the exact ``LIKE``:

- rows with ``id <= watermark``: the candidates that the index gives for the pattern's
  rarest trigrams, looked up by rowid;
- rows with ``id > watermark`` (the tail not indexed yet): scanned.

The index of a cycle is used only while the week it recorded is the week the main file
says the cycle holds (in the reader's snapshot of both files); after a rotation the
cycle is scanned until the indexer has emptied and refilled it. Rows that the index
names but the main file no longer holds are dropped by the join. So results are exact
whatever the index holds and whichever file's snapshot is newer. A pattern without a
literal run of three characters cannot use a trigram and scans (bounded by the store's
query timeout). The index file is derived data: deleting it (with the server stopped)
makes the indexer rebuild it, newest week first.

The tables are contentless (``content=''``) with ``detail=none``: the index holds only
which rows contain which trigram, about half the size of a full one and faster to build.
So it cannot count a broad search's matches; the same step keeps blocks of the messages
that do (:mod:`logcycle.store.sqlite_counts`).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from logcycle.cycles import CYCLES
from logcycle.kinds import MESSAGE_KINDS
from logcycle.store import schema, sqlite_counts
from logcycle.store.search import (
    Arm,
    MessagePattern,
    MessageQuery,
    base_conditions,
    scan_arm,
)

INDEXED_KINDS: tuple[str, ...] = MESSAGE_KINDS
SCHEMA = "lcs"  # the index file, attached under this name to the main file's readers
PROBE_LIMIT = 32  # matches looked at to judge how common a trigram is
MAX_PROBES = 12
MAX_TRIGRAMS = 4  # the rarest trigrams that select candidates; LIKE checks the rest
# When even the rarest trigram is in more than one row in DENSE_GAP, looking candidates up
# one by one costs more than scanning the cycle (and a scan fills a page at once).
DENSE_GAP = 16.0
Fetch = Callable[[str, Sequence[Any]], tuple[list[str], list[tuple[Any, ...]]]]


def fts_table(kind: str, cycle: int) -> str:
    """``lc_search_general_3`` for ``oslog_general_3``."""
    schema.table(kind, cycle)  # validates both
    if kind not in INDEXED_KINDS:
        raise ValueError(f"kind {kind!r} has no search index")
    return f"lc_search_{kind}_{cycle}"


def ddl() -> list[str]:
    """The index file's tables; idempotent."""
    return ["CREATE TABLE IF NOT EXISTS lc_search_state (kind TEXT NOT NULL, cycle INTEGER "
            "NOT NULL, week INTEGER, watermark INTEGER NOT NULL, PRIMARY KEY (kind, cycle))",
            *(f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts_table(kind, c)} USING fts5(body, "
              "content='', detail=none, columnsize=0, tokenize='trigram')"
              for kind in INDEXED_KINDS for c in range(CYCLES)),
            *sqlite_counts.ddl()]


def drop_from_main() -> list[str]:
    """What the main file held of the index before it moved to a file of its own."""
    return ["DELETE FROM lc_index_state WHERE name LIKE 'search\\_%' ESCAPE '\\'",
            *(f"DROP TABLE IF EXISTS lc_search_general_{c}" for c in range(CYCLES))]


# -- the indexer (its own thread and connection; the main file attached as ``src``) --------
def build(conn: sqlite3.Connection, max_rows: int) -> int:
    """Index up to ``max_rows`` rows, newest week first, in the caller's transaction of
    the index file; the number indexed (0: up to date)."""
    done = 0
    held = conn.execute("SELECT cycle, week FROM src.lc_cycles WHERE week IS NOT NULL "
                        "ORDER BY week DESC").fetchall()
    for kind in INDEXED_KINDS:
        for cycle, week in held:
            if done >= max_rows:
                return done
            done += _index_cycle(conn, kind, int(cycle), int(week), max_rows - done)
            done += sqlite_counts.build(conn, kind, int(cycle), int(week), max_rows - done)
    return done


_STATE = "SELECT week, watermark FROM lc_search_state WHERE kind = ? AND cycle = ?"
_SET = ("INSERT INTO lc_search_state (kind, cycle, week, watermark) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (kind, cycle) DO UPDATE SET week = excluded.week, "
        "watermark = excluded.watermark")


def _index_cycle(conn: sqlite3.Connection, kind: str, cycle: int, week: int,
                 rows: int) -> int:
    table, fts = schema.table(kind, cycle), fts_table(kind, cycle)
    state = conn.execute(_STATE, (kind, cycle)).fetchone()
    mark = 0 if state is None else int(state[1])
    if state is None or state[0] != week:
        # The cycle turned (or was never indexed): what the index held is gone from the
        # main file. The watermark stays: ids only grow, the new week's rows are above it.
        conn.execute(f"INSERT INTO {fts} ({fts}) VALUES ('delete-all')")
        conn.execute(_SET, (kind, cycle, week, mark))
    top, n = conn.execute(f"SELECT max(id), count(*) FROM (SELECT id FROM src.{table} "
                          "WHERE id > ? ORDER BY id LIMIT ?)", (mark, rows)).fetchone()
    if top is None:
        return 0
    conn.execute(f"INSERT INTO {fts} (rowid, body) SELECT id, message FROM src.{table} "
                 "WHERE id > ? AND id <= ? AND message IS NOT NULL", (mark, top))
    conn.execute(_SET, (kind, cycle, week, top))
    return int(n)


def _mark_of(main: str, index: str) -> str:
    """The watermark of the cycle bound as (kind, cycle), 0 while its index holds
    another week than the main file says the cycle holds."""
    return (f"COALESCE((SELECT s.watermark FROM {index}lc_search_state s JOIN "
            f"{main}lc_cycles c ON c.cycle = s.cycle AND c.week = s.week "
            "WHERE s.kind = ? AND s.cycle = ?), 0)")


def lag(conn: Any, kind_cycles: Sequence[tuple[str, int]], *, main: str = "",
        index: str = f"{SCHEMA}.") -> tuple[int, float]:
    """(rows not indexed yet, seconds of insert instants between the oldest of them and
    the newest row) over ``kind_cycles``, in one snapshot of both files. ``main`` and
    ``index`` are the schema prefixes of the two files on ``conn`` (a reader: "" and
    "lcs."; the indexer: "src." and "")."""
    rows = 0
    for kind, cycle in kind_cycles:
        (n,) = conn.execute(f"SELECT count(*) FROM {main}{schema.table(kind, cycle)} "
                            f"WHERE id > {_mark_of(main, index)}", (kind, cycle)).fetchone()
        rows += int(n)
    return rows, lag_seconds(conn, kind_cycles, main=main, index=index)


def lag_seconds(conn: Any, kind_cycles: Sequence[tuple[str, int]], *, main: str = "",
                index: str = f"{SCHEMA}.") -> float:
    """The seconds of :func:`lag` without its row count: the oldest row not indexed yet
    is the first above the watermark (insert instants follow ids), so each cycle costs
    two seeks, not a read of every row of the tail (the indexer measures after each
    step it did not finish: 13% of its CPU was that count under a burst)."""
    oldest, newest = None, None
    for kind, cycle in kind_cycles:
        table = f"{main}{schema.table(kind, cycle)}"
        first = conn.execute(f"SELECT insert_instant FROM {table} WHERE id > "
                             f"{_mark_of(main, index)} ORDER BY id LIMIT 1",
                             (kind, cycle)).fetchone()
        last = conn.execute(f"SELECT insert_instant FROM {table} ORDER BY id DESC "
                            "LIMIT 1").fetchone()
        if last is not None:
            newest = int(last[0]) if newest is None else max(newest, int(last[0]))
        if first is not None:
            oldest = int(first[0]) if oldest is None else min(oldest, int(first[0]))
    if oldest is None or newest is None:
        return 0.0
    return max(0.0, (newest - oldest) / 1000)


def newest_cycles(conn: Any, main: str = "") -> list[tuple[str, int]]:
    """(kind, cycle) of every indexed kind in the newest week's cycle."""
    row = conn.execute(f"SELECT cycle FROM {main}lc_cycles WHERE week IS NOT NULL "
                       "ORDER BY week DESC LIMIT 1").fetchone()
    return [] if row is None else [(k, int(row[0])) for k in INDEXED_KINDS]


# -- searching (read threads, inside one read transaction) -----------------------------------
def trigrams(literals: Sequence[str]) -> list[str]:
    """Distinct trigrams of the literal runs, spread evenly when there are many.

    >>> trigrams(["Disk", "ab"])
    ['Dis', 'isk']
    """
    seen: dict[str, str] = {}
    for lit in literals:
        for i in range(len(lit) - 2):
            seen.setdefault(lit[i:i + 3].lower(), lit[i:i + 3])
    found = list(seen.values())
    if len(found) <= MAX_PROBES:
        return found
    step = len(found) / MAX_PROBES
    return [found[int(i * step)] for i in range(MAX_PROBES)]


def _phrase(tri: str) -> str:
    return '"' + tri.replace('"', '""') + '"'


def _rarity(fetch: Fetch, fts: str, tris: Sequence[str], mark: int) -> \
        list[tuple[int, float]]:
    """Per trigram (matches seen, mean id gap between the newest matches): a rare trigram
    has few matches or far apart ones. Sorting by (count, -gap) puts the rarest first.
    One statement for all of them: under load every statement of a search waits for the
    GIL again (measured: a dozen probes cost tens of ms during a steady stream)."""
    probe = (f"SELECT {{i}} AS t, r FROM (SELECT rowid AS r FROM {fts} WHERE {fts} MATCH ? "
             f"AND rowid <= ? ORDER BY rowid DESC LIMIT {PROBE_LIMIT})")
    sql = ("SELECT t, count(*), max(r) - min(r) FROM (" +
           " UNION ALL ".join(probe.format(i=i) for i in range(len(tris))) + ") GROUP BY t")
    _, rows = fetch(sql, [v for t in tris for v in (_phrase(t), mark)])
    seen = {int(t): (int(n), int(span)) for t, n, span in rows}
    out = []
    for i in range(len(tris)):
        n, span = seen.get(i, (0, 0))
        out.append((n, float("inf") if n < PROBE_LIMIT else span / PROBE_LIMIT))
    return out


def candidates_query(fetch: Fetch, fts: str, pattern: MessagePattern, mark: int) -> str | None:
    """The FTS5 query for the rarest trigrams of ``pattern``; "" when some trigram occurs
    nowhere (no row can match), None when the index does not help (the pattern has no
    trigram, or even its rarest trigram is in most rows)."""
    tris = trigrams(pattern.literals)
    if not tris:
        return None
    scored = sorted((n, -gap, t) for (n, gap), t in
                    zip(_rarity(fetch, fts, tris, mark), tris, strict=True))
    if scored[0][0] == 0:
        return ""
    if scored[0][0] == PROBE_LIMIT and -scored[0][1] < DENSE_GAP:
        return None
    return " AND ".join(_phrase(t) for _, _, t in scored[:MAX_TRIGRAMS])


# A cycle's index counts only while it holds the week the main file says the cycle holds.
_MARKS = (f"SELECT s.cycle, s.watermark FROM {SCHEMA}.lc_search_state s JOIN lc_cycles c "
          "ON c.cycle = s.cycle AND c.week = s.week WHERE s.kind = ?")


def arms(q: MessageQuery, fetch: Fetch,
         cache: sqlite_counts.BlockCounts | None = None) -> list[Arm]:
    """The arms of every cycle of ``q``, in the order of its page (totals counted from the
    message blocks where they serve, their counts kept in ``cache``)."""
    if q.pattern is None or q.kind not in INDEXED_KINDS or not trigrams(q.pattern.literals):
        return [_counted(scan_arm(q, c, "?", "LIKE"), q, c, fetch, None, None, cache)
                for c in q.cycles]
    _, rows = fetch(_MARKS, (q.kind,))
    marks = {int(c): int(w) for c, w in rows}
    out: list[Arm] = []
    for cycle in q.cycles:
        out.extend(_cycle_arms(q, q.pattern, cycle, marks.get(cycle, 0), fetch, cache))
    return out


def _counted(arm: Arm, q: MessageQuery, cycle: int, fetch: Fetch, above: int | None,
             upto: int | None, cache: sqlite_counts.BlockCounts | None) -> Arm:
    """``arm`` (ids in (above, upto]) counted from the message blocks where they serve
    (store/sqlite_counts.py)."""
    if not q.count:
        return arm
    count = sqlite_counts.counter(q, cycle, fetch, above=above, upto=upto, cache=cache)
    return arm if count is None else dataclasses.replace(arm, count=count)


def _cycle_arms(q: MessageQuery, pattern: MessagePattern, cycle: int, mark: int,
                fetch: Fetch, cache: sqlite_counts.BlockCounts | None) -> list[Arm]:
    tail = _counted(scan_arm(q, cycle, "?", "LIKE", above_id=mark), q, cycle, fetch,
                    mark, None, cache)
    if mark <= 0:
        return [tail]
    fts = fts_table(q.kind, cycle)
    match = candidates_query(fetch, fts, pattern, mark)
    if match is None:
        return [_counted(scan_arm(q, cycle, "?", "LIKE"), q, cycle, fetch, None, None,
                         cache)]
    if not match:
        return [tail]
    table = tail.table
    clauses, params = base_conditions(q, "?")
    clauses.append("message LIKE ? ESCAPE '\\'")
    where = " AND ".join([f"{fts} MATCH ?", f"{fts}.rowid <= ?", *clauses])
    indexed = _counted(Arm(f"FROM {fts} CROSS JOIN {table} ON {table}.id = {fts}.rowid "
                           f"WHERE {where}", (match, mark, *params, pattern.like), table,
                           f"{fts}.rowid"), q, cycle, fetch, None, mark, cache)
    return [tail, indexed] if q.descending else [indexed, tail]
