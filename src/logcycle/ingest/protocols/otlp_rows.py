"""OTLP records straight to validated rows: what ``protocols.validate(decoder, events)``
answers for the adapters' native events (:func:`otlp.to_events`, :func:`otlp_json.to_events`),
without those events in between for the common record.

Why: validating an adapter's events writes its dicts as JSON and decodes that JSON again
(msgspec), about 3 µs an event, most of the OTLP protobuf row's cost beyond its
translation. The adapters already give the types the checks want (an integer time, text,
int64 and double values), so for a ``general`` record with a string body only the limits
are left to check: the message's length, the instant against the future limit, the
service name's and request key's length and the attributes' JSON (size and depth:
:func:`_plain`). Any other record (an exception, a body that is not a string, a value over
a limit, an instant in the future, attributes the checks would look at closer) takes the
generic path alone: its native event validated by ``BatchDecoder.decode_each``, so it gets
the same answer, rejection reason included. tests/ingest/test_otlp_rows.py checks both
paths give the same rows, for protobuf and OTLP JSON.

>>> from logcycle.ingest.decode import BatchDecoder
>>> from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
>>> from opentelemetry.proto.common.v1.common_pb2 import AnyValue
>>> from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
...     ExportLogsServiceRequest)
>>> rec = LogRecord(time_unix_nano=1_700_000_000_000_000_000, severity_number=17,
...                 body=AnyValue(string_value="disk full"))
>>> body = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[
...     ScopeLogs(log_records=[rec])])]).SerializeToString()
>>> partial, records = validated(body, BatchDecoder(max_future_ms=0, max_batch=10),
...                              now_ms=1_800_000_000_000)
>>> records, partial.events[0].values[:3], partial.events[0].attributes
(1, (1700000000000, 'disk full', 'Error'), '{"level":"ERROR","severity_number":17}')
"""

from __future__ import annotations

from typing import Any

import orjson

from logcycle.ingest.decode import BatchDecoder, Partial, Prepared
from logcycle.ingest.protocols import otlp, otlp_json, rows, validate
from logcycle.kinds import KINDS, MAX_JSON_BYTES, MAX_JSON_DEPTH, MAX_MESSAGE, MAX_TEXT

GENERAL = KINDS["general"]
# The columns of the rows written here (_row's tuple): the first five filled, the rest None.
_COLUMNS = ("instant", "message", "message_type", "module_name", "request_key",
            "action_name", "duration_ms", "client_ip", "src", "stream", "msg")
if tuple(f.name for f in GENERAL.data_fields) != _COLUMNS:  # pragma: no cover
    raise RuntimeError("otlp_rows: the general kind's columns changed; update _row")
_MAX_TRACE = MAX_TEXT // 2  # bytes of a trace id whose hex fits in request_key


def validated(body: bytes, decoder: BatchDecoder, *, now_ms: int) -> tuple[Partial, int]:
    """The records of a protobuf body as :func:`logcycle.ingest.protocols.validate` gives
    them (``Partial.indexes``: each row's record), and how many records there were; 400
    when the body is not a request, 413 past the decoder's ``max_batch``."""
    req = otlp.parse_request(body)
    total = sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
    if total > decoder.max_batch:  # the generic path answers it: 413, as natively
        return validate(decoder, otlp.to_events(body, now_ms=now_ms), now_ms=now_ms), total
    items: list[Prepared | dict[str, Any]] = []
    limit = now_ms + decoder.max_future_ms
    for rl in req.resource_logs:
        resource, module = otlp.resource_context(otlp.attributes(rl.resource.attributes))
        fits = module is None or len(module) <= MAX_TEXT
        for sl in rl.scope_logs:
            base = otlp.scope_context(resource, sl.scope.name, sl.scope.version,
                                      otlp.attributes(sl.scope.attributes))
            for rec in sl.log_records:
                row = _row(rec, base, module, now_ms, limit) if fits else None
                items.append(otlp.protobuf_event(rec, base, module, now_ms)
                             if row is None else row)
    return assemble(items, decoder, now_ms), total


def validated_json(body: bytes, decoder: BatchDecoder, *, now_ms: int) \
        -> tuple[Partial, int]:
    """:func:`validated` of an OTLP JSON body (read by :mod:`.otlp_json`)."""
    limit = now_ms + decoder.max_future_ms

    def build(base: dict[str, Any], module: str | None, now_ms: int, **record: Any) \
            -> Prepared | dict[str, Any]:
        found = row(base, module, now_ms, limit, **record)
        return otlp.record_event(base, module, now_ms, **record) if found is None else found

    items = otlp_json.records(body, now_ms, build)
    if len(items) > decoder.max_batch:  # the generic path answers it: 413, as natively
        return validate(decoder, otlp_json.to_events(body, now_ms=now_ms),
                        now_ms=now_ms), len(items)
    return assemble(items, decoder, now_ms), len(items)


