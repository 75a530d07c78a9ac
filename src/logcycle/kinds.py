"""The kinds of log and their fields (CONTRACT section 3): one table drives validation,
the SQL schema and the API's field lists.

>>> KINDS["error"].required
('instant', 'module_name', 'message')
>>> KINDS["integration"].columns[:4]
('id', 'insert_instant', 'instant', 'duration_ms')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    """How a field is validated and stored."""

    TEXT = "text"  # short string, at most MAX_TEXT characters
    LONG = "long"  # message-sized string, at most MAX_MESSAGE characters
    INSTANT = "instant"  # epoch ms, or ISO 8601 with offset; stored as epoch ms
    NUMBER = "number"  # finite, >= 0 (durations)
    BOOL = "bool"
    JSON = "json"  # any JSON value, kept as JSON text
    OBJECT = "object"  # a JSON object, kept as JSON text
    ERROR = "error"  # an inline error event, stored apart and linked by error_id


_JSONISH = (FieldType.JSON, FieldType.OBJECT)
_APART = (FieldType.JSON, FieldType.OBJECT, FieldType.ERROR)

MAX_TEXT = 1024
MAX_MESSAGE = 65536
MAX_JSON_BYTES = 65536
MAX_JSON_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    required: bool = False


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of log: its level and its fields, in column order."""

    name: str
    top_level: bool  # `integration` is top-level only when is_expose is true
    fields: tuple[Field, ...]
    # Computed once: read for every event on the write path.
    has_error: bool = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "has_error",
                           any(f.type is FieldType.ERROR for f in self.fields))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by name (a protocol worker's rows, ingest/offload.py): the other side has
        # the same Kind object, which the write path compares by identity.
        return (kind_named, (self.name,))

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @property
    def data_fields(self) -> tuple[Field, ...]:
        """Fields stored as their own column (everything but the inline error), in column
        order: plain fields first, JSON fields after them (the write path handles those
        apart)."""
        plain = [f for f in self.fields if f.type not in _APART]
        return tuple(plain + [f for f in self.fields if f.type in _JSONISH])

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of ``oslog_<kind>_N``, in order."""
        cols = ["id", "insert_instant", *(f.name for f in self.data_fields)]
        if self.has_error:
            cols.append("error_id")
        cols.append("attributes")
        return tuple(cols)

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


T, L, I, N, B, J, O, E = (  # noqa: E741  # one-letter names keep the kinds table readable
    FieldType.TEXT,
    FieldType.LONG,
    FieldType.INSTANT,
    FieldType.NUMBER,
    FieldType.BOOL,
    FieldType.JSON,
    FieldType.OBJECT,
    FieldType.ERROR,
)


def _kind(name: str, top: bool, required: list[tuple[str, FieldType]],
          optional: list[tuple[str, FieldType]]) -> Kind:
    fields = [Field(n, t, True) for n, t in required] + [Field(n, t) for n, t in optional]
    return Kind(name, top, tuple(fields))


def _texts(*names: str) -> list[tuple[str, FieldType]]:
    return [(n, T) for n in names]


ERROR_KIND = _kind(
    "error", False,
    [("instant", I), ("module_name", T), ("message", L)],
    [("request_key", T), ("detail", L), *_texts(
        "action_name", "entrypoint_name", "server"), ("environment_information", L),
     *_texts("user_id", "session_id", "username", "fingerprint")],
)

_ALL = [
    _kind("screen", True,
          [("instant", I), ("duration_ms", N), ("screen", T), ("request_key", T)],
          _texts("module_name", "application_name", "application_key", "session_id",
                 "user_id", "client_ip", "screen_type", "action_name", "access_mode",
                 "executed_by")),
    _kind("integration", True,
          [("instant", I), ("duration_ms", N), ("is_expose", B), ("endpoint", T)],
          [*_texts("type", "source", "action", "request_key", "module_name",
                   "application_name", "executed_by"), ("error", E)]),
    _kind("mobile_request", True,
          [("instant", I), ("duration_ms", N), ("request_key", T)],
          [*_texts("screen", "endpoint", "source", "login_id", "user_id", "module_name",
                   "application_name"), ("error", E)]),
    _kind("cyclic_job", True,
          [("instant", I), ("duration_ms", N), ("cyclic_job_name", T), ("request_key", T)],
          [("cyclic_job_key", T), ("should_have_run_at", I), ("next_run", I),
           *_texts("executed_by", "module_name"), ("error", E)]),
    ERROR_KIND,
    _kind("general", False,
          [("instant", I), ("message", L)],
          [*_texts("message_type", "module_name", "request_key", "action_name"),
           ("duration_ms", N), *_texts("client_ip", "src", "stream"), ("msg", J), ("error", E)]),
    _kind("extension", False,
          [("instant", I), ("duration_ms", N), ("extension_name", T), ("action_name", T)],
          [*_texts("request_key", "user_id", "session_id", "executed_by", "module_name"),
           ("error", E)]),
    _kind("request_event", False,
          [("instant", I), *_texts("request_key", "request_event_name", "module_key",
                                   "module_name", "application_key", "application_name")],
          [("request_event_details", O)]),
]

KINDS: dict[str, Kind] = {k.name: k for k in _ALL}


def kind_named(name: str) -> Kind:
    """The kind called ``name`` (unpickling)."""
    return KINDS[name]

KIND_NAMES: tuple[str, ...] = tuple(KINDS)
# Kinds whose `message` column is searched by `q` and by the Event Log API.
MESSAGE_KINDS: tuple[str, ...] = ("error", "general")


def is_top_level(kind: str, event: dict[str, object]) -> bool:
    """True for the events that open a request (seed 001's "top-level" logs)."""
    if kind == "integration":
        return bool(event.get("is_expose"))
    return KINDS[kind].top_level
