"""The SQL schema, built from the kinds table (seed 001): per kind ten tables
``oslog_<kind>_0..9`` and two views, plus logcycle's own bookkeeping tables.

Identifiers come only from :mod:`logcycle.kinds` and from entity names that matched
``ENTITY_NAME``; values are always bound parameters.

>>> table("error", 3)
'oslog_error_3'
>>> view("error", previous=True)
'oslog_error_previous'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logcycle.cycles import CYCLES
from logcycle.kinds import KINDS, FieldType, Kind

# 2: error events have a `fingerprint` column, and the error-group tables exist
# (store/errorgroups.py); older stores are upgraded at start (SqlStore._add_new_columns).
# 3: lc_rk_<cycle> is keyed by (seg, request_key, id) (rk_table_ddl); an older store's
# side tables are rebuilt at start (SQLiteStore._upgrade_request_key_index).
SCHEMA_VERSION = 3
# PostgreSQL's own schema version. 2: the request_key index is built behind the writer
# into lc_rk_<cycle> (version 1 had an inline index per table, dropped on upgrade).
# 3: lc_rk_<cycle> holds hashes. 4: as SQLite's version 2 (fingerprints, error groups).
# 5: the message index holds a row per block of events, not per event (postgres_search).
PG_SCHEMA_VERSION = 5
ENTITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
RECORD_TYPES = ("text", "integer", "real", "boolean", "json")
# Columns every record table has before the declared ones.
RECORD_BASE_COLUMNS = ("id", "insert_instant", "data")
# Names a declared column may not take: the base columns, and the engines' system columns
# (PostgreSQL refuses them; SQLite would shadow its row id with them).
RESERVED_COLUMNS = (*RECORD_BASE_COLUMNS, "tableoid", "xmin", "cmin", "xmax", "cmax", "ctid",
                    "oid", "rowid", "_rowid_")


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between SQLite and PostgreSQL in the SQL we build."""

    name: str
    param: str  # "?" or "%s"
    id_type: str
    bigint: str
    real: str
    text: str
    boolean: str
    like: str  # case-insensitive LIKE operator

    def params(self, n: int) -> str:
        return ", ".join([self.param] * n)


SQLITE = Dialect("sqlite", "?", "INTEGER PRIMARY KEY", "INTEGER", "REAL", "TEXT", "INTEGER", "LIKE")
POSTGRES = Dialect("postgresql", "%s", "BIGINT PRIMARY KEY", "BIGINT", "DOUBLE PRECISION", "TEXT",
                   "BOOLEAN", "ILIKE")


def table(kind: str, cycle: int) -> str:
    if kind not in KINDS or not 0 <= cycle < CYCLES:
        raise ValueError(f"no table for kind {kind!r} cycle {cycle!r}")
    return f"oslog_{kind}_{cycle}"


def view(kind: str, *, previous: bool = False) -> str:
    if kind not in KINDS:
        raise ValueError(f"no view for kind {kind!r}")
    return f"oslog_{kind}_previous" if previous else f"oslog_{kind}"


def record_table(entity: str) -> str:
    if not ENTITY_NAME.fullmatch(entity):
        raise ValueError(f"invalid entity name {entity!r}")
    return f"record_{entity}"


def sql_type(t: FieldType, d: Dialect) -> str:
    return {
        FieldType.INSTANT: d.bigint,
        FieldType.NUMBER: d.real,
        FieldType.BOOL: d.boolean,
    }.get(t, d.text)


def kind_table_ddl(kind: Kind, cycle: int, d: Dialect) -> list[str]:
    """CREATE TABLE and its indexes for one cycle of one kind."""
    name = table(kind.name, cycle)
    cols = [f"id {d.id_type}", f"insert_instant {d.bigint} NOT NULL"]
    for f in kind.data_fields:
        null = " NOT NULL" if f.required else ""
        cols.append(f"{f.name} {sql_type(f.type, d)}{null}")
    if kind.has_error:
        cols.append(f"error_id {d.bigint}")
    cols.append(f"attributes {d.text}")
    stmts = [f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(cols)})"]
    # The seed's tables have "limited indexes": one partial index per lookup that must be
    # fast (a request's events, an RPC source's stream). Everything else scans by id.
    # The request_key index is built behind the writer (rk_table_ddl) on both engines: a
    # random key index in the write transaction halves the insert rate (and COPY's).
    if kind.name == "general":
        stmts.append(f"CREATE INDEX IF NOT EXISTS {name}_src ON {name} (src, stream, id) "
                     "WHERE src IS NOT NULL")
    return stmts


