"""LogcycleHandler: standard ``logging`` records as logcycle events.

One line wires it into an existing application::

    logging.getLogger().addHandler(LogcycleHandler(Logger(url, api_key)))

A record becomes a ``general`` event (``message_type`` from its level: one of the Event
Log API's three types, so every such event is an event log; a WARNING is "Information",
and ``attributes.level`` keeps the record's level name, "WARNING"); a record with
``exc_info`` becomes an ``error`` event with the formatted traceback in ``detail``.
``extra=`` fields travel in ``attributes`` (values JSON cannot hold as their repr), except
``request_key`` and the kind's own optional fields (``action_name``, ``user_id``, ...),
which become fields of the event.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from ._context import REQUEST_KEY
from ._events import KINDS
from ._logger import Logger

MESSAGE_TYPES = {
    logging.DEBUG: "Debug",
    logging.INFO: "Information",
    logging.WARNING: "Information",  # the Event Log API's types: Information, Debug, Error
    logging.ERROR: "Error",
    logging.CRITICAL: "Error",
}
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName"}
_GENERAL = KINDS["general"].optional - {"error", "message_type", "module_name"}
_ERROR = KINDS["error"].optional - {"detail", "module_name"}


def message_type(levelno: int) -> str:
    """The ``message_type`` for a logging level (between levels: the one below).

    >>> message_type(logging.WARNING), message_type(25)
    ('Information', 'Information')
    """
    if levelno >= logging.ERROR:
        return "Error"
    return "Information" if levelno >= logging.INFO else "Debug"


class LogcycleHandler(logging.Handler):
    """A ``logging.Handler`` that queues each record on ``logger`` (never blocks)."""

    def __init__(self, logger: Logger, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        """Queue ``record`` as a ``general`` or (with exc_info) an ``error`` event."""
        try:
            if record.exc_info or record.exc_text:
                self.logger._put_event("error", self._error_fields(record))
            else:
                self.logger._put_event("general", self._general_fields(record))
        except Exception:
            self.handleError(record)

    def _general_fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "instant": int(record.created * 1000),
            "message": record.getMessage(),
            "message_type": MESSAGE_TYPES.get(record.levelno) or message_type(record.levelno),
            "module_name": record.name,
        }
        self._add_extra(fields, record, _GENERAL)
        fields.setdefault("attributes", {}).setdefault("level", record.levelname)
        if record.stack_info:
            fields.setdefault("attributes", {})["stack_info"] = record.stack_info
        return fields

    def _error_fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "instant": int(record.created * 1000),
            "message": record.getMessage(),
            "module_name": record.name,
            "detail": self._traceback(record),
        }
        self._add_extra(fields, record, _ERROR)
        attributes = fields.setdefault("attributes", {})
        attributes.setdefault("level", record.levelname)
        return fields

    def _traceback(self, record: logging.LogRecord) -> str:
        if record.exc_text:
            text = record.exc_text
        else:
            assert record.exc_info is not None
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.stack_info:
            text = f"{text}\n{record.stack_info}"
        return text

    def _add_extra(self, fields: dict[str, Any], record: logging.LogRecord,
                   known: frozenset[str]) -> None:
        attributes: dict[str, Any] = {}
        for name, value in record.__dict__.items():
            if name in _STANDARD:
                continue
            if name in known:
                fields[name] = value
            else:
                attributes[name] = value
        if "request_key" not in fields:
            key = REQUEST_KEY.get()
            if key is not None:
                fields["request_key"] = key
        if attributes:
            fields["attributes"] = attributes
