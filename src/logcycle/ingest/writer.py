"""The group-commit writer: a thread takes write tasks from a bounded queue and commits
every task waiting at that moment in one transaction, so concurrent requests share a
commit. A request is answered only after its transaction committed.

A store may take several writer threads (``store.write_lanes``: PostgreSQL, whose groups
overlap and still commit in id order, store/postgres.py); SQLite has one. Lane 0 also
runs the housekeeping: rotation when no write comes, reindexing. (The message search
index is built by a thread of each store's own, store/sqlite_indexer.py and
store/postgres_search.py, never by the writer.)

    writer = Writer(store, clock, max_pending=50_000)
    writer.start()
    ids = await writer.submit(EventBatch(events, None, "key-1", scope=ALL))

When the events waiting exceed ``max_pending``, :meth:`Writer.submit` raises
:class:`~logcycle.errors.Overloaded` (HTTP 503 + Retry-After) instead of queueing more.

One request cannot fail the others: a group that fails on what a task holds (the store
says :class:`~logcycle.errors.Unwritable`, or an unexpected exception) is split in two and
each half retried, down to the guilty task, which alone gets the error (a 400 when its
data was at fault); a store that cannot write at all (503) fails the group at once.
The thread also runs rotation at each turn of the week when no write comes to trigger it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import queue
import threading
import time
from datetime import UTC, tzinfo
from typing import Any

from logcycle.clock import Clock
from logcycle.cycles import next_rotation_ms
from logcycle.errors import LogcycleError, Overloaded, StoreUnavailable, Unwritable
from logcycle.ingest.tasks import EventBatch, Maintain, Reindex, WriteTask
from logcycle.store.base import Store

log = logging.getLogger("logcycle.writer")
_Item = tuple[WriteTask, "concurrent.futures.Future[Any]"]
_STOP = object()


class Writer:
    def __init__(self, store: Store, clock: Clock, *, max_pending: int,
                 max_group: int = 20_000, tz: tzinfo = UTC, lanes: int = 1) -> None:
        self.store = store
        self.clock = clock
        self.max_pending = max_pending
        self.max_group = max_group
        self.tz = tz
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0  # events queued or being committed
        self._queued = 0  # events queued, not taken by a lane yet
        # Recent write rate (events/s, smoothed) for Retry-After; monotonic time, not the
        # wall clock: it measures durations only.
        self._rate = 0.0
        self._window_start = time.monotonic()
        self._window_events = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(lane,), daemon=True,
                                          name=f"logcycle-writer-{lane}")
                         for lane in range(max(1, lanes))]
        self._running = 0
        self._next_rotation = 0
        self._next_reindex = 0
        self.reindex_interval_ms = 1000
        # True at start: indexes built behind the writer catch up once at start (after an
        # upgrade added one, or rows written by a process that stopped before indexing).
        self._dirty = True
        # search_index_lag=slow-ingest: refuse batches while the index trails too far.
        self.slow_when_index_behind = False
        self.commits = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def lanes(self) -> int:
        return len(self._threads)

    @property
    def alive(self) -> bool:
        """Every writer thread runs."""
        return all(t.is_alive() for t in self._threads)

    def start(self) -> None:
        self._next_rotation = next_rotation_ms(self.clock.now_ms(), self.tz)
        self._running = len(self._threads)
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the threads."""
        live = [t for t in self._threads if t.is_alive()]
        for _ in live:
            self._q.put(_STOP)
        deadline = time.monotonic() + timeout
        for t in live:
            t.join(max(0.0, deadline - time.monotonic()))

    def submit_future(self, task: WriteTask) -> concurrent.futures.Future[Any]:
        """Queue ``task``; the future holds its result. Raises Overloaded when full."""
        size = task.size
        self._check_index_lag(task)
        with self._lock:
            if self._pending + size > self.max_pending and self._pending > 0:
                raise Overloaded(f"{self._pending} events are waiting to be written; retry "
                                 "after the Retry-After delay", retry_after=self.retry_after())
            self._pending += size
            self._queued += size
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._q.put((task, fut))
        return fut

    def check_capacity(self) -> None:
        """Raise Overloaded at once when the queue is full: a route calls this before it
        reads and decodes a body that would be turned away anyway."""
        self._check_index_lag(None)
        if self._pending >= self.max_pending:
            raise Overloaded(f"{self._pending} events are waiting to be written; retry "
                             "after the Retry-After delay", retry_after=self.retry_after())

    def _check_index_lag(self, task: WriteTask | None) -> None:
        """With search_index_lag=slow-ingest, refuse event batches while the message
        index trails by more than search_index_max_lag_s (503 + Retry-After)."""
        if not self.slow_when_index_behind or not (task is None or isinstance(task, EventBatch)):
            return
        behind = self.store.search_index_behind()
        if behind is not None:
            raise Overloaded(f"the message search index trails ingest by {behind:.0f} s; "
                             "retry after the Retry-After delay",
                             retry_after=max(1, min(30, math.ceil(behind / 2))))

    def retry_after(self) -> int:
        """Seconds until the queue has drained at the recent write rate (1 to 30)."""
        rate = self._rate
        if rate <= 0:
            return 1
        return max(1, min(30, math.ceil(self._pending / rate)))

    def _measure_rate(self, size: int) -> None:  # under self._lock
        self._window_events += size
        t = time.monotonic()
        elapsed = t - self._window_start
        if elapsed >= 0.5:
            recent = self._window_events / elapsed
            self._rate = recent if self._rate == 0 else 0.7 * self._rate + 0.3 * recent
            self._window_start, self._window_events = t, 0

    async def submit(self, task: WriteTask) -> Any:
        """Queue ``task`` and wait until its transaction committed; its result."""
        return await asyncio.wrap_future(self.submit_future(task))

    def submit_wait(self, task: WriteTask, timeout: float = 60.0) -> Any:
        """Blocking variant of :meth:`submit` for threads without an event loop."""
        return self.submit_future(task).result(timeout)

    # -- the threads ----------------------------------------------------------------------
    def _run(self, lane: int) -> None:
        stopping = False
        keeper = lane == 0  # this lane keeps house
        while not stopping:
            try:
                first = self._q.get(timeout=1.0)
            except queue.Empty:
                if keeper:
                    self._maybe_rotate()
                continue
            if first is _STOP:
                break
            group, size, stopping = self._gather(first)
            self._commit(group, size, keeper=keeper)
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:  # the last lane to stop commits what came after the stop
            self._drain()

    def _gather(self, first: _Item) -> tuple[list[_Item], int, bool]:
        """``first`` and the tasks queued behind it, up to this lane's share: with
        several lanes a group takes its part of what waits (so the other lanes have
        work to overlap with it), never more than ``max_group`` events."""
        group: list[_Item] = [first]
        size = first[0].size
        with self._lock:
            share = math.ceil(self._queued / len(self._threads))
            self._queued -= size
        limit = min(self.max_group, max(size, share))
        stopping = False
        while size < limit:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stopping = True
                break
            group.append(item)
            size += item[0].size
            with self._lock:
                self._queued -= item[0].size
        return group, size, stopping

    def _drain(self) -> None:
        rest: list[_Item] = []
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                rest.append(item)
        if rest:
            size = sum(t.size for t, _ in rest)
            with self._lock:
                self._queued -= size
            self._commit(rest, size)

    def _apply(self, tasks: list[WriteTask], now: int) -> tuple[list[Any], bool]:
        """Each task's result, committing as much of ``tasks`` as can be: a failure caused
        by what some task holds is retried in halves until only the guilty task fails.
        The flag says whether anything committed."""
        try:
            results: list[Any] = self.store.apply(tasks, now)
        except Exception as exc:  # every failure is answered, none is lost
            if len(tasks) > 1 and _task_fault(exc):
                mid = len(tasks) // 2
                log.warning("write of %d tasks failed (%s): retrying in halves", len(tasks),
                            _describe(exc))
                left, ok_left = self._apply(tasks[:mid], now)
                right, ok_right = self._apply(tasks[mid:], now)
                return left + right, ok_left or ok_right
            return [self._failure(exc, len(tasks))] * len(tasks), False
        self._dirty = True
        return results, True

    def _failure(self, exc: Exception, n: int) -> LogcycleError:
        if isinstance(exc, LogcycleError):
            log.warning("write of %d tasks failed: %s", n, exc.message)
            return exc
        if isinstance(exc, DATA_ERRORS):  # what the task held cannot be written
            log.warning("write of a task failed: %s", _describe(exc))
            return Unwritable(f"this request could not be stored ({_describe(exc)}); it was "
                              "not stored and would fail the same way again")
        log.error("write of %d tasks failed", n, exc_info=exc)
        if n == 1:
            return LogcycleError(f"the server failed to write this request "
                                 f"({type(exc).__name__}); it was not stored")
        return StoreUnavailable(f"the write failed ({type(exc).__name__}); retry")

    def _commit(self, group: list[_Item], size: int, *, keeper: bool = True) -> None:
        now = self.clock.now_ms()
        results, ok = self._apply([t for t, _ in group], now)
        with self._lock:
            self._pending -= size
            if ok:
                self.commits += 1
                self._measure_rate(size)
            else:
                self.failures += 1
        for (_, fut), result in zip(group, results, strict=True):
            if fut.set_running_or_notify_cancel():
                if isinstance(result, Exception):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
        if now >= self._next_rotation:
            self._next_rotation = next_rotation_ms(now, self.tz)
        if keeper:
            self._maybe_reindex(now)

    def _maybe_reindex(self, now: int) -> None:
        """Indexes built behind the writer catch up at most once a second (and at once
        when the writer goes idle), so lookups scan at most about a second of rows."""
        if not (self._dirty and self.store.has_deferred_indexes and now >= self._next_reindex):
            return
        self._dirty = False
        self._next_reindex = now + self.reindex_interval_ms
        try:
            self.store.apply([Reindex()], now)
            if getattr(self.store, "reindex_behind", False):  # a bounded step: more to do
                self._dirty = True
        except LogcycleError as exc:
            log.warning("reindex failed: %s", exc.message)
        except Exception:  # a bug in a background step must not stop the writer
            log.exception("reindex failed")

    def _maybe_rotate(self) -> None:
        now = self.clock.now_ms()
        self._maybe_reindex(now)
        if now < self._next_rotation:
            return
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            self._pending += 1
        self._commit([(Maintain(now, catch_up=True), fut)], 1)


# Exceptions of Python itself that a task's values raise on their way into the database
# (an integer beyond 64 bits, a value of the wrong type): the task is at fault.
DATA_ERRORS = (TypeError, ValueError, OverflowError, UnicodeError, RecursionError)


def _task_fault(exc: Exception) -> bool:
    """Whether ``exc`` may come from one task of the group (retry without it), rather than
    from the store (disk full, connection lost, locked: every task would fail)."""
    return isinstance(exc, Unwritable) or not isinstance(exc, LogcycleError)


def _describe(exc: Exception) -> str:
    text = exc.message if isinstance(exc, LogcycleError) else f"{type(exc).__name__}: {exc}"
    return text[:300]
