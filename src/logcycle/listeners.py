"""The syslog listeners (``--syslog-tcp PORT``, ``--syslog-udp PORT``, TLS with
``--syslog-tls-cert``/``--syslog-tls-key``), started with the HTTP server when their
settings are given. Lines go through the same validation and writer as every ingest
(``api/shipping.store_items``), as the key holder of ``--syslog-key`` when it is set.

TCP: each read (at most ``READ_BYTES``) is parsed, stored and committed before the next
read, so a slow store slows the senders down (TCP back-pressure) instead of filling
memory, and a ``kill -9`` loses at most the lines of the reads being committed (one per
connection): docs/reliability.md. UDP has no back-pressure: datagrams are batched every
``UDP_FLUSH_S`` and dropped (counted) beyond ``UDP_MAX_QUEUED``.

    listeners = SyslogListeners(service)
    await listeners.start()      # in the server's event loop
    ...
    await listeners.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import Counter
from typing import Any

from logcycle.api.auth import Principal
from logcycle.api.shipping import clock_rule, store_items
from logcycle.errors import LogcycleError, Overloaded, StoreUnavailable
from logcycle.ingest.protocols import rows, syslog
from logcycle.kinds import MAX_MESSAGE
from logcycle.service import Service

log = logging.getLogger("logcycle.syslog")
READ_BYTES = 256 * 1024
MAX_FRAME = MAX_MESSAGE + 2048  # the message and its header
UDP_FLUSH_S = 0.02
UDP_MAX_QUEUED = 20_000
RETRY_S = 0.2


class ListenerStats:
    """What one listener (``tcp`` or ``udp``) did since the process started: messages
    received, stored, rejected (unreadable, or invalid as an event: each on its own) and
    dropped (never stored: UDP's queue full, a refused ``--syslog-key``), and the last
    error (when, in epoch ms, and what)."""

    def __init__(self, svc: Service, name: str) -> None:
        self.svc, self.name = svc, name
        self.counts: Counter[str] = Counter()
        self.last_error: tuple[int, str] | None = None

    def error(self, message: str) -> None:
        self.last_error = (self.svc.clock.now_ms(), message[:500])

    def status(self) -> dict[str, Any]:
        """The listener in ``GET /api/v1/status``."""
        s = self.svc.settings
        at, message = self.last_error or (None, None)
        return {"host": s.syslog_host,
                "port": s.syslog_tcp if self.name == "tcp" else s.syslog_udp,
                "tls": self.name == "tcp" and bool(s.syslog_tls_cert),
                **{c: self.counts[c] for c in COUNTS},
                "last_error": None if at is None else {"at": at, "message": message}}


COUNTS = ("received", "stored", "rejected", "dropped")


class SyslogListeners:
    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.stats = {name: ListenerStats(svc, name) for name in ("tcp", "udp")}
        self._servers: list[asyncio.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_queue: list[bytes] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    @property
    def enabled(self) -> bool:
        return bool(self.svc.settings.syslog_tcp or self.svc.settings.syslog_udp)

    @property
    def counts(self) -> Counter[str]:
        """Every listener's counts added up."""
        return sum((st.counts for st in self.stats.values()), Counter())

    def status(self) -> dict[str, Any]:
        """Each listener that is on, with its counts and last error (this process's)."""
        s = self.svc.settings
        return {name: st.status() for name, st in self.stats.items()
                if (s.syslog_tcp if name == "tcp" else s.syslog_udp)}

    async def start(self) -> None:
        s = self.svc.settings
        if s.syslog_key:
            p = await self._principal()  # fails the start on a wrong key
            if not p.may("ingest"):
                raise LogcycleError(f"--syslog-key has scope {p.scope}: it needs ingest")
        reuse = s.workers > 1  # each worker listens; the kernel spreads the senders
        if s.syslog_tcp:
            server = await asyncio.start_server(
                self._connection, s.syslog_host, s.syslog_tcp, limit=2 * READ_BYTES,
                ssl=self._tls(), reuse_port=reuse or None)
            self._servers.append(server)
        if s.syslog_udp:
            loop = asyncio.get_running_loop()
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(s.syslog_host, s.syslog_udp),
                reuse_port=reuse or None)
            self._spawn(self._udp_loop())
        if self.enabled:
            log.info("syslog listening on %s (tcp %s%s, udp %s)", s.syslog_host,
                     s.syslog_tcp or "off", " TLS" if s.syslog_tls_cert else "",
                     s.syslog_udp or "off")

    def _tls(self) -> ssl.SSLContext | None:
        s = self.svc.settings
        if not s.syslog_tls_cert:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(s.syslog_tls_cert, s.syslog_tls_key or None)
        return ctx

    async def close(self) -> None:
        self._closing = True
        for server in self._servers:
            server.close()
        if self._udp is not None:
            self._udp.close()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self._store(self._udp_queue, self.stats["udp"])  # what UDP had queued
        except LogcycleError as exc:
            log.warning("syslog: %d UDP messages not stored at shutdown: %s",
                        len(self._udp_queue), exc.message)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _principal(self) -> Principal:
        key = self.svc.settings.syslog_key
        if not key:
            return Principal("syslog", "ingest")
        return await self.svc.auth.principal_of(key)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        framer = syslog.Framer(MAX_FRAME)
        stats = self.stats["tcp"]
        try:
            while data := await reader.read(READ_BYTES):
                await self._store(framer.feed(data), stats)
            await self._store(framer.rest(), stats)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            stats.error(f"connection ended: {exc}")
            log.debug("syslog connection ended: %s", exc)
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _udp_loop(self) -> None:
        while True:
            await asyncio.sleep(UDP_FLUSH_S)
            if self._udp_queue:
                batch, self._udp_queue = self._udp_queue, []
                await self._store(batch, self.stats["udp"])

    def datagram(self, data: bytes) -> None:
        if len(self._udp_queue) >= UDP_MAX_QUEUED:
            stats = self.stats["udp"]
            stats.counts["dropped"] += 1
            if stats.counts["dropped"] == 1 or stats.counts["dropped"] % 1000 == 0:
                stats.error(f"{UDP_MAX_QUEUED} datagrams already waiting for the writer: "
                            "datagrams dropped")
            return
        self._udp_queue.append(data[:MAX_FRAME])

    async def _store(self, frames: list[bytes], stats: ListenerStats) -> None:
        """Store these messages; on overload or a store failure wait and retry (the
        sender waits meanwhile), so that a read message is never dropped while the
        server runs."""
        step = self.svc.settings.max_batch_events
        for i in range(0, len(frames), step):
            chunk = frames[i:i + step]
            stats.counts["received"] += len(chunk)
            while True:
                try:
                    await self._store_once(chunk, stats)
                    break
                except (Overloaded, StoreUnavailable) as exc:
                    stats.error(f"waiting to store {len(chunk)} messages: {exc.message}")
                    if self._closing:
                        raise
                    await asyncio.sleep(min(RETRY_S * 5, getattr(exc, "retry_after", 1)))
                except LogcycleError as exc:  # a revoked --syslog-key, a wrong src
                    stats.counts["dropped"] += len(chunk)
                    stats.error(f"{len(chunk)} messages not stored: {exc.message}")
                    log.warning("syslog: %d messages not stored: %s", len(chunk), exc.message)
                    break

    async def _store_once(self, chunk: list[bytes], stats: ListenerStats) -> None:
        clock = clock_rule(self.svc)
        tz = self.svc.settings.tz
        limit = rows.limit_of(self.svc.decoder, clock.now_ms)
        items = await self.svc.offload.run(syslog.parse_all, chunk, clock, tz, limit)
        self.svc.writer.check_capacity()
        results = await store_items(self.svc, await self._principal(), items,
                                    src_per_item=True)
        bad = [r for r in results if isinstance(r, str)]
        stats.counts["stored"] += len(results) - len(bad)
        if bad:
            stats.counts["rejected"] += len(bad)
            stats.error(f"{len(bad)} messages rejected, e.g. {bad[0]}")
            log.warning("syslog: %d messages rejected, e.g. %s", len(bad), bad[0][:200])


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: SyslogListeners) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner.datagram(data)
