"""The Event Log API (seed 003, docs/eventlog.md).

- ``GET /api/system/event-log/{logId}``: one event log, ``{"eventLog": {...}}``
- ``GET /api/system/event-log/search?message=&start=&end=&type=&orderBy=…``: search
- ``POST /api/system/event-log/search`` with ``{"search": {...}}``: the same criteria
- ``POST /api/system/event-log`` with ``{"eventLog": {"message", "type"}}``: create one

Event logs are ``general`` events whose ``message_type`` is Information, Debug or Error.
Errors answer in the seed's shape (api/errors.py): 400 ``{"fieldErrors", "generalErrors"}``,
401/404/500 empty, 503 JSON. Unknown query parameters are ignored, as the original does;
an unknown field of a JSON body is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.events import check_src, svc_of
from logcycle.api.http import JSON, read_body
from logcycle.errors import BadRequest, FieldError, NotFound
from logcycle.ingest.tasks import EventBatch
from logcycle.query.eventlog import (
    MAX_RESULTS,
    MAX_START_ROW,
    ORDER_COLUMNS,
    TYPES,
    EventLogSearch,
    get_event_log,
    search_event_logs,
)

MAX_JSON_BODY = 256 * 1024
MAX_PATTERN = 1024
SEARCH_FIELDS = ("message", "start", "end", "type", "numberOfResults", "startRow", "orderBy")
_ORDER_LOOKUP = {name.lower(): name for name in ORDER_COLUMNS}
_TYPE_LOOKUP = {t.lower(): t for t in TYPES}
_LONG = re.compile(r"-?[0-9]{1,19}")
MAX_INSTANT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class _Fields:
    """Collects every invalid field of a request, then raises them in one 400."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.errors: list[FieldError] = []

    def bad(self, name: str, code: str, message: str) -> None:
        self.errors.append(FieldError(field=self.prefix + name, message=message, code=code))

    def raise_any(self) -> None:
        if self.errors:
            first = self.errors[0]
            raise BadRequest(f"{first.field}: {first.message}", code="invalid",
                             errors=self.errors)

    def integer(self, raw: Any, name: str, lo: int, hi: int) -> int | None:
        """A JSON integer or a string of digits within [lo, hi]; None if absent."""
        if raw is None or raw == "":
            return None
        if isinstance(raw, str) and _LONG.fullmatch(raw.strip()):
            raw = int(raw.strip())
        elif isinstance(raw, float) and raw.is_integer() and abs(raw) < 2**63:
            raw = int(raw)  # 25.0 is an integer in JSON
        if not isinstance(raw, int) or isinstance(raw, bool):
            self.bad(name, "couldNotConvert", f"must be an integer, got {_show(raw)}")
            return None
        if not lo <= raw <= hi:
            self.bad(name, "invalid", f"must be between {lo} and {hi}, got {raw}")
            return None
        return raw

    def text(self, raw: Any, name: str, max_len: int, *, search: bool = False) -> str | None:
        if raw is None:
            return None
        if not isinstance(raw, str):
            self.bad(name, "couldNotConvert", f"must be a string, got {_show(raw)}")
            return None
        if len(raw) > max_len:
            self.bad(name, "tooLong", f"must be at most {max_len} characters")
            return None
        if search and "\x00" in raw:  # stored text holds none (NUL is stored as U+FFFD)
            self.bad(name, "invalid", "must not contain a NUL character")
            return None
        return raw


def _show(raw: Any) -> str:
    return orjson.dumps(raw).decode()[:40]


def parse_search(values: Mapping[str, Any], prefix: str) -> EventLogSearch:
    """The criteria from query parameters (``prefix`` "") or a JSON ``search`` object
    (``prefix`` "search."); every invalid field is named in one 400."""
    f = _Fields(prefix)
    raw_type = f.text(values.get("type"), "type", 64)
    type_ = _TYPE_LOOKUP.get(raw_type.lower()) if raw_type else None
    if raw_type and type_ is None:
        f.bad("type", "invalid", f"must be one of {', '.join(TYPES)}")
    column, descending = _order(f, values.get("orderBy"))
    s = EventLogSearch(
        message=f.text(values.get("message"), "message", MAX_PATTERN, search=True),
        start=_instant(f.integer(values.get("start"), "start", 0, 2**63 - 1)),
        end=_instant(f.integer(values.get("end"), "end", 0, 2**63 - 1)),
        type=type_,
        number_of_results=_default(f.integer(values.get("numberOfResults"), "numberOfResults",
                                             0, MAX_RESULTS), 25),
        start_row=_default(f.integer(values.get("startRow"), "startRow", 0, MAX_START_ROW), 0),
        order_column=column, descending=descending)
    f.raise_any()
    return s


