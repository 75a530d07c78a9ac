"""What the worker does with each server answer: one small decision per status.

>>> decide(Reply(200, b'{"ids": [1]}'), attempts=0).action
'ok'
>>> decide(Reply(503, b"", retry_after=2.0), attempts=0)
Decision(action='retry', delay=2.0, reason='503', rejected={})
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from ._transport import Reply

Action = Literal["ok", "retry", "split", "partial", "drop"]
MAX_SERVER_ERROR_RETRIES = 3  # a 500 that persists is likely this batch's fault
_RETRY_ALWAYS = {408, 429, 502, 503, 504}  # overload or a proxy without its backend


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a batch after an answer.

    ``retry``: send again after ``delay`` seconds (None: the worker's back-off);
    ``split``: send each half; ``partial``: drop the items of ``rejected`` (index → field)
    and send the rest; ``drop``: count the whole batch lost for ``reason``.
    """

    action: Action
    delay: float | None = None
    reason: str = ""
    rejected: dict[int, str] = field(default_factory=dict)


def decide(reply: Reply, *, attempts: int) -> Decision:
    """The decision for ``reply`` to a batch already tried ``attempts`` times before."""
    status = reply.status
    if 200 <= status < 300:
        return Decision("ok")
    if status in _RETRY_ALWAYS:
        return Decision("retry", reply.retry_after, str(status))
    if status == 413:
        return Decision("split", reason="too_large")
    if status == 400:
        return _bad_request(reply.body)
    if status in (401, 403):
        return Decision("drop", reason="unauthorized")
    if status == 404 and _error_code(reply.body) == "unknown_entity":
        return Decision("drop", reason="unknown_entity")
    if status >= 500:
        if attempts < MAX_SERVER_ERROR_RETRIES:
            return Decision("retry", reply.retry_after, str(status))
        return Decision("drop", reason="server_error")
    return Decision("drop", reason="rejected", rejected={-1: f"http_{status}"})


def _bad_request(body: bytes) -> Decision:
    error = _error(body)
    found: dict[int, str] = {}
    for item in error.get("errors") or ():
        if isinstance(item, dict) and type(item.get("index")) is int:
            found.setdefault(item["index"], str(item.get("field") or "event"))
    if found:
        return Decision("partial", reason="rejected", rejected=found)
    return Decision("drop", reason="rejected", rejected={-1: str(error.get("code") or "400")})


def _error(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _error_code(body: bytes) -> str | None:
    code = _error(body).get("code")
    return code if isinstance(code, str) else None


def error_text(reply: Reply) -> str:
    """A one-line account of a failed answer, for ClientStats.last_error and stderr."""
    error = _error(reply.body)
    message = error.get("message") or error.get("code") or \
        reply.body[:200].decode("utf-8", "replace")
    return f"HTTP {reply.status}: {message}".strip().rstrip(":")
