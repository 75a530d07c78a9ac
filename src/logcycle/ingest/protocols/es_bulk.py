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

An action's ``_id`` is the document's idempotency key (per index and key): a document
whose ``_id`` was stored before is not stored again (``create``: 409, ``index``: 200
``updated``), so a shipper's retry of a whole request stores each document once.

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
from logcycle.ingest.decode import Prepared
from logcycle.ingest.protocols import rows
from logcycle.ingest.protocols.common import (
    ClockRule,
    Item,
    Replayed,
    level_name,
    pop_first,
    text_of,
)

TIME_FIELDS = ("@timestamp", "timestamp", "_time")
MESSAGE_FIELDS = ("message", "msg", "_msg")
LEVEL_FIELDS = ("log.level", "level")
OTHER_FIELDS = (("src", ("host.name", "hostname")), ("module_name", ("service.name",)),
                ("request_key", ("trace.id", "trace_id")))
_SRC, _MODULE, _KEY = (paths for _, paths in OTHER_FIELDS)
STORED_ACTIONS = ("create", "index")
KNOWN_ACTIONS = (*STORED_ACTIONS, "update", "delete")
DEFAULT_INDEX = "logcycle"  # the _index answered for a document sent without one
MAX_ID_BYTES = 512  # Elasticsearch's limit


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
    ids: list[str | None] = field(default_factory=list)  # the action's _id, if any

    def keys(self) -> list[str | None] | None:
        """Per item the idempotency key of its ``_id`` (None: the request has no ``_id``)."""
        if not any(self.ids):
            return None
        return [None if i is None else f"es/{ix or DEFAULT_INDEX}/{i}"
                for ix, i in zip(self.indexes, self.ids, strict=True)]


def parse_bulk(body: bytes, index: str | None, fields: Fields, clock: ClockRule,
               limit: int | None = None) -> BulkRequest:
    """Translate a bulk body; a malformed action line is a 400 for the whole request (as
    Elasticsearch answers), a bad document only fails its own item. Given ``limit``, the
    plain documents become their rows (:func:`translate`)."""
    out = BulkRequest()
    lines = [ln for ln in body.split(b"\n") if ln.strip()]
    i = 0
    last: tuple[bytes, str, str | None, str | None, str] | None = None
    while i < len(lines):
        if last is not None and lines[i] == last[0]:  # shippers repeat one action line
            _, action, target, doc_id, bad_id = last
        else:
            action, meta = _action(lines[i], i)
            target = meta.get("_index") if isinstance(meta.get("_index"), str) else index
            doc_id, bad_id = _doc_id(meta.get("_id"))
            last = (lines[i], action, target, doc_id, bad_id)
        i += 1
        out.actions.append(action)
        out.indexes.append(target)
        out.ids.append(doc_id)
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
        out.items.append(bad_id or translate(doc, target, fields, clock, limit))
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


def _doc_id(value: object) -> tuple[str | None, str]:
    """The action's ``_id`` as text, and why it cannot be one ("" when it can)."""
    if value is None:
        return None, ""
    if type(value) is int:
        value = str(value)
    if not isinstance(value, str) or not value:
        return None, "if _id is specified it must be a non-empty string"
    if len(value.encode()) > MAX_ID_BYTES:
        return None, f"_id is longer than {MAX_ID_BYTES} bytes"
    return value, ""


