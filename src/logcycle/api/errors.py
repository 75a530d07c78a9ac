"""One function shapes each API's error body.

- native (``/api/v1``, ``/health``): ``{"error": {"code", "message", "errors": [...]}}``
- Event Log (``/api/system``): ``{"fieldErrors": {...}, "generalErrors": [...]}``, and an
  empty body for 401, 404 and 500 as its document says
- RPC (``/rpc``): failures of a whole frame as ``{"error": {...}}``; a failed command is
  answered inside the frame by :mod:`logcycle.api.rpc`
- Elasticsearch (``/es``): ``{"error": {"type", "reason", "root_cause"}, "status"}`` with
  the ``X-Elastic-Product`` header its clients check on every answer; overload is 429
  there (what Elasticsearch answers and its shippers retry)

401 is always an empty body; 503 carries ``Retry-After``.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from logcycle.api.http import JSON
from logcycle.errors import LogcycleError, Overloaded, StoreUnavailable

log = logging.getLogger("logcycle.api")


def native_body(exc: LogcycleError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.errors:
        body["errors"] = [{k: v for k, v in (("index", e.index), ("field", e.field),
                                            ("message", e.message)) if v is not None}
                          for e in exc.errors]
    return {"error": body}


def eventlog_body(exc: LogcycleError) -> dict[str, Any]:
    fields: dict[str, list[dict[str, str]]] = {}
    for e in exc.errors:
        fields.setdefault(e.field, []).append({"code": f"[{e.code}]{e.field}",
                                               "message": e.message})
    general = [] if fields else [{"code": f"[{exc.code}]", "message": exc.message}]
    return {"fieldErrors": fields, "generalErrors": general}


def _headers(exc: LogcycleError) -> dict[str, str]:
    if isinstance(exc, Overloaded):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, StoreUnavailable):
        return {"Retry-After": str(exc.retry_after)}
    return {}


ES_PRODUCT = {"X-Elastic-Product": "Elasticsearch"}


def is_es(path: str) -> bool:
    return path == "/es" or path.startswith("/es/")


def es_body(exc: LogcycleError, status: int) -> dict[str, Any]:
    kind = {400: "parse_exception", 403: "security_exception", 404: "resource_not_found_exception",
            413: "content_too_long_exception", 429: "es_rejected_execution_exception"}
    cause = {"type": kind.get(status, exc.code), "reason": exc.message}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def error_response(request: Request, exc: LogcycleError) -> Response:
    """The response for ``exc`` in the dialect of the API that ``request`` called."""
    status = exc.status
    headers = _headers(exc)
    if is_es(request.url.path):
        status = 429 if isinstance(exc, Overloaded) else status
        if status == 401:
            return Response(status_code=401, headers={"WWW-Authenticate": "Basic", **ES_PRODUCT})
        return JSON(es_body(exc, status), status_code=status, headers={**headers, **ES_PRODUCT})
    if status == 401:
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if request.url.path.startswith("/api/system/"):
        if status in (404, 500):
            return Response(status_code=status)
        return JSON(eventlog_body(exc), status_code=status, headers=headers)
    return JSON(native_body(exc), status_code=status, headers=headers)


async def handle_logcycle_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LogcycleError)
    if exc.status >= 500:
        log.warning("%s %s → %d %s", request.method, request.url.path, exc.status, exc.message)
    return error_response(request, exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return Response(status_code=500)
