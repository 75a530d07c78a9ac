"""Sentry SDK events: envelopes (``/api/{project}/envelope/``) and the older store endpoint
(``/api/{project}/store/``), turned into native ``error`` events.

An envelope is a header line (JSON) and items, each an item header line (JSON, with a
``type`` and optionally the payload's ``length``) and its payload: ``length`` bytes, or up
to the next newline without it. ``event`` items become error events; every other item type
(transaction, session, client_report, attachment, …) is accepted and ignored. The mapping
(docs/integrations.md):

- the last exception's ``type: value`` (else ``logentry``/``message``) → ``message``; the
  exception chain, formatted like a traceback (file, line, function, context line) →
  ``detail``
- ``contexts.trace.trace_id`` → ``request_key``; ``server_name`` → ``server``;
  ``user.id``/``user.username`` → ``user_id``/``username``; ``transaction`` →
  ``entrypoint_name``; the tag ``module_name`` (else ``sentry-<project>``) →
  ``module_name``
- ``level``, ``event_id``, ``project_id``, ``release``, ``environment``, ``platform``,
  ``logger``, ``tags``, ``request`` (url, method), the rest of ``user``, ``span_id`` →
  ``attributes``

>>> env = parse_envelope(b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\\n'
...                      b'{"type":"session","length":2}\\n{}\\n'
...                      b'{"type":"event"}\\n{"message":"hi","level":"warning"}\\n')
>>> [t for t, _ in env.items], event_items(env)[0]["message"]
(['session', 'event'], 'hi')
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from logcycle.errors import BadRequest
from logcycle.kinds import MAX_MESSAGE, MAX_TEXT

ROUTE = re.compile(r"^/api/(\d+)/(envelope|store)/?$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_CHAINED = {"__cause__": "The above exception was the direct cause of the following "
                         "exception:",
            "__context__": "During handling of the above exception, another exception "
                           "occurred:"}
_NEXT = "The above exception led to the following exception:"


@dataclass(slots=True)
class Envelope:
    header: dict[str, Any]
    items: list[tuple[str, bytes]] = field(default_factory=list)  # (type, payload)


def _bad(message: str) -> BadRequest:
    return BadRequest(message, code="invalid_sentry")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _bad(f"{what} must be a JSON object")
    return value


def _line(body: bytes, pos: int) -> tuple[bytes, int]:
    """The line at ``pos`` (without its newline) and where the next one starts."""
    end = body.find(b"\n", pos)
    if end < 0:
        return body[pos:], len(body)
    return body[pos:end], end + 1


def parse_envelope(body: bytes) -> Envelope:
    """Parse a whole envelope; 400 naming the item when it is malformed."""
    line, pos = _line(body, 0)
    env = Envelope(_json_object(line, "the envelope header"))
    while pos < len(body):
        line, pos = _line(body, pos)
        if not line.strip():
            continue
        n = len(env.items)
        header = _json_object(line, f"the header of item {n}")
        kind = header.get("type")
        if not isinstance(kind, str) or not kind:
            raise _bad(f"item {n} has no type")
        length = header.get("length")
        if length is None:
            payload, pos = _line(body, pos)
        elif type(length) is int and 0 <= length <= len(body) - pos:
            payload, pos = body[pos:pos + length], pos + length
            if body[pos:pos + 1] == b"\n":
                pos += 1
        else:
            raise _bad(f"item {n} ({kind}): length {length!r} does not fit the envelope")
        env.items.append((kind, payload))
    return env


def parse_event(body: bytes) -> dict[str, Any]:
    """The body of the store endpoint: one event as JSON."""
    return _json_object(body, "the event")


def event_items(env: Envelope) -> list[dict[str, Any]]:
    """The ``event`` items' payloads, parsed (other item types are ignored)."""
    return [_json_object(p, f"the event of item {i}")
            for i, (kind, p) in enumerate(env.items) if kind == "event"]


