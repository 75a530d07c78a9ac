"""The running service: settings, clock, store, writer, key checks and the decoder, built
once and shared by the routes (``request.app.state.service``).

    svc = Service(Settings(data=Path("data")))
    svc.open()          # schema, catch-up rotation
    svc.start()         # writer thread
    ...
    svc.close()
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from logcycle.alerts.delivery import Notifier
from logcycle.alerts.scheduler import Scheduler
from logcycle.api.auth import Auth, Principal
from logcycle.api.fairness import ReadSlots
from logcycle.api.throttle import FailureThrottle, parse_networks
from logcycle.clock import Clock, clock_problem, server_clock
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.offload import Offload
from logcycle.ingest.writer import Writer
from logcycle.keys import hash_key, load_secret, new_key
from logcycle.query.scope import Reader
from logcycle.settings import Settings
from logcycle.store import faults
from logcycle.store.archive import Archiver, open_archived
from logcycle.store.base import MaintenanceReport, Store, StoreHealth
from logcycle.store.factory import make_store

log = logging.getLogger("logcycle")
T = TypeVar("T")
FAILURE_WINDOW_S = 60.0  # the window of --auth-failures
P = ParamSpec("P")


def tune_gc() -> None:
    """Each batch allocates thousands of short-lived objects, freed by reference counting;
    the default cyclic GC thresholds (700) would rescan the heap many times a batch. Move
    what exists at start to the permanent generation and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


SWITCH_INTERVAL_S = 0.001


def tune_threads() -> None:
    """A thread that wants the GIL waits until the holder has run for the switch interval
    (5 ms by default). Under a stream the event loop and the writer hold it in turns, and a
    search's read thread gives it back at every SQLite statement: each of its few
    statements then waits up to 5 ms again (measured: p90 11-48 ms for six short
    statements beside one busy thread, 1.3-4.7 ms at 1 ms; docs/architecture.md)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


class Service:
    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 store: Store | None = None, bootstrap_key: str | None = None) -> None:
        self.settings = settings
        self.clock = clock or server_clock(settings.clock_step_accept_s)
        # faults.wrap: test-only fault injection (LOGCYCLE_FAULT_*), a no-op unless set.
        self.store = faults.wrap(store or make_store(settings))
        self.secret = load_secret(settings.data)
        self.auth = Auth(self.store, self.secret, bootstrap_key=bootstrap_key,
                         throttle=FailureThrottle(limit=settings.auth_failures,
                                                  window_s=FAILURE_WINDOW_S),
                         proxies=parse_networks(settings.trusted_proxies))
        self.decoder = BatchDecoder(max_future_ms=settings.max_future_ms,
                                    max_batch=settings.max_batch_events)
        self.offload = Offload(settings.protocol_workers, self.clock)
        self.writer = Writer(self.store, self.clock, max_pending=settings.max_pending_events,
                             tz=settings.tz, lanes=self.store.write_lanes)
        if settings.search_index_lag not in ("scan", "slow-ingest"):
            raise ValueError("search_index_lag must be scan or slow-ingest, got "
                             f"{settings.search_index_lag!r}")
        self.store.search_max_lag_s = settings.search_index_max_lag_s  # type: ignore[attr-defined]
        self.writer.slow_when_index_behind = settings.search_index_lag == "slow-ingest"
        self.store.search_index_yields = settings.search_index_lag == "scan"  # type: ignore[attr-defined]
        notifier = Notifier(self.store, smtp_url=settings.smtp_url, smtp_from=settings.smtp_from,
                            on_result=lambda i, r: None, now_ms=self.clock.now_ms)
        self.alerts = Scheduler(self.store, self.clock, notifier, tz=settings.tz,
                                public_url=settings.public_url
                                or f"http://{settings.host}:{settings.port}")
        notifier.on_result = self.alerts.record
        self.reads = ThreadPoolExecutor(settings.read_threads, thread_name_prefix="logcycle-read")
        self.read_slots = ReadSlots(per_key=settings.effective_reads_per_key)
        self.opened = False
        self.started = False
        self.run_alerts = True  # tests drive Scheduler.tick() themselves
        self.last_maintenance: MaintenanceReport | None = None
        self.archiver: Archiver | None = None
        if settings.archive_dir:
            self.archiver = Archiver(self.store, Path(settings.archive_dir), tz=settings.tz,
                                     clock=self.clock)

    def open(self) -> MaintenanceReport | None:
        """Create or check the schema and catch up the rotation (idempotent)."""
        if not self.opened:
            now = self.clock.now_ms()
            if self.archiver is not None:  # every complete week archived before the
                # catch-up rotation may empty it (a downtime longer than the retention)
                self.last_maintenance = open_archived(self.store, self.archiver, now)
            else:
                self.last_maintenance = self.store.open(now)
            self.auth.reload()
            self.opened = True
        return self.last_maintenance

    def first_key(self) -> str | None:
        """On a store with no key and no LOGCYCLE_API_KEY: create one admin key, return it."""
        if self.auth._boot is not None or self.store.list_keys():
            return None
        key = new_key()
        self.store.add_key(hash_key(self.secret, key), "admin", "first admin key", None,
                           self.clock.now_ms())
        self.auth.reload()
        return key

    def start(self) -> None:
        self.open()
        tune_gc()
        tune_threads()
        if not self.started:
            start_bg = getattr(self.store, "start_background", None)
            if start_bg is not None:
                start_bg()
            self.writer.start()
            if self.run_alerts:
                self.alerts.start()
            if self.archiver is not None:
                self.archiver.start()
            self.started = True

    def close(self) -> None:
        self.alerts.stop()  # its threads may run without start() (tests start the notifier)
        if self.started:
            if self.archiver is not None:
                self.archiver.stop()
            self.writer.stop()
            self.started = False
        self.reads.shutdown(wait=True)
        self.offload.close()
        self.store.close()
        self.opened = False

    def health(self) -> StoreHealth:
        """The store's health, with a clock step the server has not followed as a warning."""
        store = self.store.health()
        step = clock_problem(self.clock)
        if step is None:
            return store
        return StoreHealth(store.refused, (*store.warnings, step))

    @property
    def ready(self) -> bool:
        return self.started and self.writer.alive

    async def read(self, principal: Principal, fn: Callable[Concatenate[Reader, P], T],
                   *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(reader, *args, **kwargs)`` on the read threads, where ``reader`` is the
        store as ``principal`` may see it (query/scope.py): the only way a route reads.
        Each key runs at most ``--reads-per-key`` queries at once (api/fairness.py)."""
        reader = Reader(self.store, principal.sources)
        loop = asyncio.get_running_loop()
        async with self.read_slots.slot(principal.id):
            return await loop.run_in_executor(self.reads,
                                              functools.partial(fn, reader, *args, **kwargs))
