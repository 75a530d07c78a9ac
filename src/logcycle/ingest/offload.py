"""The foreign protocols' translation of large bodies in a worker process, beside the
event loop (``--protocol-workers``, docs/architecture.md "Translation beside the event
loop").

Why: an adapter turns each record into its row in Python (3.5-5 µs an event for OTLP,
Elasticsearch bulk, Loki, CLEF and syslog, against 1.2 µs for native JSON, which msgspec
decodes in C). In the server's process that time holds the GIL, which the event loop and
the writer share, so it set how fast a shipper's events could be stored. In a worker
process it runs on the other core; the event loop only unpickles the rows (about 0.5 µs
an event).

What runs there is the same module-level function the route would call (its arguments
and its answer pickled): the same rows, the same rejections, the same exceptions. Bodies
under ``min_bytes``, and every body while the worker starts or after it died, are
translated in the event loop as before, so that a small request never waits for another
process and a dead worker never fails a request.

    items = await svc.offload.run(clef.parse_clef, body, clock, latest)
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from logcycle.clock import Clock
from logcycle.ingest.decode import Partial, Prepared
from logcycle.ingest.protocols.es_bulk import BulkRequest
from logcycle.kinds import KINDS

T = TypeVar("T")
log = logging.getLogger("logcycle.offload")

MIN_BYTES = 64 * 1024  # below: translated in the event loop (the hand-off costs ~0.2 ms)
QUEUED_PER_WORKER = 2  # requests handed to each worker at once; more wait their turn
RETRY_START_MS = 30_000  # after workers failed to start, the next try
# Imported once by the forkserver, so that each worker forked from it has them.
PRELOAD = ("logcycle.ingest.offload", "logcycle.ingest.protocols.clef",
           "logcycle.ingest.protocols.es_bulk", "logcycle.ingest.protocols.loki",
           "logcycle.ingest.protocols.otlp_rows", "logcycle.ingest.protocols.syslog")


def _worker_init(server: int) -> None:
    """A new worker: it ends with the server, with the adapters imported before its
    first job (already there when the forkserver preloaded them; not when another part
    of the process had started the forkserver first)."""
    threading.Thread(target=_end_with, args=(server,), name="logcycle-end-with-server",
                     daemon=True).start()
    for name in PRELOAD:
        importlib.import_module(name)


def _end_with(server: int) -> None:
    """Exit as soon as the process ``server`` has ended (kill -9 included). Its death
    alone ends nothing here: the forkserver, this worker's parent, lives as long as any
    worker holds its "alive" pipe, which each inherits, so PR_SET_PDEATHSIG on the
    parent would wait forever."""
    try:
        watch = os.pidfd_open(server)  # readable once the process has ended (Linux)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # no pidfd here: look every second instead
        while _exists(server):
            time.sleep(1)
        os._exit(0)
    select.select([watch], [], [])
    os._exit(0)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    return True


def _call(fn: Callable[..., Any], body: bytes | list[bytes], args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> tuple[str, Any]:
    """In the worker: ``fn``'s answer, its rows as plain tuples (:func:`_pack`)."""
    return _pack(fn(body, *args, **kwargs))


# A row crosses as (kind name, values, attributes, error, error attributes): pickle writes
# and reads plain tuples in C, where a Prepared costs Python calls each way (1.06 µs an
# event to pickle a syslog batch against 0.49 as tuples).
def _rows_out(items: list[Any]) -> list[Any]:
    return [(it.kind.name, it.values, it.attributes, it.error, it.error_attributes)
            if type(it) is Prepared else it for it in items]


def _rows_in(items: list[Any]) -> list[Any]:
    # The adapters' items are dicts, bytes, texts or rows: a tuple is always a row.
    return [Prepared(KINDS[it[0]], it[1], it[2], it[3], it[4]) if type(it) is tuple else it
            for it in items]


def _pack(answer: Any) -> tuple[str, Any]:
    """The adapters' answers (a list of items, a bulk request, an OTLP (Partial, total))
    with their rows as tuples; any other answer as it is (its rows pickled as objects,
    their kind by name)."""
    if type(answer) is list:
        return "items", _rows_out(answer)
    if type(answer) is BulkRequest:
        answer.items = _rows_out(answer.items)
        return "bulk", answer
    if type(answer) is tuple and answer and type(answer[0]) is Partial:
        answer[0].events = _rows_out(answer[0].events)
        return "partial", answer
    return "as is", answer


