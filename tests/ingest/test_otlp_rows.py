"""otlp_rows.validated (protobuf) and validated_json give what the generic path gives (the
adapter's native events, then protocols.validate): the same rows, record numbers,
rejections and NUL flag, for plain records (their own path) and every kind they hand to
the generic one."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from logcycle.errors import BadRequest, TooLarge
from logcycle.ingest.decode import BatchDecoder, Partial
from logcycle.ingest.protocols import otlp, otlp_json, otlp_rows, validate
from logcycle.kinds import MAX_JSON_BYTES, MAX_MESSAGE, MAX_TEXT

NOW = 1_764_600_000_000
NS = 1_000_000
DECODER = BatchDecoder(max_future_ms=3_600_000, max_batch=1000)


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def s(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def nested(depth: int) -> AnyValue:
    """Arrays ``depth`` deep (two protobuf levels a JSON level: kvlists, three, reach upb's
    limit of 100 first)."""
    value = s("leaf")
    for _ in range(depth):
        value = AnyValue(array_value=ArrayValue(values=[value]))
    return value


def rec(body: AnyValue | None = None, **fields: Any) -> LogRecord:
    r = LogRecord(**{"time_unix_nano": (NOW - 5) * NS, **fields})
    if body is not None:
        r.body.CopyFrom(body)
    return r


def request(*resources: tuple[list[KeyValue], list[LogRecord]], scope: Any = None) \
        -> bytes:
    req = ExportLogsServiceRequest(resource_logs=[
        ResourceLogs(resource=Resource(attributes=attrs), scope_logs=[ScopeLogs(
            scope=scope or InstrumentationScope(), log_records=records)])
        for attrs, records in resources])
    return req.SerializeToString()


def as_json(body: bytes) -> bytes:
    """The request in OTLP JSON: protobuf's JSON mapping, the ids in hex."""
    doc: dict[str, Any] = json_format.MessageToDict(ExportLogsServiceRequest.FromString(body))
    for rl in doc.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                for name in ("traceId", "spanId"):
                    if name in r:
                        r[name] = base64.b64decode(r[name]).hex()
    return orjson.dumps(doc)


def assert_same(body: bytes, decoder: BatchDecoder = DECODER) -> Partial:
    """Both paths of the protobuf body, and of the same request as OTLP JSON, alike."""
    got = _same(body, decoder, otlp.to_events, otlp_rows.validated)
    try:
        js = as_json(body)
        want_error = None
        otlp_json.to_events(js, now_ms=NOW)
    except BadRequest as exc:  # an id OTLP JSON cannot carry (not 16 or 8 bytes)
        want_error = exc.message
    if want_error is None:
        _same(js, decoder, otlp_json.to_events, otlp_rows.validated_json)
    else:
        with pytest.raises(BadRequest) as raised:
            otlp_rows.validated_json(js, decoder, now_ms=NOW)
        assert raised.value.message == want_error
    return got


def _same(body: bytes, decoder: BatchDecoder, to_events: Any, validated: Any) -> Partial:
    want = validate(decoder, to_events(body, now_ms=NOW), now_ms=NOW)
    got, total = validated(body, decoder, now_ms=NOW)
    assert total == len(to_events(body, now_ms=NOW))
    assert got.events == want.events
    assert got.indexes == want.indexes
    assert got.rejected == want.rejected
    # The flag may differ only where it changes nothing: no text of a row holds a NUL.
    assert got.nul == want.nul or not any(
        isinstance(v, str) and "\0" in v for e in want.events for v in e.values)
    return got


SERVICE = [kv("service.name", s("shop")), kv("host.name", s("web-1"))]
PLAIN = [rec(s("hello"), severity_number=9, trace_id=bytes(range(16)), span_id=b"\1" * 8,
             attributes=[kv("a", s("x")), kv("d", AnyValue(double_value=2.5)),
                         kv("z", AnyValue(double_value=0.0)),
                         kv("m", AnyValue(double_value=-0.0)),
                         kv("i", AnyValue(int_value=0)), kv("b", AnyValue(bool_value=True)),
                         kv("e", s("")), kv("n", AnyValue()),
                         kv("big", AnyValue(int_value=-(2**63))),
                         kv("bytes", AnyValue(bytes_value=b"\0\1"))]),
         rec(s("no severity")),
         rec(severity_text="warning", event_name="login"),
         rec(s(""), severity_number=30, observed_time_unix_nano=(NOW - 9) * NS,
             time_unix_nano=0),
         rec(s("no time"), time_unix_nano=0, trace_id=b"\0" * 16, span_id=b"\0" * 8),
         rec(s("level attr"), severity_number=21, attributes=[kv("level", s("mine"))]),
         rec(s("odd trace"), trace_id=b"\1\2\3"),
         rec(s("nul \0 in text"), attributes=[kv("nul", s("a\0b"))])]