def event_id(event: dict[str, Any], default: object = None) -> str:
    """The event's id as 32 lower-case hex digits (Sentry accepts it with dashes too); a
    new one when the event has none, as Sentry does."""
    raw = event.get("event_id", default)
    if raw is None:
        return uuid.uuid4().hex
    text = str(raw).replace("-", "").lower()
    if not _HEX32.match(text):
        raise _bad(f"event_id must be 32 hex digits (a UUID), got {str(raw)[:60]!r}")
    return text


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` characters: Sentry's own fields are cut, never refused."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _clip_tail(text: str, limit: int) -> str:
    """A traceback keeps its end (the exception) when it must be cut."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit + 40
    return f"… ({cut} characters cut)\n{text[cut:]}"


def _instant(value: object, now_ms: int) -> int:
    if value is None:
        return now_ms
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 1000)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            dt = None
        if dt is not None:
            return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * 1000)
    raise _bad(f"timestamp must be RFC 3339 or epoch seconds, got {str(value)[:60]!r}")


def _values(container: object) -> list[Any]:
    """Sentry writes lists either bare or as ``{"values": [...]}``."""
    if isinstance(container, dict):
        container = container.get("values")
    return [v for v in container if isinstance(v, dict)] if isinstance(container, list) else []


def _frame(frame: dict[str, Any]) -> str:
    where = frame.get("filename") or frame.get("abs_path") or frame.get("module") or "?"
    line = f'  File "{where}", line {frame.get("lineno", "?")}, in {frame.get("function", "?")}'
    context = frame.get("context_line")
    if isinstance(context, str) and context.strip():
        line += f"\n    {context.strip()}"
    return line


def _one_exception(exc: dict[str, Any]) -> str:
    stack = exc.get("stacktrace")
    frames = _values(stack.get("frames") if isinstance(stack, dict) else None)
    lines = ["Traceback (most recent call last):", *map(_frame, frames)] if frames else []
    lines.append(_exception_line(exc))
    return "\n".join(lines)


def _exception_line(exc: dict[str, Any]) -> str:
    kind, value = str(exc.get("type") or ""), str(exc.get("value") or "")
    return f"{kind}: {value}" if kind and value else kind or value or "exception"


def format_exceptions(values: list[dict[str, Any]]) -> str:
    """The exception chain (oldest first, as Sentry orders it) like a Python traceback."""
    parts: list[str] = []
    for i, exc in enumerate(values):
        if i:
            mechanism = exc.get("mechanism") if isinstance(exc.get("mechanism"), dict) else {}
            parts.append(_CHAINED.get(str((mechanism or {}).get("source")), _NEXT))
        parts.append(_one_exception(exc))
    return "\n\n".join(parts)


def _thread_stack(event: dict[str, Any]) -> str:
    """The stack of a message event (``attach_stacktrace``): the crashed or current thread's,
    or the event's own ``stacktrace`` (older SDKs)."""
    threads = _values(event.get("threads"))
    chosen = next((t for t in threads if t.get("crashed") or t.get("current")), None)
    stack = (chosen or {}).get("stacktrace") or event.get("stacktrace")
    frames = _values(stack.get("frames") if isinstance(stack, dict) else None)
    if not frames:
        return ""
    return "\n".join(["Stack (most recent call last):", *map(_frame, frames)])


def _message(event: dict[str, Any], exceptions: list[dict[str, Any]]) -> str:
    if exceptions:
        return _exception_line(exceptions[-1])
    for entry in (event.get("logentry"), event.get("message")):
        if isinstance(entry, str) and entry:
            return entry
        if isinstance(entry, dict):
            text = entry.get("formatted") or entry.get("message")
            if isinstance(text, str) and text:
                return text
    return "(no message)"


def _tags(raw: object) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, list):  # [[key, value], ...]
        return {str(p[0]): p[1] for p in raw if isinstance(p, list) and len(p) == 2}
    return {}


def to_event(event: dict[str, Any], *, project_id: str, eid: str,
             now_ms: int) -> dict[str, Any]:
    """The Sentry event as one native ``error`` event."""
    exceptions = _values(event.get("exception"))
    tags = _tags(event.get("tags"))
    module = tags.get("module_name")
    ev: dict[str, Any] = {
        "kind": "error", "instant": _instant(event.get("timestamp"), now_ms),
        "module_name": _clip(str(module) if module else f"sentry-{project_id}", MAX_TEXT),
        "message": _clip(_message(event, exceptions), MAX_MESSAGE)}
    detail = format_exceptions(exceptions) if exceptions else _thread_stack(event)
    if detail:
        ev["detail"] = _clip_tail(detail, MAX_MESSAGE)
    attrs: dict[str, Any] = {"level": event.get("level") or "error", "event_id": eid,
                             "project_id": project_id}
    _add_context(ev, attrs, event)
    _add_user(ev, attrs, event.get("user"))
    for name in ("release", "environment", "dist", "platform", "logger"):
        if event.get(name) not in (None, ""):
            attrs[name] = event[name]
    if tags:
        attrs["tags"] = tags
    request = event.get("request")
    if isinstance(request, dict):
        attrs["request"] = {k: request[k] for k in ("url", "method") if request.get(k)}
    ev["attributes"] = attrs
    return ev


def _add_context(ev: dict[str, Any], attrs: dict[str, Any], event: dict[str, Any]) -> None:
    contexts = event.get("contexts")
    trace = contexts.get("trace") if isinstance(contexts, dict) else None
    if isinstance(trace, dict):
        if isinstance(trace.get("trace_id"), str) and trace["trace_id"]:
            ev["request_key"] = _clip(trace["trace_id"], MAX_TEXT)
        if trace.get("span_id"):
            attrs["span_id"] = trace["span_id"]
    for name, field_name in (("server_name", "server"), ("transaction", "entrypoint_name")):
        value = event.get(name)
        if isinstance(value, str) and value:
            ev[field_name] = _clip(value, MAX_TEXT)


def _add_user(ev: dict[str, Any], attrs: dict[str, Any], user: object) -> None:
    if not isinstance(user, dict):
        return
    rest = dict(user)
    for name, field_name in (("id", "user_id"), ("username", "username")):
        value = rest.pop(name, None)
        if value not in (None, ""):
            ev[field_name] = _clip(str(value), MAX_TEXT)
    if rest:
        attrs["user"] = rest


def sentry_key(auth_header: str | None) -> str | None:
    """The ``sentry_key`` of an ``X-Sentry-Auth`` header (``Sentry sentry_key=…, …``).

    >>> sentry_key("Sentry sentry_version=7, sentry_key=lc_abc, sentry_client=x/1")
    'lc_abc'
    """
    if not auth_header:
        return None
    text = auth_header.strip()
    if text[:7].lower() == "sentry ":
        text = text[7:]
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "sentry_key" and value.strip():
            return value.strip()
    return None
