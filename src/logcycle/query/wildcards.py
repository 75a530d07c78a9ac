"""Message patterns: the Event Log API's ``*`` wildcards and the native API's substring.

>>> wildcard_pattern("disk")
MessagePattern(like='%disk%', literals=('disk',))
>>> wildcard_pattern("Lambda*result 50%")
MessagePattern(like='Lambda%result 50\\\\%', literals=('Lambda', 'result 50%'))
>>> wildcard_pattern("**") is None
True
"""

from __future__ import annotations

from logcycle.store.search import MessagePattern, escape_like


def substring_pattern(text: str) -> MessagePattern:
    """Messages that contain ``text`` (case-insensitive)."""
    return MessagePattern(f"%{escape_like(text)}%", (text,) if text else ())


def wildcard_pattern(text: str) -> MessagePattern | None:
    """The Event Log rule: ``*`` matches any run of characters and the pattern spans the
    whole message; a pattern without ``*`` is read as ``*text*``. None when it matches
    every message (empty, or only ``*``)."""
    if "*" not in text:
        return substring_pattern(text) if text else None
    literals = tuple(part for part in text.split("*") if part)
    if not literals:
        return None
    # Consecutive stars give "%%", which LIKE reads as one "%".
    return MessagePattern("%".join(escape_like(part) for part in text.split("*")), literals)
