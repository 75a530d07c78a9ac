"""``/api/v1/alerts`` (admin): alert rules and their state, docs/alerts.md."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.alerts import registry
from logcycle.alerts.rules import parse_rule
from logcycle.api.events import svc_of
from logcycle.api.http import JSON, read_body
from logcycle.errors import BadRequest, NotFound
from logcycle.query.scope import store_wide

MAX_RULE_BYTES = 64 * 1024
RULES = "alert rules"  # store-wide: no source, refused to --src-prefix keys


def _id(request: Request) -> int:
    raw = request.path_params["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest(f"alert id must be a positive integer, got {raw[:40]!r}",
                         code="invalid_parameter")
    return int(raw)


async def list_alerts(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "admin")
    return JSON({"alerts": await svc.read(principal, store_wide, RULES, registry.list_alerts)})


async def get_alert(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "admin")
    found = await svc.read(principal, store_wide, RULES, registry.list_alerts, _id(request))
    if not found:
        raise NotFound(f"no alert {request.path_params['id']}")
    return JSON(found[0])


async def post_alert(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "admin")
    rule = parse_rule(await read_body(request, MAX_RULE_BYTES))
    alert_id = await svc.read(principal, store_wide, RULES, registry.add, rule, svc.clock.now_ms())
    (shown,) = await svc.read(principal, store_wide, RULES, registry.list_alerts, alert_id)
    return JSON(shown)


async def put_alert(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "admin")
    alert_id = _id(request)
    rule = parse_rule(await read_body(request, MAX_RULE_BYTES))
    await svc.read(principal, store_wide, RULES, registry.replace, alert_id, rule,
                   svc.clock.now_ms())
    (shown,) = await svc.read(principal, store_wide, RULES, registry.list_alerts, alert_id)
    return JSON(shown)


async def delete_alert(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "admin")
    alert_id = _id(request)
    await svc.read(principal, store_wide, RULES, registry.remove, alert_id)
    return JSON({"deleted": alert_id})


routes = [
    Route("/api/v1/alerts", list_alerts, methods=["GET"]),
    Route("/api/v1/alerts", post_alert, methods=["POST"]),
    Route("/api/v1/alerts/{id}", get_alert, methods=["GET"]),
    Route("/api/v1/alerts/{id}", put_alert, methods=["PUT"]),
    Route("/api/v1/alerts/{id}", delete_alert, methods=["DELETE"]),
]
