"""Statistics answered from the duration summaries (store/summary.py) when the question
fits them; :mod:`logcycle.query.stats` answers every other one exactly.

A question fits when it asks about one summarized kind (screen, integration,
mobile_request, cyclic_job, extension), groups by that kind's name fields (or not at all),
filters at most by equality on them (``is_expose:true`` for integrations), has no
``interval`` or one of whole hours, and asks only ``count``, ``error_rate`` and ``avg``,
``sum``, ``min``, ``max``, ``p50``…``p99`` of ``duration_ms``. Then, per week of the range:

- the hours wholly inside the range come from the summary rows, for the ids up to the
  summary's watermark;
- the rest (the partial hours at both ends, the ids above the watermark: about a second
  of ingest) is read from the events, exactly, as the exact path reads them;
- ``error_rate``: the summary counts the failed events (stats.failed_sql) as of the error
  events up to its watermark; those that an error above it made failed are counted at
  the time of the question, from those few errors through the request-key index, so
  both paths count the same events.

Counts, sums, min, max, averages and error rates are exact; percentiles are within
``summary.ALPHA`` (0.8%) of the exact nearest-rank value, and the answer says so
(``approximate`` in the response of ``GET /api/v1/stats``).

    fit = fits(req)            # None: not a question for the summaries
    rows = answer(reader, req, tz)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.kinds import KINDS
from logcycle.query import lang
from logcycle.query import stats as st
from logcycle.query.events import weeks_to_read
from logcycle.query.scope import Reader
from logcycle.store import schema, summary

FNS = ("avg", "sum", "min", "max", *st.PERCENTILES)


@dataclass(frozen=True, slots=True)
class Fit:
    kind: str
    names: tuple[str, str | None]  # the kind's name fields (summary.NAMES)
    equal: dict[str, Any]  # name field -> the value the query asks for

    def column(self, field: str) -> str:
        """``n1`` or ``n2``: where the summary keeps ``field``."""
        return "n1" if field == self.names[0] else "n2"


def fits(req: st.StatsRequest) -> Fit | None:
    """How the summaries answer ``req``; None when they cannot."""
    f = req.filter
    if (f.q is not None or f.equalities() or f.start is None or f.end is None
            or req.low_ids or (req.interval is not None and req.interval % summary.HOUR_MS)):
        return None  # low_ids (alert conditions: only ids above them) need the events
    kinds = st.kinds_for(req)
    if len(kinds) != 1 or kinds[0] not in summary.NAMES:
        return None
    kind = kinds[0]
    names = summary.NAMES[kind]
    groupable = {names[0]} | ({names[1]} if names[1] not in (None, "is_expose") else set())
    if not set(req.by) <= groupable:
        return None
    for m in req.metrics:
        if m.field is None and m.fn not in ("count", "error_rate"):
            return None
        if m.field is not None and (m.field != summary.FIELD or m.fn not in FNS):
            return None
    equal = _equalities(f.query, kind, names)
    if equal is None:
        return None
    if f.start is not None and f.end is not None and _full_hours(f.start, f.end) is None:
        return None
    return Fit(kind, names, equal)


def _equalities(q: lang.Query | None, kind: str,
                names: tuple[str, str | None]) -> dict[str, Any] | None:
    """The query as equalities on the name fields (``kind:`` terms naming ``kind`` are
    dropped); None when it asks anything else."""
    if q is None:
        return {}
    items = q.expr.items if isinstance(q.expr, lang.And) else (q.expr,)
    out: dict[str, Any] = {}
    for t in items:
        if not isinstance(t, lang.Term) or t.op != "eq" or t.field is None:
            return None
        if t.field == "kind" and t.value == kind:
            continue
        if t.field not in names or t.field in out:
            return None
        if t.field == "is_expose":
            if not isinstance(t.value, bool):
                return None
            out[t.field] = "true" if t.value else "false"
        elif isinstance(t.value, str):
            out[t.field] = t.value
        else:
            return None
    return out


def _full_hours(start: int, end: int) -> tuple[int, int] | None:
    """[first, last) hour starts wholly inside [start, end]; None when there is none."""
    first = -(-start // summary.HOUR_MS) * summary.HOUR_MS
    last = (end + 1) // summary.HOUR_MS * summary.HOUR_MS
    return (first, last) if first < last else None


@dataclass(slots=True)
class _Acc:
    n: int = 0
    nv: int = 0
    e: int = 0
    s: float = 0.0
    lo: Any = None
    hi: Any = None
    sketch: int = 0

    def value(self, v: Any, failed: int) -> None:
        self.n += 1
        self.e += failed
        if v is not None:
            self.nv += 1
            self.s += float(v)
            self.lo = v if self.lo is None else min(self.lo, v)
            self.hi = v if self.hi is None else max(self.hi, v)
            self.sketch = summary.add(self.sketch, summary.bucket(float(v)))

    def merge(self, n: int, nv: int, e: int, s: float, lo: Any, hi: Any, sketch: int) -> None:
        self.n += n
        self.nv += nv
        self.e += e
        self.s += s
        if lo is not None:
            self.lo = lo if self.lo is None else min(self.lo, lo)
        if hi is not None:
            self.hi = hi if self.hi is None else max(self.hi, hi)
        self.sketch += sketch


def answer(reader: Reader, req: st.StatsRequest, tz: ZoneInfo) -> list[dict[str, Any]]:
    """The answer to ``req`` (which :func:`fits`) from the summaries and the events."""
    fit = fits(req)
    if fit is None:
        raise ValueError("not a question for the summaries")
    f = req.filter
    assert f.start is not None and f.end is not None
    span = _full_hours(f.start, f.end)
    assert span is not None
    groups: dict[tuple[Any, ...], _Acc] = {}
    if reader.kinds((fit.kind,)):
        for week in weeks_to_read(reader.held(), f.start, f.end, tz):
            _week(reader, req, fit, week % cycles.CYCLES, span, groups)
    return _rows(req, groups)


def _key(req: st.StatsRequest, fit: Fit, names: dict[str, Any], hour: int) -> tuple[Any, ...]:
    key = tuple(names[b] for b in req.by)
    if req.interval is not None:
        key += (hour // req.interval * req.interval,)
    return key


def _group(groups: dict[tuple[Any, ...], _Acc], key: tuple[Any, ...]) -> _Acc:
    acc = groups.get(key)
    if acc is None:
        if len(groups) >= st.MAX_GROUPS:
            raise st.too_many(f"more than {st.MAX_GROUPS:,} groups")
        acc = groups[key] = _Acc()
    return acc


def _week(reader: Reader, req: st.StatsRequest, fit: Fit, cycle: int, span: tuple[int, int],
          groups: dict[tuple[Any, ...], _Acc]) -> None:
    d = reader.dialect
    p = d.param
    number = schema.KIND_NUMBER[fit.kind]
    _, marks = reader.side(fit.kind, "SELECT watermark FROM lc_index_state WHERE name = "
                           f"{p} AND cycle = {p}", [summary.STATE, cycle])
    mark = int(marks[0][0]) if marks else 0
    where = [f"kind = {p}", f"hour >= {p}", f"hour < {p}"]
    params: list[Any] = [number, *span]
    for field, value in fit.equal.items():
        where.append(f"{fit.column(field)} = {p}")
        params.append(value)
    if mark:
        _, rows = reader.side(fit.kind, "SELECT n1, n2, hour, n, nv, e, s, lo, hi, sketch "
                              f"FROM {summary.table(cycle)} WHERE {' AND '.join(where)}",
                              params)
        for n1, n2, hour, n, nv, e, s, lo, hi, sketch in rows:
            names = _names(fit, n1, n2)
            _group(groups, _key(req, fit, names, int(hour))).merge(
                int(n), int(nv), int(e), float(s), lo, hi, summary.decode(sketch))
        if any(m.fn == "error_rate" for m in req.metrics):
            _request_errors(reader, req, fit, cycle, span, mark, groups)
    _rest(reader, req, fit, cycle, span, mark, groups)


def _names(fit: Fit, n1: Any, n2: Any) -> dict[str, Any]:
    out = {fit.names[0]: n1}
    if fit.names[1] is not None:
        out[fit.names[1]] = n2
    return out


def _name_conditions(fit: Fit, p: str) -> tuple[list[str], list[Any]]:
    n1, n2 = summary.name_exprs(fit.kind)
    exprs = {fit.names[0]: n1, **({fit.names[1]: n2} if fit.names[1] else {})}
    return [f"{exprs[k]} = {p}" for k in fit.equal], list(fit.equal.values())


def _select_names(fit: Fit) -> str:
    n1, n2 = summary.name_exprs(fit.kind)
    return f"{n1}, {n2}"


def _rest(reader: Reader, req: st.StatsRequest, fit: Fit, cycle: int, span: tuple[int, int],
          mark: int, groups: dict[tuple[Any, ...], _Acc]) -> None:
    """The events of the range the summary does not hold: partial hours, ids above
    the watermark; exactly, one row each."""
    f = req.filter
    p = reader.dialect.param
    where, params = _name_conditions(fit, p)
    where += [f"insert_instant >= {p}", f"insert_instant <= {p}",
              f"(insert_instant < {p} OR insert_instant >= {p} OR id > {p})"]
    params += [f.start, f.end, span[0], span[1], mark]
    _, marks = reader.side(fit.kind, "SELECT watermark FROM lc_index_state WHERE name = "
                           f"'rk' AND cycle = {p}", [cycle])
    rk_mark = int(marks[0][0]) if marks else 0
    failed = summary.exact_failed(fit.kind, cycle, reader.dialect, rk_mark)
    _, rows = reader.select(fit.kind, cycle, f"{_select_names(fit)}, insert_instant, "
                            f"{failed}, {summary.FIELD}", where, params, alias="t")
    for n1, n2, instant, failed, v in rows:
        key = _key(req, fit, _names(fit, n1, n2), int(instant))
        _group(groups, key).value(v, int(failed))


def _request_errors(reader: Reader, req: st.StatsRequest, fit: Fit, cycle: int,
                    span: tuple[int, int], mark: int,
                    groups: dict[tuple[Any, ...], _Acc]) -> None:
    """Add the summarized events that became failed by an error event above the
    watermark (the summary counted the errors up to it): from those few error events
    through the request-key index, not by reading every event."""
    kind = fit.kind
    if not KINDS[kind].top_level or fit.equal.get("is_expose") == "false":
        return
    d = reader.dialect
    p = d.param
    late = summary.late_errors(kind, cycle, d, bounded=False)
    names, name_params = _name_conditions(fit, p)
    where = [late, *names, f"insert_instant >= {p}", f"insert_instant < {p}"]
    params = [*summary.late_params(kind, d, mark, None), *name_params, *span]
    bucket = (f", (insert_instant / {req.interval}) * {req.interval}"
              if req.interval else "")
    _, rows = reader.select(kind, cycle, f"{_select_names(fit)}{bucket}, count(*)", where,
                            params, tail="GROUP BY 1, 2" + (", 3" if bucket else ""),
                            alias="t")
    for row in rows:
        key = tuple(_names(fit, row[0], row[1])[b] for b in req.by)
        _group(groups, key + ((int(row[2]),) if req.interval else ())).e += int(row[-1])


def _rows(req: st.StatsRequest, groups: dict[tuple[Any, ...], _Acc]) -> list[dict[str, Any]]:
    ranks = [p for p in st.PERCENTILES.values()]
    out = []
    for key, acc in groups.items():
        if not acc.n:
            continue
        g = st._Group(count=acc.n, errors=acc.e)
        if acc.nv:
            g.sums[summary.FIELD] = [acc.s, acc.nv, acc.lo, acc.hi]
            wanted = [max(1, (p * acc.nv + 99) // 100) for p in ranks]
            order = sorted(range(len(wanted)), key=lambda i: wanted[i])
            got = summary.quantiles(acc.sketch, [wanted[i] for i in order],
                                    float(acc.lo), float(acc.hi))
            values: list[Any] = [None] * len(wanted)
            for i, v in zip(order, got, strict=False):
                values[i] = v
            g.values[summary.FIELD] = [None, *values]
        out.append(st._row(req, key, g))
    return st._order(req, out)


def approximate(req: st.StatsRequest) -> list[str]:
    """The metrics of ``req`` the summaries answer approximately (its percentiles)."""
    return [m.name for m in req.metrics if m.fn in st.PERCENTILES]
