"""Sentry SDK events: ``POST /api/{project_id}/envelope/`` and ``POST /api/{project_id}/store/``.

A DSN ``http://<ingest key>@host:5380/<project>`` works unchanged in Sentry's SDKs: they
send the key in ``X-Sentry-Auth`` (or ``?sentry_key=``), which api/auth.py reads. Each
``event`` becomes an ``error`` event (ingest/protocols/sentry.py) on the native write path;
its ``event_id`` is the batch's idempotency key, so the SDK's retry is stored once. Other
item types are accepted and ignored (200, so that SDKs do not retry them). The answer is
``{"id": <event_id>}`` as Sentry gives it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.auth import Principal
from logcycle.api.events import svc_of
from logcycle.api.http import JSON, read_body
from logcycle.errors import BadRequest
from logcycle.ingest.decode import Prepared
from logcycle.ingest.protocols import sentry, validate
from logcycle.ingest.tasks import EventBatch, check_scope
from logcycle.service import Service


async def _begin(request: Request) -> tuple[Service, Principal, str, bytes]:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "ingest")
    project = str(request.path_params["project_id"])
    svc.writer.check_capacity()
    body = await read_body(request, svc.settings.max_body_bytes)
    return svc, principal, project, body


def _validate(svc: Service, events: list[tuple[str, dict[str, Any]]], project: str,
              now: int) -> list[Prepared]:
    """Every event validated before any is stored: one bad event is a 400 naming it."""
    items = [sentry.to_event(ev, project_id=project, eid=eid, now_ms=now) for eid, ev in events]
    partial = validate(svc.decoder, items, now_ms=now)
    if partial.rejected:
        err = partial.rejected[0]
        eid = events[err.index or 0][0]
        raise BadRequest(f"event {eid}: {err.field}: {err.message}", code="invalid_event",
                         errors=partial.rejected)
    return partial.events


async def _store(svc: Service, principal: Principal, events: list[tuple[str, dict[str, Any]]],
                 project: str) -> None:
    prepared = _validate(svc, events, project, svc.clock.now_ms())
    check_scope(principal.sources, prepared)  # all of the request or none of it
    for (eid, _), event in zip(events, prepared, strict=True):
        await svc.writer.submit(EventBatch([event], f"sentry:{eid}", principal.id,
                                           nul=True, scope=principal.sources))


async def post_envelope(request: Request) -> Response:
    svc, principal, project, body = await _begin(request)
    env = sentry.parse_envelope(body)
    header_id = env.header.get("event_id")
    events = [(sentry.event_id(ev, header_id), ev) for ev in sentry.event_items(env)]
    await _store(svc, principal, events, project)
    if events:
        return JSON({"id": events[0][0]})
    return JSON({"id": None if header_id is None else sentry.event_id(env.header)})


async def post_store(request: Request) -> Response:
    svc, principal, project, body = await _begin(request)
    event = sentry.parse_event(body)
    eid = sentry.event_id(event)
    await _store(svc, principal, [(eid, event)], project)
    return JSON({"id": eid})


routes = [
    Route("/api/{project_id:int}/envelope/", post_envelope, methods=["POST"]),
    Route("/api/{project_id:int}/store/", post_store, methods=["POST"]),
]
