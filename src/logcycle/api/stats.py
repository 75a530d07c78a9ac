"""``GET /api/v1/stats``: metrics of matching events per group and time bucket (read
scope), computed by :mod:`logcycle.query.stats`::

    GET /api/v1/stats?query=kind:screen&by=screen&metrics=count,p95(duration_ms)&order=count
    {"rows": [{"screen": "Checkout", "count": 812, "p95(duration_ms)": 1410.0}, …]}

Takes the filters of ``GET /api/v1/events`` (``query`` included) plus ``by``, ``metrics``,
``interval``, ``order`` and ``limit``; ``start``/``end`` default to the last 24 hours. Each
table in the range is read on the read threads, at most half of them at once, so that a
week-long report never holds every thread.
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

DEFAULT_SPAN_MS = 24 * 3600 * 1000
STATS_PARAMS = (*FILTER_PARAMS, "by", "metrics", "interval", "order", "limit")
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
    await svc.auth.require(request, "read")
    req = parse_request(request.query_params, svc.clock.now_ms())
    todo = await svc.read(st.tables, svc.store, req, svc.settings.tz)
    lanes = asyncio.Semaphore(max(1, svc.settings.read_threads // 2))
    read = st.rows_table if st.needs_rows(req) else st.aggregate_table

    async def one(kind: str, cycle: int) -> list[tuple[Any, ...]]:
        async with lanes:
            return await svc.read(read, svc.store, req, kind, cycle)

    parts = list(await asyncio.gather(*(one(k, c) for k, c in todo)))
    merge = st.merge_rows if st.needs_rows(req) else st.merge
    rows = await svc.read(merge, req, parts)
    return JSON({"rows": rows})


routes = [Route("/api/v1/stats", get_stats, methods=["GET"])]
