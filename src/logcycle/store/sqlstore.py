"""What the SQLite and PostgreSQL stores share: the group transaction, id assignment,
idempotency, rotation and retention applied from :func:`logcycle.cycles.plan`, records.

An engine subclass supplies connections, the bulk insert and the way a table is emptied.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from logcycle import cycles
from logcycle.errors import Conflict, LogcycleError, NotFound, StoreUnavailable
from logcycle.ingest.records import encode_record
from logcycle.ingest.tasks import (
    DeclareEntity,
    EventBatch,
    IndexSearch,
    Maintain,
    RecordBatch,
    Reindex,
    WriteTask,
)
from logcycle.kinds import ERROR_KIND, KINDS
from logcycle.store import alertrules, errorgroups, eventkeys, schema, search
from logcycle.store.base import MaintenanceReport, Rows, StoreHealth

log = logging.getLogger("logcycle.store")
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000


class SqlStore:
    """Shared logic; subclasses implement the ``_engine_*`` hooks."""

    dialect: schema.Dialect
    schema_version = schema.SCHEMA_VERSION
    write_lanes = 1

    def __init__(self, url: str, *, tz: ZoneInfo, retention_weeks: int) -> None:
        self.url = url
        self.tz = tz
        self.retention = cycles.check_retention(retention_weeks)
        self._inserts = {(k, c): schema.insert_sql(KINDS[k], c, self.dialect)
                         for k in KINDS for c in range(cycles.CYCLES)}
        p = self.dialect.param
        self._sql_meta_get = f"SELECT value FROM lc_meta WHERE name = {p}"
        self._sql_idem_get = f"SELECT ids FROM lc_idempotency WHERE key = {p} AND principal = {p}"
        self._sql_idem_put = ("INSERT INTO lc_idempotency (key, principal, ids, created) "
                              f"VALUES ({self.dialect.params(4)})")
        self._bg: threading.Thread | None = None
        self._bg_stop = threading.Event()
        self._ahead: str | None = None  # why the store is ahead of the clock, for /health

    # -- the engine's background thread (SQLite: checkpoints; PostgreSQL: the request_key
    # indexer); the server starts it, CLI commands do not ----------------------------------
    _bg_name = "logcycle-background"

    def start_background(self) -> None:
        """Start the engine's background thread (idempotent)."""
        if self._bg is None:
            self._bg_stop.clear()
            self._bg = threading.Thread(target=self._background_loop, daemon=True,
                                        name=self._bg_name)
            self._bg.start()

    def _background_loop(self) -> None:
        """Runs until ``_bg_stop`` is set (engines override it)."""

    def _stop_background(self) -> None:
        if self._bg is not None:
            self._bg_stop.set()
            self._bg.join()
            self._bg = None

    # -- engine hooks -------------------------------------------------------------------
    def _wconn(self) -> Any:
        raise NotImplementedError

    def _begin(self, conn: Any) -> None:
        raise NotImplementedError

    def _insert_many(self, conn: Any, sql: str, kind: str, cycle: int,
                     rows: list[tuple[Any, ...]], *, nul: bool = True) -> None:
        """Insert ``rows``; ``nul`` False when no value holds a NUL character."""
        raise NotImplementedError

    def _empty(self, conn: Any, table: str) -> None:
        raise NotImplementedError

    _sql_short_begin = "BEGIN"

    def _short_conn(self) -> Any:
        """A connection of its own for one short transaction (any thread; closed after)."""
        raise NotImplementedError

    def small_writes(self, sql: str, rows: list[tuple[Any, ...]], *,
                     returning: bool = False) -> list[tuple[Any, ...]]:
        """One statement per row of parameters, all in one short transaction of its own
        (any thread); with ``returning``, the rows the statements returned."""
        return self.small_transaction([(sql, r) for r in rows], returning=returning)

    def small_transaction(self, steps: Sequence[tuple[str, tuple[Any, ...]]], *,
                          returning: bool = False) -> list[tuple[Any, ...]]:
        """Each (statement, parameters) in order, in one short transaction of its own:
        all or none (any thread); with ``returning``, the rows the statements returned."""
        conn = self._short_conn()
        try:
            conn.execute(self._sql_short_begin)
            out: list[tuple[Any, ...]] = []
            for sql, params in steps:
                cur = conn.execute(sql, params)
                if returning:
                    out.extend(cur.fetchall())
            conn.execute("COMMIT")
            return out
        except Exception as exc:
            self._rollback(conn)
            if self._is_db_error(exc):
                raise self._translate(exc) from exc
            raise
        finally:
            conn.close()

    def _translate(self, exc: Exception) -> LogcycleError:
        raise NotImplementedError

    def _is_db_error(self, exc: Exception) -> bool:
        raise NotImplementedError

    def _is_idempotency_race(self, exc: Exception) -> bool:
        """True for the error an Idempotency-Key insert raises when another transaction
        wrote the same key meanwhile (engines whose writers overlap)."""
        return False

    def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        raise NotImplementedError

    def _reindex(self, conn: Any) -> int:
        """Index what the writer wrote since the last run (engines without deferred
        indexes have nothing to do)."""
        return 0

    def _empty_cycle(self, conn: Any, cycle: int) -> None:
        for kind in KINDS:
            self._empty(conn, schema.table(kind, cycle))

    def request_key_condition(self, kind: str, cycle: int, request_key: str) -> \
            tuple[str, list[Any]]:
        """The WHERE fragment selecting one request's rows of ``oslog_<kind>_<cycle>``."""
        return f"request_key = {self.dialect.param}", [request_key]

    def attribute_condition(self, kind: str, cycle: int, key: str, value: str) -> \
            tuple[str, list[Any]] | None:
        """A WHERE fragment selecting the rows whose ``attributes.<key>`` equals ``value``
        (as text) through an index the engine keeps; None: no such index, filter the JSON."""
        return None

    # -- the request_key index built behind the writer (lc_rk_<cycle>), for the engines
    # that keep one: what they share -------------------------------------------------------
    def _rk_ids(self, kind: str, cycle: int, request_key: str,
                max_id: str = "") -> tuple[str, list[Any]]:
        """A subquery of one request's ids in ``oslog_<kind>_<cycle>``: the indexed ones
        from ``lc_rk_<cycle>``, and those above the watermark (written since the last
        reindex, about a second's worth) from the table's id range. One statement reads
        both in one snapshot, so a concurrent reindex cannot hide or double a row."""
        p = self.dialect.param
        key = f"{schema.rk_column(self.dialect)} = {schema.rk_value(p, self.dialect)}"
        segments = schema.rk_segments(kind, cycle, schema.rk_table(cycle), self.dialect)
        return (f"SELECT id FROM {schema.rk_table(cycle)} WHERE {segments}{key} AND kind = {p} "
                f"UNION ALL SELECT id FROM {schema.table(kind, cycle)} WHERE id > COALESCE("
                f"(SELECT watermark FROM lc_index_state WHERE name = 'rk' AND cycle = {p}), 0)"
                f"{max_id} AND request_key = {p}",
                [request_key, schema.KIND_NUMBER[kind], cycle, request_key])

    def _copy_request_keys(self, conn: Any, high: int) -> int:
        """Copy the request keys of rows with ids up to ``high`` above each cycle's watermark
        into ``lc_rk_<cycle>``, sorted, one statement per kind, and move the watermarks: a
        chunk of sorted keys dirties far fewer pages than one key per insert."""
        p = self.dialect.param
        key, value = schema.rk_column(self.dialect), schema.rk_value("request_key", self.dialect)
        marks = {int(c): int(w) for c, w in conn.execute(
            "SELECT cycle, watermark FROM lc_index_state WHERE name = 'rk'").fetchall()}
        done = 0
        for c in range(cycles.CYCLES):
            low = marks.get(c, 0)
            if low >= high:
                continue
            for kind, number in schema.KIND_NUMBER.items():
                # in the side table's key order: (seg,) key, id
                cols, exprs = schema.rk_insert_segment(kind, self.dialect)
                order = "1, 2, 3" if cols else "1, 2"
                cur = conn.execute(
                    f"INSERT INTO {schema.rk_table(c)} ({cols}{key}, id, kind) "
                    f"SELECT {exprs}{value}, id, {number} FROM {schema.table(kind, c)} "
                    f"WHERE id > {p} AND id <= {p} AND request_key IS NOT NULL "
                    f"ORDER BY {order}{schema.rk_conflict(self.dialect)}", (low, high))
                done += max(cur.rowcount, 0)
            conn.execute("INSERT INTO lc_index_state (name, cycle, watermark) VALUES "
                         f"('rk', {p}, {p}) ON CONFLICT (name, cycle) DO UPDATE SET "
                         "watermark = excluded.watermark", (c, high))
        return done

    @property
    def has_deferred_indexes(self) -> bool:
        return False

    # -- message search (store/search.py) -------------------------------------------------
    def search_messages(self, q: search.MessageQuery) -> search.MessageResult:
        with self._read_session():
            arms = self._message_arms(q)
            if q.order_column == "id":
                return search.page_by_id(q, arms, self.fetch, self.dialect.param)
            return search.page_sorted(q, arms, self.fetch, self.dialect.param)

    def _message_arms(self, q: search.MessageQuery) -> list[search.Arm]:
        """How each cycle is read: a LIKE (ILIKE) filter, which PostgreSQL's pg_trgm
        index serves. Engines with an index of their own override this."""
        return [search.scan_arm(q, c, self.dialect.param, self.dialect.like) for c in q.cycles]

    def _read_session(self) -> contextlib.AbstractContextManager[None]:
        """Reads inside it see one snapshot, where the engine can give one."""
        return contextlib.nullcontext()

    def _index_search(self, conn: Any, max_rows: int) -> int:
        """Add rows to a message index kept behind the writer (none here: 0)."""
        return 0

    # Seconds the message index may trail before it counts as behind (the setting
    # search_index_max_lag_s); the service sets it.
    search_max_lag_s = 10.0
    # search_index_lag=scan: the index yields the CPU to ingest (where the engine can).
    search_index_yields = True

    def search_index_lag(self) -> tuple[int, float]:
        """Rows of the newest week above each indexed kind's ``search_<kind>`` watermark in
        ``lc_index_state`` and the seconds they span (engines whose index lives there)."""
        p = self.dialect.param
        _, top = self.fetch("SELECT cycle FROM lc_cycles WHERE week IS NOT NULL "
                            "ORDER BY week DESC LIMIT 1", ())
        if not top:
            return 0, 0.0
        cycle = int(top[0][0])
        rows, oldest, newest = 0, None, None
        for kind in self._search_kinds():
            table = schema.table(kind, cycle)
            _, got = self.fetch(
                f"SELECT count(*), min(insert_instant), (SELECT insert_instant FROM {table} "
                f"ORDER BY id DESC LIMIT 1) FROM {table} WHERE id > COALESCE((SELECT "
                f"watermark FROM lc_index_state WHERE name = {p} AND cycle = {p}), 0)",
                (f"search_{kind}", cycle))
            n, first, last = got[0]
            rows += int(n)
            if first is not None:
                oldest = int(first) if oldest is None else min(oldest, int(first))
            if last is not None:
                newest = int(last) if newest is None else max(newest, int(last))
        if oldest is None or newest is None:
            return rows, 0.0
        return rows, max(0.0, (newest - oldest) / 1000)

    def _search_kinds(self) -> tuple[str, ...]:
        return ()

    def search_index_behind(self) -> float | None:
        return None

    # -- schema ---------------------------------------------------------------------------
    def _create_schema(self, conn: Any, now_ms: int) -> None:
        for stmt in (schema.meta_ddl(self.dialect) + schema.all_kind_ddl(self.dialect)
                     + errorgroups.ddl(self.dialect) + alertrules.ddl(self.dialect)):
            conn.execute(stmt)
        self._add_new_columns(conn)
        version = self._meta(conn, "schema_version")
        if version is not None and version > self.schema_version:
            raise LogcycleError(
                f"the store's schema is version {version}, newer than this logcycle "
                f"({self.schema_version}): upgrade logcycle before starting it on this store")
        self._set_meta(conn, "schema_version", self.schema_version)
        if self._meta(conn, "next_id") is None:
            self._set_meta(conn, "next_id", 1)

    def _add_new_columns(self, conn: Any) -> None:
        """Upgrade: add the columns a newer logcycle gave a kind (``fingerprint`` of
        ``error``, schema version 2 on SQLite, 4 on PostgreSQL) to the tables of an older
        store, and rebuild the views so that they show them. Old rows hold NULL there."""
        added = False
        for kind in KINDS.values():
            types = {f.name: schema.sql_type(f.type, self.dialect) for f in kind.data_fields}
            for c in range(cycles.CYCLES):
                name = schema.table(kind.name, c)
                cur = conn.execute(f"SELECT * FROM {name} LIMIT 0")
                have = {d[0] for d in cur.description or ()}
                for col in kind.columns:
                    if col not in have and col in types:
                        conn.execute(f"ALTER TABLE {name} ADD COLUMN {col} {types[col]}")
                        added = True
        week = self._meta(conn, "current_week")
        if added and week is not None:
            log.info("schema upgraded: new columns added to the log tables")
            for name in KINDS:
                for stmt in schema.view_ddl(name, week % cycles.CYCLES,
                                            (week - 1) % cycles.CYCLES, self.dialect):
                    conn.execute(stmt)

    def _meta(self, conn: Any, name: str) -> int | None:
        row = conn.execute(self._sql_meta_get, (name,)).fetchone()
        return None if row is None else int(row[0])

    def _set_meta(self, conn: Any, name: str, value: int) -> None:
        p = self.dialect.param
        conn.execute(f"INSERT INTO lc_meta (name, value) VALUES ({p}, {p}) ON CONFLICT (name) "
                     "DO UPDATE SET value = excluded.value", (name, value))

    # -- the group transaction ---------------------------------------------------------
    def apply(self, tasks: Sequence[WriteTask], now_ms: int) -> list[Any]:
        conn = self._wconn()
        try:
            results = self._group(conn, tasks, now_ms, exclusive=self._exclusive(tasks))
            if results is None:  # the week turned: rotate first, with the store to itself
                results = self._group(conn, tasks, now_ms, exclusive=True)
            assert results is not None  # an exclusive group never gives up
            return results
        except Exception as exc:
            self._rollback(conn)
            if self._is_db_error(exc):
                raise self._translate(exc) from exc
            raise

    def _group(self, conn: Any, tasks: Sequence[WriteTask], now_ms: int, *,
               exclusive: bool) -> list[Any] | None:
        """One group transaction; None (rolled back) when the week must turn first and
        this transaction does not have the store to itself."""
        next_id, stored, turn = self._open_group(conn, tasks, exclusive=exclusive)
        week = cycles.week_of(now_ms, self.tz)
        if all(isinstance(t, Maintain) for t in tasks):
            pass  # a Maintain task rotates by itself, and reports what it did
        elif stored is None or week > stored:
            if not exclusive:
                self._rollback(conn)
                return None
            self._maintain(conn, week, now_ms, force=False)
            self._ahead = None
        elif week < stored:
            # Another process turned the week while this one waited for the lock (or
            # its clock is behind): write into the current week's table, at its first
            # instant, so that ids, weeks and insert instants keep the same order.
            self._note_ahead(stored, week)
            now_ms, week = cycles.week_start_ms(stored, self.tz), stored
        elif self._ahead is not None:
            log.warning("the clock caught up with the store's week %s", stored)
            self._ahead = None
        results: list[Any] = []
        for task in tasks:
            result, next_id = self._one_task(conn, task, now_ms, week, next_id)
            results.append(result)
        self._close_group(conn, next_id, turn)
        return results

    def _exclusive(self, tasks: Sequence[WriteTask]) -> bool:
        """Whether this group needs the store to itself (no other writer meanwhile).
        SQLite has one writer anyway; PostgreSQL lets event batches overlap."""
        return True

    # -- ids: unique, and increasing in commit order, across all kinds --------------------
    def _open_group(self, conn: Any, tasks: Sequence[WriteTask], *,
                    exclusive: bool) -> tuple[int, int | None, int]:
        """Begin the group's transaction: the first id it may use (ids are then taken
        one after another), the store's current week (None: never rotated) and a token
        for :meth:`_close_group`. SQLite keeps the id counter in lc_meta; PostgreSQL
        overrides this with a sequence and an order of commits."""
        self._begin(conn)
        return self._meta(conn, "next_id") or 1, self._meta(conn, "current_week"), 0

    def _close_group(self, conn: Any, next_id: int, turn: int) -> None:
        """Record that ids below ``next_id`` are taken, and commit."""
        self._set_meta(conn, "next_id", next_id)
        conn.execute("COMMIT")

    def _rollback(self, conn: Any) -> None:
        # Nothing may be left to roll back when the failure came first.
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")

    def _one_task(self, conn: Any, task: WriteTask, now_ms: int, week: int,
                  next_id: int) -> tuple[Any, int]:
        if isinstance(task, EventBatch) and task.idempotency_key is None and task.keys is None:
            # Nothing in it can fail alone (a database error fails the whole group), so it
            # needs no savepoint: two round trips less per batch on PostgreSQL.
            return self._write_events(conn, task, now_ms, week % 10, next_id)
        conn.execute("SAVEPOINT lc_task")
        result: Any
        try:
            if isinstance(task, EventBatch):
                result, next_id = self._write_events(conn, task, now_ms, week % 10, next_id)
            elif isinstance(task, RecordBatch):
                result = self._write_records(conn, task, now_ms)
            elif isinstance(task, DeclareEntity):
                result = self._declare(conn, task, now_ms)
            elif isinstance(task, Reindex):
                result = self._reindex(conn)
            elif isinstance(task, IndexSearch):
                result = self._index_search(conn, task.max_rows)
            elif task.catch_up:
                result = self._catch_up(conn, task.now_ms)
            else:
                result = self._maintain(conn, cycles.week_of(task.now_ms, self.tz),
                                        task.now_ms, force=task.force)
        except LogcycleError as exc:
            conn.execute("ROLLBACK TO SAVEPOINT lc_task")
            conn.execute("RELEASE SAVEPOINT lc_task")
            return exc, next_id
        except Exception as exc:
            if not (isinstance(task, EventBatch) and self._is_idempotency_race(exc)):
                raise
            conn.execute("ROLLBACK TO SAVEPOINT lc_task")
            conn.execute("RELEASE SAVEPOINT lc_task")
            return self._idempotent_result(conn, task), next_id
        conn.execute("RELEASE SAVEPOINT lc_task")
        return result, next_id

    def _idempotent_result(self, conn: Any, task: EventBatch) -> Any:
        """The answer to a batch whose Idempotency-Key another writer stored meanwhile:
        that writer's ids once it committed (this batch's rows are rolled back), or a
        503 to retry while it is still writing."""
        row = None if task.idempotency_key is None else conn.execute(
            self._sql_idem_get, (task.idempotency_key, task.principal)).fetchone()
        if row is not None:
            return list(orjson.loads(row[0]))
        what = ("a request with the same Idempotency-Key" if task.keys is None
                else "a request with the same idempotency key or document _id")
        return StoreUnavailable(f"{what} is being written; retry it",
                                code="idempotency_key_in_use")

    # -- events ---------------------------------------------------------------------------
    def _write_events(self, conn: Any, task: EventBatch, now: int, cycle: int,
                      next_id: int) -> tuple[list[int], int]:
        key = task.idempotency_key
        if key is not None:
            row = conn.execute(self._sql_idem_get, (key, task.principal)).fetchone()
            if row is not None:
                return list(orjson.loads(row[0])), next_id
        events = task.events
        stored: dict[int, int] = {}
        first: dict[int, int] = {}
        if task.keys is not None:
            stored, first = eventkeys.find(conn, self.dialect, task)
            task.replayed = frozenset(stored) | frozenset(first)
            events = [ev for i, ev in enumerate(events) if i not in task.replayed]
        by_kind: dict[str, list[tuple[Any, ...]]] = {}
        errors: list[tuple[Any, ...]] = []
        ids: list[int] = []
        for ev in events:
            kind = ev.kind
            if ev.error is not None:
                errors.append((next_id, now, *ev.error, ev.error_attributes))
                row = (next_id + 1, now, *ev.values, next_id, ev.attributes)
                next_id += 1
            elif kind.has_error:
                row = (next_id, now, *ev.values, None, ev.attributes)
            else:
                row = (next_id, now, *ev.values, ev.attributes)
            ids.append(next_id)
            next_id += 1
            rows = by_kind.get(kind.name)
            if rows is None:
                rows = by_kind[kind.name] = []
            rows.append(row)
        if errors:
            by_kind.setdefault(ERROR_KIND.name, []).extend(errors)
        for name, rows in by_kind.items():
            if name == ERROR_KIND.name and errors:
                rows.sort(key=lambda r: r[0])
            self._insert_many(conn, self._inserts[(name, cycle)], name, cycle, rows,
                              nul=task.nul)
        if task.keys is not None:
            ids = eventkeys.record(conn, self._sql_idem_put, task, ids, stored, first, now)
        if key is not None:
            conn.execute(self._sql_idem_put, (key, task.principal, orjson.dumps(ids).decode(), now))
        return ids, next_id

    # -- rotation and retention -----------------------------------------------------------
    def _catch_up(self, conn: Any, now_ms: int) -> MaintenanceReport | None:
        """The server's own maintenance (at start, at each turn) as of ``now_ms``, except
        that a store ahead of the clock (the clock stepped back, or ``maintain --now``
        ran in the future) is left as it is: never rotated back, nothing emptied; writes
        go on into its newest week (:meth:`_group`) until the clock catches up."""
        week = cycles.week_of(now_ms, self.tz)
        stored = self._meta(conn, "current_week")
        if stored is not None and week < stored:
            self._note_ahead(stored, week)
            return None
        return self._maintain(conn, week, now_ms, force=False)

    def _note_ahead(self, stored: int, week: int) -> None:
        """Remember (for /health) and log once that the store is ahead of the clock."""
        ahead = (f"the store is at week {stored}, {stored - week} week(s) ahead of the "
                 f"clock (week {week}): new events go into week {stored}, stamped with its "
                 "first instant, until the clock catches up; nothing is emptied to go back")
        if ahead != self._ahead:
            log.warning("%s", ahead)
            self._ahead = ahead

    def health(self) -> StoreHealth:
        """What keeps the store from taking writes or fails behind it (engines add theirs)."""
        return StoreHealth(None, (self._ahead,) if self._ahead else ())

    def _maintain(self, conn: Any, week: int, now_ms: int, *, force: bool) -> MaintenanceReport:
        stored = self._meta(conn, "current_week")
        if stored is not None and week < stored and not force:
            raise Conflict(f"the store was already rotated to week {stored}, later than the "
                           f"requested time's week {week}; use --force to rotate back")
        held = {int(c): (None if w is None else int(w))
                for c, w in conn.execute("SELECT cycle, week FROM lc_cycles").fetchall()}
        p = cycles.plan(week, held, self.retention)
        for c in sorted(p.empty):
            self._empty_cycle(conn, c)
        q = self.dialect.param
        for c, w in p.held.items():
            conn.execute(f"INSERT INTO lc_cycles (cycle, week) VALUES ({q}, {q}) ON CONFLICT "
                         "(cycle) DO UPDATE SET week = excluded.week", (c, w))
        rotated = stored != week
        if rotated or force:
            for kind in KINDS:
                for stmt in schema.view_ddl(kind, p.current, p.previous, self.dialect):
                    conn.execute(stmt)
        self._set_meta(conn, "current_week", week)
        conn.execute(f"DELETE FROM lc_idempotency WHERE created < {q}",
                     (now_ms - IDEMPOTENCY_TTL_MS,))
        errorgroups.prune_hours(conn, self.dialect, now_ms, self.retention)
        if rotated or p.empty:
            log.info("maintenance: week %s (cycle %s), emptied cycles %s", week, p.current,
                     sorted(p.empty) or "none")
        return MaintenanceReport(week, p.current, p.previous, tuple(sorted(p.empty)), p.held,
                                 rotated)

    def held(self) -> dict[int, int | None]:
        _, rows = self.fetch("SELECT cycle, week FROM lc_cycles", ())
        return {int(c): (None if w is None else int(w)) for c, w in rows}

    # -- records --------------------------------------------------------------------------
    def entities(self) -> dict[str, dict[str, str]]:
        _, rows = self.fetch("SELECT name, columns FROM lc_entities", ())
        return {name: orjson.loads(cols) for name, cols in rows}

    def _declare(self, conn: Any, task: DeclareEntity, now_ms: int) -> dict[str, str]:
        p = self.dialect.param
        row = conn.execute(f"SELECT columns FROM lc_entities WHERE name = {p}",
                           (task.entity,)).fetchone()
        if row is not None:
            existing: dict[str, str] = orjson.loads(row[0])
            if task.columns and task.columns != existing:
                raise Conflict(f"entity {task.entity!r} exists with other columns: "
                               f"{orjson.dumps(existing).decode()}", code="entity_exists")
            return existing
        conn.execute(schema.record_table_ddl(task.entity, task.columns, self.dialect))
        conn.execute(f"INSERT INTO lc_entities (name, columns, created) VALUES ({p}, {p}, {p})",
                     (task.entity, orjson.dumps(task.columns).decode(), now_ms))
        return task.columns

    def _write_records(self, conn: Any, task: RecordBatch, now_ms: int) -> list[int]:
        p = self.dialect.param
        row = conn.execute(f"SELECT columns FROM lc_entities WHERE name = {p}",
                           (task.entity,)).fetchone()
        if row is None:
            raise NotFound(f"entity {task.entity!r} is not declared: an admin declares it with "
                           f"PUT /api/v1/entities/{task.entity}", code="unknown_entity")
        cols: dict[str, str] = orjson.loads(row[0])
        names = ["id", "insert_instant", "data", *cols]
        table = schema.record_table(task.entity)
        first = int(conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]) + 1
        rows = [(first + i, now_ms, *encode_record(rec, cols, i))
                for i, rec in enumerate(task.records)]
        quoted = ", ".join(schema.quote(n) for n in names)
        conn.cursor().executemany(f"INSERT INTO {table} ({quoted}) VALUES "
                                  f"({self.dialect.params(len(names))})", rows)
        return [r[0] for r in rows]


def without_nul(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """PostgreSQL text cannot hold NUL: it is stored as U+FFFD, on SQLite too (where
    text after a NUL would escape LIKE and the search index). A scan
    costs about 0.35 µs a row; rows are copied only when one holds a NUL."""
    for row in rows:
        for v in row:
            if v.__class__ is str and "\x00" in v:
                return [tuple(x.replace("\x00", "\ufffd") if x.__class__ is str else x
                              for x in r) for r in rows]
    return rows
