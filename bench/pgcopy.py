"""PostgreSQL helpers of the benchmarks: throwaway schemas and the plain COPY limit.

    url = schema_url("postgresql://postgres@127.0.0.1/test", "bench_http")
    rate = copy_rate(base_url, rows_batches, indexes=False)
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from logcycle.kinds import KINDS
from logcycle.store import schema


def schema_url(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={name}"


def split_schema(url: str, default: str) -> tuple[str, str]:
    """A libpq URL without logcycle's ``schema`` parameter, and that schema (``default``
    when the URL names none): several engineers' benchmarks may share one server."""
    from logcycle.store.postgres import parse_url
    base, name = parse_url(url)
    return base, (name if "schema=" in url else default)


def drop_schema(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


LAYOUTS = {
    "none": "no secondary index",
    "src": "the src index logcycle writes inline",
    "btree": "the src index and a request_key index, inline",
    "trgm": "those and a pg_trgm GIN index on message, inline",
}


def schema_bytes(url: str, name: str, tables: str = "%") -> int:
    """Disk used by the tables (names ``LIKE tables``) and their indexes of a schema."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM "
                           "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
                           "n.nspname = %s AND c.relkind = 'r' AND c.relname LIKE %s",
                           (name, tables)).fetchone()
    return int(row[0]) if row else 0


def copy_rate(url: str, rows_batches: list[list[tuple[Any, ...]]], *, indexes: str) -> float:
    """Rows/s of plain COPY, one transaction per batch, into a table with the columns of
    ``oslog_general_0`` and the secondary indexes of ``LAYOUTS[indexes]``."""
    kind = KINDS["general"]
    name = f"bench_copy_{indexes}"
    drop_schema(url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"; SET search_path TO "{name}"')
        ddl = schema.kind_table_ddl(kind, 0, schema.POSTGRES)
        conn.execute(ddl[0])
        if indexes != "none":
            for stmt in ddl[1:]:
                conn.execute(stmt)  # type: ignore[arg-type]
        if indexes in ("btree", "trgm"):  # logcycle's inline index before schema version 2
            conn.execute("CREATE INDEX ON oslog_general_0 (request_key) "
                         "WHERE request_key IS NOT NULL")
        if indexes == "trgm":
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            conn.execute("CREATE INDEX ON oslog_general_0 USING gin "
                         "(message public.gin_trgm_ops)")
        copy = f"COPY oslog_general_0 ({', '.join(kind.columns)}) FROM STDIN"
        start = time.perf_counter()
        for rows in rows_batches:
            conn.execute("BEGIN")
            with conn.cursor().copy(copy) as cp:  # type: ignore[arg-type]
                for row in rows:
                    cp.write_row(row)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
    drop_schema(url, name)
    return sum(len(r) for r in rows_batches) / elapsed


def index_lag(url: str, name: str, wait_s: float = 60.0) -> str:
    """How far the indexes built behind the writer trail the newest row when ingest
    stops, and how long they take to catch up (polled every 0.1 s, up to ``wait_s``)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{name}"')
        (cycle,) = conn.execute("SELECT cycle FROM lc_cycles WHERE week IS NOT NULL "
                                "ORDER BY week DESC LIMIT 1").fetchone() or (0,)
        table = schema.table("general", int(cycle))
        (top,) = conn.execute(f"SELECT COALESCE(max(id), 0) FROM {table}").fetchone() or (0,)
        marks = "SELECT name, watermark FROM lc_index_state WHERE cycle = %s"
        start = time.perf_counter()
        first: dict[str, int] = {}
        caught: dict[str, float] = {}
        while True:
            now = {str(n): int(w) for n, w in conn.execute(marks, (cycle,)).fetchall()}
            for index in ("rk", "search_general"):
                first.setdefault(index, now.get(index, 0))
                if index not in caught and now.get(index, 0) >= top:
                    caught[index] = time.perf_counter() - start
            if len(caught) == 2 or time.perf_counter() - start > wait_s:
                break
            time.sleep(0.1)
        (rows,) = conn.execute(f"SELECT count(*) FROM {table} WHERE id > %s",
                               (first["rk"],)).fetchone() or (0,)
        (srows,) = conn.execute(f"SELECT count(*) FROM {table} WHERE id > %s",
                                (first["search_general"],)).fetchone() or (0,)
    def say(index: str, lag: int) -> str:
        done = caught.get(index)
        return (f"{lag:,} rows behind, caught up {done:.1f} s later" if done is not None
                else f"{lag:,} rows behind, not caught up after {wait_s:.0f} s")
    return (f"index lag when ingest stopped: request_key {say('rk', int(rows))}; "
            f"message search {say('search_general', int(srows))}")


def rows_of(batches: list[list[dict[str, Any]]],
            insert_instant: int) -> list[list[tuple[Any, ...]]]:
    """The rows logcycle writes for these events (ids from 1), batch by batch, all as
    ``general`` rows (an event of another kind, a screen, gets its name as the message:
    the limit is one table's COPY of as many rows)."""
    kind = KINDS["general"]
    names = [f.name for f in kind.data_fields]
    out, next_id = [], 1
    for b in batches:
        rows = []
        for e in b:
            if "message" not in e:
                e = {**e, "message": str(e.get("screen", e["kind"]))}
            rows.append((next_id, insert_instant, *(e.get(n) for n in names), None, None))
            next_id += 1
        out.append(rows)
    return out
