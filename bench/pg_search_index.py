"""PostgreSQL's message index layouts side by side: rows/s absorbed and size, one run.

    .venv/bin/python bench/pg_search_index.py --store postgresql://127.0.0.1:5432/test
        [--rows 200000] [--step 20000] [--varied]

COPYs ``--rows`` messages into a log table of a throwaway schema (the URL's ``?schema=``,
default ``bench_pgindex``), then indexes them in steps of ``--step`` rows into three side
tables under a pg_trgm GIN index, the layouts alternated step by step (the machine is
shared: each layout sees the same noise):

- ``per event``: a row per event (``rid, body``), schema version 4;
- ``block, text``: a row per block of 1,024 rows, the messages concatenated;
- ``block, words``: the store's own step (store/postgres_search.py): a row per block, its
  distinct lowered words.

Prints rows/s of wall time and of the backend's CPU time (from /proc: the server must run
on this machine), and the size of each side table with its index. ``--varied`` adds an
order id, a user id and a duration to each message (more distinct words).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import message
from pgcopy import drop_schema, split_schema

from logcycle.store import postgres_search, schema


def layouts(block_rows: int) -> dict[str, tuple[str, str, str]]:
    """(DDL, table, step SQL) of each layout, blocks of ``block_rows``."""
    return {
        "per event": (
            "CREATE TABLE s_event (rid BIGINT PRIMARY KEY, body TEXT NOT NULL)", "s_event",
            "INSERT INTO s_event SELECT id, message FROM oslog_general_0 WHERE id > %(mark)s "
            "ORDER BY id LIMIT %(rows)s"),
        "block, text": (
            "CREATE TABLE s_text (lo BIGINT PRIMARY KEY, hi BIGINT NOT NULL, body TEXT NOT "
            "NULL)", "s_text",
            "INSERT INTO s_text SELECT min(id), max(id), string_agg(lower(message), E'\\n' "
            "ORDER BY id) FROM (SELECT id, message, (row_number() OVER (ORDER BY id) - 1) / "
            f"{block_rows} AS g FROM (SELECT id, message FROM oslog_general_0 WHERE id > "
            "%(mark)s ORDER BY id LIMIT %(rows)s) a) b GROUP BY g"),
        "block, words": (
            "CREATE TABLE s_words (lo BIGINT PRIMARY KEY, hi BIGINT NOT NULL, body TEXT NOT "
            "NULL)", "s_words",
            postgres_search._STEP.format(table="oslog_general_0", side="s_words",
                                         block_rows=block_rows,
                                         block_chars=postgres_search.BLOCK_CHARS)),
    }


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def varied(rng: random.Random) -> str:
    return (f"{message(rng)} order={rng.randint(1, 10**7)} user u{rng.getrandbits(24):06x} "
            f"took {rng.random() * 900:.1f}ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True, metavar="postgresql://…")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--step", type=int, default=20_000)
    ap.add_argument("--varied", action="store_true")
    ap.add_argument("--block-rows", type=int, default=postgres_search.BLOCK_ROWS)
    args = ap.parse_args()
    if args.rows > 5_000_000:
        ap.error("bounded: at most 5,000,000 rows")
    base, name = split_schema(args.store, "bench_pgindex")
    LAYOUTS = layouts(args.block_rows)
    drop_schema(base, name)
    rng = random.Random(5)
    gen = varied if args.varied else message
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(f'SET search_path TO "{name}", public')
        conn.execute("CREATE TABLE oslog_general_0 (id BIGINT PRIMARY KEY, message TEXT NOT NULL)")
        for stmt in schema.index_state_ddl(schema.POSTGRES):
            conn.execute(stmt)
        words: list[str] = []
        with conn.cursor().copy("COPY oslog_general_0 (id, message) FROM STDIN") as copy:
            for i in range(1, args.rows + 1):
                m = gen(rng)
                if i == args.rows // 2:
                    words = m.split()[-5:]  # with --varied: an order and a user id
                copy.write_row((i, m))
        conn.execute("VACUUM ANALYZE oslog_general_0")
        for ddl, table, _ in LAYOUTS.values():
            conn.execute(ddl)
            conn.execute(f"CREATE INDEX ON {table} USING gin (body gin_trgm_ops)")
        pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        spent = {k: [0.0, 0.0] for k in LAYOUTS}
        for mark in range(0, args.rows, args.step):
            for label, (_, _, sql) in LAYOUTS.items():
                wall, cpu = time.perf_counter(), cpu_s(pid)
                conn.execute("BEGIN")
                conn.execute(sql, {"mark": mark, "rows": args.step, "name": "search_general",
                                   "cycle": 0})
                conn.execute("COMMIT")
                spent[label][0] += time.perf_counter() - wall
                spent[label][1] += cpu_s(pid) - cpu
        print(f"\n{args.rows:,} messages ({'varied' if args.varied else 'bench'} words), steps "
              f"of {args.step:,}, load average {os.getloadavg()[0]:.1f}")
        print("| layout | rows/s (wall) | rows/s (backend CPU) | side rows | size |")
        print("|---|---|---|---|---|")
        for label, (_, table, _) in LAYOUTS.items():
            size, n = conn.execute(f"SELECT pg_total_relation_size('{table}'), "
                                   f"(SELECT count(*) FROM {table})").fetchone()
            wall, cpu = spent[label]
            print(f"| {label} | {args.rows / wall:,.0f} | {args.rows / max(cpu, 1e-9):,.0f} "
                  f"| {n:,} | {size / 2**20:.1f} MB |")
        print("\ncandidate blocks of a word of one message (the needle), and their lookup:")
        for word in words[0:3:2] if args.varied else words[:1]:
            for table in ("s_text", "s_words"):
                t = time.perf_counter()
                (n,) = conn.execute(f"SELECT count(*) FROM {table} WHERE body LIKE "
                                    "lower(%s)", (f"%{word}%",)).fetchone()
                print(f"  {word!r} in {table}: {n} blocks, "
                      f"{(time.perf_counter() - t) * 1000:.1f} ms")
        log = conn.execute("SELECT pg_total_relation_size('oslog_general_0')").fetchone()[0]
        print(f"log table: {log / 2**20:.1f} MB")
    drop_schema(base, name)


if __name__ == "__main__":
    main()
