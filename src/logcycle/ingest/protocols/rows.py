"""The shippers' plain records straight to validated rows: what
``protocols.validate(decoder, events)`` answers for the native events of the
Elasticsearch bulk, Loki, CLEF and syslog adapters, without those events in between.

Why: an adapter's native event is a dict built field by field, then written as JSON and
decoded again with msgspec to be validated (about 1.7 µs an event, a third of a shipper's
in-process cost, on top of building the dict). The adapters read the types the checks want
(an integer instant from ``ClockRule``, texts, attributes as a dict), so for a plain
``general`` record only the limits are left to check (:func:`row`): the message's and each
text's length, the instant against the future limit, the attributes' JSON (size and depth
here, the numbers strict parsers refuse for the whole request in :func:`validated`). Any
other record keeps its native event, validated by ``BatchDecoder.decode_each`` alone, so it
gets the same answer, rejection reason included. tests/shippers/test_shipper_rows.py checks
both paths give the same rows for each adapter.

>>> from logcycle.ingest.decode import BatchDecoder
>>> d = BatchDecoder(max_future_ms=0, max_batch=10)
>>> fast = row(0, "a", None, None, None, None, None, {"x": 1}, limit=1)
>>> p = validated(d, [fast, {"kind": "x"}], now_ms=1)
>>> p.indexes, p.events[0].values[:2], p.events[0].attributes, p.rejected[0].index
([0], (0, 'a'), '{"x":1}', 1)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from logcycle.errors import FieldError
from logcycle.ingest.decode import (
    MAX_INSTANT_MS,
    BatchDecoder,
    Partial,
    Prepared,
    may_hold_big_number,
)
from logcycle.ingest.protocols import validate
from logcycle.kinds import KINDS, MAX_JSON_BYTES, MAX_JSON_DEPTH, MAX_MESSAGE, MAX_TEXT

GENERAL = KINDS["general"]
_COLUMNS = ("instant", "message", "message_type", "module_name", "request_key",
            "action_name", "duration_ms", "client_ip", "src", "stream", "msg")
if tuple(f.name for f in GENERAL.data_fields) != _COLUMNS:  # pragma: no cover
    raise RuntimeError("shipper rows: the general kind's columns changed; update row()")


def limit_of(decoder: BatchDecoder, now_ms: int) -> int:
    """The latest instant the decoder accepts in a request received at ``now_ms``."""
    return min(now_ms + decoder.max_future_ms, MAX_INSTANT_MS)


def row(instant: int, message: str, message_type: object, module_name: object,
        request_key: object, src: object, stream: str | None,
        attributes: dict[str, Any] | None, *, limit: int) -> Prepared | None:
    """The row of a ``general`` event of these values (``attributes`` None or empty:
    none), or None when one of them needs the decoder's look (a text that is not one,
    over its limit or holding a NUL, an instant past ``limit``, attributes too large or
    too deep, or that JSON cannot hold)."""
    if type(message) is not str or len(message) > MAX_MESSAGE or "\0" in message or \
            type(instant) is not int or not 0 <= instant <= limit:
        return None
    for text in (message_type, module_name, request_key, src, stream):
        # A NUL: the decoder's answer, with its nul flag (the rows here have none).
        if text is not None and (type(text) is not str or len(text) > MAX_TEXT or
                                 "\0" in text):
            return None
    text = None
    if attributes:
        try:
            data = orjson.dumps(attributes)
        except TypeError:  # orjson's: the generic path answers it for the request
            return None
        if len(data) > MAX_JSON_BYTES or data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH:
            return None
        text = data.decode()
    return Prepared(GENERAL, (instant, message, message_type, module_name, request_key,
                              None, None, None, src, stream, None), text)


def validated(decoder: BatchDecoder, items: list[Any], *, now_ms: int) -> Partial:
    """``protocols.validate`` of events some of which are rows already (:func:`row`): the
    rows as they are, the native events (dicts or JSON bytes) validated one by one,
    ``Partial.indexes`` and the rejections numbered by position in ``items``. The same
    answer as ``validate`` of every item as its native event: 413 past ``max_batch``;
    TypeError (orjson's) for a dict JSON cannot hold."""
    if len(items) > decoder.max_batch:
        decoder.decode_each(items, now_ms=now_ms)  # raises its 413 before reading them
    fast = Partial([], nul=False)
    slow: list[int] = []
    for index, item in enumerate(items):
        if type(item) is Prepared:
            fast.events.append(item)
            fast.indexes.append(index)
        else:
            slow.append(index)
    if not fast.events:
        return validate(decoder, items, now_ms=now_ms)
    texts = [ev.attributes for ev in fast.events if ev.attributes is not None]
    # One scan for all (as the decoder does): only a request that may hold such a number
    # has its rows looked at one by one.
    if texts and may_hold_big_number(["\n".join(texts).encode()]):
        _recheck(fast, slow)
    if not slow:
        return fast
    return _merged(fast, slow, items, decoder, now_ms)


def _recheck(fast: Partial, slow: list[int]) -> None:
    """Send the rows whose attributes may hold a number strict parsers refuse to the
    decoder (rare: a 19-digit number, an exponent of three digits)."""
    keep = [(i, ev) for i, ev in zip(fast.indexes, fast.events, strict=True)
            if ev.attributes is None or not may_hold_big_number([ev.attributes.encode()])]
    kept = {i for i, _ in keep}
    slow.extend(i for i in fast.indexes if i not in kept)
    slow.sort()
    fast.indexes = [i for i, _ in keep]
    fast.events = [ev for _, ev in keep]


def native_json(ev: Prepared) -> bytes:
    """A row as the native event it was read as (JSON; its attributes as they are)."""
    out = {"kind": "general"}
    out.update((name, value) for name, value in zip(_COLUMNS, ev.values, strict=True)
               if value is not None)
    head = orjson.dumps(out)
    if ev.attributes is None:
        return head
    return head[:-1] + b',"attributes":' + ev.attributes.encode() + b"}"


def _merged(fast: Partial, slow: list[int], items: list[Any], decoder: BatchDecoder,
            now_ms: int) -> Partial:
    """The rows of both paths in item order: the slow items as native JSON, through
    :func:`merge`."""
    encoded = [native_json(it) if type(it) is Prepared else
               it if type(it) is bytes else orjson.dumps(it) for it in
               (items[i] for i in slow)]
    return merge(fast, slow, encoded, decoder, now_ms=now_ms)


def merge(fast: Partial, slow: list[int], encoded: list[bytes], decoder: BatchDecoder, *,
          now_ms: int) -> Partial:
    """The rows read straight (``fast``) and the items at ``slow`` (their native events,
    ``encoded``) validated by ``decode_each``, in item order; the decoder's rejections
    renumbered to their items. Shared with :mod:`otlp_rows`."""
    each = decoder.decode_each(encoded, now_ms=now_ms)
    pairs = sorted([*zip(fast.indexes, fast.events, strict=True),
                    *((slow[j], ev) for j, ev in zip(each.indexes, each.events,
                                                      strict=True))],
                   key=lambda pair: pair[0])
    return Partial([ev for _, ev in pairs], fast.nul or each.nul,
                   indexes=[index for index, _ in pairs],
                   rejected=[_renumbered(err, slow) for err in each.rejected])


def _renumbered(err: FieldError, where: list[int]) -> FieldError:
    return replace(err, index=None if err.index is None else where[err.index])
