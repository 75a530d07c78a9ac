"""Filters of the native event query, and the opaque keyset token.

>>> decode_token(encode_token(42))
42
>>> like_pattern("50%_off")
'%50\\\\%\\\\_off%'
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from logcycle.errors import BadRequest
from logcycle.kinds import KIND_NAMES, KINDS
from logcycle.query import compile as qc
from logcycle.query.lang import Query
from logcycle.store.search import escape_like


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """What to list. Ranges bound ``insert_instant`` (epoch ms, inclusive)."""

    kinds: tuple[str, ...] = KIND_NAMES
    q: str | None = None  # substring of `message`, case-insensitive
    wildcard: bool = False  # `q` is a pattern: `*` matches any run (see like_pattern)
    start: int | None = None
    end: int | None = None
    request_key: str | None = None
    src: str | None = None
    stream: str | None = None
    message_type: str | None = None
    module_name: str | None = None
    query: Query | None = None  # the query language (docs/query.md), ANDed with the rest

    def equalities(self) -> list[tuple[str, str]]:
        """(column, value) pairs that must match exactly."""
        pairs = [("request_key", self.request_key), ("src", self.src), ("stream", self.stream),
                 ("message_type", self.message_type), ("module_name", self.module_name)]
        return [(c, v) for c, v in pairs if v is not None]

    def searched_kinds(self) -> tuple[str, ...]:
        """The kinds that have every column this filter needs."""
        need = [c for c, _ in self.equalities()] + (["message"] if self.q is not None else [])
        return tuple(k for k in self.kinds if all(c in KINDS[k].columns for c in need)
                     and (self.query is None or qc.possible(self.query, k)))


def parse_kinds(value: str | None) -> tuple[str, ...]:
    """``error,general`` → ('error', 'general'); unknown names are a 400."""
    if not value:
        return KIND_NAMES
    kinds = tuple(dict.fromkeys(k.strip() for k in value.split(",") if k.strip()))
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise BadRequest(f"unknown kind {bad[0]!r}: one of {', '.join(KIND_NAMES)}",
                         code="invalid_parameter")
    return kinds


def like_pattern(text: str, *, wildcards: bool = False) -> str:
    """A LIKE pattern (escape ``\\``) for a substring, or for a ``*`` wildcard pattern."""
    esc = escape_like(text)
    if wildcards and "*" in esc:
        return esc.replace("*", "%")
    return f"%{esc}%"


def encode_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1.{last_id}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, _, value = raw.partition(".")
        if version != "v1" or not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("invalid `after` token: pass the `next` value of the previous page "
                         "unchanged", code="invalid_parameter") from None
