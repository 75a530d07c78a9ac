"""The thread that keeps the SQLite message index (store/sqlite_search.py) up with ingest.

It owns the only write connection to the index file (``logcycle.db-search``), with the
main file attached read-only as ``src``: it never takes the main file's write lock, so
the writer never waits for it, and the FTS5 work runs in SQLite without the GIL, beside
the writer, on the other core. Paced by ingest itself: the writer pokes it after each
commit; it waits at least ``STEP_EVERY_S`` between runs (larger steps build the index
more cheaply than one per commit) and then indexes in steps of at most ``MAX_STEP`` rows,
one transaction each, until it has caught up. So it uses CPU in proportion to the
ingest rate, not a fixed share.

Its priority follows ``search_index_lag``. With ``scan`` (the default) the thread runs at
a lower CPU priority (nice +10) and takes only the CPU that ingest and queries leave; on a
machine with none to spare that starved it (measured: 30 s behind). So a second thread at
the server's priority (the *catch-up* thread) takes the steps whenever rows have waited
more than ``CATCH_UP_S`` and the index trails by less than ``search_index_max_lag_s``: a
stream the index can absorb is indexed within about a second whatever else runs, and
only above that bound (a burst beyond what the index absorbs) does the index yield the
CPU to ingest and let searches scan, until ingest pauses for ``CATCH_UP_S``. (Two
threads because an unprivileged thread may lower its priority but never raise it
again.) With ``slow-ingest`` the one thread runs at the server's priority.

    indexer = SearchIndexer(main_path, index_path)
    indexer.start()           # the server; CLI commands never start it
    indexer.poke()            # after a commit
    indexer.step(1000)        # one step now, on the caller's thread (tests, benchmarks)
    indexer.lag_s             # seconds of rows behind, as of its last step

What the lag means for writers is the setting ``search_index_lag`` (docs/settings.md):
``scan`` (default) lets searches scan the rows not indexed yet, ``slow-ingest`` makes the
writer answer 503 + Retry-After while the index trails by more than
``search_index_max_lag_s``. Crossing that bound either way is logged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from logcycle.cycles import CYCLES
from logcycle.store import sqlite_counts, sqlite_search

STEP_EVERY_S = 0.1
MAX_STEP = 20_000
IDLE_WAIT_S = 1.0
NICE = 10  # the indexer thread's nice value with search_index_lag=scan
CATCH_UP_S = 1.0  # rows waiting longer than this: the catch-up thread steps in
CATCH_UP_CHECK_S = 0.2
# FTS5 merges a level's segments once it holds this many (its default: 4). Each step adds
# one segment; merging at 8 cost 25-30% less CPU per row indexed than at 4 (8 µs instead
# of 11.4, 400,000 rows in 20,000-row steps, same run), and queries read at most twice
# the segments (a rare trigram pair 0.15 ms, 100 common matches 0.2-0.7 ms).
AUTOMERGE = 8
log = logging.getLogger("logcycle.store")


def uri(path: Path, *, readonly: bool) -> str:
    return f"file:{urllib.parse.quote(str(path))}{'?mode=ro' if readonly else ''}"


def connect_index(main: Path, index: Path) -> sqlite3.Connection:
    """The index file's write connection, with the main file attached as ``src``."""
    conn = sqlite3.connect(uri(index, readonly=False), uri=True, isolation_level=None,
                           check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -32768")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("ATTACH DATABASE ? AS src", (uri(main, readonly=True),))
    for stmt in sqlite_search.ddl():
        conn.execute(stmt)
    sqlite_counts.upgrade(conn)
    for kind in sqlite_search.INDEXED_KINDS:  # kept in each index's own config table
        for cycle in range(CYCLES):
            fts = sqlite_search.fts_table(kind, cycle)
            conn.execute(f"INSERT INTO {fts} ({fts}, rank) VALUES ('automerge', {AUTOMERGE})")
    return conn


def _lower_priority(nice: int) -> None:
    """Give this thread only the CPU that ingest and queries leave (Linux: a thread's
    nice value is its own). Measured on the shared 2 cores: at the same priority the
    indexer took half of the writer's rate; at +10 ingest kept its rate and the index
    trailed instead (docs/architecture.md)."""
    if nice:
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


class SearchIndexer:
    """Builds the message index of one SQLite store on a thread of its own."""

    def __init__(self, main: Path, index: Path, *, max_lag_s: float = 10.0) -> None:
        self.main, self.index = main, index
        self.max_lag_s = max_lag_s
        # search_index_lag=scan: the indexer yields the CPU (NICE); slow-ingest: it
        # competes with ingest at the same priority, and ingest is refused when it trails.
        self.nice = NICE
        self.lag_s = 0.0  # as of the last step: seconds of rows not indexed yet
        self.indexed = 0
        self.behind = False  # the lag passed max_lag_s (logged once each way)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one step at a time
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Monotonic times: the first poke not yet indexed, the last poke.
        self._pending_since: float | None = None
        self._last_poke = 0.0

    def open(self) -> None:
        """Create the index file and its tables (idempotent)."""
        with self._lock:
            if self._conn is None:
                self._conn = connect_index(self.main, self.index)

    def poke(self) -> None:
        """Rows were committed: index them soon."""
        self._last_poke = time.monotonic()
        if self._pending_since is None:
            self._pending_since = self._last_poke
        self._poked.set()

    @property
    def waiting_s(self) -> float:
        """How long committed rows have waited for the index (0: none wait)."""
        since = self._pending_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def step(self, max_rows: int) -> int:
        """Index up to ``max_rows`` rows in one transaction of the index file; the number
        indexed (0: up to date). Thread-safe."""
        with self._lock:
            if self._conn is None:
                self._conn = connect_index(self.main, self.index)
            conn = self._conn
            began = time.monotonic()
            try:
                conn.execute("BEGIN")
                done = sqlite_search.build(conn, max_rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self.indexed += done
            self._measure(conn, caught_up=done < max_rows)
            if done < max_rows:  # caught up with every row committed before it began
                self._pending_since = None if self._last_poke < began else began
            return done

    def _measure(self, conn: sqlite3.Connection, *, caught_up: bool) -> None:
        lag = 0.0
        if not caught_up:
            lag = sqlite_search.lag_seconds(conn, sqlite_search.newest_cycles(conn, "src."),
                                            main="src.", index="")
        self.lag_s = lag
        if lag > self.max_lag_s and not self.behind:
            self.behind = True
            log.warning("the message search index trails ingest by %.1f s (more than "
                        "search_index_max_lag_s, %.1f s): searches scan the rows not "
                        "indexed yet", lag, self.max_lag_s)
        elif self.behind and lag <= self.max_lag_s / 2:
            self.behind = False
            log.info("the message search index caught up (%.1f s behind)", lag)

    # -- the threads -----------------------------------------------------------------------
    def start(self) -> None:
        if not self._threads:
            self._stop.clear()
            self._threads = [threading.Thread(target=self._run, daemon=True,
                                              name="logcycle-search-indexer")]
            if self.nice:
                self._threads.append(threading.Thread(target=self._catch_up, daemon=True,
                                                      name="logcycle-search-catch-up"))
            for t in self._threads:
                t.start()

    def _run(self) -> None:
        _lower_priority(self.nice)
        last = 0.0
        while not self._stop.is_set():
            self._poked.wait(IDLE_WAIT_S)
            pause = last + STEP_EVERY_S - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                break
            self._poked.clear()
            last = time.monotonic()
            self._steps(lambda: True)

    def _catch_up(self) -> None:
        """At the server's priority: index whenever rows have waited more than
        ``CATCH_UP_S``, while the index trails by no more than ``max_lag_s`` or ingest
        has paused (then there is no ingest to yield to)."""
        while not self._stop.wait(CATCH_UP_CHECK_S):
            if self.waiting_s > CATCH_UP_S and self._may_compete():
                self._steps(self._may_compete)

    def _may_compete(self) -> bool:
        paused = time.monotonic() - self._last_poke > CATCH_UP_S
        return paused or self.lag_s <= self.max_lag_s

    def _steps(self, go_on: Callable[[], bool]) -> None:
        """Steps until caught up (or stopped, or ``go_on()`` is false)."""
        try:
            while not self._stop.is_set() and self.step(MAX_STEP) >= MAX_STEP and go_on():
                pass
        except sqlite3.Error as exc:
            log.warning("search index step failed: %s", exc)
            self._stop.wait(1.0)
        except Exception:  # a bug in a background step must not stop the thread
            log.exception("search index step failed")
            self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        self._poked.set()
        for t in self._threads:
            t.join()
        self._threads = []
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
