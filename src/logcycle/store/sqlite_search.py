"""The SQLite message index: per cycle an FTS5 trigram table filled *behind* the writer.

An FTS5 insert trigger would cut the insert rate about thirty-fold (see
``shared/MEASUREMENTS.md``), so ingest never touches the index. Instead the writer thread,
when it has nothing else to do, copies the rows written since the last time into
``lc_search_<kind>_<cycle>`` in chunks (an :class:`~logcycle.ingest.tasks.IndexSearch`
task), and records in ``lc_index_state`` the highest id indexed (the *watermark*) in the
same transaction. Rotation empties a cycle's index with its tables (:func:`empty_cycle`).

A search of a cycle then reads two arms, both verified with the exact ``LIKE``:

- rows with ``id <= watermark``: the candidates that the index gives for the pattern's
  rarest trigrams, looked up by rowid;
- rows with ``id > watermark`` (the tail not indexed yet): scanned.

So results are exact whatever the index holds, and a search is fast as soon as the
indexer has caught up. A pattern without a literal run of three characters cannot use a
trigram and scans (bounded by the store's query timeout).

The tables are contentless (``content=''``) with ``detail=none``: the index holds only
which rows contain which trigram, about half the size of a full one and faster to build.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from logcycle.cycles import CYCLES
from logcycle.store import schema
from logcycle.store.search import (
    Arm,
    MessagePattern,
    MessageQuery,
    base_conditions,
    build_newest_first,
    scan_arm,
)

INDEXED_KINDS: tuple[str, ...] = ("general",)
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
    """The index tables; idempotent. Watermarks live in ``lc_index_state`` (name
    ``search_<kind>``, absent: 0), beside those of the other indexes built behind the writer."""
    return [f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts_table(kind, c)} USING fts5(body, "
            "content='', detail=none, columnsize=0, tokenize='trigram')"
            for kind in INDEXED_KINDS for c in range(CYCLES)]


def empty_cycle(conn: sqlite3.Connection, cycle: int) -> None:
    """Empty the index of a cycle, in the transaction that empties its tables. The
    watermark stays: ids only grow, so every row written later is above it."""
    for kind in INDEXED_KINDS:
        fts = fts_table(kind, cycle)
        conn.execute(f"INSERT INTO {fts} ({fts}) VALUES ('delete-all')")


_STATE = "SELECT watermark FROM lc_index_state WHERE name = ? AND cycle = ?"


# -- the indexer (writer thread, inside the writer's transaction) ---------------------------
def build(conn: sqlite3.Connection, max_rows: int) -> int:
    """Index up to ``max_rows`` rows, newest week first; the number indexed."""
    return build_newest_first(conn, INDEXED_KINDS, max_rows, _index_cycle)


def _index_cycle(conn: sqlite3.Connection, kind: str, cycle: int, rows: int) -> int:
    table, fts = schema.table(kind, cycle), fts_table(kind, cycle)
    row = conn.execute(_STATE, (f"search_{kind}", cycle)).fetchone()
    mark = 0 if row is None else int(row[0])
    top, n = conn.execute(f"SELECT max(id), count(*) FROM (SELECT id FROM {table} WHERE id > ? "
                          "ORDER BY id LIMIT ?)", (mark, rows)).fetchone()
    if top is None:
        return 0
    conn.execute(f"INSERT INTO {fts} (rowid, body) SELECT id, message FROM {table} "
                 "WHERE id > ? AND id <= ?", (mark, top))
    conn.execute("INSERT INTO lc_index_state (name, cycle, watermark) VALUES (?, ?, ?) "
                 "ON CONFLICT (name, cycle) DO UPDATE SET watermark = excluded.watermark",
                 (f"search_{kind}", cycle, top))
    return int(n)


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


def _rarity(fetch: Fetch, fts: str, tri: str, mark: int) -> tuple[int, float]:
    """(matches seen, mean id gap between the newest matches): a rare trigram has few
    matches or far apart ones. Sorting by (count, -gap) puts the rarest first."""
    _, rows = fetch(f"SELECT rowid FROM {fts} WHERE {fts} MATCH ? AND rowid <= ? "
                    f"ORDER BY rowid DESC LIMIT {PROBE_LIMIT}", (_phrase(tri), mark))
    if len(rows) < PROBE_LIMIT:
        return len(rows), float("inf")
    return PROBE_LIMIT, (rows[0][0] - rows[-1][0]) / PROBE_LIMIT


def candidates_query(fetch: Fetch, fts: str, pattern: MessagePattern, mark: int) -> str | None:
    """The FTS5 query for the rarest trigrams of ``pattern``; "" when some trigram occurs
    nowhere (no row can match), None when the index does not help (the pattern has no
    trigram, or even its rarest trigram is in most rows)."""
    tris = trigrams(pattern.literals)
    if not tris:
        return None
    scored: list[tuple[int, float, str]] = []
    for t in tris:
        n, gap = _rarity(fetch, fts, t, mark)
        scored.append((n, -gap, t))
    scored.sort()
    if scored[0][0] == 0:
        return ""
    if scored[0][0] == PROBE_LIMIT and -scored[0][1] < DENSE_GAP:
        return None
    return " AND ".join(_phrase(t) for _, _, t in scored[:MAX_TRIGRAMS])


def arms(q: MessageQuery, fetch: Fetch) -> list[Arm]:
    """The arms of every cycle of ``q``, in the order of its page."""
    if q.pattern is None or q.kind not in INDEXED_KINDS or not trigrams(q.pattern.literals):
        return [scan_arm(q, c, "?", "LIKE") for c in q.cycles]
    _, rows = fetch("SELECT cycle, watermark FROM lc_index_state WHERE name = ?",
                    (f"search_{q.kind}",))
    marks = {int(c): int(w) for c, w in rows}
    out: list[Arm] = []
    for cycle in q.cycles:
        out.extend(_cycle_arms(q, q.pattern, cycle, marks.get(cycle, 0), fetch))
    return out


def _cycle_arms(q: MessageQuery, pattern: MessagePattern, cycle: int, mark: int,
                fetch: Fetch) -> list[Arm]:
    tail = scan_arm(q, cycle, "?", "LIKE", above_id=mark)
    if mark <= 0:
        return [tail]
    fts = fts_table(q.kind, cycle)
    match = candidates_query(fetch, fts, pattern, mark)
    if match is None:
        return [scan_arm(q, cycle, "?", "LIKE")]
    if not match:
        return [tail]
    table = tail.table
    clauses, params = base_conditions(q, "?")
    clauses.append("message LIKE ? ESCAPE '\\'")
    where = " AND ".join([f"{fts} MATCH ?", f"{fts}.rowid <= ?", *clauses])
    indexed = Arm(f"FROM {fts} CROSS JOIN {table} ON {table}.id = {fts}.rowid WHERE {where}",
                  (match, mark, *params, pattern.like), table, f"{fts}.rowid")
    return [tail, indexed] if q.descending else [indexed, tail]
