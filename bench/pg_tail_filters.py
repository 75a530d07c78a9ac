"""The tail arm of a PostgreSQL message search, two checkouts' SQL alternated, one run.

    .venv/bin/python bench/pg_tail_filters.py --store postgresql://127.0.0.1:5432/test
        --base OTHER_CHECKOUT/src [--rows 200000] [--tail 11500] [--rounds 3]

COPYs ``--rows`` of the benchmarks' messages (bench/common.py) into ``oslog_general_3``
of a throwaway schema (the URL's ``?schema=``, default ``bench_pgtail``), then times the
statement that reads the ``--tail`` newest rows for a needle (``postgres_search._tail``:
what every search pays for the rows the index does not hold yet). The SQL of each
checkout (this one and ``--base``) is made by its own interpreter; their statements are
run alternated needle by needle, so both see the same noise. Needles: 40 ``ndl<10 hex>``
as bench/search_under_load.py logs them (with and without a run of 3 digits) and a few
searches of words. Prints median and p90 of each kind, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import message
from pgcopy import drop_schema, split_schema

WORDS = ["ndlquxfoo", "timeout retry cache", "Upstream Latency", "paymentx"]
# Run by each checkout's interpreter: the tail arm's SELECT for each needle, as JSON.
GEN = """
import inspect, json, sys
from logcycle.query.wildcards import wildcard_pattern
from logcycle.store import postgres_search as ps
from logcycle.store.search import MessageQuery
mark, needles = int(sys.argv[1]), sys.argv[2:]
out = {}
for w in needles:
    q = MessageQuery(kind="general", cycles=(3,), columns=("id", "message"),
                     pattern=wildcard_pattern(w), limit=100)
    # fold=True (where the code has it): the store's match on a C.UTF-8 database.
    extra = [True] if len(inspect.signature(ps._tail).parameters) > 3 else []
    arm = ps._tail(q, 3, mark, *extra)
    out[w] = [f"SELECT id {arm.from_where} ORDER BY id DESC LIMIT 100", list(arm.params)]
print(json.dumps(out))
"""


def load(url: str, name: str, rows: int) -> None:
    rng = random.Random(1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(f'SET search_path TO "{name}"')
        conn.execute("CREATE TABLE oslog_general_3 (id BIGINT PRIMARY KEY, message TEXT)")
        with conn.cursor().copy("COPY oslog_general_3 (id, message) FROM STDIN") as cp:
            for i in range(rows):
                cp.write_row((i + 1, message(rng)))
        conn.execute("ANALYZE oslog_general_3")


def statements(src: str, mark: int, needles: list[str]) -> dict[str, list[Any]]:
    env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.check_output([sys.executable, "-c", GEN, str(mark), *needles], env=env)
    return dict(json.loads(out))


def kind(needle: str) -> str:
    if needle in WORDS:
        return "words"
    return "hex, a run of 3 digits" if re.search(r"[0-9]{3}", needle) else "hex, no such run"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--base", required=True, help="the other checkout's src directory")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--tail", type=int, default=11_500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    url, name = split_schema(args.store, "bench_pgtail")
    load(url, name, args.rows)
    rng = random.Random(7)
    needles = [f"ndl{rng.getrandbits(40):010x}" for _ in range(40)] + WORDS
    mark = args.rows - args.tail
    here = str(Path(__file__).resolve().parent.parent / "src")
    sql = {"old": statements(args.base, mark, needles), "new": statements(here, mark, needles)}
    times: dict[tuple[str, str], list[float]] = {}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{name}"')
            for r in range(args.rounds):
                for i, w in enumerate(needles):
                    for side in ("old", "new") if (i + r) % 2 else ("new", "old"):
                        text, params = sql[side][w]
                        t = time.perf_counter()
                        conn.execute(text, params).fetchall()
                        times.setdefault((kind(w), side), []).append(
                            (time.perf_counter() - t) * 1000)
    finally:
        drop_schema(url, name)
    print(f"tail {args.tail:,} of {args.rows:,} rows, {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| needle | runs | old: median / p90 ms | new: median / p90 ms |")
    print("| --- | --- | --- | --- |")
    for k in ("hex, a run of 3 digits", "hex, no such run", "words"):
        cells = [f"{statistics.median(xs):.2f} / {statistics.quantiles(xs, n=10)[-1]:.2f}"
                 for xs in (times[(k, 'old')], times[(k, 'new')])]
        print(f"| {k} | {len(times[(k, 'old')])} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
