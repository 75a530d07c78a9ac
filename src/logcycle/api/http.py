"""HTTP helpers shared by the routes: orjson responses, bounded body reading (with gzip),
and query-parameter parsing that names the bad parameter.

>>> parse_instant("1700000000000", "start")
1700000000000
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from logcycle.errors import BadRequest, FieldError, LogcycleError, TooLarge

# Every JSON answer of the APIs: never cached (it holds the data of a key), never sniffed
# as another type.
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
log = logging.getLogger("logcycle.api")


class JSON(Response):
    """A JSON response encoded with orjson (about 10x faster than the json module)."""

    media_type = "application/json"

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        super().init_headers({**API_HEADERS, **(headers or {})})

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class UnsupportedMedia(LogcycleError):
    status = 415
    code = "unsupported_media_type"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes after gzip decoding; 413 beyond."""
    declared = request.headers.get("content-length")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise UnsupportedMedia(f"Content-Encoding {encoding!r} is not supported: use gzip "
                               "or none")
    too_large = TooLarge(f"the request body is larger than the limit of {limit} bytes: "
                         "send smaller batches", code="body_too_large")
    if declared is not None and is_digits(declared) and int(declared) > limit:
        await _discard(request, int(declared) if len(declared) < 19 else MAX_DISCARD + 1)
        raise too_large
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                await _discard(request, None)
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:
        # One line, not two tracebacks (the error handler's and uvicorn's): it is the
        # client's doing, and nothing of the request was stored.
        log.info("%s %s: the client went away after %d bytes of its body (or its body "
                 "took too long); nothing stored", request.method, request.url.path, total)
        raise BadRequest("the connection closed before the whole body arrived",
                         code="client_disconnected") from None
    body = b"".join(chunks)
    if encoding == "gzip":
        body = _gunzip(body, limit, too_large)
    return body


GZIP_MAGIC = b"\x1f\x8b"


# The most of an over-limit body read (and dropped) before the 413 is sent: a client that
# sends its whole body before reading (urllib with Connection: close) would otherwise get
# a reset when the server closes with its data unread. Beyond this, the answer is sent
# at once and the connection closed. The body timeout (connections.py) bounds the time.
MAX_DISCARD = 64 * 1024 * 1024


async def _discard(request: Request, declared: int | None) -> None:
    """Read and drop the rest of the body, up to MAX_DISCARD bytes."""
    if declared is not None and declared > MAX_DISCARD:
        return
    dropped = 0
    with contextlib.suppress(ClientDisconnect):
        async for chunk in request.stream():
            dropped += len(chunk)
            if dropped > MAX_DISCARD:
                return


def _gunzip(data: bytes, limit: int, too_large: TooLarge) -> bytes:
    """Every member of a gzip stream (RFC 1952 allows several, one after another), at
    most ``limit`` bytes in all; anything after the last member but another member is a
    400, never silently dropped."""
    out: list[bytes] = []
    total = 0
    rest = data
    while True:
        d = zlib.decompressobj(wbits=31)
        try:
            chunk = d.decompress(rest, limit + 1 - total)  # always >= 1: 0 means unbounded
        except zlib.error as exc:
            raise BadRequest(f"the gzip body is corrupt: {exc}", code="invalid_gzip") from None
        total += len(chunk)
        if total > limit or d.unconsumed_tail:
            raise too_large
        if not d.eof:
            raise BadRequest("the gzip body is truncated", code="invalid_gzip")
        out.append(chunk)
        rest = d.unused_data
        if not rest:
            return b"".join(out)
        if not rest.startswith(GZIP_MAGIC):
            raise BadRequest(f"the gzip body has {len(rest)} bytes of trailing data after "
                             "its last member", code="invalid_gzip")


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
    if "\x00" in value:  # stored text holds none (NUL is stored as U+FFFD)
        raise _param(name, "must not contain a NUL character")
    return value


def _param(name: str, message: str) -> BadRequest:
    return BadRequest(f"{name}: {message}", code="invalid_parameter",
                      errors=[FieldError(field=name, message=message)])
