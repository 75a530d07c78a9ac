"""Statistics of matching events per group (and per time bucket): ``GET /api/v1/stats``,
the page's Reports and the alert conditions share this one engine.

Each table that can hold matches (one per kind and week of the range) answers one
``GROUP BY`` query with the metrics SQL can add up across tables (count, sum, min, max,
errors). Percentiles and distinct counts need every value of a group at once: then each
table is read once as rows of (group, error flag, the metric fields) and Python groups,
sorts and ranks them (cheaper than making the database sort, measured: bench/query.py).
Percentiles are exact: the nearest-rank value (the smallest value with at least p% of the group's
values at or below it).

    req = StatsRequest(filter=EventFilter(kinds=("screen",), start=s, end=e),
                       by=("screen",), metrics=parse_metrics("count,p95(duration_ms)"))
    rows = stats(reader, req, tz)          # [{"screen": "Cart", "count": 9, …}, …]
    stat(reader, "kind:screen", "p95(duration_ms)", s, e, tz)   # one number, or None
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.errors import BadRequest, FieldError
from logcycle.kinds import KINDS, FieldType
from logcycle.query import lang
from logcycle.query.events import attribute_index, conditions, weeks_to_read
from logcycle.query.filters import EventFilter
from logcycle.query.scope import Reader
from logcycle.store import schema

PERCENTILES = {"p50": 50, "p75": 75, "p90": 90, "p95": 95, "p99": 99}
FIELD_METRICS = ("avg", "min", "max", "sum", *PERCENTILES, "count_distinct")
MAX_GROUPS = 10_000
MAX_BUCKETS = 1000
UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
MIN_INTERVAL_MS = 60_000
_METRIC = re.compile(r"([a-z_0-9]+)(?:\(([a-z_][a-z0-9_]*)\))?")


@dataclass(frozen=True, slots=True)
class Metric:
    """``count``, ``error_rate``, or a function of one field (``p95(duration_ms)``)."""

    fn: str
    field: str | None = None

    @property
    def name(self) -> str:
        return self.fn if self.field is None else f"{self.fn}({self.field})"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsRequest:
    filter: EventFilter
    by: tuple[str, ...] = ()
    metrics: tuple[Metric, ...] = (Metric("count"),)
    interval: int | None = None  # bucket width in ms; buckets start at multiples of it
    order: str | None = None  # a metric name; None: the bucket, then the first metric
    descending: bool = True
    limit: int = 1000
    # Per cycle, an id below every row of the range (alert windows: a binary search on the
    # key, alerts/conditions.py): the tables are read from there; insert_instant still
    # bounds the range exactly.
    low_ids: Mapping[int, int] | None = None


def bad(param: str, message: str) -> BadRequest:
    return BadRequest(f"{param}: {message}", code="invalid_parameter",
                      errors=[FieldError(field=param, message=message)])


# -- parameters ---------------------------------------------------------------------------
def parse_metrics(text: str | None) -> tuple[Metric, ...]:
    """``count,p95(duration_ms)`` → metrics; a 400 naming ``metrics`` otherwise."""
    if not text:
        return (Metric("count"),)
    out: list[Metric] = []
    for part in (p.strip() for p in text.split(",")):
        m = _METRIC.fullmatch(part)
        if m is None:
            raise bad("metrics", f"cannot read {part[:40]!r}: use count, error_rate or "
                      f"fn(field) with fn one of {', '.join(FIELD_METRICS)}")
        fn, field = m.group(1), m.group(2)
        if fn in ("count", "error_rate") and field is None:
            out.append(Metric(fn))
        elif fn in FIELD_METRICS and field is not None:
            out.append(Metric(fn, _metric_field(fn, field)))
        else:
            raise bad("metrics", f"unknown metric {part[:40]!r}: count, error_rate, "
                      f"{', '.join(f + '(field)' for f in FIELD_METRICS)}")
    if len(out) > 20:
        raise bad("metrics", "at most 20 metrics")
    return tuple(dict.fromkeys(out))


def _metric_field(fn: str, field: str) -> str:
    ftype = lang.FIELD_TYPES.get(field)
    if ftype is None or ftype is FieldType.JSON or ftype is FieldType.OBJECT:
        raise bad("metrics", f"{fn}({field}): no column {field!r}; fields: "
                  f"{', '.join(sorted(lang.FIELD_TYPES))}")
    if fn != "count_distinct" and ftype not in (FieldType.NUMBER, FieldType.INSTANT):
        raise bad("metrics", f"{fn}({field}): {field} is {ftype.value}; {fn} takes a number "
                  "or an instant (count_distinct takes any column)")
    return field


def parse_by(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if len(names) > 4:
        raise bad("by", "at most 4 fields")
    for name in names:
        ftype = lang.FIELD_TYPES.get(name) if name != "kind" else FieldType.TEXT
        if ftype is None or ftype in (FieldType.JSON, FieldType.OBJECT) or name == "id":
            raise bad("by", f"cannot group by {name!r}; fields: kind, "
                      f"{', '.join(sorted(set(lang.FIELD_TYPES) - {'id', 'attributes'}))}")
    return names


def parse_interval(text: str | None) -> int | None:
    """``5m`` → 300000 (ms); 1m to 1w."""
    if not text:
        return None
    m = re.fullmatch(r"(\d{1,4})([smhdw])", text.strip())
    ms = int(m.group(1)) * UNITS[m.group(2)] if m else 0
    if not MIN_INTERVAL_MS <= ms <= UNITS["w"]:
        raise bad("interval", f"must be 1m to 1w (a number and s, m, h, d or w), got "
                  f"{text[:20]!r}")
    return ms


def parse_order(text: str | None, metrics: Sequence[Metric]) -> tuple[str | None, bool]:
    if not text:
        return None, True
    name, _, direction = text.strip().partition(" ")
    direction = direction.strip().lower() or "desc"
    names = [m.name for m in metrics]
    if name not in names or direction not in ("asc", "desc"):
        raise bad("order", f"must be one of the metrics ({', '.join(names)}) then asc or "
                  f"desc, got {text[:60]!r}")
    return name, direction == "desc"


# -- per table ----------------------------------------------------------------------------
def kinds_for(req: StatsRequest) -> tuple[str, ...]:
    """The kinds searched: those of the filter that have every ``by`` field."""
    return tuple(k for k in req.filter.searched_kinds()
                 if all(b == "kind" or b in KINDS[k].columns for b in req.by))


def tables(reader: Reader, req: StatsRequest, tz: ZoneInfo) -> list[tuple[str, int]]:
    f = req.filter
    weeks = weeks_to_read(reader.held(), f.start, f.end, tz)
    return [(kind, week % cycles.CYCLES) for week in weeks
            for kind in reader.kinds(kinds_for(req))]


def _keys(req: StatsRequest, kind: str, p: str) -> tuple[list[str], list[Any]]:
    """The SELECT expressions of the group key (``kind`` is a constant) and their params."""
    exprs: list[str] = []
    params: list[Any] = []
    for b in req.by:
        if b == "kind":
            exprs.append(f"CAST({p} AS TEXT)")
            params.append(kind)
        else:
            exprs.append(b)
    if req.interval is not None:
        exprs.append(f"(insert_instant / CAST({p} AS BIGINT)) * CAST({p} AS BIGINT)")
        params += [req.interval, req.interval]
    return exprs, params


def failed_sql(kind: str, cycle: int) -> str:
    """1 for a failed event of ``oslog_<kind>_<cycle>``, else 0 (what ``error_rate``
    counts): an error event; an event with an ``error_id`` (its inline error); a
    top-level event (an exposed integration, a screen, a mobile request, a cyclic job)
    whose request has an error event (seed 001: "an error in a top-level object because
    of an error in a drill object"), looked for in the same week's error table."""
    if kind == "error":
        return "1"
    own = "error_id IS NOT NULL" if "error_id" in KINDS[kind].columns else ""
    if not KINDS[kind].top_level and kind != "integration":
        return f"CASE WHEN {own} THEN 1 ELSE 0 END" if own else "0"
    request = (f"request_key IN (SELECT request_key FROM {schema.table('error', cycle)} "
               "WHERE request_key IS NOT NULL)")
    if kind == "integration":  # top-level only when exposed
        request = f"(is_expose AND {request})"
    return f"CASE WHEN {' OR '.join(filter(None, (own, request)))} THEN 1 ELSE 0 END"


def _aggregates(req: StatsRequest, kind: str, cycle: int, d: schema.Dialect) -> list[str]:
    """count, errors, then per mergeable metric field: sum, count, min, max."""
    cols = KINDS[kind].columns
    out = ["count(*)", f"COALESCE(sum({failed_sql(kind, cycle)}), 0)"]
    for field in _summed_fields(req):
        if field in cols:  # a float sum: PostgreSQL sums BIGINT as numeric
            out += [f"sum(CAST({field} AS {d.real}))", f"count({field})", f"min({field})",
                    f"max({field})"]
        else:
            out += ["NULL", "0", "NULL", "NULL"]
    return out


def _summed_fields(req: StatsRequest) -> list[str]:
    return sorted({m.field for m in req.metrics
                   if m.field is not None and m.fn in ("avg", "min", "max", "sum")})


def valued_fields(req: StatsRequest) -> list[str]:
    return sorted({m.field for m in req.metrics
                   if m.field is not None and (m.fn in PERCENTILES or m.fn == "count_distinct")})


def _conditions(reader: Reader, req: StatsRequest, kind: str,
                cycle: int) -> tuple[list[str], list[Any]]:
    d = reader.dialect
    where, params = conditions(req.filter, d.param, d.like, None, kind=kind, dialect=d,
                               index=attribute_index(reader, kind, cycle))
    low = (req.low_ids or {}).get(cycle % cycles.CYCLES)
    if low:
        where, params = [*where, f"id > {d.param}"], [*params, low]
    return where, params


def aggregate_table(reader: Reader, req: StatsRequest, kind: str, cycle: int) -> \
        list[tuple[Any, ...]]:
    """One table's groups: (key..., count, errors, [sum, n, min, max] per summed field)."""
    d = reader.dialect
    keys, key_params = _keys(req, kind, d.param)
    where, params = _conditions(reader, req, kind, cycle)
    group = f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    _, rows = reader.select(kind, cycle, ", ".join([*keys, *_aggregates(req, kind, cycle, d)]),
                            where, params, tail=group, head_params=key_params)
    return rows


def metric_fields(req: StatsRequest) -> list[str]:
    return sorted({m.field for m in req.metrics if m.field is not None})


def rows_table(reader: Reader, req: StatsRequest, kind: str,
               cycle: int) -> list[tuple[Any, ...]]:
    """One table's matching rows as (key..., error flag, value of each metric field): for
    percentiles and distinct counts, which need every value of a group at once."""
    d = reader.dialect
    cols = KINDS[kind].columns
    keys, key_params = _keys(req, kind, d.param)
    where, params = _conditions(reader, req, kind, cycle)
    error = failed_sql(kind, cycle)
    values = [f if f in cols else "NULL" for f in metric_fields(req)]
    _, rows = reader.select(kind, cycle, ", ".join([*keys, error, *values]), where, params,
                            head_params=key_params)
    return rows


def merge_rows(req: StatsRequest, parts: list[list[tuple[Any, ...]]]) -> list[dict[str, Any]]:
    """The answer's rows from every table's :func:`rows_table`."""
    nkeys = len(req.by) + (req.interval is not None)
    fields = metric_fields(req)
    summed = set(_summed_fields(req))
    groups: dict[tuple[Any, ...], _Group] = {}
    for rows in parts:
        for row in rows:
            key = row[:nkeys]
            g = groups.get(key) or _group(groups, key)
            g.count += 1
            g.errors += row[nkeys]
            for i, field in enumerate(fields, nkeys + 1):
                if row[i] is not None:
                    g.values.setdefault(field, []).append(row[i])
    for g in groups.values():
        for field, vals in g.values.items():
            vals.sort()
            if field in summed:
                g.sums[field] = [sum(vals), len(vals), vals[0], vals[-1]]
            g.values[field] = _ranked(vals)
    return _order(req, [_row(req, key, g) for key, g in groups.items()])


def _ranked(ordered: list[Any]) -> list[Any]:
    """[distinct count, p50, p75, p90, p95, p99] of sorted values; a percentile is the
    nearest rank: the value ranked ceil(p% of n)."""
    n = len(ordered)
    return [len(set(ordered)),
            *(ordered[max(0, (p * n + 99) // 100 - 1)] for p in PERCENTILES.values())]


def too_many(what: str) -> BadRequest:
    return BadRequest(f"{what}: narrow the query (a shorter range, a query, fewer by "
                      "fields)", code="too_many_groups",
                      errors=[FieldError(field="by", message=what)])


# -- merging ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Group:
    count: int = 0
    errors: int = 0
    sums: dict[str, list[Any]] = dataclasses.field(default_factory=dict)  # [sum, n, min, max]
    # per field: its values, then [distinct count, p50 … p99] (merge_rows)
    values: dict[str, list[Any]] = dataclasses.field(default_factory=dict)


def merge(req: StatsRequest, aggregates: list[list[tuple[Any, ...]]]) -> list[dict[str, Any]]:
    """The answer's rows from every table's :func:`aggregate_table`."""
    nkeys = len(req.by) + (req.interval is not None)
    summed = _summed_fields(req)
    groups: dict[tuple[Any, ...], _Group] = {}
    for rows in aggregates:
        for row in rows:
            g = _group(groups, row[:nkeys])
            g.count += int(row[nkeys])
            g.errors += int(row[nkeys + 1])
            for i, field in enumerate(summed):
                _add_sum(g.sums.setdefault(field, [None, 0, None, None]),
                         row[nkeys + 2 + 4 * i: nkeys + 6 + 4 * i])
    return _order(req, [_row(req, key, g) for key, g in groups.items() if g.count])


def _group(groups: dict[tuple[Any, ...], _Group], key: tuple[Any, ...]) -> _Group:
    g = groups.get(key)
    if g is None:
        if len(groups) >= MAX_GROUPS:
            raise too_many(f"more than {MAX_GROUPS:,} groups")
        g = groups[key] = _Group()
    return g


def _add_sum(acc: list[Any], part: Sequence[Any]) -> None:
    s, n, lo, hi = part
    if not n:
        return
    acc[0] = s if acc[0] is None else acc[0] + s
    acc[1] += int(n)
    acc[2] = lo if acc[2] is None else min(acc[2], lo)
    acc[3] = hi if acc[3] is None else max(acc[3], hi)


def _row(req: StatsRequest, key: tuple[Any, ...], g: _Group) -> dict[str, Any]:
    out: dict[str, Any] = dict(zip(req.by, key, strict=False))
    if req.interval is not None:
        out["bucket"] = int(key[-1])
    for m in req.metrics:
        out[m.name] = _metric(m, g)
    return out


def _metric(m: Metric, g: _Group) -> Any:
    if m.fn == "count":
        return g.count
    if m.fn == "error_rate":
        return g.errors / g.count if g.count else None
    assert m.field is not None
    if m.fn in ("avg", "min", "max", "sum"):
        s, n, lo, hi = g.sums.get(m.field, [None, 0, None, None])
        if not n:
            return None
        return {"avg": s / n if n else None, "sum": s, "min": lo, "max": hi}[m.fn]
    vals = g.values.get(m.field)
    if m.fn == "count_distinct":
        return int(vals[0]) if vals else 0
    return vals[1 + list(PERCENTILES).index(m.fn)] if vals else None


def _order(req: StatsRequest, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = [*req.by, *(["bucket"] if req.interval is not None else [])]

    def group_key(r: dict[str, Any]) -> tuple[Any, ...]:
        return tuple((r[k] is None, r[k] if r[k] is not None else 0) for k in keys)

    rows.sort(key=group_key)  # stable: ties of the order below keep this order
    order = req.order or (None if req.interval is not None else req.metrics[0].name)
    if order is not None:
        present = [r for r in rows if r[order] is not None]
        present.sort(key=lambda r: r[order], reverse=req.descending)
        rows = present + [r for r in rows if r[order] is None]
    return rows[:req.limit]


def needs_rows(req: StatsRequest) -> bool:
    """True when a metric needs every value (percentiles, distinct counts): the tables are
    then read once as rows (:func:`rows_table`), else summed by SQL (:func:`aggregate_table`)."""
    return bool(valued_fields(req))


def stats(reader: Reader, req: StatsRequest, tz: ZoneInfo, *,
          exact: bool = False) -> list[dict[str, Any]]:
    """The whole answer on the calling thread (the API spreads the tables over threads):
    from the duration summaries when the question fits them (query/summarized.py, with
    approximate percentiles) unless ``exact``, else exactly from the events."""
    from logcycle.query import summarized  # it builds on this module

    if not exact and summarized.fits(req) is not None:
        return summarized.answer(reader, req, tz)
    todo = tables(reader, req, tz)
    if needs_rows(req):
        return merge_rows(req, [rows_table(reader, req, k, c) for k, c in todo])
    return merge(req, [aggregate_table(reader, req, k, c) for k, c in todo])


def merged(reader: Reader, req: StatsRequest,
           parts: list[list[tuple[Any, ...]]]) -> list[dict[str, Any]]:
    """The answer from each table's part (rows or aggregates, as :func:`needs_rows`)."""
    return merge_rows(req, parts) if needs_rows(req) else merge(req, parts)


def stat(reader: Reader, query: str | lang.Query | EventFilter | None, metric: str,
         start: int, end: int, tz: ZoneInfo, *, kinds: tuple[str, ...] | None = None,
         low_ids: Mapping[int, int] | None = None) -> float | None:
    """One metric (``count``, ``error_rate``, ``p95(duration_ms)``…) of the events matching
    ``query`` (text, parsed, or a whole filter) with ``start <= insert_instant <= end``:
    what an alert condition checks, by the code of ``GET /api/v1/stats``. None when no
    event matched (or none had the field). 400s as the API's."""
    if isinstance(query, EventFilter):
        f = dataclasses.replace(query, start=start, end=end)
    else:
        q = lang.parse(query) if isinstance(query, str) else query
        f = EventFilter(start=start, end=end, query=q)
    if kinds is not None:
        f = dataclasses.replace(f, kinds=kinds)
    (m,) = parse_metrics(metric)
    rows = stats(reader, StatsRequest(filter=f, metrics=(m,), low_ids=low_ids), tz)
    if not rows:
        return 0.0 if m.fn == "count" else None
    value = rows[0][m.name]
    return None if value is None else float(value)
