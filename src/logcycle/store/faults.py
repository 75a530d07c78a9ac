"""Fault injection, **for testing only**: a slow or failing disk on demand, so that the
tests and benchmarks of docs/reliability.md can show what the server does on its worst
day. Never set these variables in production.

- ``LOGCYCLE_FAULT_WRITE_RATE=N``: the writer commits at most about N events a second
  (each write transaction first sleeps its events / N seconds): a disk slower than the
  offered load, to prove that overload is answered with 503 + Retry-After.
- ``LOGCYCLE_FAULT_FILE=PATH``: while the file PATH exists, every write transaction
  fails as on an I/O error of the disk (503, the store's message). Its first word picks
  when: ``ioerr`` (the default) fails before anything is written; ``ioerr-after-commit``
  commits, then fails the answer, as when an fsync fails after the data reached the file
  (a retry with the same Idempotency-Key must not store the batch again). A second word
  ``once`` removes the file after the first failure (a lost answer, then a healthy disk).
- ``LOGCYCLE_FAULT_KILL_AT=alert-saved``: the process kills itself (SIGKILL, as ``kill
  -9``) at that point: right after an alert's new state and its pending notifications
  are committed, before anything is sent (tests/errors/test_alerts_outbox.py shows the
  notification is sent after a restart).

They are read here and nowhere else: :func:`wrap` (called once by the Service) returns the
store itself when neither disk fault is set, so an ordinary server pays nothing (the
kill point is one environment lookup after an alert's state changed).

>>> store = object()
>>> wrap(store, environ={}) is store
True
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from logcycle.errors import StoreUnavailable
from logcycle.ingest.tasks import EventBatch, RecordBatch, WriteTask
from logcycle.store.base import KeyRow, MaintenanceReport, Rows, Store, StoreHealth
from logcycle.store.schema import Dialect
from logcycle.store.search import MessageQuery, MessageResult

RATE_ENV = "LOGCYCLE_FAULT_WRITE_RATE"
FILE_ENV = "LOGCYCLE_FAULT_FILE"
MODES = ("ioerr", "ioerr-after-commit")
KILL_ENV = "LOGCYCLE_FAULT_KILL_AT"
KILL_POINTS = ("alert-saved",)


def kill_point(name: str, environ: Mapping[str, str] | None = None) -> None:
    """Die here, at once and uncleanly, when ``LOGCYCLE_FAULT_KILL_AT`` names this point.

    >>> kill_point("alert-saved", environ={})  # not asked: nothing happens
    """
    env = os.environ if environ is None else environ
    if env.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def wrap(store: Store, environ: Mapping[str, str] | None = None) -> Store:
    """``store`` behind the faults the environment asks for (none: ``store`` itself)."""
    env = os.environ if environ is None else environ
    rate = float(env.get(RATE_ENV) or 0)
    path = env.get(FILE_ENV) or None
    if rate <= 0 and path is None:
        return store
    return FaultyStore(store, write_rate=rate, fault_file=Path(path) if path else None)


class FaultyStore:
    """A store whose write transactions are slowed or failed as configured; everything
    else goes to the real store unchanged."""

    def __init__(self, inner: Store, *, write_rate: float = 0.0,
                 fault_file: Path | None = None) -> None:
        self.inner = inner
        self.write_rate = write_rate
        self.fault_file = fault_file
        self.dialect: Dialect = inner.dialect
        self.url: str = inner.url

    def fault(self) -> str | None:
        """The fault in force now (None: none)."""
        if self.fault_file is None:
            return None
        try:
            words = self.fault_file.read_text().split()
        except OSError:
            return None
        mode = words[0] if words else MODES[0]
        return mode if mode in MODES else MODES[0]

    def apply(self, tasks: Sequence[WriteTask], now_ms: int) -> list[Any]:
        if self.write_rate > 0:
            events = sum(t.size for t in tasks if isinstance(t, EventBatch | RecordBatch))
            if events:
                time.sleep(events / self.write_rate)
        mode = self.fault()
        if mode == "ioerr":
            raise _io_error()
        results = self.inner.apply(tasks, now_ms)
        if mode == "ioerr-after-commit":
            self._used()
            raise _io_error()
        return results

    def _used(self) -> None:
        """After a failure: remove a fault file that says ``once``."""
        assert self.fault_file is not None
        try:
            if "once" in self.fault_file.read_text().split()[1:]:
                self.fault_file.unlink()
        except OSError:
            pass

    # -- everything else: the real store --------------------------------------------------
    def open(self, now_ms: int, *, maintain: bool = True) -> MaintenanceReport | None:
        return self.inner.open(now_ms, maintain=maintain)

    def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        return self.inner.fetch(sql, params)

    def request_key_condition(self, kind: str, cycle: int, request_key: str) -> \
            tuple[str, list[Any]]:
        return self.inner.request_key_condition(kind, cycle, request_key)

    def search_messages(self, query: MessageQuery) -> MessageResult:
        return self.inner.search_messages(query)

    @property
    def has_deferred_indexes(self) -> bool:
        return self.inner.has_deferred_indexes

    def held(self) -> dict[int, int | None]:
        return self.inner.held()

    def entities(self) -> dict[str, dict[str, str]]:
        return self.inner.entities()

    def table_sizes(self) -> dict[str, int]:
        return self.inner.table_sizes()

    def add_key(self, hash_: str, scope: str, name: str | None, src_prefix: str | None,
                now_ms: int) -> int:
        return self.inner.add_key(hash_, scope, name, src_prefix, now_ms)

    def list_keys(self) -> list[KeyRow]:
        return self.inner.list_keys()

    def revoke_key(self, key_id: int, now_ms: int) -> bool:
        return self.inner.revoke_key(key_id, now_ms)

    def keys_version(self) -> object:
        return self.inner.keys_version()

    def small_write(self, sql: str, params: tuple[Any, ...]) -> int:
        return self.inner.small_write(sql, params)

    def small_writes(self, sql: str, rows: list[tuple[Any, ...]], *,
                     returning: bool = False) -> list[tuple[Any, ...]]:
        return self.inner.small_writes(sql, rows, returning=returning)

    def small_transaction(self, steps: Sequence[tuple[str, tuple[Any, ...]]], *,
                          returning: bool = False) -> list[tuple[Any, ...]]:
        return self.inner.small_transaction(steps, returning=returning)

    def health(self) -> StoreHealth:
        return self.inner.health()

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Engine extras (start_background, path, ...) of the real store.
        return getattr(self.inner, name)


def _io_error() -> StoreUnavailable:
    return StoreUnavailable("the store cannot take writes right now (disk I/O error, "
                            f"injected by {FILE_ENV}); retry later")
