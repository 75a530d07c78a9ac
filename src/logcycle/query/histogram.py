"""Counts of matching events per time bucket, computed by the database.

Each table that can hold matches (one per kind and week of the range) answers ONE query,
``SELECT (insert_instant - origin) / width, count(*) … GROUP BY 1``: the events themselves
never leave the database. The per-table queries are independent, so the API runs them in
parallel on the read threads and :func:`merge` adds them up.

    b = plan(start, end, buckets=60)
    parts = [count_table(store, kind, cycle, f, b) for kind, cycle in tables(store, f, b, tz)]
    merge(b, parts)["buckets"][0]   # {"start": …, "count": …}

Buckets have a "nice" width (1, 2, 5 … ms, s, min, h, then whole days) and start at a
multiple of it, so their edges read well on an axis; there are at most ``buckets + 1``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.query.events import _where, attribute_index, weeks_to_read
from logcycle.query.filters import EventFilter
from logcycle.store import schema
from logcycle.store.base import Store

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
NICE_WIDTHS = (1, 2, 5, 10, 20, 50, 100, 200, 500,
               SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND,
               MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
               HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY)
MAX_BUCKETS = 1000


@dataclass(frozen=True, slots=True)
class Buckets:
    """The range [start, end] (epoch ms, inclusive) cut in ``count`` buckets of ``width``
    ms, the first starting at ``origin`` (<= start)."""

    start: int
    end: int
    origin: int
    width: int
    count: int

    def edges(self, i: int) -> tuple[int, int]:
        """First and last instant of bucket ``i``, clipped to the range."""
        lo = self.origin + i * self.width
        return max(lo, self.start), min(lo + self.width - 1, self.end)


def plan(start: int, end: int, buckets: int) -> Buckets:
    """About ``buckets`` buckets of a nice width over [start, end].

    >>> b = plan(0, 3_599_999, 60)
    >>> b.width, b.count
    (60000, 60)
    """
    if end < start:
        raise ValueError("end is before start")
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be 1 to {MAX_BUCKETS}")
    raw = -(-(end - start + 1) // buckets)  # ceiling division
    width = next((w for w in NICE_WIDTHS if w >= raw), -(-raw // DAY) * DAY)
    origin = start - start % width
    return Buckets(start, end, origin, width, (end - origin) // width + 1)


def tables(store: Store, f: EventFilter, b: Buckets, tz: ZoneInfo) -> list[tuple[str, int]]:
    """(kind, cycle) of every table that can hold events matching ``f`` in the range."""
    weeks = weeks_to_read(store.held(), b.start, b.end, tz)
    return [(kind, week % cycles.CYCLES) for week in weeks for kind in f.searched_kinds()]


def count_table(store: Store, kind: str, cycle: int, f: EventFilter,
                b: Buckets) -> list[tuple[int, int]]:
    """(bucket number, count) of one table's matching events: one GROUP BY query."""
    d = store.dialect
    p = d.param
    ranged = dataclasses.replace(f, start=b.start, end=b.end)
    where, params = _where(ranged, p, d.like, None, kind=kind, dialect=d,
                           index=attribute_index(store, kind, cycle))
    # CAST: PostgreSQL must divide integers (psycopg may send a Python int as numeric).
    sql = (f"SELECT (insert_instant - CAST({p} AS BIGINT)) / CAST({p} AS BIGINT) AS bucket, "
           f"count(*) FROM {schema.table(kind, cycle)}{where} GROUP BY 1")
    _, rows = store.fetch(sql, [b.origin, b.width, *params])
    return [(int(bucket), int(n)) for bucket, n in rows]


def merge(b: Buckets, parts: list[tuple[str, list[tuple[int, int]]]]) -> dict[str, Any]:
    """The API's answer from each table's (kind, counts)."""
    counts = [0] * b.count
    by_kind: dict[str, int] = {}
    for kind, rows in parts:
        for bucket, n in rows:
            if 0 <= bucket < b.count:
                counts[bucket] += n
                by_kind[kind] = by_kind.get(kind, 0) + n
    return {
        "start": b.start, "end": b.end, "bucket_ms": b.width,
        "buckets": [{"start": b.origin + i * b.width, "count": n} for i, n in enumerate(counts)],
        "total": sum(counts),
        "kinds": dict(sorted(by_kind.items())),
    }


def histogram(store: Store, f: EventFilter, b: Buckets, tz: ZoneInfo) -> dict[str, Any]:
    """The whole histogram on the calling thread (the API spreads the tables over threads)."""
    return merge(b, [(kind, count_table(store, kind, cycle, f, b))
                     for kind, cycle in tables(store, f, b, tz)])
