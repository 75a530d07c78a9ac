"""What a rule's condition measures now: a count or a statistic of the matching events in
a window, or the error groups that are new or regressed since the last run.

A window is read by id range: ids grow with time, so :func:`window_low_id` finds, by a
binary search on the primary key (about 20 lookups), an id below every row inserted in
the window (with a minute of slack for writers whose clocks and commits overlap); the
query then reads only the window's rows, and still checks ``insert_instant``: exact.
A ``query`` is the query language (docs/query.md, through query/selection.py); counts
and statistics are computed by the engine of ``GET /api/v1/stats`` (query/stats.py),
exactly, over the window's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.alerts.rules import Count, NewGroup, Regressed, Rule, stats_metric
from logcycle.keys import Scope
from logcycle.query import stats
from logcycle.query.events import weeks_to_read
from logcycle.query.filters import EventFilter
from logcycle.query.scope import Reader
from logcycle.query.selection import selection
from logcycle.store import schema
from logcycle.store.base import Store

SLACK_MS = 60_000


@dataclass(frozen=True, slots=True)
class Measure:
    """One run's outcome: the value, whether the rule fires, the new watermark (error-group
    conditions), what fired (group fingerprints) for the notification."""

    value: float
    firing: bool
    threshold: float | None
    mark: int | None = None
    groups: tuple[str, ...] = ()


Lows = dict[tuple[int, int], int]


def window_low_id(store: Store, cycle: int, start: int, cache: Lows | None = None) -> int:
    """An id such that every row of ``cycle``'s tables inserted at or after ``start`` has
    a greater id (0 when the whole table may hold such rows); ``cache`` keeps the answers
    of one moment (rules with the same window share them)."""
    if cache is not None:
        if (cycle, start) not in cache:
            cache[(cycle, start)] = window_low_id(store, cycle, start)
        return cache[(cycle, start)]
    p = store.dialect.param
    bound = start - SLACK_MS
    lo, hi, table = 0, 0, ""
    for kind in ("general", "error", "screen"):  # any kind: ids are shared by all
        table = schema.table(kind, cycle)
        _, rows = store.fetch(f"SELECT min(id), max(id) FROM {table}", ())
        if rows and rows[0][0] is not None:
            lo, hi = int(rows[0][0]), int(rows[0][1])
            break
    else:
        return 0
    best = 0
    while lo <= hi:  # the greatest id whose row was inserted before start - slack
        mid = (lo + hi) // 2
        _, rows = store.fetch(f"SELECT id, insert_instant FROM {table} WHERE id >= {p} "
                              f"ORDER BY id LIMIT 1", [mid])
        if not rows:
            hi = mid - 1
        elif int(rows[0][1]) < bound:
            best, lo = int(rows[0][0]), int(rows[0][0]) + 1
        else:
            hi = mid - 1
    return best


def _lows(store: Store, start: int, end: int, tz: ZoneInfo, lows: Lows | None) -> dict[int, int]:
    """Per cycle of the window, the id its rows start after (:func:`window_low_id`)."""
    return {week % cycles.CYCLES: window_low_id(store, week % cycles.CYCLES, start, lows)
            for week in weeks_to_read(store.held(), start, end, tz)}


def value_in_window(store: Store, f: EventFilter, metric: str, start: int, end: int,
                    tz: ZoneInfo, lows: Lows | None = None) -> float | None:
    """``metric`` (as ``GET /api/v1/stats?metrics=`` takes it) of the events matching
    ``f`` inserted in [start, end], by the stats engine itself (query/stats.py), so that
    an alert and the stats API always agree; the window's rows are read from their
    first id on."""
    reader = Reader(store, Scope())
    return stats.stat(reader, f, metric, start, end, tz,
                      low_ids=_lows(store, start, end, tz, lows))


def measure(store: Store, rule: Rule, now: int, mark: int | None, tz: ZoneInfo,
            lows: Lows | None = None) -> Measure:
    """Run ``rule``'s condition as of ``now`` (``mark``: the last run's watermark)."""
    c = rule.condition
    if isinstance(c, NewGroup | Regressed):
        return _groups(store, isinstance(c, Regressed), mark)
    f = selection(rule.query)
    start = now - c.window_s * 1000 + 1
    metric = "count" if isinstance(c, Count) else stats_metric(c.metric)
    value = value_in_window(store, f, metric, start, now, tz, lows)
    return Measure(value if value is not None else 0.0,
                   value is not None and value > c.above, c.above)


def _groups(store: Store, regressed: bool, mark: int | None) -> Measure:
    """Groups first seen (or regressed) after ``mark``; the first run only sets the mark."""
    column = "regressed_id" if regressed else "first_id"
    _, top = store.fetch(f"SELECT COALESCE(max({column}), 0) FROM lc_error_groups", ())
    high = int(top[0][0])
    if mark is None:
        return Measure(0, False, None, high)
    p = store.dialect.param
    extra = " AND status = 'regressed'" if regressed else ""
    _, rows = store.fetch(f"SELECT fingerprint FROM lc_error_groups WHERE {column} > {p}"
                          f"{extra} ORDER BY {column} LIMIT 50", [mark])
    fps = tuple(str(r[0]) for r in rows)
    return Measure(len(fps), bool(fps), 0, max(high, mark), fps)
