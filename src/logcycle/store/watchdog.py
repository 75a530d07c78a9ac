"""Stops SQLite reads that pass their deadline, from a thread of its own.

A progress handler would do it from inside the query, but it is a Python call: it waits
for the GIL each time. Every 100,000 VM instructions (well under a millisecond of a
scan), a search during a steady stream waited for the GIL dozens of times while the
event loop decoded batches. So the read threads only register the statement they run,
and this thread, about ten times a second, calls ``interrupt()`` on the connections
whose deadline has passed; SQLite then fails the statement with "interrupted".

    dog = Watchdog()
    with dog.watch(conn, time.monotonic() + 10.0):
        conn.execute(sql).fetchall()   # sqlite3.OperationalError "interrupted" past it
    dog.close()
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator

EVERY_S = 0.1


class Watchdog:
    """Interrupts the statements registered with :meth:`watch` past their deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, tuple[sqlite3.Connection, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, conn: sqlite3.Connection, deadline: float) -> Iterator[None]:
        """Interrupt what ``conn`` runs inside once ``time.monotonic()`` passes
        ``deadline``."""
        with self._lock:
            self._running[id(conn)] = (conn, deadline)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="logcycle-read-watchdog")
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(id(conn), None)

    def _run(self) -> None:
        while not self._stop.wait(EVERY_S):
            now = time.monotonic()
            # Under the lock: a connection is interrupted only while it is registered,
            # that is while the statement that registered it runs.
            with self._lock:
                for conn, deadline in self._running.values():
                    if deadline <= now:
                        conn.interrupt()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
