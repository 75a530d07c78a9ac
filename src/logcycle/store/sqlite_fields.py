"""The SQLite attribute index: per cycle a table of (key, value, kind, id) for the
top-level scalar values of every event's ``attributes``, filled *behind* the writer.

``attributes.user_id:u-42`` would otherwise read every row's JSON (``json_extract``): about
0.6 s a million rows. An index on ``json_extract(attributes, …)`` in the write transaction
would cost every insert a random B-tree update (it halves the insert rate, like the
request_key index did; shared/MEASUREMENTS.md). So, as for request keys, the writer's
Reindex task copies the new rows' attributes into ``lc_attr_<cycle>`` in chunks sorted by
key, and moves a watermark (``lc_index_state``, name ``attr``) in the same transaction. A
lookup reads the indexed ids and scans only the rows above the watermark, in one
statement (one snapshot): exact whatever the index holds.

Only the keys named by the setting ``index_attributes`` are indexed (none by default):
each indexed value costs the writer a B-tree insert behind the write path (about as much
as a request key, docs/benchmarks.md), so an operator chooses the keys that reports and
searches filter on. The watermark is per set of keys (``attr:<keys>``): naming another
set rebuilds the index from the oldest week on, and a key outside the set scans.

Values are kept as the query compares them (:mod:`logcycle.query.compile`): text, with
``true``/``false`` for booleans; objects, arrays, nulls and values longer than
``MAX_VALUE`` characters are not indexed (a query on them scans).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from logcycle.cycles import CYCLES
from logcycle.store import schema

MAX_VALUE = 256
STATE = "attr"
_TEXT = ("CASE {t} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
         "ELSE CAST({v} AS TEXT) END")


def table(cycle: int) -> str:
    if not 0 <= cycle < CYCLES:
        raise ValueError(f"no cycle {cycle!r}")
    return f"lc_attr_{cycle}"


def ddl() -> list[str]:
    return [f"CREATE TABLE IF NOT EXISTS {table(c)} (k TEXT NOT NULL, v TEXT NOT NULL, "
            "kind INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (k, v, kind, id)) "
            "WITHOUT ROWID" for c in range(CYCLES)]


def empty_cycle(conn: sqlite3.Connection, cycle: int) -> None:
    conn.execute(f"DELETE FROM {table(cycle)}")


def state(keys: tuple[str, ...]) -> str:
    """The watermark's name for an indexed set of keys."""
    return f"{STATE}:{','.join(sorted(keys))}"


def copy(conn: sqlite3.Connection, high: int, keys: tuple[str, ...]) -> int:
    """Index the ``keys`` of the attributes of the rows with ids up to ``high`` above each
    cycle's watermark (writer thread, inside its transaction); the values indexed."""
    if not keys:
        return 0
    name = state(keys)
    wanted = ", ".join("?" * len(keys))
    marks = {int(c): int(w) for c, w in conn.execute(
        "SELECT cycle, watermark FROM lc_index_state WHERE name = ?", (name,)).fetchall()}
    text = _TEXT.format(t="j.type", v="j.value")
    done = 0
    for c in range(CYCLES):
        low = marks.get(c, 0)
        if low >= high:
            continue
        for kind, number in schema.KIND_NUMBER.items():
            cur = conn.execute(
                f"INSERT INTO {table(c)} (k, v, kind, id) SELECT j.key, {text}, {number}, t.id "
                f"FROM {schema.table(kind, c)} AS t, json_each(t.attributes) AS j "
                "WHERE t.id > ? AND t.id <= ? AND t.attributes IS NOT NULL "
                f"AND j.key IN ({wanted}) AND j.type NOT IN ('object', 'array', 'null') "
                f"AND length(CAST(j.value AS TEXT)) <= {MAX_VALUE} "
                "ORDER BY 1, 2 ON CONFLICT DO NOTHING", (low, high, *keys))
            done += max(cur.rowcount, 0)
        conn.execute("INSERT INTO lc_index_state (name, cycle, watermark) VALUES (?, ?, ?) "
                     "ON CONFLICT (name, cycle) DO UPDATE SET watermark = excluded.watermark",
                     (name, c, high))
    return done


def condition(kind: str, cycle: int, key: str, value: str,
              keys: tuple[str, ...]) -> tuple[str, list[Any]] | None:
    """A WHERE fragment selecting the rows of ``oslog_<kind>_<cycle>`` whose
    ``attributes.<key>`` equals ``value`` (as text); None when the index cannot tell
    (``key`` is not among the indexed ``keys``, or the value is too long)."""
    if key not in keys or len(value) > MAX_VALUE:
        return None
    path = f'$."{key}"'
    text = _TEXT.format(t="json_type(attributes, ?)", v="json_extract(attributes, ?)")
    ids = (f"SELECT id FROM {table(cycle)} WHERE k = ? AND v = ? AND kind = ? "
           f"UNION ALL SELECT id FROM {schema.table(kind, cycle)} WHERE id > COALESCE("
           "(SELECT watermark FROM lc_index_state WHERE name = ? AND cycle = ?), 0) "
           f"AND {text} = ?")
    return (f"id IN ({ids})",
            [key, value, schema.KIND_NUMBER[kind], state(keys), cycle, path, path, value])