def _unpack(packed: tuple[str, Any]) -> Any:
    shape, answer = packed
    if shape == "items":
        return _rows_in(answer)
    if shape == "bulk":
        answer.items = _rows_in(answer.items)
    elif shape == "partial":
        answer[0].events = _rows_in(answer[0].events)
    return answer


def _ready() -> int:
    """The first job of a new worker: its pid."""
    return os.getpid()


class Offload:
    """Runs translation functions in ``workers`` processes (0: never; always inline)."""

    def __init__(self, workers: int, clock: Clock, *, min_bytes: int = MIN_BYTES) -> None:
        if workers < 0:
            raise ValueError(f"protocol_workers must be 0 or more, got {workers}")
        self.workers = workers
        self.clock = clock
        self.min_bytes = min_bytes
        self._failed_at: int | None = None  # when workers last failed to start
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[int] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False  # after close(): everything here, nothing started again
        self.offloaded = 0  # jobs answered by a worker (GET /api/v1/status)
        self.inline = 0  # large bodies translated in the event loop instead

    def status(self) -> dict[str, int | bool]:
        """For ``GET /api/v1/status``: the workers, whether they answer, and how many
        large bodies they translated and how many were translated here instead (while
        they started, or after one died)."""
        return {"workers": self.workers, "ready": self.ready, "offloaded": self.offloaded,
                "inline": self.inline}

    @property
    def worker_pid(self) -> int | None:
        """The pid of the worker that answered the start-up job (benchmarks read its CPU
        time), None before."""
        return self._warm.result() if self.ready and self._warm is not None else None

    @property
    def ready(self) -> bool:
        """Whether a worker has started and answers."""
        warm = self._warm
        return warm is not None and warm.done() and warm.exception() is None

    async def run(self, fn: Callable[..., T], body: bytes | list[bytes], *args: Any,
                  **kwargs: Any) -> T:
        """``fn(body, *args, **kwargs)``: in a worker when ``body`` (bytes, or a list of
        messages) is large and a worker is ready, else here. A worker that dies is
        replaced; its jobs are translated here."""
        size = len(body) if isinstance(body, bytes) else sum(map(len, body))
        if self.workers == 0 or size < self.min_bytes or self._closed:
            return fn(body, *args, **kwargs)
        if not self.ready:
            self.start()
            self.inline += 1
            return fn(body, *args, **kwargs)
        assert self._pool is not None and self._slots is not None
        async with self._slots:
            try:
                packed = await asyncio.wrap_future(self._pool.submit(_call, fn, body, args,
                                                                      kwargs))
            except BrokenProcessPool:
                log.warning("a protocol worker process died: translating in the server "
                            "process until a new one has started")
                self._discard()
                self.inline += 1
                return fn(body, *args, **kwargs)
        self.offloaded += 1
        answer: T = _unpack(packed)
        return answer

    def start(self) -> None:
        """Start the workers (once; again after they died) without waiting for them: the
        server calls it as it starts, and :meth:`run` whenever none is ready."""
        if self.workers == 0 or self.ready or self._closed:
            return
        warm, now = self._warm, self.clock.now_ms()
        if warm is not None and not warm.done():
            return
        if warm is not None:  # done, and failed: the workers could not start
            log.warning("the protocol workers did not start (%s): translating in the "
                        "server process; trying again in %d s", warm.exception(),
                        RETRY_START_MS // 1000)
            self._discard()
            self._failed_at = now
        if self._failed_at is not None and now - self._failed_at < RETRY_START_MS:
            return
        # forkserver: each worker is forked from a small clean process, never from this
        # one (whose writer and indexer threads may hold locks at the fork).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                         initializer=_worker_init,
                                         initargs=(os.getpid(),))
        self._slots = asyncio.Semaphore(self.workers * QUEUED_PER_WORKER)
        self._warm = self._pool.submit(_ready)

    def _discard(self) -> None:
        pool, self._pool, self._warm = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (waiting for their jobs); later bodies are translated here."""
        self._closed = True
        pool, self._pool, self._warm = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
