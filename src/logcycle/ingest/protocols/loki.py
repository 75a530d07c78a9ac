"""Loki push (``POST /loki/api/v1/push``): JSON, or snappy-compressed protobuf
``PushRequest`` → native events, one per log line.

Mapping: the time (nanoseconds) → ``instant`` in ms, and the full value as text in
``attributes.timestamp_ns`` when it is not a whole millisecond; the line → ``message``;
of the stream labels and the structured metadata, ``service_name``/``job``/``app`` →
``module_name``, ``level``/``severity``/``detected_level`` → ``message_type``,
``host``/``hostname`` → ``src``, ``trace_id`` → ``request_key``; all other labels and
metadata → ``attributes``.

>>> clock = ClockRule(now_ms=10**13, max_future_ms=0)
>>> body = (b'{"streams":[{"stream":{"job":"api","env":"prod"},'
...         b'"values":[["1700000000000000000","hi"]]}]}')
>>> parse_json(body, clock)[0]  # doctest: +NORMALIZE_WHITESPACE
{'kind': 'general', 'instant': 1700000000000, 'message': 'hi', 'module_name': 'api',
 'attributes': {'env': 'prod'}}
>>> parse_labels('{job="api", msg="say \\\\"hi\\\\""}')
{'job': 'api', 'msg': 'say "hi"'}
"""

from __future__ import annotations

import re
from typing import Any

import cramjam
import orjson
from google.protobuf.message import DecodeError

from logcycle.errors import BadRequest, TooLarge
from logcycle.ingest.protocols import rows
from logcycle.ingest.protocols.common import (
    ORIGINAL,
    ClockRule,
    Item,
    level_name,
    native,
    pop_first,
)

MODULE_LABELS = ("service_name", "job", "app")
LEVEL_LABELS = ("level", "severity", "detected_level")
HOST_LABELS = ("host", "hostname")
# A line's time in nanoseconds, as text (JSON numbers lose digits past 2**53), when it is
# not a whole millisecond: ``instant`` holds the milliseconds.
NS_ATTRIBUTE = "timestamp_ns"
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_ESCAPE = re.compile(r"\\(.)")
_UNESCAPED = {"n": "\n", "t": "\t"}


def parse_labels(text: str) -> dict[str, str]:
    """Prometheus label text ``{a="b", c="d"}`` → a dict; 400 when malformed."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise BadRequest(f"stream labels must look like {{name=\"value\"}}: {text[:80]!r}",
                         code="invalid_labels")
    inner, labels, pos = inner[1:-1].strip(), {}, 0
    while pos < len(inner):
        m = _LABEL.match(inner, pos)
        if m is None:
            raise BadRequest(f"malformed stream labels at {inner[pos:pos + 40]!r}",
                             code="invalid_labels")
        labels[m.group(1)] = _ESCAPE.sub(lambda e: _UNESCAPED.get(e.group(1), e.group(1)),
                                         m.group(2))
        pos = m.end()
    return labels


class _Stream:
    """What every line of one stream shares, prepared once."""

    def __init__(self, labels: dict[str, Any], limit: int | None = None) -> None:
        self.limit = limit  # given: plain lines become their rows (rows.row)
        rest = dict(labels)
        self.module = pop_first(rest, MODULE_LABELS)
        self.level = level_name(pop_first(rest, LEVEL_LABELS))
        self.src = pop_first(rest, HOST_LABELS)
        self.trace = pop_first(rest, ("trace_id",))
        self.rest = rest

    def event(self, ns: int, line: str, meta: dict[str, Any] | None, clock: ClockRule) -> Item:
        attrs = {**self.rest, **meta} if meta else dict(self.rest)
        level, module, src, trace = self.level, self.module, self.src, self.trace
        if meta:
            module = pop_first(attrs, MODULE_LABELS) if module is None else module
            level = level or level_name(pop_first(attrs, LEVEL_LABELS))
            trace = pop_first(attrs, ("trace_id",)) if trace is None else trace
        instant = clock.instant(ns // 1_000_000, attrs, str(ns))
        if ns % 1_000_000 and ORIGINAL not in attrs:  # the sub-millisecond part: kept
            attrs[NS_ATTRIBUTE] = str(ns)
        if self.limit is not None:
            found = rows.row(instant, line, level, module, trace, src, None, attrs,
                             limit=self.limit)
            if found is not None:
                return found
        return native(instant=instant, message=line, message_type=level, module_name=module,
                      src=src, request_key=trace, attributes=attrs)


def parse_json(body: bytes, clock: ClockRule, limit: int | None = None) -> list[Item]:
    """A JSON push: ``{"streams": [{"stream": {labels}, "values": [[ns, line, {meta}?]]}]}``;
    given ``limit`` (:func:`rows.limit_of`), plain lines become their validated rows."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}", code="invalid_json") from None
    streams = doc.get("streams") if isinstance(doc, dict) else None
    if not isinstance(streams, list):
        raise BadRequest('the body must be {"streams": [...]}', code="invalid_push")
    items: list[Item] = []
    for s in streams:
        labels = s.get("stream") if isinstance(s, dict) else None
        values = s.get("values") if isinstance(s, dict) else None
        if not isinstance(labels, dict) or not isinstance(values, list):
            raise BadRequest('each stream needs "stream" (labels) and "values"',
                             code="invalid_push")
        stream = _Stream(labels, limit)
        items.extend(_json_value(stream, v, clock) for v in values)
    return items


def _json_value(stream: _Stream, value: Any, clock: ClockRule) -> Item:
    if not isinstance(value, list) or len(value) not in (2, 3):
        return 'a value must be ["<unix ns>", "<line>"] or with a metadata object third'
    ns, line = value[0], value[1]
    meta = value[2] if len(value) == 3 else None
    if not (isinstance(ns, str) and ns.isascii() and ns.isdigit()) or not isinstance(line, str):
        return "a value's time must be a string of digits (unix ns) and its line a string"
    if meta is not None and not isinstance(meta, dict):
        return "structured metadata must be an object"
    return stream.event(int(ns), line, meta, clock)


def parse_protobuf(body: bytes, clock: ClockRule, max_bytes: int,
                   limit: int | None = None) -> list[Item]:
    """A snappy-compressed protobuf ``PushRequest`` (what Promtail, Alloy and the Loki
    clients send); ``limit`` as for :func:`parse_json`."""
    from logcycle.ingest.protocols.loki_pb import PushRequest

    try:
        # The length snappy declares comes first: checked before anything is inflated.
        if cramjam.snappy.decompress_raw_len(body) > max_bytes:
            raise TooLarge(f"the request body is larger than the limit of {max_bytes} bytes "
                           "once decompressed: send smaller batches", code="body_too_large")
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise BadRequest(f"the body is not snappy-compressed protobuf: {exc}",
                         code="invalid_snappy") from None
    try:
        req = PushRequest.FromString(raw)
    except DecodeError as exc:
        raise BadRequest(f"not a Loki PushRequest: {exc}", code="invalid_protobuf") from None
    items: list[Item] = []
    for s in req.streams:
        stream = _Stream(parse_labels(s.labels), limit)
        for e in s.entries:
            meta = {m.name: m.value for m in e.structuredMetadata} or None
            ns = e.timestamp.seconds * 1_000_000_000 + e.timestamp.nanos
            items.append(stream.event(ns, e.line, meta, clock))
    return items
