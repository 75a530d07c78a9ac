"""The background thread of a Logger: queue → batches → (spool) → server.

Each turn it moves queued calls into batches (`_fill`), sends the batches that may be
sent (`_send_ready`), then sleeps until the flush interval ends, a back-off ends, a full
batch is waiting or flush()/close() call. It holds no lock while it sends.

Without a spool it keeps at most one drained batch in memory (plus the records drained
with it): while the server is away, the queue fills and further calls are dropped and
counted. With a spool it keeps moving calls to disk while it waits, so an outage only
costs disk space (``spool_max_bytes``).
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import deque
from typing import Any

from ._batch import Batch, encode, halves, without
from ._config import MAX_BODY_BYTES, Config
from ._events import MARKER, RECORD, to_event
from ._replies import Decision, decide, error_text
from ._spool import RESCAN, Spool, SpoolError
from ._stats import Counters
from ._transport import NetworkError, Transport
from .errors import InvalidEventError

_SEND_TURN = 4  # batches sent before looking at the queue again
_IN_MEMORY_BODIES = 8  # spooled batches beyond this many keep their body on disk only


class Wakeup:
    """How log calls wake the worker: only when it is ``armed`` (asleep and able to take
    more), so a busy or backing-off worker costs them one attribute read. ``markers``
    counts flush() markers still queued: the worker does not doze while one waits."""

    __slots__ = ("_lock", "armed", "event", "markers")

    def __init__(self) -> None:
        self.armed = False
        self.event = threading.Event()
        self.markers = 0
        self._lock = threading.Lock()

    def flush_marker(self, queue: deque[tuple[Any, ...]]) -> threading.Event:
        """Queue a flush() marker and wake the worker; the marker is set when done."""
        marker = threading.Event()
        with self._lock:
            self.markers += 1
        queue.append((MARKER, marker))
        self.event.set()
        return marker

    def marker_taken(self) -> None:
        """The worker took a marker off the queue."""
        with self._lock:
            self.markers -= 1

    def nudge(self) -> None:
        """Wake the worker (log calls call this when ``armed`` and a batch is full)."""
        self.armed = False
        self.event.set()


class Worker:
    """Ships what one Logger queues. Started by the Logger; stopped by `stop`."""

    def __init__(self, config: Config, queue: deque[tuple[Any, ...]], wakeup: Wakeup,
                 counters: Counters) -> None:
        self._config = config
        self._queue = queue
        self._wakeup = wakeup
        self._counters = counters
        self._transport = Transport(config)
        self._spool = Spool(config.spool_dir, fsync=config.spool_fsync) \
            if config.spool_dir else None
        self._outbox: deque[Batch] = deque()
        self.pending = 0  # events in the outbox, acknowledged by nobody yet
        self.spooled = 0  # of those, events in spool segments
        self.unsent = 0  # events counted lost ("shutdown") when the thread ended
        self._spool_bytes = 0
        self._retry_at = 0.0  # monotonic time before which nothing is sent
        self._server_hold = 0.0  # the part of _retry_at the server asked for (Retry-After)
        self._stopping = False
        self._failures = 0  # consecutive failed attempts, for the back-off
        self._stop_at: float | None = None
        self._next_rescan = 0.0
        self._key_prefix = f"lc-{secrets.token_hex(8)}"
        self._seq = 0
        self._thread = threading.Thread(target=self._run, name="logcycle-client", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Ship what it can within ``timeout`` seconds, then end; True when it has ended."""
        deadline = time.monotonic() + timeout
        self.ask_to_stop(deadline)
        return self.join(deadline)

    def ask_to_stop(self, deadline: float) -> None:
        """Make the thread ship what it can until ``deadline`` (monotonic), then end."""
        margin = min(0.1, max(0.0, deadline - time.monotonic()) * 0.1)
        self._stop_at = deadline - margin  # the margin lets it finish before the caller
        self._wakeup.event.set()

    def join(self, deadline: float) -> bool:
        """Wait for the end of the thread until ``deadline``; True when it has ended."""
        assert self._stop_at is not None
        self._thread.join(max(0.0, self._stop_at - time.monotonic()))
        if self._thread.is_alive():
            self._transport.abort()  # a request in progress would outlive the deadline
            self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    def wake(self) -> None:
        """Make the worker take a turn now (flush)."""
        self._wakeup.event.set()

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def forget(self) -> None:
        """In a child after fork(): let go of the parent's connection and spool lock."""
        self._transport.forget()
        if self._spool is not None:
            self._spool.forget()

    # The thread ---------------------------------------------------------------------

    def _run(self) -> None:
        self._guard(self._open)
        while not self._guard(self._step):
            pass
        self._guard(self._finish)
        self._counters.print_reports()

    def _guard(self, step: Any) -> bool:
        """Run ``step``; an unexpected error is reported once, never ends the thread."""
        try:
            return bool(step())
        except Exception as exc:  # the worker must survive anything
            self._problem("internal", f"internal error in the worker: {exc!r}")
            self._wakeup.event.wait(0.2)
            return self._stop_at is not None and time.monotonic() >= self._stop_at

    def _open(self) -> None:
        if self._spool is None:
            return
        self._next_rescan = time.monotonic() + RESCAN
        try:
            self._adopt(self._spool.open())
        except OSError as exc:
            self._problem("spool", f"spool disabled: cannot use {self._spool.directory}: {exc}")
            self._spool = None

    def _step(self) -> bool:
        """One turn; True once stopping and everything possible has been done."""
        self._counters.print_reports()
        if self._stop_at is not None and not self._stopping:
            self._stopping = True  # cut our own back-off short, not the server's Retry-After
            self._retry_at = min(self._retry_at, self._server_hold)
        self._rescan()
        self._fill()
        self._send_ready()
        if self._stop_at is not None:
            idle = not self._outbox and not self._queue
            if idle or time.monotonic() >= self._stop_at:
                return True
        self._wait()
        return False

    def _wait(self) -> None:
        """Sleep until there is something to do: a full batch, a flush, the end of the
        flush interval or of a back-off, or close()."""
        self._wakeup.event.clear()
        # Armed before looking at the queue, so that a call that fills a batch meanwhile
        # either is seen here or wakes the event.
        can_fill = self._wakeup.armed = self._can_fill()
        timeout = self._sleep_time(can_fill)
        if timeout > 0:
            self._wakeup.event.wait(timeout)
        self._wakeup.armed = False

    def _sleep_time(self, can_fill: bool) -> float:
        now = time.monotonic()
        if self._outbox and now >= self._retry_at:
            return 0.0
        if can_fill and (len(self._queue) >= self._config.max_batch or self._wakeup.markers
                         or (self._stop_at is not None and self._queue)):
            return 0.0
        timeout = self._config.flush_interval
        if self._outbox:  # backing off; with a spool, keep spooling meanwhile
            until_retry = max(0.0, self._retry_at - now)
            timeout = min(timeout, until_retry) if self._spool else until_retry
        if self._stop_at is not None:
            timeout = min(timeout, max(0.0, self._stop_at - now))
        return timeout

    # Queue → batches ----------------------------------------------------------------

    def _can_fill(self, final: bool = False) -> bool:
        if self._spool is None:
            return not self._outbox
        return final or self._spool_bytes < self._config.spool_max_bytes

    def _fill(self, final: bool = False) -> None:
        """Move queued calls into batches while there is room (``final``: all of them)."""
        budget = len(self._queue)
        while budget > 0 and self._can_fill(final):
            taken = self._drain(self._config.max_batch)
            if taken == 0:
                break
            budget -= taken

    def _drain(self, limit: int) -> int:
        """Move up to ``limit`` queued calls into batches; the number of calls taken."""
        events: list[dict[str, Any]] = []
        records: dict[str, list[Any]] = {}
        popleft = self._queue.popleft
        taken = 0
        while taken < limit:
            try:
                item = popleft()
            except IndexError:
                break
            if item[0] == MARKER:
                self._seal(events, records)
                events, records = [], {}
                self._attach(item[1])
                self._wakeup.marker_taken()
                continue
            taken += 1
            if item[0] == RECORD:
                records.setdefault(item[1], []).append(item[2])
                continue
            try:
                events.append(to_event(item))
            except InvalidEventError as exc:
                self._invalid(str(exc))
        self._seal(events, records)
        return taken

    def _seal(self, events: list[dict[str, Any]], records: dict[str, list[Any]]) -> None:
        if events:
            self._add(self._config.endpoint("events"), events)
        for entity, items in records.items():
            self._add(self._config.endpoint(f"records/{entity}"), items)

    def _attach(self, marker: threading.Event) -> None:
        if self._outbox:
            self._outbox[-1].markers.append(marker)
        else:
            marker.set()

    def _add(self, path: str, items: list[Any], key: str | None = None) -> list[Batch]:
        """Encode ``items`` as new batches at the end of the outbox (two if over 8 MiB)."""
        body, bad = encode(items)
        for _ in bad:
            self._invalid("a value that cannot be sent as JSON (NaN, infinity, "
                          "a non-string dict key or a circular reference)")
        count = len(items) - len(bad)
        if count == 0:
            return []
        key = key or self._new_key()
        if len(body) > MAX_BODY_BYTES and count > 1:
            good = [item for i, item in enumerate(items) if i not in set(bad)]
            middle = len(good) // 2
            return self._add(path, good[:middle], f"{key}.1") + \
                self._add(path, good[middle:], f"{key}.2")
        batch = Batch(path=path, key=key, count=count, body=body, size=len(body))
        self._spool_write(batch)
        self._outbox.append(batch)
        self.pending += count
        return [batch]

    def _new_key(self) -> str:
        if self._spool is not None:
            return self._spool.next_key()
        self._seq += 1
        return f"{self._key_prefix}-{self._seq}"

    # Spool ------------------------------------------------------------------------

    def _spool_write(self, batch: Batch) -> None:
        if self._spool is None:
            return
        try:
            self._spool.write(batch)
        except SpoolError as exc:
            self._problem("spool_write", f"{exc}; keeping the batch in memory")
            return
        self.spooled += batch.count
        self._spool_bytes += batch.size
        if len(self._outbox) >= _IN_MEMORY_BODIES:
            batch.body = None

    def _adopt(self, batches: list[Batch]) -> None:
        for batch in batches:
            self._outbox.append(batch)
            self.pending += batch.count
            self.spooled += batch.count
            self._spool_bytes += batch.size
        if self._spool is not None:
            for text in self._spool.corrupt:
                self._problem("spool_corrupt", f"unreadable spool segment set aside: {text}")
            self._spool.corrupt.clear()

    def _rescan(self) -> None:
        if self._spool is None or time.monotonic() < self._next_rescan:
            return
        self._next_rescan = time.monotonic() + RESCAN
        try:
            self._adopt(self._spool.adopt())
        except OSError as exc:
            self._problem("spool_scan", f"cannot scan the spool: {exc}")

    # Batches → server -------------------------------------------------------------

    def _send_ready(self) -> None:
        for _ in range(_SEND_TURN):
            now = time.monotonic()
            if not self._outbox or now < self._retry_at:
                return
            if self._stop_at is not None and now >= self._stop_at:
                return
            self._send(self._outbox[0])
            # With a spool, what was logged during that round trip moves to disk at once:
            # a slow server must not leave the calls waiting in the bounded queue.
            if self._spool is not None:
                self._fill()

    def _send(self, batch: Batch) -> None:
        body = self._body(batch)
        if body is None:
            return
        if batch.gzipped is None:
            batch.gzipped = self._transport.compress(body)
        batch.attempts += 1
        try:
            reply = self._transport.post(batch.path, batch.gzipped, batch.key)
        except NetworkError as exc:
            why = f"cannot reach {self._config.base_url}: {exc}"
            self._retry(batch, Decision("retry", reason="network"), why)
            return
        decision = decide(reply, attempts=batch.attempts - 1)
        if decision.action == "ok":
            self._counters.sent += batch.count
            self._counters.batches += 1
            self._failures = 0
            self._complete(batch)
        elif decision.action == "retry":
            self._retry(batch, decision, error_text(reply))
        else:
            self._counters.last_error = error_text(reply)
            self._failures = 0
            self._reject(batch, body, decision)

    def _body(self, batch: Batch) -> bytes | None:
        if batch.body is not None:
            return batch.body
        try:
            assert self._spool is not None
            return self._spool.read(batch)
        except (SpoolError, AssertionError) as exc:
            self._lose(batch, "spool_error", str(exc))
            return None

    def _retry(self, batch: Batch, decision: Decision, why: str) -> None:
        self._counters.retry(decision.reason)
        self._counters.last_error = why
        self._failures += 1
        delay = decision.delay
        if delay is None:
            ceiling = min(self._config.retry_max,
                          self._config.retry_base * 2 ** min(self._failures - 1, 20))
            delay = ceiling / 2 + random.random() * ceiling / 2  # noqa: S311 - jitter
        else:
            delay += random.random() * min(1.0, delay * 0.1)  # noqa: S311 - jitter
        self._retry_at = time.monotonic() + delay
        self._server_hold = self._retry_at if decision.delay is not None else 0.0
        self._problem("retry", f"{why}; retrying (later problems: see stats().last_error)")

    def _reject(self, batch: Batch, body: bytes, decision: Decision) -> None:
        """Handle a 4xx/5xx that will not go away by waiting."""
        if decision.action == "split" and batch.count > 1:
            self._replace(batch, halves(batch, body))
        elif decision.action == "partial":
            dropped = {i for i in decision.rejected if 0 <= i < batch.count}
            if not dropped:
                self._lose(batch, "rejected", self._counters.last_error or "")
                return
            for index in dropped:
                self._counters.drop("rejected", 1, decision.rejected[index])
            self._problem("rejected", f"server rejected events: {self._counters.last_error}")
            self._replace(batch, [without(batch, body, dropped)])
        else:
            reason = "too_large" if decision.action == "split" else decision.reason
            self._lose(batch, reason, self._counters.last_error or "", decision.rejected.get(-1))

    def _replace(self, batch: Batch, parts: list[tuple[str, list[Any]]]) -> None:
        """Put ``parts`` (key, items) in place of ``batch`` at the head of the outbox."""
        self._retire(batch)
        tail: deque[Batch] = self._outbox
        self._outbox = deque()
        for key, items in parts:
            if items:
                self._add(batch.path, items, key)
        if self._outbox:
            self._outbox[-1].markers.extend(batch.markers)
            batch.markers.clear()
        batch.done()
        self._outbox.extend(tail)

    def _lose(self, batch: Batch, reason: str, why: str, detail: str | None = None) -> None:
        self._counters.drop(reason, batch.count, detail)
        if reason == "unauthorized":
            self._problem(reason, "ERROR: the logcycle server refused this client's API key "
                          f"({why}): {batch.count} event(s) dropped, and every later batch "
                          "will be too. Pass an ingest or admin key to Logger(url, key); "
                          "flush() and close() return False.")
        else:
            self._problem(reason, f"dropped {batch.count} event(s), {reason}: {why}")
        self._complete(batch)

    def _retire(self, batch: Batch) -> None:
        """Take ``batch`` (the head) out of the outbox and of the counts."""
        self._outbox.popleft()
        self.pending -= batch.count
        if batch.segment is not None and self._spool is not None:
            self.spooled -= batch.count
            self._spool_bytes -= batch.size
            self._spool.remove(batch)

    def _complete(self, batch: Batch) -> None:
        self._retire(batch)
        batch.done()

    # Reports and the end --------------------------------------------------------------

    def _invalid(self, why: str) -> None:
        self._counters.drop("invalid")
        self._problem("invalid", f"dropped an invalid log call: {why}")

    def _problem(self, topic: str, text: str) -> None:
        self._counters.report_once(topic, text)

    def _finish(self) -> None:
        """After the deadline: spool what is left, or count it lost; wake every flush()."""
        if self._spool is not None:
            self._fill(final=True)
        for item in _take_all(self._queue):
            if item[0] == MARKER:
                item[1].set()
            else:
                self._counters.drop("shutdown")
                self.unsent += 1
        for batch in list(self._outbox):
            if batch.segment is None:
                self._counters.drop("shutdown", batch.count)
                self.pending -= batch.count
                self.unsent += batch.count
            batch.done()
        self._outbox.clear()
        self._transport.close()
        if self._spool is not None:
            self._spool.close()


def _take_all(queue: deque[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    items = []
    while True:
        try:
            items.append(queue.popleft())
        except IndexError:
            return items
