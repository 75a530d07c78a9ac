"""The PostgreSQL store: the same tables and views as on SQLite, in a schema of their own,
for stores that outgrow one machine or need several logcycle processes in front of them.

    store = PostgresStore("postgresql://logcycle@db.internal/logs?schema=logcycle",
                          tz=ZoneInfo("UTC"), retention_weeks=9)
    store.open(now_ms)

The URL is a libpq URL; logcycle reads one parameter of its own, ``schema`` (default
``logcycle``), the PostgreSQL schema that holds ``oslog_<kind>_0..9``, the views and the
``lc_*`` bookkeeping tables. Several logcycle processes, each with several writer
connections (``write_lanes``), may share one store. Their group commits overlap (COPY
is where the time goes) and still commit in id order:

- a group first *reserves*: ``lc_reserve(n)`` takes the next *ticket* (a number from the
  sequence ``lc_ticket``, and an advisory lock on it held until the group's transaction
  ends) and then the next n ids of the sequence ``lc_event_id``; a short lock makes the
  two one step, so tickets and ids are taken in the same order;
- the group writes its rows, then waits for the previous ticket's transaction to end
  (``lc_await``) before its COMMIT: groups commit in the order they reserved, that is in
  id order, whoever finishes its COPY first.

So a reader that sees id N sees every id below it that will ever be committed: keyset
pages and "newer than N" polls are exact across processes and connections (an id never
appears below a page already read). Rotation, retention, records and keys take the
store's advisory lock for their whole transaction (they have the store to themselves),
so they run once per week however many processes run, and never beside a reservation.
The arithmetic and the figures are in docs/scaling.md.

Batches go in with COPY; expired tables are emptied with TRUNCATE and the views moved with
CREATE OR REPLACE VIEW inside the rotation transaction. Two indexes are built behind the
writer, so that COPY writes only the tables' primary keys and the partial src index: the
request_key lookup (``lc_rk_<cycle>``, as on SQLite, but by a thread and a connection of
its own: ``start_background``), with it the attribute index of ``index_attributes``
(store/postgres_fields.py) and the duration summaries (store/summary.py), and, when the
extension can be created, a pg_trgm GIN index for wildcard searches of ``general``
messages (store/postgres_search.py).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict

from logcycle import cycles
from logcycle.errors import LogcycleError, StorageFull, StoreUnavailable, Unwritable
from logcycle.ingest.tasks import EventBatch, IndexSearch, Reindex, WriteTask
from logcycle.kinds import KINDS
from logcycle.store import (
    errorgroups,
    postgres_counts,
    postgres_fields,
    postgres_search,
    schema,
    search,
    summary,
)
from logcycle.store.base import KeyRow, MaintenanceReport, Rows
from logcycle.store.sqlstore import SqlStore, without_nul

log = logging.getLogger("logcycle.store")

DEFAULT_SCHEMA = "logcycle"
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
QUERY_TIMEOUT_MS = 10_000
LOCK_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 5
# First key of logcycle's advisory locks ("lc"); the second is a hash of the schema name,
# so stores in different schemas of one database do not wait for each other.
LOCK_CLASS = 0x6C63
SEQUENCE = "lc_event_id"
TICKETS = "lc_ticket"
ANALYZE_AFTER_ROWS = 50_000
REINDEX_EVERY_S = 1.0
SEARCH_EVERY_S = 0.25  # the message indexer's runs (steps of SEARCH_STEP rows each) …
SEARCH_GAP_S = 0.05  # … or this long after a commit of this process woke it
SEARCH_STEP = 20_000
# Rows put into the blocks' terms (store/postgres_counts.py) per step, at most: ~10-16 µs
# a row in the server, ~0.1 s a step; rows not in parts yet are counted by SQL.
TERMS_STEP = 8192


# What PostgreSQL says about the values or names one request sent rather than about the
# database (classes 22 and 23, and the names of a declared entity's columns).
INPUT_FAULTS = (psycopg.DataError, psycopg.IntegrityError, pgerrors.SyntaxError,
                pgerrors.DuplicateColumn, pgerrors.ReservedName, pgerrors.NameTooLong,
                pgerrors.InvalidName, pgerrors.TooManyColumns, pgerrors.InvalidColumnDefinition)


def parse_url(url: str) -> tuple[str, str]:
    """Split logcycle's ``schema`` parameter off a PostgreSQL URL.

    >>> parse_url("postgresql://u@h/db?schema=logs&sslmode=require")
    ('postgresql://u@h/db?sslmode=require', 'logs')
    >>> parse_url("postgres://h/db")
    ('postgres://h/db', 'logcycle')
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL store URL: {url!r} (expected postgresql://…)")
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = [v for k, v in query if k == "schema"]
    name = names[-1] if names else DEFAULT_SCHEMA
    if not SCHEMA_NAME.fullmatch(name):
        raise ValueError(f"schema {name!r} must match [a-z_][a-z0-9_]{{0,62}}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), name


def one_line(exc: BaseException) -> str:
    """A driver error as one line (libpq messages span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


class PostgresStore(SqlStore):
    dialect = schema.POSTGRES
    schema_version = schema.PG_SCHEMA_VERSION

    def __init__(self, url: str, *, tz: ZoneInfo, retention_weeks: int,
                 write_lanes: int = 1, index_attributes: tuple[str, ...] = ()) -> None:
        super().__init__(url, tz=tz, retention_weeks=retention_weeks)
        self.index_attributes = tuple(sorted(set(index_attributes)))
        self.conninfo, self.schema = parse_url(url)
        try:
            info = conninfo_to_dict(self.conninfo)
        except psycopg.Error as exc:
            raise ValueError(f"invalid PostgreSQL URL: {one_line(exc)}") from exc
        self._extra: dict[str, Any] = {}
        if "connect_timeout" not in info:
            self._extra["connect_timeout"] = CONNECT_TIMEOUT_S
        # Where, for messages: never the password.
        self.where = (f"{info.get('user') or 'default user'}@{info.get('host') or 'local socket'}"
                      f":{info.get('port') or 5432}/{info.get('dbname') or 'default database'}"
                      f" (schema {self.schema})")
        lock_id = zlib.crc32(self.schema.encode()) - 2**31  # a signed int4
        self._lock_key = (LOCK_CLASS, lock_id)
        self._sql_begin = f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, {lock_id})"
        # Tickets: the order of commits (lc_reserve, lc_await), a lock class per schema.
        self._ticket_class = zlib.crc32(f"{self.schema}:ticket".encode()) - 2**31
        index_lock = zlib.crc32(f"{self.schema}:index".encode()) - 2**31
        self._sql_try_index = f"SELECT pg_try_advisory_xact_lock({LOCK_CLASS}, {index_lock})"
        self._sql_lock_index = f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, {index_lock})"
        # The blocks' terms (store/postgres_counts.py): built by a thread of their own,
        # under a lock of their own, taken after the index lock wherever both are.
        terms_lock = zlib.crc32(f"{self.schema}:terms".encode()) - 2**31
        self._sql_try_terms = f"SELECT pg_try_advisory_xact_lock({LOCK_CLASS}, {terms_lock})"
        self._sql_lock_terms = f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, {terms_lock})"
        rk_lock = zlib.crc32(f"{self.schema}:rk".encode()) - 2**31
        self._sql_try_rk = f"SELECT pg_try_advisory_xact_lock({LOCK_CLASS}, {rk_lock})"
        self._sql_lock_rk = f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, {rk_lock})"
        self._sql_setup = f'SET search_path TO "{self.schema}"'
        self._copies = {(k, c): f"COPY {schema.table(k, c)} ({', '.join(KINDS[k].columns)}) "
                        "FROM STDIN" for k in KINDS for c in range(cycles.CYCLES)}
        self.write_lanes = write_lanes
        self._writers: list[psycopg.Connection[Any]] = []
        self._local = threading.local()
        self._readers: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self.trigram = False
        self.ascii_fold = False  # set on open (postgres_search.ascii_fold)
        self.kept_totals = postgres_search.KeptTotals()  # broad totals between searches
        self._indexed = 0  # rows indexed since the last ANALYZE
        self._side_indexed = 0  # rows the reindex steps indexed since their last ANALYZE
        self._search_bg: threading.Thread | None = None  # the message indexer
        self._search_wake = threading.Event()  # set by each commit of event batches
        self._terms_bg: threading.Thread | None = None  # the blocks' terms
        self._terms_wake = threading.Event()  # set by each message index step with rows
        self._search_behind = False  # the message indexer's last step did not catch up
        # Keys added or revoked by any process NOTIFY this channel in their transaction;
        # a listener thread counts the notifications (keys_version, api/auth.py).
        self._keys_channel = f"lc_keys_{zlib.crc32(self.schema.encode()):08x}"
        self._keys_seen = 0
        self._listener: threading.Thread | None = None

    # -- connections ----------------------------------------------------------------------
    def _connect(self, *, read: bool, role: str = "") -> psycopg.Connection[Any]:
        """A connection; ``application_name`` says what it is for (pg_stat_activity):
        logcycle-writer, logcycle-reader, logcycle-indexer, logcycle-admin."""
        role = role or ("reader" if read else "writer")
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True,
                                   **{**self._extra, "application_name": f"logcycle-{role}"})
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {self.where}: "
                                   f"{one_line(exc)}; check that it runs and that the store "
                                   "URL is right") from exc
        try:
            if read:
                conn.execute(f"{self._sql_setup}; SET statement_timeout = {QUERY_TIMEOUT_MS}; "
                             "SET default_transaction_read_only = on")
            else:
                conn.execute(f"{self._sql_setup}; SET lock_timeout = {LOCK_TIMEOUT_MS}; "
                             "SET idle_in_transaction_session_timeout = 60000")
        except psycopg.Error as exc:
            conn.close()
            raise StoreUnavailable(f"cannot set up a session on {self.where}: "
                                   f"{one_line(exc)}") from exc
        return conn

    def _thread_conn(self, *, read: bool) -> psycopg.Connection[Any]:
        """This thread's connection of one kind (a reader per read thread, a writer per
        writer lane), replaced when it broke."""
        attr, pool = ("rconn", self._readers) if read else ("wconn", self._writers)
        conn: psycopg.Connection[Any] | None = getattr(self._local, attr, None)
        if conn is None or conn.closed or conn.broken:
            fresh = self._connect(read=read)
            with self._lock:
                if conn is not None:
                    conn.close()
                    pool.remove(conn)
                pool.append(fresh)
            setattr(self._local, attr, fresh)
            conn = fresh
        return conn

    def _wconn(self) -> psycopg.Connection[Any]:
        return self._thread_conn(read=False)

    def _reader(self) -> psycopg.Connection[Any]:
        return self._thread_conn(read=True)

    # -- schema ---------------------------------------------------------------------------
    def open(self, now_ms: int, *, maintain: bool = True) -> MaintenanceReport | None:
        """Create or migrate the schema (under the store's lock, so processes starting
        together do not race), then catch up rotation as of ``now_ms``."""
        conn = self._wconn()
        try:
            conn.execute(self._sql_begin)
            version = self._check_version(conn)
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            self._create_schema(conn, now_ms)
            conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}")
            conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {TICKETS}")
            for stmt in self._order_functions():
                conn.execute(stmt)
            for stmt in schema.index_state_ddl(self.dialect):
                conn.execute(stmt)
            if version is not None and version < 3:
                self._upgrade_request_key_index(conn, version)
            for c in range(cycles.CYCLES):
                for stmt in schema.rk_table_ddl(c, self.dialect):
                    conn.execute(stmt)
            for stmt in summary.ddl(self.dialect) + postgres_fields.ddl():
                conn.execute(stmt)
            self._search_tables(conn, version)
            report = None
            if maintain or self._meta(conn, "current_week") is None:
                report = self._catch_up(conn, now_ms)
            conn.execute("COMMIT")
            return report
        except psycopg.Error as exc:
            self._rollback(conn)
            raise StoreUnavailable(f"cannot open the PostgreSQL store at {self.where}: "
                                   f"{one_line(exc)}") from exc
        except BaseException:
            self._rollback(conn)
            raise

    def _check_version(self, conn: Any) -> int | None:
        """The stored schema version (None: a new store); refuses a newer one."""
        if conn.execute("SELECT to_regclass('lc_meta')").fetchone()[0] is None:
            return None
        version = self._meta(conn, "schema_version")
        if version is not None and version > self.schema_version:
            raise LogcycleError(
                f"the store's schema is version {version}, newer than this logcycle "
                f"({self.schema_version}): upgrade logcycle before starting it on this store")
        return version

    def _upgrade_request_key_index(self, conn: Any, version: int) -> None:
        """Version 1 had an inline request_key index per table, version 2 the keys as
        text in lc_rk_<cycle>; version 3 keeps their hashes there. The old indexes go,
        lc_rk_<cycle> is filled again by the first reindexes (watermark 0), and lookups
        scan the rows above the watermark meanwhile (exact, slower for a while)."""
        if version < 2:
            names = [schema.old_request_key_index(k, c)
                     for k in KINDS for c in range(cycles.CYCLES)]
            conn.execute(f"DROP INDEX IF EXISTS {', '.join(names)}")
        conn.execute("DROP TABLE IF EXISTS "
                     + ", ".join(schema.rk_table(c) for c in range(cycles.CYCLES)))
        conn.execute("DELETE FROM lc_index_state WHERE name = 'rk'")
        log.info("schema upgraded from version %s: the request_key index is rebuilt behind "
                 "the writer", version)

    def _order_functions(self) -> list[str]:
        """``lc_reserve(n)``, ``lc_settled()`` and ``lc_await(ticket)``: the order of
        commits (module doc).

        ``lc_reserve`` holds the store's lock (session-level, released before it returns)
        while it takes the next ticket from the sequence ``lc_ticket`` and that ticket's
        lock (transaction-level: released when the group commits or rolls back), then n
        ids. It returns ``[ticket, first id (0 when n is 0), current week or NULL]``;
        the previous group's ticket is ``ticket - 1`` (tickets are taken only there).
        A ticket's lock key is the ticket modulo 2^32, in a lock class of the schema's
        own. ``lc_settled()`` returns ``[highest id reserved, last ticket]``: once that
        ticket's transaction has ended (``lc_await``), every id up to the first is
        committed or never will be."""
        s = f'"{self.schema}"'
        lock = f"{self._lock_key[0]}, {self._lock_key[1]}"
        key = "((({v}) % 4294967296) - 2147483648)::int"
        return [
            f"CREATE OR REPLACE FUNCTION {s}.lc_reserve(n bigint) RETURNS bigint[] "
            "LANGUAGE plpgsql AS $fn$ DECLARE ticket bigint; first_id bigint := 0; "
            "wk bigint; BEGIN "
            f"PERFORM pg_advisory_lock({lock}); "
            f"ticket := nextval('{s}.{TICKETS}'); "
            f"PERFORM pg_advisory_xact_lock({self._ticket_class}, {key.format(v='ticket')}); "
            f"IF n > 0 THEN first_id := nextval('{s}.{SEQUENCE}'); END IF; "
            f"IF n > 1 THEN PERFORM setval('{s}.{SEQUENCE}', first_id + n - 1); END IF; "
            f"SELECT value INTO wk FROM {s}.lc_meta WHERE name = 'current_week'; "
            f"PERFORM pg_advisory_unlock({lock}); "
            "RETURN ARRAY[ticket, first_id, wk]; END $fn$",
            f"CREATE OR REPLACE FUNCTION {s}.lc_settled() RETURNS bigint[] "
            "LANGUAGE plpgsql AS $fn$ DECLARE top bigint; top_called boolean; t bigint; "
            "t_called boolean; BEGIN "
            f"PERFORM pg_advisory_lock({lock}); "
            f"SELECT last_value, is_called INTO top, top_called FROM {s}.{SEQUENCE}; "
            f"SELECT last_value, is_called INTO t, t_called FROM {s}.{TICKETS}; "
            f"PERFORM pg_advisory_unlock({lock}); "
            "RETURN ARRAY[CASE WHEN top_called THEN top ELSE top - 1 END, "
            "CASE WHEN t_called THEN t ELSE 0 END]; END $fn$",
            f"CREATE OR REPLACE FUNCTION {s}.lc_await(ticket bigint) RETURNS void "
            "LANGUAGE sql AS $fn$ SELECT pg_advisory_xact_lock_shared("
            f"{self._ticket_class}, {key.format(v='ticket')}) $fn$",
        ]

    def _search_tables(self, conn: Any, version: int | None) -> None:
        """The message index built behind the writer (store/postgres_search.py). Up to
        version 4 it held a row per event: those tables go, and the new ones are filled
        from watermark 0 (searches scan the rows above it meanwhile, exact)."""
        if version is not None and version < 5:
            conn.execute(postgres_search.drop_old_sql())
            conn.execute("DELETE FROM lc_index_state WHERE name LIKE 'search\\_%'")
            log.info("schema upgraded from version %s: the message index is rebuilt in "
                     "blocks behind the writer", version)
        if not postgres_search.usable(conn):
            log.warning("the database is not UTF-8 or its default collation is ICU's: the "
                        "message index's candidate filter needs lower() to map each "
                        "character on its own, so message search scans the tables")
            self.trigram = False
            return
        # All-ASCII messages are matched through the "C" collation where that is exact.
        self.ascii_fold = postgres_search.ascii_fold(conn)
        ext = self._trigram_schema(conn)
        self.trigram = ext is not None
        if ext is None:
            return
        opclass = f"{pgsql.Identifier(ext).as_string(conn)}.gin_trgm_ops"
        for stmt in postgres_search.ddl(opclass):
            conn.execute(stmt)
        for stmt in postgres_counts.ddl(postgres_counts.has_lz4(conn)):
            conn.execute(stmt)

    def _trigram_schema(self, conn: Any) -> str | None:
        sql = ("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
               "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'")
        row = conn.execute(sql).fetchone()
        if row is not None:
            return str(row[0])
        # In `public`, never in logcycle's schema: dropping that must not drop the extension.
        conn.execute("SAVEPOINT lc_ext")
        try:
            conn.execute(f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, 0)")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            conn.execute("RELEASE SAVEPOINT lc_ext")
        except psycopg.Error as exc:
            conn.execute("ROLLBACK TO SAVEPOINT lc_ext")
            log.warning("pg_trgm is not available (%s): message search scans the tables; a "
                        "database owner can run CREATE EXTENSION pg_trgm", one_line(exc))
            return None
        return "public"

    # -- the write transaction: overlapping groups, commits in id order ---------------------
    def _exclusive(self, tasks: Sequence[WriteTask]) -> bool:
        # Event batches overlap; records (MAX(id) + 1 per entity table), entities and
        # maintenance have the store to themselves.
        return not all(isinstance(t, EventBatch) for t in tasks)

    # A group costs four round trips: BEGIN and the reservation in one pipeline, the COPY
    # (two), the wait for its turn and the COMMIT in one pipeline. Each round trip is also
    # a wait for the GIL when it returns, while request threads decode.
    def _open_group(self, conn: Any, tasks: Sequence[WriteTask], *,
                    exclusive: bool) -> tuple[int, int | None, int]:
        n = sum(t.ids_needed for t in tasks if isinstance(t, EventBatch))
        with conn.pipeline():
            conn.execute("BEGIN")
            if exclusive:
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", self._lock_key)
            cur = conn.execute("SELECT lc_reserve(%s)", (n,))
        ticket, first, week = cur.fetchone()[0]
        return int(first), (None if week is None else int(week)), int(ticket)

    def _close_group(self, conn: Any, next_id: int, turn: int) -> None:
        with conn.pipeline():
            if turn > 1:  # commit after the group that reserved before this one
                conn.execute("SELECT lc_await(%s)", (turn - 1,))
            conn.execute("COMMIT")

    def _rollback(self, conn: Any) -> None:
        # A failure inside lc_reserve could leave its session-level lock held.
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
            conn.execute("SELECT pg_advisory_unlock_all()")

    def _insert_many(self, conn: Any, sql: str, kind: str, cycle: int,
                     rows: list[tuple[Any, ...]], *, nul: bool = True) -> None:
        if nul:
            rows = without_nul(rows)
        with conn.cursor().copy(self._copies[(kind, cycle)]) as copy:
            write = copy.write_row
            for row in rows:
                write(row)

    def _empty(self, conn: Any, table: str) -> None:
        conn.execute(f"TRUNCATE {table}")

    def _empty_cycle(self, conn: Any, cycle: int) -> None:
        if self.trigram:
            # Wait for a message index step to end, and keep the next one out: a step
            # reads the log tables and writes the side tables that TRUNCATE locks one
            # after the other, and the two deadlocked (tests/store/test_search_under_ingest).
            conn.execute(self._sql_lock_index)
            conn.execute(self._sql_lock_terms)  # and a terms step (the same reason)
        # The same for a reindex step (request keys, attributes, summaries): it reads the
        # log tables and writes the side tables that TRUNCATE locks one after the other.
        conn.execute(self._sql_lock_rk)
        tables = [*(schema.table(k, cycle) for k in KINDS), schema.rk_table(cycle),
                  summary.table(cycle), postgres_fields.table(cycle)]
        conn.execute(f"TRUNCATE {', '.join(tables)}")
        if self.trigram:
            conn.execute(postgres_search.empty_cycle_sql(cycle))
            conn.execute(postgres_counts.empty_cycle_sql(cycle))

    # -- the request_key index, built behind the writer (as on SQLite) ---------------------
    # Not by the writer thread: on PostgreSQL the side table costs a heap row and a B-tree
    # entry per event, about what the inline index cost, so it runs on a connection and a
    # thread of its own (start_background) beside the COPYs instead of between them.
    _bg_name = "logcycle-reindex"

    def _background_loop(self) -> None:
        """The request_key indexer: a run every REINDEX_EVERY_S from the start of the last
        one (at once when a run took longer), so the index trails ingest by about a
        second's rows."""
        self._steps_loop("reindex", REINDEX_EVERY_S, self._reindex_steps, from_start=True)

    def _steps_loop(self, what: str, every_s: float, step: Callable[[Any], object], *,
                    from_start: bool = False, wake: threading.Event | None = None) -> None:
        """``step(conn)`` every ``every_s`` (from the start of the last run when
        ``from_start``, else from its end; or SEARCH_GAP_S after ``wake`` was set) on an
        indexer connection of its own, until ``_bg_stop``; a failing step is logged and
        retried at the next turn."""
        conn: psycopg.Connection[Any] | None = None
        started = time.monotonic()
        while not self._bg_stop.is_set():
            if wake is not None:
                wake.wait(every_s)
                if self._bg_stop.wait(SEARCH_GAP_S):
                    break
                wake.clear()
            elif self._bg_stop.wait(max(0.0, started + every_s - time.monotonic())
                                    if from_start else every_s):
                break
            started = time.monotonic()
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = self._connect(read=False, role="indexer")
                step(conn)
            except (psycopg.Error, StoreUnavailable) as exc:
                log.warning("%s failed: %s", what, one_line(exc))
                if conn is not None:
                    self._rollback(conn)
            except Exception:  # a bug in a background step must not stop the thread
                log.exception("%s failed", what)
                if conn is not None:
                    self._rollback(conn)
        if conn is not None:
            conn.close()

    def reindex(self) -> int:
        """One reindex now, on the writer's connection (tests, ``Reindex`` tasks)."""
        conn = self._wconn()
        try:
            return self._reindex_steps(conn)
        except psycopg.Error as exc:
            self._rollback(conn)
            raise self._translate(exc) from exc

    def _reindex_steps(self, conn: Any) -> int:
        """Copy the request keys of rows written since the last run into each cycle's
        ``lc_rk_<cycle>``, sorted, and move the cycle's watermark. First a short
        transaction that reads the highest id reserved and waits for the last ticket:
        when it ends, every id up to that one is committed or never will be (no writer
        waits for this one). Then the copy, under a lock of its own (one process
        indexes at a time; the others skip), while writers go on."""
        conn.execute("BEGIN")
        high, last = conn.execute("SELECT lc_settled()").fetchone()[0]
        if last:
            conn.execute("SELECT lc_await(%s)", (last,))
        conn.execute("COMMIT")
        conn.execute("BEGIN")
        got = conn.execute(self._sql_try_rk).fetchone()
        if got is None or not got[0]:
            conn.execute("ROLLBACK")
            return 0
        done = (self._copy_request_keys(conn, int(high))
                + postgres_fields.copy(conn, int(high), self.index_attributes))
        _, self.reindex_behind = summary.copy(conn, self.dialect, int(high))  # a step
        errorgroups.index_errors(conn, self.dialect, int(high))
        conn.execute("COMMIT")
        self._side_indexed += done
        if self._side_indexed >= ANALYZE_AFTER_ROWS and not self.reindex_behind:
            self._analyze_side_tables(conn)
        return done

    def _analyze_side_tables(self, conn: Any) -> None:
        """ANALYZE the newest week's side tables once they grew (caught up): with the
        statistics of a fresh table the planner reads the request-key index and the
        summaries by sequential scans (a Reports question took 0.46 s, 0.17 s after)."""
        row = conn.execute("SELECT value FROM lc_meta WHERE name = 'current_week'").fetchone()
        if row is None:
            return
        c = int(row[0]) % cycles.CYCLES
        conn.execute(f"ANALYZE {schema.rk_table(c)}, {summary.table(c)}, "
                     f"{postgres_fields.table(c)}")
        self._side_indexed = 0

    def _reindex(self, conn: Any) -> int:
        raise LogcycleError("on PostgreSQL the request_key index is built by reindex()")

    # The summaries fold a bounded step at a time (store/summary.py): True while they
    # trail; the reindex thread runs every second anyway, tools loop on it.
    reindex_behind = False

    def request_key_condition(self, kind: str, cycle: int, request_key: str) -> \
            tuple[str, list[Any]]:
        # The ids are gathered into one array first: `id = ANY(...)` reads the table by its
        # primary key (in id order for ORDER BY … LIMIT), where `id IN (subquery)` may walk
        # the whole table (tests/store/test_query_plans.py).
        ids, params = self._rk_ids(kind, cycle, request_key,
                                   f" AND id <= {postgres_search.MAX_ID}")
        # lc_rk_<cycle> holds hashes of the keys: the key itself is checked on the row.
        return f"id = ANY(ARRAY({ids})) AND request_key = %s", [*params, request_key]

    def attribute_condition(self, kind: str, cycle: int, key: str, value: str) -> \
            tuple[str, list[Any]] | None:
        return postgres_fields.condition(kind, cycle, key, value, self.index_attributes)

    # -- the message index, built behind the writer (store/postgres_search.py) -------------
    def apply(self, tasks: Sequence[WriteTask], now_ms: int) -> list[Any]:
        if tasks and all(isinstance(t, Reindex) for t in tasks):
            return [self.reindex() for _ in tasks]
        if tasks and all(isinstance(t, IndexSearch) for t in tasks):
            return self._apply_index([t for t in tasks if isinstance(t, IndexSearch)])
        results = super().apply(tasks, now_ms)
        self._search_wake.set()
        return results

    # Not between the writer's commits either: paced there (until 2026-12) it got about
    # 2.5% of the writer's time and trailed a steady stream without bound. On a
    # connection and thread of its own the GIN inserts (fastupdate's pending list, merged
    # in bulk) run in their own backend beside the COPYs.

    def _search_loop(self) -> None:
        """The message indexer: SEARCH_GAP_S after a commit of this process (or every
        SEARCH_EVERY_S, for the other processes' rows), steps of SEARCH_STEP rows (one
        transaction each) until caught up, on a connection of its own. Woken by commits,
        not every 0.25 s: every row of the tail costs each search its ILIKE (~2 µs), so
        the tail is kept to a fraction of a second of the stream."""
        def until_caught_up(conn: Any) -> None:
            while not self._bg_stop.is_set() and \
                    self._index_steps(conn, [IndexSearch(SEARCH_STEP)],
                                      terms=False)[0] >= SEARCH_STEP:
                pass
        self._steps_loop("search index step", SEARCH_EVERY_S, until_caught_up,
                         wake=self._search_wake)

    def _apply_index(self, tasks: list[IndexSearch]) -> list[Any]:
        """One index step now, on the writer's connection (tests, ``IndexSearch``)."""
        return self._index_steps(self._wconn(), tasks)

    def _index_steps(self, conn: Any, tasks: list[IndexSearch], *,
                     terms: bool = True) -> list[Any]:
        """Index steps take a lock of their own, not the store's write lock: one process
        indexes while the others go on writing. When another process is indexing, this
        one has nothing to do (0). ``terms``: a step that caught up also puts rows into
        the blocks' terms (``IndexSearch``: tests, benches); the server's message indexer
        leaves them to the terms thread (``_terms_loop``), which it wakes."""
        try:
            conn.execute("BEGIN")
            got = conn.execute(self._sql_try_index).fetchone()
            if got is None or not got[0]:
                conn.execute("ROLLBACK")
                return [0 for _ in tasks]
            done = [self._index_search(conn, t.max_rows, terms) for t in tasks]
            conn.execute("COMMIT")
            if not terms:
                self._search_behind = any(d >= t.max_rows for d, t in zip(done, tasks,
                                                                          strict=True))
                if any(done):
                    self._terms_wake.set()
            return done
        except psycopg.Error as exc:
            self._rollback(conn)
            raise self._translate(exc) from exc

    def _index_search(self, conn: Any, max_rows: int, terms: bool = True) -> int:
        if not self.trigram:
            return 0
        done = postgres_search.build(conn, max_rows)
        self._indexed += done
        if done < max_rows and self._indexed >= ANALYZE_AFTER_ROWS and \
                postgres_search.analyze_newest(conn, self._indexed):  # caught up
            self._indexed = 0
        if terms and done < max_rows:  # caught up: the blocks' terms, a bounded step
            conn.execute(self._sql_lock_terms)
            done += postgres_counts.build(conn, min(TERMS_STEP, max_rows - done))
        return done

    def _terms_loop(self) -> None:
        """The blocks' terms (store/postgres_counts.py), behind the message index, on a
        connection of their own: not in the message indexer's steps, whose tail every
        search scans (with them there, the index trailed a steady stream by a median
        0.58 s against 0.29 s, docs/benchmarks.md)."""
        def until_caught_up(conn: Any) -> None:
            while not self._bg_stop.is_set() and self._terms_step(conn) >= TERMS_STEP:
                pass
        self._steps_loop("terms step", SEARCH_EVERY_S, until_caught_up,
                         wake=self._terms_wake)

    def _terms_step(self, conn: Any) -> int:
        """One terms step under the terms lock; 0 when another process holds it, or while
        this process's message indexer is behind (a burst): the message index, whose tail
        every search scans, first (with both at once the index trailed a burst by 297,000
        rows against 164,000, docs/benchmarks.md)."""
        if self._search_behind:
            return 0
        try:
            conn.execute("BEGIN")
            got = conn.execute(self._sql_try_terms).fetchone()
            if got is None or not got[0]:
                conn.execute("ROLLBACK")
                return 0
            done = postgres_counts.build(conn, TERMS_STEP)
            conn.execute("COMMIT")
            return done
        except psycopg.Error as exc:
            self._rollback(conn)
            raise self._translate(exc) from exc

    def _search_kinds(self) -> tuple[str, ...]:
        return postgres_search.INDEXED_KINDS if self.trigram else ()

    def _message_arms(self, q: search.MessageQuery) -> list[search.Arm]:
        if not self.trigram:
            return super()._message_arms(q)
        return postgres_search.arms(q, self.fetch, self.ascii_fold, self.kept_totals)

    def _is_db_error(self, exc: Exception) -> bool:
        return isinstance(exc, psycopg.Error)

    def _is_idempotency_race(self, exc: Exception) -> bool:
        # Two overlapping groups wrote one key: the later one waited for the earlier
        # one's commit (a unique violation), or each waited for the other (a deadlock,
        # which PostgreSQL breaks by failing one statement).
        return isinstance(exc, pgerrors.UniqueViolation | pgerrors.DeadlockDetected)

    def _translate(self, exc: Exception) -> LogcycleError:
        if isinstance(exc, pgerrors.DiskFull):
            return StorageFull("the database server's disk is full: nothing of this request "
                               "was stored; free space or lower --retention-weeks, then retry")
        if isinstance(exc, INPUT_FAULTS):
            return Unwritable(f"the store cannot hold this data ({one_line(exc)}); it was "
                              "not stored")
        if isinstance(exc, pgerrors.LockNotAvailable):
            return StoreUnavailable(f"another logcycle process held the store's write lock "
                                    f"for over {LOCK_TIMEOUT_MS // 1000} s; retry later")
        return StoreUnavailable(f"the store cannot take writes right now ({one_line(exc)}); "
                                "retry later")

    # -- bulk tools (logcycle migrate) ------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One write transaction under the store's lock; committed on a clean exit.

            with store.transaction() as conn:
                store.copy_rows(conn, "oslog_error_3", KINDS["error"].columns, rows)
        """
        conn = self._wconn()
        try:
            conn.execute(self._sql_begin)
            yield conn
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            self._rollback(conn)
            raise self._translate(exc) from exc
        except BaseException:
            self._rollback(conn)
            raise

    def copy_rows(self, conn: psycopg.Connection[Any], table: str, columns: Sequence[str],
                  rows: Iterable[tuple[Any, ...]]) -> int:
        """COPY ``rows`` into ``table`` (a logcycle table: names are checked); the count."""
        if not all(schema.COLUMN_NAME.fullmatch(n) for n in (table, *columns)):
            raise ValueError(f"not a table or column name: {table!r} {columns!r}")
        n = 0
        quoted = ", ".join(schema.quote(c) for c in columns)
        with conn.cursor().copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        return n

    def empty_cycle(self, conn: psycopg.Connection[Any], cycle: int) -> None:
        """Empty a cycle's tables and its part of the search index; search watermarks
        are reset with ``DELETE FROM lc_index_state`` by whoever rewrites ids."""
        self._empty_cycle(conn, cycle)

    def set_next_id(self, conn: psycopg.Connection[Any], next_id: int) -> None:
        """The next event id will be ``next_id`` (or more: the sequence never goes back
        below an id it gave)."""
        conn.execute(f"SELECT setval('{SEQUENCE}', GREATEST(%s, (SELECT last_value + "
                     f"CASE WHEN is_called THEN 1 ELSE 0 END FROM {SEQUENCE})), false)",
                     (next_id,))

    # -- reads ----------------------------------------------------------------------------
    def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        try:
            conn = self._reader()
            # Stored text holds U+FFFD where a NUL was sent: a NUL searches for that too.
            cur = conn.execute(sql, without_nul([tuple(params)])[0])
            rows = cur.fetchall()
            return [c.name for c in cur.description or ()], rows
        except pgerrors.QueryCanceled as exc:
            raise StoreUnavailable(f"the query took longer than {QUERY_TIMEOUT_MS // 1000} s: "
                                   "narrow it (a time range, a kind or a request key)",
                                   code="query_timeout") from exc
        except psycopg.Error as exc:
            raise StoreUnavailable(f"the store cannot answer right now ({one_line(exc)})") \
                from exc

    @contextlib.contextmanager
    def _read_session(self) -> Iterator[None]:
        """One snapshot for every query inside (a search's page and its total agree)."""
        if getattr(self._local, "session", False):
            yield
            return
        try:
            conn = self._reader()
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        except psycopg.Error as exc:
            raise StoreUnavailable(f"the store cannot answer right now ({one_line(exc)})") \
                from exc
        self._local.session = True
        try:
            yield
        finally:
            self._local.session = False
            self._rollback(conn)  # read only: nothing to keep

    def table_sizes(self) -> dict[str, int]:
        held = self.held()
        out = {schema.table(k, c): 0 for k in KINDS for c in range(cycles.CYCLES)}
        counted = [t for t in out if held.get(int(t.rsplit("_", 1)[1])) is not None]
        if counted:
            _, rows = self.fetch(" UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}"
                                                    for t in counted), ())
            out.update({str(t): int(n) for t, n in rows})
        return out

    # -- keys (short transactions of their own: the CLI uses them while servers run) ------
    def _short_conn(self) -> psycopg.Connection[Any]:
        return self._connect(read=False, role="admin")

    def _short_write(self, sql: str, params: tuple[Any, ...], *,
                     keys: bool = False) -> tuple[Any, int]:
        conn = self._connect(read=False, role="admin")
        try:
            conn.execute(self._sql_begin)
            cur = conn.execute(sql, params)
            row = cur.fetchone() if cur.description else None
            if keys:  # delivered to the listeners when (and only if) this commits
                conn.execute(f"NOTIFY {self._keys_channel}")
            conn.execute("COMMIT")
            if keys:
                self._keys_seen += 1  # this process: at once, before the notification
            return row, cur.rowcount
        except psycopg.Error as exc:
            raise self._translate(exc) from exc
        finally:
            conn.close()

    def add_key(self, hash_: str, scope: str, name: str | None, src_prefix: str | None,
                now_ms: int) -> int:
        row, _ = self._short_write(
            "INSERT INTO lc_keys (id, hash, scope, name, src_prefix, created) VALUES "
            "((SELECT COALESCE(MAX(id), 0) + 1 FROM lc_keys), %s, %s, %s, %s, %s) RETURNING id",
            (hash_, scope, name, src_prefix, now_ms), keys=True)
        return int(row[0])

    def small_write(self, sql: str, params: tuple[Any, ...]) -> int:
        """One statement in a short transaction of its own (any thread); rows changed."""
        return self._short_write(sql, params)[1]

    def list_keys(self) -> list[KeyRow]:
        _, rows = self.fetch("SELECT id, hash, scope, name, src_prefix, created, revoked "
                             "FROM lc_keys ORDER BY id", ())
        return [KeyRow(*r) for r in rows]

    def revoke_key(self, key_id: int, now_ms: int) -> bool:
        _, count = self._short_write(
            "UPDATE lc_keys SET revoked = %s WHERE id = %s AND revoked IS NULL", (now_ms, key_id),
            keys=True)
        return count > 0

    def keys_version(self) -> object:
        return self._keys_seen

    def start_background(self) -> None:
        """The request_key indexer (super), the keys listener and the message indexer
        (``_search_loop``), each a thread of its own."""
        super().start_background()
        if self._listener is None:
            self._listener = threading.Thread(target=self._listen_keys, daemon=True,
                                              name="logcycle-keys-listener")
            self._listener.start()
        if self._search_bg is None and self.trigram:
            self._search_bg = threading.Thread(target=self._search_loop, daemon=True,
                                               name="logcycle-search-indexer")
            self._search_bg.start()
        if self._terms_bg is None and self.trigram:
            self._terms_bg = threading.Thread(target=self._terms_loop, daemon=True,
                                              name="logcycle-terms-indexer")
            self._terms_bg.start()

    def _stop_background(self) -> None:
        super()._stop_background()  # sets _bg_stop, which the listener watches too
        self._bg_stop.set()  # also when only the other threads run
        self._search_wake.set()
        self._terms_wake.set()
        for thread in (self._listener, self._search_bg, self._terms_bg):
            if thread is not None:
                thread.join()
        self._listener = self._search_bg = self._terms_bg = None

    def _listen_keys(self) -> None:
        """Count the key changes other processes (and this one) NOTIFY. Each (re)connection
        counts as a change too: a notification may have been missed meanwhile."""
        while not self._bg_stop.is_set():
            conn: psycopg.Connection[Any] | None = None
            try:
                conn = self._connect(read=True, role="listener")
                conn.execute(f"LISTEN {self._keys_channel}")
                self._keys_seen += 1
                while not self._bg_stop.is_set():
                    for _ in conn.notifies(timeout=0.5):
                        self._keys_seen += 1
            except (psycopg.Error, StoreUnavailable) as exc:
                log.warning("the key change listener failed (%s); keys are reloaded every "
                            "second meanwhile", one_line(exc))
                self._bg_stop.wait(1.0)
            finally:
                if conn is not None:
                    conn.close()

    def close(self) -> None:
        self._stop_background()
        with self._lock:
            for conn in self._readers + self._writers:
                conn.close()
            self._readers.clear()
            self._writers.clear()
