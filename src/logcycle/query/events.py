"""Listing events newest first with keyset pages, and the tree of one request.

Ids grow with insert time and each week's rows live in one cycle's tables, so a page is
read week by week, newest first, and stops as soon as it is full: a query touches only
the cycles that can hold matches.

    page = list_events(reader, EventFilter(kinds=("error",)), after=None, limit=50, tz=tz)
    page.events, page.next

Every function reads through a :class:`~logcycle.query.scope.Reader`, so a caller sees only
what its key's scope holds (an event out of scope is as absent as one that never was).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from logcycle import cycles
from logcycle.kinds import KINDS, FieldType, is_top_level
from logcycle.query import compile as qc
from logcycle.query.filters import EventFilter, encode_token, like_pattern
from logcycle.query.scope import Reader
from logcycle.query.wildcards import substring_pattern, wildcard_pattern
from logcycle.store import schema
from logcycle.store.search import MessagePattern, MessageQuery

MAX_REQUEST_EVENTS = 10_000
_JSON_COLUMNS = {k: {f.name for f in v.fields if f.type in (FieldType.JSON, FieldType.OBJECT)}
                 | {"attributes"} for k, v in KINDS.items()}
_BOOL_COLUMNS = {k: {f.name for f in v.fields if f.type is FieldType.BOOL}
                 for k, v in KINDS.items()}


@dataclass(frozen=True, slots=True)
class Page:
    events: list[dict[str, Any]]
    next: str | None


def to_event(kind: str, names: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    """A stored row as the API shows it: ``kind`` first, null fields left out, JSON
    columns embedded as JSON (not as strings)."""
    out: dict[str, Any] = {"kind": kind}
    js = _JSON_COLUMNS[kind]
    bools = _BOOL_COLUMNS[kind]
    for name, value in zip(names, row, strict=True):
        if value is None:
            continue
        if name in js:
            value = orjson.Fragment(value)
        elif name in bools:
            value = bool(value)
        out[name] = value
    return out


def weeks_to_read(held: dict[int, int | None], start: int | None, end: int | None,
                  tz: ZoneInfo) -> list[int]:
    """Weeks held by some table and within [start, end], newest first."""
    lo, hi = cycles.weeks_between(start, end, tz)
    weeks = {w for w in held.values() if w is not None}
    return sorted((w for w in weeks if (lo is None or w >= lo) and (hi is None or w <= hi)),
                  reverse=True)


def time_range(start: int | None, end: int | None, p: str) -> tuple[list[str], list[Any]]:
    """The clauses bounding ``insert_instant`` to [start, end] (either may be open)."""
    clauses: list[str] = []
    params: list[Any] = []
    if start is not None:
        clauses.append(f"insert_instant >= {p}")
        params.append(start)
    if end is not None:
        clauses.append(f"insert_instant <= {p}")
        params.append(end)
    return clauses, params


def conditions(f: EventFilter, p: str, like: str, after: int | None,
               rk: tuple[str, list[Any]] | None = None, *, kind: str | None = None,
               dialect: schema.Dialect | None = None,
               query: qc.Expr | bool | None = True,
               index: qc.Index | None = None) -> tuple[list[str], list[Any]]:
    """The WHERE conditions of ``f`` over one table of ``kind`` (and of a keyset
    ``after``, a request-key lookup). ``query``: True for all of ``f.query``, or the part
    of it left to add (None: nothing; the caller searched the message with the rest).
    ``index``: the store's attribute index of that table (:func:`attribute_index`)."""
    clauses: list[str] = []
    params: list[Any] = []
    expr = (f.query.expr if f.query is not None else None) if query is True else query
    if expr is not None and expr is not False:
        if kind is None or dialect is None:
            raise ValueError("a filter with a query needs the kind and the dialect")
        clauses, params = qc.where_for(expr, kind, dialect, index)
    if rk is not None:
        clauses.append(rk[0])
        params.extend(rk[1])
    if after is not None:
        clauses.append(f"id < {p}")
        params.append(after)
    span, span_params = time_range(f.start, f.end, p)
    clauses += span
    params += span_params
    for column, value in f.equalities():
        if column == "request_key" and rk is not None:
            continue
        clauses.append(f"{column} = {p}")  # column names come from EventFilter, never users
        params.append(value)
    if f.q is not None:
        clauses.append(f"message {like} {p} ESCAPE '\\'")
        params.append(like_pattern(f.q, wildcards=f.wildcard))
    return clauses, params


def where_clause(f: EventFilter, p: str, like: str, after: int | None,
                 **kw: Any) -> tuple[str, list[Any]]:
    """:func:`conditions` as one ``" WHERE …"`` clause ("" when there is none), for
    store-wide readers (error groups, alert conditions) that hold the store itself."""
    clauses, params = conditions(f, p, like, after, **kw)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def attribute_index(reader: Reader, kind: str, cycle: int) -> qc.Index:
    """The store's index of top-level attributes for ``oslog_<kind>_<cycle>``."""
    return functools.partial(reader.attribute_condition, kind, cycle)


def _pattern(f: EventFilter) -> tuple[MessagePattern | None, qc.Expr | bool | None]:
    """The message pattern a search of ``f`` reads through the store's message search
    (``q``/``message``, else a bare word of ``f.query``) and what of ``f.query`` is left
    for the WHERE clause (True: all of it)."""
    if f.q is not None:
        return (wildcard_pattern(f.q) if f.wildcard else substring_pattern(f.q)), True
    if f.query is not None:
        return qc.message_pattern(f.query)
    return None, True


