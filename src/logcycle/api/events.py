"""The native API: ``POST /api/v1/events`` (ingest), ``GET /api/v1/events`` (list),
``GET /api/v1/events/{id}`` and ``GET /api/v1/requests/{request_key}`` (one request)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.http import (
    JSON,
    UnsupportedMedia,
    check_params,
    parse_instant,
    parse_int,
    parse_text,
    read_body,
)
from logcycle.errors import BadRequest, Forbidden, NotFound
from logcycle.ingest.decode import Prepared
from logcycle.ingest.tasks import EventBatch
from logcycle.kinds import KINDS
from logcycle.query.compile import check_fields
from logcycle.query.events import find_event, list_events, request_tree
from logcycle.query.filters import EventFilter, decode_token, parse_kinds
from logcycle.query.lang import Query, parse
from logcycle.service import Service

# The filters every event query shares (list, histogram, live tail).
FILTER_PARAMS = ("kind", "q", "message", "start", "end", "request_key", "src", "stream", "type",
                 "module", "query")
LIST_PARAMS = (*FILTER_PARAMS, "after", "limit")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonlines",
                "application/x-jsonlines")


def svc_of(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not key.isprintable():
        raise BadRequest("Idempotency-Key must be 1 to 200 printable characters",
                         code="invalid_header")
    return key


async def post_events(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "ingest")
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    # curl -d sends application/x-www-form-urlencoded unless told otherwise: read it as JSON.
    if ctype not in ("application/json", "", "application/x-www-form-urlencoded", *NDJSON_TYPES):
        raise UnsupportedMedia(f"Content-Type {ctype!r} is not supported: send "
                               "application/json (an array) or application/x-ndjson")
    key = idempotency_key(request)
    svc.writer.check_capacity()
    body = await read_body(request, svc.settings.max_body_bytes)
    now = svc.clock.now_ms()
    if ctype in NDJSON_TYPES:
        batch = svc.decoder.decode_ndjson(body, now_ms=now)
    else:
        batch = svc.decoder.decode_json(body, now_ms=now)
    check_src(principal.src_prefix, batch.events)
    ids = await svc.writer.submit(EventBatch(batch.events, key, principal.id, batch.nul))
    return JSON({"ids": ids})


_SRC_POS = [f.name for f in KINDS["general"].data_fields].index("src")


def check_src(prefix: str | None, events: list[Prepared]) -> None:
    """A key limited to a `src` prefix may write only general events of such sources."""
    if prefix is None:
        return
    for i, ev in enumerate(events):
        src = ev.values[_SRC_POS] if ev.kind.name == "general" else None
        if not isinstance(src, str) or not src.startswith(prefix):
            raise Forbidden(f"event {i}: this key may only write general events whose src "
                            f"starts with {prefix!r}")


def parse_filter(p: Mapping[str, str]) -> EventFilter:
    """The shared filters of ``p``: ``q`` is a substring of the message, ``message`` a
    pattern where ``*`` matches any run (no ``*``: a substring too), as in the Event Log API.
    """
    q, message = parse_text(p.get("q"), "q"), parse_text(p.get("message"), "message")
    if q is not None and message is not None:
        raise BadRequest("give either q (a substring) or message (a * pattern), not both",
                         code="invalid_parameter")
    kinds = parse_kinds(p.get("kind"))
    f = EventFilter(
        kinds=kinds,
        q=q if message is None else message,
        wildcard=message is not None,
        start=parse_instant(p.get("start"), "start"),
        end=parse_instant(p.get("end"), "end"),
        request_key=parse_text(p.get("request_key"), "request_key"),
        src=parse_text(p.get("src"), "src"),
        stream=parse_text(p.get("stream"), "stream"),
        message_type=parse_text(p.get("type"), "type"),
        module_name=parse_text(p.get("module"), "module"),
        query=parse_query(p.get("query"), kinds),
    )
    if f.start is not None and f.end is not None and f.start > f.end:
        raise BadRequest("start is after end", code="invalid_parameter")
    return f


def parse_query(text: str | None, kinds: tuple[str, ...]) -> Query | None:
    """The ``query`` parameter (docs/query.md), its fields checked against ``kinds``."""
    if text is None or not text.strip():
        return None
    parse_text(text, "query", max_len=len(text))  # a NUL: 400, as for q and message
    q = parse(text)
    check_fields(q, kinds)
    return q


async def get_events(request: Request) -> Response:
    svc = svc_of(request)
    await svc.auth.require(request, "read")
    p = request.query_params
    check_params(p, LIST_PARAMS)
    f = parse_filter(p)
    after = decode_token(p["after"]) if p.get("after") else None
    limit = parse_int(p.get("limit"), "limit", default=100, lo=1, hi=svc.settings.max_page_size)
    page = await svc.read(list_events, svc.store, f, after=after, limit=limit, tz=svc.settings.tz)
    return JSON({"events": page.events, "next": page.next})


async def get_event(request: Request) -> Response:
    svc = svc_of(request)
    await svc.auth.require(request, "read")
    raw = request.path_params["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest(f"event id must be a positive integer, got {raw[:40]!r}",
                         code="invalid_parameter")
    event = await svc.read(find_event, svc.store, int(raw))
    if event is None:
        raise NotFound(f"no event {raw} (it may have expired with its week)")
    return JSON(event)


async def get_request(request: Request) -> Response:
    svc = svc_of(request)
    await svc.auth.require(request, "read")
    key = request.path_params["request_key"]
    if len(key) > 1024:
        raise BadRequest("request_key is longer than 1024 characters", code="invalid_parameter")
    tree = await svc.read(request_tree, svc.store, key)
    if tree is None:
        raise NotFound(f"no event has request_key {key!r}")
    return JSON(tree)


routes = [
    Route("/api/v1/events", post_events, methods=["POST"]),
    Route("/api/v1/events", get_events, methods=["GET"]),
    Route("/api/v1/events/{id}", get_event, methods=["GET"]),
    Route("/api/v1/requests/{request_key:path}", get_request, methods=["GET"]),
]
