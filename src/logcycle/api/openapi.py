"""``GET /openapi.json``: an OpenAPI 3.1 document of every HTTP route of the server.

One entry per route in ``OPERATIONS``; a route added to the app without one fails
tests/api/test_openapi.py, and schemathesis checks the server against the document.
To document a new route, add an ``op(...)`` line: its parameters, its body, its answer
and the statuses it can give besides 200.

    curl -s http://127.0.0.1:5380/openapi.json | python3 -m json.tool
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle import __version__
from logcycle.api import schemas
from logcycle.api.http import JSON
from logcycle.kinds import KIND_NAMES
from logcycle.query import lang
from logcycle.query.eventlog import MAX_RESULTS, MAX_START_ROW, ORDER_COLUMNS, TYPES
from logcycle.store.schema import RECORD_BASE_COLUMNS, RECORD_TYPES

Schema = dict[str, Any]
OBJ: Schema = {"type": "object"}
STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
ANY: Schema = {}
NATIVE_ERROR: Schema = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": STR, "message": STR, "errors": {"type": "array", "items": OBJ}}}}}
_ONE_ERROR: Schema = {"type": "object", "required": ["code", "message"],
                      "properties": {"code": STR, "message": STR}}
EVENTLOG_ERRORS: Schema = {
    "type": "object", "required": ["fieldErrors", "generalErrors"],
    "properties": {"fieldErrors": {"type": "object", "additionalProperties": {
        "type": "array", "items": _ONE_ERROR}},
        "generalErrors": {"type": "array", "items": _ONE_ERROR}}}
EVENT_LOG: Schema = {"type": "object", "required": ["id", "insertInstant", "message", "type"],
                     "additionalProperties": False,
                     "properties": {"id": INT, "insertInstant": INT, "message": STR,
                                    "type": {"enum": list(TYPES)}}}
# Each kind's fields, from kinds.py (api/schemas.py): components/schemas.
EVENT: Schema = schemas.one_of("StoredEvent")
BATCH: Schema = {"type": "array", "items": schemas.one_of("Event"), "minItems": 1,
                 "description": "events of any kinds, each told by its `kind`; an empty "
                                "batch is refused (400), and so is an event with a field "
                                "its kind does not have"}
QUERY_TEXT = (
    "The query language, ANDed with the other filters; full reference and examples: "
    "docs/query.md. `field:value`, `field:\"a phrase\"`, `field:Check*`, `field:*`, "
    "`field:>500` (also >=, <, <=), `field:(a OR b)`, `field:in(a, b)`, `-field:value`, "
    "`a AND b` (or `a b`), `a OR b`, `( … )`, bare words and phrases search the message. "
    "At most 4,096 characters, 200 terms, 32 parentheses deep; a 400 names the position. "
    "Grammar:\n\n```\n" + lang.GRAMMAR + "```")
ERROR_GROUP: Schema = {
    "type": "object", "required": ["fingerprint", "status"], "properties": {
        "fingerprint": STR, "message": {"type": ["string", "null"]},
        "module_name": {"type": ["string", "null"]}, "count": INT, "total": INT,
        "first_seen": INT, "last_seen": INT, "last_id": INT,
        "last_request_key": {"type": ["string", "null"]},
        "status": {"enum": ["unresolved", "resolved", "ignored", "regressed"]},
        "daily": {"type": "array", "items": {"type": "array", "items": INT}}}}
_JSON_VALUE: Schema = {"type": ["object", "array", "string"]}
RPC_COMMAND: Schema = {"type": "object", "required": ["cmd"], "properties": {
    "cmd": {"enum": ["/v1/Log.Log", "/v1/Log.List"]}, "id": {"type": ["integer", "string"]},
    "args": {"type": "object", "properties": {
        "msg": _JSON_VALUE, "timestamp": INT, "stream": STR, "src": STR,
        "after": STR, "limit": {"type": "integer", "minimum": 0, "maximum": 1000}}}}}
RPC_FRAME: Schema = {"type": "object", "required": ["cmds"], "properties": {
    "v": {"const": 1}, "src": STR, "dst": STR,
    "cmds": {"type": "array", "maxItems": 1000, "items": RPC_COMMAND}}}
RPC_ANSWER: Schema = {"type": "object", "required": ["v", "resp"], "properties": {
    "v": {"const": 1}, "src": STR, "dst": STR, "resp": {"type": "array", "items": {
        "type": "object", "required": ["status"], "properties": {
            "id": ANY, "status": INT, "status_msg": STR,
            "resp": {"type": "array", "items": {
                "type": "object", "required": ["msg", "timestamp", "id"],
                "properties": {"stream": STR, "msg": ANY, "timestamp": INT,
                               "id": {"type": "string", "pattern": "^[0-9]+$"}}}}}}}}}
ES_ERROR: Schema = {"type": "object", "required": ["error", "status"], "properties": {
    "error": {"type": "object", "required": ["type", "reason"],
              "properties": {"type": STR, "reason": STR}}, "status": INT}}
BULK_ANSWER: Schema = {"type": "object", "required": ["took", "errors", "items"], "properties": {
    "took": INT, "errors": {"type": "boolean"}, "items": {"type": "array", "items": OBJ}}}
NDJSON = ("application/x-ndjson",)
CLEF = ("application/vnd.serilog.clef",)
SEQ_EVENTS: Schema = {"type": ["object", "string"], "properties": {"Events": {
    "type": "array", "items": OBJ}}}
LOKI_PUSH: Schema = {"type": "object", "required": ["streams"], "properties": {"streams": {
    "type": "array", "items": {"type": "object", "required": ["stream", "values"],
                               "properties": {"stream": {"type": "object"},
                                              "values": {"type": "array"}}}}}}
OTLP_STATUS: Schema = {"type": "object", "description": "google.rpc.Status", "properties": {
    "code": INT, "message": STR, "details": {"type": "array", "items": OBJ}}}
SENTRY_ERROR: Schema = {"type": "object", "required": ["detail"], "properties": {"detail": STR}}
SEQ_ERROR: Schema = {"type": "object", "required": ["Error"], "properties": {"Error": STR}}
SENTRY_ID: Schema = {"type": "object", "required": ["id"], "properties": {
    "id": {"type": ["string", "null"], "pattern": "^[0-9a-f]{32}$"}}}
OTLP_ANSWER: Schema = {"type": "object", "description": "ExportLogsServiceResponse",
                       "properties": {"partialSuccess": {"type": "object", "properties": {
                           "rejectedLogRecords": {"type": ["string", "integer"]},
                           "errorMessage": STR}}}}
# In the search criteria, null (and "" in a query string) means absent.
EPOCH_MS: Schema = {"type": ["integer", "string", "null"], "minimum": 0,
                    "maximum": 2**63 - 1, "pattern": "^([0-9]{1,18})?$"}
_SEARCH_PROPS: Schema = {
    "message": {"type": ["string", "null"], "maxLength": 1024,
                "description": "`*` matches any run; without `*`, `*value*`"},
    "start": {**EPOCH_MS, "description": "insertInstant ≥ (epoch ms)"},
    "end": {**EPOCH_MS, "description": "insertInstant ≤ (epoch ms)"},
    "type": {"enum": [*TYPES, "", None]},
    "numberOfResults": {"type": ["integer", "string", "null"], "minimum": 0,
                        "maximum": MAX_RESULTS, "pattern": "^([0-9]{1,3})?$", "default": 25},
    "startRow": {"type": ["integer", "string", "null"], "minimum": 0,
                 "maximum": MAX_START_ROW, "pattern": "^(10000|[0-9]{1,4})?$", "default": 0},
    "orderBy": {"enum": [f"{c}{d}" for c in ORDER_COLUMNS for d in ("", " ASC", " DESC")]
                + ["", None],
                "default": "insertInstant DESC",
                "description": "a column, then ASC or DESC (any case)"},
}


# The keyset token: base64url (unpadded) of "v1.<id>", the id 1 to 18 digits. Spelled out
# so that every string the document allows is one the server takes: "v1." is "djEu", each
# 3 digits are 4 characters, 1 or 2 digits at the end are 2 or 3.
_D1 = "(?:[MN][DTjz]|O[DT])"  # the first 2 characters of 2 or 3 digits
_G3 = f"{_D1}[AEIMQUYcgk][w-z0-5]"
AFTER_TOKEN: Schema = {"type": "string", "pattern": (
    f"^djEu(?:(?:{_G3}){{0,5}}(?:{_G3}|{_D1}[AEIMQUYcgk]|[MN][AQgw]|O[AQ]))$"),
    "description": "the `next` of the previous page, unchanged"}
ENTITY: Schema = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}
EVENT_ID: Schema = {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}
# Instants of the native routes: epoch ms (digits: 13 reach the year 2286, the server
# takes up to 9999) or ISO 8601 with an offset; "" means absent.
INSTANT: Schema = {"anyOf": [{"type": "string", "pattern": "^[0-9]{0,13}$"},
                             {"type": "string", "format": "date-time"}]}
KIND_LIST: Schema = {"type": "string", "pattern": (
    f"^(?:(?:{'|'.join(KIND_NAMES)})(?:,(?:{'|'.join(KIND_NAMES)}))*)?$"),
    "description": "kinds, comma separated"}
ENTITY_SPEC: Schema = {"type": "object", "additionalProperties": False, "properties": {
    "columns": {"type": "object", "maxProperties": 100,
                "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,62}$",
                                  "not": {"enum": list(RECORD_BASE_COLUMNS)}},
                "additionalProperties": {"enum": list(RECORD_TYPES)}}}}


def query(name: str, schema: Schema, description: str = "") -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def path(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


FILTERS = [query("kind", KIND_LIST, "kinds, comma separated"),
           query("q", STR, "substring of message"),
           query("message", STR, "message pattern, `*` any run"),
           query("start", INSTANT, "insert_instant ≥ (epoch ms or ISO 8601 with an offset)"),
           query("end", INSTANT, "insert_instant ≤ (epoch ms or ISO 8601 with an offset)"),
           query("request_key", STR),
           query("src", STR), query("stream", STR), query("type", STR, "message_type"),
           query("module", STR, "module_name"),
           query("query", {"type": "string", "maxLength": lang.MAX_LENGTH}, QUERY_TEXT)]
PAGE = [query("after", AFTER_TOKEN, "the previous page's `next`"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})]


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def _error(status: int, dialect: str) -> Schema:
    """The answer for an error status in the route's dialect (api/errors.py)."""
    if status == 401 or (dialect == "eventlog" and status in (404, 500)):
        return {"description": "empty body"}
    if dialect == "otlp":
        return {"description": "google.rpc.Status in the request's encoding", "content": {
            **_json(OTLP_STATUS), "application/x-protobuf": {"schema": STR}}}
    if dialect == "loki":
        return {"description": "the message, as Loki answers",
                "content": {"text/plain": {"schema": STR}}}
    body = {"eventlog": EVENTLOG_ERRORS, "es": ES_ERROR, "sentry": SENTRY_ERROR,
            "seq": SEQ_ERROR}.get(dialect, NATIVE_ERROR)
    return {"description": "error", "content": _json(body)}


