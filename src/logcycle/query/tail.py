"""Events newer than an id, oldest first: what a live tail polls for.

The writer commits ``lc_meta.next_id`` in the same transaction as the rows it numbered, so
once :func:`high_water` has read ``N``, every event with an id below ``N`` is committed
and visible: reading ``after < id <= N - 1`` table by table never skips an event that
commits later with a smaller id. Each table query is a seek on the rowid range.

    mark = high_water(store)              # "from now on"
    ...
    events, mark = events_after(store, f, mark, high_water(store), limit=500)
"""

from __future__ import annotations

import dataclasses
from typing import Any
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.query.events import _where, to_event, weeks_to_read
from logcycle.query.filters import EventFilter
from logcycle.store import schema
from logcycle.store.base import Store


def high_water(store: Store) -> int:
    """The largest id that may exist now (0 on an empty store)."""
    _, rows = store.fetch(f"SELECT value FROM lc_meta WHERE name = {store.dialect.param}",
                          ["next_id"])
    return int(rows[0][0]) - 1 if rows else 0


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
    where, params = _where(timeless, p, d.like, None)
    where = f"{where} AND id > {p} AND id <= {p}" if where else f" WHERE id > {p} AND id <= {p}"
    weeks = weeks_to_read(store.held(), None, None, ZoneInfo("UTC"))
    if recent_only:
        weeks = weeks[:2]
    found: list[tuple[int, dict[str, Any]]] = []
    for week in weeks:
        cycle = week % cycles.CYCLES
        for kind in f.searched_kinds():
            names, rows = store.fetch(
                f"SELECT * FROM {schema.table(kind, cycle)}{where} ORDER BY id LIMIT {p}",
                [*params, after, upto, limit])
            found.extend((r[0], to_event(kind, names, r)) for r in rows)
    found.sort(key=lambda item: item[0])
    if len(found) > limit:
        return [e for _, e in found[:limit]], found[limit - 1][0]
    return [e for _, e in found], upto
