"""The shippers' plain records straight to rows (ingest/protocols/rows.py) give what the
generic path gives (each adapter's native events, then protocols.validate): the same rows,
item numbers and rejections, and the NUL flag whenever a row holds one, for Elasticsearch
bulk, Loki (JSON and protobuf), CLEF, Seq JSON and syslog, plain records and every kind
they hand to the generic path (over a limit, in the future, NUL, numbers strict parsers
refuse, too deep, exceptions, other types)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from types import SimpleNamespace
from typing import Any

import cramjam
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcycle.api.shipping import _validated
from logcycle.errors import TooLarge
from logcycle.ingest.decode import BatchDecoder, Prepared
from logcycle.ingest.protocols import clef, es_bulk, loki, rows, syslog
from logcycle.ingest.protocols.common import ClockRule, Item
from logcycle.ingest.protocols.loki_pb import PushRequest
from logcycle.kinds import MAX_JSON_BYTES, MAX_MESSAGE, MAX_TEXT

NOW = 1_764_600_000_000
FUTURE = 3_600_000
DECODER = BatchDecoder(max_future_ms=FUTURE, max_batch=50)
CLOCK = ClockRule(now_ms=NOW, max_future_ms=FUTURE)
LIMIT = rows.limit_of(DECODER, NOW)
SVC: Any = SimpleNamespace(decoder=DECODER, clock=SimpleNamespace(now_ms=lambda: NOW))

# Values the checks look at: over a limit, NUL, numbers strict parsers refuse, deep JSON.
LONG_TEXT = "t" * (MAX_TEXT + 1)
LONG_MESSAGE = "m" * (MAX_MESSAGE + 1)
DEEP: Any = "leaf"
for _ in range(40):
    DEEP = [DEEP]
TEXTS = st.sampled_from(["web-1", "", "Error", "warn", "x\0y", LONG_TEXT, "é🙂", "a" * MAX_TEXT])
VALUES = st.one_of(
    TEXTS, st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, 12345678901234567890, 2**63 - 1, None, True, {"a": {"b": [1]}},
                     DEEP, "x" * (MAX_JSON_BYTES + 10), "3e141", "1e400x"]))
TIMES = st.one_of(
    st.integers(NOW - 10**6, NOW + 2 * FUTURE).map(
        lambda ms: f"{_iso(ms)}"),
    st.sampled_from(["2025-12-01T14:40:00.123+02:00", "2025-12-01 14:40:00", "bad",
                     "2025-12-01T14:40:60.000Z", "1969-12-31T23:59:59.999Z", NOW, NOW / 1000,
                     NOW + 10 * FUTURE, -5, None]))
MESSAGES = st.one_of(st.sampled_from(["disk full", "", "nul\0here", LONG_MESSAGE,
                                       "m" * MAX_MESSAGE]), st.text(max_size=20))


def _iso(ms: int) -> str:
    from datetime import datetime
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def same(old_items: list[Item], new_items: list[Item]) -> None:
    """What store_items would get from both: rows, their items, rejections, NUL flag."""
    assert [type(i) is str and i for i in old_items] == [type(i) is str and i
                                                         for i in new_items]
    _, o_pos, old = _validated(SVC, old_items)
    _, n_pos, new = _validated(SVC, new_items)
    assert new.events == old.events
    assert [n_pos[i] for i in new.indexes] == [o_pos[i] for i in old.indexes]
    assert [(n_pos[e.index] if e.index is not None else None, e.field, e.message)
            for e in new.rejected] == \
        [(o_pos[e.index] if e.index is not None else None, e.field, e.message)
         for e in old.rejected]
    holds_nul = any(type(v) is str and "\0" in v for ev in new.events for v in ev.values)
    assert new.nul or not holds_nul


def fast_share(items: list[Item]) -> float:
    return sum(type(i) is Prepared for i in items) / max(len(items), 1)


# -- Elasticsearch bulk ------------------------------------------------------------------

ES_DOCS = st.fixed_dictionaries({}, optional={
    "@timestamp": TIMES, "message": st.one_of(MESSAGES, VALUES), "log.level": VALUES,
    "host": st.fixed_dictionaries({"name": VALUES}), "service.name": VALUES,
    "trace.id": VALUES, "extra": VALUES, "n": VALUES})


def bulk(docs: list[Any]) -> bytes:
    return b"".join(b'{"create":{"_index":"ix"}}\n' + orjson.dumps(d) + b"\n" for d in docs)


def check_bulk(body: bytes) -> list[Item]:
    fields = es_bulk.Fields.of("", "")
    old = es_bulk.parse_bulk(body, None, fields, CLOCK).items
    new = es_bulk.parse_bulk(body, None, fields, CLOCK, LIMIT).items
    same(old, new)
    return new


@settings(max_examples=150, deadline=None)
@given(st.lists(ES_DOCS, min_size=1, max_size=6))
def test_es_bulk_rows_as_the_generic_path(docs: list[dict[str, Any]]) -> None:
    check_bulk(bulk(docs))


def test_es_bulk_hand_made() -> None:
    plain = {"@timestamp": _iso(NOW - 5), "message": "hi", "log.level": "warn",
             "service.name": "api", "trace.id": "abc", "host": {"name": "h"}, "a": {"b": 1}}
    assert fast_share(check_bulk(bulk([plain] * 3))) == 1
    for odd in [{**plain, "message": LONG_MESSAGE}, {**plain, "service.name": LONG_TEXT},
                {**plain, "@timestamp": _iso(NOW + 2 * FUTURE)}, {**plain, "n": 2**64 - 1},
                {**plain, "n": DEEP}, {**plain, "message": "a\0b"}, {**plain, "f": 1e300},
                {**plain, "big": "x" * MAX_JSON_BYTES}, {**plain, "message": {"obj": 1}}]:
        check_bulk(bulk([plain, odd, plain]))
    # A document JSON cannot hold (deeper than orjson writes): every item the slow way.
    deep = b'{"a":' * 300 + b"1" + b"}" * 300
    check_bulk(b'{"create":{}}\n' + orjson.dumps(plain) + b'\n{"create":{}}\n' + deep + b"\n")
    # Not JSON, not an object, a delete, an _id that cannot be one: answered per item.
    check_bulk(b'{"create":{}}\n{bad\n{"create":{}}\n[1]\n{"delete":{"_id":"1"}}\n'
               b'{"index":{"_id":""}}\n{"message":"x"}\n{"index":{}}\n{"message":"y"}\n')


def test_too_many_rows_answer_413_as_natively() -> None:
    body = bulk([{"message": "x"}] * 51)
    fields = es_bulk.Fields.of("", "")
    for limit in (None, LIMIT):
        with pytest.raises(TooLarge):
            _validated(SVC, es_bulk.parse_bulk(body, None, fields, CLOCK, limit).items)


# -- CLEF and Seq JSON -----------------------------------------------------------------

CLEF_OBJS = st.fixed_dictionaries({}, optional={
    "@t": TIMES, "@m": MESSAGES, "@mt": st.sampled_from(["{A} did {B}", "plain", "{A"]),
    "@l": VALUES, "@x": st.sampled_from(["", "System.Exception: boom\n at X", 5]),
    "@tr": VALUES, "@i": VALUES, "SourceContext": VALUES, "A": VALUES, "B": VALUES,
    "@@x": VALUES})


@settings(max_examples=150, deadline=None)
@given(st.lists(CLEF_OBJS, min_size=1, max_size=6))
def test_clef_rows_as_the_generic_path(objs: list[dict[str, Any]]) -> None:
    body = b"\n".join(orjson.dumps(o) for o in objs) + b"\nnot json\n[1]\n"
    same(clef.parse_clef(body, CLOCK), clef.parse_clef(body, CLOCK, LIMIT))
    events = [{"Timestamp": o.get("@t"), "RenderedMessage": o.get("@m"),
               "MessageTemplate": o.get("@mt"), "Level": o.get("@l"),
               "Exception": o.get("@x"), "Properties": {"A": o.get("A"), "TraceId":
                                                        o.get("@tr")}} for o in objs]
    body = orjson.dumps({"Events": [*events, 7]})
    same(clef.parse_seq_json(body, CLOCK), clef.parse_seq_json(body, CLOCK, LIMIT))


def test_clef_plain_events_become_rows() -> None:
    body = b'{"@t":"%s","@mt":"{A} did it","A":1,"@l":"Warning","SourceContext":"api"}' \
        % _iso(NOW - 5).encode()
    assert fast_share(clef.parse_clef(body, CLOCK, LIMIT)) == 1
    same(clef.parse_clef(body, CLOCK), clef.parse_clef(body, CLOCK, LIMIT))


# -- Loki ----------------------------------------------------------------------------

LABELS = st.fixed_dictionaries({}, optional={"service_name": VALUES, "level": VALUES,
                                             "host": VALUES, "env": VALUES})
NANOS = st.one_of(st.integers(0, (NOW + 2 * FUTURE) * 1_000_000),
                  st.sampled_from([NOW * 1_000_000, (NOW - 5) * 1_000_000 + 7]))
LINES = st.lists(st.tuples(NANOS, MESSAGES, st.one_of(st.none(), LABELS)), min_size=1,
                 max_size=4)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(LABELS, LINES), min_size=1, max_size=3))
def test_loki_json_rows_as_the_generic_path(streams: list[Any]) -> None:
    body = orjson.dumps({"streams": [
        {"stream": labels, "values": [[str(ns), line, *([meta] if meta is not None else [])]
                                      for ns, line, meta in values]}
        for labels, values in streams]})
    same(loki.parse_json(body, CLOCK), loki.parse_json(body, CLOCK, LIMIT))


STRINGS = st.sampled_from(["api", "", "x\0y", LONG_TEXT, "warn", "12345678901234567890"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(st.sampled_from(["service_name", "level", "host",
                                                           "env", "trace_id"]), STRINGS),
                          LINES), min_size=1, max_size=3))
def test_loki_protobuf_rows_as_the_generic_path(streams: list[Any]) -> None:
    req = PushRequest()
    for labels, values in streams:
        text = ", ".join(f'{k}="{v}"' for k, v in labels.items() if "\0" not in v)
        s = req.streams.add(labels="{" + text + "}")
        for ns, line, meta in values:
            e = s.entries.add(line=line)
            e.timestamp.seconds, e.timestamp.nanos = divmod(ns, 1_000_000_000)
            for k, v in (meta or {}).items():
                e.structuredMetadata.add(name=k, value=v if type(v) is str else str(v))
    body = bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    same(loki.parse_protobuf(body, CLOCK, 1 << 24),
         loki.parse_protobuf(body, CLOCK, 1 << 24, LIMIT))


# -- syslog --------------------------------------------------------------------------

SYSLOG = st.builds(
    lambda pri, when, host, app, sd, msg: (
        f"<{pri}>1 {when} {host} {app} 12 ID7 {sd} {msg}").encode(),
    st.integers(0, 200), TIMES.map(str), st.sampled_from(["web-1", "-", "h" * 300]),
    st.sampled_from(["api", "-", "a" * 60]),
    st.sampled_from(["-", '[req@1 key="abc" n="12345678901234567890"]', '[x@1 a="b\\"c"]']),
    MESSAGES.map(lambda m: m.replace("\n", " ")[:MAX_MESSAGE + 5]))
RFC3164 = st.sampled_from([b"<13>Dec  2 11:20:32 host app[12]: hello",
                           b"<13>hello without a header", b"no pri at all\0", b"<999>x"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(SYSLOG, RFC3164), min_size=1, max_size=6))
def test_syslog_rows_as_the_generic_path(lines: list[bytes]) -> None:
    same([syslog.parse(f, CLOCK, UTC) for f in lines],
         [syslog.parse(f, CLOCK, UTC, LIMIT) for f in lines])


def test_syslog_plain_line_becomes_a_row() -> None:
    line = f"<134>1 {_iso(NOW - 5)} web-1 api 12 - [req@1 key=\"k\"] hello".encode()
    got = syslog.parse(line, CLOCK, UTC, LIMIT)
    assert type(got) is Prepared
    assert got.values[:4] == (NOW - 5, "hello", "Information", "api") and \
        got.values[8] == "web-1"


@pytest.mark.parametrize("make", [
    lambda: {"kind": "general", "instant": NOW, "message": "x"},
    lambda: rows.row(NOW, "x", None, None, None, None, None, None, limit=LIMIT)])
def test_rows_validated_without_rows_is_validate(make: Callable[[], Any]) -> None:
    got = rows.validated(DECODER, [make()], now_ms=NOW)
    assert got.indexes == [0] and got.events[0].values[:2] == (NOW, "x")
