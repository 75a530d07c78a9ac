"""JSON Schemas of the events for the OpenAPI document, each kind's drawn from the kinds
table (kinds.py, the one source of the fields, their types and which are required) and
the limits the decoder applies (ingest/decode.py): what a batch may hold, and what the
reads answer. One of the kinds is told by ``kind`` (``oneOf`` with a discriminator).

>>> event_schema("error")["required"]
['kind', 'instant', 'module_name', 'message']
>>> sorted(components())[:2]
['Event_cyclic_job', 'Event_error']
"""

from __future__ import annotations

from typing import Any

from logcycle.ingest.decode import MAX_INSTANT_MS
from logcycle.kinds import ERROR_KIND, KIND_NAMES, KINDS, MAX_MESSAGE, MAX_TEXT, FieldType

Schema = dict[str, Any]
REF = "#/components/schemas/{}"
NUMBER_MAX = 1e15


def _sent(t: FieldType) -> Schema:
    """A field as a client sends it."""
    by_type: dict[FieldType, Schema] = {
        FieldType.TEXT: {"type": "string", "maxLength": MAX_TEXT},
        FieldType.LONG: {"type": "string", "maxLength": MAX_MESSAGE},
        FieldType.INSTANT: {"anyOf": [
            {"type": "integer", "minimum": 0, "maximum": MAX_INSTANT_MS,
             "description": "epoch ms"},
            {"type": "string", "format": "date-time", "minLength": 1, "maxLength": 64,
             "description": "ISO 8601 with an offset"}]},
        FieldType.NUMBER: {"type": "number", "minimum": 0, "maximum": NUMBER_MAX},
        FieldType.BOOL: {"type": "boolean"},
        FieldType.JSON: {"description": "any JSON value"},
        FieldType.OBJECT: {"type": "object"},
        FieldType.ERROR: {"$ref": REF.format("InlineError")},
    }
    return by_type[t]


def _stored(t: FieldType) -> Schema:
    """A field as the reads answer it (instants as epoch ms, JSON embedded)."""
    return {
        FieldType.TEXT: {"type": "string"}, FieldType.LONG: {"type": "string"},
        FieldType.INSTANT: {"type": "integer", "description": "epoch ms"},
        FieldType.NUMBER: {"type": "number"}, FieldType.BOOL: {"type": "boolean"},
        FieldType.JSON: {"description": "any JSON value"}, FieldType.OBJECT: {"type": "object"},
    }[t]


def _nullable(s: Schema) -> Schema:
    return {"anyOf": [s, {"type": "null"}]}


ATTRIBUTES: Schema = {"type": "object", "description": "free-form attributes (a JSON object)"}


def event_schema(kind: str) -> Schema:
    """One event of ``kind`` in a batch (unknown fields are refused)."""
    k = KINDS[kind]
    props: Schema = {"kind": {"const": kind}}
    for f in k.fields:
        s = _sent(f.type)
        props[f.name] = s if f.required or f.type in (FieldType.JSON, FieldType.OBJECT,
                                                      FieldType.ERROR) else _nullable(s)
    props["attributes"] = ATTRIBUTES
    return {"type": "object", "title": f"{kind} event", "additionalProperties": False,
            "required": ["kind", *k.required], "properties": props}


def inline_error_schema() -> Schema:
    """The ``error`` object an event may carry: an error event's fields, all optional
    (instant, module_name and request_key default to the carrying event's)."""
    props: Schema = {f.name: _nullable(_sent(f.type)) for f in ERROR_KIND.fields}
    props["attributes"] = ATTRIBUTES
    return {"type": "object", "title": "inline error", "additionalProperties": False,
            "properties": props, "description": (
                "an error event of its own, linked by the carrier's error_id; instant, "
                "module_name and request_key default to the carrying event's (a carrier "
                "without module_name needs one here), message is required")}


def stored_schema(kind: str) -> Schema:
    """One stored event of ``kind`` as the reads answer it (absent fields left out)."""
    k = KINDS[kind]
    props: Schema = {"kind": {"const": kind}, "id": {"type": "integer", "minimum": 1},
                     "insert_instant": {"type": "integer", "description": "epoch ms"}}
    for f in k.data_fields:
        props[f.name] = _stored(f.type)
    if k.has_error:
        props["error_id"] = {"type": "integer",
                             "description": "the id of the error event it carried"}
        props["error"] = {"$ref": REF.format("StoredEvent_error"),
                          "description": "in a request's tree: the error event it carried"}
    props["attributes"] = ATTRIBUTES
    return {"type": "object", "title": f"stored {kind} event",
            "required": ["kind", "id", "insert_instant"], "properties": props}


def one_of(prefix: str) -> Schema:
    """Any kind's schema, told apart by ``kind``."""
    refs = {kind: REF.format(f"{prefix}_{kind}") for kind in KIND_NAMES}
    return {"oneOf": [{"$ref": r} for r in refs.values()],
            "discriminator": {"propertyName": "kind", "mapping": refs}}


def request_tree_schema() -> Schema:
    """``GET /api/v1/requests/{request_key}``: the request's events, each kind's schema."""
    events = {"type": "array", "items": one_of("StoredEvent")}
    return {"type": "object", "required": ["request_key", "top_level", "drill", "count",
                                           "truncated"],
            "properties": {"request_key": {"type": "string"}, "top_level": events,
                           "drill": events, "count": {"type": "integer", "minimum": 0},
                           "truncated": {"type": "boolean"}}}


def components() -> dict[str, Schema]:
    out: dict[str, Schema] = {"InlineError": inline_error_schema()}
    for kind in KIND_NAMES:
        out[f"Event_{kind}"] = event_schema(kind)
        out[f"StoredEvent_{kind}"] = stored_schema(kind)
    return out
