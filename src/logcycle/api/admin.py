"""``GET /health`` (no key) and ``GET /api/v1/status`` (admin): the week model and sizes,
the writer, the search index and the syslog listeners' counters."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle import __version__, cycles
from logcycle.api.events import svc_of
from logcycle.api.http import JSON
from logcycle.query.scope import Reader
from logcycle.service import Service


async def health(request: Request) -> Response:
    svc = svc_of(request)
    if not svc.ready:
        return JSON({"status": "starting"}, status_code=503, headers={"Retry-After": "1"})
    store = svc.health()  # two stat() calls on SQLite: cheap enough for the loop
    if store.refused:
        return JSON({"status": "failing", "problems": store.problems, "version": __version__},
                    status_code=503, headers={"Retry-After": "5"})
    if store.problems:  # writes are still taken: say what fails behind them
        return JSON({"status": "degraded", "problems": store.problems,
                     "version": __version__})
    return JSON({"status": "ok", "version": __version__})


def _status(reader: Reader, svc: Service) -> dict[str, Any]:
    store = reader.store_wide("the store's status and table sizes")
    now = svc.clock.now_ms()
    tz = svc.settings.tz
    week = cycles.week_of(now, tz)
    return {
        "version": __version__,
        "store": svc.store.dialect.name,
        "now": now,
        "timezone": svc.settings.timezone,
        "week": week,
        "current_cycle": week % cycles.CYCLES,
        "previous_cycle": (week - 1) % cycles.CYCLES,
        "next_rotation": cycles.next_rotation_ms(now, tz),
        "retention_weeks": svc.settings.retention_weeks,
        "held": {str(c): w for c, w in sorted(store.held().items())},
        "tables": store.table_sizes(),
        "problems": svc.health().problems,
        "writer": {"pending_events": svc.writer.pending, "commits": svc.writer.commits,
                   "failures": svc.writer.failures},
        "search_index": _search_index(svc),
        "protocol_workers": svc.offload.status(),
    }


def _search_index(svc: Service) -> dict[str, Any]:
    """How far the message search index trails the newest row (docs/eventlog.md)."""
    rows, seconds = svc.store.search_index_lag()
    limit = svc.settings.search_index_max_lag_s
    return {"lag_rows": rows, "lag_seconds": round(seconds, 3), "max_lag_seconds": limit,
            "behind": seconds > limit, "when_behind": svc.settings.search_index_lag}


async def status(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "admin")
    body = await svc.read(principal, _status, svc)
    listeners = getattr(request.app.state, "syslog", None)  # the app's lifespan sets it
    body["syslog"] = {} if listeners is None else listeners.status()
    return JSON(body)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/api/v1/status", status, methods=["GET"]),
]
