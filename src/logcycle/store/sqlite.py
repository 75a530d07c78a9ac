"""The embedded default store: one SQLite file in WAL mode.

One connection writes (the writer thread); each read thread has its own read-only
connection, so queries never wait for a commit. ``durability="normal"`` (synchronous=NORMAL)
keeps every committed transaction through a kill -9 of the server; ``"full"`` fsyncs each
commit and keeps it through power loss too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.errors import LogcycleError, StorageFull, StoreUnavailable, Unwritable
from logcycle.ingest.tasks import IndexSearch, WriteTask
from logcycle.kinds import KINDS
from logcycle.store import errorgroups, schema, search, sqlite_fields, sqlite_search, summary
from logcycle.store.base import KeyRow, MaintenanceReport, Rows, StoreHealth
from logcycle.store.sqlite_counts import BlockCounts
from logcycle.store.sqlite_indexer import NICE, SearchIndexer
from logcycle.store.sqlstore import SqlStore, without_nul
from logcycle.store.watchdog import Watchdog

QUERY_TIMEOUT_S = 10.0
CHECKPOINT_EVERY_S = 1.0
MAX_WAL_BYTES = 256 * 1024 * 1024
# Rows per INSERT statement of a batch, largest first (15 columns x 512 = 7,680
# parameters, within SQLite's 32,766); fewer than the smallest go one by one.
ROW_RUNS = (512, 64, 8)
MMAP_INDEX = 1 << 30  # bytes of the index file a reader maps (SQLite caps it at 2 GB)
log = logging.getLogger("logcycle.store")


FileId = tuple[int, int] | None


def file_id(path: Path) -> FileId:
    """The identity of the file at ``path`` (device, inode), None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only (0600, as secret.key), if
    there is none: SQLite gives the -wal and -shm files the database file's mode. An
    existing file keeps its mode (someone may have opened it to a group on purpose)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def path_of(url: str) -> Path:
    """``sqlite:///data/logcycle.db`` → ``data/logcycle.db``; ``sqlite:////abs`` → ``/abs``."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite store URL: {url!r} (expected sqlite:///path)")
    return Path(url[len("sqlite:///"):])


class SQLiteStore(SqlStore):
    dialect = schema.SQLITE

    def __init__(self, url: str, *, tz: ZoneInfo, retention_weeks: int,
                 durability: str = "normal", index_attributes: tuple[str, ...] = ()) -> None:
        super().__init__(url, tz=tz, retention_weeks=retention_weeks)
        self.index_attributes = tuple(sorted(set(index_attributes)))
        if durability not in ("normal", "full"):
            raise ValueError(f"durability must be normal or full, got {durability!r}")
        self.path = path_of(url)
        self.durability = durability
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._checkpointer: sqlite3.Connection | None = None
        self._watchdog = Watchdog()
        # Counts of patterns per message block, kept between searches (sqlite_counts).
        self.block_counts = BlockCounts()
        self._run_inserts: dict[tuple[str, int, int], str] = {}
        self._sizes: dict[str, tuple[int, int]] = {}  # table_sizes: (highest id, rows)
        self.search_path = self.path.with_name(self.path.name + "-search")
        self.indexer = SearchIndexer(self.path, self.search_path)
        # (st_dev, st_ino) of the database file and of its -wal, taken at open: a commit
        # is acknowledged only if both are still the files this store writes to.
        self._identity: tuple[FileId, FileId] | None = None
        self._lost: str | None = None  # why this store must not acknowledge writes
        self._checkpoint_error: str | None = None

    def _connect(self, *, readonly: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=30.0)
        try:
            self._configure(conn, readonly=readonly)
        except sqlite3.Error:
            conn.close()  # not left open read-only (a file it could not write), for reuse
            raise
        return conn

    def _configure(self, conn: sqlite3.Connection, *, readonly: bool) -> None:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        if readonly:
            conn.execute("PRAGMA query_only = 1")
            conn.execute(f"ATTACH DATABASE ? AS {sqlite_search.SCHEMA}",
                         (str(self.search_path),))
            # The message blocks that count totals (store/sqlite_counts.py) are read
            # whole: mapped, a million rows' blocks read in ~20 ms of CPU instead of ~50.
            conn.execute(f"PRAGMA {sqlite_search.SCHEMA}.mmap_size = {MMAP_INDEX}")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            summary.ensure_math(conn)  # the summaries' buckets (store/summary.py)
            sync = "FULL" if self.durability == "full" else "NORMAL"
            conn.execute(f"PRAGMA synchronous = {sync}")
            # Checkpoints run on their own thread (Checkpointer), not inside the writer's
            # commits: the writer only appends to the WAL.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            # Rotation frees whole tables. Builds with SECURE_DELETE on (Debian's) would zero
            # and write every freed page: 1.2 s instead of 0.1 s for a week of a million
            # events. FAST leaves freed pages as they are until new rows reuse them.
            conn.execute("PRAGMA secure_delete = FAST")

    def open(self, now_ms: int, *, maintain: bool = True) -> MaintenanceReport | None:
        """Create the file and schema if needed, then catch up rotation as of ``now_ms``."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(self.path)
            self._writer = self._connect(readonly=False)
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            self._create_schema(conn, now_ms)
            for stmt in schema.index_state_ddl(self.dialect):
                conn.execute(stmt)
            self._upgrade_request_key_index(conn)
            for c in range(cycles.CYCLES):
                for stmt in schema.rk_table_ddl(c):
                    conn.execute(stmt)
            for stmt in (sqlite_search.drop_from_main() + sqlite_fields.ddl()
                         + summary.ddl(self.dialect)):
                conn.execute(stmt)
            report = None
            if maintain or self._meta(conn, "current_week") is None:
                report = self._catch_up(conn, now_ms)
            conn.execute("COMMIT")
            self._identity = self._files()
            self.indexer.open()
            return report
        except sqlite3.Error as exc:
            if self._writer is not None:
                self._rollback(self._writer)
            raise StoreUnavailable(f"cannot open the SQLite store at {self.path}: {exc}") from exc
        except BaseException:  # a refusal (schema too new): release the write lock first
            if self._writer is not None:
                self._rollback(self._writer)
            raise

    # -- the files under the store: deleted or replaced behind its back -------------------
    def _files(self) -> tuple[FileId, FileId]:
        return file_id(self.path), file_id(self._wal_path())

    def _wal_path(self) -> Path:
        return self.path.with_name(self.path.name + "-wal")

    def _check_files(self) -> None:
        """Raise (and remember why) when the database file or its -wal is no longer the
        file this store opened: SQLite would go on committing into a deleted inode, and
        every write acknowledged from then on would be lost at the next start."""
        if self._lost is None and self._identity is not None \
                and self._files() != self._identity:
            gone = [name for name, was, now in zip(
                (self.path.name, self._wal_path().name), self._identity, self._files(),
                strict=True) if was != now]
            self._lost = (f"the store's file {' and '.join(gone)} in {self.path.parent} was "
                          "deleted or replaced while the server ran: writes are refused "
                          "from now on; restore the files or restart the server")
            log.critical("STORE FILES LOST: %s", self._lost)
        if self._lost is not None:
            raise StoreUnavailable(self._lost, code="store_files_lost")

    def health(self) -> StoreHealth:
        with contextlib.suppress(StoreUnavailable):
            self._check_files()
        behind = super().health().warnings
        return StoreHealth(self._lost, (*behind, *([self._checkpoint_error]
                                                   if self._checkpoint_error else [])))

    # -- hooks ----------------------------------------------------------------------------
    def _wconn(self) -> sqlite3.Connection:
        if self._writer is None:
            raise StoreUnavailable("the store is not open")
        if self._lost is not None:
            raise StoreUnavailable(self._lost, code="store_files_lost")
        return self._writer

    def _close_group(self, conn: Any, next_id: int, turn: int) -> None:
        super()._close_group(conn, next_id, turn)
        self._check_files()  # after COMMIT: a deletion just before it is caught too

    def _begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def _insert_many(self, conn: Any, sql: str, kind: str, cycle: int,
                     rows: list[tuple[Any, ...]], *, nul: bool = True) -> None:
        # SQLite text would hold NUL, but LIKE and FTS5 stop reading at it: text after a NUL
        # could never be found. Stored as U+FFFD, as on PostgreSQL.
        if nul:
            rows = without_nul(rows)
        # Runs of ROW_RUNS rows per statement, the tail row by row: each statement gives
        # the GIL up while SQLite steps it and waits for it back (up to the switch
        # interval while the event loop holds it); executemany steps once per row.
        i, n = 0, len(rows)
        for size in ROW_RUNS:
            if n - i < size:
                continue
            stmt = self._run_inserts.get((kind, cycle, size))
            if stmt is None:
                stmt = schema.insert_rows_sql(KINDS[kind], cycle, self.dialect, size)
                self._run_inserts[(kind, cycle, size)] = stmt
            while n - i >= size:
                conn.execute(stmt, list(chain.from_iterable(rows[i:i + size])))
                i += size
        if i < n:
            conn.executemany(sql, rows[i:])

    def _empty(self, conn: Any, table: str) -> None:
        # DELETE without WHERE uses SQLite's truncate optimization: pages are freed whole,
        # never row by row.
        conn.execute(f"DELETE FROM {table}")

    def _is_db_error(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.Error)

    def _translate(self, exc: Exception) -> LogcycleError:
        code = getattr(exc, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_FULL:
            return StorageFull("the disk is full: nothing of this request was stored; free "
                               "space or lower --retention-weeks, then retry")
        if _input_fault(exc):
            return Unwritable(f"the store cannot hold this data ({exc}); it was not stored")
        return StoreUnavailable(f"the store cannot take writes right now ({exc}); retry later")

    # -- the request_key index, built behind the writer ------------------------------------
    @property
    def has_deferred_indexes(self) -> bool:
        return True

    # The summaries fold a bounded step at a time: True while they trail the rows
    # written, so that the writer runs another Reindex even when no write comes.
    reindex_behind = False

    def _reindex(self, conn: Any) -> int:
        """Index the request keys (sqlstore.py) and the attributes (sqlite_fields.py) of
        the rows written since the last run, fold them into the duration summaries
        (store/summary.py) and new errors into their groups (store/errorgroups.py); the
        rows indexed (summaries and error groups not counted)."""
        high = (self._meta(conn, "next_id") or 1) - 1
        done = (self._copy_request_keys(conn, high)
                + sqlite_fields.copy(conn, high, self.index_attributes))
        _, self.reindex_behind = summary.copy(conn, self.dialect, high)
        errorgroups.index_errors(conn, self.dialect, high)
        return done

    def _upgrade_request_key_index(self, conn: Any) -> None:
        """Schema version 2 keyed lc_rk_<cycle> by (request_key, id); version 3 cuts it
        into segments (schema.rk_table_ddl). The old tables go and the next reindex fills
        the new ones again (watermark 0); lookups scan the rows above it meanwhile."""
        cols = {r[1] for r in conn.execute(f"PRAGMA table_info({schema.rk_table(0)})")}
        if not cols or "seg" in cols:
            return
        for c in range(cycles.CYCLES):
            conn.execute(f"DROP TABLE IF EXISTS {schema.rk_table(c)}")
        conn.execute("DELETE FROM lc_index_state WHERE name = 'rk'")
        log.info("schema upgraded: the request_key index is rebuilt in segments")

    def _empty_cycle(self, conn: Any, cycle: int) -> None:
        super()._empty_cycle(conn, cycle)
        conn.execute(f"DELETE FROM {schema.rk_table(cycle)}")
        sqlite_fields.empty_cycle(conn, cycle)
        conn.execute(summary.empty_cycle_sql(cycle))

    def attribute_condition(self, kind: str, cycle: int, key: str, value: str) -> \
            tuple[str, list[Any]] | None:
        return sqlite_fields.condition(kind, cycle, key, value, self.index_attributes)

    # -- the message search index (store/sqlite_search.py): its own file and thread ------
    def apply(self, tasks: Sequence[WriteTask], now_ms: int) -> list[Any]:
        if tasks and all(isinstance(t, IndexSearch) for t in tasks):
            return [self._index_now(t.max_rows) for t in tasks if isinstance(t, IndexSearch)]
        results = super().apply(tasks, now_ms)
        self.indexer.poke()
        return results

    def _index_now(self, max_rows: int) -> int:
        """One index step on the caller's thread (tests, benchmarks, ``IndexSearch``)."""
        try:
            return self.indexer.step(max_rows)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    @property
    def search_max_lag_s(self) -> float:
        return self.indexer.max_lag_s

    @search_max_lag_s.setter
    def search_max_lag_s(self, seconds: float) -> None:
        self.indexer.max_lag_s = seconds

    @property
    def search_index_yields(self) -> bool:
        return self.indexer.nice > 0

    @search_index_yields.setter
    def search_index_yields(self, yields: bool) -> None:
        self.indexer.nice = NICE if yields else 0

    def search_index_behind(self) -> float | None:
        return self.indexer.lag_s if self.indexer.behind else None

    def search_index_lag(self) -> tuple[int, float]:
        """(rows of the newest week not in the message index, seconds of ingest they
        span up to the newest row), one snapshot of both files."""
        with self._read_session():
            return sqlite_search.lag(self._reader(),
                                     sqlite_search.newest_cycles(self._reader()))

    def _message_arms(self, q: search.MessageQuery) -> list[search.Arm]:
        return sqlite_search.arms(q, self.fetch, self.block_counts)

    @contextlib.contextmanager
    def _read_session(self) -> Iterator[None]:
        """One read transaction (one snapshot) and one deadline for all its queries."""
        if getattr(self._local, "deadline", None) is not None:
            yield
            return
        conn = self._reader()
        self._local.deadline = time.monotonic() + QUERY_TIMEOUT_S
        try:
            conn.execute("BEGIN")
            yield
        finally:
            self._local.deadline = None
            if conn.in_transaction:
                conn.execute("COMMIT")

    def request_key_condition(self, kind: str, cycle: int, request_key: str) -> \
            tuple[str, list[Any]]:
        # One IN list (not `IN (…) OR …`): with ORDER BY id, SQLite scanned the whole table
        # for the OR (3 ms at 10,000 rows, seconds at a million); the IN list is sorted, so
        # it is read by rowid in either order (tests/store/test_query_plans.py).
        ids, params = self._rk_ids(kind, cycle, request_key)
        return f"id IN ({ids})", params

    # -- reads ----------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(readonly=True)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        conn = self._reader()
        deadline = getattr(self._local, "deadline", None) or time.monotonic() + QUERY_TIMEOUT_S
        try:
            if time.monotonic() >= deadline:
                raise sqlite3.OperationalError("interrupted")
            # Stopped past the deadline by a thread of its own (store/watchdog.py), not
            # by a progress handler, which would wait for the GIL inside every scan.
            with self._watchdog.watch(conn, deadline):
                cur = conn.execute(sql, tuple(params))
                rows = cur.fetchall()
            names = [d[0] for d in cur.description or ()]
            return names, rows
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise StoreUnavailable("the query took longer than "
                                       f"{QUERY_TIMEOUT_S:.0f} s: narrow it (a time range, a "
                                       "kind or a request key)", code="query_timeout") from exc
            raise StoreUnavailable(f"the store cannot answer right now ({exc})") from exc
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store cannot answer right now ({exc})") from exc

    def table_sizes(self) -> dict[str, int]:
        """Rows per table. A table only grows, by ids above every id it holds, until a
        rotation empties it: each count is kept with the highest id it covered, and a
        later call counts only the rows above that id, in one statement (one snapshot)
        that also checks that the row of the kept id is still there (a table emptied
        since has lost it, and ids are never reused: it is counted whole again). A
        ``count(*)`` of a million rows took ~0.18 s; ``GET /api/v1/status`` runs this."""
        out: dict[str, int] = {}
        for kind in KINDS:
            for c in range(cycles.CYCLES):
                name = schema.table(kind, c)
                with self._lock:
                    kept = self._sizes.get(name)
                rows: list[tuple[Any, ...]] = []
                if kept is not None:
                    high, count = kept
                    _, rows = self.fetch(
                        f"SELECT EXISTS (SELECT 1 FROM {name} WHERE id = ?), count(*), "
                        f"max(id) FROM {name} WHERE id > ?", (high, high))
                    there, above, top = rows[0]
                    rows = [(count + int(above), high if top is None else top)] if there else []
                if not rows:
                    _, rows = self.fetch(f"SELECT count(*), max(id) FROM {name}", ())
                n, top = int(rows[0][0]), rows[0][1]
                with self._lock:
                    if top is None:
                        self._sizes.pop(name, None)
                    else:
                        self._sizes[name] = (int(top), n)
                out[name] = n
        return out

    # -- keys (short transactions of their own: the CLI uses them while a server runs) ----
    _sql_short_begin = "BEGIN IMMEDIATE"

    def _short_conn(self) -> sqlite3.Connection:
        return self._connect(readonly=False)

    def _short_write(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        conn = self._connect(readonly=False)
        try:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute(sql, params)
            conn.execute("COMMIT")
            return cur
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise self._translate(exc) from exc
        finally:
            conn.close()

    def add_key(self, hash_: str, scope: str, name: str | None, src_prefix: str | None,
                now_ms: int) -> int:
        cur = self._short_write(
            "INSERT INTO lc_keys (id, hash, scope, name, src_prefix, created) VALUES "
            "((SELECT COALESCE(MAX(id), 0) + 1 FROM lc_keys), ?, ?, ?, ?, ?)",
            (hash_, scope, name, src_prefix, now_ms))
        self._keys_changed()
        return int(cur.lastrowid or 0)

    def small_write(self, sql: str, params: tuple[Any, ...]) -> int:
        """One statement in a short transaction of its own (any thread); rows changed."""
        return int(self._short_write(sql, params).rowcount)

    def list_keys(self) -> list[KeyRow]:
        _, rows = self.fetch("SELECT id, hash, scope, name, src_prefix, created, revoked "
                             "FROM lc_keys ORDER BY id", ())
        return [KeyRow(*r) for r in rows]

    def revoke_key(self, key_id: int, now_ms: int) -> bool:
        cur = self._short_write("UPDATE lc_keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
                                (now_ms, key_id))
        self._keys_changed()
        return cur.rowcount > 0

    # A key added or revoked (by any process) replaces the small file logcycle.db-keys
    # after its commit: a new inode, seen by one stat() per request (api/auth.py), so a
    # revocation holds from the next request on.
    @property
    def _keys_stamp(self) -> Path:
        return self.path.with_name(self.path.name + "-keys")

    def _keys_changed(self) -> None:
        tmp = self._keys_stamp.with_name(f"{self._keys_stamp.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"keys changed by process %d\n" % os.getpid())
        finally:
            os.close(fd)
        os.replace(tmp, self._keys_stamp)

    def keys_version(self) -> object:
        try:
            st = os.stat(self._keys_stamp)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)

    def checkpoint(self, *, truncate: bool = False) -> None:
        """Copy the WAL into the database file. PASSIVE never blocks the writer;
        TRUNCATE (when the WAL grew large) waits for a moment between commits."""
        mode = "TRUNCATE" if truncate else "PASSIVE"
        try:
            conn = self._checkpointer
            if conn is None:
                conn = self._checkpointer = self._connect(readonly=False)
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
        except sqlite3.Error as exc:
            if self._checkpointer is not None:  # reconnect next time: it may have been
                self._checkpointer.close()      # opened while the file was unwritable
                self._checkpointer = None
            if self._checkpoint_error is None:
                log.error("checkpoint failed: %s (the WAL grows until it succeeds)", exc)
            self._checkpoint_error = (f"checkpoints fail ({exc}): the WAL grows and is not "
                                      f"copied into {self.path.name}; check that "
                                      f"{self.path.parent} is writable")
        else:
            if self._checkpoint_error is not None:
                log.warning("checkpoints succeed again")
            self._checkpoint_error = None

    def wal_bytes(self) -> int:
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            return wal.stat().st_size
        except OSError:
            return 0

    _bg_name = "logcycle-checkpoint"

    def start_background(self) -> None:
        super().start_background()
        self.indexer.start()

    def _background_loop(self) -> None:
        """Checkpoints, every CHECKPOINT_EVERY_S."""
        while not self._bg_stop.wait(CHECKPOINT_EVERY_S):
            self.checkpoint(truncate=self.wal_bytes() > MAX_WAL_BYTES)

    def close(self) -> None:
        self._stop_background()
        self.indexer.close()
        self._watchdog.close()
        if self._writer is not None:
            self.checkpoint(truncate=True)
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# What SQLite says about the statement or its values rather than about the database: the
# request that sent them is at fault, not the store.
_INPUT_MESSAGES = ("syntax error", "has no column named", "too big", "too many columns",
                   "duplicate column")


def _input_fault(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.DataError | sqlite3.IntegrityError | sqlite3.InterfaceError):
        return True
    return isinstance(exc, sqlite3.OperationalError) and any(
        m in str(exc) for m in _INPUT_MESSAGES)
