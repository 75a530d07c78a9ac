"""The ASGI application: routes of every API, one error handler, the service's lifespan.

    app = create_app(Service(Settings(data=Path("data"))))
    uvicorn.run(app, port=5380)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from logcycle.api import (
    admin,
    alerts,
    es,
    eventlog,
    events,
    groups,
    histogram,
    loki,
    openapi,
    otlp,
    records,
    rpc,
    sentry,
    seq,
    session,
    stats,
    tail,
)
from logcycle.api.errors import error_response, handle_logcycle_error, handle_unexpected
from logcycle.errors import LogcycleError, NotFound
from logcycle.service import Service
from logcycle.web import routes as web


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        err: LogcycleError = NotFound(f"no route {request.method} {request.url.path}")
    else:
        err = LogcycleError(str(exc.detail))
        err.status = exc.status_code
        err.code = "method_not_allowed" if exc.status_code == 405 else "http_error"
    response = error_response(request, err)
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed(request)
    return response


def _allowed(request: Request) -> str:
    """Every method some route takes at this path (Starlette names only the first
    route's, and GET and POST of one path are often two routes)."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods \
                and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


def create_app(service: Service, *, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from logcycle.listeners import SyslogListeners

        service.start()
        syslog = SyslogListeners(service)
        try:
            await syslog.start()
            app.state.syslog = syslog
            yield
        finally:
            await syslog.close()
            service.close()

    routes: list[BaseRoute] = [*admin.routes, *events.routes, *records.routes,
                               *histogram.routes, *stats.routes, *groups.routes, *alerts.routes,
                               *tail.routes, *session.routes,
                               *eventlog.routes, *rpc.routes, *otlp.routes, *sentry.routes,
                               *openapi.routes, *es.routes, *loki.routes, *seq.routes,
                               *web.routes,
                               *(extra_routes or [])]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={LogcycleError: handle_logcycle_error,
                            HTTPException: _http_error, Exception: handle_unexpected},
    )
    app.state.service = service
    return app
