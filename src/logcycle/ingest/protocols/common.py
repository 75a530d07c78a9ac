"""What every protocol adapter shares: reading foreign timestamps, the wrong-clock rule,
level names, and building one native ``general`` event as JSON bytes.

The wrong-clock rule: an event whose own time is unreadable, before 1970, or further in the
future than ``max_future_ms`` is **stored at the server's time**, its own time kept as sent
in ``attributes.original_timestamp``; the other events of the request are never affected.

>>> clock = ClockRule(now_ms=1_000, max_future_ms=10)
>>> attrs: dict[str, object] = {}
>>> clock.instant(5_000, attrs), attrs
(1000, {'original_timestamp': 5000})
>>> native(instant=1, message="hi", message_type="Error", src=None)
{'kind': 'general', 'instant': 1, 'message': 'hi', 'message_type': 'Error'}
>>> encode_each([{"kind": "general", "message": "a" * 3}, "unreadable"])
[b'{"kind":"general","message":"aaa"}', 'unreadable']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from logcycle.ingest.decode import Prepared

# An item of a translated request: a native event (a dict, or JSON bytes), or why the
# record could not be read (answered for that record alone). The adapters give dicts: the
# events of a request are then written as JSON in one call (``protocols.validate``), a
# third of the cost of one call an event. A plain record may be its validated row already
# (:mod:`.rows`).
Item = dict[str, Any] | bytes | str | Prepared



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
    if type(value) is str:
        # A shipper sends the same few level texts again and again: each is worked out once.
        known = _SEEN_LEVELS.get(value)
        if known is not None:
            return known
    elif value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    name = _LEVELS.get(text.lower(), text[:64])
    if type(value) is str and len(_SEEN_LEVELS) < _MAX_SEEN_LEVELS:
        _SEEN_LEVELS[value] = name
    return name


_SEEN_LEVELS: dict[str, str] = {}
_MAX_SEEN_LEVELS = 1000  # the memo stays small whatever the senders write


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
        if len(value) in _USUAL:  # the common form: 2026-12-02T11:18:28.123Z
            ms = _usual_time(value)
            if ms is not None:
                return ms
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


def _usual_time(value: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS.fffZ`` (milli-, micro- or nanoseconds: what shippers write)
    read from its second's epoch ms, worked out once per second (a shipper sends the same
    few seconds again and again; fromisoformat costs 0.3 µs), and its milliseconds' text
    looked up. None for any other text (parse_time then reads it as before)."""
    if value[19] != "." or value[-1] != "Z":
        return None
    milli = _MILLIS.get(value[20:23])
    # isascii is a flag of the text, read at once: with it, isdigit means 0-9.
    if milli is None or not (len(value) == 24 or (value[23:-1].isdigit() and value.isascii())):
        return None
    second = _SECONDS.get(value[:19])
    if second is None:
        second = _second_of(value[:19])
        if second is None:
            return None
    return second + milli


_MILLIS = {f"{ms:03d}": ms for ms in range(1000)}  # the text of a time's ms, read at once
_USUAL = (24, 27, 30)  # the lengths of the usual form


def _second_of(prefix: str) -> int | None:
    """Epoch ms of ``YYYY-MM-DDTHH:MM:SS`` in UTC (remembered), None for other text."""
    if _SECOND.fullmatch(prefix) is None:
        return None
    try:
        dt = datetime.fromisoformat(prefix + "+00:00")
    except ValueError:  # a 13th month, a 60th second...
        return None
    if len(_SECONDS) >= _MAX_SECONDS:
        _SECONDS.clear()
    second = _SECONDS[prefix] = (dt - _EPOCH) // _MS
    return second


_SECOND = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", re.ASCII)
_SECONDS: dict[str, int] = {}
_MAX_SECONDS = 4096  # at most this many seconds remembered (then forgotten all at once)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class ClockRule:
    """The accepted range of event times for one request: 1970 to now + max_future_ms."""

    now_ms: int
    max_future_ms: int
    latest: int = field(init=False, repr=False, compare=False)  # the last accepted ms

    def __post_init__(self) -> None:
        object.__setattr__(self, "latest", min(self.now_ms + self.max_future_ms, _MAX_MS))

    def instant(self, ms: int | None, attributes: dict[str, Any], original: object = None) \
            -> int:
        """The instant to store for an event whose own time is ``ms`` (None: absent or
        unreadable; ``original`` is then what was sent, if anything)."""
        if ms is not None and 0 <= ms <= self.latest:
            return ms
        sent = original if original is not None else ms
        if sent is not None:
            attributes[ORIGINAL] = sent
        return self.now_ms

    def of(self, value: object, attributes: dict[str, Any]) -> int:
        """:meth:`instant` of a foreign time value (text or number, None if absent)."""
        if value is None:
            return self.now_ms
        if type(value) is str and len(value) in _USUAL:  # the usual form, in range: at once
            ms = _usual_time(value)
            if ms is not None and 0 <= ms <= self.latest:
                return ms
        return self.instant(parse_time(value), attributes, value)


def native(*, instant: int, message: str, attributes: dict[str, Any] | None = None,
           error: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """One native ``general`` event: fields that are None are left out."""
    event = {"kind": "general", "instant": instant, "message": message}
    for name, value in fields.items():
        if value is not None:
            event[name] = value
    if attributes:
        event["attributes"] = attributes
    if error is not None:
        event["error"] = error
    return event


def encode_each(items: list[Item]) -> list[Item]:
    """Each event as JSON bytes on its own, an event that cannot be JSON (nested deeper
    than the encoder goes) becoming the reason: the slow way, taken when the events of a
    request could not be written in one call."""
    out: list[Item] = []
    for item in items:
        if isinstance(item, dict):
            try:
                item = dumps(item)
            except ValueError as exc:
                item = str(exc)
        out.append(item)
    return out


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
        if "." in path and path[:path.index(".")] in doc:  # else no nested object to look in
            found, value = pop_path(doc, path)
            if found:
                return value
    return None
