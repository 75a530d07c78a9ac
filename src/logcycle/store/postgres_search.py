"""The PostgreSQL message index: per cycle a side table under a pg_trgm GIN index, filled
*behind* the writer, as :mod:`logcycle.store.sqlite_search` does for SQLite.

A GIN trigram index on the log tables themselves would put every row's trigrams into the
index inside the write transaction: measured here, COPY falls from ~330,000 to ~37,000
rows/s (``bench/ingest.py --store postgresql://…``). So ingest writes only the log tables;
a thread of the store with a connection of its own (``PostgresStore._search_loop``)
copies the new rows' messages into ``lc_search_<kind>_<cycle> (rid, body)`` in steps
(``build``) and records the highest id copied (the *watermark*) in ``lc_index_state``, in
the same transaction. Commits are visible in id order (tickets, store/postgres.py), so
the rows it sees above the watermark are always a prefix of what will be committed.
The index keeps GIN's default ``fastupdate`` (a pending list merged in bulk): measured
in isolation, 15,600 rows/s in steps of 20,000, 16,400 with a 64 MB pending list (but
needles then took 17 ms instead of 2 ms, the list being scanned), 3,500 without it.
A search of a cycle then reads two arms, both verified by the exact ``ILIKE``:

- rows with ``id <= watermark``: the side table's GIN index, joined back by id;
- rows above it (the tail not indexed yet): scanned.

Searches read both in one snapshot, so a row is found once whatever the indexer does
meanwhile. The side table repeats each message (about a third of a ``general`` row);
rotation empties it with its cycle's tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from logcycle.cycles import CYCLES
from logcycle.kinds import MESSAGE_KINDS
from logcycle.store import schema
from logcycle.store.search import Arm, MessageQuery, base_conditions, build_newest_first, scan_arm

INDEXED_KINDS: tuple[str, ...] = MESSAGE_KINDS
DENSE = 5000  # indexed matches from which a cycle is read by id instead
MAX_ID = 2**63 - 1
Fetch = Callable[[str, Sequence[Any]], tuple[list[str], list[tuple[Any, ...]]]]
_MARKS = "SELECT cycle, watermark FROM lc_index_state WHERE name = %s"


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
            out.append(f"CREATE TABLE IF NOT EXISTS {t} (rid BIGINT PRIMARY KEY, "
                       "body TEXT NOT NULL)")
            out.append(f"CREATE INDEX IF NOT EXISTS {t}_body ON {t} USING gin (body {opclass})")
    return out


def empty_cycle_sql(cycle: int) -> str:
    """TRUNCATE of a cycle's side tables (in the transaction that empties the cycle). The
    watermark stays: ids only grow, so every row written later is above it."""
    return f"TRUNCATE {', '.join(side_table(k, cycle) for k in INDEXED_KINDS)}"


# -- the indexer (writer thread, inside the writer's transaction) ---------------------------
def build(conn: Any, max_rows: int) -> int:
    """Index up to ``max_rows`` rows, newest week first; the number indexed."""
    return build_newest_first(conn, INDEXED_KINDS, max_rows, _index_cycle)


def analyze_newest(conn: Any) -> None:
    """Refresh the planner's statistics of the newest week's indexed tables. Autovacuum
    does it too, but only after a tenth of a table changed: a week's table that just
    filled has none, and the planner then scans where it should read by id."""
    row = conn.execute("SELECT cycle FROM lc_cycles WHERE week IS NOT NULL "
                       "ORDER BY week DESC LIMIT 1").fetchone()
    if row is not None:
        c = int(row[0])
        conn.execute("ANALYZE " + ", ".join(f"{schema.table(k, c)}, {side_table(k, c)}"
                                            for k in INDEXED_KINDS))


def _index_cycle(conn: Any, kind: str, cycle: int, rows: int) -> int:
    table, side, name = schema.table(kind, cycle), side_table(kind, cycle), f"search_{kind}"
    row = conn.execute("SELECT watermark FROM lc_index_state WHERE name = %s AND cycle = %s",
                       (name, cycle)).fetchone()
    mark = 0 if row is None else int(row[0])
    top, n = conn.execute(
        f"WITH moved AS (INSERT INTO {side} (rid, body) SELECT id, message FROM {table} "
        "WHERE id > %s ORDER BY id LIMIT %s RETURNING rid) SELECT max(rid), count(*) "
        "FROM moved", (mark, rows)).fetchone()
    if top is None:
        return 0
    conn.execute("INSERT INTO lc_index_state (name, cycle, watermark) VALUES (%s, %s, %s) "
                 "ON CONFLICT (name, cycle) DO UPDATE SET watermark = excluded.watermark",
                 (name, cycle, top))
    return int(n)


# -- searching (read threads, inside one read snapshot) -------------------------------------
def _tail(q: MessageQuery, cycle: int, mark: int) -> Arm:
    """The rows above the watermark. Bounded on both sides: on a table never analyzed the
    planner takes ``id > n`` for a third of the rows and scans, a range it reads by id."""
    arm = scan_arm(q, cycle, "%s", "ILIKE", above_id=mark)
    return Arm(f"{arm.from_where} AND id <= %s", (*arm.params, MAX_ID), arm.table, arm.id_order)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _dense(fetch: Fetch, side: str, like: str) -> bool:
    """True when the pattern matches so many indexed rows that reading the log table by
    id (a page stops as soon as it is full) beats the index and a join per match."""
    _, rows = fetch(f"SELECT count(*) FROM (SELECT 1 FROM {side} WHERE body ILIKE %s "
                    f"ESCAPE '\\' LIMIT {DENSE}) AS probe", (like,))
    return int(rows[0][0]) >= DENSE


def arms(q: MessageQuery, fetch: Fetch) -> list[Arm]:
    """The arms of every cycle of ``q``, in the order of its page. Without a literal run
    of three characters a trigram index cannot help: the cycle is scanned."""
    pattern = q.pattern
    if pattern is None or q.kind not in INDEXED_KINDS or \
            not any(len(lit) >= 3 for lit in pattern.literals):
        return [scan_arm(q, c, "%s", "ILIKE") for c in q.cycles]
    _, rows = fetch(_MARKS, (f"search_{q.kind}",))
    marks = {int(c): int(w) for c, w in rows}
    # The index is asked for the longest word of the literal runs only: every part of a
    # run narrows the candidates, but a common word ("order") costs a long posting list
    # for nothing. The exact pattern is checked on the log row.
    words = [w for lit in pattern.literals for w in lit.split() if len(w) >= 3]
    key = f"%{_escape(max(words or pattern.literals, key=len))}%"
    out: list[Arm] = []
    for cycle in q.cycles:
        mark = marks.get(cycle, 0)
        tail = _tail(q, cycle, mark)
        if mark <= 0:
            out.append(tail)
            continue
        side = side_table(q.kind, cycle)
        if _dense(fetch, side, key):
            out.append(scan_arm(q, cycle, "%s", "ILIKE"))
            continue
        clauses, params = base_conditions(q, "%s")
        where = " AND ".join([f"{side}.body ILIKE %s ESCAPE '\\'", f"{side}.rid <= %s",
                              f"{tail.table}.message ILIKE %s ESCAPE '\\'", *clauses])
        indexed = Arm(f"FROM {side} JOIN {tail.table} ON {tail.table}.id = {side}.rid "
                      f"WHERE {where}", (key, mark, pattern.like, *params), tail.table,
                      f"{side}.rid")
        out.extend([tail, indexed] if q.descending else [indexed, tail])
    return out