ANY_KEY = "any key"


def op(method: str, route: str, summary: str, *, scope: str | None, ok: Schema | None,
       errors: tuple[int, ...] = (), params: list[Schema] | None = None,
       body: Schema | None = None, media: str = "application/json",
       dialect: str = "native", ok_status: int = 200,
       body_media: tuple[str, ...] = ("application/json",),
       extra_body: dict[str, Schema] | None = None,
       ok_media: dict[str, Schema] | None = None) -> tuple[str, str, Schema]:
    """One operation of the document. ``scope``: None (public), ``ANY_KEY`` (any valid
    key, else 401) or the scope the route needs (else 401 or 403)."""
    ok_answer: Schema = {"description": "OK"}
    if ok is not None:
        ok_answer["content"] = {media: {"schema": ok}, **(ok_media or {})}
    statuses = set(errors) | ({401, 429} if scope else set()) | \
        ({403} if scope and scope != ANY_KEY else set())
    responses = {str(ok_status): ok_answer,
                 **{str(s): _error(s, dialect) for s in sorted(statuses)}}
    operation: Schema = {"summary": summary, "responses": responses,
                         "parameters": params or [],
                         "security": [{"key": []}] if scope else []}
    if scope == ANY_KEY:
        operation["description"] = "Needs a valid key (any scope)."
    elif scope:
        operation["description"] = f"Needs a key whose scope allows `{scope}`."
    if body is not None:
        content = {m: {"schema": body} for m in body_media}
        content |= {m: {"schema": b} for m, b in (extra_body or {}).items()}
        operation["requestBody"] = {"required": True, "content": content}
    return method, route, operation


