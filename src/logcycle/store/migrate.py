"""Copy a SQLite store into a PostgreSQL store, cycle by cycle, keeping ids and weeks.

    survey = read_survey(Path("data/logcycle.db"))
    copy_store(Path("data/logcycle.db"), postgres_store, survey, on_rows=print)

The source is opened read-only. Each held cycle's tables are copied in one transaction of
the destination (TRUNCATE, then COPY), oldest week first; the rest follows in a last
transaction: which week each table holds, the current week and the views, keys, declared
entities with their records, idempotency keys, and the id sequence moved past the last id.
A copy that stopped half-way is simply run again (``--replace``).

API keys are stored as HMAC hashes under the server secret: the PostgreSQL nodes need the
same secret (``LOGCYCLE_SECRET`` = the content of the SQLite store's ``DATA/secret.key``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from logcycle import cycles
from logcycle.errors import LogcycleError
from logcycle.kinds import KINDS
from logcycle.store import alertrules, errorgroups, schema
from logcycle.store.postgres import PostgresStore
from logcycle.store.sqlstore import without_nul

CHUNK = 5000
_BOOKKEEPING = {
    "lc_keys": ("id", "hash", "scope", "name", "src_prefix", "created", "revoked"),
    "lc_idempotency": ("key", "principal", "ids", "created"),
    "lc_entities": ("name", "columns", "created"),
    # Schema 2: error groups and alert rules (absent from older sources: skipped).
    "lc_error_groups": errorgroups.GROUP_COLUMNS,
    "lc_error_hours": ("fingerprint", "hour", "count"),
    "lc_alerts": alertrules.COLUMNS,
    "lc_alert_outbox": alertrules.OUTBOX_COLUMNS,
}


@dataclass(frozen=True, slots=True)
class Survey:
    """What the source holds: per held cycle its week and row count, oldest week first."""

    cycles: list[tuple[int, int, int]]  # (cycle, week, rows)
    current_week: int | None
    next_id: int
    entities: dict[str, dict[str, str]]
    records: int

    @property
    def rows(self) -> int:
        return sum(n for _, _, n in self.cycles) + self.records


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise LogcycleError(f"no SQLite store at {path}: give --from sqlite:///path/to/logcycle.db")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


def _meta(conn: sqlite3.Connection, name: str) -> int | None:
    row = conn.execute("SELECT value FROM lc_meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def read_survey(path: Path) -> Survey:
    """Count what there is to copy (and refuse a source newer than this logcycle)."""
    conn = _connect(path)
    try:
        version = _meta(conn, "schema_version")
        if version is None or version > schema.SCHEMA_VERSION:
            raise LogcycleError(f"{path} is not a store this logcycle can read "
                                f"(schema version {version})")
        held = sorted(((int(c), int(w)) for c, w in conn.execute(
            "SELECT cycle, week FROM lc_cycles WHERE week IS NOT NULL")), key=lambda cw: cw[1])
        counted = []
        for c, w in held:
            n = sum(conn.execute(f"SELECT count(*) FROM {schema.table(k, c)}").fetchone()[0]
                    for k in KINDS)
            counted.append((c, w, int(n)))
        entities = {str(name): orjson.loads(cols) for name, cols in
                    conn.execute("SELECT name, columns FROM lc_entities")}
        records = sum(int(conn.execute(f"SELECT count(*) FROM {schema.record_table(e)}")
                          .fetchone()[0]) for e in entities)
        return Survey(counted, _meta(conn, "current_week"), _meta(conn, "next_id") or 1,
                      entities, records)
    finally:
        conn.close()


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)).fetchone() is not None


def _columns(conn: sqlite3.Connection, table: str, wanted: tuple[str, ...]) -> str:
    """``wanted`` as a select list, NULL for a column an older source lacks (a schema 1
    store has no ``fingerprint``: its errors then stay out of the groups)."""
    have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    return ", ".join(c if c in have else f"NULL AS {c}" for c in wanted)


def _chunks(conn: sqlite3.Connection, sql: str, on_rows: Callable[[int], None]) -> \
        Iterator[tuple[Any, ...]]:
    cur = conn.execute(sql)
    while rows := cur.fetchmany(CHUNK):
        yield from without_nul(rows)
        on_rows(len(rows))


def destination_is_empty(dst: PostgresStore) -> bool:
    _, rows = dst.fetch("SELECT (SELECT count(*) FROM lc_keys) + (SELECT count(*) FROM "
                        "lc_entities)", ())
    return int(rows[0][0]) == 0 and not any(dst.table_sizes().values())


def copy_store(path: Path, dst: PostgresStore, survey: Survey,
               on_rows: Callable[[int], None], on_cycle: Callable[[int, int], None]) -> None:
    """Copy everything ``survey`` found; ``on_rows(n)`` after each chunk of rows,
    ``on_cycle(cycle, week)`` before each cycle."""
    src = _connect(path)
    try:
        for c, w, _ in survey.cycles:
            on_cycle(c, w)
            with dst.transaction() as conn:
                dst.empty_cycle(conn, c)
                for kind in KINDS.values():
                    cols = kind.columns
                    table = schema.table(kind.name, c)
                    dst.copy_rows(conn, table, cols, _chunks(
                        src, f"SELECT {_columns(src, table, cols)} FROM {table} ORDER BY id",
                        on_rows))
        with dst.transaction() as conn:
            _copy_rest(src, dst, conn, survey, on_rows)
    finally:
        src.close()


def _copy_rest(src: sqlite3.Connection, dst: PostgresStore, conn: Any, survey: Survey,
               on_rows: Callable[[int], None]) -> None:
    held = {c: w for c, w, _ in survey.cycles}
    for c in range(cycles.CYCLES):
        if c not in held:
            dst.empty_cycle(conn, c)
        conn.execute("INSERT INTO lc_cycles (cycle, week) VALUES (%s, %s) ON CONFLICT (cycle) "
                     "DO UPDATE SET week = excluded.week", (c, held.get(c)))
    conn.execute("DELETE FROM lc_index_state")  # ids restart: the search index starts over
    for table, cols in _BOOKKEEPING.items():
        conn.execute(f"DELETE FROM {table}")
        if _has_table(src, table):
            dst.copy_rows(conn, table, cols, _chunks(
                src, f"SELECT {', '.join(cols)} FROM {table}", lambda n: None))
    if _has_table(src, "lc_index_state"):  # the groups hold the errors up to their watermark
        for (mark,) in src.execute(errorgroups.watermark_sql(schema.SQLITE)):
            conn.execute("INSERT INTO lc_index_state (name, cycle, watermark) VALUES "
                         f"('{errorgroups.WATERMARK}', 0, %s)", (mark,))
    for entity, columns in survey.entities.items():
        table = schema.record_table(entity)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(schema.record_table_ddl(entity, columns, dst.dialect))
        names = [*schema.RECORD_BASE_COLUMNS, *columns]
        dst.copy_rows(conn, table, names, _chunks(
            src, f"SELECT {', '.join(schema.quote(n) for n in names)} FROM {table} "
            "ORDER BY id", on_rows))
    if survey.current_week is not None:
        week = survey.current_week
        conn.execute("INSERT INTO lc_meta (name, value) VALUES ('current_week', %s) "
                     "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (week,))
        for kind in KINDS:
            for stmt in schema.view_ddl(kind, week % cycles.CYCLES, (week - 1) % cycles.CYCLES,
                                        dst.dialect):
                conn.execute(stmt)
    dst.set_next_id(conn, survey.next_id)
