"""The PostgreSQL attribute index: the same as SQLite's (store/sqlite_fields.py), per cycle
a table of (key, value, kind, id) for the named top-level keys of every event's
``attributes`` (the setting ``index_attributes``), filled *behind* the writer by the
reindex thread (PostgresStore._reindex_steps), with its watermark in ``lc_index_state``.

Why not a GIN index on ``attributes`` (``jsonb_path_ops``) or an expression index: COPY
would maintain it in every write transaction (the request-key B-tree halved COPY that way,
docs/architecture.md), the log tables keep ``attributes`` as text (an index needs the
``jsonb`` cast in every row's insert), and a GIN index answers containment (``@>``), which
compares JSON values while the query language compares their text (``attributes.n:2``
matches 2 and "2"). The side table holds the text the query compares, so a lookup is one
B-tree range, and ingest pays for it between commits, not in them.

Values are kept as ``#>>`` gives them (the query's text of a JSON scalar); objects,
arrays, nulls and values longer than ``MAX_VALUE`` characters are not indexed (a query on
them reads the rows).
"""

from __future__ import annotations

from typing import Any

from logcycle.cycles import CYCLES
from logcycle.store import schema
from logcycle.store.sqlite_fields import MAX_VALUE, state, table

__all__ = ["condition", "copy", "ddl", "table"]
MAX_ID = 2**63 - 1


def ddl() -> list[str]:
    return [stmt for c in range(CYCLES) for stmt in (
        f"CREATE TABLE IF NOT EXISTS {table(c)} (k TEXT NOT NULL, v TEXT NOT NULL, "
        "kind INTEGER NOT NULL, id BIGINT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {table(c)}_kv ON {table(c)} (k, v, kind, id)")]


def copy(conn: Any, high: int, keys: tuple[str, ...]) -> int:
    """Index the ``keys`` of the attributes of the rows with ids up to ``high`` above each
    cycle's watermark (inside the reindex transaction); the values indexed."""
    if not keys:
        return 0
    name = state(keys)
    marks = {int(c): int(w) for c, w in conn.execute(
        "SELECT cycle, watermark FROM lc_index_state WHERE name = %s", (name,)).fetchall()}
    done = 0
    for c in range(CYCLES):
        low = marks.get(c, 0)
        if low >= high:
            continue
        for kind, number in schema.KIND_NUMBER.items():
            cur = conn.execute(
                f"INSERT INTO {table(c)} (k, v, kind, id) SELECT j.key, j.value #>> '{{}}', "
                f"{number}, t.id FROM {schema.table(kind, c)} AS t, "
                "jsonb_each(CAST(t.attributes AS jsonb)) AS j "
                "WHERE t.id > %s AND t.id <= %s AND t.attributes IS NOT NULL "
                "AND jsonb_typeof(CAST(t.attributes AS jsonb)) = 'object' "
                "AND j.key = ANY(%s) AND jsonb_typeof(j.value) NOT IN ('object', 'array', "
                f"'null') AND length(j.value #>> '{{}}') <= {MAX_VALUE} ORDER BY 1, 2",
                (low, high, list(keys)))
            done += max(cur.rowcount, 0)
        conn.execute("INSERT INTO lc_index_state (name, cycle, watermark) VALUES (%s, %s, %s) "
                     "ON CONFLICT (name, cycle) DO UPDATE SET watermark = excluded.watermark",
                     (name, c, high))
    return done


def condition(kind: str, cycle: int, key: str, value: str,
              keys: tuple[str, ...]) -> tuple[str, list[Any]] | None:
    """A WHERE fragment selecting the rows of ``oslog_<kind>_<cycle>`` whose
    ``attributes.<key>`` equals ``value`` (as text); None when the index cannot tell.
    The ids are gathered into one array first, so that the table is read by its primary
    key (as the request-key lookup does)."""
    if key not in keys or len(value) > MAX_VALUE:
        return None
    ids = (f"SELECT id FROM {table(cycle)} WHERE k = %s AND v = %s AND kind = %s "
           f"UNION ALL SELECT id FROM {schema.table(kind, cycle)} WHERE id > COALESCE("
           "(SELECT watermark FROM lc_index_state WHERE name = %s AND cycle = %s), 0) "
           f"AND id <= {MAX_ID} AND (CAST(attributes AS jsonb) #>> CAST(%s AS text[])) = %s")
    return (f"id = ANY(ARRAY({ids}))",
            [key, value, schema.KIND_NUMBER[kind], state(keys), cycle, [key], value])
