"""Records checked and encoded before they reach the writer: what could fail inside a
shared group commit (a value JSON cannot hold, a number a column cannot hold) is a 400
for the one request that sent it.

>>> encode_record({"amount": 12.5}, {"amount": "real"}, 0)
('{"amount":12.5}', 12.5)
"""

from __future__ import annotations

from typing import Any

import orjson

from logcycle.errors import BadRequest, FieldError

INT64 = 2**63


def encode_record(record: dict[str, Any], columns: dict[str, str],
                  index: int) -> tuple[Any, ...]:
    """``(data as JSON text, value of each typed column...)``; a 400 naming the record."""
    try:
        data = orjson.dumps(record).decode()
    except TypeError as exc:  # e.g. an integer beyond 64 bits, or nesting past 255
        raise BadRequest(f"record {index}: {exc}", code="invalid_record",
                         errors=[FieldError(field="record", index=index,
                                            message=str(exc))]) from None
    return (data, *(coerce(record.get(c), t, index, c) for c, t in columns.items()))


def coerce(value: Any, typ: str, index: int, column: str) -> Any:
    """A record's value for a typed column, or a 400 naming the record and column."""
    if value is None:
        return None
    ok = {
        "text": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "real": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "json": True,
    }[typ]
    if not ok:
        raise _bad(index, column, f"expected {typ}, got {type(value).__name__}")
    if typ == "integer" and not -INT64 <= value < INT64:
        raise _bad(index, column, "integer out of the 64-bit range")
    if typ == "real" and isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            raise _bad(index, column, "number out of the range of a real") from None
    return orjson.dumps(value).decode() if typ == "json" else value


def _bad(index: int, column: str, message: str) -> BadRequest:
    return BadRequest(f"record {index}: {column}: {message}", code="invalid_record",
                      errors=[FieldError(field=column, index=index, message=message)])
