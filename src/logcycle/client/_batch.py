"""A batch: the body of one request, its Idempotency-Key, and who waits for it.

Bodies are JSON arrays encoded by the standard library in one call per batch; values JSON
cannot hold travel as text (datetimes in ISO 8601, other objects as their ``repr``).

>>> body, bad = encode([{"a": 1}, {"b": float("nan")}])
>>> body, bad
(b'[{"a":1}]', [1])
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any


def _text(value: object) -> object:
    """JSON stand-in for a value the encoder does not know."""
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return repr(value)


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_text)
_encode = _ENCODER.encode


@dataclass(slots=True, eq=False)
class Batch:
    """One request to make: ``count`` items for ``path`` under one Idempotency-Key."""

    path: str  # "/api/v1/events" or "/api/v1/records/<entity>"
    key: str  # Idempotency-Key, kept across retries and spool replays
    count: int
    body: bytes | None  # the JSON array; None while it is only on disk
    size: int = 0  # len(body)
    segment: str | None = None  # the spool file holding it, if any
    markers: list[threading.Event] = field(default_factory=list)
    gzipped: bytes | None = None  # the compressed body, kept for retries
    attempts: int = 0  # requests made for it so far

    def done(self) -> None:
        """Wake every flush() waiting for this batch."""
        for marker in self.markers:
            marker.set()
        self.markers.clear()


def encode(items: list[dict[str, Any]]) -> tuple[bytes, list[int]]:
    """The JSON array of ``items`` and the indexes of those that cannot be JSON (left out)."""
    try:
        return _encode(items).encode("ascii"), []
    except (TypeError, ValueError, RecursionError):
        pass
    parts: list[str] = []
    bad: list[int] = []
    for index, item in enumerate(items):
        try:
            parts.append(_encode(item))
        except (TypeError, ValueError, RecursionError):
            bad.append(index)
    return ("[" + ",".join(parts) + "]").encode("ascii"), bad


def decode(body: bytes) -> list[Any]:
    """The items of a body made by `encode` (used only on the rare paths: 400 and 413)."""
    items = json.loads(body)
    if not isinstance(items, list):
        raise ValueError("a batch body must be a JSON array")
    return items


def halves(batch: Batch, body: bytes) -> list[tuple[str, list[Any]]]:
    """The two halves of ``batch`` with their own, deterministic, keys (after a 413)."""
    items = decode(body)
    middle = len(items) // 2
    return [(f"{batch.key}.1", items[:middle]), (f"{batch.key}.2", items[middle:])]


def without(batch: Batch, body: bytes, indexes: set[int]) -> tuple[str, list[Any]]:
    """``batch`` less the items at ``indexes``, under a deterministic new key (after a 400)."""
    items = [item for i, item in enumerate(decode(body)) if i not in indexes]
    return f"{batch.key}.r", items
