"""OTLP JSON (the OTLP/HTTP JSON encoding of ``ExportLogsServiceRequest``) into the same
native events as protobuf (:func:`logcycle.ingest.protocols.otlp.record_event`).

The specification's JSON rules: field names in lowerCamelCase (snake_case accepted too),
trace and span ids as hex, enums as numbers (names accepted), 64-bit integers as decimal
strings or numbers, bytes as base64, unknown fields ignored. Read directly from the parsed
document rather than through protobuf's JSON parser (``json_format``), which is pure Python
and about 100 times slower per record; a value of the wrong type is a 400 naming its path.

>>> doc = (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano":'
...        b' "1700000000000000000", "severityNumber": 13, "body": {"stringValue":'
...        b' "disk low"}, "traceId": "5B8EFFF798038103D269B633813FC60C"}]}]}]}')
>>> to_events(doc, now_ms=0)  # doctest: +NORMALIZE_WHITESPACE
[{'kind': 'general', 'instant': 1700000000000, 'message': 'disk low',
  'request_key': '5b8efff798038103d269b633813fc60c', 'message_type': 'Information',
  'attributes': {'level': 'WARN', 'severity_number': 13}}]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber

from logcycle.errors import BadRequest
from logcycle.ingest.protocols.otlp import record_event, resource_context, scope_context
from logcycle.kinds import MAX_JSON_DEPTH

_U64_MAX = 2**64 - 1
_SCALARS = (("stringValue", "string_value", str), ("boolValue", "bool_value", bool))


def _bad(where: str, message: str) -> BadRequest:
    return BadRequest(f"{where}: {message}", code="invalid_otlp")


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _objects(obj: dict[str, Any], camel: str, snake: str, where: str) -> list[dict[str, Any]]:
    value = _get(obj, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _bad(f"{where}{camel}", "must be an array of objects")
    return value


def _object(obj: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = obj.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where}{name}", "must be an object")
    return value


def _text(obj: dict[str, Any], camel: str, snake: str, where: str) -> str:
    value = _get(obj, camel, snake)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(f"{where}{camel}", f"must be a string, got {str(value)[:40]!r}")
    return value


def _integer(value: Any, where: str, *, lo: int = 0, hi: int = _U64_MAX) -> int:
    """An integer given as a number or as a decimal string (how JSON carries 64 bits)."""
    if isinstance(value, str) and value.lstrip("-").isdigit() and value.isascii():
        value = int(value)
    if type(value) is not int or not lo <= value <= hi:
        raise _bad(where, f"must be an integer from {lo} to {hi}, got {str(value)[:40]!r}")
    return value


def _hex_id(obj: dict[str, Any], camel: str, snake: str, size: int, where: str) -> str:
    value = _get(obj, camel, snake)
    if value is None or value == "":
        return ""
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise _bad(f"{where}{camel}", f"must be {2 * size} hex digits, got {str(value)[:80]!r}")
    return raw.hex() if raw.strip(b"\0") else ""


def _severity(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value.startswith("SEVERITY_NUMBER_"):
        try:
            return int(SeverityNumber.Value(value))
        except ValueError:
            raise _bad(where, f"unknown severity {value[:40]!r}") from None
    return _integer(value, where, hi=24)


def _value(v: Any, where: str, depth: int = 0) -> Any:
    """An AnyValue in JSON (``{"stringValue": "x"}``, …) as a plain JSON value."""
    if not isinstance(v, dict):
        raise _bad(where, "must be an AnyValue object")
    if depth > MAX_JSON_DEPTH:
        raise _bad(where, f"nested deeper than {MAX_JSON_DEPTH} levels")
    for camel, snake, kind in _SCALARS:
        found = _get(v, camel, snake)
        if found is not None:
            if type(found) is not kind:
                raise _bad(f"{where}.{camel}", f"must be a {kind.__name__}")
            return found
    return _other_value(v, where, depth)


def _other_value(v: dict[str, Any], where: str, depth: int) -> Any:
    if (found := _get(v, "intValue", "int_value")) is not None:
        return _integer(found, f"{where}.intValue", lo=-(2**63), hi=2**63 - 1)
    if (found := _get(v, "doubleValue", "double_value")) is not None:
        if isinstance(found, int | float) and not isinstance(found, bool):
            return float(found)
        if found in ("NaN", "Infinity", "-Infinity"):
            return None  # JSON has no such numbers
        raise _bad(f"{where}.doubleValue", "must be a number")
    if (found := _get(v, "arrayValue", "array_value")) is not None:
        items = _objects(found, "values", "values", f"{where}.arrayValue.") \
            if isinstance(found, dict) else None
        if items is None:
            raise _bad(f"{where}.arrayValue", "must be an object")
        return [_value(x, f"{where}.arrayValue.values[{i}]", depth + 1)
                for i, x in enumerate(items)]
    if (found := _get(v, "kvlistValue", "kvlist_value")) is not None:
        if not isinstance(found, dict):
            raise _bad(f"{where}.kvlistValue", "must be an object")
        return _attributes(found, "values", f"{where}.kvlistValue.", depth + 1)
    if (found := _get(v, "bytesValue", "bytes_value")) is not None:
        if not isinstance(found, str):
            raise _bad(f"{where}.bytesValue", "must be a base64 string")
        return found
    return None  # an empty AnyValue


def _attributes(obj: dict[str, Any], name: str, where: str, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, kv in enumerate(_objects(obj, name, name, where)):
        key = kv.get("key")
        if not isinstance(key, str):
            raise _bad(f"{where}{name}[{i}].key", "must be a string")
        value = kv.get("value")
        out[key] = None if value is None else _value(value, f"{where}{name}[{i}].value", depth)
    return out


def to_events(body: bytes, *, now_ms: int) -> list[dict[str, Any]]:
    """One native event per log record of an OTLP JSON body, in order."""
    return records(body, now_ms, record_event)


T = TypeVar("T")


def records(body: bytes, now_ms: int, build: Callable[..., T]) -> list[T]:
    """``build(base, module, now_ms, **record)`` of each log record of an OTLP JSON body,
    in order: ``record`` as :func:`~logcycle.ingest.protocols.otlp.record_event` takes it
    (that is :func:`to_events`; otlp_rows builds validated rows)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}", code="invalid_otlp") from None
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object (ExportLogsServiceRequest)",
                         code="invalid_otlp")
    out: list[T] = []
    for r, rl in enumerate(_objects(doc, "resourceLogs", "resource_logs", "")):
        where = f"resourceLogs[{r}]."
        resource, module = resource_context(
            _attributes(_object(rl, "resource", where), "attributes", f"{where}resource."))
        for s, sl in enumerate(_objects(rl, "scopeLogs", "scope_logs", where)):
            here = f"{where}scopeLogs[{s}]."
            scope = _object(sl, "scope", here)
            base = scope_context(resource, _text(scope, "name", "name", f"{here}scope."),
                                 _text(scope, "version", "version", f"{here}scope."),
                                 _attributes(scope, "attributes", f"{here}scope."))
            out.extend(_record(rec, base, module, now_ms, f"{here}logRecords[{i}].", build)
                       for i, rec in enumerate(_objects(sl, "logRecords", "log_records", here)))
    return out


def _record(rec: dict[str, Any], base: dict[str, Any], module: str | None, now_ms: int,
            where: str, build: Callable[..., T]) -> T:
    nanos = _integer(_get(rec, "timeUnixNano", "time_unix_nano") or 0, f"{where}timeUnixNano")
    if not nanos:
        nanos = _integer(_get(rec, "observedTimeUnixNano", "observed_time_unix_nano") or 0,
                         f"{where}observedTimeUnixNano")
    body = rec.get("body")
    return build(
        base, module, now_ms, nanos=nanos,
        severity_number=_severity(_get(rec, "severityNumber", "severity_number"),
                                  f"{where}severityNumber"),
        severity_text=_text(rec, "severityText", "severity_text", where),
        body=None if body is None else _value(body, f"{where}body"),
        attributes=_attributes(rec, "attributes", where),
        trace_id=_hex_id(rec, "traceId", "trace_id", 16, where),
        span_id=_hex_id(rec, "spanId", "span_id", 8, where),
        event_name=_text(rec, "eventName", "event_name", where))
