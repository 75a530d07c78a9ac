"""What every protocol adapter shares: reading foreign timestamps, the wrong-clock rule,
level names, and building one native ``general`` event as JSON bytes.

The wrong-clock rule: an event whose own time is unreadable, before 1970, or further in the
future than ``max_future_ms`` is **stored at the server's time**, its own time kept as sent
in ``attributes.original_timestamp``; the other events of the request are never affected.

>>> clock = ClockRule(now_ms=1_000, max_future_ms=10)
>>> attrs: dict[str, object] = {}
>>> clock.instant(5_000, attrs), attrs
(1000, {'original_timestamp': 5000})
>>> native(instant=1, message="hi", message_type="Error")
b'{"kind":"general","instant":1,"message":"hi","message_type":"Error"}'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

# An item of a translated request: a native event as JSON bytes, or why the record
# could not be read (answered for that record alone).
Item = bytes | str



class Replayed(int):
    """What a translated item was answered when its idempotency key (an Elasticsearch
    ``_id``) was stored before: the stored event's id; nothing was stored again."""

    __slots__ = ()


ORIGINAL = "original_timestamp"
_MAX_MS = 253_402_300_799_999

# Level names of the shippers (syslog, logging, Serilog, zap, ...) → the message_type of
# native events and of the Event Log API.
_LEVELS = {
    "trace": "Debug", "verbose": "Debug", "debug": "Debug", "dbug": "Debug",
    "info": "Information", "information": "Information", "informational": "Information",
    "notice": "Notice", "warn": "Warning", "warning": "Warning",
    "err": "Error", "error": "Error", "eror": "Error", "fail": "Error",
    "crit": "Critical", "critical": "Critical", "fatal": "Critical",
    "alert": "Alert", "emerg": "Emergency", "emergency": "Emergency", "panic": "Emergency",
}


def level_name(value: object) -> str | None:
    """The message_type for a shipper's level: known names are normalised
    (``warn`` → ``Warning``), others kept as sent (at most 64 characters)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    return _LEVELS.get(text.lower(), text[:64])


def epoch_ms(value: float) -> int:
    """A number as epoch ms, its unit told by its size (s, ms, µs or ns), as
    VictoriaLogs does: 1.7e9 is seconds, 1.7e12 ms, 1.7e15 µs, 1.7e18 ns."""
    v = abs(value)
    if v < 1e11:
        return int(value * 1000)
    if v < 1e14:
        return int(value)
    if v < 1e17:
        return int(value // 1000)
    return int(value // 1_000_000)


def parse_time(value: object) -> int | None:
    """Epoch ms of an ISO 8601 text (no offset: UTC) or a number; None if unreadable."""
    if type(value) is str:
        if not 0 < len(value) <= 64:
            return None
        if value.isdigit() and value.isascii():
            return epoch_ms(int(value))
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return (dt - _EPOCH) // _MS
    if type(value) is int or type(value) is float:
        return epoch_ms(value)
    return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class ClockRule:
    """The accepted range of event times for one request: 1970 to now + max_future_ms."""

    now_ms: int
    max_future_ms: int

    def instant(self, ms: int | None, attributes: dict[str, Any], original: object = None) \
            -> int:
        """The instant to store for an event whose own time is ``ms`` (None: absent or
        unreadable; ``original`` is then what was sent, if anything)."""
        if ms is not None and 0 <= ms <= min(self.now_ms + self.max_future_ms, _MAX_MS):
            return ms
        sent = original if original is not None else ms
        if sent is not None:
            attributes[ORIGINAL] = sent
        return self.now_ms

    def of(self, value: object, attributes: dict[str, Any]) -> int:
        """:meth:`instant` of a foreign time value (text or number, None if absent)."""
        if value is None:
            return self.now_ms
        return self.instant(parse_time(value), attributes, value)


def native(*, instant: int, message: str, attributes: dict[str, Any] | None = None,
           error: dict[str, Any] | None = None, **fields: Any) -> bytes:
    """One native ``general`` event as JSON: fields that are None are left out."""
    event = {"kind": "general", "instant": instant, "message": message}
    for name, value in fields.items():
        if value is not None:
            event[name] = value
    if attributes:
        event["attributes"] = attributes
    if error is not None:
        event["error"] = error
    return dumps(event)


def dumps(event: dict[str, Any]) -> bytes:
    """A native event as JSON; ValueError if a value cannot be JSON."""
    try:
        return orjson.dumps(event)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ValueError(f"cannot encode the event: {exc}") from None


def text_of(value: object) -> str:
    """A message from any JSON value: text as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


_MISSING = object()


def pop_path(doc: dict[str, Any], path: str) -> tuple[bool, Any]:
    """Take the field ``path`` out of ``doc``: a key as is (``"log.level"``), or else the
    dotted path through nested objects (``{"log": {"level": ...}}``), whose emptied
    parents go too. Returns (found, value)."""
    value = doc.pop(path, _MISSING)
    if value is not _MISSING:
        return True, value
    head, dot, rest = path.partition(".")
    inner = doc.get(head) if dot else None
    if not isinstance(inner, dict):
        return False, None
    found, value = pop_path(inner, rest)
    if found and not inner:
        del doc[head]
    return found, value


def pop_first(doc: dict[str, Any], paths: tuple[str, ...]) -> Any:
    """The value of the first of ``paths`` present in ``doc`` (taken out), or None. On the
    hot path of every adapter: a plain key costs one ``dict.pop``."""
    for path in paths:
        value = doc.pop(path, _MISSING)
        if value is not _MISSING:
            return value
        if "." in path:
            found, value = pop_path(doc, path)
            if found:
                return value
    return None