def _instant(value: int | None) -> int | None:
    """Instants past the year 9999 mean "no bound" (and no calendar can hold them)."""
    return None if value is None else min(value, MAX_INSTANT_MS)


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def _order(f: _Fields, raw: Any) -> tuple[str, bool]:
    """``orderBy``: a documented column, then optionally ASC or DESC. Only names from
    ORDER_COLUMNS ever reach SQL."""
    text = f.text(raw, "orderBy", 64)
    if not text or not text.strip():
        return "id", True
    words = text.split()
    name = _ORDER_LOOKUP.get(words[0].lower())
    direction = words[1].upper() if len(words) == 2 else "ASC"
    if name is None or len(words) > 2 or direction not in ("ASC", "DESC"):
        f.bad("orderBy", "invalid", "must be a column (insertInstant, insertUser, message or "
              "type) optionally followed by ASC or DESC, e.g. 'insertInstant DESC'")
        return "id", True
    return ORDER_COLUMNS[name], direction == "DESC"


async def _json_object(request: Request, key: str) -> dict[str, Any]:
    """The body's ``key`` object (absent: {}); 400 unless the body is a JSON object."""
    body = await read_body(request, MAX_JSON_BODY)
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="invalidJSON") from None
    inner = data.get(key, {}) if isinstance(data, dict) else None
    if not isinstance(inner, dict) or (isinstance(data, dict) and set(data) - {key}):
        raise BadRequest(f'the body must be a JSON object {{"{key}": {{...}}}}',
                         code="invalidJSON")
    return inner


async def search_get(request: Request) -> Response:
    svc = svc_of(request)
    await svc.auth.require(request, "read")
    criteria = parse_search(request.query_params, "")
    return await _search(request, criteria)


async def search_post(request: Request) -> Response:
    svc = svc_of(request)
    await svc.auth.require(request, "read")
    values = await _json_object(request, "search")
    f = _Fields("search.")
    for name in sorted(set(values) - set(SEARCH_FIELDS)):
        f.bad(name, "unknown", f"unknown field; known: {', '.join(SEARCH_FIELDS)}")
    f.raise_any()
    return await _search(request, parse_search(values, "search."))


async def _search(request: Request, criteria: EventLogSearch) -> Response:
    svc = svc_of(request)
    found = await svc.read(search_event_logs, svc.store, criteria, tz=svc.settings.tz)
    return JSON({"eventLogs": found.event_logs, "total": found.total})


async def retrieve(request: Request) -> Response:
    svc = svc_of(request)
    await svc.auth.require(request, "read")
    raw = request.path_params["log_id"]
    if not _LONG.fullmatch(raw) or not -(2**63) <= int(raw) < 2**63:
        f = _Fields("")
        f.bad("logId", "couldNotConvert", f"must be a Long, got {raw[:40]!r}")
        f.raise_any()
    event_log = await svc.read(get_event_log, svc.store, int(raw))
    if event_log is None:
        raise NotFound(f"no event log {raw}")
    return JSON({"eventLog": event_log})


async def create(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "ingest")
    values = await _json_object(request, "eventLog")
    f = _Fields("eventLog.")
    for name in sorted(set(values) - {"message", "type"}):
        f.bad(name, "unknown", "unknown field; known: message, type")
    message = f.text(values.get("message"), "message", 65536)
    if not message:
        f.bad("message", "blank", "required")
    # Absent (or null) means Information; an empty string is a mistake, not a default.
    given = values.get("type")
    type_ = "Information" if given is None else (f.text(given, "type", 64) or "")
    if type_.lower() not in _TYPE_LOOKUP:
        f.bad("type", "invalid", f"must be one of {', '.join(TYPES)}")
    f.raise_any()
    now = svc.clock.now_ms()
    event = {"kind": "general", "instant": now, "message": message,
             "message_type": _TYPE_LOOKUP[type_.lower()]}
    batch = svc.decoder.decode_json(orjson.dumps([event]), now_ms=now)
    check_src(principal.src_prefix, batch.events)
    (new_id,) = await svc.writer.submit(EventBatch(batch.events, None, principal.id))
    stored = await svc.read(get_event_log, svc.store, new_id)
    return JSON({"eventLog": stored or {"id": new_id, "insertInstant": now,
                                        "message": message, "type": event["message_type"]}})


routes = [
    Route("/api/system/event-log/search", search_get, methods=["GET"]),
    Route("/api/system/event-log/search", search_post, methods=["POST"]),
    Route("/api/system/event-log/{log_id}", retrieve, methods=["GET"]),
    Route("/api/system/event-log", create, methods=["POST"]),
]