OPERATIONS: list[tuple[str, str, Schema]] = [
    op("get", "/health", "200 once the server can take writes", scope=None,
       ok={"type": "object", "required": ["status"], "properties": {"status": STR}},
       errors=(503,)),
    op("get", "/openapi.json", "This document", scope=None, ok=OBJ),
    op("get", "/api/v1/status", "Week, cycles, table sizes, writer queue", scope="admin",
       ok=OBJ, errors=(503,)),
    op("post", "/api/v1/events", "Ingest a JSON array (or NDJSON) of events", scope="ingest",
       body=BATCH,
       ok={"type": "object", "required": ["ids"], "properties": {
           "ids": {"type": "array", "items": INT}}}, errors=(400, 413, 415, 503, 507)),
    op("get", "/api/v1/events", "List events, newest first, keyset pages", scope="read",
       params=FILTERS + PAGE, errors=(400, 503),
       ok={"type": "object", "required": ["events", "next"], "properties": {
           "events": {"type": "array", "items": EVENT}, "next": {"type": ["string", "null"]}}}),
    op("get", "/api/v1/events/{id}", "One event", scope="read", ok=EVENT,
       params=[path("id", EVENT_ID)], errors=(400, 404, 503)),
    op("get", "/api/v1/requests/{request_key}", "A request's events", scope="read",
       ok=schemas.request_tree_schema(),
       params=[path("request_key", STR)], errors=(400, 404, 503)),
    op("get", "/api/v1/histogram", "Matching events per time bucket", scope="read", ok=OBJ,
       params=[*FILTERS, query("buckets", {"type": "integer", "minimum": 1, "maximum": 1000})],
       errors=(400, 503)),
    op("get", "/api/v1/stats", "Metrics of matching events per group and time bucket",
       scope="read", errors=(400, 503),
       params=[*FILTERS, query("by", STR, "fields to group by, comma separated"),
               query("metrics", STR, "count, error_rate, avg(f), min(f), max(f), sum(f), "
                     "p50(f), p75(f), p90(f), p95(f), p99(f), count_distinct(f)"),
               query("interval", STR, "time buckets, 1m to 1w"),
               query("order", STR, "a metric, then asc or desc"),
               query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
               query("exact", {"type": "string", "enum": ["true", "false"]},
                     "true: exact percentiles from the events, never the summaries")],
       ok={"type": "object", "required": ["rows"], "properties": {
           "rows": {"type": "array", "items": OBJ},
           "approximate": {"type": "object", "properties": {
               "metrics": {"type": "array", "items": STR},
               "relative_error": {"type": "number"}}}}}),
    op("get", "/api/v1/tail", "Live tail (server-sent events)", scope="read", ok=STR,
       media="text/event-stream", errors=(400, 503),
       params=[p for p in FILTERS if p["name"] not in ("start", "end")]
       + [query("after_id", STR)]),
    op("get", "/api/v1/whoami", "The caller's key and the week model", scope=ANY_KEY, ok=OBJ),
    op("get", "/api/v1/errors", "Error groups (docs/errors.md)", scope="read",
       params=[query("start", STR, "occurrences inserted at or after (epoch ms or ISO 8601)"),
               query("end", STR, "... at or before"),
               query("query", {"type": "string", "maxLength": lang.MAX_LENGTH},
                     "count only the matching errors. " + QUERY_TEXT),
               query("status", STR, "unresolved, resolved, ignored, regressed (comma list)"),
               query("order", {"enum": ["last_seen", "count", "first_seen"]}),
               query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})],
       errors=(400, 503), ok={"type": "object", "required": ["groups"], "properties": {
           "groups": {"type": "array", "items": ERROR_GROUP}}}),
    op("patch", "/api/v1/errors/{fingerprint}", "Set an error group's status", scope="read",
       params=[path("fingerprint", STR)], errors=(400, 404, 413, 503),
       body={"type": "object", "required": ["status"], "additionalProperties": False,
             "properties": {"status": {"enum": ["unresolved", "resolved", "ignored"]}}},
       ok=ERROR_GROUP),
    op("get", "/api/v1/alerts", "Alert rules and their state (docs/alerts.md)", scope="admin",
       ok={"type": "object", "required": ["alerts"], "properties": {
           "alerts": {"type": "array", "items": OBJ}}}, errors=(503,)),
    op("post", "/api/v1/alerts", "Add an alert rule", scope="admin", body=OBJ, ok=OBJ,
       errors=(400, 409, 413, 503)),
    op("get", "/api/v1/alerts/{id}", "One alert rule", scope="admin", ok=OBJ,
       params=[path("id", STR)], errors=(400, 404, 503)),
    op("put", "/api/v1/alerts/{id}", "Replace an alert rule (its state starts over)",
       scope="admin", body=OBJ, ok=OBJ, params=[path("id", STR)],
       errors=(400, 404, 409, 413, 503)),
    op("delete", "/api/v1/alerts/{id}", "Remove an alert rule", scope="admin", ok=OBJ,
       params=[path("id", STR)], errors=(400, 404, 503)),
    op("get", "/api/v1/entities", "Declared record entities", scope="read", ok=OBJ,
       errors=(503,)),
    op("put", "/api/v1/entities/{entity}", "Declare a record entity", scope="admin", ok=OBJ,
       params=[path("entity", ENTITY)], body=ENTITY_SPEC, errors=(400, 409, 413, 503, 507)),
    op("post", "/api/v1/records/{entity}", "Store records", scope="ingest",
       params=[path("entity", ENTITY)],
       body={"anyOf": [OBJ, {"type": "array", "items": OBJ, "minItems": 1}],
             "description": "one record or a list of them; each value of a declared column "
                            "must have the column's type (integers within 64 bits); other "
                            "keys are ignored"},
       ok=OBJ, errors=(400, 404, 413, 415, 503, 507)),
    op("get", "/api/v1/records/{entity}", "List records", scope="read", ok=OBJ,
       params=[path("entity", ENTITY), *PAGE], errors=(400, 404, 503)),
    op("get", "/api/system/event-log/search", "Search event logs (seed 003)", scope="read",
       dialect="eventlog", params=[query(k, v) for k, v in _SEARCH_PROPS.items()],
       errors=(400, 500, 503),
       ok={"type": "object", "required": ["eventLogs", "total"], "properties": {
           "eventLogs": {"type": "array", "items": EVENT_LOG}, "total": INT}}),
    op("post", "/api/system/event-log/search", "Search event logs with a JSON body",
       scope="read", dialect="eventlog", errors=(400, 413, 415, 500, 503),
       body={"type": "object", "additionalProperties": False, "properties": {"search": {
           "type": "object", "properties": _SEARCH_PROPS, "additionalProperties": False}}},
       ok={"type": "object", "required": ["eventLogs", "total"], "properties": {
           "eventLogs": {"type": "array", "items": EVENT_LOG}, "total": INT}}),
    op("get", "/api/system/event-log/{logId}", "One event log", scope="read",
       dialect="eventlog", params=[path("logId", {"type": "integer", "minimum": -(2**63),
                                              "maximum": 2**63 - 1})], errors=(400, 404, 500, 503),
       ok={"type": "object", "required": ["eventLog"], "properties": {"eventLog": EVENT_LOG}}),
    op("post", "/api/system/event-log", "Create an event log", scope="ingest",
       dialect="eventlog", errors=(400, 413, 415, 500, 503, 507),
       body={"type": "object", "required": ["eventLog"], "additionalProperties": False,
             "properties": {"eventLog": {
                 "type": "object", "required": ["message"], "additionalProperties": False,
                 "properties": {"message": {"type": "string", "minLength": 1, "maxLength": 65536},
                                "type": {"enum": [*TYPES, None]}}}}},
       ok={"type": "object", "required": ["eventLog"], "properties": {"eventLog": EVENT_LOG}}),
    op("post", "/rpc", "Log RPC frames: /v1/Log.Log and /v1/Log.List (seed 002)",
       scope=ANY_KEY, body=RPC_FRAME, ok=RPC_ANSWER, errors=(400, 413, 415)),
    *[op("get", p, "Elasticsearch version document (for shippers' product checks)",
         scope=ANY_KEY, ok=OBJ, dialect="es") for p in ("/es", "/es/")],
    *[op(m, p, "Elasticsearch / OpenSearch bulk ingest (docs/integrations.md)",
         scope="ingest", ok=BULK_ANSWER, body=STR, body_media=NDJSON, dialect="es",
         params=[path("index", STR)] if "{index}" in p else [],
         errors=(400, 413, 429, 503, 507))
      for p in ("/es/_bulk", "/es/{index}/_bulk") for m in ("post", "put")],
    *[op(m, "/es/{probe}", "Start-up probes of shippers (license, health, templates)",
         scope=ANY_KEY, ok=OBJ, params=[path("probe", STR)], errors=(404,), dialect="es",
         body=OBJ if m == "put" else None) for m in ("get", "put")],
    op("post", "/loki/api/v1/push", "Loki push: JSON (gzip allowed) or snappy protobuf",
       scope="ingest", ok=None, ok_status=204, errors=(400, 413, 415, 503, 507), dialect="loki",
       body=LOKI_PUSH, body_media=("application/json", "application/x-protobuf")),
    *[op("post", p, "Seq: CLEF lines (or Seq's JSON {\"Events\": [...]} on /api/events/raw)",
         scope="ingest", ok=OBJ, ok_status=201, errors=(400, 413, 503, 507), dialect="seq",
         body=STR if p == "/ingest/clef" else SEQ_EVENTS,
         body_media=CLEF if p == "/ingest/clef" else ("application/json", *CLEF))
      for p in ("/api/events/raw", "/ingest/clef")],
    op("post", "/v1/logs", "OpenTelemetry logs (OTLP/HTTP ExportLogsServiceRequest, "
       "protobuf or JSON)", scope="ingest", dialect="otlp", body=OBJ,
       extra_body={"application/x-protobuf": {"type": "string", "format": "binary"}},
       ok=OTLP_ANSWER, ok_media={"application/x-protobuf": {"schema": STR}},
       errors=(400, 413, 415, 503, 507)),
    op("post", "/api/{project_id}/envelope/", "Sentry SDK envelopes (event items stored)",
       scope="ingest", dialect="sentry", params=[path("project_id", {"type": "integer",
                                                                    "minimum": 0})],
       body=STR, ok=SENTRY_ID, errors=(400, 413, 415, 503, 507)),
    op("post", "/api/{project_id}/store/", "One Sentry SDK event (the older store endpoint)",
       scope="ingest", dialect="sentry", params=[path("project_id", {"type": "integer",
                                                                    "minimum": 0})],
       body=OBJ, ok=SENTRY_ID, errors=(400, 413, 415, 503, 507)),
    op("get", "/", "The web page", scope=None, ok=STR, media="text/html"),
    op("get", "/static/{name}", "The web page's files", scope=None, ok=STR, media="*/*",
       params=[path("name", STR)], errors=(404,)),
]


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, route, operation in OPERATIONS:
        paths.setdefault(route, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "logcycle", "version": __version__,
                 "description": "Self-hosted log and event service. See README.md, "
                                "docs/eventlog.md and docs/rpc.md."},
        "components": {"schemas": schemas.components(), "securitySchemes": {"key": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Bearer <key>` or the bare key"}}},
        "paths": paths,
    }


async def openapi_json(request: Request) -> Response:
    return JSON(document())


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
