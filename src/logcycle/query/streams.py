"""The log entries of one source (RPC ``Log.List``): ``general`` events by ``src`` and
``stream``, newest first, read through the partial index ``(src, stream, id)``.

Without a stream, the source's streams are found by skipping through that index (one
short lookup per stream) and each stream is read newest first, so a page costs a few index
lookups however many entries the source has.

    entries = list_source(reader, "//api.cesanta.com/device_123", stream="console",
                          before=None, limit=10)
"""

from __future__ import annotations

import heapq
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from logcycle import cycles
from logcycle.query.events import weeks_to_read
from logcycle.query.scope import Reader

MAX_STREAMS = 32  # a source with more streams is read in one sorted query instead
_COLUMNS = "id, instant, stream, msg, message"


def to_entry(row: tuple[Any, ...]) -> dict[str, Any]:
    """``{"stream", "msg", "timestamp", "id"}`` as the seed shows them; ``msg`` is the
    stored JSON (object, array or string), or the message for events sent without one."""
    event_id, instant, stream, msg, message = row
    entry: dict[str, Any] = {}
    if stream is not None:
        entry["stream"] = stream
    entry["msg"] = orjson.Fragment(msg) if msg is not None else message
    entry["timestamp"] = instant
    entry["id"] = str(event_id)
    return entry


def list_source(reader: Reader, src: str, *, stream: str | None, before: int | None,
                limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` entries of ``src`` (and ``stream``) with ids below ``before``."""
    rows: list[tuple[Any, ...]] = []
    for week in weeks_to_read(reader.held(), None, None, ZoneInfo("UTC")):
        if len(rows) >= limit:
            break
        cycle = week % cycles.CYCLES
        rows.extend(_from_table(reader, cycle, src, stream, before, limit - len(rows)))
    return [to_entry(r) for r in rows[:limit]]


def _page(reader: Reader, cycle: int, where: str, params: list[Any], before: int | None,
          limit: int) -> list[tuple[Any, ...]]:
    p = reader.dialect.param
    if before is not None:
        where += f" AND id < {p}"
        params = [*params, before]
    _, rows = reader.select("general", cycle, _COLUMNS, [where], params,
                            tail=f"ORDER BY id DESC LIMIT {p}", tail_params=[limit])
    return rows


def _from_table(reader: Reader, cycle: int, src: str, stream: str | None, before: int | None,
                limit: int) -> list[tuple[Any, ...]]:
    p = reader.dialect.param
    if stream is not None:
        return _page(reader, cycle, f"src = {p} AND stream = {p}", [src, stream], before, limit)
    streams = _streams(reader, cycle, src)
    if streams is None:
        return _page(reader, cycle, f"src = {p}", [src], before, limit)
    pages = [_page(reader, cycle, f"src = {p} AND stream = {p}", [src, s], before, limit)
             if s is not None else
             _page(reader, cycle, f"src = {p} AND stream IS NULL", [src], before, limit)
             for s in streams]
    merged = heapq.merge(*pages, key=lambda r: -int(r[0]))
    return [r for _, r in zip(range(limit), merged, strict=False)]


def _streams(reader: Reader, cycle: int, src: str) -> list[str | None] | None:
    """The source's streams (None among them for events without one), skipping through
    the index one stream at a time; None when there are more than MAX_STREAMS."""
    p = reader.dialect.param
    _, rows = reader.select("general", cycle, "1", [f"src = {p}", "stream IS NULL"], [src],
                            tail="LIMIT 1")
    found: list[str | None] = [None] if rows else []
    last: str | None = None
    while len(found) <= MAX_STREAMS:
        cond, params = (f"src = {p}", [src]) if last is None else \
            (f"src = {p} AND stream > {p}", [src, last])
        _, rows = reader.select("general", cycle, "min(stream)", [cond], params)
        if rows[0][0] is None:
            return found
        last = str(rows[0][0])
        found.append(last)
    return None
