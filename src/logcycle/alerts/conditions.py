"""What a rule's condition measures now: a count or a statistic of the matching events in
a window, or the error groups that are new or regressed since the last run.

A window is read by id range: ids grow with time, so :func:`window_low_id` finds, by a
binary search on the primary key (about 20 lookups), an id below every row inserted in
the window (with a minute of slack for writers whose clocks and commits overlap); the
query then reads only the window's rows, and still checks ``insert_instant``: exact.
A ``query`` is the query language (docs/query.md, through query/selection.py); a
statistic is computed exactly over the window's rows.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.alerts.rules import Count, NewGroup, Regressed, Rule, Stat
from logcycle.kinds import KINDS
from logcycle.query.events import weeks_to_read, where_clause
from logcycle.query.filters import EventFilter
from logcycle.query.selection import selection
from logcycle.store import schema
from logcycle.store.base import Store

SLACK_MS = 60_000
_METRIC = re.compile(r"(p\d\d|avg|min|max)\((\w+)\)|count\(\)")


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


def _window_rows(store: Store, f: EventFilter, column: str, start: int,
                 end: int, tz: ZoneInfo, lows: Lows | None = None) -> list[tuple[Any, ...]]:
    """``column`` of each event matching ``f`` inserted in [start, end]."""
    d = store.dialect
    f = dataclasses.replace(f, start=start, end=end)
    out: list[tuple[Any, ...]] = []
    for week in weeks_to_read(store.held(), start, end, tz):
        cycle = week % cycles.CYCLES
        low = window_low_id(store, cycle, start, lows)
        for kind in f.searched_kinds():
            if column not in KINDS[kind].columns:
                continue
            where, params = where_clause(f, d.param, d.like, None, kind=kind, dialect=d)
            where += f" AND id > {d.param}"
            _, rows = store.fetch(f"SELECT {column} FROM {schema.table(kind, cycle)}{where}",
                                  [*params, low])
            out.extend(rows)
    return out


def count_in_window(store: Store, f: EventFilter, start: int, end: int, tz: ZoneInfo,
                    lows: Lows | None = None) -> int:
    d = store.dialect
    f = dataclasses.replace(f, start=start, end=end)
    total = 0
    for week in weeks_to_read(store.held(), start, end, tz):
        cycle = week % cycles.CYCLES
        low = window_low_id(store, cycle, start, lows)
        for kind in f.searched_kinds():
            where, params = where_clause(f, d.param, d.like, None, kind=kind, dialect=d)
            _, rows = store.fetch(f"SELECT count(*) FROM {schema.table(kind, cycle)}{where} "
                                  f"AND id > {d.param}", [*params, low])
            total += int(rows[0][0])
    return total


def stat_value(values: list[float], metric: str) -> float | None:
    """``p95`` … ``p50``, ``avg``, ``min``, ``max`` of ``values`` (None when empty);
    percentiles by the nearest-rank method.

    >>> stat_value([float(i) for i in range(1, 101)], "p95")
    95.0
    """
    if not values:
        return None
    if metric == "avg":
        return sum(values) / len(values)
    if metric in ("min", "max"):
        return min(values) if metric == "min" else max(values)
    rank = max(1, math.ceil(int(metric[1:]) / 100 * len(values)))
    return sorted(values)[rank - 1]


def measure(store: Store, rule: Rule, now: int, mark: int | None, tz: ZoneInfo,
            lows: Lows | None = None) -> Measure:
    """Run ``rule``'s condition as of ``now`` (``mark``: the last run's watermark)."""
    c = rule.condition
    if isinstance(c, NewGroup | Regressed):
        return _groups(store, isinstance(c, Regressed), mark)
    f = selection(rule.query)
    start = now - c.window_s * 1000 + 1
    if isinstance(c, Count):
        n = count_in_window(store, f, start, now, tz, lows)
        return Measure(n, n > c.above, c.above)
    return _stat(store, f, c, start, now, tz, lows)


def _stat(store: Store, f: EventFilter, c: Stat, start: int, now: int, tz: ZoneInfo,
          lows: Lows | None) -> Measure:
    m = _METRIC.fullmatch(c.metric)
    assert m is not None  # checked by parse_rule
    if m.group(1) is None:  # count()
        n = count_in_window(store, f, start, now, tz, lows)
        return Measure(n, n > c.above, c.above)
    rows = _window_rows(store, f, m.group(2), start, now, tz, lows)
    value = stat_value([float(r[0]) for r in rows if r[0] is not None], m.group(1))
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