def _search(reader: Reader, f: EventFilter, kind: str, cycle: int, after: int | None,
            rk: tuple[str, list[Any]] | None, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """Rows of one table whose message matches ``f.q`` or a bare word of ``f.query``,
    through the store's message search (SQLite: the trigram index built behind the
    writer, exact; store/sqlite_search.py)."""
    d = reader.dialect
    pattern, rest = _pattern(f)
    index = attribute_index(reader, kind, cycle)
    if pattern is not None:
        where, params = conditions(dataclasses.replace(f, q=None), d.param, d.like, None, rk,
                                   kind=kind, dialect=d, query=rest, index=index)
        columns = KINDS[kind].columns
        q = MessageQuery(kind=kind, cycles=(cycle,), columns=columns, pattern=pattern,
                         where=tuple(where), params=tuple(params), below_id=after, limit=limit)
        return [(r[0], to_event(kind, list(columns), r)) for r in reader.search(q).rows]
    where, params = conditions(f, d.param, d.like, after, rk, kind=kind, dialect=d,
                               index=index)
    names, rows = reader.select(kind, cycle, "*", where, params,
                                tail=f"ORDER BY id DESC LIMIT {d.param}", tail_params=[limit])
    return [(r[0], to_event(kind, names, r)) for r in rows]


def list_events(reader: Reader, f: EventFilter, *, after: int | None, limit: int,
                tz: ZoneInfo) -> Page:
    """One page of events matching ``f``, newest first, and the token of the next."""
    kinds = reader.kinds(f.searched_kinds())
    d = reader.dialect
    searched = _pattern(f)[0] is not None
    found: list[tuple[int, dict[str, Any]]] = []
    for week in weeks_to_read(reader.held(), f.start, f.end, tz):
        cycle = week % cycles.CYCLES
        batch: list[tuple[int, dict[str, Any]]] = []
        for kind in kinds:
            rk = (reader.request_key_condition(kind, cycle, f.request_key)
                  if f.request_key is not None else None)
            if searched and "message" in KINDS[kind].columns:
                batch.extend(_search(reader, f, kind, cycle, after, rk, limit + 1 - len(found)))
                continue
            where, params = conditions(f, d.param, d.like, after, rk, kind=kind, dialect=d,
                                       index=attribute_index(reader, kind, cycle))
            names, rows = reader.select(kind, cycle, "*", where, params,
                                        tail=f"ORDER BY id DESC LIMIT {d.param}",
                                        tail_params=[limit + 1 - len(found)])
            batch.extend((r[0], to_event(kind, names, r)) for r in rows)
        batch.sort(key=lambda item: item[0], reverse=True)
        found.extend(batch)
        if len(found) > limit:
            break
    events = [e for _, e in found[:limit]]
    more = len(found) > limit
    return Page(events, encode_token(found[limit - 1][0]) if more else None)


def request_tree(reader: Reader, request_key: str) -> dict[str, Any] | None:
    """Every event of one request: top-level events and drill events ordered by instant,
    each inline error nested under the event that carried it. None if there is none."""
    p = reader.dialect.param
    events: list[dict[str, Any]] = []
    for week in weeks_to_read(reader.held(), None, None, ZoneInfo("UTC")):
        cycle = week % cycles.CYCLES
        for kind in reader.kinds():
            cond, params = reader.request_key_condition(kind, cycle, request_key)
            names, rows = reader.select(kind, cycle, "*", [cond], params,
                                        tail=f"ORDER BY id LIMIT {p}",
                                        tail_params=[MAX_REQUEST_EVENTS + 1])
            events.extend(to_event(kind, names, r) for r in rows)
    if not events:
        return None
    truncated = len(events) > MAX_REQUEST_EVENTS
    by_id = {e["id"]: e for e in events if e["kind"] == "error"}
    linked = {e["error_id"] for e in events if "error_id" in e}
    for e in events:
        if "error_id" in e and e["error_id"] in by_id:
            e["error"] = by_id[e["error_id"]]
    rest = sorted((e for e in events if not (e["kind"] == "error" and e["id"] in linked)),
                  key=lambda e: (e["instant"], e["id"]))[:MAX_REQUEST_EVENTS]
    top = [e for e in rest if is_top_level(e["kind"], e)]
    drill = [e for e in rest if not is_top_level(e["kind"], e)]
    return {"request_key": request_key, "top_level": top, "drill": drill,
            "count": len(top) + len(drill), "truncated": truncated}


def find_event(reader: Reader, event_id: int, kinds: tuple[str, ...] = tuple(KINDS)) -> \
        dict[str, Any] | None:
    """The event with this id, from whichever kind and week holds it (None when there is
    none in the reader's scope)."""
    p = reader.dialect.param
    for week in weeks_to_read(reader.held(), None, None, ZoneInfo("UTC")):
        cycle = week % cycles.CYCLES
        for kind in reader.kinds(kinds):
            names, rows = reader.select(kind, cycle, "*", [f"id = {p}"], [event_id])
            if rows:
                return to_event(kind, names, rows[0])
    return None
