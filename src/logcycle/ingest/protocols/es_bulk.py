"""Elasticsearch / OpenSearch ``_bulk``: NDJSON action and document lines → native events,
and the bulk answer (``took``, ``errors``, ``items``) built from what was stored.

Field mapping (the first field present of each list; a field's name may be a key with
dots or a path through nested objects):

==================  ===========================================
native              bulk document
==================  ===========================================
``instant``         ``@timestamp``, ``timestamp``, ``_time``
``message``         ``message``, ``msg``, ``_msg``
``message_type``    ``log.level``, ``level``
``src``             ``host.name``, ``hostname``
``module_name``     ``service.name``
``request_key``     ``trace.id``, ``trace_id``
``stream``          the index (of the action, else of the URL)
``attributes``      everything else, nested objects kept
==================  ===========================================

>>> fields = Fields.of("", "")
>>> req = parse_bulk(b'{"create":{}}\\n{"message":"hi","@timestamp":0,"a":{"b":1}}\\n',
...                  None, fields, ClockRule(now_ms=5, max_future_ms=0))
>>> req.items[0]
{'kind': 'general', 'instant': 0, 'message': 'hi', 'attributes': {'a': {'b': 1}}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from logcycle.errors import BadRequest
from logcycle.ingest.protocols.common import (
    ClockRule,
    Item,
    level_name,
    pop_first,
    text_of,
)

TIME_FIELDS = ("@timestamp", "timestamp", "_time")
MESSAGE_FIELDS = ("message", "msg", "_msg")
LEVEL_FIELDS = ("log.level", "level")
OTHER_FIELDS = (("src", ("host.name", "hostname")), ("module_name", ("service.name",)),
                ("request_key", ("trace.id", "trace_id")))
STORED_ACTIONS = ("create", "index")
KNOWN_ACTIONS = (*STORED_ACTIONS, "update", "delete")


@dataclass(frozen=True, slots=True)
class Fields:
    """Which document fields hold the time and the message (overrides first)."""

    time: tuple[str, ...]
    message: tuple[str, ...]

    @classmethod
    def of(cls, time: str | None, message: str | None) -> Fields:
        """From comma-separated overrides (empty: the defaults only)."""
        return cls(_names(time) + TIME_FIELDS, _names(message) + MESSAGE_FIELDS)


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


@dataclass(slots=True)
class BulkRequest:
    """The translated request: per bulk item its action, index and native event (or
    error text)."""

    actions: list[str] = field(default_factory=list)
    indexes: list[str | None] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)


def parse_bulk(body: bytes, index: str | None, fields: Fields, clock: ClockRule) -> BulkRequest:
    """Translate a bulk body; a malformed action line is a 400 for the whole request (as
    Elasticsearch answers), a bad document only fails its own item."""
    out = BulkRequest()
    lines = [ln for ln in body.split(b"\n") if ln.strip()]
    i = 0
    last: tuple[bytes, tuple[str, dict[str, Any]]] | None = None
    while i < len(lines):
        if last is not None and lines[i] == last[0]:  # shippers repeat one action line
            action, meta = last[1]
        else:
            action, meta = _action(lines[i], i)
            last = (lines[i], (action, meta))
        i += 1
        out.actions.append(action)
        target = meta.get("_index") if isinstance(meta.get("_index"), str) else index
        out.indexes.append(target)
        if action == "delete":
            out.items.append(f"the {action} action is not supported: logcycle only appends")
            continue
        if i >= len(lines):
            raise BadRequest(f"line {i}: the {action} action has no document line",
                             code="invalid_bulk")
        doc, i = lines[i], i + 1
        if action not in STORED_ACTIONS:
            out.items.append(f"the {action} action is not supported: logcycle only appends")
            continue
        out.items.append(translate(doc, target, fields, clock))
    if not out.actions:
        raise BadRequest("the bulk request holds no action", code="invalid_bulk")
    return out


def _action(line: bytes, number: int) -> tuple[str, dict[str, Any]]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"line {number + 1}: malformed action line: {exc}",
                         code="invalid_bulk") from None
    if not isinstance(obj, dict) or len(obj) != 1:
        raise BadRequest(f"line {number + 1}: an action line must be an object with one key "
                         f"({', '.join(KNOWN_ACTIONS)})", code="invalid_bulk")
    ((action, meta),) = obj.items()
    if action not in KNOWN_ACTIONS or not isinstance(meta, dict):
        raise BadRequest(f"line {number + 1}: unknown action {str(action)[:40]!r}; known: "
                         f"{', '.join(KNOWN_ACTIONS)}", code="invalid_bulk")
    return action, meta


def translate(line: bytes, index: str | None, fields: Fields, clock: ClockRule) -> Item:
    """One document line → a native event (or the reason it cannot be read)."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"the document is not valid JSON: {exc}"
    if not isinstance(doc, dict):
        return "the document must be a JSON object"
    when = pop_first(doc, fields.time)
    message = pop_first(doc, fields.message)
    event: dict[str, Any] = {"kind": "general", "instant": 0, "message":
                             message if type(message) is str else
                             "" if message is None else text_of(message)}
    level = pop_first(doc, LEVEL_FIELDS)
    if level is not None:
        event["message_type"] = level_name(level)
    for name, paths in OTHER_FIELDS:
        value = pop_first(doc, paths)
        if value is not None:
            event[name] = value if type(value) is str else text_of(value)
    if index is not None:
        event["stream"] = index
    event["instant"] = clock.of(when, doc)
    if doc:
        event["attributes"] = doc
    return event


def _text(value: object) -> str | None:
    return None if value is None else text_of(value)


def answer(req: BulkRequest, results: list[int | str], took_ms: int) -> dict[str, Any]:
    """The bulk response: per item 201 with the event id, or 400 with the reason."""
    items: list[dict[str, Any]] = []
    for action, index, result in zip(req.actions, req.indexes, results, strict=True):
        if isinstance(result, int):
            body: dict[str, Any] = {
                "_index": index or "logcycle", "_id": str(result), "_version": 1,
                "result": "created", "status": 201, "_seq_no": result, "_primary_term": 1,
                "_shards": {"total": 1, "successful": 1, "failed": 0}}
        else:
            kind = ("illegal_argument_exception" if "not supported" in result
                    else "document_parsing_exception")
            body = {"_index": index or "logcycle", "status": 400,
                    "error": {"type": kind, "reason": result}}
        items.append({action: body})
    errors = any(not isinstance(r, int) for r in results)
    return {"took": took_ms, "errors": errors, "items": items}
