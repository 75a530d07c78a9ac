"""Seq ingestion: ``POST /ingest/clef`` and ``POST /api/events/raw?clef`` (CLEF, one JSON
object a line, ``application/vnd.serilog.clef``), and ``POST /api/events/raw`` with Seq's
JSON ``{"Events": [...]}``. Point Serilog's Seq sink, seqlog or any Seq client at
``http://host:5380``; the key goes in ``X-Seq-ApiKey`` (or ``Authorization``).

201 with ``{"MinimumLevelAccepted": null}`` when every event is stored, as Seq answers;
when some are rejected, the others are stored and the answer is 400 naming the rejected
ones.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.events import svc_of
from logcycle.api.http import JSON, read_body
from logcycle.api.shipping import clock_rule, rejected, request_key, store_items
from logcycle.errors import BadRequest, FieldError
from logcycle.ingest.protocols import clef, rows

CLEF_TYPE = "application/vnd.serilog.clef"


async def ingest(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "ingest")
    svc.writer.check_capacity()
    body = await read_body(request, svc.settings.max_body_bytes)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    as_clef = (request.url.path == "/ingest/clef" or "clef" in request.query_params
               or ctype == CLEF_TYPE)
    clock = clock_rule(svc)
    latest = rows.limit_of(svc.decoder, clock.now_ms)
    items = await svc.offload.run(clef.parse_clef if as_clef else clef.parse_seq_json, body,
                                  clock, latest)
    if not items:
        raise BadRequest("the body holds no event", code="empty_batch")
    timed = _all_timed(body, len(items), as_clef)
    results = await store_items(svc, principal, items,
                                idempotency_key=request_key(request, "seq", body if timed
                                                            else None))
    bad = rejected(results)
    if bad:
        raise BadRequest(f"{len(bad)} of {len(results)} events rejected "
                         f"({len(results) - len(bad)} stored): "
                         + "; ".join(f"event {i}: {why}" for i, why in bad[:10]),
                         code="events_rejected",
                         errors=[FieldError("event", why, i) for i, why in bad[:100]])
    return JSON({"MinimumLevelAccepted": None}, status_code=201)


def _all_timed(body: bytes, events: int, as_clef: bool) -> bool:
    """Whether every event of the body seems to carry its own time (``@t``, Seq JSON's
    ``Timestamp``): then an identical body is a retry of the same events, not new ones."""
    if not as_clef:
        return body.count(b'"Timestamp"') >= events
    return all(b'"@t"' in line for line in body.split(b"\n") if line.strip())


routes = [Route("/api/events/raw", ingest, methods=["POST"]),
          Route("/ingest/clef", ingest, methods=["POST"])]