GENERIC = [rec(AnyValue(kvlist_value=KeyValueList(values=[kv("k", s("v"))]))),
           rec(AnyValue(int_value=7)),
           rec(s("boom"), attributes=[kv("exception.type", s("ValueError")),
                                      kv("exception.stacktrace", s("Traceback..."))]),
           rec(attributes=[kv("exception.message", s("no body"))]),
           rec(s("future"), time_unix_nano=(NOW + 7_200_000) * NS),
           rec(s("x" * (MAX_MESSAGE + 1))),
           rec(s("long trace"), trace_id=b"\1" * (MAX_TEXT // 2 + 1)),
           rec(s("deep"), attributes=[kv("deep", nested(40))]),
           rec(s("not deep"), attributes=[kv("braces", s("{" * 40))]),
           rec(s("fine nesting"), attributes=[kv("n", nested(3)), kv("kv", AnyValue(
               kvlist_value=KeyValueList(values=[kv("k", s("v"))])))]),
           rec(s("huge"), attributes=[kv("big", s("y" * MAX_JSON_BYTES))])]


def test_plain_records_the_generic_kinds_and_their_mix() -> None:
    got = assert_same(request((SERVICE, PLAIN)))
    assert len(got.events) == len(PLAIN) and not got.rejected and got.nul
    got = assert_same(request((SERVICE, GENERIC)))
    assert got.rejected  # the future, too long and too deep records
    mixed = [r for pair in zip(PLAIN, GENERIC, strict=False) for r in pair]
    assert_same(request((SERVICE, mixed), ([], GENERIC[::-1] + PLAIN)))


def test_resource_and_scope_attributes() -> None:
    scope = InstrumentationScope(name="app.lib", version="1.2",
                                 attributes=[kv("scope.attr", s("v")), kv("a", s("scope"))])
    assert_same(request(([kv("service.name", AnyValue(int_value=5)), kv("a", s("res"))],
                         PLAIN), scope=scope))
    assert_same(request(([kv("service.name", s("s" * (MAX_TEXT + 1)))], PLAIN),
                        (SERVICE, PLAIN[:2])))
    assert_same(request(([kv("service.name", s("nul\0name"))], PLAIN[:1])))


def test_empty_and_oversized_requests() -> None:
    assert_same(b"")
    assert validated_empty_json() == ([], 0)
    assert_same(request((SERVICE, [])))
    small, four = BatchDecoder(max_future_ms=0, max_batch=3), request((SERVICE, PLAIN[:3] * 2))
    with pytest.raises(TooLarge) as generic:
        validate(small, otlp.to_events(four, now_ms=NOW), now_ms=NOW)
    for validated, body in [(otlp_rows.validated, four),
                            (otlp_rows.validated_json, as_json(four))]:
        with pytest.raises(TooLarge) as fast:
            validated(body, small, now_ms=NOW)
        assert str(fast.value) == str(generic.value)


values = st.one_of(st.text(max_size=8).map(s), st.integers(-(2**63), 2**63 - 1).map(
    lambda n: AnyValue(int_value=n)), st.floats().map(lambda f: AnyValue(double_value=f)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)), st.just(AnyValue()))
records = st.builds(
    lambda body, number, text, ms, attrs: rec(
        body, severity_number=number, severity_text=text, time_unix_nano=ms * NS,
        attributes=[kv(k, v) for k, v in attrs]),
    st.one_of(st.none(), values), st.integers(0, 26), st.sampled_from(["", "INFO", "err"]),
    st.integers(0, NOW + 7_200_000),
    st.lists(st.tuples(st.sampled_from(["a", "b", "exception.type", "level"]), values),
             max_size=4))


@settings(max_examples=60, deadline=None)
@given(st.lists(records, max_size=6))
def test_any_records(recs: list[LogRecord]) -> None:
    assert_same(request((SERVICE, recs)))


def validated_empty_json() -> tuple[list[Any], int]:
    partial, total = otlp_rows.validated_json(b"{}", DECODER, now_ms=NOW)
    return partial.events, total
