"""OpenTelemetry logs (OTLP/HTTP): an ``ExportLogsServiceRequest``, as protobuf or as OTLP
JSON, turned into native events (one JSON object per log record, in request order).

The messages are the published ones (``opentelemetry-proto``); OTLP JSON is the protobuf
JSON mapping except that trace and span ids are hex, which :func:`decode` converts before
handing the document to protobuf's own JSON parser. The mapping (docs/integrations.md):

- body: a string → ``message``; any other value → ``msg`` (JSON) and its JSON text as
  ``message``
- ``severity_number`` (else ``severity_text``) → ``message_type`` (:func:`message_type`)
- ``time_unix_nano``, else ``observed_time_unix_nano``, else the server's clock → ``instant``
- ``trace_id`` (hex) → ``request_key``; ``span_id`` (hex) → ``attributes.span_id``
- resource ``service.name`` → ``module_name``; the other resource, scope and record
  attributes → ``attributes`` under their own dotted names (the record's win), with
  ``otel.scope.name``/``otel.scope.version``, ``severity_text``, ``severity_number``
- a record with ``exception.type``, ``exception.message`` or ``exception.stacktrace`` is an
  ``error`` event: ``detail`` = the stack trace

>>> from opentelemetry.proto.logs.v1 import logs_pb2
>>> req = decode(b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano":'
...              b' "1700000000000000000", "severityNumber": 13, "body": {"stringValue":'
...              b' "disk low"}, "traceId": "5b8efff798038103d269b633813fc60c"}]}]}]}',
...              json=True)
>>> [e.decode() for e in to_events(req, now_ms=0)]  # doctest: +NORMALIZE_WHITESPACE
['{"kind":"general","instant":1700000000000,"message":"disk low",\
"request_key":"5b8efff798038103d269b633813fc60c","message_type":"Warning",\
"attributes":{"severity_number":13}}']
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from logcycle.errors import BadRequest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
UNKNOWN_SERVICE = "unknown_service"  # what the OpenTelemetry SDKs name a service without one
EXCEPTION_KEYS = ("exception.type", "exception.message", "exception.stacktrace")
# Severity number ranges of the log data model → message_type. The Event Log API knows
# Information, Debug and Error: TRACE and DEBUG are Debug, FATAL is Error (its
# severity_number 21-24 stays in attributes); WARN is Warning, as the Python client's
# LogcycleHandler writes WARNING records (listed by /api/v1/events?type=Warning, not an
# event-log type).
_BY_NUMBER = ((1, "Debug"), (9, "Information"), (13, "Warning"), (17, "Error"))
_BY_TEXT = (("trace", "Debug"), ("debug", "Debug"), ("info", "Information"),
            ("notice", "Information"), ("warn", "Warning"), ("err", "Error"),
            ("fatal", "Error"), ("crit", "Error"), ("alert", "Error"), ("emerg", "Error"),
            ("panic", "Error"), ("severe", "Error"))
# gRPC status codes for the HTTP statuses we answer (google.rpc.Status.code).
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14,
               507: 8}


def message_type(number: int, text: str) -> str:
    """The ``message_type`` of a severity (the number when given, else the text).

    >>> message_type(9, ""), message_type(21, "FATAL"), message_type(0, "warning")
    ('Information', 'Error', 'Warning')
    """
    if number > 0:
        found = "Debug"
        for lo, name in _BY_NUMBER:
            if number >= lo:
                found = name
        return found
    low = text.strip().lower()
    for prefix, name in _BY_TEXT:
        if low.startswith(prefix):
            return name
    return "Information"


def decode(body: bytes, *, json: bool) -> ExportLogsServiceRequest:
    """Parse the request body; 400 naming the problem when it is not a valid request."""
    req = ExportLogsServiceRequest()
    if not json:
        try:
            req.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise BadRequest(f"the body is not a protobuf ExportLogsServiceRequest: {exc}",
                             code="invalid_otlp") from None
        return req
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}", code="invalid_otlp") from None
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object (ExportLogsServiceRequest)",
                         code="invalid_otlp")
    _hex_ids_to_base64(doc)
    try:
        json_format.ParseDict(doc, req, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError) as exc:
        raise BadRequest(f"not an OTLP JSON ExportLogsServiceRequest: {exc}",
                         code="invalid_otlp") from None
    return req


def _items(obj: Any, *names: str) -> list[Any]:
    """``obj[name]`` as a list under either spelling (lowerCamelCase or snake_case)."""
    if isinstance(obj, dict):
        for name in names:
            value = obj.get(name)
            if isinstance(value, list):
                return value
    return []


def _hex_ids_to_base64(doc: dict[str, Any]) -> None:
    """OTLP JSON writes trace and span ids as hex; protobuf's JSON mapping reads bytes as
    base64. Converted in place; an id that is not hex is a 400 naming the record."""
    for r, rl in enumerate(_items(doc, "resourceLogs", "resource_logs")):
        for s, sl in enumerate(_items(rl, "scopeLogs", "scope_logs")):
            for i, rec in enumerate(_items(sl, "logRecords", "log_records")):
                if not isinstance(rec, dict):
                    continue
                for name, size in (("traceId", 16), ("trace_id", 16), ("spanId", 8),
                                   ("span_id", 8)):
                    value = rec.get(name)
                    if value is None or value == "":
                        continue
                    rec[name] = _hex_id(value, size, f"resourceLogs[{r}].scopeLogs[{s}]"
                                        f".logRecords[{i}].{name}")


def _hex_id(value: object, size: int, where: str) -> str:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise BadRequest(f"{where}: must be {2 * size} hex digits, got {str(value)[:80]!r}",
                         code="invalid_otlp")
    return base64.b64encode(raw).decode()


def _value(v: Any) -> Any:
    """An AnyValue as JSON: arrays as lists, key-value lists as objects, bytes as base64."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "bool_value":
        return v.bool_value
    if which == "double_value":
        return v.double_value
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


