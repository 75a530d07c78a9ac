"""Loki push: ``POST /loki/api/v1/push`` (point Promtail, Grafana Alloy, Fluent Bit's
``loki`` output or a Loki client at ``http://host:5380``), JSON (gzip allowed) or
snappy-compressed protobuf. 204 when every line is stored, as Loki answers; when some
lines are rejected, the others are stored and the answer is 400 naming the rejected ones
(Loki's own partial answer), so that the shipper does not send the stored ones again.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.events import svc_of
from logcycle.api.http import UnsupportedMedia, read_body
from logcycle.api.shipping import clock_rule, rejected, request_key, store_items
from logcycle.errors import BadRequest, FieldError
from logcycle.ingest.protocols import loki, rows

PROTOBUF = ("application/x-protobuf", "application/protobuf")
JSON_TYPES = ("application/json", "")


async def push(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "ingest")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in (*PROTOBUF, *JSON_TYPES):
        raise UnsupportedMedia(f"Content-Type {ctype!r} is not supported: send "
                               "application/x-protobuf (snappy) or application/json")
    svc.writer.check_capacity()
    limit = svc.settings.max_body_bytes
    body = await read_body(request, limit)
    clock = clock_rule(svc)
    latest = rows.limit_of(svc.decoder, clock.now_ms)
    items = await (svc.offload.run(loki.parse_protobuf, body, clock, limit, latest)
                   if ctype in PROTOBUF else svc.offload.run(loki.parse_json, body, clock,
                                                             latest))
    # Every Loki line has its time: an identical body is a retry (Loki's ingester, too,
    # drops a line equal in time and text to the one before it in its stream).
    results = await store_items(svc, principal, items,
                                idempotency_key=request_key(request, "loki", body))
    bad = rejected(results)
    if bad:
        stored = len(results) - len(bad)
        raise BadRequest(f"{len(bad)} of {len(results)} lines rejected ({stored} stored): "
                         + "; ".join(f"line {i}: {why}" for i, why in bad[:10]),
                         code="lines_rejected",
                         errors=[FieldError("line", why, i) for i, why in bad[:100]])
    return Response(status_code=204)


routes = [Route("/loki/api/v1/push", push, methods=["POST"])]
