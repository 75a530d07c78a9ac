"""``POST /v1/logs``: OpenTelemetry logs over OTLP/HTTP, protobuf or JSON (gzip or not).

The records take the native write path: translated by :mod:`logcycle.ingest.protocols.otlp`,
validated one by one as ``protocols.validate`` does (the common record straight to its row,
:mod:`~logcycle.ingest.protocols.otlp_rows`), the valid ones committed as one batch before
the answer. The answer is an ``ExportLogsServiceResponse`` in the request's encoding, whose
``partial_success`` counts the rejected records and names why; errors are a
``google.rpc.Status`` (api/errors.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.events import svc_of
from logcycle.api.http import UnsupportedMedia, read_body
from logcycle.errors import BadRequest, FieldError
from logcycle.ingest.protocols import otlp, otlp_rows
from logcycle.ingest.tasks import EventBatch

MAX_REASONS = 5  # rejected records named in partial_success.error_message


def wants_json(request: Request) -> bool:
    """Whether the request is OTLP JSON (else protobuf); 415 for anything else."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == otlp.JSON:
        return True
    if ctype in (otlp.PROTOBUF, "application/protobuf"):
        return False
    raise UnsupportedMedia(f"Content-Type {ctype!r} is not supported: OTLP/HTTP sends "
                           f"{otlp.PROTOBUF} or {otlp.JSON}")


def rejection_summary(rejected: list[FieldError], total: int) -> str:
    """``partial_success.error_message``: how many, and the first few reasons."""
    reasons = "; ".join(f"record {e.index}: {e.field}: {e.message}"
                        for e in rejected[:MAX_REASONS])
    more = f"; and {len(rejected) - MAX_REASONS} more" if len(rejected) > MAX_REASONS else ""
    return f"{len(rejected)} of {total} log records rejected: {reasons}{more}"


async def post_logs(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "ingest")
    as_json = wants_json(request)
    svc.writer.check_capacity()
    body = await read_body(request, svc.settings.max_body_bytes)
    now = svc.clock.now_ms()
    # What protocols.validate gives of the adapter's native events, without them for
    # the common record (otlp_rows).
    partial, total = await svc.offload.run(
        otlp_rows.validated_json if as_json else otlp_rows.validated, body, svc.decoder, now_ms=now)
    summary = rejection_summary(partial.rejected, total) if partial.rejected else ""
    if not partial.events and partial.rejected:
        raise BadRequest(summary, code="invalid_log_records", errors=partial.rejected)
    if partial.events:
        await svc.writer.submit(EventBatch(partial.events, None, principal.id, partial.nul,
                                           scope=principal.sources))
    return Response(otlp.export_response(len(partial.rejected), summary, json=as_json),
                    media_type=otlp.JSON if as_json else otlp.PROTOBUF)


routes = [Route("/v1/logs", post_logs, methods=["POST"])]