def _attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def to_events(req: ExportLogsServiceRequest, *, now_ms: int) -> list[bytes]:
    """One native event (JSON bytes) per log record, in the order of the request."""
    out: list[bytes] = []
    for rl in req.resource_logs:
        resource = _attributes(rl.resource.attributes)
        service = resource.pop("service.name", None)
        module = None if service is None else str(service)
        for sl in rl.scope_logs:
            base = dict(resource)
            if sl.scope.name:
                base["otel.scope.name"] = sl.scope.name
            if sl.scope.version:
                base["otel.scope.version"] = sl.scope.version
            base.update(_attributes(sl.scope.attributes))
            out.extend(orjson.dumps(_event(rec, base, module, now_ms))
                       for rec in sl.log_records)
    return out


def _event(rec: Any, base: dict[str, Any], module: str | None, now_ms: int) -> dict[str, Any]:
    attrs = {**base, **_attributes(rec.attributes)} if rec.attributes else dict(base)
    nanos = rec.time_unix_nano or rec.observed_time_unix_nano
    ev: dict[str, Any] = {"kind": "general", "instant": nanos // 1_000_000 if nanos else now_ms}
    body = _value(rec.body) if rec.HasField("body") else None
    if isinstance(body, str):
        ev["message"] = body
    else:
        ev["message"] = "" if body is None else orjson.dumps(body).decode()
        if body is not None:
            ev["msg"] = body
    if rec.severity_text:
        attrs["severity_text"] = rec.severity_text
    if rec.severity_number:
        attrs["severity_number"] = rec.severity_number
    if rec.span_id:
        attrs["span_id"] = rec.span_id.hex()
    if rec.event_name:
        attrs["event.name"] = rec.event_name
    if module is not None:
        ev["module_name"] = module
    if rec.trace_id and rec.trace_id.strip(b"\0"):
        ev["request_key"] = rec.trace_id.hex()
    if any(k in attrs for k in EXCEPTION_KEYS):
        return _error_event(ev, attrs)
    ev["message_type"] = message_type(rec.severity_number, rec.severity_text)
    if attrs:
        ev["attributes"] = attrs
    return ev


def _error_event(ev: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """The record as an ``error`` event: the stack trace is its ``detail``; without a body,
    its message is ``type: message`` of the exception."""
    ev["kind"] = "error"
    ev.setdefault("module_name", UNKNOWN_SERVICE)
    msg = ev.pop("msg", None)
    if msg is not None:
        attrs["body"] = msg
    if not ev["message"]:
        parts = [str(attrs[k]) for k in EXCEPTION_KEYS[:2] if attrs.get(k)]
        ev["message"] = ": ".join(parts) or "exception"
    stack = attrs.pop("exception.stacktrace", None)
    if stack is not None:
        ev["detail"] = str(stack)
    if attrs:
        ev["attributes"] = attrs
    return ev


def _encode(message: Message, *, json: bool) -> bytes:
    if json:
        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode()
    data: bytes = message.SerializeToString()
    return data


def export_response(rejected: int, error_message: str, *, json: bool) -> bytes:
    """An ``ExportLogsServiceResponse``; ``partial_success`` only when records were
    rejected, as the specification asks."""
    resp = ExportLogsServiceResponse()
    if rejected:
        resp.partial_success.CopyFrom(ExportLogsPartialSuccess(
            rejected_log_records=rejected, error_message=error_message))
    return _encode(resp, json=json)


def status_body(status: int, message: str, *, json: bool) -> bytes:
    """The error body OTLP/HTTP specifies: a ``google.rpc.Status`` in the request's
    encoding."""
    return _encode(status_pb2.Status(code=_GRPC_CODES.get(status, 13), message=message),
                   json=json)