def translate(line: bytes, index: str | None, fields: Fields, clock: ClockRule,
              limit: int | None = None) -> Item | Prepared:
    """One document line → a native event (or the reason it cannot be read); given
    ``limit`` (the decoder's latest instant: :func:`rows.limit_of`), a plain document's
    validated row instead (:func:`rows.row`), the same as the decoder makes of its event."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"the document is not valid JSON: {exc}"
    if not isinstance(doc, dict):
        return "the document must be a JSON object"
    when = pop_first(doc, fields.time)
    message = pop_first(doc, fields.message)
    message = message if type(message) is str else "" if message is None else text_of(message)
    sent_level = pop_first(doc, LEVEL_FIELDS)
    level = None if sent_level is None else level_name(sent_level)
    src = _text(pop_first(doc, _SRC))
    module = _text(pop_first(doc, _MODULE))
    key = _text(pop_first(doc, _KEY))
    instant = clock.of(when, doc)
    if limit is not None:
        found = rows.row(instant, message, level, module, key, src, index, doc, limit=limit)
        if found is not None:
            return found
    event: dict[str, Any] = {"kind": "general", "instant": instant, "message": message}
    if sent_level is not None:
        event["message_type"] = level
    for name, value in (("src", src), ("module_name", module), ("request_key", key)):
        if value is not None:
            event[name] = value
    if index is not None:
        event["stream"] = index
    if doc:
        event["attributes"] = doc
    return event


def _text(value: object) -> str | None:
    return value if type(value) is str else None if value is None else text_of(value)


def answer(req: BulkRequest, results: list[int | str], took_ms: int) -> dict[str, Any]:
    """The bulk response: per item 201 with the event id (or the action's ``_id``), or
    400 with the reason. A document whose ``_id`` was stored before (its result a
    :class:`Replayed`) was not stored again and is answered as Elasticsearch does:
    ``create`` 409 (version conflict), ``index`` 200 (``updated``)."""
    items: list[dict[str, Any]] = []
    errors = False
    for action, index, doc_id, result in zip(req.actions, req.indexes, req.ids, results,
                                             strict=True):
        index = index or DEFAULT_INDEX
        body = _item(action, index, doc_id, result, isinstance(result, Replayed))
        errors = errors or body["status"] >= 300
        items.append({action: body})
    return {"took": took_ms, "errors": errors, "items": items}


# answer()'s item for a document stored without an _id of its own (nearly all of them),
# written from this template: a dict and its JSON an item cost 0.7 µs, this 0.2.
_CREATED = (b'{"%s":{"_index":%s,"_id":"%d","_version":1,"result":"created","status":201,'
            b'"_seq_no":%d,"_primary_term":1,"_shards":{"total":1,"successful":1,"failed":0}}}')


def answer_json(req: BulkRequest, results: list[int | str], took_ms: int) -> bytes:
    """``orjson.dumps(answer(req, results, took_ms))``, the same bytes, written faster."""
    names: dict[str | None, bytes] = {}
    parts: list[bytes] = []
    errors = False
    for action, index, doc_id, result in zip(req.actions, req.indexes, req.ids, results,
                                             strict=True):
        if doc_id is None and type(result) is int:  # not a Replayed, not an error
            name = names.get(index)
            if name is None:
                name = names[index] = orjson.dumps(index or DEFAULT_INDEX)
            parts.append(_CREATED % (action.encode(), name, result, result))
            continue
        body = _item(action, index or DEFAULT_INDEX, doc_id, result,
                     isinstance(result, Replayed))
        errors = errors or body["status"] >= 300
        parts.append(orjson.dumps({action: body}))
    return b'{"took":%d,"errors":%s,"items":[%s]}' % (took_ms, b"true" if errors else b"false",
                                                     b",".join(parts))


def _item(action: str, index: str, doc_id: str | None, result: int | str,
          replayed: bool) -> dict[str, Any]:
    if isinstance(result, str):
        kind = ("illegal_argument_exception" if "not supported" in result
                else "document_parsing_exception")
        return {"_index": index, "status": 400, "error": {"type": kind, "reason": result}}
    shown = str(result) if doc_id is None else doc_id
    if replayed and action == "create":
        return {"_index": index, "_id": shown, "status": 409, "error": {
            "type": "version_conflict_engine_exception", "index": index, "shard": "0",
            "reason": f"[{shown}]: version conflict, document already exists "
                      "(current version [1])"}}
    return {"_index": index, "_id": shown, "_version": 2 if replayed else 1,
            "result": "updated" if replayed else "created", "status": 200 if replayed else 201,
            "_seq_no": result, "_primary_term": 1,
            "_shards": {"total": 1, "successful": 1, "failed": 0}}
