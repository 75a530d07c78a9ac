"""HTTP helpers shared by the routes: orjson responses, bounded body reading (with gzip),
and query-parameter parsing that names the bad parameter.

>>> parse_instant("1700000000000", "start")
1700000000000
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import brotli
import orjson
from starlette.requests import Request
from starlette.responses import Response

from logcycle.errors import BadRequest, FieldError, LogcycleError, TooLarge


class JSON(Response):
    """A JSON response encoded with orjson (about 10x faster than the json module)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class UnsupportedMedia(LogcycleError):
    status = 415
    code = "unsupported_media_type"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes after gzip, deflate or brotli decoding;
    413 beyond."""
    declared = request.headers.get("content-length")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "deflate", "br", ""):
        raise UnsupportedMedia(f"Content-Encoding {encoding!r} is not supported: use gzip, "
                               "deflate, br or none")
    too_large = TooLarge(f"the request body is larger than the limit of {limit} bytes: "
                         "send smaller batches", code="body_too_large")
    if declared is not None and is_digits(declared) and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    if encoding == "gzip":
        body = _inflate(body, limit, too_large, wbits=31)
    elif encoding == "deflate":
        # RFC 9110's deflate is zlib-wrapped; some clients send it raw: the first two bytes
        # tell which (a zlib header names method 8 and is a multiple of 31).
        zlib_wrapped = (len(body) >= 2 and body[0] & 0x0F == 8
                        and (body[0] << 8 | body[1]) % 31 == 0)
        body = _inflate(body, limit, too_large, wbits=15 if zlib_wrapped else -15,
                        name="deflate")
    elif encoding == "br":  # sentry-sdk sends brotli whenever the module is installed
        body = _unbrotli(body, limit, too_large)
    return body


def _unbrotli(data: bytes, limit: int, too_large: TooLarge) -> bytes:
    d = brotli.Decompressor()
    try:
        out: bytes = d.process(data, output_buffer_limit=limit + 1)
    except brotli.error as exc:
        raise BadRequest(f"the br body is corrupt: {exc}", code="invalid_br") from None
    if len(out) > limit:
        raise too_large
    if not d.is_finished():
        raise BadRequest("the br body is truncated", code="invalid_br")
    return out


def _inflate(data: bytes, limit: int, too_large: TooLarge, *, wbits: int,
             name: str = "gzip") -> bytes:
    d = zlib.decompressobj(wbits=wbits)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"the {name} body is corrupt: {exc}", code=f"invalid_{name}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise too_large
    if not d.eof:
        raise BadRequest(f"the {name} body is truncated", code=f"invalid_{name}")
    return out


def is_digits(text: str) -> bool:
    """Only ASCII digits: ``str.isdigit`` alone accepts ``'²'``, which ``int()`` refuses."""
    return text.isascii() and text.isdigit()


def check_params(params: Mapping[str, str], allowed: Iterable[str]) -> None:
    """400 naming the first query parameter that the route does not know."""
    known = set(allowed)
    for name in params:
        if name not in known:
            raise BadRequest(f"unknown query parameter {name!r}; known: "
                             f"{', '.join(sorted(known))}", code="invalid_parameter",
                             errors=[FieldError(field=name, message="unknown parameter")])


def parse_int(value: str | None, name: str, *, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise _param(name, f"must be an integer, got {value[:40]!r}") from None
    if not lo <= n <= hi:
        raise _param(name, f"must be between {lo} and {hi}, got {n}")
    return n


# 9999-12-29T23:59:59.999Z: the calendar ends two days later, in any time zone.
MAX_INSTANT_MS = 253_402_127_999_999


def parse_instant(value: str | None, name: str) -> int | None:
    """Epoch ms (digits) or ISO 8601 with an offset, from 1970 to the year 9999."""
    if value is None or value == "":
        return None
    if is_digits(value):
        ms = int(value) if len(value) <= 18 else MAX_INSTANT_MS + 1
    else:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise _param(name, "must be epoch milliseconds or ISO 8601 with an offset, got "
                         f"{value[:40]!r}") from None
        if dt.tzinfo is None:
            raise _param(name, f"ISO 8601 instant {value[:40]!r} needs a UTC offset (e.g. Z)")
        try:
            ms = int(dt.timestamp() * 1000)
        except (OverflowError, ValueError):
            ms = -1
    if not 0 <= ms <= MAX_INSTANT_MS:
        raise _param(name, f"{value[:40]!r} is outside 1970 to 9999")
    return ms


def parse_text(value: str | None, name: str, *, max_len: int = 1024) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > max_len:
        raise _param(name, f"longer than {max_len} characters")
    return value


def _param(name: str, message: str) -> BadRequest:
    return BadRequest(f"{name}: {message}", code="invalid_parameter",
                      errors=[FieldError(field=name, message=message)])
