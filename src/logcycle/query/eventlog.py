"""Event logs (seed 003): ``general`` events whose ``message_type`` is one of the three
event log types, searched and shaped as the Event Log API shows them.

    found = search_event_logs(reader, EventLogSearch(message="disk*full"), tz=tz)
    found.event_logs, found.total
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.query.events import time_range, weeks_to_read
from logcycle.query.scope import Reader
from logcycle.query.wildcards import wildcard_pattern
from logcycle.store.search import MessageQuery

TYPES: tuple[str, ...] = ("Information", "Debug", "Error")
COLUMNS = ("id", "insert_instant", "message", "message_type")
# orderBy's documented columns → the column that orders them. `insertInstant` orders by
# id: ids grow in insert order, so it is insert order even across a step of the clock.
# logcycle keeps no insert user (every event log has none), so `insertUser` leaves the
# rows in insert order too.
ORDER_COLUMNS: dict[str, str] = {
    "insertInstant": "id",
    "insertUser": "id",
    "message": "message",
    "type": "message_type",
}
MAX_RESULTS = 1000
# A page is found by skipping startRow matches, and ordered by message or type by keeping
# the first startRow + numberOfResults of all of them in order: deep pages cost in
# proportion, so they are refused past this (docs/eventlog.md). Ordered by insertInstant,
# narrow the search with start/end to go further back.
MAX_START_ROW = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class EventLogSearch:
    """The search criteria of the seed, parsed: instants in epoch ms (inclusive)."""

    message: str | None = None
    start: int | None = None
    end: int | None = None
    type: str | None = None
    number_of_results: int = 25
    start_row: int = 0
    order_column: str = "id"
    descending: bool = True


@dataclass(frozen=True, slots=True)
class Found:
    event_logs: list[dict[str, Any]]
    total: int


def to_event_log(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row of ``COLUMNS`` as the API shows it."""
    return {"id": row[0], "insertInstant": row[1], "message": row[2], "type": row[3]}


def search_event_logs(reader: Reader, s: EventLogSearch, *, tz: ZoneInfo) -> Found:
    """One page of event logs and the number that match, in the order asked."""
    p = reader.dialect.param
    where: list[str] = []
    params: list[Any] = []
    if s.type is not None:
        where.append(f"message_type = {p}")
        params.append(s.type)
    else:
        where.append(f"message_type IN ({reader.dialect.params(len(TYPES))})")
        params.extend(TYPES)
    span, span_params = time_range(s.start, s.end, p)
    where += span
    params += span_params
    weeks = weeks_to_read(reader.held(), s.start, s.end, tz)
    if not s.descending:
        weeks.reverse()
    q = MessageQuery(kind="general", cycles=tuple(w % cycles.CYCLES for w in weeks),
                     columns=COLUMNS, pattern=wildcard_pattern(s.message or ""),
                     where=tuple(where), params=tuple(params), order_column=s.order_column,
                     descending=s.descending, limit=s.number_of_results, offset=s.start_row,
                     count=True)
    result = reader.search(q)
    return Found([to_event_log(r) for r in result.rows], result.total or 0)


def get_event_log(reader: Reader, event_id: int) -> dict[str, Any] | None:
    """The event log with this id; None if there is none (or that event is no event log,
    or is out of the reader's scope)."""
    p = reader.dialect.param
    for week in weeks_to_read(reader.held(), None, None, ZoneInfo("UTC")):
        _, rows = reader.select("general", week % cycles.CYCLES, ", ".join(COLUMNS),
                                [f"id = {p}"], [event_id])
        if rows:
            return to_event_log(rows[0]) if rows[0][3] in TYPES else None
    return None
