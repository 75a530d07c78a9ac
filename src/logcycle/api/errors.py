"""One function shapes each API's error body.

- native (``/api/v1``, ``/health``): ``{"error": {"code", "message", "errors": [...]}}``
- Event Log (``/api/system``): ``{"fieldErrors": {...}, "generalErrors": [...]}``, and an
  empty body for 401, 404 and 500 as its document says
- RPC (``/rpc``): failures of a whole frame as ``{"error": {...}}``; a failed command is
  answered inside the frame by :mod:`logcycle.api.rpc`
- Elasticsearch (``/es``): ``{"error": {"type", "reason", "root_cause"}, "status"}`` with
  the ``X-Elastic-Product`` header its clients check on every answer; overload is 429
  there (what Elasticsearch answers and its shippers retry)
- OTLP (``/v1/logs``): a ``google.rpc.Status``, protobuf or JSON as the request was
- Sentry (``/api/{project_id}/envelope/``, ``…/store/``): ``{"detail": message}`` as
  Sentry's own server answers
- Loki (``/loki/``): the message as plain text, as Loki answers (its clients log the body)
- Seq (``/api/events/raw``, ``/ingest/clef``): ``{"Error": message}`` as Seq answers

401 is always an empty body; 503 and 429 carry ``Retry-After``.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from logcycle.api.http import JSON
from logcycle.errors import LogcycleError, Overloaded, StoreUnavailable
from logcycle.ingest.protocols import otlp, sentry

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
    if isinstance(exc, Overloaded | StoreUnavailable) or exc.status == 429:
        return {"Retry-After": str(getattr(exc, "retry_after", 1))}
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
    path = request.url.path
    if path.startswith("/api/system/"):
        if status in (404, 500):
            return Response(status_code=status)
        return JSON(eventlog_body(exc), status_code=status, headers=headers)
    if path == "/v1/logs":
        as_json = "protobuf" not in request.headers.get("content-type", "")
        return Response(otlp.status_body(status, exc.message, json=as_json), status_code=status,
                        headers=headers, media_type=otlp.JSON if as_json else otlp.PROTOBUF)
    if sentry.ROUTE.match(path):
        if "Retry-After" in headers:  # Sentry SDKs never retry: pause them instead
            headers["X-Sentry-Rate-Limits"] = f"{headers['Retry-After']}::organization"
        return JSON({"detail": exc.message}, status_code=status, headers=headers)
    if path.startswith("/loki/"):
        return PlainTextResponse(exc.message + "\n", status_code=status, headers=headers)
    if path in SEQ_PATHS:
        return JSON({"Error": exc.message}, status_code=status, headers=headers)
    return JSON(native_body(exc), status_code=status, headers=headers)


SEQ_PATHS = ("/api/events/raw", "/ingest/clef")


async def handle_logcycle_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LogcycleError)
    if exc.status >= 500:
        log.warning("%s %s → %d %s", request.method, request.url.path, exc.status, exc.message)
    return error_response(request, exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return Response(status_code=500)
