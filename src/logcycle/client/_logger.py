"""Logger: the object an application logs through. Every call returns at once.

    logger = Logger("http://127.0.0.1:5380", "my-ingest-key")
    logger.log_error("payment failed", "Checkout", detail=traceback_text)
    logger.close()

A call appends one tuple to a bounded deque and, only when a full batch is waiting and
the worker sleeps, sets an Event. Building the event, JSON, gzip and HTTP all happen on
the worker thread (see _worker.py). Nothing here raises into the application except in
strict mode, and only for a call whose arguments can never make a valid event.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._config import Config
from ._context import REQUEST_KEY
from ._events import (
    ERROR,
    GENERIC,
    MARKER,
    RECORD,
    REQUEST_EVENT,
    build_event,
    check_error_args,
    check_record,
    check_request_event_args,
    instant_value,
)
from ._stats import ClientStats, Counters
from ._worker import Wakeup, Worker
from .errors import InvalidEventError

Instant = int | float | str | datetime
_LIVE: set[Logger] = set()  # loggers to flush at exit and to renew in a fork child
_LIVE_LOCK = threading.Lock()
_time_ns = time.time_ns
_request_key = REQUEST_KEY.get


class Logger:
    """A client for one logcycle server. Thread-safe; usable from asyncio code.

    Options (keyword only): ``flush_interval`` seconds between sends (1.0); ``max_batch``
    events per request (1,000); ``max_queue`` calls kept in memory before new ones are
    dropped (100,000); ``timeout`` of one request (10 s); ``gzip`` request bodies (True);
    ``strict``: raise InvalidEventError for a bad call instead of counting it (False);
    ``spool_dir``: keep every batch on disk until the server acknowledged it (None);
    ``spool_fsync`` (True) and ``spool_max_bytes`` (256 MiB); ``retry_base``/``retry_max``
    seconds of the back-off (0.5/30); ``shutdown_timeout`` given to close() at exit (5 s).

    >>> logger = Logger("http://127.0.0.1:9", "key", flush_interval=0.05)
    >>> logger.log_error("disk full", "Storage", detail="/var at 100%")
    >>> logger.close(timeout=0.2)
    False
    """

    def __init__(self, url: str, api_key: str, *, flush_interval: float = 1.0,
                 max_batch: int = 1000, max_queue: int = 100_000, timeout: float = 10.0,
                 spool_dir: str | os.PathLike[str] | None = None, strict: bool = False,
                 gzip: bool = True, spool_fsync: bool = True,
                 spool_max_bytes: int = 256 * 1024 * 1024, retry_base: float = 0.5,
                 retry_max: float = 30.0, shutdown_timeout: float = 5.0) -> None:
        self._config = Config.make(
            url, api_key, flush_interval=flush_interval, max_batch=max_batch,
            max_queue=max_queue, timeout=timeout, gzip=gzip, strict=strict,
            spool_dir=None if spool_dir is None else os.fspath(spool_dir),
            spool_fsync=spool_fsync, spool_max_bytes=spool_max_bytes, retry_base=retry_base,
            retry_max=retry_max, shutdown_timeout=shutdown_timeout)
        self._strict = strict
        self._max_batch = max_batch
        self._lost_seen = 0  # events lost as of the last flush()
        self._closed = False
        self._start()
        with _LIVE_LOCK:
            _LIVE.add(self)

    def _start(self) -> None:
        """A fresh queue and worker (at creation, and in a child after fork)."""
        self._max_queue = self._config.max_queue
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wakeup = Wakeup()
        self._counters = Counters()
        self._worker = Worker(self._config, self._queue, self._wakeup, self._counters)
        self._worker.start()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Logger {self._config.base_url} {state}>"

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The log calls (hot path: keep them short) ---------------------------------------

    def log_error(self, message: str, module_name: str, *, instant: Instant | None = None,
                  request_key: str | None = None, detail: str | None = None,
                  **fields: Any) -> None:
        """Queue an ``error`` event. ``instant`` defaults to now; ``request_key`` to the
        context's (see request_context); other fields (action_name, user_id, ...) as
        keywords, unknown names going into ``attributes``.

        >>> logger.log_error("timeout", "Checkout", user_id="u7")  # doctest: +SKIP
        """
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._refuse()
            return
        if self._strict:
            check_error_args(message, module_name)
            if instant is not None:
                instant_value(instant)
        queue.append((ERROR, message, module_name,
                      _time_ns() // 1_000_000 if instant is None else instant,
                      _request_key() if request_key is None else request_key, detail, fields))
        if len(queue) >= self._max_batch and self._wakeup.armed:
            self._wakeup.nudge()

    def log_request_event(self, request_key: str, request_event_name: str, module_key: str,
                          module_name: str, application_key: str, application_name: str, *,
                          instant: Instant | None = None,
                          request_event_details: Mapping[str, Any] | None = None) -> None:
        """Queue a ``request_event`` (the seed's LogRequestEvent), ``instant`` defaulting to
        now and ``request_event_details`` a JSON object."""
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._refuse()
            return
        if self._strict:
            check_request_event_args(request_key, request_event_name, module_key, module_name,
                                     application_key, application_name, request_event_details)
            if instant is not None:
                instant_value(instant)
        queue.append((REQUEST_EVENT, _time_ns() // 1_000_000 if instant is None else instant,
                      request_key, request_event_name, module_key, module_name,
                      application_key, application_name, request_event_details))
        if len(queue) >= self._max_batch and self._wakeup.armed:
            self._wakeup.nudge()

    def log(self, kind: str, **fields: Any) -> None:
        """Queue an event of any ``kind`` (screen, integration, general, ...) from keyword
        fields; ``instant`` defaults to now, ``request_key`` to the context's.

        >>> logger.log("general", message="cache warmed")  # doctest: +SKIP
        """
        if "request_key" not in fields:
            key = _request_key()
            if key is not None:
                fields["request_key"] = key
        self._put_event(kind, fields)

    def log_record(self, entity: str, record: Mapping[str, Any]) -> None:
        """Queue ``record`` (a dict, copied now) for ``POST /api/v1/records/{entity}``."""
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._refuse()
            return
        try:
            check_record(entity, record)
        except InvalidEventError as exc:
            self._bad_call(exc)
            return
        queue.append((RECORD, entity, dict(record)))
        if len(queue) >= self._max_batch and self._wakeup.armed:
            self._wakeup.nudge()

    def _put_event(self, kind: str, fields: dict[str, Any]) -> None:
        """Queue ``fields`` as an event of ``kind`` (log() and LogcycleHandler)."""
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._refuse()
            return
        if self._strict:
            build_event(kind, fields)  # raises InvalidEventError for a bad call
        queue.append((GENERIC, kind, fields))
        if len(queue) >= self._max_batch and self._wakeup.armed:
            self._wakeup.nudge()

    def _refuse(self) -> None:
        """Count a call that found the queue full (or the logger closed)."""
        self._counters.drop("closed" if self._closed else "queue_full")
        if not self._closed:
            self._counters.report_once(
                "queue_full", f"queue full ({self._max_queue} events): dropping new events "
                "until the server catches up (see stats())")

    def _bad_call(self, exc: InvalidEventError) -> None:
        if self._strict:
            raise exc
        self._counters.drop("invalid")
        self._counters.report_once("invalid", f"dropped an invalid log call: {exc}")

    # Waiting, closing, counting ------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait at most ``timeout`` seconds until every call made before is acknowledged
        by the server (or counted lost). True when that happened in time and no event
        was lost since the previous flush (or the start): a refused key (401/403), a
        rejected batch or a full queue make it False (``stats()`` says why)."""
        if not self._worker.alive:
            done = not self._queue
        else:
            done = self._wakeup.flush_marker(self._queue).wait(max(0.0, timeout))
        self._counters.print_reports()
        lost = self._counters.lost()
        clean = lost == self._lost_seen
        self._lost_seen = lost
        return done and clean

    async def aflush(self, timeout: float = 5.0) -> bool:
        """`flush` for asyncio code: waits in a thread, never blocks the event loop."""
        return await asyncio.to_thread(self.flush, timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Send what is queued within ``timeout`` seconds, then stop. What is still unsent
        then is kept in the spool (if any) for the next start, or counted as dropped
        (``shutdown``). Later calls are counted as ``closed``. True when all was sent:
        False if any event was lost since the logger began (a refused key, a rejected
        batch, a full queue...)."""
        deadline = time.monotonic() + max(0.0, timeout)
        if self._closed:
            self._worker.join(deadline)
            worker = self._worker
            return not (worker.alive or worker.pending or worker.unsent)
        self._begin_close(deadline)
        return self._end_close(deadline)

    def _begin_close(self, deadline: float) -> None:
        self._closed = True
        self._max_queue = -1  # every later call takes the refuse path
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._worker.ask_to_stop(deadline)

    def _end_close(self, deadline: float) -> bool:
        ended = self._worker.join(deadline)
        stragglers = self._count_stragglers() if ended else 0
        self._counters.print_reports()
        worker = self._worker
        sent_all = not (worker.pending or worker.unsent or stragglers or self._queue)
        return ended and sent_all and self._counters.lost() == 0

    async def aclose(self, timeout: float = 5.0) -> bool:
        """`close` for asyncio code."""
        return await asyncio.to_thread(self.close, timeout)

    def _count_stragglers(self) -> int:
        """Calls that slipped in while the worker was finishing: lost to shutdown."""
        lost = 0
        while self._queue:
            item = self._queue.popleft()
            if item[0] == MARKER:
                item[1].set()
            else:
                self._counters.drop("shutdown")
                lost += 1
        return lost

    def stats(self) -> ClientStats:
        """Counters: queued, sent, retried, dropped by reason (exact when idle or closed).

        >>> logger.stats().dropped_total  # doctest: +SKIP
        0
        """
        return self._counters.snapshot(queued=len(self._queue) + self._worker.pending,
                                       spooled=self._worker.spooled)

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._closed

    def _after_fork(self) -> None:
        """In the child: the parent's queue, connection and spool lock are not ours."""
        self._worker.forget()
        if self._closed:
            self._queue = deque()
            self._counters = Counters()
            return
        self._start()


def _close_all_at_exit() -> None:
    """Close every open Logger, all at once: exit waits for the longest shutdown_timeout."""
    with _LIVE_LOCK:
        loggers = list(_LIVE)
    now = time.monotonic()
    deadlines = [now + logger._config.shutdown_timeout for logger in loggers]
    for logger, deadline in zip(loggers, deadlines, strict=True):
        logger._begin_close(deadline)
    for logger, deadline in zip(loggers, deadlines, strict=True):
        logger._end_close(deadline)


def _renew_after_fork() -> None:
    global _LIVE_LOCK
    _LIVE_LOCK = threading.Lock()  # another thread may have held it during fork()
    for logger in list(_LIVE):
        logger._after_fork()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_after_fork)
