"""Pure week / cycle / retention arithmetic (seed 001, CONTRACT section 4).

The week turns every Friday at 23:45 in the store's time zone. Week 0 starts at
1999-12-31T23:45:00; ``cycle = week mod 10`` picks one of the ten tables of each kind.

>>> from zoneinfo import ZoneInfo
>>> cycle_of(ms_of("2026-11-20T23:45:00+00:00"), ZoneInfo("UTC"))
3

Retention ``R`` (1..9) keeps the current week and the ``R`` weeks before it; every other
table is empty. :func:`plan` turns (time, what each table holds, retention) into the
actions of one maintenance run, and nothing here touches a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

CYCLES = 10
MAX_RETENTION = 9
WEEK = timedelta(days=7)
WEEK_MS = 7 * 24 * 3600 * 1000
_BASE = datetime(1999, 12, 31, 23, 45)  # naive: wall time in the store's zone


def ms_of(iso: str) -> int:
    """Epoch milliseconds of an ISO-8601 instant with an offset."""
    dt = datetime.fromisoformat(iso)
    if dt.tzinfo is None:
        raise ValueError(f"instant {iso!r} has no UTC offset")
    return int(dt.timestamp() * 1000)


def week_of(t_ms: int, tz: tzinfo) -> int:
    """Number of whole weeks between the base instant and ``t_ms`` (may be negative)."""
    wall = datetime.fromtimestamp(t_ms / 1000, tz).replace(tzinfo=None)
    return (wall - _BASE) // WEEK


def cycle_of(t_ms: int, tz: tzinfo) -> int:
    """Table number (0..9) of the week that holds ``t_ms``."""
    return week_of(t_ms, tz) % CYCLES


def week_start_ms(week: int, tz: tzinfo) -> int:
    """Epoch ms at which ``week`` begins (the Friday 23:45 wall time in ``tz``)."""
    wall = _BASE + week * WEEK
    return int(wall.replace(tzinfo=tz).timestamp() * 1000)


def next_rotation_ms(t_ms: int, tz: tzinfo) -> int:
    """The first rotation instant strictly after ``t_ms``."""
    return week_start_ms(week_of(t_ms, tz) + 1, tz)


def cycle_week(cycle: int, now_week: int) -> int:
    """The latest week not after ``now_week`` whose data belongs in table ``cycle``."""
    return now_week - ((now_week - cycle) % CYCLES)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one maintenance run does, and what each table holds afterwards."""

    week: int
    empty: frozenset[int]
    held: dict[int, int | None]

    @property
    def current(self) -> int:
        return self.week % CYCLES

    @property
    def previous(self) -> int:
        return (self.week - 1) % CYCLES


def check_retention(weeks: int) -> int:
    if not 1 <= weeks <= MAX_RETENTION:
        raise ValueError(f"retention must be 1 to {MAX_RETENTION} weeks, got {weeks}")
    return weeks


def plan(now_week: int, held: dict[int, int | None], retention: int) -> Plan:
    """Maintenance as of ``now_week``.

    ``held[c]`` is the week whose rows table ``c`` holds (None: empty). A table is emptied
    when it holds a week other than the one it is due to hold now, or a week older than
    the retention; the current week's table is always marked as holding ``now_week``.
    """
    check_retention(retention)
    empty: set[int] = set()
    after: dict[int, int | None] = {}
    for c in range(CYCLES):
        due = cycle_week(c, now_week)
        has = held.get(c)
        keep = has == due and due >= now_week - retention
        if has is not None and not keep:
            empty.add(c)
        after[c] = due if (keep or due == now_week) else None
    return Plan(week=now_week, empty=frozenset(empty), held=after)


def weeks_between(start_ms: int | None, end_ms: int | None,
                  tz: tzinfo) -> tuple[int | None, int | None]:
    """The first and last week a [start, end] range of insert instants can touch."""
    lo = week_of(start_ms, tz) if start_ms is not None else None
    hi = week_of(end_ms, tz) if end_ms is not None else None
    return lo, hi
