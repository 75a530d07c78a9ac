"""Events newer than an id, oldest first: what a live tail polls for.

Both stores commit ids in increasing order (SQLite has one writer; PostgreSQL takes the
store's advisory lock around every write), so once :func:`high_water` has seen id ``N``
committed, every event with a smaller id is committed and visible too: reading
``after < id <= N`` table by table afterwards never skips an event that commits later
with a smaller id. Each table query is a seek on the id range.

    mark = high_water(reader)              # "from now on"
    ...
    events, mark = events_after(reader, f, mark, high_water(reader), limit=500)
"""

from __future__ import annotations

import dataclasses
from typing import Any
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.query.events import attribute_index, conditions, to_event, weeks_to_read
from logcycle.query.filters import EventFilter
from logcycle.query.scope import Reader


def high_water(reader: Reader) -> int:
    """The largest id committed in the two newest weeks (where new events land), in one
    statement; 0 when they are empty."""
    return reader.newest_id(weeks_to_read(reader.held(), None, None, ZoneInfo("UTC"))[:2])


def events_after(reader: Reader, f: EventFilter, after: int, upto: int, *, limit: int,
                 recent_only: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Events matching ``f`` with ``after < id <= upto``, oldest first, at most ``limit``,
    and the id to continue after (``upto`` when everything up to it was read).

    ``recent_only`` reads only the two newest weeks: where new events land once a tail
    has caught up (the first poll after a resume reads every week)."""
    if upto <= after:
        return [], after
    d = reader.dialect
    p = d.param
    timeless = dataclasses.replace(f, start=None, end=None)
    weeks = weeks_to_read(reader.held(), None, None, ZoneInfo("UTC"))
    if recent_only:
        weeks = weeks[:2]
    found: list[tuple[int, dict[str, Any]]] = []
    for week in weeks:
        cycle = week % cycles.CYCLES
        for kind in reader.kinds(f.searched_kinds()):
            where, params = conditions(timeless, p, d.like, None, kind=kind, dialect=d,
                                       index=attribute_index(reader, kind, cycle))
            names, rows = reader.select(kind, cycle, "*", [*where, f"id > {p}", f"id <= {p}"],
                                        [*params, after, upto], tail=f"ORDER BY id LIMIT {p}",
                                        tail_params=[limit + 1])
            found.extend((r[0], to_event(kind, names, r)) for r in rows)
    found.sort(key=lambda item: item[0])
    if len(found) > limit:
        return [e for _, e in found[:limit]], found[limit - 1][0]
    return [e for _, e in found], upto
