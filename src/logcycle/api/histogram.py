"""``GET /api/v1/histogram``: matching events counted per time bucket (read scope).

Takes the filters of ``GET /api/v1/events`` plus ``start``/``end`` (default: the last 24
hours) and ``buckets`` (about how many, 1-1000, default 60). Each table in the range answers
one GROUP BY query on the read threads, in parallel (on all the key's read slots but
one, api/fairness.py)::

    GET /api/v1/histogram?kind=error&message=pay*&start=…&end=…&buckets=60
    {"start": …, "end": …, "bucket_ms": 60000, "total": 7, "kinds": {"error": 7},
     "buckets": [{"start": …, "count": 0}, …]}
"""

from __future__ import annotations

import asyncio
import dataclasses

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.events import FILTER_PARAMS, parse_filter, svc_of
from logcycle.api.http import JSON, check_params, parse_int
from logcycle.errors import BadRequest
from logcycle.query.histogram import MAX_BUCKETS, count_table, merge, plan, tables

DEFAULT_SPAN_MS = 24 * 3600 * 1000
HISTOGRAM_PARAMS = (*FILTER_PARAMS, "buckets")


async def get_histogram(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "read")
    p = request.query_params
    check_params(p, HISTOGRAM_PARAMS)
    f = parse_filter(p)
    n = parse_int(p.get("buckets"), "buckets", default=60, lo=1, hi=MAX_BUCKETS)
    end = f.end if f.end is not None else svc.clock.now_ms()
    start = f.start if f.start is not None else end - DEFAULT_SPAN_MS
    if start > end:
        raise BadRequest("start is after end", code="invalid_parameter")
    f = dataclasses.replace(f, start=start, end=end)
    b = plan(start, end, n)
    todo = await svc.read(principal, tables, f, b, svc.settings.tz)
    # One read slot of the key fewer than it may use: the page's first page of results
    # (asked for at the same time with the same key) does not wait behind a week-long
    # histogram; other keys have threads of their own (api/fairness.py).
    lanes = asyncio.Semaphore(max(1, svc.settings.effective_reads_per_key - 1))

    async def count(kind: str, cycle: int) -> list[tuple[int, int]]:
        async with lanes:
            return await svc.read(principal, count_table, kind, cycle, f, b)

    counts = await asyncio.gather(*(count(kind, cycle) for kind, cycle in todo))
    return JSON(merge(b, [(kind, c) for (kind, _), c in zip(todo, counts, strict=True)]))


routes = [Route("/api/v1/histogram", get_histogram, methods=["GET"])]