def _row(rec: Any, base: dict[str, Any], module: str | None, now_ms: int, limit: int) \
        -> Prepared | None:
    """The row of a plain protobuf record (otlp.protobuf_event's mapping, each field read
    once), or None for one the generic path must look at."""
    text = rec.body.string_value
    if (not text and rec.HasField("body")) or len(text) > MAX_MESSAGE:
        return None
    nanos = rec.time_unix_nano or rec.observed_time_unix_nano
    instant = nanos // 1_000_000 if nanos else now_ms
    trace = rec.trace_id
    if instant > limit or len(trace) > _MAX_TRACE:
        return None
    kvs = rec.attributes
    span = rec.span_id
    return _finish(otlp.attributes(kvs, base) if kvs else dict(base), instant, text, module,
                   trace.hex() if trace.strip(b"\0") else None, rec.severity_number,
                   rec.severity_text, span.hex() if span.strip(b"\0") else "",
                   rec.event_name)


def row(base: dict[str, Any], module: str | None, now_ms: int, limit: int, *, nanos: int,
        severity_number: int, severity_text: str, body: Any,
        attributes: dict[str, Any] | None, trace_id: str, span_id: str, event_name: str) \
        -> Prepared | None:
    """The row of a plain record given as :func:`otlp.record_event` takes it, or None
    for one the generic path must look at."""
    text = "" if body is None else body
    if type(text) is not str or len(text) > MAX_MESSAGE or \
            (module is not None and len(module) > MAX_TEXT) or len(trace_id) > MAX_TEXT:
        return None
    instant = nanos // 1_000_000 if nanos else now_ms
    if instant > limit:
        return None
    # A record's own attributes dict is fresh: extended in place when no base is shared.
    attrs = ({**base, **attributes} if base else attributes) if attributes else dict(base)
    return _finish(attrs, instant, text, module, trace_id or None, severity_number,
                   severity_text, span_id, event_name)


def _finish(attrs: dict[str, Any], instant: int, text: str, module: str | None,
            key: str | None, number: int, level: str, span: str, name: str) \
        -> Prepared | None:
    """The row of a record read so far (record_event's attributes, then its checks)."""
    otlp.record_attributes(attrs, level, number, span, name)
    if "exception.type" in attrs or "exception.message" in attrs or \
            "exception.stacktrace" in attrs:
        return None
    data = orjson.dumps(attrs) if attrs else None
    if data is not None and not _plain(data):
        return None
    return Prepared(GENERAL, (instant, text, otlp.message_type(number, level), module, key,
                              None, None, None, None, None, None),
                    None if data is None else data.decode())


def _plain(data: bytes) -> bool:
    """Whether the attributes' JSON passes the checks of ``attributes`` as it is. Its
    values were typed by the adapters: integers are int64 and doubles finite (orjson
    writes NaN as null; JSON's 1e400 is refused by orjson.loads), so the number check
    cannot refuse them; left are the size and the depth, which is at most the count of
    ``{`` and ``[`` (those in strings included)."""
    return len(data) <= MAX_JSON_BYTES and \
        data.count(b"{") + data.count(b"[") <= MAX_JSON_DEPTH


def assemble(items: list[Prepared | dict[str, Any]], decoder: BatchDecoder,
             now_ms: int) -> Partial:
    """One record's row or native event each (in record order) as one validated
    :class:`Partial`: the events validated by ``decode_each``, their rejections numbered
    by record."""
    out = Partial([], nul=False)
    slow: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        if type(item) is Prepared:
            out.events.append(item)
            out.indexes.append(index)
        else:
            slow.append((index, item))  # type: ignore[arg-type]  # a dict, then
    out.nul = any(_holds_nul(row) for row in out.events)
    return _merged(out, slow, decoder, now_ms) if slow else out


def _holds_nul(row: Prepared) -> bool:
    # The only texts of these rows that can hold a NUL: the body and the service name
    # (the attributes are JSON, where orjson writes it as the escape \u0000).
    message, module = row.values[1], row.values[3]
    return "\0" in message or (module is not None and "\0" in module)


def _merged(fast: Partial, slow: list[tuple[int, dict[str, Any]]], decoder: BatchDecoder,
            now_ms: int) -> Partial:
    """The rows of both paths in record order (:func:`rows.merge`)."""
    return rows.merge(fast, [index for index, _ in slow],
                      [orjson.dumps(ev) for _, ev in slow], decoder, now_ms=now_ms)
