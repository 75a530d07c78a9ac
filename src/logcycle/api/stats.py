"""``GET /api/v1/stats``: metrics of matching events per group and time bucket (read
scope), computed by :mod:`logcycle.query.stats`::

    GET /api/v1/stats?query=kind:screen&by=screen&metrics=count,p95(duration_ms)&order=count
    {"rows": [{"screen": "Checkout", "count": 812, "p95(duration_ms)": 1410.0}, …]}

Takes the filters of ``GET /api/v1/events`` (``query`` included) plus ``by``, ``metrics``,
``interval``, ``order``, ``limit`` and ``exact``; ``start``/``end`` default to the last 24
hours. A question the duration summaries fit (query/summarized.py) is answered from them
in one read, its percentiles within 0.8% (the answer's ``approximate`` says which);
``exact=true`` or any other question reads the events: each table in the range on the
read threads, at most half of them at once, so that a week-long report never holds every
thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.events import FILTER_PARAMS, parse_filter, svc_of
from logcycle.api.http import JSON, check_params, parse_int
from logcycle.query import stats as st
from logcycle.query import summarized
from logcycle.store import summary

DEFAULT_SPAN_MS = 24 * 3600 * 1000
STATS_PARAMS = (*FILTER_PARAMS, "by", "metrics", "interval", "order", "limit", "exact")
MAX_LIMIT = 10_000


def parse_request(p: Any, now_ms: int) -> st.StatsRequest:
    check_params(p, STATS_PARAMS)
    f = parse_filter(p)
    end = f.end if f.end is not None else now_ms
    start = f.start if f.start is not None else end - DEFAULT_SPAN_MS
    if start > end:
        raise st.bad("start", "start is after end")
    f = dataclasses.replace(f, start=start, end=end)
    metrics = st.parse_metrics(p.get("metrics"))
    interval = st.parse_interval(p.get("interval"))
    if interval is not None and (end - start) // interval + 1 > st.MAX_BUCKETS:
        raise st.bad("interval", f"gives more than {st.MAX_BUCKETS} buckets over the range: "
                     "use a longer interval or a shorter range")
    order, descending = st.parse_order(p.get("order"), metrics)
    return st.StatsRequest(filter=f, by=st.parse_by(p.get("by")), metrics=metrics,
                           interval=interval, order=order, descending=descending,
                           limit=parse_int(p.get("limit"), "limit", default=1000, lo=1,
                                           hi=MAX_LIMIT))


async def get_stats(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "read")
    req = parse_request(request.query_params, svc.clock.now_ms())
    exact = parse_bool(request.query_params.get("exact"))
    if not exact and summarized.fits(req) is not None:
        rows = await svc.read(principal, summarized.answer, req, svc.settings.tz)
        approx = summarized.approximate(req)
        return JSON({"rows": rows, **({"approximate": {
            "metrics": approx, "relative_error": summary.ALPHA}} if approx else {})})
    todo = await svc.read(principal, st.tables, req, svc.settings.tz)
    lanes = asyncio.Semaphore(max(1, svc.settings.effective_reads_per_key - 1))
    read = st.rows_table if st.needs_rows(req) else st.aggregate_table

    async def one(kind: str, cycle: int) -> list[tuple[Any, ...]]:
        async with lanes:
            return await svc.read(principal, read, req, kind, cycle)

    parts = list(await asyncio.gather(*(one(k, c) for k, c in todo)))
    rows = await svc.read(principal, st.merged, req, parts)
    return JSON({"rows": rows})


def parse_bool(text: str | None) -> bool:
    if text in (None, "", "false", "0"):
        return False
    if text in ("true", "1"):
        return True
    raise st.bad("exact", f"must be true or false, got {str(text)[:20]!r}")


routes = [Route("/api/v1/stats", get_stats, methods=["GET"])]
