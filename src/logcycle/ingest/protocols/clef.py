"""Seq: CLEF (compact log event format, one JSON object a line: ``POST /ingest/clef``,
``POST /api/events/raw?clef``) and Seq's JSON ``{"Events": [...]}`` (``POST
/api/events/raw``) → native events.

=================  ========================  =============================================
native             CLEF                      Seq JSON
=================  ========================  =============================================
``instant``        ``@t``                    ``Timestamp``
``message``        ``@m``, else ``@mt``      ``RenderedMessage``, else ``MessageTemplate``
                   rendered                  rendered with ``Properties``
``message_type``   ``@l`` (``Information``)  ``Level``
``error``          ``@x``: message and       ``Exception``
                   ``detail`` (the stack)
``request_key``    ``@tr``                   ``Properties.TraceId``
``module_name``    ``SourceContext`` or ``Application`` (a property)
``attributes``     ``@i`` → ``event_id``, ``@sp`` → ``span_id``, ``@mt`` →
                   ``message_template``; every other property as it is
=================  ========================  =============================================

>>> render("Paid {Amount:0.00} to {@User}, {{escaped}}", {"Amount": 3.5, "User": {"id": 1}})
'Paid 3.5 to {"id":1}, {escaped}'
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Any

import orjson

from logcycle.errors import BadRequest
from logcycle.ingest.protocols import rows
from logcycle.ingest.protocols.common import ClockRule, Item, level_name, native, pop_first

_HOLE = re.compile(r"\{\{|\}\}|\{([@$]?)([A-Za-z0-9_.]+)(?:,[^:}]*)?(?::[^}]*)?\}")
MODULE_PROPERTIES = ("SourceContext", "Application")
# What the error of an event without a module is filed under (error events need one).
DEFAULT_MODULE = "seq"


def render(template: str, props: dict[str, Any]) -> str:
    """A message template with its property values: text as is, other values as JSON;
    a hole without a value stays as written."""
    def fill(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole in ("{{", "}}"):
            return whole[0]
        name = m.group(2)
        if name not in props:
            return whole
        value = props[name]
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    return _HOLE.sub(fill, template)


def exception(text: str, module: str | None) -> dict[str, Any]:
    """An inline ``error`` from an exception text: its message is the line that names the
    exception (the last line of a Python traceback, the first of a .NET one)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    head = (lines[-1] if lines and lines[0].startswith("Traceback") else
            lines[0] if lines else "exception")
    return {"message": head.strip()[:65_536], "detail": text, "module_name":
            module or DEFAULT_MODULE}


def from_clef(obj: dict[str, Any], clock: ClockRule, limit: int | None = None) -> Item:
    """One CLEF object → a native event (given ``limit``, a plain one's row:
    :func:`_event`). The object is taken apart: what is left of it are the attributes."""
    # The @ fields taken out of the object itself, one pop each (a comprehension over every
    # key cost 3x more): the rest are the properties, unless a key still starts with @ (an
    # unknown @ field, dropped, or an escaped @@x, kept as x), which sorted keys show.
    when, message, level = obj.pop("@t", None), obj.pop("@m", None), obj.pop("@l", None)
    exc, trace = obj.pop("@x", None), obj.pop("@tr", None)
    template, event_id, span = (obj.pop("@mt", _ABSENT), obj.pop("@i", _ABSENT),
                                obj.pop("@sp", _ABSENT))
    keys = sorted(obj)
    at = bisect_left(keys, "@")
    attrs = obj if at == len(keys) or keys[at][:1] != "@" else \
        {k if k[:1] != "@" else k[1:]: v for k, v in obj.items() if k[:1] != "@" or k[:2] == "@@"}
    if not isinstance(message, str):
        message = render(template, attrs) if isinstance(template, str) else ""
    # The template is rendered: the properties become the attributes.
    if event_id is not _ABSENT:
        attrs["event_id"] = event_id
    if span is not _ABSENT:
        attrs["span_id"] = span
    if template is not _ABSENT:
        attrs["message_template"] = template
    return _event(when, message, level, exc, trace, attrs, clock, limit)


_ABSENT: Any = object()


def from_seq_json(obj: dict[str, Any], clock: ClockRule, limit: int | None = None) -> Item:
    """One event of Seq's ``{"Events": [...]}`` → a native event (or row, as
    :func:`from_clef`)."""
    props = obj.get("Properties")
    props = dict(props) if isinstance(props, dict) else {}
    template = obj.get("MessageTemplate")
    message = obj.get("RenderedMessage")
    if not isinstance(message, str):
        message = render(template, props) if isinstance(template, str) else ""
    trace = props.pop("TraceId", None)
    if isinstance(template, str):
        props["message_template"] = template
    return _event(obj.get("Timestamp"), message, obj.get("Level"), obj.get("Exception"),
                  trace, props, clock, limit)


def _event(when: object, message: str, level: object, exc: object, trace: object,
           attrs: dict[str, Any], clock: ClockRule, limit: int | None) -> Item:
    """The native event; given ``limit`` (:func:`rows.limit_of`), the validated row of
    one without an exception (:func:`rows.row`), the same as the decoder makes of it."""
    module = pop_first(attrs, MODULE_PROPERTIES)
    module = module if isinstance(module, str) else None
    error = exception(exc, module) if isinstance(exc, str) and exc.strip() else None
    instant = clock.of(when, attrs)
    level_type = level_name(level) or "Information"
    key = trace if isinstance(trace, str) else None
    if limit is not None and error is None:
        found = rows.row(instant, message, level_type, module, key, None, None, attrs,
                         limit=limit)
        if found is not None:
            return found
    return native(instant=instant, message=message, message_type=level_type,
                  module_name=module, request_key=key, attributes=attrs, error=error)


def parse_clef(body: bytes, clock: ClockRule, limit: int | None = None) -> list[Item]:
    """CLEF: one JSON object a line (blank lines skipped); a line that is not a JSON
    object is rejected on its own. Given ``limit``, plain events become their rows."""
    items: list[Item] = []
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            items.append(f"not valid JSON: {exc}")
            continue
        items.append(from_clef(obj, clock, limit) if isinstance(obj, dict)
                     else "a CLEF line must be a JSON object")
    return items


def parse_seq_json(body: bytes, clock: ClockRule, limit: int | None = None) -> list[Item]:
    """Seq's JSON format: ``{"Events": [{"Timestamp", "Level", "MessageTemplate",
    "Properties", "Exception"}, ...]}``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}", code="invalid_json") from None
    events = doc.get("Events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise BadRequest('the body must be {"Events": [...]} (or CLEF with ?clef)',
                         code="invalid_events")
    return [from_seq_json(e, clock, limit) if isinstance(e, dict) else "an event must be an object"
            for e in events]
