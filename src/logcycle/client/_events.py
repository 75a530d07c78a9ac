"""What the client knows of the kinds of log, and how a queued call becomes an event.

A log call puts a cheap tuple on the queue; the worker turns it into the JSON object the
server takes (`to_event`). Fields a kind does not know go into its ``attributes`` object,
so no call loses data to a field name the server would reject.

>>> to_event((GENERIC, "general", {"instant": 1, "message": "hi", "shard": 3}))
{'kind': 'general', 'instant': 1, 'message': 'hi', 'attributes': {'shard': 3}}
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidEventError

# Tags of the tuples on the queue (first element); the rest of a tuple depends on its tag.
ERROR = 0  # (ERROR, message, module_name, instant, request_key, detail, fields)
GENERIC = 1  # (GENERIC, kind, fields)
RECORD = 2  # (RECORD, entity, record)
MARKER = 3  # (MARKER, threading.Event): set once everything queued before it is done
REQUEST_EVENT = 4  # (REQUEST_EVENT, instant, request_key, event_name, module_key,
#                     module_name, application_key, application_name, details)

ENTITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_NUMBER_TYPES = (int, float)


@dataclass(frozen=True, slots=True)
class KindSpec:
    """The field names of one kind: those it requires and those it also knows."""

    required: tuple[str, ...]
    optional: frozenset[str]

    def knows(self, name: str) -> bool:
        """True when ``name`` is a top-level field of this kind."""
        return name in self.optional or name in self.required or name == "attributes"


def _spec(required: str, optional: str) -> KindSpec:
    return KindSpec(tuple(required.split()), frozenset(optional.split()))


# CONTRACT section 3; tests/client/test_events.py checks it against the server's table.
KINDS: dict[str, KindSpec] = {
    "screen": _spec(
        "instant duration_ms screen request_key",
        "module_name application_name application_key session_id user_id client_ip "
        "screen_type action_name access_mode executed_by"),
    "integration": _spec(
        "instant duration_ms is_expose endpoint",
        "type source action request_key module_name application_name executed_by error"),
    "mobile_request": _spec(
        "instant duration_ms request_key",
        "screen endpoint source login_id user_id module_name application_name error"),
    "cyclic_job": _spec(
        "instant duration_ms cyclic_job_name request_key",
        "cyclic_job_key should_have_run_at next_run executed_by module_name error"),
    "error": _spec(
        "instant module_name message",
        "request_key detail action_name entrypoint_name server environment_information "
        "user_id session_id username fingerprint"),
    "general": _spec(
        "instant message",
        "message_type module_name request_key action_name duration_ms client_ip src stream "
        "msg error"),
    "extension": _spec(
        "instant duration_ms extension_name action_name",
        "request_key user_id session_id executed_by module_name error"),
    "request_event": _spec(
        "instant request_key request_event_name module_key module_name application_key "
        "application_name",
        "request_event_details"),
}


def now_ms() -> int:
    """Now, in integer epoch milliseconds."""
    return time.time_ns() // 1_000_000


def instant_value(value: object) -> int | str:
    """An ``instant`` as the server takes it: epoch ms (int), or an ISO 8601 string.

    >>> instant_value(1700000000123.9), instant_value("2026-01-02T03:04:05+00:00")
    (1700000000123, '2026-01-02T03:04:05+00:00')
    """
    if type(value) is int or type(value) is str:
        return value
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)  # a naive datetime is local time, as in Python
    if isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool):
        return int(value)
    raise InvalidEventError(f"instant must be epoch ms, a datetime or a string, not {value!r}")


def to_event(item: tuple[Any, ...]) -> dict[str, Any]:
    """The JSON object for one queued call (not a record nor a marker).

    Raises InvalidEventError when the call can never make a valid event.
    """
    tag = item[0]
    if tag == ERROR:
        return _error_event(item)
    if tag == REQUEST_EVENT:
        return _request_event(item)
    return build_event(item[1], item[2])


def build_event(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` as an event of ``kind``: checked, instant set, unknown names in attributes.

    >>> build_event("error", {"instant": 5, "module_name": "m", "message": "x", "detail": None})
    {'kind': 'error', 'instant': 5, 'module_name': 'm', 'message': 'x'}
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidEventError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    event: dict[str, Any] = {"kind": kind}
    extra: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if spec.knows(name):
            event[name] = value
        else:
            extra[name] = value
    event["instant"] = instant_value(event["instant"]) if "instant" in event else now_ms()
    for name in spec.required:
        if name not in event:
            raise InvalidEventError(f"a {kind} event needs {name}")
    if extra:
        _merge_attributes(event, extra)
    return event


def _merge_attributes(event: dict[str, Any], extra: dict[str, Any]) -> None:
    given = event.get("attributes")
    if given is None:
        event["attributes"] = extra
    elif isinstance(given, Mapping):
        event["attributes"] = {**given, **extra}
    else:
        raise InvalidEventError("attributes must be a JSON object (a dict)")


def _error_event(item: tuple[Any, ...]) -> dict[str, Any]:
    _, message, module_name, instant, request_key, detail, fields = item
    check_error_args(message, module_name)
    event: dict[str, Any] = {
        "kind": "error",
        "instant": instant if type(instant) is int else instant_value(instant),
        "module_name": module_name,
        "message": message,
    }
    if request_key is not None:
        event["request_key"] = request_key
    if detail is not None:
        event["detail"] = detail
    if fields:
        _add_fields(event, KINDS["error"], fields)
    return event


def _add_fields(event: dict[str, Any], spec: KindSpec, fields: dict[str, Any]) -> None:
    extra = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in spec.optional or name == "attributes":
            event[name] = value
        else:
            extra[name] = value
    if extra:
        _merge_attributes(event, extra)


def _request_event(item: tuple[Any, ...]) -> dict[str, Any]:
    _, instant, request_key, name, module_key, module_name, app_key, app_name, details = item
    check_request_event_args(request_key, name, module_key, module_name, app_key, app_name,
                             details)
    event: dict[str, Any] = {
        "kind": "request_event",
        "instant": instant if type(instant) is int else instant_value(instant),
        "request_key": request_key,
        "request_event_name": name,
        "module_key": module_key,
        "module_name": module_name,
        "application_key": app_key,
        "application_name": app_name,
    }
    if details is not None:
        event["request_event_details"] = details
    return event


def check_error_args(message: object, module_name: object) -> None:
    """Raise InvalidEventError unless ``message`` and ``module_name`` are strings."""
    if not isinstance(message, str):
        raise InvalidEventError(f"message must be a str, not {type(message).__name__}")
    if not isinstance(module_name, str):
        raise InvalidEventError(f"module_name must be a str, not {type(module_name).__name__}")


def check_request_event_args(*args: object) -> None:
    """Raise InvalidEventError unless the six keys/names are strings and details a dict."""
    names = ("request_key", "request_event_name", "module_key", "module_name",
             "application_key", "application_name")
    for name, value in zip(names, args, strict=False):
        if not isinstance(value, str):
            raise InvalidEventError(f"{name} must be a str, not {type(value).__name__}")
    details = args[-1]
    if details is not None and not isinstance(details, Mapping):
        raise InvalidEventError("request_event_details must be a dict (a JSON object)")


def check_record(entity: object, record: object) -> None:
    """Raise InvalidEventError unless ``entity`` is a valid entity name and ``record`` a dict."""
    if not isinstance(entity, str) or ENTITY_NAME.fullmatch(entity) is None:
        raise InvalidEventError(f"entity must match [a-z][a-z0-9_]{{0,62}}, not {entity!r}")
    if not isinstance(record, Mapping):
        raise InvalidEventError(f"a record must be a dict, not {type(record).__name__}")
