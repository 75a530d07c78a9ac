"""Idempotency keys of single events (``EventBatch.keys``: an Elasticsearch document's
``_id``), kept in ``lc_idempotency`` beside the batches' keys, one row per key with the
event's id. Inside the writer's transaction (:meth:`SqlStore._write_events`):

1. :func:`find` tells which events of the batch are stored already (their key has a
   row) or repeat a key earlier in the same batch; those are left out of the insert;
2. :func:`record` gives every event its id in batch order and stores the new keys.

Lookups take one statement per ``CHUNK`` keys (a statement per key cost the writer about
4 µs a document); the keys' insert is one ``executemany``.
"""

from __future__ import annotations

from typing import Any

import orjson

from logcycle.ingest.tasks import EventBatch
from logcycle.store.schema import Dialect

CHUNK = 500


def find(conn: Any, d: Dialect, task: EventBatch) -> tuple[dict[int, int], dict[int, int]]:
    """Of the events with a key of their own: position → id of those whose key is stored,
    and position → position of the first event of the batch with the same key (for the
    later ones)."""
    first: dict[int, int] = {}
    seen: dict[str, int] = {}
    for i, k in enumerate(task.keys or ()):
        if k is None:
            continue
        if k in seen:
            first[i] = seen[k]
        else:
            seen[k] = i
    found = _stored(conn, d, list(seen), task.principal)
    return {seen[k]: int(orjson.loads(ids)[0]) for k, ids in found}, first


def _stored(conn: Any, d: Dialect, keys: list[str], principal: str) -> list[Any]:
    """(key, ids) of those of ``keys`` stored for ``principal``."""
    p = d.param
    rows: list[Any] = []
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i:i + CHUNK]
        if d.name == "sqlite":
            sql = (f"SELECT key, ids FROM lc_idempotency WHERE principal = {p} AND key "
                   f"IN ({', '.join([p] * len(chunk))})")
            rows += conn.execute(sql, (principal, *chunk)).fetchall()
        else:
            sql = f"SELECT key, ids FROM lc_idempotency WHERE principal = {p} AND key = ANY({p})"
            rows += conn.execute(sql, (principal, chunk)).fetchall()
    return rows


def record(conn: Any, put_sql: str, task: EventBatch, new_ids: list[int],
           stored: dict[int, int], first: dict[int, int], now: int) -> list[int]:
    """Every event's id in batch order (the new ones, the replayed ones filled in), after
    storing the keys of the new ones with ``put_sql`` (key, principal, ids, created)."""
    fresh = iter(new_ids)
    ids = [stored[i] if i in stored else 0 if i in first else next(fresh)
           for i in range(len(task.events))]
    for i, j in first.items():
        ids[i] = ids[j]
    keys = task.keys or []
    rows = [(keys[i], task.principal, f"[{ids[i]}]", now) for i in range(len(ids))
            if keys[i] is not None and i not in stored and i not in first]
    if rows:
        conn.cursor().executemany(put_sql, rows)
    return ids
