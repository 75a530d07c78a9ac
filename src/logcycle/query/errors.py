"""Error groups as ``GET /api/v1/errors`` shows them (store/errorgroups.py keeps them).

Without a ``query`` a group's ``count`` and ``daily`` counts come from the permanent
tables (hours), so they cover weeks whose events are gone; with one, from the matching
events the store still holds. Either way the rows above the groups' watermark (written
in the last second or so, not folded in yet) are counted too: answers are exact.

    groups = list_groups(store, GroupQuery(start=t0, end=t1, order="count"))
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from logcycle.query.events import where_clause
from logcycle.query.filters import EventFilter
from logcycle.store import errorgroups as eg
from logcycle.store import schema
from logcycle.store.base import Store

DAY_MS = 86_400_000
SPARK_DAYS = 14
MAX_DAYS = 92
ORDERS = ("last_seen", "count", "first_seen")
_NO_END = 2**62


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupQuery:
    """Which groups, over which range (epoch ms, inclusive; None: open)."""

    start: int | None = None
    end: int | None = None
    selection: EventFilter | None = None  # a query: count only the matching events
    statuses: tuple[str, ...] = ()
    order: str = "last_seen"
    limit: int = 100
    fingerprint: str | None = None


@dataclass(slots=True)
class _Tally:
    count: int = 0
    first: int = _NO_END
    last: int = -1
    first_id: int = _NO_END
    last_id: int = -1
    days: dict[int, int] = field(default_factory=dict)

    def add(self, n: int, first: int, last: int, first_id: int, last_id: int) -> None:
        self.count += n
        self.first, self.last = min(self.first, first), max(self.last, last)
        self.first_id, self.last_id = min(self.first_id, first_id), max(self.last_id, last_id)


def _fetch(store: Store) -> eg.Fetch:
    return lambda sql, params: store.fetch(sql, params)[1]


def _stored(store: Store, q: GroupQuery) -> dict[str, dict[str, Any]]:
    p = store.dialect.param
    where, params = "", []
    if q.fingerprint is not None:
        where, params = f" WHERE fingerprint = {p}", [q.fingerprint]
    names, rows = store.fetch(f"SELECT {', '.join(eg.GROUP_COLUMNS)} FROM lc_error_groups"
                              f"{where}", params)
    return {r[0]: dict(zip(names, r, strict=True)) for r in rows}


def _watermark(store: Store) -> int:
    _, rows = store.fetch(eg.watermark_sql(store.dialect), ())
    return int(rows[0][0]) if rows else 0


def _tables_tally(store: Store, q: GroupQuery, f: EventFilter, low: int) -> dict[str, _Tally]:
    """Per fingerprint, the error rows above id ``low`` that match ``f`` in q's range."""
    d = store.dialect
    f = dataclasses.replace(f, kinds=("error",), start=q.start, end=q.end)
    where, params = where_clause(f, d.param, d.like, None, kind="error", dialect=d)
    cond = (where + " AND " if where else " WHERE ") + f"id > {d.param} AND fingerprint IS NOT NULL"
    if q.fingerprint is not None:
        cond += f" AND fingerprint = {d.param}"
    params = [*params, low] + ([q.fingerprint] if q.fingerprint is not None else [])
    out: dict[str, _Tally] = {}
    for c in eg.held_cycles(store.held()):
        t = schema.table("error", c)
        _, rows = store.fetch(f"SELECT fingerprint, count(*), min(insert_instant), "
                              f"max(insert_instant), min(id), max(id) FROM {t}{cond} "
                              "GROUP BY fingerprint", params)
        for fp, n, first, last, first_id, last_id in rows:
            out.setdefault(fp, _Tally()).add(int(n), int(first), int(last), int(first_id),
                                             int(last_id))
        _, days = store.fetch(f"SELECT fingerprint, insert_instant / {DAY_MS}, count(*) "
                              f"FROM {t}{cond} GROUP BY 1, 2", params)
        for fp, day, n in days:
            tally = out[fp].days
            tally[int(day) * DAY_MS] = tally.get(int(day) * DAY_MS, 0) + int(n)
    return out


def _hours_tally(store: Store, q: GroupQuery) -> dict[str, _Tally]:
    """Per fingerprint, the counts of the permanent hour table within q's range."""
    p = store.dialect.param
    clauses: list[str] = []
    params: list[Any] = []
    if q.start is not None:
        clauses.append(f"hour >= {p}")
        params.append(q.start - q.start % eg.HOUR_MS)
    if q.end is not None:
        clauses.append(f"hour <= {p}")
        params.append(q.end)
    if q.fingerprint is not None:
        clauses.append(f"fingerprint = {p}")
        params.append(q.fingerprint)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    _, rows = store.fetch(f"SELECT fingerprint, hour / {DAY_MS}, sum(count) FROM "
                          f"lc_error_hours{where} GROUP BY 1, 2", params)
    out: dict[str, _Tally] = {}
    for fp, day, n in rows:
        t = out.setdefault(fp, _Tally())
        t.count += int(n)
        t.days[int(day) * DAY_MS] = t.days.get(int(day) * DAY_MS, 0) + int(n)
    return out


