"""``GET /api/v1/tail``: new matching events as server-sent events (read scope).

The key goes in the ``Authorization`` header as everywhere else (the page reads the
stream with ``fetch()``, never with a key in the URL). The stream starts with
``event: ready`` whose ``id`` is the newest id at that moment, then one message per new
matching event, oldest first, ``id`` = the event's id::

    retry: 1000

    event: ready
    id: 41
    data: {"after_id": 41}

    id: 42
    data: {"kind": "error", "id": 42, …}

Resuming: send ``Last-Event-ID`` (or ``after_id``) and the stream starts after that id,
so nothing committed in between is lost. Bounded: at most ``MAX_TAILS`` streams at once,
``MAX_TAILS_PER_KEY`` of one key (503 + ``Retry-After`` beyond), each polls the store
at most every ``POLL_S`` (one read of the newest id; the tables only when it moved),
re-checks its key every ``REAUTH_S`` and
ends after ``LIFETIME_S`` (the client reconnects from its last id).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from logcycle.api.auth import Principal
from logcycle.api.events import FILTER_PARAMS, parse_filter, svc_of
from logcycle.api.http import check_params
from logcycle.errors import BadRequest, LogcycleError, Overloaded
from logcycle.query.filters import EventFilter
from logcycle.query.tail import events_after, high_water
from logcycle.service import Service

MAX_TAILS = 32
MAX_TAILS_PER_KEY = 8  # so that one key cannot take every slot
POLL_S = 0.5
BATCH = 500
HEARTBEAT_S = 15.0
REAUTH_S = 5.0
LIFETIME_S = 300.0
TAIL_PARAMS = (*(p for p in FILTER_PARAMS if p not in ("start", "end")), "after_id")


class TailSlots:
    """Counters of open tails, in all and per key (event loop only, so no lock)."""

    def __init__(self, limit: int, per_key: int = MAX_TAILS_PER_KEY) -> None:
        self.limit = limit
        self.per_key = per_key
        self.open = 0
        self._of: dict[str, int] = {}

    def acquire(self, key: str = "") -> str | None:
        """None when a slot was taken for ``key``, else why not."""
        if self.open >= self.limit:
            return f"{self.limit} live tails are open already"
        if self._of.get(key, 0) >= self.per_key:
            return f"this key has {self.per_key} live tails open already"
        self.open += 1
        self._of[key] = self._of.get(key, 0) + 1
        return None

    def release(self, key: str = "") -> None:
        self.open -= 1
        left = self._of.get(key, 1) - 1
        if left > 0:
            self._of[key] = left
        else:
            self._of.pop(key, None)


class _TailResponse(StreamingResponse):
    """Releases its slot however the stream ends (even if it never started)."""

    def __init__(self, body: AsyncIterator[bytes], release: Callable[[], None]) -> None:
        super().__init__(body, media_type="text/event-stream", headers={
            "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def slots_of(request: Request) -> TailSlots:
    state = request.app.state
    slots: TailSlots | None = getattr(state, "tail_slots", None)
    if slots is None:
        slots = state.tail_slots = TailSlots(MAX_TAILS)
    return slots


def _resume_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("after_id")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest("Last-Event-ID / after_id must be an event id (digits)",
                         code="invalid_parameter")
    return int(raw)


def _message(data: Any, *, event: str | None = None, id_: int | None = None) -> bytes:
    head = (f"event: {event}\n" if event else "") + (f"id: {id_}\n" if id_ is not None else "")
    return head.encode() + b"data: " + orjson.dumps(data) + b"\n\n"


async def _stream(request: Request, svc: Service, principal: Principal, f: EventFilter,
                  after: int | None) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    resumed = after is not None
    top = await svc.read(principal, high_water)
    # An id above the newest one (a store that was reset) resumes from now, not never.
    mark = top if after is None or (top and after > top) else after
    yield _message({"after_id": mark}, event="ready", id_=mark)
    began = last_beat = last_auth = time.monotonic()
    while time.monotonic() - began < LIFETIME_S:
        top = await svc.read(principal, high_water)
        behind = False
        if top > mark:
            events, mark = await svc.read(principal, events_after, f, mark, top, limit=BATCH,
                                          recent_only=not resumed)
            resumed, behind = False, mark < top  # a full batch: read on at once
            for e in events:
                yield _message(e, id_=e["id"])
        now = time.monotonic()
        if now - last_beat >= HEARTBEAT_S:
            last_beat = now
            yield b": keep-alive\n\n"
        if now - last_auth >= REAUTH_S:
            last_auth = now
            try:
                await svc.auth.require(request, "read")
            except LogcycleError as exc:
                yield _message({"status": exc.status, "message": exc.message}, event="error")
                return
        if not behind:
            await asyncio.sleep(POLL_S)


async def get_tail(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "read")
    check_params(request.query_params, TAIL_PARAMS)
    f = parse_filter({k: v for k, v in request.query_params.items() if k != "after_id"})
    after = _resume_id(request)
    slots = slots_of(request)
    refused = slots.acquire(principal.id)
    if refused is not None:
        raise Overloaded(f"{refused}: retry later", retry_after=5)
    return _TailResponse(_stream(request, svc, principal, f, after),
                         lambda: slots.release(principal.id))


routes = [Route("/api/v1/tail", get_tail, methods=["GET"])]
