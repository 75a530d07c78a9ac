"""Events newer than an id, oldest first: what a live tail polls for.

Both stores commit ids in increasing order (SQLite has one writer; PostgreSQL takes the
store's advisory lock around every write), so once :func:`high_water` has seen id ``N``
committed, every event with a smaller id is committed and visible too: reading
``after < id <= N`` table by table afterwards never skips an event that commits later
with a smaller id. Each table query is a seek on the id range.

    mark = high_water(store)              # "from now on"
    ...
    events, mark = events_after(store, f, mark, high_water(store), limit=500)
"""

from __future__ import annotations

import dataclasses
from typing import Any
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.kinds import KINDS
from logcycle.query.events import _where, attribute_index, to_event, weeks_to_read
from logcycle.query.filters import EventFilter
from logcycle.store import schema
from logcycle.store.base import Store


def high_water(store: Store) -> int:
    """The largest id committed in the two newest weeks (where new events land), in one
    statement; 0 when they are empty."""
    weeks = weeks_to_read(store.held(), None, None, ZoneInfo("UTC"))[:2]
    parts = [f"SELECT max(id) AS m FROM {schema.table(kind, week % cycles.CYCLES)}"
             for week in weeks for kind in KINDS]
    if not parts:
        return 0
    _, rows = store.fetch(f"SELECT max(m) FROM ({' UNION ALL '.join(parts)}) AS newest", [])
    return int(rows[0][0] or 0)


def events_after(store: Store, f: EventFilter, after: int, upto: int, *, limit: int,
                 recent_only: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Events matching ``f`` with ``after < id <= upto``, oldest first, at most ``limit``,
    and the id to continue after (``upto`` when everything up to it was read).

    ``recent_only`` reads only the two newest weeks: where new events land once a tail
    has caught up (the first poll after a resume reads every week)."""
    if upto <= after:
        return [], after
    d = store.dialect
    p = d.param
    timeless = dataclasses.replace(f, start=None, end=None)
    weeks = weeks_to_read(store.held(), None, None, ZoneInfo("UTC"))
    if recent_only:
        weeks = weeks[:2]
    found: list[tuple[int, dict[str, Any]]] = []
    for week in weeks:
        cycle = week % cycles.CYCLES
        for kind in f.searched_kinds():
            where, params = _where(timeless, p, d.like, None, kind=kind, dialect=d,
                                   index=attribute_index(store, kind, cycle))
            where = (f"{where} AND id > {p} AND id <= {p}" if where
                     else f" WHERE id > {p} AND id <= {p}")
            names, rows = store.fetch(
                f"SELECT * FROM {schema.table(kind, cycle)}{where} ORDER BY id LIMIT {p}",
                [*params, after, upto, limit + 1])
            found.extend((r[0], to_event(kind, names, r)) for r in rows)
    found.sort(key=lambda item: item[0])
    if len(found) > limit:
        return [e for _, e in found[:limit]], found[limit - 1][0]
    return [e for _, e in found], upto