def _merge(a: dict[str, _Tally], b: dict[str, _Tally]) -> None:
    for fp, t in b.items():
        into = a.setdefault(fp, _Tally())
        into.add(t.count, t.first, t.last, t.first_id, t.last_id)
        for day, n in t.days.items():
            into.days[day] = into.days.get(day, 0) + n


def _new_group(store: Store, fp: str, t: _Tally) -> dict[str, Any]:
    """A group seen only above the watermark (not folded in yet)."""
    row: dict[str, Any] = {"fingerprint": fp, "count": 0, "first_seen": t.first,
                           "last_seen": t.last, "first_id": t.first_id, "last_id": t.last_id,
                           "status": "unresolved", "status_changed": t.first,
                           "regressed_id": None, "module_name": None, "message": None,
                           "last_request_key": None}
    for c in eg.held_cycles(store.held()):
        ex = eg.examples(_fetch(store), c, [t.last_id], store.dialect).get(t.last_id)
        if ex is not None:
            row["module_name"], row["message"], row["last_request_key"] = ex
    return row


def _apply_pending(store: Store, row: dict[str, Any], t: _Tally) -> None:
    """Fold rows above the watermark into a stored group's row (as the indexer will)."""
    if t.last_id > row["last_id"]:
        row["last_id"] = t.last_id
        for c in eg.held_cycles(store.held()):
            ex = eg.examples(_fetch(store), c, [t.last_id], store.dialect).get(t.last_id)
            if ex is not None:
                row["module_name"], row["message"], row["last_request_key"] = ex
    row["count"] += t.count
    row["last_seen"] = max(row["last_seen"], t.last)
    if row["status"] == "resolved" and t.last > row["status_changed"]:
        row["status"], row["regressed_id"] = "regressed", t.first_id
        row["status_changed"] = t.last


def list_groups(store: Store, q: GroupQuery) -> list[dict[str, Any]]:
    """The groups with occurrences in q's range (all groups without a range), ordered."""
    with store_snapshot(store):
        stored = _stored(store, q)
        low = _watermark(store)
        everything = EventFilter(kinds=("error",))
        pending = _tables_tally(store, dataclasses.replace(q, start=None, end=None),
                                everything, low)
        if q.selection is not None:
            counts = _tables_tally(store, q, q.selection, 0)
        else:
            counts = _hours_tally(store, q)
            _merge(counts, _tables_tally(store, q, everything, low))
    rows: list[dict[str, Any]] = []
    for fp, t in pending.items():
        if fp in stored:
            _apply_pending(store, stored[fp], t)
        else:
            stored[fp] = _new_group(store, fp, t)
            stored[fp]["count"] = t.count
    ranged = q.start is not None or q.end is not None or q.selection is not None
    for fp, row in stored.items():
        t = counts.get(fp, _Tally())
        if (ranged and t.count == 0) or (q.statuses and row["status"] not in q.statuses):
            continue
        rows.append(_shape(row, t, ranged, q))
    rows.sort(key=lambda r: (r[q.order], r["last_id"]), reverse=True)
    return rows[:q.limit]


def _shape(row: dict[str, Any], t: _Tally, ranged: bool, q: GroupQuery) -> dict[str, Any]:
    end = q.end if q.end is not None else max(row["last_seen"], 0)
    first_day = (end // DAY_MS - SPARK_DAYS + 1) if q.start is None else q.start // DAY_MS
    first_day = max(first_day, end // DAY_MS - MAX_DAYS + 1)
    days = [[d * DAY_MS, t.days.get(d * DAY_MS, 0)] for d in range(first_day, end // DAY_MS + 1)]
    out = {k: row[k] for k in ("fingerprint", "message", "module_name", "status",
                               "first_seen", "last_seen", "last_id", "last_request_key",
                               "status_changed", "regressed_id")}
    out["count"] = t.count if ranged else row["count"]
    out["total"] = row["count"]
    out["daily"] = days
    return out


def store_snapshot(store: Store) -> contextlib.AbstractContextManager[Any]:
    """One read snapshot where the engine gives one (so counts and groups agree)."""
    session = getattr(store, "_read_session", None)
    return contextlib.nullcontext() if session is None else session()
