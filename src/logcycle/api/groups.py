"""Error groups: ``GET /api/v1/errors`` and ``PATCH /api/v1/errors/{fingerprint}``
(docs/errors.md). Both take a ``read`` key: triage is a reader's work, and a status
changes no event."""

from __future__ import annotations

import re

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.auth import Principal
from logcycle.api.events import svc_of
from logcycle.api.http import JSON, check_params, parse_instant, parse_int, read_body
from logcycle.errors import BadRequest, NotFound
from logcycle.ingest.tasks import Reindex
from logcycle.query.errors import ORDERS, GroupQuery, list_groups
from logcycle.query.scope import store_wide
from logcycle.query.selection import selection
from logcycle.service import Service
from logcycle.store import errorgroups
from logcycle.store.base import Store

LIST_PARAMS = ("start", "end", "query", "status", "order", "limit")
SETTABLE = ("unresolved", "resolved", "ignored")
GROUPS = "error groups"  # store-wide (error events have no source): refused to prefix keys
FINGERPRINT = re.compile(r"[0-9A-Za-z_.:-]{1,128}")


def parse_statuses(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    out = tuple(dict.fromkeys(s.strip() for s in value.split(",") if s.strip()))
    bad = [s for s in out if s not in errorgroups.STATUSES]
    if bad:
        raise BadRequest(f"status: unknown status {bad[0]!r}; one of "
                         f"{', '.join(errorgroups.STATUSES)}", code="invalid_parameter")
    return out


async def get_errors(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "read")
    p = request.query_params
    check_params(p, LIST_PARAMS)
    order = p.get("order") or "last_seen"
    if order not in ORDERS:
        raise BadRequest(f"order: one of {', '.join(ORDERS)}, got {order[:40]!r}",
                         code="invalid_parameter")
    q = GroupQuery(start=parse_instant(p.get("start"), "start"),
                   end=parse_instant(p.get("end"), "end"),
                   selection=(selection(p["query"], kinds=("error",))
                              if (p.get("query") or "").strip() else None),
                   statuses=parse_statuses(p.get("status")), order=order,
                   limit=parse_int(p.get("limit"), "limit", default=100, lo=1, hi=1000))
    if q.start is not None and q.end is not None and q.start > q.end:
        raise BadRequest("start is after end", code="invalid_parameter")
    return JSON({"groups": await svc.read(principal, store_wide, GROUPS, list_groups, q)})


def _fingerprint(request: Request) -> str:
    fp: str = request.path_params["fingerprint"]
    if not FINGERPRINT.fullmatch(fp):
        raise BadRequest("fingerprint: 1 to 128 letters, digits or . _ : -",
                         code="invalid_parameter")
    return fp


def _new_status(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("the body must be a JSON object such as {\"status\": \"resolved\"}",
                         code="invalid_json") from None
    status = data.get("status") if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) != {"status"} or status not in SETTABLE:
        raise BadRequest(f"the body must be {{\"status\": S}} with S one of "
                         f"{', '.join(SETTABLE)} (regressed is set by the server)",
                         code="invalid_status")
    return str(status)


def _write_status(store: Store, fp: str, status: str, now: int) -> int:
    return store.small_write(errorgroups.status_sql(store.dialect), (status, now, fp))


async def _set_status(svc: Service, principal: Principal, fp: str, status: str) -> int:
    return await svc.read(principal, store_wide, GROUPS, _write_status, fp, status,
                          svc.clock.now_ms())


async def patch_error(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "read")
    fp = _fingerprint(request)
    status = _new_status(await read_body(request, 4096))
    if await _set_status(svc, principal, fp, status) == 0:
        # A group seen in the last second may not be folded in yet: fold, then retry.
        await svc.writer.submit(Reindex())
        if await _set_status(svc, principal, fp, status) == 0:
            raise NotFound(f"no error group {fp!r}")
    groups = await svc.read(principal, store_wide, GROUPS, list_groups,
                            GroupQuery(fingerprint=fp))
    return JSON(groups[0] if groups else {"fingerprint": fp, "status": status})


routes = [
    Route("/api/v1/errors", get_errors, methods=["GET"]),
    Route("/api/v1/errors/{fingerprint}", patch_error, methods=["PATCH"]),
]
