"""Records of declared entities (seed 000's LogRecord): permanent tables, not rotated.

``PUT /api/v1/entities/{entity}`` (admin) declares one, optionally with typed columns;
``POST /api/v1/records/{entity}`` (ingest) stores one record or an array of them;
``GET /api/v1/records/{entity}`` (read) lists them newest first.

Records have no ``src``: a key limited to a source prefix may not use them (403). Every
record is checked and encoded here (ingest/records.py), so a value that no column or JSON
can hold is a 400 for its request and never reaches the shared group commit.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.events import svc_of
from logcycle.api.http import JSON, check_params, parse_int, read_body
from logcycle.errors import BadRequest, NotFound, TooLarge
from logcycle.ingest.records import encode_record
from logcycle.ingest.tasks import DeclareEntity, RecordBatch
from logcycle.query.filters import decode_token, encode_token
from logcycle.query.scope import Reader
from logcycle.store import schema

WHAT = "records and entities"

_records = msgspec.json.Decoder(dict[str, Any] | list[dict[str, Any]])


class EntitySpec(msgspec.Struct, forbid_unknown_fields=True):
    columns: dict[str, str] = {}


def entity_name(request: Request) -> str:
    name: str = request.path_params["entity"]
    if not schema.ENTITY_NAME.fullmatch(name):
        raise BadRequest(f"entity name {name[:80]!r} must match [a-z][a-z0-9_]{{0,62}}",
                         code="invalid_entity")
    return name


async def put_entity(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "admin")
    principal.sources.require_all(WHAT)
    name = entity_name(request)
    body = await read_body(request, 65536)
    try:
        spec = msgspec.json.decode(body or b"{}", type=EntitySpec)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise BadRequest(f"invalid entity declaration: {exc}; expected "
                         '{"columns": {"name": "text|integer|real|boolean|json"}}',
                         code="invalid_entity") from None
    for col, typ in spec.columns.items():
        if not schema.COLUMN_NAME.fullmatch(col) or col in schema.RESERVED_COLUMNS:
            raise BadRequest(f"column name {col[:80]!r} must match [a-z][a-z0-9_]{{0,62}} and "
                             f"not be one of {', '.join(schema.RESERVED_COLUMNS)}",
                             code="invalid_entity")
        if typ not in schema.RECORD_TYPES:
            raise BadRequest(f"column {col!r}: type {typ[:40]!r} is not one of "
                             f"{', '.join(schema.RECORD_TYPES)}", code="invalid_entity")
    if len(spec.columns) > 100:
        raise BadRequest("an entity has at most 100 typed columns", code="invalid_entity")
    columns = await svc.writer.submit(DeclareEntity(name, dict(spec.columns)))
    return JSON({"entity": name, "table": schema.record_table(name), "columns": columns})


async def get_entities(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "read")
    entities = await svc.read(principal, _entities)
    return JSON({"entities": [{"entity": k, "table": schema.record_table(k), "columns": v}
                              for k, v in sorted(entities.items())]})


def _entities(reader: Reader) -> dict[str, dict[str, str]]:
    return reader.store_wide(WHAT).entities()


async def post_records(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "ingest")
    principal.sources.require_all(WHAT)
    name = entity_name(request)
    body = await read_body(request, svc.settings.max_body_bytes)
    try:
        decoded = _records.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError,
            RecursionError) as exc:
        raise BadRequest(f"expected a JSON object or an array of objects: {exc}",
                         code="invalid_json") from None
    records = decoded if isinstance(decoded, list) else [decoded]
    if not records:
        raise BadRequest("no records in the body", code="empty_batch")
    if len(records) > svc.settings.max_batch_events:
        raise TooLarge(f"a batch holds at most {svc.settings.max_batch_events} records",
                       code="too_many_events")
    columns = (await svc.read(principal, _entities)).get(name)
    if columns is None:
        raise NotFound(f"entity {name!r} is not declared: an admin declares it with "
                       f"PUT /api/v1/entities/{name}", code="unknown_entity")
    for i, record in enumerate(records):
        encode_record(record, columns, i)
    ids = await svc.writer.submit(RecordBatch(name, records))
    return JSON({"ids": ids})


def _list_records(reader: Reader, name: str, after: int | None,
                  limit: int) -> dict[str, Any]:
    store = reader.store_wide(WHAT)
    if name not in store.entities():
        raise NotFound(f"entity {name!r} is not declared", code="unknown_entity")
    p = store.dialect.param
    where = f" WHERE id < {p}" if after is not None else ""
    params: list[Any] = [after] if after is not None else []
    _, rows = store.fetch(f"SELECT id, insert_instant, data FROM "
                              f"{schema.record_table(name)}{where} ORDER BY id DESC "
                              f"LIMIT {p}", [*params, limit + 1])
    out = [{"id": r[0], "insert_instant": r[1], "record": msgspec.json.decode(r[2])}
           for r in rows[:limit]]
    return {"records": out, "next": encode_token(rows[limit - 1][0]) if len(rows) > limit
            else None}


async def get_records(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "read")
    name = entity_name(request)
    p = request.query_params
    check_params(p, ("after", "limit"))
    after = decode_token(p["after"]) if p.get("after") else None
    limit = parse_int(p.get("limit"), "limit", default=100, lo=1, hi=svc.settings.max_page_size)
    return JSON(await svc.read(principal, _list_records, name, after, limit))


routes = [
    Route("/api/v1/entities", get_entities, methods=["GET"]),
    Route("/api/v1/entities/{entity}", put_entity, methods=["PUT"]),
    Route("/api/v1/records/{entity}", post_records, methods=["POST"]),
    Route("/api/v1/records/{entity}", get_records, methods=["GET"]),
]