def insert_sql(kind: Kind, cycle: int, d: Dialect) -> str:
    cols = kind.columns
    return (f"INSERT INTO {table(kind.name, cycle)} ({', '.join(cols)}) "
            f"VALUES ({d.params(len(cols))})")


def insert_rows_sql(kind: Kind, cycle: int, d: Dialect, rows: int) -> str:
    """One INSERT of ``rows`` rows (parameters in row order): a statement per run of rows
    instead of one per row (store/sqlite.py ``_insert_many``)."""
    one = f"({d.params(len(kind.columns))})"
    return (f"INSERT INTO {table(kind.name, cycle)} ({', '.join(kind.columns)}) "
            f"VALUES {', '.join([one] * rows)}")


def view_ddl(kind: str, current: int, previous: int, d: Dialect) -> list[str]:
    out = []
    for name, cycle in ((view(kind), current), (view(kind, previous=True), previous)):
        if d.name == "sqlite":
            out.append(f"DROP VIEW IF EXISTS {name}")
            out.append(f"CREATE VIEW {name} AS SELECT * FROM {table(kind, cycle)}")
        else:
            out.append(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {table(kind, cycle)}")
    return out


def meta_ddl(d: Dialect) -> list[str]:
    """logcycle's bookkeeping tables (names start with lc_)."""
    return [
        f"CREATE TABLE IF NOT EXISTS lc_meta (name {d.text} PRIMARY KEY, "
        f"value {d.bigint} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS lc_cycles (cycle {d.bigint} PRIMARY KEY, week {d.bigint})",
        f"CREATE TABLE IF NOT EXISTS lc_keys (id {d.bigint} PRIMARY KEY, hash {d.text} NOT NULL "
        f"UNIQUE, scope {d.text} NOT NULL, name {d.text}, src_prefix {d.text}, "
        f"created {d.bigint} NOT NULL, revoked {d.bigint})",
        f"CREATE TABLE IF NOT EXISTS lc_idempotency (key {d.text} NOT NULL, principal {d.text} "
        f"NOT NULL, ids {d.text} NOT NULL, created {d.bigint} NOT NULL, "
        "PRIMARY KEY (key, principal))",
        f"CREATE TABLE IF NOT EXISTS lc_entities (name {d.text} PRIMARY KEY, columns {d.text} "
        f"NOT NULL, created {d.bigint} NOT NULL)",
    ]


def record_table_ddl(entity: str, columns: dict[str, str], d: Dialect) -> str:
    types = {"text": d.text, "integer": d.bigint, "real": d.real, "boolean": d.boolean,
             "json": d.text}
    cols = [f"id {d.id_type}", f"insert_instant {d.bigint} NOT NULL", f"data {d.text} NOT NULL"]
    for name, typ in columns.items():
        if not COLUMN_NAME.fullmatch(name) or name in RESERVED_COLUMNS:
            raise ValueError(f"invalid column name {name!r}")
        cols.append(f"{quote(name)} {types[typ]}")
    return f"CREATE TABLE IF NOT EXISTS {record_table(entity)} ({', '.join(cols)})"


def quote(column: str) -> str:
    """A declared column's name as a quoted identifier: a name matching COLUMN_NAME may
    be an SQL keyword (``select``, ``order``), which both engines accept only quoted.
    Quoting a lower-case name does not change it, so ``SELECT amount`` still finds it.

    >>> quote("select")
    '"select"'
    """
    if not COLUMN_NAME.fullmatch(column):
        raise ValueError(f"invalid column name {column!r}")
    return f'"{column}"'


def rk_table(cycle: int) -> str:
    """The deferred request_key index of one cycle: (request_key, id, kind number)."""
    if not 0 <= cycle < CYCLES:
        raise ValueError(f"no cycle {cycle!r}")
    return f"lc_rk_{cycle}"


KIND_NUMBER: dict[str, int] = {k: i for i, k in enumerate(KINDS)}


# SQLite's lc_rk_<cycle> is cut into segments of 2**RK_SEGMENT_BITS ids, the leading
# column of its primary key: a reindex adds a second of sorted keys to the newest segment
# only, not across a B-tree that spans the whole week (with one (request_key, id) tree a
# chunk dirtied nearly every leaf: 43 MB of WAL per 40,000 keys at 840,000 rows, 5 µs a
# row, growing with the week; segmented, 2.8 MB and 1.8 µs, flat; docs/architecture.md).
# A lookup seeks once per segment. Error events, which the summaries look up once per
# folded event, stay in one segment of their own (RK_ERROR_SEGMENT): one seek.
RK_SEGMENT_BITS = 16
RK_ERROR_SEGMENT = -1


def rk_table_ddl(cycle: int, d: Dialect = SQLITE) -> list[str]:
    if d.name == "sqlite":
        return [f"CREATE TABLE IF NOT EXISTS {rk_table(cycle)} (seg INTEGER NOT NULL, "
                "request_key TEXT NOT NULL, id INTEGER NOT NULL, kind INTEGER NOT NULL, "
                "PRIMARY KEY (seg, request_key, id)) WITHOUT ROWID"]
    # PostgreSQL keeps a 64-bit hash of the key (hashtextextended, stable across versions:
    # hash partitioning relies on it) under a plain B-tree: half the size of the text key,
    # and with no unique check (ON CONFLICT) about 2x cheaper to fill (docs/benchmarks.md).
    # Each id is copied once (the copy and its watermark commit together); lookups check
    # request_key on the log row.
    t = rk_table(cycle)
    return [f"CREATE TABLE IF NOT EXISTS {t} (rk BIGINT NOT NULL, id BIGINT NOT NULL, "
            "kind SMALLINT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {t}_rk ON {t} (rk)"]


def rk_column(d: Dialect) -> str:
    """The key column of ``lc_rk_<cycle>``."""
    return "request_key" if d.name == "sqlite" else "rk"


def rk_conflict(d: Dialect) -> str:
    """How a copy into ``lc_rk_<cycle>`` treats a row already there: SQLite's primary key
    skips it; PostgreSQL's side table has no unique index (never needed: see above)."""
    return " ON CONFLICT DO NOTHING" if d.name == "sqlite" else ""


def rk_segment(kind: str, id_expr: str) -> str:
    """SQL of the segment (SQLite's ``lc_rk_<cycle>.seg``) of a row of ``kind`` whose id
    is ``id_expr``."""
    return str(RK_ERROR_SEGMENT) if kind == "error" else f"({id_expr} >> {RK_SEGMENT_BITS})"


def rk_insert_segment(kind: str, d: Dialect) -> tuple[str, str]:
    """The segment's column and value (``id`` of the row inserted), each with a trailing
    comma, for an insert into ``lc_rk_<cycle>`` of rows of ``kind``: empty on PostgreSQL,
    whose side table is not segmented."""
    if d.name != "sqlite":
        return "", ""
    return "seg, ", f"{rk_segment(kind, 'id')}, "


def rk_segments(kind: str, cycle: int, alias: str, d: Dialect) -> str:
    """A WHERE fragment (with a trailing AND, empty on PostgreSQL) naming the segments of
    ``lc_rk_<cycle>`` aliased ``alias`` that hold rows of ``kind``, so that a lookup by
    request key seeks each segment by the primary key: the error segment, or every
    segment from the first to the last (ids of a cycle are contiguous), enumerated."""
    if d.name != "sqlite":
        return ""
    if kind == "error":
        return f"{alias}.seg = {RK_ERROR_SEGMENT} AND "
    t = rk_table(cycle)
    return (f"{alias}.seg IN (WITH RECURSIVE s(x) AS (SELECT min(seg) FROM {t} WHERE seg >= 0 "
            f"UNION ALL SELECT x + 1 FROM s WHERE x < (SELECT max(seg) FROM {t})) "
            "SELECT x FROM s) AND ")


def rk_value(expr: str, d: Dialect) -> str:
    """What ``lc_rk_<cycle>`` stores for the request key ``expr`` (a column or a
    parameter placeholder): the key itself on SQLite, its 64-bit hash on PostgreSQL."""
    return expr if d.name == "sqlite" else f"hashtextextended({expr}, 0)"


def old_request_key_index(kind: str, cycle: int) -> str:
    """The inline request_key index of PostgreSQL schema version 1 (dropped on upgrade)."""
    return f"{table(kind, cycle)}_request_key"


def index_state_ddl(d: Dialect) -> list[str]:
    """Watermarks of indexes built behind the writer: every id <= watermark is indexed."""
    return [f"CREATE TABLE IF NOT EXISTS lc_index_state (name {d.text} NOT NULL, "
            f"cycle {d.bigint} NOT NULL, watermark {d.bigint} NOT NULL, "
            "PRIMARY KEY (name, cycle))"]


def all_kind_ddl(d: Dialect) -> list[str]:
    return [s for k in KINDS.values() for c in range(CYCLES) for s in kind_table_ddl(k, c, d)]
