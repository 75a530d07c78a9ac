"""One keep-alive HTTP connection to the server, used by the worker thread only.

`Transport.post` sends one body and gives back the server's `Reply`; network failures
come out as `NetworkError`. A request that fails on a connection that had been idle (the
server may have closed it meanwhile) is sent once more on a fresh connection at once:
the Idempotency-Key makes that safe.

    transport = Transport(config)
    reply = transport.post("/api/v1/events", b"[...]", key="b-1")
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from ._config import Config

USER_AGENT = "logcycle-python-client/0.1"
MAX_RETRY_AFTER = 3600.0


class NetworkError(Exception):
    """The request could not be made or its answer not read."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A server answer: status, body, and its ``Retry-After`` in seconds when given."""

    status: int
    body: bytes
    retry_after: float | None = None


class Transport:
    """An HTTP(S) client for one server, with one reused connection."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._conn: http.client.HTTPConnection | None = None
        self._aborted = False
        self._lock = threading.Lock()  # guards _conn against abort() from another thread
        self._headers = {
            "Authorization": f"Bearer {config.api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if config.gzip:
            self._headers["Content-Encoding"] = "gzip"

    def compress(self, body: bytes) -> bytes:
        """The body as it goes on the wire (gzip level 1 unless gzip is off)."""
        return gzip.compress(body, compresslevel=1, mtime=0) if self._config.gzip else body

    def post(self, path: str, wire_body: bytes, key: str) -> Reply:
        """POST ``wire_body`` (already compressed, see `compress`) with ``key``."""
        headers = {**self._headers, "Idempotency-Key": key}
        reused = self._conn is not None
        try:
            return self._exchange(path, wire_body, headers)
        except NetworkError:
            if not reused or self._aborted:
                raise
        return self._exchange(path, wire_body, headers)

    def _exchange(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        conn = self._connection()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise NetworkError(f"{type(exc).__name__}: {exc}") from exc
        if response.will_close:
            self.close()
        return Reply(response.status, data, retry_after(response.getheader("Retry-After")))

    def _connection(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._aborted:
                raise NetworkError("aborted by close()")
            if self._conn is None:
                self._conn = self._new_connection()
            return self._conn

    def _new_connection(self) -> http.client.HTTPConnection:
        c = self._config
        if c.scheme == "https":
            return http.client.HTTPSConnection(c.host, c.port, timeout=c.timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(c.host, c.port, timeout=c.timeout)

    def close(self) -> None:
        """Close the connection (the next post opens a new one)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def abort(self) -> None:
        """From another thread: make a request in progress fail at once (used by close)."""
        with self._lock:
            self._aborted = True
            sock = self._conn.sock if self._conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def forget(self) -> None:
        """In a child after fork(): drop the parent's connection without touching it."""
        self._lock = threading.Lock()
        self._conn = None
        self._aborted = False


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None.

    >>> retry_after("2"), retry_after(None), retry_after("soon")
    (2.0, None, None)
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
