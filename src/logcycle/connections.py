"""Hostile connections, handled at the edge: uvicorn's httptools protocol with the limits
it lacks (issue 16).

    protocol = guarded_protocol(Limits(max_connections=2048))
    uvicorn.run(app, http=protocol)

- **Header size and count**: more than ``max_header_bytes`` before the end of the header
  section, or more than ``max_headers`` header lines, is answered ``431`` and the
  connection closed, before httptools buffers it (it concatenates a long header in
  memory: 64 MB took 8 s and froze the loop).
- **Slow headers** (slowloris): a request's headers must be complete within
  ``header_timeout_s`` of the connection (or of the previous response): else ``408`` and
  close. Idle keep-alive connections are closed by uvicorn's ``timeout_keep_alive``.
- **Slow or endless bodies**: a request's body must be complete within
  ``body_timeout_s`` of its headers, whether the route reads it or not: else ``408`` (if
  no answer was started) and close.
- **Too many connections**: at ``max_connections`` open, a new connection closes the
  connection that has been idle longest (no request in progress: it has sent nothing,
  part of a header, or is between requests), and is refused (reset) only when every
  connection is in a request. So idle sockets cannot lock out a real client, and the
  process never runs out of file descriptors (:func:`fd_budget`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("logcycle.connections")
FD_RESERVE = 128  # files the process keeps for itself: the store, logs, the listener


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    max_connections: int = 2048
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0


def fd_budget(wanted: int) -> int:
    """Raise this process's open-file limit to its hard limit, and return the number of
    connections it can hold: ``wanted``, or fewer if the limit would not allow them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted + FD_RESERVE)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(1, min(wanted, soft - FD_RESERVE))


def _response(status: int, reason: str, message: str) -> bytes:
    body = message.encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class _Idle:
    """The connections of one server without a request in progress, oldest first."""

    def __init__(self) -> None:
        self.order: dict[GuardedProtocol, None] = {}
        self.refused = 0

    def add(self, p: GuardedProtocol) -> None:
        self.order.pop(p, None)
        self.order[p] = None

    def discard(self, p: GuardedProtocol) -> None:
        self.order.pop(p, None)

    def evict(self) -> bool:
        """Close the connection idle longest; False when there is none."""
        for p in self.order:
            del self.order[p]
            p.transport.close()
            return True
        return False


class GuardedProtocol(HttpToolsProtocol):
    limits = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        idle = getattr(self.server_state, "logcycle_idle", None)
        if idle is None:
            idle = _Idle()
            self.server_state.logcycle_idle = idle  # type: ignore[attr-defined]
        self._idle: _Idle = idle
        self._in_headers = True
        self._header_room = self.limits.max_header_bytes
        self._header_lines = 0
        self._tail = b""
        self._got_bytes = False
        self._deadline: asyncio.TimerHandle | None = None
        self._accepted = False

    # -- connections ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections and not self._idle.evict():
            self._idle.refused += 1
            if self._idle.refused in (1, 10, 100) or self._idle.refused % 1000 == 0:
                log.warning("refused %d connections: %d are open, all in a request "
                            "(--max-connections)", self._idle.refused, len(self.connections))
            self.transport = transport
            transport.abort()
            return
        super().connection_made(transport)
        self._accepted = True
        self._idle.add(self)
        self._arm(self.limits.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._idle.discard(self)
        self._disarm()
        if self._accepted:
            super().connection_lost(exc)

    # -- deadlines --------------------------------------------------------------------
    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, what: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        seconds = (self.limits.header_timeout_s if what == "headers"
                   else self.limits.body_timeout_s)
        cycle = self.cycle if what == "body" else None
        answered = cycle is not None and cycle.response_started
        if cycle is not None:
            cycle.disconnected = True  # the route's receive() ends; its answer is dropped
            cycle.message_event.set()
        if (what == "body" or self._got_bytes) and not answered:
            self.transport.write(_response(408, "Request Timeout",
                                           f"the request {what} did not arrive within "
                                           f"{seconds:g} s"))
        self.transport.close()

    # -- header limits ----------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            self._got_bytes = True
            if not self._headers_fit(data):
                return
        super().data_received(data)

    def _headers_fit(self, data: bytes) -> bool:
        """Count this chunk against the header limits (up to the header section's end,
        if it is in this chunk); answer 431 and close when over."""
        window = self._tail + data
        end = window.find(b"\r\n\r\n")
        part = window if end < 0 else window[:end]
        self._header_lines += part.count(b"\n") - self._tail.count(b"\n")
        size = len(data) if end < 0 else max(0, end + 4 - len(self._tail))
        self._header_room -= size
        self._tail = data[-3:]
        why = None
        if self._header_room < 0:
            why = f"the request's headers are larger than {self.limits.max_header_bytes} bytes"
        elif self._header_lines > self.limits.max_headers:
            why = f"the request has more than {self.limits.max_headers} header lines"
        if why is None:
            return True
        self._disarm()
        self.transport.write(_response(431, "Request Header Fields Too Large", why))
        self.transport.close()
        return False

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._header_room = self.limits.max_header_bytes
        self._header_lines = 0
        self._tail = b""
        self._idle.discard(self)
        super().on_headers_complete()
        self._arm(self.limits.body_timeout_s, "body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        self._in_headers = True  # what comes next is the next request's header section

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not (self.cycle and self.cycle.more_body):
            self._got_bytes = False
            self._idle.add(self)
            self._arm(self.limits.header_timeout_s, "headers")


def guarded_protocol(limits: Limits) -> type[GuardedProtocol]:
    """The protocol class for uvicorn's ``http=`` option, with these limits."""
    return type("LogcycleHttpProtocol", (GuardedProtocol,), {"limits": limits})
